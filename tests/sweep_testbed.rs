//! A capacity sweep on a real wire (root; CI runs as root): AF_XDP against the
//! Linux kernel's TCP server on a test bed, two short steps. The output has the
//! latency and completion of each step and the capacity headline. The bound is
//! loose on purpose: this checks the sweep, not the machine (CI machines are
//! shared and noisy). The JSON matches results/sweep-schema.json, and the sweep's
//! CSV and HdrHistogram log add up to each step's report, as in the in-memory
//! sweep of tests/outputs.rs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

#[path = "common/root.rs"]
mod root;
use root::{assert_test_bed_gone, is_root};
#[path = "common/kernel_dut.rs"]
mod kernel_dut;
use kernel_dut::KernelDut;
#[path = "common/report.rs"]
mod report;
#[path = "common/sweep_schema.rs"]
mod sweep_schema;

/// A scratch directory, removed when dropped (also on a failing test).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The histograms of an interval log summed by tag, and how many each tag has.
fn hlog_by_tag(text: &[u8]) -> BTreeMap<String, (usize, Histogram<u64>)> {
    let mut out = BTreeMap::new();
    for e in IntervalLogIterator::new(text) {
        if let LogEntry::Interval(iv) = e.expect("the log parses") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(iv.encoded_histogram())
                .unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            let tag = iv.tag().expect("every interval is tagged").as_str();
            let e = out.entry(tag.to_owned()).or_insert_with(|| {
                (
                    0,
                    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap(),
                )
            });
            e.0 += 1;
            e.1.add(h).unwrap();
        }
    }
    out
}

#[test]
fn a_sweep_against_the_kernel_prints_each_step_and_the_capacity() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfw{}", std::process::id() % 100_000);
    let dir = Scratch(std::env::temp_dir().join(format!("synfin-{name}")));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let (csv, hlog) = (dir.0.join("sweep.csv"), dir.0.join("sweep.hlog"));
    let mut dut = KernelDut::up(&name);
    let out = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(dut.xdp_args())
        .args([
            "--steps",
            "500,1000",
            "--step-duration",
            "1s",
            "--drain",
            "3s",
        ])
        .args(["--slo", "connect.p99<1s", "--format", "json"])
        .arg("--csv")
        .arg(&csv)
        .arg("--hlog")
        .arg(&hlog)
        .output()
        .expect("synfin runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    sweep_schema::assert_valid(&j, "the sweep against the kernel");
    let sweep = &j["sweep"];
    let steps = sweep["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{sweep}");
    for (s, rate) in steps.iter().zip([500.0, 1000.0]) {
        assert_eq!(s["rate"], rate);
        assert_eq!(s["pass"], true, "{s}");
        assert_eq!(s["completed"], s["scheduled"], "{s}");
        let connect = &s["report"]["latency_us"]["connect"];
        assert_eq!(connect["count"], s["completed"]);
        assert!(connect["p99"].as_f64().unwrap() > 0.0);
        assert_eq!(s["report"]["io"], "xdp");
    }
    assert_eq!(sweep["capacity_cps"], 1000.0);

    // The CSV: each step's rows (behind its step_rate) add up to its report.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "step_rate");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let logged = hlog_by_tag(&std::fs::read(&hlog).unwrap());
    for (s, rate) in steps.iter().zip(["500", "1000"]) {
        let report = &s["report"];
        let rows = report["intervals"]["rows"].as_array().unwrap();
        let mine: Vec<&Vec<&str>> = body.iter().filter(|r| r[0] == rate).collect();
        assert!(!rows.is_empty(), "{rate}: no per-second rows");
        assert_eq!(mine.len(), rows.len(), "{rate}");
        let sum = |name: &str| -> u64 {
            mine.iter()
                .map(|r| r[col(name)].parse::<u64>().unwrap())
                .sum()
        };
        let c = report::accounted(&report["connections"]);
        assert_eq!(sum("attempted"), c.attempted, "{rate}");
        assert_eq!(sum("completed"), c.completed, "{rate}");
        assert_eq!(sum("failed"), c.failed, "{rate}");
        // The log: one histogram per phase per row, each phase's adding up to
        // the step's count of that phase (and to the CSV's).
        for p in ["connect", "ttfb", "close", "lifecycle"] {
            let lat = &report["latency_us"][p];
            let tag = format!("step-{rate}/{p}");
            let (n, h) = logged.get(&tag).unwrap_or_else(|| panic!("no {tag}"));
            assert_eq!(*n, rows.len(), "{tag}");
            assert_eq!(Some(h.len()), lat["count"].as_u64(), "{tag}");
            assert_eq!(
                sum(&format!("{p}_count")),
                h.len(),
                "{rate}: the CSV's {p}_count"
            );
        }
    }
    assert_eq!(logged.len(), 2 * 4, "{:?}", logged.keys());
    // `synfin report` of the saved sweep prints the same JSON again.
    let saved = dir.0.join("sweep.json");
    std::fs::write(&saved, &out.stdout).unwrap();
    let again = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .arg("report")
        .arg(&saved)
        .args(["--format", "json"])
        .output()
        .expect("synfin runs");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(again, j, "the sweep read back by synfin report");
    let served = dut.stop_server();
    assert_eq!(served.completed(), 1500);
    drop(dut);
    assert_test_bed_gone(&name);
}
