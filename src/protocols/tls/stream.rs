//! The TLS handshake of one TCP direction: records split, handshake messages collected
//! across records, ClientHellos and ServerHellos read.

use super::Finding;
use super::TlsInfo;
use super::ja4::Carrier;
use super::parse as tls;
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step, StreamParser};

/// Handshake bytes buffered per direction while a message is incomplete. A ClientHello
/// with an ML-KEM key share is about 2 KB; 16 KiB leaves room for large extension sets.
pub const MAX_TLS_BYTES: usize = 16 * 1024;
/// ClientHellos read per direction: a first one, and a second after a HelloRetryRequest.
const MAX_HELLOS: u8 = 2;

/// The handshake state of one direction.
#[derive(Debug, Default)]
pub struct TlsHandshake {
    /// Handshake-layer bytes collected from consecutive records.
    messages: Vec<u8>,
    /// The type of the first handshake message: tells a client's direction from a server's.
    first_type: Option<u8>,
    seen_change_cipher_spec: bool,
    /// ClientHellos read: only a client's direction has any.
    hellos: u8,
    /// [`Finding::HandshakeDone`] has been reported for this direction.
    done_reported: bool,
    /// After its hello, the rest of this direction's handshake, walked without buffering.
    tail: Option<Tail>,
}

/// What reading the collected handshake messages leads to.
enum After {
    /// More messages to come.
    More,
    /// This direction has nothing more to show.
    Done,
    /// The hello is read: the rest of the handshake is walked by a [`Tail`].
    Tail,
}

impl TlsHandshake {
    /// Whether a ClientHello has started and not been read: what a gap, a bound or the end
    /// of the stream turns into [`Finding::ClientHelloUnreadable`]. `buf` holds stream bytes
    /// not yet split into records, whose sixth byte is the first message's type.
    fn has_partial_client_hello(&self, buf: &[u8]) -> bool {
        let first = self.first_type.or_else(|| buf.get(5).copied());
        self.hellos == 0 && first == Some(tls::handshake_type::CLIENT_HELLO)
    }

    /// Reports this direction's handshake over, once.
    fn done(&mut self, certificate: bool, emit: &mut dyn FnMut(Finding)) {
        if !self.done_reported {
            self.done_reported = true;
            emit(Finding::HandshakeDone { certificate });
        }
    }

    /// Reads the whole handshake messages collected so far.
    fn handshake_messages(&mut self, emit: &mut dyn FnMut(Finding)) -> After {
        let mut used = 0usize;
        let mut after = After::More;
        // Ends: each whole message moves `used` past its 4-byte header and body; an
        // incomplete one breaks out.
        while let Some(rest) = self.messages.get(used..) {
            let Some((msg_type, body_len)) = tls::handshake_header(rest) else {
                break;
            };
            let Some(end) = body_len.checked_add(4) else {
                after = After::Done;
                break;
            };
            let Some(body) = rest.get(4..end) else {
                if end > MAX_TLS_BYTES {
                    if msg_type == tls::handshake_type::CLIENT_HELLO && self.hellos == 0 {
                        emit(Finding::ClientHelloUnreadable);
                    }
                    after = After::Done;
                }
                break;
            };
            match msg_type {
                tls::handshake_type::CLIENT_HELLO => match tls::parse_client_hello(body) {
                    Ok(hello) => {
                        emit(Finding::ClientHello(TlsInfo::from_hello(
                            &hello,
                            Carrier::Tcp,
                        )));
                        self.hellos = self.hellos.saturating_add(1);
                        if self.hellos >= MAX_HELLOS {
                            after = After::Tail;
                        }
                    }
                    Err(_) => {
                        if !self.seen_change_cipher_spec && self.hellos == 0 {
                            emit(Finding::ClientHelloUnreadable);
                        }
                        after = After::Done;
                    }
                },
                tls::handshake_type::SERVER_HELLO => {
                    if let Ok(sh) = tls::parse_server_hello(body) {
                        emit(Finding::ServerHello {
                            version: sh.version,
                        });
                        if !sh.hello_retry {
                            after = After::Tail;
                        }
                    } else {
                        after = After::Done;
                    }
                }
                // The client's next message (a key exchange, its certificate) is walked
                // by the tail, which waits for its ChangeCipherSpec.
                _ if self.hellos > 0 => {
                    after = After::Tail;
                    break;
                }
                _ if self.seen_change_cipher_spec => after = After::Done,
                _ => {}
            }
            used = used.saturating_add(end);
            if !matches!(after, After::More) {
                break;
            }
        }
        if let After::Tail = after {
            let mut tail = Tail {
                server: self.hellos == 0,
                ..Tail::default()
            };
            let rest = self.messages.get(used..).unwrap_or_default();
            if tail.handshake_bytes(rest) {
                self.done(true, emit);
                after = After::Done;
            } else {
                self.tail = Some(tail);
            }
            self.messages = Vec::new();
        } else {
            self.messages.drain(..used.min(self.messages.len()));
        }
        after
    }
}

/// The rest of one direction's handshake after its hello, walked record by record without
/// buffering, until the direction's handshake is over: for the server, its Certificate
/// message ends or it sends application data; for the client, it sends a ChangeCipherSpec
/// or application data. Those are the points at which Suricata's TLS parser marks each
/// side's handshake done, and it writes its tls event once both are.
#[derive(Debug, Default)]
struct Tail {
    server: bool,
    /// The content type of the record being walked and its bytes still to walk.
    record: Option<(u8, usize)>,
    /// The header of the handshake message being walked, collected across records.
    header: [u8; 4],
    header_len: usize,
    /// Body bytes of the handshake message still to skip once its header is complete.
    body_left: usize,
    /// The server's ChangeCipherSpec was seen: its handshake records are encrypted now.
    encrypted: bool,
}

impl Tail {
    /// Walks handshake-layer bytes; true when the server's Certificate message ended.
    fn handshake_bytes(&mut self, mut bytes: &[u8]) -> bool {
        // Ends: each turn consumes at least one byte, or returns.
        while !bytes.is_empty() {
            if self.header_len < 4 {
                let take = 4usize.saturating_sub(self.header_len).min(bytes.len());
                let (head, rest) = bytes.split_at(take);
                let end = self.header_len.saturating_add(take);
                if let Some(slot) = self.header.get_mut(self.header_len..end) {
                    slot.copy_from_slice(head);
                }
                self.header_len = end;
                bytes = rest;
                if self.header_len < 4 {
                    break;
                }
                let [_, a, b, c] = self.header;
                self.body_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            }
            let take = self.body_left.min(bytes.len());
            bytes = bytes.get(take..).unwrap_or_default();
            self.body_left = self.body_left.saturating_sub(take);
            if self.body_left == 0 {
                self.header_len = 0;
                if self.server && self.header[0] == tls::handshake_type::CERTIFICATE {
                    return true;
                }
            }
        }
        false
    }

    /// Walks the next record header or record bytes of `rest`. With the step comes, once
    /// this side's handshake is over, `Some(certificate)`: whether the server's
    /// Certificate ended it (which ends both sides').
    fn step(&mut self, rest: &[u8]) -> (Step<TlsHandshake>, Option<bool>) {
        let Some((content_type, left)) = self.record else {
            let Some(&[content_type, _, _, hi, lo]) = rest.first_chunk::<5>() else {
                return (Step::NeedMore, None);
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let encrypted_data = content_type == tls::content_type::APPLICATION_DATA;
            let client_ccs = !self.server && content_type == tls::content_type::CHANGE_CIPHER_SPEC;
            if encrypted_data || client_ccs {
                return (Step::Then(5, Next::Done), Some(false));
            }
            if !(tls::content_type::CHANGE_CIPHER_SPEC..=tls::content_type::HANDSHAKE)
                .contains(&content_type)
            {
                return (Step::Then(0, Next::Done), None);
            }
            if content_type == tls::content_type::CHANGE_CIPHER_SPEC {
                self.encrypted = true;
            }
            if len > 0 {
                self.record = Some((content_type, len));
            }
            return (Step::Consumed(5), None);
        };
        let take = left.min(rest.len());
        if take == 0 {
            return (Step::NeedMore, None);
        }
        self.record = (left > take).then_some((content_type, left.saturating_sub(take)));
        let walked = rest.get(..take).unwrap_or_default();
        if content_type == tls::content_type::HANDSHAKE
            && !self.encrypted
            && self.handshake_bytes(walked)
        {
            return (Step::Then(take, Next::Done), Some(true));
        }
        (Step::Consumed(take), None)
    }
}

impl StreamParser for TlsHandshake {
    type Finding = Finding;

    fn probe(rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Option<Step<Self>> {
        match tls::sslv2_client_hello(rest) {
            tls::Sslv2Scan::Hello { hello, len } => {
                emit(Finding::ClientHello(TlsInfo::from_hello(
                    &hello,
                    Carrier::Tcp,
                )));
                let after = TlsHandshake {
                    hellos: 1,
                    ..TlsHandshake::default()
                };
                return Some(Step::Then(len, Next::State(after)));
            }
            // Too short to tell, but it may start a record or an SSLv2 hello: wait. A
            // first byte that can start neither (PostgreSQL's one-byte `S` before its TLS)
            // is not TLS however short.
            tls::Sslv2Scan::Incomplete
                if rest
                    .first()
                    .is_some_and(|&b| b & 0x80 != 0 || (rest.len() < 5 && b == 0x16)) =>
            {
                return Some(Step::NeedMore);
            }
            _ => {}
        }
        if !tls::looks_like_handshake(rest) {
            return None;
        }
        Some(if rest.len() < 3 {
            Step::NeedMore
        } else {
            emit(Finding::Detected);
            Step::Then(0, Next::State(TlsHandshake::default()))
        })
    }

    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
        if let Some(tail) = &mut self.tail {
            let (step, done) = tail.step(rest);
            if let Some(certificate) = done {
                self.done(certificate, emit);
            }
            return step;
        }
        let (content_type, fragment, len) = match tls::next_record(rest) {
            tls::RecordScan::Incomplete => return Step::NeedMore,
            tls::RecordScan::NotTls => {
                self.cut(rest, emit);
                return Step::Then(0, Next::Done);
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
                if self.first_type.is_none() {
                    self.first_type = fragment.first().copied();
                }
                if self.messages.len().saturating_add(fragment.len()) > MAX_TLS_BYTES {
                    self.cut(rest, emit);
                    return Step::Then(len, Next::Done);
                }
                self.messages.extend_from_slice(fragment);
                match self.handshake_messages(emit) {
                    After::Done => Step::Then(len, Next::Done),
                    After::More | After::Tail => Step::Consumed(len),
                }
            }
            tls::content_type::CHANGE_CIPHER_SPEC => {
                self.seen_change_cipher_spec = true;
                // A client's ChangeCipherSpec ends its handshake for Suricata; a second
                // ClientHello (after a HelloRetryRequest) may still follow it.
                if self.hellos > 0 {
                    self.done(false, emit);
                }
                Step::Consumed(len)
            }
            tls::content_type::APPLICATION_DATA => {
                self.done(false, emit);
                Step::Then(len, Next::Done)
            }
            _ => Step::Then(len, Next::Done),
        }
    }

    fn limit(&self) -> (usize, Option<Guard>) {
        (MAX_TLS_BYTES, Some(Guard::TlsHandshakeTooLong))
    }

    fn held_bytes(&self) -> usize {
        self.messages.capacity()
    }

    /// A ClientHello cut short is unreadable; a direction past its hello that can no
    /// longer be followed counts as done, so its tls event is not held to the flow's end.
    fn cut(&self, unread: &[u8], emit: &mut dyn FnMut(Finding)) {
        if self.has_partial_client_hello(unread) {
            emit(Finding::ClientHelloUnreadable);
        } else if self.tail.is_some() && !self.done_reported {
            emit(Finding::HandshakeDone { certificate: false });
        }
    }
}
