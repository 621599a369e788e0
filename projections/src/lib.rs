//! Read models built from the event log: each has a name, documents keyed by id, and a
//! checkpoint stored in the same transaction as its writes. They are kept in memory for
//! queries, persisted beside the log, and can be dropped and rebuilt from position 0.

mod doc_store;
mod docs;
mod error;
mod models;
mod rebuild;
mod runner;

pub use doc_store::DocStore;
pub use docs::{Doc, Docs};
pub use error::ProjectionError;
pub use models::{
    accounts::AccountDoc,
    agents::AgentDoc,
    all_projections,
    announcements::AnnouncementDoc,
    audit_log::AuditEntry,
    audit_log::{audit_key, redact},
    call_records::{CallRecordDoc, CallStatus},
    credentials::CredentialDoc,
    enterprises::EnterpriseDoc,
    extensions::ExtensionDoc,
    ivr_flows::IvrFlowDoc,
    numbers::NumberDoc,
    queue_board::{board_key, QueueBoardDoc, WaitingCall},
    queues::QueueDoc,
    reports::{AgentHour, QueueHour, SERVICE_LEVEL_SECONDS},
    roles::RoleDoc,
    routes::RouteDoc,
    sessions::SessionDoc,
    trunks::TrunkDoc,
    voicemails::VoicemailDoc,
    voices::VoiceDoc,
};
pub use rebuild::{digest, rebuild_and_compare, ModelDigest};
pub use runner::{Projection, ReadModel, ReadModels};
