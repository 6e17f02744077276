//! DNS over UDP and TCP on port 53: every query and response, and the names answers give
//! to addresses (which later name the flows to those addresses).

pub mod cache;
mod datagram;
pub mod parse;
mod record;
mod report;
mod stream;

pub use datagram::DnsDatagram;
pub use record::{DnsAnswer, DnsInfo, DnsQuery, DnsRequestType, SvcbInfo};
pub use stream::{DnsStream, MAX_DNS_BYTES};

use serde::Serialize;

use super::roles::{Counters, Protocol};

/// DNS servers listen here; mDNS (5353) and LLMNR (5355) are not DNS lookups and are left
/// out, as tshark's `dns` protocol leaves them out.
pub const PORT: u16 = 53;

/// The DNS protocol.
#[derive(Debug)]
pub struct Dns;

impl Protocol for Dns {
    const NAME: &'static str = "dns";
    type Record = DnsInfo;
    type Finding = Finding;
    type Stats = Stats;
    type Stream = DnsStream;
    type Datagram = DnsDatagram;
}

/// What DNS inspection found.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Message(parse::Message),
    /// Bytes on port 53 that are not a DNS message.
    Invalid,
}

impl Finding {
    /// What a message's bytes are.
    fn of(message: &[u8]) -> Self {
        match parse::parse_message(message) {
            Ok(m) => Self::Message(m),
            Err(_) => Self::Invalid,
        }
    }
}

/// What DNS inspection counted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub messages: u64,
    /// Datagrams or TCP messages on port 53 that are not DNS.
    pub invalid: u64,
}

impl Counters for Stats {
    fn absorb(&mut self, other: &Self) {
        let Self { messages, invalid } = other;
        self.messages = self.messages.saturating_add(*messages);
        self.invalid = self.invalid.saturating_add(*invalid);
    }
}
