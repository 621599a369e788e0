//! GraphQL of the statistics reports (统计报表, manual §6): per queue offered, answered,
//! abandoned, service level, average speed of answer and handle time; per agent seat signed-in
//! time, time per work state, calls, talk time and occupancy; by hour or by day in the
//! enterprise's time zone. Summed from the hours of the `reports` table.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::Permission;
use projections::{report_hours, AgentHour, QueueHour, ReportKind, ReportRow};
use uuid::Uuid;

use super::context::{app, caller, parse_id};
use super::types::TimeRange;
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// How rows are grouped.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One row per hour.
    Hour,
    /// One row per day of the enterprise's time zone.
    Day,
}

/// Filter of a report.
#[derive(InputObject, Debug)]
pub struct ReportFilter {
    /// The period (required, at most 31 days).
    pub time: TimeRange,
    /// Hours or days.
    pub granularity: Granularity,
    /// Only these queues or extensions (all when empty).
    pub ids: Option<Vec<ID>>,
}

/// One row of the queue report.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct QueueReportRow {
    /// The queue.
    pub queue_id: ID,
    /// Start of the hour or day.
    pub period: DateTime<Utc>,
    /// Callers offered (entered, or refused full).
    pub offered: i32,
    /// Answered by an agent.
    pub answered: i32,
    /// Abandoned while waiting.
    pub abandoned: i32,
    /// Left by the queue timeout.
    pub timed_out: i32,
    /// Refused: the queue was full.
    pub full: i32,
    /// Share answered within 20 s of those answered or abandoned, 0–1.
    pub service_level: f64,
    /// Average speed of answer, seconds.
    pub average_speed_of_answer: f64,
    /// Average handle time (answer to hang-up), seconds.
    pub average_handle_time: f64,
}

/// One row of the agent report.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct AgentReportRow {
    /// The extension.
    pub extension_id: ID,
    /// Start of the hour or day.
    pub period: DateTime<Utc>,
    /// Seconds signed in.
    pub signed_in_seconds: i64,
    /// Seconds working (no callback).
    pub working_seconds: i64,
    /// Seconds on break.
    pub break_seconds: i64,
    /// Seconds away.
    pub away_seconds: i64,
    /// Seconds working with callback.
    pub working_callback_seconds: i64,
    /// Calls answered.
    pub calls: i32,
    /// Talk time, seconds.
    pub talk_seconds: i64,
    /// Talk time over signed-in time, 0–1.
    pub occupancy: f64,
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The reporting period's ends and the enterprise's time zone.
fn period(
    app: &App,
    caller: &Caller,
    time: &TimeRange,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>, chrono_tz::Tz)> {
    let (Some(from), Some(to)) = (time.from, time.to) else {
        return Err(ApiError::validation(
            "time",
            "both ends of the period are required",
        ));
    };
    if to < from || to - from > chrono::Duration::days(31) {
        return Err(ApiError::validation("time", "must span at most one month"));
    }
    let tz = app
        .node
        .models
        .of(projections::ENTERPRISES)
        .by_id(caller.enterprise_id)
        .and_then(|e| e.time_zone.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Ok((from, to, tz))
}

/// The start of the row `hour` falls in.
fn bucket(hour: DateTime<Utc>, granularity: Granularity, tz: chrono_tz::Tz) -> DateTime<Utc> {
    match granularity {
        Granularity::Hour => hour,
        Granularity::Day => {
            let day: NaiveDate = hour.with_timezone(&tz).date_naive();
            tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .map_or(hour, |d| d.with_timezone(&Utc))
        }
    }
}

/// The hours of `kind` of the caller's enterprise in the period, of the queues or seats
/// `wanted` (all when empty), read from the `reports` table.
async fn hours(
    app: &App,
    caller: &Caller,
    kind: ReportKind,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    wanted: &[Uuid],
) -> ApiResult<Vec<ReportRow>> {
    if !caller.sees(Some(caller.enterprise_id)) {
        return Ok(Vec::new());
    }
    Ok(report_hours(
        &app.node.log.pool(),
        caller.enterprise_id,
        kind,
        from,
        to,
        wanted,
    )
    .await?)
}

fn ids(filter: &ReportFilter) -> ApiResult<Vec<Uuid>> {
    filter
        .ids
        .iter()
        .flatten()
        .map(|id| parse_id("ids", id))
        .collect()
}

/// Queries of the reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReportsQuery;

#[Object]
impl ReportsQuery {
    /// The queue report (队列报表), by queue and period.
    async fn queue_report(
        &self,
        ctx: &Context<'_>,
        filter: ReportFilter,
    ) -> ApiResult<Vec<QueueReportRow>> {
        let caller = caller(ctx)?;
        caller.require(Permission::ReportsRead)?;
        let app = app(ctx);
        let (from, to, tz) = period(app, caller, &filter.time)?;
        let wanted = ids(&filter)?;
        let rows = hours(app, caller, ReportKind::Queue, (from, to), &wanted).await?;
        let mut sums: BTreeMap<(Uuid, DateTime<Utc>), QueueHour> = BTreeMap::new();
        for row in rows {
            let ReportRow::QueueHour(h) = row else {
                continue;
            };
            let key = (h.queue_id, bucket(h.hour, filter.granularity, tz));
            let sum = sums.entry(key).or_default();
            sum.offered += h.offered;
            sum.answered += h.answered;
            sum.abandoned += h.abandoned;
            sum.timed_out += h.timed_out;
            sum.full += h.full;
            sum.answered_in_time += h.answered_in_time;
            sum.wait_seconds += h.wait_seconds;
            sum.handle_seconds += h.handle_seconds;
            sum.handled += h.handled;
        }
        Ok(sums
            .into_iter()
            .map(|((queue, period), s)| {
                let ratio = |a: f64, b: u32| if b == 0 { 0.0 } else { a / f64::from(b) };
                QueueReportRow {
                    queue_id: ID(queue.to_string()),
                    period,
                    offered: int(s.offered),
                    answered: int(s.answered),
                    abandoned: int(s.abandoned),
                    timed_out: int(s.timed_out),
                    full: int(s.full),
                    service_level: ratio(f64::from(s.answered_in_time), s.answered + s.abandoned),
                    average_speed_of_answer: ratio(s.wait_seconds as f64, s.answered),
                    average_handle_time: ratio(s.handle_seconds as f64, s.handled),
                }
            })
            .collect())
    }

    /// The agent report (坐席报表), by extension and period.
    async fn agent_report(
        &self,
        ctx: &Context<'_>,
        filter: ReportFilter,
    ) -> ApiResult<Vec<AgentReportRow>> {
        let caller = caller(ctx)?;
        caller.require(Permission::ReportsRead)?;
        let app = app(ctx);
        let (from, to, tz) = period(app, caller, &filter.time)?;
        let wanted = ids(&filter)?;
        let rows = hours(app, caller, ReportKind::Agent, (from, to), &wanted).await?;
        let mut sums: BTreeMap<(Uuid, DateTime<Utc>), AgentHour> = BTreeMap::new();
        for row in rows {
            let ReportRow::AgentHour(h) = row else {
                continue;
            };
            let key = (h.extension_id, bucket(h.hour, filter.granularity, tz));
            let sum = sums.entry(key).or_default();
            sum.calls += h.calls;
            sum.talk_seconds += h.talk_seconds;
            sum.signed_in_seconds += h.signed_in_seconds;
            for (total, part) in sum.state_seconds.iter_mut().zip(h.state_seconds) {
                *total += part;
            }
        }
        Ok(sums
            .into_iter()
            .map(|((extension, period), s)| AgentReportRow {
                extension_id: ID(extension.to_string()),
                period,
                signed_in_seconds: s.signed_in_seconds,
                working_seconds: s.state_seconds[0],
                break_seconds: s.state_seconds[1],
                away_seconds: s.state_seconds[2],
                working_callback_seconds: s.state_seconds[3],
                calls: int(s.calls),
                talk_seconds: s.talk_seconds,
                occupancy: if s.signed_in_seconds > 0 {
                    s.talk_seconds as f64 / s.signed_in_seconds as f64
                } else {
                    0.0
                },
            })
            .collect())
    }
}
