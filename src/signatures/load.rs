//! Reading and validating the database files.
//!
//! Every problem is reported with its file, line and entry, and all of them at once, so a
//! contributor fixes a file in one pass: unknown fields, duplicate ids, hosts that are not
//! lower case or end in a dot, wildcards that are not a whole leftmost label, `{region}`
//! patterns without a region table, bad CIDRs, facts without a source, and patterns that
//! overlap across vendors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use super::model::{
    Basis, Endpoint, Fact, HostEvidence, Kind, Plan, RegionTable, Sccs, Subprocessor, Training,
    Vendor,
};

/// The file holding the database version and date.
pub const DATABASE_FILE: &str = "database.toml";
/// The file holding the cloud region tables.
pub const REGIONS_FILE: &str = "regions.toml";

use super::model_servers::{MODEL_SERVERS_FILE, ModelServers};
pub use crate::problem::Problem;
use crate::problem::line_of;

/// Why a database could not be loaded: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::problem::write_problems(f, "signature database", &self.problems)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSpec {
    version: String,
    date: String,
    /// URL prefixes of third-party lists: an endpoint whose `source` is one of them rests
    /// on that list for who runs its hosts.
    #[serde(default)]
    third_party_lists: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionSpec {
    source: Spanned<String>,
    regions: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorFile {
    vendor: VendorSpec,
    #[serde(default)]
    plans: Vec<PlanSpec>,
    #[serde(default)]
    endpoints: Vec<EndpointSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorSpec {
    id: Spanned<String>,
    name: String,
    headquarters: Option<Spanned<FactSpec<String>>>,
    dpa: Option<Spanned<String>>,
    subprocessors: Option<Spanned<String>>,
    data_use: Option<Spanned<String>>,
    dpa_sccs: Option<Spanned<SccsSpec>>,
}

/// A fact as written: its value and what it rests on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactSpec<T> {
    value: Spanned<T>,
    basis: Spanned<Basis>,
    reasoning: Option<String>,
    quote: Option<String>,
    source: Spanned<String>,
    read: Spanned<String>,
    page_date: Option<Spanned<String>>,
}

/// The SCCs fact as written: which modules and data, and what it rests on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SccsSpec {
    #[serde(default)]
    modules: Vec<u8>,
    data: String,
    basis: Spanned<Basis>,
    reasoning: Option<String>,
    quote: Option<String>,
    source: Spanned<String>,
    read: Spanned<String>,
    page_date: Option<Spanned<String>>,
}

/// What a fact rests on, borrowed from its spec.
struct Grounds<'a> {
    basis: &'a Spanned<Basis>,
    reasoning: &'a Option<String>,
    quote: &'a Option<String>,
    source: &'a Spanned<String>,
    read: &'a Spanned<String>,
    page_date: &'a Option<Spanned<String>>,
}

impl<T> FactSpec<T> {
    fn grounds(&self) -> Grounds<'_> {
        Grounds {
            basis: &self.basis,
            reasoning: &self.reasoning,
            quote: &self.quote,
            source: &self.source,
            read: &self.read,
            page_date: &self.page_date,
        }
    }
}

impl SccsSpec {
    fn grounds(&self) -> Grounds<'_> {
        Grounds {
            basis: &self.basis,
            reasoning: &self.reasoning,
            quote: &self.quote,
            source: &self.source,
            read: &self.read,
            page_date: &self.page_date,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanSpec {
    id: Spanned<String>,
    name: String,
    training: Option<Spanned<FactSpec<Training>>>,
    retention: Option<Spanned<FactSpec<String>>>,
    eu_residency: Option<Spanned<FactSpec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointSpec {
    id: Spanned<String>,
    product: String,
    kind: Kind,
    hosts: Vec<Spanned<String>>,
    source: Spanned<String>,
    #[serde(default)]
    plans: Vec<Spanned<String>>,
    processing: Option<Spanned<FactSpec<String>>>,
    #[serde(default)]
    routes_to_other_vendors: bool,
    regions: Option<Spanned<String>>,
    #[serde(default)]
    cidrs: Vec<Spanned<String>>,
    cidr_source: Option<Spanned<String>>,
    #[serde(default)]
    ai_features: Vec<String>,
    ai_features_source: Option<Spanned<String>>,
    ai_on_by_default: Option<Spanned<Training>>,
    ai_on_by_default_source: Option<Spanned<String>>,
    admin_settings: Option<Spanned<String>>,
    admin_settings_source: Option<Spanned<String>>,
    #[serde(default)]
    subprocessors: Vec<SubprocessorSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubprocessorSpec {
    name: Spanned<String>,
    vendor: Option<Spanned<String>>,
    country: Option<Spanned<String>>,
    /// What the SaaS uses it for (a feature, "LLM provider").
    purpose: Option<String>,
    source: Spanned<String>,
    basis: Basis,
    read: Spanned<String>,
}

/// The validated contents of a database directory, before matching is compiled.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub version: String,
    pub date: String,
    pub vendors: Vec<Vendor>,
    pub endpoints: Vec<Endpoint>,
    pub regions: BTreeMap<String, RegionTable>,
    /// For each endpoint host, where it was written: (file, line).
    pub host_lines: Vec<Vec<(String, usize)>>,
    pub model_servers: ModelServers,
}

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Checker<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    fn report(&mut self, span: std::ops::Range<usize>, entry: Option<&str>, message: String) {
        let line = self.line(span);
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            entry: entry.map(str::to_owned),
            message,
        });
    }

    /// A source must be an https URL.
    fn url(&mut self, value: &Spanned<String>, entry: &str, field: &str) -> String {
        let v = value.get_ref();
        if !v.starts_with("https://") || v.len() < 12 || v.contains(char::is_whitespace) {
            self.report(
                value.span(),
                Some(entry),
                format!("{field} must be an https URL, not {v:?}"),
            );
        }
        v.clone()
    }

    /// The SaaS facts of an endpoint: a `saas` endpoint names its AI sub-processors, and
    /// only a `saas` endpoint may; every fact has its source.
    fn saas_facts(&mut self, e: &EndpointSpec, eid: &str) -> SaasFacts {
        let is_saas = e.kind == Kind::Saas;
        if is_saas && e.subprocessors.is_empty() {
            self.report(
                e.id.span(),
                Some(eid),
                "a saas endpoint names its AI sub-processors ([[endpoints.subprocessors]])".into(),
            );
        }
        if !is_saas
            && (!e.subprocessors.is_empty()
                || !e.ai_features.is_empty()
                || e.ai_on_by_default.is_some()
                || e.admin_settings.is_some())
        {
            self.report(
                e.id.span(),
                Some(eid),
                "sub-processors, ai_features, ai_on_by_default and admin_settings belong to kind = \"saas\"".into(),
            );
        }
        let features_source = self.optional_url(&e.ai_features_source, eid, "ai_features_source");
        if e.ai_features.is_empty() == features_source.is_some() {
            self.report(
                e.id.span(),
                Some(eid),
                "ai_features and ai_features_source go together".into(),
            );
        }
        let default_source =
            self.optional_url(&e.ai_on_by_default_source, eid, "ai_on_by_default_source");
        let ai_on_by_default = match (&e.ai_on_by_default, default_source) {
            (Some(d), Some(source)) if *d.get_ref() != Training::OptOut => {
                Some((*d.get_ref(), source))
            }
            (Some(d), _) if *d.get_ref() == Training::OptOut => {
                self.report(
                    d.span(),
                    Some(eid),
                    "ai_on_by_default is yes, no or unknown".into(),
                );
                None
            }
            (Some(d), None) if *d.get_ref() != Training::Unknown => {
                self.report(
                    d.span(),
                    Some(eid),
                    "ai_on_by_default needs ai_on_by_default_source".into(),
                );
                None
            }
            _ => None,
        };
        let settings_source =
            self.optional_url(&e.admin_settings_source, eid, "admin_settings_source");
        let admin_settings = match (&e.admin_settings, settings_source) {
            (Some(text), Some(source)) => Some((text.get_ref().clone(), source)),
            (None, None) => None,
            _ => {
                self.report(
                    e.id.span(),
                    Some(eid),
                    "admin_settings and admin_settings_source go together".into(),
                );
                None
            }
        };
        let mut subprocessors = Vec::new();
        for sp in &e.subprocessors {
            if let Some(v) = &sp.vendor
                && !is_id(v.get_ref())
            {
                self.report(
                    v.span(),
                    Some(eid),
                    format!("sub-processor vendor {:?} is not a vendor id", v.get_ref()),
                );
            }
            if let Some(country) = &sp.country
                && !is_country(country.get_ref())
                && country.get_ref() != "EU"
            {
                self.report(
                    country.span(),
                    Some(eid),
                    format!(
                        "sub-processor country {:?} must be a country code or EU",
                        country.get_ref()
                    ),
                );
            }
            subprocessors.push(Subprocessor {
                vendor: sp.vendor.as_ref().map(|v| v.get_ref().clone()),
                name: sp.name.get_ref().clone(),
                country: sp.country.as_ref().map(|c| c.get_ref().clone()),
                purpose: sp.purpose.clone(),
                source: self.url(&sp.source, eid, "sub-processor source"),
                basis: sp.basis,
                read: self.date(&sp.read, eid, "sub-processor read"),
            });
        }
        SaasFacts {
            ai_on_by_default,
            admin_settings,
            subprocessors,
        }
    }

    /// A fact with what it rests on: an https source, the date it was read, the page's
    /// date if given, and for an inferred fact the reasoning.
    fn fact<T>(&mut self, value: T, g: &Grounds<'_>, entry: &str, field: &str) -> Fact<T> {
        let source = self.url(g.source, entry, &format!("{field}.source"));
        let read = self.date(g.read, entry, &format!("{field}.read"));
        let page_date = g
            .page_date
            .as_ref()
            .map(|d| self.date(d, entry, &format!("{field}.page_date")));
        let basis = *g.basis.get_ref();
        let reasoning = g.reasoning.clone().filter(|r| !r.trim().is_empty());
        match (basis, &reasoning) {
            (Basis::Inferred, None) => self.report(
                g.basis.span(),
                Some(entry),
                format!("{field} is inferred: say why in {field}.reasoning"),
            ),
            (Basis::Stated, Some(_)) => self.report(
                g.basis.span(),
                Some(entry),
                format!("{field} is stated by its source: reasoning belongs to inferred facts"),
            ),
            _ => {}
        }
        if g.quote.as_ref().is_some_and(|q| q.trim().is_empty()) {
            self.report(
                g.source.span(),
                Some(entry),
                format!("{field}.quote is empty: leave it out or give the words"),
            );
        }
        Fact {
            value,
            basis,
            reasoning,
            quote: g.quote.clone(),
            source,
            read,
            page_date,
        }
    }

    /// A `YYYY-MM-DD` date.
    fn date(&mut self, value: &Spanned<String>, entry: &str, field: &str) -> String {
        if checked_date(value.get_ref()).is_none() {
            self.report(
                value.span(),
                Some(entry),
                format!("{field} {:?} is not a date (YYYY-MM-DD)", value.get_ref()),
            );
        }
        value.get_ref().clone()
    }

    /// A fact whose value is a country code (or `EU` where `eu` allows it).
    fn place_fact(
        &mut self,
        spec: &Spanned<FactSpec<String>>,
        entry: &str,
        field: &str,
        eu: bool,
    ) -> Fact<String> {
        let spec = spec.get_ref();
        let value = spec.value.get_ref();
        let allowed = is_country(value) || (eu && value == "EU");
        if !allowed {
            let expected = if eu {
                "a country code or EU"
            } else {
                "an ISO 3166-1 alpha-2 code"
            };
            self.report(
                spec.value.span(),
                Some(entry),
                format!("{field} {value:?} must be {expected}"),
            );
        }
        self.fact(value.clone(), &spec.grounds(), entry, field)
    }

    /// A fact whose value is the vendor's words, short.
    fn text_fact(
        &mut self,
        spec: &Spanned<FactSpec<String>>,
        entry: &str,
        field: &str,
    ) -> Fact<String> {
        let spec = spec.get_ref();
        if spec.value.get_ref().trim().is_empty() {
            self.report(spec.value.span(), Some(entry), format!("{field} is empty"));
        }
        self.fact(spec.value.get_ref().clone(), &spec.grounds(), entry, field)
    }

    /// A vendor's plans, each id once.
    fn plans(&mut self, specs: &[PlanSpec], vid: &str) -> Vec<Plan> {
        let mut plans: Vec<Plan> = Vec::new();
        for p in specs {
            let pid = p.id.get_ref().clone();
            let entry = format!("{vid}/{pid}");
            if !is_id(&pid) {
                self.report(
                    p.id.span(),
                    Some(vid),
                    format!("plan id {pid:?} must be lower-case letters, digits and dashes"),
                );
            }
            if plans.iter().any(|known| known.id == pid) {
                self.report(p.id.span(), Some(vid), format!("duplicate plan id {pid:?}"));
            }
            let training = p.training.as_ref().map(|t| {
                let spec = t.get_ref();
                if *spec.value.get_ref() == Training::Unknown {
                    self.report(
                        spec.value.span(),
                        Some(&entry),
                        "training unknown is no fact: leave [plans.training] out".into(),
                    );
                }
                self.fact(*spec.value.get_ref(), &spec.grounds(), &entry, "training")
            });
            let retention = p
                .retention
                .as_ref()
                .map(|f| self.text_fact(f, &entry, "retention"));
            let eu_residency = p
                .eu_residency
                .as_ref()
                .map(|f| self.text_fact(f, &entry, "eu_residency"));
            if training.is_none() && retention.is_none() && eu_residency.is_none() {
                self.report(
                    p.id.span(),
                    Some(&entry),
                    "a plan states training, retention or eu_residency".into(),
                );
            }
            plans.push(Plan {
                id: pid,
                name: p.name.clone(),
                training,
                retention,
                eu_residency,
            });
        }
        plans
    }

    /// A vendor's own facts and plans, checked.
    fn vendor(&mut self, vendor: &VendorSpec, plans: &[PlanSpec], vid: &str) -> Vendor {
        let headquarters = vendor
            .headquarters
            .as_ref()
            .map(|f| self.place_fact(f, vid, "headquarters", false));
        let dpa_sccs = vendor.dpa_sccs.as_ref().map(|f| {
            let spec = f.get_ref();
            if let Some(m) = spec.modules.iter().find(|m| !(1..=4).contains(*m)) {
                self.report(
                    f.span(),
                    Some(vid),
                    format!("dpa_sccs.modules: there is no SCC module {m} (1 to 4)"),
                );
            }
            let value = Sccs {
                modules: spec.modules.clone(),
                data: spec.data.clone(),
            };
            self.fact(value, &spec.grounds(), vid, "dpa_sccs")
        });
        let plans = self.plans(plans, vid);
        Vendor {
            id: vid.to_owned(),
            name: vendor.name.clone(),
            headquarters,
            dpa: self.optional_url(&vendor.dpa, vid, "dpa"),
            subprocessors: self.optional_url(&vendor.subprocessors, vid, "subprocessors"),
            data_use: self.optional_url(&vendor.data_use, vid, "data_use"),
            dpa_sccs,
            plans,
            file: self.file.to_owned(),
        }
    }

    /// One endpoint, checked against its vendor's plans and the region tables; with the
    /// file and line of each of its hosts.
    fn endpoint(
        &mut self,
        e: EndpointSpec,
        eid: &str,
        vendor_index: usize,
        vendor_plans: &[Plan],
        regions: &BTreeMap<String, RegionTable>,
    ) -> (Endpoint, Vec<(String, usize)>) {
        let mut lines = Vec::new();
        let mut has_placeholder = false;
        for host in &e.hosts {
            if let Some(message) = check_host(host.get_ref()) {
                self.report(host.span(), Some(eid), message);
            }
            has_placeholder |= host.get_ref().contains("{region}");
            lines.push((self.file.to_owned(), self.line(host.span())));
        }
        if e.hosts.is_empty() && e.cidrs.is_empty() {
            self.report(
                e.id.span(),
                Some(eid),
                "an endpoint needs hosts or cidrs".into(),
            );
        }
        match (&e.regions, has_placeholder) {
            (Some(r), true) if !regions.contains_key(r.get_ref()) => {
                self.report(
                    r.span(),
                    Some(eid),
                    format!("region table {:?} is not in {REGIONS_FILE}", r.get_ref()),
                );
            }
            (Some(r), false) => {
                self.report(
                    r.span(),
                    Some(eid),
                    "regions is set but no host has a {region} placeholder".into(),
                );
            }
            (None, true) => {
                self.report(
                    e.id.span(),
                    Some(eid),
                    "a {region} host needs `regions = \"<table>\"`".into(),
                );
            }
            _ => {}
        }
        let mut plans = Vec::new();
        for pid in &e.plans {
            match vendor_plans.iter().find(|p| &p.id == pid.get_ref()) {
                Some(plan) if plans.contains(plan) => self.report(
                    pid.span(),
                    Some(eid),
                    format!("plan {:?} is listed twice", pid.get_ref()),
                ),
                Some(plan) => plans.push(plan.clone()),
                None => self.report(
                    pid.span(),
                    Some(eid),
                    format!("plan {:?} is not in this file's [[plans]]", pid.get_ref()),
                ),
            }
        }
        let processing = e
            .processing
            .as_ref()
            .map(|f| self.place_fact(f, eid, "processing", true));
        let mut cidrs = Vec::new();
        for cidr in &e.cidrs {
            match cidr.get_ref().parse::<ipnet::IpNet>() {
                Ok(net) if net.trunc() == net => cidrs.push(net),
                Ok(_) => self.report(
                    cidr.span(),
                    Some(eid),
                    format!("CIDR {:?} has host bits set", cidr.get_ref()),
                ),
                Err(_) => self.report(
                    cidr.span(),
                    Some(eid),
                    format!("{:?} is not a CIDR", cidr.get_ref()),
                ),
            }
        }
        let cidr_source = self.optional_url(&e.cidr_source, eid, "cidr_source");
        if !e.cidrs.is_empty() && cidr_source.is_none() {
            self.report(e.id.span(), Some(eid), "cidrs need cidr_source".into());
        }
        if e.kind == Kind::SelfHostedAi {
            self.report(
                e.id.span(),
                Some(eid),
                format!("kind self_hosted_ai is recognised by request line, in {MODEL_SERVERS_FILE}, not by host"),
            );
        }
        let saas = self.saas_facts(&e, eid);
        let endpoint = Endpoint {
            id: eid.to_owned(),
            vendor: vendor_index,
            product: e.product,
            kind: e.kind,
            hosts: e.hosts.iter().map(|h| h.get_ref().clone()).collect(),
            source: self.url(&e.source, eid, "source"),
            plans,
            processing,
            routes_to_other_vendors: e.routes_to_other_vendors,
            host_evidence: HostEvidence::Vendor,
            regions: e.regions.map(Spanned::into_inner),
            cidrs,
            cidr_source,
            ai_features: e.ai_features,
            ai_on_by_default: saas.ai_on_by_default,
            admin_settings: saas.admin_settings,
            subprocessors: saas.subprocessors,
        };
        (endpoint, lines)
    }

    fn optional_url(
        &mut self,
        value: &Option<Spanned<String>>,
        entry: &str,
        field: &str,
    ) -> Option<String> {
        value.as_ref().map(|v| self.url(v, entry, field))
    }
}

/// The checked SaaS facts of an endpoint.
struct SaasFacts {
    ai_on_by_default: Option<(Training, String)>,
    admin_settings: Option<(String, String)>,
    subprocessors: Vec<Subprocessor>,
}

fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// Checks one host pattern; returns a message when it is not valid.
pub fn check_host(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("host is empty".into());
    }
    if host.ends_with('.') {
        return Some(format!("host {host:?} ends with a dot"));
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(format!("host {host:?} must be lower case"));
    }
    let placeholders = host.matches("{region}").count();
    if placeholders > 1 {
        return Some(format!("host {host:?} has more than one {{region}}"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Some(format!("host {host:?} is a single label"));
    }
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i != 0 {
                return Some(format!(
                    "host {host:?}: a wildcard must be the whole leftmost label"
                ));
            }
            if placeholders > 0 {
                return Some(format!("host {host:?} mixes a wildcard and {{region}}"));
            }
            continue;
        }
        let plain = label.replace("{region}", "r");
        if label.contains('*') {
            return Some(format!(
                "host {host:?}: a wildcard must be the whole leftmost label"
            ));
        }
        if plain.is_empty()
            || plain.len() > 63
            || plain.starts_with('-')
            || plain.ends_with('-')
            || !plain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Some(format!(
                "host {host:?}: label {label:?} is not a valid DNS label"
            ));
        }
    }
    None
}

/// Validates a database given as (file name, text) pairs.
///
/// # Errors
/// [`LoadError`] listing every problem found.
pub fn load(files: &[(String, String)]) -> Result<Loaded, LoadError> {
    let mut problems = Vec::new();
    let mut version = None;
    let mut third_party_lists = Vec::new();
    let mut regions = BTreeMap::new();
    let mut vendor_files = Vec::new();
    let mut model_servers = ModelServers::default();
    for (name, text) in files {
        let problem = |e: toml::de::Error| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            Problem {
                file: name.clone(),
                line,
                entry: None,
                message: e.message().trim().to_owned(),
            }
        };
        if name == DATABASE_FILE {
            match toml::from_str::<DatabaseSpec>(text) {
                Ok(db) => {
                    version = Some((db.version, db.date));
                    third_party_lists = db.third_party_lists;
                }
                Err(e) => problems.push(problem(e)),
            }
        } else if name == MODEL_SERVERS_FILE {
            model_servers = ModelServers::load(name, text, &mut problems);
        } else if name == REGIONS_FILE {
            match toml::from_str::<BTreeMap<String, RegionSpec>>(text) {
                Ok(tables) => {
                    let mut c = Checker {
                        file: name,
                        text,
                        problems: &mut problems,
                    };
                    for (id, spec) in tables {
                        let source = c.url(&spec.source, &id, "source");
                        let mut table = BTreeMap::new();
                        for (region, country) in spec.regions {
                            if !is_country(country.get_ref()) {
                                c.report(
                                    country.span(),
                                    Some(&id),
                                    format!(
                                        "region {region}: {:?} is not an ISO 3166-1 alpha-2 code",
                                        country.get_ref()
                                    ),
                                );
                            }
                            table.insert(region, country.into_inner());
                        }
                        regions.insert(
                            id.clone(),
                            RegionTable {
                                id,
                                source,
                                regions: table,
                            },
                        );
                    }
                }
                Err(e) => problems.push(problem(e)),
            }
        } else {
            match toml::from_str::<VendorFile>(text) {
                Ok(v) => vendor_files.push((name.as_str(), text.as_str(), v)),
                Err(e) => problems.push(problem(e)),
            }
        }
    }
    if version.is_none() {
        problems.push(Problem {
            file: DATABASE_FILE.into(),
            line: 1,
            entry: None,
            message: "missing: the database needs a version and a date".into(),
        });
    }
    let mut vendors = Vec::new();
    let mut endpoints = Vec::new();
    let mut host_lines = Vec::new();
    let mut vendor_ids: HashMap<String, String> = HashMap::new();
    let mut endpoint_ids: HashMap<String, String> = HashMap::new();
    for (file, text, spec) in vendor_files {
        let mut c = Checker {
            file,
            text,
            problems: &mut problems,
        };
        let vid = spec.vendor.id.get_ref().clone();
        if !is_id(&vid) {
            c.report(
                spec.vendor.id.span(),
                None,
                format!("vendor id {vid:?} must be lower-case letters, digits and dashes"),
            );
        }
        if let Some(other) = vendor_ids.insert(vid.clone(), file.to_owned()) {
            c.report(
                spec.vendor.id.span(),
                Some(&vid),
                format!("duplicate vendor id, also in {other}"),
            );
        }
        let vendor = c.vendor(&spec.vendor, &spec.plans, &vid);
        let vendor_plans = vendor.plans.clone();
        let vendor_index = vendors.len();
        vendors.push(vendor);
        if spec.endpoints.is_empty() {
            c.report(
                spec.vendor.id.span(),
                Some(&vid),
                "a vendor needs at least one endpoint".into(),
            );
        }
        for e in spec.endpoints {
            let eid = e.id.get_ref().clone();
            if !is_id(&eid) {
                c.report(
                    e.id.span(),
                    None,
                    format!("endpoint id {eid:?} must be lower-case letters, digits and dashes"),
                );
            }
            if let Some(other) = endpoint_ids.insert(eid.clone(), file.to_owned()) {
                c.report(
                    e.id.span(),
                    Some(&eid),
                    format!("duplicate endpoint id, also in {other}"),
                );
            }
            let (endpoint, lines) = c.endpoint(e, &eid, vendor_index, &vendor_plans, &regions);
            endpoints.push(endpoint);
            host_lines.push(lines);
        }
        for (plan, spec) in vendor_plans.iter().zip(&spec.plans) {
            let used = endpoints
                .iter()
                .any(|e: &Endpoint| e.vendor == vendor_index && e.plans.contains(plan));
            if !used {
                c.report(
                    spec.id.span(),
                    Some(&vid),
                    format!("plan {:?} is served by no endpoint", plan.id),
                );
            }
        }
    }
    for (e, lines) in endpoints.iter().zip(&host_lines) {
        for sp in &e.subprocessors {
            if let Some(v) = &sp.vendor
                && !vendors.iter().any(|known| &known.id == v)
            {
                let (file, line) = lines.first().cloned().unwrap_or_default();
                problems.push(Problem {
                    file,
                    line,
                    entry: Some(e.id.clone()),
                    message: format!("sub-processor vendor {v:?} is not in the database"),
                });
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        return Err(LoadError { problems });
    }
    // database.toml may come after the vendor files that cite its lists.
    for e in &mut endpoints {
        if third_party_lists
            .iter()
            .any(|list| e.source.starts_with(list))
        {
            e.host_evidence = HostEvidence::ThirdPartyList;
        }
    }
    let (version, date) = version.unwrap_or_default();
    Ok(Loaded {
        version,
        date,
        vendors,
        endpoints,
        regions,
        host_lines,
        model_servers,
    })
}

/// The time at the start of a `YYYY-MM-DD` date, UTC.
pub fn checked_date(date: &str) -> Option<std::time::SystemTime> {
    if date.len() != 10 {
        return None;
    }
    humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).ok()
}
