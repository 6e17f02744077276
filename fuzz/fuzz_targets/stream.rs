//! One direction of a TCP stream through reassembly and the protocol state machine
//! (detection, TLS records and handshakes, HTTP heads, bodies and chunks, DNS over TCP),
//! fed as a sequence of segments that may overlap, repeat or leave holes.
//!
//! Input: a mode byte (bit 0: a port 53 stream), then segments of
//! `[length: u16 BE, mod 4096][sequence shift: i8][payload]`.
#![no_main]

use aigress::flow::stream::HalfStream;
use aigress::flow::budget::BufferBudget;
use aigress::protocols::StreamState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((mode, mut rest)) = data.split_first() else { return };
    let budget = BufferBudget::new(256 * 1024);
    // A port 53 stream falls back to DNS when content probes claim nothing.
    let port = if mode & 1 == 0 { 443 } else { 53 };
    let mut half = HalfStream::detect(&budget, StreamState::on_port(40000, port));
    half.syn(0);
    let mut seq: u32 = 1;
    let mut out = Vec::new();
    while let [hi, lo, shift, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])) % 4096;
        let (payload, next) = tail.split_at(len.min(tail.len()));
        let at = seq.wrapping_add_signed(i32::from(*shift as i8) * 16);
        half.segment(at, payload, &mut out);
        seq = seq.wrapping_add(u32::try_from(payload.len()).unwrap_or(0));
        rest = next;
        out.clear();
    }
    half.finish(&mut out);
    drop(half);
    assert_eq!(budget.used(), 0, "a finished stream gives its buffers back");
});
