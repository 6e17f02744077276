//! The records of a capture file, pcap or pcapng, read from bytes in memory: a pure parser
//! over [`pcap_parser`]'s block parsers, with no I/O, so a memory-mapped file and a stream
//! inflated into a buffer are read by the same code.
//!
//! What the blocks do not say alone is kept here: a pcap file's byte order, timestamp unit
//! and link type; a pcapng section's byte order and its interfaces, each with its own link
//! type, timestamp resolution (`if_tsresol`) and offset (`if_tsoffset`). Timestamps come out
//! in nanoseconds, truncated as libpcap truncates them.

use pcap_parser::PcapError;
use pcap_parser::nom;
use pcap_parser::pcapng::Block;

use std::ops::Range;

use crate::time::Timestamp;

/// The largest captured length a record may claim: libpcap's bound for the link types
/// aigress reads. A larger one is a damaged record, not a packet to allocate for.
pub const MAX_CAPTURED_LEN: u32 = 262_144;

/// A pcapng section header's block type, the same in both byte orders.
const SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The longest pcapng block passed over: far above any real one; longer is damage.
pub const MAX_BLOCK_LEN: u32 = 16 << 20;
/// The longest pcapng block parsed: a packet block of `MAX_CAPTURED_LEN` with 64 KiB of
/// options.
const MAX_READ_BLOCK_LEN: u32 = MAX_CAPTURED_LEN + (64 << 10);

/// The bits of a pcap header's link type field that hold the link type.
const LINK_TYPE_BITS: i32 = 0x03FF_FFFF;

/// What the next bytes of a capture hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// A packet, `len` bytes of the capture in all.
    Packet {
        len: usize,
        /// The link type number of its interface.
        link: i32,
        timestamp: Timestamp,
        /// Where the packet's bytes lie in the bytes given.
        data: Range<usize>,
        wire_len: u32,
    },
    /// A record that carries no packet (a pcapng section header, interface description,
    /// statistics, name resolution, …), `len` bytes.
    Other { len: usize },
    /// The record goes on past the bytes given.
    NeedMore,
    /// The bytes cannot be read as a record: the capture is damaged here.
    Damaged(String),
}

/// How a capture starts.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// A capture whose header takes `len` bytes.
    Capture { records: Records, len: usize },
    /// Too few bytes to tell.
    NeedMore,
    /// Not a pcap or pcapng file.
    NotCapture,
}

/// An interface of a pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interface {
    link: i32,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset: i64,
    snaplen: u32,
}

/// What a pcap file's header says of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pcap {
    big_endian: bool,
    nanos: bool,
    /// The "modified" pcap of old Red Hat tools: 8 more bytes per record header.
    modified: bool,
    link: i32,
    /// What a record keeps of its packet: the header's snap length, within libpcap's bound.
    snaplen: u32,
    lengths: Lengths,
}

/// Files written by libpcap before version 2.3 of the format swap a record's captured and
/// wire lengths; version 2.3 files may. libpcap reads them back as it wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengths {
    InOrder,
    Swapped,
    SwappedIfCapturedIsLonger,
}

#[derive(Debug, PartialEq, Eq)]
enum Format {
    Pcap(Pcap),
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// The reading state of one capture file.
#[derive(Debug, PartialEq, Eq)]
pub struct Records {
    format: Format,
}

impl Records {
    /// Reads a capture's header from its first bytes.
    pub fn start(bytes: &[u8]) -> Start {
        if bytes.len() < 4 {
            return Start::NeedMore;
        }
        if bytes.starts_with(&SECTION_HEADER) {
            match checked_block_len(bytes, false) {
                Ok(_) => {}
                Err(Record::NeedMore) => return Start::NeedMore,
                Err(_) => return Start::NotCapture,
            }
            return match pcap_parser::pcapng::parse_sectionheaderblock(bytes) {
                Ok((rest, shb)) => Start::Capture {
                    records: Records {
                        format: Format::PcapNg {
                            big_endian: shb.big_endian(),
                            interfaces: Vec::new(),
                        },
                    },
                    len: bytes.len().saturating_sub(rest.len()),
                },
                Err(nom::Err::Incomplete(_)) => Start::NeedMore,
                Err(_) => Start::NotCapture,
            };
        }
        match pcap_parser::pcap::parse_pcap_header(bytes) {
            Ok((rest, header)) => Start::Capture {
                records: Records {
                    format: Format::Pcap(Pcap {
                        big_endian: header.is_bigendian(),
                        nanos: header.is_nanosecond_precision(),
                        modified: header.is_modified_format(),
                        // The upper bits hold the frame check sequence's length, not
                        // the link type, as libpcap reads them.
                        link: header.network.0 & LINK_TYPE_BITS,
                        snaplen: match header.snaplen {
                            0 => MAX_CAPTURED_LEN,
                            n => n.min(MAX_CAPTURED_LEN),
                        },
                        lengths: match (header.version_major, header.version_minor) {
                            (2, 0..=2) => Lengths::Swapped,
                            (2, 3) => Lengths::SwappedIfCapturedIsLonger,
                            _ => Lengths::InOrder,
                        },
                    }),
                },
                len: bytes.len().saturating_sub(rest.len()),
            },
            Err(nom::Err::Incomplete(_)) => Start::NeedMore,
            Err(_) => Start::NotCapture,
        }
    }

    /// The link type of the capture's packets, or of its first interface; `None` for a
    /// pcapng file whose first interface has not been read yet.
    pub fn first_link(&self) -> Option<i32> {
        match &self.format {
            Format::Pcap(pcap) => Some(pcap.link),
            Format::PcapNg { interfaces, .. } => interfaces.first().map(|i| i.link),
        }
    }

    /// Reads the record at the start of `bytes`.
    pub fn next(&mut self, bytes: &[u8]) -> Record {
        if bytes.is_empty() {
            return Record::NeedMore;
        }
        match &mut self.format {
            Format::Pcap(pcap) => legacy(bytes, *pcap),
            Format::PcapNg {
                big_endian,
                interfaces,
            } => next_block(bytes, big_endian, interfaces),
        }
    }
}

/// Reads a pcap record: a 16-byte header (24 in the modified format) of timestamp,
/// captured and wire lengths, then the captured bytes. Read by hand rather than through
/// pcap-parser's frame parser, which neither swaps old files' lengths nor keeps to the
/// snap length, as libpcap does.
fn legacy(bytes: &[u8], pcap: Pcap) -> Record {
    let header_len: usize = if pcap.modified { 24 } else { 16 };
    let field = |at: usize| {
        let b = <[u8; 4]>::try_from(bytes.get(at..at.saturating_add(4))?).ok()?;
        Some(if pcap.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let (Some(secs), Some(fraction), Some(mut captured), Some(mut wire)) =
        (field(0), field(4), field(8), field(12))
    else {
        return Record::NeedMore;
    };
    let swap = match pcap.lengths {
        Lengths::InOrder => false,
        Lengths::Swapped => true,
        Lengths::SwappedIfCapturedIsLonger => captured > wire,
    };
    if swap {
        std::mem::swap(&mut captured, &mut wire);
    }
    // Checked before the bytes are awaited, so a damaged length is reported as such
    // rather than waited for as a huge record.
    if captured > MAX_CAPTURED_LEN {
        return Record::Damaged(format!(
            "invalid packet capture length {captured}, bigger than maximum of {MAX_CAPTURED_LEN}"
        ));
    }
    let end = header_len.saturating_add(usize::try_from(captured).unwrap_or(usize::MAX));
    if bytes.len() < end {
        return Record::NeedMore;
    }
    // A record longer than the snap length is read whole but kept to it.
    let kept = header_len
        .saturating_add(usize::try_from(captured.min(pcap.snaplen)).unwrap_or(usize::MAX));
    let fraction = i64::from(fraction);
    Record::Packet {
        len: end,
        link: pcap.link,
        timestamp: Timestamp::from_secs_nanos(
            i64::from(secs),
            if pcap.nanos {
                fraction
            } else {
                fraction.saturating_mul(1000)
            },
        ),
        data: header_len..kept,
        wire_len: wire,
    }
}

/// Reads a pcapng block, keeping what section headers and interface descriptions say.
fn next_block(bytes: &[u8], big_endian: &mut bool, interfaces: &mut Vec<Interface>) -> Record {
    let is_section = bytes.starts_with(&SECTION_HEADER);
    match checked_block_len(bytes, *big_endian) {
        Ok(BlockUse::Read) => {}
        Ok(BlockUse::Skipped(len)) => return Record::Other { len },
        Err(stop) => return stop,
    }
    let parsed = if *big_endian {
        pcap_parser::pcapng::parse_block_be(bytes)
    } else {
        pcap_parser::pcapng::parse_block_le(bytes)
    };
    let (rest, block) = match parsed {
        Ok(parsed) => parsed,
        // A new section may change the byte order: its header is read whatever the
        // current section's order.
        Err(_) if is_section => match pcap_parser::pcapng::parse_sectionheaderblock(bytes) {
            Ok(parsed) => {
                let (rest, shb) = parsed;
                return section(bytes, rest, shb.big_endian(), big_endian, interfaces);
            }
            Err(e) => return failed(&e),
        },
        Err(e) => return failed(&e),
    };
    let len = bytes.len().saturating_sub(rest.len());
    match block {
        Block::SectionHeader(shb) => section(bytes, rest, shb.big_endian(), big_endian, interfaces),
        Block::InterfaceDescription(idb) => {
            let Some(resolution) = resolution(idb.if_tsresol) else {
                return Record::Damaged(format!(
                    "interface {} has an invalid timestamp resolution",
                    interfaces.len()
                ));
            };
            interfaces.push(Interface {
                link: idb.linktype.0,
                resolution,
                offset: idb.ts_offset(),
                snaplen: idb.snaplen,
            });
            Record::Other { len }
        }
        Block::EnhancedPacket(epb) => {
            let Some(interface) = usize::try_from(epb.if_id)
                .ok()
                .and_then(|i| interfaces.get(i))
            else {
                return Record::Damaged(format!(
                    "a packet names interface {}, which the section does not describe",
                    epb.if_id
                ));
            };
            if epb.caplen > MAX_CAPTURED_LEN {
                return Record::Damaged(format!(
                    "invalid packet capture length {}, bigger than maximum of {MAX_CAPTURED_LEN}",
                    epb.caplen
                ));
            }
            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            Record::Packet {
                len,
                link: interface.link,
                timestamp: timestamp(ticks, *interface),
                // The block's data is padded to 4 bytes: the packet is its first
                // `caplen`.
                data: within(
                    bytes,
                    epb.data
                        .get(..usize::try_from(epb.caplen).unwrap_or(usize::MAX))
                        .unwrap_or(epb.data),
                ),
                wire_len: epb.origlen,
            }
        }
        Block::SimplePacket(spb) => {
            let Some(interface) = interfaces.first() else {
                return Record::Damaged(
                    "a simple packet block precedes every interface description".into(),
                );
            };
            // Its captured length is what the block holds of the packet, at most the
            // interface's snap length; the rest of the block is padding.
            let mut captured = spb
                .data
                .len()
                .min(usize::try_from(spb.origlen).unwrap_or(usize::MAX));
            if interface.snaplen > 0 {
                captured = captured.min(usize::try_from(interface.snaplen).unwrap_or(usize::MAX));
            }
            Record::Packet {
                len,
                link: interface.link,
                // A simple packet block has no timestamp.
                timestamp: Timestamp::from_micros(0),
                data: within(bytes, spb.data.get(..captured).unwrap_or_default()),
                wire_len: spb.origlen,
            }
        }
        _ => Record::Other { len },
    }
}

/// What is done with a pcapng block whose length passed the checks.
enum BlockUse {
    /// A block aigress reads (section header, interface description, packet): parsed.
    Read,
    /// Any other (statistics, name resolution, secrets, custom…): passed over unparsed,
    /// `len` bytes.
    Skipped(usize),
}

/// The block types parsed: the section header, interface description, simple and
/// enhanced packet blocks.
const READ_BLOCK_TYPES: [u32; 4] = [0x0a0d_0d0a, 1, 3, 6];

/// The length a pcapng block claims, in its section's byte order (a section header's own,
/// by its byte-order magic), once the block is whole in `bytes`. Checked before pcap-parser
/// reads a block: it subtracts the 12 bytes of framing from lengths some blocks allow below
/// 12, would await a damaged length's billions of bytes, and makes a list entry of every
/// four bytes of options, so a block it parses is held to `MAX_READ_BLOCK_LEN`; the blocks
/// aigress does not read are passed over without parsing.
fn checked_block_len(bytes: &[u8], section_big_endian: bool) -> Result<BlockUse, Record> {
    let word = |at: usize| {
        bytes
            .get(at..at.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
    };
    let big_endian = if bytes.starts_with(&SECTION_HEADER) {
        match word(8).ok_or(Record::NeedMore)? {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => {
                return Err(Record::Damaged(
                    "a section header without its byte-order magic".into(),
                ));
            }
        }
    } else {
        section_big_endian
    };
    let number = |word: [u8; 4]| {
        if big_endian {
            u32::from_be_bytes(word)
        } else {
            u32::from_le_bytes(word)
        }
    };
    let kind = number(word(0).ok_or(Record::NeedMore)?);
    let len = number(word(4).ok_or(Record::NeedMore)?);
    let read = READ_BLOCK_TYPES.contains(&kind);
    let bound = if read {
        MAX_READ_BLOCK_LEN
    } else {
        MAX_BLOCK_LEN
    };
    if len < 12 || len % 4 != 0 || len > bound {
        return Err(Record::Damaged(format!("invalid block length {len}")));
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if bytes.len() < len {
        return Err(Record::NeedMore);
    }
    Ok(if read {
        BlockUse::Read
    } else {
        BlockUse::Skipped(len)
    })
}

/// Where `part`, a slice the parser took from `whole`, lies in it.
fn within(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len());
    start..start.saturating_add(part.len()).min(whole.len())
}

/// A section header: a new section, with its own byte order and interfaces.
fn section(
    bytes: &[u8],
    rest: &[u8],
    section_big_endian: bool,
    big_endian: &mut bool,
    interfaces: &mut Vec<Interface>,
) -> Record {
    *big_endian = section_big_endian;
    interfaces.clear();
    Record::Other {
        len: bytes.len().saturating_sub(rest.len()),
    }
}

/// Timestamp units per second of an `if_tsresol`: a power of ten, or of two when its top
/// bit is set. (pcap-parser's own reading refuses every power of two.)
fn resolution(tsresol: u8) -> Option<u64> {
    let exponent = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent)
    } else {
        1u64.checked_shl(exponent).filter(|_| exponent < 64)
    }
}

/// A pcapng timestamp of `ticks` in the interface's units, offset by its seconds.
fn timestamp(ticks: u64, interface: Interface) -> Timestamp {
    let resolution = interface.resolution.max(1);
    let secs = i64::try_from(ticks.checked_div(resolution).unwrap_or(0))
        .unwrap_or(i64::MAX)
        .saturating_add(interface.offset);
    // The fraction is below one second: in nanoseconds it fits an i64 whatever the unit.
    let nanos = u128::from(ticks.checked_rem(resolution).unwrap_or(0))
        .saturating_mul(1_000_000_000)
        .checked_div(u128::from(resolution))
        .unwrap_or(0);
    Timestamp::from_secs_nanos(secs, i64::try_from(nanos).unwrap_or(0))
}

/// What a parser's failure says of the bytes: more are needed, or they are damaged.
fn failed(e: &nom::Err<PcapError<&[u8]>>) -> Record {
    match e {
        nom::Err::Incomplete(_) => Record::NeedMore,
        nom::Err::Error(e) | nom::Err::Failure(e) => Record::Damaged(match e {
            PcapError::NomError(_, kind) => format!("damaged record ({kind:?})"),
            other => format!("damaged record ({other:?})"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32b(big_endian: bool, v: u32) -> [u8; 4] {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u16b(big_endian: bool, v: u16) -> [u8; 2] {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A pcap header of `magic` (as written, little-endian) and version.
    fn pcap_header(magic: u32, big_endian: bool, version: (u16, u16), link: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&u32b(big_endian, magic));
        h.extend_from_slice(&u16b(big_endian, version.0));
        h.extend_from_slice(&u16b(big_endian, version.1));
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&u32b(big_endian, 65535));
        h.extend_from_slice(&u32b(big_endian, link));
        h
    }

    fn pcap_record(
        big_endian: bool,
        secs: u32,
        fraction: u32,
        caplen: u32,
        len: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let mut r = Vec::new();
        for v in [secs, fraction, caplen, len] {
            r.extend_from_slice(&u32b(big_endian, v));
        }
        r.extend_from_slice(data);
        r
    }

    fn records(file: &[u8]) -> (Records, usize) {
        match Records::start(file) {
            Start::Capture { records, len } => (records, len),
            other => panic!("{other:?}"),
        }
    }

    /// Every packet of a whole file: (link, timestamp µs, data, wire length).
    fn packets(file: &[u8]) -> Vec<(i32, i64, Vec<u8>, u32)> {
        let (mut r, mut at) = records(file);
        let mut out = Vec::new();
        // Ends: each turn consumes a record of at least one byte, or stops.
        loop {
            let rest = &file[at..];
            match r.next(rest) {
                Record::Packet {
                    len,
                    link,
                    timestamp,
                    data,
                    wire_len,
                } => {
                    out.push((link, timestamp.micros(), rest[data].to_vec(), wire_len));
                    at += len;
                }
                Record::Other { len } => at += len,
                Record::NeedMore if rest.is_empty() => return out,
                other => panic!("at {at}: {other:?}"),
            }
        }
    }

    #[test]
    fn pcap_in_both_byte_orders_and_units() {
        for (magic, big_endian, fraction, micros) in [
            (0xa1b2_c3d4, false, 250_000, 250_000),
            (0xa1b2_c3d4, true, 250_000, 250_000),
            (0xa1b2_3c4d, false, 250_000_999, 250_000),
            (0xa1b2_3c4d, true, 250_000_999, 250_000),
        ] {
            let mut file = pcap_header(magic, big_endian, (2, 4), 1);
            file.extend(pcap_record(big_endian, 10, fraction, 3, 60, b"abc"));
            assert_eq!(
                packets(&file),
                vec![(1, 10_000_000 + micros, b"abc".to_vec(), 60)],
                "{magic:x} {big_endian}"
            );
        }
    }

    #[test]
    fn old_pcap_files_swap_their_lengths_as_libpcap_reads_them() {
        // Version 2.2: always swapped; 2.3: swapped when the captured length is longer.
        let mut file = pcap_header(0xa1b2_c3d4, false, (2, 2), 1);
        file.extend(pcap_record(false, 1, 0, 60, 3, b"abc"));
        assert_eq!(packets(&file)[0].2, b"abc");
        let mut file = pcap_header(0xa1b2_c3d4, false, (2, 3), 1);
        file.extend(pcap_record(false, 1, 0, 60, 3, b"abc"));
        file.extend(pcap_record(false, 1, 0, 2, 60, b"de"));
        let got: Vec<_> = packets(&file).into_iter().map(|p| (p.2, p.3)).collect();
        assert_eq!(got, vec![(b"abc".to_vec(), 60), (b"de".to_vec(), 60)]);
    }

    #[test]
    fn a_cut_record_needs_more_and_a_huge_one_is_damage() {
        let mut file = pcap_header(0xa1b2_c3d4, false, (2, 4), 1);
        let head = file.len();
        file.extend(pcap_record(false, 1, 0, 3, 3, b"abc"));
        let (mut r, _) = records(&file);
        for cut in head..file.len() {
            assert_eq!(r.next(&file[head..cut]), Record::NeedMore, "cut at {cut}");
        }
        let mut bad = pcap_header(0xa1b2_c3d4, false, (2, 4), 1);
        bad.extend(pcap_record(false, 1, 0, 1 << 30, 60, b""));
        let (mut r, at) = records(&bad);
        assert!(matches!(r.next(&bad[at..]), Record::Damaged(m) if m.contains("1073741824")));
        assert_eq!(
            Records::start(b"\x00\x01\x02\x03rest of it"),
            Start::NotCapture
        );
        assert_eq!(Records::start(b"\xd4\xc3"), Start::NeedMore);
    }

    #[test]
    fn the_link_type_field_keeps_its_low_bits() {
        let file = pcap_header(0xa1b2_c3d4, false, (2, 4), 0x4000_0001);
        assert_eq!(records(&file).0.first_link(), Some(1));
    }

    /// A pcapng block of `kind` with `body`, in the byte order given.
    fn block(kind: u32, body: &[u8], big_endian: bool) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = u32::try_from(body.len() + 12).unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(&u32b(big_endian, kind));
        b.extend_from_slice(&u32b(big_endian, len));
        b.extend_from_slice(&body);
        b.extend_from_slice(&u32b(big_endian, len));
        b
    }

    fn shb(big_endian: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&if big_endian {
            0x1a2b_3c4du32.to_be_bytes()
        } else {
            0x1a2b_3c4du32.to_le_bytes()
        });
        body.extend_from_slice(&if big_endian {
            [0, 1, 0, 0]
        } else {
            [1, 0, 0, 0]
        });
        body.extend_from_slice(&[0xff; 8]);
        let mut b = block(0x0a0d_0d0a, &body, big_endian);
        // The section header's type reads the same in both orders.
        b[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
        b
    }

    fn idb(link: u16, tsresol: Option<u8>, big_endian: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&u16b(big_endian, link));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&if big_endian {
            0u32.to_be_bytes()
        } else {
            0u32.to_le_bytes()
        });
        if let Some(r) = tsresol {
            body.extend_from_slice(&u16b(big_endian, 9));
            body.extend_from_slice(&u16b(big_endian, 1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0; 4]);
        }
        block(1, &body, big_endian)
    }

    fn epb(interface: u32, ticks: u64, data: &[u8], wire: u32, big_endian: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&u32b(big_endian, interface));
        body.extend_from_slice(&u32b(big_endian, u32::try_from(ticks >> 32).unwrap()));
        body.extend_from_slice(&u32b(
            big_endian,
            u32::try_from(ticks & 0xffff_ffff).unwrap(),
        ));
        body.extend_from_slice(&u32b(big_endian, u32::try_from(data.len()).unwrap()));
        body.extend_from_slice(&u32b(big_endian, wire));
        body.extend_from_slice(data);
        block(6, &body, big_endian)
    }

    #[test]
    fn pcapng_interfaces_keep_their_link_types_and_clocks_across_sections() {
        let mut file = shb(false);
        file.extend(idb(1, None, false));
        // Nanoseconds, and a power of two (1/1024 s).
        file.extend(idb(101, Some(9), false));
        file.extend(idb(113, Some(0x8a), false));
        file.extend(epb(0, 5_500_000, b"eth", 3, false));
        file.extend(epb(1, 5_000_000_123, b"raw!", 90, false));
        file.extend(epb(2, 2048 + 512, b"sll", 3, false));
        // A big-endian section starts over with its own interfaces.
        file.extend(shb(true));
        file.extend(idb(228, None, true));
        file.extend(epb(0, 7_000_001, b"ipv4", 4, true));
        let got: Vec<_> = packets(&file)
            .into_iter()
            .map(|(link, micros, data, _)| (link, micros, data))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 5_500_000, b"eth".to_vec()),
                (101, 5_000_000, b"raw!".to_vec()),
                (113, 2_500_000, b"sll".to_vec()),
                (228, 7_000_001, b"ipv4".to_vec()),
            ]
        );
    }

    #[test]
    fn pcapng_block_lengths_are_checked_before_the_block_is_read() {
        let mut file = shb(false);
        file.extend(idb(1, None, false));
        let (mut r, _) = records(&file);
        for len in [0u32, 4, 8, 13, MAX_BLOCK_LEN + 4] {
            let mut block = 6u32.to_le_bytes().to_vec();
            block.extend_from_slice(&len.to_le_bytes());
            block.extend_from_slice(&[0; 64]);
            assert!(
                matches!(r.next(&block), Record::Damaged(m) if m.contains("block length")),
                "{len}"
            );
        }
        // A packet block is held to a packet and its options; a block aigress does not
        // read is passed over unparsed, however many options it holds.
        let mut long = 6u32.to_le_bytes().to_vec();
        long.extend_from_slice(&(MAX_READ_BLOCK_LEN + 4).to_le_bytes());
        assert!(matches!(r.next(&long), Record::Damaged(m) if m.contains("block length")));
        let statistics = block(5, &vec![0; 1 << 20], false);
        assert_eq!(
            r.next(&statistics),
            Record::Other {
                len: statistics.len()
            }
        );
        // A whole block is awaited before it is parsed.
        let packet = epb(0, 0, b"abcd", 4, false);
        assert_eq!(r.next(&packet[..packet.len() - 1]), Record::NeedMore);
    }

    #[test]
    fn pcapng_packets_of_unknown_interfaces_are_damage() {
        let mut file = shb(false);
        file.extend(idb(1, None, false));
        let at = file.len();
        file.extend(epb(3, 0, b"x", 1, false));
        let (mut r, start) = records(&file);
        assert_eq!(r.next(&file[start..at]), Record::Other { len: at - start });
        assert!(matches!(r.next(&file[at..]), Record::Damaged(m) if m.contains("interface 3")));
    }
}
