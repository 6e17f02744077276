//! HTTP/2 requests in clear (h2c, and gRPC to self-hosted model servers): after the
//! connection preface, whether sent at once ("prior knowledge") or after an HTTP/1.1
//! `Upgrade: h2c` request, frames are walked; each request's header block, split over
//! HEADERS and CONTINUATION frames, is decoded with HPACK (`loona-hpack`, which keeps the
//! connection's dynamic table), and every other frame is skipped in place.

use std::borrow::Cow;

use super::{Finding, HttpInfo};
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step};

/// What a client sends first on an HTTP/2 connection (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The frame header: 24-bit length, type, flags, 31-bit stream id.
const FRAME_HEADER_LEN: usize = 9;
/// Bytes of one request's header block held while its frames arrive.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The largest HPACK dynamic table a client may use. HTTP/2's default is 4 KiB; a server
/// may allow more, and 16 KiB covers what servers advertise while bounding memory.
pub const MAX_TABLE_SIZE: usize = 16 * 1024;

mod frame {
    pub const HEADERS: u8 = 0x1;
    pub const CONTINUATION: u8 = 0x9;
}

mod flag {
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// Where a byte stream stands against the connection preface.
pub enum Preface {
    /// It starts with the whole preface.
    Whole,
    /// It is a beginning of the preface: more bytes will tell.
    Partial,
    /// It is not HTTP/2.
    No,
}

/// Whether `stream` starts with HTTP/2's connection preface.
pub fn preface(stream: &[u8]) -> Preface {
    if stream.starts_with(PREFACE) {
        Preface::Whole
    } else if PREFACE.starts_with(stream) {
        Preface::Partial
    } else {
        Preface::No
    }
}

/// The client side of an HTTP/2 connection after its preface.
pub struct H2Requests {
    decoder: loona_hpack::Decoder<'static>,
    /// The header block being collected and the stream it belongs to.
    block: Vec<u8>,
    block_stream: Option<u32>,
    /// Payload bytes of the current frame still to skip.
    skip: usize,
}

impl std::fmt::Debug for H2Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Requests")
            .field("block", &self.block.len())
            .field("block_stream", &self.block_stream)
            .field("skip", &self.skip)
            .finish()
    }
}

impl Default for H2Requests {
    fn default() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(MAX_TABLE_SIZE);
        Self {
            decoder,
            block: Vec::new(),
            block_stream: None,
            skip: 0,
        }
    }
}

impl H2Requests {
    /// Reads the next frame header, or frame, or skipped payload bytes of `rest`.
    pub fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
        if self.skip > 0 {
            let take = self.skip.min(rest.len());
            self.skip = self.skip.saturating_sub(take);
            return if take == 0 {
                Step::NeedMore
            } else {
                Step::Consumed(take)
            };
        }
        let Some(&[l0, l1, l2, kind, flags, s0, s1, s2, s3]) =
            rest.first_chunk::<FRAME_HEADER_LEN>()
        else {
            return Step::NeedMore;
        };
        let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        let stream = u32::from_be_bytes([s0 & 0x7f, s1, s2, s3]);
        if !matches!(kind, frame::HEADERS | frame::CONTINUATION) {
            self.skip = len;
            return Step::Consumed(FRAME_HEADER_LEN);
        }
        let total = FRAME_HEADER_LEN.saturating_add(len);
        if total > MAX_HEADER_BLOCK {
            return Step::Then(0, Next::Refused(Guard::HttpHeadTooLong));
        }
        let Some(payload) = rest.get(FRAME_HEADER_LEN..total) else {
            return Step::NeedMore;
        };
        let fragment = match kind {
            frame::HEADERS => match header_fragment(payload, flags) {
                Some(f) => f,
                None => return Step::Then(total, Next::Done),
            },
            // A CONTINUATION belongs to the block in progress, or the connection is
            // broken (RFC 9113 §6.10) and nothing after it can be trusted.
            _ if self.block_stream == Some(stream) => payload,
            _ => return Step::Then(total, Next::Done),
        };
        if self.block.len().saturating_add(fragment.len()) > MAX_HEADER_BLOCK {
            return Step::Then(0, Next::Refused(Guard::HttpHeadTooLong));
        }
        self.block_stream = Some(stream);
        self.block.extend_from_slice(fragment);
        if flags & flag::END_HEADERS == 0 {
            return Step::Consumed(total);
        }
        let block = std::mem::take(&mut self.block);
        self.block_stream = None;
        match self.decode(&block) {
            Ok(Some(info)) => emit(Finding::Request(info)),
            Ok(None) => {}
            // The dynamic table is lost with the block: later blocks cannot be read.
            Err(()) => return Step::Then(total, Next::Done),
        }
        self.block = block;
        self.block.clear();
        Step::Consumed(total)
    }

    /// Decodes a whole header block; a request's (one with a `:method`) becomes its
    /// record. Trailers and blocks without a method only move the dynamic table on.
    fn decode(&mut self, block: &[u8]) -> Result<Option<HttpInfo>, ()> {
        let mut method = None;
        let mut path = None;
        let mut authority = None;
        let mut host = None;
        let mut user_agent = None;
        let keep = |slot: &mut Option<Vec<u8>>, value: Cow<'_, [u8]>| {
            slot.get_or_insert_with(|| value.into_owned());
        };
        self.decoder
            .decode_with_cb(block, |name, value| match &*name {
                b":method" => keep(&mut method, value),
                b":path" => keep(&mut path, value),
                b":authority" => keep(&mut authority, value),
                b"host" => keep(&mut host, value),
                b"user-agent" => keep(&mut user_agent, value),
                _ => {}
            })
            .map_err(|_| ())?;
        let Some(method) = method else {
            return Ok(None);
        };
        let method = String::from_utf8_lossy(&method);
        let target = path.as_deref().map(String::from_utf8_lossy);
        let mut info = HttpInfo::from_parts(
            &method,
            target.as_deref().unwrap_or_default(),
            authority.as_deref().or(host.as_deref()),
            user_agent.as_deref(),
        );
        info.version = Some("2");
        Ok(Some(info))
    }

    /// Bytes this direction holds: the header block and the dynamic table's bound.
    pub fn held_bytes(&self) -> usize {
        self.block.capacity().saturating_add(MAX_TABLE_SIZE)
    }
}

/// The header block fragment of a HEADERS frame's payload: without its padding and
/// priority fields. `None` when the padding claims more than the frame holds.
fn header_fragment(payload: &[u8], flags: u8) -> Option<&[u8]> {
    let (pad, rest) = if flags & flag::PADDED != 0 {
        let (&pad, rest) = payload.split_first()?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    let rest = if flags & flag::PRIORITY != 0 {
        rest.get(5..)?
    } else {
        rest
    };
    rest.get(..rest.len().checked_sub(pad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: u8 = 0x0;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn read(h: &mut H2Requests, mut bytes: &[u8]) -> Vec<Finding> {
        let mut out = Vec::new();
        loop {
            match h.step(bytes, &mut |f| out.push(f)) {
                Step::Consumed(n) => bytes = &bytes[n..],
                Step::NeedMore => return out,
                Step::Then(..) => panic!("the connection ended"),
            }
            if bytes.is_empty() {
                return out;
            }
        }
    }

    fn urls(found: &[Finding]) -> Vec<(String, String, Option<String>)> {
        found
            .iter()
            .map(|f| match f {
                Finding::Request(r) => (
                    r.http_method.clone().unwrap_or_default(),
                    r.url.clone().unwrap_or_default(),
                    r.hostname.clone(),
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn requests_are_read_across_frames_with_the_dynamic_table() {
        let mut encoder = loona_hpack::Encoder::new();
        let first = encoder.encode([
            (&b":method"[..], &b"GET"[..]),
            (b":path", b"/v1/models?key=secret"),
            (b":authority", b"Models.Example:8080"),
            (b"user-agent", b"grpc-python/1.60"),
        ]);
        // The second request repeats the authority from the dynamic table.
        let second = encoder.encode([
            (&b":method"[..], &b"POST"[..]),
            (b":path", b"/inference.GRPCInferenceService/ModelInfer"),
            (b":authority", b"Models.Example:8080"),
        ]);
        let (a, b) = second.split_at(second.len() / 2);
        let mut wire = frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]);
        wire.extend(frame(frame::HEADERS, flag::END_HEADERS, 1, &first));
        wire.extend(frame(DATA, 0x1, 1, &[0; 40]));
        let mut padded = vec![3];
        padded.extend_from_slice(&[0, 0, 0, 1, 16]);
        padded.extend_from_slice(a);
        padded.extend_from_slice(&[0; 3]);
        wire.extend(frame(
            frame::HEADERS,
            flag::PADDED | flag::PRIORITY,
            3,
            &padded,
        ));
        wire.extend(frame(frame::CONTINUATION, flag::END_HEADERS, 3, b));
        let mut h = H2Requests::default();
        // Delivered a few bytes at a time, as segments arrive.
        let mut found = Vec::new();
        let mut buffered = Vec::new();
        for chunk in wire.chunks(7) {
            buffered.extend_from_slice(chunk);
            let mut used = 0;
            loop {
                match h.step(&buffered[used..], &mut |f| found.push(f)) {
                    Step::Consumed(n) => used += n,
                    Step::NeedMore => break,
                    Step::Then(..) => panic!("the connection ended"),
                }
            }
            buffered.drain(..used);
        }
        let host = Some("models.example".to_owned());
        assert_eq!(
            urls(&found),
            vec![
                ("GET".into(), "/v1/models".into(), host.clone()),
                (
                    "POST".into(),
                    "/inference.GRPCInferenceService/ModelInfer".into(),
                    host
                ),
            ]
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn broken_frames_end_the_connection_and_big_blocks_are_refused() {
        let mut h = H2Requests::default();
        // A CONTINUATION with no block in progress.
        let wire = frame(frame::CONTINUATION, flag::END_HEADERS, 1, &[0x82]);
        assert!(matches!(
            h.step(&wire, &mut |_| {}),
            Step::Then(_, Next::Done)
        ));
        // Padding longer than the frame.
        let mut h = H2Requests::default();
        let wire = frame(
            frame::HEADERS,
            flag::END_HEADERS | flag::PADDED,
            1,
            &[9, 0x82],
        );
        assert!(matches!(
            h.step(&wire, &mut |_| {}),
            Step::Then(_, Next::Done)
        ));
        // Bytes that are not HPACK.
        let mut h = H2Requests::default();
        let wire = frame(frame::HEADERS, flag::END_HEADERS, 1, &[0xff, 0xff, 0xff]);
        assert!(matches!(
            h.step(&wire, &mut |_| {}),
            Step::Then(_, Next::Done)
        ));
        // A header block larger than the bound.
        let mut h = H2Requests::default();
        let header = frame(frame::HEADERS, 0, 1, &[])[..9].to_vec();
        let mut big = header.clone();
        big[0] = 0x01;
        assert!(matches!(
            h.step(&big, &mut |_| {}),
            Step::Then(0, Next::Refused(Guard::HttpHeadTooLong))
        ));
        assert!(read(&mut H2Requests::default(), &frame(DATA, 0, 1, &[1; 20])).is_empty());
    }

    #[test]
    fn the_preface_is_recognised_whole_or_in_part() {
        assert!(matches!(preface(PREFACE), Preface::Whole));
        assert!(matches!(preface(&PREFACE[..10]), Preface::Partial));
        assert!(matches!(preface(b"PRI / HTTP/1.1\r\n"), Preface::No));
    }
}
