//! TLS over TCP: the ClientHello a client sends (server name, ALPN, JA4) and the version
//! its server chose.

pub mod ja4;
pub mod parse;
mod record;
mod report;
mod stream;

pub use record::TlsInfo;
pub use stream::{MAX_TLS_BYTES, TlsHandshake};

use serde::Serialize;

use super::roles::{Counters, NoDatagram, Protocol};

/// The TLS protocol.
#[derive(Debug)]
pub struct Tls;

impl Protocol for Tls {
    const NAME: &'static str = "tls";
    type Record = TlsInfo;
    type Finding = Finding;
    type Stats = HelloCounts;
    type Stream = TlsHandshake;
    type Datagram = NoDatagram<Finding>;
}

/// What a TLS direction showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The direction's bytes start as TLS handshake records: the flow is TLS, whether or
    /// not a hello can be read from them.
    Detected,
    ClientHello(TlsInfo),
    /// The negotiated version, from a ServerHello (or a HelloRetryRequest, which fixes
    /// TLS 1.3 before the client's second ClientHello).
    ServerHello {
        version: u16,
    },
    /// A ClientHello started but could not be read: lost segments, over the buffer bound,
    /// or malformed.
    ClientHelloUnreadable,
    /// This direction's handshake is over as Suricata's TLS parser judges it, which is
    /// when Suricata writes its tls event: `certificate` when the server's Certificate
    /// message was read (which ends both sides'), otherwise this side sent encrypted
    /// data (an application-data record, which TLS 1.3 wraps the rest of its handshake
    /// in) or, from the client, its ChangeCipherSpec — or can no longer be followed.
    HandshakeDone {
        certificate: bool,
    },
}

/// ClientHellos read and lost: what TLS inspection counts, and QUIC's too.
#[derive(Debug, Default, Clone, Serialize)]
pub struct HelloCounts {
    pub client_hellos: u64,
    /// ClientHellos that started but could not be read (lost segments, bound, malformed).
    pub client_hellos_unreadable: u64,
}

impl Counters for HelloCounts {
    fn absorb(&mut self, other: &Self) {
        let Self {
            client_hellos,
            client_hellos_unreadable,
        } = other;
        self.client_hellos = self.client_hellos.saturating_add(*client_hellos);
        self.client_hellos_unreadable = self
            .client_hellos_unreadable
            .saturating_add(*client_hellos_unreadable);
    }
}
