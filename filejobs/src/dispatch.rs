//! Which work a job's parameters name: [`run`] picks the export, import or package, and
//! [`suffix`] names the file it makes.

use crate::job::{JobContext, JobFailure, JobOutput};
use crate::spec::JobSpec;

/// The suffix of the file `spec` makes.
pub fn suffix(spec: &JobSpec) -> &'static str {
    match spec {
        JobSpec::RecordingPackage(_) => ".zip",
        JobSpec::Import { .. } => "-rejected.xlsx",
        _ => ".xlsx",
    }
}

/// Does the work `spec` names, writing `ctx.partial`.
pub async fn run(ctx: &JobContext, spec: &JobSpec) -> Result<JobOutput, JobFailure> {
    let rows = |rows| JobOutput { rows, counts: None };
    match spec {
        JobSpec::CallRecords(spec) => crate::exports::call_records(ctx, spec).await.map(rows),
        JobSpec::RecordingPackage(spec) => crate::package::package(ctx, spec).await.map(rows),
        JobSpec::AuditLog { tenant, from, to } => {
            crate::exports::audit_log(ctx, *tenant, *from, *to)
                .await
                .map(rows)
        }
        JobSpec::Voicemails { tenant, from, to } => {
            crate::exports::voicemails(ctx, *tenant, *from, *to)
                .await
                .map(rows)
        }
        JobSpec::Report {
            tenant,
            subject,
            from,
            to,
        } => crate::exports::report(ctx, *tenant, *subject, *from, *to)
            .await
            .map(rows),
        JobSpec::Import {
            tenant,
            source,
            target,
            mapping,
            duplicates,
        } => crate::import::run_import(ctx, *tenant, *source, target, mapping, *duplicates).await,
    }
}
