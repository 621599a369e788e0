//! GraphQL of file management (文件管理, manual §8): the data files and recording packages
//! with their jobs' state and progress, the exports of each list (导出), imports of an
//! uploaded file through a column mapping (导入), deletion, and a subscription following one
//! job. Uploads and downloads are plain HTTP (`POST /files`, `GET /files/{id}`).

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use domain::data_file::{DataFile, DataFileCommand, FileJobKind};
use domain::Permission;
use filejobs::import::{check_mapping, TARGETS};
use filejobs::spec::{CallRecordsSpec, ColumnMapping, Duplicates, JobSpec, ReportSubject};
use futures::Stream;
use projections::{DataFileDoc, FileState, RecordKind, DATA_FILES};
use uuid::Uuid;

use super::call_records::{checked_query, CallRecordFilter};
use super::context::{app, caller, fetch, list, page, parse_id, Total};
use super::guard::while_authorized;
use super::mutation::meta;
use super::query::list_tenant;
use super::types::TimeRange;
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// What made a file.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFileKind {
    /// Uploaded (上传).
    Upload,
    /// Exported (导出).
    Export,
    /// An import's report of refused rows (导入).
    Import,
    /// A recording package (录音包).
    RecordingPackage,
}

/// Where a file's job stands (状态).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileJobState {
    /// Waiting for a node.
    Requested,
    /// Being made.
    Running,
    /// Ready to download.
    Ready,
    /// Ended without a file; `reason` says why.
    Failed,
}

/// How far a running job is.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct JobProgressObject {
    /// Rows (or recordings) done.
    pub done: i64,
    /// Out of (0 while unknown).
    pub total: i64,
}

/// A data file or recording package.
#[derive(SimpleObject, Debug, Clone)]
pub struct DataFileObject {
    /// The file.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Name (文件名).
    pub name: String,
    /// What made it.
    pub kind: DataFileKind,
    /// Where it comes from (来源): `upload`, `call_records.inbound`, `import.check`…
    pub source: String,
    /// State (状态).
    pub state: FileJobState,
    /// Why it failed.
    pub reason: Option<String>,
    /// Created (创建时间).
    pub created_at: DateTime<Utc>,
    /// Creator (创建人).
    pub creator: String,
    /// Ready or failed at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Size in bytes once ready.
    pub size_bytes: i64,
    /// Rows in it (recordings for a package, refused rows for an import).
    pub rows: i64,
    /// Column titles (uploads).
    pub columns: Vec<String>,
    /// Progress, while it runs on the node answering.
    pub progress: Option<JobProgressObject>,
    /// An import's rows imported.
    pub imported: Option<i64>,
    /// An import's rows skipped as duplicates.
    pub skipped: Option<i64>,
    /// An import's rows refused (listed with the reason in its file).
    pub rejected: Option<i64>,
    /// Where to download it (with the bearer token), once ready.
    pub url: Option<String>,
    /// Nodes that took the job so far (more than one: an earlier run was interrupted).
    pub attempts: i32,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn data_file_object(app: &App, d: DataFileDoc) -> DataFileObject {
    let progress = app.files.progress(d.id).map(|p| JobProgressObject {
        done: count(p.done),
        total: count(p.total),
    });
    DataFileObject {
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        kind: match d.kind {
            FileJobKind::Upload => DataFileKind::Upload,
            FileJobKind::Export => DataFileKind::Export,
            FileJobKind::Import => DataFileKind::Import,
            FileJobKind::RecordingPackage => DataFileKind::RecordingPackage,
        },
        state: match d.state {
            FileState::Requested => FileJobState::Requested,
            FileState::Running => FileJobState::Running,
            FileState::Ready => FileJobState::Ready,
            FileState::Failed => FileJobState::Failed,
        },
        url: (d.state == FileState::Ready).then(|| format!("/files/{}", d.id)),
        attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
        name: d.name,
        source: d.source,
        reason: d.reason,
        created_at: d.created_at,
        creator: d.creator,
        finished_at: d.finished_at,
        size_bytes: count(d.size_bytes),
        rows: count(d.rows),
        columns: d.columns,
        progress,
        imported: d.counts.map(|c| count(c.imported)),
        skipped: d.counts.map(|c| count(c.skipped)),
        rejected: d.counts.map(|c| count(c.rejected)),
    }
}

/// Filter of `dataFiles`.
#[derive(InputObject, Debug, Default)]
pub struct DataFileFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Only recording packages (录音包管理), or only the others (数据管理); both when absent.
    pub packages: Option<bool>,
}

/// A field an import target takes.
#[derive(SimpleObject, Debug, Clone)]
pub struct ImportFieldObject {
    /// Its name in a mapping.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Whether a row must have it.
    pub required: bool,
}

/// Where an import can go.
#[derive(SimpleObject, Debug, Clone)]
pub struct ImportTargetObject {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// Its fields.
    pub fields: Vec<ImportFieldObject>,
}

/// The first rows of an uploaded file, for the column-mapping step.
#[derive(SimpleObject, Debug, Clone)]
pub struct ImportPreviewObject {
    /// The column titles (the first row).
    pub columns: Vec<String>,
    /// The next rows' cells.
    pub rows: Vec<Vec<String>>,
    /// Data rows in the file.
    pub total_rows: i64,
}

/// Queries of file management.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilesQuery;

#[Object]
impl FilesQuery {
    /// Data files and recording packages (manual §8), newest first.
    async fn data_files(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DataFileFilter>,
    ) -> ApiResult<Connection<String, DataFileObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::FilesRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let app = app(ctx);
        let mut items: Vec<DataFileDoc> = list(app, caller, DATA_FILES, tenant)?;
        items.retain(|d| {
            filter
                .packages
                .is_none_or(|p| p == (d.kind == FileJobKind::RecordingPackage))
        });
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let items = items
            .into_iter()
            .map(|d| data_file_object(app, d))
            .collect();
        page(items, first, after)
    }

    /// One data file.
    async fn data_file(&self, ctx: &Context<'_>, id: ID) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::FilesRead)?;
        let app = app(ctx);
        let doc = fetch(app, caller, DATA_FILES, parse_id("id", &id)?)?;
        Ok(data_file_object(app, doc))
    }

    /// Where imports can go and the fields each takes.
    async fn import_targets(&self, ctx: &Context<'_>) -> ApiResult<Vec<ImportTargetObject>> {
        caller(ctx)?.require(Permission::FilesManage)?;
        Ok(TARGETS
            .iter()
            .map(|t| ImportTargetObject {
                name: t.name.into(),
                title: t.title.into(),
                fields: t
                    .fields
                    .iter()
                    .map(|f| ImportFieldObject {
                        name: f.name.into(),
                        title: f.title.into(),
                        required: f.required,
                    })
                    .collect(),
            })
            .collect())
    }

    /// The column titles and first rows (at most 20) of an uploaded file.
    async fn import_preview(
        &self,
        ctx: &Context<'_>,
        file_id: ID,
        rows: Option<i32>,
    ) -> ApiResult<ImportPreviewObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::FilesManage)?;
        let app = app(ctx);
        let doc = uploaded(app, caller, &file_id)?;
        let wanted = usize::try_from(rows.unwrap_or(5).clamp(0, 20)).unwrap_or(5);
        let path = app
            .node
            .data_dir
            .join(doc.file.as_deref().unwrap_or_default());
        let format = filejobs::rows::SheetFormat::of_name(&path.to_string_lossy())
            .ok_or_else(|| ApiError::validation("fileId", "is not a sheet"))?;
        let found =
            tokio::task::spawn_blocking(move || filejobs::import::preview(&path, format, wanted))
                .await
                .map_err(ApiError::internal)?
                .map_err(|reason| ApiError::validation("fileId", reason))?;
        let width = doc.columns.len();
        let rows = found
            .into_iter()
            .skip(1)
            .map(|row| {
                let mut cells = row.cells;
                cells.resize(width.max(cells.len()), String::new());
                cells
            })
            .collect();
        Ok(ImportPreviewObject {
            columns: doc.columns,
            rows,
            total_rows: count(doc.rows),
        })
    }
}

/// An uploaded file of the caller's, ready.
fn uploaded(app: &App, caller: &Caller, id: &ID) -> ApiResult<DataFileDoc> {
    let doc = fetch(app, caller, DATA_FILES, parse_id("fileId", id)?)?;
    if doc.kind != FileJobKind::Upload || doc.state != FileState::Ready {
        return Err(ApiError::validation("fileId", "is not an uploaded file"));
    }
    Ok(doc)
}

/// Statistics reports that can be exported.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportExport {
    /// Per queue and day.
    Queues,
    /// Per agent (extension) and day.
    Agents,
}

/// How an import treats a number already there.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateRows {
    /// Skip the row (跳过重复数据, and 号码去重 for task numbers).
    #[default]
    Skip,
    /// Replace what is there (覆盖已有数据).
    Overwrite,
}

/// A target field and the file's column (0-based) it is read from.
#[derive(InputObject, Debug, Clone)]
pub struct ColumnMappingInput {
    /// The target's field.
    pub field: String,
    /// The column, 0 for the first.
    pub column: i32,
}

/// Mutations of file management.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilesMutation;

/// The name of a file: the one given, or what it holds and when.
fn file_name(name: Option<String>, what: &str) -> String {
    name.filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("{what}-{}", Utc::now().format("%Y%m%d-%H%M%S")))
}

/// The creator's name for the list: the caller's login.
pub(crate) fn creator(app: &App, caller: &Caller) -> String {
    app.node
        .models
        .of(projections::ACCOUNTS)
        .by_id(caller.account_id)
        .map(|a| a.account)
        .unwrap_or_else(|| caller.account_id.to_string())
}

/// Records the job `spec` for `caller` and wakes the runner.
async fn request(
    app: &App,
    caller: &Caller,
    name: String,
    kind: FileJobKind,
    spec: JobSpec,
) -> ApiResult<DataFileObject> {
    let id = Uuid::new_v4();
    let tenant = spec.tenant();
    app.node
        .execute::<DataFile>(
            id,
            DataFileCommand::Request {
                enterprise_id: tenant,
                name,
                kind,
                source: spec.source(),
                params: serde_json::to_value(&spec).map_err(ApiError::internal)?,
                restartable: spec.restartable(),
                creator: creator(app, caller),
                at: Utc::now(),
            },
            meta(caller, tenant),
        )
        .await?;
    app.files.wake();
    let doc = fetch(app, caller, DATA_FILES, id)?;
    Ok(data_file_object(app, doc))
}

/// The enterprise an export is for: the caller's, or the one the operator names (required).
fn export_tenant(caller: &Caller, enterprise_id: Option<&ID>) -> ApiResult<Uuid> {
    list_tenant(caller, enterprise_id)?
        .ok_or_else(|| ApiError::validation("enterpriseId", "name the enterprise to export"))
}

fn call_records_spec(caller: &Caller, filter: &CallRecordFilter) -> ApiResult<CallRecordsSpec> {
    let query = checked_query(caller, filter)?;
    let tenant = query
        .tenant
        .ok_or_else(|| ApiError::validation("enterpriseId", "name the enterprise to export"))?;
    let kind = match query.kind {
        RecordKind::Missed => "missed".to_owned(),
        RecordKind::Direction(d) => projections::snake(&d),
    };
    Ok(CallRecordsSpec {
        tenant,
        kind,
        from: query.from,
        to: query.to,
        number: query.number,
        extension: query.extension,
        route_id: query.route_id,
        queue_id: query.queue_id,
        status: query.status,
        recorded: query.recorded,
    })
}

/// Both ends of `range`, at most `days` apart.
fn bounded(range: &TimeRange, days: i64) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    match (range.from, range.to) {
        (Some(from), Some(to)) if from <= to && to - from <= chrono::Duration::days(days) => {
            Ok((from, to))
        }
        (Some(_), Some(_)) => Err(ApiError::validation(
            "time",
            format!("must span at most {days} days"),
        )),
        _ => Err(ApiError::validation("time", "both ends are required")),
    }
}

#[Object]
impl FilesMutation {
    /// Exports the call records a screen's filter names (导出数据, manual §2.6.5) to a file.
    async fn export_call_records(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        filter: CallRecordFilter,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::CallRecordsExport)?;
        let spec = call_records_spec(caller, &filter)?;
        let name = file_name(name, "通话记录");
        request(
            app(ctx),
            caller,
            name,
            FileJobKind::Export,
            JobSpec::CallRecords(spec),
        )
        .await
    }

    /// Packs the recordings of the call records a filter names into one zip (导出录音).
    async fn package_recordings(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        filter: CallRecordFilter,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::CallRecordsExport)?;
        caller.require(Permission::RecordingsListen)?;
        let spec = call_records_spec(caller, &filter)?;
        let name = file_name(name, "录音包");
        let kind = FileJobKind::RecordingPackage;
        request(
            app(ctx),
            caller,
            name,
            kind,
            JobSpec::RecordingPackage(spec),
        )
        .await
    }

    /// Exports the audit log (操作日志) of a period of at most 31 days.
    async fn export_audit_log(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        time: TimeRange,
        enterprise_id: Option<ID>,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::AuditLogRead)?;
        let tenant = export_tenant(caller, enterprise_id.as_ref())?;
        let (from, to) = bounded(&time, 31)?;
        let spec = JobSpec::AuditLog { tenant, from, to };
        let name = file_name(name, "操作日志");
        request(app(ctx), caller, name, FileJobKind::Export, spec).await
    }

    /// Exports the voicemail box (留言箱) of a period of at most 31 days.
    async fn export_voicemails(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        time: TimeRange,
        enterprise_id: Option<ID>,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::VoicemailRead)?;
        let tenant = export_tenant(caller, enterprise_id.as_ref())?;
        let (from, to) = bounded(&time, 31)?;
        let spec = JobSpec::Voicemails { tenant, from, to };
        let name = file_name(name, "留言箱");
        request(app(ctx), caller, name, FileJobKind::Export, spec).await
    }

    /// Exports a statistics report per day (manual §6) of a period of at most 366 days.
    async fn export_report(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        report: ReportExport,
        time: TimeRange,
        enterprise_id: Option<ID>,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::ReportsRead)?;
        let tenant = export_tenant(caller, enterprise_id.as_ref())?;
        let (from, to) = bounded(&time, 366)?;
        let subject = match report {
            ReportExport::Queues => ReportSubject::Queues,
            ReportExport::Agents => ReportSubject::Agents,
        };
        let spec = JobSpec::Report {
            tenant,
            subject,
            from,
            to,
        };
        let name = file_name(name, "统计报表");
        request(app(ctx), caller, name, FileJobKind::Export, spec).await
    }

    /// Imports an uploaded file into `target` (导入, manual §8.1.3) through `mapping`; the
    /// job's counts say how many rows were imported, skipped and refused, and its file lists
    /// the refused rows with the reason.
    async fn start_import(
        &self,
        ctx: &Context<'_>,
        file_id: ID,
        target: String,
        mapping: Vec<ColumnMappingInput>,
        duplicates: Option<DuplicateRows>,
        name: Option<String>,
    ) -> ApiResult<DataFileObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::FilesManage)?;
        let app = app(ctx);
        let source = uploaded(app, caller, &file_id)?;
        let info = TARGETS
            .iter()
            .find(|t| t.name == target.trim())
            .ok_or_else(|| ApiError::validation("target", "is not an import target"))?;
        let mapping = mapping
            .into_iter()
            .map(|m| {
                usize::try_from(m.column)
                    .map(|column| ColumnMapping {
                        field: m.field.trim().to_owned(),
                        column,
                    })
                    .map_err(|_| ApiError::validation("mapping", "a column is 0 or more"))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        check_mapping(info, &mapping, source.columns.len())
            .map_err(|reason| ApiError::validation("mapping", reason))?;
        let spec = JobSpec::Import {
            tenant: source.enterprise_id,
            source: source.id,
            target: info.name.to_owned(),
            mapping,
            duplicates: match duplicates.unwrap_or_default() {
                DuplicateRows::Skip => Duplicates::Skip,
                DuplicateRows::Overwrite => Duplicates::Overwrite,
            },
        };
        let name = file_name(name, &format!("{}-导入结果", source.name));
        request(app, caller, name, FileJobKind::Import, spec).await
    }

    /// Deletes a file (删除); a job still running is stopped and leaves nothing.
    async fn delete_data_file(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::FilesManage)?;
        let app = app(ctx);
        let doc = fetch(app, caller, DATA_FILES, parse_id("id", &id)?)?;
        app.node
            .execute::<DataFile>(
                doc.id,
                DataFileCommand::Delete { at: Utc::now() },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        if let Some(file) = doc.file {
            let _ = tokio::fs::remove_file(app.node.data_dir.join(file)).await;
        }
        Ok(true)
    }
}

/// How often a followed job is looked at.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Subscriptions of file management.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilesSubscription;

#[Subscription]
impl FilesSubscription {
    /// One file's job: as it is, then each change of state or progress (at most four a
    /// second), ending after it is ready, failed or deleted.
    async fn data_file_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<DataFileObject>>> {
        let caller = caller(ctx)?.clone();
        caller.require(Permission::FilesRead)?;
        let app = app(ctx).clone();
        let id = parse_id("id", &id)?;
        let first = fetch(&app, &caller, DATA_FILES, id)?;
        let first = data_file_object(&app, first);
        let terminal =
            |o: &DataFileObject| matches!(o.state, FileJobState::Ready | FileJobState::Failed);
        let key = |o: &DataFileObject| (o.state, o.progress.map(|p| (p.done, p.total)));
        let start = (app.clone(), caller.clone(), terminal(&first), key(&first));
        let changes = futures::stream::unfold(start, move |(app, caller, done, seen)| async move {
            if done {
                return None;
            }
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                // Deleted (or no longer visible): the feed ends.
                let doc = fetch(&app, &caller, DATA_FILES, id).ok()?;
                let now = data_file_object(&app, doc);
                if key(&now) != seen {
                    let next = (terminal(&now), key(&now));
                    return Some((now, (app, caller, next.0, next.1)));
                }
            }
        });
        let follow = futures::StreamExt::chain(futures::stream::iter([first]), changes);
        Ok(while_authorized(app, caller, Permission::FilesRead, follow))
    }
}
