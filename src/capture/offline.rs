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
//! stream by a thread of its own, in chunks handed over a bounded channel into the buffer
//! the records are read from: no temporary file, the same parser and the same answers as for
//! a plain file, and the inflating runs on another core while the packets are processed. A
//! damaged compressed stream ends like a truncated file, with the decompressor's reason.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use memmap2::Mmap;

use super::records::{MAX_BLOCK_LEN, Record, Records, Start};
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

/// The thread inflating a compressed file, and the chunks it hands over. Chunks travel
/// over a channel, not a pipe: a pipe would copy every inflated byte through the kernel
/// twice, which cost more than the inflating.
struct Inflater {
    thread: Option<JoinHandle<io::Result<u64>>>,
    /// Compressed bytes read from the file so far.
    read: Arc<AtomicU64>,
    /// Inflated chunks, in order; `None` once closed.
    chunks: Option<Receiver<Vec<u8>>>,
    /// Chunks given back to be filled again.
    spare: SyncSender<Vec<u8>>,
}

/// What the inflater fills at once.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks inflated ahead of the reader, and spares kept: the stream's memory is bounded by
/// about twice this many chunks.
const CHUNKS_AHEAD: usize = 4;

impl Inflater {
    /// Starts inflating `path`.
    fn start(path: &Path, compression: Compression) -> io::Result<Self> {
        let file = File::open(path)?;
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: file,
            read: Arc::clone(&read),
        };
        let (chunk_tx, chunks) = mpsc::sync_channel(CHUNKS_AHEAD);
        let (spare, spare_rx) = mpsc::sync_channel(CHUNKS_AHEAD);
        let thread = std::thread::Builder::new()
            .name("aigress-inflate".into())
            .spawn(move || -> io::Result<u64> {
                match compression {
                    Compression::Gzip => fill_chunks(
                        flate2::read::MultiGzDecoder::new(counted),
                        &chunk_tx,
                        &spare_rx,
                    ),
                    Compression::Zstd => fill_chunks(
                        zstd::stream::read::Decoder::new(counted)?,
                        &chunk_tx,
                        &spare_rx,
                    ),
                }
            })?;
        Ok(Self {
            thread: Some(thread),
            read,
            chunks: Some(chunks),
            spare,
        })
    }

    /// The next inflated chunk; `None` once the stream has ended (or failed).
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        self.chunks.as_ref()?.recv().ok()
    }

    /// A chunk read, to be filled again.
    fn give_back(&self, chunk: Vec<u8>) {
        let _ = self.spare.try_send(chunk);
    }

    /// Why the stream ended early, if it did: the decompressor's error. The channel is
    /// closed first, so a thread waiting to hand over a chunk stops rather than waits for
    /// a reader that has stopped reading.
    fn failure(&mut self) -> Option<String> {
        self.chunks = None;
        match self.thread.take()?.join() {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("decompressing: {e}")),
            Err(_) => Some("decompressing: the inflating thread failed".into()),
        }
    }
}

/// Fills chunks from `from` and hands them over until it ends, an error, or the reader
/// closing the channel; the bytes inflated.
fn fill_chunks(
    mut from: impl Read,
    to: &SyncSender<Vec<u8>>,
    spare: &Receiver<Vec<u8>>,
) -> io::Result<u64> {
    let mut total: u64 = 0;
    // Ends when the source does (a read of 0), on its first error, or when the reader is
    // gone.
    loop {
        let mut chunk = spare.try_recv().unwrap_or_default();
        chunk.resize(CHUNK_BYTES, 0);
        let mut filled = 0;
        let mut failed = None;
        while filled < chunk.len() {
            match from.read(chunk.get_mut(filled..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(n) => filled = filled.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        chunk.truncate(filled);
        total = total.saturating_add(u64::try_from(filled).unwrap_or(0));
        // What was inflated before an error is read before the error is reported.
        if filled > 0 && to.send(chunk).is_err() {
            return Ok(total);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if filled == 0 {
            return Ok(total);
        }
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
}

/// Where a file's bytes are read from.
enum Bytes {
    /// A plain file, mapped into memory: packets are read where they lie, never copied.
    /// The pages before `released` were handed back, so a scan's resident memory does not
    /// grow with the file.
    Mapped {
        map: Arc<Mmap>,
        at: usize,
        released: usize,
        /// Pages from here on are still read elsewhere (see [`FileSource::keep_pages_from`]).
        kept: usize,
    },
    /// A compressed file's inflated stream, read into a buffer as the records need.
    Streamed(Stream),
}

/// An inflated stream read into a buffer that holds at least the record being read.
struct Stream {
    inflater: Inflater,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..]`.
    start: usize,
}

impl Stream {
    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Appends the next chunk after what is unread; false once the stream has ended or
    /// the buffer would pass its bound.
    fn fill(&mut self) -> bool {
        if self.unread().len() > usize::try_from(MAX_BLOCK_LEN).unwrap_or(usize::MAX) {
            return false;
        }
        let Some(chunk) = self.inflater.next_chunk() else {
            return false;
        };
        self.buf.drain(..self.start.min(self.buf.len()));
        self.buf.extend_from_slice(&chunk);
        self.start = 0;
        self.inflater.give_back(chunk);
        true
    }

    fn consume(&mut self, len: usize) {
        self.start = self.start.saturating_add(len).min(self.buf.len());
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
            Bytes::Mapped {
                map,
                at,
                released,
                kept,
            } => {
                let record = *at;
                *at = at.saturating_add(len).min(map.len());
                // Only pages wholly before the record just read, whose packet the caller
                // may still hold, and before those read elsewhere, are handed back.
                let before = record.min(*kept);
                let upto = before.saturating_sub(before.checked_rem(RELEASE_BYTES).unwrap_or(0));
                if upto.saturating_sub(*released) >= RELEASE_BYTES {
                    release(map, *released, upto);
                    *released = upto;
                }
            }
            Bytes::Streamed(stream) => stream.consume(len),
        }
    }

    /// Makes more bytes available; false when there are no more.
    fn fill(&mut self) -> bool {
        match self {
            Bytes::Mapped { .. } => false,
            Bytes::Streamed(stream) => stream.fill(),
        }
    }

    fn inflater(&mut self) -> Option<&mut Inflater> {
        match self {
            Bytes::Mapped { .. } => None,
            Bytes::Streamed(stream) => Some(&mut stream.inflater),
        }
    }

    /// Why a compressed stream ended early, if it did.
    fn failure(&mut self) -> Option<String> {
        self.inflater().and_then(Inflater::failure)
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
        let compression = Compression::of(path).map_err(|e| open_error(path, e.to_string()))?;
        let bytes = match compression {
            None => map(path).map_err(|e| open_error(path, e.to_string()))?,
            Some(compressed) => Bytes::Streamed(Stream {
                inflater: Inflater::start(path, compressed)
                    .map_err(|e| open_error(path, e.to_string()))?,
                buf: Vec::new(),
                start: 0,
            }),
        };
        Self::read(path, bytes)
    }

    /// Opens a plain capture file that another source has mapped, sharing its map: for
    /// readers of one file on several threads, whose pages are then read from the disk
    /// and mapped once.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_mapped(path: &Path, map: Arc<Mmap>) -> Result<Self, CaptureError> {
        Self::read(
            path,
            Bytes::Mapped {
                map,
                at: 0,
                released: 0,
                kept: usize::MAX,
            },
        )
    }

    /// Reads the capture header and the first link type from `bytes`.
    fn read(path: &Path, mut bytes: Bytes) -> Result<Self, CaptureError> {
        let open_error = |message: String| open_error(path, message);
        let failure = |bytes: &mut Bytes, message: String| {
            open_error(match bytes.failure() {
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
                        &mut bytes,
                        "not a pcap or pcapng capture file".into(),
                    ));
                }
                Start::NeedMore => {
                    if !bytes.fill() {
                        return Err(failure(
                            &mut bytes,
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
                Record::NeedMore if bytes.fill() => {}
                _ => {
                    return Err(failure(
                        &mut bytes,
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
        })
    }

    /// Bytes of a compressed file read from disk so far; `None` for a plain file, whose
    /// packets are its bytes.
    pub fn compressed_bytes_read(&self) -> Option<u64> {
        match &self.bytes {
            Bytes::Mapped { .. } => None,
            Bytes::Streamed(stream) => Some(stream.inflater.read.load(Ordering::Relaxed)),
        }
    }

    /// A plain file's memory map, which its packets lie in, for readers on other threads;
    /// `None` for a compressed file, whose packets lie in a buffer reused as it reads.
    pub fn map(&self) -> Option<&Arc<Mmap>> {
        match &self.bytes {
            Bytes::Mapped { map, .. } => Some(map),
            Bytes::Streamed(_) => None,
        }
    }

    /// Where the next record starts in the map or the inflated stream's buffer.
    pub fn offset(&self) -> usize {
        self.bytes.position()
    }

    /// Keeps the pages of the map from `offset` on, which other threads still read, in
    /// memory; those before it are handed back as reading passes them.
    pub fn keep_pages_from(&mut self, offset: usize) {
        if let Bytes::Mapped { kept, .. } = &mut self.bytes {
            *kept = offset;
        }
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
                Record::NeedMore if self.bytes.fill() => {}
                Record::NeedMore if self.bytes.unread().is_empty() => return self.ended(),
                Record::NeedMore => {
                    let left = self.bytes.unread().len();
                    return self.damaged(format!(
                        "truncated capture file: the last record is cut after {left} bytes"
                    ));
                }
                Record::Damaged(message) => return self.damaged(message),
            }
        }
    }

    /// The file ends inside, or is damaged at, the next record: `message` says how, with
    /// the decompressor's reason when a compressed stream ended early.
    fn damaged(&mut self, message: String) -> Next<'_> {
        Next::Truncated {
            packet: self.packets.saturating_add(1),
            message: match self.bytes.failure() {
                Some(why) => format!("{message} ({why})"),
                None => message,
            },
        }
    }

    /// The bytes ended on a record's boundary: the end, unless a compressed stream ended
    /// because its decompressor gave up.
    fn ended(&mut self) -> Next<'_> {
        match self.bytes.failure() {
            Some(message) => Next::Truncated {
                packet: self.packets.saturating_add(1),
                message,
            },
            None => Next::End,
        }
    }
}

fn open_error(path: &Path, message: String) -> CaptureError {
    CaptureError::Open {
        path: path.to_owned(),
        message,
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
        map: Arc::new(map),
        at: 0,
        released: 0,
        kept: usize::MAX,
    })
}

/// How much of a mapped file is read before its pages are handed back: a multiple of every
/// page size.
const RELEASE_BYTES: usize = 8 << 20;

/// Hands the pages of `map[from..to]`, already read, back to the kernel: they stay in the
/// page cache but leave the scan's resident memory.
#[allow(unsafe_code)]
fn release(map: &Mmap, from: usize, to: usize) {
    // SAFETY: the range lies before every record still to be read, before the packet the
    // caller may hold (the record just read) and before what other readers of a shared map
    // still read (`kept`), so no reference into it is alive; the map is a read-only map of
    // a file, whose pages read the same if ever touched again.
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
