//! What the database knows: vendors, their endpoints, and cloud region tables.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A model API for developers and integrations.
    Api,
    /// A chat app for people (ChatGPT, Claude.ai, Gemini).
    ConsumerChat,
    /// Code completion and coding agents.
    CodingAssistant,
    /// An AI feature inside a SaaS product (writing, meeting notes, translation).
    SaasAiFeature,
    /// A platform that hosts or routes to models (inference providers, cloud AI platforms).
    ModelHosting,
    /// Speech recognition and synthesis.
    Speech,
    /// Image and video generation.
    ImageVideo,
    /// Autonomous agents acting on the user's behalf.
    Agent,
    /// AI search and answer engines.
    Search,
    /// A business SaaS whose AI features send customer data on to AI sub-processors from
    /// the SaaS's own servers: the AI is reached indirectly.
    Saas,
    /// One of an AI vendor's own domains where no product is established (its website,
    /// accounts, docs, a sub-host not documented yet): the flow is the vendor's, so a new
    /// sub-host of a known vendor is seen, but not that data went to a model.
    VendorOther,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Self::Api,
        Self::ConsumerChat,
        Self::CodingAssistant,
        Self::SaasAiFeature,
        Self::ModelHosting,
        Self::Speech,
        Self::ImageVideo,
        Self::Agent,
        Self::Search,
        Self::Saas,
        Self::VendorOther,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::ConsumerChat => "consumer_chat",
            Self::CodingAssistant => "coding_assistant",
            Self::SaasAiFeature => "saas_ai_feature",
            Self::ModelHosting => "model_hosting",
            Self::Speech => "speech",
            Self::ImageVideo => "image_video",
            Self::Agent => "agent",
            Self::Search => "search",
            Self::Saas => "saas",
            Self::VendorOther => "vendor_other",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::OptOut => "opt_out",
            Self::Unknown => "unknown",
        }
    }
}

/// An AI vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vendor {
    pub id: String,
    pub name: String,
    /// Headquarters, ISO 3166-1 alpha-2, when a source says it.
    pub country: Option<String>,
    pub country_source: Option<String>,
    /// The data processing agreement.
    pub dpa: Option<String>,
    /// The list of sub-processors.
    pub subprocessors: Option<String>,
    /// The policy on how customer data is used.
    pub data_use: Option<String>,
    /// Where it is stated that the vendor's DPA incorporates the EU Standard Contractual
    /// Clauses for transfers out of the EEA; absent when no source says so.
    pub sccs_source: Option<String>,
    /// When the vendor's facts were last checked against their sources (`YYYY-MM-DD`).
    pub checked: Option<String>,
    /// The file it was loaded from.
    #[serde(skip)]
    pub file: String,
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
    pub trains_on_inputs: Training,
    pub trains_source: Option<String>,
    /// Where the vendor documents that this endpoint processes data (ISO country code or
    /// `EU`), when it does.
    pub processing: Option<String>,
    pub processing_source: Option<String>,
    /// How long the vendor keeps what is sent to this endpoint, in its own words, short.
    pub retention: Option<String>,
    pub retention_source: Option<String>,
    /// Whether and how the vendor offers to keep this endpoint's data in the EU, in its own
    /// words, short (`eu.api.openai.com` for eligible projects; none).
    pub eu_residency: Option<String>,
    pub eu_residency_source: Option<String>,
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
}

/// A documented way to keep what is sent to a vendor's product in the EEA: the same
/// endpoint in an EEA region, a sibling endpoint the vendor says processes in the EEA, or
/// the vendor's own words on its EU option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EeaAlternative {
    /// What to switch to (`eu.api.openai.com (OpenAI API (EU data residency))`).
    pub name: String,
    pub source: String,
    /// For a `{region}` endpoint: its EEA regions, where the alternative is moot.
    #[serde(skip)]
    pub regions: Vec<String>,
}

/// A cloud provider's regions and the countries they are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionTable {
    pub id: String,
    pub source: String,
    /// Region id → ISO 3166-1 alpha-2 country.
    pub regions: std::collections::BTreeMap<String, String>,
}
