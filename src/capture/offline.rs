//! Capture files (pcap and pcapng) read through libpcap.
//!
//! Timestamps are read at nanosecond precision whatever the file's resolution, so pcapng
//! files with `if_tsresol` keep their sub-microsecond digits until [`Timestamp`] rounds them.
//! A file cut off in the middle of a record yields every packet before the cut, then
//! [`Next::Truncated`] with the number of the packet that was cut.

use std::path::{Path, PathBuf};

use pcap::{Capture, Offline, Precision};

use super::{PacketSource, RawPacket};
use crate::decode::{LinkType, UnsupportedLinkType};
use crate::time::Timestamp;

/// Why a capture file cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// libpcap could not open the file (missing, unreadable, not a capture).
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    /// The file's link type is not one aigress decodes.
    #[error("{path}: {source}")]
    LinkType {
        path: PathBuf,
        source: UnsupportedLinkType,
    },
}

/// What reading the next record gave.
#[derive(Debug)]
pub enum Next<'a> {
    Packet(RawPacket<'a>),
    /// The file ended cleanly.
    End,
    /// The file ends inside packet number `packet` (1-based).
    Truncated {
        packet: u64,
        message: String,
    },
}

/// An open capture file.
pub struct FileSource {
    capture: Capture<Offline>,
    link: LinkType,
    path: PathBuf,
    packets: u64,
}

impl FileSource {
    /// Opens a pcap or pcapng file and checks its link type.
    ///
    /// # Errors
    /// [`CaptureError::Open`] when libpcap cannot read it, [`CaptureError::LinkType`] when
    /// its link type is not supported.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let capture = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
            CaptureError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            }
        })?;
        let link = LinkType::from_number(capture.get_datalink().0).map_err(|source| {
            CaptureError::LinkType {
                path: path.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            capture,
            link,
            path: path.to_owned(),
            packets: 0,
        })
    }

    pub fn link_type(&self) -> LinkType {
        self.link
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Reads the next packet.
    // `time_t` and `suseconds_t` are `i64` here but `i32` on some targets.
    #[allow(clippy::useless_conversion)]
    pub fn next_packet(&mut self) -> Next<'_> {
        match self.capture.next_packet() {
            Ok(p) => {
                self.packets = self.packets.saturating_add(1);
                Next::Packet(RawPacket {
                    timestamp: Timestamp::from_secs_nanos(
                        i64::from(p.header.ts.tv_sec),
                        i64::from(p.header.ts.tv_usec),
                    ),
                    data: p.data,
                    wire_len: p.header.len,
                    source: PacketSource::File {
                        packet: self.packets,
                    },
                })
            }
            Err(pcap::Error::NoMorePackets) => Next::End,
            Err(e) => Next::Truncated {
                packet: self.packets.saturating_add(1),
                message: e.to_string(),
            },
        }
    }
}
