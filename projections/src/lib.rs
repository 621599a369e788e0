//! Read models built from the event log: each has a name, documents keyed by id, and a
//! checkpoint stored in the same transaction as its writes. They are kept in memory for
//! queries, persisted beside the log, and can be dropped and rebuilt from position 0.

mod doc_store;
mod docs;
mod error;
mod handle;
mod models;
mod rebuild;
mod runner;

pub use doc_store::DocStore;
pub use docs::{Doc, Docs};
pub use error::ProjectionError;
pub use handle::{DocsGuard, Model, View};
pub use models::{
    accounts::{AccountDoc, ACCOUNTS},
    agents::{AgentDoc, AGENTS},
    all_projections,
    announcements::{AnnouncementDoc, ANNOUNCEMENTS},
    audit_log::{audit_key, redact, AuditEntry, AUDIT_LOG},
    call_records::{CallRecordDoc, CallStatus, CALL_RECORDS},
    credentials::{CredentialDoc, CREDENTIALS},
    enterprises::{EnterpriseDoc, ENTERPRISES},
    extensions::{ExtensionDoc, EXTENSIONS},
    ivr_flows::{IvrFlowDoc, IVR_FLOWS},
    numbers::{NumberDoc, NUMBERS},
    queue_board::{board_key, QueueBoardDoc, WaitingCall, QUEUE_BOARD},
    queues::{QueueDoc, QUEUES},
    reports::{AgentHour, QueueHour, REPORTS, SERVICE_LEVEL_SECONDS},
    roles::{RoleDoc, ROLES},
    routes::{RouteDoc, ROUTES},
    sessions::{SessionDoc, SESSIONS},
    trunks::{TrunkDoc, TRUNKS},
    voicemails::{VoicemailDoc, VOICEMAILS},
    voices::{VoiceDoc, VOICES},
};
pub use rebuild::{digest, rebuild_and_compare, ModelDigest};
pub use runner::{Projection, ReadModel, ReadModels};
