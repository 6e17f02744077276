//! Reports from the inventory: a table for the terminal, CSV and JSON for spreadsheets
//! and tools, Markdown, and a single self-contained HTML file for auditors (inline CSS and
//! SVG charts, no scripts, nothing fetched when it is opened).
//!
//! Every number in a report is a sum over stored rows, so it traces back to them.
//!
//! Names, hosts and reasons in the rows came off the wire, so each format escapes them
//! for where it is read (see [`crate::output::escape`]): the table for a terminal, the
//! Markdown for a renderer that passes HTML through, the CSV for a spreadsheet that runs
//! formulas, the HTML as HTML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use super::changes::Changes;
use super::store::{AlertRow, DailyRow, Filter, FingerprintRow, FlowRow, Store, StoreError};
use super::transfers::{self, Judges, Transfer};
use crate::output::escape::{csv_cell, csv_rows, markdown as md, terminal};
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
    fn is_inferred(&self, product: &str, field: &str) -> bool {
        self.inferred
            .get(product)
            .is_some_and(|facts| facts.contains_key(field))
    }

    /// For the HTML report: an "inferred" mark with the reasoning on hover, or nothing.
    fn inferred_mark(&self, product: &str, field: &str) -> String {
        match self
            .inferred
            .get(product)
            .and_then(|facts| facts.get(field))
        {
            Some(why) => format!(
                " <abbr class=\"inferred\" title=\"inferred, not stated by the source: {}\">(inferred)</abbr>",
                esc(why)
            ),
            None => String::new(),
        }
    }

    /// Fills [`Self::open_questions`] from what the summary holds.
    fn settle_open_questions(&mut self) {
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
        Ok(Self::from_parts(
            flows,
            alerts,
            store.daily(filter)?,
            store.fingerprints(filter)?,
            filter,
            judges,
        ))
    }

    fn from_parts(
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

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Html,
    Markdown,
}

/// Writes `report` in `format`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => table(report, out),
        Format::Csv => csv(report, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            out.write_all(b"\n")
        }
        Format::Html => out.write_all(html(report).as_bytes()),
        Format::Markdown => out.write_all(markdown(report).as_bytes()),
    }
}

/// Writes the transfer register in `format`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_transfers(
    register: &[Transfer],
    format: Format,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => transfers_table(register, out),
        Format::Csv => transfers::write_csv(register, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, register)?;
            out.write_all(b"\n")
        }
        Format::Html => {
            let mut h = page_start(
                "Transfer register",
                &format!("Generated {}", Timestamp::now()),
            );
            transfers_html(&mut h, register);
            page_end(&mut h);
            out.write_all(h.as_bytes())
        }
        Format::Markdown => {
            let mut m = String::from("# Transfer register\n\n");
            transfers_markdown(&mut m, register);
            out.write_all(m.as_bytes())
        }
    }
}

/// Writes the changes report in `format` (CSV: one line per change).
///
/// # Errors
/// The writer's I/O errors.
pub fn write_changes(c: &Changes, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Table => out.write_all(changes_text(c).as_bytes()),
        Format::Csv => changes_csv(c, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, c)?;
            out.write_all(b"\n")
        }
        Format::Html => {
            let mut h = page_start(
                "Changes since the last audit",
                &format!("Generated {}", Timestamp::now()),
            );
            changes_html(&mut h, c);
            page_end(&mut h);
            out.write_all(h.as_bytes())
        }
        Format::Markdown => {
            let mut m = String::from("# Changes since the last audit\n\n");
            changes_markdown(&mut m, c);
            out.write_all(m.as_bytes())
        }
    }
}

fn transfers_table(register: &[Transfer], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<14}  {:<30}  {:<40}  {:<7}  {:<6}  {:<15}  {:>6}  {:>10}  EEA_ALTERNATIVE",
        "VENDOR", "PRODUCT", "ENDPOINT", "COUNTRY", "CONF", "MECHANISM", "FLOWS", "SENT"
    )?;
    for t in register {
        writeln!(
            out,
            "{:<14}  {:<30}  {:<40}  {:<7}  {:<6}  {:<15}  {:>6}  {:>10}  {}",
            terminal(&t.vendor),
            terminal(&t.product),
            terminal(&t.endpoint),
            terminal(&t.destination_country),
            terminal(&t.confidence),
            t.mechanism.as_str(),
            t.flows,
            t.bytes_sent,
            terminal(&t.eea_alternative)
        )?;
    }
    Ok(())
}

fn transfers_markdown(m: &mut String, register: &[Transfer]) {
    let _ = writeln!(
        m,
        "Every AI flow landing outside the EEA or where the landing is unknown, with the mechanism that covers the transfer as far as aigress knows.\n\n| vendor | product | endpoint | country | confidence | mechanism | mechanism source | internal hosts | networks | flows | sent | first seen | last seen | EEA alternative |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in register {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&t.vendor),
            md(&t.product),
            md(&t.endpoint),
            md(&t.destination_country),
            md(&t.confidence),
            t.mechanism.as_str(),
            md(&t.mechanism_source),
            md(&t.internal_hosts.join(", ")),
            md(&t.networks.join(", ")),
            t.flows,
            human_bytes(t.bytes_sent),
            t.first_seen,
            t.last_seen,
            md(&t.eea_alternative)
        );
    }
}

/// Explains each mechanism, for readers of the register.
const MECHANISMS: &str = "<p class=\"muted\">Mechanism: <b>adequacy</b> — the country has an EU adequacy decision; <b>dpf</b> — a US vendor the policy lists as certified under the EU-US Data Privacy Framework; <b>scc_in_dpa</b> — the vendor's DPA incorporates the Standard Contractual Clauses (a Transfer Impact Assessment is still due); <b>none_known</b> — no mechanism is known to aigress: ask the vendor or stop the flow; <b>unknown_landing</b> — where the data lands could not be judged.</p>";

fn transfers_html(h: &mut String, register: &[Transfer]) {
    let rows = register.iter().map(|t| {
        vec![
            Cell::text(&t.vendor),
            Cell::text(&t.product),
            Cell::text(&t.endpoint),
            Cell::text(&t.destination_country),
            Cell::text(&t.confidence),
            Cell::Html(format!(
                "<span class=\"m-{0}\">{0}</span>",
                t.mechanism.as_str()
            )),
            Cell::Html(source_link(&t.mechanism_source)),
            Cell::text(&t.internal_hosts.join(", ")),
            Cell::text(&t.networks.join(", ")),
            Cell::number(t.flows),
            Cell::number(human_bytes(t.bytes_sent)),
            Cell::text(&t.first_seen.to_string()),
            Cell::text(&t.last_seen.to_string()),
            Cell::text(&t.eea_alternative),
        ]
    });
    html_table(
        h,
        "transfers",
        "Transfer register: AI data leaving the EEA",
        &[
            "Vendor",
            "Product",
            "Endpoint",
            "Country",
            "Confidence",
            "Mechanism",
            "Mechanism source",
            "Internal hosts",
            "Networks",
            "Flows",
            "Sent",
            "First seen",
            "Last seen",
            "EEA alternative",
        ],
        rows,
    );
    h.push_str(MECHANISMS);
}

/// A source cell: a link when it is a URL, else the text (a policy file).
fn source_link(source: &str) -> String {
    if source.starts_with("https://") {
        format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", esc(source))
    } else {
        esc(source)
    }
}

fn period_text(p: &super::changes::Period) -> String {
    format!(
        "{} ({} to {})",
        p.store,
        p.since
            .map_or_else(|| "the start".into(), |t| t.to_string()),
        p.until.map_or_else(|| "now".into(), |t| t.to_string())
    )
}

/// The changes as (section, item, detail, first seen) lines, in the report's order.
fn change_lines(c: &Changes) -> Vec<(&'static str, String, String, String)> {
    let mut lines = Vec::new();
    for (section, list) in [
        ("new vendor", &c.new_vendors),
        ("new product", &c.new_products),
        ("new internal host", &c.new_internal_hosts),
        ("new destination country", &c.new_destination_countries),
    ] {
        for n in list {
            let totals = format!(
                "{} internal host(s), {} flows, {} sent",
                n.internal_hosts,
                n.flows,
                human_bytes(n.bytes_sent)
            );
            let detail = match (n.detail.is_empty(), section) {
                (true, _) => totals,
                (false, "new internal host") => format!("talks to {}; {totals}", n.detail),
                (false, "new vendor") => format!("from {}; {totals}", n.detail),
                (false, _) => format!("{}; {totals}", n.detail),
            };
            lines.push((section, n.item.clone(), detail, n.first_seen.to_string()));
        }
    }
    for x in &c.stopped {
        lines.push((
            "stopped",
            format!("{} -> {}/{}", x.internal_host, x.vendor, x.product),
            format!(
                "last seen {}; {} flows, {} sent",
                x.last_seen,
                x.flows,
                human_bytes(x.bytes_sent)
            ),
            x.first_seen.to_string(),
        ));
    }
    for t in &c.terms_changed {
        lines.push((
            "terms changed",
            format!("{}/{}", t.vendor, t.product),
            format!("{} (sensors: {})", t.what, t.sensors.join(", ")),
            t.first_seen.to_string(),
        ));
    }
    for v in &c.volume_changes {
        lines.push((
            "volume change",
            v.vendor.clone(),
            format!(
                "{} per day, was {} per day ({:.1}x)",
                human_bytes(v.current_bytes_per_day),
                human_bytes(v.baseline_bytes_per_day),
                v.ratio
            ),
            v.first_seen.to_string(),
        ));
    }
    lines
}

fn changes_text(c: &Changes) -> String {
    let mut t = format!(
        "Baseline: {}\nCurrent:  {}\n",
        terminal(&period_text(&c.baseline)),
        terminal(&period_text(&c.current))
    );
    if c.is_empty() {
        t.push_str("No changes.\n");
    }
    for (section, item, detail, first) in change_lines(c) {
        let _ = writeln!(
            t,
            "{section:<25}  {:<40}  first seen {first}  {}",
            terminal(&item),
            terminal(&detail)
        );
    }
    t
}

fn changes_csv(c: &Changes, out: &mut dyn Write) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(["change", "item", "detail", "first_seen"])
        .map_err(io::Error::other)?;
    for (section, item, detail, first) in change_lines(c) {
        w.write_record([
            section,
            &csv_cell(&item),
            &csv_cell(&detail),
            &csv_cell(&first),
        ])
        .map_err(io::Error::other)?;
    }
    w.flush()
}

fn changes_markdown(m: &mut String, c: &Changes) {
    let _ = writeln!(
        m,
        "Baseline: {}. Current: {}.\n",
        md(&period_text(&c.baseline)),
        md(&period_text(&c.current))
    );
    if c.is_empty() {
        m.push_str("No changes.\n");
        return;
    }
    let _ = writeln!(
        m,
        "| change | item | detail | first seen |\n|---|---|---|---|"
    );
    for (section, item, detail, first) in change_lines(c) {
        let _ = writeln!(
            m,
            "| {section} | {} | {} | {first} |",
            md(&item),
            md(&detail)
        );
    }
}

fn changes_html(h: &mut String, c: &Changes) {
    let rows = change_lines(c)
        .into_iter()
        .map(|(section, item, detail, first)| {
            vec![
                Cell::text(section),
                Cell::text(&item),
                Cell::text(&detail),
                Cell::text(&first),
            ]
        });
    html_table(
        h,
        "changes",
        "Changes since the last audit",
        &["Change", "Item", "Detail", "First seen"],
        rows,
    );
    let _ = write!(
        h,
        "<p class=\"muted\">Baseline: {}. Current: {}. Volume changes: bytes uploaded per day with AI traffic, {}x or more either way.{}</p>",
        esc(&period_text(&c.baseline)),
        esc(&period_text(&c.current)),
        c.factor,
        if c.is_empty() { " No changes." } else { "" }
    );
}

/// Human byte counts: `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    // Precision loss only affects the displayed decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len().saturating_sub(1) {
        value /= 1000.0;
        unit = unit.saturating_add(1);
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {name}")
    }
}

fn table(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.summary;
    writeln!(
        out,
        "signature database {} ({})",
        terminal(&r.signatures_version),
        terminal(&r.signatures_date)
    )?;
    writeln!(
        out,
        "{} AI vendors, {} internal hosts, {} flows, {} sent ({:.0}% outside the EEA), {} unapproved flows, {} alerts",
        s.vendors,
        s.internal_hosts,
        s.flows,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    )?;
    if !r.saas.is_empty() {
        writeln!(
            out,
            "AI reached through SaaS (not counted above): {}",
            r.saas
                .iter()
                .map(|x| format!("{} ({} sent)", terminal(&x.name), human_bytes(x.bytes_sent)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let uncovered = r
        .transfers
        .iter()
        .filter(|t| {
            matches!(
                t.mechanism,
                transfers::Mechanism::NoneKnown | transfers::Mechanism::UnknownLanding
            )
        })
        .count();
    writeln!(
        out,
        "Transfer register: {} destinations outside the EEA or unknown, {uncovered} without a known mechanism (--report transfers)",
        r.transfers.len()
    )?;
    writeln!(
        out,
        "{:<24}  {:<14}  {:<30}  {:<40}  {:<7}  {:<10}  {:>6}  {:>10}  {:>10}",
        "INTERNAL_HOST",
        "VENDOR",
        "PRODUCT",
        "ENDPOINT",
        "LANDING",
        "VERDICT",
        "FLOWS",
        "SENT",
        "RECEIVED"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "{:<24}  {:<14}  {:<30}  {:<40}  {:<7}  {:<10}  {:>6}  {:>10}  {:>10}",
            terminal(&row.internal_host),
            terminal(&row.vendor),
            terminal(&row.product),
            terminal(&row.endpoint),
            terminal(&row.landing_country),
            terminal(&row.verdict),
            row.flows,
            row.bytes_sent,
            row.bytes_received
        )?;
    }
    Ok(())
}

fn csv(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    csv_rows(&r.rows, out)
}

fn markdown(r: &Report) -> String {
    let s = &r.summary;
    let mut m = String::new();
    let _ = writeln!(m, "# AI data flow inventory\n");
    let _ = writeln!(
        m,
        "Generated {} from {} sensor(s): {}. Signature database {} ({}).\n",
        r.generated,
        r.sensors.len(),
        md(&r.sensors.join(", ")),
        md(&r.signatures_version),
        md(&r.signatures_date)
    );
    let _ = writeln!(
        m,
        "- AI vendors seen: {}\n- Internal hosts involved: {}\n- Flows: {}\n- Bytes uploaded: {} ({:.1}% landing outside the EEA)\n- Unapproved flows: {}\n- Alerts: {}\n",
        s.vendors,
        s.internal_hosts,
        s.flows,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    );
    let _ = writeln!(m, "## Vendors\n");
    let _ = writeln!(
        m,
        "| vendor | products | hosts | flows | sent | landing | verdict | trains on inputs |\n|---|---|---|---|---|---|---|---|"
    );
    for v in &r.vendors {
        let trains: Vec<String> = v
            .trains_on_inputs
            .iter()
            .map(|(p, t)| {
                let inferred = if v.is_inferred(p, "trains_on_inputs") {
                    " (inferred)"
                } else {
                    ""
                };
                format!("{p}: {t}{inferred}")
            })
            .collect();
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&v.name),
            md(&v.products.join(", ")),
            v.internal_hosts,
            v.flows,
            human_bytes(v.bytes_sent),
            md(&v.landing_countries.join(", ")),
            md(&v.verdict),
            md(&trains.join("; "))
        );
    }
    if !r.saas.is_empty() {
        let _ = writeln!(
            m,
            "\n## AI reached through SaaS\n\nThese SaaS send data on to AI sub-processors from their own servers; they are not counted above.\n\n| SaaS | internal hosts | flows | sent to the SaaS | AI sub-processors | trains on customer data | AI on by default | questions |\n|---|---|---|---|---|---|---|---|"
        );
        for x in &r.saas {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&x.name),
                md(&x.internal_hosts.join(", ")),
                x.flows,
                human_bytes(x.bytes_sent),
                md(&x.subprocessors.join(", ")),
                md(&x.trains_on_customer_data),
                md(&x.ai_on_by_default),
                md(&x.questions.join(" "))
            );
        }
    }
    let _ = writeln!(m, "\n## Transfer register\n");
    transfers_markdown(&mut m, &r.transfers);
    if let Some(c) = &r.changes {
        let _ = writeln!(m, "\n## Changes since the last audit\n");
        changes_markdown(&mut m, c);
    }
    let _ = writeln!(m, "\n## Flows\n");
    let _ = writeln!(
        m,
        "| internal host | vendor | product | endpoint | landing | verdict | flows | sent | reason |\n|---|---|---|---|---|---|---|---|---|"
    );
    for row in r.rows.iter().filter(|row| !row.indirect) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&row.internal_host),
            md(&row.vendor),
            md(&row.product),
            md(&row.endpoint),
            md(&row.landing_country),
            md(&row.verdict),
            row.flows,
            human_bytes(row.bytes_sent),
            md(&row.reason)
        );
    }
    m
}

/// HTML-escapes text for element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link to a vendor document, or a note that the database has none.
fn link(url: Option<&String>, label: &str) -> String {
    match url {
        Some(u) if u.starts_with("https://") => {
            format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                esc(u),
                esc(label)
            )
        }
        _ => "<span class=\"muted\">not in the database</span>".into(),
    }
}

const PALETTE: [&str; 10] = [
    "#2f6690", "#d1495b", "#66a182", "#edae49", "#8d6a9f", "#3a7ca5", "#c3423f", "#9bc53d",
    "#5bc0eb", "#404e4d",
];

/// The `i`th chart colour, cycling.
fn palette(i: usize) -> &'static str {
    PALETTE
        .get(i.checked_rem(PALETTE.len()).unwrap_or(0))
        .copied()
        .unwrap_or("#2f6690")
}

fn ratio(part: u64, whole: u64, scale: f64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Display geometry only.
    #[allow(clippy::cast_precision_loss)]
    let r = part as f64 / whole as f64 * scale;
    r
}

/// Horizontal bars: bytes uploaded per vendor.
fn bytes_per_vendor_svg(r: &Report) -> String {
    let bars: Vec<&VendorSummary> = r.vendors.iter().take(15).collect();
    let max = bars.iter().map(|v| v.bytes_sent).max().unwrap_or(0);
    let row_h = 26.0;
    #[allow(clippy::cast_precision_loss)]
    let height = (bars.len() as f64).mul_add(row_h, 10.0);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Bytes uploaded per vendor\" viewBox=\"0 0 720 {height}\" width=\"720\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, v) in bars.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = (i as f64).mul_add(row_h, 5.0);
        let w = ratio(v.bytes_sent, max, 440.0).max(1.0);
        let color = palette(i);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"13\">{}</text><rect x=\"170\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"><title>{}: {} bytes</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 14.0,
            esc(&v.name),
            esc(&v.name),
            v.bytes_sent,
            175.0 + w,
            y + 14.0,
            human_bytes(v.bytes_sent)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Stacked columns: bytes uploaded per day, by landing country.
fn landing_over_time_svg(r: &Report) -> String {
    let mut days: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut countries: BTreeMap<&str, u64> = BTreeMap::new();
    // Direct AI only, as the summary: a SaaS's bytes go to the SaaS, not to an AI service.
    let saas_only: BTreeSet<&str> = r
        .saas
        .iter()
        .map(|s| s.vendor.as_str())
        .filter(|v| !r.vendors.iter().any(|d| d.vendor == *v))
        .collect();
    for d in r
        .daily
        .iter()
        .filter(|d| !saas_only.contains(d.vendor.as_str()))
    {
        let c = if d.landing_country.is_empty() {
            "unknown"
        } else {
            d.landing_country.as_str()
        };
        let e = days.entry(&d.day).or_default().entry(c).or_default();
        *e = e.saturating_add(d.bytes_sent);
        let t = countries.entry(c).or_default();
        *t = t.saturating_add(d.bytes_sent);
    }
    let max = days
        .values()
        .map(|m| m.values().copied().fold(0u64, u64::saturating_add))
        .max()
        .unwrap_or(0);
    let colors: BTreeMap<&str, &str> = countries
        .keys()
        .enumerate()
        .map(|(i, c)| (*c, palette(i)))
        .collect();
    let n = days.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let col_w = (660.0 / n as f64).min(60.0);
    let chart_h = 200.0;
    let mut svg = String::from(
        "<svg role=\"img\" aria-label=\"Bytes uploaded per day by landing country\" viewBox=\"0 0 720 260\" width=\"720\" height=\"260\" xmlns=\"http://www.w3.org/2000/svg\">",
    );
    for (i, (day, per_country)) in days.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = (i as f64).mul_add(col_w, 40.0);
        let mut top = chart_h;
        for (c, bytes) in per_country {
            let h = ratio(*bytes, max, chart_h - 10.0);
            top -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {} bytes</title></rect>",
                (col_w - 4.0).max(1.0),
                colors.get(c).copied().unwrap_or("#2f6690"),
                esc(day),
                esc(c),
                bytes
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
            chart_h + 14.0,
            esc(day.get(5..).unwrap_or(day))
        );
    }
    for (i, (c, color)) in colors.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = (i as f64).mul_add(80.0, 40.0);
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"236\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"246\" font-size=\"12\">{}</text>",
            x + 16.0,
            esc(c)
        );
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2733;max-width:1400px}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d6dde5;padding-bottom:.3rem}
.muted{color:#6b7785}.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1.2rem 0}
.card{border:1px solid #d6dde5;border-radius:8px;padding:.8rem 1.1rem;min-width:10rem}
.card b{display:block;font-size:1.6rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.6rem 0}
th,td{border-bottom:1px solid #e4e9ee;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f6f9}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:anywhere}#flows-table td:last-child,#alerts td:last-child{min-width:26rem}
.v-unapproved{color:#b3261e;font-weight:600}.v-violation{color:#b35c00;font-weight:600}
.v-review{color:#7a5d00}.v-approved{color:#1e6b3a}
ol li{margin:.3rem 0}
.m-none_known{color:#b3261e;font-weight:600}.m-unknown_landing{color:#b35c00;font-weight:600}
@page{size:A4 landscape;margin:10mm}
@media print{body{margin:0;max-width:none;font-size:8pt;color:#000;print-color-adjust:exact;-webkit-print-color-adjust:exact}
h1{font-size:14pt}h2{font-size:11pt;margin-top:1rem;break-after:avoid}
table{font-size:6.5pt}thead{display:table-header-group}tr,.card,svg,h2{break-inside:avoid}
th,td{padding:.15rem .25rem}a{color:inherit;text-decoration:none}
#flows-table td:last-child,#alerts td:last-child{min-width:0}.cards{gap:.4rem}.card b{font-size:12pt}
svg{max-width:100%;height:auto}}";

/// One cell of an HTML table.
enum Cell {
    /// Escaped here.
    Text(String),
    /// Right-aligned.
    Number(String),
    /// A verdict, coloured by its class.
    Verdict(String),
    /// Already HTML.
    Html(String),
}

impl Cell {
    fn text(t: &str) -> Self {
        Self::Text(t.to_owned())
    }

    fn number(n: impl std::fmt::Display) -> Self {
        Self::Number(n.to_string())
    }

    fn verdict(v: &str) -> Self {
        Self::Verdict(v.to_owned())
    }
}

/// A section with a heading and a table of `rows`.
fn html_table(
    h: &mut String,
    id: &str,
    title: &str,
    headers: &[&str],
    rows: impl Iterator<Item = Vec<Cell>>,
) {
    let _ = write!(
        h,
        "<section id=\"{}\"><h2>{}</h2><table><thead><tr>",
        esc(id),
        esc(title)
    );
    for header in headers {
        let _ = write!(h, "<th>{}</th>", esc(header));
    }
    h.push_str("</tr></thead><tbody>");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = match cell {
                Cell::Text(t) => write!(h, "<td>{}</td>", esc(&t)),
                Cell::Number(n) => write!(h, "<td class=\"n\">{}</td>", esc(&n)),
                Cell::Verdict(v) => write!(h, "<td class=\"v-{0}\">{0}</td>", esc(&v)),
                Cell::Html(x) => write!(h, "<td>{x}</td>"),
            };
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></section>");
}

/// The HTML report: one self-contained file.
pub fn html(r: &Report) -> String {
    let s = &r.summary;
    let mut h = String::new();
    let period = match (r.since, r.until) {
        (None, None) => "all recorded time".to_owned(),
        (a, b) => format!(
            "{} to {}",
            a.map_or_else(|| "the start".into(), |t| t.to_string()),
            b.map_or_else(|| "now".into(), |t| t.to_string())
        ),
    };
    h.push_str(&page_start(
        "AI data flow inventory",
        &format!(
            "Generated {} from sensor(s) {} — period: {} — signature database {} ({})",
            r.generated,
            r.sensors.join(", "),
            period,
            r.signatures_version,
            r.signatures_date
        ),
    ));
    let _ = write!(
        h,
        "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">\
         <div class=\"card\"><b id=\"vendors\">{}</b>AI vendors seen</div>\
         <div class=\"card\"><b id=\"hosts\">{}</b>internal hosts involved</div>\
         <div class=\"card\"><b id=\"uploaded\">{}</b>uploaded to AI services</div>\
         <div class=\"card\"><b id=\"outside-eea\">{:.0}%</b>of it landing outside the EEA</div>\
         <div class=\"card\"><b id=\"unapproved\">{}</b>unapproved flows</div>\
         <div class=\"card\"><b>{}</b>alerts</div></div></section>",
        s.vendors,
        s.internal_hosts,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    );
    let _ = write!(
        h,
        "<section><h2>Bytes uploaded per vendor</h2>{}</section><section><h2>Landing countries over time</h2>{}</section>",
        bytes_per_vendor_svg(r),
        landing_over_time_svg(r)
    );
    let vendor_rows = r.vendors.iter().map(|v| {
        let trains: Vec<String> = v
            .trains_on_inputs
            .iter()
            .map(|(p, t)| {
                format!(
                    "{}: {}{}",
                    esc(p),
                    esc(t),
                    v.inferred_mark(p, "trains_on_inputs")
                )
            })
            .collect();
        vec![
            Cell::text(&v.name),
            Cell::text(&v.products.join(", ")),
            Cell::number(v.internal_hosts),
            Cell::number(v.flows),
            Cell::number(human_bytes(v.bytes_sent)),
            Cell::number(human_bytes(v.bytes_received)),
            Cell::text(&v.landing_countries.join(", ")),
            Cell::verdict(&v.verdict),
            Cell::Html(trains.join("<br>")),
            Cell::Html(
                v.retention
                    .iter()
                    .map(|(p, t)| {
                        format!("{}: {}{}", esc(p), esc(t), v.inferred_mark(p, "retention"))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
            ),
            Cell::Html(
                v.headquarters
                    .as_deref()
                    .map_or_else(|| "<span class=\"muted\">unknown</span>".into(), esc),
            ),
            Cell::Html(link(v.dpa.as_ref(), "DPA")),
            Cell::Html(link(v.subprocessors.as_ref(), "list")),
            Cell::Html(link(v.data_use.as_ref(), "policy")),
            Cell::text(&v.open_questions.join(", ")),
        ]
    });
    html_table(
        &mut h,
        "vendors-table",
        "Per vendor",
        &[
            "Vendor",
            "Products",
            "Hosts",
            "Flows",
            "Sent",
            "Received",
            "Lands in",
            "Verdict",
            "Trains on inputs (default)",
            "Retention",
            "Headquarters",
            "DPA",
            "Sub-processors",
            "Data use",
            "Still to ask",
        ],
        vendor_rows,
    );
    let host_rows = r.hosts.iter().map(|x| {
        vec![
            Cell::text(&x.internal_host),
            Cell::text(&x.host_label),
            Cell::text(&x.vendors.join(", ")),
            Cell::number(x.flows),
            Cell::number(human_bytes(x.bytes_sent)),
            Cell::verdict(&x.verdict),
        ]
    });
    html_table(
        &mut h,
        "hosts-table",
        "Per internal host",
        &[
            "Internal host",
            "Network",
            "Vendors",
            "Flows",
            "Sent",
            "Verdict",
        ],
        host_rows,
    );
    let flow_rows = r.rows.iter().filter(|row| !row.indirect).map(|row| {
        let eea = if row.eea { " (EEA)" } else { "" };
        vec![
            Cell::text(&row.internal_host),
            Cell::text(&row.vendor),
            Cell::text(&row.product),
            Cell::text(&row.endpoint),
            Cell::text(&format!("{}{eea}", row.landing_country)),
            Cell::verdict(&row.verdict),
            Cell::number(row.flows),
            Cell::number(row.bytes_sent),
            Cell::number(row.bytes_received),
            Cell::text(&row.first_seen.to_string()),
            Cell::text(&row.last_seen.to_string()),
            Cell::text(&row.reason),
        ]
    });
    html_table(
        &mut h,
        "flows-table",
        "Every flow group, with its verdict and reason",
        &[
            "Internal host",
            "Vendor",
            "Product",
            "Endpoint",
            "Lands in",
            "Verdict",
            "Flows",
            "Sent",
            "Received",
            "First seen",
            "Last seen",
            "Reason",
        ],
        flow_rows,
    );
    if !r.saas.is_empty() {
        let saas_rows = r.saas.iter().map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::text(&x.internal_hosts.join(", ")),
                Cell::number(x.flows),
                Cell::number(human_bytes(x.bytes_sent)),
                Cell::verdict(&x.verdict),
                Cell::text(&x.ai_features.join(", ")),
                Cell::text(&x.subprocessors.join(", ")),
                Cell::text(&x.trains_on_customer_data),
                Cell::text(&x.ai_on_by_default),
                Cell::text(x.admin_settings.as_deref().unwrap_or("")),
                Cell::Html(link(x.subprocessor_list.as_ref(), "list")),
                Cell::Html(
                    x.questions
                        .iter()
                        .map(|q| esc(q))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ),
            ]
        });
        html_table(
            &mut h,
            "saas-table",
            "AI reached through SaaS (not counted above: the SaaS sends the data on from its own servers)",
            &[
                "SaaS",
                "Internal hosts",
                "Flows",
                "Sent to the SaaS",
                "Verdict",
                "AI features",
                "AI sub-processors",
                "Trains on customer data",
                "AI on by default",
                "Admin settings to check",
                "Sub-processor list",
                "Questions for the SaaS vendor",
            ],
            saas_rows,
        );
    }
    transfers_html(&mut h, &r.transfers);
    if let Some(c) = &r.changes {
        changes_html(&mut h, c);
    }
    h.push_str("<section id=\"questions\"><h2>Questions to put to each vendor</h2><ol>\
        <li><b>Which of our tools talk to it, and from where?</b> The per-vendor and per-host tables above.</li>\
        <li><b>What data do we send, and how much?</b> Bytes sent per flow group; the client fingerprints below name the software.</li>\
        <li><b>Where is it processed?</b> The landing country and whether it is in the EEA or covered by an adequacy decision.</li>\
        <li><b>Does the vendor train on it?</b> The default per product, from the vendor's own documentation.</li>\
        <li><b>Is a data processing agreement in place, and who are the sub-processors?</b> The DPA and sub-processor links, where the database has them.</li>\
        <li><b>How long is it kept?</b> The retention per product, where the vendor documents it.</li>\
        </ol><p>The per-vendor table's last column lists, for each vendor, which of these contract questions (training, sub-processors, data location, retention, DPA) the database cannot answer and remain to be asked.</p></section>");
    if !r.fingerprints.is_empty() {
        let rows = r.fingerprints.iter().map(|f| {
            vec![
                Cell::text(&f.internal_host),
                Cell::text(&f.vendor),
                Cell::text(&f.product),
                Cell::text(&f.kind),
                Cell::Html(format!("<code>{}</code>", esc(&f.value))),
                Cell::number(f.seen),
            ]
        });
        html_table(
            &mut h,
            "fingerprints",
            "Client software seen",
            &[
                "Internal host",
                "Vendor",
                "Product",
                "Kind",
                "Value",
                "Seen",
            ],
            rows,
        );
    }
    if !r.alerts.is_empty() {
        let rows = r.alerts.iter().map(|a| {
            vec![
                Cell::text(&Timestamp::from_micros(a.timestamp).to_string()),
                Cell::text(&a.rule),
                Cell::text(&a.severity),
                Cell::number(a.count),
                Cell::text(&a.reason),
            ]
        });
        html_table(
            &mut h,
            "alerts",
            "Alert log",
            &["Time", "Rule", "Severity", "Count", "Reason"],
            rows,
        );
    }
    h.push_str("<p class=\"muted\">Every number is a sum over the stored flow groups; payload is never recorded. Landing: a region in the host name, the vendor's documented processing location, or GeoIP (never of a CDN front door, where the vendor's headquarters stands in).</p>");
    page_end(&mut h);
    h
}

/// The head of a self-contained page and its title.
fn page_start(title: &str, subtitle: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1><p class=\"muted\">{1} (aigress {2}).</p>",
        esc(title),
        esc(subtitle),
        env!("CARGO_PKG_VERSION")
    )
}

fn page_end(h: &mut String) {
    h.push_str("</body></html>\n");
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

    #[test]
    fn html_escapes_and_stays_self_contained() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let db = Database::embedded().unwrap();
        let jurisdictions = crate::landing::Jurisdictions::embedded().unwrap();
        let judges = Judges {
            db: &db,
            jurisdictions: &jurisdictions,
            policy_file: None,
        };
        let row = FlowRow {
            sensor: "s1".into(),
            internal_host: "10.0.0.1".into(),
            vendor: "openai".into(),
            product: "OpenAI API".into(),
            kind: "api".into(),
            endpoint: "api.openai.com<script>".into(),
            landing_country: "US".into(),
            verdict: "unapproved".into(),
            flows: 2,
            bytes_sent: 1500,
            ..FlowRow::default()
        };
        let r = Report::from_parts(
            vec![row],
            vec![],
            vec![],
            vec![],
            &Filter::default(),
            &judges,
        );
        let page = html(&r);
        assert!(page.contains("api.openai.com&lt;script&gt;"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("src=\"http"));
        assert_eq!(r.summary.unapproved_flows, 2);
        assert!((r.summary.share_sent_outside_eea - 1.0).abs() < f64::EPSILON);
        assert_eq!(human_bytes(1500), "1.5 kB");
    }
}
