//! Property tests: no sequence of commands with arbitrary input makes an aggregate panic, and
//! the invariants hold after every accepted command.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use domain::account::{
    Account, AccountCommand, AccountProfile, AccountState, AccountStatus, Actor,
};
use domain::role::{Role, RoleCommand};
use domain::{Permission, PermissionSetting};
use esrs::Aggregate;
use proptest::prelude::*;
use uuid::Uuid;

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..1_000_000)
        .prop_map(|s| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default())
}

fn permissions() -> impl Strategy<Value = BTreeSet<Permission>> {
    proptest::collection::btree_set(proptest::sample::select(Permission::ALL.to_vec()), 0..6)
}

fn setting() -> impl Strategy<Value = PermissionSetting> {
    prop_oneof![
        Just(PermissionSetting::FollowRole),
        permissions().prop_map(|permissions| PermissionSetting::Custom { permissions })
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    (permissions(), any::<bool>(), any::<bool>()).prop_map(|(permissions, operator, itself)| {
        Actor {
            permissions,
            operator,
            itself,
        }
    })
}

fn profile() -> impl Strategy<Value = AccountProfile> {
    (
        ".{0,40}",
        ".{0,20}",
        proptest::option::of(any::<u128>().prop_map(Uuid::from_u128)),
    )
        .prop_map(|(name, agent_number, role_id)| AccountProfile {
            name,
            agent_number,
            role_id,
        })
}

fn hash() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        ".{0,20}"
    ]
}

fn account_command() -> impl Strategy<Value = AccountCommand> {
    let session = (0u128..4).prop_map(Uuid::from_u128);
    prop_oneof![
        (
            (".{0,40}", profile(), setting(), hash()),
            (any::<bool>(), any::<bool>(), permissions(), actor()),
            time()
        )
            .prop_map(
                |(
                    (account, profile, permissions, password_hash),
                    (operator, first_admin, granted, by),
                    at,
                )| {
                    AccountCommand::Create {
                        enterprise_id: Uuid::from_u128(1),
                        account,
                        profile,
                        permissions,
                        password_hash,
                        operator,
                        first_admin,
                        granted,
                        by,
                        at,
                    }
                }
            ),
        (profile(), permissions(), permissions(), actor(), time()).prop_map(
            |(profile, role_permissions, held, by, at)| AccountCommand::Update {
                profile,
                role_permissions,
                held,
                by,
                at
            }
        ),
        (
            setting(),
            proptest::option::of(Just(Uuid::from_u128(9))),
            (permissions(), permissions(), actor()),
            time()
        )
            .prop_map(|(permissions, role_id, (granted, held, by), at)| {
                AccountCommand::SetPermissions {
                    permissions,
                    role_id,
                    granted,
                    held,
                    by,
                    at,
                }
            }),
        (hash(), permissions(), actor(), time()).prop_map(|(password_hash, held, by, at)| {
            AccountCommand::ChangePassword {
                password_hash,
                held,
                by,
                at,
            }
        }),
        (any::<bool>(), permissions(), actor(), time()).prop_map(|(enabled, held, by, at)| {
            AccountCommand::SetEnabled {
                enabled,
                held,
                by,
                at,
            }
        }),
        (permissions(), actor(), time()).prop_map(|(held, by, at)| AccountCommand::Delete {
            held,
            by,
            at
        }),
        (session.clone(), time(), time(), any::<bool>()).prop_map(
            |(session_id, expires_at, at, enterprise_enabled)| {
                AccountCommand::OpenSession {
                    session_id,
                    token_hash: "ab".into(),
                    expires_at,
                    enterprise_enabled,
                    at,
                }
            }
        ),
        (session, time())
            .prop_map(|(session_id, at)| AccountCommand::CloseSession { session_id, at }),
        (".{0,80}", time())
            .prop_map(|(source, at)| AccountCommand::RecordFailedLogin { source, at }),
    ]
}

fn command_time(command: &AccountCommand) -> DateTime<Utc> {
    match command {
        AccountCommand::Create { at, .. }
        | AccountCommand::Update { at, .. }
        | AccountCommand::SetPermissions { at, .. }
        | AccountCommand::ChangePassword { at, .. }
        | AccountCommand::SetEnabled { at, .. }
        | AccountCommand::Delete { at, .. }
        | AccountCommand::OpenSession { at, .. }
        | AccountCommand::CloseSession { at, .. }
        | AccountCommand::RecordFailedLogin { at, .. } => *at,
    }
}

proptest! {
    #[test]
    fn accounts_never_panic_and_keep_their_invariants(commands in proptest::collection::vec(account_command(), 1..40)) {
        let mut state = AccountState::default();
        for command in commands {
            let at = command_time(&command);
            let result = Account::handle_command(&state, command);
            if let Ok(events) = result {
                for event in events {
                    // Every accepted event survives the store's JSON round trip.
                    let json = serde_json::to_string(&event).expect("events serialize");
                    let back = serde_json::from_str(&json).expect("events read back");
                    prop_assert_eq!(&event, &back);
                    state = Account::apply_event(state, event);
                }
                // A disabled or absent account has no session open after the command.
                if state.status != AccountStatus::Enabled {
                    prop_assert!(state.sessions.values().all(|end| *end <= at));
                }
            }
        }
    }

    #[test]
    fn roles_never_panic(names in proptest::collection::vec(".{0,50}", 1..10), using in 0u32..3, taken in any::<bool>(), p in permissions(), by in actor()) {
        let mut state = Default::default();
        for name in names {
            let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
            let commands = [
                RoleCommand::Create { enterprise_id: Uuid::from_u128(1), name: name.clone(), permissions: p.clone(), name_taken: taken, by: by.clone(), at },
                RoleCommand::Update { name, permissions: p.clone(), name_taken: taken, by: by.clone(), at },
                RoleCommand::Delete { accounts_using: using, at },
            ];
            for command in commands {
                if let Ok(events) = Role::handle_command(&state, command) {
                    state = events.into_iter().fold(state, Role::apply_event);
                }
            }
        }
    }
}

mod calls {
    use chrono::DateTime;
    use domain::call::{
        Call, CallCommand, CallState, Cause, Direction, LegState, Party, RouteCheck, Side,
    };
    use esrs::Aggregate;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn leg() -> impl Strategy<Value = String> {
        proptest::sample::select(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()])
    }

    fn command() -> impl Strategy<Value = CallCommand> {
        let at = (0i64..10_000)
            .prop_map(|s| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default());
        let party = Just(Party::External {
            number: "+8613800138000".into(),
        });
        prop_oneof![
            (any::<bool>(), 0u32..4, any::<bool>(), at.clone()).prop_map(
                |(enabled, active_calls, inbound, at)| CallCommand::Offer {
                    enterprise_id: Uuid::from_u128(1),
                    direction: if inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    caller: Party::External {
                        number: "+8613800138000".into()
                    },
                    called: "1001".into(),
                    route: inbound.then_some(RouteCheck {
                        route_id: Uuid::from_u128(2),
                        enabled,
                        active_calls,
                        max_concurrent: 2
                    }),
                    outbound_allowed: enabled,
                    forwarded_out: false,
                    at,
                }
            ),
            (leg(), party, at.clone()).prop_map(|(leg, party, at)| CallCommand::AddLeg {
                leg,
                party,
                caller_id: String::new(),
                forwarded: false,
                at
            }),
            (leg(), at.clone()).prop_map(|(leg, at)| CallCommand::Ringing { leg, at }),
            (leg(), at.clone()).prop_map(|(leg, at)| CallCommand::Answer { leg, at }),
            (leg(), leg(), at.clone()).prop_map(|(leg, other, at)| CallCommand::Bridge {
                leg,
                other,
                at
            }),
            (leg(), at.clone()).prop_map(|(leg, at)| CallCommand::Hold { leg, at }),
            (leg(), at.clone()).prop_map(|(leg, at)| CallCommand::Resume { leg, at }),
            at.clone().prop_map(|at| CallCommand::StartRecording {
                file: "r.wav".into(),
                at
            }),
            (0u64..100_000, at.clone())
                .prop_map(|(duration_ms, at)| CallCommand::StopRecording { duration_ms, at }),
            (leg(), at.clone()).prop_map(|(leg, at)| CallCommand::Hangup {
                leg,
                side: Side::Caller,
                cause: Cause::Normal,
                at
            }),
            at.prop_map(|at| CallCommand::CloseAfterRestart { at }),
        ]
    }

    proptest! {
        #[test]
        fn calls_never_panic_and_an_ended_call_has_no_leg_up(commands in proptest::collection::vec(command(), 1..60)) {
            let mut state = CallState::default();
            for command in commands {
                if let Ok(events) = Call::handle_command(&state, command) {
                    state = events.into_iter().fold(state, Call::apply_event);
                }
                if state.ended && !state.legs.is_empty() {
                    prop_assert!(state.legs.values().all(|s| *s == LegState::Ended), "{:?}", state.legs);
                    prop_assert!(state.recording.is_none());
                }
            }
        }
    }
}
