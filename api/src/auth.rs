//! Authentication and authorization: argon2id passwords (checked on their own pool, see
//! `passwords`), bearer tokens backed by session events, login attempts limited per source
//! address and locked per account and source after repeated failures, and the caller's
//! permissions.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use domain::account::effective_permissions;
use domain::{Permission, PermissionScope};
use projections::{AccountDoc, EnterpriseDoc, ReadModels, RoleDoc, SessionDoc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::passwords::PasswordPool;
pub use crate::passwords::{hash_password, verify_password};

/// Login rules.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// How long a session lasts.
    pub session: Duration,
    /// Failed attempts before the sub-account is locked.
    pub max_failures: u32,
    /// How long the lock lasts.
    pub lockout: Duration,
    /// Login attempts one source address may make per minute, counted before any password
    /// is checked.
    pub attempts_per_source_per_minute: u32,
    /// Threads checking passwords (argon2id), and jobs that may wait for them.
    pub password_threads: usize,
    /// Jobs that may wait for a password thread before new ones are refused.
    pub password_queue: usize,
}

/// Attempts at one login name from one source, counted as failures until one succeeds.
#[derive(Debug, Clone)]
struct Failures {
    count: u32,
    locked_until: Option<DateTime<Utc>>,
    last: DateTime<Utc>,
}

/// Login attempts of one source address: a token bucket refilled over a minute.
#[derive(Debug, Clone)]
struct Attempts {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Entries kept per map before stale ones are dropped.
const TRACKED: usize = 10_000;

/// Authentication service of a node. Attempts are counted in memory; sessions and failed
/// logins of existing accounts are events.
#[derive(Debug)]
pub struct Auth {
    policy: LoginPolicy,
    failures: DashMap<(String, String, IpAddr), Failures>,
    sources: DashMap<IpAddr, Attempts>,
    /// The password pool.
    pub passwords: PasswordPool,
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
            passwords: PasswordPool::new(policy.password_threads, policy.password_queue),
            policy,
            failures: DashMap::new(),
            sources: DashMap::new(),
        }
    }

    /// How long sessions last.
    pub fn session_length(&self) -> Duration {
        self.policy.session
    }

    /// Starts a login attempt at `enterprise`/`account` from `source`, before any password
    /// is checked: refused with `RATE_LIMITED` when the source made too many attempts in the
    /// last minute, or when this name is locked for this source after repeated failures.
    /// Otherwise the attempt counts as a failure until [`Auth::login_succeeded`] forgets it,
    /// so attempts made in parallel are counted before any of them is checked.
    pub fn begin_login(
        &self,
        enterprise: &str,
        account: &str,
        source: IpAddr,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        self.take_source_attempt(source, now)?;
        if self.failures.len() > TRACKED {
            let stale = now - self.policy.lockout;
            self.failures.retain(|_, f| f.last > stale);
        }
        let key = (enterprise.to_lowercase(), account.to_lowercase(), source);
        let mut entry = self.failures.entry(key).or_insert(Failures {
            count: 0,
            locked_until: None,
            last: now,
        });
        entry.last = now;
        if let Some(until) = entry.locked_until {
            if until > now {
                let seconds = (until - now).num_seconds().max(1);
                return Err(ApiError::RateLimited(format!(
                    "too many failed logins; this sub-account is locked for another {seconds} s"
                )));
            }
            entry.count = 0;
            entry.locked_until = None;
        }
        if entry.count >= self.policy.max_failures {
            entry.locked_until = Some(now + self.policy.lockout);
            let seconds = self.policy.lockout.num_seconds().max(1);
            return Err(ApiError::RateLimited(format!(
                "too many failed logins; this sub-account is locked for another {seconds} s"
            )));
        }
        entry.count += 1;
        Ok(())
    }

    /// Takes one attempt from `source`'s bucket, or refuses.
    fn take_source_attempt(&self, source: IpAddr, now: DateTime<Utc>) -> ApiResult<()> {
        let capacity = f64::from(self.policy.attempts_per_source_per_minute.max(1));
        if self.sources.len() > TRACKED {
            let stale = now - Duration::minutes(1);
            self.sources.retain(|_, a| a.at > stale);
        }
        let mut entry = self.sources.entry(source).or_insert(Attempts {
            tokens: capacity,
            at: now,
        });
        let elapsed = (now - entry.at).num_milliseconds().max(0) as f64 / 60_000.0;
        entry.tokens = (entry.tokens + elapsed * capacity).min(capacity);
        entry.at = now;
        if entry.tokens < 1.0 {
            return Err(ApiError::RateLimited(
                "too many login attempts from this address; wait a minute".into(),
            ));
        }
        entry.tokens -= 1.0;
        Ok(())
    }

    /// The login at `enterprise`/`account` from `source` succeeded: its failures are forgotten.
    pub fn login_succeeded(&self, enterprise: &str, account: &str, source: IpAddr) {
        self.failures
            .remove(&(enterprise.to_lowercase(), account.to_lowercase(), source));
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
        let found: SessionDoc = models
            .of(projections::SESSIONS)
            .by_id(session_id)
            .ok_or_else(|| {
                ApiError::Unauthenticated("the session has ended; log in again".into())
            })?;
        if found.token_hash != sha256_hex(secret) {
            return Err(invalid());
        }
        caller_of_session(models, session_id, now)
    }

    /// Whether `caller`'s session still holds at `now` and still grants `permission`: for
    /// live feeds, which outlive the request that opened them.
    pub fn still_authorized(
        &self,
        models: &ReadModels,
        caller: &Caller,
        permission: Permission,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        caller_of_session(models, caller.session_id, now)?.require(permission)
    }
}

/// The caller of open session `session_id` at `now`, or why it may no longer act (the session
/// closed or expired, the account or its enterprise disabled or gone).
fn caller_of_session(
    models: &ReadModels,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<Caller> {
    let session: SessionDoc = models
        .of(projections::SESSIONS)
        .by_id(session_id)
        .ok_or_else(|| ApiError::Unauthenticated("the session has ended; log in again".into()))?;
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
            attempts_per_source_per_minute: 10,
            password_threads: 1,
            password_queue: 4,
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

    fn here() -> IpAddr {
        IpAddr::from([192, 0, 2, 1])
    }

    #[test]
    fn repeated_failures_lock_the_name_for_that_source_only() {
        let auth = auth();
        let t0 = Utc::now();
        for _ in 0..3 {
            assert!(auth.begin_login("Acme", "zhang", here(), t0).is_ok());
        }
        let locked = auth.begin_login("acme", "ZHANG", here(), t0);
        assert_eq!(locked.map_err(|e| e.code()), Err("RATE_LIMITED"));
        let later = auth.begin_login("acme", "zhang", here(), t0 + Duration::minutes(9));
        assert_eq!(later.map_err(|e| e.code()), Err("RATE_LIMITED"));
        // The owner, elsewhere, is not locked out.
        let elsewhere = IpAddr::from([198, 51, 100, 7]);
        assert!(auth.begin_login("acme", "zhang", elsewhere, t0).is_ok());
        auth.login_succeeded("acme", "zhang", elsewhere);
        // The lock ends.
        assert!(auth
            .begin_login("acme", "zhang", here(), t0 + Duration::minutes(11))
            .is_ok());
    }

    #[test]
    fn a_source_gets_its_attempts_per_minute_whatever_the_names() {
        let auth = auth();
        let t0 = Utc::now();
        for n in 0..10 {
            assert!(auth
                .begin_login("acme", &format!("u{n}"), here(), t0)
                .is_ok());
        }
        let refused = auth.begin_login("acme", "u10", here(), t0);
        assert_eq!(refused.map_err(|e| e.code()), Err("RATE_LIMITED"));
        assert!(auth
            .begin_login("acme", "u11", IpAddr::from([198, 51, 100, 7]), t0)
            .is_ok());
        // A minute refills the bucket.
        assert!(auth
            .begin_login("acme", "u12", here(), t0 + Duration::seconds(61))
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
