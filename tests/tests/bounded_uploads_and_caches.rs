//! Uploads and caches are bounded: only so many uploads are received at once (the next one is
//! told to come back, `RATE_LIMITED`), an upload is spooled to disk and nothing of a refused
//! one stays, and the spoken texts kept on disk stay within their budget, least recently
//! used deleted first.

use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::json;
use tests::{
    call_through_flow, inbound_setup, tone_wav, Backend, InboundSetup, TestDatabase, TestServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUNDARY: &str = "callcore-test-boundary";

/// An upload sent by hand over HTTP/1.1 in chunks, so that it can stall or run long.
struct SlowUpload {
    stream: TcpStream,
}

impl SlowUpload {
    /// Sends the request head and the form up to the start of the file's bytes.
    async fn start(server: &TestServer, token: &str, name: &str) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(server.addr).await?;
        let head = format!(
            "POST /voices HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n",
            server.addr
        );
        stream.write_all(head.as_bytes()).await?;
        let mut upload = Self { stream };
        let form = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
        );
        upload.chunk(form.as_bytes()).await?;
        Ok(upload)
    }

    async fn chunk(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream
            .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
            .await?;
        self.stream.write_all(bytes).await?;
        self.stream.write_all(b"\r\n").await?;
        Ok(())
    }

    /// The status line and body of the answer, once it comes.
    async fn answer(mut self) -> anyhow::Result<String> {
        let mut answer = Vec::new();
        let mut buffer = vec![0u8; 8_192];
        loop {
            let read = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut buffer))
                .await
                .context("waiting for the answer")?;
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if text.contains("\r\n\r\n")
                && (text.contains("\"error\"") || text.contains("\"voice\""))
            {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

/// Files (and their bytes) in `dir`.
fn files_in(dir: &std::path::Path) -> (usize, u64) {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .fold((0, 0), |(n, bytes), m| (n + 1, bytes + m.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_so_many_uploads_are_received_at_once_and_a_refused_one_leaves_nothing(
) -> anyhow::Result<()> {
    let server = TestServer::start(Backend::Sqlite).await?;
    let InboundSetup { boss, .. } = inbound_setup(&server, 5).await?;
    // Four uploads under way, each stalled in its file.
    let mut stalled = Vec::new();
    for n in 0..4 {
        let mut upload = SlowUpload::start(&server, &boss, &format!("慢{n}")).await?;
        upload.chunk(b"RIFF").await?;
        stalled.push(upload);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fifth is told to come back, before anything of it is read.
    let (status, answer) = server
        .upload_voice(&boss, "第五个", tone_wav(8_000, 1, 0.5, 440.0))
        .await?;
    ensure!(status == 429, "{status} {answer}");
    ensure!(answer["error"]["code"] == "RATE_LIMITED", "{answer}");
    // The stalled ones give up; places free up and an upload goes through.
    drop(stalled);
    let mut accepted = false;
    for _ in 0..50 {
        let (status, _) = server
            .upload_voice(&boss, "欢迎语", tone_wav(8_000, 1, 0.5, 440.0))
            .await?;
        if status == 201 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(accepted, "no upload was taken once the others had gone");

    // An upload without a declared length that runs past 50 MiB is refused with the reason,
    // and its spooled bytes are gone.
    let mut long = SlowUpload::start(&server, &boss, "太长").await?;
    let block = vec![0u8; 1 << 20];
    for _ in 0..51 {
        if long.chunk(&block).await.is_err() {
            break; // the server stopped reading: it has answered
        }
    }
    let answer = long.answer().await?;
    ensure!(answer.contains("larger than 50 MiB"), "{answer}");
    let spool = server.db.data_dir.join("tmp");
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(
        files_in(&spool).0 == 0,
        "spooled uploads left: {:?}",
        files_in(&spool)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spoken_texts_on_disk_stay_within_their_budget() -> anyhow::Result<()> {
    const BUDGET: u64 = 40_000;
    let server = TestServer::start_configured(TestDatabase::new(Backend::Sqlite).await?, |c| {
        c.media_timeout_seconds = 30;
        c.prompt_budget.tts_bytes = BUDGET;
    })
    .await?;
    let InboundSetup { boss, .. } = inbound_setup(&server, 5).await?;
    let texts = ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"];
    let prompts: Vec<_> = texts
        .iter()
        .map(|t| json!({ "kind": "TEXT", "text": t, "reading": "DIGITS", "loops": 1 }))
        .collect();
    let flow = json!({
        "entry": "say", "variables": [],
        "nodes": [
            { "key": "say", "name": "播报", "number": "1", "type": "PLAYBACK",
              "playback": { "prompts": prompts, "next": "bye" } },
            { "key": "bye", "name": "再见", "number": "2", "type": "HANGUP", "hangup": { "prompts": [] } }
        ]
    });
    let call = call_through_flow(&server, &boss, flow).await?;
    let failed = server
        .node
        .log
        .read_stream(call)
        .await?
        .iter()
        .filter(|e| e.event_type == "PromptFailed")
        .count();
    ensure!(failed == 0, "{failed} prompts failed to speak");
    let (files, bytes) = files_in(&server.db.data_dir.join("tts"));
    // Eight texts were spoken; no more than the budget (and the newest) stays on disk.
    ensure!(
        files >= 1 && files < texts.len(),
        "{files} files, {bytes} bytes"
    );
    ensure!(bytes <= BUDGET + 20_000, "{files} files, {bytes} bytes");
    Ok(())
}
