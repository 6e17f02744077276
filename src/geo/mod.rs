//! What address databases say about a destination: its country (MaxMind DB format), its
//! origin AS when an ASN database is loaded, and whether it is a shared front door (an
//! anycast CDN edge) whose country says nothing about where a request is processed.

pub mod front_door;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{MaxMindDbError, PathElement, Reader};
use serde::Serialize;

pub use front_door::FrontDoors;

/// The country database shipped with aigress (see `geoip/README.md`).
const EMBEDDED_COUNTRY: &[u8] = include_bytes!("../../geoip/geo-whois-asn-country.mmdb");

/// A database's bytes: built in, or read from a file.
#[derive(Debug)]
enum Bytes {
    Static(&'static [u8]),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Static(b) => b,
            Self::Owned(b) => b,
        }
    }
}

/// Why a GeoIP database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable MaxMind database: {source}")]
    Format {
        path: PathBuf,
        source: MaxMindDbError,
    },
    #[error(
        "{path} is a {kind:?} database; expected a country database (GeoLite2-Country, GeoIP2-Country or geo-whois-asn-country)"
    )]
    NotCountry { path: PathBuf, kind: String },
    #[error("{path} is a {kind:?} database; expected an ASN database (GeoLite2-ASN)")]
    NotAsn { path: PathBuf, kind: String },
}

/// What the databases say about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
}

/// The loaded databases; lookups are read-only and can be shared between threads.
#[derive(Debug)]
pub struct GeoIp {
    country: Option<Reader<Bytes>>,
    asn: Option<Reader<Bytes>>,
    description: String,
}

impl GeoIp {
    /// The built-in country database and no ASN database.
    ///
    /// # Errors
    /// Only if the build embedded a broken file.
    pub fn embedded() -> Result<Self, GeoError> {
        let path = PathBuf::from("<built-in>");
        let reader = Reader::from_source(Bytes::Static(EMBEDDED_COUNTRY)).map_err(|source| {
            GeoError::Format {
                path: path.clone(),
                source,
            }
        })?;
        let description = describe("built-in", &reader);
        Ok(Self {
            country: Some(reader),
            asn: None,
            description,
        })
    }

    /// A country database from `country` (the built-in one when `None`) and, optionally,
    /// an ASN database.
    ///
    /// # Errors
    /// A file that cannot be read, is not a MaxMind database, or is of the wrong kind.
    pub fn open(country: Option<&Path>, asn: Option<&Path>) -> Result<Self, GeoError> {
        let mut geo = match country {
            None => Self::embedded()?,
            Some(path) => {
                let reader = read(path)?;
                let kind = reader.metadata().database_type.clone();
                if !is_country_kind(&kind) {
                    return Err(GeoError::NotCountry {
                        path: path.to_owned(),
                        kind,
                    });
                }
                let description = describe(&path.display().to_string(), &reader);
                Self {
                    country: Some(reader),
                    asn: None,
                    description,
                }
            }
        };
        if let Some(path) = asn {
            let reader = read(path)?;
            let kind = reader.metadata().database_type.clone();
            if !kind.to_ascii_lowercase().contains("asn") {
                return Err(GeoError::NotAsn {
                    path: path.to_owned(),
                    kind,
                });
            }
            geo.description = format!(
                "{}; {}",
                geo.description,
                describe(&path.display().to_string(), &reader)
            );
            geo.asn = Some(reader);
        }
        Ok(geo)
    }

    /// No databases: every lookup answers nothing (the user asked to run without geo).
    pub fn disabled() -> Self {
        Self {
            country: None,
            asn: None,
            description: "disabled".into(),
        }
    }

    /// Which databases are loaded, for logs and `aigress geoip`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether an ASN database is loaded.
    pub fn has_asn(&self) -> bool {
        self.asn.is_some()
    }

    /// What the databases say about `ip`. Private and unknown addresses answer nothing.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut info = GeoInfo::default();
        // Some databases carry rows for private space (the ip-location-db files place
        // 192.168.0.0/16 in a country); such an answer would be invented.
        if !is_global(ip) {
            return info;
        }
        if let Some(reader) = &self.country
            && let Ok(found) = reader.lookup(ip)
        {
            // GeoLite2/GeoIP2 keep the code under country.iso_code; the
            // ip-location-db files keep it in a top-level country_code.
            let code = found
                .decode_path::<String>(&[PathElement::Key("country"), PathElement::Key("iso_code")])
                .ok()
                .flatten()
                .or_else(|| {
                    found
                        .decode_path::<String>(&[PathElement::Key("country_code")])
                        .ok()
                        .flatten()
                });
            info.country = code
                .filter(|c| c.len() == 2)
                .map(|c| c.to_ascii_uppercase());
        }
        if let Some(reader) = &self.asn
            && let Ok(found) = reader.lookup(ip)
        {
            info.asn = found
                .decode_path::<u32>(&[PathElement::Key("autonomous_system_number")])
                .ok()
                .flatten();
            info.as_org = found
                .decode_path::<String>(&[PathElement::Key("autonomous_system_organization")])
                .ok()
                .flatten();
        }
        info
    }
}

/// Whether `ip` is routable on the Internet: not private, shared (CGNAT), loopback,
/// link-local, documentation, benchmarking, multicast or otherwise reserved.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global(IpAddr::V4(v4));
            }
            let first = v6.segments().first().copied().unwrap_or(0);
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments().get(1) == Some(&0x0db8))
        }
    }
}

fn read(path: &Path) -> Result<Reader<Bytes>, GeoError> {
    let bytes = std::fs::read(path).map_err(|source| GeoError::Io {
        path: path.to_owned(),
        source,
    })?;
    Reader::from_source(Bytes::Owned(bytes)).map_err(|source| GeoError::Format {
        path: path.to_owned(),
        source,
    })
}

fn is_country_kind(kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    k.contains("country") || k.contains("city")
}

fn describe(name: &str, reader: &Reader<Bytes>) -> String {
    let m = reader.metadata();
    let built = crate::time::Timestamp::from_secs(i64::try_from(m.build_epoch).unwrap_or(0));
    format!("{name} {} (built {})", m.database_type, built.date())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_database_knows_public_addresses_and_not_private_ones() {
        let geo = GeoIp::embedded().unwrap();
        // RIPE NCC's own address space is registered in the Netherlands.
        assert_eq!(
            geo.lookup("193.0.6.139".parse().unwrap())
                .country
                .as_deref(),
            Some("NL")
        );
        for private in [
            "192.168.1.1",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "::1",
            "fe80::1",
        ] {
            assert_eq!(
                geo.lookup(private.parse().unwrap()).country,
                None,
                "{private}"
            );
        }
        assert_eq!(geo.lookup("fd77::10".parse().unwrap()).country, None);
    }

    #[test]
    fn a_missing_or_corrupt_file_is_a_clear_error() {
        let missing = GeoIp::open(Some(Path::new("/nonexistent/x.mmdb")), None).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/x.mmdb"),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mmdb");
        std::fs::write(&bad, b"not a database").unwrap();
        let corrupt = GeoIp::open(Some(&bad), None).unwrap_err();
        assert!(
            corrupt
                .to_string()
                .contains("not a usable MaxMind database"),
            "{corrupt}"
        );
    }

    #[test]
    fn a_country_database_is_refused_as_an_asn_database() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("country.mmdb");
        std::fs::write(&copy, EMBEDDED_COUNTRY).unwrap();
        let e = GeoIp::open(None, Some(&copy)).unwrap_err();
        assert!(e.to_string().contains("expected an ASN database"), "{e}");
    }
}
