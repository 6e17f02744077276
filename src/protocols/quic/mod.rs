//! QUIC over UDP: the ClientHello inside a client's encrypted Initial packets (IETF QUIC
//! and its drafts, Google QUIC over TLS) and the CHLO of Google QUIC in clear.

mod datagram;
pub mod parse;
mod record;
mod report;

pub use datagram::{MAX_CLIENT_DATAGRAMS, MAX_CRYPTO_BYTES, QuicDatagram, QuicInspection};
pub use record::QuicInfo;

use super::roles::{NoStream, Protocol};
use super::tls::{HelloCounts, TlsInfo};

/// The QUIC protocol.
#[derive(Debug)]
pub struct Quic;

impl Protocol for Quic {
    const NAME: &'static str = "quic";
    type Record = QuicInfo;
    type Finding = Finding;
    type Stats = HelloCounts;
    type Stream = NoStream<Finding>;
    type Datagram = QuicDatagram;
}

/// What a client's datagrams revealed.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    ClientHello {
        version: u32,
        hello: TlsInfo,
    },
    /// A Google QUIC CHLO (in clear, or read from a Q050 Initial).
    Chlo {
        version: u32,
        chlo: parse::Chlo,
    },
    /// A ClientHello started but could not be completed.
    Unreadable,
    /// The shared buffer budget could not hold this flow's CRYPTO data: inspection ended.
    BudgetRefused,
}
