//! Enterprises (manual §6, platform operator only): creating one with its first admin
//! sub-account, renaming it, and enabling or disabling it.

use async_graphql::{Context, InputObject, Object, ID};
use chrono::Utc;
use domain::account::{Account, AccountCommand, AccountProfile};
use domain::enterprise::{Enterprise, EnterpriseCommand};
use domain::ids::{account_id, enterprise_id};
use domain::{Permission, PermissionSetting};
use projections::EnterpriseDoc;

use super::context::{app, caller, fetch, parse_id};
use super::mutation::{actor, meta};
use super::types::*;
use crate::auth::check_new_password;
use crate::error::ApiResult;

/// Input of `createEnterprise`.
#[derive(InputObject, Debug)]
pub struct CreateEnterpriseInput {
    /// Account code used at login (unique, fixed).
    pub code: String,
    /// Name.
    pub name: String,
    /// Time zone (default Asia/Shanghai).
    pub time_zone: Option<String>,
    /// Login name of the enterprise's first admin sub-account.
    pub admin_account: String,
    /// Its password.
    pub admin_password: String,
    /// Its person's name.
    pub admin_name: Option<String>,
}

/// Input of `updateEnterprise`.
#[derive(InputObject, Debug)]
pub struct UpdateEnterpriseInput {
    /// Name.
    pub name: String,
    /// Time zone.
    pub time_zone: Option<String>,
}

/// Mutations of enterprises.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnterprisesMutation;

#[Object]
impl EnterprisesMutation {
    /// Creates an enterprise and its first admin sub-account, holding every enterprise
    /// permission (platform operator only).
    async fn create_enterprise(
        &self,
        ctx: &Context<'_>,
        input: CreateEnterpriseInput,
    ) -> ApiResult<EnterpriseObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformEnterprises)?;
        let app = app(ctx);
        check_new_password("adminPassword", &input.admin_password)?;
        domain::validate::login_name("adminAccount", &input.admin_account)?;
        let id = enterprise_id(input.code.trim());
        let now = Utc::now();
        let hash = app.auth.passwords.hash(&input.admin_password).await?;
        app.node
            .execute::<Enterprise>(
                id,
                EnterpriseCommand::Create {
                    code: input.code,
                    name: input.name,
                    time_zone: input.time_zone.unwrap_or_default(),
                    platform: false,
                    at: now,
                },
                meta(caller, id),
            )
            .await?;
        let admin = account_id(id, input.admin_account.trim());
        app.node
            .execute::<Account>(
                admin,
                AccountCommand::Create {
                    enterprise_id: id,
                    account: input.admin_account,
                    profile: AccountProfile {
                        name: input
                            .admin_name
                            .filter(|n| !n.trim().is_empty())
                            .unwrap_or_else(|| "Administrator".into()),
                        agent_number: String::new(),
                        role_id: None,
                    },
                    permissions: PermissionSetting::Custom {
                        permissions: Permission::enterprise_all(),
                    },
                    password_hash: hash,
                    operator: false,
                    first_admin: true,
                    granted: Permission::enterprise_all(),
                    by: actor(caller, admin),
                    at: now,
                },
                meta(caller, id),
            )
            .await?;
        let doc: EnterpriseDoc = fetch(app, caller, projections::ENTERPRISES, id)?;
        Ok(doc.into())
    }

    /// Changes an enterprise's name and time zone (platform operator only).
    async fn update_enterprise(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateEnterpriseInput,
    ) -> ApiResult<EnterpriseObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformEnterprises)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, id)?;
        app.node
            .execute::<Enterprise>(
                id,
                EnterpriseCommand::Update {
                    name: input.name,
                    time_zone: input.time_zone.unwrap_or_default(),
                    at: Utc::now(),
                },
                meta(caller, id),
            )
            .await?;
        Ok(fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, id)?.into())
    }

    /// Enables or disables an enterprise (platform operator only).
    async fn set_enterprise_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> ApiResult<EnterpriseObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformEnterprises)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, id)?;
        app.node
            .execute::<Enterprise>(
                id,
                EnterpriseCommand::SetEnabled {
                    enabled,
                    at: Utc::now(),
                },
                meta(caller, id),
            )
            .await?;
        Ok(fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, id)?.into())
    }
}
