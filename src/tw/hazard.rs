//! `synfin hazard`: the two dangers TIME-WAIT exists for, reproduced against the
//! Linux kernel on the test bed with a scripted TCP peer.
//!
//! The peer is not the engine: it is a few dozen lines of segment exchange over one
//! AF_XDP socket ([`XdpPort`]) in the generator namespace, so that it can do what a
//! correct TCP never does — keep a copy of a segment to deliver late, pick the ISN of
//! a new incarnation, withhold an ACK. The DUT is the kernel's TCP behind a small
//! recording server in the DUT namespace that keeps, per accepted connection, the
//! bytes it read.
//!
//! - [`old_duplicate`]: connection A on tuple T sends two data segments and a copy of
//!   the second is held back (as a network may delay a duplicate); A closes (the DUT
//!   is the passive closer, so it keeps no TIME-WAIT); synfin reopens T at once
//!   (TIME-WAIT policy `none`) with an ISN that puts the held segment's sequence
//!   number exactly at the new connection's RCV.NXT, delivers the held copy, and asks
//!   the server whether the bytes arrived in the new connection. Variants: DUT
//!   timestamps on/off × client timestamps on/off, and a control with an ISN outside
//!   the window.
//! - [`lost_last_ack`]: the DUT closes second (the client's FIN first, then the DUT's
//!   FIN), synfin withholds the final ACK so the DUT sits in LAST-ACK, and sends a SYN
//!   on the same 4-tuple; it records what the DUT answers and how long until the tuple
//!   opens (probing with the SYN every 200 ms), depending on what the client does with
//!   the DUT's answers. The mirror case: the DUT closes first and holds the tuple in
//!   TIME-WAIT, and a SYN comes with an ISN above or below the old one, with or without
//!   timestamps, under `tcp_rfc1337` 0 and 1.

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use serde::Serialize;

use super::sysctl::{AppliedSysctl, SysctlGuard};
use crate::engine::xdp_run::open_port_in;
use crate::io::xdp::{XdpConfig, XdpPort};
use crate::io::{Port, Transmit};
use crate::testbed::{Testbed, TestbedConfig, TestbedGuard, netns};
use crate::time::Instant;
use crate::wire::frame::{FrameHeader, emit_tcp_frame, parse_tcp_frame};
use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// The DUT's port for the hazards.
const DUT_PORT: u16 = 8080;
/// Payload length of each data segment.
const SEG_LEN: usize = 100;
/// What the held-back (old duplicate) segment carries.
const OLD_BYTES: &[u8] = b"OLD-DUPLICATE-OF-CONNECTION-A";
/// How often a SYN is sent while waiting for a tuple to open.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);
/// Window scale offered: the DUT then accepts ACKs up to 8 MB behind SND.UNA.
const WSCALE: u8 = 7;

/// The DUT counters the hazards report (nstat names).
const HAZARD_COUNTERS: &[&str] = &[
    "TcpExtPAWSEstab",
    "TcpExtPAWSActive",
    "TcpExtPAWSTimewait",
    "TcpExtTCPChallengeACK",
    "TcpExtTCPACKSkippedPAWS",
    "TcpExtTCPACKSkippedSeq",
    "TcpExtTCPACKSkippedChallenge",
    "TcpExtTCPACKSkippedTimeWait",
    "TcpExtTWKilled",
    "TcpExtTWRecycled",
    "TcpOutRsts",
    "TcpEstabResets",
];

// ---------------------------------------------------------------------------------
// The recording server in the DUT namespace.

/// When the recording server closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerClose {
    /// After the peer's FIN (read returns 0): the DUT is the passive closer.
    AfterPeerFin,
    /// As soon as this many bytes were read: the DUT closes first.
    AfterBytes(usize),
}

/// What the server read on one connection.
#[derive(Clone, Debug, Default)]
struct ConnRecord {
    peer_port: u16,
    bytes: Vec<u8>,
    ended: bool,
}

struct RecordingServer {
    records: Arc<Mutex<Vec<ConnRecord>>>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl RecordingServer {
    fn start(
        dut_ns: &str,
        addr: SocketAddrV4,
        close: ServerClose,
        respond: usize,
    ) -> Result<Self, String> {
        let listener = netns::run_in(dut_ns, || TcpListener::bind(addr))
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the recording server cannot listen on {addr}: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&records), Arc::clone(&stop));
        let handle = std::thread::spawn(move || accept_loop(listener, r, s, close, respond));
        Ok(RecordingServer {
            records,
            stop,
            handle: Some(handle),
        })
    }

    /// The record of the latest connection from `peer_port`, once it has at least
    /// `min` bytes or has ended, waiting up to `wait`.
    fn latest(&self, peer_port: u16, index: usize, wait: Duration) -> Option<ConnRecord> {
        let end = StdInstant::now() + wait;
        loop {
            let found = {
                let recs = self.records.lock().unwrap_or_else(|e| e.into_inner());
                recs.iter()
                    .filter(|r| r.peer_port == peer_port)
                    .nth(index)
                    .cloned()
            };
            if let Some(r) = &found
                && r.ended
            {
                return found;
            }
            if StdInstant::now() >= end {
                return found;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    records: Arc<Mutex<Vec<ConnRecord>>>,
    stop: Arc<AtomicBool>,
    close: ServerClose,
    respond: usize,
) {
    let mut readers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let index = {
                    let mut recs = records.lock().unwrap_or_else(|e| e.into_inner());
                    recs.push(ConnRecord {
                        peer_port: peer.port(),
                        ..ConnRecord::default()
                    });
                    recs.len() - 1
                };
                let (r, s) = (Arc::clone(&records), Arc::clone(&stop));
                readers.push(std::thread::spawn(move || {
                    read_conn(stream, index, r, s, close, respond)
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    for r in readers {
        let _ = r.join();
    }
}

fn read_conn(
    mut stream: TcpStream,
    index: usize,
    records: Arc<Mutex<Vec<ConnRecord>>>,
    stop: Arc<AtomicBool>,
    close: ServerClose,
    respond: usize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    if respond > 0 {
        let _ = stream.write_all(&vec![b'S'; respond]);
    }
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    let end = |records: &Mutex<Vec<ConnRecord>>| {
        let mut recs = records.lock().unwrap_or_else(|e| e.into_inner());
        recs[index].ended = true;
    };
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                let mut recs = records.lock().unwrap_or_else(|e| e.into_inner());
                recs[index].bytes.extend_from_slice(&buf[..n]);
                drop(recs);
                if let ServerClose::AfterBytes(want) = close
                    && total >= want
                {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    // Dropping the stream closes it: our FIN.
    drop(stream);
    end(&records);
}

// ---------------------------------------------------------------------------------
// The scripted peer.

/// One AF_XDP socket in the generator namespace that sends and receives whole TCP
/// segments of one source address to the DUT.
struct Peer {
    port: XdpPort,
    hdr: FrameHeader,
    dst_port: u16,
    pending: VecDeque<(TcpRepr, Vec<u8>)>,
    /// TSval clock: milliseconds since this instant, plus a base.
    t0: StdInstant,
    ts_base: u32,
}

impl Peer {
    fn open(tb: &Testbed, src_ip: Ipv4Addr) -> Result<Peer, String> {
        // Twice the default receive room, so that a descheduled peer does not drop
        // the DUT's segments.
        let xdp = XdpConfig {
            frames: 8192,
            rx_frames: 4096,
            ..XdpConfig::default()
        };
        let (port, mac) =
            open_port_in(Some(&tb.gen_ns()), &tb.gen_if(), &xdp).map_err(|e| e.to_string())?;
        let ts_base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u32)
            .unwrap_or(1);
        Ok(Peer {
            port,
            hdr: FrameHeader {
                src_mac: mac,
                dst_mac: tb.dut_mac(),
                src_ip,
                dst_ip: tb.config().dut_addr,
                ttl: 64,
            },
            dst_port: DUT_PORT,
            pending: VecDeque::new(),
            t0: StdInstant::now(),
            ts_base,
        })
    }

    /// The TSval clock now (milliseconds, increasing across runs).
    fn tsval(&self) -> u32 {
        self.ts_base
            .wrapping_add(self.t0.elapsed().as_millis() as u32)
    }

    fn send(&mut self, tcp: &TcpRepr, payload: &[u8]) {
        let hdr = self.hdr;
        self.port.tx(Instant::ZERO, |buf| {
            emit_tcp_frame(buf, &hdr, tcp, payload).unwrap_or(0)
        });
        self.port.flush(Instant::ZERO);
    }

    /// The next segment from the DUT to `sport`, waiting up to `wait`.
    fn recv(&mut self, sport: u16, wait: Duration) -> Option<(TcpRepr, Vec<u8>)> {
        let end = StdInstant::now() + wait;
        loop {
            if let Some(i) = self.pending.iter().position(|(t, _)| t.dst_port == sport) {
                return self.pending.remove(i);
            }
            let (dut_ip, our_ip, dport) = (self.hdr.dst_ip, self.hdr.src_ip, self.dst_port);
            let pending = &mut self.pending;
            self.port.rx_burst(Instant::ZERO, 64, |frame| {
                if let Ok(f) = parse_tcp_frame(frame, true)
                    && f.src_ip == dut_ip
                    && f.dst_ip == our_ip
                    && f.tcp.src_port == dport
                {
                    pending.push_back((f.tcp, f.payload(frame).to_vec()));
                }
            });
            if self.pending.iter().any(|(t, _)| t.dst_port == sport) {
                continue;
            }
            if StdInstant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Drops whatever is queued for `sport`.
    fn drain(&mut self, sport: u16, wait: Duration) {
        while self.recv(sport, wait).is_some() {}
    }
}

/// A connection the script drives: the numbers it must get right.
#[derive(Clone, Copy, Debug)]
struct Script {
    sport: u16,
    dport: u16,
    snd_nxt: u32,
    rcv_nxt: u32,
    /// The DUT's ISN.
    irs: u32,
    /// Timestamps were negotiated (we offered them and the SYN-ACK had them).
    ts: bool,
    ts_recent: u32,
}

impl Script {
    fn seg(&self, peer: &Peer, flags: TcpFlags, seq: u32, len: usize) -> TcpRepr {
        TcpRepr {
            src_port: self.sport,
            dst_port: self.dport,
            seq: SeqNumber(seq),
            ack: SeqNumber(self.rcv_nxt),
            flags: flags | TcpFlags::ACK,
            window: 65535,
            options: TcpOptions {
                timestamps: self.ts.then(|| Timestamps {
                    tsval: peer.tsval(),
                    tsecr: self.ts_recent,
                }),
                ..TcpOptions::default()
            },
            payload_len: len as u16,
        }
    }

    /// Sends `data` at SND.NXT and advances it.
    fn send_data(&mut self, peer: &mut Peer, data: &[u8]) -> TcpRepr {
        let seg = self.seg(peer, TcpFlags::PSH, self.snd_nxt, data.len());
        peer.send(&seg, data);
        self.snd_nxt = self.snd_nxt.wrapping_add(data.len() as u32);
        seg
    }

    fn send_flags(&mut self, peer: &mut Peer, flags: TcpFlags) {
        let seg = self.seg(peer, flags, self.snd_nxt, 0);
        peer.send(&seg, &[]);
        if flags.fin() {
            self.snd_nxt = self.snd_nxt.wrapping_add(1);
        }
    }

    /// Notes what a segment from the DUT moves: RCV.NXT past its data and FIN,
    /// TS.Recent.
    fn absorb(&mut self, seg: &TcpRepr) {
        if let Some(ts) = seg.options.timestamps {
            self.ts_recent = ts.tsval;
        }
        let end = seg.seq.0.wrapping_add(seg.seq_len());
        if (end.wrapping_sub(self.rcv_nxt) as i32) > 0 {
            self.rcv_nxt = end;
        }
    }

    /// Receives `total` bytes of the DUT's data in order, acknowledging each segment
    /// (a duplicate ACK for one out of order); returns the bytes received.
    fn receive(&mut self, peer: &mut Peer, total: usize, wait: Duration) -> usize {
        let end = StdInstant::now() + wait;
        let mut got = 0;
        while got < total && StdInstant::now() < end {
            let Some((seg, _)) = peer.recv(self.sport, Duration::from_millis(20)) else {
                continue;
            };
            if seg.payload_len == 0 {
                continue;
            }
            if seg.seq.0 == self.rcv_nxt {
                self.absorb(&seg);
                got += usize::from(seg.payload_len);
            }
            // One ACK per segment keeps the DUT's bursts small (ACK-clocked), so the
            // receive ring never overflows.
            self.send_flags(peer, TcpFlags::NONE);
        }
        got
    }

    /// Waits until the DUT has acknowledged everything sent (and absorbs what comes).
    fn wait_acked(&mut self, peer: &mut Peer, wait: Duration) -> bool {
        let end = StdInstant::now() + wait;
        while StdInstant::now() < end {
            if let Some((seg, _)) = peer.recv(self.sport, Duration::from_millis(20)) {
                self.absorb(&seg);
                if seg.flags.ack() && seg.ack.0 == self.snd_nxt {
                    return true;
                }
            }
        }
        false
    }

    /// Waits for the DUT's FIN (absorbing it); true if it came.
    fn wait_fin(&mut self, peer: &mut Peer, wait: Duration) -> bool {
        let end = StdInstant::now() + wait;
        while StdInstant::now() < end {
            if let Some((seg, _)) = peer.recv(self.sport, Duration::from_millis(20)) {
                self.absorb(&seg);
                if seg.flags.fin() {
                    return true;
                }
            }
        }
        false
    }
}

fn syn(peer: &Peer, sport: u16, iss: u32, ts: bool) -> TcpRepr {
    TcpRepr {
        src_port: sport,
        dst_port: DUT_PORT,
        seq: SeqNumber(iss),
        ack: SeqNumber(0),
        flags: TcpFlags::SYN,
        window: 65535,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(WSCALE),
            sack_permitted: false,
            timestamps: ts.then(|| Timestamps {
                tsval: peer.tsval(),
                tsecr: 0,
            }),
        },
        payload_len: 0,
    }
}

fn rst(sport: u16, seq: u32) -> TcpRepr {
    TcpRepr {
        src_port: sport,
        dst_port: DUT_PORT,
        seq: SeqNumber(seq),
        flags: TcpFlags::RST,
        ..TcpRepr::default()
    }
}

/// SYN, SYN-ACK, ACK on `sport` with our ISN `iss`.
fn handshake(peer: &mut Peer, sport: u16, iss: u32, ts: bool) -> Result<Script, String> {
    for _ in 0..3 {
        peer.send(&syn(peer, sport, iss, ts), &[]);
        let end = StdInstant::now() + Duration::from_millis(500);
        while StdInstant::now() < end {
            let Some((seg, _)) = peer.recv(sport, Duration::from_millis(50)) else {
                continue;
            };
            if seg.flags.syn() && seg.flags.ack() && seg.ack.0 == iss.wrapping_add(1) {
                let negotiated = ts && seg.options.timestamps.is_some();
                let mut s = Script {
                    sport,
                    dport: DUT_PORT,
                    snd_nxt: iss.wrapping_add(1),
                    rcv_nxt: seg.seq.0.wrapping_add(1),
                    irs: seg.seq.0,
                    ts: negotiated,
                    ts_recent: seg.options.timestamps.map_or(0, |t| t.tsval),
                };
                s.send_flags(peer, TcpFlags::NONE);
                return Ok(s);
            }
        }
    }
    Err(format!("no SYN-ACK for port {sport}"))
}

/// The TCP state the DUT's kernel has for the connection from our port `sport`
/// (`/proc/net/tcp` of its namespace), by its RFC name.
fn dut_state(dut_ns: &str, sport: u16) -> Option<&'static str> {
    let text = netns::run_in(dut_ns, || {
        std::fs::read_to_string("/proc/thread-self/net/tcp")
    })
    .ok()?
    .ok()?;
    state_in_proc_net_tcp(&text, sport)
}

/// The state of the first socket in a `/proc/net/tcp` text whose remote port is
/// `sport`.
fn state_in_proc_net_tcp(text: &str, sport: u16) -> Option<&'static str> {
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(rem), Some(st)) = (cols.get(2), cols.get(3)) else {
            continue;
        };
        let port = rem
            .split(':')
            .nth(1)
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        if port != Some(sport) {
            continue;
        }
        return Some(match *st {
            "01" => "ESTABLISHED",
            "02" => "SYN-SENT",
            "03" => "SYN-RECEIVED",
            "04" => "FIN-WAIT-1",
            "05" => "FIN-WAIT-2",
            "06" => "TIME-WAIT",
            "07" => "CLOSED",
            "08" => "CLOSE-WAIT",
            "09" => "LAST-ACK",
            "0B" => "CLOSING",
            _ => "other",
        });
    }
    None
}

fn counters_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<&'static str, u64> {
    HAZARD_COUNTERS
        .iter()
        .map(|k| {
            let d = after
                .get(*k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.get(*k).copied().unwrap_or(0));
            (*k, d)
        })
        .collect()
}

/// A name for a segment the DUT sent: `SYN-ACK`, `RST`, `ACK`, `FIN-ACK`, `data`.
fn describe(seg: &TcpRepr) -> &'static str {
    let f = seg.flags;
    if f.rst() {
        "RST"
    } else if f.syn() && f.ack() {
        "SYN-ACK"
    } else if f.fin() {
        "FIN-ACK"
    } else if seg.payload_len > 0 {
        "data"
    } else if f.ack() {
        "ACK"
    } else {
        "other"
    }
}

// ---------------------------------------------------------------------------------
// Old duplicate.

/// One variant of the old-duplicate hazard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OldDuplicateVariant {
    /// `net.ipv4.tcp_timestamps` in the DUT namespace (1 or 0).
    pub dut_timestamps: bool,
    /// The client (synfin) offers timestamps in its SYN.
    pub client_timestamps: bool,
    /// The new connection's ISN puts the old segment at its RCV.NXT (else: half the
    /// sequence space away, outside any window).
    pub isn_in_window: bool,
    /// Bytes the DUT sends on each connection before reading (0: none).
    pub dut_sends: usize,
}

/// What the DUT sends per connection in the variants where it sends: more than its
/// ISN clock (one tick per 64 ns, about 15.6 M a second) advances between the two
/// connections, so that the old segment's ACK number falls inside what the new
/// connection has acknowledged.
pub const DUT_SENDS: usize = 4 << 20;

/// The variants: DUT timestamps × client timestamps with the ISN in the window, the
/// DUT silent and then sending [`DUT_SENDS`] bytes per connection; and a control with
/// the ISN outside the window.
pub fn old_duplicate_variants() -> Vec<OldDuplicateVariant> {
    let mut v = Vec::new();
    for dut_sends in [0, DUT_SENDS] {
        for dut in [true, false] {
            for client in [true, false] {
                v.push(OldDuplicateVariant {
                    dut_timestamps: dut,
                    client_timestamps: client,
                    isn_in_window: true,
                    dut_sends,
                });
            }
        }
    }
    v.push(OldDuplicateVariant {
        dut_timestamps: false,
        client_timestamps: false,
        isn_in_window: false,
        dut_sends: DUT_SENDS,
    });
    v
}

/// What one variant showed.
#[derive(Clone, Debug, Serialize)]
pub struct OldDuplicateRow {
    /// The variant.
    pub variant: OldDuplicateVariant,
    /// Timestamps were in use on the connections (both sides agreed).
    pub timestamps_negotiated: bool,
    /// The DUT's bytes of connection A (should be both segments).
    pub bytes_a: usize,
    /// The old segment's bytes turned up in connection B's data.
    pub accepted: bool,
    /// What connection B received, as the server read it.
    pub bytes_b: usize,
    /// What the DUT sent in answer to the old segment (`ACK ack=+100`: it took the
    /// bytes; `ACK ack=+0`: a duplicate ACK, it did not).
    pub dut_answer: String,
    /// How far the DUT's ISN moved between A and B (its ISN clock; the old segment's
    /// ACK number lags B's SND.UNA by this much).
    pub dut_isn_advance: u32,
    /// Milliseconds between A's last segment and the delivery of the old one.
    pub delay_ms: u64,
    /// Why, from the DUT's counters.
    pub why: String,
    /// Growth of the DUT's counters over the variant.
    pub dut_counters: BTreeMap<&'static str, u64>,
    /// The sysctls set (and put back).
    pub sysctls: Vec<AppliedSysctl>,
    /// Why the variant could not run, if it could not.
    pub error: Option<String>,
}

fn old_duplicate_one(
    tb: &Testbed,
    peer: &mut Peer,
    server: &RecordingServer,
    v: OldDuplicateVariant,
    sport: u16,
    row: &mut OldDuplicateRow,
) -> Result<(), String> {
    let dut_ns = tb.dut_ns();
    // Connection A: two data segments; a copy of the second is held back.
    let iss_a = peer.tsval().wrapping_mul(2_654_435_761);
    let mut a = handshake(peer, sport, iss_a, v.client_timestamps)?;
    row.timestamps_negotiated = a.ts;
    if a.receive(peer, v.dut_sends, Duration::from_secs(10)) < v.dut_sends {
        return Err("connection A did not receive all the DUT's data".into());
    }
    a.send_data(peer, &[b'A'; SEG_LEN]);
    let mut old = [b'-'; SEG_LEN];
    old[..OLD_BYTES.len()].copy_from_slice(OLD_BYTES);
    let held = a.send_data(peer, &old);
    if !a.wait_acked(peer, Duration::from_secs(1)) {
        return Err("connection A's data was not acknowledged".into());
    }
    a.send_flags(peer, TcpFlags::FIN);
    if !a.wait_fin(peer, Duration::from_secs(2)) {
        return Err("the DUT did not close connection A".into());
    }
    a.send_flags(peer, TcpFlags::NONE);
    let last_a = StdInstant::now();
    let rec_a = server
        .latest(sport, 0, Duration::from_secs(1))
        .ok_or("the server saw no connection A")?;
    row.bytes_a = rec_a.bytes.len();
    // The DUT closed passively: its side of T is CLOSED, not TIME-WAIT. Wait a few
    // ms so that a TSval clock has moved on, as it would have in any real delay.
    std::thread::sleep(Duration::from_millis(20));
    peer.drain(sport, Duration::from_millis(5));
    let before = netns::nstat(&dut_ns).unwrap_or_default();
    // Connection B on the same tuple at once (policy `none`).
    let held_seq = held.seq.0;
    let iss_b = if v.isn_in_window {
        held_seq.wrapping_sub(1)
    } else {
        held_seq.wrapping_add(1 << 31)
    };
    let mut b = handshake(peer, sport, iss_b, v.client_timestamps)?;
    row.dut_isn_advance = b.irs.wrapping_sub(a.irs);
    if b.receive(peer, v.dut_sends, Duration::from_secs(10)) < v.dut_sends {
        return Err("connection B did not receive all the DUT's data".into());
    }
    // Deliver the old duplicate exactly as it was first sent.
    peer.send(&held, &old);
    row.delay_ms = last_a.elapsed().as_millis() as u64;
    let mut answer = String::from("nothing");
    if let Some((seg, _)) = peer.recv(sport, Duration::from_millis(300)) {
        let moved = seg.ack.0.wrapping_sub(b.snd_nxt);
        answer = format!("{} ack=+{moved}", describe(&seg));
        b.absorb(&seg);
        if seg.flags.ack() && moved as usize == SEG_LEN {
            // The DUT took the bytes: they are ours now.
            b.snd_nxt = seg.ack.0;
        }
    }
    row.dut_answer = answer;
    let after = netns::nstat(&dut_ns).unwrap_or_default();
    row.dut_counters = counters_delta(&before, &after);
    // Close B and read what the server got on it.
    b.send_flags(peer, TcpFlags::FIN);
    if b.wait_fin(peer, Duration::from_secs(2)) {
        b.send_flags(peer, TcpFlags::NONE);
    }
    let rec_b = server
        .latest(sport, 1, Duration::from_secs(1))
        .ok_or("the server saw no connection B")?;
    row.bytes_b = rec_b.bytes.len();
    row.accepted = rec_b.bytes.windows(OLD_BYTES.len()).any(|w| w == OLD_BYTES);
    let c = &row.dut_counters;
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    row.why = if row.accepted {
        format!(
            "accepted: its sequence number was the new connection's RCV.NXT, {}, and its old ACK number lay within the data the new connection had had acknowledged",
            if row.timestamps_negotiated {
                "PAWS did not reject it"
            } else {
                "no timestamps were in use, so nothing showed it was old"
            }
        )
    } else if get("TcpExtPAWSEstab") > 0 {
        "rejected by PAWS (RFC 7323 §5): its TSval is older than the TS.Recent the new connection's SYN set; the DUT answered with a duplicate ACK".into()
    } else if !v.isn_in_window {
        "rejected: its sequence number lies outside the new connection's receive window".into()
    } else if get("TcpExtTCPChallengeACK") > 0 {
        "rejected: its ACK number lies further behind the new connection's SND.UNA than the data that connection has had acknowledged (RFC 5961 §5.2 ACK check; challenge ACK)".into()
    } else {
        "rejected; the DUT's counters do not say why".into()
    };
    Ok(())
}

/// Runs the old-duplicate hazard on a test bed of its own (named `name`); one row per
/// variant.
pub fn old_duplicate(
    name: &str,
    variants: &[OldDuplicateVariant],
) -> Result<Vec<OldDuplicateRow>, String> {
    let guard = TestbedGuard::new(name);
    let tb = Testbed::up(&TestbedConfig {
        sources: 1,
        ..TestbedConfig::named(name)
    })
    .map_err(|e| format!("building test bed {name}: {e}"))?;
    let listen = SocketAddrV4::new(tb.config().dut_addr, DUT_PORT);
    let mut peer = Peer::open(&tb, tb.config().src_first)?;
    let mut rows = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let sport = 41_000 + 17 * i as u16;
        let mut row = OldDuplicateRow {
            variant: *v,
            timestamps_negotiated: false,
            bytes_a: 0,
            accepted: false,
            bytes_b: 0,
            dut_answer: String::new(),
            dut_isn_advance: 0,
            delay_ms: 0,
            why: String::new(),
            dut_counters: BTreeMap::new(),
            sysctls: Vec::new(),
            error: None,
        };
        let mut sysctls = SysctlGuard::new();
        let set = sysctls.set(
            &tb.dut_ns(),
            "net.ipv4.tcp_timestamps",
            if v.dut_timestamps { "1" } else { "0" },
        );
        let res = set.and_then(|()| {
            let server = RecordingServer::start(
                &tb.dut_ns(),
                listen,
                ServerClose::AfterPeerFin,
                v.dut_sends,
            )?;
            old_duplicate_one(&tb, &mut peer, &server, *v, sport, &mut row)
        });
        if let Err(e) = res {
            row.error = Some(e);
        }
        row.sysctls = sysctls.restore();
        rows.push(row);
    }
    drop(peer);
    drop(guard);
    Ok(rows)
}

// ---------------------------------------------------------------------------------
// Lost last ACK, and the mirror: TIME-WAIT on the DUT.

/// What the client does with the DUT's answers while it waits for the tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAnswer {
    /// Answers an ACK that does not acknowledge its SYN with an RST whose sequence
    /// number is that ACK number (RFC 9293 §3.10.7.3, SYN-SENT; what Linux does).
    Rst,
    /// Sends the withheld last ACK when the DUT retransmits its FIN (the ACK was
    /// late, not lost).
    LateAck,
    /// Says nothing; only its SYN goes out, every probe interval.
    Silent,
}

/// One case of the lost-last-ack hazard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LastAckVariant {
    /// `last_ack`: the DUT closed second and waits for our last ACK; `time_wait`: the
    /// DUT closed first and holds the tuple in TIME-WAIT.
    pub dut_state: &'static str,
    /// `net.ipv4.tcp_timestamps` in the DUT namespace.
    pub dut_timestamps: bool,
    /// The client offers timestamps (on both connections).
    pub client_timestamps: bool,
    /// The new SYN's ISN is above the old connection's last sequence number (else
    /// below it).
    pub isn_above: bool,
    /// `net.ipv4.tcp_rfc1337` in the DUT namespace (1: an RST does not end TIME-WAIT).
    pub rfc1337: bool,
    /// What the client does with the DUT's answers.
    pub on_answer: OnAnswer,
}

/// The cases: LAST-ACK with the client answering by RST, by a late ACK, or silent,
/// and RST without timestamps; TIME-WAIT on the DUT with the ISN above, below with
/// timestamps, below without timestamps under tcp_rfc1337 0 and 1.
pub fn last_ack_variants() -> Vec<LastAckVariant> {
    let la = |dut_ts, client_ts, on_answer| LastAckVariant {
        dut_state: "last_ack",
        dut_timestamps: dut_ts,
        client_timestamps: client_ts,
        isn_above: true,
        rfc1337: false,
        on_answer,
    };
    let tw = |client_ts, isn_above, rfc1337| LastAckVariant {
        dut_state: "time_wait",
        dut_timestamps: true,
        client_timestamps: client_ts,
        isn_above,
        rfc1337,
        on_answer: OnAnswer::Rst,
    };
    vec![
        la(true, true, OnAnswer::Rst),
        la(true, true, OnAnswer::LateAck),
        la(true, true, OnAnswer::Silent),
        la(false, false, OnAnswer::Rst),
        tw(true, true, false),
        tw(true, false, false),
        tw(false, false, false),
        tw(false, false, true),
    ]
}

/// What one case showed.
#[derive(Clone, Debug, Serialize)]
pub struct LastAckRow {
    /// The case.
    pub variant: LastAckVariant,
    /// The DUT's state for the tuple just before the new SYN (`/proc/net/tcp`).
    pub state_before: Option<&'static str>,
    /// The DUT's first answer to the new SYN (`nothing` if none within one probe
    /// interval).
    pub first_answer: String,
    /// Everything the DUT sent until the tuple opened or the wait ended, with the
    /// milliseconds since the first SYN (`SYN-ACK@412`), at most 16.
    pub answers: Vec<String>,
    /// Milliseconds from the first SYN until a SYN-ACK, or `None` if none came within
    /// `waited_ms`.
    pub opened_after_ms: Option<u64>,
    /// The longest wait.
    pub waited_ms: u64,
    /// SYNs sent (the first and the probes).
    pub syns: u32,
    /// Growth of the DUT's counters.
    pub dut_counters: BTreeMap<&'static str, u64>,
    /// The sysctls set (and put back).
    pub sysctls: Vec<AppliedSysctl>,
    /// Why the case could not run, if it could not.
    pub error: Option<String>,
}

fn last_ack_one(
    tb: &Testbed,
    peer: &mut Peer,
    v: LastAckVariant,
    sport: u16,
    bound: Duration,
    row: &mut LastAckRow,
) -> Result<(), String> {
    let dut_ns = tb.dut_ns();
    let iss = peer.tsval().wrapping_mul(2_654_435_761);
    let mut c = handshake(peer, sport, iss, v.client_timestamps)?;
    c.send_data(peer, &[b'R'; SEG_LEN]);
    if v.dut_state == "last_ack" {
        // Our FIN first; the DUT's FIN follows; its ACK is withheld.
        if !c.wait_acked(peer, Duration::from_secs(1)) {
            return Err("the request was not acknowledged".into());
        }
        c.send_flags(peer, TcpFlags::FIN);
        if !c.wait_fin(peer, Duration::from_secs(2)) {
            return Err("the DUT did not send its FIN".into());
        }
    } else {
        // The DUT closes once it has the request; we acknowledge, then close.
        if !c.wait_fin(peer, Duration::from_secs(2)) {
            return Err("the DUT did not close first".into());
        }
        c.send_flags(peer, TcpFlags::FIN);
        if !c.wait_acked(peer, Duration::from_secs(1)) {
            return Err("the DUT did not acknowledge our FIN".into());
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    row.state_before = dut_state(&dut_ns, sport);
    let before = netns::nstat(&dut_ns).unwrap_or_default();
    // The new incarnation.
    let old_last = c.snd_nxt;
    let new_iss = if v.isn_above {
        old_last.wrapping_add(100_000)
    } else {
        old_last.wrapping_sub(100_000)
    };
    let t0 = StdInstant::now();
    let mut next_syn = t0;
    let mut first: Option<String> = None;
    while t0.elapsed() < bound {
        if StdInstant::now() >= next_syn {
            peer.send(&syn(peer, sport, new_iss, v.client_timestamps), &[]);
            row.syns += 1;
            next_syn += PROBE_INTERVAL;
        }
        let wait = next_syn.saturating_duration_since(StdInstant::now());
        let Some((seg, _)) = peer.recv(sport, wait.min(Duration::from_millis(20))) else {
            if first.is_none() && t0.elapsed() >= PROBE_INTERVAL {
                first = Some("nothing".into());
            }
            continue;
        };
        let ms = t0.elapsed().as_millis() as u64;
        let what = describe(&seg);
        if first.is_none() {
            first = Some(what.to_owned());
        }
        if row.answers.len() < 16 {
            row.answers.push(format!("{what}@{ms}"));
        }
        if what == "SYN-ACK" && seg.ack.0 == new_iss.wrapping_add(1) {
            row.opened_after_ms = Some(ms);
            // Leave the DUT nothing half-open.
            peer.send(&rst(sport, new_iss.wrapping_add(1)), &[]);
            break;
        }
        if seg.flags.rst() || !seg.flags.ack() {
            continue;
        }
        match v.on_answer {
            OnAnswer::Rst => peer.send(&rst(sport, seg.ack.0), &[]),
            OnAnswer::LateAck if seg.flags.fin() => {
                c.absorb(&seg);
                c.send_flags(peer, TcpFlags::NONE);
            }
            _ => {}
        }
    }
    row.waited_ms = bound.as_millis() as u64;
    row.first_answer = first.unwrap_or_else(|| "nothing".into());
    let after = netns::nstat(&dut_ns).unwrap_or_default();
    row.dut_counters = counters_delta(&before, &after);
    peer.drain(sport, Duration::from_millis(5));
    Ok(())
}

/// Runs the lost-last-ack cases on a test bed of its own (named `name`), waiting at
/// most `bound` in each for the tuple to open; one row per case.
pub fn lost_last_ack(
    name: &str,
    variants: &[LastAckVariant],
    bound: Duration,
) -> Result<Vec<LastAckRow>, String> {
    let guard = TestbedGuard::new(name);
    let tb = Testbed::up(&TestbedConfig {
        sources: 1,
        ..TestbedConfig::named(name)
    })
    .map_err(|e| format!("building test bed {name}: {e}"))?;
    let dut = tb.config().dut_addr;
    let mut peer = Peer::open(&tb, tb.config().src_first)?;
    let mut rows = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let sport = 42_000 + 17 * i as u16;
        let mut row = LastAckRow {
            variant: *v,
            state_before: None,
            first_answer: String::new(),
            answers: Vec::new(),
            opened_after_ms: None,
            waited_ms: 0,
            syns: 0,
            dut_counters: BTreeMap::new(),
            sysctls: Vec::new(),
            error: None,
        };
        let mut sysctls = SysctlGuard::new();
        let close = if v.dut_state == "last_ack" {
            ServerClose::AfterPeerFin
        } else {
            ServerClose::AfterBytes(SEG_LEN)
        };
        let res = (|| -> Result<(), String> {
            let ns = tb.dut_ns();
            sysctls.set(
                &ns,
                "net.ipv4.tcp_timestamps",
                if v.dut_timestamps { "1" } else { "0" },
            )?;
            sysctls.set(
                &ns,
                "net.ipv4.tcp_rfc1337",
                if v.rfc1337 { "1" } else { "0" },
            )?;
            // A server per case: its close behaviour differs.
            let server = RecordingServer::start(&ns, SocketAddrV4::new(dut, DUT_PORT), close, 0)?;
            let r = last_ack_one(&tb, &mut peer, *v, sport, bound, &mut row);
            drop(server);
            r
        })();
        if let Err(e) = res {
            row.error = Some(e);
        }
        row.sysctls = sysctls.restore();
        rows.push(row);
    }
    drop(peer);
    drop(guard);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_states_by_remote_port() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n\
           0: 010013C6:1F90 000112C6:A410 09 00000000:00000000\n\
           1: 010013C6:1F90 000112C6:A421 06 00000000:00000000\n";
        assert_eq!(state_in_proc_net_tcp(text, 0xA410), Some("LAST-ACK"));
        assert_eq!(state_in_proc_net_tcp(text, 0xA421), Some("TIME-WAIT"));
        assert_eq!(state_in_proc_net_tcp(text, 80), None);
    }

    #[test]
    fn segments_are_named_by_their_flags() {
        let seg = |flags, payload_len| TcpRepr {
            flags,
            payload_len,
            ..TcpRepr::default()
        };
        assert_eq!(describe(&seg(TcpFlags::SYN | TcpFlags::ACK, 0)), "SYN-ACK");
        assert_eq!(describe(&seg(TcpFlags::RST | TcpFlags::ACK, 0)), "RST");
        assert_eq!(describe(&seg(TcpFlags::FIN | TcpFlags::ACK, 0)), "FIN-ACK");
        assert_eq!(describe(&seg(TcpFlags::ACK, 10)), "data");
        assert_eq!(describe(&seg(TcpFlags::ACK, 0)), "ACK");
    }

    #[test]
    fn variants_cover_the_issue() {
        let od = old_duplicate_variants();
        assert_eq!(od.len(), 9);
        for dut in [true, false] {
            for client in [true, false] {
                assert!(
                    od.iter()
                        .any(|v| v.dut_timestamps == dut && v.client_timestamps == client)
                );
            }
        }
        let la = last_ack_variants();
        assert!(la.iter().any(|v| v.dut_state == "last_ack"));
        assert!(la.iter().any(|v| v.dut_state == "time_wait" && v.rfc1337));
    }
}
