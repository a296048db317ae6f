//! Tests of the stats module as a whole: merge, report schema, percentiles, text.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// Deterministic pseudo-random latencies (xorshift), spread over ns .. seconds.
fn latencies(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 5_000_000_000) >> (x % 24)
        })
        .collect()
}

#[test]
fn merging_two_recorders_equals_recording_into_one() {
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    let mut one = Recorder::new();
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        for v in latencies(11 + i as u64, 20_000) {
            a.record(phase, v);
            one.record(phase, v);
        }
        for v in latencies(97 + i as u64, 13_000) {
            b.record(phase, v);
            one.record(phase, v);
        }
    }
    a.counters.attempted = 100;
    a.counters.completed = 90;
    a.counters.fail(FailCause::Refused);
    a.counters.tw_peak = 7;
    b.counters.attempted = 50;
    b.counters.completed = 40;
    b.counters.fail(FailCause::SynTimeout);
    b.counters.tw_peak = 5;
    one.counters = a.counters.clone();
    one.counters.merge(&b.counters);

    let mut merged = a.clone();
    merged.merge(&b);
    let also = Recorder::merged([&a, &b]);

    for m in [&merged, &also] {
        for phase in Phase::ALL {
            let (hm, h1) = (m.histogram(phase), one.histogram(phase));
            assert_eq!(hm.len(), 33_000, "{phase}");
            assert_eq!(hm, h1, "{phase}: histograms differ");
            assert_eq!(LatencySummary::of(&hm), LatencySummary::of(&h1), "{phase}");
            assert_eq!(hm.min(), h1.min());
        }
        assert_eq!(m.counters, one.counters);
        assert_eq!(m.counters.tw_peak, 12);
        assert_eq!(m.counters.in_flight(), 150 - 130 - 2);
    }
    // And the reports agree, number for number.
    let d = Duration::from_secs(3);
    assert_eq!(
        Report::new(merged, "mem", d).to_json(),
        Report::new(one, "mem", d).to_json()
    );
}

/// Every key later tools rely on, as dotted paths.
const REQUIRED_KEYS: &[&str] = &[
    "synfin_version",
    "io",
    "config",
    "duration_s",
    "connections.attempted",
    "connections.completed",
    "connections.failed",
    "connections.in_flight",
    "connections.deferred_by_cap",
    "cps",
    "latency_us.connect.count",
    "latency_us.connect.p50",
    "latency_us.connect.p90",
    "latency_us.connect.p99",
    "latency_us.connect.p999",
    "latency_us.connect.max",
    "latency_us.connect.mean",
    "latency_us.ttfb.count",
    "latency_us.ttfb.p50",
    "latency_us.ttfb.p90",
    "latency_us.ttfb.p99",
    "latency_us.ttfb.p999",
    "latency_us.ttfb.max",
    "latency_us.ttfb.mean",
    "latency_us.close.count",
    "latency_us.close.p50",
    "latency_us.close.p90",
    "latency_us.close.p99",
    "latency_us.close.p999",
    "latency_us.close.max",
    "latency_us.close.mean",
    "latency_us.lifecycle.count",
    "latency_us.lifecycle.p50",
    "latency_us.lifecycle.p90",
    "latency_us.lifecycle.p99",
    "latency_us.lifecycle.p999",
    "latency_us.lifecycle.max",
    "latency_us.lifecycle.mean",
    "packets.tx",
    "packets.rx",
    "packets.retransmitted",
    "packets.tx_dropped",
    "packets.rx_invalid",
    "packets.rx_no_conn",
    "packets.rst_sent",
    "packets.rst_received",
    "packets.challenge_acks",
    "packets.paws_rejected",
    "time_wait.entered",
    "time_wait.peak",
    "time_wait.current",
    "time_wait.hazard_reuses",
    "time_wait.reused",
    "time_wait.overflow",
    "time_wait.fin_reacked",
    "server",
    "notes",
];

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.as_object()?.get(k))
}

/// Dotted paths of every leaf (and of every empty object/array/null) in `v`.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// Keys added by the outputs of issue 5 (exact merges, per-second rows).
const ADDED_KEYS: &[&str] = &[
    "packets.tx_bytes",
    "packets.rx_bytes",
    "histograms.encoding",
    "histograms.unit",
    "histograms.phases.connect",
    "histograms.phases.ttfb",
    "histograms.phases.close",
    "histograms.phases.lifecycle",
    "intervals.period_s",
    "intervals.rows",
    "started_unix_s",
];

#[test]
fn json_has_exactly_the_required_keys() {
    let rep = Report::new(Recorder::new(), "mem", Duration::from_secs(1));
    let j = rep.to_json();
    for key in REQUIRED_KEYS.iter().chain(ADDED_KEYS) {
        assert!(lookup(&j, key).is_some(), "missing key {key}");
    }
    // Nothing else at the top level or in the fixed sections ("config" and
    // "server" hold what they are given; "connections.failed" is checked below).
    let mut all = Vec::new();
    leaves(&j, "", &mut all);
    for path in &all {
        let known = REQUIRED_KEYS.contains(&path.as_str())
            || ADDED_KEYS.contains(&path.as_str())
            || path.starts_with("connections.failed.")
            || path.starts_with("config.")
            || path.starts_with("server.");
        assert!(known, "unexpected key {path}");
    }
    assert_eq!(j["synfin_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["io"], "mem");
    assert_eq!(j["config"], json!({}));
    assert_eq!(j["duration_s"], 1.0);
    assert_eq!(j["server"], Value::Null);
    assert_eq!(j["notes"], json!([]));
}

#[test]
fn json_failed_has_every_cause_even_at_zero() {
    let mut r = Recorder::new();
    r.counters.attempted = 5;
    r.counters.fail(FailCause::ResetClosing);
    r.counters.fail(FailCause::ResetClosing);
    let j = Report::new(r, "mem", Duration::from_secs(1)).to_json();
    let failed = j["connections"]["failed"].as_object().unwrap();
    assert_eq!(failed.len(), FailCause::COUNT);
    for cause in FailCause::ALL {
        let want = if cause == FailCause::ResetClosing {
            2
        } else {
            0
        };
        assert_eq!(failed[cause.as_str()], want, "{cause}");
    }
    assert_eq!(j["connections"]["in_flight"], 3);
}

#[test]
fn json_carries_run_info_counters_and_server() {
    let mut r = Recorder::new();
    let c = &mut r.counters;
    c.attempted = 1000;
    c.completed = 990;
    c.fail(FailCause::SynTimeout);
    c.tx_packets = 5000;
    c.rx_packets = 4900;
    c.retransmitted = 12;
    c.rst_received = 1;
    c.paws_rejected = 2;
    c.tw_entered = 990;
    c.tw_peak = 600;
    c.tw_current = 500;
    c.tw_hazard_reuses = 3;
    c.tw_fin_reacked = 4;
    let mut server = Counters {
        attempted: 999,
        ..Counters::default()
    };
    server.fail(FailCause::DataTimeout);
    let mut rep = Report::new(r, "xdp", Duration::from_millis(2_500));
    rep.config = json!({"rate": 400, "tw_policy": "strict"});
    rep.server = Some(server);
    rep.notes.push("net.ipv4.tcp_tw_reuse = 2".to_owned());
    let j = rep.to_json();

    assert_eq!(j["io"], "xdp");
    assert_eq!(j["config"]["tw_policy"], "strict");
    assert_eq!(j["duration_s"], 2.5);
    assert_eq!(j["cps"], 396.0);
    assert_eq!(j["connections"]["attempted"], 1000);
    assert_eq!(j["connections"]["completed"], 990);
    assert_eq!(j["connections"]["in_flight"], 9);
    assert_eq!(j["packets"]["tx"], 5000);
    assert_eq!(j["packets"]["rx"], 4900);
    assert_eq!(j["packets"]["retransmitted"], 12);
    assert_eq!(j["packets"]["rst_received"], 1);
    assert_eq!(j["packets"]["paws_rejected"], 2);
    assert_eq!(j["time_wait"]["entered"], 990);
    assert_eq!(j["time_wait"]["peak"], 600);
    assert_eq!(j["time_wait"]["current"], 500);
    assert_eq!(j["time_wait"]["hazard_reuses"], 3);
    assert_eq!(j["time_wait"]["fin_reacked"], 4);
    assert_eq!(j["server"]["attempted"], 999);
    assert_eq!(j["server"]["failed"]["data_timeout"], 1);
    assert_eq!(
        j["server"]["failed"].as_object().unwrap().len(),
        FailCause::COUNT
    );
    assert_eq!(j["notes"], json!(["net.ipv4.tcp_tw_reuse = 2"]));
}

#[test]
fn empty_phases_report_zeros() {
    let j = Report::new(Recorder::new(), "mem", Duration::from_secs(1)).to_json();
    for phase in Phase::ALL {
        let l = &j["latency_us"][phase.as_str()];
        assert_eq!(l["count"], 0);
        for k in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert_eq!(l[k], 0.0, "{phase}.{k}");
        }
    }
}

/// Within HdrHistogram's precision at 3 significant figures (< 0.1 %), and never
/// below the true value (reported values are the highest equivalent ones).
fn assert_close(got_us: f64, want_us: f64, what: &str) {
    let tol = want_us * 0.001;
    assert!(
        got_us >= want_us - 1e-9 && got_us <= want_us + tol,
        "{what}: got {got_us} us, want {want_us} us (+{tol})"
    );
}

#[test]
fn percentiles_of_a_known_distribution() {
    // 1, 2, ..., 1000 us, once each, in the connect phase.
    let mut r = Recorder::new();
    for us in 1..=1000u64 {
        r.record(Phase::Connect, us * 1000);
    }
    let rep = Report::new(r, "mem", Duration::from_secs(1));
    let j = rep.to_json();
    let l = &j["latency_us"]["connect"];
    assert_eq!(l["count"], 1000);
    let get = |k: &str| l[k].as_f64().unwrap();
    assert_close(get("p50"), 500.0, "p50");
    assert_close(get("p90"), 900.0, "p90");
    assert_close(get("p99"), 990.0, "p99");
    assert_close(get("p999"), 999.0, "p999");
    assert_close(get("max"), 1000.0, "max");
    let mean = get("mean");
    assert!((mean - 500.5).abs() <= 500.5 * 0.001, "mean {mean}");
    // 3 decimals at most.
    for k in ["p50", "p90", "p99", "p999", "max", "mean"] {
        let v = get(k);
        assert_eq!(
            v,
            (v * 1000.0).round() / 1000.0,
            "{k} has more than 3 decimals"
        );
    }
    // The other phases saw nothing.
    assert_eq!(j["latency_us"]["ttfb"]["count"], 0);
}

#[test]
fn text_shows_phase_rows_and_only_nonzero_causes() {
    let mut r = Recorder::new();
    for us in 1..=1000u64 {
        r.record(Phase::Connect, us * 1000);
        r.record(Phase::Lifecycle, us * 4_560);
    }
    r.counters.attempted = 1200;
    r.counters.completed = 1000;
    for _ in 0..150 {
        r.counters.fail(FailCause::SynTimeout);
    }
    r.counters.fail(FailCause::Refused);
    r.counters.tx_bytes = 1_500_000;
    let mut rep = Report::new(r, "mem", Duration::from_secs(2));
    rep.notes.push("coordinated omission corrected".to_owned());
    let text = rep.to_text();

    let header = text.lines().next().unwrap();
    assert!(
        header.contains("mem") && header.contains("2.000 s"),
        "{header}"
    );
    assert!(header.contains("cps: 500.0"), "{header}");

    for phase in Phase::ALL {
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{phase} ")))
            .unwrap_or_else(|| panic!("no row for {phase} in\n{text}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields.len(), 8, "{row}");
    }
    let connect = text.lines().find(|l| l.contains("connect ")).unwrap();
    assert!(
        connect.contains("1000") && connect.contains("500us"),
        "{connect}"
    );
    let lifecycle = text.lines().find(|l| l.contains("lifecycle ")).unwrap();
    assert!(lifecycle.contains("4.56ms"), "{lifecycle}");
    let ttfb = text.lines().find(|l| l.contains("ttfb ")).unwrap();
    assert!(ttfb.contains(" 0 ") && ttfb.contains('-'), "{ttfb}");

    for needle in [
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "mean",
        "attempted",
        "in flight",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let cause_line = |name: &str| text.lines().find(|l| l.trim_start().starts_with(name));
    assert!(cause_line("syn_timeout").unwrap().contains("150"));
    assert!(cause_line("refused").unwrap().contains('1'));
    for cause in FailCause::ALL {
        if !matches!(cause, FailCause::SynTimeout | FailCause::Refused) {
            assert!(
                cause_line(cause.as_str()).is_none(),
                "{cause} is 0 yet shown"
            );
        }
    }
    assert!(text.contains("1.50 MB"));
    assert!(text.contains("coordinated omission corrected"));
    assert!(
        !text.contains("server"),
        "no server section without a server"
    );
}

#[test]
fn text_columns_line_up_and_server_is_shown() {
    let mut r = Recorder::new();
    r.record(Phase::Connect, 12_300);
    r.record(Phase::Close, 7_000_000_000);
    r.counters.attempted = 3;
    r.counters.completed = 2;
    let mut rep = Report::new(r, "mem", Duration::from_secs(1));
    let mut server = Counters {
        attempted: 2,
        completed: 2,
        ..Counters::default()
    };
    server.fail(FailCause::FinTimeout);
    rep.server = Some(server);
    let text = rep.to_text();

    // Every latency row is as wide as the header: right-aligned columns.
    let mut lines = text.lines().skip_while(|l| !l.starts_with("latency"));
    let header = lines.next().unwrap();
    for _ in Phase::ALL {
        let row = lines.next().unwrap();
        assert_eq!(
            row.chars().count(),
            header.chars().count(),
            "\n{header}\n{row}"
        );
    }
    assert!(text.contains("12.3us"));
    assert!(text.contains("7.00s"));
    let server_at = text
        .find("server (its own counters)")
        .expect("server section");
    assert!(text[server_at..].contains("fin_timeout"));
}

/// A kernel-socket server (the demo's DUT) counts payload bytes but no packets: its
/// block shows the bytes and leaves packets and TIME-WAIT to the kernel's counters
/// in the notes, instead of zeros; a packet-counting server shows everything.
#[test]
fn a_socket_servers_block_shows_bytes_not_zero_packets() {
    let server_block = |server: Counters| {
        let mut rep = Report::new(Recorder::new(), "xdp", Duration::from_secs(1));
        rep.server = Some(server);
        let text = rep.to_text();
        let at = text
            .find("server (its own counters)")
            .expect("server section");
        text[at..].to_owned()
    };
    let socket = server_block(Counters {
        attempted: 5,
        completed: 5,
        tx_bytes: 1280,
        rx_bytes: 320,
        ..Counters::default()
    });
    assert!(
        socket.contains("packets and TIME-WAIT are the kernel's"),
        "{socket}"
    );
    assert!(socket.contains("1.28 kB"), "{socket}");
    assert!(!socket.contains("time-wait"), "{socket}");
    assert!(!socket.contains("retransmitted"), "{socket}");

    let own = server_block(Counters {
        attempted: 5,
        completed: 5,
        tx_packets: 15,
        rx_packets: 20,
        tx_bytes: 1280,
        rx_bytes: 320,
        ..Counters::default()
    });
    assert!(own.contains("retransmitted"), "{own}");
    assert!(own.contains("time-wait"), "{own}");
    assert!(!own.contains("the kernel's"), "{own}");
}

#[test]
#[ignore = "prints a sample report; run with --ignored --nocapture to look at it"]
fn print_sample_report() {
    let mut r = Recorder::new();
    for (i, v) in latencies(5, 100_000).into_iter().enumerate() {
        r.record(Phase::ALL[i % 4], v / 100);
    }
    let c = &mut r.counters;
    c.attempted = 1_234_567;
    c.completed = 1_230_000;
    c.failed[FailCause::SynTimeout.index()] = 4_000;
    c.failed[FailCause::Refused.index()] = 500;
    c.tx_packets = 6_170_000;
    c.rx_packets = 6_160_000;
    c.tx_bytes = 400_000_000;
    c.rx_bytes = 410_000_000;
    c.tw_entered = 1_230_000;
    c.tw_peak = 600_000;
    let mut rep = Report::new(r, "xdp", Duration::from_secs_f64(10.0021));
    rep.server = Some(Counters {
        attempted: 1_230_100,
        completed: 1_230_000,
        ..Counters::default()
    });
    rep.notes.push("net.ipv4.tcp_tw_reuse = 2".to_owned());
    println!("{rep}");
    println!("{}", serde_json::to_string_pretty(&rep.to_json()).unwrap());
}
