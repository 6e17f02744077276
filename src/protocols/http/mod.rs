//! HTTP over TCP: the request heads a client sends (Host, method, path, User-Agent), each
//! request of a persistent connection, bodies skipped by their length; HTTP/2 in clear
//! (h2c) by its frames.

mod h2;
pub mod parse;
mod record;
mod report;
mod stream;

pub use record::HttpInfo;
pub use stream::HttpPhase;

use serde::Serialize;

use super::roles::{Counters, NoDatagram, Protocol};

/// The HTTP/1.x protocol.
#[derive(Debug)]
pub struct Http;

impl Protocol for Http {
    const NAME: &'static str = "http";
    type Record = HttpInfo;
    type Finding = Finding;
    type Stats = Stats;
    type Stream = HttpPhase;
    type Datagram = NoDatagram<Finding>;
}

/// What an HTTP direction showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Request(HttpInfo),
    /// A response with this status has ended: the oldest request waiting for one is
    /// answered.
    Response(u16),
    /// The server switched the connection to HTTP/2 (`101` with `Upgrade: h2c`).
    UpgradedToH2,
}

/// What HTTP inspection counted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
}

impl Counters for Stats {
    fn absorb(&mut self, other: &Self) {
        let Self { requests } = other;
        self.requests = self.requests.saturating_add(*requests);
    }
}
