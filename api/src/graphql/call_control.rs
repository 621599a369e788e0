//! What agents and supervisors do to live calls over GraphQL (manual §7): hang up, hold and
//! resume, blind transfer, click-to-dial; forced hang-up, take-over, answering a waiting
//! caller, listening, whispering and barging in. Each checks the permission and that the call
//! is the caller's (its seat's call, or a call of its enterprise), then asks the call runtime.

use async_graphql::{Context, Enum, InputObject, Object, ID};
use domain::call::Cause;
use domain::Permission;
use projections::ExtensionDoc;
use uuid::Uuid;

use super::context::{app, call_record_of, caller, fetch, parse_id};
use super::mutation::meta;
use calls::control::Control;
use calls::{AnswerWaitingError, ControlError};

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

use super::queue_types::*;

/// Where an agent transfers a call.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTransferKind {
    /// Another extension.
    Extension,
    /// An outside number.
    Number,
    /// A queue.
    Queue,
    /// An IVR flow.
    Ivr,
}

/// A blind transfer's target.
#[derive(InputObject, Debug, Clone)]
pub struct CallTransferInput {
    /// Where to.
    pub kind: CallTransferKind,
    /// The extension, queue or flow.
    pub target_id: Option<ID>,
    /// The number (`NUMBER`).
    pub number: Option<String>,
}

/// Hands `control` to the call's actor and waits for its answer: `true` once carried out, a
/// `CONFLICT` naming why the call refused it, `NOT_FOUND` when it is not up on this node.
async fn control(app: &App, call: Uuid, control: Control) -> ApiResult<bool> {
    match app.calls.control(call, control).await {
        Ok(()) => Ok(true),
        Err(ControlError::NoSuchCall) => Err(ApiError::NotFound("call not found".into())),
        Err(error @ (ControlError::Refused(_) | ControlError::NoAnswer)) => {
            Err(ApiError::Conflict(error.to_string()))
        }
    }
}

/// The call `id` as the agent's own: the one its seat is on.
fn own_call(app: &App, caller: &Caller, id: &ID) -> ApiResult<Uuid> {
    let call = parse_id("callId", id)?;
    let seat = own_seat(app, caller)?;
    if seat.on_call != Some(call) {
        return Err(ApiError::NotFound("call not found".into()));
    }
    Ok(call)
}

/// The agent's and the supervisor's actions on live calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallControlMutation;

#[Object]
impl CallControlMutation {
    /// Hangs up the agent's call.
    async fn hang_up_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(
            app(ctx),
            call,
            Control::HangUp {
                by_supervisor: None,
            },
        )
        .await
    }

    /// Click-to-dial (点击外呼): rings the agent's own phone (the extension it is signed in
    /// to) and, once it answers, dials `number` through the trunk with the extension's caller
    /// ID. Returns the call's id; the extension must be allowed to dial out.
    async fn dial_out(&self, ctx: &Context<'_>, number: String) -> ApiResult<ID> {
        use calls::control::DialOutError;
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let seat = own_seat(app, caller)?;
        let extension: ExtensionDoc =
            fetch(app, caller, projections::EXTENSIONS, seat.extension_id)?;
        match app.calls.dial_out(&extension, &number).await {
            Ok(call) => Ok(ID(call.to_string())),
            Err(DialOutError::BadNumber) => {
                Err(ApiError::validation("number", "is not a phone number"))
            }
            Err(DialOutError::Refused(Cause::OutboundNotAllowed)) => Err(ApiError::Forbidden(
                "manual outbound is not allowed on this extension".into(),
            )),
            Err(DialOutError::Refused(Cause::NoCallerId)) => Err(ApiError::Conflict(
                "the extension has no licensed caller ID".into(),
            )),
            Err(DialOutError::Refused(Cause::NoRoute)) => {
                Err(ApiError::Conflict("no trunk carries the caller ID".into()))
            }
            Err(DialOutError::Refused(_)) => Err(ApiError::Conflict(
                "the agent's phone cannot be reached".into(),
            )),
            Err(DialOutError::NoSip) => Err(ApiError::Conflict("SIP is not running".into())),
            Err(DialOutError::Busy) => Err(ApiError::Conflict("the agent is busy".into())),
        }
    }

    /// Holds the customer of the agent's call (the customer hears music).
    async fn hold_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(app(ctx), call, Control::Hold).await
    }

    /// Takes the held customer back.
    async fn resume_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(app(ctx), call, Control::Resume).await
    }

    /// Transfers the agent's customer blind to an extension, a number, a queue or a flow of
    /// the enterprise; the agent leaves the call.
    async fn transfer_call(
        &self,
        ctx: &Context<'_>,
        call_id: ID,
        target: CallTransferInput,
    ) -> ApiResult<bool> {
        use calls::control::TransferTarget as T;
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let call = own_call(app, caller, &call_id)?;
        let id = || {
            target
                .target_id
                .as_ref()
                .ok_or_else(|| ApiError::validation("target.targetId", "is required"))
                .and_then(|id| parse_id("target.targetId", id))
        };
        let tenant = caller.enterprise_id;
        let in_tenant = |doc: Option<projections::Doc>, what: &str, id: Uuid| -> ApiResult<Uuid> {
            if doc.is_some_and(|d| d.tenant_id == Some(tenant)) {
                Ok(id)
            } else {
                Err(ApiError::validation(
                    "target.targetId",
                    format!("no such {what} in this enterprise"),
                ))
            }
        };
        let models = &app.node.models;
        let to = match target.kind {
            CallTransferKind::Extension => {
                let id = id()?;
                let doc = models.of(projections::EXTENSIONS).doc(&id.to_string());
                T::Extension(in_tenant(doc, "extension", id)?)
            }
            CallTransferKind::Queue => {
                let id = id()?;
                let doc = models.of(projections::QUEUES).doc(&id.to_string());
                T::Queue(in_tenant(doc, "queue", id)?)
            }
            CallTransferKind::Ivr => {
                let id = id()?;
                let doc = models.of(projections::IVR_FLOWS).doc(&id.to_string());
                T::Ivr(in_tenant(doc, "IVR flow", id)?)
            }
            CallTransferKind::Number => T::Number(
                target
                    .number
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| ApiError::validation("target.number", "is required"))?,
            ),
        };
        control(app, call, Control::Transfer(to)).await
    }

    /// Forces a call of the enterprise down (supervisors, 强拆).
    async fn force_hang_up(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        call_record_of(app, caller, call).await?;
        control(
            app,
            call,
            Control::HangUp {
                by_supervisor: Some(caller.account_id),
            },
        )
        .await
    }

    /// Joins a call of the enterprise on the supervisor's own extension (the seat it is signed
    /// in to), which rings: `LISTEN` hears both sides unheard (监听), `WHISPER` speaks to the
    /// agent only (密语), `BARGE` joins three-way (强插). Called again with another mode while
    /// on the call, it switches without ringing again.
    async fn monitor_call(
        &self,
        ctx: &Context<'_>,
        call_id: ID,
        mode: SupervisionMode,
    ) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        call_record_of(app, caller, call).await?;
        let seat = own_seat(app, caller)?;
        control(
            app,
            call,
            Control::Monitor {
                supervisor: caller.account_id,
                extension: seat.extension_id,
                mode: mode.into(),
            },
        )
        .await
    }

    /// Leaves a call the supervisor listens to, whispers into or barged into (its phone gets a
    /// BYE).
    async fn stop_monitoring(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        call_record_of(app, caller, call).await?;
        control(
            app,
            call,
            Control::StopMonitoring {
                supervisor: caller.account_id,
            },
        )
        .await
    }

    /// Replaces the agent of a call with the supervisor (抢线): the supervisor's own extension
    /// (the seat it is signed in to) rings and the agent leaves the call.
    async fn take_over(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        call_record_of(app, caller, call).await?;
        let seat = own_seat(app, caller)?;
        control(
            app,
            call,
            Control::TakeOver {
                supervisor: caller.account_id,
                extension: seat.extension_id,
            },
        )
        .await
    }

    /// Answers a caller waiting in a queue on the supervisor's own extension (the seat it is
    /// signed in to), ahead of the queue's order.
    async fn answer_waiting_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        let record = call_record_of(app, caller, call).await?;
        let queue = record
            .queue_id
            .ok_or_else(|| ApiError::Conflict("the call waits in no queue".into()))?;
        let seat = own_seat(app, caller)?;
        let answered = app
            .calls
            .answer_waiting(
                caller.account_id,
                &seat,
                call,
                queue,
                meta(caller, seat.enterprise_id),
            )
            .await;
        match answered {
            Ok(()) => Ok(true),
            Err(AnswerWaitingError::Seat(refused)) => Err(refused.into()),
            Err(error @ AnswerWaitingError::NotWaiting) => {
                Err(ApiError::Conflict(error.to_string()))
            }
        }
    }
}
