//! Who may change whom: nobody grants a permission it does not hold, nobody changes its own
//! permissions or role, an account is reset, disabled, deleted or re-permissioned only by one
//! holding all of its permissions, and the enterprise's first admin and the platform operator
//! answer only to themselves and the operator. Each refusal is FORBIDDEN and changes nothing.

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, Backend, TestServer, ADMIN_PASSWORD};

const CREATE_ACCOUNT: &str =
    "mutation($i: CreateSubAccountInput!) { createSubAccount(input: $i) { id permissions } }";
const SET_PERMISSIONS: &str = "mutation($id: ID!, $p: [String!]) { setSubAccountPermissions(id: $id, followRole: false, permissions: $p) { permissions } }";
const RESET: &str =
    "mutation($id: ID!) { resetSubAccountPassword(id: $id, password: \"taken-over-1\") { id } }";
const DISABLE: &str =
    "mutation($id: ID!) { setSubAccountEnabled(id: $id, enabled: false) { enabled } }";
const DELETE: &str = "mutation($id: ID!) { deleteSubAccount(id: $id) }";
const MY_PERMISSIONS: &str = "{ me { account { id permissions } } }";

/// An enterprise `acme` whose first admin `boss` made `manager`, holding only
/// `sub_accounts.manage`. Returns the boss's and the manager's tokens and ids.
struct Acme {
    boss: String,
    boss_id: String,
    manager: String,
    manager_id: String,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

async fn acme(server: &TestServer) -> anyhow::Result<Acme> {
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let boss_id =
        text(&server.ok(Some(&boss), MY_PERMISSIONS, json!({})).await?["me"]["account"]["id"]);
    let manager = server
        .ok(
            Some(&boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "manager", "password": "manager-password", "name": "经理", "permissions": ["sub_accounts.manage"] } }),
        )
        .await?;
    let manager_id = text(&manager["createSubAccount"]["id"]);
    let manager = server.login("acme", "manager", "manager-password").await?;
    Ok(Acme {
        boss,
        boss_id,
        manager,
        manager_id,
    })
}

async fn forbidden(
    server: &TestServer,
    token: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<()> {
    let answer = server.gql(Some(token), query, variables).await?;
    ensure!(error_code(&answer) == "FORBIDDEN", "{answer}");
    Ok(())
}

async fn nobody_changes_its_own_permissions(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let acme = acme(&server).await?;
    let everything: Vec<String> = domain::Permission::enterprise_all()
        .iter()
        .map(|p| p.id().to_owned())
        .collect();
    forbidden(
        &server,
        &acme.manager,
        SET_PERMISSIONS,
        json!({ "id": acme.manager_id, "p": everything }),
    )
    .await?;
    let me = server
        .ok(Some(&acme.manager), MY_PERMISSIONS, json!({}))
        .await?;
    ensure!(
        me["me"]["account"]["permissions"] == json!(["sub_accounts.manage"]),
        "{me}"
    );
    Ok(())
}

async fn nobody_grants_a_permission_it_does_not_hold(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let acme = acme(&server).await?;
    forbidden(
        &server,
        &acme.manager,
        CREATE_ACCOUNT,
        json!({ "i": { "account": "agent1", "password": "agent-password", "name": "坐席", "permissions": ["routes.read"] } }),
    )
    .await?;
    let agent = server
        .ok(
            Some(&acme.manager),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "agent2", "password": "agent-password", "name": "坐席", "permissions": [] } }),
        )
        .await?;
    let agent_id = text(&agent["createSubAccount"]["id"]);
    forbidden(
        &server,
        &acme.manager,
        SET_PERMISSIONS,
        json!({ "id": agent_id, "p": ["audit_log.read"] }),
    )
    .await?;
    // Nor through a role: holding a role's permissions is what giving it takes.
    let role = server
        .ok(
            Some(&acme.boss),
            "mutation { createRole(input: { name: \"审计\", permissions: [\"audit_log.read\"] }) { id } }",
            json!({}),
        )
        .await?;
    let role_id = text(&role["createRole"]["id"]);
    forbidden(
        &server,
        &acme.manager,
        CREATE_ACCOUNT,
        json!({ "i": { "account": "agent3", "password": "agent-password", "name": "坐席", "roleId": role_id, "followRole": true } }),
    )
    .await?;
    forbidden(
        &server,
        &acme.manager,
        "mutation($id: ID!, $r: ID) { updateSubAccount(id: $id, input: { name: \"坐席\", roleId: $r }) { id } }",
        json!({ "id": agent_id, "r": role_id }),
    )
    .await?;
    // A role holds only what its maker holds.
    let roles_only = server
        .ok(
            Some(&acme.boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "roles", "password": "roles-password", "name": "角色", "permissions": ["roles.manage"] } }),
        )
        .await?;
    ensure!(roles_only["createSubAccount"]["permissions"] == json!(["roles.manage"]));
    let roles_only = server.login("acme", "roles", "roles-password").await?;
    forbidden(
        &server,
        &roles_only,
        "mutation { createRole(input: { name: \"提权\", permissions: [\"sub_accounts.manage\"] }) { id } }",
        json!({}),
    )
    .await?;
    let agent = server
        .ok(
            Some(&acme.boss),
            "query($id: ID!) { subAccount(id: $id) { permissions roleName } }",
            json!({ "id": agent_id }),
        )
        .await?;
    ensure!(agent["subAccount"]["permissions"] == json!([]), "{agent}");
    Ok(())
}

async fn an_account_is_changed_only_by_one_holding_all_it_holds(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let acme = acme(&server).await?;
    for mutation in [RESET, DISABLE, DELETE] {
        forbidden(
            &server,
            &acme.manager,
            mutation,
            json!({ "id": acme.boss_id }),
        )
        .await?;
    }
    // The boss still logs in with its own password, and is enabled.
    server.login("acme", "boss", "boss-password").await?;
    let staff = server
        .ok(
            Some(&acme.boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "staff", "password": "staff-password", "name": "职员", "permissions": ["sub_accounts.manage", "routes.read"] } }),
        )
        .await?;
    let staff_id = text(&staff["createSubAccount"]["id"]);
    forbidden(&server, &acme.manager, RESET, json!({ "id": staff_id })).await?;
    // Someone holding all it holds may.
    server
        .ok(Some(&acme.boss), RESET, json!({ "id": staff_id }))
        .await?;
    server.login("acme", "staff", "taken-over-1").await?;
    Ok(())
}

async fn the_first_admin_and_the_operator_answer_to_themselves_or_the_operator(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let acme = acme(&server).await?;
    let everything: Vec<String> = domain::Permission::enterprise_all()
        .iter()
        .map(|p| p.id().to_owned())
        .collect();
    server
        .ok(
            Some(&acme.boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "deputy", "password": "deputy-password", "name": "副手", "permissions": everything } }),
        )
        .await?;
    let deputy = server.login("acme", "deputy", "deputy-password").await?;
    for mutation in [RESET, DISABLE, DELETE] {
        forbidden(&server, &deputy, mutation, json!({ "id": acme.boss_id })).await?;
    }
    forbidden(
        &server,
        &deputy,
        SET_PERMISSIONS,
        json!({ "id": acme.boss_id, "p": [] }),
    )
    .await?;
    server.login("acme", "boss", "boss-password").await?;
    // The operator may; the admin may change its own password.
    let operator = server.operator().await?;
    server
        .ok(Some(&operator), RESET, json!({ "id": acme.boss_id }))
        .await?;
    let boss = server.login("acme", "boss", "taken-over-1").await?;
    server
        .ok(
            Some(&boss),
            "mutation { changeMyPassword(oldPassword: \"taken-over-1\", newPassword: \"boss-password-2\") }",
            json!({}),
        )
        .await?;
    server.login("acme", "boss", "boss-password-2").await?;
    // A platform sub-account managing sub-accounts does not get the operator's account.
    let ops = server
        .ok(
            Some(&operator),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "ops", "password": "ops-password-1", "name": "运维", "permissions": ["sub_accounts.manage"] } }),
        )
        .await?;
    ensure!(ops["createSubAccount"]["id"].is_string(), "{ops}");
    let ops = server.login("platform", "ops", "ops-password-1").await?;
    let operator_id = text(
        &server
            .ok(Some(&operator), MY_PERMISSIONS, json!({}))
            .await?["me"]["account"]["id"],
    );
    forbidden(&server, &ops, RESET, json!({ "id": operator_id })).await?;
    server.login("platform", "admin", ADMIN_PASSWORD).await?;
    Ok(())
}

on_both_backends!(
    nobody_changes_its_own_permissions,
    nobody_grants_a_permission_it_does_not_hold,
    an_account_is_changed_only_by_one_holding_all_it_holds,
    the_first_admin_and_the_operator_answer_to_themselves_or_the_operator,
);
