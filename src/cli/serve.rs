//! `synfin serve`: a server under test.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, CloseArg, CoreList, parse_bytes, parse_cores, parse_duration};
use crate::io::socket::{SocketServer, SocketServerConfig};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServeIo {
    /// The kernel's TCP stack behind epoll and SO_REUSEPORT threads.
    Socket,
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
    /// Pin thread i to the i-th core of this list (e.g. 1 or 0,1).
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
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Print `listening on ADDR` on stdout once bound (for scripts).
    #[arg(long)]
    pub announce: bool,
}

/// Serve until stopped; the text to print at the end.
pub fn run(a: &ServeArgs) -> Result<String, CliError> {
    let ServeIo::Socket = a.io;
    let cfg = SocketServerConfig {
        addr: a.listen,
        threads: a.threads as usize,
        backlog: a.backlog,
        request_bytes: a.request_bytes,
        response_bytes: a.response_bytes,
        close: a.close.mode(),
        duration: a.duration,
        cores: a.cores.clone().map(|c| c.0).unwrap_or_default(),
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
