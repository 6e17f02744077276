//! TLS record scanning, hello parsing (both formats) and JA4.
#![no_main]

use aigress::protocols::tls::ja4::{Carrier, ja4};
use aigress::protocols::tls::parse as tls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tls::next_record(data);
    let _ = tls::handshake_header(data);
    if let Ok(hello) = tls::parse_client_hello(data) {
        let _ = ja4(&hello, Carrier::Tcp);
        let _ = hello.alpn().count();
    }
    if let tls::Sslv2Scan::Hello { hello, .. } = tls::sslv2_client_hello(data) {
        let _ = ja4(&hello, Carrier::Tcp);
    }
    let _ = tls::parse_server_hello(data);
});
