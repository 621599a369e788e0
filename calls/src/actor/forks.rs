//! Legs ringing for one caller beside the b slot's (a ring-all queue rings every free member
//! at once): their responses, their ring timeouts, the first answer taking the b slot, and
//! cancelling the others.

use chrono::Utc;
use domain::call::{CallCommand, Cause, Side};
use telephony::sip::message::Response;
use tokio::time::Instant;

use super::bridge::refusal_cause;
use super::legs::Slot;
use super::session::{hangup, Flow, Session};
use crate::dialog::Progress;

impl Session {
    /// CANCELs every leg ringing (the b slot's, when not answered, and the forks) and returns
    /// the commands ending them.
    pub(crate) fn cancel_forks_and_ringing(&mut self, cause: Cause) -> Vec<CallCommand> {
        let mut commands = Vec::new();
        let forks = std::mem::take(&mut self.forks);
        let ringing_b = self.b.take_if(|b| !b.answered()).into_iter().chain(forks);
        for mut slot in ringing_b {
            self.send(slot.call.cancel());
            commands.push(hangup(&slot.name, Side::System, cause.clone()));
        }
        commands
    }

    /// CANCELs the forks; returns the commands ending them.
    pub(crate) fn cancel_forks(&mut self) -> Vec<CallCommand> {
        std::mem::take(&mut self.forks)
            .into_iter()
            .map(|mut fork| {
                self.send(fork.call.cancel());
                hangup(&fork.name, Side::System, Cause::Cancelled)
            })
            .collect()
    }

    /// Forks whose ring time ran out by `now`: CANCELled and missed.
    pub(crate) async fn forks_not_answered(&mut self, now: Instant) {
        let (due, keep): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.forks)
            .into_iter()
            .partition(|f| f.call.ring_timed_out(now));
        self.forks = keep;
        for mut fork in due {
            self.send(fork.call.cancel());
            self.queue_offer_failed(&fork.name, Side::System, Cause::NoAnswer)
                .await;
        }
    }

    /// The b slot emptied while forks still ring: the first of them takes it.
    pub(crate) fn promote_fork(&mut self) {
        if self.b.is_none() && !self.forks.is_empty() {
            self.b = Some(self.forks.remove(0));
        }
    }

    /// A response to the INVITE of fork `index`: it rings, answers (and takes the b slot:
    /// the others are cancelled) or refuses (the member missed the call).
    pub(crate) async fn on_fork_response(&mut self, index: usize, response: Response) -> Flow {
        let local = self.local;
        let Some(fork) = self.forks.get_mut(index) else {
            return Flow::Continue;
        };
        let (progress, sends) = fork.call.on_response(&response, local);
        match progress {
            Progress::Ringing => {
                let leg = fork.name.clone();
                self.record(vec![CallCommand::Ringing {
                    leg,
                    at: Utc::now(),
                }])
                .await;
                Flow::Continue
            }
            Progress::Answered { body } => {
                let fork = self.forks.remove(index);
                if let Some(ringing) = self.b.take() {
                    self.forks.push(ringing); // cancelled as the fork answers
                }
                self.b = Some(fork);
                self.on_answer(body, sends).await
            }
            Progress::Refused { status } => {
                let fork = self.forks.remove(index);
                self.queue_offer_failed(&fork.name, Side::Callee, refusal_cause(status))
                    .await;
                Flow::Continue
            }
            Progress::Challenged | Progress::Nothing => {
                self.send_all(sends);
                Flow::Continue
            }
        }
    }

    /// The offer ringing `extension` was withdrawn on its seat (the agent signed out): its leg
    /// is cancelled, and the caller is offered to someone else.
    pub(crate) async fn offer_withdrawn(&mut self, extension: uuid::Uuid) -> Flow {
        let Some((queue_id, name)) = self.waiting.as_mut().and_then(|w| {
            let name = w
                .offers
                .iter()
                .find(|(_, e)| **e == extension)
                .map(|(n, _)| n.clone())?;
            w.offers.remove(&name);
            Some((w.queue.id, name))
        }) else {
            return Flow::Continue;
        };
        let slot = if self.b.as_ref().is_some_and(|b| b.name == name) {
            self.b.take()
        } else {
            self.forks
                .iter()
                .position(|f| f.name == name)
                .map(|i| self.forks.remove(i))
        };
        if let Some(mut slot) = slot {
            self.send(slot.call.cancel());
            self.record(vec![hangup(&slot.name, Side::System, Cause::Cancelled)])
                .await;
        }
        self.promote_fork();
        self.calls
            .acd
            .offer_ended(queue_id, self.call, extension, false);
        Flow::Continue
    }
}
