//! The engine's server side over AF_XDP: synfin as a device under test, so it can be
//! measured against itself (as TRex and WARP17 are).
//!
//! It answers ARP for its service address, learns the peer's MAC address from the
//! first ARP request (or TCP frame) it sees — on a veth pair there is one peer —
//! and then serves with the same server worker the in-memory runs use.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::arp::ArpResponder;
use super::core::Macs;
use super::mem_run::payload;
use super::server::{ServerConfig, ServerWorker};
use super::xdp_run::{XdpRunError, open_port_in};
use crate::io::Port;
use crate::io::xdp::{PortMode, XdpConfig, XdpStats};
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
    /// Core to pin to.
    pub core: Option<usize>,
    /// AF_XDP settings.
    pub xdp: XdpConfig,
    /// The server's TCP settings (response size, who closes).
    pub tcp: TcpConfig,
    /// Most connections open at once.
    pub max_conns: usize,
    /// Most TIME-WAIT records (server-side close).
    pub tw_cap: usize,
    /// Stop after this long (`None`: when the stop flag is set).
    pub duration: Option<Duration>,
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
    /// Socket statistics.
    pub stats: Option<XdpStats>,
    /// ARP requests answered.
    pub arp_answered: u64,
    /// SYNs dropped for a full table.
    pub listen_overflows: u64,
}

/// Serve until `stop` is set or the duration ends. `on_ready` is called once the
/// socket is bound (scripts wait for it).
pub fn serve_xdp(
    cfg: &XdpServeConfig,
    stop: &Arc<AtomicBool>,
    on_ready: impl FnOnce(PortMode),
) -> Result<XdpServeResult, XdpRunError> {
    let (port, mac) = open_port_in(cfg.netns.as_deref(), &cfg.interface, &cfg.xdp)?;
    let mode = port.mode();
    on_ready(mode);
    let cfg = cfg.clone();
    let stop = Arc::clone(stop);
    let worker = std::thread::Builder::new()
        .name("synfin-serve-0".into())
        .spawn(move || {
            if let Some(core) = cfg.core {
                core_affinity::set_for_current(core_affinity::CoreId { id: core });
            }
            let mut port = ArpResponder::new(port, mac, *cfg.listen.ip(), 1);
            let mut clock = MonotonicClock::new();
            let end = cfg.duration.map(|d| Instant::ZERO + d);
            // The tables first (they can be large), so that no SYN waits on them.
            let mut server = ServerWorker::new(
                cfg.tcp.clone(),
                ServerConfig {
                    ip: u32::from(*cfg.listen.ip()),
                    port: cfg.listen.port(),
                    max_conns: cfg.max_conns,
                    tw_cap: cfg.tw_cap,
                    verify_checksums: true,
                    secret: std::process::id() as u64 ^ 0x5e12_7e12,
                },
                Macs {
                    local: mac,
                    remote: EthernetAddress([0xff; 6]),
                },
                payload(cfg.tcp.response_bytes, false),
            );
            // Learn the peer: the first ARP request for us (or the first frame).
            let mut peer = None;
            while peer.is_none() {
                let now = clock.now();
                if stop.load(Ordering::Relaxed) || end.is_some_and(|e| now >= e) {
                    break;
                }
                let mut first_src = None;
                port.rx_burst(now, 64, |frame| {
                    if frame.len() >= 12 && first_src.is_none() {
                        let mut m = [0u8; 6];
                        m.copy_from_slice(&frame[6..12]);
                        first_src = Some(EthernetAddress(m));
                    }
                });
                peer = port.last_asker.or(first_src);
                if peer.is_none() {
                    std::thread::sleep(Duration::from_micros(200));
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
            let stats = port.inner().stats().ok();
            (
                server.recorder().clone(),
                now - Instant::ZERO,
                stats,
                port.answered,
                server.listen_overflows,
            )
        })
        .map_err(|e| XdpRunError::Setup(format!("cannot start the server thread: {e}")))?;
    let (server, duration, stats, arp_answered, listen_overflows) = worker
        .join()
        .map_err(|_| XdpRunError::Setup("the server thread panicked".into()))?;
    Ok(XdpServeResult {
        server,
        duration,
        mode,
        stats,
        arp_answered,
        listen_overflows,
    })
}
