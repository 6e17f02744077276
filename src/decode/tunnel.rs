//! Link layers and tunnel headers that etherparse does not decode.
//!
//! Each function reads one header and says what comes next. References: VXLAN RFC 7348,
//! Geneve RFC 8926, GRE RFC 2784/2890 (and RFC 2637 for PPTP's enhanced GRE), ERSPAN
//! draft-foschiano-erspan, MPLS RFC 3032, PPPoE RFC 2516, GTP-U 3GPP TS 29.281,
//! Teredo RFC 4380, NFLOG (Linux `nfnetlink_log`), 802.11 and radiotap.

use super::{DecodeError, Layer};
use crate::wire::{Reader, Truncated};

impl From<Truncated> for DecodeError {
    fn from(_: Truncated) -> Self {
        DecodeError::BadTunnel
    }
}

/// Most MPLS stacks seen in practice have two or three labels.
const MAX_MPLS_LABELS: usize = 8;
/// GTP-U extension headers chained in one packet.
const MAX_GTP_EXTENSIONS: usize = 8;
/// Teredo authentication/origin headers in front of the IPv6 packet.
const MAX_TEREDO_HEADERS: usize = 2;

/// PPP framing (link type PPP or PPP in HDLC-like framing): optional address/control bytes,
/// then a one- or two-byte protocol field.
pub(super) fn ppp(frame: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(frame);
    if r.rest().starts_with(&[0xff, 0x03]) {
        r.skip(2)?;
    }
    ppp_protocol(r)
}

/// The PPP protocol field and what follows it. With protocol field compression (RFC 1661
/// section 6.5), which PPPoE peers negotiate too, an odd first byte is a whole one-byte
/// protocol.
fn ppp_protocol(mut r: Reader<'_>) -> Result<Layer<'_>, DecodeError> {
    let first = r.u8()?;
    let protocol = if first & 1 == 1 {
        u16::from(first)
    } else {
        u16::from_be_bytes([first, r.u8()?])
    };
    Ok(Layer::Ppp(protocol, r.rest()))
}

/// PPPoE session stage (ethertype 0x8864): version/type, code, session id, length, then PPP.
pub(super) fn pppoe_session(payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(payload);
    let version_type = r.u8()?;
    let code = r.u8()?;
    if version_type != 0x11 || code != 0 {
        return Err(DecodeError::BadTunnel);
    }
    r.skip(4)?;
    ppp_protocol(r)
}

/// A Network Service Header (RFC 8300, ethertype 0x894F): version 0, its length in 4-byte
/// words (6 for MD type 1, which has fixed context headers), then what the next-protocol
/// field names: IPv4, IPv6, Ethernet or MPLS, as Suricata decodes them.
pub(super) fn nsh(payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(payload);
    let first = r.u8()?;
    let ttl_len = r.u8()?;
    let md_type = r.u8()? & 0x0f;
    let next = r.u8()?;
    let words = usize::from(ttl_len & 0x3f);
    if first >> 6 != 0 || words < 2 || (md_type == 1 && words != 6) {
        return Err(DecodeError::BadTunnel);
    }
    let inner = payload
        .get(words.saturating_mul(4)..)
        .ok_or(DecodeError::BadTunnel)?;
    match next {
        1 | 2 => Ok(Layer::Ip(inner)),
        3 => Ok(Layer::Ethernet(inner)),
        5 => Ok(Layer::Mpls(inner)),
        _ => Err(DecodeError::NotIp),
    }
}

/// An MPLS label stack, then IPv4, IPv6 or a pseudowire control word and Ethernet.
pub(super) fn mpls(payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(payload);
    for _ in 0..MAX_MPLS_LABELS {
        let entry = r.u32()?;
        if entry & 0x100 != 0 {
            return match r.rest().first().map(|b| b >> 4) {
                Some(4 | 6) => Ok(Layer::Ip(r.rest())),
                Some(0) => {
                    r.skip(4)?;
                    Ok(Layer::Ethernet(r.rest()))
                }
                _ => Err(DecodeError::BadTunnel),
            };
        }
    }
    Err(DecodeError::BadTunnel)
}

/// GRE (IP protocol 47, or UDP 4754), including ERSPAN types I–III and PPTP's GRE version 1.
pub(super) fn gre(payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    const CHECKSUM: u16 = 0x8000;
    const ROUTING: u16 = 0x4000;
    const KEY: u16 = 0x2000;
    const SEQUENCE: u16 = 0x1000;
    const ACK: u16 = 0x0080;
    let mut r = Reader::new(payload);
    let flags = r.u16()?;
    let protocol = r.u16()?;
    if flags & ROUTING != 0 {
        return Err(DecodeError::BadTunnel);
    }
    match flags & 0x7 {
        0 => {
            if flags & CHECKSUM != 0 {
                r.skip(4)?;
            }
            if flags & KEY != 0 {
                r.skip(4)?;
            }
            if flags & SEQUENCE != 0 {
                r.skip(4)?;
            }
        }
        1 => {
            // PPTP: the key is always there, the acknowledgement flag is in the low byte.
            r.skip(4)?;
            if flags & SEQUENCE != 0 {
                r.skip(4)?;
            }
            if flags & ACK != 0 {
                r.skip(4)?;
            }
            return if protocol == 0x880b {
                ppp(r.rest())
            } else {
                Err(DecodeError::BadTunnel)
            };
        }
        _ => return Err(DecodeError::BadTunnel),
    }
    match protocol {
        // ERSPAN type I has no header of its own and no GRE sequence number; type II has both.
        0x88be if flags & SEQUENCE == 0 => Ok(Layer::Ethernet(r.rest())),
        0x88be => {
            r.skip(8)?;
            Ok(Layer::Ethernet(r.rest()))
        }
        0x22eb => {
            let header = r.bytes(12)?;
            // The O flag (last bit of the header) announces an 8-byte platform sub-header.
            if header.last().is_some_and(|b| b & 1 == 1) {
                r.skip(8)?;
            }
            Ok(Layer::Ethernet(r.rest()))
        }
        0x880b => ppp(r.rest()),
        other => Ok(Layer::EtherType(other, r.rest())),
    }
}

/// VXLAN: 8-byte header with the I flag, then Ethernet.
pub(super) fn vxlan(payload: &[u8]) -> Option<Layer<'_>> {
    let mut r = Reader::new(payload);
    let flags = r.u8().ok()?;
    if flags & 0x08 == 0 {
        return None;
    }
    r.skip(7).ok()?;
    Some(Layer::Ethernet(r.rest()))
}

/// Geneve: version 0, options length in 4-byte words, protocol type as an ethertype.
pub(super) fn geneve(payload: &[u8]) -> Option<Layer<'_>> {
    let mut r = Reader::new(payload);
    let first = r.u8().ok()?;
    if first >> 6 != 0 {
        return None;
    }
    let options = usize::from(first & 0x3f).checked_mul(4)?;
    r.skip(1).ok()?;
    let protocol = r.u16().ok()?;
    r.skip(4).ok()?;
    r.skip(options).ok()?;
    Some(Layer::EtherType(protocol, r.rest()))
}

/// GTP-U G-PDU (message type 255): the user's IP packet after the header and its extensions.
pub(super) fn gtp_u(payload: &[u8]) -> Option<Layer<'_>> {
    let mut r = Reader::new(payload);
    let flags = r.u8().ok()?;
    let message_type = r.u8().ok()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || message_type != 0xff {
        return None;
    }
    r.skip(6).ok()?;
    if flags & 0x07 != 0 {
        r.skip(3).ok()?;
        let mut next = r.u8().ok()?;
        for _ in 0..MAX_GTP_EXTENSIONS {
            if next == 0 {
                break;
            }
            let words = usize::from(r.u8().ok()?);
            let len = words.checked_mul(4)?.checked_sub(2)?;
            r.skip(len).ok()?;
            next = r.u8().ok()?;
        }
        if next != 0 {
            return None;
        }
    }
    match r.rest().first().map(|b| b >> 4) {
        Some(4 | 6) => Some(Layer::Ip(r.rest())),
        _ => None,
    }
}

/// Teredo: optional authentication and origin indication headers, then an IPv6 packet whose
/// payload length matches the datagram.
pub(super) fn teredo(payload: &[u8]) -> Option<Layer<'_>> {
    let mut r = Reader::new(payload);
    for _ in 0..MAX_TEREDO_HEADERS {
        match r.rest() {
            [0x00, 0x01, ..] => {
                r.skip(2).ok()?;
                let id_len = usize::from(r.u8().ok()?);
                let auth_len = usize::from(r.u8().ok()?);
                r.skip(id_len.checked_add(auth_len)?.checked_add(9)?).ok()?;
            }
            [0x00, 0x00, ..] => r.skip(8).ok()?,
            _ => break,
        }
    }
    let inner = r.rest();
    let payload_len = crate::wire::be16(inner, 4)?;
    let expected = usize::from(payload_len).checked_add(40)?;
    if inner.first().map(|b| b >> 4) == Some(6) && expected == inner.len() {
        Some(Layer::Ip(inner))
    } else {
        None
    }
}

/// NFLOG: a 4-byte header, then type-length-value attributes in host byte order, each padded
/// to 4 bytes; attribute 9 (`NFULA_PAYLOAD`) is the IP packet.
pub(super) fn nflog_payload(frame: &[u8]) -> Result<&[u8], DecodeError> {
    const NFULA_PAYLOAD: u16 = 9;
    let mut r = Reader::new(frame);
    r.skip(4).map_err(|_| DecodeError::LinkTruncated)?;
    // Ends: each attribute consumes at least its 4-byte header.
    while !r.is_empty() {
        let len = usize::from(u16::from_le_bytes(r.array()?));
        let kind = u16::from_le_bytes(r.array()?);
        let value_len = len.checked_sub(4).ok_or(DecodeError::BadTunnel)?;
        let value = r.bytes(value_len)?;
        if kind & 0x7fff == NFULA_PAYLOAD {
            return Ok(value);
        }
        let padding = value_len.wrapping_neg() & 3;
        r.skip(padding.min(r.remaining()))?;
    }
    Err(DecodeError::NotIp)
}

/// An 802.11 data frame: a header whose length depends on the frame control flags, then
/// LLC/SNAP. Protected (encrypted) and null-data frames carry no readable IP.
pub(super) fn wlan(frame: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(frame);
    let fc0 = r.u8().map_err(|_| DecodeError::LinkTruncated)?;
    let fc1 = r.u8().map_err(|_| DecodeError::LinkTruncated)?;
    let frame_type = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if frame_type != 2 || subtype & 0x4 != 0 || fc1 & 0x40 != 0 {
        return Err(DecodeError::NotIp);
    }
    let mut header = 24usize;
    if fc1 & 0x03 == 0x03 {
        header = header.saturating_add(6);
    }
    let qos = subtype & 0x8 != 0;
    if qos {
        header = header.saturating_add(2);
        if fc1 & 0x80 != 0 {
            header = header.saturating_add(4);
        }
    }
    let body = frame.get(header..).ok_or(DecodeError::LinkTruncated)?;
    llc_snap(body)
}

/// An LLC header; IP is carried behind SNAP (AA AA 03, OUI, ethertype).
pub(super) fn llc_snap(payload: &[u8]) -> Result<Layer<'_>, DecodeError> {
    let mut r = Reader::new(payload);
    let header = r.array::<6>().map_err(|_| DecodeError::LinkTruncated)?;
    if header[..3] != [0xaa, 0xaa, 0x03] {
        return Err(DecodeError::NotIp);
    }
    let protocol = r.u16().map_err(|_| DecodeError::LinkTruncated)?;
    Ok(Layer::EtherType(protocol, r.rest()))
}
