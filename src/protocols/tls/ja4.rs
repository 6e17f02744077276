//! The JA4 TLS client fingerprint (FoxIO, <https://github.com/FoxIO-LLC/ja4>, `JA4.md`).
//!
//! `JA4 = a_b_c`:
//! - `a`: transport (`t` TCP, `q` QUIC), the highest offered version (`13`, `12`, …, `s3`;
//!   `00` if unknown), `d` when an SNI is present or `i` when not, the cipher count and the
//!   extension count (two digits each, capped at 99), and the first and last characters of
//!   the first ALPN value (`00` without ALPN; hex digits when a character is not
//!   alphanumeric).
//! - `b`: the first 12 hex digits of SHA-256 over the sorted cipher suites, as 4-digit hex
//!   joined by commas (`000000000000` when there are none).
//! - `c`: the first 12 hex digits of SHA-256 over the sorted extensions without SNI and ALPN,
//!   then `_` and the signature algorithms in wire order (no `_` when there are none).
//!
//! GREASE values (RFC 8701) are left out everywhere: from the counts, the lists and the
//! version, as the specification says, so a client that rotates its GREASE values keeps
//! one fingerprint.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::parse::{ClientHello, extension, is_grease};

/// What carried the ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Tcp,
    Quic,
}

/// Computes the JA4 fingerprint of a ClientHello.
pub fn ja4(hello: &ClientHello<'_>, carrier: Carrier) -> String {
    let mut ciphers: Vec<u16> = hello.ciphers().filter(|c| !is_grease(*c)).collect();
    let extensions: Vec<u16> = hello
        .extensions()
        .map(|(kind, _)| kind)
        .filter(|k| !is_grease(*k))
        .collect();
    let mut out = String::with_capacity(36);
    out.push(match carrier {
        Carrier::Tcp => 't',
        Carrier::Quic => 'q',
    });
    out.push_str(version_code(hello.max_version()));
    out.push(if hello.sni.is_some() { 'd' } else { 'i' });
    let _ = write!(
        out,
        "{:02}{:02}",
        ciphers.len().min(99),
        extensions.len().min(99)
    );
    out.push_str(&alpn_code(hello.alpn().next()));
    out.push('_');

    ciphers.sort_unstable();
    out.push_str(&truncated_hash(&hex_list(&ciphers)));
    out.push('_');

    let mut sorted: Vec<u16> = extensions
        .into_iter()
        .filter(|k| *k != extension::SERVER_NAME && *k != extension::ALPN)
        .collect();
    sorted.sort_unstable();
    let signatures: Vec<u16> = hello
        .signature_algorithms()
        .filter(|s| !is_grease(*s))
        .collect();
    let mut input = hex_list(&sorted);
    if !signatures.is_empty() {
        input.push('_');
        input.push_str(&hex_list(&signatures));
    }
    out.push_str(&if sorted.is_empty() {
        "000000000000".to_owned()
    } else {
        truncated_hash(&input)
    });
    out
}

fn version_code(version: u16) -> &'static str {
    match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0x0100 => "s1",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn alpn_code(first: Option<&[u8]>) -> String {
    let Some(value) = first.filter(|v| !v.is_empty()) else {
        return "00".to_owned();
    };
    let (Some(&head), Some(&tail)) = (value.first(), value.last()) else {
        return "00".to_owned();
    };
    if head.is_ascii_alphanumeric() && tail.is_ascii_alphanumeric() {
        return [char::from(head), char::from(tail)].iter().collect();
    }
    let hex_head = format!("{head:02x}");
    let hex_tail = format!("{tail:02x}");
    let mut code = String::with_capacity(2);
    code.extend(hex_head.chars().next());
    code.extend(hex_tail.chars().last());
    code
}

fn hex_list(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len().saturating_mul(5));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

fn truncated_hash(input: &str) -> String {
    if input.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(input.as_bytes());
    let mut s = String::with_capacity(12);
    for b in digest.iter().take(6) {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::tls::parse::parse_client_hello;

    #[test]
    fn fingerprint_of_a_known_hello() {
        let body = crate::protocols::tls::parse::tests::sample_client_hello();
        let ch = parse_client_hello(&body).unwrap();
        let fp = ja4(&ch, Carrier::Tcp);
        // 2 ciphers and 4 extensions once GREASE is gone; TLS 1.3 from supported_versions.
        assert!(fp.starts_with("t13d0204h2_"), "{fp}");
        // b: sha256("1301,1302")[..12]; c: sha256("000d,002b_0403,0804")[..12]
        assert_eq!(&fp[11..23], &truncated_hash("1301,1302"));
        assert_eq!(&fp[24..], &truncated_hash("000d,002b_0403,0804"));
    }

    #[test]
    fn alpn_falls_back_to_hex_for_non_alphanumeric_ends() {
        assert_eq!(alpn_code(Some(b"h2")), "h2");
        assert_eq!(alpn_code(Some(b"http/1.1")), "h1");
        assert_eq!(alpn_code(Some(&[0xab, 0x2f])), "af");
        assert_eq!(alpn_code(None), "00");
        assert_eq!(alpn_code(Some(b"x")), "xx");
    }

    #[test]
    fn the_foxio_reference_hash_input_for_ciphers() {
        // From JA4.md: sorted cipher string and its truncated hash.
        let ciphers = "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9";
        assert_eq!(truncated_hash(ciphers), "8daaf6152771");
    }
}
