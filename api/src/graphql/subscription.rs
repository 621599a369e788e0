//! Subscriptions: live feeds pushed from committed events as the read models apply them; the
//! number of viewers never adds database queries.

use async_graphql::{Context, Subscription, ID};
use domain::Permission;
use futures::Stream;
use projections::AuditEntry;
use tokio::sync::broadcast::error::RecvError;

use super::types::AuditEntryObject;
use super::{app, caller, parse_opt_id};

/// The subscription root.
#[derive(Debug, Default, Clone, Copy)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// New audit-log entries as they happen (operator: all enterprises unless one is named).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        enterprise_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = AuditEntryObject>> {
        let caller = caller(ctx)?.clone();
        caller.require(Permission::AuditLogRead)?;
        let requested = parse_opt_id("enterpriseId", enterprise_id.as_ref())?;
        let tenant = if caller.operator {
            requested
        } else {
            Some(caller.tenant(requested)?)
        };
        let app = app(ctx).clone();
        let feed = app.models.feed();
        Ok(futures::stream::unfold(
            (feed, app, caller, tenant),
            |(mut feed, app, caller, tenant)| async move {
                loop {
                    let event = match feed.recv().await {
                        Ok(event) => event,
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    };
                    if event.metadata.actor_id.is_none()
                        || !caller.sees(event.metadata.tenant_id)
                        || tenant.is_some_and(|t| event.metadata.tenant_id != Some(t))
                    {
                        continue;
                    }
                    let Ok(model) = app.models.model("audit_log") else {
                        return None;
                    };
                    let entry = model
                        .get(&projections::audit_key(event.position))
                        .and_then(|d| d.decode::<AuditEntry>());
                    if let Some(object) = entry.and_then(|e| AuditEntryObject::build(&app, e).ok())
                    {
                        return Some((object, (feed, app, caller, tenant)));
                    }
                }
            },
        ))
    }
}
