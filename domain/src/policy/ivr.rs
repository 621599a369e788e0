//! IVR interpretation as a pure state machine: a flow's node, the call's variables and what the
//! call is waiting for, stepped by inputs ("prompt finished", "key 3", "timeout", "HTTP
//! answered"…). Each step returns the facts to record as the call's events (node entered,
//! variable set, branch taken) and the actions for the call runtime to carry out after they are
//! committed (play, start a timer, send an HTTP request, transfer, record a voicemail, hang up).
//! Time comes in with each input, in the enterprise's time zone; the caller's region is looked
//! up once when the call enters the flow.

mod render;
mod step;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime};

pub use render::spaced_digits;
use render::{field, fill, json_escape, play, url_encode, utterances};
pub use step::{CallFacts, IvrAction, IvrFact, IvrInput, IvrStep, TransferTo, Utterance};

use crate::ivr::{
    FlowDefinition, HttpMethod, HttpNode, IvrNode, NodeAction, PromptItem, TransferTarget,
};

/// What the call waits for in its node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    /// Prompts to finish; then `then`.
    Prompts(AfterPrompts),
    /// A menu key, with the timer running.
    MenuKey,
    /// More digits, with the timer running.
    Digits,
    /// The HTTP answer.
    Http,
    /// The transfer's outcome.
    Transfer,
    /// The caller's hang-up (a voicemail is being recorded).
    Voicemail,
    /// Nothing: the flow is over.
    Done,
}

/// What follows the prompts being played.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterPrompts {
    /// Go to this node (none: hang up).
    Jump(Option<String>),
    /// Wait for a menu key.
    MenuKey,
    /// Wait for digits.
    Digits,
    /// Record the voicemail.
    Voicemail(u32),
}

/// The longest value a variable holds (an HTTP answer's field, digits); longer ones are cut.
pub const MAX_VARIABLE_CHARS: usize = 512;

/// Jumps allowed within one step: validation refuses loops without a prompt or an input, so
/// this only guards against a definition that bypassed it.
const MAX_JUMPS_PER_STEP: usize = 64;

/// A call's run through one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvrRun {
    node: String,
    waiting: Waiting,
    variables: BTreeMap<String, String>,
    attempts: u32,
    digits: String,
}

impl IvrRun {
    /// Enters `flow` at its entry node at local time `now`.
    pub fn start(flow: &FlowDefinition, call: &CallFacts, now: NaiveDateTime) -> (IvrRun, IvrStep) {
        let mut run = IvrRun {
            node: flow.entry.clone(),
            waiting: Waiting::Done,
            variables: BTreeMap::new(),
            attempts: 0,
            digits: String::new(),
        };
        let mut step = IvrStep::default();
        run.jump(flow, call, now, Some(flow.entry.clone()), &mut step);
        (run, step)
    }

    /// The node the call is in.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The value of the flow's variable `name`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// The flow's variables and their values.
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// Whether the flow is over: released, or connected by a transfer.
    pub fn is_done(&self) -> bool {
        self.waiting == Waiting::Done
    }

    /// Steps the run with `input` at local time `now`.
    pub fn step(
        &mut self,
        flow: &FlowDefinition,
        call: &CallFacts,
        now: NaiveDateTime,
        input: IvrInput,
    ) -> IvrStep {
        let mut step = IvrStep::default();
        let Some(node) = flow.node(&self.node).cloned() else {
            self.finish(&mut step);
            return step;
        };
        match (self.waiting.clone(), input, &node.action) {
            (Waiting::Prompts(after), IvrInput::PlaybackFinished, _) => match after {
                AfterPrompts::Jump(next) => self.jump(flow, call, now, next, &mut step),
                AfterPrompts::MenuKey | AfterPrompts::Digits => {
                    let (waiting, seconds) = match &node.action {
                        NodeAction::Menu(menu) => (Waiting::MenuKey, menu.timeout_seconds),
                        NodeAction::CollectDigits(c) => (Waiting::Digits, c.timeout_seconds),
                        _ => (Waiting::Done, 0),
                    };
                    self.waiting = waiting;
                    step.actions.push(IvrAction::StartTimer { seconds });
                }
                AfterPrompts::Voicemail(max_seconds) => {
                    self.waiting = Waiting::Voicemail;
                    step.actions
                        .push(IvrAction::RecordVoicemail { max_seconds });
                    step.actions.push(IvrAction::StartTimer {
                        seconds: max_seconds,
                    });
                }
            },
            (
                Waiting::Prompts(AfterPrompts::MenuKey) | Waiting::MenuKey,
                IvrInput::Digit(key),
                NodeAction::Menu(menu),
            ) => {
                step.actions.push(IvrAction::StopPlayback);
                match menu.options.iter().find(|o| o.key == key) {
                    Some(option) => {
                        self.branch(&node, format!("key {key}"), &mut step);
                        self.jump(flow, call, now, Some(option.next.clone()), &mut step);
                    }
                    None => self.menu_retry(
                        flow,
                        call,
                        now,
                        &node,
                        format!("invalid key {key}"),
                        &mut step,
                    ),
                }
            }
            (Waiting::MenuKey, IvrInput::Timeout, NodeAction::Menu(_)) => {
                self.menu_retry(flow, call, now, &node, "timeout".into(), &mut step);
            }
            (
                Waiting::Prompts(AfterPrompts::Digits) | Waiting::Digits,
                IvrInput::Digit(key),
                NodeAction::CollectDigits(collect),
            ) => {
                if self.waiting != Waiting::Digits {
                    step.actions.push(IvrAction::StopPlayback);
                }
                if collect.terminator == Some(key) {
                    self.end_collection(flow, call, now, &node, &mut step);
                } else {
                    self.digits.push(key);
                    if self.digits.chars().count() >= collect.max_digits as usize {
                        self.end_collection(flow, call, now, &node, &mut step);
                    } else {
                        self.waiting = Waiting::Digits;
                        step.actions.push(IvrAction::StartTimer {
                            seconds: collect.timeout_seconds,
                        });
                    }
                }
            }
            (Waiting::Digits, IvrInput::Timeout, NodeAction::CollectDigits(_)) => {
                self.end_collection(flow, call, now, &node, &mut step);
            }
            (Waiting::Http, IvrInput::HttpAnswered { status, body }, NodeAction::Http(http)) => {
                if (200..300).contains(&status) && (body.is_some() || http.outputs.is_empty()) {
                    for output in &http.outputs {
                        let value = body
                            .as_ref()
                            .and_then(|b| field(b, &output.field))
                            .unwrap_or_default();
                        self.set(&output.variable, value, &mut step);
                    }
                    self.branch(&node, "success".into(), &mut step);
                    self.jump(flow, call, now, http.success_next.clone(), &mut step);
                } else {
                    let why = if (200..300).contains(&status) {
                        "failure: the answer is not JSON".to_owned()
                    } else {
                        format!("failure: status {status}")
                    };
                    self.branch(&node, why, &mut step);
                    self.jump(flow, call, now, http.failure_next.clone(), &mut step);
                }
            }
            (Waiting::Http, IvrInput::HttpFailed { reason }, NodeAction::Http(http)) => {
                self.branch(&node, format!("failure: {reason}"), &mut step);
                self.jump(flow, call, now, http.failure_next.clone(), &mut step);
            }
            (Waiting::Transfer, IvrInput::TransferConnected, _) => {
                step.actions.push(IvrAction::StopPlayback);
                self.branch(&node, "connected".into(), &mut step);
                self.waiting = Waiting::Done;
            }
            (
                Waiting::Transfer,
                IvrInput::TransferFailed { reason },
                NodeAction::Transfer(transfer),
            ) => {
                self.branch(&node, format!("failed: {reason}"), &mut step);
                let items = utterances(&transfer.failure_prompts, &self.variables, call, now);
                let next = transfer.failure_next.clone();
                // Nothing to play: the music under the transfer stops, the call goes on.
                if let Some(next) = self.play_then_jump(items, next, &mut step) {
                    step.actions.push(IvrAction::StopPlayback);
                    self.jump(flow, call, now, next, &mut step);
                }
            }
            (Waiting::Voicemail, IvrInput::Timeout, _) => self.finish(&mut step),
            // Anything else (a key during a playback, a stray timer) changes nothing.
            _ => {}
        }
        step
    }

    fn branch(&self, node: &IvrNode, branch: String, step: &mut IvrStep) {
        step.facts.push(IvrFact::BranchTaken {
            node: node.key.clone(),
            branch,
        });
    }

    fn set(&mut self, name: &str, value: String, step: &mut IvrStep) {
        let value: String = value.chars().take(MAX_VARIABLE_CHARS).collect();
        self.variables.insert(name.to_owned(), value.clone());
        step.facts.push(IvrFact::VariableSet {
            name: name.to_owned(),
            value,
        });
    }

    fn finish(&mut self, step: &mut IvrStep) {
        self.waiting = Waiting::Done;
        step.actions.push(IvrAction::Hangup);
    }

    fn menu_retry(
        &mut self,
        flow: &FlowDefinition,
        call: &CallFacts,
        now: NaiveDateTime,
        node: &IvrNode,
        why: String,
        step: &mut IvrStep,
    ) {
        let NodeAction::Menu(menu) = &node.action else {
            return;
        };
        self.attempts += 1;
        if self.attempts >= menu.max_attempts {
            self.branch(node, format!("{why}, too many attempts"), step);
            self.jump(flow, call, now, menu.fail_next.clone(), step);
            return;
        }
        self.branch(node, why, step);
        let mut items = utterances(&menu.invalid_prompts, &self.variables, call, now);
        items.extend(utterances(&menu.prompts, &self.variables, call, now));
        self.ask(items, AfterPrompts::MenuKey, menu.timeout_seconds, step);
    }

    /// Plays `items` (not interruptible), then goes to `next`; with nothing to play, returns
    /// `Some(next)` for the caller to jump at once.
    fn play_then_jump(
        &mut self,
        items: Vec<Utterance>,
        next: Option<String>,
        step: &mut IvrStep,
    ) -> Option<Option<String>> {
        if items.is_empty() {
            return Some(next);
        }
        step.actions.push(play(items, false));
        self.waiting = Waiting::Prompts(AfterPrompts::Jump(next));
        None
    }

    /// Plays `items` (a key interrupts them), then waits `seconds` for the input `after`
    /// names: a menu key or digits.
    fn ask(
        &mut self,
        items: Vec<Utterance>,
        after: AfterPrompts,
        seconds: u32,
        step: &mut IvrStep,
    ) {
        if items.is_empty() {
            self.waiting = match after {
                AfterPrompts::Digits => Waiting::Digits,
                _ => Waiting::MenuKey,
            };
            step.actions.push(IvrAction::StartTimer { seconds });
        } else {
            step.actions.push(play(items, true));
            self.waiting = Waiting::Prompts(after);
        }
    }

    fn end_collection(
        &mut self,
        flow: &FlowDefinition,
        call: &CallFacts,
        now: NaiveDateTime,
        node: &IvrNode,
        step: &mut IvrStep,
    ) {
        let NodeAction::CollectDigits(collect) = &node.action else {
            return;
        };
        let digits = std::mem::take(&mut self.digits);
        if digits.chars().count() >= collect.min_digits as usize {
            self.set(&collect.variable, digits, step);
            self.branch(node, "collected".into(), step);
            self.jump(flow, call, now, collect.next.clone(), step);
        } else {
            self.branch(node, format!("too few digits ({})", digits.len()), step);
            self.jump(flow, call, now, collect.fail_next.clone(), step);
        }
    }

    /// Goes to `next` (none: hang up) and carries on through nodes that decide at once.
    fn jump(
        &mut self,
        flow: &FlowDefinition,
        call: &CallFacts,
        now: NaiveDateTime,
        mut next: Option<String>,
        step: &mut IvrStep,
    ) {
        for _ in 0..MAX_JUMPS_PER_STEP {
            let Some(key) = next.take() else {
                self.finish(step);
                return;
            };
            let Some(node) = flow.node(&key) else {
                self.finish(step);
                return;
            };
            self.node = key.clone();
            self.attempts = 0;
            self.digits.clear();
            step.facts.push(IvrFact::NodeEntered {
                node: key,
                node_type: node.action.kind().to_owned(),
            });
            match self.enter(node, call, now, step) {
                Some(following) => next = following,
                None => return,
            }
        }
        self.finish(step);
    }

    /// Enters `node`: returns `Some(next)` when the node decides at once where the call goes,
    /// `None` when the call now waits in it.
    fn enter(
        &mut self,
        node: &IvrNode,
        call: &CallFacts,
        now: NaiveDateTime,
        step: &mut IvrStep,
    ) -> Option<Option<String>> {
        let prompts =
            |run: &IvrRun, prompts: &[PromptItem]| utterances(prompts, &run.variables, call, now);
        match &node.action {
            NodeAction::Playback {
                prompts: list,
                next,
            } => {
                let items = prompts(self, list);
                self.play_then_jump(items, next.clone(), step)
            }
            NodeAction::Hangup { prompts: list } => {
                let items = prompts(self, list);
                self.play_then_jump(items, None, step)
            }
            NodeAction::Menu(menu) => {
                let items = prompts(self, &menu.prompts);
                self.ask(items, AfterPrompts::MenuKey, menu.timeout_seconds, step);
                None
            }
            NodeAction::CollectDigits(collect) => {
                let items = prompts(self, &collect.prompts);
                self.ask(items, AfterPrompts::Digits, collect.timeout_seconds, step);
                None
            }
            NodeAction::Voicemail {
                prompts: list,
                max_seconds,
            } => {
                let items = prompts(self, list);
                if items.is_empty() {
                    self.waiting = Waiting::Voicemail;
                    step.actions.push(IvrAction::RecordVoicemail {
                        max_seconds: *max_seconds,
                    });
                    step.actions.push(IvrAction::StartTimer {
                        seconds: *max_seconds,
                    });
                } else {
                    step.actions.push(play(items, false));
                    self.waiting = Waiting::Prompts(AfterPrompts::Voicemail(*max_seconds));
                }
                None
            }
            NodeAction::TimeCondition { rules, otherwise } => {
                let weekday = u8::try_from(now.weekday().number_from_monday()).unwrap_or(0);
                let time = now.time();
                let hit = rules.iter().position(|rule| {
                    let inside = if rule.start < rule.end {
                        rule.start <= time && time < rule.end
                    } else {
                        time >= rule.start || time < rule.end
                    };
                    inside && rule.weekdays.contains(&weekday)
                });
                Some(self.decide(node, hit, rules.iter().map(|r| &r.next), otherwise, step))
            }
            NodeAction::CallerArea { rules, otherwise } => {
                let hit = call.caller_region.as_deref().and_then(|region| {
                    rules.iter().position(|rule| {
                        rule.regions.iter().any(|r| {
                            let r = r.trim();
                            region == r || region.starts_with(r) || region.ends_with(r)
                        })
                    })
                });
                Some(self.decide(node, hit, rules.iter().map(|r| &r.next), otherwise, step))
            }
            NodeAction::Transfer(transfer) => {
                let target = match &transfer.target {
                    TransferTarget::Extension { extension_id } => {
                        Some(TransferTo::Extension(*extension_id))
                    }
                    TransferTarget::Queue { queue_id } => Some(TransferTo::Queue(*queue_id)),
                    TransferTarget::Variable { name } => self
                        .variables
                        .get(name)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| TransferTo::ExtensionNumber(v.trim().to_owned())),
                };
                let Some(target) = target else {
                    // The variable holds nothing: the transfer fails at once.
                    self.branch(node, "failed: the variable is empty".into(), step);
                    let items = prompts(self, &transfer.failure_prompts);
                    return self.play_then_jump(items, transfer.failure_next.clone(), step);
                };
                let items = prompts(self, &transfer.prompts);
                if !items.is_empty() {
                    step.actions.push(IvrAction::Play {
                        items,
                        interruptible: false,
                        background: true,
                    });
                }
                step.actions.push(IvrAction::Transfer(target));
                self.waiting = Waiting::Transfer;
                None
            }
            NodeAction::Http(http) => {
                step.actions.push(self.request(http, call, now));
                self.waiting = Waiting::Http;
                None
            }
        }
    }

    /// Records which rule held (or `otherwise`) and returns where it goes.
    fn decide<'a>(
        &self,
        node: &IvrNode,
        hit: Option<usize>,
        mut nexts: impl Iterator<Item = &'a String>,
        otherwise: &Option<String>,
        step: &mut IvrStep,
    ) -> Option<String> {
        match hit.and_then(|i| nexts.nth(i).map(|next| (i, next))) {
            Some((i, next)) => {
                self.branch(node, format!("rule {}", i + 1), step);
                Some(next.clone())
            }
            None => {
                self.branch(node, "otherwise".into(), step);
                otherwise.clone()
            }
        }
    }

    fn request(&self, http: &HttpNode, call: &CallFacts, now: NaiveDateTime) -> IvrAction {
        IvrAction::Http {
            method: http.method,
            url: fill(http.url.trim(), &self.variables, call, now, url_encode),
            body: match http.method {
                HttpMethod::Post => fill(&http.body, &self.variables, call, now, json_escape),
                HttpMethod::Get => String::new(),
            },
            timeout_ms: http.timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests;
