//! Mutations of extensions (manual §2.4): the operator provisions an extension with generated
//! SIP credentials; the enterprise edits its settings (caller ID, outbound rights, the bound
//! number, who may sign in, the screen pop) and deletes it; a holder of
//! `extensions.credentials` issues a new SIP password (shown once), which unregisters its phones.

use std::collections::BTreeSet;

use async_graphql::{Context, InputObject, Object, ID};
use chrono::Utc;
use domain::extension::{Extension, ExtensionCommand, ExtensionSettings, PopTiming, ScreenPop};
use domain::Permission;
use projections::{AccountDoc, EnterpriseDoc};

use super::context::{app, caller, fetch, list, parse_id};
use super::mutation::meta;
use super::types::*;
use crate::error::{ApiError, ApiResult};

/// A fresh SIP password: 16 random letters and digits.
fn new_sip_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
}

/// Input of `updateExtension` (manual §2.4.1): everything but the number and SIP credentials.
#[derive(InputObject, Debug)]
pub struct UpdateExtensionInput {
    /// Manual outbound allowed.
    pub manual_outbound: bool,
    /// Outbound caller ID.
    pub caller_id: Option<String>,
    /// Sub-accounts allowed to sign in.
    pub sign_in_accounts: Option<Vec<ID>>,
    /// Bound landline or mobile.
    pub bound_number: Option<String>,
    /// Forward to the bound number when offline.
    pub forward_when_offline: Option<bool>,
    /// Screen pop.
    pub screen_pop: Option<ScreenPopObject>,
}

/// Mutations of extensions.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExtensionsMutation;

#[Object]
impl ExtensionsMutation {
    /// Provisions an extension with generated SIP credentials (platform operator).
    async fn create_extension(
        &self,
        ctx: &Context<'_>,
        enterprise_id: ID,
        number: String,
    ) -> ApiResult<ExtensionObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let tenant = caller.tenant(Some(parse_id("enterpriseId", &enterprise_id)?))?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        let number = domain::extension::extension_number(&number)?;
        let id = domain::ids::extension_id(tenant, &number);
        let sip_password = new_sip_password();
        app.node
            .execute::<Extension>(
                id,
                ExtensionCommand::Create {
                    enterprise_id: tenant,
                    number,
                    sip_password: sip_password.clone(),
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        let mut created = ExtensionObject::build(
            app,
            fetch(app, caller, projections::EXTENSIONS, id)?,
            Utc::now(),
        )?;
        created.sip_password = Some(sip_password);
        Ok(created)
    }

    /// Issues a new SIP password for an extension and unregisters its phones; the answer is
    /// the only place the new password is shown.
    async fn rotate_sip_password(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ExtensionObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::ExtensionsCredentials)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: projections::ExtensionDoc = fetch(app, caller, projections::EXTENSIONS, id)?;
        let sip_password = new_sip_password();
        app.node
            .execute::<Extension>(
                id,
                ExtensionCommand::RotateSipPassword {
                    sip_password: sip_password.clone(),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        let mut rotated = ExtensionObject::build(
            app,
            fetch(app, caller, projections::EXTENSIONS, id)?,
            Utc::now(),
        )?;
        rotated.sip_password = Some(sip_password);
        Ok(rotated)
    }

    /// Edits an extension's settings (manual §2.4.1).
    async fn update_extension(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateExtensionInput,
    ) -> ApiResult<ExtensionObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::ExtensionsManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: projections::ExtensionDoc = fetch(app, caller, projections::EXTENSIONS, id)?;
        let mut accounts = BTreeSet::new();
        for account in input.sign_in_accounts.unwrap_or_default() {
            let account = parse_id("signInAccounts", &account)?;
            let found: Option<AccountDoc> = fetch(app, caller, projections::ACCOUNTS, account).ok();
            if found.is_none_or(|a| a.enterprise_id != doc.enterprise_id) {
                return Err(ApiError::validation(
                    "signInAccounts",
                    format!("no sub-account {account} in this enterprise"),
                ));
            }
            accounts.insert(account);
        }
        let others: Vec<projections::ExtensionDoc> = list(
            app,
            caller,
            projections::EXTENSIONS,
            Some(doc.enterprise_id),
        )?;
        let permitted_elsewhere = others
            .iter()
            .filter(|e| e.id != id)
            .flat_map(|e| e.settings.sign_in_accounts.iter().copied())
            .filter(|a| accounts.contains(a))
            .collect();
        let pop = input.screen_pop.unwrap_or(ScreenPopObject {
            mode: "none".into(),
            url: String::new(),
            timing: "RINGING".into(),
        });
        let timing = match pop.timing.as_str() {
            "RINGING" => PopTiming::Ringing,
            "ANSWERED" => PopTiming::Answered,
            _ => {
                return Err(ApiError::validation(
                    "screenPop.timing",
                    "must be RINGING or ANSWERED",
                ))
            }
        };
        let settings = ExtensionSettings {
            manual_outbound: input.manual_outbound,
            caller_id: input.caller_id.unwrap_or_default(),
            sign_in_accounts: accounts,
            bound_number: input.bound_number.unwrap_or_default(),
            forward_when_offline: input.forward_when_offline.unwrap_or(false),
            screen_pop: ScreenPop {
                mode: pop.mode,
                url: pop.url,
                timing,
            },
        };
        app.node
            .execute::<Extension>(
                id,
                ExtensionCommand::Update {
                    settings,
                    permitted_elsewhere,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        ExtensionObject::build(
            app,
            fetch(app, caller, projections::EXTENSIONS, id)?,
            Utc::now(),
        )
    }

    /// Deletes an extension; its phones are unregistered (platform operator).
    async fn delete_extension(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: projections::ExtensionDoc = fetch(app, caller, projections::EXTENSIONS, uuid)?;
        app.node
            .execute::<Extension>(
                uuid,
                ExtensionCommand::Delete { at: Utc::now() },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }
}
