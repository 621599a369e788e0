//! Data files and the background jobs that make them (文件管理, manual §8): an uploaded
//! spreadsheet, an export, an import's report or a recording package. A job is requested,
//! claimed by one node for a lease it renews while it works, and ends ready (its file written
//! and flushed before the event) or failed with a reason a person reads. A claim whose lease
//! ran out (the node died) may be taken over; whether the job starts again or fails is the
//! requester's choice, made when it was requested.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{required_text, FieldError};

/// The data-file aggregate.
pub struct DataFile;

/// What made a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileJobKind {
    /// Uploaded by a person (上传).
    Upload,
    /// An export of a list (导出).
    Export,
    /// An import of an uploaded file; its file is the sheet of rejected rows.
    Import,
    /// Recordings in one zip (录音包).
    RecordingPackage,
}

/// How many rows an import took, skipped and rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Imported.
    pub imported: u64,
    /// Skipped as duplicates.
    pub skipped: u64,
    /// Rejected, each with its reason in the report.
    pub rejected: u64,
}

/// Where a file stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FileStatus {
    /// Not there (never made, or deleted).
    #[default]
    Absent,
    /// Requested, waiting for a node.
    Requested,
    /// A node works on it until the lease ends.
    Running {
        /// The node.
        node: Uuid,
        /// Until when its claim holds unless renewed.
        lease_until: DateTime<Utc>,
    },
    /// Its file is there.
    Ready,
    /// It ended without a file.
    Failed,
}

/// What a data file is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataFileState {
    /// Where it stands.
    pub status: FileStatus,
    /// Claims so far.
    pub attempts: u32,
    /// Whether an interrupted run starts again (else it fails).
    pub restartable: bool,
}

/// Claims after which an interrupted job fails instead of starting again.
pub const MAX_ATTEMPTS: u32 = 3;

/// Commands on a data file.
#[derive(Debug, Clone, PartialEq)]
pub enum DataFileCommand {
    /// Records an uploaded file, already checked and written durably.
    Upload {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Its name (文件名).
        name: String,
        /// The file, relative to the data directory.
        file: String,
        /// Size in bytes.
        size_bytes: u64,
        /// Data rows (the title row not counted).
        rows: u64,
        /// The titles of its columns.
        columns: Vec<String>,
        /// Who uploaded it (创建人).
        creator: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Asks for a job.
    Request {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// The file's name.
        name: String,
        /// What it makes.
        kind: FileJobKind,
        /// Where it comes from, for people (来源): "call_records.inbound", "import:check"…
        source: String,
        /// Its parameters, read by the job that runs it.
        params: serde_json::Value,
        /// Whether an interrupted run starts again (else it fails).
        restartable: bool,
        /// Who asked (创建人).
        creator: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A node claims the job until `lease_until`.
    Claim {
        /// The node.
        node: Uuid,
        /// Until when.
        lease_until: DateTime<Utc>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// The node working on it holds it longer.
    Renew {
        /// The node.
        node: Uuid,
        /// Until when.
        lease_until: DateTime<Utc>,
    },
    /// The job's file is written and flushed.
    Finish {
        /// The node.
        node: Uuid,
        /// The file, relative to the data directory.
        file: String,
        /// Size in bytes.
        size_bytes: u64,
        /// Rows (or recordings) written.
        rows: u64,
        /// An import's counts.
        counts: Option<ImportCounts>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The job ended without a file.
    Fail {
        /// The node that ran it (`None`: found abandoned).
        node: Option<Uuid>,
        /// Why, for a person.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes the file (a running job's result is then thrown away).
    Delete {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DataFileEvent {
    /// A file was uploaded.
    DataFileUploaded {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// File, relative to the data directory.
        file: String,
        /// Size in bytes.
        size_bytes: u64,
        /// Data rows.
        rows: u64,
        /// Column titles.
        columns: Vec<String>,
        /// Who.
        creator: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A job was asked for.
    FileJobRequested {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// The file's name.
        name: String,
        /// What it makes.
        kind: FileJobKind,
        /// Where it comes from.
        source: String,
        /// Its parameters.
        params: serde_json::Value,
        /// Whether an interrupted run starts again.
        restartable: bool,
        /// Who.
        creator: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A node took it (the first time, or after the previous claim lapsed).
    FileJobClaimed {
        /// The node.
        node: Uuid,
        /// Which claim this is (1 for the first).
        attempt: u32,
        /// Until when.
        lease_until: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The node holds it longer.
    FileJobLeaseRenewed {
        /// Until when.
        lease_until: DateTime<Utc>,
    },
    /// Its file is ready.
    FileJobFinished {
        /// File, relative to the data directory.
        file: String,
        /// Size in bytes.
        size_bytes: u64,
        /// Rows written.
        rows: u64,
        /// An import's counts.
        counts: Option<ImportCounts>,
        /// When.
        at: DateTime<Utc>,
    },
    /// It ended without a file.
    FileJobFailed {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The file was deleted.
    DataFileDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a data-file command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataFileError {
    /// It exists.
    #[error("the file already exists")]
    AlreadyExists,
    /// No such file.
    #[error("file not found")]
    NotFound,
    /// Another node holds the job, or it is not waiting for one.
    #[error("the job is not waiting for a node")]
    NotClaimable,
    /// The node does not hold the job (its lease lapsed and another took it, or it ended).
    #[error("this node no longer holds the job")]
    NotHolder,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

/// Longest file name.
pub const MAX_NAME_CHARS: usize = 100;

fn name_of(name: &str) -> Result<String, DataFileError> {
    let name = required_text("name", name, MAX_NAME_CHARS)?;
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(
            FieldError::new("name", "must not contain slashes or control characters").into(),
        );
    }
    Ok(name)
}

fn holder(state: &DataFileState, node: Uuid) -> Result<(), DataFileError> {
    match state.status {
        FileStatus::Running { node: n, .. } if n == node => Ok(()),
        FileStatus::Absent => Err(DataFileError::NotFound),
        _ => Err(DataFileError::NotHolder),
    }
}

impl esrs::Aggregate for DataFile {
    const NAME: &'static str = "data_file";
    type State = DataFileState;
    type Command = DataFileCommand;
    type Event = DataFileEvent;
    type Error = DataFileError;

    fn handle_command(
        state: &DataFileState,
        command: DataFileCommand,
    ) -> Result<Vec<DataFileEvent>, DataFileError> {
        use DataFileCommand as C;
        use DataFileEvent as E;
        match command {
            C::Upload {
                enterprise_id,
                name,
                file,
                size_bytes,
                rows,
                columns,
                creator,
                at,
            } => {
                if state.status != FileStatus::Absent || state.attempts > 0 {
                    return Err(DataFileError::AlreadyExists);
                }
                Ok(vec![E::DataFileUploaded {
                    enterprise_id,
                    name: name_of(&name)?,
                    file,
                    size_bytes,
                    rows,
                    columns,
                    creator,
                    at,
                }])
            }
            C::Request {
                enterprise_id,
                name,
                kind,
                source,
                params,
                restartable,
                creator,
                at,
            } => {
                if state.status != FileStatus::Absent || state.attempts > 0 {
                    return Err(DataFileError::AlreadyExists);
                }
                Ok(vec![E::FileJobRequested {
                    enterprise_id,
                    name: name_of(&name)?,
                    kind,
                    source,
                    params,
                    restartable,
                    creator,
                    at,
                }])
            }
            C::Claim {
                node,
                lease_until,
                at,
            } => match state.status {
                FileStatus::Requested => Ok(vec![E::FileJobClaimed {
                    node,
                    attempt: state.attempts + 1,
                    lease_until,
                    at,
                }]),
                FileStatus::Running {
                    lease_until: held, ..
                } if held < at => {
                    if state.restartable && state.attempts < MAX_ATTEMPTS {
                        Ok(vec![E::FileJobClaimed {
                            node,
                            attempt: state.attempts + 1,
                            lease_until,
                            at,
                        }])
                    } else {
                        let reason = if state.restartable {
                            format!("interrupted {MAX_ATTEMPTS} times; ask for it again")
                        } else {
                            "interrupted when its node stopped; rows imported before the stop \
                             stay (import again, skipping duplicates)"
                                .to_owned()
                        };
                        Ok(vec![E::FileJobFailed { reason, at }])
                    }
                }
                FileStatus::Absent => Err(DataFileError::NotFound),
                _ => Err(DataFileError::NotClaimable),
            },
            C::Renew { node, lease_until } => {
                holder(state, node)?;
                Ok(vec![E::FileJobLeaseRenewed { lease_until }])
            }
            C::Finish {
                node,
                file,
                size_bytes,
                rows,
                counts,
                at,
            } => {
                holder(state, node)?;
                Ok(vec![E::FileJobFinished {
                    file,
                    size_bytes,
                    rows,
                    counts,
                    at,
                }])
            }
            C::Fail { node, reason, at } => {
                match node {
                    Some(node) => holder(state, node)?,
                    None if state.status == FileStatus::Requested => {}
                    None if state.status == FileStatus::Absent => {
                        return Err(DataFileError::NotFound)
                    }
                    None => return Err(DataFileError::NotClaimable),
                }
                let reason: String = reason.chars().take(500).collect();
                Ok(vec![E::FileJobFailed { reason, at }])
            }
            C::Delete { at } => match state.status {
                FileStatus::Absent => Err(DataFileError::NotFound),
                _ => Ok(vec![E::DataFileDeleted { at }]),
            },
        }
    }

    fn apply_event(mut state: DataFileState, event: DataFileEvent) -> DataFileState {
        use DataFileEvent as E;
        match event {
            E::DataFileUploaded { .. } => {
                state.status = FileStatus::Ready;
                state.attempts = 1;
            }
            E::FileJobRequested { restartable, .. } => {
                state.status = FileStatus::Requested;
                state.restartable = restartable;
            }
            E::FileJobClaimed {
                node,
                attempt,
                lease_until,
                ..
            } => {
                state.status = FileStatus::Running { node, lease_until };
                state.attempts = attempt;
            }
            E::FileJobLeaseRenewed { lease_until } => {
                if let FileStatus::Running { node, .. } = state.status {
                    state.status = FileStatus::Running { node, lease_until };
                }
            }
            E::FileJobFinished { .. } => state.status = FileStatus::Ready,
            E::FileJobFailed { .. } => state.status = FileStatus::Failed,
            E::DataFileDeleted { .. } => state.status = FileStatus::Absent,
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn requested(restartable: bool) -> DataFileEvent {
        DataFileEvent::FileJobRequested {
            enterprise_id: Uuid::from_u128(1),
            name: "通话记录".into(),
            kind: FileJobKind::Export,
            source: "call_records.inbound".into(),
            params: serde_json::json!({}),
            restartable,
            creator: "admin".into(),
            at: at(0),
        }
    }

    fn claimed(node: u128, attempt: u32, lease: i64) -> DataFileEvent {
        DataFileEvent::FileJobClaimed {
            node: Uuid::from_u128(node),
            attempt,
            lease_until: at(lease),
            at: at(lease - 30),
        }
    }

    #[test]
    fn a_requested_job_is_claimed_once() {
        given::<DataFile>(vec![requested(true)])
            .when(DataFileCommand::Claim {
                node: Uuid::from_u128(7),
                lease_until: at(31),
                at: at(1),
            })
            .then(vec![claimed(7, 1, 31)]);
        given::<DataFile>(vec![requested(true), claimed(7, 1, 31)])
            .when(DataFileCommand::Claim {
                node: Uuid::from_u128(8),
                lease_until: at(32),
                at: at(2),
            })
            .then_err(DataFileError::NotClaimable);
    }

    #[test]
    fn a_lapsed_claim_is_taken_over_or_fails_when_not_restartable() {
        given::<DataFile>(vec![requested(true), claimed(7, 1, 31)])
            .when(DataFileCommand::Claim {
                node: Uuid::from_u128(8),
                lease_until: at(62),
                at: at(32),
            })
            .then(vec![claimed(8, 2, 62)]);
        given::<DataFile>(vec![requested(false), claimed(7, 1, 31)])
            .when(DataFileCommand::Claim {
                node: Uuid::from_u128(8),
                lease_until: at(62),
                at: at(32),
            })
            .then(vec![DataFileEvent::FileJobFailed {
                reason: "interrupted when its node stopped; rows imported before the stop stay \
                         (import again, skipping duplicates)"
                    .into(),
                at: at(32),
            }]);
        given::<DataFile>(vec![
            requested(true),
            claimed(7, 1, 31),
            claimed(8, 2, 62),
            claimed(9, 3, 93),
        ])
        .when(DataFileCommand::Claim {
            node: Uuid::from_u128(10),
            lease_until: at(124),
            at: at(94),
        })
        .then(vec![DataFileEvent::FileJobFailed {
            reason: format!("interrupted {MAX_ATTEMPTS} times; ask for it again"),
            at: at(94),
        }]);
    }

    #[test]
    fn only_the_holder_finishes_and_a_taken_over_node_cannot() {
        let finish = |node| DataFileCommand::Finish {
            node: Uuid::from_u128(node),
            file: "files/1/2.xlsx".into(),
            size_bytes: 10,
            rows: 1,
            counts: None,
            at: at(40),
        };
        given::<DataFile>(vec![requested(true), claimed(7, 1, 31), claimed(8, 2, 62)])
            .when(finish(7))
            .then_err(DataFileError::NotHolder);
        given::<DataFile>(vec![requested(true), claimed(7, 1, 31)])
            .when(finish(7))
            .then(vec![DataFileEvent::FileJobFinished {
                file: "files/1/2.xlsx".into(),
                size_bytes: 10,
                rows: 1,
                counts: None,
                at: at(40),
            }]);
    }

    #[test]
    fn names_are_checked_and_a_deleted_file_is_gone() {
        given::<DataFile>(vec![])
            .when(DataFileCommand::Request {
                enterprise_id: Uuid::from_u128(1),
                name: "../etc".into(),
                kind: FileJobKind::Export,
                source: String::new(),
                params: serde_json::Value::Null,
                restartable: true,
                creator: "admin".into(),
                at: at(0),
            })
            .then_err(DataFileError::Invalid(FieldError::new(
                "name",
                "must not contain slashes or control characters",
            )));
        given::<DataFile>(vec![
            requested(true),
            DataFileEvent::DataFileDeleted { at: at(1) },
        ])
        .when(DataFileCommand::Delete { at: at(2) })
        .then_err(DataFileError::NotFound);
    }
}
