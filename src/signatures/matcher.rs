//! The compiled form of the database: answers "which endpoint is this name or address?"
//! with a handful of hash lookups, however large the database.
//!
//! - Exact names: one lookup.
//! - `*.suffix` wildcards: one lookup per parent of the name, longest first, so
//!   `api.openai.com.example.net` is looked up as `openai.com.example.net`,
//!   `com.example.net`, … and never matches `*.openai.com`.
//! - `{region}` patterns: keyed by the fixed text after the placeholder's label
//!   (`amazonaws.com` for `bedrock-runtime.{region}.amazonaws.com`); each label of the name
//!   looks up the rest of the name after it — a slice of the name, no allocation — and the
//!   few candidates compare the labels before it and the text around the placeholder.
//! - CIDRs: one lookup per prefix length present in the table, longest first.
//!
//! Precedence: exact, then region patterns, then the longest wildcard.

use std::collections::HashMap;
use std::net::IpAddr;

use super::load::{Loaded, Problem};

#[derive(Debug, Clone, Copy)]
struct Target {
    endpoint: usize,
    pattern: usize,
}

#[derive(Debug, Clone)]
struct RegionTarget {
    target: Target,
    /// The labels before the placeholder's label, joined with dots.
    head: String,
    /// Text around the placeholder within its label (`{region}-aiplatform` → "", "-aiplatform").
    prefix: String,
    suffix: String,
}

/// A match: the endpoint, the pattern that matched and the region it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    pub endpoint: usize,
    pub pattern: &'a str,
    pub region: Option<String>,
}

/// The compiled matcher.
#[derive(Debug, Default)]
pub struct Matcher {
    patterns: Vec<String>,
    exact: HashMap<String, Target>,
    suffix: HashMap<String, Target>,
    region: HashMap<String, Vec<RegionTarget>>,
    v4: HashMap<(u32, u8), Target>,
    v4_lengths: Vec<u8>,
    v6: HashMap<(u128, u8), Target>,
    v6_lengths: Vec<u8>,
}

/// Each label of a name with the text before and after it: (head, label, tail).
fn split_labels(name: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    let mut start = 0usize;
    std::iter::from_fn(move || {
        let rest = name.get(start..)?;
        if rest.is_empty() && start > 0 {
            return None;
        }
        let len = rest.find('.').unwrap_or(rest.len());
        let end = start.checked_add(len)?;
        let head = name.get(..start.saturating_sub(1)).unwrap_or_default();
        let label = name.get(start..end).unwrap_or_default();
        let tail = name.get(end.saturating_add(1)..).unwrap_or_default();
        start = if end >= name.len() {
            usize::MAX
        } else {
            end.saturating_add(1)
        };
        Some((head, label, tail))
    })
}

/// The parents of a name, longest first: `a.b.c` → `b.c`, `c`.
fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.')
        .map(|(i, _)| name.get(i.saturating_add(1)..).unwrap_or_default())
}

impl Matcher {
    /// Compiles a loaded database, reporting patterns that collide or overlap across
    /// vendors.
    ///
    /// # Errors
    /// The collisions found, each with the file and line of the pattern.
    pub fn build(db: &Loaded) -> Result<Self, Vec<Problem>> {
        let mut m = Matcher::default();
        let mut problems = Vec::new();
        let vendor_of =
            |endpoint: usize| db.endpoints.get(endpoint).map_or(usize::MAX, |e| e.vendor);
        let problem = |endpoint: usize, host: usize, message: String| {
            let (file, line) = db
                .host_lines
                .get(endpoint)
                .and_then(|l| l.get(host))
                .cloned()
                .unwrap_or_default();
            Problem {
                file,
                line,
                entry: db.endpoints.get(endpoint).map(|e| e.id.clone()),
                message,
            }
        };
        for (ei, endpoint) in db.endpoints.iter().enumerate() {
            for (hi, host) in endpoint.hosts.iter().enumerate() {
                let target = Target {
                    endpoint: ei,
                    pattern: m.patterns.len(),
                };
                m.patterns.push(host.clone());
                let clash = if let Some(suffix) = host.strip_prefix("*.") {
                    m.suffix.insert(suffix.to_owned(), target)
                } else if host.contains("{region}") {
                    let Some((head, label, tail)) =
                        split_labels(host).find(|(_, l, _)| l.contains("{region}"))
                    else {
                        continue;
                    };
                    let (prefix, suffix) = label.split_once("{region}").unwrap_or_default();
                    m.region
                        .entry(tail.to_owned())
                        .or_default()
                        .push(RegionTarget {
                            target,
                            head: head.to_owned(),
                            prefix: prefix.to_owned(),
                            suffix: suffix.to_owned(),
                        });
                    None
                } else {
                    m.exact.insert(host.clone(), target)
                };
                if let Some(earlier) = clash {
                    let other = db
                        .endpoints
                        .get(earlier.endpoint)
                        .map_or("?", |e| e.id.as_str());
                    problems.push(problem(
                        ei,
                        hi,
                        format!("host {host:?} is also in endpoint {other}"),
                    ));
                }
            }
            for net in &endpoint.cidrs {
                let target = Target {
                    endpoint: ei,
                    pattern: m.patterns.len(),
                };
                m.patterns.push(net.to_string());
                match net {
                    ipnet::IpNet::V4(n) => {
                        m.v4.insert((u32::from(n.network()), n.prefix_len()), target);
                        m.v4_lengths.push(n.prefix_len());
                    }
                    ipnet::IpNet::V6(n) => {
                        m.v6.insert((u128::from(n.network()), n.prefix_len()), target);
                        m.v6_lengths.push(n.prefix_len());
                    }
                }
            }
        }
        for lengths in [&mut m.v4_lengths, &mut m.v6_lengths] {
            lengths.sort_unstable_by(|a, b| b.cmp(a));
            lengths.dedup();
        }
        // Cross-vendor overlaps: a name one vendor lists that another's wildcard covers.
        for (ei, endpoint) in db.endpoints.iter().enumerate() {
            for (hi, host) in endpoint.hosts.iter().enumerate() {
                let fixed = match host.strip_prefix("*.") {
                    Some(suffix) => suffix,
                    None if host.contains("{region}") => host
                        .rsplit_once("{region}")
                        .map_or("", |(_, tail)| tail.split_once('.').map_or("", |(_, t)| t)),
                    None => host.as_str(),
                };
                for parent in parents(fixed).chain(host.contains("{region}").then_some(fixed)) {
                    if let Some(t) = m.suffix.get(parent)
                        && vendor_of(t.endpoint) != endpoint.vendor
                    {
                        let other = db.endpoints.get(t.endpoint).map_or("?", |e| e.id.as_str());
                        problems.push(problem(
                            ei,
                            hi,
                            format!("host {host:?} overlaps *.{parent} of endpoint {other} (another vendor)"),
                        ));
                    }
                }
            }
        }
        for (ei, a) in db.endpoints.iter().enumerate() {
            for b in db.endpoints.iter().skip(ei.saturating_add(1)) {
                for na in &a.cidrs {
                    for nb in &b.cidrs {
                        if a.vendor != b.vendor && (na.contains(nb) || nb.contains(na)) {
                            problems.push(problem(
                                ei,
                                0,
                                format!(
                                    "CIDR {na} overlaps {nb} of endpoint {} (another vendor)",
                                    b.id
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(m)
        } else {
            Err(problems)
        }
    }

    /// The endpoint a host name belongs to. `name` must be lower case without a trailing
    /// dot or a port.
    pub fn match_name(&self, name: &str) -> Option<Hit<'_>> {
        let hit = |t: &Target, region| Hit {
            endpoint: t.endpoint,
            pattern: self.patterns.get(t.pattern).map_or("", String::as_str),
            region,
        };
        if let Some(t) = self.exact.get(name) {
            return Some(hit(t, None));
        }
        if !self.region.is_empty() {
            for (head, label, tail) in split_labels(name) {
                let Some(targets) = self.region.get(tail) else {
                    continue;
                };
                for rt in targets.iter().filter(|rt| rt.head == head) {
                    let region = label
                        .strip_prefix(rt.prefix.as_str())
                        .and_then(|l| l.strip_suffix(rt.suffix.as_str()))
                        .filter(|r| !r.is_empty());
                    if let Some(region) = region {
                        return Some(hit(&rt.target, Some(region.to_owned())));
                    }
                }
            }
        }
        parents(name)
            .find_map(|p| self.suffix.get(p))
            .map(|t| hit(t, None))
    }

    /// The endpoint whose published ranges contain `ip`, longest prefix first.
    pub fn match_ip(&self, ip: IpAddr) -> Option<Hit<'_>> {
        let t = match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                self.v4_lengths.iter().find_map(|len| {
                    let mask = u32::MAX
                        .checked_shl(32u32.saturating_sub(u32::from(*len)))
                        .unwrap_or(0);
                    self.v4.get(&(bits & mask, *len))
                })
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                self.v6_lengths.iter().find_map(|len| {
                    let mask = u128::MAX
                        .checked_shl(128u32.saturating_sub(u32::from(*len)))
                        .unwrap_or(0);
                    self.v6.get(&(bits & mask, *len))
                })
            }
        }?;
        Some(Hit {
            endpoint: t.endpoint,
            pattern: self.patterns.get(t.pattern).map_or("", String::as_str),
            region: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_with_their_head_and_tail() {
        let parts: Vec<_> = split_labels("a.bb.c").collect();
        assert_eq!(
            parts,
            vec![("", "a", "bb.c"), ("a", "bb", "c"), ("a.bb", "c", "")]
        );
        assert_eq!(split_labels("x").collect::<Vec<_>>(), vec![("", "x", "")]);
        assert_eq!(split_labels("").count(), 1);
    }
}
