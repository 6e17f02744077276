//! Application-layer inspection of one direction of a TCP stream.
//!
//! A [`HalfStream`] takes the bytes its [`Reassembler`] delivers and recognises what they
//! are by content, not by port: a TLS handshake (ClientHello or ServerHello), an HTTP/1.x
//! request, or DNS messages (TCP port 53). Anything else is skipped for a bounded number of
//! deliveries, which lets STARTTLS, SOCKS and HTTP CONNECT preambles pass before a
//! ClientHello. Each half stops inspecting — and frees its buffers — once there is nothing
//! more to learn, so established flows cost only their counters.

use crate::event::{HttpInfo, TlsInfo};
use crate::flow::budget::{BufferBudget, Charge};
use crate::flow::reassembly::{Delivery, Reassembler};
use crate::guard::Guard;
use crate::proto::ja4::Carrier;
use crate::proto::{dns, http, tls};

/// Stream bytes buffered per direction while a message is incomplete. A ClientHello with an
/// ML-KEM key share is about 2 KB; 16 KiB leaves room for large extension sets.
pub const MAX_TLS_BYTES: usize = 16 * 1024;
/// A DNS message over TCP is at most 65,535 bytes plus its length prefix.
pub const MAX_DNS_BYTES: usize = 65_537;
/// Unrecognised deliveries skipped before a direction gives up: enough for the commands of
/// an SMTP, IMAP, POP3 or FTP STARTTLS exchange or a SOCKS handshake.
pub const MAX_UNKNOWN_DELIVERIES: u16 = 32;
/// ClientHellos read per direction: a first one, and a second after a HelloRetryRequest.
const MAX_HELLOS: u8 = 2;
/// State changes in a row without a byte consumed. Real streams need at most two (detect,
/// then the protocol's state); more means two states disagree about the same bytes, and
/// the direction is given up instead of spinning.
const MAX_SWITCHES_WITHOUT_PROGRESS: u8 = 4;
/// A head shorter than this is parsed on every delivery, so bytes that start with a
/// method but are not HTTP are recognised at once; past it, only a blank line can change
/// httparse's answer from incomplete.
const RESCAN_HEAD_BELOW: usize = 64;

/// Something a direction's bytes revealed.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    ClientHello(TlsInfo),
    /// The negotiated version, from a ServerHello (or a HelloRetryRequest, which fixes
    /// TLS 1.3 before the client's second ClientHello).
    ServerHello {
        version: u16,
    },
    HttpRequest(HttpInfo),
    Dns(dns::Message),
    /// A ClientHello started but could not be read: lost segments, over the buffer bound,
    /// or malformed.
    ClientHelloUnreadable,
    /// Bytes on port 53 that are not a DNS message.
    DnsInvalid,
    /// What a QUIC client's Initial packets showed.
    Quic(crate::flow::quic::QuicFinding),
    /// A bound on work or memory ended this direction's inspection.
    Guard(Guard),
}

#[derive(Debug)]
enum HttpPhase {
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
}

#[derive(Debug, Default)]
struct TlsHandshake {
    /// Handshake-layer bytes collected from consecutive records.
    messages: Vec<u8>,
    /// The type of the first handshake message: tells a client's direction from a server's.
    first_type: Option<u8>,
    seen_change_cipher_spec: bool,
    hellos: u8,
}

impl TlsHandshake {
    /// Whether a ClientHello has started and not been read: what a gap, a bound or the end
    /// of the stream turns into [`Finding::ClientHelloUnreadable`]. `buf` holds stream bytes
    /// not yet split into records, whose sixth byte is the first message's type.
    fn has_partial_client_hello(&self, buf: &[u8]) -> bool {
        let first = self.first_type.or_else(|| buf.get(5).copied());
        self.hellos == 0 && first == Some(tls::handshake_type::CLIENT_HELLO)
    }
}

/// The stream state of a TCP flow (both directions), charged to the buffer budget by a
/// direction that holds a message in progress.
const STREAM_STATE_BYTES: usize = 2 * std::mem::size_of::<HalfStream>();

#[derive(Debug)]
enum State {
    Detect,
    Tls(TlsHandshake),
    Http(HttpPhase),
    Dns,
    Done,
}

/// Inspection state of one direction.
#[derive(Debug)]
pub struct HalfStream {
    reassembler: Reassembler,
    buf: Vec<u8>,
    state: State,
    unknown_deliveries: u16,
    /// What `buf`, the handshake messages and the held segments take from the budget.
    charge: Charge,
}

impl HalfStream {
    /// A direction that recognises its protocol by content.
    pub fn detect(budget: &BufferBudget) -> Self {
        Self::with_state(State::Detect, budget)
    }

    /// A direction of a TCP port 53 connection: length-prefixed DNS messages.
    pub fn dns(budget: &BufferBudget) -> Self {
        Self::with_state(State::Dns, budget)
    }

    fn with_state(state: State, budget: &BufferBudget) -> Self {
        Self {
            reassembler: Reassembler::default(),
            buf: Vec::new(),
            state,
            unknown_deliveries: 0,
            charge: Charge::new(budget),
        }
    }

    /// Whether this direction will never report anything again.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Reassembly gaps seen so far.
    pub fn gaps(&self) -> u64 {
        self.reassembler.stats().gaps
    }

    /// Records the SYN of this direction.
    pub fn syn(&mut self, seq: u32) {
        self.reassembler.syn(seq);
    }

    /// Adds a segment; findings are appended to `out`.
    pub fn segment(&mut self, seq: u32, payload: &[u8], out: &mut Vec<Finding>) {
        if self.is_done() || payload.is_empty() {
            return;
        }
        let Self {
            reassembler,
            buf,
            state,
            unknown_deliveries,
            ..
        } = self;
        reassembler.push(seq, payload, &mut |d| {
            deliver(state, buf, unknown_deliveries, d, out);
        });
        if !self.is_done() && !self.charge.set(self.footprint()) {
            if matches!(&self.state, State::Tls(hs) if hs.has_partial_client_hello(&self.buf)) {
                out.push(Finding::ClientHelloUnreadable);
            }
            out.push(Finding::Guard(Guard::BufferBudget));
            self.state = State::Done;
        }
        if self.is_done() {
            self.release();
        }
    }

    /// The stream ends (flow closed or evicted): reports a ClientHello left half-read.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        if let State::Tls(hs) = &self.state
            && hs.has_partial_client_hello(&self.buf)
        {
            out.push(Finding::ClientHelloUnreadable);
        }
        self.state = State::Done;
        self.release();
    }

    /// Bytes this direction holds for messages still incomplete: their heap buffers and,
    /// while it holds any, the stream state they keep alive (both directions' state
    /// lives in one allocation, freed only once neither has anything left to read). A
    /// flood of half-sent messages, each from a new flow, is then bounded by what it
    /// really costs, not by its payload alone.
    fn footprint(&self) -> usize {
        let messages = match &self.state {
            State::Tls(hs) => hs.messages.capacity(),
            _ => 0,
        };
        let held = self
            .buf
            .capacity()
            .saturating_add(messages)
            .saturating_add(self.reassembler.held_bytes());
        if held == 0 {
            return 0;
        }
        held.saturating_add(STREAM_STATE_BYTES)
    }

    fn release(&mut self) {
        self.buf = Vec::new();
        self.reassembler = Reassembler::default();
        self.charge.set(0);
    }
}

fn deliver(
    state: &mut State,
    buf: &mut Vec<u8>,
    unknown: &mut u16,
    delivery: Delivery<'_>,
    out: &mut Vec<Finding>,
) {
    let mut data = match delivery {
        Delivery::Gap => {
            on_gap(state, buf, out);
            return;
        }
        Delivery::Data(d) => d,
    };
    // A body being skipped is consumed in place, never copied.
    if buf.is_empty()
        && let State::Http(HttpPhase::Body(left) | HttpPhase::ChunkData(left)) = state
    {
        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
        *left = left.saturating_sub(take as u64);
        data = data.get(take..).unwrap_or_default();
        if *left == 0 {
            *state = match state {
                State::Http(HttpPhase::ChunkData(_)) => State::Http(HttpPhase::ChunkSize),
                _ => State::Detect,
            };
        }
    }
    if matches!(state, State::Done) || data.is_empty() {
        return;
    }
    if buf.is_empty() {
        // Whole messages in one delivery are read in place; only a partial one is copied.
        let used = parse(state, data, unknown, out);
        data = data.get(used..).unwrap_or_default();
        if matches!(state, State::Done) || data.is_empty() {
            return;
        }
    }
    let (limit, guard) = limit(state);
    if buf.len().saturating_add(data.len()) > limit {
        if matches!(state, State::Tls(hs) if hs.has_partial_client_hello(buf)) {
            out.push(Finding::ClientHelloUnreadable);
        }
        out.extend(guard.map(Finding::Guard));
        *state = State::Done;
        return;
    }
    buf.extend_from_slice(data);
    let used = parse(state, buf, unknown, out);
    buf.drain(..used.min(buf.len()));
}

/// What a state may buffer, and the guard that counts going past it.
fn limit(state: &State) -> (usize, Option<Guard>) {
    match state {
        // The end of one message and the start of the next may be buffered together.
        State::Dns => (MAX_DNS_BYTES.saturating_mul(2), None),
        State::Http(_) => (http::MAX_HEAD_LEN, Some(Guard::HttpHeadTooLong)),
        State::Tls(_) => (MAX_TLS_BYTES, Some(Guard::TlsHandshakeTooLong)),
        State::Detect | State::Done => (MAX_TLS_BYTES, None),
    }
}

fn on_gap(state: &mut State, buf: &mut Vec<u8>, out: &mut Vec<Finding>) {
    if matches!(state, State::Tls(hs) if hs.has_partial_client_hello(buf)) {
        out.push(Finding::ClientHelloUnreadable);
    }
    buf.clear();
    *state = match state {
        State::Tls(_) | State::Dns | State::Done => State::Done,
        State::Detect | State::Http(_) => State::Detect,
    };
}

/// Reads as many whole messages from `bytes` as they hold; returns how many bytes that
/// consumed.
///
/// Ends because every step either consumes bytes (at most `bytes.len()` in all) or changes
/// state without consuming, which may happen [`MAX_SWITCHES_WITHOUT_PROGRESS`] times in a
/// row before the direction is given up.
fn parse(state: &mut State, bytes: &[u8], unknown: &mut u16, out: &mut Vec<Finding>) -> usize {
    let mut consumed = 0usize;
    let mut switches = 0u8;
    loop {
        let rest = bytes.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        let step = match state {
            State::Done => break,
            State::Detect => detect(rest, unknown, out),
            State::Tls(hs) => tls_step(hs, rest, out),
            State::Http(phase) => http_step(phase, rest, out),
            State::Dns => dns_step(rest, out),
        };
        let (used, next) = match step {
            Step::Consumed(n) => (n, None),
            Step::Switch(next) => (0, Some(next)),
            Step::ConsumedThen(n, next) => (n, Some(next)),
            Step::NeedMore => break,
        };
        if used > 0 {
            switches = 0;
        } else {
            switches = switches.saturating_add(1);
        }
        consumed = consumed.saturating_add(used);
        if let Some(next) = next {
            *state = next;
        }
        if switches > MAX_SWITCHES_WITHOUT_PROGRESS {
            out.push(Finding::Guard(Guard::NoProgress));
            *state = State::Done;
            break;
        }
    }
    consumed
}

enum Step {
    Consumed(usize),
    Switch(State),
    ConsumedThen(usize, State),
    NeedMore,
}

fn detect(rest: &[u8], unknown: &mut u16, out: &mut Vec<Finding>) -> Step {
    match tls::sslv2_client_hello(rest) {
        tls::Sslv2Scan::Hello { hello, len } => {
            out.push(Finding::ClientHello(TlsInfo::from_hello(
                &hello,
                Carrier::Tcp,
            )));
            let after = TlsHandshake {
                hellos: 1,
                ..TlsHandshake::default()
            };
            return Step::ConsumedThen(len, State::Tls(after));
        }
        tls::Sslv2Scan::Incomplete if rest.len() < 5 => return Step::NeedMore,
        tls::Sslv2Scan::Incomplete if rest.first().is_some_and(|b| b & 0x80 != 0) => {
            return Step::NeedMore;
        }
        _ => {}
    }
    if tls::looks_like_handshake(rest) {
        return if rest.len() < 3 {
            Step::NeedMore
        } else {
            Step::Switch(State::Tls(TlsHandshake::default()))
        };
    }
    if http::looks_like_request(rest) {
        return Step::Switch(State::Http(HttpPhase::Head { scanned: 0 }));
    }
    *unknown = unknown.saturating_add(1);
    if *unknown > MAX_UNKNOWN_DELIVERIES {
        Step::ConsumedThen(rest.len(), State::Done)
    } else {
        Step::Consumed(rest.len())
    }
}

fn tls_step(hs: &mut TlsHandshake, rest: &[u8], out: &mut Vec<Finding>) -> Step {
    let (content_type, fragment, len) = match tls::next_record(rest) {
        tls::RecordScan::Incomplete => return Step::NeedMore,
        tls::RecordScan::NotTls => {
            if hs.has_partial_client_hello(rest) {
                out.push(Finding::ClientHelloUnreadable);
            }
            return Step::Switch(State::Done);
        }
        tls::RecordScan::Record {
            content_type,
            fragment,
            len,
            ..
        } => (content_type, fragment, len),
    };
    match content_type {
        tls::content_type::HANDSHAKE => {
            if hs.first_type.is_none() {
                hs.first_type = fragment.first().copied();
            }
            if hs.messages.len().saturating_add(fragment.len()) > MAX_TLS_BYTES {
                if hs.has_partial_client_hello(rest) {
                    out.push(Finding::ClientHelloUnreadable);
                }
                return Step::ConsumedThen(len, State::Done);
            }
            hs.messages.extend_from_slice(fragment);
            match handshake_messages(hs, out) {
                true => Step::ConsumedThen(len, State::Done),
                false => Step::Consumed(len),
            }
        }
        tls::content_type::CHANGE_CIPHER_SPEC => {
            hs.seen_change_cipher_spec = true;
            Step::Consumed(len)
        }
        _ => Step::ConsumedThen(len, State::Done),
    }
}

/// Reads the whole handshake messages collected so far. Returns true when this direction
/// has nothing more to show.
fn handshake_messages(hs: &mut TlsHandshake, out: &mut Vec<Finding>) -> bool {
    let mut used = 0usize;
    let mut done = false;
    // Ends: each whole message moves `used` past its 4-byte header and body; an
    // incomplete one breaks out.
    while let Some(rest) = hs.messages.get(used..) {
        let Some((msg_type, body_len)) = tls::handshake_header(rest) else {
            break;
        };
        let Some(end) = body_len.checked_add(4) else {
            done = true;
            break;
        };
        let Some(body) = rest.get(4..end) else {
            if end > MAX_TLS_BYTES {
                if msg_type == tls::handshake_type::CLIENT_HELLO && hs.hellos == 0 {
                    out.push(Finding::ClientHelloUnreadable);
                }
                done = true;
            }
            break;
        };
        used = used.saturating_add(end);
        match msg_type {
            tls::handshake_type::CLIENT_HELLO => match tls::parse_client_hello(body) {
                Ok(hello) => {
                    out.push(Finding::ClientHello(TlsInfo::from_hello(
                        &hello,
                        Carrier::Tcp,
                    )));
                    hs.hellos = hs.hellos.saturating_add(1);
                    if hs.hellos >= MAX_HELLOS {
                        done = true;
                    }
                }
                Err(_) => {
                    if !hs.seen_change_cipher_spec && hs.hellos == 0 {
                        out.push(Finding::ClientHelloUnreadable);
                    }
                    done = true;
                }
            },
            tls::handshake_type::SERVER_HELLO => {
                if let Ok(sh) = tls::parse_server_hello(body) {
                    out.push(Finding::ServerHello {
                        version: sh.version,
                    });
                    done = !sh.hello_retry;
                } else {
                    done = true;
                }
            }
            _ => done = hs.seen_change_cipher_spec || hs.hellos > 0,
        }
        if done {
            break;
        }
    }
    hs.messages.drain(..used.min(hs.messages.len()));
    done
}

fn http_step(phase: &mut HttpPhase, rest: &[u8], out: &mut Vec<Finding>) -> Step {
    match phase {
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
                    out.push(Finding::Guard(Guard::HttpHeadTooLong));
                    Step::Switch(State::Done)
                }
                // The method matched but the rest is not HTTP: these bytes are
                // something else, skipped as detection skips what it does not know.
                http::Scan::NotHttp => Step::ConsumedThen(rest.len(), State::Detect),
                http::Scan::Complete(req) => {
                    out.push(Finding::HttpRequest(http_info(&req)));
                    let next = match req.body {
                        _ if req.method.eq_ignore_ascii_case("CONNECT") => State::Detect,
                        http::Body::Length(0) => State::Detect,
                        http::Body::Length(n) => State::Http(HttpPhase::Body(n)),
                        http::Body::Chunked => State::Http(HttpPhase::ChunkSize),
                    };
                    Step::ConsumedThen(req.head_len, next)
                }
            }
        }
        HttpPhase::Body(left) | HttpPhase::ChunkData(left) => {
            let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
            *left = left.saturating_sub(take as u64);
            if *left > 0 {
                return Step::Consumed(take);
            }
            let next = match phase {
                HttpPhase::ChunkData(_) => State::Http(HttpPhase::ChunkSize),
                _ => State::Detect,
            };
            Step::ConsumedThen(take, next)
        }
        HttpPhase::ChunkSize => match http::chunk_size(rest) {
            http::Chunk::Data { line_len, data_len } => Step::ConsumedThen(
                line_len,
                State::Http(HttpPhase::ChunkData(data_len.saturating_add(2))),
            ),
            http::Chunk::Last { line_len } => {
                Step::ConsumedThen(line_len, State::Http(HttpPhase::Trailer { scanned: 0 }))
            }
            http::Chunk::Incomplete => Step::NeedMore,
            http::Chunk::Invalid => Step::Switch(State::Done),
        },
        HttpPhase::Trailer { scanned } => {
            if rest.starts_with(b"\r\n") {
                return Step::ConsumedThen(2, State::Detect);
            }
            let from = scanned.saturating_sub(3);
            match rest
                .get(from..)
                .and_then(|tail| tail.windows(4).position(|w| w == b"\r\n\r\n"))
            {
                Some(at) => {
                    Step::ConsumedThen(from.saturating_add(at).saturating_add(4), State::Detect)
                }
                None if rest.len() > http::MAX_HEAD_LEN => Step::Switch(State::Done),
                None => {
                    *scanned = rest.len();
                    Step::NeedMore
                }
            }
        }
    }
}

/// The event form of a request head.
fn http_info(req: &http::Request<'_>) -> HttpInfo {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (hostname, http_port) = match req.host {
        Some(host) => {
            let host = String::from_utf8_lossy(host);
            let (name, port) = http::split_host(&host);
            (Some(name.to_owned()), port)
        }
        None => (None, None),
    };
    HttpInfo {
        hostname,
        http_port,
        http_method: req.method.to_owned(),
        url: req.path.to_owned(),
        http_user_agent: req.user_agent.map(text),
    }
}

fn dns_step(rest: &[u8], out: &mut Vec<Finding>) -> Step {
    let Some(len) = crate::wire::be16(rest, 0) else {
        return Step::NeedMore;
    };
    let end = usize::from(len).saturating_add(2);
    let Some(msg) = rest.get(2..end) else {
        return Step::NeedMore;
    };
    match dns::parse_message(msg) {
        Ok(m) => out.push(Finding::Dns(m)),
        Err(_) => out.push(Finding::DnsInvalid),
    }
    Step::Consumed(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 1];
        r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn client_hello_message() -> Vec<u8> {
        let body = crate::proto::tls::tests::sample_client_hello();
        let mut m = vec![1, 0];
        m.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn feed(stream: &mut HalfStream, segments: &[(u32, &[u8])]) -> Vec<Finding> {
        let mut out = Vec::new();
        for (seq, data) in segments {
            stream.segment(*seq, data, &mut out);
        }
        out
    }

    #[test]
    fn a_client_hello_split_over_segments_and_records_is_read_once() {
        let msg = client_hello_message();
        let (a, b) = msg.split_at(40);
        let wire = [record(22, a), record(22, b)].concat();
        let (s1, s2) = wire.split_at(30);
        let mut h = HalfStream::detect(&BufferBudget::default());
        h.syn(0);
        // Second segment first, then the first one retransmitted.
        let out = feed(&mut h, &[(31, s2), (1, s1), (1, s1)]);
        assert_eq!(out.len(), 1, "{out:?}");
        let Finding::ClientHello(info) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(info.sni.as_deref(), Some("example.com"));
        assert_eq!(info.alpn, vec!["h2", "http/1.1"]);
    }

    #[test]
    fn a_starttls_preamble_is_skipped() {
        let wire = record(22, &client_hello_message());
        let mut h = HalfStream::detect(&BufferBudget::default());
        let out = feed(
            &mut h,
            &[(1, b"EHLO x\r\n"), (9, b"STARTTLS\r\n"), (19, &wire)],
        );
        assert!(matches!(&out[..], [Finding::ClientHello(_)]), "{out:?}");
    }

    #[test]
    fn a_lost_segment_makes_the_hello_unreadable_not_silent() {
        let wire = record(22, &client_hello_message());
        let mut h = HalfStream::detect(&BufferBudget::default());
        let mut out = feed(&mut h, &[(1, &wire[..20])]);
        h.finish(&mut out);
        assert_eq!(out, vec![Finding::ClientHelloUnreadable]);
    }

    #[test]
    fn keep_alive_requests_with_bodies_are_each_reported() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b?q=1 HTTP/1.1\r\nHost: y\r\n\r\n\
PUT /c HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
        let mut h = HalfStream::detect(&BufferBudget::default());
        let mut out = Vec::new();
        for (i, chunk) in wire.chunks(7).enumerate() {
            h.segment(u32::try_from(1 + i * 7).unwrap(), chunk, &mut out);
        }
        let urls: Vec<_> = out
            .iter()
            .map(|f| match f {
                Finding::HttpRequest(r) => r.url.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(urls, vec!["/a", "/b", "/c", "/d"]);
    }

    /// Runs `f` on its own thread and fails the test if it has not returned in `secs`:
    /// a hang becomes a failure, not a stuck test run.
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(secs))
            .expect("finished within the bound")
    }

    /// What a new detecting direction finds in `stream` sent one byte per segment.
    fn feed_byte_by_byte(stream: &[u8]) -> Vec<Finding> {
        let mut h = HalfStream::detect(&BufferBudget::default());
        let mut out = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            h.segment(
                u32::try_from(1 + i).unwrap(),
                std::slice::from_ref(b),
                &mut out,
            );
        }
        out
    }

    /// Request heads that start with a method but that httparse rejects or that never end.
    fn malformed_heads() -> Vec<Vec<u8>> {
        let mut many_headers = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..97 {
            many_headers.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many_headers.extend_from_slice(b"\r\n");
        let mut endless = b"POST /x HTTP/1.1\r\nX-Pad: ".to_vec();
        endless.resize(http::MAX_HEAD_LEN + 100, b'a');
        vec![
            b"GET  ".to_vec(),
            b"GET /\r\n".to_vec(),
            b"GET /bad.html\r\n".to_vec(),
            b"GET / HTTP/2.0\r\n\r\n".to_vec(),
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
            many_headers,
            endless,
        ]
    }

    #[test]
    fn malformed_request_heads_end_whole_or_in_one_byte_segments() {
        for head in malformed_heads() {
            let shown = String::from_utf8_lossy(&head[..head.len().min(24)]).into_owned();
            let (whole, split) = within(10, move || {
                let mut h = HalfStream::detect(&BufferBudget::default());
                let whole = feed(&mut h, &[(1, &head)]);
                let split = feed_byte_by_byte(&head);
                (whole, split)
            });
            assert_eq!(whole, split, "{shown:?}");
            assert!(
                whole.iter().all(|f| matches!(
                    f,
                    Finding::HttpRequest(_) | Finding::Guard(Guard::HttpHeadTooLong)
                )),
                "{shown:?}: {whole:?}"
            );
        }
    }

    #[test]
    fn a_request_after_bytes_that_are_not_http_is_still_read() {
        let mut h = HalfStream::detect(&BufferBudget::default());
        let out = feed(
            &mut h,
            &[
                (1, b"GET a b c\r\n\r\n"),
                (14, b"GET /ok HTTP/1.1\r\nHost: api.example\r\n\r\n"),
            ],
        );
        assert!(
            matches!(&out[..], [Finding::HttpRequest(r)] if r.url == "/ok"),
            "{out:?}"
        );
    }

    #[test]
    fn a_long_head_in_one_byte_segments_is_read_in_linear_time() {
        let mut head = b"GET /big HTTP/1.1\r\nHost: h\r\n".to_vec();
        let line = [b"X-Long: ".as_slice(), &[b'a'; 500], b"\r\n"].concat();
        while head.len() < http::MAX_HEAD_LEN - 200 {
            head.extend_from_slice(&line);
        }
        head.truncate(http::MAX_HEAD_LEN - 200);
        head.extend_from_slice(b"\r\nX: y\r\n\r\n");
        let out = within(10, move || feed_byte_by_byte(&head));
        assert!(
            matches!(&out[..], [Finding::HttpRequest(r)] if r.url == "/big"),
            "{out:?}"
        );
    }

    #[test]
    fn a_spent_buffer_budget_refuses_a_partial_hello_and_says_so() {
        let wire = record(22, &client_hello_message());
        let budget = BufferBudget::new(STREAM_STATE_BYTES + 64);
        let mut first = HalfStream::detect(&budget);
        let out = feed(&mut first, &[(1, &wire[..20])]);
        assert!(out.is_empty(), "{out:?}");
        assert!(budget.used() > 0);
        let mut second = HalfStream::detect(&budget);
        let out = feed(&mut second, &[(1, &wire[..100])]);
        assert_eq!(
            out,
            vec![
                Finding::ClientHelloUnreadable,
                Finding::Guard(Guard::BufferBudget)
            ]
        );
        assert!(second.is_done());
        drop(first);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn dns_over_tcp_reads_every_message_in_a_segment() {
        let query = [0u8, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1];
        let mut wire = Vec::new();
        for _ in 0..2 {
            wire.extend_from_slice(&u16::try_from(query.len()).unwrap().to_be_bytes());
            wire.extend_from_slice(&query);
        }
        let mut h = HalfStream::dns(&BufferBudget::default());
        let out = feed(&mut h, &[(1, &wire)]);
        assert_eq!(
            out.iter().filter(|f| matches!(f, Finding::Dns(..))).count(),
            2
        );
    }
}
