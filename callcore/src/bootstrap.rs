//! First start: an empty log gets the platform enterprise and its operator `admin`.

use chrono::Utc;
use domain::account::{Account, AccountCommand, AccountProfile, Actor};
use domain::enterprise::{Enterprise, EnterpriseCommand};
use domain::ids::{account_id, platform_enterprise_id, OPERATOR_ACCOUNT, PLATFORM_CODE};
use domain::PermissionSetting;
use eventlog::Metadata;
use rand::distributions::{Alphanumeric, DistString};

use node::{CommandError, CommandResult, Node};
use projections::{ACCOUNTS, ENTERPRISES};

/// What bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The operator already existed.
    AlreadyDone,
    /// The operator was created with the password from the environment.
    Created,
    /// The operator was created with this generated password (show it once).
    CreatedWithGeneratedPassword(String),
}

/// Creates the platform enterprise and the operator unless they exist.
pub async fn ensure_operator(node: &Node, password: Option<String>) -> CommandResult<Bootstrap> {
    let platform = platform_enterprise_id();
    let operator = account_id(platform, OPERATOR_ACCOUNT);
    if node.models.of(ACCOUNTS).contains(&operator.to_string()) {
        return Ok(Bootstrap::AlreadyDone);
    }
    let metadata = Metadata::new(Some(platform), None);
    let now = Utc::now();
    if !node.models.of(ENTERPRISES).contains(&platform.to_string()) {
        node.execute::<Enterprise>(
            platform,
            EnterpriseCommand::Create {
                code: PLATFORM_CODE.into(),
                name: "Platform".into(),
                time_zone: String::new(),
                platform: true,
                at: now,
            },
            metadata.clone(),
        )
        .await?;
    }
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (
            Alphanumeric.sample_string(&mut rand::thread_rng(), 20),
            true,
        ),
    };
    let password_hash = api::auth::hash_password(&password)
        .map_err(|_| CommandError::internal("hashing the operator's password failed"))?;
    node.execute::<Account>(
        operator,
        AccountCommand::Create {
            enterprise_id: platform,
            account: OPERATOR_ACCOUNT.into(),
            profile: AccountProfile {
                name: "Platform operator".into(),
                agent_number: String::new(),
                role_id: None,
            },
            permissions: PermissionSetting::default(),
            password_hash,
            operator: true,
            first_admin: false,
            granted: Default::default(),
            by: Actor::operator(),
            at: now,
        },
        metadata,
    )
    .await?;
    Ok(if generated {
        Bootstrap::CreatedWithGeneratedPassword(password)
    } else {
        Bootstrap::Created
    })
}
