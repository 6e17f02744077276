//! Capture files (pcap and pcapng) read through libpcap, plain or compressed (gzip, zstd),
//! and directories of them.
//!
//! Timestamps are read at nanosecond precision whatever the file's resolution, so pcapng
//! files with `if_tsresol` keep their sub-microsecond digits until [`Timestamp`] rounds them.
//! A file cut off in the middle of a record yields every packet before the cut, then
//! [`Next::Truncated`] with the number of the packet that was cut.
//!
//! A compressed file (recognised by its magic bytes, whatever its name) is inflated as a
//! stream by a thread of its own into a pipe that libpcap reads: no temporary file, the
//! same parser and the same answers as for a plain file, and the inflating runs on another
//! core while the packets are processed. A damaged compressed stream ends like a truncated
//! file, with the decompressor's reason.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

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
    fn start(path: &Path, compression: Compression) -> io::Result<(Self, OwnedFd)> {
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
            reader.into(),
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
    capture: Capture<Offline>,
    link: LinkType,
    path: PathBuf,
    packets: u64,
    inflater: Option<Inflater>,
}

impl FileSource {
    /// Opens a pcap or pcapng file and checks its link type.
    ///
    /// # Errors
    /// [`CaptureError::Open`] when libpcap cannot read it, [`CaptureError::LinkType`] when
    /// its link type is not supported.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let open_error = |message: String| CaptureError::Open {
            path: path.to_owned(),
            message,
        };
        let compression = Compression::of(path).map_err(|e| open_error(e.to_string()))?;
        let (capture, inflater) = match compression {
            None => (
                Capture::from_file_with_precision(path, Precision::Nano)
                    .map_err(|e| open_error(e.to_string()))?,
                None,
            ),
            Some(compressed) => {
                let (mut inflater, pipe) =
                    Inflater::start(path, compressed).map_err(|e| open_error(e.to_string()))?;
                let capture = from_pipe(pipe).map_err(|e| {
                    open_error(match inflater.failure() {
                        Some(why) => format!("{e} ({why})"),
                        None => e,
                    })
                })?;
                (capture, Some(inflater))
            }
        };
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
            Err(pcap::Error::NoMorePackets) => {
                match self.inflater.as_mut().and_then(Inflater::failure) {
                    // The pipe ended cleanly because the decompressor gave up.
                    Some(message) => Next::Truncated {
                        packet: self.packets.saturating_add(1),
                        message,
                    },
                    None => Next::End,
                }
            }
            Err(e) => Next::Truncated {
                packet: self.packets.saturating_add(1),
                message: match self.inflater.as_mut().and_then(Inflater::failure) {
                    Some(why) => format!("{e} ({why})"),
                    None => e.to_string(),
                },
            },
        }
    }
}

/// A libpcap reader of the pipe a compressed file is inflated into.
#[allow(unsafe_code)]
fn from_pipe(pipe: OwnedFd) -> Result<Capture<Offline>, String> {
    let fd = pipe.into_raw_fd();
    // SAFETY: `into_raw_fd` gives up ownership of the descriptor, so the capture is its
    // sole owner, as `from_raw_fd_with_precision` requires; libpcap closes it.
    unsafe { Capture::from_raw_fd_with_precision(fd, Precision::Nano) }.map_err(|e| e.to_string())
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
        Next::Packet(p) => Some(p.timestamp),
        _ => None,
    }
}
