//! Accounts and permissions end to end through `/graphql`, on both backends: the operator
//! creates an enterprise, its admin creates a role and a sub-account, the sub-account logs in,
//! sees its announcements, and is refused what it may not do; sessions end on logout, disable
//! and expiry; bad input is refused clearly and leaves the log unchanged.

use anyhow::ensure;
use serde_json::json;
use tests::{error_code, on_both_backends, Backend, TestServer};

const CREATE_ENTERPRISE: &str = "mutation($i: CreateEnterpriseInput!) { createEnterprise(input: $i) { id code name timeZone enabled } }";
const CREATE_ROLE: &str =
    "mutation($i: RoleInput!) { createRole(input: $i) { id name permissions accountsUsing } }";
const CREATE_ACCOUNT: &str =
    "mutation($i: CreateSubAccountInput!) { createSubAccount(input: $i) { id account name roleName followRole permissions enabled } }";

/// Enterprise `acme` with admin `boss`; returns the admin's token and the enterprise id.
async fn acme(server: &TestServer) -> anyhow::Result<(String, String)> {
    let operator = server.operator().await?;
    let data = server
        .ok(
            Some(&operator),
            CREATE_ENTERPRISE,
            json!({ "i": { "code": "acme", "name": "Acme 呼叫中心", "adminAccount": "boss", "adminPassword": "boss-password" } }),
        )
        .await?;
    ensure!(data["createEnterprise"]["timeZone"] == "Asia/Shanghai");
    let id = data["createEnterprise"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((server.login("acme", "boss", "boss-password").await?, id))
}

async fn operator_enterprise_role_sub_account_and_login(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let role = server
        .ok(
            Some(&boss),
            CREATE_ROLE,
            json!({ "i": { "name": "坐席", "permissions": ["agent.workstation", "roles.read"] } }),
        )
        .await?;
    let role_id = role["createRole"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let account = server
        .ok(
            Some(&boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "agent1", "password": "agent-password", "name": "张三", "agentNumber": "1001", "roleId": role_id, "followRole": true } }),
        )
        .await?;
    ensure!(account["createSubAccount"]["roleName"] == "坐席");
    ensure!(
        account["createSubAccount"]["permissions"] == json!(["roles.read", "agent.workstation"])
    );
    let agent = server.login("acme", "agent1", "agent-password").await?;
    let me = server
        .ok(
            Some(&agent),
            "{ me { account { account name } enterprise { code name } } }",
            json!({}),
        )
        .await?;
    ensure!(me["me"]["account"]["name"] == "张三" && me["me"]["enterprise"]["code"] == "acme");
    // Permissions follow the role: editing the role changes what the agent may do.
    let refused = server
        .gql(Some(&agent), "{ subAccounts { totalCount } }", json!({}))
        .await?;
    ensure!(
        error_code(&refused) == "FORBIDDEN",
        "expected FORBIDDEN, got {refused}"
    );
    ensure!(refused["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("sub_accounts.read"));
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!, $i: RoleInput!) { updateRole(id: $id, input: $i) { id } }",
            json!({ "id": role_id, "i": { "name": "坐席", "permissions": ["agent.workstation", "sub_accounts.read"] } }),
        )
        .await?;
    let allowed = server.ok(Some(&agent), "{ subAccounts(filter: { account: \"agent\" }) { totalCount edges { node { account } } } }", json!({})).await?;
    ensure!(allowed["subAccounts"]["totalCount"] == 1);
    // A role in use cannot be deleted.
    let in_use = server
        .gql(
            Some(&boss),
            "mutation($id: ID!) { deleteRole(id: $id) }",
            json!({ "id": role_id }),
        )
        .await?;
    ensure!(error_code(&in_use) == "CONFLICT", "{in_use}");
    // Platform permissions are not for enterprises.
    let platform = server
        .gql(
            Some(&boss),
            CREATE_ROLE,
            json!({ "i": { "name": "x", "permissions": ["platform.trunks"] } }),
        )
        .await?;
    ensure!(error_code(&platform) == "VALIDATION", "{platform}");
    // The operator's enterprise mutations are not for enterprise admins.
    let forbidden = server
        .gql(Some(&boss), CREATE_ENTERPRISE, json!({ "i": { "code": "x", "name": "x", "adminAccount": "a", "adminPassword": "aaaaaaaa" } }))
        .await?;
    ensure!(error_code(&forbidden) == "FORBIDDEN");
    server.stop().await;
    Ok(())
}

async fn sub_account_edit_disable_and_delete(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let created = server
        .ok(Some(&boss), CREATE_ACCOUNT, json!({ "i": { "account": "li", "password": "li-password", "name": "李四", "permissions": ["queues.read"] } }))
        .await?;
    let id = created["createSubAccount"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let duplicate = server
        .gql(
            Some(&boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "LI", "password": "li-password", "name": "x" } }),
        )
        .await?;
    ensure!(error_code(&duplicate) == "CONFLICT", "{duplicate}");
    let updated = server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { updateSubAccount(id: $id, input: { name: \"李四四\", agentNumber: \"2002\" }) { account name } }",
            json!({ "id": id }),
        )
        .await?;
    ensure!(
        updated["updateSubAccount"]["account"] == "li"
            && updated["updateSubAccount"]["name"] == "李四四"
    );
    let token = server.login("acme", "li", "li-password").await?;
    server
        .ok(Some(&token), "{ me { account { account } } }", json!({}))
        .await?;
    // Disabling ends the session at once and blocks new logins.
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { setSubAccountEnabled(id: $id, enabled: false) { enabled } }",
            json!({ "id": id }),
        )
        .await?;
    let revoked = server
        .gql(Some(&token), "{ me { account { account } } }", json!({}))
        .await?;
    ensure!(error_code(&revoked) == "UNAUTHENTICATED", "{revoked}");
    let disabled = server
        .gql(None, "mutation { login(enterprise: \"acme\", account: \"li\", password: \"li-password\") { token } }", json!({}))
        .await?;
    ensure!(error_code(&disabled) == "UNAUTHENTICATED");
    ensure!(disabled["errors"][0]["message"] == "the sub-account is disabled");
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { setSubAccountEnabled(id: $id, enabled: true) { enabled } }",
            json!({ "id": id }),
        )
        .await?;
    // Enabling an enabled account decides nothing and is still a success.
    let head = server.node.log.stored_head().await?;
    let again = server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { setSubAccountEnabled(id: $id, enabled: true) { enabled } }",
            json!({ "id": id }),
        )
        .await?;
    ensure!(
        again["setSubAccountEnabled"]["enabled"] == true
            && server.node.log.stored_head().await? == head
    );
    server.login("acme", "li", "li-password").await?;
    // Filter by enabled state and name.
    let listed = server
        .ok(
            Some(&boss),
            "{ subAccounts(filter: { enabled: true, name: \"李\" }) { totalCount } }",
            json!({}),
        )
        .await?;
    ensure!(listed["subAccounts"]["totalCount"] == 1);
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { deleteSubAccount(id: $id) }",
            json!({ "id": id }),
        )
        .await?;
    let gone = server
        .gql(
            Some(&boss),
            "query($id: ID!) { subAccount(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await?;
    ensure!(error_code(&gone) == "NOT_FOUND");
    let login = server.gql(None, "mutation { login(enterprise: \"acme\", account: \"li\", password: \"li-password\") { token } }", json!({})).await?;
    ensure!(error_code(&login) == "UNAUTHENTICATED");
    server.stop().await;
    Ok(())
}

async fn announcements_reach_their_targets_at_login(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let mut ids = Vec::new();
    for name in ["wang", "zhao"] {
        let data = server
            .ok(
                Some(&boss),
                CREATE_ACCOUNT,
                json!({ "i": { "account": name, "password": "password-1", "name": name } }),
            )
            .await?;
        ids.push(
            data["createSubAccount"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    server
        .ok(
            Some(&boss),
            "mutation($i: AnnouncementInput!) { createAnnouncement(input: $i) { id } }",
            json!({ "i": { "title": "放假通知", "body": "十一放假", "targets": [ids[0]] } }),
        )
        .await?;
    let login = server
        .ok(None, "mutation { login(enterprise: \"acme\", account: \"wang\", password: \"password-1\") { me { announcements { title body } } } }", json!({}))
        .await?;
    ensure!(
        login["login"]["me"]["announcements"]
            == json!([{ "title": "放假通知", "body": "十一放假" }])
    );
    let other = server
        .ok(None, "mutation { login(enterprise: \"acme\", account: \"zhao\", password: \"password-1\") { me { announcements { title } } } }", json!({}))
        .await?;
    ensure!(other["login"]["me"]["announcements"] == json!([]));
    let no_target = server
        .gql(
            Some(&boss),
            "mutation($i: AnnouncementInput!) { createAnnouncement(input: $i) { id } }",
            json!({ "i": { "title": "t", "body": "b", "targets": [] } }),
        )
        .await?;
    ensure!(
        error_code(&no_target) == "VALIDATION"
            && no_target["errors"][0]["extensions"]["field"] == "targets"
    );
    server.stop().await;
    Ok(())
}

async fn audit_log_filters_by_account_and_time(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let before = chrono::Utc::now();
    server
        .ok(
            Some(&boss),
            CREATE_ROLE,
            json!({ "i": { "name": "班长", "permissions": ["supervisor.monitor"] } }),
        )
        .await?;
    let by_boss = server
        .ok(
            Some(&boss),
            "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount edges { node { eventType actorAccount details } } } }",
            json!({ "f": { "account": "boss", "at": { "from": before.to_rfc3339() } } }),
        )
        .await?;
    ensure!(by_boss["auditLog"]["totalCount"] == 1, "{by_boss}");
    ensure!(by_boss["auditLog"]["edges"][0]["node"]["eventType"] == "RoleCreated");
    ensure!(by_boss["auditLog"]["edges"][0]["node"]["details"]["name"] == "班长");
    // Secrets never reach the audit log.
    let all = server
        .ok(
            Some(&boss),
            "{ auditLog(first: 500) { edges { node { details } } } }",
            json!({}),
        )
        .await?;
    ensure!(!all.to_string().contains("argon2") && !all.to_string().contains("token_hash"));
    server.stop().await;
    Ok(())
}

async fn bad_input_is_refused_clearly_and_changes_nothing(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let before_wrong = server.node.log.stored_head().await?;
    let login = "mutation($e: String!, $a: String!, $p: String!) { login(enterprise: $e, account: $a, password: $p) { token } }";
    let wrong = server
        .gql(
            None,
            login,
            json!({ "e": "acme", "a": "boss", "p": "nope" }),
        )
        .await?;
    ensure!(
        error_code(&wrong) == "UNAUTHENTICATED"
            && wrong["errors"][0]["message"] == "wrong sub-account or password"
    );
    // A wrong password is kept for the admin to see (LoginFailed, no password), and nothing
    // else is written from here on.
    let head = server.node.log.stored_head().await?;
    let noted = server
        .node
        .log
        .read_stream(domain::ids::account_id(
            domain::ids::enterprise_id("acme"),
            "boss",
        ))
        .await?;
    ensure!(
        head == before_wrong + 1
            && noted
                .last()
                .is_some_and(|e| e.event_type == "LoginFailed" && !e.payload.contains("nope")),
        "{noted:?}"
    );
    let unknown = server
        .gql(
            None,
            login,
            json!({ "e": "nosuch", "a": "boss", "p": "nope" }),
        )
        .await?;
    ensure!(
        error_code(&unknown) == "UNAUTHENTICATED"
            && unknown["errors"][0]["message"] == "unknown enterprise account 'nosuch'"
    );
    let garbage = server
        .gql(
            Some("cc1.not-a-uuid.x"),
            "{ me { account { id } } }",
            json!({}),
        )
        .await?;
    ensure!(error_code(&garbage) == "UNAUTHENTICATED");
    let malformed = server
        .gql(Some(&boss), "{ me { account { ", json!({}))
        .await?;
    ensure!(
        malformed["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expected")),
        "{malformed}"
    );
    let unknown_field = server
        .gql(Some(&boss), "{ nosuchfield }", json!({}))
        .await?;
    ensure!(unknown_field["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("nosuchfield")));
    let bad_id = server
        .gql(Some(&boss), "{ role(id: \"zzz\") { id } }", json!({}))
        .await?;
    ensure!(error_code(&bad_id) == "VALIDATION");
    let short = server
        .gql(
            Some(&boss),
            CREATE_ACCOUNT,
            json!({ "i": { "account": "x", "password": "short", "name": "x" } }),
        )
        .await?;
    ensure!(
        error_code(&short) == "VALIDATION"
            && short["errors"][0]["extensions"]["field"] == "password"
    );
    // An oversized body is refused from its Content-Length, before it is read: send only the
    // headers and read the answer (a client still writing 2 MiB could miss it).
    let oversized = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: callcore\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n")
            .await?;
        let mut answer = vec![0u8; 1024];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
            .await??;
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    ensure!(
        oversized.starts_with("HTTP/1.1 413"),
        "oversized request got {oversized}"
    );
    ensure!(
        server.node.log.stored_head().await? == head,
        "bad input changed the log"
    );
    // Still serving.
    server
        .ok(Some(&boss), "{ me { account { account } } }", json!({}))
        .await?;
    let health = reqwest::get(server.url("/healthz")).await?.text().await?;
    ensure!(health.contains("\"status\":\"ok\""));
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    ensure!(
        metrics.contains("callcore_login_failures_total 2")
            && metrics.contains("callcore_errors_total{code=\"UNAUTHENTICATED\"}"),
        "{metrics}"
    );
    server.stop().await;
    Ok(())
}

async fn repeated_failures_lock_the_sub_account(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    acme(&server).await?;
    let login = "mutation($p: String!) { login(enterprise: \"acme\", account: \"boss\", password: $p) { token } }";
    for _ in 0..5 {
        let wrong = server
            .gql(None, login, json!({ "p": "wrong-password" }))
            .await?;
        ensure!(error_code(&wrong) == "UNAUTHENTICATED");
    }
    let locked = server
        .gql(None, login, json!({ "p": "boss-password" }))
        .await?;
    ensure!(error_code(&locked) == "RATE_LIMITED", "{locked}");
    server.stop().await;
    Ok(())
}

async fn sessions_end_on_logout_and_expiry(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let now = chrono::Utc::now();
    ensure!(server
        .api()
        .auth
        .authenticate(&server.node.models, &boss, now)
        .is_ok());
    let later = now + chrono::Duration::hours(13);
    let expired = server
        .api()
        .auth
        .authenticate(&server.node.models, &boss, later);
    ensure!(
        matches!(&expired, Err(e) if e.code() == "UNAUTHENTICATED" && e.message().contains("expired")),
        "{expired:?}"
    );
    server
        .ok(Some(&boss), "mutation { logout }", json!({}))
        .await?;
    let after = server
        .gql(Some(&boss), "{ me { account { id } } }", json!({}))
        .await?;
    ensure!(error_code(&after) == "UNAUTHENTICATED");
    // A restart keeps sessions: they are events.
    let token = server.login("acme", "boss", "boss-password").await?;
    let db = server.stop().await;
    let server = TestServer::start_on(db).await?;
    server
        .ok(Some(&token), "{ me { account { account } } }", json!({}))
        .await?;
    server.stop().await;
    Ok(())
}

async fn change_my_password_and_reset(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, _) = acme(&server).await?;
    let wrong = server
        .gql(
            Some(&boss),
            "mutation { changeMyPassword(oldPassword: \"x\", newPassword: \"new-password\") }",
            json!({}),
        )
        .await?;
    ensure!(
        error_code(&wrong) == "VALIDATION"
            && wrong["errors"][0]["extensions"]["field"] == "oldPassword"
    );
    server.ok(Some(&boss), "mutation { changeMyPassword(oldPassword: \"boss-password\", newPassword: \"new-password\") }", json!({})).await?;
    let old_session = server
        .gql(Some(&boss), "{ me { account { id } } }", json!({}))
        .await?;
    ensure!(
        error_code(&old_session) == "UNAUTHENTICATED",
        "a password change ends sessions"
    );
    server.login("acme", "boss", "new-password").await?;
    server.stop().await;
    Ok(())
}

async fn operator_disables_an_enterprise(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, id) = acme(&server).await?;
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation($id: ID!) { setEnterpriseEnabled(id: $id, enabled: false) { enabled } }",
            json!({ "id": id }),
        )
        .await?;
    let blocked = server
        .gql(Some(&boss), "{ me { account { id } } }", json!({}))
        .await?;
    ensure!(error_code(&blocked) == "UNAUTHENTICATED");
    let login = server.gql(None, "mutation { login(enterprise: \"acme\", account: \"boss\", password: \"boss-password\") { token } }", json!({})).await?;
    ensure!(login["errors"][0]["message"] == "the enterprise is disabled");
    let list = server
        .ok(
            Some(&operator),
            "{ enterprises(filter: { enabled: false }) { totalCount edges { node { code } } } }",
            json!({}),
        )
        .await?;
    ensure!(list["enterprises"]["edges"][0]["node"]["code"] == "acme");
    let platform = server
        .ok(
            Some(&operator),
            "{ enterprises(filter: { code: \"platform\" }) { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    let platform_id = platform["enterprises"]["edges"][0]["node"]["id"].clone();
    let protected = server
        .gql(
            Some(&operator),
            "mutation($id: ID!) { setEnterpriseEnabled(id: $id, enabled: false) { enabled } }",
            json!({ "id": platform_id }),
        )
        .await?;
    ensure!(error_code(&protected) == "CONFLICT");
    server.stop().await;
    Ok(())
}

on_both_backends!(
    operator_enterprise_role_sub_account_and_login,
    sub_account_edit_disable_and_delete,
    announcements_reach_their_targets_at_login,
    audit_log_filters_by_account_and_time,
    bad_input_is_refused_clearly_and_changes_nothing,
    repeated_failures_lock_the_sub_account,
    sessions_end_on_logout_and_expiry,
    change_my_password_and_reset,
    operator_disables_an_enterprise,
);
