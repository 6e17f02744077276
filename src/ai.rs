//! What the signature database says about the endpoint a flow went to: the AI facts
//! every event about an AI service carries in its `ai` object. A record below the
//! database that produces it and the stages that read it (landing, policy, outputs).

use std::collections::BTreeMap;
use std::sync::Arc;

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

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
    /// A hub or registry that model files are downloaded from (Hugging Face's file CDN,
    /// Ollama's registry): what matters is what comes in, not what goes out.
    ModelHub,
    /// A model server reached by its API's request line (`POST /v1/chat/completions`,
    /// `POST /api/chat`) on any host and port: Ollama, vLLM or an OpenAI-compatible
    /// gateway that someone runs, inside the network or outside it. Never a database
    /// endpoint: the route families in `model-servers.toml` give it.
    SelfHostedAi,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
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
        Self::ModelHub,
        Self::SelfHostedAi,
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
            Self::ModelHub => "model_hub",
            Self::SelfHostedAi => "self_hosted_ai",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the signature database says about the endpoint an event went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AiInfo {
    /// The vendor's id in the database (`openai`).
    pub vendor: String,
    pub vendor_name: String,
    pub product: String,
    /// The endpoint's id in the database.
    pub endpoint: String,
    /// `api`, `consumer_chat`, `coding_assistant`, `saas_ai_feature`, `model_hosting`,
    /// `speech`, `image_video`, `agent` or `search`.
    pub kind: &'static str,
    /// The pattern that matched: a name, `*.suffix`, a `{region}` pattern or a CIDR.
    pub matched: String,
    /// What was matched: `sni`, `quic_sni`, `http_host`, `dns_query`, `dns_name`,
    /// `ip_range` (or `query` from the command line).
    pub match_source: &'static str,
    /// The name (or address) that matched, lower case, without port or trailing dot.
    pub host: String,
    /// Whose word the endpoint's hosts rest on: `vendor` (its own docs, allowlist, SDK or
    /// site) or `third_party_list` (only a community list, a lead still to confirm).
    pub host_evidence: &'static str,
    /// `yes`, `no`, `opt_out` or `unknown`: whether inputs train the vendor's models by
    /// default. When the endpoint serves plans whose terms differ, the least protective of
    /// them (a flow may be on any), with each plan's answer in `training_by_plan`.
    pub trains_on_inputs: &'static str,
    /// Each plan's training answer, by plan name, when the endpoint serves more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_by_plan: Option<Arc<BTreeMap<String, &'static str>>>,
    /// The region the name pins (`eu-central-1`), from a `{region}` pattern.
    pub region: Option<String>,
    /// The country of that region.
    pub region_country: Option<String>,
    /// Where the vendor documents this endpoint processes data (country or `EU`).
    pub processing: Option<String>,
    /// The vendor's headquarters country, when the database has a source for it.
    pub vendor_country: Option<String>,
    /// How long the vendor keeps what is sent to this endpoint, in its words; absent when
    /// the database does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// The EU data-residency option the vendor documents for the endpoint; absent when the
    /// database does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eu_residency: Option<String>,
    /// The fields above whose fact the database infers rather than a source stating it
    /// (`trains_on_inputs`, `retention`, `eu_residency`, `processing`, `vendor_country`);
    /// absent when every fact shown is stated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<&'static str>,
    /// The version of the signature database that said all this (`database.toml`).
    pub signatures_version: Arc<str>,
    /// Present (true) when the endpoint passes requests on to other vendors' models, so
    /// its own facts are not the whole answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub routes_to_other_vendors: bool,
    /// The vendor's documented way to keep this product's data in the EEA, when the
    /// endpoint reached is not documented as being there; absent when the database has
    /// none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eea_alternative: Option<Arc<EeaAlternative>>,
    /// For an endpoint that is a SaaS whose AI features send customer data on to AI
    /// sub-processors: that AI. Written into the `ai` object as `indirect` (always) and,
    /// when present, `subprocessors`, `ai_features`, `ai_on_by_default`.
    #[serde(flatten, serialize_with = "serialize_saas")]
    pub saas: Option<Arc<SaasAi>>,
}

impl AiInfo {
    /// The AI is reached through a SaaS, not directly.
    pub fn indirect(&self) -> bool {
        self.saas.is_some()
    }

    /// The host is one of the vendor's own domains, matched at vendor level: no product
    /// of it is established (kind `vendor_other`).
    pub fn vendor_level(&self) -> bool {
        self.kind == Kind::VendorOther.as_str()
    }
}

/// `indirect`, then the SaaS's AI when there is one.
fn serialize_saas<S: Serializer>(saas: &Option<Arc<SaasAi>>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Indirect<'a> {
        indirect: bool,
        #[serde(flatten)]
        saas: Option<&'a SaasAi>,
    }
    Indirect {
        indirect: saas.is_some(),
        saas: saas.as_deref(),
    }
    .serialize(s)
}

/// What the database says about the AI behind a SaaS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaasAi {
    /// Every AI provider the SaaS's AI features may send data to.
    pub subprocessors: Vec<SubprocessorInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ai_features: Vec<String>,
    /// `yes`, `no` or `unknown`: the AI features are on unless an admin turns them off.
    pub ai_on_by_default: &'static str,
    /// What an admin checks in the SaaS's settings, in the vendor's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_settings: Option<String>,
}

impl SaasAi {
    /// The sub-processors' countries, sorted, each once; `unknown` for a sub-processor
    /// whose country the SaaS does not state.
    pub fn countries(&self) -> Vec<String> {
        let mut countries: Vec<String> = self
            .subprocessors
            .iter()
            .map(|s| s.country.clone().unwrap_or_else(|| "unknown".into()))
            .collect();
        countries.sort();
        countries.dedup();
        countries
    }
}

/// One AI sub-processor of a SaaS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubprocessorInfo {
    /// The provider's vendor id in the database, when it has one.
    pub vendor: Option<String>,
    /// The provider as the SaaS names it.
    pub name: String,
    /// Where it processes the data, when the SaaS says (country code or `EU`).
    pub country: Option<String>,
    /// Whether the provider trains on what its model APIs are sent, by default, per the
    /// database (`unknown` when its API endpoints disagree or it has none).
    pub trains_on_inputs: &'static str,
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
