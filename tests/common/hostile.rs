// A hostile peer for the engine's workers, and the drivers that check what the
// engine must keep true whatever the peer does (issue 6, points 1 and 3).
//
// Shared by `tests/hostile.rs` (seeded, long runs) and the fuzz targets in `fuzz/`
// (the fuzzer's bytes choose everything): both include this file with `#[path]`.
//
// The peer is a `Port`. Every frame the worker sends is read back (which tuples
// exist, which sequence numbers the worker expects); every receive burst is made
// of frames the choices pick: plausible replies (a SYN-ACK with the right ack,
// the response, a FIN) so that connections get deep into their lifecycle, the
// same with one field broken (wrong ack, window 0, random flags, a far sequence
// number), segments for tuples that never existed, floods of RSTs, and bytes that
// are not a frame at all. Its memory is fixed: a small table of seen tuples.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use synfin::engine::TwPolicy;
use synfin::engine::client::{ClientConfig, ClientWorker};
use synfin::engine::core::Macs;
use synfin::engine::pacer::{Pacer, PacerMode};
use synfin::engine::server::{ServerConfig, ServerWorker};
use synfin::engine::tx_guard::TxPolicy;
use synfin::io::{Burst, Port, Receive, Transmit};
use synfin::tcp::{CloseMode, TcpConfig};
use synfin::time::Instant;
use synfin::wire::ethernet::EthernetAddress;
use synfin::wire::frame::{FrameHeader, emit_tcp_frame, parse_tcp_frame};
use synfin::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// Where the peer's decisions come from.
pub trait Choices {
    /// The next byte of decisions.
    fn byte(&mut self) -> u8;
    /// Whether the decisions are used up (a fuzz input is; a PRNG never).
    fn exhausted(&self) -> bool {
        false
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// A number below `n` (`n > 0`).
    fn below(&mut self, n: u32) -> u32 {
        let v = if n <= 256 {
            u32::from(self.byte())
        } else {
            self.u32()
        };
        v % n
    }
    /// True with probability `p`/256.
    fn chance(&mut self, p: u8) -> bool {
        self.byte() < p
    }
}

/// The bytes of a fuzz input; zeros once they are used up.
pub struct FuzzBytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> FuzzBytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        FuzzBytes { data, pos: 0 }
    }
}

impl Choices for FuzzBytes<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// A seeded PRNG (SplitMix64).
pub struct Rng(pub u64);

impl Choices for Rng {
    fn byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u8
    }
}

/// What the peer saw of one tuple (from the worker's frames).
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// The worker's address and port.
    w_ip: u32,
    w_port: u16,
    /// The peer's address and port.
    p_ip: u32,
    p_port: u16,
    /// The worker's next sequence number (seq + length of its last segment).
    w_next: u32,
    /// What the worker acknowledged last (the peer's next sequence number).
    p_next: u32,
    /// Flags of the worker's last segment.
    flags: u8,
    /// The worker's last TSval.
    tsval: u32,
}

const SEEN: usize = 32;

/// Which worker the peer faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facing {
    /// A client: the peer plays its server.
    Client,
    /// A server: the peer plays its clients.
    Server,
}

/// The hostile peer, as the worker's port.
pub struct HostilePort<C: Choices> {
    pub choices: C,
    facing: Facing,
    /// The worker's side: its address range (client) or listening address (server).
    w_first: u32,
    w_count: u32,
    w_port: u16,
    /// The peer's side: the server address (facing a client), or the first of the
    /// client addresses it plays (facing a server).
    p_ip: u32,
    p_port: u16,
    seen: [Option<Seen>; SEEN],
    next_seen: usize,
    peer_isn: u32,
    tx_buf: Vec<u8>,
    rx_buf: Vec<u8>,
    /// The frames of the burst being received, made before the worker sees any.
    staged: Vec<Vec<u8>>,
    zeros: Vec<u8>,
    /// Stop sending (the drain: the peer falls silent).
    pub silent: bool,
    /// Most frames per receive burst.
    pub burst: u32,
    /// Frames the worker sent.
    pub tx_frames: u64,
    /// Frames the worker sent that were not TCP between the worker's addresses
    /// and the peer's (for a client: not allowed by its [`TxPolicy`]).
    pub tx_strays: u64,
    /// Frames handed to the worker.
    pub rx_frames: u64,
    policy: Option<TxPolicy>,
}

const W_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const P_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

impl<C: Choices> HostilePort<C> {
    /// A peer for a client worker of `cfg`.
    pub fn facing_client(choices: C, cfg: &ClientConfig) -> Self {
        let mut p = Self::new(choices, Facing::Client);
        p.w_first = cfg.src_first;
        p.w_count = cfg.src_count;
        p.p_ip = cfg.dst_ip;
        p.p_port = cfg.dst_port;
        p.policy = Some(TxPolicy {
            src_first: cfg.src_first,
            src_count: cfg.src_count,
            dst_ip: cfg.dst_ip,
            dst_port: cfg.dst_port,
        });
        p
    }

    /// A peer for a server worker of `cfg` (it plays clients from 198.18.0.1..8).
    pub fn facing_server(choices: C, cfg: &ServerConfig) -> Self {
        let mut p = Self::new(choices, Facing::Server);
        p.w_first = cfg.ip;
        p.w_count = 1;
        p.w_port = cfg.port;
        p.p_ip = u32::from(Ipv4Addr::new(198, 18, 0, 1));
        p
    }

    fn new(choices: C, facing: Facing) -> Self {
        HostilePort {
            choices,
            facing,
            w_first: 0,
            w_count: 0,
            w_port: 0,
            p_ip: 0,
            p_port: 0,
            seen: [None; SEEN],
            next_seen: 0,
            peer_isn: 0x1000_0000,
            tx_buf: vec![0; synfin::io::MAX_FRAME],
            rx_buf: vec![0; synfin::io::MAX_FRAME],
            staged: Vec::new(),
            zeros: vec![0; 1500],
            silent: false,
            burst: 8,
            tx_frames: 0,
            tx_strays: 0,
            rx_frames: 0,
            policy: None,
        }
    }

    /// Note a frame the worker sent.
    fn observe(&mut self, len: usize) {
        self.tx_frames += 1;
        let frame = &self.tx_buf[..len];
        if let Some(p) = &self.policy
            && !p.allows(frame)
        {
            self.tx_strays += 1;
        }
        let Ok(f) = parse_tcp_frame(frame, true) else {
            self.tx_strays += 1;
            return;
        };
        let (w_ip, p_ip) = (u32::from(f.src_ip), u32::from(f.dst_ip));
        // A server answers from its own address (an RST may come from a closed
        // port of it) to the peer's clients.
        if self.facing == Facing::Server
            && (w_ip != self.w_first || p_ip.wrapping_sub(self.p_ip) >= 8)
        {
            self.tx_strays += 1;
        }
        let t = &f.tcp;
        let entry = Seen {
            w_ip,
            w_port: t.src_port,
            p_ip,
            p_port: t.dst_port,
            w_next: t.seq.0.wrapping_add(t.seq_len()),
            p_next: t.ack.0,
            flags: t.flags.0,
            tsval: t.options.timestamps.map_or(0, |ts| ts.tsval),
        };
        let same = |s: &Seen| {
            s.w_ip == w_ip && s.w_port == t.src_port && s.p_ip == p_ip && s.p_port == t.dst_port
        };
        if let Some(slot) = self.seen.iter_mut().flatten().find(|s| same(s)) {
            *slot = entry;
        } else {
            self.seen[self.next_seen] = Some(entry);
            self.next_seen = (self.next_seen + 1) % SEEN;
        }
    }

    /// A seen tuple, if any.
    fn pick_seen(&mut self) -> Option<Seen> {
        let n = self.seen.iter().flatten().count() as u32;
        if n == 0 {
            return None;
        }
        let i = self.choices.below(n) as usize;
        self.seen.iter().flatten().nth(i).copied()
    }

    /// A tuple that never existed (or that the peer makes up): facing a client,
    /// addressed to its range or near it; facing a server, a new client.
    fn made_up(&mut self) -> Seen {
        let c = &mut self.choices;
        match self.facing {
            Facing::Client => Seen {
                w_ip: self.w_first.wrapping_add(c.below(self.w_count + 2)),
                w_port: c.u16(),
                p_ip: if c.chance(220) { self.p_ip } else { c.u32() },
                p_port: if c.chance(220) { self.p_port } else { c.u16() },
                w_next: c.u32(),
                p_next: c.u32(),
                flags: 0,
                tsval: c.u32(),
            },
            Facing::Server => Seen {
                w_ip: if c.chance(240) { self.w_first } else { c.u32() },
                w_port: if c.chance(240) { self.w_port } else { c.u16() },
                // Few addresses and ports, so tuples collide and get reused.
                p_ip: self.p_ip + c.below(8),
                p_port: 1024 + c.below(64) as u16,
                w_next: c.u32(),
                p_next: c.u32(),
                flags: 0,
                tsval: c.u32(),
            },
        }
    }

    /// Build the next hostile frame into `rx_buf`; its length (0: none).
    fn make_frame(&mut self) -> usize {
        let kind = self.choices.byte();
        if kind < 12 {
            // Not a frame: random bytes of a random length.
            let len = self.choices.below(120) as usize;
            for i in 0..len {
                self.rx_buf[i] = self.choices.byte();
            }
            return len;
        }
        let s = match (kind < 60, self.pick_seen()) {
            (false, Some(s)) => s,
            _ => self.made_up(),
        };
        let c = &mut self.choices;
        // The plausible reply to the worker's last segment.
        let w_flags = TcpFlags(s.flags);
        let mut flags = TcpFlags::ACK;
        let mut seq = s.p_next;
        let mut payload = 0u16;
        let mut options = TcpOptions::default();
        match self.facing {
            Facing::Client if w_flags.syn() && !w_flags.ack() => {
                flags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
                self.peer_isn = self.peer_isn.wrapping_add(0x10_0000);
                seq = self.peer_isn;
                options.mss = Some(1460);
                options.window_scale = c.chance(128).then_some(7);
                options.sack_permitted = c.chance(128);
            }
            Facing::Server if s.flags == 0 || c.chance(40) => {
                // A new connection attempt (or one on an existing tuple).
                flags = TcpFlags::SYN;
                seq = c.u32();
                options.mss = Some(if c.chance(30) { c.u16() } else { 1460 });
                options.window_scale = c.chance(128).then(|| c.byte() % 16);
                options.sack_permitted = c.chance(128);
            }
            _ => {
                if c.chance(120) {
                    payload = if c.chance(200) {
                        64
                    } else {
                        c.below(1400) as u16
                    };
                }
                if c.chance(90) {
                    flags = TcpFlags(flags.0 | TcpFlags::FIN.0);
                }
            }
        }
        let mut ack = s.w_next;
        let mut window = 65535u16;
        // Break it, one way or several.
        if c.chance(50) {
            flags = TcpFlags(c.byte());
        }
        if c.chance(40) {
            ack = match c.below(4) {
                0 => ack.wrapping_add(1),
                1 => ack.wrapping_sub(1),
                2 => ack.wrapping_add(c.u32() >> 8),
                _ => c.u32(),
            };
        }
        if c.chance(40) {
            seq = match c.below(3) {
                0 => seq.wrapping_add(c.below(3000)),
                1 => seq.wrapping_sub(c.below(3000)),
                _ => c.u32(),
            };
        }
        if c.chance(40) {
            window = 0;
        }
        if c.chance(200) {
            let tsval = if c.chance(220) {
                s.tsval.wrapping_add(c.below(1000))
            } else {
                c.u32()
            };
            options.timestamps = Some(Timestamps {
                tsval,
                tsecr: s.tsval,
            });
        }
        let tcp = TcpRepr {
            src_port: s.p_port,
            dst_port: s.w_port,
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags,
            window,
            options,
            payload_len: payload,
        };
        let hdr = FrameHeader {
            src_mac: P_MAC,
            dst_mac: W_MAC,
            src_ip: Ipv4Addr::from(s.p_ip),
            dst_ip: Ipv4Addr::from(s.w_ip),
            ttl: 64,
        };
        let len = emit_tcp_frame(
            &mut self.rx_buf,
            &hdr,
            &tcp,
            &self.zeros[..payload as usize],
        )
        .unwrap_or(0);
        // Now and then a bit flipped after the checksum was written.
        if len > 0 && c.chance(8) {
            let i = c.below(len as u32) as usize;
            self.rx_buf[i] ^= 1 << (c.byte() % 8);
        }
        len
    }
}

/// The frames of one burst of a [`HostilePort`], and how many it counts as
/// received (frames it made empty included).
struct Staged<'a> {
    frames: &'a [Vec<u8>],
    n: usize,
}

impl Receive for Staged<'_> {
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        for frame in std::mem::take(&mut self.frames) {
            f(frame);
        }
        std::mem::take(&mut self.n)
    }
}

impl<C: Choices> Port for HostilePort<C> {
    /// The burst's frames are all made first (they depend on what the worker sent
    /// before the burst, not on its answers within it), then lent with the port
    /// as the transmit side.
    fn burst<B: Burst>(&mut self, _now: Instant, max: usize, b: B) -> B::Out {
        let mut staged = std::mem::take(&mut self.staged);
        staged.clear();
        let mut n = 0;
        if !(self.silent || self.choices.exhausted()) {
            let want = self.choices.below(self.burst + 1) as usize;
            // An RST flood now and then: a burst of RSTs on seen tuples.
            let flood = self.choices.chance(10);
            while n < want.min(max) {
                let len = if flood {
                    self.make_rst()
                } else {
                    self.make_frame()
                };
                if len > 0 {
                    staged.push(self.rx_buf[..len].to_vec());
                    self.rx_frames += 1;
                }
                n += 1;
            }
        }
        let out = b.run(&mut Staged { frames: &staged, n }, self);
        self.staged = staged;
        out
    }

    fn flush(&mut self, _now: Instant) {}
}

impl<C: Choices> Transmit for HostilePort<C> {
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, _now: Instant, build: F) -> bool {
        let len = build(&mut self.tx_buf);
        if len > 0 {
            self.observe(len.min(self.tx_buf.len()));
        }
        true
    }
}

impl<C: Choices> HostilePort<C> {
    /// An RST (sometimes RST+ACK) on a seen tuple, its sequence number near or in
    /// the worker's window.
    fn make_rst(&mut self) -> usize {
        let s = self.pick_seen().unwrap_or_else(|| self.made_up());
        let c = &mut self.choices;
        let seq = s
            .p_next
            .wrapping_add(c.below(4096))
            .wrapping_sub(c.below(64));
        let flags = if c.chance(128) {
            TcpFlags::RST
        } else {
            TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0)
        };
        let tcp = TcpRepr {
            src_port: s.p_port,
            dst_port: s.w_port,
            seq: SeqNumber(seq),
            ack: SeqNumber(s.w_next),
            flags,
            window: 0,
            ..TcpRepr::default()
        };
        let hdr = FrameHeader {
            src_mac: P_MAC,
            dst_mac: W_MAC,
            src_ip: Ipv4Addr::from(s.p_ip),
            dst_ip: Ipv4Addr::from(s.w_ip),
            ttl: 64,
        };
        emit_tcp_frame(&mut self.rx_buf, &hdr, &tcp, &[]).unwrap_or(0)
    }
}

/// Settings of a hostile session, chosen from the first bytes.
pub struct Session {
    pub tcp: TcpConfig,
    pub policy: TwPolicy,
    pub connections: u64,
    pub max_conns: usize,
    pub tw_cap: usize,
}

impl Session {
    pub fn choose(c: &mut impl Choices) -> Session {
        let close = match c.below(3) {
            0 => CloseMode::Client,
            1 => CloseMode::Server,
            _ => CloseMode::Rst,
        };
        let tcp = TcpConfig {
            close,
            timestamps: c.chance(200),
            window_scale: c.chance(200).then_some(7),
            request_bytes: [0, 64, 3000][c.below(3) as usize],
            response_bytes: [0, 64, 256, 3000][c.below(4) as usize],
            time_wait: std::time::Duration::from_millis(500 + u64::from(c.below(5000))),
            syn_retries: c.below(4) as u8,
            retries: c.below(4) as u8,
            ts_base_ms: c.u32(),
            ..TcpConfig::default()
        };
        let policy = match c.below(3) {
            0 => TwPolicy::Strict,
            1 => TwPolicy::Reuse { delay_ms: 300 },
            _ => TwPolicy::None,
        };
        Session {
            tcp,
            policy,
            connections: 1 + u64::from(c.below(200)),
            max_conns: 1 + c.below(16) as usize,
            tw_cap: 1 + c.below(16) as usize,
        }
    }
}

/// What a hostile session ended with.
#[derive(Debug, Default)]
pub struct Outcome {
    pub attempted: u64,
    pub completed: u64,
    pub failed: u64,
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub rst_received: u64,
    pub tw_entered: u64,
    pub peak_open: usize,
    pub peak_tw: usize,
}

/// Next time: at least 1 ms later, often a jump to the worker's next timer.
fn advance(c: &mut impl Choices, now: Instant, wake: Option<Instant>) -> Instant {
    let step = std::time::Duration::from_micros(1 + u64::from(c.below(1 << 20) % 400_000));
    let next = now + step;
    match wake {
        Some(w) if c.chance(60) && w > now => w,
        _ => next,
    }
}

/// The drain: the peer falls silent and time runs to every deadline. Every
/// connection must end (by its own timers) and every TIME-WAIT record expire.
fn drain_until<F: FnMut(Instant) -> Option<Instant>>(
    mut now: Instant,
    mut step: F,
) -> Result<Instant, Instant> {
    for _ in 0..100_000 {
        match step(now) {
            Some(w) => now = w.max(now + std::time::Duration::from_millis(1)),
            None => return Ok(now),
        }
    }
    Err(now)
}

/// The earliest of `events` after `now` (an event in the past is one the worker
/// cannot act on yet: a due connection waiting for a tuple), else 100 ms on.
fn next_event(now: Instant, events: [Option<Instant>; 2]) -> Instant {
    events
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + std::time::Duration::from_millis(100))
}

/// State, timer and deadline of every open control block.
fn open_conns<K: Copy + Default>(
    t: &synfin::engine::slab::Slab<synfin::engine::core::ConnSlot<K>>,
) -> Vec<String> {
    (0..t.capacity() as u32)
        .filter(|i| t.key_of(*i).is_some())
        .map(|i| {
            let c = &t.get_by_index(i).conn;
            format!(
                "{} timer {:?} deadline {:?} snd_una {:?} snd_nxt {:?}",
                c.state(),
                c.timer(),
                c.deadline(),
                c.snd_una(),
                c.snd_nxt()
            )
        })
        .collect()
}

/// Drive a client worker against the hostile peer, checking the engine's promises
/// after every step, then drain. Panics on any broken promise.
pub fn client_session(mut c: impl Choices, max_steps: usize) -> Outcome {
    let s = Session::choose(&mut c);
    let cfg = ClientConfig {
        src_first: u32::from(Ipv4Addr::new(198, 18, 0, 1)),
        src_count: 1 + c.below(3),
        port_lo: 40_000,
        port_hi: 40_000 + c.below(16) as u16,
        dst_ip: u32::from(Ipv4Addr::new(198, 19, 0, 1)),
        dst_port: 80,
        tw_policy: s.policy,
        tw_cap: s.tw_cap,
        max_conns: s.max_conns,
        verify_checksums: true,
        secret: u64::from(c.u32()),
        cursor_start: u64::from(c.u32()),
    };
    let mode = if c.chance(128) {
        PacerMode::Max
    } else {
        PacerMode::Rate {
            cps: f64::from(1 + c.below(5000)),
        }
    };
    let pacer = Pacer::new(mode, Instant::ZERO, Some(s.connections), s.max_conns as u32);
    let macs = Macs {
        local: W_MAC,
        remote: P_MAC,
    };
    let request = synfin::engine::mem_run::payload(s.tcp.request_bytes, true);
    let mut w = ClientWorker::new(s.tcp.clone(), &cfg, pacer, macs, request);
    let mut port = HostilePort::facing_client(c, &cfg);
    let mut now = Instant::ZERO;
    let mut out = Outcome::default();
    let check = |w: &ClientWorker, out: &mut Outcome| {
        let k = &w.recorder().counters;
        let open = w.core.open();
        assert!(open <= s.max_conns, "{open} open, table of {}", s.max_conns);
        assert!(
            w.core.tws.len() <= s.tw_cap.max(1),
            "TIME-WAIT over its cap"
        );
        assert!(k.attempted <= s.connections, "opened more than asked");
        assert_eq!(
            k.attempted,
            k.completed + k.failed_total() + open as u64,
            "every attempt completed, failed or open: {k:?}"
        );
        out.peak_open = out.peak_open.max(open);
        out.peak_tw = out.peak_tw.max(w.core.tws.len());
    };
    for _ in 0..max_steps {
        if port.choices.exhausted() {
            break;
        }
        w.step(&mut port, now);
        check(&w, &mut out);
        now = advance(&mut port.choices, now, w.next_wakeup());
    }
    port.silent = true;
    let drained = drain_until(now, |t| {
        w.step(&mut port, t);
        check(&w, &mut out);
        if w.done() && w.core.tws.is_empty() {
            None
        } else {
            Some(next_event(t, [w.core.next_timer(), w.next_wakeup()]))
        }
    });
    if let Err(t) = drained {
        panic!(
            "the client's drain did not end at {t:?}: open {} {:?}, TIME-WAIT {}, next wakeup {:?}, pacer done {}, started {}, counters {:?}",
            w.core.open(),
            open_conns(&w.core.conns),
            w.core.tws.len(),
            w.next_wakeup(),
            w.pacer.is_done(),
            w.pacer.started_count(),
            w.recorder().counters
        );
    }
    let k = &w.recorder().counters;
    assert_eq!(w.core.open(), 0, "no control block left");
    assert!(w.core.tws.is_empty(), "no TIME-WAIT record left");
    assert_eq!(k.attempted, s.connections, "every connection was opened");
    assert_eq!(k.attempted, k.completed + k.failed_total());
    assert_eq!(port.tx_strays, 0, "the client sent only to its destination");
    Outcome {
        attempted: k.attempted,
        completed: k.completed,
        failed: k.failed_total(),
        rx_frames: port.rx_frames,
        tx_frames: port.tx_frames,
        rst_received: k.rst_received,
        tw_entered: k.tw_entered,
        ..out
    }
}

/// Drive a server worker against hostile clients, checking after every step,
/// then drain. Panics on any broken promise.
pub fn server_session(mut c: impl Choices, max_steps: usize) -> Outcome {
    let s = Session::choose(&mut c);
    let cfg = ServerConfig {
        ip: u32::from(Ipv4Addr::new(198, 19, 0, 1)),
        port: 80,
        max_conns: s.max_conns,
        tw_cap: s.tw_cap,
        verify_checksums: true,
        secret: u64::from(c.u32()),
    };
    let macs = Macs {
        local: W_MAC,
        remote: P_MAC,
    };
    let response = synfin::engine::mem_run::payload(s.tcp.response_bytes, false);
    let mut w = ServerWorker::new(s.tcp.clone(), cfg.clone(), macs, response);
    let mut port = HostilePort::facing_server(c, &cfg);
    let mut now = Instant::ZERO;
    let mut out = Outcome::default();
    let check = |w: &ServerWorker, out: &mut Outcome| {
        let k = &w.recorder().counters;
        let open = w.core.open();
        assert!(open <= s.max_conns, "{open} open, table of {}", s.max_conns);
        assert!(
            w.core.tws.len() <= s.tw_cap.max(1),
            "TIME-WAIT over its cap"
        );
        assert_eq!(
            k.attempted,
            k.completed + k.failed_total() + open as u64,
            "every accepted connection completed, failed or open: {k:?}"
        );
        out.peak_open = out.peak_open.max(open);
        out.peak_tw = out.peak_tw.max(w.core.tws.len());
    };
    for _ in 0..max_steps {
        if port.choices.exhausted() {
            break;
        }
        w.step(&mut port, now);
        check(&w, &mut out);
        now = advance(&mut port.choices, now, w.next_wakeup());
    }
    port.silent = true;
    let drained = drain_until(now, |t| {
        w.step(&mut port, t);
        check(&w, &mut out);
        if w.core.open() == 0 && w.core.tws.is_empty() {
            None
        } else {
            Some(next_event(t, [w.core.next_timer(), w.next_wakeup()]))
        }
    });
    if let Err(t) = drained {
        panic!(
            "the server's drain did not end at {t:?}: open {} {:?}, TIME-WAIT {}, next wakeup {:?}, counters {:?}",
            w.core.open(),
            open_conns(&w.core.conns),
            w.core.tws.len(),
            w.next_wakeup(),
            w.recorder().counters
        );
    }
    let k = &w.recorder().counters;
    assert_eq!(w.core.open(), 0, "no control block left");
    assert!(w.core.tws.is_empty(), "no TIME-WAIT record left");
    assert_eq!(k.attempted, k.completed + k.failed_total());
    assert_eq!(port.tx_strays, 0, "the server sent only from its address");
    Outcome {
        attempted: k.attempted,
        completed: k.completed,
        failed: k.failed_total(),
        rx_frames: port.rx_frames,
        tx_frames: port.tx_frames,
        rst_received: k.rst_received,
        tw_entered: k.tw_entered,
        ..out
    }
}
