//! Checks of whole command lines, beyond what one value's parser can see: option
//! combinations, destinations that cannot be a server, cores that do not exist.
//! Each failure is a usage error (one line, exit status 2).

use std::net::SocketAddrV4;

use super::{CliError, IoKind, RunArgs, XdpModeArg, is_unicast_source};

/// A destination that a connection can be opened to: a unicast address and a port
/// other than 0.
pub(crate) fn check_destination(what: &str, dst: SocketAddrV4) -> Result<(), CliError> {
    if dst.port() == 0 {
        return Err(CliError::Usage(format!(
            "{what} {dst}: port 0 cannot be connected to"
        )));
    }
    if !is_unicast_source(*dst.ip()) {
        return Err(CliError::Usage(format!(
            "{what} {dst}: not a unicast address (0.0.0.0/8, multicast, reserved or broadcast)"
        )));
    }
    Ok(())
}

/// Every listed core exists on this machine.
pub(crate) fn check_cores(cores: &[usize]) -> Result<(), CliError> {
    let available = core_affinity::get_core_ids().map(|v| v.len()).unwrap_or(1);
    match cores.iter().find(|c| **c >= available) {
        Some(c) => Err(CliError::Usage(format!(
            "core {c} does not exist (this machine has {available})"
        ))),
        None => Ok(()),
    }
}

/// The checks of `synfin run` that no single value parser can make.
pub(crate) fn check_run_args(a: &RunArgs) -> Result<(), CliError> {
    check_destination("--dst", a.dst)?;
    if a.io != IoKind::Xdp
        && (a.dut_netns.is_some() || a.no_rx_checksum || a.force || a.xdp_mode != XdpModeArg::Auto)
    {
        return Err(CliError::Usage(
            "--dut-netns, --no-rx-checksum, --xdp-mode and --force are for --io xdp".into(),
        ));
    }
    if let Some(c) = &a.cores {
        check_cores(&c.0)?;
    }
    Ok(())
}

/// Print clap's error as one line (`synfin: error: ...`, without its usage and
/// tips) and return status 2; help and version go out as clap prints them.
pub(crate) fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let text = e.render().to_string();
            // The error, with clap's list of possible values or its tip, on one line.
            let mut parts = text.lines().map(str::trim).filter(|l| {
                l.starts_with("error: ")
                    || l.starts_with("[possible values")
                    || l.starts_with("tip: ")
            });
            let first = parts.next().unwrap_or("bad command line");
            let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
            for p in parts {
                line.push(' ');
                line.push_str(p);
            }
            eprintln!("synfin: error: {line} (see synfin --help)");
            std::process::ExitCode::from(2)
        }
    }
}

/// The interfaces that carry a default route (IPv4 `0.0.0.0/0` or IPv6 `::/0`)
/// in the routing tables `route` (`/proc/net/route`) and `ipv6_route`
/// (`/proc/net/ipv6_route`). IPv6's unreachable default on `lo` does not count.
pub fn default_route_interfaces_in(route: &str, ipv6_route: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        if f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000" {
            out.push(f[0].to_string());
        }
    }
    for line in ipv6_route.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest plen src splen nexthop metric refcnt use flags devname
        if f.len() >= 10 && f[1] == "00" && f[0].bytes().all(|b| b == b'0') && f[9] != "lo" {
            out.push(f[9].to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The interfaces that carry a default route in network namespace `netns` (the
/// current one when `None`).
#[cfg(target_os = "linux")]
pub fn default_route_interfaces(netns: Option<&str>) -> std::io::Result<Vec<String>> {
    let read = || -> std::io::Result<Vec<String>> {
        let route = std::fs::read_to_string("/proc/thread-self/net/route")?;
        let ipv6 = std::fs::read_to_string("/proc/thread-self/net/ipv6_route").unwrap_or_default();
        Ok(default_route_interfaces_in(&route, &ipv6))
    };
    match netns {
        None => read(),
        Some(ns) => crate::testbed::netns::run_in(ns, read)
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    }
}

/// Refuse to attach to an interface that carries a default route (the host's way
/// out: redirecting its frames to synfin would cut the host off) unless `force`.
#[cfg(target_os = "linux")]
pub(crate) fn check_not_default_route(
    netns: Option<&str>,
    interface: &str,
    force: bool,
) -> Result<(), CliError> {
    let carriers = default_route_interfaces(netns).map_err(|e| {
        CliError::Runtime(format!(
            "cannot read the routing table to check {interface}: {e}"
        ))
    })?;
    if carriers.iter().any(|i| i == interface) && !force {
        let place = netns.map_or("this namespace".to_string(), |n| format!("namespace {n}"));
        return Err(CliError::Usage(format!(
            "{interface} carries the default route of {place}: attaching XDP to it would take the host's traffic; \
             use a test bed (synfin testbed up) or give --force if this interface is really meant for the load"
        )));
    }
    Ok(())
}

/// What the tables of an in-memory run take (client, server, wire).
pub(crate) fn mem_budget(
    m: &crate::engine::mem_run::MemRunConfig,
) -> crate::engine::memory::MemoryBudget {
    use crate::engine::memory::MemoryBudget;
    let mut b = MemoryBudget::client(&m.client);
    b.add(&MemoryBudget::server(&m.server));
    // The server's direct index of the client's range (MemRun::new asks for it).
    let c = &m.client;
    b.tuple_index += 4 * crate::engine::server::ServerWorker::peer_index_tuples(
        &m.server,
        c.src_count,
        c.port_lo,
        c.port_hi,
    );
    b.add(&MemoryBudget::mem_wire(m.wire.frames));
    b.add(&MemoryBudget::payload(m.client_tcp.request_bytes));
    b.add(&MemoryBudget::payload(m.server_tcp.response_bytes));
    b
}

/// What the client's tables and the sockets' UMEMs of an AF_XDP run take.
pub(crate) fn xdp_budget(
    m: &crate::engine::mem_run::MemRunConfig,
    workers: u32,
    umem_frames: u32,
) -> crate::engine::memory::MemoryBudget {
    use crate::engine::memory::MemoryBudget;
    let mut b = MemoryBudget::client(&m.client);
    b.fixed *= u64::from(workers);
    b.add(&MemoryBudget::umem(workers, umem_frames));
    for _ in 0..workers {
        b.add(&MemoryBudget::payload(m.client_tcp.request_bytes));
    }
    b
}

/// Refuse a run whose tables would not fit in the memory the kernel says it has
/// (they are all allocated at start: better a clear line now than the OOM killer).
pub(crate) fn check_memory(b: &crate::engine::memory::MemoryBudget) -> Result<(), CliError> {
    let Some(avail) = crate::engine::memory::available_bytes() else {
        return Ok(());
    };
    if b.total() > avail {
        let gib = |x: u64| x as f64 / (1u64 << 30) as f64;
        return Err(CliError::Usage(format!(
            "the run's tables need {:.2} GiB but only {:.2} GiB are available: lower --concurrency, --tw-cap or the source range ({})",
            gib(b.total()),
            gib(avail),
            b.line()
        )));
    }
    Ok(())
}

/// The memory sized at start and the peak RSS measured now, into the report.
pub(crate) fn report_memory(
    report: &mut crate::stats::Report,
    b: &crate::engine::memory::MemoryBudget,
) {
    let peak = crate::engine::memory::peak_rss_bytes();
    report.config["memory"] = serde_json::json!({
        "sized_at_start": b,
        "sized_total": b.total(),
        "peak_rss": peak,
    });
    report.notes.push(format!(
        "memory: tables sized at start {}; peak RSS {}",
        b.line(),
        peak.map_or("unknown".into(), |p| format!(
            "{:.1} MiB",
            p as f64 / (1u64 << 20) as f64
        ))
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tb-g\t000012C6\t00000000\t0001\t0\t0\t0\t0000FEFF\t0\t0\t0
";
    const IPV6: &str = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     wlan0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    #[test]
    fn default_routes_are_found_in_both_tables_and_lo_is_not_one() {
        assert_eq!(default_route_interfaces_in(ROUTE, IPV6), ["eth0", "wlan0"]);
        assert!(default_route_interfaces_in(&ROUTE[..ROUTE.find('\n').unwrap()], "").is_empty());
    }
}
