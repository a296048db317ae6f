//! The client worker: opens connections on the pacer's schedule from a range of
//! source addresses and ports, drives them through their lifecycle, and keeps
//! TIME-WAIT under the chosen policy.

use super::core::{
    Core, FlowIndex, Macs, Output, RxSeg, RxSegs, TW_BIT, Tx, receive_burst, rx_segs,
};
use super::pacer::Pacer;
use super::tuple_index::TupleIndex;
use super::{BURST, TwPolicy};
use crate::io::{Port, Transmit};
use crate::stats::{Counters, FailCause, Recorder};
use crate::tcp::{Conn, Event, Sink, TcpConfig, TcpParams, listen};
use crate::time::Instant;

/// Where a client connects from and to.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// First source address (host order).
    pub src_first: u32,
    /// Number of source addresses (consecutive from `src_first`).
    pub src_count: u32,
    /// Lowest source port.
    pub port_lo: u16,
    /// Highest source port.
    pub port_hi: u16,
    /// Destination address (host order).
    pub dst_ip: u32,
    /// Destination port.
    pub dst_port: u16,
    /// TIME-WAIT policy.
    pub tw_policy: TwPolicy,
    /// Most TIME-WAIT records held at once (like tcp_max_tw_buckets).
    pub tw_cap: usize,
    /// Most connections open at once (the table's size).
    pub max_conns: usize,
    /// Verify IPv4 and TCP checksums of received frames.
    pub verify_checksums: bool,
    /// Secret for ISNs and timestamp offsets.
    pub secret: u64,
    /// Where the source-tuple scan starts (so that runs do not restart at the same
    /// port, see FACTS.md on PAWS across runs).
    pub cursor_start: u64,
}

/// The client's index: its source tuples, directly.
pub struct ClientIndex {
    tuples: TupleIndex,
    src_first: u32,
    src_count: u32,
    port_lo: u16,
    n_ports: u32,
    dst_ip: u32,
    dst_port: u16,
}

impl ClientIndex {
    /// What is filed under the tuple a received frame is addressed to (possibly
    /// [`TupleIndex::EMPTY`]), if the tuple is one of ours.
    #[inline]
    fn lookup(&self, f: &RxSeg) -> Option<u32> {
        if f.src_ip != self.dst_ip || f.tcp.src_port != self.dst_port {
            return None;
        }
        let addr = f.dst_ip.wrapping_sub(self.src_first);
        self.tuples.value_of(addr, f.tcp.dst_port)
    }
}

impl FlowIndex for ClientIndex {
    type Key = u32;
    #[inline]
    fn endpoints(&self, key: u32) -> (u32, u16, u32, u16) {
        let addr = key / self.n_ports;
        let port = self.port_lo + (key % self.n_ports) as u16;
        (self.src_first + addr, port, self.dst_ip, self.dst_port)
    }
    #[inline]
    fn set(&mut self, key: u32, value: u32) {
        self.tuples.set(key as usize, value);
    }
    #[inline]
    fn clear(&mut self, key: u32) {
        self.tuples.set(key as usize, TupleIndex::EMPTY);
    }
}

/// One client worker.
pub struct ClientWorker {
    /// Table, timers, TIME-WAIT.
    pub core: Core<u32>,
    /// Stats, the request, frame templates.
    pub out: Output,
    index: ClientIndex,
    /// The connection schedule.
    pub pacer: Pacer,
    policy: TwPolicy,
    cursor: usize,
    /// The burst's segments (out only while they are dispatched).
    rx: Option<RxSegs>,
    verify: bool,
    /// Times a due connection found no usable source tuple and waited.
    pub tuple_waits: u64,
    /// Set once no new connection is to be opened (end of run or stop).
    pub stopping: bool,
}

impl ClientWorker {
    /// A client worker; everything it needs is allocated here.
    pub fn new(
        tcp: TcpConfig,
        cfg: &ClientConfig,
        pacer: Pacer,
        macs: Macs,
        request: Vec<u8>,
    ) -> Self {
        let tuples = TupleIndex::new(cfg.src_count, cfg.port_lo, cfg.port_hi);
        let n_tuples = tuples.len();
        let index = ClientIndex {
            tuples,
            src_first: cfg.src_first,
            src_count: cfg.src_count,
            port_lo: cfg.port_lo,
            n_ports: (cfg.port_hi - cfg.port_lo) as u32 + 1,
            dst_ip: cfg.dst_ip,
            dst_port: cfg.dst_port,
        };
        ClientWorker {
            core: Core::new(tcp, cfg.max_conns, cfg.tw_cap.max(1), cfg.secret),
            out: Output::new(request, macs),
            index,
            pacer,
            policy: cfg.tw_policy,
            cursor: (cfg.cursor_start % n_tuples.max(1) as u64) as usize,
            rx: Some(rx_segs()),
            verify: cfg.verify_checksums,
            tuple_waits: 0,
            stopping: false,
        }
    }

    /// The recorder (histograms and counters).
    pub fn recorder(&self) -> &Recorder {
        &self.out.rec
    }

    /// Whether the run is over for this worker: nothing more to open, nothing open.
    pub fn done(&self) -> bool {
        (self.stopping || self.pacer.is_done()) && self.core.open() == 0
    }

    /// When something is next due (timer or scheduled connection), for a virtual
    /// clock.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let t = self.core.next_timer();
        let p = if self.stopping {
            None
        } else {
            self.pacer.next_wakeup(self.core.open() as u32)
        };
        match (t, p) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One burst: receive, fire timers, open what is due, flush. Returns the work
    /// done (frames, timers and connections).
    ///
    /// One [`Tx`] serves the whole burst (every segment answered, every timer,
    /// every open).
    pub fn step<P: Port>(&mut self, port: &mut P, now: Instant) -> usize {
        // Taken out for the burst (and put back) so that the segments are read in
        // place while the worker is borrowed.
        let mut rx = self.rx.take().expect("the burst's segments are back");
        let (n, kept) = receive_burst(port, now, &mut rx, &mut self.out.rec.counters, self.verify);
        let mut tx = self.out.tx(port, now);
        for f in &rx[..kept] {
            on_frame(&mut self.core, &mut self.index, &mut tx, f);
        }
        self.rx = Some(rx);
        let mut work = n;
        work += self.core.poll_timers(&mut self.index, &mut tx);
        if !self.stopping {
            let mut opener = Opener {
                core: &mut self.core,
                index: &mut self.index,
                pacer: &mut self.pacer,
                policy: self.policy,
                cursor: &mut self.cursor,
                tuple_waits: &mut self.tuple_waits,
            };
            work += opener.open_due(&mut tx);
        }
        port.flush(now);
        work
    }
}

/// What opening connections works on, borrowed for a burst beside its [`Tx`].
struct Opener<'a> {
    core: &'a mut Core<u32>,
    index: &'a mut ClientIndex,
    pacer: &'a mut Pacer,
    policy: TwPolicy,
    cursor: &'a mut usize,
    tuple_waits: &'a mut u64,
}

impl Opener<'_> {
    /// Find a source tuple for a new connection under the TIME-WAIT policy.
    #[inline(always)]
    fn alloc_tuple(&mut self, c: &mut Counters, now: Instant) -> Option<u32> {
        // The usual case inline: the tuple at the cursor is unused (the first probe
        // of the scan below, which otherwise starts over from the same cursor).
        let t = *self.cursor;
        let n = self.index.tuples.len();
        if t < n && self.index.tuples.get(t) == TupleIndex::EMPTY {
            *self.cursor = if t + 1 == n { 0 } else { t + 1 };
            return Some(t as u32);
        }
        self.alloc_tuple_scan(c, now)
    }

    /// [`alloc_tuple`](Self::alloc_tuple)'s scan.
    #[inline(never)]
    fn alloc_tuple_scan(&mut self, c: &mut Counters, now: Instant) -> Option<u32> {
        let n = self.index.tuples.len();
        let now_ms = now.as_millis() as u32;
        // Bounded probing: a saturated tuple space costs a few probes per burst.
        for _ in 0..n.min(64) {
            let t = *self.cursor;
            *self.cursor += 1;
            if *self.cursor == n {
                *self.cursor = 0;
            }
            let v = self.index.tuples.get(t);
            if v == TupleIndex::EMPTY {
                return Some(t as u32);
            }
            if v & TW_BIT == 0 {
                continue; // open connection
            }
            let i = v & !TW_BIT;
            if self.core.tws.key_of(i).is_none() {
                continue;
            }
            let tw = self.core.tws.get_by_index(i);
            let rec = tw.rec;
            match self.policy {
                TwPolicy::Strict => continue,
                TwPolicy::Reuse { delay_ms } => {
                    // Linux tcp_tw_reuse: timestamps on, and the record is older
                    // than the reuse delay; the new TSval is then newer.
                    let age = now_ms.wrapping_sub(rec.entered_ms) as i32;
                    if rec.ts_ok && age >= 0 && age as u32 >= delay_ms {
                        c.tw_reused += 1;
                        self.core.drop_time_wait(self.index, c, i);
                        return Some(t as u32);
                    }
                }
                TwPolicy::None => {
                    c.tw_hazard_reuses += 1;
                    self.core.drop_time_wait(self.index, c, i);
                    return Some(t as u32);
                }
            }
        }
        None
    }

    fn open_due<P: Transmit>(&mut self, tx: &mut Tx<'_, P>) -> usize {
        let now = tx.now;
        let opened = if let Some(budget) =
            self.pacer
                .closed_loop_budget(now, self.core.open() as u32, BURST as u64)
        {
            // Closed loop: how many may open is known for the whole burst (what
            // the pacer and the table's room would say before each one; each
            // open takes a slot, and none is freed meanwhile).
            let room = self.core.conns.capacity().saturating_sub(self.core.open()) as u64;
            let n = budget.min(room) as usize;
            let mut opened = 0;
            while opened < n {
                let Some(t) = self.alloc_tuple(&mut tx.rec.counters, now) else {
                    *self.tuple_waits += 1;
                    break;
                };
                self.open_one(tx, t, now);
                opened += 1;
            }
            self.pacer.started_closed_loop(opened as u64);
            opened
        } else {
            let mut opened = 0;
            while opened < BURST {
                let open = self.core.open() as u32;
                let Some(start) = self.pacer.next_due(now, open) else {
                    break;
                };
                if self.core.open() >= self.core.conns.capacity() {
                    break;
                }
                let Some(t) = self.alloc_tuple(&mut tx.rec.counters, now) else {
                    *self.tuple_waits += 1;
                    break;
                };
                self.pacer.started();
                self.open_one(tx, t, start);
                opened += 1;
            }
            opened
        };
        tx.rec.counters.deferred_by_cap = self.pacer.deferred_by_cap();
        opened
    }

    /// Open a connection on source tuple `t`, scheduled at `start`.
    #[inline(always)]
    fn open_one<P: Transmit>(&mut self, tx: &mut Tx<'_, P>, t: u32, start: Instant) {
        let now = tx.now;
        tx.rec.counters.attempted += 1;
        let (lip, lport, rip, rport) = self.index.endpoints(t);
        let (iss, off) = self.core.isn.isn_and_offset(lip, lport, rip, rport, now);
        let tcp_open = |c: &mut Conn, cfg: &TcpParams, tx: &mut Tx<'_, P>| {
            c.open_active(cfg, (lip, lport), (rip, rport), iss, off, start, now, tx);
        };
        if self.core.open_conn(self.index, tx, t, tcp_open).is_none() {
            tx.rec.counters.fail(FailCause::TableFull);
        }
    }
}

impl ClientWorker {
    /// Stop opening; close what is open with FIN (see [`Core::close_all`]).
    /// Returns how many connections were open.
    ///
    /// [`Core::close_all`]: super::core::Core::close_all
    pub fn close_open<P: Port>(&mut self, port: &mut P, now: Instant) -> u64 {
        self.stopping = true;
        let n = self
            .core
            .close_all(&mut self.index, &mut self.out.tx(port, now));
        port.flush(now);
        n
    }

    /// Stop opening; abort what is still open and count it as in flight.
    pub fn abort_open<P: Port>(&mut self, port: &mut P, now: Instant) -> u64 {
        self.stopping = true;
        let n = self
            .core
            .abort_all(&mut self.index, &mut self.out.tx(port, now));
        port.flush(now);
        n
    }
}

/// A received segment: to its connection or TIME-WAIT record, or answered as
/// CLOSED.
#[inline]
fn on_frame<P: Transmit>(
    core: &mut Core<u32>,
    index: &mut ClientIndex,
    tx: &mut Tx<'_, P>,
    f: &RxSeg,
) {
    let seg = &f.tcp;
    if let Some(v) = index.lookup(f) {
        // A control block first (the usual case): EMPTY has the TIME-WAIT bit
        // set, so one test of the bit sends a segment to its connection.
        const _: () = assert!(TupleIndex::EMPTY & TW_BIT != 0);
        if v & TW_BIT == 0 {
            core.conn_segment(index, tx, v, seg);
            return;
        } else if v == TupleIndex::EMPTY {
            // fall through to CLOSED
        } else {
            // The client never reopens on a SYN: only the server listens.
            core.tw_segment(index, tx, v & !TW_BIT, seg);
            return;
        }
    }
    // CLOSED (RFC 9293 §3.10.7.1): answer with RST — but only a segment from
    // our destination to one of our source addresses: synfin sends to nobody
    // else, whatever arrives (a forged source must not make it a reflector).
    tx.rec.counters.rx_no_conn += 1;
    if f.src_ip != index.dst_ip
        || f.tcp.src_port != index.dst_port
        || f.dst_ip.wrapping_sub(index.src_first) >= index.src_count
    {
        return;
    }
    if let listen::NoConnReply::Rst(rst) = listen::closed(seg) {
        // (A RST carries no payload: the side's payload is not read.)
        tx.send(f.dst_ip, f.src_ip, &rst, 0);
        tx.event(Event::RstSent);
    }
}
