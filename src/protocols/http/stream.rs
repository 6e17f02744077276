//! The requests of a client's direction and the responses of a server's: each head read
//! whole, each body skipped by its Content-Length or chunks, so the next message of a
//! persistent connection is found. A response is reported when it ends: that is when
//! Suricata writes the request's http event, with the response's status.

use super::h2::{self, H2Requests, Preface};
use super::parse as http;
use super::{Finding, HttpInfo};
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step, StreamParser};

/// A head shorter than this is parsed on every delivery, so bytes that start with a
/// method but are not HTTP are recognised at once; past it, only a blank line can change
/// httparse's answer from incomplete.
const RESCAN_HEAD_BELOW: usize = 64;

/// Which message a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    Request,
    /// A response, with its status.
    Response(u16),
}

/// Where a direction is in its requests or responses.
#[derive(Debug)]
pub enum HttpPhase {
    /// A request head is arriving; `scanned` bytes of it are known to hold no blank line,
    /// so each byte is searched once however many segments the head comes in.
    Head {
        scanned: usize,
    },
    /// A response head is arriving; `scanned` as for a request's.
    ResponseHead {
        scanned: usize,
    },
    Body(u64, Message),
    ChunkSize(Message),
    ChunkData(u64, Message),
    /// The trailer section; `scanned` as for the head.
    Trailer {
        scanned: usize,
        of: Message,
    },
    /// HTTP/2 frames, after the connection preface.
    H2(Box<H2Requests>),
}

impl HttpPhase {
    /// A message has ended: a response is reported; detection reads the next message.
    fn ended(of: Message, emit: &mut dyn FnMut(Finding)) -> Next<Self> {
        if let Message::Response(status) = of {
            emit(Finding::Response(status));
        }
        Next::Detect
    }

    /// Whether a head has ended in `rest`, searching only what `scanned` has not: httparse
    /// reads a head from its start, so it runs once the head can be whole, not on every
    /// segment of a head that trickles in.
    fn head_ready(scanned: &mut usize, rest: &[u8]) -> bool {
        let from = scanned.saturating_sub(3);
        let ended = rest
            .get(from..)
            .is_some_and(|tail| http::find_head_end(tail).is_some());
        let ready = ended || *scanned < RESCAN_HEAD_BELOW;
        *scanned = rest.len();
        ready
    }

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
        let request = http::looks_like_request(rest);
        // `H` may start `HEAD` or `HTTP/1.1`: wait for the byte that tells.
        if request && http::looks_like_response(rest) {
            return Some(Step::NeedMore);
        }
        if request {
            return Some(Step::Then(0, Next::State(HttpPhase::Head { scanned: 0 })));
        }
        http::looks_like_response(rest).then_some(Step::Then(
            0,
            Next::State(HttpPhase::ResponseHead { scanned: 0 }),
        ))
    }

    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
        match self {
            HttpPhase::H2(requests) => requests
                .step(rest, emit)
                .map(|s| HttpPhase::H2(Box::new(s))),
            HttpPhase::Head { scanned } => {
                // After an `Upgrade: h2c` request the client's next bytes are HTTP/2's.
                match h2::preface(rest) {
                    Preface::Whole => return Self::h2(),
                    Preface::Partial => return Step::NeedMore,
                    Preface::No => {}
                }
                if !Self::head_ready(scanned, rest) {
                    return Step::NeedMore;
                }
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
                            http::Body::Length(n) => {
                                Next::State(HttpPhase::Body(n, Message::Request))
                            }
                            http::Body::Chunked => {
                                Next::State(HttpPhase::ChunkSize(Message::Request))
                            }
                        };
                        Step::Then(req.head_len, next)
                    }
                }
            }
            HttpPhase::ResponseHead { scanned } => {
                if !Self::head_ready(scanned, rest) {
                    return Step::NeedMore;
                }
                match http::parse_response(rest) {
                    http::ResponseScan::Incomplete => Step::NeedMore,
                    http::ResponseScan::TooLong => {
                        Step::Then(0, Next::Refused(Guard::HttpHeadTooLong))
                    }
                    // Not a response after all: the bytes spelling its start are skipped
                    // and detection reads on after them.
                    http::ResponseScan::NotHttp => Step::Then(1, Next::Detect),
                    http::ResponseScan::Complete(resp) => {
                        let of = Message::Response(resp.status);
                        let next = match resp.body {
                            // After 101 Switching Protocols the bytes are another
                            // protocol's.
                            _ if resp.status == 101 => {
                                Self::ended(of, emit);
                                if resp.upgrade_h2c {
                                    emit(Finding::UpgradedToH2);
                                }
                                Next::Done
                            }
                            // An interim response: the final one follows.
                            http::ResponseBody::None if resp.status < 200 => Next::Detect,
                            // Without a length the body runs to the close, unless the
                            // request was a CONNECT, whose 2xx starts a tunnel (TLS through
                            // a proxy): this side cannot tell, so the response ends here and
                            // detection reads what follows, a ClientHello's answer or not.
                            http::ResponseBody::None
                            | http::ResponseBody::Length(0)
                            | http::ResponseBody::UntilClose => Self::ended(of, emit),
                            http::ResponseBody::Length(n) => Next::State(HttpPhase::Body(n, of)),
                            http::ResponseBody::Chunked => Next::State(HttpPhase::ChunkSize(of)),
                        };
                        Step::Then(resp.head_len, next)
                    }
                }
            }
            HttpPhase::Body(..) | HttpPhase::ChunkData(..) => match self.skip(rest, emit) {
                (used, Some(next)) => Step::Then(used, next),
                (used, None) => Step::Consumed(used),
            },
            HttpPhase::ChunkSize(of) => match http::chunk_size(rest) {
                http::Chunk::Data { line_len, data_len } => Step::Then(
                    line_len,
                    Next::State(HttpPhase::ChunkData(data_len.saturating_add(2), *of)),
                ),
                http::Chunk::Last { line_len } => Step::Then(
                    line_len,
                    Next::State(HttpPhase::Trailer {
                        scanned: 0,
                        of: *of,
                    }),
                ),
                http::Chunk::Incomplete => Step::NeedMore,
                http::Chunk::Invalid => Step::Then(0, Next::Done),
            },
            HttpPhase::Trailer { scanned, of } => {
                let of = *of;
                if rest.starts_with(b"\r\n") {
                    return Step::Then(2, Self::ended(of, emit));
                }
                let from = scanned.saturating_sub(3);
                match rest
                    .get(from..)
                    .and_then(|tail| tail.windows(4).position(|w| w == b"\r\n\r\n"))
                {
                    Some(at) => Step::Then(
                        from.saturating_add(at).saturating_add(4),
                        Self::ended(of, emit),
                    ),
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
    fn skip(&mut self, data: &[u8], emit: &mut dyn FnMut(Finding)) -> (usize, Option<Next<Self>>) {
        let (HttpPhase::Body(left, of) | HttpPhase::ChunkData(left, of)) = self else {
            return (0, None);
        };
        let of = *of;
        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
        *left = left.saturating_sub(take as u64);
        if *left > 0 {
            return (take, None);
        }
        let next = match self {
            HttpPhase::ChunkData(..) => Next::State(HttpPhase::ChunkSize(of)),
            _ => Self::ended(of, emit),
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
