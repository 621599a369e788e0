//! What a job is asked to do: its parameters, stored as JSON in the request event and read
//! back by the node that runs it. Every variant names its enterprise; a job never reads
//! another's data.

use chrono::{DateTime, Utc};
use domain::call::Direction;
use projections::{CallRecordQuery, CallStatus, RecordKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which call records (the filter of the call-record screens, manual §2.6.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecordsSpec {
    /// Their enterprise.
    pub tenant: Uuid,
    /// `inbound`, `outbound`, `internal` or `missed`.
    pub kind: String,
    /// Call time from (inclusive).
    pub from: DateTime<Utc>,
    /// Call time to (inclusive).
    pub to: DateTime<Utc>,
    /// The calling or called number contains this.
    pub number: Option<String>,
    /// Handled by this extension number.
    pub extension: Option<String>,
    /// Came in by this route.
    pub route_id: Option<Uuid>,
    /// Waited in this queue.
    pub queue_id: Option<Uuid>,
    /// Ended so.
    pub status: Option<CallStatus>,
    /// With (or without) a recording.
    pub recorded: Option<bool>,
}

impl CallRecordsSpec {
    /// The records' kind, `None` when `kind` names none.
    pub fn record_kind(&self) -> Option<RecordKind> {
        Some(match self.kind.as_str() {
            "inbound" => RecordKind::Direction(Direction::Inbound),
            "outbound" => RecordKind::Direction(Direction::Outbound),
            "internal" => RecordKind::Direction(Direction::Internal),
            "missed" => RecordKind::Missed,
            _ => return None,
        })
    }

    /// The query of the call-record table, `None` when `kind` names no kind.
    pub fn query(&self) -> Option<CallRecordQuery> {
        Some(CallRecordQuery {
            tenant: Some(self.tenant),
            kind: self.record_kind()?,
            from: self.from,
            to: self.to,
            number: self.number.clone(),
            extension: self.extension.clone(),
            route_id: self.route_id,
            queue_id: self.queue_id,
            status: self.status,
            recorded: self.recorded,
        })
    }
}

/// Which statistics report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSubject {
    /// Queues, per queue and day.
    Queues,
    /// Agents (extensions), per extension and day.
    Agents,
}

/// How an import treats a row whose key (the phone number) is already there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    /// Skip it (跳过重复数据); within one file, the first row wins.
    #[default]
    Skip,
    /// Replace what is there (覆盖已有数据); within one file, the last row wins.
    Overwrite,
}

/// A target field and the column (0-based, among the file's columns) it is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    /// The target's field.
    pub field: String,
    /// The file's column.
    pub column: usize,
}

/// A job's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobSpec {
    /// Call records as a sheet.
    CallRecords(CallRecordsSpec),
    /// The recordings of call records as one zip with an index sheet.
    RecordingPackage(CallRecordsSpec),
    /// The audit log (操作日志) of a period.
    AuditLog {
        /// The enterprise.
        tenant: Uuid,
        /// From (inclusive).
        from: DateTime<Utc>,
        /// To (inclusive).
        to: DateTime<Utc>,
    },
    /// The voicemail box (留言箱) of a period.
    Voicemails {
        /// The enterprise.
        tenant: Uuid,
        /// From (inclusive).
        from: DateTime<Utc>,
        /// To (inclusive).
        to: DateTime<Utc>,
    },
    /// A statistics report per day.
    Report {
        /// The enterprise.
        tenant: Uuid,
        /// Queues or agents.
        subject: ReportSubject,
        /// From (inclusive).
        from: DateTime<Utc>,
        /// To (exclusive).
        to: DateTime<Utc>,
    },
    /// Rows of an uploaded file into a target.
    Import {
        /// The enterprise.
        tenant: Uuid,
        /// The uploaded file.
        source: Uuid,
        /// The target's name.
        target: String,
        /// Which column fills which field.
        mapping: Vec<ColumnMapping>,
        /// Rows whose number is already there.
        duplicates: Duplicates,
    },
}

impl JobSpec {
    /// The enterprise whose data the job reads.
    pub fn tenant(&self) -> Uuid {
        match self {
            JobSpec::CallRecords(spec) | JobSpec::RecordingPackage(spec) => spec.tenant,
            JobSpec::AuditLog { tenant, .. }
            | JobSpec::Voicemails { tenant, .. }
            | JobSpec::Report { tenant, .. }
            | JobSpec::Import { tenant, .. } => *tenant,
        }
    }

    /// Where it comes from, for the list's 来源 column.
    pub fn source(&self) -> String {
        match self {
            JobSpec::CallRecords(spec) => format!("call_records.{}", spec.kind),
            JobSpec::RecordingPackage(spec) => format!("recordings.{}", spec.kind),
            JobSpec::AuditLog { .. } => "audit_log".into(),
            JobSpec::Voicemails { .. } => "voicemails".into(),
            JobSpec::Report { subject, .. } => match subject {
                ReportSubject::Queues => "reports.queues".into(),
                ReportSubject::Agents => "reports.agents".into(),
            },
            JobSpec::Import { target, .. } => format!("import.{target}"),
        }
    }

    /// Whether an interrupted run may start again: an export writes nothing but its file;
    /// an import has changed its target already.
    pub fn restartable(&self) -> bool {
        !matches!(self, JobSpec::Import { .. })
    }
}
