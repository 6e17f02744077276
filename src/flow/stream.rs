//! Application-layer inspection of one direction of a TCP stream.
//!
//! A [`HalfStream`] takes the bytes its [`Reassembler`] delivers and recognises what they
//! are by content, not by port, trying each registered stream protocol
//! (`crate::protocols`) in turn. A port is only a hint: bytes on TCP port 53 that no probe
//! claims are read as DNS (which has no signature of its own to probe for), but an HTTP
//! request or a ClientHello there is read as what it is. Anything unrecognised is skipped
//! for a bounded number of deliveries, which lets STARTTLS, SOCKS and HTTP CONNECT
//! preambles pass before a ClientHello. Once a protocol is known its state reads
//! the bytes; this module keeps what a state has not consumed, within the state's bound.
//! Each half stops inspecting — and frees its buffers — once there is nothing more to
//! learn, so established flows cost only their counters.

use std::collections::VecDeque;

use crate::flow::budget::{BufferBudget, Charge};
use crate::flow::reassembly::{Delivery, Reassembler};
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step};
use crate::protocols::tls::MAX_TLS_BYTES;
use crate::protocols::{Finding, StreamState};

/// Bytes buffered while detection waits for enough of a message to recognise it: as much
/// as a TLS handshake may hold.
pub const MAX_DETECT_BYTES: usize = MAX_TLS_BYTES;
/// Unrecognised deliveries skipped before a direction gives up: enough for the commands of
/// an SMTP, IMAP, POP3 or FTP STARTTLS exchange or a SOCKS handshake.
pub const MAX_UNKNOWN_DELIVERIES: u16 = 32;
/// State changes in a row without a byte consumed. Real streams need at most two (detect,
/// then the protocol's state); more means two states disagree about the same bytes, and
/// the direction is given up instead of spinning.
const MAX_SWITCHES_WITHOUT_PROGRESS: u8 = 4;

/// Findings a direction holds until the other side acknowledges their bytes. A peer that
/// never acknowledges (a one-sided capture, a flood) cannot make the queue grow: beyond
/// this the oldest is reported at once.
pub const MAX_UNACKED: usize = 64;

/// The stream state of a TCP flow (both directions), charged to the buffer budget by a
/// direction that holds a message in progress.
const STREAM_STATE_BYTES: usize = 2 * std::mem::size_of::<HalfStream>();

#[derive(Debug)]
enum State {
    Detect,
    Protocol(StreamState),
    Done,
}

impl State {
    /// The state a step moves to; a refusal is counted as its guard.
    fn after(next: Next<StreamState>, out: &mut Vec<Finding>) -> Self {
        match next {
            Next::State(s) => Self::Protocol(s),
            Next::Detect => Self::Detect,
            Next::Done => Self::Done,
            Next::Refused(guard) => {
                out.push(Finding::Guard(guard));
                Self::Done
            }
        }
    }

    /// The protocol's state is cut with `unread` bytes not read: it reports what was lost.
    fn cut(&self, unread: &[u8], out: &mut Vec<Finding>) {
        if let Self::Protocol(s) = self {
            s.cut(unread, out);
        }
    }
}

/// Inspection state of one direction.
#[derive(Debug)]
pub struct HalfStream {
    reassembler: Reassembler,
    buf: Vec<u8>,
    state: State,
    unknown_deliveries: u16,
    /// The protocol the flow's port names, taken when content probes claim nothing.
    port_hint: Option<StreamState>,
    /// Gaps counted by reassembly before its state was freed.
    released_gaps: u64,
    /// What `buf`, the protocol state's own buffers and the held segments take from the
    /// budget.
    charge: Charge,
    /// Findings read from this direction's bytes, with the sequence number just past the
    /// bytes read, held until the other side acknowledges them. Suricata's stream engine
    /// hands a direction's bytes to its parsers only once acknowledged, so its events
    /// carry the acknowledging packet; aigress's carry the same.
    unacked: VecDeque<(u32, Finding)>,
}

impl HalfStream {
    /// A direction that recognises its protocol by content, else takes `port_hint`.
    pub fn detect(budget: &BufferBudget, port_hint: Option<StreamState>) -> Self {
        Self {
            reassembler: Reassembler::default(),
            buf: Vec::new(),
            state: State::Detect,
            unknown_deliveries: 0,
            port_hint,
            released_gaps: 0,
            charge: Charge::new(budget),
            unacked: VecDeque::new(),
        }
    }

    /// Whether this direction will never read anything again.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether this direction holds findings its peer has not acknowledged yet.
    pub fn has_unacked(&self) -> bool {
        !self.unacked.is_empty()
    }

    /// The peer acknowledged every byte before `ack`: the findings read from them are
    /// appended to `out`, oldest first.
    pub fn acknowledged(&mut self, ack: u32, out: &mut Vec<Finding>) {
        // Ends: each turn removes one finding.
        while let Some((end, _)) = self.unacked.front() {
            if !crate::flow::reassembly::seq_le(*end, ack) {
                break;
            }
            if let Some((_, finding)) = self.unacked.pop_front() {
                out.push(finding);
            }
        }
    }

    /// Reassembly gaps seen so far.
    pub fn gaps(&self) -> u64 {
        self.released_gaps
            .saturating_add(self.reassembler.stats().gaps)
    }

    /// The sequence number of the next byte this direction expects, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.reassembler.next_seq()
    }

    /// Records the SYN of this direction.
    pub fn syn(&mut self, seq: u32) {
        self.reassembler.syn(seq);
    }

    /// Adds a segment. What it lets this direction read is held until acknowledged;
    /// `out` gets what the bound on held findings pushes out, and serves as scratch space.
    /// Returns whether a bound refused the direction.
    pub fn segment(&mut self, seq: u32, payload: &[u8], out: &mut Vec<Finding>) -> bool {
        if self.is_done() || payload.is_empty() {
            return false;
        }
        let before = out.len();
        self.reassemble(out, |reassembler, deliver| {
            reassembler.push(seq, payload, &mut &mut *deliver);
        });
        if !self.is_done() && !self.charge.set(self.footprint()) {
            self.state.cut(&self.buf, out);
            out.push(Finding::Guard(Guard::BufferBudget));
            self.state = State::Done;
        }
        let end = self
            .next_seq()
            .unwrap_or_else(|| seq.wrapping_add(u32::try_from(payload.len()).unwrap_or(u32::MAX)));
        if self.is_done() {
            self.release();
        }
        let read = out.split_off(before.min(out.len()));
        let tripped = read.iter().any(|f| matches!(f, Finding::Guard(_)));
        self.unacked.extend(read.into_iter().map(|f| (end, f)));
        // Ends: each turn removes one finding from a queue longer than the bound.
        while self.unacked.len() > MAX_UNACKED {
            if let Some((_, oldest)) = self.unacked.pop_front() {
                out.push(oldest);
            }
        }
        tripped
    }

    /// The stream ends (flow closed or evicted): the findings still unacknowledged, then
    /// what was held beyond a hole, then a message left half-read, are appended to `out`.
    pub fn finish(&mut self, out: &mut Vec<Finding>) {
        out.extend(self.unacked.drain(..).map(|(_, f)| f));
        if !self.is_done() {
            self.reassemble(out, |reassembler, deliver| {
                reassembler.flush(&mut &mut *deliver)
            });
        }
        self.state.cut(&self.buf, out);
        self.state = State::Done;
        self.release();
    }

    /// Runs `step` on the reassembler with a delivery callback that feeds the protocol
    /// state.
    fn reassemble(
        &mut self,
        out: &mut Vec<Finding>,
        step: impl FnOnce(&mut Reassembler, &mut dyn FnMut(Delivery<'_>)),
    ) {
        let Self {
            reassembler,
            buf,
            state,
            unknown_deliveries,
            port_hint,
            ..
        } = self;
        let mut detection = Detection {
            unknown: unknown_deliveries,
            port_hint,
        };
        step(reassembler, &mut |d| {
            deliver(state, buf, &mut detection, d, out);
        });
    }

    /// Bytes this direction holds for messages still incomplete: their heap buffers and,
    /// while it holds any, the stream state they keep alive (both directions' state
    /// lives in one allocation, freed only once neither has anything left to read). A
    /// flood of half-sent messages, each from a new flow, is then bounded by what it
    /// really costs, not by its payload alone.
    fn footprint(&self) -> usize {
        let state = match &self.state {
            State::Protocol(s) => s.held_bytes(),
            State::Detect | State::Done => 0,
        };
        let held = self
            .buf
            .capacity()
            .saturating_add(state)
            .saturating_add(self.reassembler.held_bytes());
        if held == 0 {
            return 0;
        }
        held.saturating_add(STREAM_STATE_BYTES)
    }

    fn release(&mut self) {
        self.buf = Vec::new();
        // The gaps counted so far outlive the reassembler's buffers.
        self.released_gaps = self.gaps();
        self.reassembler = Reassembler::default();
        self.charge.set(0);
    }
}

/// What detection keeps between deliveries.
struct Detection<'a> {
    /// Unrecognised deliveries so far.
    unknown: &'a mut u16,
    port_hint: &'a mut Option<StreamState>,
}

fn deliver(
    state: &mut State,
    buf: &mut Vec<u8>,
    detection: &mut Detection<'_>,
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
    // What a state skips unread (a body) is consumed in place, never copied.
    if buf.is_empty()
        && let State::Protocol(s) = state
    {
        let (used, next) = s.skip(data, out);
        data = data.get(used..).unwrap_or_default();
        if let Some(next) = next {
            *state = State::after(next, out);
        }
    }
    if matches!(state, State::Done) || data.is_empty() {
        return;
    }
    if buf.is_empty() {
        // Whole messages in one delivery are read in place; only a partial one is copied.
        let used = parse(state, data, detection, out);
        data = data.get(used..).unwrap_or_default();
        if matches!(state, State::Done) || data.is_empty() {
            return;
        }
    }
    let (limit, guard) = match state {
        State::Protocol(s) => s.limit(),
        State::Detect | State::Done => (MAX_DETECT_BYTES, None),
    };
    if buf.len().saturating_add(data.len()) > limit {
        state.cut(buf, out);
        out.extend(guard.map(Finding::Guard));
        *state = State::Done;
        return;
    }
    buf.extend_from_slice(data);
    let used = parse(state, buf, detection, out);
    buf.drain(..used.min(buf.len()));
}

/// A hole in the stream: the message it cut is lost; the protocol's state says where the
/// direction goes next ([`StreamState::after_gap`]).
fn on_gap(state: &mut State, buf: &mut Vec<u8>, out: &mut Vec<Finding>) {
    state.cut(buf, out);
    buf.clear();
    *state = match std::mem::replace(state, State::Done) {
        State::Detect => State::Detect,
        State::Protocol(s) => State::after(s.after_gap(), out),
        State::Done => State::Done,
    };
}

/// Reads as many whole messages from `bytes` as they hold; returns how many bytes that
/// consumed.
///
/// Ends because every step either consumes bytes (at most `bytes.len()` in all) or changes
/// state without consuming, which may happen [`MAX_SWITCHES_WITHOUT_PROGRESS`] times in a
/// row before the direction is given up.
fn parse(
    state: &mut State,
    bytes: &[u8],
    detection: &mut Detection<'_>,
    out: &mut Vec<Finding>,
) -> usize {
    let mut consumed = 0usize;
    let mut switches = 0u8;
    loop {
        let rest = bytes.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        let step = match state {
            State::Done => break,
            State::Detect => detect(rest, detection, out),
            State::Protocol(s) => s.step(rest, out),
        };
        let (used, next) = match step {
            Step::Consumed(n) => (n, None),
            Step::Then(n, next) => (n, Some(next)),
            Step::NeedMore => break,
        };
        if used > 0 {
            switches = 0;
        } else {
            switches = switches.saturating_add(1);
        }
        consumed = consumed.saturating_add(used);
        if let Some(next) = next {
            *state = State::after(next, out);
        }
        if switches > MAX_SWITCHES_WITHOUT_PROGRESS {
            out.push(Finding::Guard(Guard::NoProgress));
            *state = State::Done;
            break;
        }
    }
    consumed
}

/// Recognises a protocol by content, else takes the port's, else skips what no protocol
/// claims.
fn detect(rest: &[u8], detection: &mut Detection<'_>, out: &mut Vec<Finding>) -> Step<StreamState> {
    if let Some(step) = StreamState::probe(rest, out) {
        return step;
    }
    if let Some(hinted) = detection.port_hint.take() {
        return Step::Then(0, Next::State(hinted));
    }
    let unknown = &mut *detection.unknown;
    *unknown = unknown.saturating_add(1);
    if *unknown > MAX_UNKNOWN_DELIVERIES {
        Step::Then(rest.len(), Next::Done)
    } else {
        Step::Consumed(rest.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::http::parse as http;
    use crate::protocols::{dns, tls};

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 1];
        r.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn client_hello_message() -> Vec<u8> {
        let body = crate::protocols::tls::parse::tests::sample_client_hello();
        let mut m = vec![1, 0];
        m.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    /// Adds a segment and has the peer acknowledge it at once.
    fn acked(stream: &mut HalfStream, seq: u32, data: &[u8], out: &mut Vec<Finding>) {
        stream.segment(seq, data, out);
        let len = u32::try_from(data.len()).unwrap();
        stream.acknowledged(seq.wrapping_add(len), out);
    }

    /// Adds the segments, the peer acknowledging all it has seen after each.
    fn feed(stream: &mut HalfStream, segments: &[(u32, &[u8])]) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut seen = 0u32;
        for (seq, data) in segments {
            stream.segment(*seq, data, &mut out);
            seen = seen.max(seq + u32::try_from(data.len()).unwrap());
            stream.acknowledged(seen, &mut out);
        }
        out
    }

    #[test]
    fn findings_wait_for_the_peers_acknowledgment_within_a_bound() {
        let dns = |id: u8| {
            let mut m = vec![
                0, 17, 0, id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
            ];
            m.truncate(19);
            m
        };
        let mut h = HalfStream::detect(
            &BufferBudget::default(),
            Some(StreamState::on_port(1, 53).unwrap()),
        );
        h.syn(0);
        let (a, b) = (dns(1), dns(2));
        let mut out = Vec::new();
        h.segment(1, &a, &mut out);
        h.segment(20, &b, &mut out);
        assert!(out.is_empty() && h.has_unacked());
        // An acknowledgment short of a message's end releases nothing of it.
        h.acknowledged(19, &mut out);
        assert!(out.is_empty());
        h.acknowledged(20, &mut out);
        assert_eq!(out.len(), 1);
        // Sequence numbers wrap: an acknowledgment a quarter of the space back is old.
        h.acknowledged(20u32.wrapping_sub(1 << 30), &mut out);
        assert_eq!(out.len(), 1);
        h.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert!(!h.has_unacked());

        // A peer that never acknowledges: the oldest beyond the bound are reported at once.
        let mut h = HalfStream::detect(
            &BufferBudget::default(),
            Some(StreamState::on_port(1, 53).unwrap()),
        );
        h.syn(0);
        let mut out = Vec::new();
        for i in 0..MAX_UNACKED + 3 {
            h.segment(1 + 19 * u32::try_from(i).unwrap(), &dns(1), &mut out);
        }
        assert_eq!(out.len(), 3);
    }

    /// A ServerHello handshake message for `version` (TLS 1.3 by its extension).
    fn server_hello_message(tls13: bool) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.extend_from_slice(&[0x00, 0x13, 0x01, 0x00]);
        if tls13 {
            body.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        }
        let mut m = vec![2, 0];
        m.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn tls_findings(out: &[Finding]) -> Vec<&tls::Finding> {
        out.iter()
            .map(|f| match f {
                Finding::Tls(t) => t,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn each_sides_handshake_ends_where_suricata_ends_it() {
        let done = |certificate| tls::Finding::HandshakeDone { certificate };
        // TLS 1.2: the server's Certificate, split over records and segments, ends it.
        let mut certificate = vec![11, 0, 0x0b, 0xb8];
        certificate.extend_from_slice(&[0x30; 3000]);
        let (a, b) = certificate.split_at(1000);
        let mut flight = record(22, &server_hello_message(false));
        flight.extend_from_slice(&record(22, &a[..2]));
        flight.extend_from_slice(&record(22, &a[2..]));
        flight.extend_from_slice(&record(22, b));
        flight.extend_from_slice(&record(22, &[14, 0, 0, 0]));
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        let segments: Vec<(u32, &[u8])> = flight
            .chunks(700)
            .enumerate()
            .map(|(i, c)| (1 + 700 * u32::try_from(i).unwrap(), c))
            .collect();
        let out = feed(&mut h, &segments);
        let version = tls::Finding::ServerHello { version: 0x0303 };
        let detected = tls::Finding::Detected;
        assert_eq!(tls_findings(&out), vec![&detected, &version, &done(true)]);

        // TLS 1.3: the server's first encrypted record.
        let mut flight = record(22, &server_hello_message(true));
        flight.extend_from_slice(&record(20, &[1]));
        flight.extend_from_slice(&record(23, &[0xaa; 64]));
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        let out = feed(&mut h, &[(1, &flight)]);
        let version = tls::Finding::ServerHello { version: 0x0304 };
        assert_eq!(tls_findings(&out), vec![&detected, &version, &done(false)]);

        // The client: its ChangeCipherSpec, after its key exchange.
        let mut flight = record(22, &client_hello_message());
        flight.extend_from_slice(&record(22, &[16, 0, 0, 2, 0, 0]));
        flight.extend_from_slice(&record(20, &[1]));
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        let out = feed(&mut h, &[(1, &flight)]);
        let found = tls_findings(&out);
        assert!(
            matches!(
                found[..2],
                [tls::Finding::Detected, tls::Finding::ClientHello(_)]
            ),
            "{found:?}"
        );
        assert_eq!(found[2..], [&done(false)]);

        // A server that answers with an alert never ends its handshake.
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        let out = feed(&mut h, &[(1, &record(21, &[2, 40]))]);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_client_hello_split_over_segments_and_records_is_read_once() {
        let msg = client_hello_message();
        let (a, b) = msg.split_at(40);
        let wire = [record(22, a), record(22, b)].concat();
        let (s1, s2) = wire.split_at(30);
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        // Second segment first, then the first one retransmitted.
        let out = feed(&mut h, &[(31, s2), (1, s1), (1, s1)]);
        assert_eq!(out.len(), 2, "{out:?}");
        let Finding::Tls(tls::Finding::ClientHello(info)) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(info.sni.as_deref(), Some("example.com"));
        assert_eq!(info.alpn, vec!["h2", "http/1.1"]);
    }

    #[test]
    fn a_starttls_preamble_is_skipped() {
        let wire = record(22, &client_hello_message());
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        let out = feed(
            &mut h,
            &[(1, b"EHLO x\r\n"), (9, b"STARTTLS\r\n"), (19, &wire)],
        );
        assert!(
            matches!(
                &out[..],
                [
                    Finding::Tls(tls::Finding::Detected),
                    Finding::Tls(tls::Finding::ClientHello(_))
                ]
            ),
            "{out:?}"
        );
    }

    #[test]
    fn a_lost_segment_makes_the_hello_unreadable_not_silent() {
        let wire = record(22, &client_hello_message());
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        let mut out = feed(&mut h, &[(1, &wire[..20])]);
        h.finish(&mut out);
        assert_eq!(
            out,
            vec![
                Finding::Tls(tls::Finding::Detected),
                Finding::Tls(tls::Finding::ClientHelloUnreadable)
            ]
        );
    }

    #[test]
    fn each_response_is_reported_when_it_ends() {
        let wire =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\nHTTP/1.0 500 Oops\r\n\r\n\
GET /after HTTP/1.1\r\n\r\n";
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        h.syn(0);
        let mut out = Vec::new();
        for (i, chunk) in wire.chunks(5).enumerate() {
            acked(&mut h, u32::try_from(1 + i * 5).unwrap(), chunk, &mut out);
        }
        let ended = |out: &[Finding]| {
            out.iter()
                .filter(|f| {
                    matches!(
                        f,
                        Finding::Http(crate::protocols::http::Finding::Response(_))
                    )
                })
                .count()
        };
        // The interim 100 is not an end; a response without a length ends at its head,
        // and what follows it is read afresh.
        assert_eq!(ended(&out), 4, "{out:?}");
    }

    #[test]
    fn keep_alive_requests_with_bodies_are_each_reported() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b?q=1 HTTP/1.1\r\nHost: y\r\n\r\n\
PUT /c HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        let mut out = Vec::new();
        for (i, chunk) in wire.chunks(7).enumerate() {
            acked(&mut h, u32::try_from(1 + i * 7).unwrap(), chunk, &mut out);
        }
        let urls: Vec<_> = out
            .iter()
            .map(|f| match f {
                Finding::Http(crate::protocols::http::Finding::Request(r)) => {
                    r.url.clone().unwrap_or_default()
                }
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
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        let mut out = Vec::new();
        for (i, b) in stream.iter().enumerate() {
            acked(
                &mut h,
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
                let mut h = HalfStream::detect(&BufferBudget::default(), None);
                let whole = feed(&mut h, &[(1, &head)]);
                let split = feed_byte_by_byte(&head);
                (whole, split)
            });
            assert_eq!(whole, split, "{shown:?}");
            assert!(
                whole.iter().all(|f| matches!(
                    f,
                    Finding::Http(_) | Finding::Guard(Guard::HttpHeadTooLong)
                )),
                "{shown:?}: {whole:?}"
            );
        }
    }

    #[test]
    fn a_port_is_a_hint_http_on_port_53_is_http_and_other_bytes_are_dns() {
        let dns_hint = || StreamState::on_port(40000, 53);
        let mut h = HalfStream::detect(&BufferBudget::default(), dns_hint());
        let out = feed(
            &mut h,
            &[(1, b"GET /v1/models HTTP/1.1\r\nHost: api.example\r\n\r\n")],
        );
        assert!(
            matches!(&out[..], [Finding::Http(crate::protocols::http::Finding::Request(r))] if r.url.as_deref() == Some("/v1/models")),
            "{out:?}"
        );
        let mut query = vec![0, 29, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(b"\x03api\x07example\x00\x00\x01\x00\x01");
        let mut h = HalfStream::detect(&BufferBudget::default(), dns_hint());
        let out = feed(&mut h, &[(1, &query)]);
        assert!(
            matches!(&out[..], [Finding::Dns(dns::Finding::Message(m))] if m.questions[0].name == "api.example"),
            "{out:?}"
        );
    }

    #[test]
    fn a_request_after_bytes_that_are_not_http_is_still_read() {
        let mut h = HalfStream::detect(&BufferBudget::default(), None);
        let out = feed(
            &mut h,
            &[
                (1, b"GET a b c\r\n\r\n"),
                (14, b"GET /ok HTTP/1.1\r\nHost: api.example\r\n\r\n"),
            ],
        );
        assert!(
            matches!(&out[..], [Finding::Http(crate::protocols::http::Finding::Request(r))] if r.url.as_deref() == Some("/ok")),
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
            matches!(&out[..], [Finding::Http(crate::protocols::http::Finding::Request(r))] if r.url.as_deref() == Some("/big")),
            "{out:?}"
        );
    }

    #[test]
    fn a_spent_buffer_budget_refuses_a_partial_hello_and_says_so() {
        let wire = record(22, &client_hello_message());
        let budget = BufferBudget::new(STREAM_STATE_BYTES + 64);
        let mut first = HalfStream::detect(&budget, None);
        let out = feed(&mut first, &[(1, &wire[..20])]);
        assert_eq!(out, vec![Finding::Tls(tls::Finding::Detected)]);
        assert!(budget.used() > 0);
        let mut second = HalfStream::detect(&budget, None);
        let out = feed(&mut second, &[(1, &wire[..100])]);
        assert_eq!(
            out,
            vec![
                Finding::Tls(tls::Finding::Detected),
                Finding::Tls(tls::Finding::ClientHelloUnreadable),
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
        let mut h = HalfStream::detect(&BufferBudget::default(), StreamState::on_port(40000, 53));
        let out = feed(&mut h, &[(1, &wire)]);
        assert_eq!(
            out.iter()
                .filter(|f| matches!(f, Finding::Dns(dns::Finding::Message(_))))
                .count(),
            2
        );
    }
}
