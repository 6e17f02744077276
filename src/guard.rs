//! Named bounds on the work wire data can cause, and how often each one tripped.
//!
//! Every loop over wire data ends because it consumes bytes or because it hits a named
//! bound. The bytes-consumed loops need no counter; the bounds in this list are the ones
//! whose tripping means hostile or broken input: the inspection of the flow (or message)
//! concerned ends, and the trip is counted in the `stats` event and in
//! `aigress_inspection_guard_trips_total{guard}`.

use serde::Serialize;

/// A bound that ended the inspection of a flow or a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Guard {
    /// A stream's protocol state machine changed state repeatedly without consuming a
    /// byte: the bytes satisfy one state's entry test and the next state's rejection.
    NoProgress,
    /// An HTTP request head outgrew [`crate::protocols::http::parse::MAX_HEAD_LEN`] without ending.
    HttpHeadTooLong,
    /// A TLS handshake outgrew the per-direction buffer before its ClientHello was whole.
    TlsHandshakeTooLong,
    /// A DNS message spent its budget of name-reading steps (long names reached through
    /// many compression pointers, over and over).
    DnsNameWork,
    /// The sensor-wide budget for unfinished handshakes and request heads was spent: a new
    /// partial message was refused instead of buffered.
    BufferBudget,
}

impl Guard {
    /// Every guard, in the order of their indices.
    pub const ALL: [Guard; 5] = [
        Guard::NoProgress,
        Guard::HttpHeadTooLong,
        Guard::TlsHandshakeTooLong,
        Guard::DnsNameWork,
        Guard::BufferBudget,
    ];

    /// The name used in the `stats` event and as the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Guard::NoProgress => "no_progress",
            Guard::HttpHeadTooLong => "http_head_too_long",
            Guard::TlsHandshakeTooLong => "tls_handshake_too_long",
            Guard::DnsNameWork => "dns_name_work",
            Guard::BufferBudget => "buffer_budget",
        }
    }

    fn index(self) -> usize {
        match self {
            Guard::NoProgress => 0,
            Guard::HttpHeadTooLong => 1,
            Guard::TlsHandshakeTooLong => 2,
            Guard::DnsNameWork => 3,
            Guard::BufferBudget => 4,
        }
    }
}

/// Trips per guard.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GuardCounts([u64; Guard::ALL.len()]);

impl GuardCounts {
    /// Counts one trip of `guard`.
    pub fn trip(&mut self, guard: Guard) {
        if let Some(c) = self.0.get_mut(guard.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Adds another worker's trips to these.
    pub fn absorb(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The trips of one guard.
    pub fn get(&self, guard: Guard) -> u64 {
        self.0.get(guard.index()).copied().unwrap_or(0)
    }
}

impl Serialize for GuardCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(Guard::ALL.iter().map(|g| (g.name(), self.get(*g))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guard_has_its_own_counter_and_name() {
        let mut counts = GuardCounts::default();
        for (i, g) in Guard::ALL.iter().enumerate() {
            assert_eq!(g.index(), i);
            for _ in 0..=i {
                counts.trip(*g);
            }
        }
        for (i, g) in Guard::ALL.iter().enumerate() {
            assert_eq!(counts.get(*g), i as u64 + 1, "{}", g.name());
        }
        let names: std::collections::BTreeSet<_> = Guard::ALL.iter().map(|g| g.name()).collect();
        assert_eq!(names.len(), Guard::ALL.len());
    }
}
