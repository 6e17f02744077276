//! Alerts: the one vocabulary of rules, their severities, the verdict on a flow, and the
//! deduplication that keeps one alert per (rule, internal host, vendor, product, landing)
//! and window.

pub mod dedup;
pub mod sinks;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The generator id of aigress's alerts: the `gid` Suricata gives its text rules, so
/// (`gid`, `signature_id`) reads as a rule id in any SIEM that knows Suricata.
pub const GID: u32 = 1;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An AI vendor or product the policy does not approve (or not from this network).
    UnapprovedAiVendor,
    /// The data lands outside the allowed jurisdictions (by default: the EEA and
    /// countries with an adequacy decision).
    NonEeaLanding,
    /// Where the data lands cannot be told.
    UnknownLanding,
    /// An endpoint that trains on inputs by default, reached from a network the policy
    /// guards.
    TrainingEndpoint,
    /// The first flow from an internal host to a vendor.
    NewAiFlow,
    /// Something hides where traffic goes: ECH to a shared name, an encrypted DNS
    /// resolver, a ClientHello that could not be read.
    VisibilityGap,
    /// One internal host sent more than the policy's limit to one AI product within its
    /// window: pasted records, uploaded files.
    LargeUpload,
    /// An internal network uses a SaaS whose AI features send customer data on to AI
    /// sub-processors, and the policy does not approve the SaaS with its AI.
    SaasAiSubprocessor,
    /// A new signature database changed a fact of a product the sensor has seen in use:
    /// training, retention, EU residency, processing location, headquarters, the DPA's
    /// SCCs, sub-processors, or who runs its hosts.
    VendorTermsChanged,
    /// An internal host called a model server that someone runs (an Ollama, vLLM or
    /// OpenAI-compatible API, recognised by its request line) and the policy does not list
    /// the server as approved. Off unless the policy turns it on.
    SelfHostedAi,
    /// One internal host downloaded more than the policy's size from one model hub within
    /// its window: model weights brought into the network.
    ModelDownload,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Self::UnapprovedAiVendor,
        Self::NonEeaLanding,
        Self::UnknownLanding,
        Self::TrainingEndpoint,
        Self::NewAiFlow,
        Self::VisibilityGap,
        Self::LargeUpload,
        Self::SaasAiSubprocessor,
        Self::VendorTermsChanged,
        Self::SelfHostedAi,
        Self::ModelDownload,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnapprovedAiVendor => "unapproved_ai_vendor",
            Self::NonEeaLanding => "non_eea_landing",
            Self::UnknownLanding => "unknown_landing",
            Self::TrainingEndpoint => "training_endpoint",
            Self::NewAiFlow => "new_ai_flow",
            Self::VisibilityGap => "visibility_gap",
            Self::LargeUpload => "large_upload",
            Self::SaasAiSubprocessor => "saas_ai_subprocessor",
            Self::VendorTermsChanged => "vendor_terms_changed",
            Self::SelfHostedAi => "self_hosted_ai",
            Self::ModelDownload => "model_download",
        }
    }

    /// The rule's `signature_id`: stable, never reused for another rule. The block
    /// 9,441,001–9,441,999 is aigress's, apart from the ranges rule sets allocate (local
    /// rules 1,000,000–1,999,999, Emerging Threats 2,000,000–2,999,999).
    pub fn signature_id(self) -> u32 {
        match self {
            Self::UnapprovedAiVendor => 9_441_001,
            Self::NonEeaLanding => 9_441_002,
            Self::UnknownLanding => 9_441_003,
            Self::TrainingEndpoint => 9_441_004,
            Self::NewAiFlow => 9_441_005,
            Self::VisibilityGap => 9_441_006,
            Self::LargeUpload => 9_441_007,
            Self::SaasAiSubprocessor => 9_441_008,
            Self::VendorTermsChanged => 9_441_009,
            Self::SelfHostedAi => 9_441_010,
            Self::ModelDownload => 9_441_011,
        }
    }

    /// The revision of the rule's meaning; raised when what makes it fire changes.
    pub fn rev(self) -> u32 {
        1
    }

    /// The rule as a one-line signature, in the style of Suricata rule messages.
    pub fn signature(self) -> &'static str {
        match self {
            Self::UnapprovedAiVendor => "AIGRESS POLICY AI service not approved by policy",
            Self::NonEeaLanding => "AIGRESS POLICY AI data lands outside the allowed jurisdictions",
            Self::UnknownLanding => "AIGRESS INFO AI data landing location unknown",
            Self::TrainingEndpoint => "AIGRESS POLICY AI endpoint trains on inputs by default",
            Self::NewAiFlow => "AIGRESS INFO First AI flow from internal host to vendor",
            Self::VisibilityGap => "AIGRESS INFO Traffic destination hidden from inspection",
            Self::LargeUpload => "AIGRESS POLICY Large upload to AI service",
            Self::SaasAiSubprocessor => "AIGRESS POLICY SaaS passes data to AI sub-processors",
            Self::VendorTermsChanged => "AIGRESS POLICY Terms changed for an AI product in use",
            Self::SelfHostedAi => "AIGRESS POLICY Self-hosted model server not approved by policy",
            Self::ModelDownload => "AIGRESS POLICY Large model download from a model hub",
        }
    }

    /// The rule's class, in the words of Suricata's `classification.config`, so alerts
    /// group with other tools' privacy-violation and informational alerts.
    pub fn category(self) -> &'static str {
        match self {
            Self::UnapprovedAiVendor
            | Self::NonEeaLanding
            | Self::TrainingEndpoint
            | Self::LargeUpload
            | Self::SaasAiSubprocessor
            | Self::VendorTermsChanged
            | Self::SelfHostedAi => "Potential Corporate Privacy Violation",
            Self::UnknownLanding | Self::NewAiFlow | Self::VisibilityGap | Self::ModelDownload => {
                "Misc activity"
            }
        }
    }

    /// The rule is about a network's use of a service rather than one host's, so its
    /// alerts are deduplicated per network: a SaaS everyone uses is one alert, not one per
    /// host.
    pub fn is_about_a_network(self) -> bool {
        matches!(self, Self::SaasAiSubprocessor)
    }

    /// Position in [`Rule::ALL`], for per-rule tables.
    pub fn index(self) -> usize {
        match self {
            Self::UnapprovedAiVendor => 0,
            Self::NonEeaLanding => 1,
            Self::UnknownLanding => 2,
            Self::TrainingEndpoint => 3,
            Self::NewAiFlow => 4,
            Self::VisibilityGap => 5,
            Self::LargeUpload => 6,
            Self::SaasAiSubprocessor => 7,
            Self::VendorTermsChanged => 8,
            Self::SelfHostedAi => 9,
            Self::ModelDownload => 10,
        }
    }
}

/// How urgent an alert is; `off` in a policy turns a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Off,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Suricata's numeric severity (its rule priority): 1 is the most urgent, 3 the
    /// least.
    pub fn number(self) -> u8 {
        match self {
            Self::Critical | Self::High => 1,
            Self::Medium => 2,
            Self::Off | Self::Info | Self::Low => 3,
        }
    }
}

/// The policy's verdict on a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approved, and no rule fired.
    Approved,
    /// Approved, but something needs a person's look (unknown landing).
    Review,
    /// Approved vendor, but the flow breaks a rule (landing, training).
    Violation,
    /// The vendor or product is not approved for this source.
    Unapproved,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Review => "review",
            Self::Violation => "violation",
            Self::Unapproved => "unapproved",
        }
    }

    /// The verdict a rule firing gives a flow.
    pub fn of(rule: Rule) -> Self {
        match rule {
            Rule::UnapprovedAiVendor => Self::Unapproved,
            Rule::NonEeaLanding | Rule::TrainingEndpoint | Rule::LargeUpload => Self::Violation,
            Rule::UnknownLanding
            | Rule::VisibilityGap
            | Rule::SaasAiSubprocessor
            | Rule::VendorTermsChanged
            | Rule::SelfHostedAi
            | Rule::ModelDownload => Self::Review,
            Rule::NewAiFlow => Self::Approved,
        }
    }
}

/// The `alert` object of an alert event (written by [`crate::event::Event`]'s serializer,
/// which adds Suricata's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertInfo {
    pub rule: Rule,
    pub severity: Severity,
    /// The verdict on the flow that raised it.
    pub verdict: Verdict,
    /// One sentence saying what happened and why it matters.
    pub reason: String,
    /// The policy entry that decided (`approve[2]`, `landing.allowed`, …).
    pub policy: String,
    /// Occurrences this alert stands for: 1 for the first, the number of repeats for a
    /// summary.
    pub count: u64,
    /// This alert summarises repeats suppressed within the deduplication window.
    pub summary: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// What a `large_upload` alert counted.
    pub upload: Option<UploadInfo>,
    /// What a `vendor_terms_changed` alert is about: each fact's old and new value.
    pub terms: Vec<crate::signatures::diff::FactChange>,
}

/// The figures behind a `large_upload` alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UploadInfo {
    /// Bytes the host sent the product within the window (frames on the wire).
    pub bytes_toserver: u64,
    /// Flows that carried them.
    pub flows: u64,
    /// The policy's limit for the product's kind.
    pub limit: u64,
    pub window_seconds: u64,
    /// When the window began.
    #[serde(serialize_with = "crate::time::serialize_eve")]
    pub window_start: Timestamp,
}
