//! Where the data of a flow lands, and under which data-protection regime.
//!
//! The landing place of an AI flow is judged from the strongest signal there is, in this
//! order:
//!
//! 1. a region in the host name (`bedrock-runtime.eu-central-1.amazonaws.com`): the
//!    region table gives the country; confidence high;
//! 2. the processing location the vendor documents for the endpoint (`eu.api.openai.com`
//!    processes in the EU); confidence high;
//! 3. GeoIP of the destination address; confidence medium; except when the address
//!    belongs to a shared front door (Cloudflare, Fastly, Akamai, Google's front ends),
//!    whose country is the edge near the client. Then the vendor's headquarters country
//!    is used, with confidence low;
//! 4. otherwise the landing is unknown.
//!
//! The country is then placed in the EEA, in a country with an EU adequacy decision, or
//! neither ([`Jurisdictions`]).

mod jurisdictions;

use std::net::IpAddr;

use serde::Serialize;

pub use jurisdictions::{Jurisdictions, TransferLists};

use crate::ai::AiInfo;
use crate::geo::{FrontDoors, GeoIp};

/// What the landing country was judged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A region named in the host name.
    HostnameRegion,
    /// The processing location the vendor documents for the endpoint.
    VendorDocumented,
    /// GeoIP of the destination address.
    Geoip,
    /// The vendor's headquarters (the address is a front door, or has no GeoIP answer).
    VendorHeadquarters,
    /// Nothing to judge from.
    Unknown,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HostnameRegion => "hostname_region",
            Self::VendorDocumented => "vendor_documented",
            Self::Geoip => "geoip",
            Self::VendorHeadquarters => "vendor_headquarters",
            Self::Unknown => "unknown",
        }
    }
}

/// How far the landing country can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    None,
    Low,
    Medium,
    High,
}

impl Confidence {
    /// The confidence [`Self::as_str`] wrote, read back (from an inventory row).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::None, Self::Low, Self::Medium, Self::High]
            .into_iter()
            .find(|c| c.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// Where a flow's data lands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landing {
    /// ISO 3166-1 alpha-2, or `EU` when the vendor documents "the EU" without a
    /// country; null when unknown.
    pub country: Option<String>,
    /// The country is in the European Economic Area (or is `EU`).
    pub eea: bool,
    /// The country has an EU adequacy decision that covers this vendor.
    pub adequacy: bool,
    pub basis: Basis,
    pub confidence: Confidence,
    /// The front-door network the destination address belongs to, when it does.
    pub front_door: Option<String>,
    /// The destination address's GeoIP country, when the databases know it (for a front
    /// door this is the edge, not the landing).
    pub geoip_country: Option<String>,
    /// Where a SaaS's AI sub-processors process the data (the second hop), sorted, with
    /// `unknown` for a sub-processor whose place the SaaS does not state; absent for direct
    /// AI flows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subprocessor_countries: Vec<String>,
    /// Every sub-processor country is in the EEA or has an adequacy decision covering that
    /// provider; absent for direct AI flows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subprocessors_eea_or_adequate: Option<bool>,
}

/// Everything the landing judgement reads besides the flow itself.
#[derive(Debug)]
pub struct LandingContext {
    pub geo: GeoIp,
    pub front_doors: FrontDoors,
    pub jurisdictions: Jurisdictions,
}

/// Why the landing context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LandingError {
    #[error("loading the GeoIP databases (--no-geoip runs without them): {0}")]
    Geo(#[from] crate::geo::GeoError),
    #[error(transparent)]
    Table(#[from] crate::problem::Problems),
}

impl LandingContext {
    /// The GeoIP databases (`country`: the built-in one when `None`; none at all when
    /// `disabled`), the built-in front-door and jurisdiction tables, adjusted by the
    /// policy's adequacy list and DPF-certified vendors.
    ///
    /// # Errors
    /// A GeoIP database that is missing, corrupt or of the wrong kind.
    pub fn load(
        country: Option<&std::path::Path>,
        asn: Option<&std::path::Path>,
        disabled: bool,
        lists: Option<TransferLists<'_>>,
    ) -> Result<Self, LandingError> {
        let geo = if disabled {
            GeoIp::disabled()
        } else {
            GeoIp::open(country, asn)?
        };
        let jurisdictions = Jurisdictions::with_lists(lists)?;
        Ok(Self {
            geo,
            front_doors: FrontDoors::embedded()?,
            jurisdictions,
        })
    }

    /// Where the data of a flow to `dest` classified as `ai` lands.
    pub fn judge(&self, ai: &AiInfo, dest: IpAddr) -> Landing {
        let geo = self.geo.lookup(dest);
        let front_door = self.front_doors.find(dest, geo.asn).map(|d| d.id.clone());
        let (country, basis, confidence) = if let Some(c) = &ai.region_country {
            (Some(c.clone()), Basis::HostnameRegion, Confidence::High)
        } else if let Some(c) = &ai.processing {
            (Some(c.clone()), Basis::VendorDocumented, Confidence::High)
        } else if let (Some(c), None) = (&geo.country, &front_door) {
            (Some(c.clone()), Basis::Geoip, Confidence::Medium)
        } else if let Some(c) = &ai.vendor_country {
            (Some(c.clone()), Basis::VendorHeadquarters, Confidence::Low)
        } else {
            (None, Basis::Unknown, Confidence::None)
        };
        let (eea, adequacy) = match &country {
            Some(c) => (
                self.jurisdictions.is_eea(c),
                self.jurisdictions.is_adequate(c, &ai.vendor),
            ),
            None => (false, false),
        };
        let (subprocessor_countries, subprocessors_eea_or_adequate) = match &ai.saas {
            Some(saas) => {
                let safe = saas.subprocessors.iter().all(|s| {
                    s.country.as_deref().is_some_and(|c| {
                        self.jurisdictions.is_eea(c)
                            || self
                                .jurisdictions
                                .is_adequate(c, s.vendor.as_deref().unwrap_or_default())
                    })
                });
                (saas.countries(), Some(safe))
            }
            None => (Vec::new(), None),
        };
        Landing {
            country,
            eea,
            adequacy,
            basis,
            confidence,
            front_door,
            geoip_country: geo.country,
            subprocessor_countries,
            subprocessors_eea_or_adequate,
        }
    }
}
