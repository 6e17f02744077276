//! Reading the ClientHello of a QUIC connection from its client's Initial packets.
//!
//! The client's first flight is one or more Initial packets, possibly coalesced with other
//! packets in a datagram and spread over several datagrams; Chromium sends its ~1.9 KB
//! ML-KEM ClientHello as 10–18 CRYPTO frames over two datagrams, out of order, mixed with
//! PING and PADDING. [`QuicInspection`] decrypts each client Initial, places its CRYPTO
//! frames by offset and parses the ClientHello once it is whole. A Retry or version
//! negotiation makes the client start again under new keys; the hello it sends then is
//! read too. Inspection ends when the client moves on to Handshake or 1-RTT packets, so
//! an established QUIC flow costs only its counters.

use super::Finding;
use super::parse::{self as quic, Handshake, InitialKeys, VersionInfo};
use crate::flow::budget::{BufferBudget, Charge};
use crate::offsets::OffsetBuffer;
use crate::protocols::roles::{DatagramParser, Probed};
use crate::protocols::tls::TlsInfo;
use crate::protocols::tls::ja4::Carrier;
use crate::protocols::tls::parse as tls;

/// CRYPTO bytes buffered per connection; a ClientHello with post-quantum key shares is
/// about 2 KB, and 16 KiB leaves room for large extension sets.
pub const MAX_CRYPTO_BYTES: usize = 16 * 1024;
/// CRYPTO frames placed per ClientHello; Chromium uses up to 18.
const MAX_CRYPTO_FRAMES: usize = 64;
/// Hellos read per connection: a first one, and a second after a HelloRetryRequest (TLS)
/// or a rejection (Google QUIC's inchoate CHLO, then the full one).
const MAX_HELLOS: u8 = 2;
/// Client datagrams inspected before giving up on a QUIC flow that never completes its
/// ClientHello or never leaves the Initial phase.
pub const MAX_CLIENT_DATAGRAMS: u16 = 16;
/// Coalesced packets read from one datagram (RFC 9000 §12.2 allows any number; real
/// clients coalesce at most three: Initial, 0-RTT, Handshake).
const MAX_COALESCED: usize = 8;

/// Client datagrams of a Google QUIC flow read for CHLOs in clear.
const MAX_GQUIC_DATAGRAMS: u16 = 8;

/// The state of a QUIC flow.
#[derive(Debug)]
pub enum QuicDatagram {
    /// An IETF QUIC (or Google QUIC over TLS) client in its Initial phase.
    Ietf(Box<QuicInspection>),
    /// A Google QUIC connection: each client CHLO in clear is reported.
    Google { version: u32, datagrams: u16 },
}

impl DatagramParser for QuicDatagram {
    type Finding = Finding;

    fn probe(
        payload: &[u8],
        to_server: bool,
        buffers: &BufferBudget,
        emit: &mut dyn FnMut(Finding),
    ) -> Option<Probed<Self>> {
        // What a datagram that turns out not to be QUIC showed is not reported.
        let mut found = Vec::new();
        if let Some(quic) = QuicInspection::start(payload, buffers, &mut |f| found.push(f)) {
            found.into_iter().for_each(&mut *emit);
            // The sender of the first client Initial is the client.
            return Some(Probed {
                state: Self::Ietf(Box::new(quic)),
                sender_is_client: true,
            });
        }
        let version = quic::gquic_version(payload)?;
        let mut state = Self::Google {
            version,
            datagrams: 0,
        };
        state.datagram(to_server, payload, emit);
        Some(Probed {
            state,
            sender_is_client: false,
        })
    }

    fn datagram(&mut self, to_server: bool, payload: &[u8], emit: &mut dyn FnMut(Finding)) {
        if !to_server {
            return;
        }
        match self {
            Self::Ietf(quic) => quic.client_datagram(payload, emit),
            // Versions up to Q046 carry the CHLO in clear. Clients send an inchoate CHLO
            // and then a full one; each is reported, as tshark does.
            Self::Google { version, datagrams } => {
                *datagrams = datagrams.saturating_add(1);
                if let Some(chlo) = quic::find_clear_chlo(payload) {
                    emit(Finding::Chlo {
                        version: *version,
                        chlo,
                    });
                }
            }
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Ietf(quic) => quic.is_done(),
            Self::Google { datagrams, .. } => *datagrams >= MAX_GQUIC_DATAGRAMS,
        }
    }

    fn finish(&mut self, emit: &mut dyn FnMut(Finding)) {
        if let Self::Ietf(quic) = self {
            quic.give_up(emit);
        }
    }
}

/// The decryption context of the Initial packets currently being read.
struct Context {
    info: VersionInfo,
    dcid: Vec<u8>,
    keys: InitialKeys,
    crypto: OffsetBuffer,
    largest_pn: Option<u64>,
    /// Where the next handshake message starts in the CRYPTO stream.
    next_message: usize,
    hellos: u8,
}

impl Context {
    fn new(info: VersionInfo, dcid: &[u8]) -> Option<Self> {
        Some(Context {
            info,
            dcid: dcid.to_vec(),
            keys: InitialKeys::client(&info, dcid)?,
            crypto: OffsetBuffer::default(),
            largest_pn: None,
            next_message: 0,
            hellos: 0,
        })
    }

    fn hello_read(&self) -> bool {
        self.hellos > 0
    }
}

/// QUIC inspection state of one flow.
pub struct QuicInspection {
    context: Context,
    client_datagrams: u16,
    done: bool,
    /// What the CRYPTO buffer takes from the shared budget: a crafted Initial can claim
    /// any offset below the bound, and a flood of them must not grow memory unbounded.
    charge: Charge,
}

impl std::fmt::Debug for QuicInspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicInspection")
            .field("version", &self.context.info.version)
            .field("client_datagrams", &self.client_datagrams)
            .field("done", &self.done)
            .finish()
    }
}

impl QuicInspection {
    /// Starts inspecting when `datagram` begins with a client Initial that decrypts; the
    /// datagram's findings go to `out`.
    pub fn start(
        datagram: &[u8],
        buffers: &BufferBudget,
        emit: &mut dyn FnMut(Finding),
    ) -> Option<Self> {
        let header = quic::parse_long_header(datagram).ok()?;
        let context = Context::new(header.initial?, header.dcid)?;
        let mut inspection = QuicInspection {
            context,
            client_datagrams: 0,
            done: false,
            charge: Charge::new(buffers),
        };
        inspection.client_datagram(datagram, emit);
        // A packet number is recorded only for an Initial whose AEAD tag verified.
        inspection.context.largest_pn.map(|_| inspection)
    }

    /// Whether there is nothing more to read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads a datagram from the client.
    pub fn client_datagram(&mut self, datagram: &[u8], emit: &mut dyn FnMut(Finding)) {
        self.read_datagram(datagram, emit);
        let held = if self.done {
            0
        } else {
            self.context.crypto.heap_bytes()
        };
        if !self.charge.set(held) {
            if !self.context.hello_read() {
                emit(Finding::Unreadable);
            }
            emit(Finding::BudgetRefused);
            self.done = true;
        }
        if self.done {
            self.context.crypto = OffsetBuffer::default();
            self.charge.set(0);
        }
    }

    fn read_datagram(&mut self, datagram: &[u8], emit: &mut dyn FnMut(Finding)) {
        if self.done {
            return;
        }
        self.client_datagrams = self.client_datagrams.saturating_add(1);
        let mut rest = datagram;
        for _ in 0..MAX_COALESCED {
            if rest.is_empty() {
                break;
            }
            let Ok(header) = quic::parse_long_header(rest) else {
                // A short-header (1-RTT) packet: the handshake moved on.
                self.finish_if_read(emit);
                return;
            };
            let packet = rest.get(..header.len).unwrap_or_default();
            rest = rest.get(header.len..).unwrap_or_default();
            match header.initial {
                Some(info) => self.initial(packet, &header, info, emit),
                None => {
                    // A Handshake or 0-RTT packet: once the hello is read, Initials are over.
                    if self.context.hello_read() {
                        self.done = true;
                        return;
                    }
                }
            }
        }
        if self.client_datagrams >= MAX_CLIENT_DATAGRAMS {
            self.give_up(emit);
        }
    }

    fn initial(
        &mut self,
        packet: &[u8],
        header: &quic::LongHeader<'_>,
        info: VersionInfo,
        emit: &mut dyn FnMut(Finding),
    ) {
        // Keys stay those of the client's first Destination Connection ID even after it
        // switches to the server's, so the current keys are tried first.
        let mut opened = None;
        if info == self.context.info {
            opened =
                quic::open_initial(packet, header, &self.context.keys, self.context.largest_pn)
                    .ok();
        }
        if opened.is_none()
            && (info != self.context.info || header.dcid != self.context.dcid.as_slice())
        {
            // After a Retry or version negotiation the client starts over under keys from
            // its new Destination Connection ID or version.
            let Some(context) = Context::new(info, header.dcid) else {
                return;
            };
            let mut context = context;
            opened = quic::open_initial(packet, header, &context.keys, None).ok();
            if opened.is_some() {
                if !self.context.hello_read() && self.context.crypto.pieces() > 0 {
                    emit(Finding::Unreadable);
                }
                // After a Retry the client sends the same ClientHello again; only a new
                // version (version negotiation) makes it a new handshake.
                if info == self.context.info {
                    context.hellos = self.context.hellos;
                    context.next_message = self.context.next_message;
                }
                self.context = context;
            }
        }
        let Some(opened) = opened else { return };
        let ctx = &mut self.context;
        ctx.largest_pn = Some(
            ctx.largest_pn
                .map_or(opened.packet_number, |l| l.max(opened.packet_number)),
        );
        if ctx.hellos >= MAX_HELLOS {
            return;
        }
        for frame in quic::frames(&opened.payload, ctx.info.crypto_frame) {
            let Ok(quic::Frame::Crypto { offset, data }) = frame else {
                continue;
            };
            let Ok(offset) = usize::try_from(offset) else {
                continue;
            };
            if ctx
                .crypto
                .insert(offset, data, MAX_CRYPTO_BYTES, MAX_CRYPTO_FRAMES)
                .is_err()
            {
                emit(Finding::Unreadable);
                self.done = true;
                return;
            }
        }
        while ctx.hellos < MAX_HELLOS {
            let Some((finding, len)) = read_hello(ctx) else {
                break;
            };
            ctx.hellos = ctx.hellos.saturating_add(1);
            ctx.next_message = ctx.next_message.saturating_add(len);
            emit(finding);
        }
    }

    fn finish_if_read(&mut self, emit: &mut dyn FnMut(Finding)) {
        if !self.context.hello_read() {
            self.give_up(emit);
        }
        self.done = true;
    }

    /// Stops inspecting, reporting a ClientHello left half-read.
    pub fn give_up(&mut self, emit: &mut dyn FnMut(Finding)) {
        if !self.done && !self.context.hello_read() && self.context.crypto.pieces() > 0 {
            emit(Finding::Unreadable);
        }
        self.done = true;
    }
}

/// The next hello in the CRYPTO stream, once it is whole, and its length.
fn read_hello(ctx: &Context) -> Option<(Finding, usize)> {
    let stream = ctx.crypto.contiguous().get(ctx.next_message..)?;
    let version = ctx.info.version;
    match ctx.info.handshake {
        Handshake::Tls => {
            let (msg_type, len) = tls::handshake_header(stream)?;
            if msg_type != tls::handshake_type::CLIENT_HELLO {
                return None;
            }
            let end = len.checked_add(4)?;
            let body = stream.get(4..end)?;
            let hello = tls::parse_client_hello(body).ok()?;
            let finding = Finding::ClientHello {
                version,
                hello: TlsInfo::from_hello(&hello, Carrier::Quic),
            };
            Some((finding, end))
        }
        Handshake::GquicChlo => {
            let (chlo, len) = quic::parse_chlo(stream)?;
            Some((Finding::Chlo { version, chlo }, len))
        }
    }
}
