//! Extension decisions, given/when/then over events.

use super::*;
use crate::testing::given;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
}

fn created() -> ExtensionEvent {
    ExtensionEvent::ExtensionCreated {
        enterprise_id: Uuid::from_u128(1),
        number: "1001".into(),
        sip_password: "abcdefghijkl".into(),
        at: at(0),
    }
}

fn binding(contact: &str, expires: i64) -> Binding {
    Binding {
        contact: contact.into(),
        expires_at: at(expires),
        source: "127.0.0.1:5070".into(),
        transport: "udp".into(),
        user_agent: "SIPp".into(),
    }
}

#[test]
fn rotating_the_password_unregisters_every_phone() {
    let registered = |contact: &str| ExtensionEvent::ExtensionRegistered {
        binding: binding(contact, 600),
        at: at(1),
    };
    given::<Extension>(vec![
        created(),
        registered("sip:1001@10.0.0.2:5060"),
        registered("sip:1001@10.0.0.3:5060"),
    ])
    .when(ExtensionCommand::RotateSipPassword {
        sip_password: "mnopqrstuvwx".into(),
        at: at(2),
    })
    .then(vec![
        ExtensionEvent::ExtensionUnregistered {
            contact: "sip:1001@10.0.0.2:5060".into(),
            reason: UnbindReason::PasswordRotated,
            at: at(2),
        },
        ExtensionEvent::ExtensionUnregistered {
            contact: "sip:1001@10.0.0.3:5060".into(),
            reason: UnbindReason::PasswordRotated,
            at: at(2),
        },
        ExtensionEvent::SipPasswordRotated {
            sip_password: "mnopqrstuvwx".into(),
            at: at(2),
        },
    ]);
    given::<Extension>(vec![created()])
        .when(ExtensionCommand::RotateSipPassword {
            sip_password: "short".into(),
            at: at(2),
        })
        .then_err(ExtensionError::Invalid(FieldError::new(
            "sipPassword",
            "must be at least 12 characters",
        )));
    given::<Extension>(vec![])
        .when(ExtensionCommand::RotateSipPassword {
            sip_password: "mnopqrstuvwx".into(),
            at: at(2),
        })
        .then_err(ExtensionError::NotFound);
}

#[test]
fn numbers_are_digits() {
    given::<Extension>(vec![])
        .when(ExtensionCommand::Create {
            enterprise_id: Uuid::from_u128(1),
            number: "10a1".into(),
            sip_password: "abcdefghijkl".into(),
            at: at(0),
        })
        .then_err(ExtensionError::Invalid(FieldError::new(
            "number",
            "must be 2 to 8 digits",
        )));
}

#[test]
fn register_refresh_and_unregister() {
    given::<Extension>(vec![created()])
        .when(ExtensionCommand::Register {
            bindings: vec![binding("sip:1001@127.0.0.1:5070", 60)],
            removed: vec![],
            remove_all: false,
            at: at(1),
        })
        .then(vec![ExtensionEvent::ExtensionRegistered {
            binding: binding("sip:1001@127.0.0.1:5070", 60),
            at: at(1),
        }]);
    let registered = ExtensionEvent::ExtensionRegistered {
        binding: binding("sip:1001@127.0.0.1:5070", 60),
        at: at(1),
    };
    given::<Extension>(vec![created(), registered.clone()])
        .when(ExtensionCommand::Register {
            bindings: vec![],
            removed: vec!["sip:1001@127.0.0.1:5070".into()],
            remove_all: false,
            at: at(2),
        })
        .then(vec![ExtensionEvent::ExtensionUnregistered {
            contact: "sip:1001@127.0.0.1:5070".into(),
            reason: UnbindReason::Unregistered,
            at: at(2),
        }]);
    given::<Extension>(vec![created(), registered])
        .when(ExtensionCommand::ExpireBindings { at: at(60) })
        .then(vec![ExtensionEvent::ExtensionUnregistered {
            contact: "sip:1001@127.0.0.1:5070".into(),
            reason: UnbindReason::Expired,
            at: at(60),
        }]);
}

#[test]
fn a_sub_account_signs_in_to_one_extension_only() {
    let settings = ExtensionSettings {
        sign_in_accounts: BTreeSet::from([Uuid::from_u128(7)]),
        ..ExtensionSettings::default()
    };
    given::<Extension>(vec![created()])
        .when(ExtensionCommand::Update {
            settings,
            permitted_elsewhere: vec![Uuid::from_u128(7)],
            at: at(1),
        })
        .then_err(ExtensionError::PermittedElsewhere(Uuid::from_u128(7)));
}

#[test]
fn forwarding_needs_a_bound_number() {
    let settings = ExtensionSettings {
        forward_when_offline: true,
        ..ExtensionSettings::default()
    };
    given::<Extension>(vec![created()])
        .when(ExtensionCommand::Update {
            settings,
            permitted_elsewhere: vec![],
            at: at(1),
        })
        .then_err(ExtensionError::Invalid(FieldError::new(
            "forwardWhenOffline",
            "needs a bound number",
        )));
}

#[test]
fn settings_are_normalised() {
    let settings = ExtensionSettings {
        caller_id: " 02161234567 ".into(),
        bound_number: "013800138000".into(),
        forward_when_offline: true,
        ..ExtensionSettings::default()
    };
    let expected = ExtensionSettings {
        caller_id: "02161234567".into(),
        bound_number: "013800138000".into(),
        forward_when_offline: true,
        screen_pop: ScreenPop {
            mode: "none".into(),
            ..ScreenPop::default()
        },
        ..ExtensionSettings::default()
    };
    given::<Extension>(vec![created()])
        .when(ExtensionCommand::Update {
            settings,
            permitted_elsewhere: vec![],
            at: at(1),
        })
        .then(vec![ExtensionEvent::ExtensionUpdated {
            settings: expected,
            at: at(1),
        }]);
}
