//! GraphQL of call records (通话记录, manual §2.6): the record of each call with the manual's
//! columns, filtered by kind, call time, number, extension, route and recording.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::Permission;
use projections::{snake, CallRecordQuery, RecordCursor, RecordKind};

use super::context::{app, caller, page_size, Total};
use super::query::list_tenant;
use crate::error::{ApiError, ApiResult};

/// Which call records to list.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallRecordKind {
    /// Inbound calls (呼入通话记录).
    Inbound,
    /// Outbound calls (外呼通话记录).
    Outbound,
    /// Extension-to-extension calls.
    Internal,
    /// Missed calls (未接来电): offered to an extension, never answered.
    Missed,
}

/// Filter of `callRecords` (manual §2.6.5): the call time is required and spans at most one
/// month.
#[derive(InputObject, Debug)]
pub struct CallRecordFilter {
    /// Inbound, outbound, internal or missed.
    pub kind: CallRecordKind,
    /// Call time range (required, at most 31 days).
    pub call_time: super::types::TimeRange,
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Calling or called number contains.
    pub number: Option<String>,
    /// Handling extension number.
    pub extension: Option<String>,
    /// Inbound route.
    pub route_id: Option<ID>,
    /// Only calls with (or without) a recording.
    pub recorded: Option<bool>,
    /// Only calls that waited in this queue.
    pub queue_id: Option<ID>,
    /// Only calls that ended so (the result): `in_progress`, `answered`, `missed`,
    /// `unanswered` or `refused`.
    pub result: Option<String>,
}

/// The result a filter names.
fn parse_result(result: Option<&String>) -> ApiResult<Option<projections::CallStatus>> {
    use projections::CallStatus as S;
    let Some(result) = result else {
        return Ok(None);
    };
    [
        S::InProgress,
        S::Answered,
        S::Missed,
        S::Unanswered,
        S::Refused,
    ]
    .into_iter()
    .find(|s| snake(s) == result.trim())
    .map(Some)
    .ok_or_else(|| {
        ApiError::validation(
            "result",
            "must be in_progress, answered, missed, unanswered or refused",
        )
    })
}

/// A call record (通话记录).
#[derive(SimpleObject, Debug, Clone)]
pub struct CallRecordObject {
    /// The call.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// `inbound`, `outbound` or `internal`.
    pub direction: String,
    /// Route (路由).
    pub route_id: Option<ID>,
    /// Calling number (号码).
    pub caller: String,
    /// Called number.
    pub called: String,
    /// Caller ID used outside.
    pub caller_id: String,
    /// Call time (呼入时间 / 外呼时间).
    pub started_at: DateTime<Utc>,
    /// Answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in seconds (inbound: from entry; outbound: from answer).
    pub duration: i32,
    /// Hang-up side (挂机位置): `caller`, `callee` or `system`.
    pub hangup_side: Option<String>,
    /// Why it ended.
    pub cause: Option<String>,
    /// Handling extension (处理分机).
    pub extension: Option<String>,
    /// `in_progress`, `answered`, `missed`, `unanswered` or `refused`.
    pub status: String,
    /// Remarks (备注).
    pub remarks: Vec<String>,
    /// Whether a recording exists (录音).
    pub recorded: bool,
}

fn call_record_object(d: projections::CallRecordDoc) -> CallRecordObject {
    CallRecordObject {
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        direction: snake(&d.direction),
        route_id: d.route_id.map(|r| ID(r.to_string())),
        duration: i32::try_from(d.duration_seconds()).unwrap_or(i32::MAX),
        caller: d.caller,
        called: d.called,
        caller_id: d.caller_id,
        started_at: d.started_at,
        answered_at: d.answered_at,
        ended_at: d.ended_at,
        hangup_side: d.hangup_side.as_ref().map(snake),
        cause: d.cause.as_ref().map(snake),
        extension: d.extension,
        status: snake(&d.status),
        remarks: d.remarks,
        recorded: d.recording.is_some(),
    }
}

/// The query a screen's filter names, checked as the screen checks it: both ends of the
/// call time, at most a month apart, within the caller's tenant.
pub(crate) fn checked_query(
    caller: &crate::auth::Caller,
    filter: &CallRecordFilter,
) -> ApiResult<CallRecordQuery> {
    let (Some(from), Some(to)) = (filter.call_time.from, filter.call_time.to) else {
        return Err(ApiError::validation(
            "callTime",
            "both ends of the call time are required",
        ));
    };
    if to < from || to - from > chrono::Duration::days(31) {
        return Err(ApiError::validation(
            "callTime",
            "must span at most one month",
        ));
    }
    let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
    use domain::call::Direction as D;
    Ok(CallRecordQuery {
        tenant,
        kind: match filter.kind {
            CallRecordKind::Inbound => RecordKind::Direction(D::Inbound),
            CallRecordKind::Outbound => RecordKind::Direction(D::Outbound),
            CallRecordKind::Internal => RecordKind::Direction(D::Internal),
            CallRecordKind::Missed => RecordKind::Missed,
        },
        from,
        to,
        number: filter.number.clone(),
        extension: filter.extension.clone(),
        route_id: super::context::parse_opt_id("routeId", filter.route_id.as_ref())?,
        queue_id: super::context::parse_opt_id("queueId", filter.queue_id.as_ref())?,
        status: parse_result(filter.result.as_ref())?,
        recorded: filter.recorded,
    })
}

/// Queries of call records.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallRecordsQuery;

#[Object]
impl CallRecordsQuery {
    /// Call records (manual §2.6), newest first.
    async fn call_records(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: CallRecordFilter,
    ) -> ApiResult<Connection<String, CallRecordObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::CallRecordsRead)?;
        let query = checked_query(caller, &filter)?;
        let first = page_size(first)?;
        let after = after
            .map(|cursor| {
                RecordCursor::parse(&cursor)
                    .ok_or_else(|| ApiError::validation("after", "is not a cursor of this list"))
            })
            .transpose()?;
        // The total is counted only when asked for (a page after the first often is not).
        let count = ctx.look_ahead().field("totalCount").exists();
        let page = projections::call_records_page(
            &app(ctx).node.log.pool(),
            &query,
            after.as_ref(),
            first,
            count,
        )
        .await?;
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next,
            Total::exact(usize::try_from(page.total).unwrap_or(0)),
        );
        connection
            .edges
            .extend(page.records.into_iter().map(|record| {
                Edge::new(
                    RecordCursor::of(&record).encode(),
                    call_record_object(record),
                )
            }));
        Ok(connection)
    }
}
