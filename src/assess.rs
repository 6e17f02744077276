//! The stage between the engine and the outputs: places each AI event's data
//! ([`Landing`]), applies the policy once per flow, and turns what it finds into
//! deduplicated alert events for the event stream and the alert sinks.
//!
//! It is an [`EventSink`] wrapping the output sink, so the engine's packet path is the
//! same with or without a policy, and an offline scan and the live sensor judge alike.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

use crate::ai::Kind;
use crate::alert::dedup::{DedupKey, Deduper};
use crate::alert::sinks::{AlertSink, SinkStats};
use crate::alert::{AlertInfo, UploadInfo, Verdict};
use crate::discovery::download::ModelDownloadInfo;
use crate::event::{Body, Event, EventSink, Header, Transport};
use crate::inventory::KnownPairs;
use crate::landing::{Landing, LandingContext};
use crate::policy::{Finding, Policy};
use crate::protocols::flow::FlowInfo;
use crate::protocols::roles::HelloView;
use crate::signatures::diff::FactChange;
use crate::signatures::{Database, MatchSource};
use crate::time::Timestamp;

/// What the assessor counted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AssessStats {
    /// Alerts written, by rule (summaries of repeats included).
    pub alerts: BTreeMap<&'static str, u64>,
    /// Repeats folded into summaries by deduplication.
    pub suppressed: u64,
    /// AI flows judged by the policy, by verdict.
    pub verdicts: BTreeMap<&'static str, u64>,
    pub sinks: Vec<SinkStats>,
}

/// (internal host, vendor) pairs remembered for `new_ai_flow` at most.
const MAX_PAIRS: usize = 262_144;

/// What the assessor remembers about a flow until its flow event.
#[derive(Debug, Default, Clone)]
struct FlowState {
    verdict: Option<Verdict>,
    gap_reported: bool,
    /// The flow's first AI event, judged: what a `large_upload` alert raised before the
    /// flow ends is about.
    first_ai: Option<Arc<Event>>,
    /// Bytes to the server already added to the upload tally.
    counted: u64,
}

/// What one internal host moved to or from one AI product (sent, for `large_upload`) or
/// model hub (received, for `model_download`) in the current window of its rule.
#[derive(Debug, Clone, Copy)]
struct Tally {
    start: Timestamp,
    bytes: u64,
    flows: u64,
    fired: bool,
}

/// Landing, policy and alerts, in front of an event sink.
pub struct Assessor<S> {
    landing: Arc<LandingContext>,
    policy: Option<Arc<Policy>>,
    inner: S,
    sinks: Vec<Box<dyn AlertSink>>,
    dedup: Deduper,
    flows: HashMap<u64, FlowState>,
    /// (internal host, vendor) pairs seen, for `new_ai_flow`.
    pairs: HashSet<(IpAddr, String)>,
    /// Pairs an inventory recorded before this run.
    known: KnownPairs,
    /// Upload tallies by (internal host, vendor, product), for `large_upload`.
    uploads: HashMap<(IpAddr, String, String), Tally>,
    /// Download tallies by (internal host, hub vendor), for `model_download`.
    downloads: HashMap<(IpAddr, String), Tally>,
    /// The latest judged AI event of each (vendor, product) seen: what a
    /// `vendor_terms_changed` alert is raised on. Bounded by the products the signature
    /// databases know.
    products: HashMap<(String, String), Arc<Event>>,
    stats: AssessStats,
    pending: Vec<Event>,
}

impl<S: EventSink> Assessor<S> {
    /// An assessor writing events to `inner` and alerts also to `sinks`.
    pub fn new(
        landing: Arc<LandingContext>,
        policy: Option<Arc<Policy>>,
        inner: S,
        sinks: Vec<Box<dyn AlertSink>>,
    ) -> Self {
        let window = policy.as_ref().map_or(0, |p| p.dedup_window);
        Self {
            landing,
            policy,
            inner,
            sinks,
            dedup: Deduper::new(window),
            flows: HashMap::new(),
            pairs: HashSet::new(),
            known: KnownPairs::default(),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            products: HashMap::new(),
            stats: AssessStats::default(),
            pending: Vec::new(),
        }
    }

    /// Treats the pairs an inventory already recorded as known: no `new_ai_flow` for them.
    pub fn set_known_pairs(&mut self, known: KnownPairs) {
        self.known = known;
    }

    /// Judges with `landing` from now on (reloaded GeoIP databases or tables).
    pub fn set_landing(&mut self, landing: Arc<LandingContext>) {
        self.landing = landing;
    }

    /// Applies `policy` from now on; flows already judged keep their verdict.
    pub fn set_policy(&mut self, policy: Option<Arc<Policy>>) {
        self.dedup
            .set_window(policy.as_ref().map_or(0, |p| p.dedup_window));
        self.policy = policy;
    }

    /// What each alert sink did so far, with its kind.
    pub fn sink_stats(&self) -> Vec<(&'static str, SinkStats)> {
        self.sinks.iter().map(|s| (s.kind(), s.stats())).collect()
    }

    /// Lets time pass without an event: deduplication windows that ended by `now` write
    /// their summaries.
    ///
    /// # Errors
    /// The inner sink's or an alert sink's I/O errors.
    pub fn tick(&mut self, now: Timestamp) -> io::Result<()> {
        let mut summaries = Vec::new();
        self.dedup.expire(now, &mut summaries);
        for s in summaries {
            self.emit_alert(s)?;
        }
        Ok(())
    }

    /// Writes the summaries of every open deduplication window, lets the sinks deliver
    /// what they hold, and returns the counters.
    ///
    /// # Errors
    /// The inner sink's or an alert sink's I/O errors.
    pub fn finish(self) -> io::Result<AssessStats> {
        let (mut stats, mut sinks, closed, _) = self.close();
        closed?;
        for sink in &mut sinks {
            stats.sinks.push(sink.finish()?);
        }
        Ok(stats)
    }

    /// Writes the summaries of every open deduplication window and hands back the alert
    /// sinks unfinished and the inner sink, so a stopping sensor can let the sinks deliver
    /// while the inventory writes its last batch. The result says whether the summaries
    /// were written.
    pub fn close(mut self) -> (AssessStats, Vec<Box<dyn AlertSink>>, io::Result<()>, S) {
        let mut summaries = Vec::new();
        self.dedup.flush(&mut summaries);
        let written = summaries.into_iter().try_for_each(|s| self.emit_alert(s));
        self.stats.suppressed = self.dedup.suppressed();
        (self.stats, self.sinks, written, self.inner)
    }

    fn emit_alert(&mut self, alert: Event) -> io::Result<()> {
        if let Body::Alert(a, _) = &alert.body {
            let n = self.stats.alerts.entry(a.rule.as_str()).or_default();
            *n = n.saturating_add(1);
            if !self.sinks.is_empty() {
                let json = serde_json::to_vec(&alert)?;
                for sink in &mut self.sinks {
                    sink.alert(a.severity, &json)?;
                }
            }
        }
        self.inner.event(alert)
    }

    /// Queues an alert for `finding` on the flow of `event`, unless it repeats one in
    /// the current window.
    fn raise(
        &mut self,
        event: &Event,
        finding: Finding,
        verdict: Verdict,
        landing: Option<&Landing>,
    ) {
        self.raise_at(
            event,
            event.header.timestamp,
            finding,
            verdict,
            landing,
            None,
        );
    }

    /// [`Self::raise`] at time `now`, with the upload figures of a `large_upload` alert.
    fn raise_at(
        &mut self,
        event: &Event,
        now: Timestamp,
        finding: Finding,
        verdict: Verdict,
        landing: Option<&Landing>,
        upload: Option<UploadInfo>,
    ) {
        let (rule, about) = (finding.rule, finding.about);
        let alert = Event {
            header: event.header.clone(),
            body: Body::Alert(
                AlertInfo {
                    upload,
                    ..occurrence(finding, verdict, now)
                },
                event.body.raised_on(),
            ),
            ai: event.ai.clone(),
            landing: landing.cloned(),
            verdict: Some(verdict),
        };
        let key = DedupKey {
            rule,
            host: about,
            vendor: event.ai.as_ref().map(|a| a.vendor.clone()),
            product: event.ai.as_ref().map(|a| a.product.clone()),
            landing: landing.and_then(|l| l.country.clone()),
        };
        if self.dedup.admit(key, now, &alert, &mut self.pending) {
            self.pending.push(alert);
        }
    }

    /// Judges an AI event's flow, once per flow.
    fn judge_ai(&mut self, event: &Event, landing: &Landing) -> Option<Verdict> {
        let ai = event.ai.as_ref()?;
        let policy = Arc::clone(self.policy.as_ref()?);
        let h = &event.header;
        // A model server someone runs is judged inside the network too: that is where
        // most of them are.
        let self_hosted = ai.kind == Kind::SelfHostedAi.as_str();
        if !(policy.is_egress(h.src_ip, h.dest_ip) || self_hosted && policy.is_internal(h.src_ip)) {
            return None;
        }
        let state = self.flows.entry(h.flow_id).or_default();
        if let Some(v) = state.verdict {
            return Some(v);
        }
        if self_hosted {
            let judgement =
                policy.judge_self_hosted(h.src_ip, ai, SocketAddr::new(h.dest_ip, h.dest_port));
            state.verdict = Some(judgement.verdict);
            let mut first = event.clone();
            first.landing = Some(landing.clone());
            first.verdict = Some(judgement.verdict);
            state.first_ai = Some(Arc::new(first));
            let n = self
                .stats
                .verdicts
                .entry(judgement.verdict.as_str())
                .or_default();
            *n = n.saturating_add(1);
            for f in judgement.findings {
                self.raise(event, f, judgement.verdict, Some(landing));
            }
            return Some(judgement.verdict);
        }
        if ai.vendor_level() {
            // One of a vendor's own domains with no product established (its site, its
            // accounts, a sub-host not documented yet): a visit is no transfer to a model,
            // so no verdict and none of the rules about choosing or reaching one. Only the
            // bytes count: a large upload to any of a vendor's domains is data sent to it.
            if state.first_ai.is_none() {
                let mut first = event.clone();
                first.landing = Some(landing.clone());
                state.first_ai = Some(Arc::new(first));
            }
            return None;
        }
        let judgement = policy.judge(h.src_ip, ai, landing);
        let verdict = judgement.verdict;
        state.verdict = Some(verdict);
        let mut first = event.clone();
        first.landing = Some(landing.clone());
        first.verdict = Some(verdict);
        let first = Arc::new(first);
        self.products
            .insert((ai.vendor.clone(), ai.product.clone()), Arc::clone(&first));
        if !ai.indirect() {
            state.first_ai = Some(first);
        }
        let n = self.stats.verdicts.entry(verdict.as_str()).or_default();
        *n = n.saturating_add(1);
        // Source addresses come from packets: bound the set, at the price of calling a
        // pair new again after it is cleared.
        if self.pairs.len() >= MAX_PAIRS {
            tracing::warn!(
                pairs = MAX_PAIRS,
                "Too many (host, vendor) pairs to remember; starting afresh."
            );
            self.pairs.clear();
        }
        if !ai.indirect()
            && self.pairs.insert((h.src_ip, ai.vendor.clone()))
            && !self.known.contains(h.src_ip, &ai.vendor)
            && let Some(f) = policy.new_flow(h.src_ip, ai, landing)
        {
            self.raise(event, f, verdict, Some(landing));
        }
        for f in judgement.findings {
            self.raise(event, f, verdict, Some(landing));
        }
        Some(verdict)
    }

    /// Takes the bytes open AI flows have sent so far (`(flow id, bytes to the server)`),
    /// so a large upload is reported while its flow is still open.
    ///
    /// # Errors
    /// The inner sink's or an alert sink's I/O errors.
    pub fn upload_progress(&mut self, sent: &[(u64, u64)], now: Timestamp) -> io::Result<()> {
        for &(flow_id, bytes) in sent {
            self.count_upload(flow_id, bytes, now, None);
        }
        for alert in std::mem::take(&mut self.pending) {
            self.emit_alert(alert)?;
        }
        Ok(())
    }

    /// Adds what the flow sent since last counted to its (host, vendor, product) tally, and
    /// raises `large_upload` when the tally passes its limit within the window. `ended`
    /// is the flow's record, when it ended.
    fn count_upload(&mut self, flow_id: u64, bytes: u64, now: Timestamp, ended: Option<&Event>) {
        let Some(policy) = self.policy.as_ref().map(Arc::clone) else {
            return;
        };
        let Some(state) = self.flows.get_mut(&flow_id) else {
            return;
        };
        let Some(first) = state.first_ai.as_deref() else {
            return;
        };
        let Some(ai) = first.ai.as_ref().filter(|ai| !ai.indirect()) else {
            return;
        };
        let delta = bytes.saturating_sub(state.counted);
        let new_flow = state.counted == 0;
        state.counted = state.counted.max(bytes);
        if delta == 0 {
            return;
        }
        let src = first.header.src_ip;
        if self.uploads.len() >= MAX_PAIRS {
            tracing::warn!(
                tallies = MAX_PAIRS,
                "Too many (host, product) upload tallies to keep; starting afresh."
            );
            self.uploads.clear();
        }
        let tally = self
            .uploads
            .entry((src, ai.vendor.clone(), ai.product.clone()))
            .or_insert(Tally {
                start: now,
                bytes: 0,
                flows: 0,
                fired: false,
            });
        if now.micros_since(tally.start) > policy.large_upload.window {
            *tally = Tally {
                start: now,
                bytes: 0,
                flows: 0,
                fired: false,
            };
        }
        tally.bytes = tally.bytes.saturating_add(delta);
        if new_flow {
            tally.flows = tally.flows.saturating_add(1);
        }
        let limit = policy.large_upload.limit(ai.kind);
        if tally.fired || tally.bytes <= limit {
            return;
        }
        tally.fired = true;
        let tally = *tally;
        let Some(finding) = policy.large_upload(src, ai, tally.bytes, tally.flows) else {
            return;
        };
        let about = ended.unwrap_or(first).clone();
        let verdict = first.verdict.unwrap_or(Verdict::Approved);
        let landing = first.landing.clone();
        let upload = UploadInfo {
            bytes_toserver: tally.bytes,
            flows: tally.flows,
            limit,
            window_seconds: u64::try_from(policy.large_upload.window / 1_000_000).unwrap_or(0),
            window_start: tally.start,
        };
        self.raise_at(
            &about,
            now,
            finding,
            verdict,
            landing.as_ref(),
            Some(upload),
        );
    }

    /// The `model_download` event of a finished flow to a model hub that brought in
    /// enough to be one, after adding it to its (host, hub) tally for the policy's
    /// `model_download` rule.
    fn model_download(&mut self, flow_event: &Event, f: &FlowInfo) -> Option<Event> {
        let ai = flow_event.ai.as_ref()?;
        if ai.kind != Kind::ModelHub.as_str() {
            return None;
        }
        let info = ModelDownloadInfo::of(f)?;
        let mut header = flow_event.header.clone();
        header.timestamp = f.end;
        let event = Event {
            header,
            body: Body::ModelDownload(info),
            ai: flow_event.ai.clone(),
            landing: flow_event.landing.clone(),
            verdict: flow_event.verdict,
        };
        let src = flow_event.header.src_ip;
        let Some(policy) = self
            .policy
            .as_ref()
            .map(Arc::clone)
            .filter(|p| p.is_internal(src))
        else {
            return Some(event);
        };
        if self.downloads.len() >= MAX_PAIRS {
            self.downloads.clear();
        }
        let tally = self
            .downloads
            .entry((src, ai.vendor.clone()))
            .or_insert(Tally {
                start: f.start,
                bytes: 0,
                flows: 0,
                fired: false,
            });
        if f.end.micros_since(tally.start) > policy.model_download.window {
            *tally = Tally {
                start: f.start,
                bytes: 0,
                flows: 0,
                fired: false,
            };
        }
        tally.bytes = tally.bytes.saturating_add(f.bytes_toclient);
        tally.flows = tally.flows.saturating_add(1);
        if tally.fired || tally.bytes <= policy.model_download.bytes {
            return Some(event);
        }
        tally.fired = true;
        let (bytes, flows) = (tally.bytes, tally.flows);
        if let Some(finding) = policy.model_download(src, ai, bytes, flows) {
            let verdict = Verdict::of(finding.rule);
            let landing = event.landing.clone();
            self.raise_at(&event, f.end, finding, verdict, landing.as_ref(), None);
        }
        Some(event)
    }

    /// Raises one `vendor_terms_changed` alert per product seen in use that `changes`
    /// (from the database in use before to `now_db`) touch, on the product's latest judged
    /// flow, naming every changed fact with its old and new value.
    ///
    /// # Errors
    /// The inner sink's or an alert sink's I/O errors.
    pub fn terms_changed(
        &mut self,
        changes: &[FactChange],
        now_db: &Database,
        now: Timestamp,
    ) -> io::Result<usize> {
        let Some(policy) = self.policy.as_ref().map(Arc::clone) else {
            return Ok(0);
        };
        let mut by_product: BTreeMap<(&str, &str), Vec<FactChange>> = BTreeMap::new();
        for c in changes {
            by_product
                .entry((c.vendor.as_str(), c.product.as_str()))
                .or_default()
                .push(c.clone());
        }
        let mut raised: usize = 0;
        for ((vendor, product), terms) in by_product {
            let Some(last) = self.products.get(&(vendor.to_owned(), product.to_owned())) else {
                continue;
            };
            let Some(old_ai) = last.ai.as_ref() else {
                continue;
            };
            let ai = now_db
                .classify_host(&old_ai.host, MatchSource::Query)
                .unwrap_or_else(|| old_ai.clone());
            let what = terms
                .iter()
                .map(FactChange::sentence)
                .collect::<Vec<_>>()
                .join("; ");
            let what = format!("{what} (signature database {}).", now_db.version);
            let Some(finding) = policy.terms_changed(last.header.src_ip, &ai, &what) else {
                continue;
            };
            let rule = finding.rule;
            let mut header = last.header.clone();
            header.timestamp = now;
            let alert = Event {
                header,
                body: Body::Alert(
                    AlertInfo {
                        terms,
                        ..occurrence(finding, Verdict::of(rule), now)
                    },
                    last.body.raised_on(),
                ),
                ai: Some(ai),
                landing: last.landing.clone(),
                verdict: last.verdict,
            };
            self.emit_alert(alert)?;
            raised = raised.saturating_add(1);
        }
        Ok(raised)
    }

    /// Reports what hides a flow's destination, once per flow.
    fn check_visibility(&mut self, event: &Event) {
        let Some(policy) = self.policy.as_ref().map(Arc::clone) else {
            return;
        };
        let h = &event.header;
        if !policy.is_egress(h.src_ip, h.dest_ip)
            || self.flows.get(&h.flow_id).is_some_and(|s| s.gap_reported)
        {
            return;
        }
        let Some(reason) = visibility_gap(&policy, h, &event.body, event.ai.as_ref()) else {
            return;
        };
        self.flows.entry(h.flow_id).or_default().gap_reported = true;
        if let Some(f) = policy.visibility_gap(h.src_ip, reason) {
            self.raise(event, f, Verdict::Review, None);
        }
    }
}

/// The alert for one occurrence of `finding` at `now`, on a flow judged `verdict`.
fn occurrence(finding: Finding, verdict: Verdict, now: Timestamp) -> AlertInfo {
    AlertInfo {
        rule: finding.rule,
        severity: finding.severity,
        verdict,
        reason: finding.reason,
        policy: finding.policy,
        count: 1,
        summary: false,
        first_seen: now,
        last_seen: now,
        upload: None,
        terms: Vec::new(),
    }
}

/// Why an event shows a blind spot, if it does.
fn visibility_gap(
    policy: &Policy,
    h: &Header,
    body: &Body,
    ai: Option<&crate::ai::AiInfo>,
) -> Option<String> {
    // Written into a reason only when there is one; IPv6 in brackets.
    let server = std::net::SocketAddr::new(h.dest_ip, h.dest_port);
    if let Some(hello) = body.client_hello() {
        let HelloView {
            sni,
            ech,
            alpn,
            transport,
        } = hello;
        if let Some(name) = sni.filter(|n| policy.is_doh_resolver(n)) {
            return Some(format!(
                "{} resolves names over DNS-over-HTTPS at {name} ({server}), so the names of the servers it reaches are hidden from DNS monitoring.",
                h.src_ip
            ));
        }
        if alpn.iter().any(|a| a == "dot") {
            return Some(format!(
                "{} resolves names over DNS-over-TLS at {server}, so the names of the servers it reaches are hidden from DNS monitoring.",
                h.src_ip
            ));
        }
        if ech && sni.is_none_or(|n| policy.is_ech_public_name(n)) {
            let to = sni.unwrap_or("a server without a public name");
            // Classified all the same when DNS named the address: say what happened.
            return Some(
                match ai.filter(|ai| ai.match_source != "sni" && ai.match_source != "quic_sni") {
                    Some(ai) => format!(
                        "{} sent a {transport} Encrypted Client Hello to {to} ({server}); the hello's real server name is encrypted, so the flow was classified as {} by {} {}, not by the hello.",
                        h.src_ip,
                        format_args!("{} {}", ai.vendor_name, ai.product),
                        match ai.match_source {
                            "dns_name" => "the name a DNS answer gave the address,",
                            "ip_range" => "the vendor's published address range,",
                            _ => "another name of the flow,",
                        },
                        ai.matched
                    ),
                    None => format!(
                        "{} sent a {transport} Encrypted Client Hello to {to} ({server}); the real server name is encrypted and cannot be classified.",
                        h.src_ip
                    ),
                },
            );
        }
        return None;
    }
    if let Body::Flow(f) = body {
        if f.hello_unreadable {
            return Some(format!(
                "{} started a ClientHello to {server} that could not be read (segments lost or cut short), so its destination is unclassified.",
                h.src_ip
            ));
        }
        if h.proto == Transport::Tcp
            && h.dest_port == policy.visibility.dot_port
            && f.pkts_toserver > 0
        {
            return Some(format!(
                "{} talked to {server}, the DNS-over-TLS port, so the names of the servers it reaches may be hidden from DNS monitoring.",
                h.src_ip
            ));
        }
    }
    None
}

impl<S: EventSink> EventSink for Assessor<S> {
    fn event(&mut self, mut event: Event) -> io::Result<()> {
        let now: Timestamp = event.header.timestamp;
        let mut summaries = Vec::new();
        self.dedup.expire(now, &mut summaries);
        for s in summaries {
            self.emit_alert(s)?;
        }
        if event.body.about_its_flow() {
            if let Some(ai) = &event.ai {
                let landing = self.landing.judge(ai, event.header.dest_ip);
                event.verdict = self.judge_ai(&event, &landing);
                event.landing = Some(landing);
            }
            self.check_visibility(&event);
        }
        let mut download = None;
        if let Body::Flow(f) = &event.body {
            self.count_upload(event.header.flow_id, f.bytes_toserver, f.end, Some(&event));
            self.flows.remove(&event.header.flow_id);
            download = self.model_download(&event, f);
        }
        let alerts = std::mem::take(&mut self.pending);
        self.inner.event(event)?;
        if let Some(download) = download {
            self.inner.event(download)?;
        }
        for alert in alerts {
            self.emit_alert(alert)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::tls::TlsInfo;
    use crate::signatures::{Database, MatchSource};

    fn ech_hello_to(sni: &str) -> Body {
        Body::Tls(TlsInfo {
            sni: Some(sni.to_owned()),
            alpn: vec!["h2".into()],
            version: None,
            client_version: "TLS 1.3".into(),
            ech: true,
            malformed: false,
            resumption: false,
            pq_key_share: true,
            ja4: String::new(),
        })
    }

    #[test]
    fn an_ech_hello_classified_by_dns_says_so() {
        let db = Database::embedded().unwrap();
        let policy = Policy::parse(
            "deploy/policy.toml",
            include_str!("../deploy/policy.toml"),
            &db,
        )
        .unwrap();
        let header = Header::sample(1, Timestamp::from_micros(0));
        let body = ech_hello_to("cloudflare-ech.com");
        let by_dns = db.classify_host("chatgpt.com", MatchSource::DnsName);
        assert!(by_dns.is_some());
        let said = visibility_gap(&policy, &header, &body, by_dns.as_ref()).unwrap();
        assert!(
            said.contains("classified as OpenAI") && said.contains("a DNS answer gave"),
            "{said}"
        );
        let unnamed = visibility_gap(&policy, &header, &body, None).unwrap();
        assert!(unnamed.contains("cannot be classified"), "{unnamed}");
    }
}
