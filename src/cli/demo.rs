//! `synfin demo`: build a test bed, serve with the kernel's TCP stack in the DUT
//! namespace, load it over AF_XDP from the generator namespace with the whole
//! lifecycle, print the report with the DUT's own counters, and remove everything
//! (also after Ctrl-C, an error or a panic).

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::{CliError, CloseArg, Format, parse_bytes, parse_concurrency};
use crate::engine::TwPolicy;
use crate::engine::client::ClientConfig;
use crate::engine::pacer::PacerMode;
use crate::engine::xdp_run::{XdpRunConfig, run_xdp};
use crate::io::socket::{SocketServer, SocketServerConfig};
use crate::io::xdp::XdpConfig;
use crate::stats::Report;
use crate::tcp::TcpConfig;
use crate::testbed::{Testbed, TestbedConfig, TestbedGuard, netns};

/// Options of `synfin demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to open connections.
    #[arg(long, value_parser = super::parse_nonzero_duration, default_value = "10s")]
    pub duration: Duration,
    /// Stop after this many connections (default: as many as the duration allows).
    #[arg(long, short = 'n', value_parser = super::parse_count)]
    pub connections: Option<u64>,
    /// Who closes.
    #[arg(long, value_enum, default_value_t = CloseArg::Client)]
    pub close: CloseArg,
    /// Most connections open at once.
    #[arg(long, value_parser = parse_concurrency, default_value = "256")]
    pub concurrency: u32,
    /// Request bytes.
    #[arg(long, value_parser = parse_bytes, default_value = "64")]
    pub request_bytes: u32,
    /// Response bytes.
    #[arg(long, value_parser = parse_bytes, default_value = "256")]
    pub response_bytes: u32,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Keep the test bed afterwards (remove it with `synfin testbed down --name NAME`).
    #[arg(long)]
    pub keep: bool,
}

/// The DUT counters worth a line in the report (nstat names).
pub(crate) const DUT_COUNTERS: &[&str] = &[
    "TcpPassiveOpens",
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpOutRsts",
    "TcpInErrs",
    "TcpInCsumErrors",
    "TcpRetransSegs",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnClose",
    "TcpExtPAWSEstab",
    "TcpExtPAWSTimewait",
    "TcpExtTW",
    "TcpExtTCPTimeWaitOverflow",
    "TcpExtTCPChallengeACK",
];

/// How much each of [`DUT_COUNTERS`] grew between two `nstat` readings.
pub(crate) fn dut_counter_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    DUT_COUNTERS
        .iter()
        .map(|k| {
            let d = after
                .get(*k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(before.get(*k).copied().unwrap_or(0));
            ((*k).to_string(), d)
        })
        .collect()
}

/// The counters as one `Name=value` line, in [`DUT_COUNTERS`] order.
pub(crate) fn dut_counter_line(delta: &BTreeMap<String, u64>) -> String {
    DUT_COUNTERS
        .iter()
        .map(|k| format!("{k}={}", delta.get(*k).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run the demo; the report text (or JSON) on success.
pub fn run(a: &DemoArgs) -> Result<String, CliError> {
    super::require_root("synfin demo")?;
    let stop = super::install_stop_flag()?;
    let name = format!("sfd{}", std::process::id() % 1_000_000);
    let tb_cfg = TestbedConfig {
        sources: 64,
        ..TestbedConfig::named(name.clone())
    };
    let guard = TestbedGuard::new(&name);
    // A second Ctrl-C exits at once, without unwinding: remove the test bed then
    // too (unless it is to be kept).
    let _on_abort = (!a.keep).then(|| {
        let name = name.clone();
        super::signals::on_abort(move || {
            let _ = Testbed::down(&name);
            eprintln!("demo: test bed {name} removed");
        })
    });
    let tb = Testbed::up(&tb_cfg)
        .map_err(|e| CliError::Runtime(format!("building the test bed: {e}")))?;
    eprintln!(
        "demo: test bed {name} is up ({} ↔ {})",
        tb.gen_ns(),
        tb.dut_ns()
    );
    let result = demo_on(a, &tb, &stop);
    if a.keep {
        guard.disarm();
        eprintln!("demo: test bed {name} kept; remove it with: synfin testbed down --name {name}");
    } else {
        drop(guard);
        eprintln!("demo: test bed {name} removed");
    }
    let report = result?;
    Ok(match a.format {
        Format::Text => report.to_text(),
        Format::Json => serde_json::to_string_pretty(&report.to_json()).unwrap_or_default() + "\n",
    })
}

fn demo_on(a: &DemoArgs, tb: &Testbed, stop: &Arc<AtomicBool>) -> Result<Report, CliError> {
    let c = tb.config();
    let cores = core_affinity::get_core_ids().map(|v| v.len()).unwrap_or(1);
    let (gen_core, dut_core) = if cores >= 2 {
        (Some(0), Some(1))
    } else {
        (None, None)
    };
    let close = a.close.mode();
    let listen = SocketAddrV4::new(c.dut_addr, 80);
    // The DUT: the kernel's TCP stack behind synfin's epoll server, in the DUT
    // namespace (its sockets stay there whatever thread runs them).
    let srv_cfg = SocketServerConfig {
        addr: listen,
        threads: 1,
        backlog: 4096,
        request_bytes: a.request_bytes,
        response_bytes: a.response_bytes,
        close,
        cores: dut_core.into_iter().collect(),
        ..SocketServerConfig::default()
    };
    let (server, _) = netns::run_in(&tb.dut_ns(), || SocketServer::bind(srv_cfg))
        .map_err(|e| CliError::Runtime(e.to_string()))?
        .map_err(|e| CliError::Runtime(format!("the DUT server cannot listen on {listen}: {e}")))?;
    let server_stop = Arc::new(AtomicBool::new(false));
    let server_thread = {
        let server_stop = Arc::clone(&server_stop);
        std::thread::spawn(move || server.run(&server_stop))
    };
    let before = netns::nstat(&tb.dut_ns()).unwrap_or_default();
    eprintln!(
        "demo: kernel server on {listen} in {}; synfin (AF_XDP) from {} on {} for {:?}, close {}",
        tb.dut_ns(),
        c.src_arg(),
        tb.gen_if(),
        a.duration,
        close.as_str()
    );
    let (src_first, src_last) = c.src_range();
    let ts_base_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0);
    let tcp = TcpConfig {
        request_bytes: a.request_bytes,
        response_bytes: a.response_bytes,
        close,
        ts_base_ms,
        ..TcpConfig::default()
    };
    let src_count = u32::from(src_last) - u32::from(src_first) + 1;
    let client = ClientConfig {
        src_first: u32::from(src_first),
        src_count,
        port_lo: 1024,
        port_hi: 65535,
        dst_ip: u32::from(c.dut_addr),
        dst_port: 80,
        tw_policy: TwPolicy::Strict,
        tw_cap: 4 << 20,
        max_conns: a.concurrency as usize,
        verify_checksums: true,
        secret: u64::from(ts_base_ms).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        cursor_start: u64::from(ts_base_ms),
    };
    let cfg = XdpRunConfig {
        netns: Some(tb.gen_ns()),
        interface: tb.gen_if(),
        cores: gen_core.into_iter().collect(),
        xdp: XdpConfig::default(),
        dst_mac: None,
        arp_timeout: Duration::from_secs(3),
        connections: a.connections.unwrap_or(u64::MAX / 2),
        mode: PacerMode::Max,
        concurrency: a.concurrency,
        tcp,
        client,
        duration_limit: a.duration,
        drain: Duration::from_secs(3),
        close_timeout: Duration::from_secs(2),
    };
    let run = run_xdp(&cfg, stop);
    // Give the server a moment to finish what the last segments end, then stop it.
    std::thread::sleep(Duration::from_millis(200));
    let tw_dut = netns::time_wait_sockets(&tb.dut_ns());
    let after = netns::nstat(&tb.dut_ns()).unwrap_or_default();
    server_stop.store(true, Ordering::Relaxed);
    let served = server_thread
        .join()
        .map_err(|_| CliError::Runtime("the DUT server panicked".into()))?;
    let run = run.map_err(|e| CliError::Runtime(e.to_string()))?;
    let mut report = Report::new(run.client, "xdp", run.duration);
    let dut = dut_counter_delta(&before, &after);
    let dut_line = dut_counter_line(&dut);
    report.config = json!({
        "io": "xdp",
        "demo": true,
        "testbed": tb.name(),
        "interface": tb.gen_if(),
        "src": c.src_arg(),
        "dst": listen.to_string(),
        "duration_s": a.duration.as_secs_f64(),
        "connections": a.connections,
        "close": close.as_str(),
        "concurrency": a.concurrency,
        "request_bytes": a.request_bytes,
        "response_bytes": a.response_bytes,
        "tw_policy": "strict",
        "datapath": { "attach": run.mode.attach.to_string(), "bind": run.mode.bind.to_string(),
                      "src_mac": run.src_mac.to_string(), "dst_mac": run.dst_mac.to_string() },
        "dut": { "server": "synfin serve --io socket (kernel TCP, epoll, 1 thread)",
                 "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
                 "counters": dut, "time_wait_at_end": tw_dut },
    });
    report.notes.push(format!(
        "datapath: XDP {} mode, AF_XDP {} mode",
        run.mode.attach, run.mode.bind
    ));
    match served {
        Ok(s) => {
            report.notes.push(format!(
                "DUT server: accepted {}, completed {}, failed {}, reset by peer {}",
                s.accepted(),
                s.completed(),
                s.failed(),
                s.reset_by_peer()
            ));
            report.server = Some(s.counters);
        }
        Err(e) => report.notes.push(format!("DUT server error: {e}")),
    }
    report
        .notes
        .push(format!("DUT kernel counters during the run: {dut_line}"));
    if let Some(tw) = tw_dut {
        report
            .notes
            .push(format!("DUT TIME-WAIT sockets at the end: {tw}"));
    }
    report.notes.extend(super::sweep::stop_notes(
        run.interrupted,
        run.closed_at_stop,
        run.aborted,
    ));
    Ok(report)
}
