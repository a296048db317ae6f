//! The outputs of a run and `synfin report`: the JSON validates against
//! results/schema.json, the HdrHistogram log read back by the hdrhistogram crate's
//! own log reader matches the report, the CSV has a row per second that adds up,
//! `synfin report` of two runs equals the histograms merged by hand, plots are
//! written, progress shows only when asked for (or on a terminal); a capacity
//! sweep's JSON validates against results/sweep-schema.json and its CSV, log and
//! plots hold every step.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
#[path = "common/report.rs"]
mod report;
#[path = "common/sweep_schema.rs"]
mod sweep_schema;

const PHASES: [&str; 4] = ["connect", "ttfb", "close", "lifecycle"];

fn synfin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("synfin-out-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A reproducible open-loop run over the in-memory wire (a virtual clock: 3.5
/// simulated seconds at 8k CPS, a little loss so that some connections fail or
/// retransmit), with every output asked for.
fn run_json(seed: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "run",
        "--io",
        "mem",
        "-n",
        "28k",
        "--rate",
        "8k",
        "--virtual-time",
        "--loss",
        "1%",
        "--syn-retries",
        "1",
        "--retries",
        "1",
        "--seed",
        seed,
        "--format",
        "json",
        "--progress",
        "off",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&synfin(&args))).expect("the report is JSON")
}

fn decode(text: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// The report's rounding: nanoseconds to microseconds with 3 decimals.
fn us(ns: f64) -> f64 {
    (ns / 1000.0 * 1000.0).round() / 1000.0
}

/// Asserts that `lat` (a `latency_us.<phase>` object) summarizes `h`.
#[track_caller]
fn same_summary(lat: &Value, h: &Histogram<u64>, what: &str) {
    assert_eq!(lat["count"].as_u64(), Some(h.len()), "{what} count");
    if h.is_empty() {
        return;
    }
    for (k, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        assert_eq!(
            lat[k].as_f64(),
            Some(us(h.value_at_quantile(q) as f64)),
            "{what} {k}"
        );
    }
    assert_eq!(lat["max"].as_f64(), Some(us(h.max() as f64)), "{what} max");
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/results/schema.json"))
        .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema)
        .expect("results/schema.json is a valid draft 2020-12 schema")
}

#[track_caller]
fn valid(v: &Value, what: &str) {
    let errors: Vec<String> = validator()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema: {errors:#?}"
    );
}

#[test]
fn hlog_read_back_by_the_crate_matches_the_report_and_csv_adds_up() {
    let dir = scratch("hlog");
    let (hlog, csv) = (dir.join("run.hlog"), dir.join("run.csv"));
    let j = run_json("3", &["--hlog", s(&hlog), "--csv", s(&csv)]);
    valid(&j, "the report of a run");

    // The log, read with the hdrhistogram crate's own interval-log reader.
    let text = std::fs::read(&hlog).unwrap();
    let mut sums: Vec<Histogram<u64>> = PHASES
        .iter()
        .map(|_| Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap())
        .collect();
    let (mut start_time, mut intervals) = (false, 0);
    let mut starts = Vec::new();
    for e in IntervalLogIterator::new(&text) {
        match e.expect("the log parses") {
            LogEntry::StartTime(_) => start_time = true,
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(iv) => {
                intervals += 1;
                let tag = iv.tag().expect("every interval is tagged").as_str();
                let i = PHASES.iter().position(|p| *p == tag).expect("a phase tag");
                if i == 0 {
                    starts.push(iv.start_timestamp().as_secs_f64());
                }
                sums[i].add(decode(iv.encoded_histogram())).unwrap();
            }
        }
    }
    assert!(start_time, "the log says when the run started");
    let rows = j["intervals"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 4, "3.5 s give 4 periods: {}", rows.len());
    assert_eq!(
        intervals,
        rows.len() * PHASES.len(),
        "one histogram per phase per period"
    );
    assert_eq!(
        starts,
        (0..rows.len()).map(|i| i as f64).collect::<Vec<_>>()
    );
    // On a virtual clock every second gets its own row: about 8,000 each.
    for r in &rows[..3] {
        let n = r["completed"].as_u64().unwrap();
        assert!((7_000..=9_000).contains(&n), "{n} in {}", r["t_s"]);
    }
    for (i, p) in PHASES.iter().enumerate() {
        same_summary(&j["latency_us"][p], &sums[i], &format!("hlog {p}"));
        assert!(!sums[i].is_empty() || *p == "close");
    }

    // The CSV: a header, one row per period, counts adding up to the report's.
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(body.len(), rows.len());
    let sum = |name: &str| -> u64 {
        body.iter()
            .map(|r| r[col(name)].parse::<u64>().unwrap())
            .sum()
    };
    let c = &j["connections"];
    assert_eq!(sum("completed"), c["completed"].as_u64().unwrap());
    assert_eq!(sum("attempted"), c["attempted"].as_u64().unwrap());
    let failed = report::accounted(c).failed;
    assert_eq!(sum("failed"), failed);
    assert!(failed > 0, "the lossy run has failures to count");
    assert_eq!(
        sum("connect_count"),
        j["latency_us"]["connect"]["count"].as_u64().unwrap()
    );
    for r in &body {
        assert_eq!(r.len(), header.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_of_two_runs_equals_the_histograms_merged_by_hand() {
    let dir = scratch("merge");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let (ha, hb) = (dir.join("a.hlog"), dir.join("b.hlog"));
    let ja = run_json("5", &["--hlog", s(&ha)]);
    let jb = run_json("6", &["--hlog", s(&hb), "--close", "server"]);
    std::fs::write(&a, ja.to_string()).unwrap();
    std::fs::write(&b, jb.to_string()).unwrap();
    let plots = dir.join("plots");
    let m: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&a),
        s(&b),
        "--format",
        "json",
        "--plot",
        s(&plots),
    ])))
    .unwrap();
    valid(&m, "the merged report");
    // Totals add.
    for k in ["attempted", "completed", "in_flight"] {
        assert_eq!(
            m["connections"][k].as_u64().unwrap(),
            ja["connections"][k].as_u64().unwrap() + jb["connections"][k].as_u64().unwrap(),
            "connections.{k}"
        );
    }
    for (cause, n) in m["connections"]["failed"].as_object().unwrap() {
        let want = ja["connections"]["failed"][cause].as_u64().unwrap()
            + jb["connections"]["failed"][cause].as_u64().unwrap();
        assert_eq!(n.as_u64(), Some(want), "failed.{cause}");
    }
    for k in ["tx", "rx", "retransmitted"] {
        assert_eq!(
            m["packets"][k].as_u64().unwrap(),
            ja["packets"][k].as_u64().unwrap() + jb["packets"][k].as_u64().unwrap()
        );
    }
    // Percentiles are those of the two runs' histograms merged by hand.
    for p in PHASES {
        let mut h = decode(ja["histograms"]["phases"][p].as_str().unwrap());
        h.add(decode(jb["histograms"]["phases"][p].as_str().unwrap()))
            .unwrap();
        same_summary(&m["latency_us"][p], &h, &format!("merged {p}"));
    }
    // Periods add, second by second.
    let rows = |v: &Value| v["intervals"]["rows"].as_array().unwrap().clone();
    let (ra, rb, rm) = (rows(&ja), rows(&jb), rows(&m));
    assert_eq!(rm.len(), ra.len().max(rb.len()));
    for (i, r) in rm.iter().enumerate() {
        let get = |rs: &[Value], k: &str| rs.get(i).map_or(0, |r| r[k].as_u64().unwrap());
        assert_eq!(
            r["completed"].as_u64().unwrap(),
            get(&ra, "completed") + get(&rb, "completed")
        );
    }
    // The total duration is the longer run's, and the CPS is the sum's over it.
    let d = ja["duration_s"]
        .as_f64()
        .unwrap()
        .max(jb["duration_s"].as_f64().unwrap());
    assert_eq!(m["duration_s"].as_f64(), Some(d));
    // Plots.
    for f in [
        "latency-spectrum.svg",
        "cps.svg",
        "failures.svg",
        "latency.svg",
    ] {
        let svg = std::fs::read_to_string(plots.join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "{f} has lines"
        );
    }
    // The same merge from the two HdrHistogram logs: the same latencies.
    let ml: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&ha),
        s(&hb),
        "--format",
        "json",
    ])))
    .unwrap();
    valid(&ml, "the report of two logs");
    // The merged log written by `report --hlog` holds the same latencies again.
    let merged_log = dir.join("merged.hlog");
    ok(&synfin(&["report", s(&a), s(&b), "--hlog", s(&merged_log)]));
    let mm: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&merged_log),
        "--format",
        "json",
    ])))
    .unwrap();
    for p in PHASES {
        assert_eq!(
            mm["latency_us"][p], m["latency_us"][p],
            "{p} from the merged log"
        );
    }
    for p in PHASES {
        assert_eq!(ml["latency_us"][p], m["latency_us"][p], "{p} from the logs");
    }
    // The merged per-second rows as CSV.
    let mcsv = dir.join("merged.csv");
    ok(&synfin(&["report", s(&a), s(&b), "--csv", s(&mcsv)]));
    let text = std::fs::read_to_string(&mcsv).unwrap();
    assert_eq!(text.lines().count(), rm.len() + 1);
    let completed: u64 = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(completed, m["connections"]["completed"].as_u64().unwrap());
    // One report re-rendered as text gives the text of the run.
    let text = ok(&synfin(&["report", s(&a), "--spectrum"]));
    assert!(text.contains("connections"), "{text}");
    assert!(text.contains("1/(1-Percentile)"), "{text}");
    // Logs and reports are not mixed; nonsense is a usage error.
    let junk = dir.join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    // A log of another tool, untagged: nothing to say which phase it measured.
    let untagged = dir.join("untagged.hlog");
    let text = std::fs::read_to_string(&ha).unwrap();
    std::fs::write(&untagged, text.replace("Tag=connect,", "")).unwrap();
    let only_untagged: String = text
        .lines()
        .filter(|l| l.starts_with("Tag=connect,"))
        .map(|l| format!("{}\n", l.trim_start_matches("Tag=connect,")))
        .collect();
    let other = dir.join("other.hlog");
    std::fs::write(&other, only_untagged).unwrap();
    // Untagged intervals beside tagged ones are left out; the rest is reported.
    let partial = ok(&synfin(&["report", s(&untagged), "--format", "json"]));
    let partial: Value = serde_json::from_str(&partial).unwrap();
    assert_eq!(partial["latency_us"]["connect"]["count"], 0);
    assert_eq!(partial["latency_us"]["ttfb"], ml_ttfb(&ha));
    for args in [
        vec!["report", s(&a), s(&ha)],
        vec!["report", s(&junk)],
        vec!["report", s(&other)],
        vec!["report", "/nonexistent/synfin.json"],
        vec!["report"],
    ] {
        let out = synfin(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn progress_only_when_asked_or_on_a_terminal() {
    let args = |p: &'static str| {
        vec![
            "run",
            "--io",
            "mem",
            "-n",
            "3k",
            "--rate",
            "1k",
            "--virtual-time",
            "--progress",
            p,
        ]
    };
    let on = synfin(&args("on"));
    ok(&on);
    let err = String::from_utf8_lossy(&on.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("cps")).collect();
    assert!(lines.len() >= 3, "a line per second: {err}");
    for l in &lines {
        assert!(l.contains("in flight") && l.contains("failed") && l.contains("connect p99"));
        assert!(l.contains("time-wait"), "{l}");
    }
    // The test's stderr is a pipe, not a terminal: `auto` prints nothing.
    for p in ["auto", "off"] {
        let out = synfin(&args(p));
        ok(&out);
        assert!(
            out.stderr.is_empty(),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_unwritable_output_is_a_usage_error() {
    for opt in ["--csv", "--hlog", "--plot"] {
        let out = synfin(&["run", "-n", "10", opt, "/dev/null/x"]);
        assert_eq!(out.status.code(), Some(2), "{opt}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{opt}: {err}");
    }
}

/// The per-second rows come out of the kernel-socket datapath too: a binary run
/// against a loopback server of the library, rows adding up to the report.
#[cfg(target_os = "linux")]
#[test]
fn socket_runs_have_rows_that_add_up() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use synfin::io::socket::{SocketServer, SocketServerConfig};
    let (server, addr) = SocketServer::bind(SocketServerConfig {
        threads: 1,
        duration: Some(std::time::Duration::from_secs(30)),
        ..SocketServerConfig::default()
    })
    .expect("bind a loopback server");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || server.run(&flag));
    let dir = scratch("socket");
    let csv = dir.join("run.csv");
    let dst = addr.to_string();
    let out = synfin(&[
        "run",
        "--io",
        "socket",
        "--dst",
        &dst,
        "-n",
        "3000",
        "--rate",
        "2k",
        "--concurrency",
        "50",
        "--format",
        "json",
        "--progress",
        "on",
        "--csv",
        s(&csv),
    ]);
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    let j: Value = serde_json::from_str(&ok(&out)).unwrap();
    valid(&j, "the report of a socket run");
    let rows = j["intervals"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 2, "1.5 s give two periods: {rows:?}");
    let completed: u64 = rows.iter().map(|r| r["completed"].as_u64().unwrap()).sum();
    assert_eq!(completed, j["connections"]["completed"].as_u64().unwrap());
    let connects: u64 = rows
        .iter()
        .map(|r| r["latency_us"]["connect"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        connects,
        j["latency_us"]["connect"]["count"].as_u64().unwrap()
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    // Kernel sockets: the kernel holds TIME-WAIT, the progress line says so.
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("cps")).collect();
    assert!(!lines.is_empty(), "{err}");
    for l in lines {
        let n = l
            .split("kernel time-wait ")
            .nth(1)
            .expect("the kernel's count");
        assert!(n.parse::<u64>().is_ok(), "{l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A saved report re-rendered by `synfin report` is the report: the JSON comes
/// back identical, histograms, per-second rows and all.
#[test]
fn report_of_one_saved_run_is_that_run() {
    let dir = scratch("rerender");
    // A small cap, so that the counters include waits for it.
    let j = run_json("9", &["--concurrency", "8"]);
    assert!(j["connections"]["deferred_by_cap"].as_u64().unwrap() > 0);
    valid(&j, "a report with waits for the cap");
    let f = dir.join("run.json");
    std::fs::write(&f, serde_json::to_string_pretty(&j).unwrap()).unwrap();
    let again: Value =
        serde_json::from_str(&ok(&synfin(&["report", s(&f), "--format", "json"]))).unwrap();
    assert_eq!(again, j);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ttfb summary of a log on its own, as `synfin report` gives it.
fn ml_ttfb(log: &Path) -> Value {
    let v: Value =
        serde_json::from_str(&ok(&synfin(&["report", s(log), "--format", "json"]))).unwrap();
    v["latency_us"]["ttfb"].clone()
}

/// Asserts that every key of `v` is declared in `schema` (at every object the
/// sweep schema describes itself; the steps' reports are the run schema's), so
/// that a field added to the sweep's JSON without the schema fails here.
#[track_caller]
fn declared(v: &Value, schema: &Value, root: &Value, at: &str) {
    let schema = match schema["$ref"].as_str() {
        Some(r) if r.starts_with("#/$defs/") => &root["$defs"][&r["#/$defs/".len()..]],
        Some(_) => return,
        None => schema,
    };
    if let (Some(o), Some(props)) = (v.as_object(), schema["properties"].as_object()) {
        for (k, x) in o {
            let s = props
                .get(k)
                .unwrap_or_else(|| panic!("{at}.{k} is not in results/sweep-schema.json"));
            declared(x, s, root, &format!("{at}.{k}"));
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            declared(x, items, root, &format!("{at}[{i}]"));
        }
    }
}

/// A sweep over the in-memory wire on a virtual clock: at most 64 connections
/// open, each living about 600 µs, carry about 100 k connections per second, so
/// 5k and 10k pass and 200k falls behind its schedule and fails the bound.
#[test]
fn a_sweep_writes_one_csv_one_hlog_and_plots_per_step_and_its_json_has_a_schema() {
    let dir = scratch("sweep");
    let (csv, hlog, plots) = (dir.join("s.csv"), dir.join("s.hlog"), dir.join("plots"));
    let j: Value = serde_json::from_str(&ok(&synfin(&[
        "run",
        "--io",
        "mem",
        "--virtual-time",
        "--steps",
        "5k,10k,200k",
        "--step-duration",
        "2s",
        "--concurrency",
        "64",
        "--delay",
        "100us",
        "--slo",
        "connect.p99<1ms",
        "--format",
        "json",
        "--progress",
        "off",
        "--csv",
        s(&csv),
        "--hlog",
        s(&hlog),
        "--plot",
        s(&plots),
    ])))
    .expect("the sweep's JSON");

    // The JSON matches its schema, declares every field, and a renamed field fails.
    sweep_schema::assert_valid(&j, "the sweep");
    let schema = sweep_schema::schema("sweep-schema.json");
    declared(&j, &schema, &schema, "sweep JSON");
    let renamed = |path: &[&str], key: &str| {
        let mut v = j.clone();
        let mut o = &mut v;
        for p in path {
            o = match p.parse::<usize>() {
                Ok(i) => &mut o[i],
                Err(_) => &mut o[*p],
            };
        }
        let m = o.as_object_mut().unwrap();
        let x = m.remove(key).expect(key);
        m.insert(format!("{key}_renamed"), x);
        v
    };
    for (path, key) in [
        (&[][..], "synfin_version"),
        (&["sweep"][..], "capacity_cps"),
        (&["sweep", "slo"][..], "bound_us"),
        (&["sweep", "steps", "0"][..], "slo_value_us"),
        (&["sweep", "steps", "2"][..], "why"),
        (
            &["sweep", "steps", "1", "report", "connections"][..],
            "completed",
        ),
    ] {
        assert!(
            !sweep_schema::errors(&renamed(path, key)).is_empty(),
            "{path:?}.{key} renamed still matches"
        );
    }
    let mut passed_with_a_reason = j.clone();
    passed_with_a_reason["sweep"]["steps"][0]["why"] = "slow".into();
    assert!(!sweep_schema::errors(&passed_with_a_reason).is_empty());

    let steps = j["sweep"]["steps"].as_array().unwrap();
    let pass: Vec<bool> = steps.iter().map(|s| s["pass"].as_bool().unwrap()).collect();
    assert_eq!(pass, [true, true, false], "{}", j["sweep"]);
    assert_eq!(j["sweep"]["capacity_cps"], 10_000.0);
    let labels = ["step-5000", "step-10000", "step-200000"];

    // The CSV: one header, each step's rows after the previous step's behind a
    // `step_rate` column, the run's columns after it; each step's rows add up to
    // its report.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["step_rate", "t_s", "duration_s"]);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut order = Vec::new();
    for r in &body {
        assert_eq!(r.len(), header.len());
        if order.last() != Some(&r[0]) {
            order.push(r[0]);
        }
    }
    assert_eq!(
        order,
        ["5000", "10000", "200000"],
        "steps one after another"
    );
    for s in steps {
        let rate = s["rate"].as_f64().unwrap().to_string();
        let mine: Vec<&Vec<&str>> = body.iter().filter(|r| r[0] == rate).collect();
        let report = &s["report"];
        let rows = report["intervals"]["rows"].as_array().unwrap();
        assert!(rows.len() >= 2, "{rate}: {} rows", rows.len());
        assert_eq!(mine.len(), rows.len(), "{rate}");
        let sum = |name: &str| -> u64 {
            mine.iter()
                .map(|r| r[col(name)].parse::<u64>().unwrap())
                .sum()
        };
        let c = &report["connections"];
        assert_eq!(sum("completed"), c["completed"].as_u64().unwrap(), "{rate}");
        assert_eq!(sum("attempted"), c["attempted"].as_u64().unwrap(), "{rate}");
        assert_eq!(sum("failed"), report::accounted(c).failed, "{rate}");
        assert_eq!(
            sum("connect_count"),
            report["latency_us"]["connect"]["count"].as_u64().unwrap(),
            "{rate}"
        );
    }

    // The log, read with the hdrhistogram crate's reader: histograms tagged
    // `step-<rate>/<phase>`, one per phase per row of each step, adding up to each
    // step's latencies, timestamps going on from step to step.
    let text = std::fs::read(&hlog).unwrap();
    let mut sums: Vec<Vec<Histogram<u64>>> = labels
        .iter()
        .map(|_| {
            PHASES
                .iter()
                .map(|_| Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap())
                .collect()
        })
        .collect();
    let mut counts = [0usize; 3];
    let (mut start_time, mut last_step, mut last_end) = (false, 0, 0.0f64);
    for e in IntervalLogIterator::new(&text) {
        match e.expect("the log parses") {
            LogEntry::StartTime(_) => start_time = true,
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(iv) => {
                let tag = iv.tag().expect("every interval is tagged").as_str();
                let (step, phase) = tag.split_once('/').expect("step-<rate>/<phase>");
                let si = labels.iter().position(|l| *l == step).expect(step);
                let pi = PHASES.iter().position(|p| *p == phase).expect(phase);
                counts[si] += 1;
                sums[si][pi].add(decode(iv.encoded_histogram())).unwrap();
                let start = iv.start_timestamp().as_secs_f64();
                assert!(si >= last_step, "{tag}: steps in order");
                if si > last_step {
                    assert!(
                        start + 0.001 >= last_end,
                        "{tag} at {start} overlaps {last_end}"
                    );
                    last_step = si;
                }
                last_end = last_end.max(start + iv.duration().as_secs_f64());
            }
        }
    }
    assert!(start_time, "the log says when the sweep started");
    for (si, s) in steps.iter().enumerate() {
        let report = &s["report"];
        let rows = report["intervals"]["rows"].as_array().unwrap().len();
        assert_eq!(counts[si], rows * PHASES.len(), "{}", labels[si]);
        for (pi, p) in PHASES.iter().enumerate() {
            same_summary(
                &report["latency_us"][p],
                &sums[si][pi],
                &format!("{} {p}", labels[si]),
            );
        }
    }

    // The plots: a run's charts per step, and the sweep's own.
    for l in labels {
        for f in [
            "latency-spectrum.svg",
            "cps.svg",
            "failures.svg",
            "latency.svg",
        ] {
            let svg = std::fs::read_to_string(plots.join(l).join(f)).unwrap();
            assert!(svg.contains("<svg"), "{l}/{f}");
        }
    }
    let svg = std::fs::read_to_string(plots.join("sweep.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("connect p99"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_sweep_output_is_a_usage_error_before_any_step() {
    for opt in ["--csv", "--hlog", "--plot"] {
        let out = synfin(&[
            "run",
            "--io",
            "mem",
            "--virtual-time",
            "--steps",
            "1k",
            "--step-duration",
            "100ms",
            opt,
            "/dev/null/x",
        ]);
        assert_eq!(out.status.code(), Some(2), "{opt}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{opt}: {err}");
        assert!(err.contains("/dev/null/x"), "{opt}: {err}");
        assert!(out.stdout.is_empty(), "{opt}: no step ran");
    }
}

/// Every histogram of an interval log, summed by tag (read with the crate's reader).
fn hlog_by_tag(path: &Path) -> std::collections::BTreeMap<String, Histogram<u64>> {
    let text = std::fs::read(path).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for e in IntervalLogIterator::new(&text) {
        if let LogEntry::Interval(iv) = e.expect("the log parses") {
            let tag = iv.tag().expect("tagged").as_str().to_owned();
            out.entry(tag)
                .or_insert_with(|| Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap())
                .add(decode(iv.encoded_histogram()))
                .unwrap();
        }
    }
    out
}

/// `synfin report` of a saved sweep: its JSON alone is the sweep again (the same
/// JSON, the table, the same files); `--step RATE` takes one step of the sweep's
/// JSON or log as a run (merged with the same step of another sweep, say); a log
/// of one step is that step; anything else is one line and exit status 2.
#[test]
fn report_of_a_saved_sweep_is_the_sweep_or_one_step() {
    let dir = scratch("sweep-report");
    let (csv, hlog) = (dir.join("s.csv"), dir.join("s.hlog"));
    let out = ok(&synfin(&[
        "run",
        "--io",
        "mem",
        "--virtual-time",
        "--steps",
        "2k,4k",
        "--step-duration",
        "1s",
        "--concurrency",
        "64",
        "--slo",
        "connect.p99<1s",
        "--format",
        "json",
        "--progress",
        "off",
        "--csv",
        s(&csv),
        "--hlog",
        s(&hlog),
    ]));
    let j: Value = serde_json::from_str(&out).unwrap();
    let steps = j["sweep"]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{}", j["sweep"]);
    let f = dir.join("s.json");
    std::fs::write(&f, &out).unwrap();

    // The sweep again: the same JSON, and its table.
    let again: Value =
        serde_json::from_str(&ok(&synfin(&["report", s(&f), "--format", "json"]))).unwrap();
    assert_eq!(again, j);
    sweep_schema::assert_valid(&again, "the sweep re-rendered");
    let text = ok(&synfin(&["report", s(&f)]));
    assert!(text.contains("capacity sweep"), "{text}");
    assert!(text.contains("capacity: 4000 connections/s"), "{text}");

    // Its files again: the same CSV, the same histograms under the same tags, the
    // plots of every step and of the sweep.
    let (csv2, hlog2, plots) = (dir.join("2.csv"), dir.join("2.hlog"), dir.join("plots"));
    ok(&synfin(&[
        "report",
        s(&f),
        "--csv",
        s(&csv2),
        "--hlog",
        s(&hlog2),
        "--plot",
        s(&plots),
    ]));
    assert_eq!(
        std::fs::read_to_string(&csv2).unwrap(),
        std::fs::read_to_string(&csv).unwrap()
    );
    let (h1, h2) = (hlog_by_tag(&hlog), hlog_by_tag(&hlog2));
    assert_eq!(h1.len(), 2 * PHASES.len(), "{:?}", h1.keys());
    assert_eq!(h1, h2);
    // Byte for byte: the same start time and interval timestamps (the sweep's
    // JSON gives its start; before, the log was rewritten from the first step's,
    // about a millisecond later).
    assert_eq!(
        std::fs::read_to_string(&hlog2).unwrap(),
        std::fs::read_to_string(&hlog).unwrap()
    );
    for l in ["step-2000", "step-4000"] {
        assert!(plots.join(l).join("latency-spectrum.svg").exists(), "{l}");
    }
    assert!(plots.join("sweep.svg").exists());

    // One step of the JSON is that step's report; of the log, its latencies.
    let step: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&f),
        "--step",
        "4k",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(step, steps[1]["report"]);
    let from_log: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&hlog),
        "--step",
        "4000",
        "--format",
        "json",
    ])))
    .unwrap();
    valid(&from_log, "a step of a sweep's log");
    assert_eq!(from_log["latency_us"], steps[1]["report"]["latency_us"]);
    let rows = |v: &Value| v["intervals"]["rows"].as_array().unwrap().len();
    assert_eq!(rows(&from_log), rows(&steps[1]["report"]));
    // A log holding one step is read as that step.
    let one = dir.join("one.hlog");
    let text = std::fs::read_to_string(&hlog).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("Tag=step-4000/"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&one, kept).unwrap();
    let one: Value =
        serde_json::from_str(&ok(&synfin(&["report", s(&one), "--format", "json"]))).unwrap();
    assert_eq!(one["latency_us"], steps[0]["report"]["latency_us"]);
    // The same step of two sweeps (two hosts, say) merges as two runs do.
    let merged: Value = serde_json::from_str(&ok(&synfin(&[
        "report",
        s(&f),
        s(&f),
        "--step",
        "2k",
        "--format",
        "json",
    ])))
    .unwrap();
    valid(&merged, "the merge of two sweeps' step");
    let c = |v: &Value| v["connections"]["completed"].as_u64().unwrap();
    assert_eq!(c(&merged), 2 * c(&steps[0]["report"]));

    // A sweep stopped before its first step: the same JSON, and no capacity.
    let mut none = j.clone();
    none["io"] = Value::Null;
    none["sweep"]["steps"] = Value::Array(vec![]);
    none["sweep"]["capacity_cps"] = Value::Null;
    sweep_schema::assert_valid(&none, "a sweep of no step");
    let fnone = dir.join("none.json");
    std::fs::write(&fnone, none.to_string()).unwrap();
    let again: Value =
        serde_json::from_str(&ok(&synfin(&["report", s(&fnone), "--format", "json"]))).unwrap();
    assert_eq!(again, none);
    let text = ok(&synfin(&["report", s(&fnone)]));
    assert!(text.contains("capacity: unknown (no step ran)"), "{text}");

    // Bad input: one line each, exit status 2, saying what the file is.
    let run = dir.join("run.json");
    std::fs::write(&run, steps[0]["report"].to_string()).unwrap();
    // Damaged files: times no run has would overflow the clocks.
    let damaged = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = j.clone();
        edit(&mut v);
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let long_steps = damaged("d1.json", &|v| v["sweep"]["step_duration_s"] = 1e30.into());
    let late_row = damaged("d2.json", &|v| {
        v["sweep"]["steps"][0]["report"]["intervals"]["rows"][0]["t_s"] = 1e30.into();
    });
    let long_run = dir.join("d3.json");
    let mut v = steps[0]["report"].clone();
    v["duration_s"] = 1e30.into();
    std::fs::write(&long_run, v.to_string()).unwrap();
    let late_log = dir.join("d4.hlog");
    let text = std::fs::read_to_string(&hlog).unwrap();
    let first = text.lines().find(|l| l.starts_with("Tag=")).unwrap();
    let mut fields: Vec<&str> = first.split(',').collect();
    fields[1] = "18446744073709551615.000";
    std::fs::write(&late_log, text.replace(first, &fields.join(","))).unwrap();
    for (args, says) in [
        (vec![s(&long_steps)], "step_duration_s"),
        (vec![s(&late_row), "--hlog", s(&hlog2)], "rows[0].t_s"),
        (vec![s(&long_run)], "duration_s"),
        (vec![s(&late_log), "--step", "2k"], "a damaged log"),
        (
            vec![s(&f), s(&run)],
            "is a capacity sweep (steps 2000, 4000)",
        ),
        (
            vec![s(&hlog)],
            "log of 2 steps (2000, 4000): pick one with --step",
        ),
        (vec![s(&f), "--step", "3k"], "no step at 3000 connections/s"),
        (
            vec![s(&hlog), "--step", "3k"],
            "no step at 3000 connections/s",
        ),
        (vec![s(&run), "--step", "2k"], "not a capacity sweep's"),
        (vec![s(&f), "--spectrum"], "--step RATE"),
        (vec![s(&f), "--step", "max"], "not 'max'"),
    ] {
        let mut a = vec!["report"];
        a.extend(&args);
        let out = synfin(&a);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
