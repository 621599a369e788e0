//! The voice library and IVR flows through the API: uploads are checked and converted, bad ones
//! refused with a message and nothing kept; only approved recordings can be played; a broken
//! flow is refused naming its node; recordings and flows in use cannot be deleted.

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, tone_wav, Backend, TestServer};

struct Fixture {
    server: TestServer,
    operator: String,
    boss: String,
    enterprise: String,
}

async fn fixture(backend: Backend) -> anyhow::Result<Fixture> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let created = server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let enterprise = created["createEnterprise"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let boss = server.login("acme", "boss", "boss-password").await?;
    Ok(Fixture {
        server,
        operator,
        boss,
        enterprise,
    })
}

/// Announces an upload of `length` bytes with `Expect: 100-continue` and returns the answer
/// (the body is never sent).
async fn declared_upload(
    server: &TestServer,
    token: &str,
    length: usize,
) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
    let head = format!(
        "POST /voices HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if String::from_utf8_lossy(&answer).contains("}}") {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn uploads_are_checked_and_bad_ones_leave_nothing(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        operator,
        boss,
        ..
    } = fixture(backend).await?;
    // A CD-quality stereo file is kept as 8 kHz mono, pending review.
    let (status, answer) = server
        .upload_voice(&boss, "欢迎语", tone_wav(44_100, 2, 1.0, 440.0))
        .await?;
    ensure!(status == 201, "{status} {answer}");
    let voice = &answer["voice"];
    ensure!(
        voice["status"] == "PENDING" && voice["durationMs"] == 1_000,
        "{answer}"
    );
    let id = voice["id"].as_str().unwrap_or_default().to_owned();
    let (status, bytes) = server.download(&boss, &format!("/voices/{id}")).await?;
    ensure!(status == 200, "{status}");
    let kept = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    ensure!(
        kept.spec().sample_rate == 8_000 && kept.spec().channels == 1 && kept.duration() == 8_000,
        "{:?} {}",
        kept.spec(),
        kept.duration()
    );

    let head = server.node.log.stored_head().await?;
    let voices_dir = server.data_dir().join("voices");
    let files = files_under(&voices_dir);
    // Not a WAV, too large, a duplicate name, no name: refused with a message.
    let (status, answer) = server
        .upload_voice(&boss, "hold music", b"ID3\x03 an mp3 pretending".to_vec())
        .await?;
    ensure!(
        status == 422
            && answer["error"]["code"] == "VALIDATION"
            && answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("file") && m.contains("not a valid WAV file")),
        "{status} {answer}"
    );
    // A body declared too large is answered before it is sent (curl's `Expect: 100-continue`).
    let answer = declared_upload(&server, &boss, 51 * 1024 * 1024).await?;
    ensure!(
        answer.starts_with("HTTP/1.1 422")
            && answer.contains("the upload is larger than 50 MiB")
            && !answer.contains("100 Continue"),
        "{answer}"
    );
    let (status, answer) = server
        .upload_voice(&boss, " 欢迎语 ", tone_wav(8_000, 1, 0.2, 440.0))
        .await?;
    ensure!(
        status == 422
            && answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("name") && m.contains("already exists")),
        "{status} {answer}"
    );
    let (status, answer) = server
        .upload_voice(&boss, "", tone_wav(8_000, 1, 0.2, 440.0))
        .await?;
    ensure!(status == 422, "{status} {answer}");
    ensure!(
        server.node.log.stored_head().await? == head,
        "a refused upload changed the log"
    );
    ensure!(
        files_under(&voices_dir) == files,
        "a refused upload left a file"
    );

    // Only the operator reviews; the library lists the decision.
    let review = server
        .gql(
            Some(&boss),
            "mutation($v: ID!) { reviewVoice(id: $v, approve: true) { status } }",
            json!({ "v": id }),
        )
        .await?;
    ensure!(error_code(&review) == "FORBIDDEN", "{review}");
    let reviewed = server
        .ok(
            Some(&operator),
            "mutation($v: ID!) { reviewVoice(id: $v, approve: false, reason: \"噪音太大\") { status rejectReason } }",
            json!({ "v": id }),
        )
        .await?;
    ensure!(
        reviewed["reviewVoice"] == json!({ "status": "REJECTED", "rejectReason": "噪音太大" }),
        "{reviewed}"
    );
    let listed = server
        .ok(
            Some(&boss),
            "{ voices(filter: { status: REJECTED }) { totalCount edges { node { name url } } } }",
            json!({}),
        )
        .await?;
    ensure!(listed["voices"]["totalCount"] == 1, "{listed}");

    // Downloads need the token and the permission.
    let (status, _) = server
        .download("not-a-token", &format!("/voices/{id}"))
        .await?;
    ensure!(status == 401, "{status}");
    server
        .ok(
            Some(&boss),
            "mutation { createSubAccount(input: { account: \"clerk\", password: \"clerk-password\", name: \"Clerk\", followRole: false, permissions: [\"call_records.read\"] }) { id } }",
            json!({}),
        )
        .await?;
    let clerk = server.login("acme", "clerk", "clerk-password").await?;
    let (status, _) = server.download(&clerk, &format!("/voices/{id}")).await?;
    ensure!(status == 403, "{status}");
    server.stop().await;
    Ok(())
}

fn hangup_node(key: &str, prompts: Value) -> Value {
    json!({ "key": key, "name": format!("{key} 节点"), "number": "", "type": "HANGUP", "hangup": { "prompts": prompts } })
}

fn menu_to(next: &str) -> Value {
    json!({ "key": "menu", "name": "主菜单", "number": "", "type": "MENU",
            "menu": { "prompts": [], "options": [{ "key": "1", "next": next }], "timeoutSeconds": 5,
                      "invalidPrompts": [], "maxAttempts": 2, "failNext": "bye" } })
}

async fn flows_are_checked_versioned_and_protected(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        operator,
        boss,
        enterprise,
    } = fixture(backend).await?;
    let (_, uploaded) = server
        .upload_voice(&boss, "欢迎语", tone_wav(8_000, 1, 0.5, 440.0))
        .await?;
    let voice = uploaded["voice"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let created = server
        .ok(
            Some(&boss),
            "mutation { createIvrFlow(name: \"总机导航\") { id version definition { entry } } }",
            json!({}),
        )
        .await?;
    ensure!(
        created["createIvrFlow"]["version"] == 0
            && created["createIvrFlow"]["definition"].is_null(),
        "{created}"
    );
    let flow = created["createIvrFlow"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let publish = "mutation($id: ID!, $d: IvrDefinitionInput!) { publishIvrFlow(id: $id, name: \"总机导航\", definition: $d) { version warnings definition { entry nodes { key type menu { options { key next } } } } } }";
    let recording =
        json!([{ "kind": "RECORDING", "voiceId": voice, "reading": "DIGITS", "loops": 1 }]);

    // A jump to a node that does not exist: refused naming the node, nothing recorded.
    let head = server.node.log.stored_head().await?;
    let broken = json!({ "entry": "menu", "variables": [], "nodes": [menu_to("nowhere"), hangup_node("bye", json!([]))] });
    let refused = server
        .gql(Some(&boss), publish, json!({ "id": flow, "d": broken }))
        .await?;
    ensure!(
        error_code(&refused) == "VALIDATION"
            && refused["errors"][0]["extensions"]["field"] == "nodes.menu"
            && refused["errors"][0]["message"].as_str().is_some_and(|m| m
                .contains("node 'menu' (主菜单): key 1 jumps to 'nowhere', which does not exist")),
        "{refused}"
    );
    // A recording not approved yet.
    let pending = json!({ "entry": "menu", "variables": [], "nodes": [menu_to("bye"), hangup_node("bye", recording.clone())] });
    let refused = server
        .gql(Some(&boss), publish, json!({ "id": flow, "d": pending }))
        .await?;
    ensure!(
        refused["errors"][0]["message"].as_str().is_some_and(
            |m| m.contains("node 'bye'") && m.contains("recording '欢迎语' is not approved")
        ),
        "{refused}"
    );
    // No entry.
    let no_entry =
        json!({ "entry": "", "variables": [], "nodes": [hangup_node("bye", json!([]))] });
    let refused = server
        .gql(Some(&boss), publish, json!({ "id": flow, "d": no_entry }))
        .await?;
    ensure!(
        refused["errors"][0]["extensions"]["field"] == "entry",
        "{refused}"
    );
    ensure!(
        server.node.log.stored_head().await? == head,
        "a refused flow changed the log"
    );

    // Approved, the flow publishes; an orphan node is a warning. A second publication is
    // version 2.
    server
        .ok(
            Some(&operator),
            "mutation($v: ID!) { reviewVoice(id: $v, approve: true) { status } }",
            json!({ "v": voice }),
        )
        .await?;
    let good = json!({ "entry": "menu", "variables": [], "nodes": [menu_to("bye"), hangup_node("bye", recording.clone()), hangup_node("orphan", json!([]))] });
    let published = server
        .ok(Some(&boss), publish, json!({ "id": flow, "d": good }))
        .await?;
    ensure!(
        published["publishIvrFlow"]["version"] == 1
            && published["publishIvrFlow"]["warnings"]
                == json!(["node 'orphan' (orphan 节点) cannot be reached from the entry node"])
            && published["publishIvrFlow"]["definition"]["nodes"][0]["menu"]["options"]
                == json!([{ "key": "1", "next": "bye" }]),
        "{published}"
    );
    let good = json!({ "entry": "menu", "variables": [], "nodes": [menu_to("bye"), hangup_node("bye", recording)] });
    let published = server
        .ok(Some(&boss), publish, json!({ "id": flow, "d": good }))
        .await?;
    ensure!(published["publishIvrFlow"]["version"] == 2, "{published}");

    // In use: the recording by the flow, the flow by a route.
    let deleted = server
        .gql(
            Some(&boss),
            "mutation($v: ID!) { deleteVoice(id: $v) }",
            json!({ "v": voice }),
        )
        .await?;
    ensure!(
        error_code(&deleted) == "CONFLICT"
            && deleted["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("IVR flow '总机导航'")),
        "{deleted}"
    );
    server
        .ok(
            Some(&operator),
            "mutation($e: ID!, $f: ID!) { createRoute(enterpriseId: $e, name: \"总机\", entry: \"192.0.2.80\", settings: { destination: { kind: \"IVR\", targetId: $f }, maxConcurrent: 5, priority: 1 }) { id destination { kind targetId } } }",
            json!({ "e": enterprise, "f": flow }),
        )
        .await?;
    let deleted = server
        .gql(
            Some(&boss),
            "mutation($f: ID!) { deleteIvrFlow(id: $f) }",
            json!({ "f": flow }),
        )
        .await?;
    ensure!(
        error_code(&deleted) == "CONFLICT"
            && deleted["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("总机")),
        "{deleted}"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(
    uploads_are_checked_and_bad_ones_leave_nothing,
    flows_are_checked_versioned_and_protected
);
