//! Trunks, numbers and inbound routes through `/graphql`: the operator adds a trunk, assigns a
//! DID to an enterprise and creates its route to an extension; the enterprise edits the route
//! but cannot create, pause or delete it; a number in use and a trunk in use stay.

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, Backend, TestServer};

fn id(data: &Value, field: &str) -> String {
    data[field]["id"].as_str().unwrap_or_default().to_owned()
}

async fn operator_sets_up_a_did_the_enterprise_edits_its_route(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let op = server.operator().await?;
    let acme = id(
        &server
            .ok(Some(&op), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
            .await?,
        "createEnterprise",
    );
    let boss = server.login("acme", "boss", "boss-password").await?;
    let ext = id(
        &server
            .ok(
                Some(&op),
                "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1001\") { id } }",
                json!({ "e": acme }),
            )
            .await?,
        "createExtension",
    );
    let trunk = server
        .ok(Some(&op), "mutation { createTrunk(input: { name: \"Carrier A\", host: \"192.0.2.1\", transport: \"UDP\", password: \"secret-1\", allowedSources: [\"192.0.2.2\"] }) { id transport hasPassword } }", json!({}))
        .await?;
    ensure!(
        trunk["createTrunk"]["transport"] == "udp" && trunk["createTrunk"]["hasPassword"] == true
    );
    let trunk = id(&trunk, "createTrunk");
    let bad_trunk = server.gql(Some(&op), "mutation { createTrunk(input: { name: \"x\", host: \"192.0.2.1\", allowedSources: [\"nowhere\"] }) { id } }", json!({})).await?;
    ensure!(
        error_code(&bad_trunk) == "VALIDATION"
            && bad_trunk["errors"][0]["extensions"]["field"] == "allowedSources"
    );
    let number = server
        .ok(
            Some(&op),
            "mutation($e: ID!, $t: ID!) { assignNumber(number: \"021-6123-4567\", input: { enterpriseId: $e, trunkId: $t, callerId: true }) { id number national } }",
            json!({ "e": acme, "t": trunk }),
        )
        .await?;
    ensure!(
        number["assignNumber"]["number"] == "+862161234567"
            && number["assignNumber"]["national"] == "02161234567"
    );
    let number_id = id(&number, "assignNumber");
    let twice = server
        .gql(Some(&op), "mutation($e: ID!, $t: ID!) { assignNumber(number: \"+862161234567\", input: { enterpriseId: $e, trunkId: $t, callerId: false }) { id } }", json!({ "e": acme, "t": trunk }))
        .await?;
    ensure!(error_code(&twice) == "CONFLICT");
    let unassigned = server
        .gql(Some(&op), "mutation($e: ID!, $x: ID!) { createRoute(enterpriseId: $e, name: \"x\", entry: \"02169999999\", settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 1, priority: 1 }) { id } }", json!({ "e": acme, "x": ext }))
        .await?;
    ensure!(
        error_code(&unassigned) == "VALIDATION"
            && unassigned["errors"][0]["extensions"]["field"] == "entry"
    );
    let route = server
        .ok(
            Some(&op),
            "mutation($e: ID!, $x: ID!) { createRoute(enterpriseId: $e, name: \"总机\", entry: \"02161234567\", settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 10, priority: 5, remark: \"main line\" }) { id entry enabled destination { kind targetId } } }",
            json!({ "e": acme, "x": ext }),
        )
        .await?;
    ensure!(
        route["createRoute"]["entry"] == "+862161234567" && route["createRoute"]["enabled"] == true
    );
    ensure!(
        route["createRoute"]["destination"]["kind"] == "EXTENSION"
            && route["createRoute"]["destination"]["targetId"] == ext.as_str()
    );
    let route_id = id(&route, "createRoute");

    // The enterprise edits destination, limit, priority and remark.
    let edited = server
        .ok(
            Some(&boss),
            "mutation($r: ID!, $x: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 3, priority: 9, remark: \"night\" }) { maxConcurrent priority remark } }",
            json!({ "r": route_id, "x": ext }),
        )
        .await?;
    ensure!(
        edited["updateRoute"] == json!({ "maxConcurrent": 3, "priority": 9, "remark": "night" })
    );
    let ivr = server
        .gql(Some(&boss), "mutation($r: ID!, $x: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"IVR\", targetId: $x }, maxConcurrent: 3, priority: 9 }) { id } }", json!({ "r": route_id, "x": ext }))
        .await?;
    ensure!(error_code(&ivr) == "VALIDATION", "{ivr}");
    let over = server
        .gql(Some(&boss), "mutation($r: ID!, $x: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 0, priority: 9 }) { id } }", json!({ "r": route_id, "x": ext }))
        .await?;
    ensure!(
        error_code(&over) == "VALIDATION"
            && over["errors"][0]["extensions"]["field"] == "maxConcurrent"
    );
    // …but creating, pausing and deleting are the operator's.
    for mutation in [
        "mutation($r: ID!) { setRouteEnabled(id: $r, enabled: false) { id } }",
        "mutation($r: ID!) { deleteRoute(id: $r) }",
    ] {
        let refused = server
            .gql(Some(&boss), mutation, json!({ "r": route_id }))
            .await?;
        ensure!(error_code(&refused) == "FORBIDDEN", "{refused}");
    }
    let paused = server
        .ok(
            Some(&op),
            "mutation($r: ID!) { setRouteEnabled(id: $r, enabled: false) { enabled } }",
            json!({ "r": route_id }),
        )
        .await?;
    ensure!(paused["setRouteEnabled"]["enabled"] == false);
    let listed = server.ok(Some(&boss), "{ routes(filter: { enabled: false }) { totalCount edges { node { name } } } numbers { totalCount } }", json!({})).await?;
    ensure!(listed["routes"]["totalCount"] == 1 && listed["numbers"]["totalCount"] == 1);

    // In use: the number and the trunk stay.
    let in_use = server
        .gql(
            Some(&op),
            "mutation($n: ID!) { releaseNumber(id: $n) }",
            json!({ "n": number_id }),
        )
        .await?;
    ensure!(error_code(&in_use) == "CONFLICT", "{in_use}");
    let trunk_in_use = server
        .gql(
            Some(&op),
            "mutation($t: ID!) { deleteTrunk(id: $t) }",
            json!({ "t": trunk }),
        )
        .await?;
    ensure!(error_code(&trunk_in_use) == "CONFLICT");
    server
        .ok(
            Some(&op),
            "mutation($r: ID!) { deleteRoute(id: $r) }",
            json!({ "r": route_id }),
        )
        .await?;
    server
        .ok(
            Some(&op),
            "mutation($n: ID!) { releaseNumber(id: $n) }",
            json!({ "n": number_id }),
        )
        .await?;
    server
        .ok(
            Some(&op),
            "mutation($t: ID!) { deleteTrunk(id: $t) }",
            json!({ "t": trunk }),
        )
        .await?;
    // The trunk password never reaches the audit log.
    let audit = server
        .ok(
            Some(&op),
            "{ auditLog(first: 500) { edges { node { details } } } }",
            json!({}),
        )
        .await?;
    ensure!(
        !audit.to_string().contains("secret-1"),
        "a trunk password reached the audit log"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(operator_sets_up_a_did_the_enterprise_edits_its_route);
