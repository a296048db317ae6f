//! The engine's server side over AF_XDP: synfin as a device under test, so it can be
//! measured against itself (as TRex and WARP17 are) or against the kernel's client.
//!
//! One worker per receive queue of the interface, each with its own AF_XDP socket on
//! its queue and its own tables: every queue must have a socket, because the XDP
//! program passes a frame that arrives on a queue without one to the kernel, which
//! answers a SYN for the service address with an RST. A peer's kernel chooses the
//! queue of a flow by a hash it may change mid-connection (Linux re-hashes a flow on
//! a retransmission timeout), so a worker owns the connections whose client port is
//! its index modulo the number of workers, and hands any other frame to its owner
//! ([`super::handoff`]).
//!
//! Each worker answers ARP for the service address. The peer's MAC address is learnt
//! from the first ARP request (or TCP frame) any worker sees — on a veth pair there is
//! one peer — and shared with the others, so that a queue which sees no ARP does not
//! wait for a frame of its own; then each serves with the same server worker the
//! in-memory runs use.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::arp::ArpResponder;
use super::core::Macs;
use super::handoff::{HandoffPort, HandoffStats, Inbox, RemotePortOwners};
use super::mem_run::payload;
use super::server::{ServerConfig, ServerWorker};
use super::xdp_run::{XdpRunError, open_every_queue};
use crate::io::xdp::{PortMode, XdpConfig, XdpPort, XdpStats};
use crate::io::{Burst, Port, Receive, Transmit};
use crate::stats::Recorder;
use crate::tcp::TcpConfig;
use crate::time::{Clock, Instant, MonotonicClock};
use crate::wire::ethernet::EthernetAddress;

/// What `serve --io xdp` needs.
#[derive(Clone, Debug)]
pub struct XdpServeConfig {
    /// The DUT's network namespace.
    pub netns: Option<String>,
    /// The interface.
    pub interface: String,
    /// Address and port served.
    pub listen: SocketAddrV4,
    /// Cores to pin the workers to: worker `i` (queue `i`) to core `i mod len`
    /// (empty: unpinned).
    pub cores: Vec<usize>,
    /// AF_XDP settings.
    pub xdp: XdpConfig,
    /// The server's TCP settings (response size, who closes).
    pub tcp: TcpConfig,
    /// Most connections open at once, shared by the workers.
    pub max_conns: usize,
    /// Most TIME-WAIT records (server-side close), shared by the workers.
    pub tw_cap: usize,
    /// Stop after this long (`None`: when the stop flag is set).
    pub duration: Option<Duration>,
    /// Verify the checksums of received frames (off for a peer whose TX checksum
    /// offload leaves them unfinished, as a veth end with offload on does).
    pub verify_checksums: bool,
}

/// What serving produced.
#[derive(Debug)]
pub struct XdpServeResult {
    /// The server's counters.
    pub server: Recorder,
    /// How long it served.
    pub duration: Duration,
    /// Datapath mode.
    pub mode: PortMode,
    /// Socket statistics, summed over the workers.
    pub stats: Option<XdpStats>,
    /// Workers, one per receive queue.
    pub workers: usize,
    /// Frames that reached a worker without their connection, handed to its owner.
    pub handoff: HandoffStats,
    /// ARP requests answered.
    pub arp_answered: u64,
    /// SYNs dropped for a full table.
    pub listen_overflows: u64,
}

/// Serve until `stop` is set or the duration ends. `on_ready` is called once every
/// socket is bound (scripts wait for it).
pub fn serve_xdp(
    cfg: &XdpServeConfig,
    stop: &Arc<AtomicBool>,
    on_ready: impl FnOnce(PortMode),
) -> Result<XdpServeResult, XdpRunError> {
    let (ports, mac) = open_every_queue(cfg.netns.as_deref(), &cfg.interface, &cfg.xdp)?;
    let mode = ports[0].mode();
    let workers = ports.len();
    on_ready(mode);
    let peer = Arc::new(AtomicU64::new(NO_PEER));
    let inboxes = Inbox::for_workers(workers);
    let owners = RemotePortOwners {
        workers: workers as u32,
    };
    let mut threads = Vec::with_capacity(workers);
    for (q, port) in ports.into_iter().enumerate() {
        let (cfg, own_stop, peer) = (cfg.clone(), Arc::clone(stop), Arc::clone(&peer));
        let port = HandoffPort::new(port, q as u32, owners, inboxes.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("synfin-serve-{q}"))
            .spawn(move || serve_queue(&cfg, q, workers, port, mac, &own_stop, &peer));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                // Those started stop, and their sockets close, before the error.
                stop.store(true, Ordering::Relaxed);
                for t in threads {
                    let _ = t.join();
                }
                return Err(XdpRunError::Setup(format!(
                    "cannot start server thread {q}: {e}"
                )));
            }
        }
    }
    let mut res = XdpServeResult {
        server: Recorder::new(),
        duration: Duration::ZERO,
        mode,
        stats: None,
        workers,
        arp_answered: 0,
        listen_overflows: 0,
        handoff: HandoffStats::default(),
    };
    let mut panicked = false;
    for t in threads {
        let Ok(o) = t.join() else {
            panicked = true;
            continue;
        };
        res.server.merge(&o.server);
        res.duration = res.duration.max(o.duration);
        res.arp_answered += o.arp_answered;
        res.listen_overflows += o.listen_overflows;
        res.handoff.add(&o.handoff);
        if let Some(s) = o.stats {
            res.stats.get_or_insert_with(XdpStats::default).add(&s);
        }
    }
    if panicked {
        return Err(XdpRunError::Setup("a server thread panicked".into()));
    }
    Ok(res)
}

/// The shared peer MAC address before any worker has learnt it (a MAC address is
/// 48 bits: this is none).
const NO_PEER: u64 = u64::MAX;

/// What one worker brings back.
struct QueueOutcome {
    handoff: HandoffStats,
    server: Recorder,
    duration: Duration,
    stats: Option<XdpStats>,
    arp_answered: u64,
    listen_overflows: u64,
}

/// One worker: serve the connections that arrive on queue `q` through `port`.
fn serve_queue(
    cfg: &XdpServeConfig,
    q: usize,
    workers: usize,
    port: HandoffPort<XdpPort, RemotePortOwners>,
    mac: EthernetAddress,
    stop: &AtomicBool,
    shared_peer: &AtomicU64,
) -> QueueOutcome {
    if !cfg.cores.is_empty() {
        let id = cfg.cores[q % cfg.cores.len()];
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
    let mut port = Replay {
        inner: ArpResponder::new(port, mac, *cfg.listen.ip(), 1),
        saved: Vec::new(),
    };
    let mut clock = MonotonicClock::new();
    let end = cfg.duration.map(|d| Instant::ZERO + d);
    // The tables first (they can be large), so that no SYN waits on them.
    let mut server = ServerWorker::new(
        cfg.tcp.clone(),
        ServerConfig {
            ip: u32::from(*cfg.listen.ip()),
            port: cfg.listen.port(),
            // The workers share the limits: each owns about 1/n of the connections
            // (by the client's port), and n workers on a NIC of many queues would
            // otherwise reserve n times the tables.
            max_conns: cfg.max_conns.div_ceil(workers),
            tw_cap: cfg.tw_cap.div_ceil(workers),
            verify_checksums: cfg.verify_checksums,
            secret: std::process::id() as u64 ^ 0x5e12_7e12,
        },
        Macs {
            local: mac,
            remote: EthernetAddress([0xff; 6]),
        },
        payload(cfg.tcp.response_bytes, false),
    );
    // Learn the peer: the first ARP request for us (or the first frame) on any
    // queue. The frames of the burst that taught it are kept and served first: a
    // peer that knew our address already (a neighbour entry from an earlier run)
    // sends SYNs at once, and a SYN dropped here would wait out its 1 s RTO.
    let mut peer = None;
    while peer.is_none() {
        let now = clock.now();
        if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
            break;
        }
        let known = shared_peer.load(Ordering::Acquire);
        if known != NO_PEER {
            peer = Some(mac_from_u64(known));
            break;
        }
        let mut first_src = None;
        let saved = &mut port.saved;
        port.inner.rx_burst(now, 64, |frame| {
            if let Some(src) = frame.get(6..12)
                && first_src.is_none()
            {
                first_src = Some(EthernetAddress(src.try_into().expect("6 octets")));
            }
            saved.push(frame.to_vec());
        });
        peer = port.inner.last_asker.or(first_src);
        match peer {
            Some(p) => shared_peer.store(mac_to_u64(p), Ordering::Release),
            None => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    if let Some(peer) = peer {
        server.set_peer_mac(peer);
    }
    let mut now = clock.now();
    while peer.is_some() && !stop.load(Ordering::Relaxed) && end.is_none_or(|e| now < e) {
        now = clock.now();
        if server.step(&mut port, now) == 0 {
            std::hint::spin_loop();
        }
    }
    QueueOutcome {
        handoff: port.inner.inner().stats,
        server: server.recorder().clone(),
        duration: now - Instant::ZERO,
        stats: port.inner.inner().inner().stats().ok(),
        arp_answered: port.inner.answered,
        listen_overflows: server.listen_overflows,
    }
}

/// A port whose first bursts give `saved` frames (copies of frames read while the
/// peer was being learnt) before any of the inner port's.
struct Replay<P: Port> {
    inner: P,
    saved: Vec<Vec<u8>>,
}

impl<P: Port> Transmit for Replay<P> {
    #[inline]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.inner.tx(now, build)
    }
}

impl<P: Port> Port for Replay<P> {
    #[inline]
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out {
        if self.saved.is_empty() {
            self.inner.burst(now, max, b)
        } else {
            self.replay(max, b)
        }
    }

    #[inline]
    fn flush(&mut self, now: Instant) {
        self.inner.flush(now)
    }
}

impl<P: Port> Replay<P> {
    /// A burst of up to `max` saved frames, with the inner port's transmit side.
    #[cold]
    fn replay<B: Burst>(&mut self, max: usize, b: B) -> B::Out {
        let n = self.saved.len().min(max);
        let frames: Vec<Vec<u8>> = self.saved.drain(..n).collect();
        b.run(&mut SavedFrames(frames), &mut self.inner)
    }
}

/// Saved frames as a burst's receive side.
struct SavedFrames(Vec<Vec<u8>>);

impl Receive for SavedFrames {
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        let frames = std::mem::take(&mut self.0);
        for frame in &frames {
            f(frame);
        }
        frames.len()
    }
}

/// A MAC address as the low 48 bits of a word.
fn mac_to_u64(m: EthernetAddress) -> u64 {
    let mut w = [0u8; 8];
    w[..6].copy_from_slice(&m.0);
    u64::from_le_bytes(w)
}

/// The MAC address in the low 48 bits of `w`.
fn mac_from_u64(w: u64) -> EthernetAddress {
    let b = w.to_le_bytes();
    EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_address_goes_through_the_shared_word_unchanged() {
        for m in [
            [0u8; 6],
            [0xff; 6],
            [0x02, 0, 0, 0, 0, 1],
            [1, 2, 3, 4, 5, 6],
        ] {
            let w = mac_to_u64(EthernetAddress(m));
            assert_ne!(w, NO_PEER);
            assert_eq!(mac_from_u64(w).0, m);
        }
    }
}
