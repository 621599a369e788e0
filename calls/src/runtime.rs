//! The call runtime's handle: [`CallRuntime::start`] closes what a previous process left open,
//! binds SIP and starts the driver, the dispatcher and the binding sweep; the rest of the
//! handle is the one typed interface through which the API reaches live calls and seats. It
//! never hands out an actor's inbox: callers say what they want done and get a typed answer.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use eventlog::Metadata;
use node::{CommandError, CommandResult, Node};
use projections::{AgentDoc, ExtensionDoc};
use telephony::driver::{serve, DriverStats, SipChannel};
use tokio::sync::{oneshot, watch};
use tracing::info;
use uuid::Uuid;

use crate::actor::dial_out::click_to_dial;
use crate::control::{Control, ControlRefused, DialOutError};
use crate::frontend::{sweep, Frontend};
use crate::inbox::{CallInput, QueueOffer};
use crate::registry::{CallSettings, Calls};

/// How long a control waits for the call's actor to answer.
const CONTROL_ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Why a control on a live call was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The call is not up on this node (it ended, or never was).
    #[error("call not found")]
    NoSuchCall,
    /// The call's state does not allow it; nothing was recorded.
    #[error(transparent)]
    Refused(#[from] ControlRefused),
    /// The call did not answer in time; its events tell the outcome.
    #[error("the call did not answer in time; look at its events for the outcome")]
    NoAnswer,
}

/// Why a supervisor could not answer a waiting caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerWaitingError {
    /// The supervisor's seat refused the offer (busy, signed out…).
    #[error("{}", .0.message())]
    Seat(CommandError),
    /// The caller does not wait in that queue on this node.
    #[error("the call waits in no queue")]
    NotWaiting,
}

/// RTP packets relayed by calls that have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relayed {
    /// From callers to callees.
    pub to_callee: u64,
    /// From callees to callers.
    pub to_caller: u64,
}

/// The running call runtime of a node. Cheap to clone.
#[derive(Clone)]
pub struct CallRuntime {
    node: Node,
    calls: Arc<Calls>,
    stats: Arc<DriverStats>,
    addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for CallRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRuntime")
            .field("addr", &self.addr)
            .finish()
    }
}

impl CallRuntime {
    /// Ends the calls a previous process left in progress, binds `addr` on UDP and TCP (the
    /// same port; port 0 lets the system pick) and serves SIP for `node` until stopped.
    pub async fn start(
        node: Node,
        addr: SocketAddr,
        settings: CallSettings,
    ) -> std::io::Result<Self> {
        crate::restart::close_calls_left_open(&node).await;
        let (socket, listener) = bind_both(addr).await?;
        let addr = socket.local_addr()?;
        let tcp_limits = settings.sip_tcp;
        let calls = Arc::new(Calls::new(settings, &node.data_dir));
        let tts_checked = calls.clone();
        tokio::spawn(async move {
            tts_checked.prompts.check_tts().await;
        });
        let frontend = Arc::new(Frontend::new(node.clone(), calls.clone()));
        let stats = Arc::new(DriverStats::default());
        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let channel = SipChannel::new(&socket);
        let _ = calls.sip.set(channel.sender());
        tokio::spawn(serve(
            channel,
            socket,
            listener,
            tcp_limits,
            frontend,
            stats.clone(),
            until_stopped(stopped.clone()),
        ));
        let dispatcher = (node.clone(), calls.clone(), until_stopped(stopped.clone()));
        tokio::spawn(async move {
            let (node, calls, stopped) = dispatcher;
            tokio::select! {
                () = crate::acd::dispatch(node, &calls.acd) => {}
                () = stopped => {}
            }
        });
        tokio::spawn(sweep(node.clone(), until_stopped(stopped)));
        info!(%addr, "SIP listening (UDP and TCP)");
        Ok(Self {
            node,
            calls,
            stats,
            addr,
            stop: Arc::new(stop),
        })
    }

    /// The bound SIP address (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the SIP driver, the dispatcher and the sweep.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// The SIP driver's counters.
    pub fn driver_stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Calls in progress on this node.
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// RTP packets relayed by the calls that have ended.
    pub fn relayed(&self) -> Relayed {
        Relayed {
            to_callee: self.calls.relayed_to_callee.load(Ordering::Relaxed),
            to_caller: self.calls.relayed_to_caller.load(Ordering::Relaxed),
        }
    }

    /// Hands `control` to the live call `call` and waits for its answer: done, or why the
    /// call refused it (nothing recorded then).
    pub async fn control(&self, call: Uuid, control: Control) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        if !self
            .calls
            .send(call, CallInput::Control(control, Some(reply)))
        {
            return Err(ControlError::NoSuchCall);
        }
        match tokio::time::timeout(CONTROL_ANSWER_WITHIN, answer).await {
            Ok(Ok(outcome)) => outcome.map_err(ControlError::Refused),
            // The call ended before it took the control up.
            Ok(Err(_)) => Err(ControlError::NoSuchCall),
            Err(_) => Err(ControlError::NoAnswer),
        }
    }

    /// Click-to-dial from `extension` to `number`: the agent's phone rings first, then the
    /// customer. Returns the call's id once its offer is recorded.
    pub async fn dial_out(
        &self,
        extension: &ExtensionDoc,
        number: &str,
    ) -> Result<Uuid, DialOutError> {
        click_to_dial(&self.node, &self.calls, extension, number).await
    }

    /// A supervisor answers the caller `call` waiting in `queue` on its own `seat`, ahead of
    /// the queue's order: the seat takes the offer, the caller's actor rings it and records
    /// the supervisor's action. The offer is withdrawn again when the caller no longer waits.
    pub async fn answer_waiting(
        &self,
        supervisor: Uuid,
        seat: &AgentDoc,
        call: Uuid,
        queue: Uuid,
        metadata: Metadata,
    ) -> Result<(), AnswerWaitingError> {
        self.node
            .execute::<Agent>(
                seat.id,
                AgentCommand::Offer {
                    call_id: call,
                    queue_id: queue,
                    at: Utc::now(),
                },
                metadata.clone(),
            )
            .await
            .map_err(AnswerWaitingError::Seat)?;
        if !self.calls.acd.direct_offer(queue, call, seat.extension_id) {
            self.node
                .execute::<Agent>(
                    seat.id,
                    AgentCommand::Withdraw {
                        call_id: call,
                        at: Utc::now(),
                    },
                    metadata,
                )
                .await
                .map_err(AnswerWaitingError::Seat)?;
            return Err(AnswerWaitingError::NotWaiting);
        }
        self.calls.send(
            call,
            CallInput::Control(Control::AnswerWaiting { supervisor }, None),
        );
        self.calls.send(
            call,
            CallInput::Offer(QueueOffer {
                queue_id: queue,
                extension_id: seat.extension_id,
            }),
        );
        Ok(())
    }

    /// Signs the agent of `seat` out; a call ringing it goes to someone else.
    pub async fn sign_out(&self, seat: &AgentDoc, metadata: Metadata) -> CommandResult<()> {
        self.node
            .execute::<Agent>(seat.id, AgentCommand::SignOut { at: Utc::now() }, metadata)
            .await?;
        if let Some(call) = seat.offered_call {
            self.calls
                .send(call, CallInput::Withdrawn(seat.extension_id));
        }
        Ok(())
    }

    /// Decides `command` on seat `seat` (a work state, the end of a wrap-up) and wakes the
    /// dispatcher, since the seat may take calls now.
    pub async fn on_seat(
        &self,
        seat: Uuid,
        command: AgentCommand,
        metadata: Metadata,
    ) -> CommandResult<()> {
        self.node.execute::<Agent>(seat, command, metadata).await?;
        self.calls.acd.nudge();
        Ok(())
    }
}

/// Binds UDP and TCP on one port. With port 0 the system picks the UDP port, and the same TCP
/// port may be taken (by any connection's local end): then another port is tried.
async fn bind_both(
    addr: SocketAddr,
) -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        match tokio::net::TcpListener::bind(socket.local_addr()?).await {
            Ok(listener) => return Ok((socket, listener)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no port for UDP and TCP")))
}
