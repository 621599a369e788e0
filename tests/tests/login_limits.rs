//! What logging in costs an attacker: one login per request at most, a limit of attempts per
//! source address taken before any password is checked, attempts counted before they are
//! checked (parallel guesses included), a lock per account and source (the owner elsewhere
//! still logs in), and every wrong password of an existing account in its audit log.

use std::net::IpAddr;

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, Backend, GraphqlClient, TestDatabase, TestServer};

const LOGIN: &str = "mutation($e: String!, $a: String!, $p: String!) { login(enterprise: $e, account: $a, password: $p) { token } }";

async fn with_acme(server: &TestServer) -> anyhow::Result<String> {
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    server.login("acme", "boss", "boss-password").await
}

async fn attempt(client: &GraphqlClient, account: &str, password: &str) -> anyhow::Result<Value> {
    client
        .gql(
            None,
            LOGIN,
            json!({ "e": "acme", "a": account, "p": password }),
        )
        .await
}

fn other_source() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

async fn a_request_logs_in_once_at_most(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    with_acme(&server).await?;
    let many: String = (0..300)
        .map(|n| format!("l{n}: login(enterprise: \"acme\", account: \"nobody{n}\", password: \"x\") {{ token }} "))
        .collect();
    let started = std::time::Instant::now();
    let answer = server
        .gql(None, &format!("mutation {{ {many} }}"), json!({}))
        .await?;
    ensure!(error_code(&answer) == "VALIDATION", "{answer}");
    ensure!(
        answer["errors"][0]["extensions"]["field"] == "login",
        "{answer}"
    );
    ensure!(answer["data"].is_null(), "nothing ran: {answer}");
    // Refused before any password was checked.
    ensure!(started.elapsed() < std::time::Duration::from_secs(2));
    let fragments = "mutation { ...A ...B } fragment A on MutationRoot { a: login(enterprise: \"acme\", account: \"boss\", password: \"boss-password\") { token } } fragment B on MutationRoot { b: login(enterprise: \"acme\", account: \"boss\", password: \"boss-password\") { token } }";
    let answer = server.gql(None, fragments, json!({})).await?;
    ensure!(error_code(&answer) == "VALIDATION", "{answer}");
    // One login is fine.
    server.login("acme", "boss", "boss-password").await?;
    Ok(())
}

async fn a_source_has_a_number_of_login_attempts_per_minute(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let server = TestServer::start_configured(db, |c| c.login_attempts_per_minute = 5).await?;
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let client = server.graphql();
    // The operator's login and four guesses use up this address's five.
    for n in 0..4 {
        let answer = attempt(&client, &format!("nobody{n}"), "guess").await?;
        ensure!(error_code(&answer) == "UNAUTHENTICATED", "{answer}");
    }
    let refused = attempt(&client, "boss", "boss-password").await?;
    ensure!(error_code(&refused) == "RATE_LIMITED", "{refused}");
    // Another address has its own.
    let elsewhere = client.from_address(other_source())?;
    ensure!(
        attempt(&elsewhere, "boss", "boss-password").await?["data"]["login"]["token"].is_string()
    );
    Ok(())
}

async fn attempts_are_counted_before_they_are_checked(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    with_acme(&server).await?;
    let client = server.graphql();
    let guesses: Vec<_> = (0..20)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { attempt(&client, "boss", &format!("guess-{n}")).await })
        })
        .collect();
    let mut checked = 0;
    let mut limited = 0;
    for guess in guesses {
        let answer = guess.await??;
        match error_code(&answer).as_str() {
            "UNAUTHENTICATED" => checked += 1,
            "RATE_LIMITED" => limited += 1,
            other => anyhow::bail!("unexpected {other}: {answer}"),
        }
    }
    // max_failed_logins is 5 in tests: no more guesses than that were checked.
    ensure!(
        checked <= 5 && limited >= 15,
        "checked {checked}, limited {limited}"
    );
    let locked = attempt(&client, "boss", "boss-password").await?;
    ensure!(error_code(&locked) == "RATE_LIMITED", "{locked}");
    Ok(())
}

async fn a_lock_holds_for_the_source_that_earned_it(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    with_acme(&server).await?;
    let client = server.graphql();
    for n in 0..6 {
        attempt(&client, "boss", &format!("guess-{n}")).await?;
    }
    let locked = attempt(&client, "boss", "boss-password").await?;
    ensure!(error_code(&locked) == "RATE_LIMITED", "{locked}");
    let owner = client.from_address(other_source())?;
    let answer = attempt(&owner, "boss", "boss-password").await?;
    ensure!(answer["data"]["login"]["token"].is_string(), "{answer}");
    Ok(())
}

async fn a_wrong_password_is_in_the_audit_log_without_the_password(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let boss = with_acme(&server).await?;
    let client = server.graphql();
    let answer = attempt(&client, "boss", "secret-guess-77").await?;
    ensure!(error_code(&answer) == "UNAUTHENTICATED", "{answer}");
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = server
            .ok(
                Some(&boss),
                "{ auditLog(first: 50) { edges { node { eventType actorAccount details } } } }",
                json!({}),
            )
            .await?;
        if seen.to_string().contains("LoginFailed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failed: Vec<&Value> = seen["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["node"]["eventType"] == "LoginFailed")
        .collect();
    ensure!(failed.len() == 1, "{seen}");
    ensure!(
        failed[0]["node"]["details"]["source"] == "127.0.0.1",
        "{seen}"
    );
    ensure!(!seen.to_string().contains("secret-guess-77"), "{seen}");
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    ensure!(
        metrics.contains("callcore_login_failures_total 1"),
        "{metrics}"
    );
    Ok(())
}

on_both_backends!(
    a_request_logs_in_once_at_most,
    a_source_has_a_number_of_login_attempts_per_minute,
    attempts_are_counted_before_they_are_checked,
    a_lock_holds_for_the_source_that_earned_it,
    a_wrong_password_is_in_the_audit_log_without_the_password,
);
