//! The inventory report: what the stored flow groups add up to per vendor, internal host
//! and SaaS, with the facts the signature database holds on each vendor and the contract
//! questions it leaves open. Every number is a sum over stored rows.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::changes::Changes;
use super::transfers::{self, Judges, Transfer};
use crate::inventory::store::{
    AlertRow, DailyRow, Filter, FingerprintRow, FlowRow, Store, StoreError,
};
use crate::signatures::{Database, Endpoint};
use crate::time::Timestamp;

/// One inventory row with its reason, as CSV and JSON carry it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub internal_host: String,
    pub vendor: String,
    pub product: String,
    pub kind: String,
    pub endpoint: String,
    /// ISO code; `unknown` when the landing could not be judged.
    pub landing_country: String,
    pub eea: bool,
    pub verdict: String,
    pub flows: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub host_label: String,
    pub sensor: String,
    pub packets: u64,
    /// Why the verdict: the latest alert reason for the host, vendor and product.
    pub reason: String,
    /// The flows went to a SaaS whose AI runs at sub-processors (kind `saas`), not to an
    /// AI service directly. Last, so the columns before it keep their places.
    pub indirect: bool,
}

/// The headline numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub vendors: usize,
    pub internal_hosts: usize,
    pub flows: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent_outside_eea: u64,
    /// Share of uploaded bytes landing outside the EEA (unknown landings included).
    pub share_sent_outside_eea: f64,
    pub unapproved_flows: u64,
    pub alerts: u64,
}

/// One vendor, with what the signature database says about it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VendorSummary {
    pub vendor: String,
    pub name: String,
    pub products: Vec<String>,
    pub internal_hosts: usize,
    pub flows: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub landing_countries: Vec<String>,
    pub verdict: String,
    /// Product → trains on inputs by default (`yes`, `no`, `opt_out`, `unknown`).
    pub trains_on_inputs: BTreeMap<String, String>,
    /// Product → how long the vendor keeps what it is sent, where the database says.
    pub retention: BTreeMap<String, String>,
    pub headquarters: Option<String>,
    /// Product → the facts above that the database infers rather than a source stating
    /// them (`trains_on_inputs`, `retention`, `vendor_country`, …) → the reasoning.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub inferred: BTreeMap<String, BTreeMap<&'static str, String>>,
    pub dpa: Option<String>,
    pub subprocessors: Option<String>,
    pub data_use: Option<String>,
    /// The contract questions the database cannot answer for this vendor, which remain
    /// for the auditor to ask: of training, sub-processors, data location, retention and
    /// DPA.
    pub open_questions: Vec<&'static str>,
}

impl VendorSummary {
    /// Whether the database infers, rather than a source states, `field` of `product`.
    pub(super) fn is_inferred(&self, product: &str, field: &str) -> bool {
        self.inferred
            .get(product)
            .is_some_and(|facts| facts.contains_key(field))
    }

    /// Fills [`Self::open_questions`] from what the summary holds.
    pub(super) fn settle_open_questions(&mut self) {
        let open = [
            (
                "training",
                self.trains_on_inputs.values().any(|t| t == "unknown"),
            ),
            ("sub-processors", self.subprocessors.is_none()),
            (
                "data location",
                self.landing_countries.iter().any(|c| c == "unknown"),
            ),
            (
                "retention",
                self.products
                    .iter()
                    .any(|p| !self.retention.contains_key(p)),
            ),
            ("DPA", self.dpa.is_none()),
        ];
        self.open_questions = open
            .into_iter()
            .filter_map(|(question, unanswered)| unanswered.then_some(question))
            .collect();
    }
}

/// One internal host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostSummary {
    pub internal_host: String,
    pub host_label: String,
    pub vendors: Vec<String>,
    pub flows: u64,
    pub bytes_sent: u64,
    pub verdict: String,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated: Timestamp,
    /// The signature database whose facts the report shows: its version and date.
    pub signatures_version: String,
    pub signatures_date: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub sensors: Vec<String>,
    pub summary: Summary,
    pub vendors: Vec<VendorSummary>,
    pub hosts: Vec<HostSummary>,
    pub rows: Vec<Row>,
    pub daily: Vec<DailyRow>,
    pub fingerprints: Vec<FingerprintRow>,
    pub alerts: Vec<AlertRow>,
    /// AI reached through SaaS, kept apart from the direct AI flows the summary, vendors and
    /// hosts count.
    pub saas: Vec<SaasSummary>,
    /// The transfer register: flows landing outside the EEA or nowhere known, with the
    /// mechanism that covers each (direct and through SaaS).
    pub transfers: Vec<Transfer>,
    /// What changed since a baseline, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// Destinations the database does not know, largest upload first.
    pub unknown: Vec<super::unknown::UnknownDestination>,
}

/// One SaaS whose AI features send data on to AI sub-processors.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SaasSummary {
    pub vendor: String,
    pub name: String,
    pub products: Vec<String>,
    pub internal_hosts: Vec<String>,
    pub flows: u64,
    pub bytes_sent: u64,
    pub verdict: String,
    pub ai_features: Vec<String>,
    /// Every AI provider the SaaS's AI features may use, with its country when stated.
    pub subprocessors: Vec<String>,
    /// Whether the SaaS trains models on customer data by default.
    pub trains_on_customer_data: String,
    /// `yes`, `no` or `unknown`.
    pub ai_on_by_default: String,
    pub admin_settings: Option<String>,
    pub subprocessor_list: Option<String>,
    pub dpa: Option<String>,
    /// What to ask the SaaS vendor.
    pub questions: Vec<String>,
}

/// (internal host, vendor, product, landing country): alerts are raised per landing, so
/// the same product landing in two places gets each its own reasons.
type RowKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn verdict_rank(v: &str) -> u8 {
    match v {
        "unapproved" => 4,
        "violation" => 3,
        "review" => 2,
        "approved" => 1,
        _ => 0,
    }
}

/// Rules in the order their reasons are told: what decides the verdict first.
fn rule_rank(rule: &str) -> u8 {
    match rule {
        "unapproved_ai_vendor" => 0,
        "non_eea_landing" => 1,
        "training_endpoint" => 2,
        "unknown_landing" => 3,
        _ => 4,
    }
}

fn worst<'a>(verdicts: impl Iterator<Item = &'a str>) -> String {
    verdicts
        .max_by_key(|v| verdict_rank(v))
        .unwrap_or("none")
        .to_owned()
}

impl Report {
    /// Builds a report of the rows `filter` selects.
    ///
    /// # Errors
    /// The store's errors.
    pub fn build(store: &Store, filter: &Filter, judges: &Judges<'_>) -> Result<Self, StoreError> {
        let flows = store.flows(filter)?;
        let alerts = store.alerts(filter)?;
        let mut report = Self::from_parts(
            flows,
            alerts,
            store.daily(filter)?,
            store.fingerprints(filter)?,
            filter,
            judges,
        );
        report.unknown = super::unknown::UnknownReport::build(store, filter)?.destinations;
        Ok(report)
    }

    pub(super) fn from_parts(
        flows: Vec<FlowRow>,
        alerts: Vec<AlertRow>,
        daily: Vec<DailyRow>,
        fingerprints: Vec<FingerprintRow>,
        filter: &Filter,
        judges: &Judges<'_>,
    ) -> Self {
        let db = judges.db;
        let transfers = transfers::register(&flows, judges);
        // Every distinct alert reason per (host, vendor, product), the rule that decides
        // the verdict first; summaries only repeat a first alert.
        let mut reasons: BTreeMap<RowKey<'_>, BTreeSet<(u8, &str)>> = BTreeMap::new();
        for a in alerts
            .iter()
            .filter(|a| !a.summary && a.rule != "new_ai_flow")
        {
            reasons
                .entry((
                    a.internal_host.as_str(),
                    a.vendor.as_str(),
                    a.product.as_str(),
                    a.landing_country.as_str(),
                ))
                .or_default()
                .insert((rule_rank(&a.rule), a.reason.as_str()));
        }
        let reasons: BTreeMap<_, String> = reasons
            .into_iter()
            .map(|(k, set)| {
                let text: Vec<&str> = set.iter().map(|(_, r)| *r).collect();
                (k, text.join(" "))
            })
            .collect();
        let rows: Vec<Row> = flows
            .iter()
            .map(|f| {
                let reason = reasons
                    .get(&(
                        f.internal_host.as_str(),
                        f.vendor.as_str(),
                        f.product.as_str(),
                        f.landing_country.as_str(),
                    ))
                    .cloned()
                    .unwrap_or_else(|| match f.verdict.as_str() {
                        "approved" => "Approved by the policy; no rule fired.".into(),
                        "none" => "No policy was applied when these flows were seen.".into(),
                        v => format!("Verdict {v}; no alert reason recorded."),
                    });
                Row {
                    internal_host: f.internal_host.clone(),
                    vendor: f.vendor.clone(),
                    product: f.product.clone(),
                    kind: f.kind.clone(),
                    indirect: f.indirect(),
                    endpoint: f.endpoint.clone(),
                    landing_country: if f.landing_country.is_empty() {
                        "unknown".into()
                    } else {
                        f.landing_country.clone()
                    },
                    eea: f.eea,
                    verdict: f.verdict.clone(),
                    flows: f.flows,
                    bytes_sent: f.bytes_sent,
                    bytes_received: f.bytes_received,
                    first_seen: Timestamp::from_micros(f.first_seen),
                    last_seen: Timestamp::from_micros(f.last_seen),
                    host_label: f.host_label.clone(),
                    sensor: f.sensor.clone(),
                    packets: f.packets,
                    reason,
                }
            })
            .collect();

        let mut summary = Summary::default();
        let mut hosts: BTreeMap<&str, HostSummary> = BTreeMap::new();
        let mut vendors: BTreeMap<&str, VendorSummary> = BTreeMap::new();
        let mut vendor_hosts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in rows.iter().filter(|r| !r.indirect) {
            summary.flows = summary.flows.saturating_add(r.flows);
            summary.bytes_sent = summary.bytes_sent.saturating_add(r.bytes_sent);
            summary.bytes_received = summary.bytes_received.saturating_add(r.bytes_received);
            if !r.eea {
                summary.bytes_sent_outside_eea =
                    summary.bytes_sent_outside_eea.saturating_add(r.bytes_sent);
            }
            if r.verdict == "unapproved" {
                summary.unapproved_flows = summary.unapproved_flows.saturating_add(r.flows);
            }
            let h = hosts
                .entry(&r.internal_host)
                .or_insert_with(|| HostSummary {
                    internal_host: r.internal_host.clone(),
                    host_label: r.host_label.clone(),
                    verdict: "none".into(),
                    ..HostSummary::default()
                });
            if !h.vendors.contains(&r.vendor) {
                h.vendors.push(r.vendor.clone());
            }
            h.flows = h.flows.saturating_add(r.flows);
            h.bytes_sent = h.bytes_sent.saturating_add(r.bytes_sent);
            h.verdict = worst([h.verdict.as_str(), r.verdict.as_str()].into_iter());
            vendor_hosts
                .entry(&r.vendor)
                .or_default()
                .insert(&r.internal_host);
            let v = vendors.entry(&r.vendor).or_insert_with(|| {
                let facts = db.vendors.iter().find(|x| x.id == r.vendor);
                VendorSummary {
                    vendor: r.vendor.clone(),
                    name: facts.map_or_else(|| r.vendor.clone(), |x| x.name.clone()),
                    verdict: "none".into(),
                    headquarters: facts.and_then(|x| x.country().map(str::to_owned)),
                    dpa: facts.and_then(|x| x.dpa.clone()),
                    subprocessors: facts.and_then(|x| x.subprocessors.clone()),
                    data_use: facts.and_then(|x| x.data_use.clone()),
                    ..VendorSummary::default()
                }
            });
            if !v.products.contains(&r.product) {
                v.products.push(r.product.clone());
                let endpoint = db.endpoints.iter().find(|e| {
                    e.product == r.product
                        && db.vendors.get(e.vendor).is_some_and(|x| x.id == r.vendor)
                });
                let trains = endpoint.map_or("unknown", |e| e.training().as_str());
                v.trains_on_inputs
                    .insert(r.product.clone(), trains.to_owned());
                if let Some(retention) = endpoint.and_then(Endpoint::retention) {
                    v.retention.insert(r.product.clone(), retention);
                }
                let vendor = db.vendors.iter().find(|x| x.id == r.vendor);
                let inferred: BTreeMap<&'static str, String> = endpoint
                    .map(|e| e.inferred(vendor))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, why)| (name, why.to_owned()))
                    .collect();
                if !inferred.is_empty() {
                    v.inferred.insert(r.product.clone(), inferred);
                }
            }
            if !v.landing_countries.contains(&r.landing_country) {
                v.landing_countries.push(r.landing_country.clone());
            }
            v.flows = v.flows.saturating_add(r.flows);
            v.bytes_sent = v.bytes_sent.saturating_add(r.bytes_sent);
            v.bytes_received = v.bytes_received.saturating_add(r.bytes_received);
            v.verdict = worst([v.verdict.as_str(), r.verdict.as_str()].into_iter());
        }
        for (id, set) in &vendor_hosts {
            if let Some(v) = vendors.get_mut(id) {
                v.internal_hosts = set.len();
            }
        }
        for v in vendors.values_mut() {
            v.settle_open_questions();
        }
        summary.vendors = vendors.len();
        summary.internal_hosts = hosts.len();
        summary.alerts = alerts.iter().map(|a| a.count).sum();
        summary.share_sent_outside_eea = if summary.bytes_sent == 0 {
            0.0
        } else {
            // Byte counts fit an f64's mantissa for any real inventory.
            #[allow(clippy::cast_precision_loss)]
            let share = summary.bytes_sent_outside_eea as f64 / summary.bytes_sent as f64;
            share
        };
        let mut vendors: Vec<_> = vendors.into_values().collect();
        vendors.sort_by(|a, b| {
            b.bytes_sent
                .cmp(&a.bytes_sent)
                .then(a.vendor.cmp(&b.vendor))
        });
        let mut hosts: Vec<_> = hosts.into_values().collect();
        hosts.sort_by(|a, b| {
            b.bytes_sent
                .cmp(&a.bytes_sent)
                .then(a.internal_host.cmp(&b.internal_host))
        });
        let saas = saas_summaries(&rows, db);
        let sensors: BTreeSet<String> = rows.iter().map(|r| r.sensor.clone()).collect();
        Self {
            generated: Timestamp::now(),
            signatures_version: db.version.clone(),
            signatures_date: db.date.clone(),
            since: filter.since.map(Timestamp::from_micros),
            until: filter.until.map(Timestamp::from_micros),
            sensors: sensors.into_iter().collect(),
            summary,
            vendors,
            hosts,
            rows,
            daily,
            fingerprints,
            alerts,
            saas,
            transfers,
            changes: None,
            unknown: Vec::new(),
        }
    }
}

/// The SaaS section: per SaaS, who uses it and what its AI does with the data.
fn saas_summaries(rows: &[Row], db: &Database) -> Vec<SaasSummary> {
    let mut by_vendor: BTreeMap<&str, SaasSummary> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.indirect) {
        let s = by_vendor.entry(&r.vendor).or_insert_with(|| {
            let facts = db.vendors.iter().find(|x| x.id == r.vendor);
            SaasSummary {
                vendor: r.vendor.clone(),
                name: facts.map_or_else(|| r.vendor.clone(), |x| x.name.clone()),
                verdict: "none".into(),
                subprocessor_list: facts.and_then(|x| x.subprocessors.clone()),
                dpa: facts.and_then(|x| x.dpa.clone()),
                trains_on_customer_data: "unknown".into(),
                ai_on_by_default: "unknown".into(),
                ..SaasSummary::default()
            }
        });
        if !s.internal_hosts.contains(&r.internal_host) {
            s.internal_hosts.push(r.internal_host.clone());
        }
        s.flows = s.flows.saturating_add(r.flows);
        s.bytes_sent = s.bytes_sent.saturating_add(r.bytes_sent);
        s.verdict = worst([s.verdict.as_str(), r.verdict.as_str()].into_iter());
        if s.products.contains(&r.product) {
            continue;
        }
        s.products.push(r.product.clone());
        let Some(e) = db.endpoints.iter().find(|e| {
            e.product == r.product && db.vendors.get(e.vendor).is_some_and(|x| x.id == r.vendor)
        }) else {
            continue;
        };
        s.trains_on_customer_data = e.training().as_str().to_owned();
        s.ai_on_by_default = e
            .ai_on_by_default
            .as_ref()
            .map_or("unknown", |(t, _)| t.as_str())
            .to_owned();
        s.admin_settings = e.admin_settings.as_ref().map(|(text, _)| text.clone());
        for f in &e.ai_features {
            if !s.ai_features.contains(f) {
                s.ai_features.push(f.clone());
            }
        }
        for p in &e.subprocessors {
            let place = p.country.as_deref().unwrap_or("country not stated");
            let named = match p.vendor.as_deref().map(|v| db.provider_training(v)) {
                Some(t @ ("yes" | "no" | "opt_out")) => {
                    format!("{} ({place}; its API trains on inputs: {t})", p.name)
                }
                _ => format!("{} ({place})", p.name),
            };
            if !s.subprocessors.contains(&named) {
                s.subprocessors.push(named);
            }
        }
    }
    let mut out: Vec<SaasSummary> = by_vendor.into_values().collect();
    for s in &mut out {
        s.internal_hosts.sort();
        s.questions = saas_questions(s);
    }
    out.sort_by(|a, b| {
        b.bytes_sent
            .cmp(&a.bytes_sent)
            .then(a.vendor.cmp(&b.vendor))
    });
    out
}

/// What to ask a SaaS vendor about the AI behind it, given what the database knows.
fn saas_questions(s: &SaasSummary) -> Vec<String> {
    let mut q = vec![format!(
        "Which of {}'s AI features are on for our account, and which of our data do they send to {}?",
        s.name,
        s.subprocessors.join(", ")
    )];
    if s.subprocessors
        .iter()
        .any(|p| p.contains("(country not stated"))
    {
        q.push(
            "Where do the AI sub-processors whose country is not stated process our data?".into(),
        );
    }
    match s.trains_on_customer_data.as_str() {
        "yes" | "opt_out" => q.push(format!(
            "{} trains models on customer data by default: is it switched off for our account?",
            s.name
        )),
        "unknown" => q.push(format!("Does {} train models on our data?", s.name)),
        _ => {}
    }
    match s.ai_on_by_default.as_str() {
        "yes" => q.push(format!(
            "{}'s AI is on by default: who in our organisation decided to keep it on?",
            s.name
        )),
        "no" => {}
        _ => q.push(format!(
            "Is {}'s AI on by default, and who in our organisation decides whether it is on?",
            s.name
        )),
    }
    if s.dpa.is_none() {
        q.push(format!("Where is {}'s data processing agreement?", s.name));
    }
    q.push("Do the AI sub-processors keep our prompts and outputs, and for how long?".into());
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_questions_are_those_the_database_cannot_answer() {
        let mut v = VendorSummary {
            products: vec!["API".into()],
            trains_on_inputs: [("API".to_owned(), "no".to_owned())].into(),
            retention: [("API".to_owned(), "30 days".to_owned())].into(),
            landing_countries: vec!["DE".into()],
            dpa: Some("https://example.com/dpa".into()),
            subprocessors: Some("https://example.com/sub".into()),
            ..VendorSummary::default()
        };
        v.settle_open_questions();
        assert!(v.open_questions.is_empty(), "{:?}", v.open_questions);
        v.products.push("Chat".into());
        v.trains_on_inputs.insert("Chat".into(), "unknown".into());
        v.landing_countries.push("unknown".into());
        v.dpa = None;
        v.subprocessors = None;
        v.settle_open_questions();
        assert_eq!(
            v.open_questions,
            [
                "training",
                "sub-processors",
                "data location",
                "retention",
                "DPA"
            ]
        );
    }
}
