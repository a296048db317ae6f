//! `synfin serve`: a server under test.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, CloseArg, CoreList, parse_bytes, parse_cores};
use crate::io::socket::{SocketServer, SocketServerConfig};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServeIo {
    /// The kernel's TCP stack behind epoll and SO_REUSEPORT threads.
    Socket,
    /// synfin's own TCP engine over AF_XDP on `--interface` (root).
    Xdp,
}

/// Options of `synfin serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which server.
    #[arg(long, value_enum, default_value_t = ServeIo::Socket)]
    pub io: ServeIo,
    /// Address and port to listen on.
    #[arg(long, default_value = "198.19.0.1:80")]
    pub listen: SocketAddrV4,
    /// Serve inside this network namespace.
    #[arg(long)]
    pub netns: Option<String>,
    /// Server threads, each with its own SO_REUSEPORT socket.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
    /// Pin thread i to the i-th core of this list (e.g. 1 or 0,1); with `--io xdp`,
    /// worker i (the one of receive queue i) to core i modulo the list's length.
    #[arg(long, value_parser = parse_cores)]
    pub cores: Option<CoreList>,
    /// Listen backlog.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    pub backlog: i32,
    /// Request bytes to read before answering.
    #[arg(long, value_parser = parse_bytes, default_value = "64")]
    pub request_bytes: u32,
    /// Response bytes to send.
    #[arg(long, value_parser = parse_bytes, default_value = "256")]
    pub response_bytes: u32,
    /// Who closes: the client (wait for its FIN), the server (close after the
    /// response), or rst (the client aborts; wait for it).
    #[arg(long, value_enum, default_value_t = CloseArg::Client)]
    pub close: CloseArg,
    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = super::parse_nonzero_duration)]
    pub duration: Option<Duration>,
    /// Interface to attach to (`--io xdp`).
    #[arg(long)]
    pub interface: Option<String>,
    /// Print `listening on ADDR` on stdout once bound (for scripts).
    #[arg(long)]
    pub announce: bool,
    /// A request ends with its HTTP header, whatever its length (for HTTP load
    /// tools: wrk, ab, h2load); `--io socket`. The response is always HTTP/1.1
    /// with Content-Length and `Connection: close`.
    #[arg(long)]
    pub http: bool,
    /// Attach even to an interface that carries a default route (`--io xdp`).
    #[arg(long)]
    pub force: bool,
    /// Do not verify the checksums of received frames (`--io xdp`: a client behind
    /// a veth end with TX checksum offload on sends unfinished ones; `synfin testbed
    /// up` turns that offload off).
    #[arg(long)]
    pub no_rx_checksum: bool,
}

/// Serve until stopped; the text to print at the end.
pub fn run(a: &ServeArgs) -> Result<String, CliError> {
    if a.io != ServeIo::Xdp && (a.interface.is_some() || a.force || a.no_rx_checksum) {
        return Err(CliError::Usage(
            "--interface, --force and --no-rx-checksum are for --io xdp".into(),
        ));
    }
    if let Some(c) = &a.cores {
        super::checks::check_cores(&c.0)?;
    }
    if a.io == ServeIo::Xdp {
        return run_xdp(a);
    }
    let cfg = SocketServerConfig {
        addr: a.listen,
        threads: a.threads as usize,
        backlog: a.backlog,
        request_bytes: a.request_bytes,
        response_bytes: a.response_bytes,
        close: a.close.mode(),
        duration: a.duration,
        cores: a.cores.clone().map(|c| c.0).unwrap_or_default(),
        http: a.http,
        ..SocketServerConfig::default()
    };
    let bound = match &a.netns {
        Some(ns) => {
            super::check_netns(ns)?;
            crate::testbed::netns::run_in(ns, || SocketServer::bind(cfg))
                .map_err(|e| CliError::Runtime(e.to_string()))?
        }
        None => SocketServer::bind(cfg),
    };
    let (server, addr) =
        bound.map_err(|e| CliError::Runtime(format!("cannot listen on {}: {e}", a.listen)))?;
    if a.announce {
        println!("listening on {addr}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::Runtime(e.to_string()))?;
    }
    let stats = server
        .run(&stop)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let c = &stats.counters;
    let mut out = format!(
        "served {} connections in {:.3} s: completed {}, failed {}, reset by peer {}, open at stop {}\n",
        stats.accepted(),
        stats.duration.as_secs_f64(),
        stats.completed(),
        stats.failed(),
        stats.reset_by_peer(),
        stats.open_at_stop
    );
    for (errno, n) in &stats.errors_by_errno {
        out.push_str(&format!("  {errno}: {n}\n"));
    }
    out.push_str(&format!(
        "  rx {} bytes, tx {} bytes\n",
        c.rx_bytes, c.tx_bytes
    ));
    Ok(out)
}

/// `serve --io xdp`: the engine's server side on an AF_XDP socket.
fn run_xdp(a: &ServeArgs) -> Result<String, CliError> {
    use crate::engine::xdp_serve::{XdpServeConfig, serve_xdp};
    use crate::tcp::TcpConfig;
    if a.http {
        return Err(CliError::Usage(
            "--http is for --io socket (synfin's own server counts request bytes)".into(),
        ));
    }
    super::require_root("synfin serve --io xdp")?;
    let Some(interface) = a.interface.clone() else {
        return Err(CliError::Usage("--io xdp needs --interface".into()));
    };
    if let Some(ns) = &a.netns {
        super::check_netns(ns)?;
    }
    super::checks::check_not_default_route(a.netns.as_deref(), &interface, a.force)?;
    let ts_base_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0);
    let cfg = XdpServeConfig {
        netns: a.netns.clone(),
        interface,
        listen: a.listen,
        cores: a.cores.clone().map(|c| c.0).unwrap_or_default(),
        xdp: crate::io::xdp::XdpConfig::default(),
        tcp: TcpConfig {
            request_bytes: a.request_bytes,
            response_bytes: a.response_bytes,
            close: a.close.mode(),
            ts_base_ms,
            ..TcpConfig::default()
        },
        max_conns: 1 << 16,
        tw_cap: 4 << 20,
        duration: a.duration,
        verify_checksums: !a.no_rx_checksum,
    };
    let stop = super::install_stop_flag()?;
    let announce = a.announce;
    let listen = a.listen;
    let res = serve_xdp(&cfg, &stop, |mode| {
        if announce {
            println!(
                "listening on {listen} (XDP {} mode, AF_XDP {} mode)",
                mode.attach, mode.bind
            );
        }
    })
    .map_err(|e| match e {
        crate::engine::xdp_run::XdpRunError::Xdp(crate::io::xdp::XdpError::NoInterface {
            ..
        }) => CliError::Usage(e.to_string()),
        e => CliError::Runtime(e.to_string()),
    })?;
    let c = &res.server.counters;
    let mut out = format!(
        "served {} connections in {:.3} s over AF_XDP ({} / {}, {} worker{}, one per receive queue): \
         completed {}, failed {}, in flight {}; ARP answered {}, listen overflows {}, TIME-WAIT entered {}\n",
        c.attempted,
        res.duration.as_secs_f64(),
        res.mode.attach,
        res.mode.bind,
        res.workers,
        if res.workers == 1 { "" } else { "s" },
        c.completed,
        c.failed_total(),
        c.in_flight(),
        res.arp_answered,
        res.listen_overflows,
        c.tw_entered,
    );
    out.push_str(&format!(
        "  segments: rx {}, tx {}, retransmitted {}, refused by the transmit ring {}; \
         for no connection {}; RST sent {}, received {}\n",
        c.rx_packets,
        c.tx_packets,
        c.retransmitted,
        c.tx_dropped,
        c.rx_no_conn,
        c.rst_sent,
        c.rst_received
    ));
    if res.workers > 1 {
        out.push_str(&format!(
            "  frames handed to the worker owning their connection {}, dropped for a full inbox {}\n",
            res.handoff.handed_out, res.handoff.dropped
        ));
    }
    if c.rx_invalid > 0 {
        out.push_str(&format!(
            "  {} frames dropped as invalid (a bad checksum, or not TCP/IPv4); unfinished \
             checksums come from a peer with TX checksum offload on (turn it off, or \
             --no-rx-checksum)\n",
            c.rx_invalid
        ));
    }
    Ok(out)
}
