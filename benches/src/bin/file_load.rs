//! File jobs at volume, on the real `callcore serve`: an export of a million call records to
//! xlsx, an import of a million rows (10 % duplicates, 1 % malformed) into the `check` target,
//! and a package of ten thousand recordings. Each prints the time from the request to the
//! file being ready and the node's resident memory before and at its peak during the job
//! (sampled every 100 ms from /proc).
//!
//! `cargo build --release -p callcore -p benches && target/release/file_load --backend sqlite export --calls 1430000`

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use tests::generated_calls::{append_history, GeneratedCall, GeneratedKind, History};
use tests::{Backend, TestDatabase};

const ADMIN_PASSWORD: &str = "files-admin-password";

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// The `callcore` binary.
    #[arg(long, default_value = "target/release/callcore")]
    callcore: String,
    /// What to measure.
    #[command(subcommand)]
    job: Job,
}

#[derive(Debug, Subcommand)]
enum Job {
    /// Exports the inbound call records (answered, missed and abandoned: 8 calls in 10) of a
    /// history of one enterprise over 30 days.
    Export {
        /// Calls in the generated history (one enterprise, 30 days).
        #[arg(long, default_value_t = 1_250_000)]
        calls: u64,
    },
    /// Imports a generated xlsx of `rows` rows into the `check` target.
    Import {
        /// Data rows.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// Packs the recordings of the inbound answered calls of a history.
    Package {
        /// Recordings to pack.
        #[arg(long, default_value_t = 10_000)]
        recordings: u64,
        /// Seconds of 8 kHz 16-bit audio in each.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
}

/// A running `callcore serve`.
struct Node {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(callcore: &str, db: &TestDatabase) -> anyhow::Result<Self> {
        let mut command = Command::new(callcore);
        command
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--sip",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(&db.data_dir);
        if let Some(url) = db.database_url() {
            command.arg("--database-url").arg(url);
        }
        let config = db.data_dir.join("files.toml");
        std::fs::create_dir_all(&db.data_dir)?;
        std::fs::write(
            &config,
            "file_upload_max_mib = 200\nfile_import_max_rows = 2000000\n",
        )?;
        command.arg("--config").arg(&config);
        let mut child = command
            .env("CALLCORE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CALLCORE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("running {callcore}"))?;
        let out = child.stdout.take().context("the node's stdout")?;
        let mut lines = std::io::BufReader::new(out).lines();
        loop {
            let line = lines.next().context("the node ended before listening")??;
            if let Some(rest) = line.strip_prefix("callcore listening on http://") {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return Ok(Self {
                    child,
                    base: format!("http://{addr}"),
                    client: reqwest::Client::new(),
                });
            }
        }
    }

    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer: Value = request.send().await?.json().await?;
        ensure!(answer.get("errors").is_none(), "{answer}");
        Ok(answer["data"].clone())
    }

    async fn operator(&self) -> anyhow::Result<String> {
        let data = self
            .gql(None, "mutation($p: String!) { login(enterprise: \"platform\", account: \"admin\", password: $p) { token } }", json!({ "p": ADMIN_PASSWORD }))
            .await?;
        Ok(data["login"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn applied(&self) -> anyhow::Result<i64> {
        let health: Value = self
            .client
            .get(format!("{}/healthz", self.base))
            .send()
            .await?
            .json()
            .await?;
        Ok(health["readModelsApplied"].as_i64().unwrap_or(0))
    }

    /// Waits for job `id`, sampling memory; returns the file, the time and the peak RSS.
    async fn follow(
        &self,
        token: &str,
        id: &str,
        since: Instant,
    ) -> anyhow::Result<(Value, Duration, f64)> {
        let mut peak = self.rss_mb();
        loop {
            peak = peak.max(self.rss_mb());
            let data = self
                .gql(Some(token), "query($id: ID!) { dataFile(id: $id) { state reason rows sizeBytes imported skipped rejected } }", json!({ "id": id }))
                .await?;
            let file = data["dataFile"].clone();
            if file["state"] == "READY" || file["state"] == "FAILED" {
                return Ok((file, since.elapsed(), peak));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Appends `calls` calls of one enterprise over 30 days, starts the node and waits until its
/// tables hold them.
async fn node_on_history(
    options: &Options,
    db: &TestDatabase,
    calls: u64,
    days: i64,
) -> anyhow::Result<Node> {
    // The first start creates the operator; the history is appended with the node stopped.
    Node::start(&options.callcore, db)?.stop()?;
    let started = Instant::now();
    let history = History {
        calls,
        enterprises: 1,
        days,
    };
    let head = append_history(&db.url, history, |_, _| None).await?;
    println!(
        "history: {calls} calls ({head} events) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let node = Node::start(&options.callcore, db)?;
    let started = Instant::now();
    while node.applied().await? < head {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The table models follow the memory models; the records are counted below.
    println!("caught up in {:.0} s", started.elapsed().as_secs_f64());
    Ok(node)
}

fn tenant() -> String {
    GeneratedCall::nth(0, 1, 30, Utc::now(), 1)
        .enterprise_id
        .to_string()
}

async fn export(options: &Options, db: &TestDatabase, calls: u64) -> anyhow::Result<()> {
    let node = node_on_history(options, db, calls, 30).await?;
    let token = node.operator().await?;
    let now = Utc::now();
    let window = json!({ "from": now - chrono::Duration::days(31), "to": now });
    let filter = json!({ "kind": "INBOUND", "enterpriseId": tenant(), "callTime": window });
    let expected = (0..calls)
        .filter(|n| {
            GeneratedCall::nth(*n, 1, 30, Utc::now(), calls).kind != GeneratedKind::OutboundAnswered
        })
        .count() as u64;
    loop {
        let data = node
            .gql(
                Some(&token),
                "query($f: CallRecordFilter!) { callRecords(first: 1, filter: $f) { totalCount } }",
                json!({ "f": filter }),
            )
            .await?;
        if data["callRecords"]["totalCount"].as_u64() == Some(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = node.rss_mb();
    let since = Instant::now();
    let data = node
        .gql(
            Some(&token),
            "mutation($f: CallRecordFilter!) { exportCallRecords(filter: $f) { id } }",
            json!({ "f": filter }),
        )
        .await?;
    let id = data["exportCallRecords"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (file, took, peak) = node.follow(&token, &id, since).await?;
    ensure!(
        file["state"] == "READY" && file["rows"].as_u64() == Some(expected),
        "{file}"
    );
    println!(
        "export: {expected} call records in {:.1} s ({:.0} rows/s), {:.0} MB file; RSS {before:.0} MB before, {peak:.0} MB at the peak (+{:.0} MB)",
        took.as_secs_f64(),
        expected as f64 / took.as_secs_f64(),
        file["sizeBytes"].as_f64().unwrap_or(0.0) / 1e6,
        peak - before
    );
    Ok(())
}

/// A sheet of `rows` rows: every tenth number repeats an earlier one, every hundredth is not
/// a phone number; returns the path and the counts an import must report.
fn import_sheet(
    dir: &std::path::Path,
    rows: u64,
) -> anyhow::Result<(std::path::PathBuf, [u64; 3])> {
    let path = dir.join("numbers.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory()?;
    for (column, title) in ["姓名", "手机号", "备注"].iter().enumerate() {
        sheet.write_string(0, column as u16, *title)?;
    }
    let mut counts = [0u64; 3];
    for n in 1..=rows {
        let row = u32::try_from(n)?;
        let number = if n % 100 == 0 {
            counts[2] += 1;
            format!("x{n}")
        } else if n % 10 == 0 {
            counts[1] += 1;
            format!("0139{:08}", n - 1)
        } else {
            counts[0] += 1;
            format!("0139{n:08}")
        };
        sheet.write_string(row, 0, format!("客户{n}"))?;
        sheet.write_string(row, 1, number)?;
        sheet.write_string(row, 2, "备注")?;
    }
    book.save(&path)?;
    Ok((path, counts))
}

async fn import(options: &Options, db: &TestDatabase, rows: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let (path, [imported, skipped, rejected]) = import_sheet(&db.data_dir, rows)?;
    let bytes = std::fs::read(&path)?;
    println!(
        "sheet: {rows} rows, {:.0} MB, written in {:.0} s",
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let node = Node::start(&options.callcore, db)?;
    let token = node.operator().await?;
    let created = node
        .gql(Some(&token), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    let enterprise = created["createEnterprise"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = node.rss_mb();
    let since = Instant::now();
    let form = reqwest::multipart::Form::new()
        .text("enterpriseId", enterprise)
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("numbers.xlsx"),
        );
    let answer: Value = node
        .client
        .post(format!("{}/files", node.base))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await?
        .json()
        .await?;
    let uploaded = since.elapsed();
    let id = answer["file"]["id"]
        .as_str()
        .with_context(|| format!("{answer}"))?
        .to_owned();
    let upload_peak = node.rss_mb();
    let since = Instant::now();
    let data = node
        .gql(Some(&token), "mutation($f: ID!) { startImport(fileId: $f, target: \"check\", mapping: [{ field: \"name\", column: 0 }, { field: \"number\", column: 1 }, { field: \"remark\", column: 2 }]) { id } }", json!({ "f": id }))
        .await?;
    let job = data["startImport"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (file, took, peak) = node.follow(&token, &job, since).await?;
    ensure!(
        file["imported"].as_u64() == Some(imported)
            && file["skipped"].as_u64() == Some(skipped)
            && file["rejected"].as_u64() == Some(rejected),
        "counts {file} instead of {imported}/{skipped}/{rejected}"
    );
    println!(
        "upload (checked, every row read): {:.1} s; import: {rows} rows in {:.1} s ({:.0} rows/s), counts exact ({imported} imported, {skipped} skipped, {rejected} rejected); RSS {before:.0} MB before, {upload_peak:.0} MB after the upload, {peak:.0} MB at the import's peak",
        uploaded.as_secs_f64(),
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64(),
    );
    Ok(())
}

async fn package(
    options: &Options,
    db: &TestDatabase,
    recordings: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    // Inbound answered calls are 6 in 10 of a history.
    let calls = recordings * 10 / 6 + 10;
    let node = node_on_history(options, db, calls, 10).await?;
    let end = Utc::now();
    let audio = tests::tone_wav(8_000, 1, seconds as f64, 440.0);
    std::fs::create_dir_all(db.data_dir.join("recordings"))?;
    let mut packed = 0u64;
    for n in 0..calls {
        let call = GeneratedCall::nth(n, 1, 10, end, calls);
        if call.kind == GeneratedKind::InboundAnswered && packed < recordings {
            std::fs::write(
                db.data_dir.join(format!("recordings/{}.wav", call.id)),
                &audio,
            )?;
            packed += 1;
        }
    }
    let token = node.operator().await?;
    let window = json!({ "from": Utc::now() - chrono::Duration::days(11), "to": Utc::now() });
    let filter = json!({ "kind": "INBOUND", "enterpriseId": tenant(), "callTime": window, "recorded": true });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = node.rss_mb();
    let since = Instant::now();
    let data = node
        .gql(
            Some(&token),
            "mutation($f: CallRecordFilter!) { packageRecordings(filter: $f) { id } }",
            json!({ "f": filter }),
        )
        .await?;
    let id = data["packageRecordings"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (file, took, peak) = node.follow(&token, &id, since).await?;
    ensure!(file["state"] == "READY", "{file}");
    let bytes = file["sizeBytes"].as_f64().unwrap_or(0.0);
    println!(
        "package: {} recordings, {:.0} MB in {:.1} s: {:.0} MB/s; RSS {before:.0} MB before, {peak:.0} MB at the peak",
        file["rows"],
        bytes / 1e6,
        took.as_secs_f64(),
        bytes / 1e6 / took.as_secs_f64()
    );
    if file["rows"].as_u64() != Some(recordings) {
        bail!("packed {} of {recordings}", file["rows"]);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let backend = match options.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => bail!("unknown backend {other}"),
    };
    let db = TestDatabase::new(backend).await?;
    match options.job {
        Job::Export { calls } => export(&options, &db, calls).await,
        Job::Import { rows } => import(&options, &db, rows).await,
        Job::Package {
            recordings,
            seconds,
        } => package(&options, &db, recordings, seconds).await,
    }
}
