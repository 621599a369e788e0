//! File management end to end (manual §8), on both backends: exports of every list open in a
//! reader with the exact rows and titles, a recording package holds each recording and an
//! index, an import reports every kind of bad row with its reason, hostile uploads are
//! refused while the server keeps serving, and an enterprise reaches only its own files.

use std::io::{Cursor, Read};

use anyhow::ensure;
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tests::generated_calls::{append_history, GeneratedCall, History};
use tests::sheets::{rewrite_part, rows_of, xlsx_of, zip_bomb, Cell};
use tests::{error_code, on_both_backends, Backend, TestDatabase, TestServer};

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

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Downloads a ready file's bytes.
async fn download(server: &TestServer, token: &str, file: &Value) -> anyhow::Result<Vec<u8>> {
    ensure!(file["state"] == "READY", "not ready: {file}");
    let (status, bytes) = server.download(token, &text(&file["url"])).await?;
    ensure!(status == 200, "download answered {status}");
    Ok(bytes)
}

/// Starts an export with `mutation` (its field `field`) and waits for it.
async fn export(
    server: &TestServer,
    token: &str,
    field: &str,
    mutation: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let started = server
        .ok(
            Some(token),
            &format!("mutation($f: CallRecordFilter!) {{ {field}: {mutation} {{ id state }} }}"),
            variables,
        )
        .await?;
    let id = text(&started[field]["id"]);
    ensure!(!id.is_empty(), "{started}");
    server.finished_file(token, &id, 60).await
}

/// The generated history of these tests: 240 calls over 2 enterprises in the last day.
const HISTORY: History = History {
    calls: 240,
    enterprises: 2,
    days: 1,
};

async fn exports_open_with_the_exact_rows_and_titles(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    append_history(&db.url, HISTORY, |_, _| None).await?;
    // Recordings on disk for the recorded calls, as the relay leaves them.
    let end = Utc::now() - Duration::minutes(1);
    let calls: Vec<GeneratedCall> = (0..HISTORY.calls)
        .map(|n| GeneratedCall::nth(n, HISTORY.enterprises, HISTORY.days, end, HISTORY.calls))
        .collect();
    std::fs::create_dir_all(db.data_dir.join("recordings"))?;
    for call in &calls {
        let audio = format!("RIFF-{}", call.id).into_bytes();
        std::fs::write(
            db.data_dir.join(format!("recordings/{}.wav", call.id)),
            audio,
        )?;
    }
    let server = TestServer::start_on(db).await?;
    let operator = server.operator().await?;
    let tenant = calls[0].enterprise_id.to_string();
    // The table models catch up with the history.
    let records = loop {
        let records = tests::every_call_record(&server).await?;
        if records.len() as u64 == HISTORY.calls {
            break records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (from, to) = (Utc::now() - Duration::days(2), Utc::now());
    let window = json!({ "from": from, "to": to });

    // Inbound call records of one enterprise, newest first, in Shanghai time.
    let filter = json!({ "kind": "INBOUND", "enterpriseId": tenant, "callTime": window });
    let file = export(
        &server,
        &operator,
        "e",
        "exportCallRecords(name: \"呼入\", filter: $f)",
        json!({ "f": filter }),
    )
    .await?;
    let rows = rows_of(&download(&server, &operator, &file).await?)?;
    ensure!(
        rows[0]
            == [
                "通话ID",
                "路由",
                "号码",
                "被叫号码",
                "进线时间",
                "接通时间",
                "挂断时间",
                "通话时长(秒)",
                "挂断位置",
                "处理分机",
                "结果",
                "备注",
                "录音"
            ],
        "titles: {:?}",
        rows[0]
    );
    let mut inbound: Vec<_> = records
        .iter()
        .filter(|r| {
            r.enterprise_id.to_string() == tenant && r.direction == domain::call::Direction::Inbound
        })
        .collect();
    inbound.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    ensure!(
        rows.len() == inbound.len() + 1 && file["rows"] == inbound.len(),
        "{} rows for {} records: {file}",
        rows.len(),
        inbound.len()
    );
    for (row, record) in rows[1..].iter().zip(&inbound) {
        ensure!(row[0] == record.id.to_string(), "order: {row:?}");
        ensure!(row[2] == record.caller, "caller: {row:?} {record:?}");
        let local = (record.started_at + Duration::hours(8))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        ensure!(row[4] == local, "time in Asia/Shanghai: {row:?} vs {local}");
        ensure!(
            row[7] == record.duration_seconds().to_string(),
            "duration: {row:?}"
        );
    }
    ensure!(
        file["creator"] == "admin"
            && file["source"] == "call_records.inbound"
            && file["kind"] == "EXPORT",
        "{file}"
    );

    // Missed calls keep their own columns.
    let missed_filter = json!({ "kind": "MISSED", "enterpriseId": tenant, "callTime": window });
    let missed = export(
        &server,
        &operator,
        "e",
        "exportCallRecords(filter: $f)",
        json!({ "f": missed_filter }),
    )
    .await?;
    let missed_rows = rows_of(&download(&server, &operator, &missed).await?)?;
    let expected_missed = records
        .iter()
        .filter(|r| {
            r.enterprise_id.to_string() == tenant && r.status == projections::CallStatus::Missed
        })
        .count();
    ensure!(
        missed_rows[0]
            == [
                "通话ID",
                "路由/项目",
                "号码",
                "进线时间",
                "处理分机",
                "备注"
            ],
        "{:?}",
        missed_rows[0]
    );
    ensure!(
        missed_rows.len() == expected_missed + 1,
        "{} missed rows, {expected_missed} expected",
        missed_rows.len()
    );

    // The recordings of the same list, stored in one zip with an index.
    let package = export(
        &server,
        &operator,
        "p",
        "packageRecordings(filter: $f)",
        json!({ "f": filter }),
    )
    .await?;
    let zipped = download(&server, &operator, &package).await?;
    let mut archive = zip::ZipArchive::new(Cursor::new(zipped))?;
    let recorded: Vec<_> = inbound.iter().filter(|r| r.recording.is_some()).collect();
    ensure!(!recorded.is_empty(), "the history has recorded calls");
    ensure!(
        archive.len() == recorded.len() + 1 && package["rows"] == recorded.len(),
        "{} entries for {} recordings",
        archive.len(),
        recorded.len()
    );
    let mut index = Vec::new();
    archive.by_name("索引.xlsx")?.read_to_end(&mut index)?;
    let index = rows_of(&index)?;
    ensure!(
        index[0] == ["通话ID", "主叫", "被叫", "通话时间", "时长(秒)", "文件名"],
        "{:?}",
        index[0]
    );
    for (row, record) in index[1..].iter().zip(&recorded) {
        ensure!(row[0] == record.id.to_string(), "index order: {row:?}");
        let mut entry = archive.by_name(&row[5])?;
        ensure!(
            entry.compression() == zip::CompressionMethod::Stored,
            "audio is stored, not compressed"
        );
        let mut audio = String::new();
        entry.read_to_string(&mut audio)?;
        ensure!(
            audio == format!("RIFF-{}", record.id),
            "{} holds another call's audio",
            row[5]
        );
    }

    // A report per queue and day: the calls offered add up to the queued calls.
    let queued = records
        .iter()
        .filter(|r| r.enterprise_id.to_string() == tenant && r.queue_id.is_some())
        .count();
    let report = server
        .ok(Some(&operator), "mutation($t: TimeRange!, $e: ID) { exportReport(report: QUEUES, time: $t, enterpriseId: $e) { id } }", json!({ "t": window, "e": tenant }))
        .await?;
    let report = server
        .finished_file(&operator, &text(&report["exportReport"]["id"]), 60)
        .await?;
    let report_rows = rows_of(&download(&server, &operator, &report).await?)?;
    ensure!(
        report_rows[0][..3] == ["队列", "日期", "进线数"],
        "{:?}",
        report_rows[0]
    );
    let offered: u64 = report_rows[1..]
        .iter()
        .map(|r| r[2].parse::<u64>().unwrap_or(0))
        .sum();
    ensure!(
        offered == queued as u64,
        "report offers {offered}, {queued} queued"
    );

    // The audit log of a real enterprise: its admin's changes, newest first.
    let (acme, boss) = enterprise(&server, &operator, "acme").await?;
    for number in ["8001", "8002"] {
        server
            .ok(Some(&operator), "mutation($e: ID!, $n: String!) { createExtension(enterpriseId: $e, number: $n) { id } }", json!({ "e": acme, "n": number }))
            .await?;
    }
    let since = json!({ "from": from, "to": Utc::now() });
    let audit = server
        .ok(
            Some(&boss),
            "mutation($t: TimeRange!) { exportAuditLog(time: $t) { id } }",
            json!({ "t": since }),
        )
        .await?;
    let audit = server
        .finished_file(&boss, &text(&audit["exportAuditLog"]["id"]), 60)
        .await?;
    let audit_rows = rows_of(&download(&server, &boss, &audit).await?)?;
    let listed = server
        .ok(Some(&boss), "query($t: TimeRange) { auditLog(first: 500, filter: { at: $t }) { edges { node { eventType streamId } } } }", json!({ "t": since }))
        .await?;
    let listed: Vec<(String, String)> = listed["auditLog"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (text(&e["node"]["eventType"]), text(&e["node"]["streamId"])))
        .collect();
    ensure!(
        audit_rows[0] == ["时间", "操作账号", "对象类型", "对象", "操作", "详情"],
        "{:?}",
        audit_rows[0]
    );
    let exported: Vec<(String, String)> = audit_rows[1..]
        .iter()
        .map(|r| (r[4].clone(), r[3].clone()))
        .collect();
    ensure!(
        exported == listed
            && exported
                .iter()
                .filter(|(t, _)| t == "ExtensionCreated")
                .count()
                == 2,
        "audit export {exported:?} vs list {listed:?}"
    );

    // Voicemails: none in this history; the sheet has its titles.
    let voicemail = server
        .ok(
            Some(&boss),
            "mutation($t: TimeRange!) { exportVoicemails(time: $t) { id } }",
            json!({ "t": window }),
        )
        .await?;
    let voicemail = server
        .finished_file(&boss, &text(&voicemail["exportVoicemails"]["id"]), 60)
        .await?;
    let voicemail_rows = rows_of(&download(&server, &boss, &voicemail).await?)?;
    ensure!(
        voicemail_rows == [["路由", "号码", "被叫号码", "时间", "时长(秒)"]],
        "{voicemail_rows:?}"
    );

    // The list of files: packages apart from the data files; no partial file is left.
    let listed = server
        .ok(Some(&operator), "query($e: ID) { data: dataFiles(filter: { enterpriseId: $e, packages: false }) { totalCount } packages: dataFiles(filter: { enterpriseId: $e, packages: true }) { totalCount edges { node { kind } } } }", json!({ "e": tenant }))
        .await?;
    ensure!(
        listed["data"]["totalCount"] == 3 && listed["packages"]["totalCount"] == 1,
        "{listed}"
    );
    let leftovers: Vec<_> = walk(&server.data_dir().join("files"))
        .into_iter()
        .filter(|p| p.ends_with(".part"))
        .collect();
    ensure!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found
}

/// The rows of the import test: a title row, then one of each kind.
fn import_rows(long: &str) -> Vec<Vec<Cell<'_>>> {
    use Cell::{Empty, Number, Text};
    vec![
        vec![Text("姓名"), Text("手机号"), Text("备注")],
        vec![Text("张三"), Text("013800138000"), Text("老客户")],
        vec![Text("张三丰"), Text("13800138000"), Empty], // a duplicate number
        vec![Text("李四"), Text("abc"), Empty],           // not a phone number
        vec![Text("王五"), Empty, Text("没有号码")],      // no number
        vec![Text(long), Text("13900139000"), Empty],     // too long
        vec![Text("赵六"), Text("02161234567"), Empty],
        vec![Empty, Empty, Empty], // blank: not a row
        vec![Text("钱七"), Number(13_700_137_000.0), Empty], // a number typed as a number
    ]
}

async fn an_import_reports_every_kind_of_bad_row(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let (_, admin) = enterprise(&server, &operator, "acme").await?;
    let long = "名".repeat(51);
    let bytes = xlsx_of(&import_rows(&long))?;
    let (status, uploaded) = server.upload_file(&admin, "客户.xlsx", bytes).await?;
    ensure!(status == 201, "{status} {uploaded}");
    let file = &uploaded["file"];
    ensure!(
        file["rows"] == 7 && file["columns"] == json!(["姓名", "手机号", "备注"]),
        "{file}"
    );
    let id = text(&file["id"]);

    let preview = server
        .ok(Some(&admin), "query($f: ID!) { importPreview(fileId: $f, rows: 2) { columns rows totalRows } importTargets { name fields { name required } } }", json!({ "f": id }))
        .await?;
    ensure!(
        preview["importPreview"]["rows"]
            == json!([
                ["张三", "013800138000", "老客户"],
                ["张三丰", "13800138000", ""]
            ])
            && preview["importPreview"]["totalRows"] == 7,
        "{preview}"
    );
    ensure!(preview["importTargets"][0]["name"] == "check", "{preview}");

    // A mapping without the required number is refused before any job exists.
    let refused = server
        .gql(Some(&admin), "mutation($f: ID!) { startImport(fileId: $f, target: \"check\", mapping: [{ field: \"name\", column: 0 }]) { id } }", json!({ "f": id }))
        .await?;
    ensure!(error_code(&refused) == "VALIDATION", "{refused}");

    let mapping = json!([{ "field": "number", "column": 1 }, { "field": "name", "column": 0 }, { "field": "remark", "column": 2 }]);
    let started = server
        .ok(Some(&admin), "mutation($f: ID!, $m: [ColumnMappingInput!]!) { startImport(fileId: $f, target: \"check\", mapping: $m, duplicates: SKIP) { id kind } }", json!({ "f": id, "m": mapping }))
        .await?;
    let result = server
        .finished_file(&admin, &text(&started["startImport"]["id"]), 60)
        .await?;
    ensure!(
        result["imported"] == 3
            && result["skipped"] == 1
            && result["rejected"] == 3
            && result["kind"] == "IMPORT",
        "{result}"
    );
    let rejected = rows_of(&download(&server, &admin, &result).await?)?;
    ensure!(
        rejected
            == vec![
                vec!["行号", "姓名", "手机号", "备注", "原因"],
                vec!["4", "李四", "abc", "", "号码不是有效的电话号码：abc"],
                vec!["5", "王五", "", "没有号码", "缺少必填项：号码"],
                vec!["6", long.as_str(), "13900139000", "", "姓名超过 50 个字符"],
            ],
        "{rejected:?}"
    );

    // Overwriting keeps the duplicate; the same rows as CSV give the same counts.
    let csv = "姓名,手机号,备注\n张三,013800138000,老客户\n张三丰,13800138000,\n李四,abc,\n王五,,没有号码\n赵六,02161234567,\n";
    let (status, uploaded) = server
        .upload_file(&admin, "客户.csv", csv.as_bytes().to_vec())
        .await?;
    ensure!(
        status == 201 && uploaded["file"]["rows"] == 5,
        "{status} {uploaded}"
    );
    let started = server
        .ok(Some(&admin), "mutation($f: ID!, $m: [ColumnMappingInput!]!) { startImport(fileId: $f, target: \"check\", mapping: $m, duplicates: OVERWRITE) { id } }", json!({ "f": text(&uploaded["file"]["id"]), "m": mapping }))
        .await?;
    let result = server
        .finished_file(&admin, &text(&started["startImport"]["id"]), 60)
        .await?;
    ensure!(
        result["imported"] == 3 && result["skipped"] == 0 && result["rejected"] == 2,
        "{result}"
    );
    Ok(())
}

async fn hostile_uploads_are_refused_and_the_server_keeps_serving(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let server = TestServer::start_configured(db, |config| {
        config.file_jobs.unpacked_max_mib = 16;
        config.file_jobs.upload_max_mib = 2;
        config.file_jobs.import_max_rows = 1_000;
    })
    .await?;
    let operator = server.operator().await?;
    let (_, admin) = enterprise(&server, &operator, "acme").await?;
    let long = "名".repeat(51);
    let real = xlsx_of(&import_rows(&long))?;
    let billion = rewrite_part(&real, "xl/worksheets/sheet1.xml", |xml| {
        let start = xml.find("<dimension ref=\"").map_or(0, |i| i + 16);
        let end = xml[start..].find('"').map_or(start, |i| start + i);
        format!("{}A1:C1000000000{}", &xml[..start], &xml[end..])
    })?;
    let broken = rewrite_part(&real, "xl/worksheets/sheet1.xml", |xml| {
        xml[..xml.len() * 2 / 3].to_owned()
    })?;
    let too_many: String = (0..=1_001).map(|n| format!("{n},13800138000\n")).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bomb.xlsx",
            zip_bomb(64 << 20)?,
            "unpacks to more than 16 MiB",
        ),
        ("billion.xlsx", billion, "says it has 1000000000 rows"),
        ("broken.xlsx", broken, "cannot be read"),
        (
            "picture.xlsx",
            b"\x89PNG\r\n\x1a\n0000".to_vec(),
            "is named .xlsx but is not an xlsx workbook",
        ),
        (
            "old.xls",
            real.clone(),
            "is named .xls but is not an Excel 97-2003 workbook",
        ),
        (
            "binary.csv",
            vec![0, 1, 2, 3],
            "is named .csv but is not CSV text",
        ),
        (
            "gbk.csv",
            vec![0xd5, 0xc5, 0xc8, 0xfd, b',', b'1', b'\n'],
            "not UTF-8",
        ),
        ("program.exe", b"MZ".to_vec(), "only .xlsx, .xls and .csv"),
        ("rows.csv", too_many.into_bytes(), "more than 1000 rows"),
        // Just past the limit: refused while it streams, its last bytes already sent (a body far
        // larger is refused on its Content-Length before it is read, and the client may still
        // be writing when the answer comes).
        (
            "large.csv",
            vec![b'1'; (2 << 20) + (16 << 10)],
            "larger than 2 MiB",
        ),
    ];
    for (name, bytes, message) in cases {
        let (status, answer) = server.upload_file(&admin, name, bytes).await?;
        let said = text(&answer["error"]["message"]);
        ensure!(status == 422, "{name}: {status} {answer}");
        ensure!(
            answer["error"]["code"] == "VALIDATION" && said.contains(message),
            "{name}: {answer}"
        );
        // Still serving.
        let me = server
            .ok(Some(&admin), "{ me { account { account } } }", json!({}))
            .await?;
        ensure!(me["me"]["account"]["account"] == "admin", "{me}");
    }
    let listed = server
        .ok(Some(&admin), "{ dataFiles { totalCount } }", json!({}))
        .await?;
    ensure!(
        listed["dataFiles"]["totalCount"] == 0,
        "a refused upload was kept: {listed}"
    );
    let kept = walk(&server.data_dir().join("files"));
    ensure!(kept.is_empty(), "files left by refused uploads: {kept:?}");
    let spooled: Vec<_> = walk(&server.data_dir().join("tmp"))
        .into_iter()
        .filter(|p| p.contains("upload-"))
        .collect();
    ensure!(spooled.is_empty(), "spooled uploads left: {spooled:?}");
    Ok(())
}

async fn an_enterprise_reaches_only_its_own_files(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let (_, alpha) = enterprise(&server, &operator, "alpha").await?;
    let (_, beta) = enterprise(&server, &operator, "beta").await?;
    let csv = "手机号\n13800138000\n13900139000\n".as_bytes().to_vec();
    let (status, uploaded) = server.upload_file(&alpha, "名单.csv", csv.clone()).await?;
    ensure!(status == 201, "{uploaded}");
    let id = text(&uploaded["file"]["id"]);
    let url = format!("/files/{id}");

    // Beta sees nothing of it, by list, id, download, import or deletion.
    let listed = server
        .ok(Some(&beta), "{ dataFiles { totalCount } }", json!({}))
        .await?;
    ensure!(listed["dataFiles"]["totalCount"] == 0, "{listed}");
    for query in [
        "query($f: ID!) { dataFile(id: $f) { id } }",
        "query($f: ID!) { importPreview(fileId: $f) { columns } }",
        "mutation($f: ID!) { startImport(fileId: $f, target: \"check\", mapping: [{ field: \"number\", column: 0 }]) { id } }",
        "mutation($f: ID!) { deleteDataFile(id: $f) }",
    ] {
        let answer = server.gql(Some(&beta), query, json!({ "f": id })).await?;
        ensure!(error_code(&answer) == "NOT_FOUND", "{query}: {answer}");
    }
    let (status, _) = server.download(&beta, &url).await?;
    ensure!(status == 404, "beta downloaded alpha's file: {status}");

    // Downloads need the token and stream with Content-Length and byte ranges.
    let client = reqwest::Client::new();
    let anonymous = client.get(server.url(&url)).send().await?;
    ensure!(anonymous.status() == 401, "{}", anonymous.status());
    let whole = client
        .get(server.url(&url))
        .bearer_auth(&alpha)
        .send()
        .await?;
    ensure!(whole.status() == 200, "{}", whole.status());
    ensure!(
        whole
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            == Some(&csv.len().to_string()),
        "{:?}",
        whole.headers()
    );
    let disposition = whole
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure!(
        disposition.contains("filename*=UTF-8''%E5%90%8D%E5%8D%95.csv.csv")
            || disposition.contains("UTF-8''"),
        "{disposition}"
    );
    ensure!(
        whole.bytes().await?.to_vec() == csv,
        "the download differs from the upload"
    );
    let part = client
        .get(server.url(&url))
        .bearer_auth(&alpha)
        .header("Range", "bytes=0-8")
        .send()
        .await?;
    ensure!(part.status() == 206, "{}", part.status());
    ensure!(
        part.bytes().await?.to_vec() == csv[..9],
        "the range differs"
    );

    // A sub-account without the files permissions is refused; with them it may.
    server
        .ok(Some(&alpha), "mutation { createSubAccount(input: { account: \"clerk\", password: \"clerk-password\", name: \"Clerk\" }) { id } }", json!({}))
        .await?;
    let clerk = server.login("alpha", "clerk", "clerk-password").await?;
    let answer = server
        .gql(Some(&clerk), "{ dataFiles { totalCount } }", json!({}))
        .await?;
    ensure!(error_code(&answer) == "FORBIDDEN", "{answer}");
    let (status, _) = server.download(&clerk, &url).await?;
    ensure!(status == 403, "{status}");
    let (status, _) = server.upload_file(&clerk, "x.csv", csv.clone()).await?;
    ensure!(status == 403, "{status}");

    // A job followed live: states in order, ending ready.
    let (mut socket, _) = tests::ws::connect(&server, &alpha).await?;
    let started = server
        .ok(Some(&alpha), "mutation($f: ID!) { startImport(fileId: $f, target: \"check\", mapping: [{ field: \"number\", column: 0 }]) { id } }", json!({ "f": id }))
        .await?;
    let job = text(&started["startImport"]["id"]);
    tests::ws::subscribe(
        &mut socket,
        "job",
        &format!("subscription {{ dataFileJob(id: \"{job}\") {{ state imported }} }}"),
    )
    .await?;
    let mut states = Vec::new();
    loop {
        let message = tests::ws::next_json(&mut socket).await?;
        match message["type"].as_str() {
            Some("next") => states.push(text(&message["payload"]["data"]["dataFileJob"]["state"])),
            Some("complete") => break,
            _ => anyhow::bail!("unexpected message {message}"),
        }
    }
    ensure!(
        states.last().map(String::as_str) == Some("READY") && states.len() <= 4,
        "{states:?}"
    );
    // And beta cannot follow it.
    let (mut socket, _) = tests::ws::connect(&server, &beta).await?;
    tests::ws::subscribe(
        &mut socket,
        "job",
        &format!("subscription {{ dataFileJob(id: \"{job}\") {{ state }} }}"),
    )
    .await?;
    let refused = tests::ws::next_json(&mut socket).await?;
    ensure!(
        refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"
            || refused["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{refused}"
    );

    // Deleting removes the file from the list and the disk.
    let deleted = server
        .ok(
            Some(&alpha),
            "mutation($f: ID!) { deleteDataFile(id: $f) }",
            json!({ "f": id }),
        )
        .await?;
    ensure!(deleted["deleteDataFile"] == true, "{deleted}");
    let (status, _) = server.download(&alpha, &url).await?;
    ensure!(status == 404, "{status}");
    let left: Vec<_> = walk(&server.data_dir().join("files"))
        .into_iter()
        .filter(|p| p.contains(&id))
        .collect();
    ensure!(left.is_empty(), "{left:?}");
    Ok(())
}

on_both_backends!(
    exports_open_with_the_exact_rows_and_titles,
    an_import_reports_every_kind_of_bad_row,
    hostile_uploads_are_refused_and_the_server_keeps_serving,
    an_enterprise_reaches_only_its_own_files,
);
