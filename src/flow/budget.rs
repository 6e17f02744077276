//! The sensor-wide budget for bytes held while messages are incomplete.
//!
//! Each stream direction may buffer a ClientHello or a request head that arrives in
//! several segments, within its own bound. A flood of connections that each send half a
//! message would still add up, so all of them draw on one [`BufferBudget`], like
//! Suricata's `stream.reassembly.memcap`: once it is spent, a direction that needs more is
//! refused (its inspection ends, and the refusal is counted) instead of growing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget, MiB: 32 MiB holds about 16,000 half-received 2 KB ClientHellos at
/// once, far more than a span port has in flight between the two segments of each.
pub const DEFAULT_BUFFER_MEMCAP_MIB: u32 = 32;
/// [`DEFAULT_BUFFER_MEMCAP_MIB`] in bytes.
pub const DEFAULT_BUFFER_BUDGET_BYTES: usize = (DEFAULT_BUFFER_MEMCAP_MIB as usize) << 20;

/// A shared bound on buffered bytes; clones share the same account.
#[derive(Debug, Clone)]
pub struct BufferBudget(Arc<Account>);

#[derive(Debug)]
struct Account {
    limit: usize,
    used: AtomicUsize,
}

impl BufferBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self(Arc::new(Account {
            limit,
            used: AtomicUsize::new(0),
        }))
    }

    /// Bytes held now by every [`Charge`] against this budget.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }
}

impl Default for BufferBudget {
    fn default() -> Self {
        Self::new(DEFAULT_BUFFER_BUDGET_BYTES)
    }
}

/// The bytes one holder has drawn from a budget, given back when it is dropped, so a
/// buffer freed on any path (flow end, eviction, a guard) returns its share.
#[derive(Debug)]
pub struct Charge {
    budget: BufferBudget,
    bytes: usize,
}

impl Charge {
    /// A charge of nothing yet against `budget`.
    pub fn new(budget: &BufferBudget) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Sets the charge to `bytes`. Returns false, leaving the charge as it was, when
    /// growing it would take the budget past its bound.
    pub fn set(&mut self, bytes: usize) -> bool {
        let account = &self.budget.0;
        if bytes <= self.bytes {
            account
                .used
                .fetch_sub(self.bytes.saturating_sub(bytes), Ordering::Relaxed);
            self.bytes = bytes;
            return true;
        }
        let more = bytes.saturating_sub(self.bytes);
        let taken = account
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(more)
                    .filter(|total| *total <= account.limit)
            });
        if taken.is_ok() {
            self.bytes = bytes;
        }
        taken.is_ok()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_share_the_bound_and_give_back_when_dropped() {
        let budget = BufferBudget::new(100);
        let mut a = Charge::new(&budget);
        let mut b = Charge::new(&budget);
        assert!(a.set(60));
        assert!(!b.set(41), "would pass the bound");
        assert!(b.set(40));
        assert_eq!(budget.used(), 100);
        assert!(a.set(10));
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 10);
        assert!(a.set(100));
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
