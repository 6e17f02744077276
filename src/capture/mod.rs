//! Packet sources: capture files, and live interfaces.

pub mod fanout;
pub mod live;
pub mod offline;
pub mod records;

pub use offline::{CaptureError, FileSource, Next};

use crate::time::Timestamp;

/// A captured frame as a packet source hands it over.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    pub timestamp: Timestamp,
    pub data: &'a [u8],
    /// The frame's length on the wire; more than `data.len()` when the snap length cut it.
    pub wire_len: u32,
    pub source: PacketSource,
}

/// Where a packet came from, for the `pcap_cnt` and `in_iface` of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketSource {
    /// The packet's number in its capture file, from 1.
    File { packet: u64 },
    /// An interface, by its position in `Engine::name_interfaces`.
    Interface(u16),
}
