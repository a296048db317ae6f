//! Load shapes over the in-memory wire, on a virtual clock (deterministic): what an
//! open-loop and a closed-loop run show of a server that stalls for a moment.

use std::time::Duration;

use clap::Parser;
use synfin::cli::{Cli, Command, mem_config};
use synfin::engine::mem_run::{MemRun, MemRunResult};
use synfin::io::mem::Dir;
use synfin::stats::{Counters, Phase, Report};
#[path = "common/report.rs"]
mod report;
#[path = "common/sweep_schema.rs"]
mod sweep_schema;

fn config(args: &[&str]) -> synfin::engine::mem_run::MemRunConfig {
    let line: Vec<&str> = ["synfin", "run", "--io", "mem", "--virtual-time"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let Command::Run(a) = Cli::try_parse_from(line).expect("parses").command else {
        panic!("run expected")
    };
    mem_config(&a).expect("valid")
}

/// 20,000 connections over a wire with 100 µs of delay each way; the server stops
/// answering for 100 ms from 10 ms into the run.
fn stalled_run(rate: &str) -> MemRunResult {
    let cfg = config(&[
        "-n",
        "20k",
        "--rate",
        rate,
        "--concurrency",
        "64",
        "--delay",
        "100us",
    ]);
    let mut run = MemRun::new(&cfg);
    run.stall(
        Dir::BtoA,
        Duration::from_millis(10),
        Duration::from_millis(100),
    );
    run.run()
}

#[track_caller]
fn assert_all_completed(c: &Counters) {
    assert_eq!(c.attempted, 20_000);
    assert_eq!(c.completed, 20_000, "{c:?}");
    assert_eq!(c.failed_total(), 0);
}

#[test]
fn open_loop_shows_a_stall_that_closed_loop_hides() {
    let open = Report::new(stalled_run("10k").client, "mem", Duration::from_secs(1));
    let closed = Report::new(stalled_run("max").client, "mem", Duration::from_secs(1));
    assert_all_completed(open.counters());
    assert_all_completed(closed.counters());
    let ms = 1_000_000;
    for phase in [Phase::Connect, Phase::Lifecycle] {
        let (o, c) = (open.latency(phase), closed.latency(phase));
        // Open loop: the ~1,000 connections scheduled during the stall kept their
        // scheduled start, so 5 % of the samples carry the stall and the p99 shows
        // it.
        assert!(o.max >= 90 * ms, "{phase}: open-loop max {} ns", o.max);
        assert!(o.p99 >= 50 * ms, "{phase}: open-loop p99 {} ns", o.p99);
        // Closed loop: only the 64 connections open at the time waited (0.3 % of
        // the samples); the generator slowed down with the server, and the p99
        // stays at the wire's round trips (a few hundred µs).
        assert!(c.p99 < ms, "{phase}: closed-loop p99 {} ns", c.p99);
        assert!(o.p99 > 50 * c.p99, "{phase}");
    }
    // The closed loop did see the stall — in the few connections open then, which
    // fall beyond the p99.
    let c = closed.latency(Phase::Lifecycle);
    assert!(c.max >= 90 * ms, "closed-loop lifecycle max {} ns", c.max);
    // The ~1,000 connections that fell due while the cap was full (the stall, and
    // the catching up after it) are counted in open loop, and only there (a closed
    // loop waits for the cap by design).
    let deferred = open.counters().deferred_by_cap;
    assert!(
        (1_000..=1_200).contains(&deferred),
        "deferred by cap: {deferred}"
    );
    assert_eq!(closed.counters().deferred_by_cap, 0);
    let j = open.to_json();
    assert_eq!(j["connections"]["deferred_by_cap"], deferred);
    assert!(open.to_text().contains("waited for cap"));
}

#[test]
fn without_a_stall_open_and_closed_loop_agree() {
    // The control: the difference above is the stall's, not the modes'.
    for rate in ["10k", "max"] {
        let cfg = config(&[
            "-n",
            "20k",
            "--rate",
            rate,
            "--concurrency",
            "64",
            "--delay",
            "100us",
        ]);
        let r = Report::new(
            MemRun::new(&cfg).run().client,
            "mem",
            Duration::from_secs(1),
        );
        assert_all_completed(r.counters());
        assert!(r.latency(Phase::Connect).p99 < 1_000_000, "{rate}");
        assert_eq!(r.counters().deferred_by_cap, 0, "{rate}");
    }
}

fn synfin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(args)
        .output()
        .expect("synfin runs")
}

#[test]
fn a_sweep_finds_the_last_rate_that_meets_the_slo() {
    // 64 connections open at most, each living 600 µs of virtual time: the DUT
    // (here the cap) carries about 100 k connections per second. 200 k falls behind
    // its schedule, so its latencies (from the schedule) break the bound.
    let out = synfin(&[
        "run",
        "--io",
        "mem",
        "--virtual-time",
        "--steps",
        "20k,50k,200k,400k",
        "--step-duration",
        "500ms",
        "--concurrency",
        "64",
        "--delay",
        "100us",
        "--slo",
        "connect.p99<1ms",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    sweep_schema::assert_valid(&j, "a sweep over the in-memory wire");
    let sweep = &j["sweep"];
    assert_eq!(sweep["capacity_cps"], 50_000.0);
    assert_eq!(sweep["slo"]["phase"], "connect");
    assert_eq!(sweep["slo"]["bound_us"], 1000.0);
    let steps = sweep["steps"].as_array().unwrap();
    // The sweep stops after the first failing step.
    assert_eq!(steps.len(), 3);
    for (s, (rate, pass)) in steps
        .iter()
        .zip([(20e3, true), (50e3, true), (200e3, false)])
    {
        assert_eq!(s["rate"], rate);
        assert_eq!(s["pass"], pass, "{s}");
        let r = &s["report"];
        // Each step's own report adds up.
        report::accounted(&r["connections"]);
        assert_eq!(r["config"]["rate"], rate);
    }
    assert_eq!(steps[0]["scheduled"], 10_000);
    assert!(steps[2]["slo_value_us"].as_f64().unwrap() > 1000.0);
    assert!(steps[2]["why"].as_str().unwrap().contains("connect p99"));

    // The text form: the table and the headline.
    let out = synfin(&[
        "run",
        "--io",
        "mem",
        "--virtual-time",
        "--steps",
        "20k,50k,200k",
        "--step-duration",
        "500ms",
        "--concurrency",
        "64",
        "--delay",
        "100us",
        "--slo",
        "p99<1ms",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("capacity: 50000 connections/s"), "{text}");
    assert_eq!(text.matches("pass").count(), 2, "{text}");
    assert!(text.contains("FAIL ("), "{text}");
}

#[test]
fn a_ramp_opens_what_it_schedules() {
    let out = synfin(&[
        "run",
        "--io",
        "mem",
        "--virtual-time",
        "--ramp",
        "0..10k/2s",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // (0 + 10,000) / 2 × 2 s.
    assert_eq!(j["connections"]["attempted"], 10_000);
    assert_eq!(j["connections"]["completed"], 10_000);
    assert_eq!(j["config"]["ramp"]["to"], 10_000.0);
    // The last connection starts just before the ramp ends, at 10 k/s.
    let d = j["duration_s"].as_f64().unwrap();
    assert!((1.99..2.1).contains(&d), "{d}");
}

#[test]
fn bad_load_shapes_are_usage_errors() {
    for args in [
        &["run", "--ramp", "10k..5k"][..],
        &["run", "--ramp", "1k..2k/1s", "--rate", "5k"],
        &["run", "--steps", "2k,1k"],
        &["run", "--steps", "1k", "--rate", "5k"],
        &["run", "--steps", "1k", "--slo", "p99"],
        &["run", "--slo", "p99<1ms"],
        &["run", "--step-duration", "1s"],
        &["run", "--steps", "1k,2k", "--csv", "/dev/null/x.csv"],
    ] {
        let out = synfin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// 1,000 connections at 10 k/s; the server's answers are held from 95 ms for
/// `stall`, so the run's end (100 ms) finds connections open.
fn stopped_during_a_stall(stall: Duration, drain: &str, close_timeout: &str) -> MemRunResult {
    let cfg = config(&[
        "-n",
        "1000",
        "--rate",
        "10k",
        "--delay",
        "100us",
        "--drain",
        drain,
        "--close-timeout",
        close_timeout,
    ]);
    let mut run = MemRun::new(&cfg);
    run.stall(Dir::BtoA, Duration::from_millis(95), stall);
    run.run()
}

#[track_caller]
fn assert_adds_up(c: &Counters) {
    assert_eq!(
        c.attempted,
        c.completed + c.failed_total() + c.in_flight(),
        "{c:?}"
    );
}

#[test]
fn a_stop_closes_what_is_open_with_fin_after_the_drain() {
    let r = stopped_during_a_stall(Duration::from_millis(50), "10ms", "2s");
    let c = &r.client.counters;
    assert_adds_up(c);
    assert_eq!(c.attempted, 1000);
    // Open when the drain ran out: closed with FIN, counted in flight.
    assert!(r.closed_at_stop > 0, "{r:?}");
    assert_eq!(c.in_flight(), r.closed_at_stop);
    assert_eq!(c.failed_total(), 0);
    // Every close handshake finished within the close time: no RST from us, and
    // the server saw none and ended every connection it had.
    assert_eq!(r.aborted, 0);
    assert_eq!(c.rst_sent, 0, "{c:?}");
    let s = &r.server.counters;
    assert_eq!(s.rst_received, 0, "{s:?}");
    assert_eq!(s.failed_total(), 0, "{s:?}");
    assert_eq!(s.in_flight(), 0, "{s:?}");
    assert!(!r.interrupted);
}

#[test]
fn a_stop_resets_only_what_the_close_time_could_not_end() {
    // The server stays silent far beyond the close time: what is open then is reset.
    let r = stopped_during_a_stall(Duration::from_secs(30), "10ms", "100ms");
    let c = &r.client.counters;
    assert_adds_up(c);
    assert!(r.closed_at_stop > 0);
    assert_eq!(
        r.aborted, r.closed_at_stop,
        "nothing could close during the stall"
    );
    assert_eq!(c.in_flight(), r.closed_at_stop);
    assert!(c.rst_sent >= r.aborted, "{c:?}");
}

/// A kernel server on loopback (port chosen by the kernel) for `--io socket` runs.
fn loopback_server() -> (
    std::net::SocketAddrV4,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use synfin::io::socket::{SocketServer, SocketServerConfig};
    let (server, addr) = SocketServer::bind(SocketServerConfig::default()).expect("listen");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = std::sync::Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        server.run(&s).expect("server");
    });
    (addr, stop, h)
}

#[test]
fn a_sweep_over_kernel_sockets() {
    let (addr, stop, h) = loopback_server();
    let dst = addr.to_string();
    let out = synfin(&[
        "run",
        "--io",
        "socket",
        "--dst",
        &dst,
        "--steps",
        "200,400",
        "--step-duration",
        "500ms",
        "--slo",
        "lifecycle.p50<2s",
        "--format",
        "json",
    ]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    h.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    sweep_schema::assert_valid(&j, "a sweep over kernel sockets");
    let steps = j["sweep"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for s in steps {
        assert_eq!(s["pass"], true, "{s}");
        assert_eq!(s["report"]["io"], "socket");
    }
    assert_eq!(steps[1]["scheduled"], 200);
    assert_eq!(j["sweep"]["capacity_cps"], 400.0);
}

/// Start `synfin ARGS`, send it SIGINT once it has run for a moment, and return its
/// output (it must end by itself after the signal).
fn interrupted(args: &[&str]) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("synfin runs");
    std::thread::sleep(Duration::from_millis(700));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

#[test]
fn the_first_ctrl_c_stops_a_run_gracefully_on_every_io() {
    let (addr, stop, h) = loopback_server();
    let dst = addr.to_string();
    for args in [
        &[
            "run",
            "--io",
            "mem",
            "--rate",
            "2k",
            "-n",
            "1m",
            "--duration",
            "60s",
        ][..],
        &[
            "run",
            "--io",
            "socket",
            "--dst",
            &dst,
            "--rate",
            "500",
            "-n",
            "1m",
            "--duration",
            "60s",
        ],
    ] {
        let out = interrupted(&[args, &["--format", "json"]].concat());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let c = &j["connections"];
        let attempted = c["attempted"].as_u64().unwrap();
        assert!(attempted > 0 && attempted < 100_000, "{args:?}: {c}");
        assert!(
            j["notes"].to_string().contains("stopped by a signal"),
            "{args:?}: {}",
            j["notes"]
        );
        assert_eq!(report::accounted(c).failed, 0, "{args:?}: {c}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    h.join().unwrap();
}

#[test]
fn a_sweep_stopped_by_ctrl_c_keeps_the_rows_of_the_step_under_way() {
    let dir = std::env::temp_dir().join(format!("synfin-sweep-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("sweep.csv");
    let out = interrupted(&[
        "run",
        "--io",
        "mem",
        "--steps",
        "500,1000",
        "--step-duration",
        "60s",
        "--format",
        "json",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    sweep_schema::assert_valid(&j, "a stopped sweep");
    assert!(
        j["notes"].to_string().contains("stopped by a signal"),
        "{}",
        j["notes"]
    );
    // The first step was under way: it stopped, failed (it did not open what it
    // scheduled), and no other step ran.
    let steps = j["sweep"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{}", j["sweep"]);
    let c = &steps[0]["report"]["connections"];
    let attempted = c["attempted"].as_u64().unwrap();
    assert!(attempted > 0 && attempted < 30_000, "{c}");
    // Its per-second rows are in the CSV, and add up to its report.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r[0] == "500"));
    let sum = |name: &str| -> u64 {
        rows.iter()
            .map(|r| r[col(name)].parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("attempted"), attempted);
    assert_eq!(sum("completed"), c["completed"].as_u64().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}
