//! What the database knows: vendors, their endpoints, and cloud region tables.

use serde::{Deserialize, Serialize};

pub use crate::ai::Kind;

/// Whose word an endpoint's hosts rest on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostEvidence {
    /// The vendor's own documentation, allowlist page, SDK or site.
    Vendor,
    /// Only a third-party list (a community AI domain list), named in `database.toml`:
    /// a lead that still wants the vendor's own word.
    ThirdPartyList,
}

impl HostEvidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vendor => "vendor",
            Self::ThirdPartyList => "third_party_list",
        }
    }
}

/// Whether the vendor trains its models on what is sent to the endpoint, by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Training {
    /// Inputs train models unless an agreement says otherwise.
    Yes,
    /// Inputs do not train models.
    No,
    /// Inputs train models unless the user or admin opts out.
    OptOut,
    /// The vendor does not say.
    Unknown,
}

impl Training {
    /// Order from most to least protective of what is sent: `no`, `unknown`, `opt_out`,
    /// `yes`.
    pub fn risk(self) -> u8 {
        match self {
            Self::No => 0,
            Self::Unknown => 1,
            Self::OptOut => 2,
            Self::Yes => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::OptOut => "opt_out",
            Self::Unknown => "unknown",
        }
    }
}

/// How a fact is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The source says it about exactly this vendor, plan or endpoint.
    Stated,
    /// Reasoned from what a source says about something else; the fact carries the
    /// reasoning.
    Inferred,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stated => "stated",
            Self::Inferred => "inferred",
        }
    }
}

/// A fact with what it rests on: the value, whether the source states it or it is
/// inferred (and why), the words it rests on, where they are and when they were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact<T> {
    pub value: T,
    pub basis: Basis,
    /// Why the value follows from the source, for an inferred fact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The source's words the fact rests on: a quotation or a close summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    pub source: String,
    /// When the source was read (`YYYY-MM-DD`).
    pub read: String,
    /// The source's own date (last updated, effective), where it shows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_date: Option<String>,
}

impl<T> Fact<T> {
    pub fn inferred(&self) -> bool {
        self.basis == Basis::Inferred
    }
}

/// What a vendor's data processing agreement says about the EU Standard Contractual
/// Clauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sccs {
    /// The SCC modules the DPA names (2 = controller to processor, 3 = processor to
    /// processor); empty when it names none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<u8>,
    /// Which data the clauses cover, in short (`EEA and UK personal data`, `UK data only;
    /// EEA transfers on SCCs in other agreements or an adequacy decision`).
    pub data: String,
}

/// One offer of a vendor under which data is handled the same way (free, paid, team,
/// enterprise, API): the facts that differ by plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// Whether inputs train the vendor's models by default; absent when no source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<Fact<Training>>,
    /// How long inputs are kept, in the vendor's words, short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<Fact<String>>,
    /// Whether and how the vendor keeps this plan's data in the EU, in its words (`none`
    /// when it says there is no such option).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eu_residency: Option<Fact<String>>,
}

impl Plan {
    pub fn training(&self) -> Training {
        self.training
            .as_ref()
            .map_or(Training::Unknown, |f| f.value)
    }
}

/// An AI vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    /// Headquarters, ISO 3166-1 alpha-2, when a source says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headquarters: Option<Fact<String>>,
    /// The data processing agreement.
    pub dpa: Option<String>,
    /// The list of sub-processors.
    pub subprocessors: Option<String>,
    /// The policy on how customer data is used.
    pub data_use: Option<String>,
    /// What the DPA says about the Standard Contractual Clauses; absent when no source
    /// says it uses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpa_sccs: Option<Fact<Sccs>>,
    /// The vendor's plans that its endpoints serve.
    #[serde(skip)]
    pub plans: Vec<Plan>,
    /// The file it was loaded from.
    #[serde(skip)]
    pub file: String,
}

impl Vendor {
    /// The headquarters' country code.
    pub fn country(&self) -> Option<&str> {
        self.headquarters.as_ref().map(|f| f.value.as_str())
    }
}

/// An endpoint of a vendor: one product reached at one or more host patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: String,
    /// Index of the vendor in [`super::Database::vendors`].
    #[serde(skip)]
    pub vendor: usize,
    pub product: String,
    pub kind: Kind,
    /// Exact names, `*.suffix` wildcards and `{region}` patterns.
    pub hosts: Vec<String>,
    pub source: String,
    /// The vendor's plans this endpoint serves: its training, retention and EU residency
    /// facts. Empty when no source says anything about them.
    pub plans: Vec<Plan>,
    /// Where the vendor documents that this endpoint processes data (ISO country code or
    /// `EU`), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing: Option<Fact<String>>,
    /// The endpoint passes requests on to other vendors' models (OpenRouter, Hugging Face
    /// Inference Providers, AI gateways): its own facts are not the whole answer.
    pub routes_to_other_vendors: bool,
    /// Who says the vendor runs these hosts: the vendor itself, or only a third-party list.
    pub host_evidence: HostEvidence,
    /// The region table the `{region}` placeholder is looked up in.
    pub regions: Option<String>,
    /// The SaaS's AI features, when the endpoint is a SaaS (`kind = "saas"`).
    pub ai_features: Vec<String>,
    /// Whether the SaaS's AI features are on unless an admin turns them off.
    pub ai_on_by_default: Option<(Training, String)>,
    /// What an admin checks in the SaaS's settings, in the vendor's words, with its source.
    pub admin_settings: Option<(String, String)>,
    /// The AI sub-processors the SaaS's AI features may send customer data to. Non-empty
    /// makes the endpoint an indirect AI flow.
    pub subprocessors: Vec<Subprocessor>,
    /// Address ranges the vendor publishes for the endpoint.
    pub cidrs: Vec<ipnet::IpNet>,
    pub cidr_source: Option<String>,
}

impl Endpoint {
    /// Whether inputs train the vendor's models by default on this endpoint. When its
    /// plans differ, the least protective: a flow to it may be on any of them.
    pub fn training(&self) -> Training {
        self.plans
            .iter()
            .map(Plan::training)
            .max_by_key(|t| t.risk())
            .unwrap_or(Training::Unknown)
    }

    /// The plans' retention, one per plan that states it, named by plan when several do.
    pub fn retention(&self) -> Option<String> {
        per_plan(&self.plans, |p| p.retention.as_ref())
    }

    /// The plans' EU residency options, named by plan when several state one.
    pub fn eu_residency(&self) -> Option<String> {
        per_plan(&self.plans, |p| p.eu_residency.as_ref())
    }

    /// The facts shown for this endpoint that are inferred, by their event field names,
    /// with the reasoning.
    pub fn inferred<'a>(&'a self, vendor: Option<&'a Vendor>) -> Vec<(&'static str, &'a str)> {
        fn why<T>(f: &Fact<T>) -> &str {
            f.reasoning.as_deref().unwrap_or_default()
        }
        let mut facts = Vec::new();
        let answer = self.training();
        if let Some(f) = self
            .plans
            .iter()
            .filter_map(|p| p.training.as_ref())
            .find(|f| f.value == answer && f.inferred())
        {
            facts.push(("trains_on_inputs", why(f)));
        }
        let plan_facts: [(&'static str, PlanFact); 2] = [
            ("retention", |p| p.retention.as_ref()),
            ("eu_residency", |p| p.eu_residency.as_ref()),
        ];
        for (name, fact) in plan_facts {
            if let Some(f) = self.plans.iter().filter_map(fact).find(|f| f.inferred()) {
                facts.push((name, why(f)));
            }
        }
        if let Some(f) = self.processing.as_ref().filter(|f| f.inferred()) {
            facts.push(("processing", why(f)));
        }
        if let Some(f) = vendor
            .and_then(|v| v.headquarters.as_ref())
            .filter(|f| f.inferred())
        {
            facts.push(("vendor_country", why(f)));
        }
        facts
    }

    /// The names of [`Self::inferred`]'s facts.
    pub fn inferred_facts(&self, vendor: Option<&Vendor>) -> Vec<&'static str> {
        self.inferred(vendor).into_iter().map(|(n, _)| n).collect()
    }
}

/// Picks one of a plan's text facts.
type PlanFact = fn(&Plan) -> Option<&Fact<String>>;

/// One plan's text, or, when the endpoint serves several plans, each stating plan's
/// prefixed with its name (unless all plans state the same).
fn per_plan(plans: &[Plan], fact: impl Fn(&Plan) -> Option<&Fact<String>>) -> Option<String> {
    let stated: Vec<(&str, &str)> = plans
        .iter()
        .filter_map(|p| fact(p).map(|f| (p.name.as_str(), f.value.as_str())))
        .collect();
    match stated.as_slice() {
        [] => None,
        [(_, text)] if plans.len() == 1 => Some((*text).to_owned()),
        [(_, first), rest @ ..]
            if plans.len() == stated.len() && rest.iter().all(|(_, t)| t == first) =>
        {
            Some((*first).to_owned())
        }
        _ => Some(
            stated
                .iter()
                .map(|(plan, text)| format!("{plan}: {text}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// An AI provider a SaaS passes customer data to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subprocessor {
    /// The provider's vendor id in the database, when it has one.
    pub vendor: Option<String>,
    /// The provider as the SaaS's sub-processor list names it.
    pub name: String,
    /// Where it processes the data (ISO 3166-1 alpha-2 or `EU`), when the list says.
    pub country: Option<String>,
    /// What the SaaS uses it for, as the list says.
    pub purpose: Option<String>,
    pub source: String,
    pub basis: Basis,
    /// When the SaaS's list was read (`YYYY-MM-DD`).
    pub read: String,
}

/// A cloud provider's regions and the countries they are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionTable {
    pub id: String,
    pub source: String,
    /// Region id → ISO 3166-1 alpha-2 country.
    pub regions: std::collections::BTreeMap<String, String>,
}
