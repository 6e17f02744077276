//! Capture files (pcap and pcapng), plain or compressed (gzip, zstd), and directories of
//! them, read without libpcap: a plain file is mapped into memory and its packets handed
//! over where they lie, with no copy and no read calls; the records are parsed by
//! [`super::records`].
//!
//! A pcapng file's interfaces may have different link types: each packet comes with its
//! interface's. Packets of an interface whose link type aigress does not decode are skipped
//! and counted ([`FileSource::skipped`]). Timestamps are read at nanosecond precision
//! whatever the file's resolution, so pcapng files with `if_tsresol` keep their
//! sub-microsecond digits until [`Timestamp`] rounds them. A file cut off in the middle of a
//! record, or damaged, yields every packet before the cut, then [`Next::Truncated`] with the
//! number of the packet that was cut.
//!
//! A compressed file (recognised by its magic bytes, whatever its name) is inflated as a
//! stream by a thread of its own into a pipe read into a buffer: no temporary file, the same
//! parser and the same answers as for a plain file, and the inflating runs on another core
//! while the packets are processed. A damaged compressed stream ends like a truncated file,
//! with the decompressor's reason.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use memmap2::Mmap;

use super::records::{Record, Records, Start};
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
    /// A packet, with the link type of the interface that captured it.
    Packet {
        packet: RawPacket<'a>,
        link: LinkType,
    },
    /// The file ended cleanly.
    End,
    /// The file ends inside packet number `packet` (1-based).
    Truncated { packet: u64, message: String },
}

/// How a compressed capture file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression of a file by its first bytes; `None` for a plain capture.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn of(path: &Path) -> io::Result<Option<Self>> {
        let mut magic = Vec::with_capacity(4);
        File::open(path)?.take(4).read_to_end(&mut magic)?;
        Ok(match magic.as_slice() {
            [0x1f, 0x8b, ..] => Some(Self::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd] => Some(Self::Zstd),
            _ => None,
        })
    }
}

/// The thread inflating a compressed file into the pipe libpcap reads.
struct Inflater {
    thread: Option<JoinHandle<io::Result<u64>>>,
    /// Compressed bytes read from the file so far.
    read: Arc<AtomicU64>,
}

impl Inflater {
    /// Starts inflating `path` and returns the pipe's reading end.
    fn start(path: &Path, compression: Compression) -> io::Result<(Self, io::PipeReader)> {
        let file = File::open(path)?;
        let (reader, mut writer) = io::pipe()?;
        // A larger pipe lets the inflater run ahead in bigger steps instead of waking the
        // reader for every 64 KiB; where the kernel refuses (a lower pipe-max-size), the
        // default pipe still works.
        let _ = nix::fcntl::fcntl(&writer, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: file,
            read: Arc::clone(&read),
        };
        let thread = std::thread::Builder::new()
            .name("aigress-inflate".into())
            .spawn(move || -> io::Result<u64> {
                let copied = match compression {
                    Compression::Gzip => {
                        pump(flate2::read::MultiGzDecoder::new(counted), &mut writer)
                    }
                    Compression::Zstd => {
                        pump(zstd::stream::read::Decoder::new(counted)?, &mut writer)
                    }
                };
                match copied {
                    // The reader stopped early (a scan that only checks the link type).
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
                    other => other,
                }
            })?;
        Ok((
            Self {
                thread: Some(thread),
                read,
            },
            reader,
        ))
    }

    /// Why the stream ended early, if it did: the decompressor's error.
    fn failure(&mut self) -> Option<String> {
        match self.thread.take()?.join() {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("decompressing: {e}")),
            Err(_) => Some("decompressing: the inflating thread failed".into()),
        }
    }
}

/// The pipe's size asked of the kernel (Linux allows up to `pipe-max-size`, 1 MiB by
/// default, to unprivileged processes).
const PIPE_BYTES: i32 = 1 << 20;
/// What the inflater hands to the pipe at once.
const PUMP_BYTES: usize = 256 * 1024;

/// Copies `from` into `to` in large steps, until `from` ends; the bytes copied.
fn pump(mut from: impl Read, to: &mut impl io::Write) -> io::Result<u64> {
    let mut buf = vec![0u8; PUMP_BYTES];
    let mut total: u64 = 0;
    // Ends when the source does (a read of 0) or on the first error.
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match from.read(buf.get_mut(filled..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => filled = filled.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    to.write_all(buf.get(..filled).unwrap_or_default())?;
                    return Err(e);
                }
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        to.write_all(buf.get(..filled).unwrap_or_default())?;
        total = total.saturating_add(u64::try_from(filled).unwrap_or(0));
    }
}

/// A reader that counts what it reads.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
        Ok(n)
    }
}

/// An open capture file.
pub struct FileSource {
    bytes: Bytes,
    records: Records,
    /// The link type of the file's packets, or of its first interface.
    link: LinkType,
    /// Its number in the file.
    link_number: i32,
    path: PathBuf,
    packets: u64,
    /// Packets skipped because their interface's link type is not one aigress decodes.
    skipped: u64,
    inflater: Option<Inflater>,
}

/// Where a file's bytes are read from.
enum Bytes {
    /// A plain file, mapped into memory: packets are read where they lie, never copied.
    /// The pages before `released` were handed back, so a scan's resident memory does not
    /// grow with the file.
    Mapped {
        map: Mmap,
        at: usize,
        released: usize,
    },
    /// A compressed file's inflated stream, read into a buffer as the records need.
    Streamed(Stream),
}

/// A byte stream read into a buffer that holds at least the record being read.
struct Stream {
    source: io::PipeReader,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    ended: bool,
}

/// What a stream reads at once.
const STREAM_READ_BYTES: usize = 256 * 1024;
/// The largest record a stream buffers: far above any packet (`MAX_CAPTURED_LEN`); a block
/// claiming more is damaged.
const MAX_STREAM_RECORD: usize = 16 << 20;

impl Stream {
    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Reads more of the stream after what is unread; false once it has ended or the
    /// buffer would pass its bound.
    fn fill(&mut self) -> io::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        let unread = self.end.saturating_sub(self.start);
        if unread.saturating_add(STREAM_READ_BYTES)
            > MAX_STREAM_RECORD.saturating_add(STREAM_READ_BYTES)
        {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.start = 0;
        self.end = unread;
        let want = unread.saturating_add(STREAM_READ_BYTES);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        // Ends on data, on the end of the stream, or on an error.
        loop {
            match self
                .source
                .read(self.buf.get_mut(self.end..).unwrap_or_default())
            {
                Ok(0) => {
                    self.ended = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end = self.end.saturating_add(n);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn consume(&mut self, len: usize) {
        self.start = self.start.saturating_add(len).min(self.end);
    }
}

impl Bytes {
    /// Where the unread bytes start in the map or buffer.
    fn position(&self) -> usize {
        match self {
            Bytes::Mapped { at, .. } => *at,
            Bytes::Streamed(stream) => stream.start,
        }
    }

    /// Bytes of the map or buffer; the buffer's stay in place until the next `fill`.
    fn slice(&self, range: Range<usize>) -> &[u8] {
        match self {
            Bytes::Mapped { map, .. } => map.get(range).unwrap_or_default(),
            Bytes::Streamed(stream) => stream.buf.get(range).unwrap_or_default(),
        }
    }

    fn unread(&self) -> &[u8] {
        match self {
            Bytes::Mapped { map, at, .. } => map.get(*at..).unwrap_or_default(),
            Bytes::Streamed(stream) => stream.unread(),
        }
    }

    fn consume(&mut self, len: usize) {
        match self {
            Bytes::Mapped { map, at, released } => {
                let record = *at;
                *at = at.saturating_add(len).min(map.len());
                // Only pages wholly before the record just read, whose packet the caller
                // may still hold, are handed back.
                let upto = record.saturating_sub(record.checked_rem(RELEASE_BYTES).unwrap_or(0));
                if upto.saturating_sub(*released) >= RELEASE_BYTES {
                    release(map, *released, upto);
                    *released = upto;
                }
            }
            Bytes::Streamed(stream) => stream.consume(len),
        }
    }

    /// Makes more bytes available; false when there are no more.
    fn fill(&mut self) -> io::Result<bool> {
        match self {
            Bytes::Mapped { .. } => Ok(false),
            Bytes::Streamed(stream) => stream.fill(),
        }
    }
}

impl FileSource {
    /// Opens a pcap or pcapng file, plain or compressed, and checks the link type of its
    /// packets (of a pcapng file's first interface).
    ///
    /// # Errors
    /// [`CaptureError::Open`] when it cannot be read as a capture, [`CaptureError::LinkType`]
    /// when its link type is not supported.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let open_error = |message: String| CaptureError::Open {
            path: path.to_owned(),
            message,
        };
        let compression = Compression::of(path).map_err(|e| open_error(e.to_string()))?;
        let (mut bytes, mut inflater) = match compression {
            None => (map(path).map_err(|e| open_error(e.to_string()))?, None),
            Some(compressed) => {
                let (inflater, pipe) =
                    Inflater::start(path, compressed).map_err(|e| open_error(e.to_string()))?;
                let stream = Stream {
                    source: pipe,
                    buf: Vec::new(),
                    start: 0,
                    end: 0,
                    ended: false,
                };
                (Bytes::Streamed(stream), Some(inflater))
            }
        };
        let failure = |inflater: &mut Option<Inflater>, message: String| {
            open_error(match inflater.as_mut().and_then(Inflater::failure) {
                Some(why) => format!("{message} ({why})"),
                None => message,
            })
        };
        // Ends when the header is read, or when no more bytes come.
        let mut records = loop {
            match Records::start(bytes.unread()) {
                Start::Capture { records, len } => {
                    bytes.consume(len);
                    break records;
                }
                Start::NotCapture => {
                    return Err(failure(
                        &mut inflater,
                        "not a pcap or pcapng capture file".into(),
                    ));
                }
                Start::NeedMore => {
                    if !bytes.fill().map_err(|e| open_error(e.to_string()))? {
                        return Err(failure(
                            &mut inflater,
                            "the file ends before its capture header does".into(),
                        ));
                    }
                }
            }
        };
        // A pcapng file names its link types in interface descriptions: the first is read
        // before any packet. Ends at the first interface, or when no record can be read.
        let first = loop {
            if let Some(link) = records.first_link() {
                break link;
            }
            match records.next(bytes.unread()) {
                Record::Other { len } if len > 0 => bytes.consume(len),
                Record::NeedMore if bytes.fill().map_err(|e| open_error(e.to_string()))? => {}
                _ => {
                    return Err(failure(
                        &mut inflater,
                        "no interface description before the first packet".into(),
                    ));
                }
            }
        };
        let link = LinkType::from_number(first).map_err(|source| CaptureError::LinkType {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            bytes,
            records,
            link,
            link_number: first,
            path: path.to_owned(),
            packets: 0,
            skipped: 0,
            inflater,
        })
    }

    /// Bytes of a compressed file read from disk so far; `None` for a plain file, whose
    /// packets are its bytes.
    pub fn compressed_bytes_read(&self) -> Option<u64> {
        self.inflater
            .as_ref()
            .map(|i| i.read.load(Ordering::Relaxed))
    }

    /// The link type of the file's packets, or of its first interface.
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

    /// Packets skipped so far because their interface's link type is not supported.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads the next packet.
    pub fn next_packet(&mut self) -> Next<'_> {
        // Ends at a packet, at the end of the bytes, or at damage: every other turn
        // consumes a record of at least one byte or reads more of the stream.
        loop {
            let record = self.records.next(self.bytes.unread());
            match record {
                Record::Packet {
                    len,
                    link,
                    timestamp,
                    data,
                    wire_len,
                } if len > 0 => {
                    let link = if link == self.link_number {
                        Ok(self.link)
                    } else {
                        LinkType::from_number(link)
                    };
                    let Ok(link) = link else {
                        self.skipped = self.skipped.saturating_add(1);
                        self.bytes.consume(len);
                        continue;
                    };
                    self.packets = self.packets.saturating_add(1);
                    let base = self.bytes.position();
                    self.bytes.consume(len);
                    let data = self
                        .bytes
                        .slice(base.saturating_add(data.start)..base.saturating_add(data.end));
                    return Next::Packet {
                        packet: RawPacket {
                            timestamp,
                            data,
                            wire_len,
                            source: PacketSource::File {
                                packet: self.packets,
                            },
                        },
                        link,
                    };
                }
                Record::Other { len } if len > 0 => self.bytes.consume(len),
                Record::Packet { .. } | Record::Other { .. } => {
                    return self.damaged("a record of no length".into());
                }
                Record::NeedMore => match self.bytes.fill() {
                    Ok(true) => {}
                    Ok(false) if self.bytes.unread().is_empty() => return self.ended(),
                    Ok(false) => {
                        let left = self.bytes.unread().len();
                        return self.damaged(format!(
                            "truncated capture file: the last record is cut after {left} bytes"
                        ));
                    }
                    Err(e) => return self.damaged(e.to_string()),
                },
                Record::Damaged(message) => return self.damaged(message),
            }
        }
    }

    /// The file ends inside, or is damaged at, the next record: `message` says how, with
    /// the decompressor's reason when a compressed stream ended early.
    fn damaged(&mut self, message: String) -> Next<'_> {
        Next::Truncated {
            packet: self.packets.saturating_add(1),
            message: match self.inflater.as_mut().and_then(Inflater::failure) {
                Some(why) => format!("{message} ({why})"),
                None => message,
            },
        }
    }

    /// The bytes ended on a record's boundary: the end, unless a compressed stream ended
    /// because its decompressor gave up.
    fn ended(&mut self) -> Next<'_> {
        match self.inflater.as_mut().and_then(Inflater::failure) {
            Some(message) => Next::Truncated {
                packet: self.packets.saturating_add(1),
                message,
            },
            None => Next::End,
        }
    }
}

/// Maps a plain capture file into memory, read front to back.
#[allow(unsafe_code)]
fn map(path: &Path) -> io::Result<Bytes> {
    let file = File::open(path)?;
    // SAFETY: the map is read only, and aigress never writes capture files. Another
    // process truncating the file during the scan could fault the reader; capture files
    // handed to a scan are finished files, as they are for libpcap's reader.
    let map = unsafe { Mmap::map(&file) }?;
    // Read ahead generously: the records are read once, in order.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Bytes::Mapped {
        map,
        at: 0,
        released: 0,
    })
}

/// How much of a mapped file is read before its pages are handed back: a multiple of every
/// page size.
const RELEASE_BYTES: usize = 8 << 20;

/// Hands the pages of `map[from..to]`, already read, back to the kernel: they stay in the
/// page cache but leave the scan's resident memory.
#[allow(unsafe_code)]
fn release(map: &Mmap, from: usize, to: usize) {
    // SAFETY: the range lies before every record still to be read and before the packet
    // the caller may hold (the record just read), so no reference into it is alive; the map
    // is a read-only map of a file, whose pages read the same if ever touched again.
    let _ = unsafe {
        map.unchecked_advise_range(
            memmap2::UncheckedAdvice::DontNeed,
            from,
            to.saturating_sub(from),
        )
    };
}

/// The capture files `paths` name, a directory standing for the capture files in it (by
/// name: `.pcap`, `.pcapng`, `.cap`, optionally followed by `.gz` or `.zst`), those of
/// each directory in the time order of their first packets (then by name).
///
/// # Errors
/// A directory that cannot be read, or holds no capture file.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CaptureError> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let error = |message: String| CaptureError::Open {
            path: path.clone(),
            message,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| error(e.to_string()))? {
            let file = entry.map_err(|e| error(e.to_string()))?.path();
            if file.is_file() && is_capture_name(&file) {
                files.push(file);
            }
        }
        if files.is_empty() {
            return Err(error(
                "no capture files (.pcap, .pcapng, .cap, optionally .gz or .zst) in the directory"
                    .into(),
            ));
        }
        let mut dated: Vec<(Option<Timestamp>, PathBuf)> = files
            .into_iter()
            .map(|f| (first_packet_time(&f), f))
            .collect();
        // A file that cannot be read sorts first and fails when it is opened for the scan.
        dated.sort();
        out.extend(dated.into_iter().map(|(_, f)| f));
    }
    Ok(out)
}

fn is_capture_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    [".pcap", ".pcapng", ".cap"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn first_packet_time(path: &Path) -> Option<Timestamp> {
    let mut source = FileSource::open(path).ok()?;
    match source.next_packet() {
        Next::Packet { packet, .. } => Some(packet.timestamp),
        _ => None,
    }
}
