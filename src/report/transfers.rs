//! The transfer register: every AI flow group whose data lands outside the EEA, or whose
//! landing is unknown, with the mechanism that makes the transfer lawful — the input of
//! each Transfer Impact Assessment — and the vendor's documented EEA alternative.
//!
//! The mechanism is read from what aigress knows, never guessed: an adequacy decision
//! for the destination country (`geoip/jurisdictions.toml`), the policy's list of vendors
//! certified under the EU-US Data Privacy Framework, or a DPA that the signature database
//! says incorporates the Standard Contractual Clauses. Anything else is `none_known`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::escape::csv_rows;
use crate::inventory::store::FlowRow;
use crate::landing::{Confidence, Jurisdictions};
use crate::signatures::{Database, MatchSource};
use crate::time::Timestamp;

/// What makes a transfer out of the EEA lawful, as far as aigress knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// The destination country has an EU adequacy decision.
    Adequacy,
    /// A US vendor the policy lists as certified under the Data Privacy Framework.
    Dpf,
    /// The vendor's DPA, per the signature database, incorporates the SCCs.
    SccInDpa,
    /// None of the above is known: the transfer needs a mechanism, or a source for one.
    NoneKnown,
    /// Where the data lands could not be judged.
    UnknownLanding,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adequacy => "adequacy",
            Self::Dpf => "dpf",
            Self::SccInDpa => "scc_in_dpa",
            Self::NoneKnown => "none_known",
            Self::UnknownLanding => "unknown_landing",
        }
    }
}

/// The country code the Data Privacy Framework applies to.
const DPF_COUNTRY: &str = "US";

/// One row of the register: a (vendor, product, endpoint, destination country).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub vendor: String,
    pub product: String,
    pub endpoint: String,
    /// ISO code, or `unknown`.
    pub destination_country: String,
    /// The strongest confidence any of the row's flow groups was judged with; `unknown`
    /// for groups recorded before confidence was kept.
    pub confidence: String,
    pub mechanism: Mechanism,
    /// Where the mechanism is stated: the adequacy decisions' page, the policy file's
    /// `landing.dpf_certified`, or the vendor's DPA; empty for `none_known` and
    /// `unknown_landing`.
    pub mechanism_source: String,
    /// What the mechanism's source says, for `scc_in_dpa`: the SCC modules, which data the
    /// DPA's clauses cover, whether that is stated or inferred and when it was read.
    pub mechanism_detail: String,
    pub internal_hosts: Vec<String>,
    /// The internal hosts' network labels from the policy.
    pub networks: Vec<String>,
    pub flows: u64,
    pub bytes_sent: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The same vendor's documented EEA endpoint or region for the product, with its
    /// source; empty when the database has none.
    pub eea_alternative: String,
    /// The flows went to a SaaS whose AI runs at sub-processors (JSON only: the CSV keeps
    /// its documented columns).
    pub indirect: bool,
}

/// The CSV row: the register's columns in their documented order.
#[derive(Serialize)]
struct CsvRow<'a> {
    vendor: &'a str,
    product: &'a str,
    endpoint: &'a str,
    destination_country: &'a str,
    confidence: &'a str,
    mechanism: &'static str,
    mechanism_source: &'a str,
    internal_hosts: String,
    networks: String,
    flows: u64,
    bytes_sent: u64,
    first_seen: String,
    last_seen: String,
    eea_alternative: &'a str,
    mechanism_detail: &'a str,
}

impl Transfer {
    fn csv_row(&self) -> CsvRow<'_> {
        CsvRow {
            vendor: &self.vendor,
            product: &self.product,
            endpoint: &self.endpoint,
            destination_country: &self.destination_country,
            confidence: &self.confidence,
            mechanism: self.mechanism.as_str(),
            mechanism_source: &self.mechanism_source,
            internal_hosts: self.internal_hosts.join(" "),
            networks: self.networks.join(" "),
            flows: self.flows,
            bytes_sent: self.bytes_sent,
            first_seen: self.first_seen.to_string(),
            last_seen: self.last_seen.to_string(),
            eea_alternative: &self.eea_alternative,
            mechanism_detail: &self.mechanism_detail,
        }
    }
}

/// What the register is judged against besides the stored rows.
pub struct Judges<'a> {
    pub db: &'a Database,
    /// With the policy's adequacy list and DPF-certified vendors applied.
    pub jurisdictions: &'a Jurisdictions,
    /// The policy file that lists the DPF-certified vendors, when one was given.
    pub policy_file: Option<&'a str>,
}

/// (vendor, product, endpoint, landing country): one register row.
type Key<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The internal hosts and their networks behind one register row.
#[derive(Default)]
struct Involved<'a> {
    hosts: BTreeSet<&'a str>,
    networks: BTreeSet<&'a str>,
}

/// The register of the rows whose data lands outside the EEA or nowhere known, most
/// bytes first.
pub fn register(rows: &[FlowRow], judges: &Judges<'_>) -> Vec<Transfer> {
    let mut by_key: BTreeMap<Key<'_>, Transfer> = BTreeMap::new();
    let mut involved: BTreeMap<Key<'_>, Involved<'_>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.eea) {
        let key = (
            r.vendor.as_str(),
            r.product.as_str(),
            r.endpoint.as_str(),
            r.landing_country.as_str(),
        );
        let t = by_key.entry(key).or_insert_with(|| {
            let (mechanism, mechanism_source) = mechanism(r, judges);
            Transfer {
                vendor: r.vendor.clone(),
                product: r.product.clone(),
                endpoint: r.endpoint.clone(),
                destination_country: if r.landing_country.is_empty() {
                    "unknown".into()
                } else {
                    r.landing_country.clone()
                },
                confidence: String::new(),
                mechanism,
                mechanism_source,
                mechanism_detail: if mechanism == Mechanism::SccInDpa {
                    sccs_detail(&r.vendor, judges.db)
                } else {
                    String::new()
                },
                internal_hosts: Vec::new(),
                networks: Vec::new(),
                flows: 0,
                bytes_sent: 0,
                first_seen: Timestamp::from_micros(r.first_seen),
                last_seen: Timestamp::from_micros(r.last_seen),
                eea_alternative: eea_alternative(&r.endpoint, judges.db),
                indirect: r.indirect(),
            }
        });
        if Confidence::from_name(&r.landing_confidence) >= Confidence::from_name(&t.confidence) {
            t.confidence.clone_from(&r.landing_confidence);
        }
        t.flows = t.flows.saturating_add(r.flows);
        t.bytes_sent = t.bytes_sent.saturating_add(r.bytes_sent);
        t.first_seen = t.first_seen.min(Timestamp::from_micros(r.first_seen));
        t.last_seen = t.last_seen.max(Timestamp::from_micros(r.last_seen));
        let who = involved.entry(key).or_default();
        who.hosts.insert(&r.internal_host);
        who.networks
            .extend(r.host_label.split(',').filter(|l| !l.is_empty()));
    }
    let mut out: Vec<Transfer> = by_key
        .into_iter()
        .map(|(key, mut t)| {
            if let Some(who) = involved.remove(&key) {
                t.internal_hosts = who.hosts.into_iter().map(str::to_owned).collect();
                t.networks = who.networks.into_iter().map(str::to_owned).collect();
            }
            if t.confidence.is_empty() {
                "unknown".clone_into(&mut t.confidence);
            }
            t
        })
        .collect();
    out.sort_by(|a, b| {
        b.bytes_sent
            .cmp(&a.bytes_sent)
            .then_with(|| a.vendor.cmp(&b.vendor))
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    out
}

/// The mechanism for one row and where it is stated.
fn mechanism(r: &FlowRow, judges: &Judges<'_>) -> (Mechanism, String) {
    let country = r.landing_country.as_str();
    if country.is_empty() {
        return (Mechanism::UnknownLanding, String::new());
    }
    let j = judges.jurisdictions;
    if country == DPF_COUNTRY && j.is_adequate(country, &r.vendor) {
        let file = judges.policy_file.unwrap_or("the policy");
        return (Mechanism::Dpf, format!("{file}: landing.dpf_certified"));
    }
    if country != DPF_COUNTRY && j.has_adequacy_decision(country) {
        return (Mechanism::Adequacy, j.adequacy_source.clone());
    }
    let sccs = judges
        .db
        .vendors
        .iter()
        .find(|v| v.id == r.vendor)
        .and_then(|v| v.dpa_sccs.as_ref());
    match sccs {
        Some(fact) => (Mechanism::SccInDpa, fact.source.clone()),
        None => (Mechanism::NoneKnown, String::new()),
    }
}

/// What the vendor's DPA says about the SCCs, for a `scc_in_dpa` row.
fn sccs_detail(vendor: &str, db: &Database) -> String {
    let Some(fact) = db
        .vendors
        .iter()
        .find(|v| v.id == vendor)
        .and_then(|v| v.dpa_sccs.as_ref())
    else {
        return String::new();
    };
    let modules = match fact.value.modules.as_slice() {
        [] => String::new(),
        [one] => format!("Module {one}; "),
        many => format!(
            "Modules {}; ",
            many.iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let reasoning = fact
        .reasoning
        .as_ref()
        .map_or_else(String::new, |why| format!(": {why}"));
    format!(
        "{modules}{} ({}{reasoning}; read {})",
        fact.value.data,
        fact.basis.as_str(),
        fact.read
    )
}

/// The endpoint's documented EEA alternative, `name (source)`, or empty.
fn eea_alternative(endpoint: &str, db: &Database) -> String {
    db.classify_host(endpoint, MatchSource::Query)
        .and_then(|ai| ai.eea_alternative)
        .map(|alt| format!("{} ({})", alt.name, alt.source))
        .unwrap_or_default()
}

/// Writes the register as CSV, its columns in the documented order, each cell safe to
/// open in a spreadsheet.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_csv(register: &[Transfer], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    csv_rows(register.iter().map(Transfer::csv_row), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vendor: &str, product: &str, endpoint: &str, country: &str, host: &str) -> FlowRow {
        FlowRow {
            sensor: "s".into(),
            internal_host: host.into(),
            host_label: "office".into(),
            vendor: vendor.into(),
            product: product.into(),
            kind: "api".into(),
            endpoint: endpoint.into(),
            landing_country: country.into(),
            eea: Jurisdictions::embedded().unwrap().is_eea(country),
            verdict: "review".into(),
            first_seen: 1_000,
            last_seen: 2_000,
            flows: 1,
            bytes_sent: 100,
            landing_confidence: "medium".into(),
            ..FlowRow::default()
        }
    }

    #[test]
    fn mechanisms_follow_adequacy_dpf_and_the_dpa_in_that_order() {
        let db = Database::embedded().unwrap();
        let mut j = Jurisdictions::embedded().unwrap();
        j.set_dpf_certified(["anthropic".to_owned()]);
        let judges = Judges {
            db: &db,
            jurisdictions: &j,
            policy_file: Some("policy.toml"),
        };
        let rows = [
            row(
                "deepseek",
                "DeepSeek Chat",
                "chat.deepseek.com",
                "CN",
                "10.0.0.1",
            ),
            row(
                "anthropic",
                "Claude API",
                "api.anthropic.com",
                "US",
                "10.0.0.1",
            ),
            row(
                "anthropic",
                "Claude API",
                "api.anthropic.com",
                "US",
                "10.0.0.2",
            ),
            row("openai", "OpenAI API", "api.openai.com", "US", "10.0.0.1"),
            row("groq", "GroqCloud", "api.groq.com", "", "10.0.0.1"),
            row("openai", "OpenAI API", "api.openai.com", "CH", "10.0.0.1"),
            row("mistral", "Mistral API", "api.mistral.ai", "FR", "10.0.0.1"),
        ];
        let reg = register(&rows, &judges);
        let find = |endpoint: &str, country: &str| {
            reg.iter()
                .find(|t| t.endpoint == endpoint && t.destination_country == country)
                .unwrap_or_else(|| panic!("{endpoint} {country}: {reg:?}"))
        };
        assert_eq!(
            find("chat.deepseek.com", "CN").mechanism,
            Mechanism::NoneKnown
        );
        let claude = find("api.anthropic.com", "US");
        assert_eq!(claude.mechanism, Mechanism::Dpf);
        assert_eq!(
            claude.mechanism_source,
            "policy.toml: landing.dpf_certified"
        );
        assert_eq!(claude.internal_hosts, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!((claude.flows, claude.bytes_sent), (2, 200));
        let openai = find("api.openai.com", "US");
        assert_eq!(openai.mechanism, Mechanism::SccInDpa);
        assert!(openai.eea_alternative.contains("eu.api.openai.com"));
        assert_eq!(find("api.openai.com", "CH").mechanism, Mechanism::Adequacy);
        assert_eq!(
            find("api.groq.com", "unknown").mechanism,
            Mechanism::UnknownLanding
        );
        assert!(reg.iter().all(|t| t.destination_country != "FR"));
    }
}
