//! Link layer, tunnels and IP/TCP/UDP decoding, for every link type.
#![no_main]

use aigress::decode::{LinkType, decode};
use libfuzzer_sys::fuzz_target;

const LINKS: [i32; 14] = [0, 1, 9, 10, 101, 104, 105, 108, 113, 127, 228, 229, 239, 276];

fuzz_target!(|data: &[u8]| {
    let Some((selector, frame)) = data.split_first() else { return };
    let number = LINKS[usize::from(*selector) % LINKS.len()];
    if let Ok(link) = LinkType::from_number(number) {
        let _ = decode(link, frame);
    }
});
