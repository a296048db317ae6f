//! The binary's command line: impossible values get one clear line on stderr and
//! exit status 2, never a panic; a small run prints a report that adds up.

use std::process::Command;
#[path = "common/report.rs"]
mod report;

fn synfin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

#[test]
fn bad_values_exit_2_with_a_message_and_no_panic() {
    let cases: &[&[&str]] = &[
        &["run", "--connections", "0"],
        &["run", "--connections", "-5"],
        &["run", "--connections", "ten"],
        &["run", "--rate", "0"],
        &["run", "--rate", "-100"],
        &["run", "--rate", "fast"],
        &["run", "--concurrency", "0"],
        &["run", "--loss", "101%"],
        &["run", "--loss", "1.5"],
        &["run", "--duplicate", "-0.1"],
        &["run", "--reorder", "x"],
        &["run", "--time-wait", "sixty"],
        &["run", "--tw-policy", "sometimes"],
        &["run", "--close", "never"],
        &["run", "--src", "198.18.0.9-198.18.0.1"],
        &["run", "--src", "300.1.1.1"],
        &["run", "--src-ports", "1024-70000"],
        &["run", "--src-ports", "0-100"],
        &["run", "--src-ports", "5000-4000"],
        &["run", "--dst", "198.19.0.1:70000"],
        &["run", "--dst", "198.19.0.1"],
        &[
            "run",
            "--dst",
            "198.18.0.2:80",
            "--src",
            "198.18.0.1-198.18.0.9",
        ],
        &["run", "--mss", "10"],
        &["run", "--wscale", "15"],
        &["run", "--io", "carrier-pigeon"],
        &["run", "--format", "xml"],
        &["run", "--request-bytes", "1g"],
        &["run", "--no-such-option"],
        &["fly"],
        &["run", "--io", "socket", "--loss", "1%"],
        &["run", "--io", "mem", "--interface", "eth0"],
        &[
            "run",
            "--io",
            "xdp",
            "--src",
            "198.18.1.0",
            "--cores",
            "0,9999",
        ],
        &["run", "--io", "socket", "--netns", "no-such-namespace-here"],
        &[
            "serve",
            "--io",
            "xdp",
            "--netns",
            "no-such-namespace-here",
            "--interface",
            "x",
        ],
        &["testbed", "up", "--name", "bad name!"],
        &["testbed", "up", "--queues", "0"],
        // Zero durations and timeouts.
        &["run", "--duration", "0s"],
        &["run", "--time-wait", "0s"],
        &["run", "--io", "socket", "--connect-timeout", "0s"],
        &["run", "--io", "socket", "--io-timeout", "0ms"],
        &["demo", "--duration", "0s"],
        &["serve", "--duration", "0s"],
        // Negative and impossible numbers.
        &["run", "--syn-retries", "300"],
        &["run", "--initial-cwnd", "0"],
        &["run", "--retries", "-1"],
        &["run", "--request-bytes", "-1"],
        &["run", "--response-bytes", "100m"],
        &["run", "--concurrency", "100m"],
        &["run", "--tw-cap", "0"],
        &["run", "--rate", "nan"],
        &["run", "--loss", "NaN"],
        &["run", "--loss", "100.5%"],
        &["demo", "--concurrency", "0"],
        &["demo", "-n", "0"],
        &["serve", "--threads", "0"],
        &["serve", "--backlog", "-1"],
        &["testbed", "up", "--sources", "0"],
        &["testbed", "up", "--sources", "100000000"],
        &["testbed", "up", "--queues", "1000"],
        &["testbed", "up", "--name", "abcdefghijklmnop"],
        &["testbed", "down", "--name", ""],
        // Addresses and ports that cannot be used.
        &["run", "--dst", "198.19.0.1:0"],
        &["run", "--dst", "0.0.0.0:80"],
        &["run", "--dst", "255.255.255.255:80"],
        &["run", "--dst", "224.0.0.1:80"],
        &["run", "--src", "0.0.0.0"],
        &["run", "--src", "223.255.255.250-224.0.0.3"],
        &["run", "--src", "240.0.0.1"],
        &["run", "--src-ports", "65536-65536"],
        &["serve", "--listen", "198.19.0.1:70000"],
        // Options of another datapath.
        &["run", "--io", "mem", "--dut-netns", "x"],
        &["run", "--io", "mem", "--no-rx-checksum"],
        &["run", "--io", "socket", "--xdp-mode", "native"],
        &["serve", "--io", "socket", "--interface", "lo"],
        // Cores, interfaces and MACs that do not exist.
        &["serve", "--cores", "9999", "--duration", "1s"],
        &["run", "--io", "mem", "--cores", "0"],
        &[
            "run",
            "--io",
            "xdp",
            "--interface",
            "nosuchif0",
            "--src",
            "198.18.1.0",
        ],
        &[
            "run",
            "--io",
            "xdp",
            "--interface",
            "lo",
            "--src",
            "198.18.1.0",
            "--dst-mac",
            "zz",
        ],
        &["serve", "--io", "xdp", "--interface", "nosuchif0"],
        &[
            "serve",
            "--io",
            "socket",
            "--no-rx-checksum",
            "--duration",
            "1s",
        ],
        // The kernel's client binds its sources: they must be the host's own.
        &[
            "run",
            "--io",
            "socket",
            "--src",
            "198.18.250.1-198.18.250.2",
            "--dst",
            "127.0.0.1:9",
            "-n",
            "1",
        ],
        // TIME-WAIT (issue 4).
        &["tw-matrix", "--cell-duration", "0s"],
        &["tw-matrix", "--cell-duration", "soon"],
        &["tw-matrix", "--concurrency", "0"],
        &["tw-matrix", "--drain", "5m"],
        &["hazard", "old-duplicate", "--format", "xml"],
        &["hazard", "lost-last-ack", "--wait", "0s"],
        &["hazard", "lost-last-ack", "--wait", "1h"],
        &["hazard", "no-such-hazard"],
    ];
    for args in cases {
        let out = synfin(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} should exit 2; stderr: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            stderr.starts_with("synfin: error: "),
            "{args:?} gave no error message: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?} should give one line: {stderr}"
        );
    }
}

/// Commands that need root, run without it (as `nobody`, through `setpriv`, when
/// the test runs as root; directly otherwise): one line that says so, status 2.
#[test]
fn a_missing_privilege_exits_2_with_a_message() {
    let cases: &[&[&str]] = &[
        &["demo"],
        &["testbed", "up", "--name", "sfnopriv"],
        &["testbed", "down", "--name", "sfnopriv"],
        &["testbed", "status"],
        &[
            "run",
            "--io",
            "xdp",
            "--interface",
            "lo",
            "--src",
            "198.18.1.0",
        ],
        &["serve", "--io", "xdp", "--interface", "lo"],
    ];
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    for args in cases {
        let out = if root {
            match Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(env!("CARGO_BIN_EXE_synfin"))
                .args(*args)
                .env_remove("RUST_BACKTRACE")
                .output()
            {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("skipped: setpriv is not available ({e})");
                    return;
                }
            }
        } else {
            synfin(args)
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} should exit 2; stderr: {stderr}"
        );
        assert!(stderr.contains("needs root"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_small_run_reports_json_that_adds_up() {
    let out = synfin(&[
        "run",
        "-n",
        "3000",
        "--virtual-time",
        "--format",
        "json",
        "--loss",
        "1%",
    ]);
    let v = report::json_report(&out);
    let a = report::accounted(&v["connections"]);
    assert_eq!(a.attempted, 3000);
    for phase in ["connect", "ttfb", "close", "lifecycle"] {
        for k in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(
                v["latency_us"][phase][k].is_number(),
                "latency_us.{phase}.{k}"
            );
        }
    }
    for k in ["tx", "rx", "retransmitted"] {
        assert!(v["packets"][k].is_u64(), "packets.{k}");
    }
    for k in ["entered", "peak", "hazard_reuses", "overflow"] {
        assert!(v["time_wait"][k].is_u64(), "time_wait.{k}");
    }
    assert!(v["cps"].is_number());
}

#[test]
fn text_report_names_every_phase() {
    let out = synfin(&["run", "-n", "500", "--virtual-time"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for phase in ["connect", "ttfb", "close", "lifecycle"] {
        assert!(text.contains(phase), "{text}");
    }
}

/// The acceptance run, exactly as a user types it.
#[test]
fn two_hundred_thousand_connections_complete_without_failure() {
    let out = synfin(&[
        "run",
        "--io",
        "mem",
        "--connections",
        "200000",
        "--format",
        "json",
    ]);
    let v = report::json_report(&out);
    let a = report::accounted(&v["connections"]);
    assert_eq!((a.attempted, a.completed), (200_000, 200_000), "{a:?}");
    assert_eq!(v["server"]["completed"], 200_000);
}

/// A run whose tables would not fit in the memory the kernel says it has is
/// refused before anything is allocated: one line that says what the tables need
/// and what is available, status 2. The options size about 180 GiB (10^9
/// TIME-WAIT records on each side with their timers, the server's flow table for
/// them, 16 M control blocks on the client and 32 M on the server).
#[test]
fn a_run_whose_tables_exceed_the_available_memory_is_refused() {
    let avail_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kib| kib >> 20);
    match avail_gib {
        None => {
            eprintln!("skipped: no MemAvailable in /proc/meminfo (synfin then does not check)");
            return;
        }
        Some(g) if g >= 128 => {
            eprintln!("skipped: {g} GiB available, the run would fit");
            return;
        }
        Some(_) => {}
    }
    let out = synfin(&[
        "run",
        "--io",
        "mem",
        "--connections",
        "1000m",
        "--concurrency",
        "16m",
        "--tw-cap",
        "1000m",
        "--close",
        "server",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "no report");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("synfin: error: the run's tables need ")
            && stderr.contains(" GiB are available"),
        "{stderr}"
    );
}
