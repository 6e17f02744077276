//! Signed signature bundles: one file holding a whole database, its version, the time it
//! was made and an Ed25519 signature, so a sensor takes new knowledge without a rebuild
//! and only from a key it trusts.
//!
//! The format, version 1:
//!
//! ```text
//! aigress-signatures-bundle 1 <key id> <signature, base64>\n
//! <payload: JSON {"format":1,"version":…,"date":…,"made":…,"files":{name: text}}>
//! ```
//!
//! The signature is over the payload's bytes exactly; the key id is the first 8 bytes of
//! the SHA-256 of the public key, in hex, so a verifier picks the key without trying each.
//! The bundle's version and date are the database's (`database.toml`) and must agree
//! with it. Keys are files: the private key is PKCS#8 in PEM (`-----BEGIN PRIVATE KEY-----`,
//! as `openssl genpkey -algorithm ed25519` writes it), the public key one line
//! `aigress-ed25519 <32 bytes, base64>`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::load::DATABASE_FILE;

/// The first word of every bundle.
const MAGIC: &str = "aigress-signatures-bundle";
/// The bundle format this build writes and reads.
const FORMAT: u32 = 1;
/// The first word of a public key file.
const PUBLIC_KEY_TAG: &str = "aigress-ed25519";
/// A bundle larger than this is refused before it is parsed: the database is a few
/// hundred KiB, so this leaves room to grow while bounding what a hostile server can make
/// a sensor hold.
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;
/// The header line is short; a longer one is not a bundle.
const MAX_HEADER_BYTES: usize = 512;

/// Why a bundle or key could not be read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a signature bundle (it does not start with {MAGIC:?})")]
    NotABundle,
    #[error("bundle format {0} is not one this aigress reads (it reads {FORMAT})")]
    Format(String),
    #[error("the bundle is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("the bundle's header line is malformed: {0}")]
    Header(&'static str),
    #[error("the bundle is signed by key {0}, which is not among the trusted keys")]
    UnknownKey(String),
    #[error("the bundle's signature does not verify: it was altered or damaged")]
    BadSignature,
    #[error("the bundle's contents are not valid: {0}")]
    Payload(String),
    #[error("the bundle says version {bundle}, its database.toml says {database}")]
    VersionMismatch { bundle: String, database: String },
    #[error("version {0:?} is not dotted numbers (2026.12.06.1)")]
    Version(String),
    #[error("not a private key: {0}")]
    PrivateKey(String),
    #[error("not a public key: {0}")]
    PublicKey(String),
}

/// The contents of a bundle whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: u32,
    /// The database's version (`database.toml`).
    pub version: String,
    /// The database's date.
    pub date: String,
    /// When the bundle was made (RFC 3339).
    pub made: String,
    /// File name → text: `database.toml`, `regions.toml`, one file per vendor.
    pub files: BTreeMap<String, String>,
}

impl Bundle {
    /// The files as the loader takes them.
    pub fn file_list(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }
}

/// A key that signs bundles.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().id())
    }
}

impl SigningKey {
    /// A new random key, and its PKCS#8 PEM text to keep.
    ///
    /// # Errors
    /// Only when the system's random source fails.
    pub fn generate() -> Result<(Self, String), BundleError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| BundleError::PrivateKey("the system's random source failed".into()))?;
        let pem = pem_encode("PRIVATE KEY", pkcs8.as_ref());
        Ok((Self::from_pem(&pem)?, pem))
    }

    /// Reads a PKCS#8 PEM Ed25519 private key.
    ///
    /// # Errors
    /// Text that is not one PEM `PRIVATE KEY` block holding an Ed25519 key.
    pub fn from_pem(text: &str) -> Result<Self, BundleError> {
        let der = pem_decode(text, "PRIVATE KEY").map_err(BundleError::PrivateKey)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| BundleError::PrivateKey(format!("not an Ed25519 PKCS#8 key ({e})")))?;
        Ok(Self { pair })
    }

    pub fn public(&self) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey { bytes }
    }
}

/// A key bundles are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
}

impl PublicKey {
    /// Reads a public key file's text: `aigress-ed25519 <base64>` (blank lines and `#`
    /// comments around it are ignored).
    ///
    /// # Errors
    /// Anything else.
    pub fn from_text(text: &str) -> Result<Self, BundleError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| BundleError::PublicKey("the file is empty".into()))?;
        let Some(encoded) = line.strip_prefix(PUBLIC_KEY_TAG) else {
            return Err(BundleError::PublicKey(format!(
                "the line does not start with {PUBLIC_KEY_TAG:?}"
            )));
        };
        let raw = BASE64
            .decode(encoded.trim())
            .map_err(|e| BundleError::PublicKey(format!("bad base64 ({e})")))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| BundleError::PublicKey("an Ed25519 key is 32 bytes".into()))?;
        Ok(Self { bytes })
    }

    /// The public key file's text.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_TAG} {}\n", BASE64.encode(self.bytes))
    }

    /// The first 8 bytes of the key's SHA-256, in hex.
    pub fn id(&self) -> String {
        Sha256::digest(self.bytes)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Signs a database's files into a bundle.
///
/// # Errors
/// The files hold no `database.toml` with a version and date.
pub fn seal(
    files: &[(String, String)],
    made: &str,
    key: &SigningKey,
) -> Result<Vec<u8>, BundleError> {
    let (version, date) = database_version(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    version_parts(&version)?;
    let bundle = Bundle {
        format: FORMAT,
        version,
        date,
        made: made.to_owned(),
        files: files.iter().cloned().collect(),
    };
    let payload = serde_json::to_vec(&bundle).map_err(|e| BundleError::Payload(e.to_string()))?;
    let signature = key.pair.sign(&payload);
    let mut out = format!(
        "{MAGIC} {FORMAT} {} {}\n",
        key.public().id(),
        BASE64.encode(signature.as_ref())
    )
    .into_bytes();
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks a bundle's signature against the trusted keys and reads it. Nothing of the
/// payload is parsed before the signature verifies.
///
/// # Errors
/// Any [`BundleError`]: not a bundle, too large, an unknown key, a signature that does not
/// verify, contents that are not a bundle, a version that disagrees with `database.toml`.
pub fn open(bytes: &[u8], trusted: &[PublicKey]) -> Result<Bundle, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    if !bytes.starts_with(MAGIC.as_bytes()) {
        return Err(BundleError::NotABundle);
    }
    let head = bytes
        .get(..MAX_HEADER_BYTES.min(bytes.len()))
        .unwrap_or(bytes);
    let newline = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(BundleError::Header("no end of line"))?;
    let (header, rest) = bytes.split_at(newline);
    let payload = rest.get(1..).unwrap_or_default();
    let header = std::str::from_utf8(header).map_err(|_| BundleError::Header("not UTF-8"))?;
    let mut words = header.split(' ');
    let (Some(_), Some(format), Some(key_id), Some(signature), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return Err(BundleError::Header(
            "expected: magic, format, key id, signature",
        ));
    };
    if format != FORMAT.to_string() {
        return Err(BundleError::Format(format.to_owned()));
    }
    let key = trusted
        .iter()
        .find(|k| k.id() == key_id)
        .ok_or_else(|| BundleError::UnknownKey(key_id.to_owned()))?;
    let signature = BASE64
        .decode(signature)
        .map_err(|_| BundleError::Header("the signature is not base64"))?;
    UnparsedPublicKey::new(&ED25519, key.bytes)
        .verify(payload, &signature)
        .map_err(|_| BundleError::BadSignature)?;
    let bundle: Bundle =
        serde_json::from_slice(payload).map_err(|e| BundleError::Payload(e.to_string()))?;
    if bundle.format != FORMAT {
        return Err(BundleError::Format(bundle.format.to_string()));
    }
    let (database, _) =
        database_version(bundle.files.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    if database != bundle.version {
        return Err(BundleError::VersionMismatch {
            bundle: bundle.version,
            database,
        });
    }
    version_parts(&bundle.version)?;
    Ok(bundle)
}

/// Orders two database versions (`2026.12.06.1` < `2026.12.06.2` < `2026.12.10.1`).
///
/// # Errors
/// A version that is not dotted numbers.
pub fn compare_versions(a: &str, b: &str) -> Result<Ordering, BundleError> {
    Ok(version_parts(a)?.cmp(&version_parts(b)?))
}

fn version_parts(version: &str) -> Result<Vec<u64>, BundleError> {
    version
        .split('.')
        .map(|p| p.parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BundleError::Version(version.to_owned()))
}

/// The `version` and `date` of the `database.toml` among `files`.
fn database_version<'a>(
    mut files: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(String, String), BundleError> {
    #[derive(Deserialize)]
    struct Head {
        version: String,
        date: String,
    }
    let (_, text) = files
        .find(|(name, _)| *name == DATABASE_FILE)
        .ok_or_else(|| BundleError::Payload(format!("no {DATABASE_FILE}")))?;
    let head: Head = toml::from_str(text)
        .map_err(|e| BundleError::Payload(format!("{DATABASE_FILE}: {}", e.message())))?;
    Ok((head.version, head.date))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("no {begin:?} line"))?
        .saturating_add(begin.len());
    let stop = text
        .get(start..)
        .and_then(|rest| rest.find(&end))
        .ok_or_else(|| format!("no {end:?} line"))?
        .saturating_add(start);
    let body: String = text
        .get(start..stop)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    BASE64.decode(body).map_err(|e| format!("bad base64 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(version: &str) -> Vec<(String, String)> {
        vec![
            (
                DATABASE_FILE.into(),
                format!("version = \"{version}\"\ndate = \"2026-12-06\"\n"),
            ),
            ("acme.toml".into(), "[vendor]\nid = \"acme\"\n".into()),
        ]
    }

    #[test]
    fn a_sealed_bundle_opens_with_its_key_only() {
        let (key, pem) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(key.public(), again.public());
        let public = PublicKey::from_text(&key.public().to_text()).unwrap();
        let sealed = seal(&files("2026.12.6.2"), "2026-12-06T07:00:00Z", &key).unwrap();
        let bundle = open(&sealed, &[public]).unwrap();
        assert_eq!(bundle.version, "2026.12.6.2");
        assert_eq!(bundle.files.len(), 2);

        let (other, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            open(&sealed, &[other.public()]),
            Err(BundleError::UnknownKey(_))
        ));
    }

    #[test]
    fn any_altered_byte_breaks_the_signature() {
        let (key, _) = SigningKey::generate().unwrap();
        let sealed = seal(&files("1.2"), "2026-12-06T07:00:00Z", &key).unwrap();
        let header_end = sealed.iter().position(|&b| b == b'\n').unwrap();
        for at in [header_end + 1, header_end + 40, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x20;
            assert_eq!(
                open(&bad, &[key.public()]),
                Err(BundleError::BadSignature),
                "byte {at}"
            );
        }
        let truncated = &sealed[..sealed.len() - 10];
        assert_eq!(
            open(truncated, &[key.public()]),
            Err(BundleError::BadSignature)
        );
        assert_eq!(
            open(&sealed[..header_end], &[key.public()]),
            Err(BundleError::Header("no end of line"))
        );
        assert_eq!(
            open(b"[vendor]\n", &[key.public()]),
            Err(BundleError::NotABundle)
        );
    }

    #[test]
    fn versions_compare_as_numbers_and_must_match_the_database() {
        assert_eq!(
            compare_versions("2026.12.06.10", "2026.12.06.9"),
            Ok(Ordering::Greater)
        );
        assert_eq!(
            compare_versions("2026.12.6", "2026.12.06"),
            Ok(Ordering::Equal)
        );
        assert!(compare_versions("2026.x", "1").is_err());
        let (key, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            seal(&files("v1"), "t", &key),
            Err(BundleError::Version(_))
        ));
    }

    #[test]
    fn key_files_that_are_not_keys_are_refused_with_the_reason() {
        assert!(matches!(
            PublicKey::from_text("ssh-ed25519 AAAA"),
            Err(BundleError::PublicKey(_))
        ));
        assert!(matches!(
            PublicKey::from_text("aigress-ed25519 AAAA"),
            Err(BundleError::PublicKey(_))
        ));
        assert!(matches!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(BundleError::PrivateKey(_))
        ));
    }
}
