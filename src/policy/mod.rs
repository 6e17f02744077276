//! The organisation's AI policy: which addresses are internal, which vendors and products
//! are approved (and from where), where data may land, which training endpoints to guard,
//! the alert severities, exceptions, and what counts as a visibility gap.
//!
//! Evaluation is pure: facts about a flow in, findings out. State (new flows,
//! deduplication) lives with the caller.

mod load;

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::ai::{AiInfo, SaasAi};
use crate::alert::{Rule, Severity, Verdict};
use crate::landing::{Landing, TransferLists};
use crate::signatures::{Kind, Training};

pub use load::PolicyError;

/// A named group of internal networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub nets: Vec<IpNet>,
}

/// Where a rule applies from: every internal host, or the hosts of named groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Internal,
    /// Indexes into [`Policy::groups`].
    Groups(Vec<usize>),
}

/// An approval: a vendor, optionally narrowed to endpoints, kinds and source groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub vendor: String,
    /// Endpoint ids; empty means all of the vendor's endpoints.
    pub endpoints: Vec<String>,
    /// Kinds; empty means all.
    pub kinds: Vec<Kind>,
    pub from: From,
    /// Its position in the file, for alerts (`approve[1]`).
    pub label: String,
    /// Why it was approved (a DPA, a ticket).
    pub note: Option<String>,
    /// For a SaaS: its AI features, and the sub-processors they use, are approved too.
    pub ai: bool,
}

/// Jurisdictions data may land in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Eea,
    Adequacy,
    Country(String),
}

/// An exception: a rule that does not fire for some vendor, endpoint or source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// `None` for every rule.
    pub rule: Option<Rule>,
    pub vendor: Option<String>,
    pub endpoint: Option<String>,
    pub from: From,
    pub hosts: Vec<IpNet>,
    pub reason: String,
    pub label: String,
}

/// What counts as a visibility gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Outer SNIs of ECH client-facing servers: an ECH hello to one hides its real name.
    pub ech_public_names: Vec<String>,
    /// Host names of DNS-over-HTTPS resolvers.
    pub doh_resolvers: Vec<String>,
    /// The DNS-over-TLS port.
    pub dot_port: u16,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from.
    pub file: String,
    pub internal: Vec<IpNet>,
    pub groups: Vec<Group>,
    pub approvals: Vec<Approval>,
    pub allowed: Vec<Allowed>,
    /// Vendors the organisation has confirmed as certified under the EU-US Data Privacy
    /// Framework.
    pub dpf_certified: Vec<String>,
    /// Replaces the built-in adequacy list when set.
    pub adequacy: Option<Vec<String>>,
    pub training_from: From,
    pub training_trains: Vec<Training>,
    /// Kinds the training rule covers; empty means all.
    pub training_kinds: Vec<Kind>,
    pub severities: [Severity; Rule::ALL.len()],
    pub exceptions: Vec<Exception>,
    /// Microseconds.
    pub dedup_window: i64,
    pub visibility: Visibility,
    pub large_upload: LargeUpload,
    pub model_download: ModelDownload,
    pub self_hosted: SelfHosted,
    /// Judge a SaaS's AI sub-processor countries against `landing.allowed` too.
    pub judge_subprocessors: bool,
}

/// How much one internal host may send to one AI product within a window before
/// `large_upload` fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeUpload {
    /// Microseconds.
    pub window: i64,
    /// The limit for kinds without their own.
    pub default_bytes: u64,
    /// Limits by kind, overriding the default.
    pub by_kind: Vec<(Kind, u64)>,
}

impl Default for LargeUpload {
    /// An hour; 2 MiB to a consumer chat app (a long paste or a document), 20 MiB to an API
    /// or coding assistant (which send context all day), 50 MiB to speech and image or
    /// video services (audio and pictures are large by nature), 10 MiB to the rest.
    fn default() -> Self {
        const MIB: u64 = 1 << 20;
        Self {
            window: 3_600_000_000,
            default_bytes: 10 * MIB,
            by_kind: vec![
                (Kind::ConsumerChat, 2 * MIB),
                (Kind::Api, 20 * MIB),
                (Kind::CodingAssistant, 20 * MIB),
                (Kind::Speech, 50 * MIB),
                (Kind::ImageVideo, 50 * MIB),
            ],
        }
    }
}

impl LargeUpload {
    /// The limit for a kind (`ai.kind`).
    pub fn limit(&self, kind: &str) -> u64 {
        self.by_kind
            .iter()
            .find(|(k, _)| k.as_str() == kind)
            .map_or(self.default_bytes, |(_, bytes)| *bytes)
    }

    pub(crate) fn set(&mut self, kind: Kind, bytes: u64) {
        match self.by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some(entry) => entry.1 = bytes,
            None => self.by_kind.push((kind, bytes)),
        }
    }
}

/// How much one internal host may download from one model hub within a window before
/// `model_download` fires (when the policy turns the rule on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDownload {
    /// Microseconds.
    pub window: i64,
    pub bytes: u64,
}

impl Default for ModelDownload {
    /// A gigabyte in an hour: one model of a few billion parameters, or many small ones.
    fn default() -> Self {
        Self {
            window: 3_600_000_000,
            bytes: 1 << 30,
        }
    }
}

/// The model servers the organisation runs, whose calls are approved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfHosted {
    pub approved: Vec<IpNet>,
    /// Their ports; empty means any.
    pub ports: Vec<u16>,
}

impl SelfHosted {
    pub fn approves(&self, server: SocketAddr) -> bool {
        self.approved.iter().any(|n| n.contains(&server.ip()))
            && (self.ports.is_empty() || self.ports.contains(&server.port()))
    }
}

/// One rule that fired for a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub reason: String,
    /// The policy entry that decided.
    pub policy: String,
    /// Whom the alert is about, for deduplication: the internal host, or for a rule about
    /// a network's use of a service ([`Rule::is_about_a_network`]) the host's network.
    pub about: IpAddr,
}

/// The policy's judgement on an AI flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

impl Policy {
    /// The policy's adequacy list and DPF-certified vendors, for the jurisdiction tables.
    pub fn transfer_lists(&self) -> TransferLists<'_> {
        TransferLists {
            adequacy: self.adequacy.as_deref(),
            dpf_certified: &self.dpf_certified,
        }
    }

    /// The severity a rule alerts with (`Off` when disabled).
    pub fn severity(&self, rule: Rule) -> Severity {
        self.severities
            .get(rule.index())
            .copied()
            .unwrap_or(Severity::Off)
    }

    pub fn is_internal(&self, ip: IpAddr) -> bool {
        self.internal.iter().any(|n| n.contains(&ip))
    }

    /// Traffic from an internal host to an address outside the organisation.
    pub fn is_egress(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.is_internal(src) && !self.is_internal(dst)
    }

    /// The names of the groups `ip` is in.
    pub fn groups_of(&self, ip: IpAddr) -> Vec<&str> {
        self.groups
            .iter()
            .filter(|g| g.nets.iter().any(|n| n.contains(&ip)))
            .map(|g| g.name.as_str())
            .collect()
    }

    fn applies(&self, from: &From, ip: IpAddr) -> bool {
        match from {
            From::Internal => self.is_internal(ip),
            From::Groups(groups) => groups.iter().any(|g| {
                self.groups
                    .get(*g)
                    .is_some_and(|g| g.nets.iter().any(|n| n.contains(&ip)))
            }),
        }
    }

    /// "in the servers network", or "an internal host".
    fn membership(&self, ip: IpAddr) -> String {
        let groups = self.groups_of(ip);
        match groups.as_slice() {
            [] => "an internal host".into(),
            [one] => format!("in the {one} network"),
            many => format!("in the {} networks", many.join(", ")),
        }
    }

    fn describe_from(&self, from: &From) -> String {
        match from {
            From::Internal => "any internal host".into(),
            From::Groups(groups) => groups
                .iter()
                .filter_map(|g| self.groups.get(*g).map(|g| g.name.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The exception that silences `rule` for this flow, if any.
    fn exception(&self, rule: Rule, src: IpAddr, ai: Option<&AiInfo>) -> Option<&Exception> {
        self.exceptions.iter().find(|e| {
            e.rule.is_none_or(|r| r == rule)
                && e.vendor
                    .as_deref()
                    .is_none_or(|v| ai.is_some_and(|a| a.vendor == v))
                && e.endpoint
                    .as_deref()
                    .is_none_or(|x| ai.is_some_and(|a| a.endpoint == x))
                && self.applies(&e.from, src)
                && (e.hosts.is_empty() || e.hosts.iter().any(|n| n.contains(&src)))
        })
    }

    /// Adds `rule` unless it is off or excepted.
    fn fire(
        &self,
        findings: &mut Vec<Finding>,
        rule: Rule,
        src: IpAddr,
        ai: Option<&AiInfo>,
        policy: String,
        reason: String,
    ) {
        findings.extend(self.finding(rule, src, ai, &policy, || reason));
    }

    /// The finding of `rule` for a flow from `src`, unless the rule is off or excepted;
    /// `reason` is written only when the rule fires.
    fn finding(
        &self,
        rule: Rule,
        src: IpAddr,
        ai: Option<&AiInfo>,
        policy: &str,
        reason: impl FnOnce() -> String,
    ) -> Option<Finding> {
        let severity = self.severity(rule);
        if severity == Severity::Off || self.exception(rule, src, ai).is_some() {
            return None;
        }
        let about = if rule.is_about_a_network() {
            self.network_of(src)
        } else {
            src
        };
        Some(Finding {
            rule,
            severity,
            reason: reason(),
            policy: policy.to_owned(),
            about,
        })
    }

    /// The approval that covers this flow, or why none does.
    fn approval(&self, src: IpAddr, ai: &AiInfo) -> Result<&Approval, String> {
        let mut vendor_approved_elsewhere: Option<&Approval> = None;
        for a in self.approvals.iter().filter(|a| a.vendor == ai.vendor) {
            let endpoint_ok = a.endpoints.is_empty() || a.endpoints.contains(&ai.endpoint);
            let kind_ok = a.kinds.is_empty() || a.kinds.iter().any(|k| k.as_str() == ai.kind);
            if endpoint_ok && kind_ok {
                if self.applies(&a.from, src) {
                    return Ok(a);
                }
                vendor_approved_elsewhere.get_or_insert(a);
            }
        }
        Err(match vendor_approved_elsewhere {
            Some(a) => format!(
                "which the policy approves only from {} ({})",
                self.describe_from(&a.from),
                a.label
            ),
            None if self.approvals.iter().any(|a| a.vendor == ai.vendor) => {
                format!(
                    "a product of {} the policy does not approve",
                    ai.vendor_name
                )
            }
            None => "a vendor the policy does not approve".into(),
        })
    }

    fn landing_allowed(&self, landing: &Landing) -> bool {
        let Some(country) = &landing.country else {
            return true;
        };
        self.allowed.iter().any(|a| match a {
            Allowed::Eea => landing.eea,
            Allowed::Adequacy => landing.adequacy,
            Allowed::Country(c) => c == country,
        })
    }

    /// Judges an egress flow from `src` to the AI endpoint `ai` landing in `landing`.
    pub fn judge(&self, src: IpAddr, ai: &AiInfo, landing: &Landing) -> Judgement {
        if let Some(saas) = ai.saas.as_deref() {
            return self.judge_saas(src, ai, saas, landing);
        }
        let mut findings = Vec::new();
        let what = format!("{} ({}, {})", ai.vendor_name, ai.product, ai.kind);
        let approved = self.approval(src, ai);
        if let Err(why) = &approved {
            self.fire(
                &mut findings,
                Rule::UnapprovedAiVendor,
                src,
                Some(ai),
                "approve".into(),
                format!("{src} sent data to {what}, {why}."),
            );
        }
        let place = landing_phrase(landing);
        match &landing.country {
            Some(country) if !self.landing_allowed(landing) => {
                let regime = if country == "US" && !landing.adequacy {
                    format!(
                        "outside the EEA, and the US adequacy decision covers only vendors certified under the Data Privacy Framework, which the policy does not confirm for {}",
                        ai.vendor_name
                    )
                } else {
                    "outside the EEA and the jurisdictions the policy allows".into()
                };
                self.fire(
                    &mut findings,
                    Rule::NonEeaLanding,
                    src,
                    Some(ai),
                    "landing.allowed".into(),
                    format!(
                        "Data from {src} to {what} lands in {country} ({place}), {regime}.{}",
                        eea_alternative_phrase(ai)
                    ),
                );
            }
            Some(_) => {}
            None => self.fire(
                &mut findings,
                Rule::UnknownLanding,
                src,
                Some(ai),
                "landing".into(),
                format!(
                    "Where data from {src} to {what} lands is unknown: {place}, and the database documents no processing location or headquarters for {}.{}",
                    ai.vendor_name,
                    eea_alternative_phrase(ai)
                ),
            ),
        }
        let trains = self
            .training_trains
            .iter()
            .any(|t| t.as_str() == ai.trains_on_inputs);
        let kind_guarded = self.training_kinds.is_empty()
            || self.training_kinds.iter().any(|k| k.as_str() == ai.kind);
        if trains && kind_guarded && self.applies(&self.training_from, src) {
            let how = match ai.trains_on_inputs {
                "yes" => "trains the vendor's models on its inputs",
                _ => "trains the vendor's models on its inputs unless the account opts out",
            };
            self.fire(
                &mut findings,
                Rule::TrainingEndpoint,
                src,
                Some(ai),
                "training".into(),
                format!(
                    "{src}, {}, reached {what}, an endpoint that {how}.",
                    self.membership(src)
                ),
            );
        }
        let verdict = findings
            .iter()
            .map(|f| Verdict::of(f.rule))
            .max()
            .unwrap_or(Verdict::Approved)
            .max(if approved.is_ok() {
                Verdict::Approved
            } else {
                Verdict::Unapproved
            });
        Judgement { verdict, findings }
    }

    /// Judges a flow to a SaaS whose AI runs at sub-processors: the rules about choosing an
    /// AI vendor do not apply (nobody chose one); what matters is whether the policy
    /// accepts the SaaS with its AI, and, when asked, where the sub-processors are.
    fn judge_saas(&self, src: IpAddr, ai: &AiInfo, saas: &SaasAi, landing: &Landing) -> Judgement {
        let mut findings = Vec::new();
        let recipients = saas
            .subprocessors
            .iter()
            .map(|s| match &s.country {
                Some(c) => format!("{} ({c})", s.name),
                None => format!("{} (country not stated)", s.name),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let features = match saas.ai_features.as_slice() {
            [] => "AI features".to_owned(),
            list => format!("AI features ({})", list.join(", ")),
        };
        let approval = self.approval(src, ai);
        let approved_with_ai = approval.as_ref().is_ok_and(|a| a.ai);
        if !approved_with_ai {
            let status = match &approval {
                Ok(a) => format!(
                    "the policy approves {} but not its AI ({})",
                    ai.product, a.label
                ),
                Err(_) => format!("the policy does not approve {} with its AI", ai.product),
            };
            let default = match saas.ai_on_by_default {
                "yes" => "AI is on by default",
                "no" => "AI is off unless an admin turns it on",
                _ => "Whether AI is on by default is not documented",
            };
            let training = match ai.trains_on_inputs {
                "yes" => format!("{} trains models on customer data", ai.vendor_name),
                "opt_out" => format!(
                    "{} trains models on customer data unless an admin opts out",
                    ai.vendor_name
                ),
                "no" => format!("{} does not train models on customer data", ai.vendor_name),
                _ => format!(
                    "whether {} trains on customer data is not documented",
                    ai.vendor_name
                ),
            };
            let check = match &saas.admin_settings {
                Some(settings) => format!(" Check the admin settings: {settings}."),
                None => format!(
                    " Check in {}'s admin settings whether AI is on and whether customer data may train models.",
                    ai.vendor_name
                ),
            };
            self.fire(
                &mut findings,
                Rule::SaasAiSubprocessor,
                src,
                Some(ai),
                "approve".into(),
                format!(
                    "{src}, {}, uses {}, whose {features} may send customer data to {recipients}; {status}. {default}; {training}.{check}",
                    self.membership(src),
                    ai.product,
                ),
            );
        }
        if self.judge_subprocessors && landing.subprocessors_eea_or_adequate == Some(false) {
            self.fire(
                &mut findings,
                Rule::NonEeaLanding,
                src,
                Some(ai),
                "landing.judge_subprocessors".into(),
                format!(
                    "Data from {src} to {} may go on to AI sub-processors outside the allowed jurisdictions: {recipients}.",
                    ai.product
                ),
            );
        }
        let verdict = findings
            .iter()
            .map(|f| Verdict::of(f.rule))
            .max()
            .unwrap_or(Verdict::Approved);
        Judgement { verdict, findings }
    }

    /// The network a host's alerts about a SaaS are counted under: the address of the
    /// narrowest internal network holding it.
    fn network_of(&self, ip: IpAddr) -> IpAddr {
        self.groups
            .iter()
            .flat_map(|g| g.nets.iter())
            .chain(self.internal.iter())
            .filter(|n| n.contains(&ip))
            .max_by_key(|n| n.prefix_len())
            .map_or(ip, IpNet::network)
    }

    /// A visibility-gap finding, when the policy has it on and no exception silences it.
    pub fn visibility_gap(&self, src: IpAddr, reason: String) -> Option<Finding> {
        self.finding(Rule::VisibilityGap, src, None, "visibility", || reason)
    }

    /// A large-upload finding: `src` sent `bytes` in `flows` flows to the product of `ai`
    /// within the window, more than the limit for its kind.
    pub fn large_upload(
        &self,
        src: IpAddr,
        ai: &AiInfo,
        bytes: u64,
        flows: u64,
    ) -> Option<Finding> {
        let window =
            std::time::Duration::from_micros(u64::try_from(self.large_upload.window).unwrap_or(0));
        self.finding(Rule::LargeUpload, src, Some(ai), "alerts.large_upload", || {
            format!(
                "{src} sent {} to {} ({}, {}) in {flows} flow{} within {}, more than the {} the policy allows for {} in that time.",
                bytesize::ByteSize(bytes).display().iec(),
                ai.vendor_name,
                ai.product,
                ai.kind,
                if flows == 1 { "" } else { "s" },
                humantime::format_duration(window),
                bytesize::ByteSize(self.large_upload.limit(ai.kind)).display().iec(),
                ai.kind,
            )
        })
    }

    /// A terms-changed finding for the product of `ai`, last used by `src`; `what` says
    /// what changed.
    pub fn terms_changed(&self, src: IpAddr, ai: &AiInfo, what: &str) -> Option<Finding> {
        self.finding(
            Rule::VendorTermsChanged,
            src,
            Some(ai),
            "alerts.severity.vendor_terms_changed",
            || {
                format!(
                    "The signature database now says of {} ({}), last used by {src}: {what}",
                    ai.vendor_name, ai.product
                )
            },
        )
    }

    /// A new-flow finding for the first flow from `src` to the vendor of `ai`.
    pub fn new_flow(&self, src: IpAddr, ai: &AiInfo, landing: &Landing) -> Option<Finding> {
        self.finding(
            Rule::NewAiFlow,
            src,
            Some(ai),
            "alerts.severity.new_ai_flow",
            || {
                format!(
                    "First flow seen from {src} to {} ({}, {}); its data lands in {}.",
                    ai.vendor_name,
                    ai.product,
                    ai.kind,
                    landing.country.as_deref().unwrap_or("an unknown place")
                )
            },
        )
    }

    /// Judges a call from `src` to a model server recognised by its routes (`ai` of kind
    /// `self_hosted_ai`) at `server`: approved when the policy lists the server, else
    /// `review`, with a `self_hosted_ai` alert when the policy turns the rule on.
    pub fn judge_self_hosted(&self, src: IpAddr, ai: &AiInfo, server: SocketAddr) -> Judgement {
        if self.self_hosted.approves(server) {
            return Judgement {
                verdict: Verdict::Approved,
                findings: Vec::new(),
            };
        }
        let findings = self
            .finding(Rule::SelfHostedAi, src, Some(ai), "self_hosted.approved", || {
                let place = if self.is_internal(server.ip()) {
                    "inside the network"
                } else {
                    "outside the network"
                };
                format!(
                    "{src} called a model server at {server}, {place} ({}, `{}`), which self_hosted.approved does not list.",
                    ai.product, ai.matched
                )
            })
            .into_iter()
            .collect();
        Judgement {
            verdict: Verdict::of(Rule::SelfHostedAi),
            findings,
        }
    }

    /// The `model_download` alert for `bytes` downloaded by `src` from the hub `ai` in
    /// `flows` flows within the window, when the rule is on.
    pub fn model_download(
        &self,
        src: IpAddr,
        ai: &AiInfo,
        bytes: u64,
        flows: u64,
    ) -> Option<Finding> {
        let window = std::time::Duration::from_micros(
            u64::try_from(self.model_download.window).unwrap_or(0),
        );
        self.finding(Rule::ModelDownload, src, Some(ai), "alerts.model_download", || {
            format!(
                "{src} downloaded {} from {} ({}) in {flows} flow{} within {}, more than the {} the policy allows.",
                bytesize::ByteSize(bytes).display().iec(),
                ai.vendor_name,
                ai.product,
                if flows == 1 { "" } else { "s" },
                humantime::format_duration(window),
                bytesize::ByteSize(self.model_download.bytes).display().iec(),
            )
        })
    }

    /// Whether `name` is a DNS-over-HTTPS resolver the policy knows.
    pub fn is_doh_resolver(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        self.visibility
            .doh_resolvers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
    }

    /// Whether `name` is the public name of an ECH client-facing server.
    pub fn is_ech_public_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        self.visibility
            .ech_public_names
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
    }
}

/// How the landing was judged, for a reason sentence.
fn landing_phrase(landing: &Landing) -> String {
    use crate::landing::Basis;
    match landing.basis {
        Basis::HostnameRegion => "from the region in the host name".into(),
        Basis::VendorDocumented => "as the vendor documents for this endpoint".into(),
        Basis::Geoip => format!(
            "by GeoIP of the server address, confidence {}",
            landing.confidence.as_str()
        ),
        Basis::VendorHeadquarters => match &landing.front_door {
            Some(door) => format!(
                "the vendor's headquarters, since the address is a {door} front door whose location says nothing"
            ),
            None => "the vendor's headquarters, since the address has no GeoIP answer".into(),
        },
        Basis::Unknown => match &landing.front_door {
            Some(door) => format!("the address is a {door} front door"),
            None => "the address has no GeoIP answer".into(),
        },
    }
}
/// " The vendor documents an EEA alternative: …" when the database has one.
fn eea_alternative_phrase(ai: &AiInfo) -> String {
    ai.eea_alternative
        .as_ref()
        .map(|alt| {
            format!(
                " {} documents an EEA alternative: {} ({}).",
                ai.vendor_name, alt.name, alt.source
            )
        })
        .unwrap_or_default()
}
