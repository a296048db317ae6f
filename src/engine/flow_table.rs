//! The flow table: an open-addressing hash map from a TCP 4-tuple to a `u32`
//! (a slab index), sized once and never grown.
//!
//! It serves where the tuple is chosen by the peer (the server side, or replies
//! whose tuple is not in a direct-indexed [`TupleIndex`](super::tuple_index)).
//! Layout: one `Vec` of 16-byte slots (12-byte key, 4-byte value), a power of two
//! of them, at least twice the maximum number of entries, so the load factor stays
//! at or below ½ and linear probes stay short. Deletion shifts the following run
//! of the cluster back instead of leaving tombstones, so lookups never slow down
//! as flows come and go.
//!
//! The hash mixes two 64-bit seeds given at construction into the key before a
//! folded 64×64→128-bit multiply, so a peer that does not know the seed cannot
//! choose ports and addresses that pile up in one cluster.

use std::fmt;

/// A TCP 4-tuple as this host sees it, addresses and ports in host byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowKey {
    /// The peer's IPv4 address.
    pub remote_ip: u32,
    /// Our IPv4 address.
    pub local_ip: u32,
    /// The peer's TCP port.
    pub remote_port: u16,
    /// Our TCP port.
    pub local_port: u16,
}

/// The error of [`FlowTable::insert`] when the table already holds its maximum
/// number of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("flow table full")
    }
}

impl std::error::Error for Full {}

/// One slot: a key and its value, or empty when `value == EMPTY`.
#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FlowKey,
    value: u32,
}

const _: () = assert!(size_of::<Slot>() == 16);

/// An empty slot.
const VACANT: Slot = Slot {
    key: FlowKey {
        remote_ip: 0,
        local_ip: 0,
        remote_port: 0,
        local_port: 0,
    },
    value: FlowTable::EMPTY,
};

/// A fixed-capacity map from [`FlowKey`] to `u32` with linear probing and
/// backward-shift deletion. No method allocates after
/// [`with_capacity`](FlowTable::with_capacity).
///
/// Values are any `u32` except [`FlowTable::EMPTY`] (`u32::MAX`), which marks an
/// empty slot.
///
/// ```
/// use synfin::engine::flow_table::{FlowKey, FlowTable};
/// let mut table = FlowTable::with_capacity(1_000, 0x5eed);
/// let key = FlowKey { remote_ip: 0xc612_0001, local_ip: 0xc613_0001, remote_port: 80, local_port: 40_000 };
/// assert_eq!(table.insert(key, 7), Ok(None));
/// assert_eq!(table.get(&key), Some(7));
/// assert_eq!(table.remove(&key), Some(7));
/// assert_eq!(table.get(&key), None);
/// ```
#[derive(Debug)]
pub struct FlowTable {
    /// `mask + 1` slots.
    slots: Vec<Slot>,
    /// Slot count minus one; slot counts are powers of two.
    mask: usize,
    /// `64 - log2(slot count)`: the hash's top bits pick the home slot.
    shift: u32,
    /// Mixed into the addresses.
    seed_hi: u64,
    /// Mixed into the ports.
    seed_lo: u64,
    /// Entries held.
    len: usize,
    /// Maximum entries, as asked at construction.
    max_entries: usize,
}

impl FlowTable {
    /// The value that marks an empty slot; it cannot be stored.
    pub const EMPTY: u32 = u32::MAX;

    /// A table for up to `max_entries` flows, with
    /// `max(2, next_power_of_two(2 × max_entries))` slots of 16 bytes (32 MiB for
    /// a million flows). `seed` should be random per table (per run and worker):
    /// it keys the hash against collisions aimed by a peer.
    pub fn with_capacity(max_entries: usize, seed: u64) -> Self {
        let slots = max_entries
            .checked_mul(2)
            .and_then(usize::checked_next_power_of_two)
            .expect("flow table size overflows usize")
            .max(2);
        // Two independent-looking words from one seed, so that neither is zero or
        // equal to the other for simple seeds (0, 1, ...).
        let seed_hi = splitmix64(seed);
        let seed_lo = splitmix64(seed_hi);
        Self {
            slots: vec![VACANT; slots],
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
            seed_hi,
            seed_lo,
            len: 0,
            max_entries,
        }
    }

    /// The value stored for `key`.
    #[inline]
    pub fn get(&self, key: &FlowKey) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i];
            if slot.value == Self::EMPTY {
                return None;
            }
            if slot.key == *key {
                return Some(slot.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Stores `value` for `key`, returning the value it replaces. `Err(Full)` when
    /// `key` is new and the table already holds `max_entries` flows.
    ///
    /// # Panics
    /// If `value == FlowTable::EMPTY`.
    #[inline]
    pub fn insert(&mut self, key: FlowKey, value: u32) -> Result<Option<u32>, Full> {
        assert_ne!(value, Self::EMPTY, "FlowTable::EMPTY cannot be stored");
        let mut i = self.home(&key);
        loop {
            let slot = &mut self.slots[i];
            if slot.value == Self::EMPTY {
                if self.len == self.max_entries {
                    return Err(Full);
                }
                *slot = Slot { key, value };
                self.len += 1;
                return Ok(None);
            }
            if slot.key == key {
                return Ok(Some(std::mem::replace(&mut slot.value, value)));
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`, returning its value.
    #[inline]
    pub fn remove(&mut self, key: &FlowKey) -> Option<u32> {
        let mut hole = self.home(key);
        loop {
            let slot = &self.slots[hole];
            if slot.value == Self::EMPTY {
                return None;
            }
            if slot.key == *key {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        let value = self.slots[hole].value;
        // Backward shift: walk the rest of the cluster and move back into the hole
        // every entry whose home is not between the hole and its current slot
        // (cyclically), i.e. every entry the hole would cut off from its home.
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let slot = self.slots[j];
            if slot.value == Self::EMPTY {
                break;
            }
            let home = self.home(&slot.key);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = VACANT;
        self.len -= 1;
        Some(value)
    }

    /// Entries held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of entries, as given to
    /// [`with_capacity`](Self::with_capacity).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.max_entries
    }

    /// Number of 16-byte slots (a power of two, at least twice the capacity).
    #[inline]
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The slot where `key`'s probe starts.
    #[inline]
    fn home(&self, key: &FlowKey) -> usize {
        (self.hash(key) >> self.shift) as usize
    }

    /// The keyed hash: the 12 key bytes as two words, each xored with a seed,
    /// multiplied to 128 bits and folded, then spread over the top bits by an odd
    /// multiplier.
    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        let ips = (u64::from(key.remote_ip) << 32) | u64::from(key.local_ip);
        let ports = (u64::from(key.remote_port) << 16) | u64::from(key.local_port);
        let product = u128::from(ips ^ self.seed_hi) * u128::from(ports ^ self.seed_lo);
        let folded = (product as u64) ^ ((product >> 64) as u64);
        folded.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// SplitMix64's output function: a bijective scrambler of a 64-bit word.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(n: u32) -> FlowKey {
        FlowKey {
            remote_ip: 0xc612_0000 | (n >> 16),
            local_ip: 0xc613_0001,
            remote_port: n as u16,
            local_port: 80,
        }
    }

    #[test]
    fn sizes_slots_to_twice_capacity_rounded_up() {
        assert_eq!(FlowTable::with_capacity(0, 1).slot_count(), 2);
        assert_eq!(FlowTable::with_capacity(1, 1).slot_count(), 2);
        assert_eq!(FlowTable::with_capacity(3, 1).slot_count(), 8);
        assert_eq!(FlowTable::with_capacity(1 << 20, 1).slot_count(), 1 << 21);
    }

    #[test]
    fn insert_replaces_and_returns_the_old_value() {
        let mut t = FlowTable::with_capacity(4, 7);
        assert_eq!(t.insert(key(1), 10), Ok(None));
        assert_eq!(t.insert(key(1), 11), Ok(Some(10)));
        assert_eq!(t.get(&key(1)), Some(11));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn full_table_refuses_new_keys_but_updates_old_ones() {
        let mut t = FlowTable::with_capacity(3, 7);
        for n in 0..3 {
            t.insert(key(n), n).unwrap();
        }
        assert_eq!(t.insert(key(3), 3), Err(Full));
        assert_eq!(t.insert(key(2), 20), Ok(Some(2)));
        assert_eq!(t.remove(&key(0)), Some(0));
        assert_eq!(t.insert(key(3), 3), Ok(None));
    }

    #[test]
    fn zero_capacity_table_holds_nothing() {
        let mut t = FlowTable::with_capacity(0, 7);
        assert_eq!(t.insert(key(1), 1), Err(Full));
        assert_eq!(t.get(&key(1)), None);
        assert_eq!(t.remove(&key(1)), None);
    }

    #[test]
    #[should_panic(expected = "EMPTY")]
    fn empty_marker_cannot_be_stored() {
        let _ = FlowTable::with_capacity(4, 7).insert(key(1), FlowTable::EMPTY);
    }

    #[test]
    fn removal_keeps_every_cluster_member_reachable() {
        // A tiny table at full load (8 entries in 16 slots) under many seeds, so
        // clusters form and wrap; each entry is removed from every position.
        for seed in 0..50 {
            for victim in 0..8 {
                let mut t2 = FlowTable::with_capacity(8, seed);
                for n in 0..8 {
                    t2.insert(key(n), n).unwrap();
                }
                assert_eq!(t2.remove(&key(victim)), Some(victim));
                for n in (0..8).filter(|&n| n != victim) {
                    assert_eq!(t2.get(&key(n)), Some(n), "seed {seed} victim {victim}");
                }
                assert_eq!(t2.get(&key(victim)), None);
            }
        }
    }

    #[test]
    fn sequential_tuples_spread_with_short_probes() {
        // Source-range tuples (consecutive ports and addresses) are what the tester
        // really sees; at load ½ linear probing averages ~1.5 probes for a hit
        // when the hash spreads well.
        let n = 1 << 16;
        let mut t = FlowTable::with_capacity(n, 0x1234_5678);
        for i in 0..n as u32 {
            t.insert(key(i), i).unwrap();
        }
        let mut probes = 0usize;
        let mut longest = 0usize;
        for i in 0..n as u32 {
            let k = key(i);
            let home = t.home(&k);
            let mut dist = 0;
            while t.slots[(home + dist) & t.mask].key != k {
                dist += 1;
            }
            probes += dist + 1;
            longest = longest.max(dist);
        }
        let mean = probes as f64 / n as f64;
        assert!(mean < 2.0, "mean probes {mean}");
        assert!(longest < 64, "longest probe {longest}");
    }

    #[test]
    fn different_seeds_place_keys_differently() {
        let a = FlowTable::with_capacity(1 << 10, 1);
        let b = FlowTable::with_capacity(1 << 10, 2);
        let same = (0..1_000)
            .filter(|&n| a.home(&key(n)) == b.home(&key(n)))
            .count();
        assert!(same < 20, "{same} of 1000 keys share a home slot");
    }

    proptest! {
        /// Random insert/remove/get sequences against a HashMap, in a small table so
        /// that clusters wrap around the end and backward shifts are exercised.
        #[test]
        fn matches_hashmap_model(
            seed in any::<u64>(),
            ops in prop::collection::vec((0u8..3, 0u32..40, 0u32..1_000), 1..500),
        ) {
            let mut t = FlowTable::with_capacity(24, seed);
            let mut model: HashMap<u32, u32> = HashMap::new();
            for (op, k, v) in ops {
                match op {
                    0 => {
                        let want = if model.contains_key(&k) || model.len() < 24 {
                            Ok(model.insert(k, v))
                        } else {
                            Err(Full)
                        };
                        prop_assert_eq!(t.insert(key(k), v), want);
                    }
                    1 => prop_assert_eq!(t.remove(&key(k)), model.remove(&k)),
                    _ => prop_assert_eq!(t.get(&key(k)), model.get(&k).copied()),
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for k in 0..40 {
                prop_assert_eq!(t.get(&key(k)), model.get(&k).copied());
            }
        }
    }
}
