//! A client run over AF_XDP: the generator's side of a real wire.
//!
//! The port is opened inside the generator's network namespace (the interface lives
//! there), the DUT's MAC address is resolved by ARP from one of the client's source
//! addresses (unless given), then one worker per listed core, pinned, drives the
//! client engine over its own queue's socket with a real clock. A stop flag (set by
//! SIGINT/SIGTERM) stops opening and drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::arp::ArpResponder;
use super::client::{ClientConfig, ClientWorker};
use super::core::Macs;
use super::handoff::{HandoffPort, HandoffStats, Inbox, PortOwners};
use super::live::LiveCounters;
use super::mem_run::payload;
use super::pacer::{Pacer, PacerMode};
use super::stop::GracefulStop;
use super::tx_guard::{TxGuard, TxPolicy};
use crate::io::Port;
use crate::io::xdp::{PortMode, XdpConfig, XdpError, XdpPort, XdpProgram, XdpStats};
use crate::stats::Recorder;
use crate::stats::interval::IntervalTap;
use crate::tcp::TcpConfig;
use crate::time::{Clock, Instant, MonotonicClock};
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::EthernetAddress;
use crate::wire::frame::{Frame, classify};

/// Everything a client run over AF_XDP needs.
#[derive(Clone, Debug)]
pub struct XdpRunConfig {
    /// The generator's network namespace (`None`: the current one).
    pub netns: Option<String>,
    /// The interface to attach to.
    pub interface: String,
    /// One worker per core listed, pinned, worker `i` on queue `i` (empty: one
    /// unpinned worker on queue 0).
    pub cores: Vec<usize>,
    /// AF_XDP socket and program settings.
    pub xdp: XdpConfig,
    /// The next hop's MAC address; `None`: resolve it by ARP.
    pub dst_mac: Option<EthernetAddress>,
    /// How long ARP resolution may take.
    pub arp_timeout: Duration,
    /// Connections to open in all.
    pub connections: u64,
    /// Open-loop rate or closed loop.
    pub mode: PacerMode,
    /// Most connections open at once.
    pub concurrency: u32,
    /// The client's TCP settings.
    pub tcp: TcpConfig,
    /// Addressing, tables, TIME-WAIT policy.
    pub client: ClientConfig,
    /// Stop opening connections after this long.
    pub duration_limit: Duration,
    /// Then wait this long for open connections; close what is left with FIN.
    pub drain: Duration,
    /// Then wait this long for the FIN closes; reset what is left.
    pub close_timeout: Duration,
}

/// What a run over AF_XDP produced.
#[derive(Debug)]
pub struct XdpRunResult {
    /// The client's histograms and counters.
    pub client: Recorder,
    /// From the first scheduled connection to the end of the run.
    pub duration: Duration,
    /// How the program was attached and the socket bound.
    pub mode: PortMode,
    /// The socket's statistics at the end.
    pub stats: Option<XdpStats>,
    /// The DUT's MAC address, and whether ARP found it.
    pub dst_mac: EthernetAddress,
    /// Our MAC address (the interface's).
    pub src_mac: EthernetAddress,
    /// Times the client waited for a usable source tuple.
    pub tuple_waits: u64,
    /// Connections reset when the drain and the close time ran out.
    pub aborted: u64,
    /// Connections closed with FIN when the drain time ran out.
    pub closed_at_stop: u64,
    /// The run was stopped by the stop flag.
    pub interrupted: bool,
    /// ARP requests for our source addresses that we answered.
    pub arp_answered: u64,
    /// Workers (and queues) used.
    pub workers: u32,
    /// Frames handed between workers.
    pub handoff: HandoffStats,
    /// Control blocks still in the workers' tables when the run ended (0 after a
    /// drain: the drain aborts what remains).
    pub open_at_end: u64,
    /// TIME-WAIT records held when the run ended (equal to the counters'
    /// `tw_current`: a record not counted would be a leak).
    pub time_wait_at_end: u64,
    /// Frames the transmit guard cancelled (not from the source range to the
    /// destination); always 0 unless something is wrong.
    pub tx_blocked: u64,
}

/// Why a run over AF_XDP could not be made.
#[derive(Debug)]
pub enum XdpRunError {
    /// The namespace or interface could not be entered or read.
    Setup(String),
    /// The interface's receive queues do not match the workers asked for (an
    /// option to change: `--cores`, or the interface's queues).
    Queues(String),
    /// The AF_XDP socket or the XDP program failed.
    Xdp(XdpError),
    /// Nobody answered ARP for the destination.
    ArpTimeout {
        /// The address asked for.
        ip: std::net::Ipv4Addr,
        /// How long we asked.
        waited: Duration,
    },
}

impl std::fmt::Display for XdpRunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XdpRunError::Setup(s) | XdpRunError::Queues(s) => write!(f, "{s}"),
            XdpRunError::Xdp(e) => write!(f, "AF_XDP: {e}"),
            XdpRunError::ArpTimeout { ip, waited } => write!(
                f,
                "no ARP reply from {ip} within {waited:?}: is the DUT up and on-link? (--dst-mac skips ARP)"
            ),
        }
    }
}

impl std::error::Error for XdpRunError {}

/// Ask for `target`'s MAC address from `(our_mac, our_ip)` until a reply comes or
/// the timeout passes. Other frames that arrive meanwhile are dropped: no
/// connection is open yet.
pub fn resolve_arp<P: Port>(
    port: &mut P,
    our_mac: EthernetAddress,
    our_ip: std::net::Ipv4Addr,
    target: std::net::Ipv4Addr,
    timeout: Duration,
) -> Option<EthernetAddress> {
    let request = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: our_mac,
        source_protocol_addr: our_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let mut clock = MonotonicClock::new();
    let mut next_ask = Instant::ZERO;
    let end = Instant::ZERO + timeout;
    loop {
        let now = clock.now();
        if now >= end {
            return None;
        }
        if now >= next_ask {
            port.tx(now, |buf| request.emit_frame(buf).unwrap_or(0));
            port.flush(now);
            next_ask = now + Duration::from_millis(200);
        }
        let mut found = None;
        port.rx_burst(now, 64, |frame| {
            if let Ok(Frame::Arp(arp, _)) = classify(frame, false)
                && arp.operation == ArpOperation::Reply
                && arp.source_protocol_addr == target
            {
                found = Some(arp.source_hardware_addr);
            }
        });
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Open an AF_XDP port on queue 0 of `interface` inside `netns` (its own XDP
/// program), and read the interface's MAC address.
pub fn open_port_in(
    netns: Option<&str>,
    interface: &str,
    xdp: &XdpConfig,
) -> Result<(XdpPort, EthernetAddress), XdpRunError> {
    let open = || -> Result<(XdpPort, EthernetAddress), XdpRunError> {
        let port = XdpPort::open(interface, 0, xdp).map_err(XdpRunError::Xdp)?;
        let mac = std::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
            .ok()
            .and_then(|s| parse_mac(s.trim()));
        Ok((port, mac.unwrap_or(EthernetAddress([0x02, 0, 0, 0, 0, 1]))))
    };
    match netns {
        None => open(),
        Some(ns) => {
            let mac = crate::testbed::netns::mac_of(ns, interface)
                .map_err(|e| XdpRunError::Setup(e.to_string()))?;
            let (port, _) = crate::testbed::netns::run_in(ns, open)
                .map_err(|e| XdpRunError::Setup(e.to_string()))??;
            Ok((port, mac))
        }
    }
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<EthernetAddress> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(EthernetAddress(out))
}

/// Open one port per queue `0..n` of `interface` inside `netns`, sharing one XDP
/// program, and read the interface's MAC address. The interface must have exactly
/// `n` receive queues: the peer spreads its replies over all of them, and a frame
/// on a queue without a socket would go to the kernel, which drops it (the sources
/// are not its addresses).
fn open_ports(
    netns: Option<&str>,
    interface: &str,
    n: u32,
    xdp: &XdpConfig,
) -> Result<(Vec<XdpPort>, EthernetAddress), XdpRunError> {
    open_queues(netns, interface, Some(n), xdp)
}

/// Open one port on every receive queue of `interface` inside `netns`, sharing one
/// XDP program, and read the interface's MAC address: for a server, where the peer
/// chooses the queue of each flow, and the XDP program passes the frames of a queue
/// without a socket to the kernel.
pub(crate) fn open_every_queue(
    netns: Option<&str>,
    interface: &str,
    xdp: &XdpConfig,
) -> Result<(Vec<XdpPort>, EthernetAddress), XdpRunError> {
    open_queues(netns, interface, None, xdp)
}

/// [`open_ports`] of `want` queues, or (`None`) of every receive queue there is.
fn open_queues(
    netns: Option<&str>,
    interface: &str,
    want: Option<u32>,
    xdp: &XdpConfig,
) -> Result<(Vec<XdpPort>, EthernetAddress), XdpRunError> {
    let open = || -> Result<Vec<XdpPort>, XdpRunError> {
        let iface = crate::io::xdp::Iface::from(interface);
        let queues = std::fs::read_dir(format!("/sys/class/net/{interface}/queues"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                    .count()
            })
            .unwrap_or(1)
            .max(1) as u32;
        let n = want.unwrap_or(queues);
        if queues < n {
            return Err(XdpRunError::Queues(format!(
                "{interface} has {queues} receive queue(s) for {n} workers (synfin testbed up --queues {n})"
            )));
        }
        if want.is_some() && queues > n {
            return Err(XdpRunError::Queues(format!(
                "{interface} has {queues} receive queues for {n} worker(s): the peer spreads its \
                 replies over every queue, and those on a queue without a worker would be \
                 lost; give --cores {queues} cores, or set {interface}'s queues to {n} \
                 (ethtool -L; a test bed: synfin testbed up --queues {n})"
            )));
        }
        if n == 1 {
            return Ok(vec![
                XdpPort::open(interface, 0, xdp).map_err(XdpRunError::Xdp)?,
            ]);
        }
        let prog =
            Arc::new(XdpProgram::attach(&iface, queues, xdp.xdp_mode).map_err(XdpRunError::Xdp)?);
        (0..n)
            .map(|q| XdpPort::open_with(&prog, q, xdp).map_err(XdpRunError::Xdp))
            .collect()
    };
    match netns {
        None => {
            let mac = std::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
                .ok()
                .and_then(|s| parse_mac(s.trim()))
                .unwrap_or(EthernetAddress([0x02, 0, 0, 0, 0, 1]));
            Ok((open()?, mac))
        }
        Some(ns) => {
            let mac = crate::testbed::netns::mac_of(ns, interface)
                .map_err(|e| XdpRunError::Setup(e.to_string()))?;
            let ports = crate::testbed::netns::run_in_with_sysfs(ns, open)
                .map_err(|e| XdpRunError::Setup(e.to_string()))??;
            Ok((ports, mac))
        }
    }
}

/// Sets its flag when dropped by a panicking thread.
struct PanicMark(Arc<AtomicBool>);

impl Drop for PanicMark {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Whether the environment asks for fault `what` (`SYNFIN_FAULT=what`): the
/// robustness tests make a worker panic this way, to check that everything is
/// cleaned up. Read once per run, never on the hot path.
pub fn fault_injected(what: &str) -> bool {
    std::env::var("SYNFIN_FAULT").is_ok_and(|v| v.split(',').any(|f| f == what))
}

/// What one worker brings back.
struct WorkerOutcome {
    client: Recorder,
    duration: Duration,
    stats: Option<XdpStats>,
    tuple_waits: u64,
    aborted: u64,
    closed_at_stop: u64,
    interrupted: bool,
    arp_answered: u64,
    handoff: HandoffStats,
    tx_blocked: u64,
    open_at_end: usize,
    tw_at_end: usize,
}

/// Run the client over AF_XDP until every connection has ended, the duration and
/// drain are spent, or `stop` is set (then stop opening and drain). One worker per
/// entry of `cfg.cores` (one unpinned worker when it is empty), each on its own
/// queue, owning its own slice of the source ports.
pub fn run_xdp(cfg: &XdpRunConfig, stop: &Arc<AtomicBool>) -> Result<XdpRunResult, XdpRunError> {
    run_xdp_with(cfg, stop, Vec::new())
}

/// [`run_xdp`], with worker `i` shipping per-period snapshots through `taps[i]`
/// (when there is one; see [`crate::stats::interval`]).
pub fn run_xdp_with(
    cfg: &XdpRunConfig,
    stop: &Arc<AtomicBool>,
    taps: Vec<IntervalTap>,
) -> Result<XdpRunResult, XdpRunError> {
    run_xdp_inner(cfg, stop, taps, None)
}

/// [`run_xdp`], each worker also publishing its running totals into `live` (slot =
/// worker index) about every 10 ms, for an observer that samples a run over time.
pub fn run_xdp_observed(
    cfg: &XdpRunConfig,
    stop: &Arc<AtomicBool>,
    live: Option<Arc<LiveCounters>>,
) -> Result<XdpRunResult, XdpRunError> {
    run_xdp_inner(cfg, stop, Vec::new(), live)
}

fn run_xdp_inner(
    cfg: &XdpRunConfig,
    stop: &Arc<AtomicBool>,
    taps: Vec<IntervalTap>,
    live: Option<Arc<LiveCounters>>,
) -> Result<XdpRunResult, XdpRunError> {
    let mut taps = taps.into_iter();
    let n = cfg.cores.len().max(1) as u32;
    let owners = PortOwners::new(cfg.client.port_lo, cfg.client.port_hi, n)
        .ok_or_else(|| XdpRunError::Setup(format!("fewer source ports than the {n} workers")))?;
    let (mut ports, src_mac) = open_ports(cfg.netns.as_deref(), &cfg.interface, n, &cfg.xdp)?;
    let mode = ports[0].mode();
    let dst_ip = std::net::Ipv4Addr::from(cfg.client.dst_ip);
    let src_ip = std::net::Ipv4Addr::from(cfg.client.src_first);
    let dst_mac = match cfg.dst_mac {
        Some(m) => m,
        None => resolve_arp(&mut ports[0], src_mac, src_ip, dst_ip, cfg.arp_timeout).ok_or(
            XdpRunError::ArpTimeout {
                ip: dst_ip,
                waited: cfg.arp_timeout,
            },
        )?,
    };
    let inboxes = Inbox::for_workers(n as usize);
    let finished = Arc::new(AtomicUsize::new(0));
    // Set when a worker panics: the others abort what they have open and end, so
    // the run returns (and the ports close, detaching the XDP program) instead of
    // waiting for a worker that will never finish.
    let panicked = Arc::new(AtomicBool::new(false));
    let inject_panic = fault_injected("worker-panic");
    let mut handles = Vec::new();
    for (w, port) in ports.into_iter().enumerate() {
        let w = w as u32;
        let cfg = cfg.clone();
        let stop = Arc::clone(stop);
        let finished = Arc::clone(&finished);
        let panicked = Arc::clone(&panicked);
        let inboxes = inboxes.clone();
        let live = live.clone();
        let mut tap = taps.next();
        let handle = std::thread::Builder::new()
            .name(format!("synfin-worker-{w}"))
            .spawn(move || {
                let _mark = PanicMark(Arc::clone(&panicked));
                if let Some(&core) = cfg.cores.get(w as usize) {
                    core_affinity::set_for_current(core_affinity::CoreId { id: core });
                }
                let (lo, hi) = owners.range(w);
                let share = |x: usize| (x / n as usize).max(1);
                let client_cfg = ClientConfig {
                    port_lo: lo,
                    port_hi: hi,
                    max_conns: share(cfg.client.max_conns),
                    tw_cap: share(cfg.client.tw_cap),
                    cursor_start: cfg.client.cursor_start.wrapping_add(w as u64),
                    secret: cfg.client.secret,
                    ..cfg.client.clone()
                };
                let concurrency = (cfg.concurrency / n).max(1);
                let pacer = Pacer::sharded(
                    cfg.mode,
                    Instant::ZERO,
                    Some(cfg.connections),
                    concurrency,
                    w,
                    n,
                );
                // Outermost, so that it sees exactly what the engine sends.
                let mut port = TxGuard::new(
                    ArpResponder::new(
                        HandoffPort::new(port, w, owners, inboxes),
                        src_mac,
                        src_ip,
                        cfg.client.src_count,
                    ),
                    TxPolicy {
                        src_first: cfg.client.src_first,
                        src_count: cfg.client.src_count,
                        dst_ip: cfg.client.dst_ip,
                        dst_port: cfg.client.dst_port,
                    },
                );
                let mut client = ClientWorker::new(
                    cfg.tcp.clone(),
                    &client_cfg,
                    pacer,
                    Macs {
                        local: src_mac,
                        remote: dst_mac,
                    },
                    payload(cfg.tcp.request_bytes, true),
                );
                let mut clock = MonotonicClock::new();
                let stop_opening = Instant::ZERO + cfg.duration_limit;
                let mut graceful = GracefulStop::new(cfg.drain, cfg.close_timeout);
                let (mut interrupted, mut counted_done) = (false, false);
                let mut now;
                let mut next_publish = Instant::ZERO;
                loop {
                    now = clock.now();
                    if inject_panic && w + 1 == n && client.out.rec.counters.completed > 0 {
                        panic!("fault injected (SYNFIN_FAULT=worker-panic): worker {w} panics");
                    }
                    if panicked.load(Ordering::Relaxed) {
                        if !counted_done {
                            graceful.reset += client.abort_open(&mut port, now);
                        }
                        break;
                    }
                    let work = client.step(&mut port, now);
                    if let Some(live) = &live
                        && now >= next_publish
                    {
                        live.publish(w as usize, &client.recorder().counters);
                        next_publish = now + Duration::from_millis(10);
                    }
                    if let Some(t) = &mut tap {
                        t.tick(now, client.recorder());
                    }
                    let asked = stop.load(Ordering::Relaxed);
                    interrupted |= asked && !graceful.stopping();
                    let end_opening = asked || now >= stop_opening || client.pacer.is_done();
                    if graceful.poll(&mut client, &mut port, now, end_opening) && !counted_done {
                        counted_done = true;
                        finished.fetch_add(1, Ordering::AcqRel);
                    }
                    // A finished worker keeps receiving until all are finished: frames
                    // for the others still arrive on its queue and must be handed on.
                    if counted_done && finished.load(Ordering::Acquire) == n as usize {
                        break;
                    }
                    if work == 0 {
                        std::thread::yield_now();
                    }
                }
                if let Some(live) = &live {
                    live.publish(w as usize, &client.recorder().counters);
                }
                if let Some(t) = tap {
                    t.finish(now, client.recorder());
                }
                WorkerOutcome {
                    client: client.recorder().clone(),
                    duration: now - Instant::ZERO,
                    stats: port.inner().inner().inner().stats().ok(),
                    tuple_waits: client.tuple_waits,
                    aborted: graceful.reset,
                    closed_at_stop: graceful.closed_with_fin,
                    interrupted,
                    arp_answered: port.inner().answered,
                    handoff: port.inner().inner().stats,
                    tx_blocked: port.blocked,
                    open_at_end: client.core.open(),
                    tw_at_end: client.core.tws.len(),
                }
            })
            .map_err(|e| XdpRunError::Setup(format!("cannot start a worker thread: {e}")))?;
        handles.push(handle);
    }
    // Join every worker before judging, so that none is left running.
    let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    let mut outcomes = Vec::new();
    for j in joined {
        outcomes.push(j.map_err(|_| XdpRunError::Setup("a worker thread panicked".into()))?);
    }
    let mut client = Recorder::new();
    let mut res = XdpRunResult {
        client: Recorder::new(),
        duration: Duration::ZERO,
        mode,
        stats: None,
        dst_mac,
        src_mac,
        tuple_waits: 0,
        aborted: 0,
        closed_at_stop: 0,
        interrupted: false,
        arp_answered: 0,
        workers: n,
        handoff: HandoffStats::default(),
        tx_blocked: 0,
        open_at_end: 0,
        time_wait_at_end: 0,
    };
    for o in &outcomes {
        client.merge(&o.client);
        res.duration = res.duration.max(o.duration);
        res.tuple_waits += o.tuple_waits;
        res.aborted += o.aborted;
        res.closed_at_stop += o.closed_at_stop;
        res.interrupted |= o.interrupted;
        res.arp_answered += o.arp_answered;
        res.tx_blocked += o.tx_blocked;
        res.open_at_end += o.open_at_end as u64;
        res.time_wait_at_end += o.tw_at_end as u64;
        res.handoff.add(&o.handoff);
        if let Some(s) = o.stats {
            res.stats.get_or_insert_with(XdpStats::default).add(&s);
        }
    }
    res.client = client;
    Ok(res)
}
