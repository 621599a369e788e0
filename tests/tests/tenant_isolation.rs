//! Tenants never see each other: an admin of enterprise A, holding every enterprise
//! permission, walks every query, mutation and subscription with enterprise B's ids and gets
//! `NOT_FOUND` (or nothing of B), and the log is unchanged. The walk is checked against the
//! schema, so a new field without an isolation case fails this test.

use std::collections::BTreeSet;

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, Backend, TestServer};

struct Foreign {
    route: String,
    number: String,
    trunk: String,
    extension: String,
    enterprise: String,
    account: String,
    role: String,
    announcement: String,
    flow: String,
    voice: String,
    queue: String,
    file: String,
}

async fn enterprise(
    server: &TestServer,
    operator: &str,
    code: &str,
) -> anyhow::Result<(String, String)> {
    let data = server
        .ok(
            Some(operator),
            "mutation($i: CreateEnterpriseInput!) { createEnterprise(input: $i) { id } }",
            json!({ "i": { "code": code, "name": code, "adminAccount": "admin", "adminPassword": "admin-password" } }),
        )
        .await?;
    let id = data["createEnterprise"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((id, server.login(code, "admin", "admin-password").await?))
}

async fn seed_b(
    server: &TestServer,
    operator: &str,
    b_admin: &str,
    b_id: String,
) -> anyhow::Result<Foreign> {
    let role = server
        .ok(Some(b_admin), "mutation { createRole(input: { name: \"B role\", permissions: [\"queues.read\"] }) { id } }", json!({}))
        .await?["createRole"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let account = server
        .ok(
            Some(b_admin),
            "mutation { createSubAccount(input: { account: \"bob\", password: \"bob-password\", name: \"Bob\" }) { id } }",
            json!({}),
        )
        .await?["createSubAccount"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let announcement = server
        .ok(
            Some(b_admin),
            "mutation($t: ID!) { createAnnouncement(input: { title: \"B\", body: \"B only\", targets: [$t] }) { id } }",
            json!({ "t": account }),
        )
        .await?["createAnnouncement"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let extension = server
        .ok(
            Some(operator),
            "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"8001\") { id } }",
            json!({ "e": b_id }),
        )
        .await?["createExtension"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let trunk = server
        .ok(
            Some(operator),
            "mutation { createTrunk(input: { name: \"carrier\", host: \"192.0.2.1\" }) { id } }",
            json!({}),
        )
        .await?["createTrunk"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let number = server
        .ok(
            Some(operator),
            "mutation($e: ID!, $t: ID!) { assignNumber(number: \"02161234567\", input: { enterpriseId: $e, trunkId: $t, callerId: true }) { id } }",
            json!({ "e": b_id, "t": trunk }),
        )
        .await?["assignNumber"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let route = server
        .ok(
            Some(operator),
            "mutation($e: ID!, $x: ID!) { createRoute(enterpriseId: $e, name: \"B main\", entry: \"02161234567\", settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 5, priority: 1 }) { id } }",
            json!({ "e": b_id, "x": extension }),
        )
        .await?["createRoute"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let flow = server
        .ok(
            Some(b_admin),
            "mutation { createIvrFlow(name: \"B flow\") { id } }",
            json!({}),
        )
        .await?["createIvrFlow"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, uploaded) = server
        .upload_voice(b_admin, "B welcome", tests::tone_wav(8_000, 1, 0.5, 440.0))
        .await?;
    ensure!(status == 201, "upload: {status} {uploaded}");
    let voice = uploaded["voice"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let queue = server
        .ok(
            Some(b_admin),
            &format!("mutation {{ createQueue(settings: {QUEUE_SETTINGS}) {{ id }} }}"),
            json!({}),
        )
        .await?["createQueue"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, uploaded) = server
        .upload_file(
            b_admin,
            "B only.csv",
            "手机号\n13800138000\n".as_bytes().to_vec(),
        )
        .await?;
    ensure!(status == 201, "upload: {status} {uploaded}");
    let file = uploaded["file"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Foreign {
        file,
        flow,
        voice,
        queue,
        route,
        number,
        trunk,
        extension,
        enterprise: b_id,
        account,
        role,
        announcement,
    })
}

/// Queue settings as GraphQL input.
const QUEUE_SETTINGS: &str = "{ name: \"B queue\", maxWaiting: 5, promptIntervalSeconds: 0, rule: LONGEST_IDLE, webAutoAnswer: false, announceAgentNumber: false, excludedStates: [BREAK], queueTimeoutSeconds: 60, overflow: RELEASE, agentRingTimeoutSeconds: 20, maxMissedOffers: 3, screenPop: \"\" }";

/// (root field, operation, expected code or "" for "succeeds but shows nothing of B").
fn walk(b: &Foreign) -> Vec<(&'static str, String, &'static str)> {
    let e = &b.enterprise;
    let a = &b.account;
    let r = &b.role;
    let n = &b.announcement;
    let x = &b.extension;
    let (rt, nb, tk) = (&b.route, &b.number, &b.trunk);
    let (f, v, q) = (&b.flow, &b.voice, &b.queue);
    let file = &b.file;
    let month = "{ from: \"2026-01-01T00:00:00Z\", to: \"2026-01-31T00:00:00Z\" }";
    let definition = "{ entry: \"a\", variables: [], nodes: [{ key: \"a\", name: \"a\", number: \"\", type: HANGUP, hangup: { prompts: [] } }] }";
    vec![
        ("ivrFlows", format!("{{ ivrFlows(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("ivrFlows", "{ ivrFlows { edges { node { id name } } } }".into(), ""),
        ("ivrFlow", format!("{{ ivrFlow(id: \"{f}\") {{ id }} }}"), "NOT_FOUND"),
        ("createIvrFlow", format!("mutation {{ createIvrFlow(name: \"x\", enterpriseId: \"{e}\") {{ id }} }}"), "NOT_FOUND"),
        ("publishIvrFlow", format!("mutation {{ publishIvrFlow(id: \"{f}\", name: \"x\", definition: {definition}) {{ id }} }}"), "NOT_FOUND"),
        ("deleteIvrFlow", format!("mutation {{ deleteIvrFlow(id: \"{f}\") }}"), "NOT_FOUND"),
        ("queues", format!("{{ queues(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("queues", "{ queues { edges { node { id settings { name } memberIds } } } }".into(), ""),
        ("queue", format!("{{ queue(id: \"{q}\") {{ id }} }}"), "NOT_FOUND"),
        ("createQueue", format!("mutation {{ createQueue(enterpriseId: \"{e}\", settings: {QUEUE_SETTINGS}) {{ id }} }}"), "NOT_FOUND"),
        ("updateQueue", format!("mutation {{ updateQueue(id: \"{q}\", settings: {QUEUE_SETTINGS}) {{ id }} }}"), "NOT_FOUND"),
        ("setQueueMembers", format!("mutation {{ setQueueMembers(id: \"{q}\", extensionIds: [\"{x}\"]) {{ id }} }}"), "NOT_FOUND"),
        ("deleteQueue", format!("mutation {{ deleteQueue(id: \"{q}\") }}"), "NOT_FOUND"),
        ("myAgent", "{ myAgent { extensionId } }".into(), ""),
        ("queueBoard", format!("{{ queueBoard(queueIds: [\"{q}\"]) {{ name }} }}"), "NOT_FOUND"),
        ("queueReport", format!("{{ queueReport(filter: {{ ids: [\"{q}\"], granularity: DAY, time: {{ from: \"2026-01-01T00:00:00Z\", to: \"2026-01-31T00:00:00Z\" }} }}) {{ queueId offered }} }}"), ""),
        ("agentReport", format!("{{ agentReport(filter: {{ ids: [\"{x}\"], granularity: DAY, time: {{ from: \"2026-01-01T00:00:00Z\", to: \"2026-01-31T00:00:00Z\" }} }}) {{ extensionId calls }} }}"), ""),
        // Call controls act on the agent's own call only; A's admin is on none.
        ("hangUpCall", format!("mutation {{ hangUpCall(callId: \"{q}\") }}"), "CONFLICT"),
        ("holdCall", format!("mutation {{ holdCall(callId: \"{q}\") }}"), "CONFLICT"),
        ("resumeCall", format!("mutation {{ resumeCall(callId: \"{q}\") }}"), "CONFLICT"),
        ("transferCall", format!("mutation {{ transferCall(callId: \"{q}\", target: {{ kind: QUEUE, targetId: \"{q}\" }}) }}"), "CONFLICT"),
        ("forceHangUp", format!("mutation {{ forceHangUp(callId: \"{q}\") }}"), "NOT_FOUND"),
        ("takeOver", format!("mutation {{ takeOver(callId: \"{q}\") }}"), "NOT_FOUND"),
        ("monitorCall", format!("mutation {{ monitorCall(callId: \"{q}\", mode: LISTEN) }}"), "NOT_FOUND"),
        ("stopMonitoring", format!("mutation {{ stopMonitoring(callId: \"{q}\") }}"), "NOT_FOUND"),
        ("answerWaitingCall", format!("mutation {{ answerWaitingCall(callId: \"{q}\") }}"), "NOT_FOUND"),
        ("signIn", format!("mutation {{ signIn(extensionId: \"{x}\") {{ extensionId }} }}"), "NOT_FOUND"),
        ("signOut", "mutation { signOut }".into(), "CONFLICT"),
        ("endWrapUp", "mutation { endWrapUp { extensionId } }".into(), "CONFLICT"),
        ("dialOut", "mutation { dialOut(number: \"13800138000\") }".into(), "CONFLICT"),
        ("setWorkState", "mutation { setWorkState(state: BREAK) { extensionId } }".into(), "CONFLICT"),
        ("voices", format!("{{ voices(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("voices", "{ voices { edges { node { id name url } } } }".into(), ""),
        ("voice", format!("{{ voice(id: \"{v}\") {{ id }} }}"), "NOT_FOUND"),
        ("reviewVoice", format!("mutation {{ reviewVoice(id: \"{v}\", approve: true) {{ id }} }}"), "FORBIDDEN"),
        ("deleteVoice", format!("mutation {{ deleteVoice(id: \"{v}\") }}"), "NOT_FOUND"),
        (
            "voicemails",
            format!("{{ voicemails(filter: {{ enterpriseId: \"{e}\", time: {{ from: \"2026-01-01T00:00:00Z\", to: \"2026-01-31T00:00:00Z\" }} }}) {{ totalCount }} }}"),
            "NOT_FOUND",
        ),
        ("dataFiles", format!("{{ dataFiles(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("dataFiles", "{ dataFiles { edges { node { id name enterpriseId } } } }".into(), ""),
        ("dataFile", format!("{{ dataFile(id: \"{file}\") {{ id }} }}"), "NOT_FOUND"),
        ("importTargets", "{ importTargets { name } }".into(), ""),
        ("importPreview", format!("{{ importPreview(fileId: \"{file}\") {{ columns }} }}"), "NOT_FOUND"),
        ("startImport", format!("mutation {{ startImport(fileId: \"{file}\", target: \"check\", mapping: [{{ field: \"number\", column: 0 }}]) {{ id }} }}"), "NOT_FOUND"),
        ("deleteDataFile", format!("mutation {{ deleteDataFile(id: \"{file}\") }}"), "NOT_FOUND"),
        ("exportCallRecords", format!("mutation {{ exportCallRecords(filter: {{ kind: INBOUND, enterpriseId: \"{e}\", callTime: {month} }}) {{ id }} }}"), "NOT_FOUND"),
        ("packageRecordings", format!("mutation {{ packageRecordings(filter: {{ kind: INBOUND, enterpriseId: \"{e}\", callTime: {month} }}) {{ id }} }}"), "NOT_FOUND"),
        ("exportAuditLog", format!("mutation {{ exportAuditLog(time: {month}, enterpriseId: \"{e}\") {{ id }} }}"), "NOT_FOUND"),
        ("exportVoicemails", format!("mutation {{ exportVoicemails(time: {month}, enterpriseId: \"{e}\") {{ id }} }}"), "NOT_FOUND"),
        ("exportReport", format!("mutation {{ exportReport(report: QUEUES, time: {month}, enterpriseId: \"{e}\") {{ id }} }}"), "NOT_FOUND"),
        ("trunks", "{ trunks { totalCount } }".into(), "FORBIDDEN"),
        (
            "callRecords",
            format!("{{ callRecords(filter: {{ kind: INBOUND, enterpriseId: \"{e}\", callTime: {{ from: \"2026-01-01T00:00:00Z\", to: \"2026-01-31T00:00:00Z\" }} }}) {{ totalCount }} }}"),
            "NOT_FOUND",
        ),
        ("createTrunk", "mutation { createTrunk(input: { name: \"x\", host: \"192.0.2.9\" }) { id } }".into(), "FORBIDDEN"),
        ("updateTrunk", format!("mutation {{ updateTrunk(id: \"{tk}\", input: {{ name: \"x\", host: \"192.0.2.9\" }}) {{ id }} }}"), "FORBIDDEN"),
        ("deleteTrunk", format!("mutation {{ deleteTrunk(id: \"{tk}\") }}"), "FORBIDDEN"),
        ("numbers", format!("{{ numbers(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("numbers", "{ numbers { edges { node { id number } } } }".into(), ""),
        (
            "assignNumber",
            format!("mutation {{ assignNumber(number: \"13800138000\", input: {{ enterpriseId: \"{e}\", trunkId: \"{tk}\", callerId: true }}) {{ id }} }}"),
            "FORBIDDEN",
        ),
        (
            "reassignNumber",
            format!("mutation {{ reassignNumber(id: \"{nb}\", input: {{ enterpriseId: \"{e}\", trunkId: \"{tk}\", callerId: false }}) {{ id }} }}"),
            "FORBIDDEN",
        ),
        ("releaseNumber", format!("mutation {{ releaseNumber(id: \"{nb}\") }}"), "FORBIDDEN"),
        ("routes", format!("{{ routes(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("routes", "{ routes { edges { node { id entry } } } }".into(), ""),
        ("route", format!("{{ route(id: \"{rt}\") {{ id }} }}"), "NOT_FOUND"),
        (
            "updateRoute",
            format!("mutation {{ updateRoute(id: \"{rt}\", settings: {{ destination: {{ kind: \"EXTENSION\", targetId: \"{x}\" }}, maxConcurrent: 1, priority: 1 }}) {{ id }} }}"),
            "NOT_FOUND",
        ),
        (
            "createRoute",
            format!("mutation {{ createRoute(enterpriseId: \"{e}\", name: \"x\", entry: \"192.0.2.50\", settings: {{ destination: {{ kind: \"EXTENSION\", targetId: \"{x}\" }}, maxConcurrent: 1, priority: 1 }}) {{ id }} }}"),
            "FORBIDDEN",
        ),
        ("setRouteEnabled", format!("mutation {{ setRouteEnabled(id: \"{rt}\", enabled: false) {{ id }} }}"), "FORBIDDEN"),
        ("deleteRoute", format!("mutation {{ deleteRoute(id: \"{rt}\") }}"), "FORBIDDEN"),
        ("extension", format!("{{ extension(id: \"{x}\") {{ id }} }}"), "NOT_FOUND"),
        ("extensions", format!("{{ extensions(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("extensions", "{ extensions { edges { node { id sipPassword } } } }".into(), ""),
        ("updateExtension", format!("mutation {{ updateExtension(id: \"{x}\", input: {{ manualOutbound: true }}) {{ id }} }}"), "NOT_FOUND"),
        ("createExtension", format!("mutation {{ createExtension(enterpriseId: \"{e}\", number: \"9001\") {{ id }} }}"), "FORBIDDEN"),
        ("deleteExtension", format!("mutation {{ deleteExtension(id: \"{x}\") }}"), "FORBIDDEN"),
        ("rotateSipPassword", format!("mutation {{ rotateSipPassword(id: \"{x}\") {{ id sipPassword }} }}"), "NOT_FOUND"),
        ("enterprise", format!("{{ enterprise(id: \"{e}\") {{ id }} }}"), "NOT_FOUND"),
        ("enterprises", "{ enterprises { edges { node { id code } } } }".into(), ""),
        ("subAccount", format!("{{ subAccount(id: \"{a}\") {{ id }} }}"), "NOT_FOUND"),
        ("subAccounts", format!("{{ subAccounts(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("subAccounts", "{ subAccounts(first: 500) { edges { node { id enterpriseId } } } }".into(), ""),
        ("role", format!("{{ role(id: \"{r}\") {{ id }} }}"), "NOT_FOUND"),
        ("roles", format!("{{ roles(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("roles", "{ roles { edges { node { id enterpriseId } } } }".into(), ""),
        ("announcement", format!("{{ announcement(id: \"{n}\") {{ id }} }}"), "NOT_FOUND"),
        ("announcements", format!("{{ announcements(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("announcements", "{ announcements { edges { node { id enterpriseId } } } }".into(), ""),
        ("auditLog", format!("{{ auditLog(filter: {{ enterpriseId: \"{e}\" }}) {{ totalCount }} }}"), "NOT_FOUND"),
        ("auditLog", "{ auditLog(first: 500) { edges { node { streamId details } } } }".into(), ""),
        ("history", format!("{{ history(streamId: \"{a}\") {{ position }} }}"), "NOT_FOUND"),
        ("history", format!("{{ history(streamId: \"{e}\") {{ position }} }}"), "NOT_FOUND"),
        ("me", "{ me { account { id } enterprise { id } announcements { id } } }".into(), ""),
        ("permissionCatalogue", "{ permissionCatalogue { id } }".into(), ""),
        ("updateEnterprise", format!("mutation {{ updateEnterprise(id: \"{e}\", input: {{ name: \"x\" }}) {{ id }} }}"), "FORBIDDEN"),
        ("setEnterpriseEnabled", format!("mutation {{ setEnterpriseEnabled(id: \"{e}\", enabled: false) {{ id }} }}"), "FORBIDDEN"),
        (
            "createEnterprise",
            "mutation { createEnterprise(input: { code: \"beta\", name: \"x\", adminAccount: \"x\", adminPassword: \"xxxxxxxx\" }) { id } }".into(),
            "FORBIDDEN",
        ),
        (
            "createSubAccount",
            format!("mutation {{ createSubAccount(input: {{ enterpriseId: \"{e}\", account: \"eve\", password: \"eve-password\", name: \"Eve\" }}) {{ id }} }}"),
            "NOT_FOUND",
        ),
        (
            "createSubAccount",
            format!("mutation {{ createSubAccount(input: {{ account: \"eve\", password: \"eve-password\", name: \"Eve\", roleId: \"{r}\" }}) {{ id }} }}"),
            "VALIDATION",
        ),
        ("updateSubAccount", format!("mutation {{ updateSubAccount(id: \"{a}\", input: {{ name: \"x\" }}) {{ id }} }}"), "NOT_FOUND"),
        ("setSubAccountPermissions", format!("mutation {{ setSubAccountPermissions(id: \"{a}\", followRole: false, permissions: []) {{ id }} }}"), "NOT_FOUND"),
        ("resetSubAccountPassword", format!("mutation {{ resetSubAccountPassword(id: \"{a}\", password: \"hijacked-1\") {{ id }} }}"), "NOT_FOUND"),
        ("setSubAccountEnabled", format!("mutation {{ setSubAccountEnabled(id: \"{a}\", enabled: false) {{ id }} }}"), "NOT_FOUND"),
        ("deleteSubAccount", format!("mutation {{ deleteSubAccount(id: \"{a}\") }}"), "NOT_FOUND"),
        ("createRole", format!("mutation {{ createRole(input: {{ enterpriseId: \"{e}\", name: \"x\", permissions: [] }}) {{ id }} }}"), "NOT_FOUND"),
        ("updateRole", format!("mutation {{ updateRole(id: \"{r}\", input: {{ name: \"x\", permissions: [] }}) {{ id }} }}"), "NOT_FOUND"),
        ("deleteRole", format!("mutation {{ deleteRole(id: \"{r}\") }}"), "NOT_FOUND"),
        (
            "createAnnouncement",
            format!("mutation {{ createAnnouncement(input: {{ enterpriseId: \"{e}\", title: \"x\", body: \"x\", targets: [\"{a}\"] }}) {{ id }} }}"),
            "NOT_FOUND",
        ),
        ("createAnnouncement", format!("mutation {{ createAnnouncement(input: {{ title: \"x\", body: \"x\", targets: [\"{a}\"] }}) {{ id }} }}"), "VALIDATION"),
        (
            "updateAnnouncement",
            format!("mutation {{ updateAnnouncement(id: \"{n}\", input: {{ title: \"x\", body: \"x\", targets: [] }}) {{ id }} }}"),
            "NOT_FOUND",
        ),
        ("deleteAnnouncement", format!("mutation {{ deleteAnnouncement(id: \"{n}\") }}"), "NOT_FOUND"),
        // These take no id: they act on the caller only, or (login) on the credentials given.
        ("login", "mutation { login(enterprise: \"beta\", account: \"admin\", password: \"alpha-guess\") { token } }".into(), "UNAUTHENTICATED"),
        ("changeMyPassword", "mutation { changeMyPassword(oldPassword: \"wrong\", newPassword: \"whatever-1\") }".into(), "VALIDATION"),
    ]
}

/// Fields whose isolation is shown by other means (subscriptions below; logout ends the run).
const COVERED_ELSEWHERE: &[&str] = &["logout", "auditLog", "myAgentEvents", "dataFileJob"];

async fn a_tenant_never_reaches_another(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let (_, a_admin) = enterprise(&server, &operator, "alpha").await?;
    let (b_id, b_admin) = enterprise(&server, &operator, "beta").await?;
    let b = seed_b(&server, &operator, &b_admin, b_id).await?;
    let head = server.node.log.stored_head().await?;

    let cases = walk(&b);
    for (field, query, expected) in &cases {
        let response = server.gql(Some(&a_admin), query, json!({})).await?;
        if expected.is_empty() {
            ensure!(response.get("errors").is_none(), "{field}: {response}");
            let text = response.to_string();
            for id in [
                &b.enterprise,
                &b.account,
                &b.role,
                &b.announcement,
                &b.extension,
                &b.flow,
                &b.voice,
                &b.queue,
                &b.file,
            ] {
                ensure!(!text.contains(id.as_str()), "{field} revealed {id}: {text}");
            }
            ensure!(
                !text.contains("B only") && !text.contains("bob") && !text.contains("B flow"),
                "{field} revealed B's data: {text}"
            );
        } else {
            ensure!(
                error_code(&response) == *expected,
                "{field}: expected {expected}, got {response}"
            );
            ensure!(
                response["data"].is_null() || response["data"][*field].is_null(),
                "{field} returned data: {response}"
            );
        }
    }
    // Plain-HTTP downloads of B's files are not found either.
    for path in [
        format!("/voices/{}", b.voice),
        format!("/voicemails/{}", b.flow),
        format!("/files/{}", b.file),
    ] {
        let (status, _) = server.download(&a_admin, &path).await?;
        ensure!(status == 404, "{path}: {status}");
    }
    // The one write: the wrong password tried on B's admin is recorded as a failed login of
    // that account (what counts towards its lock); nothing else of B changed.
    let written = server.node.log.read_all(head, 100).await?;
    ensure!(
        written.len() == 1
            && written[0].event_type == "LoginFailed"
            && written[0].metadata.tenant_id.map(|t| t.to_string()) == Some(b.enterprise.clone()),
        "an attempt on another tenant changed the log: {written:?}"
    );

    // Every root field of the schema is walked.
    let schema = server
        .ok(Some(&a_admin), "{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }", json!({}))
        .await?;
    let mut fields = BTreeSet::new();
    for root in ["queryType", "mutationType", "subscriptionType"] {
        for f in schema["__schema"][root]["fields"]
            .as_array()
            .into_iter()
            .flatten()
        {
            fields.insert(f["name"].as_str().unwrap_or_default().to_owned());
        }
    }
    let walked: BTreeSet<String> = cases
        .iter()
        .map(|c| c.0.to_owned())
        .chain(COVERED_ELSEWHERE.iter().map(|s| (*s).to_owned()))
        .collect();
    let missing: Vec<_> = fields.difference(&walked).collect();
    ensure!(
        missing.is_empty(),
        "root fields without a tenant-isolation case: {missing:?}"
    );

    // Subscriptions: B's queue board is not found; B's agent signing in reaches no feed of A.
    let (mut socket, _) = tests::ws::connect(&server, &a_admin).await?;
    tests::ws::subscribe(
        &mut socket,
        "board",
        &format!(
            "subscription {{ queueBoard(queueIds: [\"{}\"]) {{ change }} }}",
            b.queue
        ),
    )
    .await?;
    let refused = tests::ws::next_json(&mut socket).await?;
    ensure!(
        refused["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{refused}"
    );
    tests::ws::subscribe(
        &mut socket,
        "file",
        &format!(
            "subscription {{ dataFileJob(id: \"{}\") {{ state }} }}",
            b.file
        ),
    )
    .await?;
    let refused = loop {
        let message = tests::ws::next_json(&mut socket).await?;
        if message["id"] == "file" {
            break message;
        }
    };
    let payload = &refused["payload"];
    ensure!(
        payload[0]["extensions"]["code"] == "NOT_FOUND"
            || payload["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{refused}"
    );
    tests::ws::subscribe(
        &mut socket,
        "me",
        "subscription { myAgentEvents { extensionId } }",
    )
    .await?;
    let bob_id = b.account.clone();
    server
        .ok(
            Some(&b_admin),
            "mutation($x: ID!, $a: ID!) { updateExtension(id: $x, input: { manualOutbound: false, signInAccounts: [$a] }) { id } }",
            json!({ "x": b.extension, "a": bob_id }),
        )
        .await?;
    server
        .ok(
            Some(&b_admin),
            "mutation($a: ID!) { setSubAccountPermissions(id: $a, followRole: false, permissions: [\"agent.workstation\"]) { id } }",
            json!({ "a": b.account }),
        )
        .await?;
    let bob = server.login("beta", "bob", "bob-password").await?;
    server
        .ok(
            Some(&bob),
            "mutation($x: ID!) { signIn(extensionId: $x) { extensionId } }",
            json!({ "x": b.extension }),
        )
        .await?;
    let listening = async {
        loop {
            let message = tests::ws::next_json(&mut socket).await?;
            if message["id"] == "me" {
                return Ok::<_, anyhow::Error>(message);
            }
        }
    };
    let heard = tokio::time::timeout(std::time::Duration::from_millis(1_000), listening).await;
    ensure!(heard.is_err(), "A's feed carried B's agent: {heard:?}");

    // B is intact.
    let b_view: Value = server
        .ok(
            Some(&b_admin),
            "{ subAccounts { totalCount } roles { totalCount } announcements { totalCount } }",
            json!({}),
        )
        .await?;
    ensure!(
        b_view["subAccounts"]["totalCount"] == 2
            && b_view["roles"]["totalCount"] == 1
            && b_view["announcements"]["totalCount"] == 1
    );
    server.login("beta", "bob", "bob-password").await?;
    server.stop().await;
    Ok(())
}

on_both_backends!(a_tenant_never_reaches_another);
