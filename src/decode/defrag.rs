//! IP fragment reassembly (RFC 791, RFC 8200 §4.5), bounded in memory and time.
//!
//! Large DNS answers and some tunnels arrive as IP fragments. Fragments are kept per
//! (source, destination, protocol, identification) until the datagram is whole, then the
//! reassembled transport payload is handed back. Every bound, when hit, is counted.
//!
//! Memory is counted in bytes, not datagrams: a datagram's buffer is as long as the
//! highest offset received, so a single spoofed fragment near 64 KiB costs 64 KiB, and
//! a flood of them would hold [`MAX_DATAGRAMS`] × 64 KiB were the table the only bound.
//! The byte budget ([`DEFAULT_BUDGET_BYTES`] for the whole sensor, split between its
//! packet workers) refuses the fragment that would pass it.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Decoded, Fragment, Vlans};
use crate::offsets::OffsetBuffer;
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
/// Bytes all datagrams in reassembly may hold, by default: room for a hundred whole
/// 64 KiB datagrams, or thousands of fragmented DNS answers, at once.
pub const DEFAULT_BUDGET_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u32,
}

#[derive(Debug)]
struct Partial {
    first_seen: Timestamp,
    vlans: Vlans,
    /// Wire bytes of the fragments, counted to the flow once the datagram is whole.
    wire_bytes: u64,
    bytes: OffsetBuffer,
    total: Option<usize>,
}

impl Partial {
    fn is_complete(&self) -> bool {
        self.total
            .is_some_and(|total| self.bytes.contiguous_len() >= total)
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
    /// Fragments refused because the datagrams in reassembly held the whole byte budget.
    pub memcap: u64,
}

/// A datagram's transport payload: whole, or (when its other fragments never came) the
/// part received contiguously from its start.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub vlans: Vlans,
    pub protocol: u8,
    pub payload: Vec<u8>,
    /// When the first fragment arrived.
    pub first_seen: Timestamp,
    /// Wire bytes of all its fragments.
    pub wire_bytes: u64,
    /// Fragments are missing: `payload` is a prefix of the datagram.
    pub incomplete: bool,
}

/// Holds fragments until their datagram is complete.
#[derive(Debug)]
pub struct Defragmenter {
    partial: HashMap<Key, Partial>,
    /// Bytes the datagrams in reassembly may hold together.
    budget: usize,
    /// Bytes they hold: the sum of their buffers' lengths.
    held: usize,
    /// No pending datagram arrived before this, so none can time out before
    /// `oldest + TIMEOUT_MICROS`: [`Self::expire`] scans only after that. After a datagram
    /// completes it may be earlier than the true oldest, which costs one needless scan.
    oldest: Option<Timestamp>,
    stats: DefragStats,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET_BYTES)
    }
}

impl Defragmenter {
    /// A reassembler whose datagrams hold at most `budget` bytes together.
    pub fn new(budget: usize) -> Self {
        Self {
            partial: HashMap::new(),
            budget,
            held: 0,
            oldest: None,
            stats: DefragStats::default(),
        }
    }

    /// Bytes the datagrams in reassembly hold.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Takes `partial` out of the table, and its bytes off the count.
    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let partial = self.partial.remove(key)?;
        self.held = self.held.saturating_sub(partial.bytes.len());
        Some(partial)
    }

    /// Adds `fragment`, the transport layer of `packet`, a frame of `wire_len` bytes;
    /// returns the datagram when it completed it.
    pub fn push_packet(
        &mut self,
        now: Timestamp,
        packet: &Decoded<'_>,
        fragment: &Fragment<'_>,
        wire_len: u32,
    ) -> Option<Reassembled> {
        self.push(
            now,
            packet.src,
            packet.dst,
            packet.vlans,
            fragment,
            wire_len,
        )
    }

    /// Adds a fragment; returns the datagram when this fragment completed it.
    pub fn push(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        dst: IpAddr,
        vlans: Vlans,
        fragment: &Fragment<'_>,
        wire_len: u32,
    ) -> Option<Reassembled> {
        let key = Key {
            src,
            dst,
            protocol: fragment.protocol,
            id: fragment.id,
        };
        let start = usize::from(fragment.offset);
        let end = start.checked_add(fragment.payload.len())?;
        let current = self.partial.get(&key).map(|p| p.bytes.len());
        if current.is_none() && self.partial.len() >= MAX_DATAGRAMS {
            self.stats.table_full = self.stats.table_full.saturating_add(1);
            return None;
        }
        let growth = end.saturating_sub(current.unwrap_or(0));
        if self.held.saturating_add(growth) > self.budget {
            self.stats.memcap = self.stats.memcap.saturating_add(1);
            return None;
        }
        let oldest = self.oldest.get_or_insert(now);
        *oldest = (*oldest).min(now);
        let partial = self.partial.entry(key).or_insert_with(|| Partial {
            first_seen: now,
            vlans,
            wire_bytes: 0,
            bytes: OffsetBuffer::default(),
            total: None,
        });
        if partial
            .bytes
            .insert(start, fragment.payload, MAX_DATAGRAM_BYTES, MAX_FRAGMENTS)
            .is_err()
        {
            self.remove(&key);
            self.stats.oversized = self.stats.oversized.saturating_add(1);
            return None;
        }
        self.held = self.held.saturating_add(growth);
        partial.wire_bytes = partial.wire_bytes.saturating_add(u64::from(wire_len));
        if !fragment.more {
            partial.total = Some(end);
        }
        if !partial.is_complete() {
            return None;
        }
        let done = self.remove(&key)?;
        self.stats.reassembled = self.stats.reassembled.saturating_add(1);
        Some(finish(key, done, false))
    }

    /// Gives up on datagrams that waited longer than [`TIMEOUT_MICROS`], returning the
    /// start of those whose first fragment arrived: a large DNS answer whose tail was lost
    /// still names what was asked and the first records, as tshark shows them.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Reassembled> {
        match self.oldest {
            Some(oldest) if now.micros_since(oldest) > TIMEOUT_MICROS => {}
            _ => return Vec::new(),
        }
        let expired: Vec<Key> = self
            .partial
            .iter()
            .filter(|(_, p)| now.micros_since(p.first_seen) > TIMEOUT_MICROS)
            .map(|(k, _)| *k)
            .collect();
        let prefixes = self.give_up(expired);
        self.oldest = self.partial.values().map(|p| p.first_seen).min();
        prefixes
    }

    /// Gives up on everything still incomplete (end of input), as [`Self::expire`] does.
    pub fn flush(&mut self) -> Vec<Reassembled> {
        let all: Vec<Key> = self.partial.keys().copied().collect();
        self.oldest = None;
        self.give_up(all)
    }

    fn give_up(&mut self, keys: Vec<Key>) -> Vec<Reassembled> {
        let mut prefixes = Vec::new();
        for key in keys {
            let Some(partial) = self.remove(&key) else {
                continue;
            };
            self.stats.timed_out = self.stats.timed_out.saturating_add(1);
            if partial.bytes.contiguous_len() > 0 {
                prefixes.push((key, finish(key, partial, true)));
            }
        }
        // By start, then by datagram: the table's own order changes from run to run, and
        // the output must not.
        prefixes.sort_unstable_by_key(|(key, datagram)| (datagram.first_seen, *key));
        prefixes.into_iter().map(|(_, datagram)| datagram).collect()
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }
}

fn finish(key: Key, partial: Partial, incomplete: bool) -> Reassembled {
    let contiguous = partial.bytes.contiguous_len();
    let len = match partial.total {
        Some(total) if !incomplete => total,
        _ => contiguous,
    };
    Reassembled {
        src: key.src,
        dst: key.dst,
        vlans: partial.vlans,
        protocol: key.protocol,
        payload: partial.bytes.into_bytes(len),
        first_seen: partial.first_seen,
        wire_bytes: partial.wire_bytes,
        incomplete,
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
    const V: Vlans = Vlans::EMPTY;

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut d = Defragmenter::default();
        let t = Timestamp::from_micros(0);
        assert_eq!(d.push(t, A, B, V, &frag(8, false, b"world"), 60), None);
        let whole = d.push(t, A, B, V, &frag(0, true, b"hello, w"), 60).unwrap();
        assert_eq!(whole.payload, b"hello, wworld");
        assert_eq!(whole.wire_bytes, 120);
        assert!(!whole.incomplete);
        assert_eq!(d.stats().reassembled, 1);
    }

    #[test]
    fn datagrams_given_up_together_leave_in_the_same_order_whatever_the_table_holds() {
        let t = Timestamp::from_micros(0);
        let given_up = |order: &[IpAddr]| {
            let mut d = Defragmenter::default();
            for src in order {
                d.push(t, *src, B, V, &frag(0, true, b"12345678"), 60);
            }
            d.flush().iter().map(|r| r.src).collect::<Vec<_>>()
        };
        let sources: Vec<IpAddr> = (1..=40u8)
            .map(|last| IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, last)))
            .collect();
        let mut reversed = sources.clone();
        reversed.reverse();
        // Tables of different seeds and insertion orders, one order out.
        assert_eq!(given_up(&sources), sources);
        assert_eq!(given_up(&reversed), sources);
    }

    #[test]
    fn an_incomplete_datagram_times_out_and_yields_its_start() {
        let mut d = Defragmenter::default();
        d.push(
            Timestamp::from_micros(0),
            A,
            B,
            V,
            &frag(0, true, b"12345678"),
            60,
        );
        d.push(
            Timestamp::from_micros(0),
            A,
            B,
            V,
            &frag(16, true, b"lost gap"),
            60,
        );
        let prefix = d.expire(Timestamp::from_micros(TIMEOUT_MICROS + 1));
        assert_eq!(d.stats().timed_out, 1);
        assert_eq!(prefix.len(), 1);
        assert_eq!(prefix[0].payload, b"12345678");
        assert!(prefix[0].incomplete);
        let late = d.push(
            Timestamp::from_micros(TIMEOUT_MICROS + 2),
            A,
            B,
            V,
            &frag(8, false, b"x"),
            60,
        );
        assert_eq!(late, None);
        assert!(d.flush().is_empty(), "no first fragment, nothing to show");
    }

    #[test]
    fn a_fragment_past_64k_is_dropped() {
        let mut d = Defragmenter::default();
        let big = vec![0u8; 100];
        assert_eq!(
            d.push(
                Timestamp::from_micros(0),
                A,
                B,
                V,
                &frag(65_500, false, &big),
                60
            ),
            None
        );
        assert_eq!(d.stats().oversized, 1);
    }

    #[test]
    fn spoofed_tail_fragments_stop_at_the_byte_budget() {
        let mut d = Defragmenter::new(256 * 1024);
        let t = Timestamp::from_micros(0);
        // Eight bytes at offset 65,520 each would cost a 64 KiB buffer: four fit.
        for id in 0..100u32 {
            let f = Fragment {
                id,
                ..frag(65_520, false, b"12345678")
            };
            assert_eq!(d.push(t, A, B, V, &f, 60), None);
        }
        assert_eq!(d.stats().memcap, 96);
        assert!(d.held_bytes() <= 256 * 1024);
        // Once they time out the budget is free again for real datagrams.
        d.expire(Timestamp::from_micros(TIMEOUT_MICROS + 1));
        assert_eq!(d.held_bytes(), 0);
        let whole = d.push(t, A, B, V, &frag(0, false, b"answer"), 60);
        assert_eq!(whole.map(|w| w.payload), Some(b"answer".to_vec()));
        assert_eq!(d.held_bytes(), 0);
    }
}
