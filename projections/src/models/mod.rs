//! The read models of callcore, one module each.

pub mod accounts;
pub mod agents;
pub mod announcements;
pub mod audit_log;
pub mod call_records;
pub mod credentials;
pub mod enterprises;
pub mod extensions;
pub mod ivr_flows;
pub mod numbers;
pub mod queue_board;
pub mod queues;
pub mod reports;
pub mod roles;
pub mod routes;
pub mod sessions;
pub mod trunks;
pub mod voicemails;
pub mod voices;

use eventlog::RecordedEvent;
use serde::de::DeserializeOwned;

use crate::runner::Projection;
use crate::ProjectionError;

/// A fresh instance of every projection.
pub fn all_projections() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(enterprises::Enterprises),
        Box::new(extensions::Extensions),
        Box::new(accounts::Accounts),
        Box::new(credentials::Credentials),
        Box::new(roles::Roles),
        Box::new(announcements::Announcements),
        Box::new(sessions::Sessions),
        Box::new(call_records::CallRecords),
        Box::new(trunks::Trunks),
        Box::new(numbers::Numbers),
        Box::new(routes::Routes),
        Box::new(ivr_flows::IvrFlows),
        Box::new(voices::Voices),
        Box::new(voicemails::Voicemails),
        Box::new(queues::Queues),
        Box::new(agents::Agents),
        Box::new(queue_board::QueueBoard),
        Box::new(reports::Reports),
        Box::new(audit_log::AuditLog),
    ]
}

/// The event's payload as `E` when it belongs to aggregate `A`.
pub(crate) fn decode<A: esrs::Aggregate>(
    event: &RecordedEvent,
) -> Result<Option<A::Event>, ProjectionError>
where
    A::Event: DeserializeOwned,
{
    if event.stream_type != A::NAME {
        return Ok(None);
    }
    serde_json::from_str(&event.payload)
        .map(Some)
        .map_err(|source| ProjectionError::Json {
            position: event.position,
            source,
        })
}
