//! A call's relay takes each leg's media only from the address signalled for it, learnt for a
//! moment and then locked: during a SIPp call a stranger spraying the relay's ports (from
//! another address, and from the phone's own address on another port) hears nothing of the
//! call, injects no key press, and is counted in the metrics.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, Backend, InboundSetup,
    TestServer, CARRIER_IP,
};

/// The carrier: offers A-law and telephone-events, notes the relay's port for it from the
/// 200, plays audio and hangs up after six seconds.
const CALLER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier calls, noting the relay's port">
  <send retrans="500">
    <![CDATA[
      INVITE sip:02161234567@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:13800138000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="line,port"/>
      <exec command="echo [$port] > PORT_FILE.tmp ; mv PORT_FILE.tmp PORT_FILE"/>
      <log message="relay media: [$line]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <pause milliseconds="6000"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;

/// The extension's phone: notes the relay's port for it from the INVITE, answers with A-law
/// and telephone-events, plays audio until the BYE.
const PHONE: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone answers, noting the relay's port">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="line,port"/>
      <exec command="echo [$port] > PORT_FILE.tmp ; mv PORT_FILE.tmp PORT_FILE"/>
      <log message="relay media: [$line]"/>
    </action>
  </recv>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>
    </action>
  </nop>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;

/// The port written to `file` by a scenario, once it is there.
async fn port_in(file: &Path) -> anyhow::Result<u16> {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text.trim().parse().context("a port");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no port in {}", file.display())
}

/// An RTP packet of `payload_type` (A-law audio, or an RFC 4733 event for key 5).
fn packet(payload_type: u8, sequence: u16) -> Vec<u8> {
    let mut packet = vec![0x80, payload_type];
    packet.extend(sequence.to_be_bytes());
    packet.extend(160_000u32.to_be_bytes());
    packet.extend(0xBAD5_EED5_u32.to_be_bytes());
    if payload_type == 101 {
        // Key 5, the end bit set from the fourth packet on, volume 10.
        let end = if sequence % 8 >= 3 { 0x80 } else { 0 };
        packet.extend([5, end | 10]);
        packet.extend((160 * (sequence % 8 + 1)).to_be_bytes());
    } else {
        packet.extend([0xD5u8; 160]);
    }
    packet
}

async fn a_stranger_spraying_the_relay_hears_nothing_and_injects_nothing(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let InboundSetup { phone_port, .. } = inbound_setup(&server, 5).await?;
    let files = tempfile::tempdir()?;
    let (a_file, b_file) = (files.path().join("a_port"), files.path().join("b_port"));
    let phone = PHONE.replace("PORT_FILE", &b_file.to_string_lossy());
    let caller = CALLER.replace("PORT_FILE", &a_file.to_string_lossy());
    let target = server.sip_addr.to_string();
    let phone_task = tokio::task::spawn_blocking(move || {
        run_sipp(&phone, &["-p", &phone_port.to_string(), "-t", "u1"])
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller_port = free_udp_port(CARRIER_IP)?.to_string();
    let caller_task = tokio::task::spawn_blocking(move || {
        run_sipp(
            &caller,
            &["-i", CARRIER_IP, "-p", &caller_port, "-t", "u1", &target],
        )
    });
    let ports =
        async { Ok::<_, anyhow::Error>((port_in(&a_file).await?, port_in(&b_file).await?)) };
    let (a_port, b_port) = match ports.await {
        Ok(ports) => ports,
        Err(error) => {
            let caller = caller_task.await?;
            bail!("{error}; the carrier's scenario: {caller:?}");
        }
    };
    // The legs' sources are locked once their learning window is over.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let strangers = [
        tokio::net::UdpSocket::bind("127.0.0.3:0").await?,
        tokio::net::UdpSocket::bind("127.0.0.1:0").await?,
    ];
    let relay = server.sip_addr.ip();
    for sequence in 0..40u16 {
        for stranger in &strangers {
            for port in [a_port, b_port] {
                stranger
                    .send_to(&packet(8, sequence), (relay, port))
                    .await?;
                stranger
                    .send_to(&packet(101, sequence), (relay, port))
                    .await?;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut buffer = [0u8; 2_048];
    for stranger in &strangers {
        let heard =
            tokio::time::timeout(Duration::from_millis(500), stranger.recv_from(&mut buffer)).await;
        ensure!(
            heard.is_err(),
            "a stranger at {:?} heard the call",
            stranger.local_addr()
        );
    }
    caller_task.await?.context("the carrier's scenario")?;
    phone_task.await?.context("the phone's scenario")?;
    let token = server.operator().await?;
    let record = latest_call_record(&server, &token, "INBOUND", 1).await?;
    ensure!(record["status"] == "answered", "{record}");
    let call = uuid::Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = server.node.log.read_stream(call).await?;
    ensure!(
        !events.iter().any(|e| e.event_type == "DigitReceived"),
        "a key was injected: {:?}",
        events
            .iter()
            .map(|e| e.event_type.clone())
            .collect::<Vec<_>>()
    );
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("callcore_rtp_refused_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    ensure!(refused >= 320, "refused {refused}:\n{metrics}");
    // The legs' own audio went on both ways.
    let relayed = server.calls().relayed();
    ensure!(
        relayed.to_callee >= 100 && relayed.to_caller >= 100,
        "{relayed:?}"
    );
    Ok(())
}

on_both_backends!(a_stranger_spraying_the_relay_hears_nothing_and_injects_nothing);
