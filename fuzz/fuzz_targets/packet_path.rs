//! The whole per-packet path over a sequence of packets of a few flows, so flow state,
//! reassembly, the protocol state machines, QUIC Initials, defragmentation and the DNS
//! cache see many packets of the same conversations, not one hostile frame each.
//!
//! Input: records of `[kind][length: u16 BE, mod 2048][bytes]`. A kind with the top bit
//! set sends the bytes as a raw Ethernet (bit 6 clear) or raw IP frame. Otherwise the
//! bytes are the payload of a packet the harness builds, Ethernet/IPv4, on one of four
//! flows (bits 0-1: server port 443, 80, 53 or 8443), from the client or the server
//! (bit 2), over TCP or UDP (bit 3), with SYN, FIN or RST (bits 4-5); TCP sequence
//! numbers follow each direction's bytes. Timestamps advance by the length's low byte in
//! seconds, so timeouts fire too.
#![no_main]

use std::sync::{Arc, OnceLock};

use aigress::decode::LinkType;
use aigress::capture::{PacketSource, RawPacket};
use aigress::engine::{Engine, EngineConfig};
use aigress::event::{Event, EventSink};
use aigress::signatures::Database;
use aigress::time::Timestamp;
use libfuzzer_sys::fuzz_target;

/// Loading the database takes milliseconds; once per process keeps the fuzzer fast.
static SIGNATURES: OnceLock<Arc<Database>> = OnceLock::new();

const SERVER_PORTS: [u16; 4] = [443, 80, 53, 8443];

struct Discard;

impl EventSink for Discard {
    fn event(&mut self, event: Event) -> std::io::Result<()> {
        serde_json::to_vec(&event).map(|_| ()).map_err(std::io::Error::other)
    }
}

/// An Ethernet/IPv4 frame around a TCP or UDP payload.
fn frame(kind: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let flow = usize::from(kind & 3);
    let from_client = kind & 4 == 0;
    let udp = kind & 8 != 0;
    let client = ([10, 0, 0, 1 + flow as u8], 40000 + flow as u16);
    let server = ([192, 0, 2, 10], SERVER_PORTS[flow]);
    let (src, dst) = if from_client { (client, server) } else { (server, client) };
    let l4_len = if udp { 8 } else { 20 };
    let mut f = Vec::with_capacity(14 + 20 + l4_len + payload.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = u16::try_from(20 + l4_len + payload.len()).unwrap_or(u16::MAX);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    if udp {
        let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    } else {
        let flags = match (kind >> 4) & 3 {
            1 if from_client => 0x02,
            1 => 0x12,
            2 => 0x11,
            3 => 0x04,
            _ => 0x18,
        };
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    }
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    let signatures = SIGNATURES
        .get_or_init(|| Arc::new(Database::embedded().expect("the built-in database is valid")))
        .clone();
    let config = EngineConfig {
        max_flows: 64,
        dns_cache_entries: 64,
        buffer_budget_bytes: 1 << 20,
        // Small, so the fuzzer reaches the budget's refusals.
        defrag_budget_bytes: 256 << 10,
        community_id_seed: 0,
        ipv6_text: Default::default(),
        dns_request_type: Default::default(),
        // Both ways of reading one-sided connections, by a bit of the input.
        async_oneside: data.last().is_some_and(|b| b & 1 == 1),
    };
    let mut engine = Engine::new(config, signatures);
    let mut sink = Discard;
    let mut rest = data;
    let mut micros = 0i64;
    let mut number = 0u64;
    // Next sequence number per flow and direction.
    let mut seqs = [[1000u32; 2]; 4];
    while let [kind, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])) % 2048;
        let (bytes, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        number += 1;
        micros += i64::from(*lo) * 1_000_000;
        let (link, wire) = if kind & 0x80 != 0 {
            let link = if kind & 0x40 == 0 { LinkType::Ethernet } else { LinkType::Raw };
            (link, bytes.to_vec())
        } else {
            let flow = usize::from(kind & 3);
            let dir = usize::from(kind & 4 != 0);
            let seq = seqs[flow][dir];
            let ack = seqs[flow][1 - dir];
            let syn = (kind >> 4) & 3 == 1;
            let advance = u32::try_from(bytes.len()).unwrap_or(0) + u32::from(syn);
            seqs[flow][dir] = seq.wrapping_add(advance);
            (LinkType::Ethernet, frame(*kind, seq, ack, bytes))
        };
        let packet = RawPacket {
            timestamp: Timestamp::from_micros(micros),
            data: &wire,
            wire_len: u32::try_from(wire.len()).unwrap_or(u32::MAX),
            source: PacketSource::File { packet: number },
        };
        let _ = engine.process(link, &packet, &mut sink);
    }
    let _ = engine.finish(&mut sink);
});
