//! A client [`Conn`] and a server side (LISTEN, its [`Conn`]s, TIME-WAIT records)
//! joined by a simulated link, driven in virtual time that jumps to the next
//! delivery or deadline, the way the engine will drive them. Each segment put on
//! the link is kept in a trace.

use std::collections::VecDeque;

use super::listen::{self, NoConnReply};
use super::*;

pub(super) const CLIENT_IP: u32 = 0xc612_0001;
pub(super) const SERVER_IP: u32 = 0xc613_0001;
pub(super) const CLIENT_PORT: u16 = 40000;
pub(super) const SERVER_PORT: u16 = 80;
pub(super) const CLIENT_ISS: SeqNumber = SeqNumber(1_000);
pub(super) const SERVER_ISS: SeqNumber = SeqNumber(50_000);
/// Timestamp offsets of the two ends (RFC 7323 §5.4), so their clocks differ.
const CLIENT_TS_OFFSET: u32 = 0x7000_0000;
const SERVER_TS_OFFSET: u32 = 0x1234;

/// Which way a segment travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    ToServer,
    ToClient,
}

/// One segment put on the link.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    pub at: Instant,
    pub dir: Dir,
    pub seg: TcpRepr,
    pub lost: bool,
}

/// A connection's record: its control block while it lives, its TIME-WAIT record
/// after, and everything it reported.
#[derive(Default)]
pub(super) struct Endpoint {
    pub conn: Option<Conn>,
    pub tw: Option<TimeWaitRecord>,
    pub sink: TestSink,
    /// How its control block ended: `Step::Closed` or `Step::TimeWait`.
    pub ended: Option<Step>,
    /// The state it was in just before it ended, and the bytes it had received.
    pub last_state: State,
    pub rx_bytes: u32,
}

impl Endpoint {
    /// The Completed and Failed events it reported.
    pub fn outcomes(&self) -> Vec<Event> {
        self.sink
            .events
            .iter()
            .copied()
            .filter(|e| matches!(e, Event::Completed | Event::Failed(_)))
            .collect()
    }
    /// How many samples of `phase` it recorded.
    pub fn samples(&self, phase: Phase) -> usize {
        self.sink.samples.iter().filter(|s| s.0 == phase).count()
    }
    /// The sample of `phase` in ms.
    pub fn sample_ms(&self, phase: Phase) -> Option<u64> {
        let v: Vec<u64> = self
            .sink
            .samples
            .iter()
            .filter(|s| s.0 == phase)
            .map(|s| s.1 / 1_000_000)
            .collect();
        assert!(v.len() <= 1, "{phase:?} recorded {} times", v.len());
        v.first().copied()
    }
    /// Its next deadline: the control block's timer or the end of TIME-WAIT.
    fn deadline(&self) -> Instant {
        match (&self.conn, &self.tw) {
            (Some(c), _) => c.deadline(),
            (None, Some(tw)) => Instant::from_millis(tw.expires_ms as u64),
            (None, None) => Instant::NEVER,
        }
    }
    /// Still holding state (a control block or a TIME-WAIT record).
    pub fn alive(&self) -> bool {
        self.conn.is_some() || self.tw.is_some()
    }
    /// Take the outcome of a call on the control block.
    fn after(&mut self, step: Step) {
        let conn = self.conn.as_ref().expect("a control block");
        self.last_state = conn.state();
        self.rx_bytes = conn.rx_bytes();
        match step {
            Step::Continue => {}
            Step::TimeWait => {
                self.tw = Some(conn.time_wait_record());
                self.conn = None;
                self.ended = Some(step);
            }
            Step::Closed => {
                self.conn = None;
                self.ended = Some(step);
            }
        }
    }
}

/// Tiny deterministic generator (splitmix64) for loss decisions.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// True with probability `pct`/100.
    pub fn chance(&mut self, pct: u32) -> bool {
        (self.next() % 100) < pct as u64
    }
}

/// The two ends and the link between them.
pub(super) struct Pair {
    pub cfg_client: TcpConfig,
    pub cfg_server: TcpConfig,
    pub client: Endpoint,
    /// Server connections, in order of acceptance (normally one).
    pub servers: Vec<Endpoint>,
    pub now: Instant,
    /// One-way delay.
    pub delay: Duration,
    /// Loss probability per segment, in percent.
    pub loss_pct: u32,
    /// Probability that a delivered segment arrives twice, in percent.
    pub dup_pct: u32,
    /// Probability, in percent, that the port of the end a delivery or timer
    /// reaches has room for only 0, 1 or 2 segments then (a full frame pool or
    /// transmit ring): what it refuses never reaches the link.
    pub full_pct: u32,
    pub rng: Rng,
    /// Segments in flight, in delivery order (constant delay keeps it FIFO).
    wire: VecDeque<(Instant, Dir, TcpRepr)>,
    pub trace: Vec<Sent>,
    /// RSTs LISTEN or CLOSED sent for segments that found no connection.
    pub stray_rsts: usize,
    /// Segments to lose once each, by direction and sequence number: the first
    /// one sent with that number is lost (a chosen loss, beside `loss_pct`).
    pub lose_once: Vec<(Dir, SeqNumber)>,
}

impl Pair {
    /// A pair whose client connects at t = 0.
    pub fn new(cfg_client: TcpConfig, cfg_server: TcpConfig, delay_ms: u64) -> Pair {
        let mut p = Pair {
            cfg_client,
            cfg_server,
            client: Endpoint::default(),
            servers: Vec::new(),
            now: Instant::ZERO,
            delay: Duration::from_millis(delay_ms),
            loss_pct: 0,
            dup_pct: 0,
            full_pct: 0,
            rng: Rng(0),
            wire: VecDeque::new(),
            trace: Vec::new(),
            stray_rsts: 0,
            lose_once: Vec::new(),
        };
        let conn = Conn::connect(
            &p.cfg_client,
            (CLIENT_IP, CLIENT_PORT),
            (SERVER_IP, SERVER_PORT),
            CLIENT_ISS,
            CLIENT_TS_OFFSET,
            p.now,
            p.now,
            &mut p.client.sink,
        );
        p.client.conn = Some(conn);
        p.flush(Dir::ToServer);
        p
    }

    /// The server's (first) connection.
    pub fn server(&self) -> &Endpoint {
        &self.servers[0]
    }

    /// Put what a side sent on the link.
    fn flush(&mut self, dir: Dir) {
        let sink = match dir {
            Dir::ToServer => &mut self.client.sink,
            Dir::ToClient => &mut self.servers.last_mut().expect("a server").sink,
        };
        let segs = sink.take();
        for seg in segs {
            self.put(dir, seg);
        }
    }

    fn put(&mut self, dir: Dir, seg: TcpRepr) {
        let chosen = self
            .lose_once
            .iter()
            .position(|&(d, seq)| d == dir && seq == seg.seq && seg.payload_len > 0);
        if let Some(i) = chosen {
            self.lose_once.swap_remove(i);
        }
        let lost = chosen.is_some() || (self.loss_pct > 0 && self.rng.chance(self.loss_pct));
        self.trace.push(Sent {
            at: self.now,
            dir,
            seg,
            lost,
        });
        if !lost {
            self.wire.push_back((self.now + self.delay, dir, seg));
            if self.dup_pct > 0 && self.rng.chance(self.dup_pct) {
                self.wire.push_back((self.now + self.delay, dir, seg));
            }
        }
    }

    /// When the next thing happens.
    fn next_time(&self) -> Instant {
        let mut t = self.client.deadline();
        for s in &self.servers {
            t = t.min(s.deadline());
        }
        if let Some(&(at, _, _)) = self.wire.front() {
            t = t.min(at);
        }
        t
    }

    /// Process the next delivery or timer. Returns false when nothing is left.
    pub fn step(&mut self) -> bool {
        let t = self.next_time();
        if t == Instant::NEVER {
            return false;
        }
        self.now = self.now.max(t);
        if let Some(&(at, dir, seg)) = self.wire.front()
            && at <= self.now
        {
            self.wire.pop_front();
            match dir {
                Dir::ToServer => self.deliver_to_server(seg),
                Dir::ToClient => self.deliver_to_client(seg),
            }
            return true;
        }
        // A timer: the client's first, then the servers'.
        let now = self.now;
        if self.client.deadline() <= now {
            self.client.sink.room = self.room();
            Self::fire(&self.cfg_client, now, &mut self.client);
            self.client.sink.room = None;
            self.flush(Dir::ToServer);
            return true;
        }
        for i in 0..self.servers.len() {
            if self.servers[i].deadline() <= now {
                self.servers[i].sink.room = self.room();
                Self::fire(&self.cfg_server, now, &mut self.servers[i]);
                self.servers[i].sink.room = None;
                let segs = self.servers[i].sink.take();
                for seg in segs {
                    self.put(Dir::ToClient, seg);
                }
                return true;
            }
        }
        unreachable!("nothing due at {now:?}");
    }

    fn fire(cfg: &TcpConfig, now: Instant, e: &mut Endpoint) {
        if let Some(conn) = e.conn.as_mut() {
            let step = conn.on_timer(cfg, now, &mut e.sink);
            e.after(step);
        } else if let Some(tw) = e.tw
            && tw.expired(now.as_millis() as u32)
        {
            e.tw = None;
        }
    }

    /// A segment reaches one end's connection or TIME-WAIT record. Returns false
    /// when there is neither (or the record let a SYN through).
    /// `ts_offset` is the end's timestamp offset, which the engine recomputes from
    /// the tuple for a record's ACK.
    fn deliver(
        cfg: &TcpConfig,
        now: Instant,
        e: &mut Endpoint,
        seg: &TcpRepr,
        ts_offset: u32,
    ) -> bool {
        if let Some(conn) = e.conn.as_mut() {
            let step = super::on_segment(conn, cfg, now, seg, &mut e.sink);
            e.after(step);
            return true;
        }
        if let Some(mut tw) = e.tw {
            let now_ms = now.as_millis() as u32;
            let sink = &mut e.sink;
            let v = tw.on_segment(seg, now_ms, conn::ms(cfg.time_wait), |ev| sink.event(ev));
            e.tw = Some(tw);
            match v {
                TwVerdict::Drop => {}
                TwVerdict::Ack => {
                    let (lp, rp) = (seg.dst_port, seg.src_port);
                    let tsval = cfg.ts_base_ms.wrapping_add(now_ms).wrapping_add(ts_offset);
                    let ack = tw.ack(lp, rp, tsval);
                    e.sink.send(1, 2, &ack, 0);
                }
                TwVerdict::Close => e.tw = None,
                TwVerdict::Reopen => {
                    // The SYN goes on to LISTEN (or CLOSED) for a new incarnation.
                    e.tw = None;
                    return false;
                }
            }
            return true;
        }
        false
    }

    /// The room of the port of the end an event reaches (see `full_pct`): None
    /// for any number of segments.
    fn room(&mut self) -> Option<usize> {
        (self.full_pct > 0 && self.rng.chance(self.full_pct))
            .then(|| (self.rng.next() % 3) as usize)
    }

    fn deliver_to_server(&mut self, seg: TcpRepr) {
        let now = self.now;
        let room = self.room();
        if let Some(e) = self.servers.last_mut() {
            e.sink.room = room;
            let delivered = Self::deliver(&self.cfg_server, now, e, &seg, SERVER_TS_OFFSET);
            e.sink.room = None;
            if delivered {
                self.flush(Dir::ToClient);
                return;
            }
        }
        match listen::listen(&seg) {
            NoConnReply::Accept => {
                let mut e = Endpoint::default();
                let conn = Conn::accept(
                    &self.cfg_server,
                    (SERVER_IP, SERVER_PORT),
                    (CLIENT_IP, CLIENT_PORT),
                    &seg,
                    SERVER_ISS + 7_919 * self.servers.len() as u32,
                    SERVER_TS_OFFSET,
                    now,
                    &mut e.sink,
                );
                e.conn = Some(conn);
                self.servers.push(e);
                self.flush(Dir::ToClient);
            }
            NoConnReply::Rst(r) => {
                self.stray_rsts += 1;
                self.put(Dir::ToClient, r);
            }
            NoConnReply::Drop => {}
        }
    }

    fn deliver_to_client(&mut self, seg: TcpRepr) {
        let now = self.now;
        self.client.sink.room = self.room();
        let delivered = Self::deliver(
            &self.cfg_client,
            now,
            &mut self.client,
            &seg,
            CLIENT_TS_OFFSET,
        );
        self.client.sink.room = None;
        if delivered {
            self.flush(Dir::ToServer);
            return;
        }
        match listen::closed(&seg) {
            NoConnReply::Rst(r) => {
                self.stray_rsts += 1;
                self.put(Dir::ToServer, r);
            }
            NoConnReply::Drop | NoConnReply::Accept => {}
        }
    }

    /// Run until nothing is left (every timer expired, nothing in flight), or
    /// panic after `limit` steps.
    pub fn run(&mut self, limit: usize) {
        for _ in 0..limit {
            if !self.step() {
                return;
            }
        }
        panic!("still running after {limit} steps at {:?}", self.now);
    }

    /// Run until `cond` holds.
    pub fn run_until(&mut self, limit: usize, cond: impl Fn(&Pair) -> bool) {
        for _ in 0..limit {
            if cond(self) {
                return;
            }
            assert!(self.step(), "ran out of events before the condition held");
        }
        panic!("condition not reached after {limit} steps");
    }

    /// The application closes the client (what a graceful stop does).
    pub fn close_client(&mut self) {
        let conn = self.client.conn.as_mut().expect("a client control block");
        let step = conn.close(&self.cfg_client, self.now, &mut self.client.sink);
        self.client.after(step);
        self.flush(Dir::ToServer);
    }

    /// When each segment was put on the link, in ms.
    pub fn wire_times_ms(&self) -> Vec<u64> {
        self.trace.iter().map(|s| s.at.as_millis()).collect()
    }

    /// How many segments the link lost.
    pub fn lost(&self) -> usize {
        self.trace.iter().filter(|s| s.lost).count()
    }

    /// How many segments the ends' ports refused (see `full_pct`).
    pub fn refused(&self) -> usize {
        self.client.sink.refused + self.servers.iter().map(|e| e.sink.refused).sum::<usize>()
    }

    /// The segments put on the link, without times, as (direction, segment).
    pub fn wire_log(&self) -> Vec<(Dir, TcpRepr)> {
        self.trace.iter().map(|s| (s.dir, s.seg)).collect()
    }
}
