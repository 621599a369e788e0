//! A real softphone: baresip (Debian's package) registers as extension 1002, calls extension
//! 1001 (a SIPp phone that answers), sends key 5 as an RFC 4733 event and hangs up, driven
//! through baresip's `ctrl_tcp` control socket. The call's events and call record tell what
//! happened.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, Backend, InboundSetup,
    TestServer,
};
use uuid::Uuid;

const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");

/// A running baresip, killed when dropped.
struct Baresip {
    child: Child,
    control: u16,
    dir: tempfile::TempDir,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Baresip {
    /// Starts baresip with one account, `user@acme` with `password`, registering through
    /// `proxy`; audio comes from a WAV file of a tone and goes nowhere.
    fn start(user: &str, password: &str, proxy: std::net::SocketAddr) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // What the phone's microphone hears: ten seconds of a 440 Hz tone, 8 kHz mono.
        let tone = dir.path().join("tone.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&tone, spec)?;
        for n in 0..80_000u32 {
            let phase = f64::from(n) * 440.0 * std::f64::consts::TAU / 8_000.0;
            // Within i16: the amplitude is 8,000.
            writer.write_sample((phase.sin() * 8_000.0) as i16)?;
        }
        writer.finalize()?;
        let control = tests::ports::free_tcp_port("127.0.0.1")?;
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             sip_transports udp\n\
             audio_source aufile,{tone}\n\
             audio_player aufile,/dev/null\n\
             audio_alert aufile,/dev/null\n\
             rtp_timeout 0\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{control}\n",
            sip = free_udp_port("127.0.0.1")?,
            tone = tone.display(),
        );
        std::fs::write(dir.path().join("config"), config)?;
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@acme>;auth_pass={password};outbound=\"sip:{proxy};transport=udp\";regint=600;audio_codecs=PCMU,PCMA\n"
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("baresip.log"))?;
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("baresip must be installed (Debian package baresip)")?;
        Ok(Self {
            child,
            control,
            dir,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    /// Sends one command over `ctrl_tcp` (a JSON netstring) and returns its response.
    fn command(&self, command: &str, params: &str) -> anyhow::Result<Value> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.control))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let body = json!({ "command": command, "params": params, "token": "t" }).to_string();
        stream.write_all(format!("{}:{body},", body.len()).as_bytes())?;
        let mut received = Vec::new();
        let mut buffer = [0u8; 4_096];
        loop {
            let n = stream.read(&mut buffer)?;
            ensure!(n > 0, "baresip closed the control connection");
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).into_owned();
            // Netstrings until the response to our token (events may come first).
            let mut rest = text.as_str();
            while let Some((length, tail)) = rest.split_once(':') {
                let Ok(length) = length.parse::<usize>() else {
                    break;
                };
                let Some(message) = tail.get(..length) else {
                    break;
                };
                let value: Value = serde_json::from_str(message)?;
                if value["response"] == true {
                    return Ok(value);
                }
                rest = tail.get(length + 1..).unwrap_or_default();
            }
        }
    }
}

async fn wait_until<F: Fn() -> bool>(what: &str, condition: F) -> anyhow::Result<()> {
    for _ in 0..100 {
        if condition() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("timed out waiting until {what}")
}

async fn baresip_registers_calls_sends_a_key_and_hangs_up(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let InboundSetup {
        boss,
        enterprise,
        phone_port,
        ..
    } = inbound_setup(&server, 5).await?;
    let op = server.operator().await?;
    let created = server
        .ok(Some(&op), "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1002\") { id sipPassword } }", json!({ "e": enterprise }))
        .await?;
    let password = created["createExtension"]["sipPassword"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let extension_id = Uuid::parse_str(
        created["createExtension"]["id"]
            .as_str()
            .unwrap_or_default(),
    )?;

    let phone = Baresip::start("1002", &password, server.sip_addr)?;
    let registered = || {
        server
            .node
            .models
            .of(projections::EXTENSIONS)
            .by_id(extension_id)
            .is_some_and(|e| !e.bindings.is_empty())
    };
    wait_until("baresip registers", registered)
        .await
        .with_context(|| phone.log())?;

    // 1001's phone (SIPp) answers, plays audio and waits for the BYE.
    let port = phone_port.to_string();
    let callee =
        tokio::task::spawn_blocking(move || run_sipp(UAS_ANSWER, &["-p", &port, "-t", "u1"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dialled = phone.command("dial", "sip:1001@acme")?;
    ensure!(dialled["ok"] == true, "{dialled}");
    let answered = || {
        server
            .node
            .models
            .of(projections::LIVE_CALLS)
            .all()
            .iter()
            .any(|r| r.answered_at.is_some())
    };
    wait_until("the call is answered", answered)
        .await
        .with_context(|| phone.log())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = phone.command("sndcode", "5")?;
    ensure!(sent["ok"] == true, "{sent}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let hung_up = phone.command("hangup", "")?;
    ensure!(hung_up["ok"] == true, "{hung_up}");
    callee.await?.context("the callee's scenario")?;

    let record = latest_call_record(&server, &boss, "INTERNAL", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["hangupSide"] == "caller"
            && record["caller"] == "1002"
            && record["called"] == "1001",
        "{record}\n{}",
        phone.log()
    );
    let call = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events: Vec<Value> = server
        .node
        .log
        .read_stream(call)
        .await?
        .into_iter()
        .map(|e| serde_json::from_str(&e.payload))
        .collect::<Result<_, _>>()?;
    ensure!(
        events
            .iter()
            .any(|e| e["type"] == "DigitReceived" && e["leg"] == "a" && e["key"] == "5"),
        "{events:?}\n{}",
        phone.log()
    );
    drop(phone);
    server.stop().await;
    Ok(())
}

on_both_backends!(baresip_registers_calls_sends_a_key_and_hangs_up);
