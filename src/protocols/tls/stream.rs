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

    /// Reads the whole handshake messages collected so far. Returns true when this
    /// direction has nothing more to show.
    fn handshake_messages(&mut self, emit: &mut dyn FnMut(Finding)) -> bool {
        let mut used = 0usize;
        let mut done = false;
        // Ends: each whole message moves `used` past its 4-byte header and body; an
        // incomplete one breaks out.
        while let Some(rest) = self.messages.get(used..) {
            let Some((msg_type, body_len)) = tls::handshake_header(rest) else {
                break;
            };
            let Some(end) = body_len.checked_add(4) else {
                done = true;
                break;
            };
            let Some(body) = rest.get(4..end) else {
                if end > MAX_TLS_BYTES {
                    if msg_type == tls::handshake_type::CLIENT_HELLO && self.hellos == 0 {
                        emit(Finding::ClientHelloUnreadable);
                    }
                    done = true;
                }
                break;
            };
            used = used.saturating_add(end);
            match msg_type {
                tls::handshake_type::CLIENT_HELLO => match tls::parse_client_hello(body) {
                    Ok(hello) => {
                        emit(Finding::ClientHello(TlsInfo::from_hello(
                            &hello,
                            Carrier::Tcp,
                        )));
                        self.hellos = self.hellos.saturating_add(1);
                        if self.hellos >= MAX_HELLOS {
                            done = true;
                        }
                    }
                    Err(_) => {
                        if !self.seen_change_cipher_spec && self.hellos == 0 {
                            emit(Finding::ClientHelloUnreadable);
                        }
                        done = true;
                    }
                },
                tls::handshake_type::SERVER_HELLO => {
                    if let Ok(sh) = tls::parse_server_hello(body) {
                        emit(Finding::ServerHello {
                            version: sh.version,
                        });
                        done = !sh.hello_retry;
                    } else {
                        done = true;
                    }
                }
                _ => done = self.seen_change_cipher_spec || self.hellos > 0,
            }
            if done {
                break;
            }
        }
        self.messages.drain(..used.min(self.messages.len()));
        done
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
            // Too short to tell anything from anything: every protocol waits.
            tls::Sslv2Scan::Incomplete if rest.len() < 5 => return Some(Step::NeedMore),
            tls::Sslv2Scan::Incomplete if rest.first().is_some_and(|b| b & 0x80 != 0) => {
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
            Step::Then(0, Next::State(TlsHandshake::default()))
        })
    }

    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
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
                    true => Step::Then(len, Next::Done),
                    false => Step::Consumed(len),
                }
            }
            tls::content_type::CHANGE_CIPHER_SPEC => {
                self.seen_change_cipher_spec = true;
                Step::Consumed(len)
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

    fn cut(&self, unread: &[u8], emit: &mut dyn FnMut(Finding)) {
        if self.has_partial_client_hello(unread) {
            emit(Finding::ClientHelloUnreadable);
        }
    }
}
