//! The whole per-packet path: frames (split from the input at a 2-byte length prefix) go
//! through one engine, so flows, reassembly, defragmentation and the DNS cache see
//! sequences of hostile packets, not just one.
#![no_main]

use std::sync::{Arc, OnceLock};

use aigress::decode::LinkType;
use aigress::engine::{Engine, EngineConfig, RawPacket};
use aigress::event::{Event, EventSink};
use aigress::signatures::Database;
use aigress::time::Timestamp;
use libfuzzer_sys::fuzz_target;

/// Loading the database takes milliseconds; once per process keeps the fuzzer fast.
static SIGNATURES: OnceLock<Arc<Database>> = OnceLock::new();

struct Discard;

impl EventSink for Discard {
    fn event(&mut self, event: Event) -> std::io::Result<()> {
        serde_json::to_vec(&event).map(|_| ()).map_err(std::io::Error::other)
    }
}

fuzz_target!(|data: &[u8]| {
    let signatures = SIGNATURES
        .get_or_init(|| Arc::new(Database::embedded().expect("the built-in database is valid")))
        .clone();
    let mut engine =
        Engine::new(EngineConfig { max_flows: 64, dns_cache_entries: 64 }, signatures);
    let mut sink = Discard;
    let mut rest = data;
    let mut micros = 0i64;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])) % 2048;
        let (frame, next) = tail.split_at(len.min(tail.len()));
        micros += i64::from(*lo) * 1_000_000;
        let packet = RawPacket {
            timestamp: Timestamp::from_micros(micros),
            data: frame,
            wire_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
        };
        let link = if hi & 0x80 == 0 { LinkType::Ethernet } else { LinkType::Raw };
        let _ = engine.process(link, &packet, &mut sink);
        rest = next;
    }
    let _ = engine.finish(&mut sink);
});
