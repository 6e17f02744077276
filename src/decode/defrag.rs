//! IP fragment reassembly (RFC 791, RFC 8200 §4.5), bounded in memory and time.
//!
//! Large DNS answers and some tunnels arrive as IP fragments. Fragments are kept per
//! (source, destination, protocol, identification) until the datagram is whole, then the
//! reassembled transport payload is handed back. Every bound, when hit, is counted.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Fragment;
use crate::time::Timestamp;

/// Datagrams being reassembled at once. Legitimate fragmentation is rare and short-lived;
/// the bound stops a fragment flood from growing memory.
pub const MAX_DATAGRAMS: usize = 1024;
/// The largest IP payload, from the 16-bit length fields of IPv4 and IPv6.
pub const MAX_DATAGRAM_BYTES: usize = 65_535;
/// Fragments of one datagram; more is a fragmentation attack, not a real sender.
pub const MAX_FRAGMENTS: usize = 64;
/// How long an incomplete datagram waits for its missing pieces (Linux's default).
pub const TIMEOUT_MICROS: i64 = 30_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u32,
}

#[derive(Debug)]
struct Partial {
    first_seen: Timestamp,
    bytes: Vec<u8>,
    /// Byte ranges received, unsorted; few enough that a scan is cheapest.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
}

impl Partial {
    fn is_complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut ranges = self.ranges.clone();
        ranges.sort_unstable();
        let mut covered = 0usize;
        for (start, end) in ranges {
            if start > covered {
                return false;
            }
            covered = covered.max(end);
        }
        covered >= total
    }
}

/// Counters of what the reassembler did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DefragStats {
    /// Datagrams put back together.
    pub reassembled: u64,
    /// Datagrams given up after [`TIMEOUT_MICROS`] without all their fragments.
    pub timed_out: u64,
    /// Fragments dropped because [`MAX_DATAGRAMS`] were already in progress.
    pub table_full: u64,
    /// Datagrams dropped for exceeding [`MAX_DATAGRAM_BYTES`] or [`MAX_FRAGMENTS`].
    pub oversized: u64,
}

/// A whole datagram's transport payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub protocol: u8,
    pub payload: Vec<u8>,
}

/// Holds fragments until their datagram is complete.
#[derive(Debug, Default)]
pub struct Defragmenter {
    partial: HashMap<Key, Partial>,
    stats: DefragStats,
}

impl Defragmenter {
    /// Adds a fragment; returns the datagram when this fragment completed it.
    pub fn push(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        fragment: &Fragment<'_>,
    ) -> Option<Reassembled> {
        self.expire(now);
        let key = Key {
            src,
            dst,
            protocol: fragment.protocol,
            id: fragment.id,
        };
        let start = usize::from(fragment.offset);
        let end = start.checked_add(fragment.payload.len())?;
        if end > MAX_DATAGRAM_BYTES {
            self.partial.remove(&key);
            self.stats.oversized = self.stats.oversized.saturating_add(1);
            return None;
        }
        if !self.partial.contains_key(&key) && self.partial.len() >= MAX_DATAGRAMS {
            self.stats.table_full = self.stats.table_full.saturating_add(1);
            return None;
        }
        let partial = self.partial.entry(key).or_insert_with(|| Partial {
            first_seen: now,
            bytes: Vec::new(),
            ranges: Vec::new(),
            total: None,
        });
        if partial.ranges.len() >= MAX_FRAGMENTS {
            self.partial.remove(&key);
            self.stats.oversized = self.stats.oversized.saturating_add(1);
            return None;
        }
        if partial.bytes.len() < end {
            partial.bytes.resize(end, 0);
        }
        if let Some(dest) = partial.bytes.get_mut(start..end) {
            dest.copy_from_slice(fragment.payload);
        }
        partial.ranges.push((start, end));
        if !fragment.more {
            partial.total = Some(end);
        }
        if !partial.is_complete() {
            return None;
        }
        let mut done = self.partial.remove(&key)?;
        done.bytes.truncate(done.total.unwrap_or(done.bytes.len()));
        self.stats.reassembled = self.stats.reassembled.saturating_add(1);
        Some(Reassembled {
            protocol: fragment.protocol,
            payload: done.bytes,
        })
    }

    /// Drops datagrams that waited longer than [`TIMEOUT_MICROS`].
    pub fn expire(&mut self, now: Timestamp) {
        let before = self.partial.len();
        self.partial
            .retain(|_, p| now.micros_since(p.first_seen) <= TIMEOUT_MICROS);
        let dropped = before.saturating_sub(self.partial.len());
        self.stats.timed_out = self.stats.timed_out.saturating_add(dropped as u64);
    }

    /// Gives up on everything still incomplete (end of input).
    pub fn flush(&mut self) {
        let dropped = self.partial.len() as u64;
        self.partial.clear();
        self.stats.timed_out = self.stats.timed_out.saturating_add(dropped);
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(offset: u16, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            id: 7,
            protocol: 17,
            offset,
            more,
            payload,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut d = Defragmenter::default();
        let t = Timestamp::from_micros(0);
        assert_eq!(d.push(t, A, B, &frag(8, false, b"world")), None);
        let whole = d.push(t, A, B, &frag(0, true, b"hello, w")).unwrap();
        assert_eq!(whole.payload, b"hello, wworld");
        assert_eq!(d.stats().reassembled, 1);
    }

    #[test]
    fn an_incomplete_datagram_times_out_and_is_counted() {
        let mut d = Defragmenter::default();
        d.push(Timestamp::from_micros(0), A, B, &frag(0, true, b"12345678"));
        d.expire(Timestamp::from_micros(TIMEOUT_MICROS + 1));
        assert_eq!(d.stats().timed_out, 1);
        let late = d.push(Timestamp::from_micros(TIMEOUT_MICROS + 2), A, B, &frag(8, false, b"x"));
        assert_eq!(late, None);
    }

    #[test]
    fn a_fragment_past_64k_is_dropped() {
        let mut d = Defragmenter::default();
        let big = vec![0u8; 100];
        assert_eq!(d.push(Timestamp::from_micros(0), A, B, &frag(65_500, false, &big)), None);
        assert_eq!(d.stats().oversized, 1);
    }
}
