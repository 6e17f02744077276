//! What the database does not know: unknown destinations ranked within the sketch's bound,
//! self-hosted model servers by their routes, and downloads from model hubs, end to end
//! through `aigress scan --db` and `aigress inventory`, on captures written here.

mod common;

use std::path::Path;

use common::{json_lines, ok};

/// A capture of raw IPv4 packets (LINKTYPE_RAW), written packet by packet.
struct Pcap {
    bytes: Vec<u8>,
    micros: u64,
}

impl Pcap {
    fn new() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&101u32.to_le_bytes());
        Self {
            bytes,
            micros: 1_796_000_000_000_000,
        }
    }

    fn packet(&mut self, ip: &[u8]) {
        self.micros += 1_000;
        let (s, us) = (self.micros / 1_000_000, self.micros % 1_000_000);
        for v in [s as u32, us as u32, ip.len() as u32, ip.len() as u32] {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bytes.extend_from_slice(ip);
    }

    fn pause(&mut self, micros: u64) {
        self.micros += micros;
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }
}

fn checksum(data: &[u8], start: u32) -> u16 {
    let mut sum = start;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One TCP connection, both directions, with its sequence numbers.
struct Tcp {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    seq_c: u32,
    seq_s: u32,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

impl Tcp {
    fn new(client: [u8; 4], port: u16, server: [u8; 4], server_port: u16) -> Self {
        Self {
            client: (client, port),
            server: (server, server_port),
            seq_c: 1000,
            seq_s: 5000,
        }
    }

    fn segment(&mut self, pcap: &mut Pcap, to_server: bool, flags: u8, payload: &[u8]) {
        let ((src, sport), (dst, dport)) = if to_server {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let (seq, ack) = if to_server {
            (self.seq_c, self.seq_s)
        } else {
            (self.seq_s, self.seq_c)
        };
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend_from_slice(&sport.to_be_bytes());
        tcp.extend_from_slice(&dport.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&(if flags & ACK != 0 { ack } else { 0 }).to_be_bytes());
        tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&tcp);
        let sum = checksum(&pseudo, 0);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        let total = (20 + tcp.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let sum = checksum(&ip, 0);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&tcp);
        pcap.packet(&ip);
        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if to_server {
            self.seq_c = self.seq_c.wrapping_add(advance);
        } else {
            self.seq_s = self.seq_s.wrapping_add(advance);
        }
    }

    fn open(&mut self, pcap: &mut Pcap) {
        self.segment(pcap, true, SYN, &[]);
        self.segment(pcap, false, SYN | ACK, &[]);
        self.segment(pcap, true, ACK, &[]);
    }

    /// Sends `len` bytes in segments of at most 16,000.
    fn send(&mut self, pcap: &mut Pcap, to_server: bool, len: usize) {
        let mut left = len;
        while left > 0 {
            let n = left.min(16_000);
            self.segment(pcap, to_server, ACK | PSH, &vec![0x17; n]);
            left -= n;
        }
    }

    fn close(&mut self, pcap: &mut Pcap) {
        self.segment(pcap, true, FIN | ACK, &[]);
        self.segment(pcap, false, FIN | ACK, &[]);
        self.segment(pcap, true, ACK, &[]);
    }
}

/// A TLS 1.2 ClientHello naming `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = vec![0, 0];
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend_from_slice(&sni_ext);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0, 0, 0];
    hs[1..4].copy_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

fn report(db: &Path, kind: &str) -> serde_json::Value {
    let out = ok(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--report",
        kind,
        "--format",
        "json",
    ]);
    serde_json::from_str(&out).unwrap()
}

/// Bytes sent to the domain of rank `rank` (1 is the heaviest): a Zipf-like fall, every
/// step large enough that the ranking cannot hinge on header bytes.
fn weight(rank: usize) -> usize {
    4_000_000 / rank + 600
}

#[test]
fn the_top_twenty_of_five_thousand_unknown_destinations_are_the_true_top_twenty() {
    const DOMAINS: usize = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("unknown.pcap");
    let mut pcap = Pcap::new();
    // Visit the domains in a scrambled order, so the heavy ones come anywhere in the
    // stream and the sketch has to keep them against the tail.
    for i in 0..DOMAINS {
        let rank = (i * 7919) % DOMAINS + 1;
        let host = [10, 1, (rank % 7) as u8, 10 + (i % 50) as u8];
        let server = [198, 18, (rank / 250) as u8, (rank % 250) as u8 + 1];
        let mut tcp = Tcp::new(host, 40_000 + (i % 20_000) as u16, server, 443);
        tcp.open(&mut pcap);
        tcp.segment(
            &mut pcap,
            true,
            ACK | PSH,
            &client_hello(&format!("api.dest{rank}.com")),
        );
        tcp.send(&mut pcap, true, weight(rank));
        tcp.send(&mut pcap, false, 200);
        tcp.close(&mut pcap);
    }
    pcap.write(&capture);
    let db = dir.path().join("inventory.db");
    ok(&[
        "scan",
        "--format",
        "json",
        "--db",
        db.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    let report = report(&db, "unknown");
    let destinations = report["destinations"].as_array().unwrap();
    assert!(
        destinations.len() <= aigress::discovery::unknown::CAPACITY,
        "the sketch keeps at most its capacity: {}",
        destinations.len()
    );
    assert!(destinations.len() < DOMAINS, "the tail was dropped");
    let top: Vec<&str> = destinations
        .iter()
        .take(20)
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    let truth: Vec<String> = (1..=20).map(|r| format!("dest{r}.com")).collect();
    assert_eq!(top, truth);
    // The auditor's HTML report has the section, ranked the same, with a stub to start
    // from; the CSV has a line per destination.
    let html = ok(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "html",
    ]);
    let section = html
        .split_once("Destinations the database does not know")
        .unwrap()
        .1;
    let first = section.find("<td>dest1.com</td>").unwrap();
    let second = section.find("<td>dest2.com</td>").unwrap();
    assert!(first < second);
    assert!(
        section.contains("hosts = [&quot;dest1.com&quot;"),
        "{section:.2000}"
    );
    let csv = ok(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--report",
        "unknown",
        "--format",
        "csv",
    ]);
    assert!(
        csv.starts_with("domain,example,bytes_sent,bytes_error,"),
        "{csv:.300}"
    );
    assert_eq!(csv.lines().count(), destinations.len() + 1);
    for (rank, d) in destinations.iter().take(20).enumerate() {
        let sent = d["bytes_sent"].as_u64().unwrap();
        let error = d["bytes_error"].as_u64().unwrap();
        let payload = weight(rank + 1) as u64;
        assert!(sent >= payload, "{d}");
        // Headers: at most 64 bytes per packet, and the error the sketch owns to.
        let packets = payload / 16_000 + 8;
        assert!(sent <= payload + packets * 64 + error, "{d}");
        assert_eq!(d["flows"], 1);
        assert_eq!(d["internal_hosts"], 1);
        assert_eq!(d["example"], format!("api.dest{}.com", rank + 1));
        assert!(
            d["signature_stub"]
                .as_str()
                .unwrap()
                .contains(&format!("hosts = [\"dest{}.com\"", rank + 1))
        );
    }
}

/// A capture of an Ollama server and an OpenAI-compatible server inside the network, a
/// web application's `/api/chat` (the same path, nothing else of Ollama's), and a 3 MB
/// download from Hugging Face's file CDN.
fn self_hosted_and_hub_capture(path: &Path) {
    let mut pcap = Pcap::new();
    let ollama = [10, 0, 5, 10];
    let request = |pcap: &mut Pcap, server: [u8; 4], port: u16, cport: u16, head: &str| {
        let mut tcp = Tcp::new([10, 10, 0, 21], cport, server, port);
        tcp.open(pcap);
        tcp.segment(pcap, true, ACK | PSH, head.as_bytes());
        tcp.segment(
            pcap,
            false,
            ACK | PSH,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        );
        tcp.close(pcap);
    };
    request(
        &mut pcap,
        ollama,
        11434,
        50001,
        "GET /api/tags HTTP/1.1\r\nHost: 10.0.5.10:11434\r\n\r\n",
    );
    request(
        &mut pcap,
        ollama,
        11434,
        50002,
        "POST /api/chat HTTP/1.1\r\nHost: 10.0.5.10:11434\r\nAuthorization: Bearer secret-token\r\nContent-Length: 0\r\n\r\n",
    );
    request(
        &mut pcap,
        [10, 0, 6, 20],
        8000,
        50003,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: vllm.internal:8000\r\nAuthorization: Bearer sk-secret\r\nContent-Length: 0\r\n\r\n",
    );
    request(
        &mut pcap,
        [10, 0, 7, 30],
        3000,
        50004,
        "POST /api/chat HTTP/1.1\r\nHost: intranet-app:3000\r\nContent-Length: 0\r\n\r\n",
    );
    // Two servers no signature knows: one inside the network, one outside it.
    for (server, port, name) in [
        ([10, 0, 9, 9], 50006, "wiki.corp-intra.com"),
        ([198, 51, 100, 7], 50007, "api.newtool.ai"),
    ] {
        let mut tcp = Tcp::new([10, 10, 0, 21], port, server, 443);
        tcp.open(&mut pcap);
        tcp.segment(&mut pcap, true, ACK | PSH, &client_hello(name));
        tcp.send(&mut pcap, true, 20_000);
        tcp.close(&mut pcap);
    }
    let mut hub = Tcp::new([10, 10, 0, 21], 50005, [18, 160, 0, 1], 443);
    hub.open(&mut pcap);
    hub.segment(
        &mut pcap,
        true,
        ACK | PSH,
        &client_hello("cdn-lfs-us-1.hf.co"),
    );
    pcap.pause(2_000_000);
    hub.send(&mut pcap, false, 3_000_000);
    hub.close(&mut pcap);
    pcap.write(path);
}

const POLICY: &str = r#"
[networks]
internal = ["10.0.0.0/8"]

[self_hosted]
approved = ["10.0.6.0/24"]

[alerts.severity]
self_hosted_ai = "medium"
model_download = "low"

[alerts.model_download]
bytes = "2 MiB"
"#;

#[test]
fn self_hosted_model_servers_and_model_downloads_make_events_alerts_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("self-hosted.pcap");
    self_hosted_and_hub_capture(&capture);
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let db = dir.path().join("inventory.db");
    let events = json_lines(&[
        "scan",
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    let http: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "http")
        .collect();
    assert_eq!(http.len(), 4, "{http:#?}");
    let ai_of = |url: &str, host: &str| {
        http.iter()
            .find(|e| e["http"]["url"] == url && e["dest_ip"] == host)
            .unwrap()["ai"]
            .clone()
    };
    assert!(
        ai_of("/api/tags", "10.0.5.10").is_null(),
        "a supporting route alone names nothing"
    );
    let chat = ai_of("/api/chat", "10.0.5.10");
    assert_eq!(chat["kind"], "self_hosted_ai");
    assert_eq!(chat["vendor"], "self-hosted");
    assert_eq!(chat["endpoint"], "ollama");
    assert_eq!(chat["host"], "10.0.5.10:11434");
    assert_eq!(chat["match_source"], "http_request");
    let vllm = ai_of("/v1/chat/completions", "10.0.6.20");
    assert_eq!(vllm["endpoint"], "openai-compatible");
    assert!(
        ai_of("/api/chat", "10.0.7.30").is_null(),
        "a web app's /api/chat is not a model server"
    );
    let verdicts: Vec<(&str, &str)> = http
        .iter()
        .filter(|e| !e["ai"].is_null())
        .map(|e| {
            (
                e["dest_ip"].as_str().unwrap(),
                e["policy_verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(verdicts.contains(&("10.0.5.10", "review")), "{verdicts:?}");
    assert!(
        verdicts.contains(&("10.0.6.20", "approved")),
        "{verdicts:?}"
    );
    let alerts: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .collect();
    let rules: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert"]["rule"].as_str().unwrap_or_default())
        .collect();
    let self_hosted: Vec<&&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["alert"]["signature_id"] == 9_441_010)
        .collect();
    assert_eq!(self_hosted.len(), 1, "{rules:?} {alerts:#?}");
    assert_eq!(self_hosted[0]["dest_ip"], "10.0.5.10");

    let downloads: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "model_download")
        .collect();
    assert_eq!(downloads.len(), 1);
    let d = downloads[0];
    assert_eq!(d["model_download"]["hub"], "cdn-lfs-us-1.hf.co");
    assert!(d["model_download"]["bytes"].as_u64().unwrap() >= 3_000_000);
    assert_eq!(d["ai"]["kind"], "model_hub");
    assert_eq!(d["ai"]["vendor"], "huggingface");
    assert!(
        alerts
            .iter()
            .any(|a| a["alert"]["signature_id"] == 9_441_011 && a["src_ip"] == "10.10.0.21"),
        "{alerts:#?}"
    );

    // Without a policy the download is an event all the same, with no verdict or alert.
    let unjudged = json_lines(&["scan", "--format", "json", capture.to_str().unwrap()]);
    let plain: Vec<&serde_json::Value> = unjudged
        .iter()
        .filter(|e| e["event_type"] == "model_download")
        .collect();
    assert_eq!(plain.len(), 1);
    assert!(plain[0].get("policy_verdict").is_none(), "{}", plain[0]);
    assert!(unjudged.iter().all(|e| e["event_type"] != "alert"));

    let inventory = report(&db, "inventory");
    let rows = inventory["rows"].as_array().unwrap();
    let row = |endpoint: &str| rows.iter().find(|r| r["endpoint"] == endpoint);
    let ollama = row("10.0.5.10").or_else(|| row("10.0.5.10:11434"));
    let ollama = ollama.unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(ollama["kind"], "self_hosted_ai");
    let hub = row("cdn-lfs-us-1.hf.co").unwrap();
    assert!(hub["bytes_received"].as_u64().unwrap() >= 3_000_000);
    // Unknown destinations are egress only: the intranet wiki is not one.
    let unknown = report(&db, "unknown");
    let domains: Vec<&str> = unknown["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["newtool.ai"], "{unknown:#}");
    assert_eq!(unknown["destinations"][0]["hints"][0], "ai_tld");
    // Nothing stored holds a credential or a request body.
    let stored = std::fs::read(&db).unwrap();
    for secret in ["secret-token", "sk-secret", "Bearer"] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} stored"
        );
    }
}

/// An HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// gRPC to a model server in clear (h2c): the calls' paths are in HPACK header blocks, the
/// second one referring back to the first through the dynamic table.
#[test]
fn a_grpc_model_server_in_clear_is_named_by_its_service() {
    const HEADERS: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("grpc.pcap");
    let mut pcap = Pcap::new();
    let mut conn = Tcp::new([10, 1, 2, 3], 50123, [10, 0, 8, 1], 8001);
    conn.open(&mut pcap);
    let mut encoder = loona_hpack::Encoder::new();
    let mut call = |stream: u32, method: &str| {
        let path = format!("/inference.GRPCInferenceService/{method}");
        let block = encoder.encode([
            (&b":method"[..], &b"POST"[..]),
            (b":scheme", b"http"),
            (b":path", path.as_bytes()),
            (b":authority", b"triton.internal:8001"),
            (b"content-type", b"application/grpc"),
            (b"user-agent", b"grpc-python/1.62.1"),
        ]);
        let mut frames = h2_frame(HEADERS, END_HEADERS, stream, &block);
        frames.extend(h2_frame(0x0, 0x1, stream, &[0, 0, 0, 0, 4, 1, 2, 3, 4]));
        frames
    };
    let mut first = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    first.extend(h2_frame(0x4, 0, 0, &[]));
    first.extend(call(1, "ServerLive"));
    let second = call(3, "ModelInfer");
    conn.segment(&mut pcap, true, ACK | PSH, &first);
    conn.segment(&mut pcap, false, ACK | PSH, &h2_frame(0x4, 0, 0, &[]));
    conn.segment(&mut pcap, true, ACK | PSH, &second);
    conn.segment(&mut pcap, false, ACK, &[]);
    conn.close(&mut pcap);
    pcap.write(&capture);

    let events = json_lines(&["scan", "--format", "json", capture.to_str().unwrap()]);
    let http: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "http")
        .collect();
    assert_eq!(http.len(), 2, "{events:#?}");
    for (e, method, packet) in [(http[0], "ServerLive", 5), (http[1], "ModelInfer", 7)] {
        assert_eq!(
            e["http"]["url"],
            format!("/inference.GRPCInferenceService/{method}")
        );
        assert_eq!(e["http"]["version"], "2");
        assert_eq!(e["http"]["http_method"], "POST");
        assert_eq!(e["http"]["hostname"], "triton.internal");
        assert_eq!(e["http"]["http_user_agent"], "grpc-python/1.62.1");
        assert_eq!(e["ai"]["kind"], "self_hosted_ai");
        assert_eq!(e["ai"]["endpoint"], "open-inference-protocol-grpc");
        assert_eq!(e["ai"]["host"], "10.0.8.1:8001");
        // Stamped with the server's packet that acknowledged the call.
        assert_eq!(e["pcap_cnt"], packet);
        assert_eq!(e["src_ip"], "10.1.2.3");
    }
    let flow = events.iter().find(|e| e["event_type"] == "flow").unwrap();
    assert_eq!(flow["app_proto"], "http2");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/eve.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for e in &events {
        assert!(validator.is_valid(e), "{e}");
    }
}
