//! What the client and the server worker share: the control-block table, the timer
//! wheel, TIME-WAIT records and the transmit path.
//!
//! Timers are lazy and bounded: each table slot (control block or TIME-WAIT record)
//! has at most one pending wheel entry, whose deadline the slot remembers
//! (`*_armed`; for control blocks as the bound `conn_bound` of that deadline,
//! which a new deadline is compared with). A later deadline needs no new entry: when the pending one fires, the
//! slot's current deadline is checked and a new entry inserted if it lies ahead. A
//! freed slot keeps its pending entry, and the next occupant inherits it. So the
//! wheel never holds more entries than there are slots, and a connection that
//! finishes before its RTO costs no cancel at all.
//!
//! TIME-WAIT records that want the same deadline while the wheel's time stands
//! still (a burst's records, all 2·MSL from the same millisecond) share one wheel
//! entry: a group, whose records are chained through `tw_next`. The wheel would
//! have put each record's own entry exactly where it puts the group's (same
//! deadline, same current time), and moves them alike when it cascades, so its
//! slots, and with them every wake-up it asks for, are those it would have had;
//! only the order in which the records of one millisecond expire differs, and
//! nothing observable depends on it. A record costs a wheel insert only when it
//! starts a group.

use std::net::Ipv4Addr;

use super::slab::Slab;
use super::wheel::TimerWheel;
use crate::io::{Burst, Port, Receive, Transmit};
use crate::stats::{Counters, Recorder};
use crate::tcp::conn::ms;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::{Conn, Event, Phase, Sink, Step, TcpConfig, TcpParams, TimeWaitRecord, TwVerdict};
use crate::time::Instant;
use crate::wire::checksum::PrefixSums;
use crate::wire::ethernet::EthernetAddress;
use crate::wire::frame::{
    FrameHeader, KeepFrame, TcpFrame, TcpFrameTemplate, parse_tcp_frame, with_usual_tcp_frame,
};
use crate::wire::tcp::{TcpHeaderWords, TcpRepr};

/// Tag bit of a table value or wheel item that refers to a TIME-WAIT record.
pub const TW_BIT: u32 = 1 << 31;
const TW_ITEM: u64 = 1 << 63;
/// Tag bit of a TIME-WAIT wheel item that stands for a group of records (see the
/// module documentation): the item is the group's first record.
const TW_GROUP: u64 = 1 << 62;
const NOT_ARMED: u64 = u64::MAX;
/// `tw_next` of a record slot that is in no group.
const UNLINKED: u32 = u32::MAX - 1;
/// `tw_next` of the last record of a group.
const LIST_END: u32 = u32::MAX;
/// [`Core`]'s `conn_armed` holds, instead of the pending entry's tick `a`, the
/// bound [`conn_bound`]`(a)` in nanoseconds: a deadline at or beyond it needs no
/// new entry. These are its values for no entry and for [`RETRY`] (a bound
/// never takes the second: see `conn_bound`).
const CONN_NOT_ARMED: u64 = u64::MAX;
const CONN_RETRY: u64 = u64::MAX - 1;
/// A slot whose timer found the wheel full: [`Core::rearm_overflowed`] arms it once
/// entries have fired. (Lazy cancelling leaves stale entries in the wheel, so it can
/// fill up; a timer must never be lost — a hostile peer found that one was.)
const RETRY: u64 = u64::MAX - 1;

/// How a worker finds its connections: the client indexes its source tuples
/// directly, the server hashes 4-tuples.
pub trait FlowIndex {
    /// The key a connection is filed under.
    type Key: Copy + Default;
    /// `(local_ip, local_port, remote_ip, remote_port)` of a key.
    fn endpoints(&self, key: Self::Key) -> (u32, u16, u32, u16);
    /// File `value` (a control-block slot, or [`TW_BIT`] | a TIME-WAIT slot) under
    /// `key`.
    fn set(&mut self, key: Self::Key, value: u32);
    /// Remove whatever is filed under `key`.
    fn clear(&mut self, key: Self::Key);
    /// [`set`](Self::set), where `hint` is what the index said of `key` when it
    /// was looked up ([`NO_HINT`] if nothing): an index that keeps keys at places
    /// it can name (the server's direct slots) files it there without finding
    /// the place again.
    #[inline(always)]
    fn set_hinted(&mut self, key: Self::Key, hint: u32, value: u32) {
        let _ = hint;
        self.set(key, value);
    }
    /// [`clear`](Self::clear) with the `hint` of [`set_hinted`](Self::set_hinted).
    #[inline(always)]
    fn clear_hinted(&mut self, key: Self::Key, hint: u32) {
        let _ = hint;
        self.clear(key);
    }
}

/// The hint of a key an index gave no place for (see [`FlowIndex::set_hinted`]).
pub const NO_HINT: u32 = u32::MAX;

/// A control block and the key it is filed under.
#[derive(Clone, Debug)]
pub struct ConnSlot<K> {
    /// The connection.
    pub conn: Conn,
    /// Its key in the worker's index.
    pub key: K,
    /// The index's hint for the key ([`FlowIndex::set_hinted`]; [`NO_HINT`] if
    /// none). In the padding after the key: the slot does not grow.
    pub hint: u32,
}

impl<K: Default> Default for ConnSlot<K> {
    fn default() -> Self {
        ConnSlot {
            conn: Conn::default(),
            key: K::default(),
            hint: NO_HINT,
        }
    }
}

/// A TIME-WAIT record and the key it is filed under.
#[derive(Clone, Copy, Debug, Default)]
pub struct TwSlot<K> {
    /// The record.
    pub rec: TimeWaitRecord,
    /// Its key in the worker's index.
    pub key: K,
}

/// A received segment as a worker holds it between parsing and dispatch: its
/// addresses (host order) and TCP header. The payload is only counted, never read.
///
/// In C layout, the destination first: the addresses are then the last eight
/// octets of the IPv4 header read as one big-endian word (the source is its high
/// half), stored with one load, one byte swap and one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RxSeg {
    /// The TCP header.
    pub tcp: TcpRepr,
    /// IPv4 destination.
    pub dst_ip: u32,
    /// IPv4 source.
    pub src_ip: u32,
}

/// Where a worker keeps a burst's segments between parsing and dispatch: a slot
/// per frame of a burst, allocated once.
pub type RxSegs = Box<[RxSeg; super::BURST]>;

/// A new [`RxSegs`].
pub fn rx_segs() -> RxSegs {
    Box::new([RxSeg::default(); super::BURST])
}

/// Receive up to a burst of frames from `port` into `rx`, parsing and (with
/// `verify`) checksum-verifying each; invalid frames are counted and dropped.
/// Returns the number of frames received and how many segments were kept (at the
/// start of `rx`).
///
/// The segments are kept in a fixed array with their count in a register, not
/// pushed on a `Vec` (whose length and capacity were loaded and stored for every
/// frame). A port hands at most a burst's frames; one more would be counted
/// invalid. Out of line: the loop has the registers to itself, apart from the
/// worker's code around it.
#[inline(never)]
pub fn receive_burst<P: Port>(
    port: &mut P,
    now: Instant,
    rx: &mut [RxSeg; super::BURST],
    c: &mut crate::stats::Counters,
    verify: bool,
) -> (usize, usize) {
    // (The verification is a constant of each loop: no test and no register for
    // it per frame.)
    let r = if verify {
        port.burst(now, super::BURST, ReceiveSegs::<true> { segs: rx })
    } else {
        port.burst(now, super::BURST, ReceiveSegs::<false> { segs: rx })
    };
    // Every frame is either kept or counted invalid.
    c.rx_packets += (r.kept as u64) + r.invalid;
    c.rx_invalid += r.invalid;
    c.rx_bytes += r.bytes;
    (r.n, r.kept)
}

/// [`receive_burst`]'s burst. Its counts are its own locals, given back at the
/// end (a closure's captured counts live where the caller put them, and were
/// loaded and stored through a pointer for every frame).
/// `VERIFY`: whether to verify the checksums.
struct ReceiveSegs<'a, const VERIFY: bool> {
    segs: &'a mut [RxSeg; super::BURST],
}

/// What [`ReceiveSegs`] counted.
struct Received {
    /// Frames the port took off.
    n: usize,
    /// Segments kept, at the start of the array. (The frames handed to the burst
    /// are these and the invalid ones: no counter of their own, which held a
    /// register and cost an increment per frame.)
    kept: usize,
    /// Their octets.
    bytes: u64,
    /// Frames found invalid.
    invalid: u64,
}

impl<const VERIFY: bool> Burst for ReceiveSegs<'_, VERIFY> {
    type Out = Received;
    #[inline(always)]
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, _tx: &mut T) -> Received {
        let ReceiveSegs { segs } = self;
        let verify = VERIFY;
        let (mut invalid, mut bytes) = (0u64, 0u64);
        // The slots not yet taken: the frame's slot is the first, and a kept frame
        // moves the start past it (a pointer and a length, instead of the slot's
        // address computed from a count for every frame).
        let mut free: &mut [RxSeg] = segs;
        let n = rx.each(
            #[inline(always)]
            |frame| {
                bytes += frame.len() as u64;
                // The frame's slot, found before it is parsed, so that nothing comes
                // between the parsing and the store: the parsed fields would be kept
                // across it on the stack.
                let Some(slot) = free.first_mut() else {
                    invalid += 1;
                    return;
                };
                // The usual frame is parsed inline and stored where it is parsed, in
                // the code of its shape; anything else goes the general way out of
                // line. (Joining the shapes into one result first made every frame's
                // fields go through a copy on the stack.)
                if with_usual_tcp_frame(frame, verify, &mut Put(slot))
                    || receive_unusual(frame, verify, slot)
                {
                    free = &mut std::mem::take(&mut free)[1..];
                } else {
                    invalid += 1;
                }
            },
        );
        let kept = super::BURST - free.len();
        Received {
            n,
            kept,
            bytes,
            invalid,
        }
    }
}

/// Where a burst's frame is kept: [`put`] as a [`KeepFrame`].
struct Put<'a>(&'a mut RxSeg);

impl KeepFrame for Put<'_> {
    #[inline(always)]
    fn keep(&mut self, frame: TcpFrame) {
        put(self.0, frame);
    }

    #[inline(always)]
    fn keep_parsed(&mut self, f: TcpFrame, ack_flags_window: u64) {
        // (The header's word as it is: see `TcpRepr::set_parsed`.)
        self.0.tcp.set_parsed(f.tcp, ack_flags_window);
        self.0.src_ip = f.src_ip.to_bits();
        self.0.dst_ip = f.dst_ip.to_bits();
    }
}

/// Keep a parsed frame of a burst.
#[inline(always)]
fn put(slot: &mut RxSeg, f: TcpFrame) {
    // (`TcpRepr::set` stores the window, flags and ack as one word.)
    slot.tcp.set(f.tcp);
    slot.src_ip = f.src_ip.to_bits();
    slot.dst_ip = f.dst_ip.to_bits();
}

/// [`receive_burst`] of a frame its inline parser did not take: parsed by layers
/// and kept (true) or found invalid (false).
#[cold]
#[inline(never)]
fn receive_unusual(frame: &[u8], verify: bool, slot: &mut RxSeg) -> bool {
    match parse_tcp_frame(frame, verify) {
        Ok(f) => {
            put(slot, f);
            true
        }
        Err(_) => false,
    }
}

/// Link-layer addresses a worker puts on its frames.
#[derive(Clone, Copy, Debug)]
pub struct Macs {
    /// Ours.
    pub local: EthernetAddress,
    /// The peer's (or the next hop's).
    pub remote: EthernetAddress,
}

/// Prepared Ethernet and IPv4 headers ([`TcpFrameTemplate`]) for the address pairs a
/// worker sends between, in a small direct-mapped cache keyed by the pair.
///
/// This is the emit fast path: a frame is then a copy of the prepared headers with
/// the lengths patched and both checksums finished from precomputed sums, instead of
/// three headers built and summed field by field. A client sends from a handful of
/// source addresses to one destination and a server answers a handful of clients, so
/// the cache almost never misses; a miss rebuilds the slot's template.
pub struct Templates {
    macs: Macs,
    /// The pair and template of the last [`get`](Self::get), checked first: a client
    /// opens its connections from one source address after another, and a server
    /// answers them in the same order, so consecutive frames mostly share their
    /// pair. Starts as the pair (0, 0).
    last: (u64, TcpFrameTemplate),
    /// `(remote_ip << 32 | local_ip, template)`; every slot starts as the pair (0, 0).
    /// A fixed-size array, so that a slot index needs no bounds check.
    slots: Box<[(u64, TcpFrameTemplate); Templates::SLOTS]>,
}

impl Templates {
    /// Slots in the cache: one per value of the hash's top octet.
    const SLOTS: usize = 256;

    /// An empty cache for frames between `macs`.
    pub fn new(macs: Macs) -> Templates {
        let zero = Self::template(&macs, 0, 0);
        Templates {
            macs,
            last: (0, zero),
            slots: vec![(0, zero); Self::SLOTS]
                .into_boxed_slice()
                .try_into()
                .expect("SLOTS slots"),
        }
    }

    fn template(macs: &Macs, local_ip: u32, remote_ip: u32) -> TcpFrameTemplate {
        TcpFrameTemplate::new(&FrameHeader {
            src_mac: macs.local,
            dst_mac: macs.remote,
            src_ip: Ipv4Addr::from(local_ip),
            dst_ip: Ipv4Addr::from(remote_ip),
            ttl: 64,
        })
    }

    /// The link-layer addresses of every frame.
    #[inline]
    pub fn macs(&self) -> Macs {
        self.macs
    }

    /// The template for frames from `local_ip` to `remote_ip` (host order).
    #[inline(always)]
    pub fn get(&mut self, local_ip: u32, remote_ip: u32) -> &TcpFrameTemplate {
        // The remote address high: as a connection holds the two (`Conn::local_ip`
        // then `remote_ip`), so that the key is one load from it.
        let key = u64::from(remote_ip) << 32 | u64::from(local_ip);
        if self.last.0 != key {
            self.switch(key);
        }
        &self.last.1
    }

    /// Make the pair `key` the last one: its template from the cache (or made anew
    /// into its slot), copied beside the cache.
    #[cold]
    #[inline(never)]
    fn switch(&mut self, key: u64) {
        let (local_ip, remote_ip) = (key as u32, (key >> 32) as u32);
        // Fibonacci hashing of the pair: consecutive addresses land far apart.
        let h = (local_ip ^ remote_ip.rotate_left(16)).wrapping_mul(0x9e37_79b9);
        let slot = &mut self.slots[(h >> 24) as usize];
        if slot.0 != key {
            *slot = (key, Self::template(&self.macs, local_ip, remote_ip));
        }
        self.last = *slot;
    }
}

/// The bytes a side sends (its request or its response), with the sums of their
/// prefixes ([`PrefixSums`]): the same bytes go out on every connection, so a
/// segment's checksum takes the sum of its slice of them from the prefix sums (a
/// subtraction) instead of reading the slice a second time after copying it into
/// the frame.
#[derive(Debug)]
pub struct Payload {
    bytes: Vec<u8>,
    sums: PrefixSums,
    /// [`PrefixSums::slice_acc`] of all the bytes: most segments carry the whole
    /// request or response.
    whole: u64,
}

/// The payload of segments that carry none (resets, TIME-WAIT acknowledgments).
pub static NO_PAYLOAD: Payload = Payload {
    bytes: Vec::new(),
    sums: PrefixSums::EMPTY,
    whole: 0,
};

impl Payload {
    /// `bytes`, with their prefix sums.
    pub fn new(bytes: Vec<u8>) -> Payload {
        let sums = PrefixSums::new(&bytes);
        let whole = sums.slice_acc(0, bytes.len()).unwrap_or(0);
        Payload { bytes, sums, whole }
    }

    /// The bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What a payload of `len` bytes takes: the bytes and a 16-bit prefix sum per
    /// byte, plus one (for [`crate::engine::memory::MemoryBudget`]).
    pub fn reserved_bytes(len: u32) -> u64 {
        u64::from(len) + 2 * (u64::from(len) + 1)
    }

    /// The `len` bytes at `offset` and a value congruent to their checksum sum
    /// ([`PrefixSums::slice_acc`]), if the payload holds them.
    #[inline(always)]
    pub fn slice(&self, offset: u32, len: u16) -> Option<(&[u8], u64)> {
        if offset == 0 && usize::from(len) == self.bytes.len() {
            return Some((&self.bytes, self.whole));
        }
        let start = offset as usize;
        let end = start + usize::from(len);
        let bytes = self.bytes.get(start..end)?;
        Some((bytes, self.sums.slice_acc(start, end)?))
    }

    /// [`slice`](Self::slice) when the payload does not hold all `len` bytes at
    /// `offset`: what it holds of them.
    #[cold]
    #[inline(never)]
    pub fn slice_clamped(&self, offset: u32, len: u16) -> (&[u8], u64) {
        let start = (offset as usize).min(self.bytes.len());
        let end = (start + usize::from(len)).min(self.bytes.len());
        let sum = self.sums.slice_sum(&self.bytes, start, end);
        (&self.bytes[start..end], u64::from(sum))
    }
}

/// The transmit side of a worker as the TCP core sees it ([`Sink`]).
pub struct Tx<'a, P: Transmit> {
    /// Where frames go.
    pub port: &'a mut P,
    /// The burst's time.
    pub now: Instant,
    /// `now` on the millisecond clock ([`Sink::ms_clock`]), divided once per burst.
    pub now_ms: u32,
    /// Prepared headers.
    pub templates: &'a mut Templates,
    /// The payload source (request or response bytes).
    pub payload: &'a Payload,
    /// Histograms and counters.
    pub rec: &'a mut Recorder,
}

/// What a worker sends with and records into: the side's histograms and
/// counters, its payload and its prepared frame headers. Kept apart from the
/// tables ([`Core`]) so that a worker builds its [`Tx`] once per burst
/// ([`Output::tx`]) and hands the same one to every segment, timer and open of
/// the burst, while the tables are borrowed beside it.
pub struct Output {
    /// Histograms and counters.
    pub rec: Recorder,
    /// The payload this side sends.
    pub payload: Payload,
    /// Prepared frame headers.
    pub templates: Templates,
}

impl Output {
    /// An output sending `payload` in frames between `macs`.
    pub fn new(payload: Vec<u8>, macs: Macs) -> Output {
        Output {
            rec: Recorder::new(),
            payload: Payload::new(payload),
            templates: Templates::new(macs),
        }
    }

    /// The transmit side for a burst at `now` through `port`.
    #[inline(always)]
    pub fn tx<'a, P: Transmit>(&'a mut self, port: &'a mut P, now: Instant) -> Tx<'a, P> {
        Tx {
            port,
            now,
            now_ms: now.as_millis() as u32,
            templates: &mut self.templates,
            payload: &self.payload,
            rec: &mut self.rec,
        }
    }
}

impl<P: Transmit> Tx<'_, P> {
    /// Transmit the header `seg` builds (once a frame buffer is taken) with
    /// `payload` (whose native-space sum is congruent to
    /// `payload_acc`, see [`PrefixSums::slice_acc`]) through the port, counting it
    /// as sent or dropped. Returns whether it was sent.
    #[inline(always)]
    fn transmit(
        &mut self,
        local_ip: u32,
        remote_ip: u32,
        seg: impl FnOnce() -> TcpHeaderWords,
        payload: &[u8],
        payload_acc: u64,
    ) -> bool {
        let tmpl = self.templates.get(local_ip, remote_ip);
        let c = &mut self.rec.counters;
        let mut len = 0;
        let ok = self.port.tx(
            self.now,
            #[inline(always)]
            |buf| {
                len = tmpl
                    .emit_words(buf, &seg(), payload, payload_acc)
                    .unwrap_or(0);
                len
            },
        );
        if ok && len > 0 {
            c.tx_packets += 1;
            c.tx_bytes += len as u64;
            true
        } else {
            c.tx_dropped += 1;
            false
        }
    }
}

impl<P: Transmit> Sink for Tx<'_, P> {
    #[inline(always)]
    fn send(&mut self, local_ip: u32, remote_ip: u32, seg: &TcpRepr, payload_offset: u32) {
        self.send_words(local_ip, remote_ip, seg.payload_len, payload_offset, || {
            seg.header_words()
        });
    }

    #[inline(always)]
    fn send_words(
        &mut self,
        local_ip: u32,
        remote_ip: u32,
        payload_len: u16,
        payload_offset: u32,
        seg: impl FnOnce() -> TcpHeaderWords,
    ) -> bool {
        let (payload, payload_acc): (&[u8], u64) = if payload_len == 0 {
            // Most segments (SYN, ACK, FIN) carry nothing.
            (&[], 0)
        } else {
            match self.payload.slice(payload_offset, payload_len) {
                Some(p) => p,
                None => self.payload.slice_clamped(payload_offset, payload_len),
            }
        };
        // A segment asking for more than the payload source holds carries what there
        // is (never the case for the engine's own connections): `emit_words` writes
        // the frame of the payload given.
        self.transmit(local_ip, remote_ip, seg, payload, payload_acc)
    }

    /// The burst's millisecond clock: a connection is called with the burst's
    /// `now` (the instant its frames are sent at, above).
    #[inline(always)]
    fn ms_clock(&self, now: Instant) -> u32 {
        debug_assert_eq!(now, self.now);
        self.now_ms
    }

    #[inline(always)]
    fn record(&mut self, phase: Phase, nanos: u64) {
        self.rec.record(phase, nanos);
    }

    // Always inline: an event is mostly a constant (Completed), and the match
    // on it then folds to one increment; out of line it was a call per
    // connection.
    #[inline(always)]
    fn event(&mut self, ev: Event) {
        count_event(&mut self.rec.counters, ev);
    }
}

/// Add an event to the counters.
#[inline(always)]
pub fn count_event(c: &mut crate::stats::Counters, ev: Event) {
    match ev {
        Event::Completed => c.completed += 1,
        Event::Failed(cause) => c.fail(cause),
        Event::Retransmitted => c.retransmitted += 1,
        Event::RstSent => c.rst_sent += 1,
        Event::RstReceived => c.rst_received += 1,
        Event::ChallengeAck => c.challenge_acks += 1,
        Event::PawsRejected => c.paws_rejected += 1,
        Event::TimeWaitFinReacked => c.tw_fin_reacked += 1,
    }
}

/// Remove the entry at index `i` if it is in use.
#[inline]
fn remove_at<T: Default>(s: &mut Slab<T>, i: u32) -> Option<T> {
    let k = s.key_of(i)?;
    s.remove(k)
}

/// The bound of a connection slot whose wheel entry fires at tick `armed_ms`: the
/// smallest deadline (ns) that needs an earlier entry is below it. ceil(d / 10⁶) <
/// a ⟺ d ≤ (a − 1)·10⁶ ⟺ d < (a − 1)·10⁶ + 1, and nothing is earlier than tick 0.
/// Saturating: a bound beyond u64 is [`CONN_NOT_ARMED`] (every deadline wants an
/// entry, as the unsaturated test said); (a − 1)·10⁶ + 1 never equals
/// u64::MAX − 1 (u64::MAX − 2 is no multiple of 10⁶), so [`CONN_RETRY`] is never
/// a bound.
#[inline]
fn conn_bound(armed_ms: u64) -> u64 {
    if armed_ms == 0 {
        return 0;
    }
    (armed_ms - 1).saturating_mul(1_000_000).saturating_add(1)
}

/// Ceiling of an instant in whole milliseconds (a timer never fires early).
#[inline]
fn ceil_ms(t: Instant) -> u64 {
    t.as_nanos().div_ceil(1_000_000)
}

/// The open group of TIME-WAIT records sharing one wheel entry (see the module
/// documentation).
#[derive(Clone, Copy, Debug)]
struct TwGroup {
    /// The entry's deadline, in ms.
    deadline: u64,
    /// The wheel's time when the entry was placed.
    placed_at: u64,
    /// The first record (the entry's item) and the last; `tail` is [`LIST_END`]
    /// when no group is open.
    head: u32,
    tail: u32,
}

impl TwGroup {
    const NONE: TwGroup = TwGroup {
        deadline: 0,
        placed_at: 0,
        head: LIST_END,
        tail: LIST_END,
    };
}

/// The per-worker state both sides share.
pub struct Core<K: Copy + Default> {
    /// TCP settings of this side (with the values the segment path derives from
    /// them computed once).
    pub tcp: TcpParams,
    /// Control blocks.
    pub conns: Slab<ConnSlot<K>>,
    conn_armed: Vec<u64>,
    /// TIME-WAIT records.
    pub tws: Slab<TwSlot<K>>,
    tw_armed: Vec<u64>,
    /// The next record of the slot's TIME-WAIT group ([`LIST_END`] after the
    /// last), or [`UNLINKED`].
    tw_next: Vec<u32>,
    /// The group records join while the wheel's time stands still.
    tw_group: TwGroup,
    /// Timers of both tables.
    pub wheel: TimerWheel<u64>,
    /// ISN and timestamp-offset generator.
    pub isn: IsnGenerator,
    tw_len_ms: u32,
    /// Some slot is marked [`RETRY`].
    overflowed: bool,
}

impl<K: Copy + Default> Core<K> {
    /// A core with room for `max_conns` control blocks and `max_tw` TIME-WAIT
    /// records, all allocated now.
    pub fn new(tcp: TcpConfig, max_conns: usize, max_tw: usize, secret: u64) -> Self {
        let tw_len_ms = ms(tcp.time_wait);
        Core {
            tcp: TcpParams::new(tcp),
            conns: Slab::new(max_conns),
            conn_armed: vec![CONN_NOT_ARMED; max_conns],
            tws: Slab::new(max_tw),
            tw_armed: vec![NOT_ARMED; max_tw],
            tw_next: vec![UNLINKED; max_tw],
            tw_group: TwGroup::NONE,
            wheel: TimerWheel::new(max_conns + max_tw, 0),
            isn: IsnGenerator::new(secret),
            tw_len_ms,
            overflowed: false,
        }
    }

    /// Open control blocks.
    #[inline]
    pub fn open(&self) -> usize {
        self.conns.len()
    }

    /// The earliest timer, for a virtual clock.
    pub fn next_timer(&self) -> Option<Instant> {
        self.wheel.next_deadline().map(Instant::from_millis)
    }

    /// Put a new control block in the table and arm its timer. Returns its slot, or
    /// gives the connection back when the table is full.
    pub fn insert_conn<I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        key: K,
        conn: Conn,
    ) -> Result<u32, Conn> {
        match self.conns.insert(ConnSlot {
            conn,
            key,
            hint: NO_HINT,
        }) {
            Some(k) => {
                index.set(key, k.index);
                self.arm_conn(k.index);
                Ok(k.index)
            }
            None => Err(ConnSlot::<K>::default().conn),
        }
    }

    /// Open a connection in a free slot of the table: `init` builds it in place
    /// ([`Conn::open_active`] or [`Conn::open_passive`]) and sends its first
    /// segment through the [`Tx`] it is given; the slot is then filed under `key`
    /// and its timer armed. Returns the slot, or `None` (nothing built, nothing
    /// sent) when the table is full.
    #[inline(always)]
    pub fn open_conn<'a, P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'a, P>,
        key: K,
        init: impl FnOnce(&mut Conn, &TcpParams, &mut Tx<'a, P>),
    ) -> Option<u32> {
        self.open_conn_hinted(index, tx, key, NO_HINT, init)
    }

    /// [`open_conn`](Self::open_conn) of a key the index gave `hint` for when it
    /// was looked up ([`FlowIndex::set_hinted`]); the slot keeps the hint for
    /// the connection's later filing and clearing.
    #[inline(always)]
    pub fn open_conn_hinted<'a, P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'a, P>,
        key: K,
        hint: u32,
        init: impl FnOnce(&mut Conn, &TcpParams, &mut Tx<'a, P>),
    ) -> Option<u32> {
        let tcp = &self.tcp;
        // The deadline is read while the block is at hand (not found again in
        // the table to arm its timer).
        let mut deadline = Instant::NEVER;
        let k = self.conns.insert_with(|slot| {
            slot.key = key;
            slot.hint = hint;
            init(&mut slot.conn, tcp, tx);
            deadline = slot.conn.deadline();
        })?;
        index.set_hinted(key, hint, k.index);
        self.arm_conn_at(k.index, deadline);
        Some(k.index)
    }

    /// Make sure the wheel will visit slot `i` by its connection's deadline.
    #[inline]
    fn arm_conn(&mut self, i: u32) {
        if self.conns.key_of(i).is_none() {
            return;
        }
        self.arm_live_conn(i);
    }

    /// [`arm_conn`](Self::arm_conn) of a slot known to be in use.
    #[inline(always)]
    fn arm_live_conn(&mut self, i: u32) {
        let d = self.conns.get_by_index(i).conn.deadline();
        self.arm_conn_at(i, d);
    }

    /// [`arm_live_conn`](Self::arm_live_conn) with the connection's deadline `d`
    /// read by the caller (which has the block at hand).
    #[inline(always)]
    fn arm_conn_at(&mut self, i: u32, d: Instant) {
        let Some(armed) = self.conn_armed.get_mut(i as usize) else {
            return;
        };
        // ceil_ms(d) < the pending entry's tick, without the rounding division in
        // the usual case of a deadline at or after it: one comparison with the
        // bound kept for the slot (conn_bound). No deadline (Instant::NEVER,
        // u64::MAX) is at or beyond every bound, so it returns here too.
        const _: () = assert!(Instant::NEVER.as_nanos() == u64::MAX);
        if d.as_nanos() >= *armed {
            return;
        }
        let want = ceil_ms(d);
        debug_assert!(conn_bound(want) < *armed);
        if self.wheel.insert(want, i as u64).is_ok() {
            *armed = conn_bound(want);
        } else {
            *armed = CONN_RETRY;
            self.overflowed = true;
        }
    }

    /// Make sure the wheel will visit TIME-WAIT slot `i` by `expires_ms`: the
    /// slot joins the open group if that group is for this very deadline and the
    /// wheel's time has not moved since it was placed; otherwise it starts a
    /// group of its own (or, when it is still on an older group's list, which
    /// fires too late, gets an entry of its own).
    ///
    /// Out of line (inlined, it made the client's burst loop cost more than the
    /// call), but the wheel insert in a function of its own
    /// ([`arm_tw_entry`](Self::arm_tw_entry)): the usual cases (already armed
    /// early enough, or joining the open group) then need no callee-saved
    /// register, so no register is saved and restored on the way.
    #[inline(never)]
    fn arm_tw(&mut self, i: u32, expires_ms: u32) {
        let want = expires_ms as u64;
        let slot = i as usize;
        if want >= self.tw_armed[slot] {
            return;
        }
        let unlinked = self.tw_next[slot] == UNLINKED;
        let g = self.tw_group;
        if unlinked
            && g.tail != LIST_END
            && g.deadline == want
            && g.placed_at == self.wheel.now_ms()
        {
            self.tw_next[g.tail as usize] = i;
            self.tw_next[slot] = LIST_END;
            self.tw_group.tail = i;
            self.tw_armed[slot] = want;
            return;
        }
        self.arm_tw_entry(i, want, unlinked);
    }

    /// [`arm_tw`](Self::arm_tw) of a slot that needs a wheel entry: a group's
    /// (`unlinked`: the slot starts one) or its own.
    #[inline(never)]
    fn arm_tw_entry(&mut self, i: u32, want: u64, unlinked: bool) {
        let slot = i as usize;
        let placed_at = self.wheel.now_ms();
        let item = if unlinked {
            TW_ITEM | TW_GROUP | i as u64
        } else {
            TW_ITEM | i as u64
        };
        if self.wheel.insert(want, item).is_ok() {
            self.tw_armed[slot] = want;
            if unlinked {
                self.tw_next[slot] = LIST_END;
                self.tw_group = TwGroup {
                    deadline: want,
                    placed_at,
                    head: i,
                    tail: i,
                };
            }
        } else {
            self.tw_armed[slot] = RETRY;
            self.overflowed = true;
        }
    }

    /// The wheel entry of TIME-WAIT slot `i` (its own, or its group's) fired at
    /// `deadline`: drop the record if its time is up, arm it again if not.
    #[inline]
    fn tw_timer<I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        c: &mut Counters,
        i: u32,
        deadline: u64,
        now_ms: u64,
    ) {
        if self.tw_armed[i as usize] == deadline {
            self.tw_armed[i as usize] = NOT_ARMED;
        }
        if self.tws.key_of(i).is_none() {
            return;
        }
        let rec = self.tws.get_by_index(i).rec;
        if rec.expired(now_ms as u32) {
            self.drop_time_wait(index, c, i);
        } else {
            self.arm_tw(i, rec.expires_ms);
        }
    }

    /// Arm every slot marked [`RETRY`] (the wheel was full when it wanted a timer).
    /// A sweep of both tables, done only after such an overflow, once entries have
    /// fired and made room.
    #[cold]
    #[inline(never)]
    fn rearm_overflowed(&mut self) {
        self.overflowed = false;
        for i in 0..self.conn_armed.len() {
            if self.conn_armed[i] == CONN_RETRY {
                self.conn_armed[i] = CONN_NOT_ARMED;
                self.arm_conn(i as u32);
            }
        }
        for i in 0..self.tw_armed.len() {
            if self.tw_armed[i] == RETRY {
                self.tw_armed[i] = NOT_ARMED;
                if self.tws.key_of(i as u32).is_some() {
                    let expires = self.tws.get_by_index(i as u32).rec.expires_ms;
                    self.arm_tw(i as u32, expires);
                }
            }
        }
    }

    /// Apply what a connection asked for after a call.
    #[inline(always)]
    pub fn after_step<I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        c: &mut Counters,
        i: u32,
        step: Step,
    ) {
        match step {
            Step::Continue => self.arm_conn(i),
            // The slot is read in place and freed without being reset (a closed
            // connection's block is not copied out).
            // (A discarded entry keeps its value until the slot is reused.)
            Step::Closed => {
                if self.conns.discard(i) {
                    let slot = self.conns.get_by_index(i);
                    index.clear_hinted(slot.key, slot.hint);
                }
            }
            Step::TimeWait => {
                if self.conns.discard(i) {
                    let slot = self.conns.get_by_index(i);
                    let (key, hint, rec) = (slot.key, slot.hint, slot.conn.time_wait_record());
                    self.enter_time_wait(index, c, key, hint, rec);
                }
            }
        }
    }

    /// File a TIME-WAIT record, or count an overflow and forget the tuple (as Linux
    /// does past tcp_max_tw_buckets).
    #[inline(always)]
    fn enter_time_wait<I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        c: &mut Counters,
        key: K,
        hint: u32,
        rec: TimeWaitRecord,
    ) {
        c.tw_entered += 1;
        match self.tws.insert(TwSlot { rec, key }) {
            None => {
                c.tw_overflow += 1;
                index.clear_hinted(key, hint);
            }
            Some(k) => {
                c.tw_current += 1;
                c.tw_peak = c.tw_peak.max(c.tw_current);
                index.set_hinted(key, hint, TW_BIT | k.index);
                self.arm_tw(k.index, rec.expires_ms);
            }
        }
    }

    /// Remove TIME-WAIT record `i` (expired, reset, or its tuple reused).
    pub fn drop_time_wait<I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        c: &mut Counters,
        i: u32,
    ) {
        if self.tws.discard(i) {
            index.clear(self.tws.get_by_index(i).key);
            c.tw_current -= 1;
        }
    }

    /// A segment for control block `i`.
    #[inline]
    pub fn conn_segment<P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'_, P>,
        i: u32,
        seg: &TcpRepr,
    ) {
        // The index names only slots in use (every path that frees a slot
        // clears or refiles its key with it), so the slot is not checked again.
        debug_assert!(
            self.conns.key_of(i).is_some(),
            "the index named a free slot"
        );
        let slot = self.conns.get_by_index_mut(i);
        let step = slot.conn.on_segment(&self.tcp, tx.now, seg, tx);
        // The slot was found in use above and is still: what after_step does,
        // with the block at hand.
        match step {
            Step::Continue => {
                let d = slot.conn.deadline();
                self.arm_conn_at(i, d);
            }
            Step::Closed => {
                let (key, hint) = (slot.key, slot.hint);
                self.conns.discard(i);
                index.clear_hinted(key, hint);
            }
            Step::TimeWait => {
                let (key, hint, rec) = (slot.key, slot.hint, slot.conn.time_wait_record());
                self.conns.discard(i);
                self.enter_time_wait(index, &mut tx.rec.counters, key, hint, rec);
            }
        }
    }

    /// A segment for TIME-WAIT record `i`. Returns true when it is a SYN that may
    /// reopen the tuple (the record is gone then).
    pub fn tw_segment<P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'_, P>,
        i: u32,
        seg: &TcpRepr,
    ) -> bool {
        // The burst's millisecond clock, which the Tx already holds.
        let now_ms = tx.now_ms;
        let tw_len = self.tw_len_ms;
        if self.tws.key_of(i).is_none() {
            return false;
        }
        let tw = self.tws.get_by_index_mut(i);
        let counters = &mut tx.rec.counters;
        let verdict = tw
            .rec
            .on_segment(seg, now_ms, tw_len, |e| count_event(counters, e));
        let (tw_rec, key) = (tw.rec, tw.key);
        match verdict {
            TwVerdict::Drop => false,
            TwVerdict::Ack => {
                let (lip, lport, rip, rport) = index.endpoints(key);
                let tsval = self
                    .tcp
                    .ts_base_ms
                    .wrapping_add(now_ms)
                    .wrapping_add(self.isn.ts_offset(lip, lport, rip, rport));
                // (No payload: the side's payload is not read.)
                let ack = tw_rec.ack(lport, rport, tsval);
                tx.send(lip, rip, &ack, 0);
                self.arm_tw(i, tw_rec.expires_ms);
                false
            }
            TwVerdict::Close => {
                self.drop_time_wait(index, &mut tx.rec.counters, i);
                false
            }
            TwVerdict::Reopen => {
                self.drop_time_wait(index, &mut tx.rec.counters, i);
                true
            }
        }
    }

    /// Fire every timer due at `now`.
    pub fn poll_timers<P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'_, P>,
    ) -> usize {
        let now = tx.now;
        let now_ms = now.as_millis();
        let mut n = 0;
        while let Some((deadline, item)) = self.wheel.pop_expired(now_ms) {
            n += 1;
            let i = item as u32;
            if item & TW_GROUP != 0 {
                // A group's entry: every record on its list, which is closed to
                // newcomers now.
                if self.tw_group.head == i {
                    self.tw_group = TwGroup::NONE;
                }
                let mut at = i;
                loop {
                    let next = self.tw_next[at as usize];
                    self.tw_next[at as usize] = UNLINKED;
                    self.tw_timer(index, &mut tx.rec.counters, at, deadline, now_ms);
                    if next == LIST_END {
                        break;
                    }
                    at = next;
                }
            } else if item & TW_ITEM != 0 {
                self.tw_timer(index, &mut tx.rec.counters, i, deadline, now_ms);
            } else {
                if self.conn_armed[i as usize] == conn_bound(deadline) {
                    self.conn_armed[i as usize] = CONN_NOT_ARMED;
                }
                if self.conns.key_of(i).is_none() {
                    continue;
                }
                let slot = self.conns.get_by_index_mut(i);
                if slot.conn.deadline() <= now {
                    let step = slot.conn.on_timer(&self.tcp, now, tx);
                    self.after_step(index, &mut tx.rec.counters, i, step);
                } else {
                    self.arm_conn(i);
                }
            }
        }
        if self.overflowed && n > 0 {
            self.rearm_overflowed();
        }
        n
    }

    /// End every open connection now (the run's drain time is over): each is
    /// aborted with a RST to leave no half-open state on the peer, and counted as
    /// still in flight (its outcome is unknown), not as failed.
    pub fn abort_all<P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'_, P>,
    ) -> u64 {
        let mut n = 0;
        for i in 0..self.conns.capacity() as u32 {
            if self.conns.key_of(i).is_none() {
                continue;
            }
            let slot = self.conns.get_by_index_mut(i);
            let c = &mut slot.conn;
            // In SYN-SENT the peer's sequence is unknown: a bare RST at SND.NXT (ISS
            // + 1), which is RCV.NXT of a peer in SYN-RECEIVED, ends that half-open
            // state there (RFC 9293 §3.10.7.4), and is ignored by a peer that never
            // saw the SYN.
            let rst = if c.state() == crate::tcp::State::SynSent {
                TcpRepr {
                    src_port: c.local_port,
                    dst_port: c.remote_port,
                    seq: c.snd_nxt(),
                    flags: crate::wire::tcp::TcpFlags::RST,
                    ..TcpRepr::default()
                }
            } else {
                TcpRepr {
                    src_port: c.local_port,
                    dst_port: c.remote_port,
                    seq: c.snd_nxt(),
                    ack: c.rcv_nxt(),
                    flags: crate::wire::tcp::TcpFlags::RST | crate::wire::tcp::TcpFlags::ACK,
                    ..TcpRepr::default()
                }
            };
            tx.send(c.local_ip, c.remote_ip, &rst, 0);
            tx.event(Event::RstSent);
            if let Some(slot) = remove_at(&mut self.conns, i) {
                index.clear(slot.key);
            }
            n += 1;
        }
        n
    }

    /// Close every synchronized connection with FIN, as an application closing its
    /// sockets would (the graceful stop, once the drain time is over): ESTABLISHED
    /// goes to FIN-WAIT-1, CLOSE-WAIT to LAST-ACK, FIN already sent is left to
    /// finish. A connection still in SYN-SENT is left to finish its handshake (a FIN
    /// needs one). Returns how many connections were open.
    pub fn close_all<P: Transmit, I: FlowIndex<Key = K>>(
        &mut self,
        index: &mut I,
        tx: &mut Tx<'_, P>,
    ) -> u64 {
        let mut n = 0;
        for i in 0..self.conns.capacity() as u32 {
            if self.conns.key_of(i).is_none() {
                continue;
            }
            n += 1;
            let slot = self.conns.get_by_index_mut(i);
            if slot.conn.state() == crate::tcp::State::SynSent {
                continue;
            }
            let step = slot.conn.close(&self.tcp, tx.now, tx);
            self.after_step(index, &mut tx.rec.counters, i, step);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_slices_are_the_bytes_and_sums_asked_for() {
        let bytes: Vec<u8> = (0..300u32).map(|i| (i * 37 + 5) as u8).collect();
        let sums = PrefixSums::new(&bytes);
        let p = Payload::new(bytes.clone());
        for (off, len) in [(0, 300), (0, 299), (1, 299), (0, 1), (100, 64), (299, 1)] {
            let (start, end) = (off as usize, off as usize + usize::from(len));
            let (b, acc) = p.slice(off, len).unwrap();
            assert_eq!(b, &bytes[start..end]);
            assert_eq!(Some(acc), sums.slice_acc(start, end));
        }
        assert_eq!(p.slice(1, 300), None);
        assert_eq!(p.slice_clamped(1, 300).0, &bytes[1..]);
    }

    #[test]
    fn the_hint_does_not_grow_a_table_slot() {
        // Conn (120 bytes) + key + hint, as Conn + key took before the hint.
        assert!(size_of::<ConnSlot<u32>>() <= 128);
        assert!(size_of::<ConnSlot<crate::engine::flow_table::FlowKey>>() <= 136);
    }

    /// An index of `u32` keys in a map, for tests of the core alone.
    #[derive(Default)]
    struct MapIndex(std::collections::HashMap<u32, u32>);

    impl FlowIndex for MapIndex {
        type Key = u32;
        fn endpoints(&self, key: u32) -> (u32, u16, u32, u16) {
            (0xc612_0001, key as u16, 0xc613_0001, 80)
        }
        fn set(&mut self, key: u32, value: u32) {
            self.0.insert(key, value);
        }
        fn clear(&mut self, key: u32) {
            self.0.remove(&key);
        }
    }

    /// A core of 4 connection slots and 64 TIME-WAIT slots (a wheel of 68 entries),
    /// its output, and an empty index.
    fn small_core() -> (Core<u32>, Output, MapIndex) {
        let macs = Macs {
            local: EthernetAddress([2, 0, 0, 0, 0, 1]),
            remote: EthernetAddress([2, 0, 0, 0, 0, 2]),
        };
        let core = Core::new(TcpConfig::default(), 4, 64, 1);
        (core, Output::new(Vec::new(), macs), MapIndex::default())
    }

    /// Fire the timers of `core` due at `ms`.
    fn poll_at(
        core: &mut Core<u32>,
        index: &mut MapIndex,
        out: &mut Output,
        port: &mut impl Transmit,
        ms: u64,
    ) {
        core.poll_timers(index, &mut out.tx(port, Instant::from_millis(ms)));
    }

    /// File TIME-WAIT record `rec` under `key`, with no hint.
    fn enter_tw(
        core: &mut Core<u32>,
        index: &mut MapIndex,
        out: &mut Output,
        key: u32,
        rec: TimeWaitRecord,
    ) {
        core.enter_time_wait(index, &mut out.rec.counters, key, NO_HINT, rec);
    }

    fn tw_record(entered_ms: u32, expires_ms: u32) -> TimeWaitRecord {
        TimeWaitRecord {
            entered_ms,
            expires_ms,
            ..TimeWaitRecord::default()
        }
    }

    #[test]
    fn time_wait_records_of_one_moment_share_a_wheel_entry_and_each_expires_on_time() {
        let (mut core, mut out, mut index) = small_core();
        let mut wire = crate::io::mem::MemWire::new(Default::default());
        let mut port = wire.port_a();
        // Ten records at t = 0, all to expire at 60 s: one group, one entry.
        for key in 0..10 {
            enter_tw(&mut core, &mut index, &mut out, key, tw_record(0, 60_000));
        }
        assert_eq!(core.wheel.len(), 1);
        // The wheel's time moves: the same deadline starts a new group.
        poll_at(&mut core, &mut index, &mut out, &mut port, 5);
        for key in 10..15 {
            enter_tw(&mut core, &mut index, &mut out, key, tw_record(5, 60_000));
        }
        // Another deadline: another group.
        enter_tw(&mut core, &mut index, &mut out, 15, tw_record(5, 60_005));
        assert_eq!(core.wheel.len(), 3);
        assert_eq!(out.rec.counters.tw_current, 16);
        // A record of the first group ends early (a reused tuple) and its slot
        // takes a new record, which inherits the group's entry; another is
        // restarted (a retransmitted FIN) and must outlive its group.
        let first = index.0[&3] & !TW_BIT;
        core.drop_time_wait(&mut index, &mut out.rec.counters, first);
        enter_tw(&mut core, &mut index, &mut out, 100, tw_record(7, 60_007));
        assert_eq!(index.0[&100] & !TW_BIT, first, "the freed slot is reused");
        let restarted = index.0[&4] & !TW_BIT;
        core.tws.get_by_index_mut(restarted).rec.expires_ms = 61_000;
        // Nothing before 60 s; at 60 s the two groups of 60 s fire, everything
        // but the new record and the restarted one ends.
        poll_at(&mut core, &mut index, &mut out, &mut port, 59_999);
        assert_eq!(out.rec.counters.tw_current, 16);
        poll_at(&mut core, &mut index, &mut out, &mut port, 60_000);
        let mut left: Vec<u32> = index.0.keys().copied().collect();
        left.sort();
        assert_eq!(left, [4, 15, 100]);
        poll_at(&mut core, &mut index, &mut out, &mut port, 60_005);
        poll_at(&mut core, &mut index, &mut out, &mut port, 60_006);
        assert!(index.0.len() == 2 && index.0.contains_key(&4) && index.0.contains_key(&100));
        poll_at(&mut core, &mut index, &mut out, &mut port, 60_007);
        assert_eq!(index.0.keys().copied().collect::<Vec<_>>(), [4]);
        poll_at(&mut core, &mut index, &mut out, &mut port, 60_999);
        assert_eq!(out.rec.counters.tw_current, 1);
        poll_at(&mut core, &mut index, &mut out, &mut port, 61_000);
        assert!(index.0.is_empty());
        assert_eq!(out.rec.counters.tw_current, 0);
        assert!(core.wheel.is_empty());
        // Every slot is out of its group, and new records group again.
        assert!(core.tw_next.iter().all(|&n| n == UNLINKED));
        for key in 0..64 {
            enter_tw(
                &mut core,
                &mut index,
                &mut out,
                key,
                tw_record(61_000, 121_000),
            );
        }
        assert_eq!(core.wheel.len(), 1);
        poll_at(&mut core, &mut index, &mut out, &mut port, 121_000);
        assert_eq!(out.rec.counters.tw_current, 0);
    }

    /// A TIME-WAIT record that finds the wheel full is marked for a retry and
    /// armed once entries have fired and made room, so it still expires on time
    /// (unarmed, it would never be visited and its tuple would stay taken).
    #[test]
    fn a_time_wait_record_that_finds_the_wheel_full_still_expires_on_time() {
        let (mut core, mut out, mut index) = small_core();
        let mut wire = crate::io::mem::MemWire::new(Default::default());
        let mut port = wire.port_a();
        // Fill the wheel with entries of connection slots that hold no connection
        // (what lazily cancelled timers leave behind), due at 10 ms.
        let mut filled = 0u64;
        while core.wheel.insert(10, filled % 4).is_ok() {
            filled += 1;
        }
        assert!(filled >= 68, "the wheel holds an entry per slot at least");
        enter_tw(&mut core, &mut index, &mut out, 7, tw_record(0, 1_000));
        assert_eq!(out.rec.counters.tw_current, 1);
        assert_eq!(core.wheel.len() as u64, filled, "the record found no room");
        // The stale entries fire and make room: the record is armed then.
        poll_at(&mut core, &mut index, &mut out, &mut port, 10);
        assert_eq!(core.wheel.len(), 1);
        poll_at(&mut core, &mut index, &mut out, &mut port, 999);
        assert_eq!(out.rec.counters.tw_current, 1);
        assert!(index.0.contains_key(&7));
        poll_at(&mut core, &mut index, &mut out, &mut port, 1_000);
        assert_eq!(out.rec.counters.tw_current, 0);
        assert!(index.0.is_empty());
        assert!(core.wheel.is_empty());
    }

    #[test]
    fn conn_bound_decides_as_the_tick_did() {
        let ticks = [
            0u64,
            1,
            2,
            999,
            1_000,
            123_456_789,
            u64::MAX / 1_000_000,
            u64::MAX / 1_000_000 + 2,
            NOT_ARMED,
            RETRY,
        ];
        let deadlines = [
            0u64,
            1,
            999_999,
            1_000_000,
            1_000_001,
            1_999_999_999,
            2_000_000_000,
            u64::MAX - 2,
            u64::MAX - 1,
        ];
        for &a in &ticks {
            let b = if a == NOT_ARMED {
                CONN_NOT_ARMED
            } else if a == RETRY {
                CONN_RETRY
            } else {
                conn_bound(a)
            };
            if a != RETRY {
                assert_ne!(b, CONN_RETRY, "{a}");
            }
            for &d in &deadlines {
                // The test it replaces (RETRY and NOT_ARMED included).
                let covered = a == 0 || d > (a - 1).saturating_mul(1_000_000);
                if a == RETRY && d == u64::MAX - 1 {
                    continue; // the one deadline a RETRY slot leaves to the sweep
                }
                assert_eq!(d >= b, covered, "tick {a}, deadline {d}");
            }
        }
    }

    #[test]
    fn templates_match_the_pair_asked_for_even_when_slots_collide() {
        let macs = Macs {
            local: EthernetAddress([2, 0, 0, 0, 0, 1]),
            remote: EthernetAddress([2, 0, 0, 0, 0, 2]),
        };
        let mut t = Templates::new(macs);
        // More pairs than slots, so some share a slot; ask twice in a row and again
        // after the others.
        let pairs: Vec<(u32, u32)> = (0..600u32)
            .map(|i| (0xc612_0001 + i % 300, 0xc613_0001 + i / 300))
            .chain([(0, 0), (0, 1), (1, 0)])
            .collect();
        for round in 0..2 {
            for &(l, r) in &pairs {
                for _ in 0..=round {
                    let h = *t.get(l, r).header();
                    assert_eq!(
                        (h.src_ip, h.dst_ip, h.src_mac, h.dst_mac, h.ttl),
                        (
                            Ipv4Addr::from(l),
                            Ipv4Addr::from(r),
                            macs.local,
                            macs.remote,
                            64
                        )
                    );
                }
            }
        }
    }
}
