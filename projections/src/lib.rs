//! Read models built from the event log: each has a name, documents keyed by id, and a
//! checkpoint stored in the same transaction as its writes. Small models are kept in memory
//! and persisted beside the log; models that grow with traffic (call records, the audit log,
//! the reports' hours)
//! are rows of indexed tables queried in SQL. Either kind can be rebuilt from position 0.

mod doc_store;
mod docs;
mod error;
mod handle;
mod models;
mod projection;
mod rebuild;
mod runner;
mod tables;

pub use doc_store::DocStore;
pub use docs::{Doc, Docs};
pub use error::ProjectionError;
pub use handle::{DocsGuard, Model, View};
pub use models::{
    accounts::{AccountDoc, ACCOUNTS},
    agents::{AgentDoc, AGENTS},
    all_projections, all_table_projections,
    announcements::{AnnouncementDoc, ANNOUNCEMENTS},
    audit_log::{audit_entry, audit_key, redact, AuditEntry, AUDIT_LOG_TABLE},
    audit_query::{audit_page, AuditPage, AuditQuery, AUDIT_COUNT_CAP},
    call_record_query::{
        call_record, call_record_statuses, call_records_page, CallRecordQuery, RecordCursor,
        RecordKind, RecordPage,
    },
    call_records::{snake, CallRecordDoc, CallStatus, CALL_RECORDS_TABLE},
    credentials::{CredentialDoc, CREDENTIALS},
    data_files::{DataFileDoc, FileState, DATA_FILES},
    enterprises::{EnterpriseDoc, ENTERPRISES},
    extensions::{ExtensionDoc, EXTENSIONS},
    ivr_flows::{IvrFlowDoc, IVR_FLOWS},
    live_calls::LIVE_CALLS,
    numbers::{NumberDoc, NUMBERS},
    queue_board::{board_key, QueueBoardDoc, WaitingCall, QUEUE_BOARD},
    queues::{QueueDoc, QUEUES},
    report_query::{report_hours, ReportKind},
    reports::{AgentHour, QueueHour, ReportRow, REPORTS_TABLE, SERVICE_LEVEL_SECONDS},
    roles::{RoleDoc, ROLES},
    routes::{RouteDoc, ROUTES},
    sessions::{SessionDoc, SESSIONS},
    trunks::{TrunkDoc, TRUNKS},
    voicemails::{VoicemailDoc, VOICEMAILS},
    voices::{VoiceDoc, VOICES},
};
pub use projection::Projection;
pub use rebuild::{digest, rebuild_and_compare, rebuild_tables_and_compare, ModelDigest};
pub use runner::{ReadModel, ReadModels};
pub use tables::sql::Sql;
pub use tables::store::{TableDigest, TableStore};
pub use tables::writer::TableModels;
pub use tables::{
    AnyTableProjection, Applied, Cell, Row, Rows, StoredRow, TableProjection, TableSpec,
};
