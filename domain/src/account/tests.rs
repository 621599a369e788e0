//! The sub-account, given events and a command, then the events or the refusal.

use super::*;
use crate::testing::given;
use std::collections::BTreeSet;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
}

fn ent() -> Uuid {
    Uuid::from_u128(7)
}

fn profile() -> AccountProfile {
    AccountProfile {
        name: "张三".into(),
        agent_number: "1001".into(),
        role_id: None,
    }
}

fn created() -> AccountEvent {
    AccountEvent::AccountCreated {
        enterprise_id: ent(),
        account: "zhang".into(),
        profile: profile(),
        permissions: PermissionSetting::default(),
        password_hash: HASH.into(),
        operator: false,
        first_admin: false,
        at: at(0),
    }
}

fn opened(session: u128, expires: i64) -> AccountEvent {
    AccountEvent::SessionOpened {
        session_id: Uuid::from_u128(session),
        token_hash: "ab".into(),
        expires_at: at(expires),
        at: at(1),
    }
}

#[test]
fn create_validates_and_records_everything() {
    given::<Account>(vec![])
        .when(AccountCommand::Create {
            enterprise_id: ent(),
            account: "zhang".into(),
            profile: AccountProfile {
                name: " 张三 ".into(),
                ..profile()
            },
            permissions: PermissionSetting::default(),
            password_hash: HASH.into(),
            operator: false,
            first_admin: false,
            granted: BTreeSet::new(),
            by: Actor::operator(),
            at: at(0),
        })
        .then(vec![created()]);
}

#[test]
fn following_a_role_needs_a_role() {
    given::<Account>(vec![])
        .when(AccountCommand::Create {
            enterprise_id: ent(),
            account: "zhang".into(),
            profile: profile(),
            permissions: PermissionSetting::FollowRole,
            password_hash: HASH.into(),
            operator: false,
            first_admin: false,
            granted: BTreeSet::new(),
            by: Actor::operator(),
            at: at(0),
        })
        .then_err(AccountError::Invalid(FieldError::new(
            "permissions",
            "following the role needs a role",
        )));
}

#[test]
fn platform_permissions_are_refused_for_sub_accounts() {
    given::<Account>(vec![created()])
        .when(AccountCommand::SetPermissions {
            permissions: PermissionSetting::Custom {
                permissions: BTreeSet::from([Permission::RoutesRead, Permission::PlatformTrunks]),
            },
            role_id: None,
            granted: BTreeSet::new(),
            held: BTreeSet::new(),
            by: Actor::operator(),
            at: at(1),
        })
        .then_err(AccountError::PlatformPermission("platform.trunks".into()));
}

#[test]
fn a_plain_password_is_never_stored() {
    given::<Account>(vec![created()])
        .when(AccountCommand::ChangePassword {
            password_hash: "secret".into(),
            held: BTreeSet::new(),
            by: Actor::operator(),
            at: at(1),
        })
        .then_err(AccountError::Invalid(FieldError::new(
            "password",
            "must be stored as an argon2id hash",
        )));
}

#[test]
fn disabling_closes_open_sessions_only() {
    given::<Account>(vec![created(), opened(1, 100), opened(2, 5)])
        .when(AccountCommand::SetEnabled {
            enabled: false,
            held: BTreeSet::new(),
            by: Actor::operator(),
            at: at(10),
        })
        .then(vec![
            AccountEvent::SessionClosed {
                session_id: Uuid::from_u128(1),
                reason: SessionEnd::AccountDisabled,
                at: at(10),
            },
            AccountEvent::AccountDisabled { at: at(10) },
        ]);
}

#[test]
fn a_disabled_account_cannot_log_in() {
    given::<Account>(vec![created(), AccountEvent::AccountDisabled { at: at(1) }])
        .when(AccountCommand::OpenSession {
            session_id: Uuid::from_u128(3),
            token_hash: "ab".into(),
            expires_at: at(100),
            enterprise_enabled: true,
            at: at(2),
        })
        .then_err(AccountError::Disabled);
}

#[test]
fn a_disabled_enterprise_blocks_login() {
    given::<Account>(vec![created()])
        .when(AccountCommand::OpenSession {
            session_id: Uuid::from_u128(3),
            token_hash: "ab".into(),
            expires_at: at(100),
            enterprise_enabled: false,
            at: at(2),
        })
        .then_err(AccountError::EnterpriseDisabled);
}

#[test]
fn logout_of_an_expired_session_is_a_no_op() {
    given::<Account>(vec![created(), opened(1, 5)])
        .when(AccountCommand::CloseSession {
            session_id: Uuid::from_u128(1),
            at: at(10),
        })
        .then(vec![]);
}

#[test]
fn a_deleted_name_can_be_used_again() {
    given::<Account>(vec![created(), AccountEvent::AccountDeleted { at: at(1) }])
        .when(AccountCommand::Create {
            enterprise_id: ent(),
            account: "zhang".into(),
            profile: profile(),
            permissions: PermissionSetting::default(),
            password_hash: HASH.into(),
            operator: false,
            first_admin: false,
            granted: BTreeSet::new(),
            by: Actor::operator(),
            at: at(0),
        })
        .then(vec![created()]);
}

#[test]
fn the_operator_cannot_be_disabled() {
    let mut operator = created();
    if let AccountEvent::AccountCreated { operator: op, .. } = &mut operator {
        *op = true;
    }
    given::<Account>(vec![operator])
        .when(AccountCommand::SetEnabled {
            enabled: false,
            held: BTreeSet::new(),
            by: Actor::operator(),
            at: at(1),
        })
        .then_err(AccountError::OperatorProtected);
}

#[test]
fn effective_permissions_follow_the_role_or_the_custom_set() {
    let role = BTreeSet::from([Permission::QueuesRead]);
    assert_eq!(
        effective_permissions(&PermissionSetting::FollowRole, Some(&role)),
        role
    );
    assert!(effective_permissions(&PermissionSetting::FollowRole, None).is_empty());
    let custom = PermissionSetting::Custom {
        permissions: BTreeSet::from([Permission::IvrRead]),
    };
    assert_eq!(
        effective_permissions(&custom, Some(&role)),
        BTreeSet::from([Permission::IvrRead])
    );
}

fn holding(permissions: &[Permission]) -> Actor {
    Actor {
        permissions: permissions.iter().copied().collect(),
        operator: false,
        itself: false,
    }
}

fn first_admin() -> AccountEvent {
    let mut admin = created();
    if let AccountEvent::AccountCreated { first_admin, .. } = &mut admin {
        *first_admin = true;
    }
    admin
}

#[test]
fn nobody_grants_a_permission_it_does_not_hold() {
    let manager = holding(&[Permission::SubAccountsManage, Permission::RoutesRead]);
    given::<Account>(vec![created()])
        .when(AccountCommand::SetPermissions {
            permissions: PermissionSetting::Custom {
                permissions: BTreeSet::from([Permission::RoutesRead, Permission::RolesManage]),
            },
            role_id: None,
            granted: BTreeSet::from([Permission::RoutesRead, Permission::RolesManage]),
            held: BTreeSet::new(),
            by: manager.clone(),
            at: at(1),
        })
        .then_err(AccountError::Unauthorized(Unauthorized::Grant(
            "roles.manage".into(),
        )));
    given::<Account>(vec![])
        .when(AccountCommand::Create {
            enterprise_id: ent(),
            account: "zhang".into(),
            profile: profile(),
            permissions: PermissionSetting::default(),
            password_hash: HASH.into(),
            operator: false,
            first_admin: false,
            granted: BTreeSet::from([Permission::AuditLogRead]),
            by: manager,
            at: at(0),
        })
        .then_err(AccountError::Unauthorized(Unauthorized::Grant(
            "audit_log.read".into(),
        )));
}

#[test]
fn nobody_changes_its_own_permissions_or_role() {
    let mut itself = holding(&[Permission::SubAccountsManage]);
    itself.itself = true;
    given::<Account>(vec![created()])
        .when(AccountCommand::SetPermissions {
            permissions: PermissionSetting::Custom {
                permissions: BTreeSet::from([Permission::SubAccountsManage]),
            },
            role_id: None,
            granted: BTreeSet::from([Permission::SubAccountsManage]),
            held: BTreeSet::from([Permission::SubAccountsManage]),
            by: itself.clone(),
            at: at(1),
        })
        .then_err(AccountError::Unauthorized(Unauthorized::Own));
    given::<Account>(vec![created()])
        .when(AccountCommand::Update {
            profile: AccountProfile {
                role_id: Some(Uuid::from_u128(9)),
                ..profile()
            },
            role_permissions: BTreeSet::new(),
            held: BTreeSet::from([Permission::SubAccountsManage]),
            by: itself.clone(),
            at: at(1),
        })
        .then_err(AccountError::Unauthorized(Unauthorized::Own));
    // Its own name may change; its role stays.
    given::<Account>(vec![created()])
        .when(AccountCommand::Update {
            profile: AccountProfile {
                name: "张三丰".into(),
                ..profile()
            },
            role_permissions: BTreeSet::new(),
            held: BTreeSet::from([Permission::SubAccountsManage]),
            by: itself,
            at: at(1),
        })
        .then(vec![AccountEvent::AccountUpdated {
            profile: AccountProfile {
                name: "张三丰".into(),
                ..profile()
            },
            at: at(1),
        }]);
}

#[test]
fn an_account_is_changed_only_by_one_holding_all_it_holds() {
    let manager = holding(&[Permission::SubAccountsManage]);
    let held = BTreeSet::from([Permission::SubAccountsManage, Permission::RolesManage]);
    let refused = AccountError::Unauthorized(Unauthorized::Outranked("roles.manage".into()));
    given::<Account>(vec![created()])
        .when(AccountCommand::ChangePassword {
            password_hash: HASH.into(),
            held: held.clone(),
            by: manager.clone(),
            at: at(1),
        })
        .then_err(refused.clone());
    given::<Account>(vec![created()])
        .when(AccountCommand::SetEnabled {
            enabled: false,
            held: held.clone(),
            by: manager.clone(),
            at: at(1),
        })
        .then_err(refused.clone());
    given::<Account>(vec![created()])
        .when(AccountCommand::Delete {
            held: held.clone(),
            by: manager,
            at: at(1),
        })
        .then_err(refused);
    let peer = holding(&[Permission::SubAccountsManage, Permission::RolesManage]);
    given::<Account>(vec![created()])
        .when(AccountCommand::Delete {
            held,
            by: peer,
            at: at(1),
        })
        .then(vec![AccountEvent::AccountDeleted { at: at(1) }]);
}

#[test]
fn the_first_admin_is_changed_only_by_itself_or_the_operator() {
    let all = Permission::enterprise_all();
    let other_admin = Actor {
        permissions: all.clone(),
        operator: false,
        itself: false,
    };
    given::<Account>(vec![first_admin()])
        .when(AccountCommand::ChangePassword {
            password_hash: HASH.into(),
            held: all.clone(),
            by: other_admin,
            at: at(1),
        })
        .then_err(AccountError::Unauthorized(Unauthorized::Protected));
    let itself = Actor {
        permissions: all.clone(),
        operator: false,
        itself: true,
    };
    given::<Account>(vec![first_admin()])
        .when(AccountCommand::ChangePassword {
            password_hash: HASH.into(),
            held: all.clone(),
            by: itself,
            at: at(1),
        })
        .then(vec![AccountEvent::AccountPasswordChanged {
            password_hash: HASH.into(),
            at: at(1),
        }]);
    given::<Account>(vec![first_admin()])
        .when(AccountCommand::ChangePassword {
            password_hash: HASH.into(),
            held: all,
            by: Actor::operator(),
            at: at(1),
        })
        .then(vec![AccountEvent::AccountPasswordChanged {
            password_hash: HASH.into(),
            at: at(1),
        }]);
}

#[test]
fn accounts_stored_before_the_first_admin_flag_read_as_not_first_admin() {
    let old = r#"{"type":"AccountCreated","enterprise_id":"00000000-0000-0000-0000-000000000007","account":"zhang","profile":{"name":"张三","agent_number":"1001","role_id":null},"permissions":{"mode":"custom","permissions":[]},"password_hash":"h","operator":false,"at":"2026-01-02T03:04:05Z"}"#;
    let event: AccountEvent = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        event,
        AccountEvent::AccountCreated {
            first_admin: false,
            ..
        }
    ));
    // Only a first admin carries the flag when stored.
    let text = serde_json::to_string(&first_admin()).unwrap_or_default();
    assert!(text.contains("\"first_admin\":true"), "{text}");
    let text = serde_json::to_string(&created()).unwrap_or_default();
    assert!(!text.contains("first_admin"), "{text}");
}
