//! The IVR part of a call's actor: it steps the call's pure `IvrRun` with what happens on the
//! call (a prompt finished, a key, a timer, an HTTP answer, the transfer's outcome), records
//! each step's facts, and only then carries out the step's actions: prompts played to the
//! caller from the relay, timers, HTTP requests in their own tasks (bounded, never blocking
//! another call), transfers ringing a leg in the b slot, voicemail recorded by the relay.

use std::time::Duration;

use chrono::Utc;
use domain::call::{CallCommand, Cause, Side};
use domain::ivr::HttpMethod;
use domain::policy::ivr::{IvrAction, IvrInput, IvrRun, TransferTo, Utterance};
use tokio::time::Instant;
use uuid::Uuid;

use super::ivr_driver::{local_now, IvrDriver, IvrNotice};
use super::session::{hangup, Flow, Session};
use crate::dialog::Which;
use crate::plan;

/// Largest HTTP answer an IVR node reads (a longer one is a failure).
const MAX_HTTP_ANSWER: usize = 64 * 1024;

/// What an action leaves to do.
enum After {
    /// Go on with the next action.
    Next,
    /// Step the flow again with this input (a transfer that failed at once).
    Feed(IvrInput),
    /// The call is over.
    Done,
}

impl Session {
    /// Whether the flow waits for the b slot's leg (an IVR transfer rings).
    pub(crate) fn ivr_waits_for_transfer(&self) -> bool {
        self.ivr.as_ref().is_some_and(|i| !i.run.is_done())
    }

    /// Whether the flow's timer ran out by `now`.
    pub(crate) fn ivr_timer_due(&self, now: Instant) -> bool {
        self.ivr
            .as_ref()
            .and_then(|i| i.timer)
            .is_some_and(|t| now >= t)
    }

    /// The flow's timer ran out.
    pub(crate) async fn on_ivr_timer(&mut self) -> Flow {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.timer = None;
        }
        self.ivr_input(IvrInput::Timeout).await
    }

    /// A report of the flow's tasks.
    pub(crate) async fn on_ivr_notice(&mut self, notice: IvrNotice) -> Flow {
        match notice {
            IvrNotice::Finished(generation) => {
                let current = self
                    .ivr
                    .as_ref()
                    .is_some_and(|i| i.generation == generation);
                if !current {
                    return Flow::Continue;
                }
                self.ivr_input(IvrInput::PlaybackFinished).await
            }
            IvrNotice::PromptFailed(reason) => {
                self.record(vec![CallCommand::PromptFailed {
                    reason,
                    at: Utc::now(),
                }])
                .await;
                Flow::Continue
            }
            IvrNotice::Input(input) => self.ivr_input(input).await,
        }
    }

    /// The transfer the flow waits for failed.
    pub(crate) async fn transfer_failed(&mut self, reason: &str) -> Flow {
        self.ivr_input(IvrInput::TransferFailed {
            reason: reason.to_owned(),
        })
        .await
    }

    /// Steps the flow with `input`, records the step, then carries out its actions.
    pub(crate) async fn ivr_input(&mut self, input: IvrInput) -> Flow {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            let Some(ivr) = self.ivr.as_mut() else {
                return Flow::Continue;
            };
            if ivr.run.is_done() {
                return Flow::Continue;
            }
            let now = local_now(ivr.entry.time_zone);
            let step = ivr
                .run
                .step(&ivr.entry.definition, &ivr.entry.facts, now, input);
            if !step.facts.is_empty() {
                let committed = self
                    .record(vec![CallCommand::Ivr {
                        facts: step.facts,
                        at: Utc::now(),
                    }])
                    .await;
                if committed.is_none() {
                    // Nothing may happen that the log does not say: the call ends.
                    return self.ivr_hang_up().await;
                }
            }
            match self
                .carry_out(step.actions, std::time::Instant::now())
                .await
            {
                After::Next => {}
                After::Feed(input) => next = Some(input),
                After::Done => return Flow::Done,
            }
        }
        Flow::Continue
    }

    /// Carries out the actions of a step already recorded (the entry step's facts are part of
    /// the call's first write); `recorded` is when that write returned.
    pub(crate) async fn ivr_actions(
        &mut self,
        actions: Vec<IvrAction>,
        recorded: std::time::Instant,
    ) -> Flow {
        match self.carry_out(actions, recorded).await {
            After::Next => Flow::Continue,
            After::Feed(input) => self.ivr_input(input).await,
            After::Done => Flow::Done,
        }
    }

    async fn carry_out(&mut self, actions: Vec<IvrAction>, recorded: std::time::Instant) -> After {
        let mut after = After::Next;
        for action in actions {
            match action {
                IvrAction::Play {
                    items, background, ..
                } => self.play(items, background, recorded),
                IvrAction::StopPlayback => {
                    if let Some(ivr) = self.ivr.as_mut() {
                        ivr.stop_playback();
                    }
                }
                IvrAction::StartTimer { seconds } => {
                    if let Some(ivr) = self.ivr.as_mut() {
                        ivr.timer = Some(Instant::now() + Duration::from_secs(u64::from(seconds)));
                    }
                }
                IvrAction::Http {
                    method,
                    url,
                    body,
                    timeout_ms,
                } => self.request(method, url, body, timeout_ms),
                IvrAction::Transfer(to) => {
                    if let Some(input) = self.transfer(to).await {
                        after = After::Feed(input);
                    }
                }
                IvrAction::RecordVoicemail { .. } => self.start_voicemail().await,
                IvrAction::Hangup => {
                    self.ivr_hang_up().await;
                    return After::Done;
                }
            }
        }
        after
    }

    /// The flow releases the caller.
    async fn ivr_hang_up(&mut self) -> Flow {
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.stop();
        }
        self.end(vec![hangup("a", Side::System, Cause::Normal)])
            .await;
        self.bye(Which::A);
        Flow::Done
    }

    /// Plays `items` to the caller in a task of its own (replacing what played): rendered
    /// from the prompt cache, then sent from the relay. A background playback loops until
    /// stopped and reports no finish.
    fn play(&mut self, items: Vec<Utterance>, background: bool, recorded: std::time::Instant) {
        let codec = self.media.a_codec();
        let (Some(ivr), Some(relay)) = (self.ivr.as_mut(), self.media.relay.clone()) else {
            return;
        };
        ivr.stop_playback();
        ivr.generation += 1;
        let generation = ivr.generation;
        let notify = ivr.notify.clone();
        let calls = self.calls.clone();
        let node = self.node.clone();
        let enterprise = self.enterprise;
        ivr.playback = Some(tokio::spawn(async move {
            let (prompt, failures) = calls.prompts.render(&node, enterprise, &items).await;
            for failure in failures {
                let _ = notify.send(IvrNotice::PromptFailed(failure.to_string()));
            }
            let mut note_start = Some(node.clone());
            while !prompt.samples().is_empty() {
                let on_first: telephony::media::relay::OnFirstPacket = match note_start.take() {
                    Some(node) => Box::new(move |at: std::time::Instant| {
                        node.metrics
                            .prompt_started(at.saturating_duration_since(recorded));
                    }),
                    None => Box::new(|_| {}),
                };
                let mut playback = relay.play_noting_start(true, &prompt, codec, on_first);
                playback.finished().await;
                if !background {
                    break;
                }
            }
            if !background {
                let _ = notify.send(IvrNotice::Finished(generation));
            }
        }));
    }

    /// Sends an HTTP node's request in a task of its own; its outcome comes back as a notice.
    fn request(&mut self, method: HttpMethod, url: String, body: String, timeout_ms: u32) {
        let client = self.calls.http.clone();
        let refused = match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                self.calls.http_policy.refuses_url(&parsed)
            }
            _ => Some("not an http or https URL".to_owned()),
        };
        let Some(ivr) = self.ivr.as_mut() else {
            return;
        };
        let notify = ivr.notify.clone();
        ivr.http = Some(tokio::spawn(async move {
            if let Some(reason) = refused {
                let _ = notify.send(IvrNotice::Input(IvrInput::HttpFailed { reason }));
                return;
            }
            let timeout = Duration::from_millis(u64::from(timeout_ms));
            let request = match method {
                HttpMethod::Get => client.get(&url),
                HttpMethod::Post => client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body),
            };
            let exchange = async {
                let mut response = request.send().await?;
                let status = response.status().as_u16();
                let mut bytes = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_HTTP_ANSWER {
                        return Ok(IvrInput::HttpFailed {
                            reason: format!("the answer is longer than {MAX_HTTP_ANSWER} bytes"),
                        });
                    }
                }
                let body = serde_json::from_slice(&bytes).ok();
                Ok::<_, reqwest::Error>(IvrInput::HttpAnswered { status, body })
            };
            let input = match tokio::time::timeout(timeout, exchange).await {
                Err(_) => IvrInput::HttpFailed {
                    reason: format!("no answer within {timeout_ms} ms"),
                },
                Ok(Err(error)) => IvrInput::HttpFailed {
                    reason: if refused_by_resolver(&error) {
                        "the host resolves to no allowed address".into()
                    } else if error.is_connect() {
                        "connection failed".into()
                    } else {
                        "request failed".into()
                    },
                },
                Ok(Ok(input)) => input,
            };
            let _ = notify.send(IvrNotice::Input(input));
        }));
    }

    /// Rings a transfer node's target in the b slot; a target that cannot be rung fails the
    /// transfer at once (returned as the input to step with).
    async fn transfer(&mut self, to: TransferTo) -> Option<IvrInput> {
        let caller = self.ivr.as_ref()?.entry.caller.clone();
        let target = match to {
            TransferTo::Extension(id) => {
                plan::extension_by_id(&self.node, self.enterprise, id, &caller).await
            }
            TransferTo::ExtensionNumber(number) => {
                plan::extension_by_number(&self.node, self.enterprise, &number, &caller).await
            }
            TransferTo::Queue(queue_id) => {
                if let Some(ivr) = self.ivr.as_mut() {
                    ivr.stop_playback(); // the queue's music takes over
                }
                return self.transfer_to_queue(queue_id).await;
            }
        };
        let target = match target {
            Ok(target) => target,
            Err(cause) => {
                return Some(IvrInput::TransferFailed {
                    reason: match cause {
                        Cause::Unavailable => "the extension is not available".into(),
                        other => format!("{other:?}").to_lowercase(),
                    },
                })
            }
        };
        let name = self.next_leg_name();
        let offered = self
            .record(vec![CallCommand::AddLeg {
                leg: name.clone(),
                party: target.party.clone(),
                caller_id: target.caller_id.clone(),
                forwarded: target.forwarded,
                at: Utc::now(),
            }])
            .await;
        if offered.is_none() {
            return Some(IvrInput::TransferFailed {
                reason: "the leg could not be recorded".into(),
            });
        }
        self.ring(target, name);
        None
    }

    /// Starts recording the caller's message (after the event says so).
    async fn start_voicemail(&mut self) {
        let Some(ivr) = self.ivr.as_ref() else { return };
        let at = Utc::now();
        let file = format!("voicemail/{}/{}.wav", at.format("%Y/%m/%d"), self.call);
        let command = CallCommand::StartVoicemail {
            enterprise_id: self.enterprise,
            caller: ivr.entry.caller.clone(),
            called: ivr.entry.called.clone(),
            route_id: ivr.entry.route_id,
            file: file.clone(),
            at,
        };
        let started = self.record(vec![command]).await;
        if let (Some(_), Some(relay)) = (started, &self.media.relay) {
            relay.start_recording(self.node.data_dir.join(file));
            self.media.voicemail = true;
        }
    }

    /// The caller goes on in IVR flow `flow_id` (a queue's overflow, an agent's transfer).
    pub(crate) async fn enter_flow(&mut self, flow_id: Uuid) -> Flow {
        let entry = plan::queue_overflow_entry(
            &self.node,
            &self.calls,
            self.enterprise,
            flow_id,
            &self.caller_number(),
            &self.called_number(),
            self.route_id(),
        );
        let Ok(entry) = entry else {
            return self.release_caller().await;
        };
        let (run, step) =
            IvrRun::start(&entry.definition, &entry.facts, local_now(entry.time_zone));
        let at = Utc::now();
        let recorded = self
            .record(vec![
                CallCommand::EnterIvr {
                    flow_id: entry.flow_id,
                    version: entry.version,
                    at,
                },
                CallCommand::Ivr {
                    facts: step.facts,
                    at,
                },
            ])
            .await;
        if recorded.is_none() {
            return self.release_caller().await;
        }
        self.ivr = Some(IvrDriver::new(entry, run, self.ivr_notify.clone()));
        self.ivr_actions(step.actions, std::time::Instant::now())
            .await
    }
}

/// Whether `error` is the resolver refusing every address of the host.
fn refused_by_resolver(error: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = cause {
        if current.to_string().contains("no allowed address") {
            return true;
        }
        cause = current.source();
    }
    false
}
