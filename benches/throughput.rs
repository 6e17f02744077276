//! Packet-path throughput: every capture shipped in `tests/data/captures`, held in memory,
//! run through
//!
//! 1. `decode` — link, tunnels, IP and TCP/UDP headers only (the reference: the least any
//!    sensor must do per packet);
//! 2. `engine` — decode, flow table, reassembly, TLS/QUIC/DNS/HTTP inspection and
//!    classification, events discarded;
//! 3. `judged` — the engine plus landing, policy, alerts and EVE JSON serialisation, as
//!    `aigress scan --policy deploy/policy.toml -f json` runs it.
//!
//! `cargo bench --bench throughput`. Reports packets per second and each stage's cost as
//! a ratio to the decode reference measured in the same run.

// A benchmark reports on stdout; the crate-wide lint is for library code.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aigress::capture::{FileSource, Next};
use aigress::capture::{PacketSource, RawPacket};
use aigress::decode::{self, LinkType};
use aigress::engine::{Engine, EngineConfig};
use aigress::event::{Event, EventSink};
use aigress::landing::LandingContext;
use aigress::policy::Policy;
use aigress::signatures::Database;
use aigress::sink::JsonSink;
use aigress::time::Timestamp;

struct Packet {
    link: LinkType,
    /// The packet's number in its capture, from 1.
    number: u64,
    timestamp: Timestamp,
    wire_len: u32,
    data: Vec<u8>,
}

/// Every capture's packets, one run (capture) after another.
fn load() -> Vec<Vec<Packet>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let mut source = FileSource::open(path).expect("a capture");
            let mut packets = Vec::new();
            while let Next::Packet { packet: p, link } = source.next_packet() {
                packets.push(Packet {
                    link,
                    number: packets.len() as u64 + 1,
                    timestamp: p.timestamp,
                    wire_len: p.wire_len,
                    data: p.data.to_vec(),
                });
            }
            packets
        })
        .collect()
}

struct Discard;

impl EventSink for Discard {
    fn event(&mut self, event: Event) -> std::io::Result<()> {
        black_box(event);
        Ok(())
    }
}

fn raw(p: &Packet) -> RawPacket<'_> {
    RawPacket {
        timestamp: p.timestamp,
        data: &p.data,
        wire_len: p.wire_len,
        source: PacketSource::File { packet: p.number },
    }
}

/// A SYN flood: `n` SYNs, each from a new source address and port to one server, 10 µs
/// apart, as Ethernet frames.
fn syn_flood(n: u32) -> Vec<Packet> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let src = (0x0a00_0000u32 | (state as u32 & 0x00ff_ffff)).to_be_bytes();
            let port = 32768 + (state >> 32) as u16 % 28000;
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
            f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&[192, 0, 2, 10]);
            f.extend_from_slice(&port.to_be_bytes());
            f.extend_from_slice(&443u16.to_be_bytes());
            f.extend_from_slice(&state.to_be_bytes()[..4]);
            f.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
            Packet {
                link: LinkType::Ethernet,
                number: u64::from(i) + 1,
                timestamp: Timestamp::from_micros(1_700_000_000_000_000 + i64::from(i) * 10),
                wire_len: f.len() as u32,
                data: f,
            }
        })
        .collect()
}

/// One capture through a fresh engine, events discarded.
fn engine_pass(capture: &[Packet], signatures: &Arc<Database>) {
    let mut engine = Engine::new(EngineConfig::default(), Arc::clone(signatures));
    let mut sink = Discard;
    for p in capture {
        engine.process(p.link, &raw(p), &mut sink).expect("discard");
    }
    engine.finish(&mut sink).expect("discard");
}

/// Packets per second of `run` over all captures, best of several rounds.
fn measure(captures: &[Vec<Packet>], mut run: impl FnMut(&[Packet])) -> f64 {
    let packets: usize = captures.iter().map(Vec::len).sum();
    let mut best = Duration::MAX;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut rounds = 0;
    while rounds < 5 || Instant::now() < deadline {
        let start = Instant::now();
        for capture in captures {
            run(capture);
        }
        best = best.min(start.elapsed());
        rounds += 1;
        if rounds >= 200 {
            break;
        }
    }
    packets as f64 / best.as_secs_f64()
}

fn main() {
    let captures = load();
    let packets: usize = captures.iter().map(Vec::len).sum();
    let bytes: usize = captures.iter().flatten().map(|p| p.data.len()).sum();
    println!(
        "{} captures, {packets} packets, {bytes} bytes",
        captures.len()
    );
    let signatures = Arc::new(Database::embedded().expect("built-in database"));
    let policy_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml");
    let policy = Arc::new(Policy::load(&policy_path, &signatures).expect("deploy policy"));
    let landing = Arc::new(
        LandingContext::load(None, None, false, Some(policy.transfer_lists()))
            .expect("built-in GeoIP"),
    );

    let decode_rate = measure(&captures, |capture| {
        for p in capture {
            let _ = black_box(decode::decode(p.link, black_box(&p.data)));
        }
    });
    let engine_rate = measure(&captures, |capture| engine_pass(capture, &signatures));
    let judged_rate = measure(&captures, |capture| {
        let mut out = JsonSink::new(std::io::sink());
        let mut assessor = aigress::assess::Assessor::new(
            Arc::clone(&landing),
            Some(Arc::clone(&policy)),
            &mut out,
            Vec::new(),
        );
        let mut engine = Engine::new(EngineConfig::default(), Arc::clone(&signatures));
        for p in capture {
            engine
                .process(p.link, &raw(p), &mut assessor)
                .expect("sink");
        }
        engine.finish(&mut assessor).expect("sink");
        black_box(assessor.finish().expect("sink"));
    });
    println!("{:<8}  {:>14}  {:>12}", "stage", "packets/s", "cost ratio");
    for (name, rate) in [
        ("decode", decode_rate),
        ("engine", engine_rate),
        ("judged", judged_rate),
    ] {
        println!("{name:<8}  {rate:>14.0}  {:>12.2}", decode_rate / rate);
    }

    // New-flow handling: a SYN flood through the engine (each SYN a new flow, the table
    // full and evicting, every flow ended with its record), against the same engine on
    // the captures above, in the same run.
    let flood = [syn_flood(300_000)];
    let flood_engine = measure(&flood, |capture| engine_pass(capture, &signatures));
    println!(
        "syn flood engine  {flood_engine:>14.0}  {:>12.2}  ({:.2}x the engine's cost per packet on the captures)",
        decode_rate / flood_engine,
        engine_rate / flood_engine
    );
}
