//! The heaviest keys of a weighted stream in fixed memory: Space-Saving (Metwally, Agrawal
//! and El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data Streams",
//! ICDT 2005), with weights.
//!
//! At most `capacity` keys are kept. A new key, when the table is full, takes the slot of
//! the key with the smallest count and inherits that count as its possible overestimate
//! (`error`). So every kept count is at least the key's true weight and at most `error`
//! above it, `error` is at most the total weight divided by the capacity, and every key
//! whose true weight exceeds that is kept.

use std::collections::{BTreeSet, HashMap};

/// One kept key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<V> {
    pub key: Box<str>,
    /// At least the key's weight since it was taken in, at most `error` above it.
    pub count: u64,
    /// What the count may overstate: the count of the key whose slot it took.
    pub error: u64,
    pub value: V,
}

/// The heavy hitters of a stream, in fixed memory.
#[derive(Debug)]
pub struct SpaceSaving<V> {
    capacity: usize,
    slots: Vec<Slot<V>>,
    index: HashMap<Box<str>, usize>,
    /// (count, slot), to find the smallest count without a scan.
    by_count: BTreeSet<(u64, usize)>,
    /// Keys that lost their slot to a new key.
    evicted: u64,
}

impl<V: Default> SpaceSaving<V> {
    /// A sketch keeping at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            slots: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
            by_count: BTreeSet::new(),
            evicted: 0,
        }
    }

    /// Adds `weight` to `key`, taking the slot of the smallest key (and resetting its value)
    /// when `key` is new and the sketch is full.
    pub fn add(&mut self, key: &str, weight: u64) -> Option<&mut Slot<V>> {
        let i = match self.index.get(key) {
            Some(&i) => i,
            None if self.slots.len() < self.capacity => {
                let i = self.slots.len();
                self.slots.push(Slot {
                    key: key.into(),
                    count: 0,
                    error: 0,
                    value: V::default(),
                });
                self.index.insert(key.into(), i);
                self.by_count.insert((0, i));
                i
            }
            None => {
                let &(smallest, i) = self.by_count.first()?;
                let slot = self.slots.get_mut(i)?;
                self.index.remove(&slot.key);
                slot.key = key.into();
                slot.error = smallest;
                slot.value = V::default();
                self.index.insert(key.into(), i);
                self.evicted = self.evicted.saturating_add(1);
                i
            }
        };
        let slot = self.slots.get_mut(i)?;
        self.by_count.remove(&(slot.count, i));
        slot.count = slot.count.saturating_add(weight);
        self.by_count.insert((slot.count, i));
        Some(slot)
    }

    /// The kept keys, in no order.
    pub fn slots(&self) -> &[Slot<V>] {
        &self.slots
    }

    /// The kept keys, to change their values (their counts stay the sketch's).
    pub fn values_mut(&mut self) -> impl Iterator<Item = (&str, u64, u64, &mut V)> {
        self.slots
            .iter_mut()
            .map(|s| (&*s.key, s.count, s.error, &mut s.value))
    }

    /// Keys that lost their slot to a new key so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_key_while_there_is_room() {
        let mut s: SpaceSaving<()> = SpaceSaving::new(4);
        for (k, w) in [("a", 5), ("b", 3), ("a", 2)] {
            s.add(k, w);
        }
        let mut got: Vec<(String, u64, u64)> = s
            .slots()
            .iter()
            .map(|x| (x.key.to_string(), x.count, x.error))
            .collect();
        got.sort();
        assert_eq!(got, vec![("a".into(), 7, 0), ("b".into(), 3, 0)]);
        assert_eq!(s.evicted(), 0);
    }

    #[test]
    fn a_new_key_takes_the_smallest_slot_and_inherits_its_count_as_error() {
        let mut s: SpaceSaving<u8> = SpaceSaving::new(2);
        s.add("big", 100);
        s.add("small", 1).unwrap().value = 9;
        let slot = s.add("new", 5).unwrap();
        assert_eq!((slot.count, slot.error, slot.value), (6, 1, 0));
        assert!(s.slots().iter().any(|x| &*x.key == "big" && x.count == 100));
        assert!(!s.slots().iter().any(|x| &*x.key == "small"));
        assert_eq!(s.evicted(), 1);
    }

    #[test]
    fn the_heavy_keys_of_a_skewed_stream_survive_a_long_tail() {
        // 5,000 keys, weights falling as 1/rank, interleaved; 256 slots.
        let mut s: SpaceSaving<()> = SpaceSaving::new(256);
        let weight = |rank: u64| 10_000_000 / rank;
        for round in 0..10u64 {
            for rank in 1..=5_000u64 {
                let rank = (rank * 7919 + round) % 5_000 + 1;
                s.add(&format!("k{rank}"), weight(rank) / 10);
            }
        }
        let mut kept: Vec<&Slot<()>> = s.slots().iter().collect();
        kept.sort_by_key(|x| std::cmp::Reverse(x.count));
        let top: Vec<String> = kept.iter().take(20).map(|x| x.key.to_string()).collect();
        let want: Vec<String> = (1..=20).map(|r| format!("k{r}")).collect();
        assert_eq!(top, want);
        for x in kept.iter().take(20) {
            let rank: u64 = x.key[1..].parse().unwrap();
            let truth = weight(rank) / 10 * 10;
            assert!(x.count >= truth && x.count - truth <= x.error, "{x:?}");
        }
    }
}
