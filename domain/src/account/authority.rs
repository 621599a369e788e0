//! Who may change a sub-account, and what it may grant (manual §5.1, hardened): nobody grants a
//! permission it does not hold, nobody changes its own permissions or role, an account is reset,
//! disabled, deleted or re-permissioned only by one holding every permission it holds, and the
//! enterprise's first admin and the platform operator are changed only by themselves (their
//! own password) or by the operator. The facts come in the command, looked up by the caller.

use std::collections::BTreeSet;

use crate::permission::Permission;

/// Who asks for a change of a sub-account, as the domain needs to know to decide whether it
/// may: what it holds, whether it is the platform operator, whether it is the account itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// Its permissions in effect (the operator holds all).
    pub permissions: BTreeSet<Permission>,
    /// The platform operator (or the system at first start).
    pub operator: bool,
    /// The account the command is about is its own.
    pub itself: bool,
}

impl Actor {
    /// The platform operator acting on another account (and the system at first start).
    pub fn operator() -> Self {
        Self {
            permissions: Permission::ALL.iter().copied().collect(),
            operator: true,
            itself: false,
        }
    }
}

/// Why an actor may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    /// It would grant a permission it does not hold.
    #[error("you cannot grant {0}, which you do not hold")]
    Grant(String),
    /// It would change its own permissions or role.
    #[error("you cannot change your own permissions or role")]
    Own,
    /// The account holds a permission the actor does not.
    #[error("this sub-account holds {0}, which you do not; only someone holding all of its permissions may change it")]
    Outranked(String),
    /// The enterprise's first admin or the platform operator, changed by someone else.
    #[error("only the platform operator may change this account (it may change its own password)")]
    Protected,
}

/// Whether `actor` may grant every permission of `granted`.
pub fn may_grant(actor: &Actor, granted: &BTreeSet<Permission>) -> Result<(), Unauthorized> {
    if actor.operator {
        return Ok(());
    }
    match granted.difference(&actor.permissions).next() {
        Some(missing) => Err(Unauthorized::Grant(missing.id().to_owned())),
        None => Ok(()),
    }
}

/// Whether `actor` may reset, disable, delete or re-permission an account holding `held`,
/// `protected` when it is the enterprise's first admin or the platform operator.
pub fn may_manage(
    actor: &Actor,
    protected: bool,
    held: &BTreeSet<Permission>,
) -> Result<(), Unauthorized> {
    if actor.operator {
        return Ok(());
    }
    if protected {
        return Err(Unauthorized::Protected);
    }
    match held.difference(&actor.permissions).next() {
        Some(missing) => Err(Unauthorized::Outranked(missing.id().to_owned())),
        None => Ok(()),
    }
}

/// Whether `actor` may change the permissions or the role of an account holding `held` to
/// ones granting `granted`: never its own, and only within what it holds.
pub fn may_repermission(
    actor: &Actor,
    protected: bool,
    held: &BTreeSet<Permission>,
    granted: &BTreeSet<Permission>,
) -> Result<(), Unauthorized> {
    if actor.itself && !actor.operator {
        return Err(Unauthorized::Own);
    }
    may_manage(actor, protected, held)?;
    may_grant(actor, granted)
}
