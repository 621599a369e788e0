//! The exports (导出): each reads its list in pages from the read side (tables in keyset
//! order, or an in-memory model) and hands rows to a sheet written on a blocking thread, so
//! reading the next page and writing the last overlap and memory holds a page or two. Titles
//! are the manual's column names; times are in the enterprise's time zone; every cell is text.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use projections::{CallRecordDoc, CallStatus, RecordCursor};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::job::{JobContext, JobFailure};
use crate::sheet::SheetWriter;
use crate::spec::{CallRecordsSpec, ReportSubject};

/// Rows read from the database at a time.
pub const PAGE: usize = 2_000;

/// Rows on their way from the reader to the sheet.
pub type Rows = Vec<Vec<String>>;

/// A time in `tz` as the screens show it.
pub fn local(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn optional_local(tz: Tz, at: Option<DateTime<Utc>>) -> String {
    at.map(|at| local(tz, at)).unwrap_or_default()
}

/// Writes the rows `produce` sends into a sheet named `name` under `titles` at the job's
/// partial path, counting progress; returns the rows written.
pub async fn write_sheet<F, Fut>(
    ctx: &JobContext,
    name: &'static str,
    titles: &'static [&'static str],
    produce: F,
) -> Result<u64, JobFailure>
where
    F: FnOnce(mpsc::Sender<Rows>) -> Fut,
    Fut: std::future::Future<Output = Result<(), JobFailure>>,
{
    let (sender, mut receiver) = mpsc::channel::<Rows>(2);
    let partial = ctx.partial.clone();
    let scratch = ctx.scratch.clone();
    let counter = ctx.counter.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<u64, JobFailure> {
        let mut sheet = SheetWriter::new(name, titles, &scratch).map_err(JobFailure::sheet)?;
        while let Some(rows) = receiver.blocking_recv() {
            let n = rows.len() as u64;
            for row in rows {
                if sheet.is_full() {
                    return Err(JobFailure(format!(
                        "more than {} rows: narrow the filter",
                        crate::sheet::MAX_SHEET_ROWS - 1
                    )));
                }
                sheet.push(&row).map_err(JobFailure::sheet)?;
            }
            counter.add(n);
        }
        let rows = sheet.rows();
        sheet.save(&partial).map_err(JobFailure::sheet)?;
        Ok(rows)
    });
    let produced = produce(sender).await;
    let written = writer
        .await
        .map_err(|e| JobFailure(format!("the writer stopped: {e}")))?;
    produced?;
    written
}

/// Sends `rows` on, or fails when the writer has stopped (it says why).
pub async fn send(sender: &mpsc::Sender<Rows>, rows: Rows) -> Result<(), JobFailure> {
    sender
        .send(rows)
        .await
        .map_err(|_| JobFailure("the sheet writer stopped".into()))
}

/// The titles of each kind of call record (manual §2.6.1–2.6.3).
pub fn call_record_titles(kind: &str) -> &'static [&'static str] {
    match kind {
        "outbound" => &[
            "通话ID",
            "外呼任务",
            "号码",
            "使用主叫",
            "外呼时间",
            "接通时间",
            "挂断时间",
            "通话时长(秒)",
            "挂断位置",
            "处理分机",
            "结果",
            "备注",
            "录音",
        ],
        "internal" => &[
            "通话ID",
            "主叫分机",
            "被叫",
            "呼叫时间",
            "接通时间",
            "挂断时间",
            "通话时长(秒)",
            "挂断位置",
            "处理分机",
            "结果",
            "备注",
            "录音",
        ],
        "missed" => &[
            "通话ID",
            "路由/项目",
            "号码",
            "进线时间",
            "处理分机",
            "备注",
        ],
        _ => &[
            "通话ID",
            "路由",
            "号码",
            "被叫号码",
            "进线时间",
            "接通时间",
            "挂断时间",
            "通话时长(秒)",
            "挂断位置",
            "处理分机",
            "结果",
            "备注",
            "录音",
        ],
    }
}

fn side_text(side: Option<&domain::call::Side>) -> String {
    use domain::call::Side;
    match side {
        Some(Side::Caller) => "主叫",
        Some(Side::Callee) => "被叫",
        Some(Side::System) => "系统",
        None => "",
    }
    .to_owned()
}

fn status_text(status: CallStatus) -> String {
    match status {
        CallStatus::InProgress => "通话中",
        CallStatus::Answered => "已接通",
        CallStatus::Missed => "未接",
        CallStatus::Unanswered => "未接通",
        CallStatus::Refused => "已拒绝",
    }
    .to_owned()
}

/// The file name a record's recording has in a package and its index.
pub fn recording_name(tz: Tz, record: &CallRecordDoc) -> String {
    let time = record.started_at.with_timezone(&tz).format("%Y%m%d-%H%M%S");
    let safe = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
            .take(32)
            .collect()
    };
    format!(
        "{time}_{}_{}_{}.wav",
        safe(&record.caller),
        safe(&record.called),
        record.id.simple()
    )
}

/// A call record as a row of its kind's sheet.
pub fn call_record_row(
    kind: &str,
    tz: Tz,
    routes: &HashMap<Uuid, String>,
    record: &CallRecordDoc,
) -> Vec<String> {
    let route = record
        .route_id
        .and_then(|r| routes.get(&r).cloned())
        .unwrap_or_default();
    let duration = record.duration_seconds().to_string();
    let extension = record.extension.clone().unwrap_or_default();
    let remarks = record.remarks.join("; ");
    let recording = if record.recording.is_some() {
        recording_name(tz, record)
    } else {
        String::new()
    };
    let id = record.id.to_string();
    match kind {
        "outbound" => vec![
            id,
            String::new(),
            record.called.clone(),
            record.caller_id.clone(),
            local(tz, record.started_at),
            optional_local(tz, record.answered_at),
            optional_local(tz, record.ended_at),
            duration,
            side_text(record.hangup_side.as_ref()),
            extension,
            status_text(record.status),
            remarks,
            recording,
        ],
        "internal" => vec![
            id,
            record.caller.clone(),
            record.called.clone(),
            local(tz, record.started_at),
            optional_local(tz, record.answered_at),
            optional_local(tz, record.ended_at),
            duration,
            side_text(record.hangup_side.as_ref()),
            extension,
            status_text(record.status),
            remarks,
            recording,
        ],
        "missed" => vec![
            id,
            route,
            record.caller.clone(),
            local(tz, record.started_at),
            extension,
            remarks,
        ],
        _ => vec![
            id,
            route,
            record.caller.clone(),
            record.called.clone(),
            local(tz, record.started_at),
            optional_local(tz, record.answered_at),
            optional_local(tz, record.ended_at),
            duration,
            side_text(record.hangup_side.as_ref()),
            extension,
            status_text(record.status),
            remarks,
            recording,
        ],
    }
}

/// The names of `tenant`'s routes.
pub fn route_names(ctx: &JobContext, tenant: Uuid) -> HashMap<Uuid, String> {
    ctx.node
        .models
        .of(projections::ROUTES)
        .of_tenant(tenant)
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect()
}

/// Calls `each` with every page of the call records `spec` names, newest first, after
/// setting the progress total.
pub async fn call_record_pages<F, Fut>(
    ctx: &JobContext,
    spec: &CallRecordsSpec,
    mut each: F,
) -> Result<(), JobFailure>
where
    F: FnMut(Vec<CallRecordDoc>) -> Fut,
    Fut: std::future::Future<Output = Result<(), JobFailure>>,
{
    let query = spec
        .query()
        .ok_or_else(|| JobFailure(format!("no call records of kind {}", spec.kind)))?;
    let pool = ctx.node.log.pool();
    let mut after: Option<RecordCursor> = None;
    let mut first = true;
    loop {
        let page = projections::call_records_page(&pool, &query, after.as_ref(), PAGE, first)
            .await
            .map_err(JobFailure::internal)?;
        if first {
            ctx.counter.total(u64::try_from(page.total).unwrap_or(0));
            first = false;
        }
        after = page.records.last().map(RecordCursor::of);
        let more = page.has_next;
        each(page.records).await?;
        if !more {
            return Ok(());
        }
    }
}

/// Exports the call records `spec` names.
pub async fn call_records(ctx: &JobContext, spec: &CallRecordsSpec) -> Result<u64, JobFailure> {
    let routes = Arc::new(route_names(ctx, spec.tenant));
    let tz = ctx.time_zone;
    let kind = spec.kind.clone();
    write_sheet(
        ctx,
        "通话记录",
        call_record_titles(&spec.kind),
        |sender| async move {
            call_record_pages(ctx, spec, |records| {
                let rows: Rows = records
                    .iter()
                    .map(|r| call_record_row(&kind, tz, &routes, r))
                    .collect();
                let sender = sender.clone();
                async move { send(&sender, rows).await }
            })
            .await
        },
    )
    .await
}

/// Exports the audit log (操作日志) of `tenant` in `from..=to`, newest first.
pub async fn audit_log(
    ctx: &JobContext,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, JobFailure> {
    const TITLES: &[&str] = &["时间", "操作账号", "对象类型", "对象", "操作", "详情"];
    let accounts: HashMap<Uuid, String> = ctx
        .node
        .models
        .of(projections::ACCOUNTS)
        .all()
        .into_iter()
        .map(|a| (a.id, a.account))
        .collect();
    let tz = ctx.time_zone;
    let query = projections::AuditQuery {
        tenant: Some(tenant),
        actors: None,
        from: Some(from),
        to: Some(to),
        event_type: None,
        stream_id: None,
    };
    write_sheet(ctx, "操作日志", TITLES, |sender| async move {
        let pool = ctx.node.log.pool();
        let mut after = None;
        loop {
            let page = projections::audit_page(&pool, &query, after, PAGE)
                .await
                .map_err(JobFailure::internal)?;
            if after.is_none() {
                ctx.counter.total(u64::try_from(page.total).unwrap_or(0));
            }
            after = page.entries.last().map(|e| e.position);
            let rows: Rows = page
                .entries
                .iter()
                .map(|e| {
                    vec![
                        local(tz, e.at),
                        accounts
                            .get(&e.actor_id)
                            .cloned()
                            .unwrap_or_else(|| e.actor_id.to_string()),
                        e.stream_type.clone(),
                        e.stream_id.to_string(),
                        e.event_type.clone(),
                        e.details.to_string(),
                    ]
                })
                .collect();
            send(&sender, rows).await?;
            if !page.has_next {
                return Ok(());
            }
        }
    })
    .await
}

/// Exports the voicemail box (留言箱, manual §2.6.4) of `tenant` in `from..=to`.
pub async fn voicemails(
    ctx: &JobContext,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, JobFailure> {
    const TITLES: &[&str] = &["路由", "号码", "被叫号码", "时间", "时长(秒)"];
    let routes = route_names(ctx, tenant);
    let tz = ctx.time_zone;
    let mut messages: Vec<_> = ctx
        .node
        .models
        .of(projections::VOICEMAILS)
        .of_tenant(tenant)
        .into_iter()
        .filter(|m| m.started_at >= from && m.started_at <= to)
        .collect();
    messages.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then(b.call_id.cmp(&a.call_id))
    });
    ctx.counter.total(messages.len() as u64);
    let rows: Rows = messages
        .iter()
        .map(|m| {
            vec![
                m.route_id
                    .and_then(|r| routes.get(&r).cloned())
                    .unwrap_or_default(),
                m.caller.clone(),
                m.called.clone(),
                local(tz, m.started_at),
                m.duration_ms
                    .map(|ms| (ms / 1000).to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    write_sheet(ctx, "留言箱", TITLES, |sender| async move {
        for chunk in rows.chunks(PAGE) {
            send(&sender, chunk.to_vec()).await?;
        }
        Ok(())
    })
    .await
}

/// Exports a statistics report (manual §6) per subject and day in the enterprise's zone.
pub async fn report(
    ctx: &JobContext,
    tenant: Uuid,
    subject: ReportSubject,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, JobFailure> {
    const QUEUE_TITLES: &[&str] = &[
        "队列",
        "日期",
        "进线数",
        "接通数",
        "放弃数",
        "超时数",
        "满队列数",
        "服务水平(%)",
        "平均等待(秒)",
        "平均通话(秒)",
    ];
    const AGENT_TITLES: &[&str] = &["分机", "日期", "通话数", "通话时长(秒)", "签入时长(秒)"];
    let tz = ctx.time_zone;
    let pool = ctx.node.log.pool();
    let kind = match subject {
        ReportSubject::Queues => projections::ReportKind::Queue,
        ReportSubject::Agents => projections::ReportKind::Agent,
    };
    let hours = projections::report_hours(&pool, tenant, kind, from, to, &[])
        .await
        .map_err(JobFailure::internal)?;
    let day = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let mut days: std::collections::BTreeMap<(String, String), [i64; 9]> = Default::default();
    let names: HashMap<Uuid, String> = match subject {
        ReportSubject::Queues => ctx
            .node
            .models
            .of(projections::QUEUES)
            .of_tenant(tenant)
            .into_iter()
            .map(|q| (q.id, q.settings.name))
            .collect(),
        ReportSubject::Agents => ctx
            .node
            .models
            .of(projections::EXTENSIONS)
            .of_tenant(tenant)
            .into_iter()
            .map(|e| (e.id, e.number))
            .collect(),
    };
    let name = |id: Uuid| names.get(&id).cloned().unwrap_or_else(|| id.to_string());
    for row in hours {
        match row {
            projections::ReportRow::QueueHour(h) => {
                let sums = days.entry((name(h.queue_id), day(h.hour))).or_default();
                for (sum, value) in sums.iter_mut().zip([
                    i64::from(h.offered),
                    i64::from(h.answered),
                    i64::from(h.abandoned),
                    i64::from(h.timed_out),
                    i64::from(h.full),
                    i64::from(h.answered_in_time),
                    h.wait_seconds,
                    h.handle_seconds,
                    i64::from(h.handled),
                ]) {
                    *sum += value;
                }
            }
            projections::ReportRow::AgentHour(h) => {
                let sums = days.entry((name(h.extension_id), day(h.hour))).or_default();
                sums[0] += i64::from(h.calls);
                sums[1] += h.talk_seconds;
                sums[2] += h.signed_in_seconds;
            }
            _ => {}
        }
    }
    ctx.counter.total(days.len() as u64);
    let per = |sum: i64, n: i64| {
        if n > 0 {
            (sum / n).to_string()
        } else {
            "0".into()
        }
    };
    let rows: Rows = days
        .into_iter()
        .map(|((subject_name, date), s)| match subject {
            ReportSubject::Queues => vec![
                subject_name,
                date,
                s[0].to_string(),
                s[1].to_string(),
                s[2].to_string(),
                s[3].to_string(),
                s[4].to_string(),
                per(s[5] * 100, s[0]),
                per(s[6], s[0]),
                per(s[7], s[8]),
            ],
            ReportSubject::Agents => vec![
                subject_name,
                date,
                s[0].to_string(),
                s[1].to_string(),
                s[2].to_string(),
            ],
        })
        .collect();
    let titles = match subject {
        ReportSubject::Queues => QUEUE_TITLES,
        ReportSubject::Agents => AGENT_TITLES,
    };
    write_sheet(ctx, "统计报表", titles, |sender| async move {
        for chunk in rows.chunks(PAGE) {
            send(&sender, chunk.to_vec()).await?;
        }
        Ok(())
    })
    .await
}
