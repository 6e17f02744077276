//! DNS message parsing and its EVE form.
#![no_main]

use aigress::protocols::dns::DnsInfo;
use aigress::protocols::dns::parse as dns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = dns::parse_message(data) {
        let _ = DnsInfo::from_message(&message, Default::default(), Default::default(), 0);
    }
});
