//! `synfin tw-matrix`: the TIME-WAIT avoidance settings side by side.
//!
//! Each cell of the grid gets a test bed of its own (so no cell inherits another's
//! TIME-WAIT sockets), its sysctls set inside that bed's namespaces (recorded and put
//! back), the kernel's TCP server in the DUT namespace, and one bounded client run —
//! the kernel's (`--io socket`) or synfin's own over AF_XDP (`--io xdp`) — while a
//! sampler records, once a second, the connections completed and the TIME-WAIT count
//! on each side. A row is the outcome of one cell.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant as StdInstant};

use serde::Serialize;

use super::sysctl::{AppliedSysctl, SysctlGuard};
use crate::engine::TwPolicy;
use crate::engine::client::ClientConfig;
use crate::engine::live::LiveCounters;
use crate::engine::pacer::PacerMode;
use crate::engine::xdp_run::{XdpRunConfig, run_xdp_observed};
use crate::io::socket::{
    SocketClientConfig, SocketServer, SocketServerConfig, run_client_observed,
};
use crate::io::xdp::XdpConfig;
use crate::stats::{FailCause, Phase, Recorder};
use crate::tcp::{CloseMode, TcpConfig};
use crate::testbed::{Testbed, TestbedConfig, TestbedGuard, netns};

/// Which client opens the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// The kernel's TCP through sockets (`run --io socket`): client-side sysctls act on it.
    Socket,
    /// synfin's own TCP over AF_XDP (`run --io xdp`): its TIME-WAIT policy acts on it.
    Xdp,
}

impl ClientKind {
    /// The name in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Socket => "socket",
            ClientKind::Xdp => "xdp",
        }
    }
}

/// A TIME-WAIT avoidance setting: sysctls in the test bed's namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Nothing changed (tcp_tw_reuse=2 here: loopback only, so like 0 over veth).
    Defaults,
    /// tcp_tw_reuse=1 in the client namespace.
    TwReuse,
    /// tcp_tw_reuse=1 and tcp_tw_reuse_delay=1 (ms; the default is 1000).
    TwReuseFast,
    /// tcp_tw_reuse=1 with tcp_timestamps=0 in the client namespace.
    TwReuseNoTs,
    /// tcp_max_tw_buckets=1024 on the closing side.
    SmallTwBuckets,
}

/// The client's source port range: the kernel client's `ip_local_port_range`; the
/// AF_XDP client is given the same range so that the two compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ports {
    /// The kernel's default, 32768–60999.
    Default,
    /// 1024–65535.
    Wide,
    /// 32768–33791: 1,024 ports, so that tuples come round within a second or two.
    Narrow,
}

impl Ports {
    /// First and last port.
    pub fn range(self) -> (u16, u16) {
        match self {
            Ports::Default => (32768, 60999),
            Ports::Wide => (1024, 65535),
            Ports::Narrow => (32768, 33791),
        }
    }

    /// `ports 1024-65535`, or nothing for the default.
    pub fn label(self) -> Option<String> {
        let (lo, hi) = self.range();
        (self != Ports::Default).then(|| format!("ports {lo}-{hi}"))
    }
}

/// Where a sysctl goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Gen,
    Dut,
}

impl Setting {
    /// The name in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Defaults => "defaults",
            Setting::TwReuse => "tw_reuse=1",
            Setting::TwReuseFast => "tw_reuse=1,delay=1ms",
            Setting::TwReuseNoTs => "tw_reuse=1,timestamps=0",
            Setting::SmallTwBuckets => "max_tw_buckets=1024",
        }
    }

    /// The sysctls of this setting for `client` closing by `close`. Settings that act
    /// on the client namespace's kernel do nothing to the AF_XDP client (synfin's own
    /// TCP runs there), so they are not set for it.
    fn sysctls(
        self,
        client: ClientKind,
        close: CloseMode,
    ) -> Vec<(Side, &'static str, &'static str)> {
        let closer = if close == CloseMode::Server {
            Side::Dut
        } else {
            Side::Gen
        };
        let v = match self {
            Setting::Defaults => vec![],
            Setting::TwReuse => vec![(Side::Gen, "net.ipv4.tcp_tw_reuse", "1")],
            Setting::TwReuseFast => vec![
                (Side::Gen, "net.ipv4.tcp_tw_reuse", "1"),
                (Side::Gen, "net.ipv4.tcp_tw_reuse_delay", "1"),
            ],
            Setting::TwReuseNoTs => vec![
                (Side::Gen, "net.ipv4.tcp_tw_reuse", "1"),
                (Side::Gen, "net.ipv4.tcp_timestamps", "0"),
            ],
            Setting::SmallTwBuckets => vec![(closer, "net.ipv4.tcp_max_tw_buckets", "1024")],
        };
        match client {
            ClientKind::Socket => v,
            ClientKind::Xdp => v.into_iter().filter(|s| s.0 == Side::Dut).collect(),
        }
    }
}

/// One cell of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The client.
    pub client: ClientKind,
    /// Who closes.
    pub close: CloseMode,
    /// The sysctls.
    pub setting: Setting,
    /// The client's source ports.
    pub ports: Ports,
    /// The AF_XDP client's TIME-WAIT policy (`None` for the kernel client).
    pub policy: Option<TwPolicy>,
    /// Source addresses.
    pub sources: u32,
}

impl Cell {
    /// The setting and the port range: `tw_reuse=1`, `defaults, ports 1024-65535`.
    pub fn setting_label(&self) -> String {
        match self.ports.label() {
            Some(p) => format!("{}, {p}", self.setting.as_str()),
            None => self.setting.as_str().to_owned(),
        }
    }

    /// The sysctls this cell sets: the setting's, and the port range for the kernel
    /// client.
    fn sysctls(&self) -> Vec<(Side, &'static str, String)> {
        let mut v: Vec<(Side, &'static str, String)> = self
            .setting
            .sysctls(self.client, self.close)
            .into_iter()
            .map(|(side, k, val)| (side, k, val.to_owned()))
            .collect();
        if self.client == ClientKind::Socket && self.ports != Ports::Default {
            let (lo, hi) = self.ports.range();
            v.push((
                Side::Gen,
                "net.ipv4.ip_local_port_range",
                format!("{lo} {hi}"),
            ));
        }
        v
    }
}

const CLOSES: [CloseMode; 3] = [CloseMode::Client, CloseMode::Server, CloseMode::Rst];

/// The three policies of the AF_XDP client.
pub fn policies() -> [TwPolicy; 3] {
    [
        TwPolicy::Strict,
        TwPolicy::Reuse { delay_ms: 1000 },
        TwPolicy::None,
    ]
}

/// The reduced grid of `--quick` (7 cells, one source address, 1,024 source ports,
/// so that TIME-WAIT is the limit within a second even on a slow machine): the
/// kernel client closing with defaults and with tcp_tw_reuse=1, the server closing,
/// an RST close; the AF_XDP client closing under each of its policies.
pub fn quick_grid() -> Vec<Cell> {
    let sock = |close, setting| Cell {
        client: ClientKind::Socket,
        close,
        setting,
        ports: Ports::Narrow,
        policy: None,
        sources: 1,
    };
    let mut cells = vec![
        sock(CloseMode::Client, Setting::Defaults),
        sock(CloseMode::Client, Setting::TwReuse),
        sock(CloseMode::Server, Setting::Defaults),
        sock(CloseMode::Rst, Setting::Defaults),
    ];
    for p in policies() {
        cells.push(Cell {
            client: ClientKind::Xdp,
            close: CloseMode::Client,
            setting: Setting::Defaults,
            ports: Ports::Narrow,
            policy: Some(p),
            sources: 1,
        });
    }
    cells
}

/// The full grid, for each of {1, 64} source addresses: the kernel client × who
/// closes × {defaults, tcp_tw_reuse=1, tcp_tw_reuse=1 with a 1 ms delay,
/// tcp_tw_reuse=1 without timestamps, tcp_max_tw_buckets=1024 on the closing side,
/// the wide port range, the narrow one} (21 cells); the AF_XDP client × who closes ×
/// its three policies (9 cells); and the AF_XDP client, server closing, with
/// tcp_max_tw_buckets=1024 on the DUT (1 cell). 62 cells.
pub fn full_grid() -> Vec<Cell> {
    let mut cells = Vec::new();
    let settings = [
        (Setting::Defaults, Ports::Default),
        (Setting::TwReuse, Ports::Default),
        (Setting::TwReuseFast, Ports::Default),
        (Setting::TwReuseNoTs, Ports::Default),
        (Setting::SmallTwBuckets, Ports::Default),
        (Setting::Defaults, Ports::Wide),
        (Setting::Defaults, Ports::Narrow),
    ];
    for sources in [1, 64] {
        for close in CLOSES {
            for (setting, ports) in settings {
                cells.push(Cell {
                    client: ClientKind::Socket,
                    close,
                    setting,
                    ports,
                    policy: None,
                    sources,
                });
            }
        }
        for close in CLOSES {
            for p in policies() {
                cells.push(Cell {
                    client: ClientKind::Xdp,
                    close,
                    setting: Setting::Defaults,
                    ports: Ports::Default,
                    policy: Some(p),
                    sources,
                });
            }
        }
        cells.push(Cell {
            client: ClientKind::Xdp,
            close: CloseMode::Server,
            setting: Setting::SmallTwBuckets,
            ports: Ports::Default,
            policy: Some(TwPolicy::Strict),
            sources,
        });
    }
    cells
}

/// How the grid runs.
#[derive(Clone, Debug)]
pub struct MatrixConfig {
    /// The cells, in order.
    pub cells: Vec<Cell>,
    /// How long each cell opens connections.
    pub cell_duration: Duration,
    /// Then how long open connections get to finish.
    pub drain: Duration,
    /// Most connections open at once (both clients).
    pub concurrency: u32,
    /// Most connections per cell (a bound; the duration normally ends a cell first).
    pub max_connections: u64,
    /// Test beds are named `<prefix>c<cell>` (prefix ≤ 9 characters).
    pub name_prefix: String,
}

impl MatrixConfig {
    /// The longest a grid can take: each cell's duration, its drain, 1 s for the
    /// AF_XDP client's closes after the drain, and 3 s for building and removing its
    /// test bed and sampling.
    pub fn bound(&self) -> Duration {
        (self.cell_duration + self.drain + Duration::from_secs(4)) * self.cells.len() as u32
    }
}

/// One sample of a cell, taken each second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the client started.
    pub t_s: f64,
    /// Connections completed so far.
    pub completed: u64,
    /// Attempts started so far.
    pub attempted: u64,
    /// TIME-WAIT on the generator side: the kernel's sockets (`/proc/net/sockstat`
    /// of its namespace) for the kernel client, synfin's records for the AF_XDP one.
    pub tw_gen: u64,
    /// TIME-WAIT sockets in the DUT's namespace.
    pub tw_dut: u64,
}

/// The outcome of one cell.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The client.
    pub client: ClientKind,
    /// Who closed.
    pub close: &'static str,
    /// The setting (and the port range when not the default).
    pub setting: String,
    /// The AF_XDP client's policy.
    pub policy: Option<&'static str>,
    /// Source addresses.
    pub sources: u32,
    /// The client's source port range.
    pub ports: (u16, u16),
    /// The sysctls set for the cell, with their originals and whether they were put back.
    pub sysctls: Vec<AppliedSysctl>,
    /// How long the client ran (opening, then draining).
    pub duration_s: f64,
    /// Attempts.
    pub attempted: u64,
    /// Completed connections.
    pub completed: u64,
    /// Attempts still open when the drain ended.
    pub in_flight: u64,
    /// Completed per second of the run.
    pub cps: f64,
    /// Failures by cause (every cause).
    pub failed: BTreeMap<&'static str, u64>,
    /// The kernel client's failures by errno (`EADDRNOTAVAIL`, `ECONNREFUSED`, …).
    pub errno: BTreeMap<String, u64>,
    /// Highest TIME-WAIT count sampled on the generator side.
    pub tw_gen_peak: u64,
    /// Highest TIME-WAIT count sampled on the DUT side.
    pub tw_dut_peak: u64,
    /// 99th percentile of the connect phase, microseconds.
    pub connect_p99_us: f64,
    /// AF_XDP client: premature reuses of tuples in TIME-WAIT (policy `none`).
    pub tw_hazard_reuses: u64,
    /// AF_XDP client: legal early reuses (policy `reuse`).
    pub tw_reused: u64,
    /// AF_XDP client: times it waited for a usable tuple.
    pub tuple_waits: u64,
    /// Growth of the DUT's kernel counters over the cell.
    pub dut_counters: BTreeMap<&'static str, u64>,
    /// The per-second samples.
    pub series: Vec<Sample>,
    /// Why the cell could not run, if it could not.
    pub error: Option<String>,
}

impl Row {
    fn empty(cell: &Cell) -> Row {
        Row {
            client: cell.client,
            close: cell.close.as_str(),
            setting: cell.setting_label(),
            policy: cell.policy.map(TwPolicy::as_str),
            sources: cell.sources,
            ports: cell.ports.range(),
            sysctls: Vec::new(),
            duration_s: 0.0,
            attempted: 0,
            completed: 0,
            in_flight: 0,
            cps: 0.0,
            failed: BTreeMap::new(),
            errno: BTreeMap::new(),
            tw_gen_peak: 0,
            tw_dut_peak: 0,
            connect_p99_us: 0.0,
            tw_hazard_reuses: 0,
            tw_reused: 0,
            tuple_waits: 0,
            dut_counters: BTreeMap::new(),
            series: Vec::new(),
            error: None,
        }
    }

    /// The cell's label (`socket client defaults 1src`).
    pub fn label(&self) -> String {
        let mut s = format!("{} {} {}", self.client.as_str(), self.close, self.setting);
        if let Some(p) = self.policy {
            s.push(' ');
            s.push_str(p);
        }
        s.push_str(&format!(" {}src", self.sources));
        s
    }

    /// Completed connections in each second (from the samples).
    pub fn rate_per_second(&self) -> Vec<u64> {
        self.series
            .windows(2)
            .map(|w| w[1].completed.saturating_sub(w[0].completed))
            .collect()
    }

    /// The failures worth a column: nonzero causes, then the kernel client's errnos.
    pub fn failure_summary(&self) -> String {
        let mut parts: Vec<String> = self
            .failed
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        parts.extend(self.errno.iter().map(|(k, n)| format!("{k}={n}")));
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" ")
        }
    }
}

/// The DUT counters a row reports (nstat names).
const DUT_COUNTERS: &[&str] = &[
    "TcpPassiveOpens",
    "TcpOutRsts",
    "TcpExtTW",
    "TcpExtTWRecycled",
    "TcpExtTCPTimeWaitOverflow",
    "TcpExtPAWSTimewait",
    "TcpExtPAWSEstab",
    "TcpExtTCPChallengeACK",
    "TcpExtListenDrops",
];

/// The whole grid's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct MatrixResult {
    /// synfin's version.
    pub synfin_version: &'static str,
    /// `uname -r`.
    pub kernel: String,
    /// `quick`, `full` or `custom`.
    pub grid: String,
    /// Each cell's opening time, seconds.
    pub cell_duration_s: f64,
    /// Each cell's drain bound, seconds.
    pub drain_s: f64,
    /// Connections open at once.
    pub concurrency: u32,
    /// The whole grid's wall time, seconds.
    pub wall_s: f64,
    /// One row per cell.
    pub rows: Vec<Row>,
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs every cell of `cfg` in order; `on_row` sees each row as it is made. A cell
/// that cannot run gives a row with `error` set; `stop` ends the grid after the
/// current cell (whose run stops opening and drains).
pub fn run_matrix(
    cfg: &MatrixConfig,
    grid: &str,
    stop: &Arc<AtomicBool>,
    mut on_row: impl FnMut(usize, &Row),
) -> MatrixResult {
    let t0 = StdInstant::now();
    let mut rows = Vec::new();
    for (i, cell) in cfg.cells.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name = format!("{}c{i}", cfg.name_prefix);
        let row = run_cell(cfg, cell, &name, stop);
        on_row(i, &row);
        rows.push(row);
    }
    MatrixResult {
        synfin_version: env!("CARGO_PKG_VERSION"),
        kernel: kernel_release(),
        grid: grid.to_owned(),
        cell_duration_s: cfg.cell_duration.as_secs_f64(),
        drain_s: cfg.drain.as_secs_f64(),
        concurrency: cfg.concurrency,
        wall_s: t0.elapsed().as_secs_f64(),
        rows,
    }
}

/// One cell on a test bed of its own named `name`, removed afterwards.
pub fn run_cell(cfg: &MatrixConfig, cell: &Cell, name: &str, stop: &Arc<AtomicBool>) -> Row {
    let mut row = Row::empty(cell);
    let guard = TestbedGuard::new(name);
    let tb_cfg = TestbedConfig {
        sources: cell.sources,
        ..TestbedConfig::named(name)
    };
    match Testbed::up(&tb_cfg) {
        Ok(tb) => {
            let mut sysctls = SysctlGuard::new();
            if let Err(e) = cell_on(cfg, cell, &tb, &mut sysctls, &mut row, stop) {
                row.error = Some(e);
            }
            row.sysctls = sysctls.restore();
        }
        Err(e) => row.error = Some(format!("building test bed {name}: {e}")),
    }
    drop(guard);
    row
}

/// Samples once a second until told to stop, then once more.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(gen_ns: Option<String>, dut_ns: String, live: Arc<LiveCounters>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let t0 = StdInstant::now();
            let mut out = Vec::new();
            let mut next = Duration::ZERO;
            loop {
                let done = flag.load(Ordering::Relaxed);
                let snap = live.read();
                let tw_gen = match &gen_ns {
                    Some(ns) => netns::time_wait_sockets(ns).unwrap_or(0),
                    None => snap.tw_current,
                };
                out.push(Sample {
                    t_s: t0.elapsed().as_secs_f64(),
                    completed: snap.completed,
                    attempted: snap.attempted,
                    tw_gen,
                    tw_dut: netns::time_wait_sockets(&dut_ns).unwrap_or(0),
                });
                if done {
                    return out;
                }
                next += Duration::from_secs(1);
                while t0.elapsed() < next && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

fn cell_on(
    cfg: &MatrixConfig,
    cell: &Cell,
    tb: &Testbed,
    sysctls: &mut SysctlGuard,
    row: &mut Row,
    stop: &Arc<AtomicBool>,
) -> Result<(), String> {
    let c = tb.config();
    let (gen_ns, dut_ns) = (tb.gen_ns(), tb.dut_ns());
    for (side, key, value) in cell.sysctls() {
        let ns = if side == Side::Gen { &gen_ns } else { &dut_ns };
        sysctls.set(ns, key, &value)?;
    }
    if cell.client == ClientKind::Socket {
        // The kernel client binds to the sources: they must be its own addresses.
        let script: String = c
            .sources()
            .map(|a| format!("addr add {a}/32 dev {}\n", tb.gen_if()))
            .collect();
        netns::ip_batch(&gen_ns, &script).map_err(|e| format!("adding the sources: {e}"))?;
    }
    let cores = core_affinity::get_core_ids().map(|v| v.len()).unwrap_or(1);
    let (gen_core, dut_core) = if cores >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let listen = SocketAddrV4::new(c.dut_addr, 80);
    let srv_cfg = SocketServerConfig {
        addr: listen,
        threads: 1,
        backlog: 4096,
        request_bytes: 64,
        response_bytes: 256,
        close: cell.close,
        cores: dut_core.into_iter().collect(),
        ..SocketServerConfig::default()
    };
    let (server, _) = netns::run_in(&dut_ns, || SocketServer::bind(srv_cfg))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the DUT server cannot listen on {listen}: {e}"))?;
    let server_stop = Arc::new(AtomicBool::new(false));
    let server_thread = {
        let server_stop = Arc::clone(&server_stop);
        std::thread::spawn(move || server.run(&server_stop))
    };
    let before = netns::nstat(&dut_ns).unwrap_or_default();
    let live = LiveCounters::new(1);
    let sampler = Sampler::start(
        (cell.client == ClientKind::Socket).then(|| gen_ns.clone()),
        dut_ns.clone(),
        Arc::clone(&live),
    );
    let (src_first, src_last) = c.src_range();
    let outcome = match cell.client {
        ClientKind::Socket => {
            let scfg = SocketClientConfig {
                dst: listen,
                src: Some((src_first, src_last)),
                connections: cfg.max_connections,
                mode: PacerMode::Max,
                concurrency: cfg.concurrency,
                request_bytes: 64,
                response_bytes: 256,
                close: cell.close,
                duration: cfg.cell_duration,
                drain: cfg.drain,
                connect_timeout: Duration::from_secs(3),
                io_timeout: Duration::from_secs(3),
                stop: Some(Arc::clone(stop)),
            };
            let live2 = Arc::clone(&live);
            netns::run_in(&gen_ns, move || {
                if let Some(core) = gen_core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: core });
                }
                run_client_observed(&scfg, Some(&live2))
            })
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| format!("the kernel client: {e}")))
            .map(|run| {
                row.errno = run.errors_by_errno.clone();
                (run.recorder, run.duration, 0)
            })
        }
        ClientKind::Xdp => {
            let policy = cell.policy.unwrap_or(TwPolicy::Strict);
            let ts_base_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u32)
                .unwrap_or(0);
            let (port_lo, port_hi) = cell.ports.range();
            let xcfg = XdpRunConfig {
                netns: Some(gen_ns.clone()),
                interface: tb.gen_if(),
                cores: gen_core.into_iter().collect(),
                xdp: XdpConfig::default(),
                dst_mac: None,
                arp_timeout: Duration::from_secs(3),
                connections: cfg.max_connections,
                mode: PacerMode::Max,
                concurrency: cfg.concurrency,
                tcp: TcpConfig {
                    request_bytes: 64,
                    response_bytes: 256,
                    close: cell.close,
                    ts_base_ms,
                    ..TcpConfig::default()
                },
                client: ClientConfig {
                    src_first: u32::from(src_first),
                    src_count: cell.sources,
                    port_lo,
                    port_hi,
                    dst_ip: u32::from(c.dut_addr),
                    dst_port: 80,
                    tw_policy: policy,
                    tw_cap: 4 << 20,
                    max_conns: cfg.concurrency as usize,
                    verify_checksums: true,
                    secret: u64::from(ts_base_ms).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    cursor_start: u64::from(ts_base_ms),
                },
                duration_limit: cfg.cell_duration,
                drain: cfg.drain,
                close_timeout: Duration::from_secs(1),
            };
            run_xdp_observed(&xcfg, stop, Some(Arc::clone(&live)))
                .map_err(|e| e.to_string())
                .map(|run| (run.client, run.duration, run.tuple_waits))
        }
    };
    let series = sampler.finish();
    // Let the server finish what the last segments end, then stop it.
    std::thread::sleep(Duration::from_millis(200));
    let after = netns::nstat(&dut_ns).unwrap_or_default();
    server_stop.store(true, Ordering::Relaxed);
    let _ = server_thread.join();
    let (rec, duration, tuple_waits) = outcome?;
    fill(row, &rec, duration, tuple_waits, series);
    row.dut_counters = DUT_COUNTERS
        .iter()
        .map(|k| {
            let d = after
                .get(*k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.get(*k).copied().unwrap_or(0));
            (*k, d)
        })
        .collect();
    Ok(())
}

fn fill(row: &mut Row, rec: &Recorder, duration: Duration, tuple_waits: u64, series: Vec<Sample>) {
    let c = &rec.counters;
    row.duration_s = duration.as_secs_f64();
    row.attempted = c.attempted;
    row.completed = c.completed;
    row.in_flight = c.in_flight();
    row.cps = if row.duration_s > 0.0 {
        c.completed as f64 / row.duration_s
    } else {
        0.0
    };
    row.failed = FailCause::ALL
        .iter()
        .map(|f| (f.as_str(), c.failed_by(*f)))
        .collect();
    row.tw_gen_peak = series.iter().map(|s| s.tw_gen).max().unwrap_or(0);
    row.tw_dut_peak = series.iter().map(|s| s.tw_dut).max().unwrap_or(0);
    let h = rec.histogram(Phase::Connect);
    row.connect_p99_us = if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(0.99) as f64 / 1000.0
    };
    row.tw_hazard_reuses = c.tw_hazard_reuses;
    row.tw_reused = c.tw_reused;
    row.tuple_waits = tuple_waits;
    row.series = series;
}

/// The table of a result, one line per row, then each row's rate per second.
pub fn to_text(m: &MatrixResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "synfin {} tw-matrix ({} grid) | kernel {} | {} cells of {:.0} s (+ ≤{:.0} s drain), {} open at once | {:.0} s in all",
        m.synfin_version,
        m.grid,
        m.kernel,
        m.rows.len(),
        m.cell_duration_s,
        m.drain_s,
        m.concurrency,
        m.wall_s
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| client | close | setting | policy | src | CPS | completed | failed | TW gen peak | TW DUT peak | connect p99 |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &m.rows {
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | error: {e} |||||",
                r.client.as_str(),
                r.close,
                r.setting,
                r.policy.unwrap_or("-"),
                r.sources
            );
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            r.client.as_str(),
            r.close,
            r.setting,
            r.policy.unwrap_or("-"),
            r.sources,
            r.cps,
            r.completed,
            r.failure_summary(),
            r.tw_gen_peak,
            r.tw_dut_peak,
            fmt_us(r.connect_p99_us)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "completed per second, by row:");
    for r in &m.rows {
        let rates: Vec<String> = r.rate_per_second().iter().map(u64::to_string).collect();
        let mut extra = String::new();
        if r.client == ClientKind::Xdp {
            extra = format!(
                " (hazard reuses {}, legal reuses {}, tuple waits {})",
                r.tw_hazard_reuses, r.tw_reused, r.tuple_waits
            );
        }
        let _ = writeln!(s, "  {:<48} {}{extra}", r.label(), rates.join(" "));
    }
    s
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} us")
    }
}

/// Every sysctl of every row was put back.
pub fn all_restored(m: &MatrixResult) -> bool {
    m.rows.iter().all(|r| r.sysctls.iter().all(|a| a.restored))
}

/// The charts of a result: for each (client, who closes, sources) group, the
/// TIME-WAIT count over time on the side that holds it (the generator when the
/// client closes or resets, the DUT when the server closes) and the completed
/// connections per second, one line per setting/policy. `(file name, SVG)` pairs.
pub fn charts(m: &MatrixResult) -> Vec<(String, String)> {
    use super::svg::{Series, line_chart};
    let mut groups: Vec<(ClientKind, &str, u32)> = Vec::new();
    for r in &m.rows {
        let k = (r.client, r.close, r.sources);
        if r.error.is_none() && !groups.contains(&k) {
            groups.push(k);
        }
    }
    let mut out = Vec::new();
    for (client, close, sources) in groups {
        let rows: Vec<&Row> = m
            .rows
            .iter()
            .filter(|r| {
                r.error.is_none() && (r.client, r.close, r.sources) == (client, close, sources)
            })
            .collect();
        let name = |r: &Row| match r.policy {
            Some(p) => format!("{} {p}", r.setting),
            None => r.setting.clone(),
        };
        let dut_side = close == "server";
        let tw: Vec<Series> = rows
            .iter()
            .map(|r| Series {
                label: name(r),
                points: r
                    .series
                    .iter()
                    .map(|s| (s.t_s, if dut_side { s.tw_dut } else { s.tw_gen } as f64))
                    .collect(),
            })
            .collect();
        let rate: Vec<Series> = rows
            .iter()
            .map(|r| Series {
                label: name(r),
                points: r
                    .series
                    .windows(2)
                    .map(|w| {
                        let dt = (w[1].t_s - w[0].t_s).max(1e-3);
                        (
                            w[1].t_s,
                            w[1].completed.saturating_sub(w[0].completed) as f64 / dt,
                        )
                    })
                    .collect(),
            })
            .collect();
        let stem = format!("{}-{close}-{sources}src", client.as_str());
        let side = if dut_side { "DUT" } else { "generator" };
        out.push((
            format!("tw-{stem}.svg"),
            line_chart(
                &format!(
                    "TIME-WAIT on the {side} side: {} client, {close} closes, {sources} source(s)",
                    client.as_str()
                ),
                "seconds",
                "sockets in TIME-WAIT",
                &tw,
            ),
        ));
        out.push((
            format!("rate-{stem}.svg"),
            line_chart(
                &format!(
                    "Completed connections per second: {} client, {close} closes, {sources} source(s)",
                    client.as_str()
                ),
                "seconds",
                "connections/s",
                &rate,
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_have_the_documented_cells() {
        let quick = quick_grid();
        assert_eq!(quick.len(), 7);
        assert!(
            quick
                .iter()
                .all(|c| c.sources == 1 && c.ports == Ports::Narrow)
        );
        let full = full_grid();
        assert_eq!(full.len(), 62);
        for sources in [1, 64] {
            let n = |k| {
                full.iter()
                    .filter(|c| c.sources == sources && c.client == k)
                    .count()
            };
            assert_eq!(n(ClientKind::Socket), 21);
            assert_eq!(n(ClientKind::Xdp), 10);
        }
        // The AF_XDP client always has a policy; the kernel client never.
        assert!(
            full.iter()
                .all(|c| c.policy.is_some() == (c.client == ClientKind::Xdp))
        );
    }

    #[test]
    fn client_namespace_sysctls_are_not_set_for_the_xdp_client() {
        let cell = |client, close, setting, ports| Cell {
            client,
            close,
            setting,
            ports,
            policy: None,
            sources: 1,
        };
        let s = cell(
            ClientKind::Socket,
            CloseMode::Client,
            Setting::TwReuseNoTs,
            Ports::Wide,
        )
        .sysctls();
        assert_eq!(s.len(), 3);
        assert!(
            s.iter()
                .all(|(side, k, _)| *side == Side::Gen && k.starts_with("net."))
        );
        let x = cell(
            ClientKind::Xdp,
            CloseMode::Client,
            Setting::TwReuse,
            Ports::Wide,
        )
        .sysctls();
        assert!(x.is_empty());
        // A small bucket table goes on the closing side.
        let srv = cell(
            ClientKind::Xdp,
            CloseMode::Server,
            Setting::SmallTwBuckets,
            Ports::Default,
        )
        .sysctls();
        assert_eq!(
            srv,
            vec![(Side::Dut, "net.ipv4.tcp_max_tw_buckets", "1024".to_owned())]
        );
        let cli = cell(
            ClientKind::Socket,
            CloseMode::Client,
            Setting::SmallTwBuckets,
            Ports::Default,
        )
        .sysctls();
        assert_eq!(cli[0].0, Side::Gen);
    }

    #[test]
    fn rate_per_second_is_the_difference_of_samples() {
        let mut row = Row::empty(&quick_grid()[0]);
        row.series = [0, 1024, 1024, 1500]
            .iter()
            .enumerate()
            .map(|(i, &c)| Sample {
                t_s: i as f64,
                completed: c,
                ..Sample::default()
            })
            .collect();
        assert_eq!(row.rate_per_second(), vec![1024, 0, 476]);
        assert_eq!(row.failure_summary(), "-");
        row.failed.insert("no_tuple", 3);
        row.errno.insert("EADDRNOTAVAIL".into(), 3);
        assert_eq!(row.failure_summary(), "no_tuple=3 EADDRNOTAVAIL=3");
    }
}
