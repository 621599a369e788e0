//! The call aggregate, given events and a command, then the events or the refusal.

use super::*;
use crate::testing::given;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
}

fn caller() -> Party {
    Party::External {
        number: "+8613800138000".into(),
    }
}

fn agent() -> Party {
    Party::Extension {
        extension_id: Uuid::from_u128(3),
        number: "1001".into(),
    }
}

fn route(enabled: bool, active_calls: u32) -> RouteCheck {
    RouteCheck {
        route_id: Uuid::from_u128(2),
        enabled,
        active_calls,
        max_concurrent: 2,
    }
}

fn offer(route: Option<RouteCheck>) -> CallCommand {
    CallCommand::Offer {
        enterprise_id: Uuid::from_u128(1),
        direction: Direction::Inbound,
        caller: caller(),
        called: "+862161234567".into(),
        route,
        outbound_allowed: false,
        forwarded_out: false,
        at: at(0),
    }
}

fn offered() -> CallEvent {
    CallEvent::CallOffered {
        enterprise_id: Uuid::from_u128(1),
        direction: Direction::Inbound,
        caller: caller(),
        called: "+862161234567".into(),
        route_id: Some(Uuid::from_u128(2)),
        at: at(0),
    }
}

fn refused(cause: Cause, route_id: Option<Uuid>) -> CallEvent {
    CallEvent::CallRefused {
        enterprise_id: Uuid::from_u128(1),
        direction: Direction::Inbound,
        caller: caller(),
        called: "+862161234567".into(),
        route_id,
        cause,
        at: at(0),
    }
}

fn answered_and_bridged() -> Vec<CallEvent> {
    vec![
        offered(),
        CallEvent::LegOffered {
            leg: "b".into(),
            party: agent(),
            caller_id: "+8613800138000".into(),
            forwarded: false,
            at: at(1),
        },
        CallEvent::LegRinging {
            leg: "b".into(),
            at: at(1),
        },
        CallEvent::LegAnswered {
            leg: "b".into(),
            at: at(5),
        },
        CallEvent::LegAnswered {
            leg: "a".into(),
            at: at(5),
        },
        CallEvent::LegsBridged {
            leg: "a".into(),
            other: "b".into(),
            at: at(5),
        },
    ]
}

#[test]
fn an_inbound_call_within_its_route_is_offered() {
    given::<Call>(vec![])
        .when(offer(Some(route(true, 1))))
        .then(vec![offered()]);
}

#[test]
fn the_door_refuses_paused_full_and_unrouted_calls() {
    given::<Call>(vec![])
        .when(offer(Some(route(false, 0))))
        .then(vec![refused(Cause::RoutePaused, Some(Uuid::from_u128(2)))]);
    given::<Call>(vec![])
        .when(offer(Some(route(true, 2))))
        .then(vec![refused(
            Cause::RouteLimitReached,
            Some(Uuid::from_u128(2)),
        )]);
    given::<Call>(vec![])
        .when(offer(None))
        .then(vec![refused(Cause::NoRoute, None)]);
}

#[test]
fn manual_outbound_needs_permission() {
    let command = CallCommand::Offer {
        enterprise_id: Uuid::from_u128(1),
        direction: Direction::Outbound,
        caller: agent(),
        called: "+8613900139000".into(),
        route: None,
        outbound_allowed: false,
        forwarded_out: false,
        at: at(0),
    };
    given::<Call>(vec![])
        .when(command)
        .then(vec![CallEvent::CallRefused {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Outbound,
            caller: agent(),
            called: "+8613900139000".into(),
            route_id: None,
            cause: Cause::OutboundNotAllowed,
            at: at(0),
        }]);
}

#[test]
fn a_call_to_an_extension_forwarded_out_needs_the_callers_permission_too() {
    let dial = |outbound_allowed, forwarded_out| CallCommand::Offer {
        enterprise_id: Uuid::from_u128(1),
        direction: Direction::Internal,
        caller: agent(),
        called: "1003".into(),
        route: None,
        outbound_allowed,
        forwarded_out,
        at: at(0),
    };
    let event = |cause: Option<Cause>| match cause {
        Some(cause) => CallEvent::CallRefused {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Internal,
            caller: agent(),
            called: "1003".into(),
            route_id: None,
            cause,
            at: at(0),
        },
        None => CallEvent::CallOffered {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Internal,
            caller: agent(),
            called: "1003".into(),
            route_id: None,
            at: at(0),
        },
    };
    given::<Call>(vec![])
        .when(dial(false, true))
        .then(vec![event(Some(Cause::OutboundNotAllowed))]);
    given::<Call>(vec![])
        .when(dial(true, true))
        .then(vec![event(None)]);
    given::<Call>(vec![])
        .when(dial(false, false))
        .then(vec![event(None)]);
}

#[test]
fn a_refused_call_takes_no_more_commands() {
    given::<Call>(vec![refused(Cause::RoutePaused, None)])
        .when(CallCommand::AddLeg {
            leg: "b".into(),
            party: agent(),
            caller_id: String::new(),
            forwarded: false,
            at: at(1),
        })
        .then_err(CallError::Ended);
}

#[test]
fn bridging_needs_two_answered_legs() {
    given::<Call>(vec![
        offered(),
        CallEvent::LegOffered {
            leg: "b".into(),
            party: agent(),
            caller_id: String::new(),
            forwarded: false,
            at: at(1),
        },
    ])
    .when(CallCommand::Bridge {
        leg: "a".into(),
        other: "b".into(),
        at: at(2),
    })
    .then_err(CallError::WrongState {
        leg: "a".into(),
        state: LegState::Offered,
    });
}

#[test]
fn the_callee_hangs_up_then_the_caller_leg_ends_the_call() {
    let mut history = answered_and_bridged();
    given::<Call>(history.clone())
        .when(CallCommand::Hangup {
            leg: "b".into(),
            side: Side::Callee,
            cause: Cause::Normal,
            at: at(60),
        })
        .then(vec![CallEvent::LegHungUp {
            leg: "b".into(),
            side: Side::Callee,
            cause: Cause::Normal,
            at: at(60),
        }]);
    history.push(CallEvent::LegHungUp {
        leg: "b".into(),
        side: Side::Callee,
        cause: Cause::Normal,
        at: at(60),
    });
    given::<Call>(history.clone())
        .when(CallCommand::Hangup {
            leg: "a".into(),
            side: Side::System,
            cause: Cause::Normal,
            at: at(60),
        })
        .then(vec![
            CallEvent::LegHungUp {
                leg: "a".into(),
                side: Side::System,
                cause: Cause::Normal,
                at: at(60),
            },
            CallEvent::CallEnded {
                cause: Cause::Normal,
                at: at(60),
            },
        ]);
    // A retransmitted BYE changes nothing.
    given::<Call>(history)
        .when(CallCommand::Hangup {
            leg: "b".into(),
            side: Side::Callee,
            cause: Cause::Normal,
            at: at(61),
        })
        .then(vec![]);
}

#[test]
fn hold_and_resume_are_idempotent() {
    let mut history = answered_and_bridged();
    given::<Call>(history.clone())
        .when(CallCommand::Hold {
            leg: "a".into(),
            at: at(10),
        })
        .then(vec![CallEvent::LegHeld {
            leg: "a".into(),
            at: at(10),
        }]);
    history.push(CallEvent::LegHeld {
        leg: "a".into(),
        at: at(10),
    });
    given::<Call>(history.clone())
        .when(CallCommand::Hold {
            leg: "a".into(),
            at: at(11),
        })
        .then(vec![]);
    given::<Call>(history)
        .when(CallCommand::Resume {
            leg: "a".into(),
            at: at(12),
        })
        .then(vec![CallEvent::LegResumed {
            leg: "a".into(),
            at: at(12),
        }]);
}

#[test]
fn key_presses_are_facts_of_live_legs_only() {
    given::<Call>(answered_and_bridged())
        .when(CallCommand::Digit {
            leg: "a".into(),
            key: '7',
            at: at(9),
        })
        .then(vec![CallEvent::DigitReceived {
            leg: "a".into(),
            key: '7',
            at: at(9),
        }]);
    given::<Call>(answered_and_bridged())
        .when(CallCommand::Digit {
            leg: "c".into(),
            key: '7',
            at: at(9),
        })
        .then_err(CallError::NoSuchLeg("c".into()));
}

#[test]
fn a_restart_closes_everything_with_an_explicit_cause() {
    let mut history = answered_and_bridged();
    history.push(CallEvent::RecordingStarted {
        file: "recordings/x.wav".into(),
        at: at(5),
    });
    given::<Call>(history)
        .when(CallCommand::CloseAfterRestart { at: at(100) })
        .then(vec![
            CallEvent::RecordingStopped {
                file: "recordings/x.wav".into(),
                duration_ms: None,
                at: at(100),
            },
            CallEvent::LegHungUp {
                leg: "a".into(),
                side: Side::System,
                cause: Cause::NodeRestart,
                at: at(100),
            },
            CallEvent::LegHungUp {
                leg: "b".into(),
                side: Side::System,
                cause: Cause::NodeRestart,
                at: at(100),
            },
            CallEvent::CallEnded {
                cause: Cause::NodeRestart,
                at: at(100),
            },
        ]);
}

#[test]
fn a_missed_call_ends_with_no_answer() {
    let history = vec![
        offered(),
        CallEvent::LegOffered {
            leg: "b".into(),
            party: agent(),
            caller_id: String::new(),
            forwarded: false,
            at: at(1),
        },
        CallEvent::LegRinging {
            leg: "b".into(),
            at: at(1),
        },
    ];
    given::<Call>(history)
        .when(CallCommand::Hangup {
            leg: "b".into(),
            side: Side::System,
            cause: Cause::NoAnswer,
            at: at(30),
        })
        .then(vec![CallEvent::LegHungUp {
            leg: "b".into(),
            side: Side::System,
            cause: Cause::NoAnswer,
            at: at(30),
        }]);
}

#[test]
fn recording_stops_with_its_length() {
    let mut history = answered_and_bridged();
    history.push(CallEvent::RecordingStarted {
        file: "recordings/x.wav".into(),
        at: at(5),
    });
    given::<Call>(history)
        .when(CallCommand::StopRecording {
            duration_ms: 55_000,
            at: at(60),
        })
        .then(vec![CallEvent::RecordingStopped {
            file: "recordings/x.wav".into(),
            duration_ms: Some(55_000),
            at: at(60),
        }]);
}

#[test]
fn an_ivr_step_is_recorded_fact_by_fact() {
    let flow_id = Uuid::from_u128(9);
    given::<Call>(vec![offered()])
        .when(CallCommand::Ivr {
            facts: vec![],
            at: at(1),
        })
        .then_err(CallError::NotInIvr);
    let entered = vec![
        offered(),
        CallEvent::IvrStarted {
            flow_id,
            version: 3,
            at: at(1),
        },
    ];
    given::<Call>(entered)
        .when(CallCommand::Ivr {
            facts: vec![
                IvrFact::BranchTaken {
                    node: "menu".into(),
                    branch: "key 2".into(),
                },
                IvrFact::VariableSet {
                    name: "member".into(),
                    value: "2026".into(),
                },
                IvrFact::NodeEntered {
                    node: "voicemail".into(),
                    node_type: "voicemail".into(),
                },
            ],
            at: at(4),
        })
        .then(vec![
            CallEvent::IvrBranchTaken {
                node: "menu".into(),
                branch: "key 2".into(),
                at: at(4),
            },
            CallEvent::IvrVariableSet {
                name: "member".into(),
                value: "2026".into(),
                at: at(4),
            },
            CallEvent::IvrNodeEntered {
                node: "voicemail".into(),
                node_type: "voicemail".into(),
                at: at(4),
            },
        ]);
}

#[test]
fn a_caller_hanging_up_ends_the_voicemail() {
    let history = vec![
        offered(),
        CallEvent::LegAnswered {
            leg: "a".into(),
            at: at(1),
        },
        CallEvent::VoicemailStarted {
            enterprise_id: Uuid::from_u128(1),
            caller: "+8613800138000".into(),
            called: "+862161234567".into(),
            route_id: Some(Uuid::from_u128(2)),
            file: "voicemail/x.wav".into(),
            at: at(5),
        },
    ];
    given::<Call>(history.clone())
        .when(CallCommand::StopVoicemail {
            duration_ms: 7_000,
            at: at(12),
        })
        .then(vec![CallEvent::VoicemailRecorded {
            file: "voicemail/x.wav".into(),
            duration_ms: Some(7_000),
            at: at(12),
        }]);
    given::<Call>(history)
        .when(CallCommand::Hangup {
            leg: "a".into(),
            side: Side::Caller,
            cause: Cause::Normal,
            at: at(12),
        })
        .then(vec![
            CallEvent::LegHungUp {
                leg: "a".into(),
                side: Side::Caller,
                cause: Cause::Normal,
                at: at(12),
            },
            CallEvent::VoicemailRecorded {
                file: "voicemail/x.wav".into(),
                duration_ms: None,
                at: at(12),
            },
            CallEvent::CallEnded {
                cause: Cause::Normal,
                at: at(12),
            },
        ]);
}
