//! In-memory wire: two [`Port`]s joined back to back, with seeded impairments.
//!
//! A [`MemWire`] connects side A (the client) to side B (the server) inside one
//! thread. A driver steps both workers alternately, each time borrowing the port
//! of the side it steps ([`MemWire::port_a`], [`MemWire::port_b`]).
//!
//! Everything is allocated in [`MemWire::new`]: per direction, a ring of
//! [`MAX_FRAME`]-byte frame buffers able to hold `frames` frames, where each ring
//! position owns one buffer. Transmitting builds the frame in the buffer at the
//! ring's back and records its length and delivery time; receiving hands the frames
//! at the front whose delivery time has come to the caller and moves the front on.
//! No buffer is taken from or returned to a free list, and nothing allocates after
//! `new`. At most `frames` frames are in flight in both directions together; a
//! transmit beyond that is refused (and counted), as from an exhausted pool.
//!
//! Each direction may lose, duplicate and reorder frames and delay them by a
//! constant one-way delay plus a uniform jitter ([`Impairments`]). All randomness
//! comes from one seeded Xoshiro256++ generator per direction, so the same seed and
//! the same sequence of calls produce exactly the same deliveries. When every
//! probability and the jitter are zero no random number is drawn and a frame costs a
//! handful of field updates.
//!
//! A direction's queue is always ordered by delivery time (delays and jitter never
//! reorder frames; only `reorder` does), so delivery looks only at the queue's front
//! and [`MemWire::next_delivery`] is O(1).

use std::time::Duration;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

use super::{Burst, MAX_FRAME, Port, Receive, Transmit};
use crate::time::Instant;

/// Frames in flight at most when the configuration does not say otherwise.
pub const DEFAULT_FRAMES: usize = 65_536;

/// One direction of the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From side A (client) to side B (server): what port A transmits.
    AtoB,
    /// From side B (server) to side A (client): what port B transmits.
    BtoA,
}

impl Dir {
    /// The other direction.
    #[inline]
    pub const fn reverse(self) -> Dir {
        match self {
            Dir::AtoB => Dir::BtoA,
            Dir::BtoA => Dir::AtoB,
        }
    }

    #[inline]
    const fn index(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
}

/// What one direction of the wire does to the frames it carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairments {
    /// Probability (0..=1) that a transmitted frame is dropped.
    pub loss: f64,
    /// Probability (0..=1) that a frame is delivered twice. The copy counts as a
    /// second frame in flight; when `frames` are already in flight the copy is
    /// skipped (and counted).
    pub duplicate: f64,
    /// Probability (0..=1) that a frame swaps places with the frame queued just
    /// before it in the same direction, if that frame is still in flight: the new
    /// frame takes the earlier delivery time and the older one is delivered after it.
    pub reorder: f64,
    /// Constant one-way delay added to every frame.
    pub delay: Duration,
    /// Extra one-way delay drawn uniformly from `0..=jitter` per frame. A frame is
    /// never delivered before one sent earlier in the same direction (jitter does not
    /// reorder; `reorder` does).
    pub jitter: Duration,
}

impl Impairments {
    /// A perfect wire: no loss, duplication, reordering or delay.
    pub const NONE: Impairments = Impairments {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    };
}

impl Default for Impairments {
    fn default() -> Self {
        Impairments::NONE
    }
}

/// How to build a [`MemWire`]. The impairments apply to each direction
/// independently (each with its own random stream); [`MemWire::set_impairments`]
/// changes one direction afterwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemWireConfig {
    /// The most frames that can be in flight at once, both directions together.
    /// Each direction has this many [`MAX_FRAME`]-byte buffers (rounded up to a
    /// power of two), in memory that is only touched as far as it is used.
    pub frames: usize,
    /// Probability (0..=1) that a frame is dropped.
    pub loss: f64,
    /// Probability (0..=1) that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability (0..=1) that a frame swaps places with the one queued before it.
    pub reorder: f64,
    /// Constant one-way delay.
    pub delay: Duration,
    /// Uniform extra one-way delay in `0..=jitter`.
    pub jitter: Duration,
    /// Seed of the random streams (one per direction, derived from this).
    pub seed: u64,
}

impl MemWireConfig {
    /// The per-direction impairments this configuration describes.
    pub fn impairments(&self) -> Impairments {
        Impairments {
            loss: self.loss,
            duplicate: self.duplicate,
            reorder: self.reorder,
            delay: self.delay,
            jitter: self.jitter,
        }
    }
}

impl Default for MemWireConfig {
    /// [`DEFAULT_FRAMES`] buffers, a perfect wire, seed 0.
    fn default() -> Self {
        MemWireConfig {
            frames: DEFAULT_FRAMES,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 0,
        }
    }
}

/// Counters of one direction.
///
/// For each direction, `sent - lost + duplicated == delivered + in_flight(dir)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemWireStats {
    /// Frames transmitted (built with a nonzero length), including those then lost.
    pub sent: u64,
    /// Frames handed to the receiver, duplicates included.
    pub delivered: u64,
    /// Frames dropped by `loss` or removed by [`MemWire::drop_queued`].
    pub lost: u64,
    /// Extra copies queued by `duplicate`.
    pub duplicated: u64,
    /// Frames that swapped places with the frame queued before them.
    pub reordered: u64,
    /// Transmit attempts refused because `frames` frames were in flight.
    pub pool_exhausted: u64,
    /// Duplicates not made because `frames` frames were in flight.
    pub duplicate_skipped: u64,
}

/// A probability as a threshold on a random `u64`: 0 never, `u64::MAX` always
/// (neither draws a random number).
#[derive(Clone, Copy, Debug)]
struct Chance(u64);

impl Chance {
    fn new(p: f64) -> Chance {
        if p <= 0.0 {
            Chance(0)
        } else if p >= 1.0 {
            Chance(u64::MAX)
        } else {
            // `as` saturates; a tiny p still gets a nonzero threshold.
            Chance(((p * 18_446_744_073_709_551_616.0) as u64).max(1))
        }
    }

    #[inline]
    fn hit(self, rng: &mut Xoshiro256PlusPlus) -> bool {
        match self.0 {
            0 => false,
            u64::MAX => true,
            t => rng.next_u64() < t,
        }
    }
}

/// A queued frame: how long, when it may be delivered. Its bytes are in the lane's
/// buffer at the same ring position, and so is this record, in the buffer's padding
/// ([`META`]).
#[derive(Clone, Copy, Debug)]
struct Slot {
    due: Instant,
    len: u32,
}

/// Distance between the starts of two frame buffers: a buffer and one cache line.
/// With buffers exactly [`MAX_FRAME`] (2 KiB) apart, the headers of every frame in
/// flight would fall in the same few sets of a set-associative cache and evict each
/// other; one more line per buffer staggers them.
const STRIDE: usize = MAX_FRAME + 64;

/// Where in a buffer (its padding line, past the frame) the [`Slot`] of the frame it
/// holds is kept: the delivery time (8 octets) then the length (4), native order.
/// Kept there rather than in an array of their own so that the frame and its record
/// are found with one bounds check, on a line the frame's access brings in anyway.
const META: usize = MAX_FRAME;

/// The buffer at ring position `pos` (already `& mask`) of `bytes`, padding included.
/// (Buffers are whole array elements: one bounds check finds one.)
#[inline(always)]
fn cell(bytes: &[[u8; STRIDE]], pos: usize) -> &[u8; STRIDE] {
    &bytes[pos]
}

/// [`cell`], to write.
#[inline(always)]
fn cell_mut(bytes: &mut [[u8; STRIDE]], pos: usize) -> &mut [u8; STRIDE] {
    &mut bytes[pos]
}

/// The [`Slot`] kept in a buffer.
#[inline(always)]
fn read_slot(c: &[u8; STRIDE]) -> Slot {
    let due = *c[META..].first_chunk::<8>().expect("padding holds a Slot");
    let len = *c[META + 8..]
        .first_chunk::<4>()
        .expect("padding holds a Slot");
    Slot {
        due: Instant(u64::from_ne_bytes(due)),
        len: u32::from_ne_bytes(len),
    }
}

/// Keep `s` in a buffer's padding.
#[inline(always)]
fn write_slot(c: &mut [u8; STRIDE], s: Slot) {
    c[META..META + 8].copy_from_slice(&s.due.as_nanos().to_ne_bytes());
    c[META + 8..META + 12].copy_from_slice(&s.len.to_ne_bytes());
}

/// One direction: a ring of frames (ordered by `due`), its impairments, random
/// stream and state.
///
/// The ring is a power-of-two number of positions, at least the wire's `frames`, and
/// position `p` owns frame buffer `p` of `bytes`: transmitting builds the frame in
/// the buffer at the back position and receiving reads the one at the front, so a
/// frame needs no buffer of its own to be found, taken or given back. (The wire
/// still refuses a frame when `frames` are in flight in both directions together.)
/// When the ring empties both ends go back to position 0, so that a wire that is
/// drained at every step keeps using the same few, cache-warm buffers.
#[derive(Debug)]
struct Lane {
    /// The frame buffers, each [`MAX_FRAME`] bytes, [`STRIDE`] bytes apart.
    /// (Each buffer's padding holds the [`Slot`] of its frame.)
    bytes: Vec<[u8; STRIDE]>,
    /// Ring positions less one (a power of two less one).
    mask: usize,
    /// Position of the front, wrapping (taken `& mask`).
    head: usize,
    /// Position after the back, wrapping.
    tail: usize,
    /// `due` of the back slot, [`Instant::ZERO`] when empty: kept here so that the
    /// transmit path does not have to find the back slot to read it.
    back_due: Instant,
    /// A frame sent before this instant (in nanoseconds) is due at `back_due`: the
    /// frame queued last is due no earlier than it would be (`back_due - delay`,
    /// plus one; 0 when `back_due` is less than the delay, and always 0 on a lane
    /// with impairments, whose frames go another way). Kept with `back_due`
    /// ([`set_back_due`](Self::set_back_due)), so that a clean lane's frames sent at
    /// the same instant as the one before (a burst's) take their delivery time with
    /// one comparison.
    same_due_before: u64,
    /// No loss, duplication, reordering or jitter: no random number is ever drawn,
    /// and a frame only needs its delivery time.
    clean: bool,
    rng: Xoshiro256PlusPlus,
    loss: Chance,
    duplicate: Chance,
    reorder: Chance,
    delay_ns: u64,
    jitter_ns: u64,
    impairments: Impairments,
    paused_until: Instant,
    /// `sent` at the last flush: what was sent since is unflushed (one counter
    /// less to bump per frame).
    sent_at_flush: u64,
    stats: MemWireStats,
}

/// `n` frame buffers of zeros, allocated zeroed: the allocator hands out fresh
/// pages, which stay untouched (not resident) until the ring reaches them, so a
/// wire sized for a large `--concurrency` costs memory only as far as it is used.
/// (`vec![[0; STRIDE]; n]` wrote every octet: the standard library takes only
/// arrays of up to 16 elements for known zeros, and a pool sized for 300,000
/// connections was then resident from the start, 1.1 GB for one connection.)
#[allow(unsafe_code)]
fn zeroed_frames(n: usize) -> Vec<[u8; STRIDE]> {
    let frames = Box::<[[u8; STRIDE]]>::new_zeroed_slice(n);
    // SAFETY: every bit pattern, all zeros included, is a valid `[u8; STRIDE]`.
    unsafe { frames.assume_init() }.into_vec()
}

impl Lane {
    fn new(capacity: usize, rng: Xoshiro256PlusPlus, imp: Impairments) -> Lane {
        let size = capacity.max(1).next_power_of_two();
        size.checked_mul(STRIDE)
            .expect("MemWire: frame buffers size overflows");
        let mut lane = Lane {
            bytes: zeroed_frames(size),
            mask: size - 1,
            head: 0,
            tail: 0,
            back_due: Instant::ZERO,
            same_due_before: 0,
            clean: true,
            rng,
            loss: Chance(0),
            duplicate: Chance(0),
            reorder: Chance(0),
            delay_ns: 0,
            jitter_ns: 0,
            impairments: Impairments::NONE,
            paused_until: Instant::ZERO,
            sent_at_flush: 0,
            stats: MemWireStats::default(),
        };
        lane.set(imp);
        lane
    }

    fn set(&mut self, imp: Impairments) {
        for (name, p) in [
            ("loss", imp.loss),
            ("duplicate", imp.duplicate),
            ("reorder", imp.reorder),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "MemWire: {name} probability {p} is not in 0..=1"
            );
        }
        self.loss = Chance::new(imp.loss);
        self.duplicate = Chance::new(imp.duplicate);
        self.reorder = Chance::new(imp.reorder);
        self.delay_ns = duration_nanos(imp.delay);
        self.jitter_ns = duration_nanos(imp.jitter);
        self.impairments = imp;
        self.clean =
            self.loss.0 == 0 && self.duplicate.0 == 0 && self.reorder.0 == 0 && self.jitter_ns == 0;
        // (What `same_due_before` says depends on the delay and on `clean`.)
        self.set_back_due(self.back_due);
    }

    /// Move the back of the ring on by one position and return the buffer
    /// (padding included) of the position it passed, where a frame is then built.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn push_cell(&mut self) -> &mut [u8; STRIDE] {
        let pos = self.tail & self.mask;
        self.tail = self.tail.wrapping_add(1);
        debug_assert!(pos < self.bytes.len());
        // SAFETY: `bytes` holds `mask + 1` buffers from `new` on (it is never
        // resized, and `mask` never changes), so a position `& mask` is in bounds.
        // (The bounds check, which the compiler cannot drop, was three of the
        // dozen or so instructions that queue a frame.)
        unsafe { self.bytes.get_unchecked_mut(pos) }
    }

    /// Frames queued.
    #[inline]
    fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head)
    }

    /// The frame of `len` bytes at ring position `pos` (already `& mask`).
    #[inline(always)]
    fn frame(&self, pos: usize, len: usize) -> &[u8] {
        &cell(&self.bytes, pos)[..len]
    }

    /// Copy the first `len` bytes of the buffer at position `from` to position `to`.
    fn copy(&mut self, from: usize, to: usize, len: usize) {
        if from == to {
            return;
        }
        let [src, dst] = self
            .bytes
            .get_disjoint_mut([from, to])
            .expect("two ring positions");
        dst[..len].copy_from_slice(&src[..len]);
    }

    /// Exchange the first `len` bytes of the buffers at two different positions.
    fn swap(&mut self, a: usize, b: usize, len: usize) {
        let [x, y] = self
            .bytes
            .get_disjoint_mut([a, b])
            .expect("two different ring positions");
        x[..len].swap_with_slice(&mut y[..len]);
    }

    /// Frames transmitted (built with a nonzero length), including those then lost:
    /// not counted per frame but derived from the other counters, which account
    /// for every frame sent (see [`MemWireStats`]).
    #[inline]
    fn sent(&self) -> u64 {
        self.stats.delivered + self.len() as u64 + self.stats.lost - self.stats.duplicated
    }

    /// Queue `s` at the back (its bytes are already in the back buffer).
    #[inline(always)]
    fn push_back(&mut self, s: Slot) {
        debug_assert!(self.len() <= self.mask, "MemWire ring overflow");
        self.set_slot(self.tail & self.mask, s);
        self.tail = self.tail.wrapping_add(1);
        self.set_back_due(s.due);
    }

    /// The slot at ring position `pos` (already `& mask`).
    #[inline(always)]
    fn slot(&self, pos: usize) -> Slot {
        read_slot(cell(&self.bytes, pos))
    }

    /// Set the slot at ring position `pos` (already `& mask`).
    #[inline(always)]
    fn set_slot(&mut self, pos: usize, s: Slot) {
        write_slot(cell_mut(&mut self.bytes, pos), s);
    }

    /// The slot at the back.
    #[cfg(test)]
    fn back(&self) -> Option<Slot> {
        (self.len() > 0).then(|| self.slot(self.tail.wrapping_sub(1) & self.mask))
    }

    /// The slots, front to back.
    #[cfg(test)]
    fn iter(&self) -> impl DoubleEndedIterator<Item = Slot> {
        (0..self.len()).map(move |i| self.slot(self.head.wrapping_add(i) & self.mask))
    }

    /// Delivery time of a frame sent at `now`: never before the last queued one.
    #[inline]
    fn due(&mut self, now: Instant) -> Instant {
        let mut t = now.as_nanos().saturating_add(self.delay_ns);
        if self.jitter_ns > 0 {
            // Uniform in 0..=jitter by multiply-high (no division, negligible bias).
            let span = u128::from(self.jitter_ns) + 1;
            let extra = ((u128::from(self.rng.next_u64()) * span) >> 64) as u64;
            t = t.saturating_add(extra);
        }
        // Never before the frame queued last.
        Instant(t).max(self.back_due)
    }

    /// Set the delivery time of the frame queued last (`back_due`), and with it
    /// `same_due_before`.
    #[inline(always)]
    fn set_back_due(&mut self, due: Instant) {
        self.back_due = due;
        self.same_due_before = match due.as_nanos().checked_sub(self.delay_ns) {
            Some(t) if self.clean => t.saturating_add(1),
            _ => 0,
        };
    }

    /// The delivery time of a frame sent at `now` on a clean lane (the constant
    /// delay, never before the frame queued last), which becomes `back_due`: the
    /// first frame of a burst's instant ([`TxLane::transmit`] takes the others'
    /// from `same_due_before`).
    #[inline(never)]
    fn clean_due(&mut self, now: Instant) -> Instant {
        let due = Instant(now.as_nanos().saturating_add(self.delay_ns)).max(self.back_due);
        self.set_back_due(due);
        due
    }

    #[inline]
    fn next_delivery(&self) -> Option<Instant> {
        (self.head != self.tail)
            .then(|| self.slot(self.head & self.mask).due.max(self.paused_until))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// An in-memory wire between two ports, A (client) and B (server), driven from one
/// thread. See the [module documentation](self).
#[derive(Debug)]
pub struct MemWire {
    /// The most frames in flight at once, both directions together.
    frames: usize,
    /// How many more frames can be put in flight: `frames` less those queued in
    /// both lanes (a count down, so that a transmit checks and takes one with a
    /// single field).
    free: usize,
    /// Indexed by [`Dir::index`].
    lanes: [Lane; 2],
}

impl MemWire {
    /// Build a wire, allocating everything it will ever use.
    ///
    /// # Panics
    ///
    /// If a probability is outside 0..=1 (or NaN), or `frames` exceeds `u32::MAX`.
    pub fn new(cfg: MemWireConfig) -> MemWire {
        let frames = cfg.frames;
        assert!(
            u32::try_from(frames).is_ok(),
            "MemWire: {frames} frames is too many"
        );
        let imp = cfg.impairments();
        let rng_ab = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        // The reverse direction draws from the same sequence 2^192 steps on, so the
        // two streams never overlap.
        let mut rng_ba = rng_ab.clone();
        rng_ba.long_jump();
        MemWire {
            frames,
            free: frames,
            lanes: [
                Lane::new(frames, rng_ab, imp),
                Lane::new(frames, rng_ba, imp),
            ],
        }
    }

    /// The bytes a wire of `frames` frames reserves for its buffers: per direction,
    /// `frames` rounded up to a power of two buffers of [`MAX_FRAME`] bytes and a
    /// padding line each. Reserved, and only touched as far as the rings reach.
    pub fn reserved_bytes(frames: usize) -> u64 {
        2 * frames.max(1).next_power_of_two() as u64 * STRIDE as u64
    }

    /// Port A (the client side): transmits on [`Dir::AtoB`], receives [`Dir::BtoA`].
    pub fn port_a(&mut self) -> MemPort<'_> {
        self.port(Dir::AtoB)
    }

    /// Port B (the server side): transmits on [`Dir::BtoA`], receives [`Dir::AtoB`].
    pub fn port_b(&mut self) -> MemPort<'_> {
        self.port(Dir::BtoA)
    }

    /// The port that transmits on `tx` (port A for [`Dir::AtoB`], B for
    /// [`Dir::BtoA`]).
    pub fn port(&mut self, tx: Dir) -> MemPort<'_> {
        let MemWire {
            free,
            lanes: [ab, ba],
            ..
        } = self;
        let (tx_lane, rx_lane) = match tx {
            Dir::AtoB => (ab, ba),
            Dir::BtoA => (ba, ab),
        };
        MemPort {
            tx: TxLane {
                lane: tx_lane,
                free,
            },
            rx: rx_lane,
            tx_dir: tx,
        }
    }

    /// The counters of one direction.
    pub fn stats(&self, dir: Dir) -> MemWireStats {
        let lane = &self.lanes[dir.index()];
        MemWireStats {
            sent: lane.sent(),
            ..lane.stats
        }
    }

    /// The impairments currently applied to one direction.
    pub fn impairments(&self, dir: Dir) -> Impairments {
        self.lanes[dir.index()].impairments
    }

    /// Change one direction's impairments from now on (frames already queued keep
    /// their delivery times; the random stream continues).
    ///
    /// # Panics
    ///
    /// If a probability is outside 0..=1 (or NaN).
    pub fn set_impairments(&mut self, dir: Dir, imp: Impairments) {
        self.lanes[dir.index()].set(imp);
    }

    /// The earliest instant at which a queued frame (either direction) can be
    /// delivered, pauses included; `None` when nothing is in flight. A virtual clock
    /// can jump to it.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.lanes.iter().filter_map(Lane::next_delivery).min()
    }

    /// Like [`next_delivery`](Self::next_delivery), for one direction.
    pub fn next_delivery_on(&self, dir: Dir) -> Option<Instant> {
        self.lanes[dir.index()].next_delivery()
    }

    /// Frames queued in both directions and not yet delivered.
    pub fn in_flight_frames(&self) -> usize {
        self.frames - self.free
    }

    /// Frames queued in one direction and not yet delivered.
    pub fn in_flight(&self, dir: Dir) -> usize {
        self.lanes[dir.index()].len()
    }

    /// How many more frames can be put in flight (`frames` less those in flight).
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Frames transmitted in `dir` since its port last called `flush`. The wire does
    /// not need flushes (frames are delivered at their delivery time regardless), but
    /// real ports do; tests can assert that an engine flushed.
    pub fn unflushed(&self, dir: Dir) -> u64 {
        let lane = &self.lanes[dir.index()];
        lane.sent() - lane.sent_at_flush
    }

    /// Hold back every frame of `dir` until `until`: frames keep queueing (and keep
    /// their own delivery times) but none is delivered before `until`. Pausing
    /// [`Dir::AtoB`] models a server that stops reading; [`Dir::BtoA`] one that stops
    /// answering. A later call replaces the earlier one;
    /// [`resume`](Self::resume) ends the pause.
    pub fn pause_until(&mut self, dir: Dir, until: Instant) {
        self.lanes[dir.index()].paused_until = until;
    }

    /// End a pause of `dir` at once.
    pub fn resume(&mut self, dir: Dir) {
        self.lanes[dir.index()].paused_until = Instant::ZERO;
    }

    /// The instant until which `dir` is paused (`Instant::ZERO` when not paused).
    pub fn paused_until(&self, dir: Dir) -> Instant {
        self.lanes[dir.index()].paused_until
    }

    /// Remove the in-flight frames of `dir` for which `pred` returns true, counting
    /// them as lost; returns how many. For targeted losses in scenario tests ("drop
    /// the client's last ACK"); the others keep their order and delivery times.
    pub fn drop_queued<P: FnMut(&[u8]) -> bool>(&mut self, dir: Dir, mut pred: P) -> usize {
        let lane = &mut self.lanes[dir.index()];
        let before = lane.len();
        let mut kept = 0;
        for i in 0..before {
            let pos = lane.head.wrapping_add(i) & lane.mask;
            let s = lane.slot(pos);
            if pred(lane.frame(pos, s.len as usize)) {
                continue;
            }
            let to = lane.head.wrapping_add(kept) & lane.mask;
            if to != pos {
                lane.copy(pos, to, s.len as usize);
                lane.set_slot(to, s);
            }
            kept += 1;
        }
        lane.tail = lane.head.wrapping_add(kept);
        lane.set_back_due(if kept == 0 {
            Instant::ZERO
        } else {
            lane.slot(lane.tail.wrapping_sub(1) & lane.mask).due
        });
        let dropped = before - kept;
        self.free += dropped;
        lane.stats.lost += dropped as u64;
        dropped
    }
}

impl Lane {
    /// Take the frames due at `now` off the ring, at most `max`: the ring's front
    /// moves past them and they leave the pool of frames in flight, `free` (their
    /// buffers stay as they are until the other side transmits into this direction
    /// again, which the caller's borrow excludes). Returns the first one's ring
    /// position and how many.
    #[inline(always)]
    fn take_due(&mut self, free: &mut usize, now: Instant, max: usize) -> (usize, usize) {
        if now < self.paused_until {
            return (0, 0);
        }
        let start = self.head;
        let mut n = self.len().min(max);
        // The ring is ordered by delivery time and `back_due` is its last one: when
        // that is due, every frame is (the usual case); otherwise count them.
        if self.back_due > now {
            n = self.count_due(now, n);
        }
        self.head = start.wrapping_add(n);
        if self.head == self.tail {
            // Empty: start over at the first buffers, which are warm.
            self.head = 0;
            self.tail = 0;
            self.set_back_due(Instant::ZERO);
        }
        self.stats.delivered += n as u64;
        *free += n;
        (start, n)
    }

    /// How many of the (at most `max`) frames at the front are due at `now`.
    #[cold]
    #[inline(never)]
    fn count_due(&self, now: Instant, max: usize) -> usize {
        (0..max)
            .take_while(|&i| self.slot(self.head.wrapping_add(i) & self.mask).due <= now)
            .count()
    }
}

/// One direction's transmit side: its lane, and the pool of frames in flight that
/// both directions share.
#[derive(Debug)]
struct TxLane<'a> {
    lane: &'a mut Lane,
    /// How many more frames can be put in flight ([`MemWire`]'s).
    free: &'a mut usize,
}

impl TxLane<'_> {
    /// The transmit path, inlined into each caller (it is short on a clean wire);
    /// impairments are applied out of line by [`impaired`](Self::impaired).
    #[inline(always)]
    fn transmit<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        let lane = &mut *self.lane;
        if *self.free == 0 {
            lane.stats.pool_exhausted += 1;
            return false;
        }
        // The frame is queued before it is built, with the delivery time of a clean
        // lane (nothing to draw, no jitter to add), so that nothing but the buffer is
        // needed once it is built (building uses every register). A build that
        // cancels is taken back; on a lane with impairments the frame is taken back
        // and queued again by `impaired`. A frame sent at the instant of the one
        // before on a clean lane is due with it (one comparison); the first of an
        // instant (and every frame of a lane with impairments) takes the delay.
        // (One place calls `build`: with two, the compiler stopped inlining the
        // header builders senders pass into it.)
        let due = if now.as_nanos() < lane.same_due_before {
            lane.back_due
        } else {
            lane.clean_due(now)
        };
        let c = lane.push_cell();
        *self.free -= 1;
        c[META..META + 8].copy_from_slice(&due.as_nanos().to_ne_bytes());
        let len = build(&mut c[..MAX_FRAME]);
        debug_assert!(len <= MAX_FRAME, "frame of {len} bytes exceeds MAX_FRAME");
        let len = len.min(MAX_FRAME);
        if len == 0 {
            self.take_back();
            return true;
        }
        c[META + 8..META + 12].copy_from_slice(&(len as u32).to_ne_bytes());
        if !lane.clean {
            self.take_back();
            self.impaired(now, len as u32);
        }
        true
    }

    /// Undo the queueing of the frame [`transmit`](Self::transmit) queued before
    /// building it (its bytes stay in the back buffer).
    #[cold]
    #[inline(never)]
    fn take_back(&mut self) {
        let lane = &mut *self.lane;
        lane.tail = lane.tail.wrapping_sub(1);
        *self.free += 1;
        let back_due = if lane.len() == 0 {
            Instant::ZERO
        } else {
            lane.slot(lane.tail.wrapping_sub(1) & lane.mask).due
        };
        lane.set_back_due(back_due);
    }

    /// Queue (or lose, reorder, duplicate) the frame of `len` octets just built in
    /// the back buffer, sent at `now`, on a direction with impairments.
    #[inline(never)]
    fn impaired(&mut self, now: Instant, len: u32) {
        let lane = &mut *self.lane;
        if lane.loss.hit(&mut lane.rng) {
            // Not queued: the back buffer is simply built over by the next frame.
            lane.stats.lost += 1;
            return;
        }
        let due = lane.due(now);
        let new = lane.tail & lane.mask;
        let swap = lane.len() > 0 && lane.reorder.hit(&mut lane.rng);
        // Where the new frame's bytes end up.
        let mut at = new;
        if swap {
            // The new frame takes the previous frame's place (and earlier delivery
            // time); the previous frame moves behind it, to the new delivery time.
            let prev = lane.tail.wrapping_sub(1) & lane.mask;
            let old = lane.slot(prev);
            lane.swap(prev, new, (len.max(old.len)) as usize);
            lane.set_slot(prev, Slot { len, ..old });
            lane.push_back(Slot { due, len: old.len });
            lane.stats.reordered += 1;
            at = prev;
        } else {
            lane.push_back(Slot { due, len });
        }
        *self.free -= 1;
        if lane.duplicate.hit(&mut lane.rng) {
            if *self.free > 0 {
                let copy = lane.tail & lane.mask;
                lane.copy(at, copy, len as usize);
                lane.push_back(Slot { due, len });
                *self.free -= 1;
                lane.stats.duplicated += 1;
            } else {
                lane.stats.duplicate_skipped += 1;
            }
        }
    }
}

impl Transmit for TxLane<'_> {
    #[inline(always)]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.transmit(now, build)
    }
}

/// The frames of a receive burst: `n` ring positions from `pos` of a lane that
/// [`Lane::take_due`] has already moved past them.
struct RxFrames<'a> {
    /// Exactly the ring's buffers, so that a position `& mask` needs no bounds
    /// check.
    cells: &'a [[u8; STRIDE]],
    mask: usize,
    pos: usize,
    n: usize,
}

impl Receive for RxFrames<'_> {
    #[inline(always)]
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        let (cells, mask, n) = (self.cells, self.mask, self.n);
        let mut pos = self.pos;
        let end = pos.wrapping_add(n);
        self.n = 0;
        while pos != end {
            let c = &cells[pos & mask];
            pos = pos.wrapping_add(1);
            let len = u32::from_ne_bytes(*c[META + 8..].first_chunk::<4>().expect("a Slot"));
            // (A length is at most MAX_FRAME: `transmit` keeps it so. Sliced as it
            // is, within the buffer and its slot: one comparison, where a clamp to
            // MAX_FRAME took three instructions per frame.)
            f(&c[..len as usize]);
        }
        n
    }
}

/// One side of a [`MemWire`], borrowed from it; implements [`Port`]. It holds the
/// lane it transmits on, the one it receives from and the pool they share, split
/// from the wire once when the port is made, so that a frame finds them with one
/// load each.
#[derive(Debug)]
pub struct MemPort<'w> {
    tx: TxLane<'w>,
    rx: &'w mut Lane,
    tx_dir: Dir,
}

impl MemPort<'_> {
    /// The direction this port transmits on (it receives the reverse).
    pub fn tx_dir(&self) -> Dir {
        self.tx_dir
    }
}

impl Transmit for MemPort<'_> {
    /// Lend the buffer at the back of this direction's ring to `build` and queue the frame with delivery time
    /// `now + delay (+ jitter)`, applying loss, reordering and duplication. Returns
    /// false when `frames` frames are in flight (counted as `pool_exhausted`). A lost frame still
    /// returns true: the sender cannot tell.
    #[inline(always)]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.tx.transmit(now, build)
    }
}

impl Port for MemPort<'_> {
    /// Deliver, in order, up to `max` frames of the reverse direction whose delivery
    /// time is `<= now` (none while that direction is paused); their buffers are
    /// free again once delivered. They are all taken off the ring (and out of the
    /// pool of frames in flight) before `b` runs; its transmit side is this port's
    /// lane, the other one.
    #[inline(always)]
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out {
        let rx_lane = &mut *self.rx;
        let (pos, n) = rx_lane.take_due(self.tx.free, now, max);
        let mut rx = RxFrames {
            cells: &rx_lane.bytes[..=rx_lane.mask],
            mask: rx_lane.mask,
            pos,
            n,
        };
        let mut tx = TxLane {
            lane: self.tx.lane,
            free: self.tx.free,
        };
        b.run(&mut rx, &mut tx)
    }

    /// Nothing to kick: frames become deliverable at their delivery time. Only resets
    /// the count reported by [`MemWire::unflushed`].
    #[inline]
    fn flush(&mut self, _now: Instant) {
        let lane = &mut *self.tx.lane;
        lane.sent_at_flush = lane.sent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send a frame carrying `id` (4 bytes, little endian) plus `pad` filler bytes.
    fn send(port: &mut MemPort<'_>, now: Instant, id: u32) -> bool {
        port.tx(now, |b| {
            b[..4].copy_from_slice(&id.to_le_bytes());
            4
        })
    }

    /// Receive everything due at `now` on `port`, as ids.
    fn recv(port: &mut MemPort<'_>, now: Instant) -> Vec<u32> {
        let mut ids = Vec::new();
        port.rx_burst(now, usize::MAX, |f| {
            ids.push(u32::from_le_bytes(f[..4].try_into().unwrap()))
        });
        ids
    }

    fn wire(frames: usize, imp: Impairments, seed: u64) -> MemWire {
        MemWire::new(MemWireConfig {
            frames,
            loss: imp.loss,
            duplicate: imp.duplicate,
            reorder: imp.reorder,
            delay: imp.delay,
            jitter: imp.jitter,
            seed,
        })
    }

    fn check_accounting(w: &MemWire) {
        for dir in [Dir::AtoB, Dir::BtoA] {
            let s = w.stats(dir);
            assert_eq!(
                s.sent - s.lost + s.duplicated,
                s.delivered + w.in_flight(dir) as u64,
                "{dir:?}"
            );
        }
        assert_eq!(w.free_frames() + w.in_flight_frames(), w.frames);
    }

    #[test]
    fn both_directions_intact_and_in_order() {
        let mut w = wire(64, Impairments::NONE, 1);
        let t = Instant::ZERO;
        let mut a = w.port_a();
        for i in 0..10 {
            assert!(a.tx(t, |b| {
                let n = 100 + i;
                b[..n].fill(i as u8);
                n
            }));
        }
        a.flush(t);
        let mut b = w.port_b();
        let mut got = Vec::new();
        assert_eq!(b.rx_burst(t, 64, |f| got.push(f.to_vec())), 10);
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f.len(), 100 + i);
            assert!(f.iter().all(|&x| x == i as u8));
        }
        for i in 0..5 {
            assert!(send(&mut b, t, 1000 + i));
        }
        // Port B sees none of its own frames.
        assert!(recv(&mut b, t).is_empty());
        assert_eq!(recv(&mut w.port_a(), t), vec![1000, 1001, 1002, 1003, 1004]);
        assert_eq!(w.in_flight_frames(), 0);
        assert_eq!(w.free_frames(), 64);
        assert_eq!(w.stats(Dir::AtoB).delivered, 10);
        assert_eq!(w.stats(Dir::BtoA).delivered, 5);
        check_accounting(&w);
    }

    #[test]
    fn perfect_wire_draws_no_random_numbers() {
        let mut w = wire(
            16,
            Impairments {
                delay: Duration::from_micros(3),
                ..Impairments::NONE
            },
            11,
        );
        let before = [w.lanes[0].rng.clone(), w.lanes[1].rng.clone()];
        for i in 0..100 {
            send(&mut w.port_a(), Instant::ZERO, i);
            send(&mut w.port_b(), Instant::ZERO, i);
            recv(&mut w.port_a(), Instant::NEVER);
            recv(&mut w.port_b(), Instant::NEVER);
        }
        assert_eq!([w.lanes[0].rng.clone(), w.lanes[1].rng.clone()], before);
        assert_eq!(w.stats(Dir::AtoB).delivered, 100);
    }

    #[test]
    fn reserved_bytes_is_what_the_lanes_hold() {
        for frames in [1, 4, 100, 4096] {
            let w = wire(frames, Impairments::NONE, 0);
            let held: usize = w.lanes.iter().map(|l| size_of_val(&l.bytes[..])).sum();
            assert_eq!(held as u64, MemWire::reserved_bytes(frames), "{frames}");
        }
    }

    #[test]
    fn rx_burst_respects_max() {
        let mut w = wire(16, Impairments::NONE, 0);
        for i in 0..10 {
            send(&mut w.port_a(), Instant::ZERO, i);
        }
        let mut ids = Vec::new();
        assert_eq!(w.port_b().rx_burst(Instant::ZERO, 4, |f| ids.push(f[0])), 4);
        assert_eq!(w.port_b().rx_burst(Instant::ZERO, 4, |f| ids.push(f[0])), 4);
        assert_eq!(w.port_b().rx_burst(Instant::ZERO, 4, |f| ids.push(f[0])), 2);
        assert_eq!(ids, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    fn zero_length_build_cancels() {
        let mut w = wire(4, Impairments::NONE, 0);
        assert!(w.port_a().tx(Instant::ZERO, |_| 0));
        assert_eq!(w.in_flight_frames(), 0);
        assert_eq!(w.free_frames(), 4);
        assert_eq!(w.stats(Dir::AtoB).sent, 0);
    }

    #[test]
    fn clean_delivery_times_are_the_delay_never_before_the_last() {
        // Every frame of a clean lane is due at max(now + delay, the due of the
        // frame queued last, or zero when none is), whatever the order of the
        // instants, cancels, receives and delay changes: the shortcut for frames
        // sent at the instant of the one before must not show.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut w = wire(64, Impairments::NONE, 0);
        let mut model: std::collections::VecDeque<Instant> = Default::default();
        let mut delay = 0u64;
        for step in 0..20_000u32 {
            let r = rng.next_u64();
            let now = Instant([0, 5, 5, 9, 100, 1_000, u64::MAX - 3, u64::MAX][(r % 8) as usize]);
            match (r >> 8) % 10 {
                0 => {
                    delay = [0, 1, 5, 200, u64::MAX / 2][((r >> 16) % 5) as usize];
                    w.set_impairments(
                        Dir::AtoB,
                        Impairments {
                            delay: Duration::from_nanos(delay),
                            ..Impairments::NONE
                        },
                    );
                }
                1 => {
                    let n = recv(&mut w.port_b(), now).len();
                    for _ in 0..n {
                        model.pop_front();
                    }
                }
                2 => {
                    // (Refused when the pool is full: nothing to take back then.)
                    w.port_a().tx(now, |_| 0);
                }
                _ => {
                    let back = model.back().copied().unwrap_or(Instant::ZERO);
                    let want = Instant(now.0.saturating_add(delay)).max(back);
                    if send(&mut w.port_a(), now, step) {
                        model.push_back(want);
                        assert_eq!(w.lanes[0].back().map(|s| s.due), Some(want), "{step}");
                    }
                }
            }
            assert_eq!(
                w.lanes[0].iter().map(|s| s.due).collect::<Vec<_>>(),
                Vec::from(model.clone())
            );
        }
        check_accounting(&w);
    }

    #[test]
    fn cancelled_build_leaves_no_trace_in_delivery_times() {
        // A clean lane queues a frame before building it; a cancel must take the
        // queueing back entirely, the back delivery time included.
        for queued_before in [0, 1, 2] {
            let mut w = wire(8, Impairments::NONE, 0);
            for i in 0..queued_before {
                send(&mut w.port_a(), Instant::from_micros(10), i);
            }
            assert!(w.port_a().tx(Instant::from_micros(100), |_| 0));
            assert_eq!(w.in_flight(Dir::AtoB), queued_before as usize);
            assert_eq!(w.in_flight_frames(), queued_before as usize);
            assert_eq!(w.unflushed(Dir::AtoB), u64::from(queued_before));
            // Sent earlier than the cancelled one would have been due: due at once.
            send(&mut w.port_a(), Instant::from_micros(50), 9);
            let front = if queued_before == 0 { 50 } else { 10 };
            assert_eq!(
                w.next_delivery_on(Dir::AtoB),
                Some(Instant::from_micros(front))
            );
            let mut got = recv(&mut w.port_b(), Instant::from_micros(50));
            assert_eq!(got.pop(), Some(9));
            assert_eq!(got.len(), queued_before as usize);
            check_accounting(&w);
        }
    }

    #[test]
    fn delay_is_respected_with_virtual_clock() {
        let delay = Duration::from_micros(250);
        let mut w = wire(
            16,
            Impairments {
                delay,
                ..Impairments::NONE
            },
            0,
        );
        let t0 = Instant::from_micros(1000);
        send(&mut w.port_a(), t0, 1);
        send(&mut w.port_a(), t0 + Duration::from_micros(10), 2);
        let due = t0 + delay;
        assert_eq!(w.next_delivery(), Some(due));
        assert!(recv(&mut w.port_b(), Instant(due.0 - 1)).is_empty());
        assert_eq!(recv(&mut w.port_b(), due), vec![1]);
        assert_eq!(w.next_delivery(), Some(due + Duration::from_micros(10)));
        // A virtual clock jumping to the next delivery gets the frame.
        let clock = crate::time::VirtualClock {
            now: w.next_delivery().unwrap(),
        };
        assert_eq!(recv(&mut w.port_b(), clock.now), vec![2]);
        assert_eq!(w.next_delivery(), None);
        // The reverse direction has the same delay.
        send(&mut w.port_b(), t0, 3);
        assert_eq!(w.next_delivery_on(Dir::BtoA), Some(due));
        assert_eq!(w.next_delivery_on(Dir::AtoB), None);
    }

    #[test]
    fn jitter_stays_in_bounds_and_keeps_order() {
        let delay = Duration::from_micros(100);
        let jitter = Duration::from_micros(50);
        let mut w = wire(
            2048,
            Impairments {
                delay,
                jitter,
                ..Impairments::NONE
            },
            7,
        );
        let mut spread = false;
        for i in 0..1000u32 {
            let now = Instant(u64::from(i) * 20_000);
            send(&mut w.port_a(), now, i);
            let due = w.lanes[0].back().unwrap().due;
            assert!(due >= now + delay);
            // Never later than its own bound or the previous frame's delivery time.
            assert!(
                due <= now + delay + jitter || due == w.lanes[0].iter().rev().nth(1).unwrap().due
            );
            spread |= due > now + delay;
        }
        assert!(spread, "jitter never added anything");
        let got = recv(&mut w.port_b(), Instant::NEVER);
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn loss_all_and_none() {
        let mut w = wire(
            64,
            Impairments {
                loss: 1.0,
                ..Impairments::NONE
            },
            3,
        );
        for i in 0..1000 {
            assert!(send(&mut w.port_a(), Instant::ZERO, i));
            assert!(send(&mut w.port_b(), Instant::ZERO, i));
        }
        assert_eq!(w.in_flight_frames(), 0);
        assert_eq!(w.stats(Dir::AtoB).lost, 1000);
        assert_eq!(w.stats(Dir::BtoA).lost, 1000);
        assert_eq!(w.free_frames(), 64);

        let mut w = wire(64, Impairments::NONE, 3);
        for i in 0..1000 {
            send(&mut w.port_a(), Instant::ZERO, i);
            assert_eq!(recv(&mut w.port_b(), Instant::ZERO), vec![i]);
        }
        assert_eq!(w.stats(Dir::AtoB).lost, 0);
        check_accounting(&w);
    }

    #[test]
    fn loss_five_percent() {
        let mut w = wire(
            16,
            Impairments {
                loss: 0.05,
                ..Impairments::NONE
            },
            42,
        );
        let n = 100_000;
        let mut delivered = 0;
        for i in 0..n {
            send(&mut w.port_a(), Instant::ZERO, i);
            delivered += recv(&mut w.port_b(), Instant::ZERO).len();
        }
        let lost = w.stats(Dir::AtoB).lost;
        assert_eq!(lost as usize + delivered, n as usize);
        let rate = lost as f64 / f64::from(n);
        assert!((rate - 0.05).abs() < 0.003, "loss rate {rate}");
        check_accounting(&w);
    }

    #[test]
    fn duplicate_delivers_two_copies() {
        let mut w = wire(
            64,
            Impairments {
                duplicate: 1.0,
                ..Impairments::NONE
            },
            5,
        );
        for i in 0..10 {
            send(&mut w.port_a(), Instant::ZERO, i);
        }
        let got = recv(&mut w.port_b(), Instant::ZERO);
        let want: Vec<u32> = (0..10).flat_map(|i| [i, i]).collect();
        assert_eq!(got, want);
        assert_eq!(w.stats(Dir::AtoB).duplicated, 10);
        check_accounting(&w);

        // Half the time, roughly.
        let mut w = wire(
            64,
            Impairments {
                duplicate: 0.5,
                ..Impairments::NONE
            },
            5,
        );
        for i in 0..10_000 {
            send(&mut w.port_a(), Instant::ZERO, i);
            recv(&mut w.port_b(), Instant::ZERO);
        }
        let d = w.stats(Dir::AtoB).duplicated;
        assert!((4_700..5_300).contains(&d), "{d}");
        check_accounting(&w);
    }

    #[test]
    fn duplicate_skipped_when_pool_is_empty() {
        let mut w = wire(
            3,
            Impairments {
                duplicate: 1.0,
                ..Impairments::NONE
            },
            5,
        );
        assert!(send(&mut w.port_a(), Instant::ZERO, 1)); // 2 buffers
        assert!(send(&mut w.port_a(), Instant::ZERO, 2)); // 1 buffer, no copy
        assert!(!send(&mut w.port_a(), Instant::ZERO, 3));
        let s = w.stats(Dir::AtoB);
        assert_eq!(
            (s.duplicated, s.duplicate_skipped, s.pool_exhausted),
            (1, 1, 1)
        );
        assert_eq!(recv(&mut w.port_b(), Instant::ZERO), vec![1, 1, 2]);
        check_accounting(&w);
    }

    #[test]
    fn reorder_swaps_adjacent_frames() {
        let delay = Duration::from_millis(1);
        let mut w = wire(
            64,
            Impairments {
                reorder: 1.0,
                delay,
                ..Impairments::NONE
            },
            9,
        );
        // Nothing queued before the first frame: it cannot swap.
        send(&mut w.port_a(), Instant::ZERO, 0);
        send(&mut w.port_a(), Instant(10), 1);
        assert_eq!(w.stats(Dir::AtoB).reordered, 1);
        // The new frame takes the earlier delivery time.
        assert_eq!(recv(&mut w.port_b(), Instant::ZERO + delay), vec![1]);
        assert_eq!(recv(&mut w.port_b(), Instant(10) + delay), vec![0]);
        // With the queue drained there is nothing to swap with.
        send(&mut w.port_a(), Instant(20), 2);
        assert_eq!(w.stats(Dir::AtoB).reordered, 1);
        recv(&mut w.port_b(), Instant::NEVER);

        // Partial reordering: a permutation, some out of order, every frame once.
        let mut w = wire(
            256,
            Impairments {
                reorder: 0.2,
                delay,
                ..Impairments::NONE
            },
            9,
        );
        let mut got = Vec::new();
        for i in 0..10_000u32 {
            let now = Instant(u64::from(i) * 100_000);
            send(&mut w.port_a(), now, i);
            got.extend(recv(&mut w.port_b(), now));
        }
        got.extend(recv(&mut w.port_b(), Instant::NEVER));
        let inversions = got.windows(2).filter(|p| p[0] > p[1]).count();
        let r = w.stats(Dir::AtoB).reordered;
        assert!(inversions > 0 && r >= inversions as u64, "{inversions} {r}");
        assert!((1_700..2_300).contains(&r), "{r}");
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
        check_accounting(&w);
    }

    #[test]
    fn pool_exhaustion_refuses_without_panicking() {
        let mut w = wire(4, Impairments::NONE, 0);
        for i in 0..4 {
            assert!(send(&mut w.port_a(), Instant::ZERO, i));
        }
        let mut called = false;
        assert!(!w.port_b().tx(Instant::ZERO, |_| {
            called = true;
            1
        }));
        assert!(!called);
        assert!(!send(&mut w.port_a(), Instant::ZERO, 9));
        assert_eq!(w.stats(Dir::AtoB).pool_exhausted, 1);
        assert_eq!(w.stats(Dir::BtoA).pool_exhausted, 1);
        assert_eq!(recv(&mut w.port_b(), Instant::ZERO), vec![0, 1, 2, 3]);
        assert!(send(&mut w.port_a(), Instant::ZERO, 4));
        check_accounting(&w);

        let mut empty = wire(0, Impairments::NONE, 0);
        assert!(!send(&mut empty.port_a(), Instant::ZERO, 0));
    }

    #[test]
    fn pause_holds_a_direction() {
        let mut w = wire(16, Impairments::NONE, 0);
        let until = Instant::from_millis(5);
        w.pause_until(Dir::BtoA, until);
        send(&mut w.port_b(), Instant::ZERO, 1);
        send(&mut w.port_a(), Instant::ZERO, 2);
        // The other direction flows.
        assert_eq!(recv(&mut w.port_b(), Instant::ZERO), vec![2]);
        assert_eq!(w.next_delivery(), Some(until));
        assert!(recv(&mut w.port_a(), Instant(until.0 - 1)).is_empty());
        send(&mut w.port_b(), Instant::from_millis(1), 3);
        assert_eq!(recv(&mut w.port_a(), until), vec![1, 3]);
        w.pause_until(Dir::BtoA, Instant::NEVER);
        send(&mut w.port_b(), until, 4);
        assert!(recv(&mut w.port_a(), Instant::from_millis(100)).is_empty());
        w.resume(Dir::BtoA);
        assert_eq!(w.paused_until(Dir::BtoA), Instant::ZERO);
        assert_eq!(recv(&mut w.port_a(), Instant::from_millis(100)), vec![4]);
    }

    #[test]
    fn drop_queued_removes_matching_frames() {
        let mut w = wire(16, Impairments::NONE, 0);
        for i in 0..6 {
            send(&mut w.port_a(), Instant::ZERO, i);
        }
        assert_eq!(w.drop_queued(Dir::AtoB, |f| f[0] % 2 == 1), 3);
        assert_eq!(w.stats(Dir::AtoB).lost, 3);
        assert_eq!(recv(&mut w.port_b(), Instant::ZERO), vec![0, 2, 4]);
        check_accounting(&w);
    }

    #[test]
    fn unflushed_counts_until_flush() {
        let mut w = wire(16, Impairments::NONE, 0);
        let mut a = w.port_a();
        send(&mut a, Instant::ZERO, 1);
        send(&mut a, Instant::ZERO, 2);
        assert_eq!(a.tx.lane.sent() - a.tx.lane.sent_at_flush, 2);
        a.flush(Instant::ZERO);
        assert_eq!(w.unflushed(Dir::AtoB), 0);
    }

    #[test]
    #[should_panic(expected = "loss probability")]
    fn bad_probability_panics() {
        wire(
            1,
            Impairments {
                loss: 1.5,
                ..Impairments::NONE
            },
            0,
        );
    }

    /// Drive a lossy, reordering, duplicating, jittery wire both ways and record every
    /// delivery as (direction, time, id).
    fn scripted_run(seed: u64) -> Vec<(u8, u64, u32)> {
        let imp = Impairments {
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.1,
            delay: Duration::from_micros(30),
            jitter: Duration::from_micros(20),
        };
        let mut w = wire(128, imp, seed);
        let mut log = Vec::new();
        for step in 0..5_000u32 {
            let now = Instant(u64::from(step) * 7_000);
            for k in 0..3 {
                send(&mut w.port_a(), now, step * 4 + k);
            }
            send(&mut w.port_b(), now, step);
            for id in recv(&mut w.port_b(), now) {
                log.push((0, now.0, id));
            }
            for id in recv(&mut w.port_a(), now) {
                log.push((1, now.0, id));
            }
        }
        check_accounting(&w);
        log
    }

    #[test]
    fn same_seed_same_deliveries() {
        let a = scripted_run(1234);
        assert!(a.len() > 10_000);
        assert_eq!(a, scripted_run(1234));
        assert_ne!(a, scripted_run(1235));
    }

    #[test]
    fn directions_draw_independent_streams() {
        let imp = Impairments {
            loss: 0.5,
            ..Impairments::NONE
        };
        let mut w = wire(16, imp, 77);
        let (mut ab, mut ba) = (Vec::new(), Vec::new());
        for i in 0..64 {
            send(&mut w.port_a(), Instant::ZERO, i);
            send(&mut w.port_b(), Instant::ZERO, i);
            ab.extend(recv(&mut w.port_b(), Instant::ZERO));
            ba.extend(recv(&mut w.port_a(), Instant::ZERO));
        }
        assert_ne!(ab, ba);
    }
}
