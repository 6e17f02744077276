//! QUIC long headers, Initial decryption and frame walking, and the per-flow reader that
//! reassembles CRYPTO frames, over datagrams split from the input.
#![no_main]

use aigress::flow::budget::BufferBudget;
use aigress::protocols::quic::QuicInspection;
use aigress::protocols::quic::parse as quic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = quic::parse_long_header(data) {
        if let Some(info) = header.initial {
            if let Some(keys) = quic::InitialKeys::client(&info, header.dcid) {
                if let Ok(opened) = quic::open_initial(data, &header, &keys, None) {
                    let _ = quic::frames(&opened.payload, info.crypto_frame).count();
                }
            }
        }
    }
    let _ = quic::frames(data, 0x06).count();
    let _ = quic::parse_chlo(data);
    let _ = quic::find_clear_chlo(data);
    let _ = quic::gquic_version(data);
    let mut out = Vec::new();
    let mut datagrams = data.split(|b| *b == 0xff).filter(|d| !d.is_empty());
    if let Some(first) = datagrams.next() {
        if let Some(mut inspection) = QuicInspection::start(first, &BufferBudget::default(), &mut |f| out.push(f)) {
            for d in datagrams {
                inspection.client_datagram(d, &mut |f| out.push(f));
            }
            inspection.give_up(&mut |f| out.push(f));
        }
    }
});
