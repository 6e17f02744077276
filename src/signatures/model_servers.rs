//! Model-serving APIs recognised by their request line on any host and port: a cleartext
//! `POST /api/chat` to 10.1.2.3:11434 is an Ollama server whoever runs it. The routes are
//! data (`signatures/model-servers.toml`, each family with the documentation that names its
//! routes), loaded with the rest of the database so a signed update can add a family.
//!
//! Only routes specific to model serving are listed: `/generate` or `/predict` alone name
//! too many ordinary web applications to call their server a model server.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use toml::Spanned;

use crate::problem::{Problem, line_of};

/// The file holding the model-server route families.
pub const MODEL_SERVERS_FILE: &str = "model-servers.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    servers: Vec<ServerSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSpec {
    id: Spanned<String>,
    name: String,
    /// Where the routes are documented.
    source: Spanned<String>,
    /// When the source was read (`YYYY-MM-DD`).
    read: String,
    /// Routes specific to model serving: one request is enough.
    routes: Vec<Spanned<String>>,
    /// Routes ordinary web applications use too: they count only beside another route of
    /// the family on the same server.
    #[serde(default)]
    supporting_routes: Vec<Spanned<String>>,
}

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}` with the literal text around it inside the segment
    /// (`{model}:predict`): any non-empty text between them.
    Placeholder {
        prefix: String,
        suffix: String,
    },
}

impl Segment {
    fn parse(text: &str) -> Option<Self> {
        let Some(open) = text.find('{') else {
            return (!text.contains('}')).then(|| Self::Literal(text.to_owned()));
        };
        let close = text.find('}')?;
        let (prefix, rest) = text.split_at(open);
        let suffix = rest.get(close.checked_sub(open)?.checked_add(1)?..)?;
        if close < open || suffix.contains(['{', '}']) {
            return None;
        }
        Some(Self::Placeholder {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Self::Literal(l) => l == text,
            Self::Placeholder { prefix, suffix } => {
                text.len() > prefix.len().saturating_add(suffix.len())
                    && text.starts_with(prefix.as_str())
                    && text.ends_with(suffix.as_str())
            }
        }
    }
}

/// A method and a path pattern (`POST /v2/models/{name}/infer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: String,
    segments: Vec<Segment>,
    /// The route as written in the database.
    pub text: String,
    /// It counts only beside another route of its family on the same server.
    pub supporting: bool,
}

impl Route {
    fn parse(text: &str, supporting: bool) -> Result<Self, String> {
        let (method, path) = text
            .split_once(' ')
            .ok_or_else(|| format!("route {text:?}: expected \"METHOD /path\""))?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("route {text:?}: the method must be upper case"));
        }
        let Some(path) = path.strip_prefix('/') else {
            return Err(format!("route {text:?}: the path must start with /"));
        };
        let segments = path
            .split('/')
            .map(|s| {
                Segment::parse(s).ok_or_else(|| {
                    format!("route {text:?}: segment {s:?} has a malformed {{placeholder}}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if segments
            .iter()
            .all(|s| matches!(s, Segment::Placeholder { .. }))
        {
            return Err(format!(
                "route {text:?}: a path of placeholders alone matches any application"
            ));
        }
        Ok(Self {
            method: method.to_owned(),
            segments,
            text: text.to_owned(),
            supporting,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if method != self.method {
            return false;
        }
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = path.split('/');
        // Bounded by the route's segments: each step consumes one of them.
        for segment in &self.segments {
            match parts.next() {
                Some(part) if segment.matches(part) => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

/// A family of model-serving routes: one server software or API convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelServer {
    /// `ollama`, `openai-compatible`, …
    pub id: String,
    pub name: String,
    pub source: String,
    pub read: String,
    pub routes: Vec<Route>,
}

/// Every model-server family of the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelServers {
    pub servers: Vec<ModelServer>,
}

/// A request recognised as a call to a model server.
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a> {
    pub server: &'a ModelServer,
    pub route: &'a Route,
}

impl ModelServers {
    /// Reads and validates the route families of `text` (the file `file`), adding every
    /// problem to `problems`.
    pub fn load(file: &str, text: &str, problems: &mut Vec<Problem>) -> Self {
        let spec: FileSpec = match toml::from_str(text) {
            Ok(spec) => spec,
            Err(e) => {
                problems.push(Problem {
                    file: file.to_owned(),
                    line: e.span().map_or(1, |s| line_of(text, s.start)),
                    entry: None,
                    message: e.message().trim().to_owned(),
                });
                return Self::default();
            }
        };
        let mut report = |span: std::ops::Range<usize>, entry: &str, message: String| {
            problems.push(Problem {
                file: file.to_owned(),
                line: line_of(text, span.start),
                entry: Some(entry.to_owned()),
                message,
            });
        };
        let mut servers: Vec<ModelServer> = Vec::new();
        for s in spec.servers {
            let id = s.id.get_ref().clone();
            if servers.iter().any(|o| o.id == id) {
                report(s.id.span(), &id, "duplicate model-server id".into());
            }
            if !s.source.get_ref().starts_with("https://") {
                report(
                    s.source.span(),
                    &id,
                    "source must be an https:// URL".into(),
                );
            }
            let mut routes = Vec::new();
            let listed = s.routes.iter().map(|r| (r, false));
            for (r, supporting) in listed.chain(s.supporting_routes.iter().map(|r| (r, true))) {
                match Route::parse(r.get_ref(), supporting) {
                    Ok(route) if routes.iter().any(|o: &Route| o.text == route.text) => {
                        report(
                            r.span(),
                            &id,
                            format!("route {:?} listed twice", route.text),
                        );
                    }
                    Ok(route) => routes.push(route),
                    Err(message) => report(r.span(), &id, message),
                }
            }
            if routes.is_empty() {
                report(s.id.span(), &id, "a family needs at least one route".into());
            }
            servers.push(ModelServer {
                id,
                name: s.name,
                source: s.source.into_inner(),
                read: s.read,
                routes,
            });
        }
        Self { servers }
    }

    /// The family and route a request line calls, if any. `path` may be in absolute form
    /// (`http://host:port/path`, as sent to a proxy); a query string is ignored.
    pub fn recognise(&self, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let path = origin_form(path);
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.servers.iter().find_map(|server| {
            let route = server.routes.iter().find(|r| r.matches(method, path))?;
            Some(RouteMatch { server, route })
        })
    }

    pub fn route_count(&self) -> usize {
        self.servers.iter().map(|s| s.routes.len()).sum()
    }
}

/// The families and routes recently seen on each server, so that a supporting route
/// counts once the same server has shown another route of its family. Shared by the
/// packet workers of a sensor (clones share it), as two requests to one server can reach
/// different workers; locked only for a request that matched a route. Bounded: a sensor
/// sees requests to arbitrary addresses, so the memory starts afresh when full, at the
/// price of a supporting route needing its companion again.
#[derive(Debug, Default, Clone)]
pub struct ServerSightings {
    seen: Arc<Mutex<HashMap<SocketAddr, Sighting>>>,
}

#[derive(Debug)]
struct Sighting {
    family: String,
    route: String,
    /// The server showed a second route of the family, or a specific one.
    corroborated: bool,
}

/// Servers remembered at most.
pub const MAX_SIGHTINGS: usize = 4096;

impl ServerSightings {
    /// Whether `hit`, a request to `server`, shows a model server: a specific route
    /// always does; a supporting route does when the server showed another route of the
    /// same family before.
    pub fn confirms(&self, server: SocketAddr, hit: RouteMatch<'_>) -> bool {
        // A worker that panicked while holding it left whole entries: keep using them.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = seen.get_mut(&server)
            && s.family == hit.server.id
        {
            s.corroborated |= !hit.route.supporting || s.route != hit.route.text;
            return s.corroborated;
        }
        if seen.len() >= MAX_SIGHTINGS {
            seen.clear();
        }
        seen.insert(
            server,
            Sighting {
                family: hit.server.id.clone(),
                route: hit.route.text.clone(),
                corroborated: !hit.route.supporting,
            },
        );
        !hit.route.supporting
    }
}

/// The path of a request target: an absolute-form target loses its scheme and authority.
fn origin_form(target: &str) -> &str {
    let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    else {
        return target;
    };
    rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/")
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(text: &str) -> ModelServers {
        let mut problems = Vec::new();
        let s = ModelServers::load("model-servers.toml", text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        s
    }

    const SAMPLE: &str = r#"
[[servers]]
id = "ollama"
name = "Ollama API"
source = "https://docs.ollama.com/api"
read = "2026-12-06"
routes = ["POST /api/chat", "POST /api/generate"]

[[servers]]
id = "kserve-v2"
name = "KServe v2 / Triton inference protocol"
source = "https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol"
read = "2026-12-06"
routes = ["POST /v2/models/{name}/infer", "POST /v1/models/{name}:predict"]
"#;

    #[test]
    fn routes_match_method_and_whole_path() {
        let s = servers(SAMPLE);
        let hit = s.recognise("POST", "/api/chat").unwrap();
        assert_eq!(hit.server.id, "ollama");
        assert_eq!(hit.route.text, "POST /api/chat");
        assert!(s.recognise("GET", "/api/chat").is_none());
        assert!(s.recognise("POST", "/api/chat/x").is_none());
        assert!(s.recognise("POST", "/api").is_none());
        assert!(s.recognise("POST", "/api/generate?stream=true").is_some());
        assert!(
            s.recognise("POST", "http://10.0.0.5:11434/api/generate")
                .is_some()
        );
    }

    #[test]
    fn placeholders_take_one_non_empty_segment() {
        let s = servers(SAMPLE);
        assert!(s.recognise("POST", "/v2/models/llama/infer").is_some());
        assert!(s.recognise("POST", "/v2/models//infer").is_none());
        assert!(s.recognise("POST", "/v2/models/a/b/infer").is_none());
        assert!(s.recognise("POST", "/v1/models/resnet:predict").is_some());
        assert!(s.recognise("POST", "/v1/models/:predict").is_none());
    }

    #[test]
    fn bad_routes_are_reported_with_their_line() {
        let mut problems = Vec::new();
        ModelServers::load(
            "model-servers.toml",
            "[[servers]]\nid = \"x\"\nname = \"X\"\nsource = \"http://x\"\nread = \"2026-12-06\"\nroutes = [\"post /a\", \"POST {a}\", \"POST /{x}\", \"POST /a/{b\"]\n",
            &mut problems,
        );
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 6, "{messages:?}");
        assert!(
            messages
                .last()
                .is_some_and(|m| m.contains("at least one route"))
        );
        assert!(problems.iter().all(|p| p.line >= 2));
    }

    #[test]
    fn a_supporting_route_counts_beside_another_of_its_family_on_the_same_server() {
        let s = servers(
            r#"
[[servers]]
id = "ollama"
name = "Ollama API"
source = "https://docs.ollama.com/api"
read = "2026-12-06"
routes = ["POST /api/blobs/sha256:{digest}"]
supporting_routes = ["POST /api/chat", "GET /api/tags"]
"#,
        );
        let sightings = ServerSightings::default();
        let a: SocketAddr = "10.0.0.5:11434".parse().unwrap();
        let b: SocketAddr = "10.0.0.6:3000".parse().unwrap();
        let chat = s.recognise("POST", "/api/chat").unwrap();
        let tags = s.recognise("GET", "/api/tags").unwrap();
        assert!(chat.route.supporting);
        assert!(!sightings.confirms(a, chat));
        assert!(
            !sightings.confirms(a, chat),
            "the same route again is no companion"
        );
        assert!(sightings.confirms(a, tags));
        assert!(
            sightings.confirms(a, chat),
            "once shown, the server stays known"
        );
        assert!(
            !sightings.confirms(b, chat),
            "another server shows nothing yet"
        );
        let blob = s.recognise("POST", "/api/blobs/sha256:abc").unwrap();
        let c: SocketAddr = "10.0.0.7:11434".parse().unwrap();
        assert!(sightings.confirms(c, blob));
        assert!(sightings.confirms(c, chat));
    }
}
