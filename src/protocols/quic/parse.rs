//! QUIC Initial packets (RFC 9000 §17.2, RFC 9001 §5, RFC 9369) and Google QUIC CHLOs.
//!
//! A client's Initial packets are encrypted, but with keys any observer derives from the
//! Destination Connection ID the client chose (RFC 9001 §5.2). [`InitialKeys::client`]
//! derives them for a version's salt and labels, [`open_initial`] removes header
//! protection and opens the AEAD payload, and [`frames`] walks what is inside. Reassembling
//! CRYPTO frames into a ClientHello is `super::datagram`'s job.
//!
//! rustls's QUIC API fixes its salts to v1, v2 and draft-29; the drafts, Facebook's mvfst
//! and Google's T050/T051 that still appear on networks use other salts, so the key schedule
//! here is built on `ring` (the primitives rustls itself uses) with one table of salts. The
//! tests prove it equal to `rustls::quic::Keys::initial` where rustls knows the version.
//!
//! ```text
//! Initial Packet {
//!   Header Form (1) = 1, Fixed Bit (1) = 1, Long Packet Type (2), Reserved (2), PN Length (2),
//!   Version (32), DCID Length (8), DCID (0..160), SCID Length (8), SCID (0..160),
//!   Token Length (i), Token (..), Length (i), Packet Number (8..32), Packet Payload (8..),
//! }
//! ```

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};

use crate::wire::{Reader, Truncated};

/// Why bytes are not a readable QUIC Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    #[error("QUIC packet truncated")]
    Truncated,
    #[error("not a QUIC long-header packet")]
    NotLongHeader,
    #[error("QUIC header field out of range")]
    Malformed,
    /// The AEAD tag did not verify: not a client Initial for these keys.
    #[error("QUIC Initial did not decrypt")]
    Decrypt,
}

impl From<Truncated> for QuicError {
    fn from(_: Truncated) -> Self {
        QuicError::Truncated
    }
}

/// The version that triggers version negotiation (RFC 9000 §17.2.1).
pub const VERSION_NEGOTIATION: u32 = 0;
/// Connection IDs are at most 20 bytes in QUIC v1 and v2 (RFC 9000 §17.2).
const MAX_CID_LEN: usize = 20;

/// Initial salts (RFC 9001 §5.2, RFC 9369 §3.3.1, and the drafts and Google versions as
/// Wireshark's QUIC dissector lists them), written in hex as the references print them.
// Decoded at compile time: an out-of-range index or overflow fails the build, not a run.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod salt {
    pub const DRAFT_22: [u8; 20] = hex20(*b"7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
    pub const DRAFT_23: [u8; 20] = hex20(*b"c3eef712c72ebb5a11a7d2432bb46365bef9f502");
    pub const DRAFT_29: [u8; 20] = hex20(*b"afbfec289993d24c9e9786f19c6111e04390a899");
    pub const V1: [u8; 20] = hex20(*b"38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
    pub const V2: [u8; 20] = hex20(*b"0dede3def700a6db819381be6e269dcbf9bd2ed9");
    pub const Q050: [u8; 20] = hex20(*b"504574efd066fe2f9d945cfcdbd3a7f0d3b56b45");
    pub const T050: [u8; 20] = hex20(*b"7ff579e5acd072915580304c43a2367c60488310");
    pub const T051: [u8; 20] = hex20(*b"7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }

    const fn hex20(s: [u8; 40]) -> [u8; 20] {
        let mut out = [0u8; 20];
        let mut i = 0;
        while i < 20 {
            out[i] = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
            i += 1;
        }
        out
    }
}

/// What the CRYPTO stream of a version's Initial carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A TLS 1.3 ClientHello (IETF QUIC, T050/T051).
    Tls,
    /// A Google QUIC crypto handshake message (Q050).
    GquicChlo,
}

/// How a QUIC version protects its Initial packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: u32,
    salt: &'static [u8; 20],
    /// RFC 9369 renamed the key labels to `quicv2 …`.
    v2_labels: bool,
    /// The long-header type value of an Initial packet (0 in v1, 1 in v2).
    initial_type: u8,
    /// The CRYPTO frame's type: 0x06, but 0x08 in Google's Q050/T050/T051.
    pub crypto_frame: u64,
    pub handshake: Handshake,
}

impl VersionInfo {
    /// The Initial protection of `version`, or `None` for version negotiation and Google
    /// QUIC versions whose handshake is not encrypted this way (Q046 and older).
    ///
    /// A reserved version (`0x?a?a?a?a`, RFC 9000 §15) sent to force version negotiation
    /// is protected as draft-29 by the interop-era clients that send it, as Wireshark
    /// assumes too; any other unknown version gets QUIC v1's keys. A wrong guess costs one
    /// failed AEAD check.
    pub fn of(version: u32) -> Option<Self> {
        let info = |salt, handshake| VersionInfo {
            version,
            salt,
            v2_labels: false,
            initial_type: 0,
            crypto_frame: 0x06,
            handshake,
        };
        let google = |salt, handshake| VersionInfo {
            crypto_frame: 0x08,
            ..info(salt, handshake)
        };
        Some(match version {
            VERSION_NEGOTIATION => return None,
            0x6b33_43cf => VersionInfo {
                v2_labels: true,
                initial_type: 1,
                ..info(&salt::V2, Handshake::Tls)
            },
            0xff00_0016 | 0xface_b001 => info(&salt::DRAFT_22, Handshake::Tls),
            0xff00_0017..=0xff00_001c | 0xface_b002 | 0xface_b00e => {
                info(&salt::DRAFT_23, Handshake::Tls)
            }
            0xff00_001d..=0xff00_0020 => info(&salt::DRAFT_29, Handshake::Tls),
            0x5130_3530 => google(&salt::Q050, Handshake::GquicChlo),
            0x5430_3530 => google(&salt::T050, Handshake::Tls),
            0x5430_3531 => google(&salt::T051, Handshake::Tls),
            v if v & 0x0f0f_0f0f == 0x0a0a_0a0a => info(&salt::DRAFT_29, Handshake::Tls),
            v if is_gquic(v) => return None,
            _ => info(&salt::V1, Handshake::Tls),
        })
    }

    /// Whether a long header's first byte marks an Initial packet of this version.
    pub fn is_initial(&self, first: u8) -> bool {
        (first >> 4) & 0x3 == self.initial_type
    }
}

/// Google QUIC versions are 'Q' and three digits (Q024 … Q050).
pub fn is_gquic(version: u32) -> bool {
    let [q, a, b, c] = version.to_be_bytes();
    q == b'Q' && a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()
}

/// The version as Suricata's EVE writes it: hex without leading zeros (`1`, `ff00001d`),
/// `v2` for QUIC v2, and Google QUIC's ASCII versions by name (`Q050`).
pub fn version_text(version: u32) -> String {
    let [q, a, b, c] = version.to_be_bytes();
    match version {
        0x6b33_43cf => "v2".into(),
        _ if q == b'Q' && [a, b, c].iter().all(u8::is_ascii_digit) => {
            String::from_utf8_lossy(&[q, a, b, c]).into_owned()
        }
        _ => format!("{version:x}"),
    }
}

/// A variable-length integer (RFC 9000 §16).
pub fn read_varint(r: &mut Reader<'_>) -> Result<u64, Truncated> {
    let first = r.u8()?;
    let extra = match first >> 6 {
        0 => 0,
        1 => 1,
        2 => 3,
        _ => 7,
    };
    let mut value = u64::from(first & 0x3f);
    for _ in 0..extra {
        value = (value << 8) | u64::from(r.u8()?);
    }
    Ok(value)
}

/// The fields of a long-header packet that matter for reading an Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub first: u8,
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Where the (protected) packet number starts; only meaningful for Initials.
    pub pn_offset: usize,
    /// The packet's length within its datagram (coalesced packets follow it).
    pub len: usize,
    /// Whether this is an Initial packet of a version aigress can decrypt.
    pub initial: Option<VersionInfo>,
}

/// Reads the long header at the start of `datagram`.
///
/// # Errors
/// [`QuicError::NotLongHeader`] for a short header or a reserved form, [`QuicError::Truncated`]
/// when a length runs past the datagram, [`QuicError::Malformed`] for an oversized
/// connection ID.
pub fn parse_long_header(datagram: &[u8]) -> Result<LongHeader<'_>, QuicError> {
    let mut r = Reader::new(datagram);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        return Err(QuicError::NotLongHeader);
    }
    let version = r.u32()?;
    let dcid = r.vec8()?;
    let scid = r.vec8()?;
    // A packet with no length field of its own (version negotiation, Retry, a Google QUIC
    // header this module does not decrypt) is the rest of the datagram.
    let whole_datagram = LongHeader {
        first,
        version,
        dcid,
        scid,
        pn_offset: r.position(),
        len: datagram.len(),
        initial: None,
    };
    let Some(info) = VersionInfo::of(version) else {
        return Ok(whole_datagram);
    };
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(QuicError::Malformed);
    }
    let initial = info.is_initial(first).then_some(info);
    let retry_type = if info.v2_labels { 0 } else { 3 };
    if initial.is_none() && (first >> 4) & 0x3 == retry_type {
        return Ok(whole_datagram);
    }
    if initial.is_some() {
        let token_len = usize::try_from(read_varint(&mut r)?).map_err(|_| QuicError::Malformed)?;
        r.skip(token_len)?;
    }
    let length = usize::try_from(read_varint(&mut r)?).map_err(|_| QuicError::Malformed)?;
    let pn_offset = r.position();
    let len = pn_offset.checked_add(length).ok_or(QuicError::Malformed)?;
    if len > datagram.len() {
        return Err(QuicError::Truncated);
    }
    Ok(LongHeader {
        first,
        version,
        dcid,
        scid,
        pn_offset,
        len,
        initial,
    })
}

struct OutLen(usize);

impl KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(label.len().checked_add(6)?).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, OutLen(out.len())).ok()?.fill(out).ok()
}

/// A client's Initial packet protection keys.
pub struct InitialKeys {
    packet: LessSafeKey,
    iv: [u8; 12],
    header: aead::quic::HeaderProtectionKey,
}

impl std::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitialKeys")
    }
}

/// The key material, exposed for tests against published vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMaterial {
    pub secret: [u8; 32],
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

impl KeyMaterial {
    /// The client's Initial secrets for `dcid` under `info`'s salt and labels.
    pub fn client(info: &VersionInfo, dcid: &[u8]) -> Option<Self> {
        let initial = Salt::new(HKDF_SHA256, info.salt).extract(dcid);
        let mut secret = [0u8; 32];
        expand_label(&initial, b"client in", &mut secret)?;
        let client = Prk::new_less_safe(HKDF_SHA256, &secret);
        let (key_label, iv_label, hp_label): (&[u8], &[u8], &[u8]) = if info.v2_labels {
            (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
        } else {
            (b"quic key", b"quic iv", b"quic hp")
        };
        let mut m = KeyMaterial {
            secret,
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, key_label, &mut m.key)?;
        expand_label(&client, iv_label, &mut m.iv)?;
        expand_label(&client, hp_label, &mut m.hp)?;
        Some(m)
    }
}

impl InitialKeys {
    /// The keys protecting the client's Initial packets sent to `dcid`.
    pub fn client(info: &VersionInfo, dcid: &[u8]) -> Option<Self> {
        let m = KeyMaterial::client(info, dcid)?;
        Some(InitialKeys {
            packet: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &m.key).ok()?),
            iv: m.iv,
            header: aead::quic::HeaderProtectionKey::new(&aead::quic::AES_128, &m.hp).ok()?,
        })
    }
}

/// The full packet number nearest to the next expected one (RFC 9000 Appendix A.3).
pub fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let window = 1u64 << bits;
    let half = window >> 1;
    let mask = window.wrapping_sub(1);
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62).saturating_sub(window)
    {
        candidate.saturating_add(window)
    } else if candidate > expected.saturating_add(half) && candidate >= window {
        candidate.wrapping_sub(window)
    } else {
        candidate
    }
}

/// A decrypted Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub packet_number: u64,
    pub payload: Vec<u8>,
}

/// Removes header protection from an Initial and opens its payload.
///
/// `packet` is the packet alone (`header.len` bytes of its datagram).
///
/// # Errors
/// [`QuicError::Truncated`] when the packet is too short to sample, [`QuicError::Decrypt`]
/// when the AEAD tag does not verify (a server's Initial, another version's, or noise).
pub fn open_initial(
    packet: &[u8],
    header: &LongHeader<'_>,
    keys: &InitialKeys,
    largest: Option<u64>,
) -> Result<Opened, QuicError> {
    let sample_at = header
        .pn_offset
        .checked_add(4)
        .ok_or(QuicError::Truncated)?;
    let sample_end = sample_at.checked_add(16).ok_or(QuicError::Truncated)?;
    let sample = packet
        .get(sample_at..sample_end)
        .ok_or(QuicError::Truncated)?;
    let mask = keys
        .header
        .new_mask(sample)
        .map_err(|_| QuicError::Decrypt)?;
    let mut buf = packet
        .get(..header.len)
        .ok_or(QuicError::Truncated)?
        .to_vec();
    let [m0, m1, m2, m3, m4] = mask;
    let first = buf.first_mut().ok_or(QuicError::Truncated)?;
    *first ^= m0 & 0x0f;
    let pn_len = usize::from(*first & 0x03).saturating_add(1);
    let pn_end = header.pn_offset.saturating_add(pn_len);
    let mut truncated = 0u64;
    let pn_bytes = buf
        .get_mut(header.pn_offset..pn_end)
        .ok_or(QuicError::Truncated)?;
    for (byte, m) in pn_bytes.iter_mut().zip([m1, m2, m3, m4]) {
        *byte ^= m;
        truncated = (truncated << 8) | u64::from(*byte);
    }
    let bits = u32::try_from(pn_len.saturating_mul(8)).unwrap_or(32);
    let packet_number = decode_packet_number(largest, truncated, bits);
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().skip(4).zip(packet_number.to_be_bytes()) {
        *n ^= p;
    }
    let mut payload = buf.split_off(pn_end.min(buf.len()));
    let plain_len = keys
        .packet
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&buf),
            &mut payload,
        )
        .map_err(|_| QuicError::Decrypt)?
        .len();
    payload.truncate(plain_len);
    Ok(Opened {
        packet_number,
        payload,
    })
}

/// A frame of an Initial packet (RFC 9000 §19; §12.4 lists the types an Initial may carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Padding,
    Ping,
    Ack,
    Crypto { offset: u64, data: &'a [u8] },
    ConnectionClose,
}

/// The frames of a decrypted Initial payload, ending at the first error or at a frame type
/// an Initial may not carry. `crypto_frame` is the version's CRYPTO type
/// ([`VersionInfo::crypto_frame`]).
pub fn frames(
    payload: &[u8],
    crypto_frame: u64,
) -> impl Iterator<Item = Result<Frame<'_>, QuicError>> + '_ {
    let mut r = Reader::new(payload);
    let mut failed = false;
    // Ends: every frame consumes at least its type byte, and the first error stops it.
    std::iter::from_fn(move || {
        if failed || r.is_empty() {
            return None;
        }
        let frame = next_frame(&mut r, crypto_frame);
        failed = frame.is_err();
        Some(frame)
    })
}

fn next_frame<'a>(r: &mut Reader<'a>, crypto_frame: u64) -> Result<Frame<'a>, QuicError> {
    let kind = read_varint(r)?;
    if kind == crypto_frame {
        let offset = read_varint(r)?;
        let len = usize::try_from(read_varint(r)?).map_err(|_| QuicError::Malformed)?;
        return Ok(Frame::Crypto {
            offset,
            data: r.bytes(len)?,
        });
    }
    Ok(match kind {
        0x00 => {
            let zeros = r.rest().iter().take_while(|b| **b == 0).count();
            r.skip(zeros)?;
            Frame::Padding
        }
        0x01 => Frame::Ping,
        0x02 | 0x03 => {
            read_varint(r)?;
            read_varint(r)?;
            let ranges = read_varint(r)?;
            read_varint(r)?;
            // The count is the sender's, up to 2^62; each range consumes two varints of
            // at least a byte each, so the payload's end stops the loop first.
            for _ in 0..ranges {
                read_varint(r)?;
                read_varint(r)?;
            }
            if kind == 0x03 {
                for _ in 0..3 {
                    read_varint(r)?;
                }
            }
            Frame::Ack
        }
        0x1c | 0x1d => {
            read_varint(r)?;
            if kind == 0x1c {
                read_varint(r)?;
            }
            let len = usize::try_from(read_varint(r)?).map_err(|_| QuicError::Malformed)?;
            r.skip(len)?;
            Frame::ConnectionClose
        }
        _ => return Err(QuicError::Malformed),
    })
}

/// What a Google QUIC client hello (CHLO) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chlo {
    pub sni: Option<String>,
    /// The user agent id (`UAID`), e.g. a Chrome version.
    pub user_agent: Option<String>,
}

/// Tags in one handshake message; real CHLOs have about 20.
const MAX_CHLO_TAGS: usize = 128;

/// Reads a Google QUIC crypto handshake message that starts with `CHLO`:
/// tag, entry count (u16 LE), padding (u16), then (tag, end offset u32 LE) pairs and the
/// values they delimit. Returns the CHLO and the message's length.
pub fn parse_chlo(message: &[u8]) -> Option<(Chlo, usize)> {
    let mut r = Reader::new(message);
    if r.bytes(4).ok()? != b"CHLO" {
        return None;
    }
    let entries = usize::from(u16::from_le_bytes(r.array().ok()?));
    if entries > MAX_CHLO_TAGS {
        return None;
    }
    r.skip(2).ok()?;
    let table = r.bytes(entries.checked_mul(8)?).ok()?;
    let values = r.rest();
    let mut chlo = Chlo {
        sni: None,
        user_agent: None,
    };
    let mut start = 0usize;
    for entry in table.chunks_exact(8) {
        let (tag, end) = entry.split_at(4);
        let end = usize::try_from(u32::from_le_bytes(end.try_into().ok()?)).ok()?;
        let value = values.get(start..end)?;
        let text = || Some(String::from_utf8_lossy(value).into_owned());
        match tag {
            b"SNI\0" => chlo.sni = text(),
            b"UAID" => chlo.user_agent = text(),
            _ => {}
        }
        start = end;
    }
    let len = r.position().checked_add(start)?;
    Some((chlo, len))
}

/// The version of a Google QUIC packet sent by a client (which always announces its
/// version in its first packets), or `None`.
pub fn gquic_version(datagram: &[u8]) -> Option<u32> {
    let first = *datagram.first()?;
    let at = if first & 0x80 != 0 {
        // Q046 and later use the IETF long-header layout.
        1
    } else if first & 0x01 != 0 {
        // The older public header: flags, then the 8-byte connection ID if flagged.
        if first & 0x08 != 0 { 9 } else { 1 }
    } else {
        return None;
    };
    let version = crate::wire::be16(datagram, at)
        .zip(crate::wire::be16(datagram, at.checked_add(2)?))
        .map(|(hi, lo)| u32::from(hi) << 16 | u32::from(lo))?;
    is_gquic(version).then_some(version)
}

/// The cleartext CHLO in a Google QUIC packet of version Q046 or older.
pub fn find_clear_chlo(datagram: &[u8]) -> Option<Chlo> {
    let at = datagram.windows(4).position(|w| w == b"CHLO")?;
    parse_chlo(datagram.get(at..)?).map(|(chlo, _)| chlo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn versions_read_as_suricata_writes_them() {
        assert_eq!(version_text(1), "1");
        assert_eq!(version_text(0x6b33_43cf), "v2");
        assert_eq!(version_text(0xff00_001d), "ff00001d");
        assert_eq!(version_text(0x5130_3530), "Q050");
        assert_eq!(version_text(0x5130_3436), "Q046");
        assert_eq!(version_text(0x5130_35ff), "513035ff");
    }

    /// A published vector: version, then the hex of the client Initial secret, key, iv,
    /// header-protection key, and a sample with the mask it gives.
    struct Vector {
        version: u32,
        secret: &'static str,
        key: &'static str,
        iv: &'static str,
        hp: &'static str,
        sample: &'static str,
        mask: &'static str,
    }

    fn check(v: &Vector) {
        let info = VersionInfo::of(v.version).unwrap();
        let m = KeyMaterial::client(&info, &hex(DCID)).unwrap();
        assert_eq!(m.secret.to_vec(), hex(v.secret));
        assert_eq!(m.key.to_vec(), hex(v.key));
        assert_eq!(m.iv.to_vec(), hex(v.iv));
        assert_eq!(m.hp.to_vec(), hex(v.hp));
        let keys = InitialKeys::client(&info, &hex(DCID)).unwrap();
        assert_eq!(
            keys.header.new_mask(&hex(v.sample)).unwrap().to_vec(),
            hex(v.mask)
        );
    }

    #[test]
    fn rfc9001_appendix_a_client_initial_keys() {
        check(&Vector {
            version: 1,
            secret: "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
            key: "1f369613dd76d5467730efcbe3b1a22d",
            iv: "fa044b2f42a3fd3b46fb255c",
            hp: "9f50449e04a0e810283a1e9933adedd2",
            sample: "d1b1c98dd7689fb8ec11d242b123dc9b",
            mask: "437b9aec36",
        });
    }

    #[test]
    fn rfc9369_appendix_a_client_initial_keys() {
        check(&Vector {
            version: 0x6b33_43cf,
            secret: "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
            key: "8b1a0bc121284290a29e0971b5cd045d",
            iv: "91f73e2351d8fa91660e909f",
            hp: "45b95e15235d6f45a6b19cbcb0294ba9",
            sample: "ffe67b6abcdb4298b485dd04de806071",
            mask: "94a0c95e80",
        });
    }

    /// Protects a client Initial with rustls's own QUIC keys and opens it with ours.
    fn roundtrip_with_rustls(version: u32, rustls_version: rustls::quic::Version) {
        let rustls::SupportedCipherSuite::Tls13(suite) =
            rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        else {
            unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite");
        };
        let dcid = hex("0011223344556677");
        let keys = rustls::quic::Keys::initial(
            rustls_version,
            suite,
            suite.quic.unwrap(),
            &dcid,
            rustls::Side::Client,
        );
        let info = VersionInfo::of(version).unwrap();
        let first = 0xc0 | (info.initial_type << 4) | 0x01; // 2-byte packet number
        let mut header = vec![first];
        header.extend_from_slice(&version.to_be_bytes());
        header.push(8);
        header.extend_from_slice(&dcid);
        header.extend_from_slice(&[0, 0]); // no SCID, no token
        let plain: Vec<u8> = [&[0x06, 0x00, 0x04][..], b"ping", &[0u8; 60]].concat();
        let length = 2 + plain.len() + 16;
        header.extend_from_slice(&(0x4000u16 | u16::try_from(length).unwrap()).to_be_bytes());
        let pn_offset = header.len();
        header.extend_from_slice(&[0x00, 0x07]);
        let mut payload = plain.clone();
        let tag = keys
            .local
            .packet
            .encrypt_in_place(7, &header, &mut payload)
            .unwrap();
        payload.extend_from_slice(tag.as_ref());
        let sample = payload[2..18].to_vec();
        let (first_byte, rest) = header.split_first_mut().unwrap();
        let pn = &mut rest[pn_offset - 1..pn_offset + 1];
        keys.local
            .header
            .encrypt_in_place(&sample, first_byte, pn)
            .unwrap();
        let packet = [header, payload].concat();

        let parsed = parse_long_header(&packet).unwrap();
        assert_eq!(parsed.initial, Some(info));
        let ours = InitialKeys::client(&info, parsed.dcid).unwrap();
        let opened = open_initial(&packet, &parsed, &ours, None).unwrap();
        assert_eq!(opened.packet_number, 7);
        assert_eq!(opened.payload, plain);
        let got: Vec<_> = frames(&opened.payload, info.crypto_frame).collect();
        assert_eq!(
            got[0],
            Ok(Frame::Crypto {
                offset: 0,
                data: b"ping"
            })
        );
        assert_eq!(got[1], Ok(Frame::Padding));
    }

    #[test]
    fn keys_agree_with_rustls_for_v1_v2_and_draft_29() {
        roundtrip_with_rustls(1, rustls::quic::Version::V1);
        roundtrip_with_rustls(0x6b33_43cf, rustls::quic::Version::V2);
        roundtrip_with_rustls(0xff00_001d, rustls::quic::Version::V1Draft);
    }

    #[test]
    fn packet_numbers_decode_near_the_expected_one() {
        // RFC 9000 Appendix A.3's example.
        assert_eq!(
            decode_packet_number(Some(0xa82f30ea), 0x9b32, 16),
            0xa82f9b32
        );
        assert_eq!(decode_packet_number(None, 0, 8), 0);
        assert_eq!(decode_packet_number(Some(255), 0x01, 8), 257);
    }

    #[test]
    fn headers_and_frames_reject_garbage_without_panic() {
        assert_eq!(
            parse_long_header(&[0x40, 1, 2]),
            Err(QuicError::NotLongHeader)
        );
        let packet = hex("c300000001088394c8f03e5157080000449e00000002");
        for cut in 0..packet.len() {
            assert!(parse_long_header(&packet[..cut]).is_err(), "{cut}");
        }
        // ACK (largest 5, no extra ranges), PING, then a CRYPTO frame cut short.
        let frames_in = [0x02, 0x05, 0x00, 0x00, 0x00, 0x01, 0x06, 0x10, 0x03, b'a'];
        let got: Vec<_> = frames(&frames_in, 0x06).collect();
        assert_eq!(got[0], Ok(Frame::Ack));
        assert_eq!(got[1], Ok(Frame::Ping));
        assert_eq!(got[2], Err(QuicError::Truncated));
        assert_eq!(got.len(), 3);
        assert_eq!(
            frames(&[0x08], 0x06).next(),
            Some(Err(QuicError::Malformed))
        );
        assert_eq!(
            frames(&[0x08, 0, 1, 7], 0x08).next(),
            Some(Ok(Frame::Crypto {
                offset: 0,
                data: &[7]
            }))
        );
    }

    #[test]
    fn gquic_chlo_tags() {
        let mut msg = b"CHLO".to_vec();
        msg.extend_from_slice(&[2, 0, 0, 0]);
        msg.extend_from_slice(b"SNI\0");
        msg.extend_from_slice(&11u32.to_le_bytes());
        msg.extend_from_slice(b"UAID");
        msg.extend_from_slice(&15u32.to_le_bytes());
        msg.extend_from_slice(b"example.comabcd");
        let (chlo, len) = parse_chlo(&msg).unwrap();
        assert_eq!(len, msg.len());
        assert_eq!(chlo.sni.as_deref(), Some("example.com"));
        assert_eq!(chlo.user_agent.as_deref(), Some("abcd"));
        for cut in 0..msg.len() {
            assert!(parse_chlo(&msg[..cut]).is_none(), "{cut}");
        }
        let mut q043 = vec![0x09];
        q043.extend_from_slice(&[1; 8]);
        q043.extend_from_slice(b"Q043");
        assert_eq!(gquic_version(&q043), Some(0x5130_3433));
        assert_eq!(VersionInfo::of(0x5130_3433), None);
        assert!(VersionInfo::of(0x0a0a_0a0a).is_some());
    }
}
