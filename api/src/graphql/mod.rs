//! The GraphQL API: schema, request context, paging and tenant-scoped look-ups.

mod board;
mod call_control;
mod call_records;
pub(crate) mod context;
mod enterprises;
mod extensions;
pub(crate) mod files;
mod guard;
mod ivr;
mod ivr_convert;
mod ivr_types;
mod limits;
mod mutation;
mod query;
mod queue_types;
mod queues;
mod reports;
mod subscription;
mod telephony;
mod types;
pub(crate) mod voices;

use async_graphql::Schema;

use crate::app::App;

pub use context::{AuthState, RequestSource};
pub(crate) use mutation::meta;

/// The query root: every module's queries.
#[derive(async_graphql::MergedObject, Default, Debug)]
pub struct QueryRoot(
    query::AccountsQuery,
    telephony::TelephonyQuery,
    call_records::CallRecordsQuery,
    ivr::IvrQuery,
    voices::VoiceQuery,
    queues::QueueQuery,
    reports::ReportsQuery,
    files::FilesQuery,
);

/// The mutation root: every module's mutations.
#[derive(async_graphql::MergedObject, Default, Debug)]
pub struct MutationRoot(
    mutation::AccountsMutation,
    enterprises::EnterprisesMutation,
    extensions::ExtensionsMutation,
    telephony::TelephonyMutation,
    ivr::IvrMutation,
    voices::VoiceMutation,
    queues::QueueMutation,
    call_control::CallControlMutation,
    files::FilesMutation,
);

/// The subscription root: every module's subscriptions.
#[derive(async_graphql::MergedSubscription, Default, Debug)]
pub struct SubscriptionRoot(subscription::LiveFeeds, files::FilesSubscription);

/// The schema type.
pub type CallcoreSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema over `app`, with depth and complexity limits against abusive queries.
pub fn build_schema(app: App) -> CallcoreSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .data(app)
    .data(board::BoardFeedCell::default())
    .extension(limits::OneLoginPerRequest)
    .limit_depth(12)
    .limit_complexity(5_000)
    .limit_recursive_depth(32)
    .finish()
}
