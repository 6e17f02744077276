//! Destinations the signature database does not know, ranked by the data internal hosts
//! send them, in fixed memory.
//!
//! Every finished flow that sent data to a named server no signature matches adds its
//! bytes to the server's registered domain (eTLD+1 by the Public Suffix List, `psl`) in a
//! Space-Saving sketch of [`CAPACITY`] domains ([`super::sketch`]). Each kept domain also
//! keeps flows, first and last seen, a name seen under it, the internal hosts that sent
//! (up to [`HOSTS_KEPT`] between two writes) and [`Hints`] that it may be an AI service,
//! each named so a reader can judge it. The inventory writes what changed since its last
//! batch; a domain that loses its slot loses what it gathered since then, which is at most
//! the sketch's error.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use serde::Serialize;

use super::sketch::SpaceSaving;
use crate::ai::{AiInfo, Kind};
use crate::event::{Body, Event};
use crate::inventory::backend::{UnknownHostRow, UnknownRow};
use crate::protocols::flow::FlowInfo;
use crate::time::Timestamp;

/// Registered domains kept at once.
pub const CAPACITY: usize = 2048;
/// Internal hosts kept per domain between two writes of the inventory.
pub const HOSTS_KEPT: usize = 32;
/// Flows waiting for their end with the JA4 of their ClientHello, at most.
const PENDING_FINGERPRINTS: usize = 65_536;
/// JA4 fingerprints seen on flows to known AI APIs, at most.
const AI_FINGERPRINTS: usize = 1024;

/// Why a domain may be an AI service: each a named, checkable observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Hints(u8);

impl Hints {
    /// The domain is under `.ai`.
    pub const AI_TLD: Hints = Hints(1);
    /// A label of the registered domain carries an AI word (`gpt`, `llm`, `chat`, `ai`…).
    pub const AI_WORD: Hints = Hints(1 << 1);
    /// The ClientHello's JA4 was also seen on flows to known AI APIs: the same client
    /// software (an SDK, an agent) talks to both.
    pub const AI_CLIENT_FINGERPRINT: Hints = Hints(1 << 2);
    /// A small upload answered for seconds in many small pieces: how a model streams its
    /// tokens.
    pub const TOKEN_STREAM: Hints = Hints(1 << 3);

    const NAMES: [(Hints, &'static str); 4] = [
        (Self::AI_TLD, "ai_tld"),
        (Self::AI_WORD, "ai_word"),
        (Self::AI_CLIENT_FINGERPRINT, "ai_client_fingerprint"),
        (Self::TOKEN_STREAM, "token_stream"),
    ];

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    pub fn contains(self, other: Hints) -> bool {
        self.0 & other.0 == other.0
    }

    fn insert(&mut self, other: Hints) {
        self.0 |= other.0;
    }

    /// The hints' names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(h, _)| self.contains(*h))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Words that mark a label as AI's, matched anywhere in it.
const AI_SUBSTRINGS: &[&str] = &[
    "gpt",
    "llm",
    "genai",
    "openai",
    "copilot",
    "chatbot",
    "prompt",
    "inference",
    "neural",
    "embedding",
    "diffusion",
    "agentic",
];
/// Words that mark a label as AI's only as a whole part of it (between dashes or dots),
/// being too short or too common inside other words.
const AI_TOKENS: &[&str] = &[
    "ai", "ml", "chat", "agent", "agents", "model", "models", "bot", "llama", "mistral",
];

/// A streamed answer: this long at least (microseconds), …
const STREAM_MIN_MICROS: i64 = 2_000_000;
/// … with this many packets to the client at least, …
const STREAM_MIN_PACKETS: u64 = 16;
/// … this small on average (bytes), …
const STREAM_MAX_PACKET_BYTES: u64 = 600;
/// … to an upload this small at most.
const STREAM_MAX_UPLOAD: u64 = 256 * 1024;

/// What one kept domain gathered since the inventory last took it.
#[derive(Debug, Default)]
pub struct Gathered {
    /// A full name seen under the domain (`api.example.ai`).
    pub example: String,
    pub bytes_received: u64,
    pub flows: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub hints: Hints,
    pub hosts: HashSet<String>,
    /// More hosts sent than [`HOSTS_KEPT`] since the last write.
    pub hosts_capped: bool,
    /// The count and error already written.
    written_count: u64,
    written_error: u64,
}

/// The unknown destinations of one sensor.
#[derive(Debug)]
pub struct UnknownDestinations {
    sketch: SpaceSaving<Gathered>,
    /// The JA4 of flows still open, by flow id, kept as a hash: a fixed 16 bytes a flow,
    /// and no allocation per ClientHello.
    pending: HashMap<u64, u64>,
    /// Hashes of the JA4s seen on flows to known AI APIs.
    ai_fingerprints: HashSet<u64>,
    /// Hashes JA4s, with a key of this process's so no one can aim at a collision.
    hasher: foldhash::quality::RandomState,
}

impl Default for UnknownDestinations {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl UnknownDestinations {
    pub fn new(capacity: usize) -> Self {
        Self {
            sketch: SpaceSaving::new(capacity),
            pending: HashMap::new(),
            ai_fingerprints: HashSet::new(),
            hasher: foldhash::quality::RandomState::default(),
        }
    }

    /// Whether a finished flow can add to an unknown destination: it sent data to a named
    /// server no signature knows, and is no DNS flow. Callers ask before working out the
    /// internal host the flow is recorded under.
    pub fn counts(f: &FlowInfo, ai: Option<&AiInfo>) -> bool {
        ai.is_none()
            && f.bytes_toserver > 0
            && f.app_proto != Some("dns")
            && f.sni.is_some() | f.http_host.is_some() | f.dns_name.is_some()
    }

    /// Takes in an event: a ClientHello's fingerprint for later, or a finished flow from
    /// `host` (the internal host as stored, or `None` when the source is not internal).
    pub fn observe(&mut self, event: &Event, host: Option<String>) {
        let flow_id = event.header.flow_id;
        match &event.body {
            Body::Tls(tls) if !tls.ja4.is_empty() => match &event.ai {
                Some(ai) if ai.kind == Kind::Api.as_str() => {
                    if self.ai_fingerprints.len() >= AI_FINGERPRINTS {
                        self.ai_fingerprints.clear();
                    }
                    self.ai_fingerprints
                        .insert(self.hasher.hash_one(tls.ja4.as_str()));
                }
                Some(_) => {}
                None => {
                    if self.pending.len() >= PENDING_FINGERPRINTS {
                        self.pending.clear();
                    }
                    self.pending
                        .insert(flow_id, self.hasher.hash_one(tls.ja4.as_str()));
                }
            },
            Body::Flow(f) => {
                let ja4 = self.pending.remove(&flow_id);
                if let Some(host) = host
                    && Self::counts(f, event.ai.as_ref())
                {
                    self.flow(f, ja4, host);
                }
            }
            _ => {}
        }
    }

    fn flow(&mut self, f: &FlowInfo, ja4: Option<u64>, host: String) {
        let Some(name) = f
            .sni
            .as_deref()
            .or(f.http_host.as_deref())
            .or(f.dns_name.as_deref())
        else {
            return;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let Some(domain) = registered_domain(&name) else {
            return;
        };
        let mut hints = name_hints(domain);
        if ja4.is_some_and(|j| self.ai_fingerprints.contains(&j)) {
            hints.insert(Hints::AI_CLIENT_FINGERPRINT);
        }
        if looks_streamed(f) {
            hints.insert(Hints::TOKEN_STREAM);
        }
        let Some(slot) = self.sketch.add(domain, f.bytes_toserver) else {
            return;
        };
        let g = &mut slot.value;
        if g.flows == 0 {
            g.first_seen = f.start.micros();
            g.last_seen = f.end.micros();
        }
        g.first_seen = g.first_seen.min(f.start.micros());
        g.last_seen = g.last_seen.max(f.end.micros());
        g.flows = g.flows.saturating_add(1);
        g.bytes_received = g.bytes_received.saturating_add(f.bytes_toclient);
        g.hints.insert(hints);
        if g.example.is_empty() || name.len() < g.example.len() {
            g.example = name;
        }
        if g.hosts.len() < HOSTS_KEPT {
            g.hosts.insert(host);
        } else if !g.hosts.contains(&host) {
            g.hosts_capped = true;
        }
    }

    /// What changed since the last take, as `sensor`'s inventory rows: each kept domain
    /// that gathered anything, with the bytes (and error) added to its count since, and
    /// the hosts that sent to it. The gathered values start afresh.
    pub fn take(&mut self, sensor: &str) -> (Vec<UnknownRow>, Vec<UnknownHostRow>) {
        let mut domains = Vec::new();
        let mut hosts = Vec::new();
        for (domain, count, error, g) in self.sketch.values_mut() {
            if g.flows == 0 {
                continue;
            }
            hosts.extend(g.hosts.drain().map(|internal_host| UnknownHostRow {
                sensor: sensor.to_owned(),
                domain: domain.to_owned(),
                internal_host,
                first_seen: g.first_seen,
                last_seen: g.last_seen,
            }));
            domains.push(UnknownRow {
                sensor: sensor.to_owned(),
                domain: domain.to_owned(),
                example: std::mem::take(&mut g.example),
                bytes_sent: count.saturating_sub(g.written_count),
                bytes_error: error.saturating_sub(g.written_error),
                bytes_received: std::mem::take(&mut g.bytes_received),
                flows: std::mem::take(&mut g.flows),
                first_seen: g.first_seen,
                last_seen: g.last_seen,
                hints: u64::from(std::mem::take(&mut g.hints).bits()),
                hosts_capped: std::mem::take(&mut g.hosts_capped),
            });
            g.written_count = count;
            g.written_error = error;
        }
        (domains, hosts)
    }

    /// Whether any kept domain gathered something since the last take.
    pub fn gathered(&self) -> bool {
        self.sketch.slots().iter().any(|s| s.value.flows > 0)
    }

    /// Domains that lost their slot so far.
    pub fn evicted(&self) -> u64 {
        self.sketch.evicted()
    }

    /// Domains kept now.
    pub fn len(&self) -> usize {
        self.sketch.slots().len()
    }

    pub fn is_empty(&self) -> bool {
        self.sketch.slots().is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.sketch.capacity()
    }
}

/// The registered domain of a host name (`api.example.co.uk` → `example.co.uk`); none for
/// an address literal or a bare public suffix.
pub fn registered_domain(name: &str) -> Option<&str> {
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[') {
        return None;
    }
    psl::domain_str(name)
}

/// The hints a registered domain's name gives.
pub fn name_hints(domain: &str) -> Hints {
    let mut hints = Hints::default();
    let suffix_len = psl::suffix_str(domain).map_or(0, str::len);
    if domain.ends_with(".ai") && suffix_len == 2 {
        hints.insert(Hints::AI_TLD);
    }
    let label = domain
        .len()
        .checked_sub(suffix_len.saturating_add(1))
        .and_then(|end| domain.get(..end))
        .unwrap_or(domain);
    let word = AI_SUBSTRINGS.iter().any(|w| label.contains(w))
        || label
            .split(['-', '.'])
            .flat_map(|part| part.split(|c: char| c.is_ascii_digit()))
            .any(|token| AI_TOKENS.contains(&token));
    if word {
        hints.insert(Hints::AI_WORD);
    }
    hints
}

/// A small upload answered for seconds in many small pieces.
fn looks_streamed(f: &FlowInfo) -> bool {
    f.end.micros_since(f.start) >= STREAM_MIN_MICROS
        && f.pkts_toclient >= STREAM_MIN_PACKETS
        && f.bytes_toserver <= STREAM_MAX_UPLOAD
        && f.bytes_toclient
            .checked_div(f.pkts_toclient)
            .unwrap_or(u64::MAX)
            <= STREAM_MAX_PACKET_BYTES
        && f.bytes_toclient > f.bytes_toserver
}

/// A `signatures/` file a reviewer completes for a domain confirmed as an AI service:
/// every fact still to be sourced is left out or marked, so `signatures check` refuses it
/// until it is done.
pub fn signature_stub(domain: &str, example: &str, seen: Timestamp) -> String {
    let id: String = domain
        .split('.')
        .next()
        .unwrap_or(domain)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!(
        "# signatures/{id}.toml: {domain}, seen by aigress since {date} (e.g. {example}).\n\
         # Fill in from the vendor's own pages; the sourcing rule is in signatures/README.md.\n\
         [vendor]\n\
         id = \"{id}\"\n\
         name = \"TODO: the vendor's name\"\n\
         \n\
         [[endpoints]]\n\
         id = \"{id}\"\n\
         product = \"TODO: the product\"\n\
         kind = \"TODO: api | consumer_chat | coding_assistant | saas_ai_feature | model_hosting | speech | image_video | agent | search\"\n\
         hosts = [\"{domain}\", \"*.{domain}\"]\n\
         source = \"TODO: the https page of the vendor's that names these hosts\"\n",
        date = seen.date(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        assert_eq!(
            registered_domain("api.example.co.uk"),
            Some("example.co.uk")
        );
        assert_eq!(registered_domain("chat.foo.ai"), Some("foo.ai"));
        assert_eq!(
            registered_domain("x.y.appspot.com"),
            Some("y.appspot.com"),
            "a private suffix counts as a suffix"
        );
        assert_eq!(registered_domain("10.0.0.1"), None);
        assert_eq!(registered_domain("co.uk"), None);
    }

    #[test]
    fn names_give_named_hints() {
        assert_eq!(name_hints("foo.ai").names(), vec!["ai_tld"]);
        assert_eq!(name_hints("mygpt-tools.com").names(), vec!["ai_word"]);
        assert_eq!(name_hints("acme-ai.io").names(), vec!["ai_word"]);
        assert_eq!(name_hints("chat-ai.ai").names(), vec!["ai_tld", "ai_word"]);
        assert!(name_hints("example.com").names().is_empty());
        assert!(
            name_hints("mail.com").names().is_empty(),
            "\"ai\" inside a word is not the word"
        );
    }

    #[test]
    fn a_stub_names_the_domain_and_is_refused_until_completed() {
        let stub = signature_stub("foo.ai", "api.foo.ai", Timestamp::from_micros(0));
        assert!(
            stub.contains("hosts = [\"foo.ai\", \"*.foo.ai\"]"),
            "{stub}"
        );
        let files = vec![
            ("foo.toml".to_owned(), stub),
            (
                "database.toml".to_owned(),
                "version = \"1\"\ndate = \"2026-12-06\"\n".to_owned(),
            ),
        ];
        assert!(crate::signatures::Database::from_files(&files).is_err());
    }
}
