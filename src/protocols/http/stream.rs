//! The requests of one TCP direction: each head read whole, each body skipped by its
//! Content-Length or chunks, so the next request of a persistent connection is found.

use super::h2::{self, H2Requests, Preface};
use super::parse as http;
use super::{Finding, HttpInfo};
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step, StreamParser};

/// A head shorter than this is parsed on every delivery, so bytes that start with a
/// method but are not HTTP are recognised at once; past it, only a blank line can change
/// httparse's answer from incomplete.
const RESCAN_HEAD_BELOW: usize = 64;

/// Where a direction is in its requests.
#[derive(Debug)]
pub enum HttpPhase {
    /// A request head is arriving; `scanned` bytes of it are known to hold no blank line,
    /// so each byte is searched once however many segments the head comes in.
    Head {
        scanned: usize,
    },
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    /// The trailer section; `scanned` as for the head.
    Trailer {
        scanned: usize,
    },
    /// HTTP/2 frames, after the connection preface.
    H2(Box<H2Requests>),
}

impl HttpPhase {
    /// HTTP/2 from here on, the preface read.
    fn h2() -> Step<Self> {
        Step::Then(
            h2::PREFACE.len(),
            Next::State(HttpPhase::H2(Box::default())),
        )
    }
}

impl StreamParser for HttpPhase {
    type Finding = Finding;

    fn probe(rest: &[u8], _: &mut dyn FnMut(Finding)) -> Option<Step<Self>> {
        match h2::preface(rest) {
            Preface::Whole => return Some(Self::h2()),
            Preface::Partial => return Some(Step::NeedMore),
            Preface::No => {}
        }
        http::looks_like_request(rest)
            .then_some(Step::Then(0, Next::State(HttpPhase::Head { scanned: 0 })))
    }

    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
        match self {
            // After an `Upgrade: h2c` request the client's next bytes are HTTP/2's.
            HttpPhase::Head { .. } if !matches!(h2::preface(rest), Preface::No) => {
                match h2::preface(rest) {
                    Preface::Whole => Self::h2(),
                    _ => Step::NeedMore,
                }
            }
            HttpPhase::H2(requests) => requests
                .step(rest, emit)
                .map(|s| HttpPhase::H2(Box::new(s))),
            HttpPhase::Head { scanned } => {
                // httparse reads the head from its start, so it runs once the head can be
                // whole, not on every segment of a head that trickles in.
                let from = scanned.saturating_sub(3);
                let ended = rest
                    .get(from..)
                    .is_some_and(|tail| http::find_head_end(tail).is_some());
                if !ended && *scanned >= RESCAN_HEAD_BELOW {
                    *scanned = rest.len();
                    return Step::NeedMore;
                }
                *scanned = rest.len();
                match http::parse_request(rest) {
                    http::Scan::Incomplete => Step::NeedMore,
                    http::Scan::TooLong => {
                        self.cut(rest, emit);
                        Step::Then(0, Next::Refused(Guard::HttpHeadTooLong))
                    }
                    // The method matched but the rest is not HTTP: the bytes spelling a
                    // method are skipped and detection reads on after them.
                    http::Scan::NotHttp => {
                        Step::Then(http::method_prefix_len(rest).max(1), Next::Detect)
                    }
                    http::Scan::Complete(req) => {
                        emit(Finding::Request(HttpInfo::from_request(&req)));
                        let next = match req.body {
                            _ if req.method.eq_ignore_ascii_case("CONNECT") => Next::Detect,
                            http::Body::Length(0) => Next::Detect,
                            http::Body::Length(n) => Next::State(HttpPhase::Body(n)),
                            http::Body::Chunked => Next::State(HttpPhase::ChunkSize),
                        };
                        Step::Then(req.head_len, next)
                    }
                }
            }
            HttpPhase::Body(_) | HttpPhase::ChunkData(_) => match self.skip(rest) {
                (used, Some(next)) => Step::Then(used, next),
                (used, None) => Step::Consumed(used),
            },
            HttpPhase::ChunkSize => match http::chunk_size(rest) {
                http::Chunk::Data { line_len, data_len } => Step::Then(
                    line_len,
                    Next::State(HttpPhase::ChunkData(data_len.saturating_add(2))),
                ),
                http::Chunk::Last { line_len } => {
                    Step::Then(line_len, Next::State(HttpPhase::Trailer { scanned: 0 }))
                }
                http::Chunk::Incomplete => Step::NeedMore,
                http::Chunk::Invalid => Step::Then(0, Next::Done),
            },
            HttpPhase::Trailer { scanned } => {
                if rest.starts_with(b"\r\n") {
                    return Step::Then(2, Next::Detect);
                }
                let from = scanned.saturating_sub(3);
                match rest
                    .get(from..)
                    .and_then(|tail| tail.windows(4).position(|w| w == b"\r\n\r\n"))
                {
                    Some(at) => Step::Then(from.saturating_add(at).saturating_add(4), Next::Detect),
                    None if rest.len() > http::MAX_HEAD_LEN => Step::Then(0, Next::Done),
                    None => {
                        *scanned = rest.len();
                        Step::NeedMore
                    }
                }
            }
        }
    }

    fn limit(&self) -> (usize, Option<Guard>) {
        match self {
            HttpPhase::H2(_) => (h2::MAX_HEADER_BLOCK, Some(Guard::HttpHeadTooLong)),
            _ => (http::MAX_HEAD_LEN, Some(Guard::HttpHeadTooLong)),
        }
    }

    fn held_bytes(&self) -> usize {
        match self {
            HttpPhase::H2(requests) => requests.held_bytes(),
            _ => 0,
        }
    }

    /// A body being skipped is consumed in place, never copied.
    fn skip(&mut self, data: &[u8]) -> (usize, Option<Next<Self>>) {
        let (HttpPhase::Body(left) | HttpPhase::ChunkData(left)) = self else {
            return (0, None);
        };
        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
        *left = left.saturating_sub(take as u64);
        if *left > 0 {
            return (take, None);
        }
        let next = match self {
            HttpPhase::ChunkData(_) => Next::State(HttpPhase::ChunkSize),
            _ => Next::Detect,
        };
        (take, Some(next))
    }

    /// A request head the stream ended in, or a hole or bound cut, is still reported
    /// with what it has: its request line and whole header lines.
    fn cut(&self, unread: &[u8], emit: &mut dyn FnMut(Finding)) {
        if matches!(self, HttpPhase::Head { .. })
            && let Some(req) = http::partial_request(unread)
        {
            emit(Finding::Request(HttpInfo::from_request(&req)));
        }
    }

    fn after_gap(self) -> Next<Self> {
        Next::Detect
    }
}
