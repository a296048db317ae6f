//! A client run over AF_XDP: the generator's side of a real wire.
//!
//! The port is opened inside the generator's network namespace (the interface lives
//! there), the DUT's MAC address is resolved by ARP from one of the client's source
//! addresses (unless given), then one worker per listed core, pinned, drives the
//! client engine over its own queue's socket with a real clock. A stop flag (set by
//! SIGINT/SIGTERM) stops opening and drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::arp::ArpResponder;
use super::client::{ClientConfig, ClientWorker};
use super::core::Macs;
use super::mem_run::payload;
use super::pacer::{Pacer, PacerMode};
use crate::io::Port;
use crate::io::xdp::{PortMode, XdpConfig, XdpError, XdpPort, XdpStats};
use crate::stats::Recorder;
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
    /// The core to pin the worker to (`None`: not pinned). Queue 0.
    pub core: Option<usize>,
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
    /// Then wait this long for open connections.
    pub drain: Duration,
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
    /// Connections aborted when the drain time ran out.
    pub aborted: u64,
    /// The run was stopped by the stop flag.
    pub interrupted: bool,
    /// ARP requests for our source addresses that we answered.
    pub arp_answered: u64,
}

/// Why a run over AF_XDP could not be made.
#[derive(Debug)]
pub enum XdpRunError {
    /// The namespace or interface could not be entered or read.
    Setup(String),
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
            XdpRunError::Setup(s) => write!(f, "{s}"),
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

/// Run the client over AF_XDP until every connection has ended, the duration and
/// drain are spent, or `stop` is set (then stop opening and drain).
pub fn run_xdp(cfg: &XdpRunConfig, stop: &Arc<AtomicBool>) -> Result<XdpRunResult, XdpRunError> {
    let (mut port, src_mac) = open_port_in(cfg.netns.as_deref(), &cfg.interface, &cfg.xdp)?;
    let mode = port.mode();
    let dst_ip = std::net::Ipv4Addr::from(cfg.client.dst_ip);
    let src_ip = std::net::Ipv4Addr::from(cfg.client.src_first);
    let dst_mac = match cfg.dst_mac {
        Some(m) => m,
        None => resolve_arp(&mut port, src_mac, src_ip, dst_ip, cfg.arp_timeout).ok_or(
            XdpRunError::ArpTimeout {
                ip: dst_ip,
                waited: cfg.arp_timeout,
            },
        )?,
    };
    // From here on, answer ARP for our source addresses.
    let mut port = ArpResponder::new(port, src_mac, src_ip, cfg.client.src_count);
    let cfg = cfg.clone();
    let stop = Arc::clone(stop);
    let worker = std::thread::Builder::new()
        .name("synfin-worker-0".into())
        .spawn(move || {
            if let Some(core) = cfg.core {
                core_affinity::set_for_current(core_affinity::CoreId { id: core });
            }
            let pacer = Pacer::new(
                cfg.mode,
                Instant::ZERO,
                Some(cfg.connections),
                cfg.concurrency,
            );
            let mut client = ClientWorker::new(
                cfg.tcp.clone(),
                &cfg.client,
                pacer,
                Macs {
                    local: src_mac,
                    remote: dst_mac,
                },
                payload(cfg.tcp.request_bytes, true),
            );
            let mut clock = MonotonicClock::new();
            let stop_opening = Instant::ZERO + cfg.duration_limit;
            let mut drain_end: Option<Instant> = None;
            let mut aborted = 0;
            let mut interrupted = false;
            let mut now;
            loop {
                now = clock.now();
                let work = client.step(&mut port, now);
                if client.done() {
                    break;
                }
                if !client.stopping {
                    if stop.load(Ordering::Relaxed) {
                        interrupted = true;
                        client.stopping = true;
                    } else if now >= stop_opening || client.pacer.is_done() {
                        client.stopping = true;
                    }
                }
                if client.stopping {
                    let end = *drain_end.get_or_insert(now + cfg.drain);
                    if now >= end {
                        aborted = client.abort_open(&mut port, now);
                        break;
                    }
                }
                if work == 0 {
                    std::hint::spin_loop();
                }
            }
            let stats = port.inner().stats().ok();
            let arp_answered = port.answered;
            (
                client.recorder().clone(),
                now - Instant::ZERO,
                stats,
                client.tuple_waits,
                aborted,
                interrupted,
                arp_answered,
            )
        })
        .map_err(|e| XdpRunError::Setup(format!("cannot start the worker thread: {e}")))?;
    let (client, duration, stats, tuple_waits, aborted, interrupted, arp_answered) = worker
        .join()
        .map_err(|_| XdpRunError::Setup("the worker thread panicked".into()))?;
    Ok(XdpRunResult {
        client,
        duration,
        mode,
        stats,
        dst_mac,
        src_mac,
        tuple_waits,
        aborted,
        interrupted,
        arp_answered,
    })
}
