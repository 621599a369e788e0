//! Authentication and authorization: argon2id passwords, bearer tokens backed by session
//! events, lockout after repeated failures, and the caller's permissions.

use std::collections::BTreeSet;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use domain::account::effective_permissions;
use domain::{Permission, PermissionScope};
use projections::{AccountDoc, EnterpriseDoc, ReadModels, RoleDoc, SessionDoc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Login rules.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// How long a session lasts.
    pub session: Duration,
    /// Failed attempts before the sub-account is locked.
    pub max_failures: u32,
    /// How long the lock lasts.
    pub lockout: Duration,
}

/// Failed attempts of one login name.
#[derive(Debug, Clone, Default)]
struct Failures {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
}

/// Authentication service of a node. Failed attempts are counted in memory (a wrong password
/// leaves the log unchanged); sessions are events.
#[derive(Debug)]
pub struct Auth {
    policy: LoginPolicy,
    failures: DashMap<(String, String), Failures>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The sub-account.
    pub account_id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Whether it is the platform operator (sees every tenant).
    pub operator: bool,
    /// Permissions in effect.
    pub permissions: BTreeSet<Permission>,
}

impl Caller {
    /// Fails with `FORBIDDEN` unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.operator || self.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this sub-account lacks the permission {} ({})",
                permission.id(),
                permission.label_en()
            )))
        }
    }

    /// Whether the caller may see data of `tenant`.
    pub fn sees(&self, tenant: Option<Uuid>) -> bool {
        self.operator || tenant == Some(self.enterprise_id)
    }

    /// The tenant a request acts in: the caller's own, or (for the operator) the one named.
    pub fn tenant(&self, requested: Option<Uuid>) -> ApiResult<Uuid> {
        match requested {
            None => Ok(self.enterprise_id),
            Some(t) if self.sees(Some(t)) => Ok(t),
            Some(_) => Err(ApiError::NotFound("enterprise not found".into())),
        }
    }
}

/// A fresh bearer token and what is stored of it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token handed to the client: `cc1.<session>.<secret>`.
    pub token: String,
    /// The session id.
    pub session_id: Uuid,
    /// SHA-256 of the secret, hex (stored in the session event).
    pub token_hash: String,
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against a stored argon2id hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new password's strength; names the field.
pub fn check_new_password(field: &str, password: &str) -> ApiResult<()> {
    let length = password.chars().count();
    if !(8..=128).contains(&length) {
        return Err(ApiError::validation(field, "must be 8 to 128 characters"));
    }
    Ok(())
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Auth {
    /// An authentication service with `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            failures: DashMap::new(),
        }
    }

    /// How long sessions last.
    pub fn session_length(&self) -> Duration {
        self.policy.session
    }

    /// Fails with `RATE_LIMITED` while the login name is locked.
    pub fn check_not_locked(
        &self,
        enterprise: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let key = (enterprise.to_lowercase(), account.to_lowercase());
        if let Some(until) = self.failures.get(&key).and_then(|f| f.locked_until) {
            if until > now {
                let seconds = (until - now).num_seconds().max(1);
                return Err(ApiError::RateLimited(format!(
                    "too many failed logins; this sub-account is locked for another {seconds} s"
                )));
            }
        }
        Ok(())
    }

    /// Counts a failed attempt; locks the name after too many.
    pub fn record_failure(&self, enterprise: &str, account: &str, now: DateTime<Utc>) {
        let key = (enterprise.to_lowercase(), account.to_lowercase());
        let mut entry = self.failures.entry(key).or_default();
        if entry.locked_until.is_some_and(|until| until <= now) {
            *entry = Failures::default();
        }
        entry.count += 1;
        if entry.count >= self.policy.max_failures {
            entry.locked_until = Some(now + self.policy.lockout);
        }
    }

    /// Forgets failed attempts after a successful login.
    pub fn record_success(&self, enterprise: &str, account: &str) {
        self.failures
            .remove(&(enterprise.to_lowercase(), account.to_lowercase()));
    }

    /// A new random token.
    pub fn issue_token(&self) -> IssuedToken {
        let session_id = Uuid::new_v4();
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        IssuedToken {
            token: format!("cc1.{session_id}.{secret}"),
            session_id,
            token_hash: sha256_hex(&secret),
        }
    }

    /// Resolves a bearer token to its caller, or says why it is not valid.
    pub fn authenticate(
        &self,
        models: &ReadModels,
        token: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<Caller> {
        let invalid = || ApiError::Unauthenticated("the token is invalid; log in again".into());
        let mut parts = token.trim().splitn(3, '.');
        let (Some("cc1"), Some(session), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let session_id = Uuid::parse_str(session).map_err(|_| invalid())?;
        let session: SessionDoc = models
            .of(projections::SESSIONS)
            .by_id(session_id)
            .ok_or_else(|| {
                ApiError::Unauthenticated("the session has ended; log in again".into())
            })?;
        if session.token_hash != sha256_hex(secret) {
            return Err(invalid());
        }
        if session.expires_at <= now {
            return Err(ApiError::Unauthenticated(
                "the session has expired; log in again".into(),
            ));
        }
        let account: AccountDoc = models
            .of(projections::ACCOUNTS)
            .by_id(session.account_id)
            .ok_or_else(|| ApiError::Unauthenticated("the sub-account no longer exists".into()))?;
        if !account.enabled {
            return Err(ApiError::Unauthenticated(
                "the sub-account is disabled".into(),
            ));
        }
        let enterprise: Option<EnterpriseDoc> = models
            .of(projections::ENTERPRISES)
            .by_id(account.enterprise_id);
        if !enterprise.is_some_and(|e| e.enabled) {
            return Err(ApiError::Unauthenticated(
                "the enterprise is disabled".into(),
            ));
        }
        Ok(Caller {
            account_id: account.id,
            enterprise_id: account.enterprise_id,
            session_id,
            operator: account.operator,
            permissions: permissions_of(models, &account)?,
        })
    }
}

/// The permissions in effect for `account` (all of them for the operator).
pub fn permissions_of(
    models: &ReadModels,
    account: &AccountDoc,
) -> ApiResult<BTreeSet<Permission>> {
    if account.operator {
        return Ok(Permission::ALL.iter().copied().collect());
    }
    let role: Option<RoleDoc> = match account.role_id {
        Some(id) => models.of(projections::ROLES).by_id(id),
        None => None,
    };
    Ok(
        effective_permissions(&account.permissions, role.as_ref().map(|r| &r.permissions))
            .into_iter()
            .filter(|p| p.scope() == PermissionScope::Enterprise)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(LoginPolicy {
            session: Duration::hours(1),
            max_failures: 3,
            lockout: Duration::minutes(10),
        })
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").expect("hashing works");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn repeated_failures_lock_then_unlock() {
        let auth = auth();
        let t0 = Utc::now();
        for _ in 0..2 {
            auth.record_failure("Acme", "zhang", t0);
        }
        assert!(auth.check_not_locked("acme", "ZHANG", t0).is_ok());
        auth.record_failure("acme", "zhang", t0);
        let locked = auth.check_not_locked("acme", "zhang", t0 + Duration::minutes(9));
        assert_eq!(locked.map_err(|e| e.code()), Err("RATE_LIMITED"));
        assert!(auth
            .check_not_locked("acme", "zhang", t0 + Duration::minutes(11))
            .is_ok());
    }

    #[test]
    fn tokens_are_unique_and_hash_their_secret() {
        let auth = auth();
        let a = auth.issue_token();
        let b = auth.issue_token();
        assert_ne!(a.token, b.token);
        let secret = a.token.rsplit('.').next().expect("token has three parts");
        assert_eq!(sha256_hex(secret), a.token_hash);
    }
}
