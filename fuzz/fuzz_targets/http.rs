//! HTTP request heads and chunk-size lines.
#![no_main]

use aigress::protocols::http::parse as http;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = http::parse_request(data);
    let _ = http::chunk_size(data);
});
