//! Reading a policy file: TOML with every problem named by file and line, and every
//! vendor, endpoint and group name checked against the signature database and the file
//! itself.

use std::collections::BTreeMap;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::{
    Allowed, Approval, Exception, From, Group, LargeUpload, ModelDownload, Policy, SelfHosted,
    Visibility,
};
use crate::alert::{Rule, Severity};
use crate::problem::{Problem, Problems, is_country};
use crate::signatures::{Database, Kind, Training};

/// The default deduplication window.
const DEFAULT_DEDUP_WINDOW: &str = "1h";

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading policy {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Problems),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    networks: NetworksSpec,
    #[serde(default)]
    approve: Vec<ApproveSpec>,
    #[serde(default)]
    landing: LandingSpec,
    #[serde(default)]
    training: TrainingSpec,
    #[serde(default)]
    visibility: VisibilitySpec,
    #[serde(default)]
    alerts: AlertsSpec,
    #[serde(default)]
    exception: Vec<ExceptionSpec>,
    #[serde(default)]
    self_hosted: SelfHostedSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SelfHostedSpec {
    /// Model servers the organisation runs: addresses or networks.
    #[serde(default)]
    approved: Vec<Spanned<String>>,
    /// Their ports; empty means any.
    #[serde(default)]
    ports: Vec<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworksSpec {
    internal: Vec<Spanned<String>>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveSpec {
    vendor: Spanned<String>,
    #[serde(default)]
    endpoints: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<Kind>,
    from: Option<Vec<Spanned<String>>>,
    note: Option<String>,
    /// For a SaaS: its AI features (and their sub-processors) are approved too.
    #[serde(default)]
    ai: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LandingSpec {
    allowed: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    dpf_certified: Vec<Spanned<String>>,
    adequacy: Option<Vec<Spanned<String>>>,
    /// Judge where a SaaS's AI sub-processors process the data, too.
    #[serde(default)]
    judge_subprocessors: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TrainingSpec {
    from: Option<Vec<Spanned<String>>>,
    trains: Option<Vec<Training>>,
    #[serde(default)]
    kinds: Vec<Kind>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VisibilitySpec {
    ech_public_names: Option<Vec<String>>,
    doh_resolvers: Option<Vec<String>>,
    dot_port: Option<u16>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertsSpec {
    dedup_window: Option<Spanned<String>>,
    #[serde(default)]
    severity: BTreeMap<Spanned<String>, Severity>,
    #[serde(default)]
    large_upload: LargeUploadSpec,
    #[serde(default)]
    model_download: ModelDownloadSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ModelDownloadSpec {
    window: Option<Spanned<String>>,
    /// How much one internal host may download from one hub within the window.
    bytes: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LargeUploadSpec {
    window: Option<Spanned<String>>,
    /// Sizes (`"2 MiB"`) by product kind, and `default` for the kinds not named.
    #[serde(default)]
    bytes: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionSpec {
    rule: Option<Spanned<String>>,
    vendor: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    from: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    reason: String,
}

/// ECH client-facing public names: Cloudflare serves ECH for its customers' sites under
/// one shared outer name.
const DEFAULT_ECH_PUBLIC_NAMES: &[&str] = &["cloudflare-ech.com"];

/// Host names of well-known public DNS-over-HTTPS resolvers; a policy replaces the list
/// with `visibility.doh_resolvers`.
const DEFAULT_DOH_RESOLVERS: &[&str] = &[
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "mozilla.cloudflare-dns.com",
    "one.one.one.one",
    "1dot1dot1dot1.cloudflare-dns.com",
    "security.cloudflare-dns.com",
    "family.cloudflare-dns.com",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.opendns.com",
    "doh.familyshield.opendns.com",
    "dns.adguard.com",
    "dns.adguard-dns.com",
    "dns.nextdns.io",
    "doh.cleanbrowsing.org",
    "dns.alidns.com",
    "doh.pub",
    "doh.mullvad.net",
    "dns.mullvad.net",
    "chrome.cloudflare-dns.com",
];

/// The DNS-over-TLS port (RFC 7858).
const DOT_PORT: u16 = 853;

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, span: std::ops::Range<usize>, entry: Option<&str>, message: String) {
        self.problems.push(Problem::at(
            self.file, self.text, span.start, entry, message,
        ));
    }

    fn nets(&mut self, list: &[Spanned<String>], entry: Option<&str>) -> Vec<IpNet> {
        let mut out = Vec::new();
        for item in list {
            let text = item.get_ref();
            let parsed = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => out.push(net.trunc()),
                Err(_) => self.problem(
                    item.span(),
                    entry,
                    format!("{text:?} is not an address or CIDR"),
                ),
            }
        }
        out
    }

    fn from(&mut self, list: Option<&[Spanned<String>]>, groups: &[Group], entry: &str) -> From {
        let Some(list) = list else {
            return From::Internal;
        };
        let mut indexes = Vec::new();
        for name in list {
            if name.get_ref() == "internal" {
                return From::Internal;
            }
            match groups.iter().position(|g| g.name == *name.get_ref()) {
                Some(i) => indexes.push(i),
                None => self.problem(
                    name.span(),
                    Some(entry),
                    format!(
                        "no network group {:?} in [networks.groups] (known: internal{})",
                        name.get_ref(),
                        groups
                            .iter()
                            .map(|g| format!(", {}", g.name))
                            .collect::<String>()
                    ),
                ),
            }
        }
        From::Groups(indexes)
    }

    fn vendor(&mut self, db: &Database, id: &Spanned<String>, entry: &str) {
        if !db.vendors.iter().any(|v| v.id == *id.get_ref()) {
            self.problem(
                id.span(),
                Some(entry),
                format!(
                    "no vendor {:?} in the signature database (see `aigress signatures list`)",
                    id.get_ref()
                ),
            );
        }
    }

    fn endpoint(&mut self, db: &Database, vendor: Option<&str>, id: &Spanned<String>, entry: &str) {
        let found = db.endpoints.iter().find(|e| e.id == *id.get_ref());
        match (found, vendor) {
            (None, _) => self.problem(
                id.span(),
                Some(entry),
                format!("no endpoint {:?} in the signature database", id.get_ref()),
            ),
            (Some(e), Some(v)) if db.vendors.get(e.vendor).is_some_and(|x| x.id != v) => self
                .problem(
                    id.span(),
                    Some(entry),
                    format!("endpoint {:?} is not a {v} endpoint", id.get_ref()),
                ),
            _ => {}
        }
    }
}

fn rule_named(name: &str) -> Option<Rule> {
    Rule::ALL.into_iter().find(|r| r.as_str() == name)
}

fn default_severity(rule: Rule) -> Severity {
    match rule {
        Rule::UnapprovedAiVendor | Rule::NonEeaLanding | Rule::TrainingEndpoint => Severity::High,
        Rule::UnknownLanding => Severity::Medium,
        Rule::VisibilityGap => Severity::Low,
        Rule::NewAiFlow => Severity::Info,
        Rule::LargeUpload => Severity::Medium,
        Rule::SaasAiSubprocessor => Severity::Low,
        Rule::VendorTermsChanged => Severity::Medium,
        // An organisation's own model servers are its business until it says otherwise.
        Rule::SelfHostedAi | Rule::ModelDownload => Severity::Off,
    }
}

impl Policy {
    /// Reads and validates a policy file against the signature database.
    ///
    /// # Errors
    /// The file cannot be read, or has problems (each named by line).
    pub fn load(path: &Path, db: &Database) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::parse(&path.display().to_string(), &text, db)?)
    }

    /// Validates policy text; `file` names it in problems.
    ///
    /// # Errors
    /// Every problem found, each with its line.
    pub fn parse(file: &str, text: &str, db: &Database) -> Result<Self, Problems> {
        let fail = |problems| Problems {
            what: "policy",
            problems,
        };
        let spec: PolicySpec =
            toml::from_str(text).map_err(|e| fail(vec![Problem::from_toml(file, text, &e)]))?;
        let mut r = Reader {
            file,
            text,
            problems: Vec::new(),
        };
        let internal = r.nets(&spec.networks.internal, Some("networks.internal"));
        if spec.networks.internal.is_empty() {
            r.problems.push(Problem {
                file: file.to_owned(),
                line: 1,
                entry: Some("networks.internal".into()),
                message: "no internal networks: nothing would count as egress".into(),
            });
        }
        let mut groups = Vec::new();
        for (name, nets) in &spec.networks.groups {
            let entry = format!("networks.groups.{name}");
            let nets = r.nets(nets, Some(&entry));
            groups.push(Group {
                name: name.clone(),
                nets,
            });
        }

        let mut approvals = Vec::new();
        for (i, a) in spec.approve.iter().enumerate() {
            let label = format!("approve[{}]", i.saturating_add(1));
            r.vendor(db, &a.vendor, &label);
            for e in &a.endpoints {
                r.endpoint(db, Some(a.vendor.get_ref()), e, &label);
            }
            let from = r.from(a.from.as_deref(), &groups, &label);
            approvals.push(Approval {
                vendor: a.vendor.get_ref().clone(),
                endpoints: a.endpoints.iter().map(|e| e.get_ref().clone()).collect(),
                kinds: a.kinds.clone(),
                from,
                label,
                note: a.note.clone(),
                ai: a.ai,
            });
        }

        let mut allowed = Vec::new();
        match &spec.landing.allowed {
            None => allowed.extend([Allowed::Eea, Allowed::Adequacy]),
            Some(list) => {
                for item in list {
                    match item.get_ref().as_str() {
                        "EEA" => allowed.push(Allowed::Eea),
                        "adequacy" => allowed.push(Allowed::Adequacy),
                        c if is_country(c) => allowed.push(Allowed::Country(c.to_owned())),
                        other => r.problem(
                            item.span(),
                            Some("landing.allowed"),
                            format!("{other:?} is not \"EEA\", \"adequacy\" or a country code"),
                        ),
                    }
                }
            }
        }
        for v in &spec.landing.dpf_certified {
            r.vendor(db, v, "landing.dpf_certified");
        }
        let adequacy = spec.landing.adequacy.as_ref().map(|list| {
            for c in list.iter().filter(|c| !is_country(c.get_ref())) {
                r.problem(
                    c.span(),
                    Some("landing.adequacy"),
                    format!("{:?} is not a country code", c.get_ref()),
                );
            }
            list.iter().map(|c| c.get_ref().clone()).collect()
        });

        let training_from = r.from(spec.training.from.as_deref(), &groups, "training");
        let training_trains = spec
            .training
            .trains
            .clone()
            .unwrap_or_else(|| vec![Training::Yes, Training::OptOut]);

        let mut severities = Rule::ALL.map(default_severity);
        for (name, severity) in &spec.alerts.severity {
            match rule_named(name.get_ref()) {
                Some(rule) => {
                    if let Some(s) = severities.get_mut(rule.index()) {
                        *s = *severity;
                    }
                }
                None => r.problem(
                    name.span(),
                    Some("alerts.severity"),
                    format!("no rule {:?} (rules: {})", name.get_ref(), rule_list()),
                ),
            }
        }
        let window_text = spec
            .alerts
            .dedup_window
            .as_ref()
            .map_or(DEFAULT_DEDUP_WINDOW, |w| w.get_ref().as_str());
        let dedup_window = match humantime::parse_duration(window_text) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => {
                let span = spec.alerts.dedup_window.as_ref().map_or(0..0, |w| w.span());
                r.problem(
                    span,
                    Some("alerts.dedup_window"),
                    format!("{window_text:?} is not a duration like \"15m\" or \"1h\": {e}"),
                );
                0
            }
        };

        let large_upload = r.large_upload(&spec.alerts.large_upload);
        let model_download = r.model_download(&spec.alerts.model_download);
        let self_hosted = SelfHosted {
            approved: r.nets(&spec.self_hosted.approved, Some("self_hosted.approved")),
            ports: spec.self_hosted.ports.clone(),
        };

        let mut exceptions = Vec::new();
        for (i, e) in spec.exception.iter().enumerate() {
            let label = format!("exception[{}]", i.saturating_add(1));
            let rule = match &e.rule {
                None => None,
                Some(name) if name.get_ref() == "*" => None,
                Some(name) => {
                    let rule = rule_named(name.get_ref());
                    if rule.is_none() {
                        r.problem(
                            name.span(),
                            Some(&label),
                            format!(
                                "no rule {:?} (rules: {}, or \"*\")",
                                name.get_ref(),
                                rule_list()
                            ),
                        );
                    }
                    rule
                }
            };
            if let Some(v) = &e.vendor {
                r.vendor(db, v, &label);
            }
            if let Some(x) = &e.endpoint {
                r.endpoint(
                    db,
                    e.vendor.as_ref().map(|v| v.get_ref().as_str()),
                    x,
                    &label,
                );
            }
            let from = r.from(e.from.as_deref(), &groups, &label);
            let hosts = r.nets(&e.hosts, Some(&label));
            exceptions.push(Exception {
                rule,
                vendor: e.vendor.as_ref().map(|v| v.get_ref().clone()),
                endpoint: e.endpoint.as_ref().map(|v| v.get_ref().clone()),
                from,
                hosts,
                reason: e.reason.clone(),
                label,
            });
        }

        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let visibility = Visibility {
            ech_public_names: spec
                .visibility
                .ech_public_names
                .clone()
                .unwrap_or_else(|| owned(DEFAULT_ECH_PUBLIC_NAMES)),
            doh_resolvers: spec
                .visibility
                .doh_resolvers
                .clone()
                .unwrap_or_else(|| owned(DEFAULT_DOH_RESOLVERS)),
            dot_port: spec.visibility.dot_port.unwrap_or(DOT_PORT),
        };

        if !r.problems.is_empty() {
            return Err(fail(r.problems));
        }
        Ok(Policy {
            file: file.to_owned(),
            internal,
            groups,
            approvals,
            allowed,
            dpf_certified: spec
                .landing
                .dpf_certified
                .iter()
                .map(|v| v.get_ref().clone())
                .collect(),
            adequacy,
            training_from,
            training_trains,
            training_kinds: spec.training.kinds.clone(),
            severities,
            exceptions,
            dedup_window,
            visibility,
            large_upload,
            model_download,
            self_hosted,
            judge_subprocessors: spec.landing.judge_subprocessors,
        })
    }
}

impl Reader<'_> {
    /// A window like `"1h"`, longer than zero.
    fn window(&mut self, w: &Spanned<String>, entry: &str) -> Option<i64> {
        match humantime::parse_duration(w.get_ref()) {
            Ok(d) if !d.is_zero() => Some(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Ok(_) => {
                self.problem(
                    w.span(),
                    Some(entry),
                    "the window must be longer than zero".into(),
                );
                None
            }
            Err(e) => {
                self.problem(
                    w.span(),
                    Some(entry),
                    format!("{:?} is not a duration like \"1h\": {e}", w.get_ref()),
                );
                None
            }
        }
    }

    /// A size like `"2 MiB"`, above zero.
    fn size(&mut self, size: &Spanned<String>, entry: &str) -> Option<u64> {
        match size.get_ref().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => Some(b.as_u64()),
            Ok(_) => {
                self.problem(size.span(), Some(entry), "the size must be above 0".into());
                None
            }
            Err(e) => {
                self.problem(
                    size.span(),
                    Some(entry),
                    format!("{:?} is not a size like \"2 MiB\": {e}", size.get_ref()),
                );
                None
            }
        }
    }

    /// `alerts.model_download`: the built-in window and size, with the policy's.
    fn model_download(&mut self, spec: &ModelDownloadSpec) -> ModelDownload {
        let mut limit = ModelDownload::default();
        if let Some(w) = spec
            .window
            .as_ref()
            .and_then(|w| self.window(w, "alerts.model_download.window"))
        {
            limit.window = w;
        }
        if let Some(b) = spec
            .bytes
            .as_ref()
            .and_then(|b| self.size(b, "alerts.model_download.bytes"))
        {
            limit.bytes = b;
        }
        limit
    }

    /// `alerts.large_upload`: the built-in limits, with the policy's window and sizes.
    fn large_upload(&mut self, spec: &LargeUploadSpec) -> LargeUpload {
        let mut limits = LargeUpload::default();
        if let Some(w) = spec
            .window
            .as_ref()
            .and_then(|w| self.window(w, "alerts.large_upload.window"))
        {
            limits.window = w;
        }
        for (name, size) in &spec.bytes {
            let entry = format!("alerts.large_upload.bytes.{}", name.get_ref());
            let Some(bytes) = self.size(size, &entry) else {
                continue;
            };
            if name.get_ref() == "default" {
                limits.default_bytes = bytes;
                continue;
            }
            match Kind::ALL.iter().find(|k| k.as_str() == name.get_ref()) {
                Some(kind) => limits.set(*kind, bytes),
                None => self.problem(
                    name.span(),
                    Some(&entry),
                    format!(
                        "no product kind {:?} (kinds: {}, or default)",
                        name.get_ref(),
                        Kind::ALL.map(Kind::as_str).join(", ")
                    ),
                ),
            }
        }
        limits
    }
}

fn rule_list() -> String {
    Rule::ALL
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
