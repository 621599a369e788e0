//! Mutations: each checks a permission, scopes to the caller's tenant, runs one or more domain
//! commands and answers from the read models once they show the result.

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, ID};
use chrono::Utc;
use domain::account::{effective_permissions, Account, AccountCommand, AccountProfile, Actor};
use domain::announcement::{Announcement, AnnouncementCommand, AnnouncementContent};
use domain::ids::{account_id, enterprise_id};
use domain::role::{Role, RoleCommand};
use domain::{Permission, PermissionSetting};
use eventlog::Metadata;
use projections::{AccountDoc, AnnouncementDoc, CredentialDoc, EnterpriseDoc, RoleDoc};
use uuid::Uuid;

use super::context::{self, app, caller, fetch, list, parse_id, parse_opt_id};
use super::query::me_of;
use super::types::*;
use crate::app::App;
use crate::auth::{check_new_password, hash_password, permissions_of, Caller};
use crate::error::{ApiError, ApiResult};

/// The longest password checked at login (argon2 work is bounded).
const MAX_PASSWORD_INPUT: usize = 1_024;

/// A hash of a random password, checked when the account does not exist so that both cases
/// take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&Uuid::new_v4().to_string()).unwrap_or_default());

/// Input of `createSubAccount` (manual §5.1.1).
#[derive(InputObject, Debug)]
pub struct CreateSubAccountInput {
    /// Enterprise (operator only; others create in their own).
    pub enterprise_id: Option<ID>,
    /// Login name (账号), fixed once created.
    pub account: String,
    /// Password.
    pub password: String,
    /// Person's name (姓名).
    pub name: String,
    /// Agent number (工号).
    pub agent_number: Option<String>,
    /// Role.
    pub role_id: Option<ID>,
    /// Permissions follow the role (应用角色权限模块).
    pub follow_role: Option<bool>,
    /// Custom permissions (default: the role's template, or none).
    pub permissions: Option<Vec<String>>,
}

/// Input of `updateSubAccount`: everything but the login name.
#[derive(InputObject, Debug)]
pub struct UpdateSubAccountInput {
    /// Person's name.
    pub name: String,
    /// Agent number.
    pub agent_number: Option<String>,
    /// Role.
    pub role_id: Option<ID>,
}

/// Input of `createRole` and `updateRole`.
#[derive(InputObject, Debug)]
pub struct RoleInput {
    /// Enterprise (operator only, on create).
    pub enterprise_id: Option<ID>,
    /// Name.
    pub name: String,
    /// Permission template.
    pub permissions: Vec<String>,
}

/// Input of `createAnnouncement` and `updateAnnouncement`.
#[derive(InputObject, Debug)]
pub struct AnnouncementInput {
    /// Enterprise (operator only, on create).
    pub enterprise_id: Option<ID>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Target sub-accounts.
    pub targets: Vec<ID>,
}

/// Mutations of logins, enterprises, sub-accounts, roles and announcements.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountsMutation;

/// The caller as the domain weighs it when it changes account `target` (or a role).
pub(crate) fn actor(caller: &Caller, target: Uuid) -> Actor {
    Actor {
        permissions: caller.permissions.clone(),
        operator: caller.operator,
        itself: caller.account_id == target,
    }
}

pub(crate) fn meta(caller: &Caller, tenant: Uuid) -> Metadata {
    Metadata::new(Some(tenant), Some(caller.account_id))
}

fn account_object(app: &App, id: Uuid) -> ApiResult<SubAccountObject> {
    let doc: AccountDoc = app
        .node
        .models
        .of(projections::ACCOUNTS)
        .by_id(id)
        .ok_or_else(|| ApiError::NotFound("sub-account not found".into()))?;
    SubAccountObject::build(app, doc)
}

/// Checks that `role` exists in `tenant`.
fn role_in(
    app: &App,
    caller: &Caller,
    tenant: Uuid,
    role: Option<Uuid>,
) -> ApiResult<Option<RoleDoc>> {
    match role {
        None => Ok(None),
        Some(id) => {
            let doc: RoleDoc = fetch(app, caller, projections::ROLES, id)
                .map_err(|_| ApiError::validation("roleId", "no such role"))?;
            if doc.enterprise_id != tenant {
                return Err(ApiError::validation("roleId", "no such role"));
            }
            Ok(Some(doc))
        }
    }
}

fn role_name_taken(
    app: &App,
    caller: &Caller,
    tenant: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> ApiResult<bool> {
    let roles: Vec<RoleDoc> = list(app, caller, projections::ROLES, Some(tenant))?;
    Ok(roles
        .iter()
        .any(|r| Some(r.id) != except && r.name.eq_ignore_ascii_case(name.trim())))
}

fn announcement_content(
    app: &App,
    caller: &Caller,
    tenant: Uuid,
    input: AnnouncementInput,
) -> ApiResult<AnnouncementContent> {
    let mut targets = BTreeSet::new();
    for id in &input.targets {
        let target = parse_id("targets", id)?;
        let doc: Option<AccountDoc> = fetch(app, caller, projections::ACCOUNTS, target).ok();
        if doc.is_none_or(|d| d.enterprise_id != tenant) {
            return Err(ApiError::validation(
                "targets",
                format!("no sub-account {target} in this enterprise"),
            ));
        }
        targets.insert(target);
    }
    Ok(AnnouncementContent {
        title: input.title,
        body: input.body,
        targets,
    })
}

#[Object]
impl AccountsMutation {
    /// Logs in with enterprise account code, sub-account and password (manual §1).
    async fn login(
        &self,
        ctx: &Context<'_>,
        enterprise: String,
        account: String,
        password: String,
    ) -> ApiResult<LoginResult> {
        let app = app(ctx);
        let now = Utc::now();
        let (enterprise, account) = (enterprise.trim().to_owned(), account.trim().to_owned());
        if password.len() > MAX_PASSWORD_INPUT {
            return Err(ApiError::validation("password", "is too long"));
        }
        let source = context::source(ctx);
        app.auth.begin_login(&enterprise, &account, source, now)?;
        let ent_id = enterprise_id(&enterprise);
        let ent: EnterpriseDoc = app
            .node
            .models
            .of(projections::ENTERPRISES)
            .by_id(ent_id)
            .ok_or_else(|| {
                app.node.metrics.login_failure();
                ApiError::Unauthenticated(format!("unknown enterprise account '{enterprise}'"))
            })?;
        let acc_id = account_id(ent_id, &account);
        let credential: Option<CredentialDoc> =
            app.node.models.of(projections::CREDENTIALS).by_id(acc_id);
        let hash = credential
            .as_ref()
            .map_or(DUMMY_HASH.clone(), |c| c.password_hash.clone());
        let matches = app.auth.passwords.verify(&password, &hash).await?;
        if credential.is_none() || !matches {
            app.node.metrics.login_failure();
            if credential.is_some() {
                // Visible to the enterprise's admin in the audit log; the password is not kept.
                let noted = app
                    .node
                    .commit::<Account>(
                        acc_id,
                        AccountCommand::RecordFailedLogin {
                            source: source.to_string(),
                            at: now,
                        },
                        Metadata::new(Some(ent_id), Some(acc_id)),
                    )
                    .await;
                if let Err(error) = noted {
                    tracing::warn!(code = error.code(), "a failed login could not be recorded");
                }
            }
            return Err(ApiError::Unauthenticated(
                "wrong sub-account or password".into(),
            ));
        }
        let doc: AccountDoc = app
            .node
            .models
            .of(projections::ACCOUNTS)
            .by_id(acc_id)
            .ok_or_else(|| ApiError::Unauthenticated("wrong sub-account or password".into()))?;
        if !doc.enabled {
            return Err(ApiError::Unauthenticated(
                "the sub-account is disabled".into(),
            ));
        }
        if !ent.enabled {
            return Err(ApiError::Unauthenticated(
                "the enterprise is disabled".into(),
            ));
        }
        app.auth.login_succeeded(&enterprise, &account, source);
        let issued = app.auth.issue_token();
        let expires_at = now + app.auth.session_length();
        app.node
            .execute::<Account>(
                acc_id,
                AccountCommand::OpenSession {
                    session_id: issued.session_id,
                    token_hash: issued.token_hash,
                    expires_at,
                    enterprise_enabled: ent.enabled,
                    at: now,
                },
                Metadata::new(Some(ent_id), Some(acc_id)),
            )
            .await?;
        Ok(LoginResult {
            token: issued.token,
            expires_at,
            me: me_of(app, acc_id)?,
        })
    }

    /// Ends the current session; its token stops working at once.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        app(ctx)
            .node
            .execute::<Account>(
                caller.account_id,
                AccountCommand::CloseSession {
                    session_id: caller.session_id,
                    at: Utc::now(),
                },
                meta(caller, caller.enterprise_id),
            )
            .await?;
        Ok(true)
    }

    /// Changes the caller's own password (every session of the account ends).
    async fn change_my_password(
        &self,
        ctx: &Context<'_>,
        old_password: String,
        new_password: String,
    ) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        let app = app(ctx);
        check_new_password("newPassword", &new_password)?;
        let credential: CredentialDoc = app
            .node
            .models
            .of(projections::CREDENTIALS)
            .by_id(caller.account_id)
            .ok_or_else(|| ApiError::NotFound("sub-account not found".into()))?;
        let ok = app
            .auth
            .passwords
            .verify(&old_password, &credential.password_hash)
            .await?;
        if !ok {
            return Err(ApiError::validation("oldPassword", "is wrong"));
        }
        let hash = app.auth.passwords.hash(&new_password).await?;
        app.node
            .execute::<Account>(
                caller.account_id,
                AccountCommand::ChangePassword {
                    password_hash: hash,
                    held: caller.permissions.clone(),
                    by: actor(caller, caller.account_id),
                    at: Utc::now(),
                },
                meta(caller, caller.enterprise_id),
            )
            .await?;
        Ok(true)
    }

    /// Creates a sub-account (manual §5.1.1).
    async fn create_sub_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSubAccountInput,
    ) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let tenant = caller.tenant(parse_opt_id("enterpriseId", input.enterprise_id.as_ref())?)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        check_new_password("password", &input.password)?;
        let account = domain::validate::login_name("account", &input.account)?;
        let role = role_in(
            app,
            caller,
            tenant,
            parse_opt_id("roleId", input.role_id.as_ref())?,
        )?;
        let permissions = if input.follow_role.unwrap_or(false) {
            PermissionSetting::FollowRole
        } else {
            let permissions = match (&input.permissions, &role) {
                (Some(ids), _) => parse_permissions(ids)?,
                (None, Some(role)) => role.permissions.clone(),
                (None, None) => BTreeSet::new(),
            };
            PermissionSetting::Custom { permissions }
        };
        let id = account_id(tenant, &account);
        let granted = effective_permissions(&permissions, role.as_ref().map(|r| &r.permissions));
        app.node
            .execute::<Account>(
                id,
                AccountCommand::Create {
                    enterprise_id: tenant,
                    account,
                    profile: AccountProfile {
                        name: input.name,
                        agent_number: input.agent_number.unwrap_or_default(),
                        role_id: role.map(|r| r.id),
                    },
                    permissions,
                    password_hash: app.auth.passwords.hash(&input.password).await?,
                    operator: false,
                    first_admin: false,
                    granted,
                    by: actor(caller, id),
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        account_object(app, id)
    }

    /// Edits a sub-account; its login name stays (manual §5.1.3).
    async fn update_sub_account(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateSubAccountInput,
    ) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: AccountDoc = fetch(app, caller, projections::ACCOUNTS, id)?;
        let role = role_in(
            app,
            caller,
            doc.enterprise_id,
            parse_opt_id("roleId", input.role_id.as_ref())?,
        )?;
        if role.is_none() && doc.permissions == PermissionSetting::FollowRole {
            return Err(ApiError::validation(
                "roleId",
                "this sub-account's permissions follow its role; choose custom permissions first",
            ));
        }
        let held = permissions_of(&app.node.models, &doc)?;
        app.node
            .execute::<Account>(
                id,
                AccountCommand::Update {
                    profile: AccountProfile {
                        name: input.name,
                        agent_number: input.agent_number.unwrap_or_default(),
                        role_id: role.as_ref().map(|r| r.id),
                    },
                    role_permissions: role.map(|r| r.permissions).unwrap_or_default(),
                    held,
                    by: actor(caller, id),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        account_object(app, id)
    }

    /// Sets a sub-account's permissions: follow its role, or a custom set (manual §5.1.5).
    async fn set_sub_account_permissions(
        &self,
        ctx: &Context<'_>,
        id: ID,
        follow_role: bool,
        permissions: Option<Vec<String>>,
    ) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: AccountDoc = fetch(app, caller, projections::ACCOUNTS, id)?;
        let setting = if follow_role {
            PermissionSetting::FollowRole
        } else {
            PermissionSetting::Custom {
                permissions: parse_permissions(&permissions.unwrap_or_default())?,
            }
        };
        let role_permissions: Option<RoleDoc> = doc
            .role_id
            .and_then(|role| app.node.models.of(projections::ROLES).by_id(role));
        let granted =
            effective_permissions(&setting, role_permissions.as_ref().map(|r| &r.permissions));
        let held = permissions_of(&app.node.models, &doc)?;
        app.node
            .execute::<Account>(
                id,
                AccountCommand::SetPermissions {
                    permissions: setting,
                    role_id: doc.role_id,
                    granted,
                    held,
                    by: actor(caller, id),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        account_object(app, id)
    }

    /// Sets a new password for a sub-account; its sessions end.
    async fn reset_sub_account_password(
        &self,
        ctx: &Context<'_>,
        id: ID,
        password: String,
    ) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: AccountDoc = fetch(app, caller, projections::ACCOUNTS, id)?;
        check_new_password("password", &password)?;
        app.node
            .execute::<Account>(
                id,
                AccountCommand::ChangePassword {
                    password_hash: app.auth.passwords.hash(&password).await?,
                    held: permissions_of(&app.node.models, &doc)?,
                    by: actor(caller, id),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        account_object(app, id)
    }

    /// Enables or disables a sub-account (manual §5.1.4); disabling ends its sessions.
    async fn set_sub_account_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: AccountDoc = fetch(app, caller, projections::ACCOUNTS, id)?;
        app.node
            .execute::<Account>(
                id,
                AccountCommand::SetEnabled {
                    enabled,
                    held: permissions_of(&app.node.models, &doc)?,
                    by: actor(caller, id),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        account_object(app, id)
    }

    /// Deletes a sub-account for good (manual §5.1.6).
    async fn delete_sub_account(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: AccountDoc = fetch(app, caller, projections::ACCOUNTS, uuid)?;
        if uuid == caller.account_id {
            return Err(ApiError::Conflict(
                "a sub-account cannot delete itself".into(),
            ));
        }
        app.node
            .execute::<Account>(
                uuid,
                AccountCommand::Delete {
                    held: permissions_of(&app.node.models, &doc)?,
                    by: actor(caller, uuid),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }

    /// Creates a role with its permission template (manual §5.2.1).
    async fn create_role(&self, ctx: &Context<'_>, input: RoleInput) -> ApiResult<RoleObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::RolesManage)?;
        let app = app(ctx);
        let tenant = caller.tenant(parse_opt_id("enterpriseId", input.enterprise_id.as_ref())?)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        let id = Uuid::new_v4();
        app.node
            .execute::<Role>(
                id,
                RoleCommand::Create {
                    enterprise_id: tenant,
                    name_taken: role_name_taken(app, caller, tenant, &input.name, None)?,
                    name: input.name,
                    permissions: parse_permissions(&input.permissions)?,
                    by: actor(caller, Uuid::nil()),
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        RoleObject::build(app, fetch(app, caller, projections::ROLES, id)?)
    }

    /// Edits a role's name and template (manual §5.2.2).
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: RoleInput,
    ) -> ApiResult<RoleObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::RolesManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: RoleDoc = fetch(app, caller, projections::ROLES, id)?;
        app.node
            .execute::<Role>(
                id,
                RoleCommand::Update {
                    name_taken: role_name_taken(
                        app,
                        caller,
                        doc.enterprise_id,
                        &input.name,
                        Some(id),
                    )?,
                    name: input.name,
                    permissions: parse_permissions(&input.permissions)?,
                    by: actor(caller, Uuid::nil()),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        RoleObject::build(app, fetch(app, caller, projections::ROLES, id)?)
    }

    /// Deletes a role; refused while sub-accounts have it (manual §5.2.3).
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::RolesManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: RoleDoc = fetch(app, caller, projections::ROLES, uuid)?;
        app.node
            .execute::<Role>(
                uuid,
                RoleCommand::Delete {
                    accounts_using: accounts_using(app, uuid)?,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }

    /// Publishes an announcement to chosen sub-accounts (manual §5.3.1).
    async fn create_announcement(
        &self,
        ctx: &Context<'_>,
        input: AnnouncementInput,
    ) -> ApiResult<AnnouncementObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::AnnouncementsManage)?;
        let app = app(ctx);
        let tenant = caller.tenant(parse_opt_id("enterpriseId", input.enterprise_id.as_ref())?)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        let content = announcement_content(app, caller, tenant, input)?;
        let id = Uuid::new_v4();
        app.node
            .execute::<Announcement>(
                id,
                AnnouncementCommand::Publish {
                    enterprise_id: tenant,
                    content,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(fetch::<AnnouncementDoc>(app, caller, projections::ANNOUNCEMENTS, id)?.into())
    }

    /// Edits an announcement (manual §5.3.2).
    async fn update_announcement(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AnnouncementInput,
    ) -> ApiResult<AnnouncementObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::AnnouncementsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: AnnouncementDoc = fetch(app, caller, projections::ANNOUNCEMENTS, id)?;
        let content = announcement_content(app, caller, doc.enterprise_id, input)?;
        app.node
            .execute::<Announcement>(
                id,
                AnnouncementCommand::Edit {
                    content,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(fetch::<AnnouncementDoc>(app, caller, projections::ANNOUNCEMENTS, id)?.into())
    }

    /// Deletes an announcement (manual §5.3.3).
    async fn delete_announcement(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::AnnouncementsManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: AnnouncementDoc = fetch(app, caller, projections::ANNOUNCEMENTS, uuid)?;
        app.node
            .execute::<Announcement>(
                uuid,
                AnnouncementCommand::Delete { at: Utc::now() },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }
}
