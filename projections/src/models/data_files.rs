//! Read model `data_files`: the files of file management (文件管理, manual §8), one document
//! per uploaded file, export, import report or recording package, with its job's state. They
//! are made by people, not by traffic, so they are kept in memory; a deleted file's document
//! goes.

use chrono::{DateTime, Utc};
use domain::data_file::{DataFile, DataFileEvent, FileJobKind, ImportCounts};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `data_files` read model.
pub const DATA_FILES: crate::handle::Model<DataFileDoc> =
    crate::handle::Model::new("data_files", "data file");

/// Where a file's job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Waiting for a node.
    Requested,
    /// Being made.
    Running,
    /// Ready to download.
    Ready,
    /// Ended without a file.
    Failed,
}

/// A data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFileDoc {
    /// The file.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Name (文件名).
    pub name: String,
    /// What made it.
    pub kind: FileJobKind,
    /// Where it comes from (来源).
    pub source: String,
    /// The job's parameters.
    pub params: serde_json::Value,
    /// State (状态).
    pub state: FileState,
    /// Why it failed.
    pub reason: Option<String>,
    /// Created (创建时间).
    pub created_at: DateTime<Utc>,
    /// Creator (创建人).
    pub creator: String,
    /// The node working on it and until when its claim holds.
    pub node: Option<Uuid>,
    /// Until when the node's claim holds.
    pub lease_until: Option<DateTime<Utc>>,
    /// Claims so far.
    pub attempts: u32,
    /// The file, relative to the data directory, once ready.
    pub file: Option<String>,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Rows (or recordings) in it.
    pub rows: u64,
    /// Column titles (uploads).
    pub columns: Vec<String>,
    /// An import's counts.
    pub counts: Option<ImportCounts>,
    /// When it became ready or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The projection.
pub struct DataFiles;

impl Projection for DataFiles {
    fn name(&self) -> &'static str {
        DATA_FILES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<DataFile>(event)? else {
            return Ok(());
        };
        let key = event.stream_id.to_string();
        match e {
            DataFileEvent::DataFileUploaded {
                enterprise_id,
                name,
                file,
                size_bytes,
                rows,
                columns,
                creator,
                at,
            } => {
                let doc = DataFileDoc {
                    id: event.stream_id,
                    enterprise_id,
                    name,
                    kind: FileJobKind::Upload,
                    source: "upload".into(),
                    params: serde_json::Value::Null,
                    state: FileState::Ready,
                    reason: None,
                    created_at: at,
                    creator,
                    node: None,
                    lease_until: None,
                    attempts: 0,
                    file: Some(file),
                    size_bytes,
                    rows,
                    columns,
                    counts: None,
                    finished_at: Some(at),
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            DataFileEvent::FileJobRequested {
                enterprise_id,
                name,
                kind,
                source,
                params,
                creator,
                at,
                ..
            } => {
                let doc = DataFileDoc {
                    id: event.stream_id,
                    enterprise_id,
                    name,
                    kind,
                    source,
                    params,
                    state: FileState::Requested,
                    reason: None,
                    created_at: at,
                    creator,
                    node: None,
                    lease_until: None,
                    attempts: 0,
                    file: None,
                    size_bytes: 0,
                    rows: 0,
                    columns: Vec::new(),
                    counts: None,
                    finished_at: None,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            DataFileEvent::FileJobClaimed {
                node,
                attempt,
                lease_until,
                ..
            } => docs.update(&key, |d: &mut DataFileDoc| {
                d.state = FileState::Running;
                d.node = Some(node);
                d.lease_until = Some(lease_until);
                d.attempts = attempt;
            }),
            DataFileEvent::FileJobLeaseRenewed { lease_until } => docs
                .update(&key, |d: &mut DataFileDoc| {
                    d.lease_until = Some(lease_until)
                }),
            DataFileEvent::FileJobFinished {
                file,
                size_bytes,
                rows,
                counts,
                at,
            } => docs.update(&key, |d: &mut DataFileDoc| {
                d.state = FileState::Ready;
                d.file = Some(file);
                d.size_bytes = size_bytes;
                d.rows = rows;
                d.counts = counts;
                d.finished_at = Some(at);
                d.node = None;
                d.lease_until = None;
            }),
            DataFileEvent::FileJobFailed { reason, at } => {
                docs.update(&key, |d: &mut DataFileDoc| {
                    d.state = FileState::Failed;
                    d.reason = Some(reason);
                    d.finished_at = Some(at);
                    d.node = None;
                    d.lease_until = None;
                })
            }
            DataFileEvent::DataFileDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
