//! The command line: a clap derive tree, validated into engine configurations.
//!
//! Every value is checked here; an impossible one gets one clear line and exit
//! status 2 (clap's own convention for usage errors), never a panic.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod checks;
#[cfg(target_os = "linux")]
mod demo;
pub mod outputs;
mod parse;
mod report;
#[cfg(target_os = "linux")]
mod serve;
pub mod signals;
pub mod sweep;
#[cfg(target_os = "linux")]
mod testbed;
#[cfg(target_os = "linux")]
pub use checks::default_route_interfaces;
pub use checks::default_route_interfaces_in;
// TIME-WAIT (issue 4): the settings matrix and the hazard reproductions.
#[cfg(target_os = "linux")]
mod hazard;
#[cfg(target_os = "linux")]
mod tw_matrix;
pub use parse::*;
use serde_json::json;

use crate::engine::TwPolicy;
use crate::engine::client::ClientConfig;
use crate::engine::mem_run::MemRunConfig;
use crate::engine::server::ServerConfig;
use crate::io::mem::MemWireConfig;
use crate::stats::Report;
use crate::tcp::{CloseMode, TcpConfig};

/// synfin: a TCP connection-rate load tester.
#[derive(Debug, Parser)]
#[command(name = "synfin", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open and close connections and report how it went.
    Run(Box<RunArgs>),
    /// Build a test bed, load the kernel's TCP stack over AF_XDP, report, clean up (root).
    #[cfg(target_os = "linux")]
    Demo(demo::DemoArgs),
    /// Serve connections as the device under test.
    #[cfg(target_os = "linux")]
    Serve(serve::ServeArgs),
    /// Build, inspect or remove the veth test bed (root).
    #[cfg(target_os = "linux")]
    Testbed(testbed::TestbedArgs),
    /// Re-render saved runs (JSON reports or HdrHistogram logs), merging several
    /// (e.g. one per generator host) into one report; or a saved capacity sweep,
    /// whole or one step (--step RATE).
    Report(report::ReportArgs),
    /// Compare TIME-WAIT avoidance settings side by side on the test bed (root).
    #[cfg(target_os = "linux")]
    TwMatrix(tw_matrix::TwMatrixArgs),
    /// Reproduce a TIME-WAIT hazard against the kernel on the test bed (root).
    #[cfg(target_os = "linux")]
    Hazard(hazard::HazardArgs),
}

/// Where the packets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IoKind {
    /// An in-memory wire to synfin's own server, in this process.
    Mem,
    /// Ordinary kernel sockets (non-blocking connect, epoll): the baseline a user
    /// has today, and the way to measure client-side kernel settings.
    Socket,
    /// AF_XDP on `--interface` (root): synfin's own TCP on a real wire.
    Xdp,
}

/// How to attach the XDP program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    /// Native (driver) mode if the driver has it, else generic.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

/// Report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human report.
    Text,
    /// The JSON summary (schema in the README).
    Json,
}

/// Who closes (see the README: "close modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloseArg {
    /// The client sends the first FIN; TIME-WAIT on the client.
    Client,
    /// The server sends the first FIN; TIME-WAIT on the server.
    Server,
    /// The client aborts with RST (SO_LINGER 0); no TIME-WAIT.
    Rst,
}

impl CloseArg {
    /// The engine's close mode.
    pub fn mode(self) -> CloseMode {
        match self {
            CloseArg::Client => CloseMode::Client,
            CloseArg::Server => CloseMode::Server,
            CloseArg::Rst => CloseMode::Rst,
        }
    }
}

/// TIME-WAIT policy of the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TwPolicyArg {
    /// No tuple reuse before 2·MSL.
    Strict,
    /// Linux tcp_tw_reuse semantics (timestamps on, record older than --tw-reuse-delay).
    Reuse,
    /// Reuse at once; every premature reuse is counted as a hazard.
    None,
}

/// Options of `synfin run`.
#[derive(Clone, Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct RunArgs {
    /// Datapath.
    #[arg(long, value_enum, default_value_t = IoKind::Mem)]
    pub io: IoKind,
    /// Run inside this network namespace (`--io socket`).
    #[arg(long)]
    pub netns: Option<String>,
    /// Interface to attach to (`--io xdp`).
    #[arg(long)]
    pub interface: Option<String>,
    /// One worker per listed core, pinned, each on its own queue (`--io xdp`).
    #[arg(long, value_parser = parse_cores)]
    pub cores: Option<CoreList>,
    /// XDP attach mode (`--io xdp`).
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// The DUT's (or next hop's) MAC address; default: resolve by ARP (`--io xdp`).
    #[arg(long, value_parser = parse_mac_arg)]
    pub dst_mac: Option<crate::wire::ethernet::EthernetAddress>,
    /// The DUT's network namespace, to report its kernel counters (`--io xdp`;
    /// default: `NAME-dut` when `--netns` is a test bed's `NAME-gen`).
    #[arg(long)]
    pub dut_netns: Option<String>,
    /// Do not verify checksums of received frames (a DUT with TX checksum offload on
    /// a veth sends unfinished ones; see the README).
    #[arg(long)]
    pub no_rx_checksum: bool,
    /// Longest wait for a handshake (`--io socket`).
    #[arg(long, value_parser = parse_nonzero_duration, default_value = "3s")]
    pub connect_timeout: Duration,
    /// Longest wait for the response, and again for the close (`--io socket`).
    #[arg(long, value_parser = parse_nonzero_duration, default_value = "5s")]
    pub io_timeout: Duration,
    /// Connections to open in all (accepts 10k, 2m).
    #[arg(long, short = 'n', value_parser = parse_count, default_value = "100k")]
    pub connections: u64,
    /// Connections per second (open loop, accepts 50k), or `max` (closed loop).
    #[arg(long, value_parser = parse_rate, default_value = "max")]
    pub rate: Rate,
    /// Most connections open at once.
    #[arg(long, value_parser = parse_concurrency, default_value = "1024")]
    pub concurrency: u32,
    /// Who closes.
    #[arg(long, value_enum, default_value_t = CloseArg::Client)]
    pub close: CloseArg,
    /// Request bytes sent by the client after the handshake.
    #[arg(long, value_parser = parse_bytes, default_value = "64")]
    pub request_bytes: u32,
    /// Response bytes sent by the server.
    #[arg(long, value_parser = parse_bytes, default_value = "256")]
    pub response_bytes: u32,
    /// TIME-WAIT length, 2·MSL (e.g. 60s, 500ms).
    #[arg(long, value_parser = parse_nonzero_duration, default_value = "60s")]
    pub time_wait: Duration,
    /// Client TIME-WAIT policy.
    #[arg(long, value_enum, default_value_t = TwPolicyArg::Strict)]
    pub tw_policy: TwPolicyArg,
    /// Minimum TIME-WAIT age before reuse under --tw-policy reuse.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub tw_reuse_delay: Duration,
    /// Most TIME-WAIT records held at once by the side that closes first (default:
    /// enough for the run); the other side holds up to 1,024.
    #[arg(long, value_parser = parse_count)]
    pub tw_cap: Option<u64>,
    /// Source addresses: FIRST or FIRST-LAST (IPv4). Default for --io mem: from
    /// 198.18.0.1, as many as the run needs never to wait out TIME-WAIT.
    #[arg(long, value_parser = parse_src_range)]
    pub src: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Source ports: LO-HI.
    #[arg(long, value_parser = parse_port_range, default_value = "1024-65535")]
    pub src_ports: (u16, u16),
    /// Destination address and port.
    #[arg(long, default_value = "198.19.0.1:80")]
    pub dst: SocketAddrV4,
    /// Packet loss on the in-memory wire, each direction: a fraction (0.05) or a
    /// percentage (5%).
    #[arg(long, value_parser = parse_probability, default_value = "0")]
    pub loss: f64,
    /// Packet duplication on the in-memory wire.
    #[arg(long, value_parser = parse_probability, default_value = "0")]
    pub duplicate: f64,
    /// Reordering of adjacent packets on the in-memory wire.
    #[arg(long, value_parser = parse_probability, default_value = "0")]
    pub reorder: f64,
    /// One-way delay on the in-memory wire (e.g. 1ms).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub delay: Duration,
    /// Seed of everything random (impairments, ISN key, port order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop opening connections after this long.
    #[arg(long, value_parser = parse_nonzero_duration, default_value = "60s")]
    pub duration: Duration,
    /// After the last connection is opened, wait this long for open ones to end.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub drain: Duration,
    /// Run on a virtual clock that jumps to the next event (reproducible; latency is
    /// then simulated time, not CPU time).
    #[arg(long)]
    pub virtual_time: bool,
    /// MSS to advertise.
    #[arg(long, default_value_t = 1460, value_parser = clap::value_parser!(u16).range(64..=9000))]
    pub mss: u16,
    /// Window scale shift to offer (0-14), or `off`.
    #[arg(long, value_parser = parse_wscale, default_value = "7")]
    pub wscale: WindowScale,
    /// Do not offer TCP timestamps.
    #[arg(long)]
    pub no_timestamps: bool,
    /// Do not offer SACK-permitted.
    #[arg(long)]
    pub no_sack: bool,
    /// Initial congestion window of synfin's TCP (`--io mem` and `xdp`) in segments
    /// (RFC 6928 and Linux: 10); one after a retransmitted SYN or SYN-ACK.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub initial_cwnd: u32,
    /// SYN retransmissions before a connection fails.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=20))]
    pub syn_retries: u8,
    /// Data and FIN retransmissions before a connection fails.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(0..=30))]
    pub retries: u8,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    // Outputs (issue 5): live progress, --csv, --hlog, --plot, --spectrum.
    #[command(flatten)]
    #[allow(missing_docs)]
    pub outputs: outputs::OutputArgs,
    // -- Safety (issue 6) --
    /// Attach even to an interface that carries a default route (`--io xdp`).
    #[arg(long)]
    pub force: bool,
    // --- Load shapes: ramp, step sweeps, stop (the "load" feature; src/cli/sweep.rs) ---
    /// Open loop whose rate goes linearly FROM..TO/DURATION (e.g. 10k..200k/30s);
    /// the run lasts DURATION and opens what the ramp schedules.
    #[arg(long, value_parser = sweep::parse_ramp, conflicts_with_all = ["rate", "duration", "connections", "steps"])]
    pub ramp: Option<sweep::RampArg>,
    /// A capacity sweep: one open-loop step per rate (e.g. 50k,100k,200k), each
    /// --step-duration long; reports the highest rate that meets --slo.
    #[arg(long, value_parser = sweep::parse_steps, conflicts_with_all = ["rate", "duration", "connections"])]
    pub steps: Option<sweep::StepsArg>,
    /// Length of each step of a sweep.
    #[arg(long, value_parser = parse_duration, default_value = "10s", requires = "steps")]
    pub step_duration: Duration,
    /// A sweep step's latency bound: [PHASE.]pNN<DURATION, PHASE one of connect
    /// (the default), ttfb, close, lifecycle.
    #[arg(long, value_parser = sweep::parse_slo, default_value = "connect.p99<5ms", requires = "steps")]
    pub slo: sweep::Slo,
    /// When the run stops (its end, or the first Ctrl-C) and --drain has passed,
    /// connections still open are closed with FIN; those not closed after this
    /// long are reset.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub close_timeout: Duration,
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad input (a value, a combination, a missing privilege, an unknown
    /// interface or namespace): one line, exit status 2.
    Usage(String),
    /// The run could not be carried out: one line, exit status 1.
    Runtime(String),
}

impl CliError {
    fn exit(&self) -> ExitCode {
        match self {
            CliError::Usage(msg) => {
                eprintln!("synfin: error: {msg}");
                ExitCode::from(2)
            }
            CliError::Runtime(msg) => {
                eprintln!("synfin: error: {msg}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Refuse early, with a clear line, when root is needed and missing.
#[cfg(target_os = "linux")]
pub(crate) fn require_root(what: &str) -> Result<(), CliError> {
    // The effective uid, read without a syscall wrapper.
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(str::to_owned))
        .and_then(|l| {
            l.split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u32>().ok())
        });
    match euid {
        Some(0) => Ok(()),
        _ => Err(CliError::Usage(format!(
            "{what} needs root (network namespaces, veth, XDP)"
        ))),
    }
}

/// An existing network namespace, or a usage error.
#[cfg(target_os = "linux")]
pub(crate) fn check_netns(ns: &str) -> Result<(), CliError> {
    crate::testbed::netns::validate_ns_name(ns).map_err(|e| CliError::Usage(e.to_string()))?;
    if !crate::testbed::netns::exists(ns) {
        return Err(CliError::Usage(format!(
            "network namespace '{ns}' does not exist"
        )));
    }
    Ok(())
}

/// TIME-WAIT records of the side that does not close first (see [`mem_config`]).
const PASSIVE_TW_CAP: usize = 1024;

/// Turn `run` options into a run configuration.
pub fn mem_config(a: &RunArgs) -> Result<MemRunConfig, CliError> {
    let close = a.close.mode();
    let ts_base_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0);
    let tcp = TcpConfig {
        mss: a.mss,
        window_scale: a.wscale.0,
        sack_permitted: !a.no_sack,
        timestamps: !a.no_timestamps,
        initial_cwnd: a.initial_cwnd,
        syn_retries: a.syn_retries,
        retries: a.retries,
        time_wait: a.time_wait,
        request_bytes: a.request_bytes,
        response_bytes: a.response_bytes,
        close,
        ts_base_ms,
        ..TcpConfig::default()
    };
    let n_ports = (a.src_ports.1 - a.src_ports.0) as u64 + 1;
    let (first, last) = match a.src {
        Some(r) => r,
        None => {
            // Enough addresses that no tuple is needed twice, up to a /20.
            let need = a.connections.div_ceil(n_ports).clamp(1, 4096) as u32;
            let first = Ipv4Addr::new(198, 18, 0, 1);
            (first, Ipv4Addr::from(u32::from(first) + need - 1))
        }
    };
    let src_count = u32::from(last) - u32::from(first) + 1;
    let tuples = src_count as u64 * n_ports;
    if tuples > 1 << 31 {
        return Err(CliError::Usage(format!(
            "{src_count} source addresses × {n_ports} ports is more than 2^31 tuples; narrow --src or --src-ports"
        )));
    }
    let dst_ip = u32::from(*a.dst.ip());
    if dst_ip >= u32::from(first) && dst_ip <= u32::from(last) {
        return Err(CliError::Usage(format!(
            "destination {} lies inside the source range",
            a.dst
        )));
    }
    // Enough TIME-WAIT records for the run, up to 16 M (about 0.8 GB with their
    // timers); past the cap, overflow is counted as Linux counts it.
    let tw_default = a.connections.min(tuples).min(16 << 20);
    let tw_cap = a.tw_cap.unwrap_or(tw_default).min(1 << 30) as usize;
    // The side that closes first holds the TIME-WAIT records; the other (and both,
    // with RST close) only meets TIME-WAIT in a simultaneous close or a stop that
    // closes open connections, where a small cap does, its overflow counted.
    let (client_tw_cap, server_tw_cap) = match close {
        CloseMode::Client => (tw_cap, PASSIVE_TW_CAP),
        CloseMode::Server => (PASSIVE_TW_CAP, tw_cap),
        CloseMode::Rst => (PASSIVE_TW_CAP, PASSIVE_TW_CAP),
    };
    let concurrency = a.concurrency.min(tuples.min(u32::MAX as u64) as u32);
    let mode = sweep::pacer_mode(a);
    let tw_policy = match a.tw_policy {
        TwPolicyArg::Strict => TwPolicy::Strict,
        TwPolicyArg::Reuse => TwPolicy::Reuse {
            delay_ms: a.tw_reuse_delay.as_millis().min(u32::MAX as u128) as u32,
        },
        TwPolicyArg::None => TwPolicy::None,
    };
    let client = ClientConfig {
        src_first: u32::from(first),
        src_count,
        port_lo: a.src_ports.0,
        port_hi: a.src_ports.1,
        dst_ip,
        dst_port: a.dst.port(),
        tw_policy,
        tw_cap: client_tw_cap,
        max_conns: concurrency as usize,
        verify_checksums: true,
        secret: a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xc1,
        cursor_start: a.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ ts_base_ms as u64,
    };
    let server = ServerConfig {
        ip: dst_ip,
        port: a.dst.port(),
        max_conns: concurrency as usize * 2 + 1024,
        tw_cap: server_tw_cap,
        verify_checksums: true,
        secret: a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e,
    };
    let wire = MemWireConfig {
        loss: a.loss,
        duplicate: a.duplicate,
        reorder: a.reorder,
        delay: a.delay,
        seed: a.seed,
        frames: (concurrency as usize * 8).clamp(4096, 1 << 18),
        ..MemWireConfig::default()
    };
    Ok(MemRunConfig {
        connections: a.connections,
        mode,
        concurrency,
        client_tcp: tcp.clone(),
        server_tcp: tcp,
        client,
        server,
        wire,
        virtual_time: a.virtual_time,
        duration_limit: a.duration,
        drain: a.drain,
        close_timeout: a.close_timeout,
    })
}

fn run(a: &RunArgs) -> Result<Report, CliError> {
    let stop = install_stop_flag()?;
    let mut report = run_once(&sweep::shaped(a), &stop)?;
    if let Some(r) = &a.ramp {
        report.config["ramp"] = sweep::ramp_json(r);
    }
    Ok(report)
}

/// One run with the given options (a sweep makes one per step); `stop` is set by
/// the first SIGINT or SIGTERM.
fn run_once(
    a: &RunArgs,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<Report, CliError> {
    checks::check_run_args(a)?;
    if a.io != IoKind::Mem
        && (a.loss > 0.0
            || a.duplicate > 0.0
            || a.reorder > 0.0
            || !a.delay.is_zero()
            || a.virtual_time)
    {
        return Err(CliError::Usage(
            "--loss, --duplicate, --reorder, --delay and --virtual-time shape the in-memory wire: they need --io mem \
             (on a real wire, impair the link itself, e.g. with tc netem)"
                .into(),
        ));
    }
    if a.io != IoKind::Xdp && (a.interface.is_some() || a.cores.is_some() || a.dst_mac.is_some()) {
        return Err(CliError::Usage(
            "--interface, --cores and --dst-mac are for --io xdp".into(),
        ));
    }
    // Outputs (issue 5): the per-second collection feeding progress, CSV, hlog, plots.
    let workers = match (&a.io, &a.cores) {
        (IoKind::Xdp, Some(c)) => c.0.len().max(1) as u32,
        _ => 1,
    };
    #[cfg(target_os = "linux")]
    let time_wait = match a.io {
        IoKind::Socket => outputs::kernel_time_wait(a.netns.clone()),
        _ => crate::stats::progress::TimeWaitSource::Own,
    };
    #[cfg(not(target_os = "linux"))]
    let time_wait = crate::stats::progress::TimeWaitSource::Own;
    let mut session = outputs::Session::start(&a.outputs, workers, time_wait)?;
    let taps = session.take_taps();
    let mut report = match a.io {
        IoKind::Mem => run_mem_io(a, stop, taps),
        IoKind::Socket => run_socket_io(a, stop, taps),
        IoKind::Xdp => run_xdp_io(a, stop, taps),
    }?;
    session.finish(&mut report);
    Ok(report)
}

/// A flag set by the first SIGINT or SIGTERM (a run then stops opening, drains and
/// reports); a second one runs the registered clean-ups and exits with 130
/// (see [`signals`]).
pub fn install_stop_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, CliError> {
    signals::install()
}

/// `run --io xdp`: the engine's client over an AF_XDP socket.
#[cfg(target_os = "linux")]
pub fn run_xdp_io(
    a: &RunArgs,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    taps: Vec<crate::stats::interval::IntervalTap>,
) -> Result<Report, CliError> {
    use crate::engine::xdp_run::{XdpRunConfig, run_xdp_with};
    use crate::io::xdp::{XdpConfig, XdpMode};
    require_root("synfin run --io xdp")?;
    let Some(interface) = a.interface.clone() else {
        return Err(CliError::Usage("--io xdp needs --interface".into()));
    };
    if a.src.is_none() {
        return Err(CliError::Usage("--io xdp needs --src (the addresses the DUT can reach; `synfin testbed up` prints them)".into()));
    }
    if let Some(ns) = &a.netns {
        check_netns(ns)?;
    }
    checks::check_not_default_route(a.netns.as_deref(), &interface, a.force)?;
    let cores = a.cores.clone().map(|c| c.0).unwrap_or_default();
    let mut m = mem_config(a)?;
    m.client.verify_checksums = !a.no_rx_checksum;
    let budget = checks::xdp_budget(
        &m,
        cores.len().max(1) as u32,
        crate::io::xdp::XdpConfig::default().frames,
    );
    checks::check_memory(&budget)?;
    let xdp = XdpConfig {
        xdp_mode: match a.xdp_mode {
            XdpModeArg::Auto => XdpMode::Auto,
            XdpModeArg::Native => XdpMode::Native,
            XdpModeArg::Generic => XdpMode::Generic,
        },
        ..XdpConfig::default()
    };
    let cfg = XdpRunConfig {
        netns: a.netns.clone(),
        interface: interface.clone(),
        cores: cores.clone(),
        xdp,
        dst_mac: a.dst_mac,
        arp_timeout: Duration::from_secs(3),
        connections: a.connections,
        mode: m.mode,
        concurrency: m.concurrency,
        tcp: m.client_tcp.clone(),
        client: m.client.clone(),
        duration_limit: a.duration,
        drain: a.drain,
        close_timeout: a.close_timeout,
    };
    // The DUT's counters, when it lives in a namespace we can read.
    let dut_ns = a.dut_netns.clone().or_else(|| {
        let name = a.netns.as_deref()?.strip_suffix("-gen")?;
        let dut = format!("{name}-dut");
        crate::testbed::netns::exists(&dut).then_some(dut)
    });
    if let Some(ns) = &dut_ns {
        check_netns(ns)?;
    }
    let before = dut_ns
        .as_deref()
        .and_then(|ns| crate::testbed::netns::nstat(ns).ok());
    let res = run_xdp_with(&cfg, stop, taps).map_err(|e| match e {
        crate::engine::xdp_run::XdpRunError::Xdp(crate::io::xdp::XdpError::NoInterface {
            ..
        })
        | crate::engine::xdp_run::XdpRunError::Queues(_) => CliError::Usage(e.to_string()),
        e => CliError::Runtime(e.to_string()),
    })?;
    let mut report = Report::new(res.client, "xdp", res.duration);
    let mut config = run_config_json(a, &m);
    config["io"] = json!("xdp");
    config["interface"] = json!(interface);
    config["netns"] = json!(a.netns);
    config["cores"] = json!(cores);
    config["workers"] = json!(res.workers);
    config["datapath"] = json!({
        "attach": res.mode.attach.to_string(),
        "bind": res.mode.bind.to_string(),
        "tx_skb_budget": res.mode.tx_skb_budget,
        "src_mac": res.src_mac.to_string(),
        "dst_mac": res.dst_mac.to_string(),
        "dst_mac_from": if a.dst_mac.is_some() { "option" } else { "arp" },
        "rx_checksum_verified": !a.no_rx_checksum,
    });
    if let (Some(ns), Some(before)) = (&dut_ns, before) {
        let after = crate::testbed::netns::nstat(ns).unwrap_or_default();
        let dut = demo::dut_counter_delta(&before, &after);
        let tw = crate::testbed::netns::time_wait_sockets(ns);
        config["dut"] = json!({ "netns": ns, "counters": dut, "time_wait_at_end": tw });
        report.notes.push(format!(
            "DUT ({ns}) kernel counters during the run: {}",
            demo::dut_counter_line(&dut)
        ));
        if let Some(tw) = tw {
            report
                .notes
                .push(format!("DUT TIME-WAIT sockets at the end: {tw}"));
        }
    }
    config["tx_blocked"] = json!(res.tx_blocked);
    config["tables_at_end"] = json!({"open": res.open_at_end, "time_wait": res.time_wait_at_end});
    if res.tx_blocked > 0 {
        report.notes.push(format!("the transmit guard cancelled {} frames not from the source range to the destination (a bug: please report it)", res.tx_blocked));
    }
    config["handoff"] = json!({
        "workers": res.workers,
        "handed_out": res.handoff.handed_out,
        "handed_in": res.handoff.handed_in,
        "dropped": res.handoff.dropped,
    });
    report.config = config;
    checks::report_memory(&mut report, &budget);
    if res.workers > 1 {
        report.notes.push(format!(
            "{} workers: {} frames handed to their owner, {} handoff drops",
            res.workers, res.handoff.handed_out, res.handoff.dropped
        ));
    }
    report.notes.push(format!(
        "datapath: XDP {} mode, AF_XDP {} mode",
        res.mode.attach, res.mode.bind
    ));
    if let Some(s) = res.stats {
        report.notes.push(format!(
            "socket: rx dropped {}, rx ring full {}, fill ring empty {}, invalid descs rx {} tx {}, tx no buffer {}",
            s.rx_dropped, s.rx_ring_full, s.rx_fill_ring_empty_descs, s.rx_invalid_descs, s.tx_invalid_descs, s.tx_no_buffer
        ));
    }
    report.notes.extend(sweep::stop_notes(
        res.interrupted,
        res.closed_at_stop,
        res.aborted,
    ));
    if res.tuple_waits > 0 {
        report.notes.push(format!(
            "the client waited {} times for a free source tuple",
            res.tuple_waits
        ));
    }
    Ok(report)
}

#[cfg(not(target_os = "linux"))]
fn run_xdp_io(
    _a: &RunArgs,
    _stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    _taps: Vec<crate::stats::interval::IntervalTap>,
) -> Result<Report, CliError> {
    Err(CliError::Usage("--io xdp needs Linux".into()))
}

fn parse_mac_arg(s: &str) -> Result<crate::wire::ethernet::EthernetAddress, String> {
    crate::engine::xdp_run::parse_mac(s.trim())
        .ok_or_else(|| format!("'{s}' is not a MAC address (aa:bb:cc:dd:ee:ff)"))
}

/// `run --io socket`: the same workload through kernel sockets.
#[cfg(target_os = "linux")]
fn run_socket_io(
    a: &RunArgs,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut taps: Vec<crate::stats::interval::IntervalTap>,
) -> Result<Report, CliError> {
    use crate::io::socket::SocketClientConfig;
    use crate::io::socket::client::run_client_with;
    let tap = taps.pop();
    let mut cfg = SocketClientConfig::new(a.dst, a.connections);
    cfg.src = a.src;
    cfg.mode = sweep::pacer_mode(a);
    cfg.concurrency = a.concurrency;
    cfg.request_bytes = a.request_bytes;
    cfg.response_bytes = a.response_bytes;
    cfg.close = a.close.mode();
    cfg.duration = a.duration;
    cfg.drain = a.drain;
    cfg.stop = Some(std::sync::Arc::clone(stop));
    cfg.connect_timeout = a.connect_timeout;
    cfg.io_timeout = a.io_timeout;
    let result = match &a.netns {
        Some(ns) => {
            check_netns(ns)?;
            crate::testbed::netns::run_in(ns, || run_client_with(&cfg, tap))
                .map_err(|e| CliError::Runtime(e.to_string()))?
        }
        None => run_client_with(&cfg, tap),
    };
    let run = result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput {
            // (An option the host cannot honour: sources that are not its own.)
            CliError::Usage(e.to_string())
        } else {
            CliError::Runtime(format!("the socket client could not start: {e}"))
        }
    })?;
    let mut report = Report::new(run.recorder, "socket", run.duration);
    report.config = json!({
        "io": "socket",
        "netns": a.netns,
        "connections": a.connections,
        "rate": match a.rate { Rate::Max => json!("max"), Rate::PerSecond(r) => json!(r) },
        "concurrency": a.concurrency,
        "close": a.close.mode().as_str(),
        "request_bytes": a.request_bytes,
        "response_bytes": a.response_bytes,
        "src": a.src.map(|(f, l)| format!("{f}-{l}")),
        "dst": a.dst.to_string(),
        "connect_timeout_ms": a.connect_timeout.as_millis() as u64,
        "io_timeout_ms": a.io_timeout.as_millis() as u64,
    });
    for (errno, n) in &run.errors_by_errno {
        report.notes.push(format!("{n} × {errno}"));
    }
    report
        .notes
        .extend(sweep::stop_notes(run.interrupted, run.closed_at_stop, 0));
    if run.deferred_by_cap > 0 {
        report.notes.push(format!(
            "{} scheduled connections waited for the concurrency cap",
            run.deferred_by_cap
        ));
    }
    report.notes.push(
        "kernel sockets: packet and TIME-WAIT counters belong to the kernel (see nstat and ss in the client's namespace)".into(),
    );
    Ok(report)
}

#[cfg(not(target_os = "linux"))]
fn run_socket_io(
    _a: &RunArgs,
    _stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    _taps: Vec<crate::stats::interval::IntervalTap>,
) -> Result<Report, CliError> {
    Err(CliError::Usage("--io socket needs Linux".into()))
}

/// The options of an engine run, for the report.
fn run_config_json(a: &RunArgs, cfg: &MemRunConfig) -> serde_json::Value {
    json!({
    "io": "mem",
    "connections": a.connections,
    "rate": match a.rate { Rate::Max => json!("max"), Rate::PerSecond(r) => json!(r) },
    "concurrency": cfg.concurrency,
    "close": format!("{:?}", a.close).to_lowercase(),
    "request_bytes": a.request_bytes,
    "response_bytes": a.response_bytes,
    "time_wait_ms": a.time_wait.as_millis() as u64,
    "tw_policy": cfg.client.tw_policy.as_str(),
    // (The cap of the side that closes first.)
    "tw_cap": cfg.client.tw_cap.max(cfg.server.tw_cap),
    "src": format!("{}-{}", Ipv4Addr::from(cfg.client.src_first), Ipv4Addr::from(cfg.client.src_first + cfg.client.src_count - 1)),
    "src_ports": format!("{}-{}", a.src_ports.0, a.src_ports.1),
    "dst": a.dst.to_string(),
    "loss": a.loss, "duplicate": a.duplicate, "reorder": a.reorder,
    "delay_us": a.delay.as_micros() as u64,
    "seed": a.seed,
    "virtual_time": a.virtual_time,
    "mss": a.mss, "wscale": a.wscale.0, "timestamps": !a.no_timestamps, "sack": !a.no_sack,
    "initial_cwnd": a.initial_cwnd,
    })
}

/// `run --io mem`: client and built-in server over the in-memory wire.
fn run_mem_io(
    a: &RunArgs,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut taps: Vec<crate::stats::interval::IntervalTap>,
) -> Result<Report, CliError> {
    if a.netns.is_some() {
        return Err(CliError::Usage(
            "--netns is for --io socket and --io xdp".into(),
        ));
    }
    let cfg = mem_config(a)?;
    let budget = checks::mem_budget(&cfg);
    checks::check_memory(&budget)?;
    let mut mem_run = crate::engine::mem_run::MemRun::new(&cfg);
    mem_run.stop_on(std::sync::Arc::clone(stop));
    if let Some(tap) = taps.pop() {
        mem_run.set_intervals(tap);
    }
    let res = mem_run.run();
    let mut report = Report::new(res.client, "mem", res.duration);
    report.server = Some(res.server.counters.clone());
    report.config = run_config_json(a, &cfg);
    checks::report_memory(&mut report, &budget);
    if res.tuple_waits > 0 {
        report.notes.push(format!(
            "the client waited {} times for a free source tuple (TIME-WAIT or all in use)",
            res.tuple_waits
        ));
    }
    report.notes.extend(sweep::stop_notes(
        res.interrupted,
        res.closed_at_stop,
        res.aborted,
    ));
    if res.listen_overflows > 0 {
        report.notes.push(format!(
            "the server dropped {} SYNs with a full table",
            res.listen_overflows
        ));
    }
    Ok(report)
}

/// Write the report; a closed pipe (`| head`) is not an error worth a panic.
fn write_stdout(s: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synfin: error: cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Entry point of the binary; returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return checks::usage_error(e),
    };
    let result = match &cli.command {
        Command::Run(a) if a.steps.is_some() => sweep::run_sweep(a),
        Command::Run(a) => run(a).map(|r| outputs::render(&r, a.format, a.outputs.spectrum)),
        Command::Report(a) => report::run(a),
        #[cfg(target_os = "linux")]
        Command::Demo(a) => demo::run(a),
        #[cfg(target_os = "linux")]
        Command::Serve(a) => serve::run(a),
        #[cfg(target_os = "linux")]
        Command::Testbed(a) => testbed::run(a),
        #[cfg(target_os = "linux")]
        Command::TwMatrix(a) => tw_matrix::run(a),
        #[cfg(target_os = "linux")]
        Command::Hazard(a) => hazard::run(a),
    };
    match result {
        Ok(out) => write_stdout(&out),
        Err(e) => e.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_parses_with_its_options() {
        let lines: &[&[&str]] = &[
            &[
                "synfin",
                "serve",
                "--io",
                "socket",
                "--netns",
                "x",
                "--threads",
                "2",
                "--cores",
                "0,1",
                "--duration",
                "1s",
            ],
            &["synfin", "serve"],
            &[
                "synfin",
                "testbed",
                "up",
                "--name",
                "a",
                "--queues",
                "2",
                "--sources",
                "8",
            ],
            &["synfin", "testbed", "down"],
            &["synfin", "testbed", "status", "--name", "b"],
            &[
                "synfin",
                "tw-matrix",
                "--quick",
                "--cell-duration",
                "2s",
                "--drain",
                "1s",
                "--concurrency",
                "20",
                "--format",
                "json",
                "--out",
                "/tmp/x",
            ],
            &["synfin", "hazard", "old-duplicate", "--format", "json"],
            &["synfin", "hazard", "lost-last-ack", "--wait", "2s"],
            &[
                "synfin",
                "run",
                "--io",
                "socket",
                "--netns",
                "g",
                "--src",
                "198.18.1.0-198.18.1.3",
                "--connect-timeout",
                "1s",
            ],
            &[
                "synfin",
                "report",
                "sweep.json",
                "--step",
                "2000",
                "--format",
                "json",
                "--csv",
                "/tmp/x.csv",
            ],
        ];
        for line in lines {
            let cli = Cli::try_parse_from(*line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            // Reading every field back catches a definition/type mismatch.
            let _ = format!("{cli:?}");
        }
    }

    #[test]
    fn every_default_parses() {
        let cli = Cli::try_parse_from(["synfin", "run"]).unwrap();
        let Command::Run(a) = cli.command else {
            panic!("run expected")
        };
        assert_eq!(a.wscale, WindowScale(Some(7)));
        mem_config(&a).unwrap();
    }

    /// The side that closes first gets the TIME-WAIT cap (the run's connections
    /// by default, or --tw-cap); the other a small one. Before, the client was
    /// sized for every connection's TIME-WAIT whoever closed.
    #[test]
    fn the_side_that_closes_first_gets_the_time_wait_cap() {
        for (close, client, server) in [
            ("client", 300_000, PASSIVE_TW_CAP),
            ("server", PASSIVE_TW_CAP, 300_000),
            ("rst", PASSIVE_TW_CAP, PASSIVE_TW_CAP),
        ] {
            for extra in [&[][..], &["--tw-cap", "300k"][..]] {
                let n = if extra.is_empty() { "300k" } else { "5M" };
                let line = [&["synfin", "run", "-n", n, "--close", close][..], extra].concat();
                let Command::Run(a) = Cli::try_parse_from(line).unwrap().command else {
                    panic!("run expected")
                };
                let cfg = mem_config(&a).unwrap();
                assert_eq!(
                    (cfg.client.tw_cap, cfg.server.tw_cap),
                    (client, server),
                    "{close} {extra:?}"
                );
            }
        }
    }
}
