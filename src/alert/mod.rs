//! Alerts: the one vocabulary of rules, their severities, the verdict on a flow, and the
//! deduplication that keeps one alert per (rule, internal host, vendor, product, landing)
//! and window.

pub mod dedup;
pub mod sinks;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

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
}

impl Rule {
    pub const ALL: [Rule; 6] = [
        Self::UnapprovedAiVendor,
        Self::NonEeaLanding,
        Self::UnknownLanding,
        Self::TrainingEndpoint,
        Self::NewAiFlow,
        Self::VisibilityGap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnapprovedAiVendor => "unapproved_ai_vendor",
            Self::NonEeaLanding => "non_eea_landing",
            Self::UnknownLanding => "unknown_landing",
            Self::TrainingEndpoint => "training_endpoint",
            Self::NewAiFlow => "new_ai_flow",
            Self::VisibilityGap => "visibility_gap",
        }
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
            Rule::NonEeaLanding | Rule::TrainingEndpoint => Self::Violation,
            Rule::UnknownLanding | Rule::VisibilityGap => Self::Review,
            Rule::NewAiFlow => Self::Approved,
        }
    }
}

/// The `alert` object of an alert event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
}
