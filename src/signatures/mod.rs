//! The AI endpoint database: which vendor and product a host name or address belongs to,
//! whether the endpoint trains on inputs, where the vendor is based and which region the
//! name pins.
//!
//! The knowledge is data (`signatures/*.toml`, one file per vendor, every fact with its
//! source); this module loads and validates it ([`load`]), compiles it ([`matcher`]) and
//! answers queries. The database in `signatures/` is embedded in the binary as the default.

pub mod bundle;
pub mod diff;
pub mod load;
pub mod matcher;
pub mod model;
pub mod model_servers;
pub mod update;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

pub use load::{LoadError, Problem};
pub use model::{Basis, Endpoint, Fact, Kind, Plan, RegionTable, Sccs, Training, Vendor};

use crate::ai::{AiInfo, EeaAlternative, SaasAi, SubprocessorInfo};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_signatures.rs"));
}

/// What the name or address being classified came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchSource {
    Sni,
    QuicSni,
    HttpHost,
    DnsQuery,
    /// The name a DNS answer gave for the flow's server address.
    DnsName,
    IpRange,
    /// A request's method and path, for a model server reached by its API's routes.
    HttpRequest,
    /// A name or address given on the command line.
    Query,
}

impl MatchSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sni => "sni",
            Self::QuicSni => "quic_sni",
            Self::HttpHost => "http_host",
            Self::DnsQuery => "dns_query",
            Self::DnsName => "dns_name",
            Self::IpRange => "ip_range",
            Self::HttpRequest => "http_request",
            Self::Query => "query",
        }
    }
}

/// The vendor id of every model server recognised by its routes: whoever runs it, the
/// database does not know them.
pub const SELF_HOSTED_VENDOR: &str = "self-hosted";

/// Why a database directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no .toml files")]
    Empty { path: String },
    #[error(transparent)]
    Invalid(#[from] LoadError),
}

/// The database in use, shared by the parts of a running sensor that cite it and
/// replaced whole when a new one is loaded.
pub type DatabaseHandle = Arc<std::sync::RwLock<Arc<Database>>>;

/// A loaded, validated and compiled database.
#[derive(Debug)]
pub struct Database {
    pub version: String,
    /// The version as every AI event carries it, shared rather than copied per event.
    version_tag: Arc<str>,
    pub date: String,
    pub vendors: Vec<Vendor>,
    pub endpoints: Vec<Endpoint>,
    pub regions: BTreeMap<String, RegionTable>,
    /// Model-serving APIs recognised by their request line.
    pub model_servers: model_servers::ModelServers,
    /// For each endpoint, the AI behind it when it is a SaaS, shared by its events.
    saas: Vec<Option<Arc<SaasAi>>>,
    /// For each endpoint, what its events say of its plans and facts.
    facts: Vec<EventFacts>,
    /// For each endpoint, its documented EEA alternative, when it is not in the EEA itself.
    eea_alternatives: Vec<Option<Arc<EeaAlternative>>>,
    matcher: matcher::Matcher,
}

impl Database {
    /// The files of the built-in database, as (file name, text).
    pub fn embedded_files() -> Vec<(String, String)> {
        embedded::FILES
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect()
    }

    /// The database built into the binary.
    ///
    /// # Errors
    /// Only if the embedded files are invalid, which the test suite rules out.
    pub fn embedded() -> Result<Self, LoadError> {
        Self::from_files(&Self::embedded_files())
    }

    /// Loads every `.toml` file of a directory.
    ///
    /// # Errors
    /// [`DatabaseError`] when the directory cannot be read or its files are invalid.
    pub fn from_dir(dir: &Path) -> Result<Self, DatabaseError> {
        let io = |source| DatabaseError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).map_err(|source| DatabaseError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                files.push((name, text));
            }
        }
        if files.is_empty() {
            return Err(DatabaseError::Empty {
                path: dir.display().to_string(),
            });
        }
        files.sort();
        Ok(Self::from_files(&files)?)
    }

    /// Builds a database from (file name, text) pairs.
    ///
    /// # Errors
    /// [`LoadError`] with every problem found.
    pub fn from_files(files: &[(String, String)]) -> Result<Self, LoadError> {
        let loaded = load::load(files)?;
        let matcher =
            matcher::Matcher::build(&loaded).map_err(|problems| LoadError { problems })?;
        let saas = loaded
            .endpoints
            .iter()
            .map(|e| saas_ai(e, &loaded))
            .collect();
        let eea_alternatives = eea_alternatives(&loaded);
        let facts = loaded
            .endpoints
            .iter()
            .map(|e| EventFacts::of(e, loaded.vendors.get(e.vendor)))
            .collect();
        Ok(Database {
            version_tag: Arc::from(loaded.version.as_str()),
            version: loaded.version,
            date: loaded.date,
            vendors: loaded.vendors,
            endpoints: loaded.endpoints,
            regions: loaded.regions,
            model_servers: loaded.model_servers,
            saas,
            facts,
            eea_alternatives,
            matcher,
        })
    }

    /// Whether `vendor` trains on what its model APIs are sent, by default: `yes`, `no`,
    /// `opt_out`, or `unknown` when its API endpoints disagree or it has none.
    pub fn provider_training(&self, vendor: &str) -> &'static str {
        provider_training(vendor, &self.vendors, &self.endpoints)
    }

    /// Every fact in the database with what it rests on: what checks of their grounds and
    /// age go over.
    pub fn facts<'a>(&'a self) -> Vec<FactRef<'a>> {
        let mut facts = Vec::new();
        for (index, v) in self.vendors.iter().enumerate() {
            let mut push = |subject: &str, field: &'static str, grounds: FactGrounds<'a>| {
                facts.push(FactRef {
                    vendor: v,
                    subject: subject.to_owned(),
                    field,
                    grounds,
                });
            };
            if let Some(f) = &v.headquarters {
                push(&v.id, "headquarters", f.into());
            }
            if let Some(f) = &v.dpa_sccs {
                push(&v.id, "dpa_sccs", f.into());
            }
            for p in &v.plans {
                if let Some(f) = &p.training {
                    push(&p.id, "training", f.into());
                }
                if let Some(f) = &p.retention {
                    push(&p.id, "retention", f.into());
                }
                if let Some(f) = &p.eu_residency {
                    push(&p.id, "eu_residency", f.into());
                }
            }
            for e in self.endpoints.iter().filter(|e| e.vendor == index) {
                if let Some(f) = &e.processing {
                    push(&e.id, "processing", f.into());
                }
                for sp in &e.subprocessors {
                    push(
                        &e.id,
                        "subprocessor",
                        FactGrounds {
                            basis: sp.basis,
                            quote: None,
                            source: &sp.source,
                            read: &sp.read,
                            page_date: None,
                        },
                    );
                }
            }
        }
        facts
    }

    /// Host patterns in the database.
    pub fn pattern_count(&self) -> usize {
        self.endpoints.iter().map(|e| e.hosts.len()).sum()
    }

    /// The AI endpoint of the first of `names` (each with where it came from) that
    /// matches. A match only at vendor level yields to a later name's product match of the
    /// same vendor: a ClientHello for a sub-host under `*.openai.com` to an address DNS
    /// gave as `api.openai.com` is the API. Another vendor's match never overrides it: the
    /// earlier name (the SNI, then the Host) says whose server it is.
    pub fn classify_names<'a>(
        &self,
        names: impl IntoIterator<Item = (Option<&'a str>, MatchSource)>,
    ) -> Option<AiInfo> {
        let mut vendor_level: Option<AiInfo> = None;
        for (name, source) in names {
            let Some(ai) = name.and_then(|n| self.classify_host(n, source)) else {
                continue;
            };
            match &vendor_level {
                None if !ai.vendor_level() => return Some(ai),
                None => vendor_level = Some(ai),
                Some(first) if !ai.vendor_level() && ai.vendor == first.vendor => {
                    return Some(ai);
                }
                Some(_) => {}
            }
        }
        vendor_level
    }

    /// Classifies a host name as it appears on the wire: any case, a trailing dot, a port
    /// (`Host: api.openai.com:443`) or an address literal are all handled.
    pub fn classify_host(&self, host: &str, source: MatchSource) -> Option<AiInfo> {
        let (host, _) =
            crate::protocols::http::parse::split_host(host.trim().trim_end_matches('.'));
        let lower;
        let name = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = host.to_ascii_lowercase();
            lower.as_str()
        } else {
            host
        };
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.classify_ip(ip);
        }
        let hit = self.matcher.match_name(name)?;
        Some(self.info(hit, source, name))
    }

    /// Classifies a server address by the vendors' published ranges.
    pub fn classify_ip(&self, ip: IpAddr) -> Option<AiInfo> {
        let hit = self.matcher.match_ip(ip)?;
        Some(self.info(hit, MatchSource::IpRange, &ip.to_string()))
    }

    /// What events say of a model server recognised by a request's route (`hit`, from
    /// [`model_servers::ModelServers::recognise`]) at `server`: a `self_hosted_ai`
    /// endpoint of the route's family, named by the server's address and port.
    pub fn self_hosted(
        &self,
        hit: model_servers::RouteMatch<'_>,
        server: std::net::SocketAddr,
    ) -> AiInfo {
        AiInfo {
            signatures_version: Arc::clone(&self.version_tag),
            vendor: SELF_HOSTED_VENDOR.to_owned(),
            vendor_name: "Self-hosted model server".to_owned(),
            product: hit.server.name.clone(),
            endpoint: hit.server.id.clone(),
            kind: Kind::SelfHostedAi.as_str(),
            matched: hit.route.text.clone(),
            match_source: MatchSource::HttpRequest.as_str(),
            host: server.to_string(),
            host_evidence: model::HostEvidence::Vendor.as_str(),
            trains_on_inputs: Training::Unknown.as_str(),
            training_by_plan: None,
            region: None,
            region_country: None,
            processing: None,
            vendor_country: None,
            retention: None,
            eu_residency: None,
            inferred: Vec::new(),
            routes_to_other_vendors: false,
            eea_alternative: None,
            saas: None,
        }
    }

    fn info(&self, hit: matcher::Hit<'_>, source: MatchSource, host: &str) -> AiInfo {
        let endpoint = self.endpoints.get(hit.endpoint);
        let vendor = endpoint.and_then(|e| self.vendors.get(e.vendor));
        let region_country = hit.region.as_ref().and_then(|r| {
            let table = endpoint.and_then(|e| e.regions.as_ref())?;
            self.regions.get(table)?.regions.get(r).cloned()
        });
        let facts = self.facts.get(hit.endpoint);
        let eea_alternative = self
            .eea_alternatives
            .get(hit.endpoint)
            .cloned()
            .flatten()
            .filter(|alt| !hit.region.as_ref().is_some_and(|r| alt.regions.contains(r)));
        AiInfo {
            signatures_version: Arc::clone(&self.version_tag),
            vendor: vendor.map(|v| v.id.clone()).unwrap_or_default(),
            vendor_name: vendor.map(|v| v.name.clone()).unwrap_or_default(),
            product: endpoint.map(|e| e.product.clone()).unwrap_or_default(),
            endpoint: endpoint.map(|e| e.id.clone()).unwrap_or_default(),
            kind: endpoint.map_or("", |e| e.kind.as_str()),
            matched: hit.pattern.to_owned(),
            match_source: source.as_str(),
            host: host.to_owned(),
            host_evidence: endpoint.map_or("vendor", |e| e.host_evidence.as_str()),
            trains_on_inputs: facts.map_or("unknown", |f| f.trains_on_inputs),
            training_by_plan: facts.and_then(|f| f.training_by_plan.clone()),
            region: hit.region,
            region_country,
            processing: facts.and_then(|f| f.processing.clone()),
            vendor_country: vendor.and_then(|v| v.country().map(str::to_owned)),
            retention: facts.and_then(|f| f.retention.clone()),
            eu_residency: facts.and_then(|f| f.eu_residency.clone()),
            inferred: facts.map(|f| f.inferred.clone()).unwrap_or_default(),
            routes_to_other_vendors: endpoint.is_some_and(|e| e.routes_to_other_vendors),
            eea_alternative,
            saas: self.saas.get(hit.endpoint).cloned().flatten(),
        }
    }
}

/// One fact of the database, wherever it sits, with what it rests on.
#[derive(Debug, Clone)]
pub struct FactRef<'a> {
    pub vendor: &'a Vendor,
    /// The vendor, plan or endpoint id the fact is about.
    pub subject: String,
    /// `headquarters`, `dpa_sccs`, `training`, `retention`, `eu_residency`, `processing`
    /// or `subprocessor`.
    pub field: &'static str,
    pub grounds: FactGrounds<'a>,
}

/// What any fact rests on, whatever its value's type.
#[derive(Debug, Clone, Copy)]
pub struct FactGrounds<'a> {
    pub basis: Basis,
    pub quote: Option<&'a str>,
    pub source: &'a str,
    pub read: &'a str,
    pub page_date: Option<&'a str>,
}

impl<'a, T> From<&'a Fact<T>> for FactGrounds<'a> {
    fn from(f: &'a Fact<T>) -> Self {
        FactGrounds {
            basis: f.basis,
            quote: f.quote.as_deref(),
            source: &f.source,
            read: &f.read,
            page_date: f.page_date.as_deref(),
        }
    }
}

/// What an endpoint's events say of its plans and facts, worked out once when the
/// database is built: events are judged by them many times.
#[derive(Debug)]
struct EventFacts {
    trains_on_inputs: &'static str,
    /// Each plan's training answer, by plan name, when the endpoint serves more than one.
    training_by_plan: Option<Arc<BTreeMap<String, &'static str>>>,
    processing: Option<String>,
    retention: Option<String>,
    eu_residency: Option<String>,
    inferred: Vec<&'static str>,
}

impl EventFacts {
    fn of(e: &Endpoint, vendor: Option<&Vendor>) -> Self {
        let training_by_plan = (e.plans.len() > 1).then(|| {
            Arc::new(
                e.plans
                    .iter()
                    .map(|p| (p.name.clone(), p.training().as_str()))
                    .collect(),
            )
        });
        Self {
            trains_on_inputs: e.training().as_str(),
            training_by_plan,
            processing: e.processing.as_ref().map(|f| f.value.clone()),
            retention: e.retention(),
            eu_residency: e.eu_residency(),
            inferred: e.inferred_facts(vendor),
        }
    }
}

/// Whether a provider trains on what its model APIs are sent, when all its API and
/// model-hosting endpoints in the database agree: what a SaaS sends it arrives that way.
fn provider_training(vendor: &str, vendors: &[Vendor], endpoints: &[Endpoint]) -> &'static str {
    let Some(index) = vendors.iter().position(|v| v.id == vendor) else {
        return "unknown";
    };
    let mut answers = endpoints
        .iter()
        .filter(|e| e.vendor == index && matches!(e.kind, Kind::Api | Kind::ModelHosting))
        .map(Endpoint::training);
    match answers.next() {
        Some(first) if answers.all(|t| t == first) => first.as_str(),
        _ => "unknown",
    }
}

/// The AI behind a SaaS endpoint, as events show it.
fn saas_ai(e: &Endpoint, db: &load::Loaded) -> Option<Arc<SaasAi>> {
    if e.kind != Kind::Saas {
        return None;
    }
    Some(Arc::new(SaasAi {
        subprocessors: e
            .subprocessors
            .iter()
            .map(|s| SubprocessorInfo {
                vendor: s.vendor.clone(),
                name: s.name.clone(),
                country: s.country.clone(),
                trains_on_inputs: s.vendor.as_deref().map_or("unknown", |v| {
                    provider_training(v, &db.vendors, &db.endpoints)
                }),
            })
            .collect(),
        ai_features: e.ai_features.clone(),
        ai_on_by_default: e
            .ai_on_by_default
            .as_ref()
            .map_or("unknown", |(t, _)| t.as_str()),
        admin_settings: e.admin_settings.as_ref().map(|(text, _)| text.clone()),
    }))
}

/// Each endpoint's EEA alternative: for a `{region}` endpoint its own EEA regions; else
/// another endpoint of the vendor and kind that the vendor documents as processing in the
/// EEA; else the endpoint's documented EU option in the vendor's words. None for an
/// endpoint documented as processing in the EEA and for a SaaS.
fn eea_alternatives(db: &load::Loaded) -> Vec<Option<Arc<EeaAlternative>>> {
    let Ok(jurisdictions) = crate::landing::Jurisdictions::embedded() else {
        return vec![None; db.endpoints.len()];
    };
    let in_eea = |code: &Option<String>| code.as_deref().is_some_and(|c| jurisdictions.is_eea(c));
    db.endpoints
        .iter()
        .map(|e| {
            if e.kind == Kind::Saas || in_eea(&processing(e)) {
                return None;
            }
            region_alternative(e, db, &jurisdictions)
                .or_else(|| sibling_alternative(e, db, &in_eea))
                .or_else(|| {
                    let option = e.plans.iter().find_map(|p| {
                        let fact = p.eu_residency.as_ref()?;
                        let lower = fact.value.to_ascii_lowercase();
                        let none = lower.starts_with("none") || lower.starts_with("no ");
                        (!none).then_some(fact)
                    })?;
                    Some(EeaAlternative {
                        name: option.value.clone(),
                        source: option.source.clone(),
                        regions: Vec::new(),
                    })
                })
                .map(Arc::new)
        })
        .collect()
}

/// Where the vendor documents the endpoint processes data.
fn processing(e: &Endpoint) -> Option<String> {
    Some(e.processing.as_ref()?.value.clone())
}

/// The EEA regions of a `{region}` endpoint's table, with an example host.
fn region_alternative(
    e: &Endpoint,
    db: &load::Loaded,
    jurisdictions: &crate::landing::Jurisdictions,
) -> Option<EeaAlternative> {
    let table = db.regions.get(e.regions.as_deref()?)?;
    let pattern = e.hosts.iter().find(|h| h.contains("{region}"))?;
    let regions: Vec<(&String, &String)> = table
        .regions
        .iter()
        .filter(|(_, country)| jurisdictions.is_eea(country))
        .collect();
    let (first, _) = regions.first()?;
    let listed: Vec<String> = regions.iter().map(|(r, c)| format!("{r} ({c})")).collect();
    Some(EeaAlternative {
        name: format!(
            "{} or another EEA region: {}",
            pattern.replace("{region}", first),
            listed.join(", ")
        ),
        source: table.source.clone(),
        regions: regions.iter().map(|(r, _)| (*r).clone()).collect(),
    })
}

/// Another endpoint of the same vendor and kind that the vendor documents as processing
/// in the EEA.
fn sibling_alternative(
    e: &Endpoint,
    db: &load::Loaded,
    in_eea: &dyn Fn(&Option<String>) -> bool,
) -> Option<EeaAlternative> {
    let sibling = db.endpoints.iter().find(|o| {
        o.vendor == e.vendor && o.kind == e.kind && o.id != e.id && in_eea(&processing(o))
    })?;
    Some(EeaAlternative {
        name: format!("{} ({})", sibling.hosts.join(", "), sibling.product),
        source: sibling.processing.as_ref()?.source.clone(),
        regions: Vec::new(),
    })
}
