//! The actor's loop: it waits for the next thing to happen to the call (a message in its
//! inbox, a key press from the relay, a report of its IVR's tasks, or the earliest of its
//! timers) and hands it to the part of the actor that deals with it, until the call is over.

use std::time::Duration;

use domain::call::{Cause, Side};
use telephony::media::relay::Digit;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ivr_driver::IvrNotice;
use super::session::{Flow, Session};
use crate::dialog::Which;
use crate::inbox::CallInput;

async fn next_digit(digits: &mut Option<mpsc::UnboundedReceiver<Digit>>) -> Option<Digit> {
    match digits {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// Runs the call until it is over.
    pub(crate) async fn run(
        &mut self,
        inbox: &mut mpsc::UnboundedReceiver<CallInput>,
        mut digits: Option<mpsc::UnboundedReceiver<Digit>>,
        mut notices: mpsc::UnboundedReceiver<IvrNotice>,
    ) {
        let media_check = self.calls.media_timeout().min(Duration::from_secs(5));
        let mut next_media_check = Instant::now() + media_check;
        loop {
            let wake = self.next_wake(next_media_check);
            let flow = tokio::select! {
                input = inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => Flow::Done,
                },
                Some(digit) = next_digit(&mut digits) => self.on_digit(digit).await,
                Some(notice) = notices.recv() => self.on_ivr_notice(notice).await,
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    let media_due = self.a_answered() && now >= next_media_check;
                    if media_due {
                        next_media_check = now + media_check;
                    }
                    self.on_timers(now, media_due).await
                }
            };
            if flow == Flow::Done {
                return;
            }
        }
    }

    /// The earliest of the call's timers (an hour away when none runs).
    fn next_wake(&self, next_media_check: Instant) -> Instant {
        let mut wake = Instant::now() + Duration::from_secs(3_600);
        if let Some(slot) = self.b.as_ref().filter(|b| !b.answered()) {
            wake = wake.min(slot.call.ring_deadline());
        }
        for fork in &self.forks {
            wake = wake.min(fork.call.ring_deadline());
        }
        if let Some(monitor) = self.monitor.as_ref().filter(|m| m.call.is_ringing()) {
            wake = wake.min(monitor.call.ring_deadline());
        }
        if let Some(waiting) = &self.waiting {
            wake = wake.min(waiting.deadline);
        }
        if self.a_answered() {
            wake = wake.min(next_media_check);
        }
        if let Some(acks) = self.acks.next_deadline() {
            wake = wake.min(acks);
        }
        if let Some(timer) = self.ivr.as_ref().and_then(|i| i.timer) {
            wake = wake.min(timer);
        }
        wake
    }

    /// Whatever of the call's timers ran out by `now`.
    async fn on_timers(&mut self, now: Instant, media_due: bool) -> Flow {
        let mut flow = Flow::Continue;
        if self.b.as_ref().is_some_and(|b| b.call.ring_timed_out(now)) {
            flow = self.no_answer().await;
        }
        if flow == Flow::Continue {
            self.forks_not_answered(now).await;
            self.monitor_not_answered(now).await;
        }
        if flow == Flow::Continue && self.queue_timer_due(now) {
            flow = self.on_queue_timeout().await;
        }
        if flow == Flow::Continue {
            flow = self.retransmit(now).await;
        }
        if flow == Flow::Continue && media_due {
            flow = self.check_media().await;
        }
        if flow == Flow::Continue && self.ivr_timer_due(now) {
            flow = self.on_ivr_timer().await;
        }
        flow
    }

    async fn on_input(&mut self, input: CallInput) -> Flow {
        match input {
            CallInput::Response(response) => self.on_response(response).await,
            CallInput::Request { key, request } => self.on_request(key, request).await,
            CallInput::Offer(offer) => self.on_queue_offer(offer).await,
            CallInput::Release => self.release_caller().await,
            CallInput::Withdrawn(extension) => self.offer_withdrawn(extension).await,
            CallInput::Control(control, reply) => {
                let (flow, outcome) = self.on_control(control).await;
                if let Some(reply) = reply {
                    // The API may have stopped waiting; the control was carried out anyway.
                    let _ = reply.send(outcome);
                }
                flow
            }
            CallInput::Announced { failure } => self.announced(failure).await,
            CallInput::Ack(ack) => {
                if self.ack_belongs(&ack) {
                    self.acks.acked(&ack);
                }
                Flow::Continue
            }
        }
    }

    /// Resends unacknowledged 2xx responses; an initial 2xx never acknowledged ends the call.
    async fn retransmit(&mut self, now: Instant) -> Flow {
        let due = self.acks.on_timer(now);
        self.send_all(due.send);
        if !due.initial_lost {
            return Flow::Continue;
        }
        // RFC 3261 §13.3.1.4: no ACK for the 2xx, so the session ends with a BYE.
        self.end(self.hangups(Side::System, Side::System, Cause::MediaTimeout, true))
            .await;
        self.bye(Which::B);
        self.bye(Which::A);
        Flow::Done
    }

    /// No RTP for too long (a lost BYE, a dead phone): hang up both sides. A call on hold may
    /// be silent (`inactive`) for as long as it is held.
    async fn check_media(&mut self) -> Flow {
        let media_timeout = self.calls.media_timeout();
        let idle = !self.media.held
            && self
                .media
                .relay
                .as_ref()
                .is_some_and(|r| r.idle_for() >= media_timeout);
        if !idle {
            return Flow::Continue;
        }
        self.end(self.hangups(Side::System, Side::System, Cause::MediaTimeout, false))
            .await;
        self.bye(Which::B);
        self.bye(Which::A);
        Flow::Done
    }
}
