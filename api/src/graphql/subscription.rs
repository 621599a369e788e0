//! Subscriptions: live feeds pushed from committed events as the read models apply them; the
//! number of viewers never adds database queries.

use async_graphql::{Context, Subscription, ID};
use domain::Permission;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::board::{boards, watched, BoardChange, BoardFeed, BoardFeedCell, QueueBoardUpdate};
use super::context::{app, caller, parse_id, parse_opt_id};
use super::guard::while_authorized;
use super::queue_types::{agent_object, AgentObject};
use super::types::AuditEntryObject;

/// The live feeds: the audit log, queue boards and an agent's own seat.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveFeeds;

#[Subscription]
impl LiveFeeds {
    /// New audit-log entries as they happen (operator: all enterprises unless one is named).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        enterprise_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AuditEntryObject>>> {
        let caller = caller(ctx)?.clone();
        caller.require(Permission::AuditLogRead)?;
        let requested = parse_opt_id("enterpriseId", enterprise_id.as_ref())?;
        let tenant = if caller.operator {
            requested
        } else {
            Some(caller.tenant(requested)?)
        };
        let app = app(ctx).clone();
        let feed = app.node.models.feed();
        let entries = futures::stream::unfold(
            (feed, app.clone(), caller.clone(), tenant),
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
                    let entry = projections::audit_entry(&event).ok().flatten();
                    if let Some(object) = entry.and_then(|e| AuditEntryObject::build(&app, e).ok())
                    {
                        return Some((object, (feed, app, caller, tenant)));
                    }
                }
            },
        );
        Ok(while_authorized(
            app,
            caller,
            Permission::AuditLogRead,
            entries,
        ))
    }

    /// The board of the queues named (supervisors): first as it is, then each change in them
    /// (a caller entering, ringing an agent, connecting or leaving; an agent signing in or
    /// out, changing state or call) with the entry it changed.
    async fn queue_board(
        &self,
        ctx: &Context<'_>,
        queue_ids: Vec<ID>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<QueueBoardUpdate>>> {
        let caller = caller(ctx)?.clone();
        caller.require(Permission::SupervisorMonitor)?;
        let app = app(ctx).clone();
        let ids = queue_ids
            .iter()
            .map(|id| parse_id("queueIds", id))
            .collect::<Result<Vec<_>, _>>()?;
        let queues = watched(&app, &caller, &ids)?;
        // Subscribed before the snapshot is taken: nothing between them is missed.
        let feed = BoardFeed::of(&app, ctx.data_unchecked::<BoardFeedCell>());
        let snapshot = board_snapshot(&app, &queues);
        let updates = futures::stream::unfold(
            (feed, ids, app.clone(), queues),
            |(mut feed, ids, app, queues)| async move {
                loop {
                    match feed.recv().await {
                        Ok(delta) if ids.contains(&delta.queue_id) => {
                            let update = delta.update.clone();
                            return Some((update, (feed, ids, app, queues)));
                        }
                        Ok(_) => continue,
                        // Changes were missed (the viewer fell behind): the whole board
                        // again, so that it cannot drift.
                        Err(RecvError::Lagged(_)) => {
                            let update = board_snapshot(&app, &queues);
                            return Some((update, (feed, ids, app, queues)));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        );
        let board = futures::StreamExt::chain(futures::stream::iter([snapshot]), updates);
        Ok(while_authorized(
            app,
            caller,
            Permission::SupervisorMonitor,
            board,
        ))
    }

    /// The caller's own seat after every change (agents): signed in or out, work state, and
    /// each call that rings it, with the caller's number and the screen-pop link.
    async fn my_agent_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<AgentObject>>> {
        let caller = caller(ctx)?.clone();
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx).clone();
        let feed = app.node.models.feed();
        let seats = futures::stream::unfold(
            (feed, app.clone(), caller.clone()),
            |(mut feed, app, caller)| async move {
                loop {
                    let event = match feed.recv().await {
                        Ok(event) => event,
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    };
                    if event.stream_type != <domain::agent::Agent as esrs::Aggregate>::NAME
                        || event.metadata.tenant_id != Some(caller.enterprise_id)
                    {
                        continue;
                    }
                    let seat = app
                        .node
                        .models
                        .of(projections::AGENTS)
                        .by_id(event.stream_id);
                    // The seat the caller holds, or the one it just signed out of.
                    let mine = seat.as_ref().is_some_and(|s| {
                        s.account_id == Some(caller.account_id)
                            || (s.account_id.is_none()
                                && event.payload.contains(&caller.account_id.to_string()))
                    });
                    if let (true, Some(seat)) = (mine, seat) {
                        return Some((agent_object(&app, seat), (feed, app, caller)));
                    }
                }
            },
        );
        Ok(while_authorized(
            app,
            caller,
            Permission::AgentWorkstation,
            seats,
        ))
    }
}

/// The whole board of `queues` as it is now.
fn board_snapshot(app: &crate::app::App, queues: &[projections::QueueDoc]) -> QueueBoardUpdate {
    QueueBoardUpdate {
        change: BoardChange::Snapshot,
        queue_id: None,
        call_id: None,
        extension_id: None,
        position: app.node.models.applied(),
        recorded_at: chrono::Utc::now(),
        waiting: None,
        agent: None,
        boards: boards(app, queues),
    }
}
