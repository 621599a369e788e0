//! The read models of callcore, one module each.

pub mod accounts;
pub mod agents;
pub mod announcements;
pub mod audit_log;
pub mod audit_query;
pub mod call_record_query;
pub mod call_records;
pub mod credentials;
pub mod data_files;
pub mod enterprises;
pub mod extensions;
pub mod ivr_flows;
pub mod live_calls;
pub mod numbers;
pub mod queue_board;
pub mod queues;
pub mod report_query;
pub mod reports;
pub mod roles;
pub mod routes;
pub mod sessions;
pub mod trunks;
pub mod voicemails;
pub mod voices;

use eventlog::RecordedEvent;
use serde::de::DeserializeOwned;

use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::tables::AnyTableProjection;

/// A fresh instance of every projection kept in a table.
pub fn all_table_projections() -> Vec<Box<dyn AnyTableProjection>> {
    vec![
        Box::new(call_records::CallRecords),
        Box::new(audit_log::AuditLog),
        Box::new(reports::Reports),
    ]
}

/// A fresh instance of every projection kept in memory.
pub fn all_projections() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(enterprises::Enterprises),
        Box::new(extensions::Extensions),
        Box::new(accounts::Accounts),
        Box::new(credentials::Credentials),
        Box::new(roles::Roles),
        Box::new(announcements::Announcements),
        Box::new(sessions::Sessions),
        Box::new(live_calls::LiveCalls),
        Box::new(trunks::Trunks),
        Box::new(numbers::Numbers),
        Box::new(routes::Routes),
        Box::new(ivr_flows::IvrFlows),
        Box::new(voices::Voices),
        Box::new(voicemails::Voicemails),
        Box::new(data_files::DataFiles),
        Box::new(queues::Queues),
        Box::new(agents::Agents),
        Box::new(queue_board::QueueBoard),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_handle_names_a_projection_and_every_projection_has_a_handle() {
        let handles = [
            accounts::ACCOUNTS.name(),
            agents::AGENTS.name(),
            announcements::ANNOUNCEMENTS.name(),
            credentials::CREDENTIALS.name(),
            data_files::DATA_FILES.name(),
            enterprises::ENTERPRISES.name(),
            extensions::EXTENSIONS.name(),
            ivr_flows::IVR_FLOWS.name(),
            live_calls::LIVE_CALLS.name(),
            numbers::NUMBERS.name(),
            queue_board::QUEUE_BOARD.name(),
            queues::QUEUES.name(),
            roles::ROLES.name(),
            routes::ROUTES.name(),
            sessions::SESSIONS.name(),
            trunks::TRUNKS.name(),
            voicemails::VOICEMAILS.name(),
            voices::VOICES.name(),
        ];
        let distinct: BTreeSet<&str> = handles.iter().copied().collect();
        assert_eq!(distinct.len(), handles.len(), "two handles share a name");
        let projected: BTreeSet<&str> = all_projections().iter().map(|p| p.name()).collect();
        assert_eq!(distinct, projected);
        let tables: BTreeSet<&str> = all_table_projections()
            .iter()
            .map(|p| p.spec().table)
            .collect();
        assert!(tables.is_disjoint(&projected), "a model is kept both ways");
    }
}
