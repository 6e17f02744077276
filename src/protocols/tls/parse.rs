//! TLS records and the hello messages (RFC 8446 §4.1.2–4.1.3, §5.1; RFC 5246 for 1.0–1.2).
//!
//! Pure functions over bytes: [`next_record`] splits a stream into records,
//! [`parse_client_hello`] and [`parse_server_hello`] read a handshake message body. Nothing
//! here buffers, logs or counts; `super::stream` drives these over reassembled streams.
//!
//! ```text
//! TLSPlaintext { ContentType type; ProtocolVersion legacy_record_version; uint16 length; opaque fragment[length]; }
//! Handshake    { HandshakeType msg_type; uint24 length; body }
//! ClientHello  { ProtocolVersion legacy_version; Random random[32]; opaque legacy_session_id<0..32>;
//!                CipherSuite cipher_suites<2..2^16-2>; opaque legacy_compression_methods<1..2^8-1>;
//!                Extension extensions<8..2^16-1>; }
//! ```

use crate::wire::{Reader, Truncated};

/// Record content types (RFC 8446 §5.1).
pub mod content_type {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
}

/// Handshake message types (RFC 8446 §4).
pub mod handshake_type {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CERTIFICATE: u8 = 11;
}

/// Extension code points (IANA "TLS ExtensionType Values").
pub mod extension {
    pub const SERVER_NAME: u16 = 0x0000;
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    pub const ALPN: u16 = 0x0010;
    pub const SESSION_TICKET: u16 = 0x0023;
    pub const PRE_SHARED_KEY: u16 = 0x0029;
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    pub const KEY_SHARE: u16 = 0x0033;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
}

/// The largest record a peer may send: 2^14 bytes of plaintext plus the 2048 bytes of
/// expansion TLS 1.2 allows for ciphertext (RFC 5246 §6.2.3).
pub const MAX_RECORD_LEN: usize = 16_384 + 2048;

/// Post-quantum hybrid key-share groups: X25519Kyber768Draft00, SecP256r1MLKEM768,
/// X25519MLKEM768, SecP384r1MLKEM1024 and the Kyber draft 0x639a.
const PQ_GROUPS: [u16; 5] = [0x6399, 0x11eb, 0x11ec, 0x11ed, 0x639a];

/// The ServerHello random that marks a HelloRetryRequest: SHA-256 of "HelloRetryRequest"
/// (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Why bytes are not a well-formed TLS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A length field points past the end of its container.
    #[error("TLS message truncated")]
    Truncated,
    /// A field holds a value its format does not allow.
    #[error("malformed TLS message")]
    Malformed,
}

impl From<Truncated> for TlsError {
    fn from(_: Truncated) -> Self {
        TlsError::Truncated
    }
}

/// Whether a GREASE value (RFC 8701): both bytes equal and of the form 0x?A.
pub fn is_grease(value: u16) -> bool {
    let [hi, lo] = value.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

/// The outcome of reading one record from the start of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScan<'a> {
    /// The stream ends inside the record header or body.
    Incomplete,
    /// A whole record; `len` is its size on the wire including the 5-byte header.
    Record {
        content_type: u8,
        version: u16,
        fragment: &'a [u8],
        len: usize,
    },
    /// The bytes are not a TLS record header.
    NotTls,
}

/// Reads the TLS record at the start of `stream`.
pub fn next_record(stream: &[u8]) -> RecordScan<'_> {
    let mut r = Reader::new(stream);
    let (Ok(content_type), Ok(version), Ok(length)) = (r.u8(), r.u16(), r.u16()) else {
        return match looks_like_record_prefix(stream) {
            true => RecordScan::Incomplete,
            false => RecordScan::NotTls,
        };
    };
    let length = usize::from(length);
    if !(content_type::CHANGE_CIPHER_SPEC..=content_type::APPLICATION_DATA).contains(&content_type)
        || version >> 8 != 3
        || version & 0xff > 4
        || length == 0
        || length > MAX_RECORD_LEN
    {
        return RecordScan::NotTls;
    }
    match r.bytes(length) {
        Ok(fragment) => RecordScan::Record {
            content_type,
            version,
            fragment,
            len: length.saturating_add(5),
        },
        Err(Truncated) => RecordScan::Incomplete,
    }
}

/// Whether the first bytes of a stream could start a TLS handshake record: content type 22
/// and a 3.x version. Used to recognise TLS on any port.
pub fn looks_like_handshake(stream: &[u8]) -> bool {
    match stream {
        [22] | [22, 3] => true,
        [22, 3, minor, ..] => *minor <= 4,
        _ => false,
    }
}

fn looks_like_record_prefix(stream: &[u8]) -> bool {
    match stream {
        [] => true,
        [t, rest @ ..] => {
            (content_type::CHANGE_CIPHER_SPEC..=content_type::APPLICATION_DATA).contains(t)
                && rest.first().is_none_or(|major| *major == 3)
                && rest.get(1).is_none_or(|minor| *minor <= 4)
        }
    }
}

/// A handshake message header at the start of `buf`: its type and body length.
pub fn handshake_header(buf: &[u8]) -> Option<(u8, usize)> {
    let mut r = Reader::new(buf);
    let msg_type = r.u8().ok()?;
    let len = usize::try_from(r.u24().ok()?).ok()?;
    Some((msg_type, len))
}

/// A parsed ClientHello, borrowing from the handshake message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    pub session_id: &'a [u8],
    /// Cipher suites in the client's order: big-endian `u16` pairs, or 3-byte cipher specs
    /// in an SSL 2.0-format hello.
    cipher_suites: &'a [u8],
    /// The hello came in the SSL 2.0 record format (RFC 5246 Appendix E.2).
    pub sslv2_format: bool,
    /// A vector ran past its container and was cut there, as tshark cuts it; what was read
    /// before the fault is kept.
    pub malformed: bool,
    /// The raw extensions block; [`ClientHello::extensions`] walks it.
    extensions: &'a [u8],
    /// The host_name entry of the server_name extension.
    pub sni: Option<&'a [u8]>,
    /// The ALPN protocol list (each entry length-prefixed), empty when absent.
    alpn: &'a [u8],
    /// supported_versions as `u16` pairs, empty when absent.
    supported_versions: &'a [u8],
    /// signature_algorithms as `u16` pairs, empty when absent.
    signature_algorithms: &'a [u8],
    /// The encrypted_client_hello extension is present (real or GREASE ECH).
    pub ech: bool,
    /// A pre_shared_key extension or a non-empty session ticket offers resumption.
    pub resumption: bool,
    /// A key share uses a post-quantum hybrid group.
    pub pq_key_share: bool,
}

impl<'a> ClientHello<'a> {
    /// Extensions in wire order: `(type, data)`.
    pub fn extensions(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut r = Reader::new(self.extensions);
        std::iter::from_fn(move || {
            let kind = r.u16().ok()?;
            let data = r.vec16().ok()?;
            Some((kind, data))
        })
    }

    /// ALPN protocol names in the client's order.
    pub fn alpn(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut r = Reader::new(self.alpn);
        std::iter::from_fn(move || r.vec8().ok())
    }

    /// Versions from supported_versions, in the client's order.
    pub fn supported_versions(&self) -> impl Iterator<Item = u16> + 'a {
        u16_pairs(self.supported_versions)
    }

    /// Signature algorithms in the client's order.
    pub fn signature_algorithms(&self) -> impl Iterator<Item = u16> + 'a {
        u16_pairs(self.signature_algorithms)
    }

    /// Cipher suites in the client's order. SSL 2.0 cipher specs are three bytes; those
    /// with a zero first byte are the TLS suites of the same number, the rest have none.
    pub fn ciphers(&self) -> impl Iterator<Item = u16> + 'a {
        let width = if self.sslv2_format { 3 } else { 2 };
        self.cipher_suites
            .chunks_exact(width)
            .filter_map(move |c| match c {
                [hi, lo] | [0, hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                _ => None,
            })
    }

    /// The highest non-GREASE version offered: from supported_versions when present,
    /// otherwise the legacy version field.
    pub fn max_version(&self) -> u16 {
        self.supported_versions()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// The version the client offers, as Suricata names it: the highest supported
    /// version, else the legacy field read as [`legacy_of`] reads it.
    pub fn offered_version(&self) -> u16 {
        self.supported_versions()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or_else(|| legacy_of(self.legacy_version))
    }
}

fn u16_pairs(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes.chunks_exact(2).filter_map(|c| match c {
        [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    })
}

/// Reads a vector whose length prefix is `width` bytes; a length past the end of the input
/// is cut to what is there and reported as `true`.
fn lenient_vec<'a>(r: &mut Reader<'a>, width: usize) -> Result<(&'a [u8], bool), TlsError> {
    let len = match width {
        1 => usize::from(r.u8()?),
        _ => usize::from(r.u16()?),
    };
    let available = len.min(r.remaining());
    Ok((r.bytes(available)?, available < len))
}

impl<'a> ClientHello<'a> {
    fn empty(legacy_version: u16, session_id: &'a [u8], cipher_suites: &'a [u8]) -> Self {
        ClientHello {
            legacy_version,
            session_id,
            cipher_suites,
            sslv2_format: false,
            malformed: false,
            extensions: &[],
            sni: None,
            alpn: &[],
            supported_versions: &[],
            signature_algorithms: &[],
            ech: false,
            resumption: false,
            pq_key_share: false,
        }
    }
}

/// Parses a ClientHello body (the handshake message without its 4-byte header).
///
/// The version, random and session id must be whole. After them the parser is lenient as
/// tshark is: a vector whose length runs past the message is cut at its end and the hello
/// is marked [`ClientHello::malformed`], keeping what was read — crafted hellos are exactly
/// what a sensor should still report.
///
/// # Errors
/// [`TlsError`] when the fixed fields are truncated or out of range.
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello<'_>, TlsError> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    if legacy_version >> 8 != 3 {
        return Err(TlsError::Malformed);
    }
    r.skip(32)?;
    let session_id = r.vec8()?;
    if session_id.len() > 32 {
        return Err(TlsError::Malformed);
    }
    let (cipher_suites, cut) = lenient_vec(&mut r, 2)?;
    let mut hello = ClientHello::empty(legacy_version, session_id, cipher_suites);
    hello.malformed = cut || cipher_suites.len() % 2 != 0;
    if r.is_empty() {
        hello.malformed = true;
        return Ok(hello);
    }
    let (_compression, cut) = lenient_vec(&mut r, 1)?;
    hello.malformed |= cut;
    // SSL 3.0 and some TLS 1.0 clients send no extensions block at all.
    if r.remaining() < 2 {
        hello.malformed |= !r.is_empty();
        return Ok(hello);
    }
    let (extensions, cut) = lenient_vec(&mut r, 2)?;
    hello.malformed |= cut;
    hello.extensions = extensions;
    if read_extensions(&mut hello, extensions).is_err() {
        hello.malformed = true;
    }
    Ok(hello)
}

fn read_extensions<'a>(hello: &mut ClientHello<'a>, extensions: &'a [u8]) -> Result<(), TlsError> {
    let mut ext = Reader::new(extensions);
    // Ends: each extension consumes its 4-byte header and its length from `ext`.
    while !ext.is_empty() {
        let kind = ext.u16()?;
        let data = ext.vec16()?;
        match kind {
            extension::SERVER_NAME => hello.sni = server_name(data)?,
            extension::ALPN => {
                let list = Reader::new(data).vec16()?;
                let mut names = Reader::new(list);
                // Ends: each name consumes its length byte and its bytes.
                while !names.is_empty() {
                    names.vec8()?;
                }
                hello.alpn = list;
            }
            extension::SUPPORTED_VERSIONS => hello.supported_versions = Reader::new(data).vec8()?,
            extension::SIGNATURE_ALGORITHMS => {
                hello.signature_algorithms = Reader::new(data).vec16()?;
            }
            extension::ENCRYPTED_CLIENT_HELLO => hello.ech = true,
            extension::PRE_SHARED_KEY => hello.resumption = true,
            extension::SESSION_TICKET if !data.is_empty() => hello.resumption = true,
            extension::KEY_SHARE => hello.pq_key_share = has_pq_share(data)?,
            _ => {}
        }
    }
    Ok(())
}

/// The outcome of reading an SSL 2.0-format ClientHello at the start of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sslv2Scan<'a> {
    Incomplete,
    /// A whole hello of `len` bytes on the wire.
    Hello {
        hello: ClientHello<'a>,
        len: usize,
    },
    NotSslv2,
}

/// Reads a ClientHello in the SSL 2.0 record format, which old clients send to offer SSL 3.0
/// or TLS 1.0 to servers of either kind (RFC 5246 Appendix E.2):
///
/// ```text
/// uint16 length (high bit set); uint8 msg_type = 1; Version version;
/// uint16 cipher_spec_length; uint16 session_id_length; uint16 challenge_length;
/// V2CipherSpec cipher_specs[cipher_spec_length]; opaque session_id[..]; opaque challenge[..];
/// ```
pub fn sslv2_client_hello(stream: &[u8]) -> Sslv2Scan<'_> {
    let mut r = Reader::new(stream);
    let plausible_prefix = match stream {
        [] => true,
        [b0, rest @ ..] => {
            b0 & 0x80 != 0
                && rest.get(1).is_none_or(|t| *t == 1)
                && rest.get(2).is_none_or(|major| *major <= 3)
        }
    };
    let (Ok(header), Ok(msg_type), Ok(version)) = (r.u16(), r.u8(), r.u16()) else {
        return if plausible_prefix {
            Sslv2Scan::Incomplete
        } else {
            Sslv2Scan::NotSslv2
        };
    };
    if header & 0x8000 == 0 || msg_type != 1 || !matches!(version, 0x0002 | 0x0300..=0x0304) {
        return Sslv2Scan::NotSslv2;
    }
    let record_len = usize::from(header & 0x7fff);
    let Some(body) = stream.get(2..record_len.saturating_add(2)) else {
        return Sslv2Scan::Incomplete;
    };
    let mut b = Reader::new(body);
    let fields = (|| -> Result<_, Truncated> {
        b.skip(3)?;
        let (specs, session, challenge) = (b.u16()?, b.u16()?, b.u16()?);
        let cipher_specs = b.bytes(usize::from(specs))?;
        let session_id = b.bytes(usize::from(session))?;
        b.skip(usize::from(challenge))?;
        Ok((cipher_specs, session_id))
    })();
    let Ok((cipher_specs, session_id)) = fields else {
        return Sslv2Scan::NotSslv2;
    };
    let mut hello = ClientHello::empty(version, session_id, cipher_specs);
    hello.sslv2_format = true;
    hello.malformed = cipher_specs.len() % 3 != 0;
    Sslv2Scan::Hello {
        hello,
        len: record_len.saturating_add(2),
    }
}

/// The host_name entry of a server_name extension (RFC 6066 §3).
fn server_name(data: &[u8]) -> Result<Option<&[u8]>, TlsError> {
    let list = Reader::new(data).vec16()?;
    let mut r = Reader::new(list);
    // Ends: each entry consumes at least its type byte and 2-byte length.
    while !r.is_empty() {
        let name_type = r.u8()?;
        let name = r.vec16()?;
        if name_type == 0 {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn has_pq_share(data: &[u8]) -> Result<bool, TlsError> {
    let shares = Reader::new(data).vec16()?;
    let mut r = Reader::new(shares);
    // Ends: each share consumes its group, length and key bytes.
    while !r.is_empty() {
        let group = r.u16()?;
        r.vec16()?;
        if PQ_GROUPS.contains(&group) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a ServerHello says about the negotiated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: supported_versions when present, else the legacy field.
    pub version: u16,
    pub cipher_suite: u16,
    /// A HelloRetryRequest: the client will send a second ClientHello.
    pub hello_retry: bool,
}

/// Parses a ServerHello body.
///
/// # Errors
/// [`TlsError`] when the message is truncated or malformed.
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, TlsError> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    // TLS 1.3 drafts before 22 put their draft version here and have neither session id
    // nor compression method.
    let draft = legacy_version >> 8 == 0x7f;
    if legacy_version >> 8 != 3 && !draft {
        return Err(TlsError::Malformed);
    }
    let random: [u8; 32] = r.array()?;
    if !draft {
        r.vec8()?;
    }
    let cipher_suite = r.u16()?;
    if !draft {
        r.u8()?;
    }
    let mut version = legacy_of(legacy_version);
    if !r.is_empty() {
        let mut ext = Reader::new(r.vec16()?);
        // Ends: each extension consumes its 4-byte header and its length.
        while !ext.is_empty() {
            let kind = ext.u16()?;
            let data = ext.vec16()?;
            if kind == extension::SUPPORTED_VERSIONS {
                version = Reader::new(data).u16()?;
            }
        }
    }
    Ok(ServerHello {
        version,
        cipher_suite,
        hello_retry: random == HELLO_RETRY_RANDOM,
    })
}

/// A draft before 16 that [`version_name`] names `TLS 1.3 draft-<16`.
const DRAFT_BEFORE_16: u16 = 0x7f0f;

/// A version from a hello's legacy field. 0x0304 there was sent only by TLS 1.3 drafts
/// before 16, which had no supported_versions extension; Suricata names it so too.
fn legacy_of(version: u16) -> u16 {
    if version == 0x0304 {
        DRAFT_BEFORE_16
    } else {
        version
    }
}

/// A version number as Suricata's EVE writes it (`TLSv1` for 1.0, then `TLS 1.1` to
/// `TLS 1.3`, `TLS 1.3 draft-22`, Facebook's `TLS 1.3 draft-23-fb`), or in decimal for
/// unknown values.
pub fn version_name(version: u16) -> String {
    let name = match version {
        0x0002 | 0x0200 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0x7f01..=0x7f0f => "TLS 1.3 draft-<16",
        0x7f10..=0x7f1c => return format!("TLS 1.3 draft-{}", version & 0xff),
        0xfb14..=0xfb17 | 0xfb1a => return format!("TLS 1.3 draft-{}-fb", version & 0xff),
        other => return other.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ClientHello body with SNI "example.com", ALPN h2 + http/1.1, TLS 1.3 + 1.2 and a
    /// GREASE version, built field by field.
    #[rustfmt::skip]
    pub(crate) fn sample_client_hello() -> Vec<u8> {
        let mut ext = Vec::new();
        // server_name
        ext.extend_from_slice(&[0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b]);
        ext.extend_from_slice(b"example.com");
        // ALPN: h2, http/1.1
        ext.extend_from_slice(&[0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02]);
        ext.extend_from_slice(b"h2");
        ext.push(0x08);
        ext.extend_from_slice(b"http/1.1");
        // supported_versions: GREASE, 1.3, 1.2
        ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x07, 0x06, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03]);
        // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256
        ext.extend_from_slice(&[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x08, 0x04]);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x11; 32]);
        body.push(0);                                             // session id
        body.extend_from_slice(&[0x00, 0x06, 0x0a, 0x0a, 0x13, 0x01, 0x13, 0x02]); // ciphers
        body.extend_from_slice(&[0x01, 0x00]);                    // compression: null
        body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
        body.extend_from_slice(&ext);
        body
    }

    #[test]
    fn parses_sni_alpn_and_versions() {
        let body = sample_client_hello();
        let ch = parse_client_hello(&body).unwrap();
        assert_eq!(ch.sni, Some(&b"example.com"[..]));
        assert_eq!(ch.alpn().collect::<Vec<_>>(), vec![&b"h2"[..], b"http/1.1"]);
        assert_eq!(ch.max_version(), 0x0304);
        assert_eq!(
            ch.ciphers().collect::<Vec<_>>(),
            vec![0x0a0a, 0x1301, 0x1302]
        );
        assert!(!ch.ech);
        assert_eq!(ch.extensions().count(), 4);
    }

    #[test]
    fn every_truncation_of_a_client_hello_is_malformed_or_an_error() {
        let body = sample_client_hello();
        for cut in 0..body.len() {
            match parse_client_hello(&body[..cut]) {
                // Cut right after the compression methods, it is a valid hello without
                // extensions, as SSL 3.0 clients send.
                Ok(ch) => assert!(ch.malformed || cut == 45, "cut at {cut}"),
                Err(_) => assert!(cut < 37, "cut at {cut}"),
            }
        }
        assert!(!parse_client_hello(&body).unwrap().malformed);
    }

    #[test]
    fn a_length_that_overruns_its_extension_marks_the_hello_malformed() {
        let mut body = sample_client_hello();
        let sni_list_len_at = 2 + 32 + 1 + 8 + 2 + 2 + 4;
        body[sni_list_len_at] = 0xff;
        let ch = parse_client_hello(&body).unwrap();
        assert!(ch.malformed);
        assert_eq!(ch.sni, None);
    }

    #[test]
    fn an_odd_cipher_length_is_cut_like_tshark_cuts_it() {
        let mut body = vec![0x03, 0x01];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0x00, 0x05, 0x00, 0x2f, 0x00, 0x35, 0xff]);
        let ch = parse_client_hello(&body).unwrap();
        assert!(ch.malformed);
        assert_eq!(ch.ciphers().collect::<Vec<_>>(), vec![0x002f, 0x0035]);
    }

    #[test]
    fn sslv2_format_hello() {
        #[rustfmt::skip]
        let wire = [
            0x80, 0x1f, 0x01, 0x03, 0x01,           // length 31, CLIENT-HELLO, TLS 1.0
            0x00, 0x06, 0x00, 0x00, 0x00, 0x10,     // 6 bytes of specs, no session, 16 challenge
            0x00, 0x00, 0x2f, 0x07, 0x00, 0xc0,     // TLS_RSA_WITH_AES_128_CBC_SHA, an SSLv2 spec
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
            0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        ];
        let Sslv2Scan::Hello { hello, len } = sslv2_client_hello(&wire) else {
            panic!()
        };
        assert_eq!(len, wire.len());
        assert_eq!(hello.legacy_version, 0x0301);
        assert_eq!(hello.ciphers().collect::<Vec<_>>(), vec![0x002f]);
        assert_eq!(sslv2_client_hello(&wire[..4]), Sslv2Scan::Incomplete);
        assert_eq!(sslv2_client_hello(b"GET / HTTP/1.1"), Sslv2Scan::NotSslv2);
    }

    #[test]
    fn record_scanning_tells_incomplete_from_not_tls() {
        assert_eq!(next_record(&[22, 3]), RecordScan::Incomplete);
        assert_eq!(next_record(&[22, 3, 1, 0, 5, 1]), RecordScan::Incomplete);
        assert_eq!(next_record(b"GET / HTTP/1.1\r\n"), RecordScan::NotTls);
        assert_eq!(next_record(&[22, 3, 1, 0, 0]), RecordScan::NotTls);
        let rec = [22, 3, 1, 0, 2, 1, 0, 99];
        assert_eq!(
            next_record(&rec),
            RecordScan::Record {
                content_type: 22,
                version: 0x0301,
                fragment: &[1, 0],
                len: 7
            }
        );
        assert!(looks_like_handshake(&[22, 3, 1]));
        assert!(!looks_like_handshake(&[23, 3, 3]));
    }

    #[test]
    fn server_hello_reports_the_negotiated_version_and_hello_retry() {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&HELLO_RETRY_RANDOM);
        body.extend_from_slice(&[0x00, 0x13, 0x01, 0x00]);
        body.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let sh = parse_server_hello(&body).unwrap();
        assert_eq!(
            sh,
            ServerHello {
                version: 0x0304,
                cipher_suite: 0x1301,
                hello_retry: true
            }
        );
        // Cut right after the fixed fields it is a hello without extensions (TLS 1.2);
        // every other cut is short of a field.
        let fixed = 2 + 32 + 1 + 2 + 1;
        for cut in 0..body.len() - 1 {
            let got = parse_server_hello(&body[..cut]);
            if cut == fixed {
                assert_eq!(got.map(|h| h.version), Ok(0x0303));
            } else {
                assert!(got.is_err(), "{cut}");
            }
        }
    }

    #[test]
    fn grease_values_are_recognised() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x7a7a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }
}
