//! Live feeds last only as long as the session that opened them: before each item and every
//! half second the caller's session is checked again, and once it no longer holds (logged out,
//! password changed, account or enterprise disabled, expired, the feed's permission removed)
//! the feed sends one UNAUTHENTICATED error and ends.

use std::time::Duration;

use async_graphql::Error;
use chrono::Utc;
use domain::Permission;
use futures::{Stream, StreamExt};

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;

/// How often an idle feed checks its session.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Why `caller` may no longer receive a feed needing `permission`, if it may not.
fn refused(app: &App, caller: &Caller, permission: Permission) -> Option<Error> {
    app.auth
        .still_authorized(&app.node.models, caller, permission, Utc::now())
        .err()
        .map(|why| Error::from(ApiError::Unauthenticated(why.message())))
}

/// `items` for as long as `caller`'s session holds and grants `permission`; then one
/// UNAUTHENTICATED error, and the end.
pub(crate) fn while_authorized<T, S>(
    app: App,
    caller: Caller,
    permission: Permission,
    items: S,
) -> impl Stream<Item = async_graphql::Result<T>>
where
    S: Stream<Item = T> + Send + 'static,
    T: Send + 'static,
{
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (items.boxed(), checks, app, caller, false);
    futures::stream::unfold(
        state,
        move |(mut items, mut checks, app, caller, ended)| async move {
            if ended {
                return None;
            }
            loop {
                tokio::select! {
                    item = items.next() => {
                        let item = item?;
                        return Some(match refused(&app, &caller, permission) {
                            Some(error) => (Err(error), (items, checks, app, caller, true)),
                            None => (Ok(item), (items, checks, app, caller, false)),
                        });
                    }
                    _ = checks.tick() => {
                        if let Some(error) = refused(&app, &caller, permission) {
                            return Some((Err(error), (items, checks, app, caller, true)));
                        }
                    }
                }
            }
        },
    )
}
