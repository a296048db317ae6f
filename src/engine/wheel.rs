//! A hierarchical hashed timer wheel with a 1 ms tick, owned by one worker.
//!
//! Six levels of 64 slots cover 64⁶ ms (2³⁶ ms, about 795 days). A slot of level
//! `L` spans 64^`L` ms; a timer lives at the level where its deadline first differs
//! from the wheel's current time in binary (bits `6L..6L+6`), so everything at
//! level `L` shares the current time's bits above that level. When time reaches
//! the start of a slot of level `L > 0`, the slot's entries cascade: each is placed
//! again relative to the new time and lands on a lower level (or fires, if its
//! deadline is that very millisecond). An entry is touched at most once per level,
//! so insert is O(1) and firing is amortised O(1).
//!
//! Each level keeps a `u64` occupied-bitmap, so the next non-empty slot is found
//! with one rotation and one `trailing_zeros`, and a jump of hours in time visits
//! only the slots that hold something.
//!
//! Entries live in a pool allocated once by [`TimerWheel::new`] and never grown:
//! nodes `{deadline, item, next}` chained into one singly-linked list per slot
//! through `u32` indices, with a free list. There is no `remove`: cancellation is
//! lazy and belongs to the caller, whose `T` carries an index and a generation so
//! that an entry fired for a connection that has moved on is recognised and
//! skipped.
//!
//! Deadlines further than the wheel's range are placed at the far end of the top
//! level and placed again each time they are reached, so they still fire exactly
//! at their deadline. The top level is used as a ring: a slot at or behind the
//! current one stands for the next turn of that level.
//!
//! # Cost is amortised, not smooth
//!
//! A cascade moves a whole slot in one poll, walking a linked list of entries
//! armed long ago (cold in cache: ~20–100 ns each, measured). Timers armed at a
//! steady rate with one fixed duration bunch up: all 1 s RTOs armed in the second
//! before a 4096 ms boundary share one level-2 slot, and every level-1 slot holds
//! 64 ms worth of them. At 1 M timers/s that is a 64 k-entry cascade every 64 ms
//! and a ~1 M-entry one every 4.1 s (several ms of one poll; see
//! `benches/wheel.rs`). Timers of one fixed duration armed in time order are
//! better kept in a FIFO, which is sorted by construction and never cascades; the
//! wheel is for deadlines that vary (RTO backoff, user timeouts).

/// Bits of the deadline each level resolves.
const BITS_PER_LEVEL: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << BITS_PER_LEVEL;
/// Number of levels.
const LEVELS: usize = 6;
/// Milliseconds covered by the whole wheel: 64⁶ = 2³⁶.
pub const RANGE_MS: u64 = 1 << (BITS_PER_LEVEL as usize * LEVELS);
/// End-of-list marker for the `u32` links.
const NIL: u32 = u32::MAX;

/// One pooled timer entry.
#[derive(Clone, Copy, Debug)]
struct Node<T> {
    /// When the entry fires, in ms on the wheel's clock (never clamped).
    deadline_ms: u64,
    /// The caller's payload.
    item: T,
    /// Next entry in the same slot, the due list or the free list; [`NIL`] ends it.
    next: u32,
}

/// A hierarchical timer wheel of fixed capacity with a 1 ms tick.
///
/// Time is a `u64` count of milliseconds on any monotonic clock (the worker's
/// `Instant::as_millis`, or a virtual clock in tests); the wheel never reads a
/// clock itself. See the [module documentation](self) for the structure.
///
/// ```
/// use synfin::engine::wheel::TimerWheel;
/// let mut wheel = TimerWheel::new(4, 0);
/// wheel.insert(1_000, 'a').unwrap();
/// wheel.insert(60_000, 'b').unwrap();
/// let mut fired = Vec::new();
/// while let Some(t) = wheel.next_deadline() {
///     wheel.poll(t, |deadline, item| fired.push((deadline, item)));
/// }
/// assert_eq!(fired, [(1_000, 'a'), (60_000, 'b')]);
/// ```
#[derive(Debug)]
pub struct TimerWheel<T: Copy> {
    /// The entry pool. Its length grows up to `capacity` as fresh nodes are first
    /// used, inside the allocation made by `new`; after that nodes are recycled
    /// through `free`.
    nodes: Vec<Node<T>>,
    /// Maximum number of entries; `nodes` never holds more.
    capacity: usize,
    /// Head of the free list of recycled nodes.
    free: u32,
    /// Head of each slot's list, by level then slot.
    heads: [[u32; SLOTS]; LEVELS],
    /// Bit `s` of `occupied[l]` is set iff slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    /// Entries whose deadline is at or before `elapsed`, waiting to be handed out.
    due: u32,
    /// The wheel's current time, in ms. Every entry in a slot has a placement time
    /// later than this; everything due at or before it is on the `due` list.
    elapsed: u64,
    /// Number of entries held (in slots or on the due list).
    len: usize,
    /// Slots emptied so far; tests bound the work done by a poll with it.
    #[cfg(test)]
    slots_processed: usize,
}

impl<T: Copy> TimerWheel<T> {
    /// A wheel able to hold `capacity` entries, whose clock starts at `now_ms`.
    ///
    /// This is the only allocation: `capacity` nodes of
    /// `size_of::<u64>() + size_of::<T>() + 4` bytes (rounded up to alignment;
    /// 24 bytes for an 8-byte `T`).
    ///
    /// # Panics
    /// If `capacity` does not fit the `u32` links (`capacity >= u32::MAX`).
    pub fn new(capacity: usize, now_ms: u64) -> Self {
        assert!(
            capacity < NIL as usize,
            "timer wheel capacity {capacity} exceeds the u32 index space"
        );
        Self {
            nodes: Vec::with_capacity(capacity),
            capacity,
            free: NIL,
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            due: NIL,
            elapsed: now_ms,
            len: 0,
            #[cfg(test)]
            slots_processed: 0,
        }
    }

    /// Arms a timer firing at `deadline_ms` with `item`. O(1).
    ///
    /// A deadline at or before the wheel's current time (the `now_ms` of the last
    /// [`poll`](Self::poll)) fires at the next poll. Returns `Err(item)` when the
    /// pool is full.
    #[inline]
    pub fn insert(&mut self, deadline_ms: u64, item: T) -> Result<(), T> {
        let idx = match self.alloc(deadline_ms, item) {
            Some(idx) => idx,
            None => return Err(item),
        };
        self.len += 1;
        self.place(idx);
        Ok(())
    }

    /// Advances the wheel to `now_ms` and calls `f(deadline, item)` for every entry
    /// whose deadline is at or before `now_ms`; returns how many fired.
    ///
    /// Entries fire in deadline order, except those inserted with a deadline
    /// already past, which fire first. Empty stretches of time are skipped
    /// through the occupied-bitmaps, so a jump of hours costs only the slots that
    /// hold entries. A `now_ms` earlier than the wheel's current time is treated
    /// as the current time.
    ///
    /// `f` cannot touch the wheel; to re-arm timers while draining, use
    /// [`pop_expired`](Self::pop_expired) in a loop instead.
    pub fn poll<F: FnMut(u64, T)>(&mut self, now_ms: u64, mut f: F) -> usize {
        let mut fired = 0;
        while let Some((deadline, item)) = self.pop_expired(now_ms) {
            f(deadline, item);
            fired += 1;
        }
        fired
    }

    /// Hands out one entry whose deadline is at or before `now_ms`, advancing the
    /// wheel as far as needed to find it; `None` once there is none left, at which
    /// point the wheel's time is `now_ms` (or stays put if `now_ms` is earlier).
    ///
    /// This is [`poll`](Self::poll) one entry at a time: between calls the caller
    /// may [`insert`](Self::insert), and an entry inserted with a deadline at or
    /// before `now_ms` is handed out by the same drain. It also lets a worker
    /// bound the work done per burst.
    pub fn pop_expired(&mut self, now_ms: u64) -> Option<(u64, T)> {
        loop {
            if self.due != NIL {
                let idx = self.due;
                let node = self.nodes[idx as usize];
                self.due = node.next;
                self.release(idx);
                self.len -= 1;
                return Some((node.deadline_ms, node.item));
            }
            match self.next_slot() {
                Some((level, slot, start)) if start <= now_ms => {
                    self.elapsed = start;
                    self.process_slot(level, slot);
                }
                _ => {
                    self.elapsed = self.elapsed.max(now_ms);
                    return None;
                }
            }
        }
    }

    /// The earliest time at which a poll could fire something or has to cascade a
    /// slot; `None` when the wheel is empty.
    ///
    /// No entry has a deadline before this time, so a virtual clock can jump
    /// straight to it and poll; repeating jump-and-poll reaches every entry
    /// exactly at its deadline, visiting at most a few cascade times in between.
    /// When entries are already due this is the wheel's current time.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.due != NIL {
            Some(self.elapsed)
        } else {
            self.next_slot().map(|(_, _, start)| start)
        }
    }

    /// Number of armed entries (including stale ones the caller will skip).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of entries, fixed at [`new`](Self::new).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The wheel's current time in ms: the `now_ms` of the last completed poll
    /// (or of `new`), or the slot being worked through mid-drain.
    pub fn now_ms(&self) -> u64 {
        self.elapsed
    }

    /// Takes a node from the free list, or a fresh one inside the preallocated
    /// pool; `None` when all `capacity` nodes are in use.
    fn alloc(&mut self, deadline_ms: u64, item: T) -> Option<u32> {
        let node = Node {
            deadline_ms,
            item,
            next: NIL,
        };
        if self.free != NIL {
            let idx = self.free;
            self.free = self.nodes[idx as usize].next;
            self.nodes[idx as usize] = node;
            Some(idx)
        } else if self.nodes.len() < self.capacity {
            // Within the capacity reserved by `new`: no reallocation.
            let idx = self.nodes.len() as u32;
            self.nodes.push(node);
            Some(idx)
        } else {
            None
        }
    }

    /// Returns a node to the free list.
    fn release(&mut self, idx: u32) {
        self.nodes[idx as usize].next = self.free;
        self.free = idx;
    }

    /// Links node `idx` where it belongs relative to `elapsed`: on the due list if
    /// its deadline has passed, otherwise in the slot of its placement time.
    fn place(&mut self, idx: u32) {
        let deadline = self.nodes[idx as usize].deadline_ms;
        if deadline <= self.elapsed {
            self.nodes[idx as usize].next = self.due;
            self.due = idx;
            return;
        }
        // Beyond the range, aim at the last millisecond the wheel can represent;
        // the entry is placed again (closer) each time that slot is reached.
        let at = deadline.min(self.elapsed.saturating_add(RANGE_MS - 1));
        let level = level_for(self.elapsed, at);
        let slot = slot_for(at, level);
        self.nodes[idx as usize].next = self.heads[level][slot];
        self.heads[level][slot] = idx;
        self.occupied[level] |= 1 << slot;
    }

    /// The next non-empty slot and the time its start is reached:
    /// `(level, slot, start_ms)`.
    ///
    /// Everything on level `l` shares `elapsed`'s bits above that level, so any
    /// occupied slot of a lower level starts before any of a higher one and the
    /// first non-empty level holds the answer. Within a level the search starts
    /// just after the current slot and wraps; only the top level can wrap (its
    /// slots at or behind the current one stand for its next turn).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let shift = BITS_PER_LEVEL * level as u32;
        let current = ((self.elapsed >> shift) as usize) % SLOTS;
        let from = (current + 1) % SLOTS;
        let slot = (from
            + self.occupied[level]
                .rotate_right(from as u32)
                .trailing_zeros() as usize)
            % SLOTS;
        let level_span = 1u64 << (shift + BITS_PER_LEVEL);
        let level_start = self.elapsed & !(level_span - 1);
        let mut start = level_start + ((slot as u64) << shift);
        if start <= self.elapsed {
            debug_assert_eq!(level, LEVELS - 1, "only the top level wraps");
            start += level_span;
        }
        Some((level, slot, start))
    }

    /// Empties slot `slot` of `level` now that `elapsed` is its start: entries due
    /// now go to the due list, the others are placed again, on lower levels.
    fn process_slot(&mut self, level: usize, slot: usize) {
        let mut idx = std::mem::replace(&mut self.heads[level][slot], NIL);
        self.occupied[level] &= !(1 << slot);
        #[cfg(test)]
        {
            self.slots_processed += 1;
        }
        while idx != NIL {
            let next = self.nodes[idx as usize].next;
            self.place(idx);
            idx = next;
        }
    }
}

/// The level at which time `at` is kept when the wheel's time is `elapsed`: where
/// the two first differ in binary, counted in 6-bit digits (level 0 for the same
/// 64 ms stretch), capped at the top level.
fn level_for(elapsed: u64, at: u64) -> usize {
    let differ = (elapsed ^ at) | (SLOTS as u64 - 1);
    let highest = (63 - differ.leading_zeros()) as usize;
    (highest / BITS_PER_LEVEL as usize).min(LEVELS - 1)
}

/// The slot of time `at` on `level`: its 6-bit digit for that level.
fn slot_for(at: u64, level: usize) -> usize {
    ((at >> (BITS_PER_LEVEL as usize * level)) as usize) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Drains `wheel` at `now`, returning what fired.
    fn fire(wheel: &mut TimerWheel<u32>, now: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let n = wheel.poll(now, |d, i| out.push((d, i)));
        assert_eq!(n, out.len());
        out
    }

    /// Drives `wheel` with a virtual clock that jumps to `next_deadline`; every
    /// entry must fire exactly at its deadline.
    fn drain_virtual(wheel: &mut TimerWheel<u32>) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        let mut polls = 0usize;
        while let Some(t) = wheel.next_deadline() {
            assert!(t >= wheel.now_ms());
            wheel.poll(t, |d, i| {
                assert_eq!(d, t, "entry {i} fired at {t}, deadline {d}");
                out.push((d, i));
            });
            polls += 1;
            assert!(polls < 1_000_000, "virtual clock does not converge");
        }
        out
    }

    #[test]
    fn level_is_where_deadline_first_differs_from_now() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(64, 127), 0);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, RANGE_MS - 1), 5);
        assert_eq!(level_for(0, RANGE_MS), 5, "clamped to the top level");
        assert_eq!(level_for(0, u64::MAX), 5);
    }

    #[test]
    fn entry_fires_at_its_deadline_not_before() {
        let mut w = TimerWheel::new(8, 0);
        w.insert(1_000, 7).unwrap();
        assert!(fire(&mut w, 999).is_empty());
        assert_eq!(w.len(), 1);
        assert_eq!(fire(&mut w, 1_000), [(1_000, 7)]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_or_present_deadline_fires_at_next_poll() {
        let mut w = TimerWheel::new(8, 500);
        w.insert(500, 1).unwrap();
        w.insert(3, 2).unwrap();
        let mut got = fire(&mut w, 500);
        got.sort();
        assert_eq!(got, [(3, 2), (500, 1)]);
        // `now` behind the wheel's time is treated as its time.
        w.insert(400, 3).unwrap();
        assert_eq!(fire(&mut w, 10), [(400, 3)]);
        assert_eq!(w.now_ms(), 500);
    }

    #[test]
    fn same_deadline_entries_all_fire() {
        let mut w = TimerWheel::new(1_000, 0);
        for i in 0..1_000 {
            w.insert(60_000, i).unwrap();
        }
        assert!(fire(&mut w, 59_999).is_empty());
        let mut got: Vec<u32> = fire(&mut w, 60_000).into_iter().map(|(_, i)| i).collect();
        got.sort();
        assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    }

    #[test]
    fn full_pool_returns_the_item_and_recovers_after_firing() {
        let mut w = TimerWheel::new(3, 0);
        for i in 0..3 {
            w.insert(10 + i as u64, i).unwrap();
        }
        assert_eq!(w.insert(5, 99), Err(99));
        assert_eq!(w.len(), 3);
        assert_eq!(fire(&mut w, 10), [(10, 0)]);
        w.insert(5, 99).unwrap();
        assert_eq!(w.insert(6, 100), Err(100));
        assert_eq!(w.capacity(), 3);
    }

    #[test]
    fn zero_capacity_wheel_rejects_everything() {
        let mut w: TimerWheel<u32> = TimerWheel::new(0, 0);
        assert_eq!(w.insert(1, 1), Err(1));
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.poll(100, |_, _| unreachable!()), 0);
    }

    #[test]
    fn pool_never_reallocates() {
        let mut w = TimerWheel::new(1_000, 0);
        let cap = w.nodes.capacity();
        let ptr = w.nodes.as_ptr();
        for round in 0..5u64 {
            for i in 0..1_000 {
                w.insert(round * 100_000 + i as u64 * 37, i).unwrap();
            }
            assert_eq!(w.insert(0, 0), Err(0));
            w.poll((round + 1) * 100_000, |_, _| {});
            assert!(w.is_empty());
        }
        assert_eq!(w.nodes.capacity(), cap);
        assert_eq!(w.nodes.as_ptr(), ptr);
    }

    #[test]
    fn hour_long_jump_fires_everything_without_walking_each_millisecond() {
        let mut w = TimerWheel::new(16, 0);
        let deadlines = [1, 64, 4_095, 1_000_000, 3_600_000, 3_600_001];
        for (i, &d) in deadlines.iter().enumerate() {
            w.insert(d, i as u32).unwrap();
        }
        let got = fire(&mut w, 3_600_000);
        assert_eq!(
            got.iter().map(|&(d, _)| d).collect::<Vec<_>>(),
            deadlines[..5]
        );
        assert_eq!(w.now_ms(), 3_600_000);
        assert_eq!(w.len(), 1);
        // Ten years later, in one poll.
        assert_eq!(fire(&mut w, 10 * 365 * 86_400_000), [(3_600_001, 5)]);
        assert_eq!(w.next_deadline(), None);
        // At most one slot per level per entry, not one per millisecond.
        assert!(w.slots_processed <= deadlines.len() * LEVELS);
    }

    #[test]
    fn deadlines_beyond_the_range_fire_exactly() {
        let mut w = TimerWheel::new(16, 12_345);
        let far = [
            RANGE_MS - 1,
            RANGE_MS,
            RANGE_MS + 12_345,
            3 * RANGE_MS + 7,
            100 * RANGE_MS,
        ];
        for (i, &d) in far.iter().enumerate() {
            w.insert(d, i as u32).unwrap();
        }
        let got = drain_virtual(&mut w);
        assert_eq!(got.iter().map(|&(d, _)| d).collect::<Vec<_>>(), far);
        // A far entry is placed again once per turn of the top level (2^36 ms),
        // then cascades down as usual.
        assert!(w.slots_processed <= far.len() * (100 + LEVELS));
    }

    #[test]
    fn never_deadline_does_not_overflow() {
        let mut w = TimerWheel::new(4, u64::MAX - 1_000);
        w.insert(u64::MAX, 1).unwrap();
        w.insert(u64::MAX - 10, 2).unwrap();
        assert_eq!(fire(&mut w, u64::MAX - 10), [(u64::MAX - 10, 2)]);
        assert_eq!(fire(&mut w, u64::MAX), [(u64::MAX, 1)]);
    }

    #[test]
    fn insert_between_pops_fires_in_the_same_drain() {
        let mut w = TimerWheel::new(8, 0);
        w.insert(10, 1).unwrap();
        w.insert(100, 2).unwrap();
        assert_eq!(w.pop_expired(50), Some((10, 1)));
        // Re-armed from the callback's point of view: 30 is still <= 50.
        w.insert(30, 3).unwrap();
        w.insert(5, 4).unwrap();
        let mut rest = Vec::new();
        while let Some(e) = w.pop_expired(50) {
            rest.push(e);
        }
        assert_eq!(rest, [(5, 4), (30, 3)]);
        assert_eq!(w.now_ms(), 50);
        assert_eq!(
            w.next_deadline(),
            Some(64),
            "cascade of the slot holding 100"
        );
        assert_eq!(fire(&mut w, 100), [(100, 2)]);
    }

    #[test]
    fn insert_after_polls_is_relative_to_the_new_time() {
        let mut w = TimerWheel::new(8, 0);
        fire(&mut w, 1_000_000);
        w.insert(1_000_001, 1).unwrap();
        w.insert(1_060_000, 2).unwrap();
        assert_eq!(w.next_deadline(), Some(1_000_001));
        assert_eq!(drain_virtual(&mut w), [(1_000_001, 1), (1_060_000, 2)]);
    }

    #[test]
    fn virtual_clock_fires_every_level_in_deadline_order() {
        let mut w = TimerWheel::new(64, 777);
        let mut deadlines = Vec::new();
        for level in 0..LEVELS as u32 {
            for k in [1u64, 2, 63] {
                deadlines.push(777 + k * (1u64 << (6 * level)));
            }
        }
        for (i, &d) in deadlines.iter().enumerate().rev() {
            w.insert(d, i as u32).unwrap();
        }
        let got = drain_virtual(&mut w);
        let mut want = deadlines.clone();
        want.sort();
        assert_eq!(got.iter().map(|&(d, _)| d).collect::<Vec<_>>(), want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random deadlines on every level (and beyond), random poll times and
        /// inserts between polls, against a sorted-Vec model: each entry fires in
        /// the first poll whose `now` reaches its deadline.
        #[test]
        fn matches_sorted_vec_model(
            start in 0u64..1 << 40,
            ops in prop::collection::vec(
                prop_oneof![
                    // insert at now + offset, offsets spread over all levels
                    (0u32..40, any::<u64>()).prop_map(|(bits, r)| (true, r & ((1u64 << bits) - 1))),
                    (0u32..40, any::<u64>()).prop_map(|(bits, r)| (false, r & ((1u64 << bits) - 1))),
                ],
                1..200,
            ),
        ) {
            let mut w = TimerWheel::new(64, start);
            let mut model: Vec<(u64, u32)> = Vec::new();
            let mut now = start;
            let mut next_id = 0u32;
            for (is_insert, x) in ops {
                if is_insert {
                    // Deadlines both ahead of and (slightly) behind `now`.
                    let deadline = (now + x).saturating_sub(x % 3);
                    let r = w.insert(deadline, next_id);
                    if model.len() < 64 {
                        prop_assert!(r.is_ok());
                        model.push((deadline, next_id));
                    } else {
                        prop_assert_eq!(r, Err(next_id));
                    }
                    next_id += 1;
                } else {
                    now += x;
                    let mut got = fire(&mut w, now);
                    let mut want: Vec<_> = model.iter().copied().filter(|&(d, _)| d <= now).collect();
                    model.retain(|&(d, _)| d > now);
                    got.sort();
                    want.sort();
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(w.len(), model.len());
                    let earliest = model.iter().map(|&(d, _)| d).min();
                    match (w.next_deadline(), earliest) {
                        (None, None) => {}
                        (Some(t), Some(e)) => prop_assert!(now < t && t <= e),
                        other => prop_assert!(false, "next_deadline {:?}", other),
                    }
                }
            }
            // Whatever is left fires exactly on time under a virtual clock.
            let got = drain_virtual(&mut w);
            model.sort();
            prop_assert_eq!(got.iter().map(|&(d, _)| d).collect::<Vec<_>>(),
                            model.iter().map(|&(d, _)| d).collect::<Vec<_>>());
        }

        /// Driving the wheel only by `next_deadline` fires everything exactly at
        /// its deadline and in deadline order, whatever the levels involved.
        #[test]
        fn next_deadline_reaches_every_deadline_exactly(
            start in 0u64..1 << 50,
            offsets in prop::collection::vec((0u32..42, any::<u64>()), 0..100),
        ) {
            let mut w = TimerWheel::new(100, start);
            let mut want = Vec::new();
            for (i, (bits, r)) in offsets.into_iter().enumerate() {
                let d = start + (r & ((1u64 << bits) - 1));
                w.insert(d, i as u32).unwrap();
                want.push(d);
            }
            want.sort();
            let got: Vec<u64> = drain_virtual(&mut w).into_iter().map(|(d, _)| d).collect();
            prop_assert_eq!(got, want);
        }
    }
}
