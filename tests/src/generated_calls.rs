//! Realistic call histories appended straight to the log, for tests and benchmarks of the read
//! side at volume: inbound calls answered by an agent (through a queue, recorded), outbound
//! calls, missed calls and calls the caller gave up, 11 events each as the runtime writes them.

use chrono::{DateTime, Duration, Utc};
use domain::call::{CallEvent, Cause, Direction, Party, QueueOutcome, Side};
use eventlog::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use uuid::Uuid;

/// What kind of call a generated one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratedKind {
    /// In through a queue, answered by an agent, recorded.
    InboundAnswered,
    /// Out from an extension to a number, answered, recorded.
    OutboundAnswered,
    /// In, offered to an extension, then forwarded to its bound number, never answered.
    Missed,
    /// In, queued, the caller hung up while waiting.
    Abandoned,
}

/// One generated call.
#[derive(Debug, Clone)]
pub struct GeneratedCall {
    /// The call.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// What happened.
    pub kind: GeneratedKind,
    /// When it came in (or was dialled).
    pub started_at: DateTime<Utc>,
    /// The outside number.
    pub number: String,
    /// The extension that handled (or was offered) it.
    pub extension: String,
    /// That extension's id.
    pub extension_id: Uuid,
    /// The queue it waited in.
    pub queue_id: Uuid,
}

impl GeneratedCall {
    /// The `n`th call of a deterministic history: enterprise `n % enterprises`, started `n`
    /// spread over `days` days before `end`, kinds in the proportions of a busy call center.
    pub fn nth(n: u64, enterprises: u64, days: i64, end: DateTime<Utc>, total: u64) -> Self {
        let enterprise = n % enterprises.max(1);
        let span = Duration::days(days).num_milliseconds();
        let offset =
            i64::try_from(n).unwrap_or(0) * span / i64::try_from(total.max(1)).unwrap_or(1);
        let kind = match n % 10 {
            0..=5 => GeneratedKind::InboundAnswered,
            6 | 7 => GeneratedKind::OutboundAnswered,
            8 => GeneratedKind::Missed,
            _ => GeneratedKind::Abandoned,
        };
        let agent = (n / enterprises.max(1)) % 20;
        Self {
            id: Uuid::from_u128(0x6361_6c6c_0000_0000_0000_0000_0000_0000 | u128::from(n)),
            enterprise_id: Uuid::from_u128(
                0x656e_7465_0000_0000_0000_0000_0000_0000 | u128::from(enterprise),
            ),
            kind,
            started_at: end - Duration::milliseconds(span) + Duration::milliseconds(offset),
            number: format!("+86138{:08}", (n * 7_919) % 100_000_000),
            extension: format!("{}", 8001 + agent),
            extension_id: Uuid::from_u128(
                0x6578_7400_0000_0000_0000_0000_0000_0000
                    | (u128::from(enterprise) << 32)
                    | u128::from(agent),
            ),
            queue_id: Uuid::from_u128(
                0x7175_6575_0000_0000_0000_0000_0000_0000 | u128::from(enterprise),
            ),
        }
    }

    /// The call's events, in the order the runtime records them.
    pub fn events(&self) -> Vec<CallEvent> {
        let at = |seconds: i64| self.started_at + Duration::seconds(seconds);
        let outside = Party::External {
            number: self.number.clone(),
        };
        let agent = Party::Extension {
            extension_id: self.extension_id,
            number: self.extension.clone(),
        };
        let file = format!("recordings/{}.wav", self.id);
        let hung_up = |leg: &str, side: Side, cause: Cause, s: i64| CallEvent::LegHungUp {
            leg: leg.into(),
            side,
            cause,
            at: at(s),
        };
        match self.kind {
            GeneratedKind::InboundAnswered => vec![
                offered(
                    self,
                    Direction::Inbound,
                    outside,
                    "+862161234567".into(),
                    at(0),
                ),
                CallEvent::QueueEntered {
                    queue_id: self.queue_id,
                    caller: self.number.clone(),
                    at: at(1),
                },
                leg_offered("b", agent, at(9)),
                CallEvent::LegRinging {
                    leg: "b".into(),
                    at: at(9),
                },
                CallEvent::LegAnswered {
                    leg: "b".into(),
                    at: at(14),
                },
                CallEvent::QueueLeft {
                    queue_id: self.queue_id,
                    outcome: QueueOutcome::Answered,
                    agent: Some(self.extension_id),
                    at: at(14),
                },
                CallEvent::RecordingStarted {
                    file: file.clone(),
                    at: at(14),
                },
                CallEvent::RecordingStopped {
                    file,
                    duration_ms: Some(95_000),
                    at: at(109),
                },
                hung_up("a", Side::Caller, Cause::Normal, 109),
                hung_up("b", Side::Callee, Cause::Normal, 109),
                CallEvent::CallEnded {
                    cause: Cause::Normal,
                    at: at(109),
                },
            ],
            GeneratedKind::OutboundAnswered => vec![
                offered(self, Direction::Outbound, agent, self.number.clone(), at(0)),
                CallEvent::LegAnswered {
                    leg: "a".into(),
                    at: at(0),
                },
                leg_offered("b", outside, at(0)),
                CallEvent::LegRinging {
                    leg: "b".into(),
                    at: at(2),
                },
                CallEvent::LegAnswered {
                    leg: "b".into(),
                    at: at(11),
                },
                CallEvent::LegsBridged {
                    leg: "a".into(),
                    other: "b".into(),
                    at: at(11),
                },
                CallEvent::RecordingStarted {
                    file: file.clone(),
                    at: at(11),
                },
                CallEvent::RecordingStopped {
                    file,
                    duration_ms: Some(62_000),
                    at: at(73),
                },
                hung_up("b", Side::Callee, Cause::Normal, 73),
                hung_up("a", Side::Caller, Cause::Normal, 73),
                CallEvent::CallEnded {
                    cause: Cause::Normal,
                    at: at(73),
                },
            ],
            GeneratedKind::Missed => vec![
                offered(
                    self,
                    Direction::Inbound,
                    outside,
                    "+862161234567".into(),
                    at(0),
                ),
                CallEvent::QueueEntered {
                    queue_id: self.queue_id,
                    caller: self.number.clone(),
                    at: at(1),
                },
                leg_offered("b", agent, at(2)),
                CallEvent::LegRinging {
                    leg: "b".into(),
                    at: at(2),
                },
                hung_up("b", Side::System, Cause::NoAnswer, 22),
                CallEvent::LegOffered {
                    leg: "c".into(),
                    party: Party::External {
                        number: format!("+86139{}", &self.number[6..]),
                    },
                    caller_id: self.number.clone(),
                    forwarded: true,
                    at: at(22),
                },
                CallEvent::LegRinging {
                    leg: "c".into(),
                    at: at(22),
                },
                hung_up("c", Side::System, Cause::NoAnswer, 42),
                CallEvent::QueueLeft {
                    queue_id: self.queue_id,
                    outcome: QueueOutcome::Abandoned,
                    agent: None,
                    at: at(45),
                },
                hung_up("a", Side::Caller, Cause::Cancelled, 45),
                CallEvent::CallEnded {
                    cause: Cause::Cancelled,
                    at: at(45),
                },
            ],
            GeneratedKind::Abandoned => vec![
                offered(
                    self,
                    Direction::Inbound,
                    outside,
                    "+862161234567".into(),
                    at(0),
                ),
                CallEvent::IvrStarted {
                    flow_id: self.queue_id,
                    version: 1,
                    at: at(0),
                },
                CallEvent::IvrNodeEntered {
                    node: "welcome".into(),
                    node_type: "play".into(),
                    at: at(0),
                },
                CallEvent::DigitReceived {
                    leg: "a".into(),
                    key: '1',
                    at: at(6),
                },
                CallEvent::IvrBranchTaken {
                    node: "menu".into(),
                    branch: "1".into(),
                    at: at(6),
                },
                CallEvent::IvrVariableSet {
                    name: "choice".into(),
                    value: "1".into(),
                    at: at(6),
                },
                CallEvent::QueueEntered {
                    queue_id: self.queue_id,
                    caller: self.number.clone(),
                    at: at(7),
                },
                CallEvent::LegHeld {
                    leg: "a".into(),
                    at: at(7),
                },
                CallEvent::QueueLeft {
                    queue_id: self.queue_id,
                    outcome: QueueOutcome::Abandoned,
                    agent: None,
                    at: at(30),
                },
                hung_up("a", Side::Caller, Cause::Cancelled, 30),
                CallEvent::CallEnded {
                    cause: Cause::Cancelled,
                    at: at(30),
                },
            ],
        }
    }

    /// The appends of the call's events to its stream, in the steps the runtime writes them:
    /// the call coming in, its middle, its end.
    pub fn append_requests(&self) -> Vec<AppendRequest> {
        let events: Vec<NewEvent> = self
            .events()
            .into_iter()
            .map(|event| {
                let payload = serde_json::to_string(&event).unwrap_or_default();
                let event_type = serde_json::from_str::<serde_json::Value>(&payload)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                NewEvent {
                    event_type,
                    payload,
                }
            })
            .collect();
        let mut requests = Vec::new();
        let mut version = 0;
        for step in [
            &events[..2],
            &events[2..events.len() - 3],
            &events[events.len() - 3..],
        ] {
            requests.push(AppendRequest {
                stream_type: "call".into(),
                stream_id: self.id,
                expected_version: ExpectedVersion::Exact(version),
                events: step.to_vec(),
                metadata: Metadata::new(Some(self.enterprise_id), None),
            });
            version += i64::try_from(step.len()).unwrap_or(0);
        }
        requests
    }
}

fn offered(
    call: &GeneratedCall,
    direction: Direction,
    caller: Party,
    called: String,
    at: DateTime<Utc>,
) -> CallEvent {
    CallEvent::CallOffered {
        enterprise_id: call.enterprise_id,
        direction,
        caller,
        called,
        route_id: None,
        at,
    }
}

fn leg_offered(leg: &str, party: Party, at: DateTime<Utc>) -> CallEvent {
    CallEvent::LegOffered {
        leg: leg.into(),
        party,
        caller_id: String::new(),
        forwarded: false,
        at,
    }
}

/// The shape of a generated history.
#[derive(Debug, Clone, Copy)]
pub struct History {
    /// Calls in it.
    pub calls: u64,
    /// Enterprises they are spread over.
    pub enterprises: u64,
    /// Days they are spread over, ending a minute ago.
    pub days: i64,
}

/// Appends `history` to the log at `url` (a database URL or a SQLite file) from 128 writers at
/// once, as a node's calls write them, with `extra(n, call)` appended after the `n`th call's
/// events when it gives a request; returns the log's head.
pub async fn append_history(
    url: &str,
    history: History,
    extra: impl Fn(u64, &GeneratedCall) -> Option<AppendRequest> + Send + Sync + 'static,
) -> anyhow::Result<i64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let log = eventlog::EventLog::start(
        eventlog::open_backend(url).await?,
        eventlog::EventLogConfig::default(),
    )
    .await?;
    let end = Utc::now() - Duration::minutes(1);
    let next = Arc::new(AtomicU64::new(0));
    let extra = Arc::new(extra);
    let workers: Vec<_> = (0..128)
        .map(|_| {
            let (log, next, extra) = (log.clone(), next.clone(), extra.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= history.calls {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let call = GeneratedCall::nth(
                        n,
                        history.enterprises,
                        history.days,
                        end,
                        history.calls,
                    );
                    for request in call.append_requests() {
                        log.append(request).await?;
                    }
                    if let Some(request) = extra(n, &call) {
                        log.append(request).await?;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let head = log.stored_head().await?;
    log.shutdown().await;
    Ok(head)
}
