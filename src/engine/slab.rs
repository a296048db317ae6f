//! A fixed-capacity slab: the store of connection control blocks (or TIME-WAIT
//! records) that every other per-worker structure points into by `u32` index.
//!
//! All `capacity` values are allocated by [`Slab::new`] (as `T::default()`) and
//! never grown or freed until the slab is dropped ([`Slab::discard`] frees an entry
//! without resetting its value). Free entries are chained in a
//! free list, reused most-recently-freed first so a reused entry is likely still
//! in cache.
//!
//! A [`SlabKey`] is an index plus the generation of the entry at the time it was
//! handed out. Freeing an entry bumps its generation, so a key kept elsewhere (a
//! timer-wheel entry, a queued event) after its entry was freed, or freed and
//! reused, no longer matches and is recognised as stale. Hash tables that map a
//! flow to its entry can store the bare index instead and use the unchecked
//! [`Slab::get_by_index`]: they are updated whenever the entry is freed.

/// End-of-free-list marker.
const NIL: u32 = u32::MAX;
/// `next_free` of an entry that is in use.
const IN_USE: u32 = u32::MAX - 1;

/// A handle to a slab entry: its index and the generation it was handed out with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlabKey {
    /// Position of the entry, `< capacity`.
    pub index: u32,
    /// The entry's generation when this key was made; the entry's generation moves
    /// on when it is freed, which makes this key stale.
    pub generation: u32,
}

/// Per-entry bookkeeping, kept apart from the values so the hot path that reads
/// values by index does not pull it into cache.
#[derive(Clone, Copy, Debug)]
struct Meta {
    /// Bumped (wrapping) on every free.
    generation: u32,
    /// Next free entry while free ([`NIL`] ends the list), [`IN_USE`] while in use.
    next_free: u32,
}

/// A preallocated store of `T` with a free list and generation-checked keys.
///
/// No method allocates after [`new`](Slab::new).
///
/// ```
/// use synfin::engine::slab::Slab;
/// let mut slab: Slab<u64> = Slab::new(2);
/// let a = slab.insert(7).unwrap();
/// assert_eq!(slab.get(a), Some(&7));
/// assert_eq!(slab.remove(a), Some(7));
/// assert_eq!(slab.get(a), None, "stale key");
/// ```
#[derive(Debug)]
pub struct Slab<T> {
    /// The values, `capacity` of them; free ones hold `T::default()` or, after
    /// [`discard`](Slab::discard), a stale value.
    values: Vec<T>,
    /// Bookkeeping, parallel to `values`.
    meta: Vec<Meta>,
    /// Head of the free list.
    free: u32,
    /// Entries in use.
    len: usize,
}

impl<T: Default> Slab<T> {
    /// A slab of `capacity` entries, all free. The only allocation:
    /// `capacity × (size_of::<T>() + 8)` bytes.
    ///
    /// # Panics
    /// If `capacity` does not fit the `u32` index space (`capacity >= u32::MAX - 1`).
    pub fn new(capacity: usize) -> Self {
        assert!(
            capacity < IN_USE as usize,
            "slab capacity {capacity} exceeds the u32 index space"
        );
        let values = std::iter::repeat_with(T::default).take(capacity).collect();
        let meta = (0..capacity as u32)
            .map(|i| Meta {
                generation: 0,
                next_free: if i + 1 < capacity as u32 { i + 1 } else { NIL },
            })
            .collect();
        Self {
            values,
            meta,
            free: if capacity > 0 { 0 } else { NIL },
            len: 0,
        }
    }

    /// Stores `value` in a free entry and returns its key; `None` (dropping
    /// `value`) when the slab is full.
    pub fn insert(&mut self, value: T) -> Option<SlabKey> {
        let index = self.free;
        if index == NIL {
            return None;
        }
        let meta = &mut self.meta[index as usize];
        self.free = meta.next_free;
        meta.next_free = IN_USE;
        self.values[index as usize] = value;
        self.len += 1;
        Some(SlabKey {
            index,
            generation: meta.generation,
        })
    }

    /// Takes a free entry and lets `init` fill it in place (no value is built
    /// elsewhere and moved in); returns its key, or `None` (without calling `init`)
    /// when the slab is full. `init` gets the entry as it was left: `T::default()`
    /// or a stale value after [`discard`](Self::discard), so it must overwrite
    /// everything it relies on.
    #[inline(always)]
    pub fn insert_with(&mut self, init: impl FnOnce(&mut T)) -> Option<SlabKey> {
        let index = self.free;
        let meta = self.meta.get_mut(index as usize)?;
        self.free = meta.next_free;
        meta.next_free = IN_USE;
        let generation = meta.generation;
        init(&mut self.values[index as usize]);
        self.len += 1;
        Some(SlabKey { index, generation })
    }

    /// Frees the entry of `key` and returns its value (leaving `T::default()` in
    /// its place); `None` if `key` is stale or out of range.
    pub fn remove(&mut self, key: SlabKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        let value = std::mem::take(&mut self.values[key.index as usize]);
        self.release(key.index);
        Some(value)
    }

    /// Frees the entry of `key` without moving its value out (it is reset to
    /// `T::default()`); returns whether `key` was live.
    pub fn free(&mut self, key: SlabKey) -> bool {
        if !self.contains(key) {
            return false;
        }
        self.values[key.index as usize] = T::default();
        self.release(key.index);
        true
    }

    /// The value of `key`, `None` if the key is stale or out of range.
    #[inline]
    pub fn get(&self, key: SlabKey) -> Option<&T> {
        if self.contains(key) {
            Some(&self.values[key.index as usize])
        } else {
            None
        }
    }

    /// The value of `key` for update, `None` if the key is stale or out of range.
    #[inline]
    pub fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        if self.contains(key) {
            Some(&mut self.values[key.index as usize])
        } else {
            None
        }
    }

    /// Whether `key` names an entry in use with the same generation.
    #[inline]
    pub fn contains(&self, key: SlabKey) -> bool {
        self.meta
            .get(key.index as usize)
            .is_some_and(|m| m.next_free == IN_USE && m.generation == key.generation)
    }

    /// The value at `index`, without checking a generation or even that the entry
    /// is in use (a free entry holds `T::default()`). For callers whose index
    /// comes from a structure kept in step with the slab, such as the flow table.
    ///
    /// # Panics
    /// If `index >= capacity`.
    #[inline]
    pub fn get_by_index(&self, index: u32) -> &T {
        &self.values[index as usize]
    }

    /// The value at `index` for update; see [`get_by_index`](Self::get_by_index).
    ///
    /// # Panics
    /// If `index >= capacity`.
    #[inline]
    pub fn get_by_index_mut(&mut self, index: u32) -> &mut T {
        &mut self.values[index as usize]
    }

    /// The value at `index` for update if the entry is in use (whatever its
    /// generation): [`key_of`](Self::key_of) and
    /// [`get_by_index_mut`](Self::get_by_index_mut) in one.
    #[inline]
    pub fn get_live_mut(&mut self, index: u32) -> Option<&mut T> {
        match self.meta.get(index as usize) {
            Some(m) if m.next_free == IN_USE => self.values.get_mut(index as usize),
            _ => None,
        }
    }

    /// The current key of the entry at `index` if it is in use, to hand out a
    /// checked key (for a timer, say) from a bare index.
    #[inline]
    pub fn key_of(&self, index: u32) -> Option<SlabKey> {
        self.meta
            .get(index as usize)
            .filter(|m| m.next_free == IN_USE)
            .map(|m| SlabKey {
                index,
                generation: m.generation,
            })
    }

    /// Entries in use.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is in use.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every entry is in use.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.free == NIL
    }

    /// Number of entries, fixed at [`new`](Self::new).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.values.len()
    }

    /// Frees entry `index` if it is in use, leaving its value in place (stale: the
    /// next [`insert`](Self::insert) overwrites it) instead of resetting it as
    /// [`remove`](Self::remove) and [`free`](Self::free) do. For values read
    /// before they are freed, so that freeing does not copy them out and a default
    /// in. Returns whether the entry was in use.
    #[inline]
    pub fn discard(&mut self, index: u32) -> bool {
        match self.meta.get(index as usize) {
            Some(m) if m.next_free == IN_USE => {
                self.release(index);
                true
            }
            _ => false,
        }
    }

    /// Puts entry `index` (in use) on the free list and moves its generation on.
    fn release(&mut self, index: u32) {
        let meta = &mut self.meta[index as usize];
        meta.generation = meta.generation.wrapping_add(1);
        meta.next_free = self.free;
        self.free = index;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn insert_with_fills_in_place_and_refuses_when_full() {
        let mut slab: Slab<u32> = Slab::new(2);
        let a = slab.insert_with(|v| *v = 5).unwrap();
        assert!(slab.discard(a.index));
        // The stale value is what init sees.
        let b = slab.insert_with(|v| *v += 1).unwrap();
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(slab.get(b), Some(&6));
        let c = slab.insert_with(|v| *v = 9).unwrap();
        assert_eq!(slab.get(c), Some(&9));
        let mut called = false;
        assert_eq!(slab.insert_with(|_| called = true), None);
        assert!(!called);
        assert_eq!(slab.len(), 2);
    }

    #[test]
    fn fills_to_capacity_then_refuses() {
        let mut slab: Slab<u32> = Slab::new(3);
        let keys: Vec<_> = (0..3).map(|v| slab.insert(v).unwrap()).collect();
        assert!(slab.is_full());
        assert_eq!(slab.insert(9), None);
        assert_eq!(slab.len(), 3);
        for (v, k) in keys.iter().enumerate() {
            assert_eq!(slab.get(*k), Some(&(v as u32)));
        }
        assert_eq!(
            keys.iter().map(|k| k.index).collect::<Vec<_>>(),
            [0, 1, 2],
            "fresh entries are handed out in index order"
        );
    }

    #[test]
    fn freed_key_is_stale_even_after_its_entry_is_reused() {
        let mut slab: Slab<u32> = Slab::new(1);
        let old = slab.insert(1).unwrap();
        assert!(slab.free(old));
        assert!(!slab.free(old), "double free is refused");
        assert_eq!(*slab.get_by_index(old.index), 0, "freed value reset");
        let new = slab.insert(2).unwrap();
        assert_eq!(new.index, old.index);
        assert_ne!(new.generation, old.generation);
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.get(new), Some(&2));
        assert_eq!(slab.key_of(new.index), Some(new));
    }

    #[test]
    fn out_of_range_key_is_refused() {
        let mut slab: Slab<u32> = Slab::new(2);
        let bogus = SlabKey {
            index: 5,
            generation: 0,
        };
        assert!(!slab.contains(bogus));
        assert_eq!(slab.remove(bogus), None);
        assert_eq!(slab.key_of(5), None);
    }

    #[test]
    fn zero_capacity_slab_is_full() {
        let mut slab: Slab<u8> = Slab::new(0);
        assert!(slab.is_full());
        assert_eq!(slab.insert(1), None);
    }

    #[test]
    fn storage_never_reallocates() {
        let mut slab: Slab<u64> = Slab::new(64);
        let ptr = slab.values.as_ptr();
        for round in 0..10u64 {
            let keys: Vec<_> = (0..64).map(|v| slab.insert(v + round).unwrap()).collect();
            for k in keys {
                slab.remove(k).unwrap();
            }
        }
        assert_eq!(slab.values.as_ptr(), ptr);
        assert_eq!(slab.capacity(), 64);
    }

    proptest! {
        /// Random insert/remove/get against a HashMap of live keys, with stale keys
        /// kept around and checked to stay dead.
        #[test]
        fn matches_map_model(ops in prop::collection::vec((0u8..3, any::<u16>()), 1..400)) {
            let mut slab: Slab<u32> = Slab::new(16);
            let mut live: HashMap<SlabKey, u32> = HashMap::new();
            let mut dead: Vec<SlabKey> = Vec::new();
            let mut keys: Vec<SlabKey> = Vec::new();
            for (op, x) in ops {
                match op {
                    0 => match slab.insert(x as u32) {
                        Some(k) => {
                            prop_assert!(live.len() < 16);
                            prop_assert!(live.insert(k, x as u32).is_none());
                            keys.push(k);
                        }
                        None => prop_assert_eq!(live.len(), 16),
                    },
                    1 if !keys.is_empty() => {
                        let k = keys.swap_remove(x as usize % keys.len());
                        prop_assert_eq!(slab.remove(k), live.remove(&k));
                        dead.push(k);
                    }
                    _ => {
                        for k in &keys {
                            prop_assert_eq!(slab.get(*k), live.get(k));
                            prop_assert_eq!(*slab.get_by_index(k.index), live[k]);
                        }
                        for k in &dead {
                            prop_assert!(!slab.contains(*k));
                        }
                    }
                }
                prop_assert_eq!(slab.len(), live.len());
            }
        }
    }
}
