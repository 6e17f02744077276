//! Names learned from DNS answers, by address.
//!
//! A flow with no SNI (or with ECH hiding the real name) is still attributed to the name
//! its client looked up: each A/AAAA answer maps the address to the name that was queried,
//! the first name of a CNAME chain, which is the one the application asked for. Entries
//! live for their TTL (with a floor) and the cache holds a bounded number of them.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use super::parse::{Message, RData};
use crate::time::Timestamp;

/// Addresses remembered by default.
pub const DEFAULT_CAPACITY: usize = 65_536;
/// The shortest lifetime given to an answer. Stub resolvers, browsers and connection pools
/// keep using an address after a short TTL runs out (CDNs answer with 20–60 s), so a strict
/// TTL would lose the name of long-lived connections.
pub const MIN_TTL_SECS: u32 = 300;
/// The longest lifetime, so a week-long TTL does not pin a stale name.
pub const MAX_TTL_SECS: u32 = 86_400;

#[derive(Debug)]
struct Entry {
    name: String,
    expires: Timestamp,
}

/// Cache counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DnsCacheStats {
    pub inserted: u64,
    /// Entries pushed out by newer ones when the cache was full.
    pub evicted: u64,
}

/// Addresses learned from one answer at most: real answers carry a handful, and a
/// hostile 64 KiB one of thousands must not flush the cache or hold its lock long.
pub const MAX_ADDRESSES_PER_ANSWER: usize = 64;

/// What a response teaches: the queried name, and each address with its expiry (at most
/// [`MAX_ADDRESSES_PER_ANSWER`]). Worked out before the shared cache is locked.
fn learned(now: Timestamp, msg: &Message) -> Option<(String, Vec<(IpAddr, Timestamp)>)> {
    if !msg.response || msg.rcode != 0 {
        return None;
    }
    let question = msg.questions.first()?;
    let addresses: Vec<(IpAddr, Timestamp)> = msg
        .answers
        .iter()
        .filter_map(|record| {
            let ip = match record.data {
                RData::A(a) => IpAddr::V4(a),
                RData::Aaaa(a) => IpAddr::V6(a),
                _ => return None,
            };
            let ttl = record.ttl.clamp(MIN_TTL_SECS, MAX_TTL_SECS);
            let expires = now
                .micros()
                .saturating_add(i64::from(ttl).saturating_mul(1_000_000));
            Some((ip, Timestamp::from_micros(expires)))
        })
        .take(MAX_ADDRESSES_PER_ANSWER)
        .collect();
    // Names are kept as sent on the wire; the cache keeps the form flows are named by.
    (!addresses.is_empty()).then(|| (question.name.to_ascii_lowercase(), addresses))
}

/// A bounded address → name map.
#[derive(Debug)]
pub struct DnsCache {
    entries: HashMap<IpAddr, Entry, foldhash::fast::RandomState>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<IpAddr>,
    capacity: usize,
    stats: DnsCacheStats,
}

impl DnsCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            stats: DnsCacheStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn stats(&self) -> DnsCacheStats {
        self.stats
    }

    /// Learns the addresses a response gives for its question.
    pub fn learn(&mut self, now: Timestamp, msg: &Message) {
        if let Some((name, addresses)) = learned(now, msg) {
            for (ip, expires) in addresses {
                self.insert(ip, name.clone(), expires);
            }
        }
    }

    fn insert(&mut self, ip: IpAddr, name: String, expires: Timestamp) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            *entry = Entry { name, expires };
            return;
        }
        while self.entries.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.entries.remove(&oldest).is_some() {
                self.stats.evicted = self.stats.evicted.saturating_add(1);
            }
        }
        self.entries.insert(ip, Entry { name, expires });
        self.order.push_back(ip);
        self.stats.inserted = self.stats.inserted.saturating_add(1);
    }

    /// The name `ip` was resolved from, if an unexpired answer said so.
    pub fn lookup(&self, ip: IpAddr, now: Timestamp) -> Option<&str> {
        self.entries
            .get(&ip)
            .filter(|e| e.expires >= now)
            .map(|e| e.name.as_str())
    }
}

/// One cache for all packet workers: a DNS answer and the flow it names are hashed to
/// different workers (they are different flows), so each worker learns into and looks up
/// in the same cache. New flows only read it, so workers under a SYN flood never wait on
/// each other; an answer is worked out first and then written in one short hold, never
/// per packet of a known flow.
#[derive(Debug, Clone)]
pub struct SharedDnsCache(Arc<RwLock<DnsCache>>);

impl SharedDnsCache {
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(RwLock::new(DnsCache::new(capacity))))
    }

    // A worker that panicked while holding it left whole entries: keep using them.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, DnsCache> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, DnsCache> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    pub fn stats(&self) -> DnsCacheStats {
        self.read().stats()
    }

    /// As [`DnsCache::learn`].
    pub fn learn(&self, now: Timestamp, msg: &Message) {
        let Some((name, addresses)) = learned(now, msg) else {
            return;
        };
        let mut cache = self.write();
        for (ip, expires) in addresses {
            cache.insert(ip, name.clone(), expires);
        }
    }

    /// As [`DnsCache::lookup`], the name copied out.
    pub fn lookup(&self, ip: IpAddr, now: Timestamp) -> Option<String> {
        self.read().lookup(ip, now).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::dns::parse::{Question, Record};
    use std::net::Ipv4Addr;

    fn answer(name: &str, ip: [u8; 4], ttl: u32) -> Message {
        Message {
            id: 1,
            flags: 0x8180,
            response: true,
            opcode: 0,
            rcode: 0,
            questions: vec![Question {
                name: name.into(),
                qtype: 1,
            }],
            answers: vec![
                Record {
                    name: name.into(),
                    rtype: 5,
                    ttl,
                    data: RData::Name("edge.cdn.example".into()),
                },
                Record {
                    name: "edge.cdn.example".into(),
                    rtype: 1,
                    ttl,
                    data: RData::A(Ipv4Addr::from(ip)),
                },
            ],
            authorities: vec![],
            additionals: vec![],
            work_limited: false,
        }
    }

    #[test]
    fn maps_addresses_to_the_queried_name_through_cnames() {
        let mut c = DnsCache::new(4);
        let t0 = Timestamp::from_micros(0);
        c.learn(t0, &answer("api.openai.com", [104, 18, 7, 192], 30));
        let ip = IpAddr::from([104, 18, 7, 192]);
        assert_eq!(c.lookup(ip, t0), Some("api.openai.com"));
        let later = Timestamp::from_micros(i64::from(MIN_TTL_SECS) * 1_000_000 + 1);
        assert_eq!(c.lookup(ip, later), None);
    }

    #[test]
    fn a_full_cache_evicts_the_oldest_entry() {
        let mut c = DnsCache::new(2);
        let t0 = Timestamp::from_micros(0);
        for i in 1..=3 {
            c.learn(t0, &answer(&format!("n{i}.example"), [10, 0, 0, i], 60));
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.stats().evicted, 1);
        assert_eq!(c.lookup(IpAddr::from([10, 0, 0, 1]), t0), None);
        assert_eq!(
            c.lookup(IpAddr::from([10, 0, 0, 3]), t0),
            Some("n3.example")
        );
    }

    #[test]
    fn a_huge_answer_teaches_a_bounded_number_of_addresses() {
        let mut msg = answer("many.example", [10, 0, 0, 1], 60);
        msg.answers = (0..5000u32)
            .map(|i| Record {
                name: "many.example".into(),
                rtype: 1,
                ttl: 60,
                data: RData::A(Ipv4Addr::from(0x0a00_0000 | i)),
            })
            .collect();
        let shared = SharedDnsCache::new(65_536);
        shared.learn(Timestamp::from_micros(0), &msg);
        assert_eq!(shared.len(), MAX_ADDRESSES_PER_ANSWER);
    }
}
