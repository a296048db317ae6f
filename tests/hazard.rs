//! `synfin hazard` against the kernel on real test beds (root; CI runs as root). The
//! assertions are the kernel behaviour observed and documented in results/time-wait.md
//! on Linux 6.18, so that a kernel change or a synfin regression shows up here.

use std::process::{Command, Stdio};

#[path = "common/root.rs"]
mod root;
use root::{is_root, namespaces};

fn hazard(args: &[&str]) -> serde_json::Value {
    let child = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .arg("hazard")
        .args(args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synfin runs");
    let name = format!("hz{}-", child.id() % 100_000);
    let out = child.wait_with_output().expect("synfin ends");
    assert!(
        out.status.success(),
        "hazard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = namespaces();
    assert!(!left.contains(&name), "test bed {name} left behind: {left}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for r in v["rows"].as_array().expect("rows") {
        assert!(r["error"].is_null(), "{r}");
        for s in r["sysctls"].as_array().unwrap() {
            assert_eq!(s["restored"], true, "{s}");
        }
    }
    v
}

fn find<'a>(
    rows: &'a [serde_json::Value],
    want: &[(&str, serde_json::Value)],
) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| want.iter().all(|(k, v)| r["variant"][*k] == *v))
        .unwrap_or_else(|| panic!("no row {want:?}"))
}

#[test]
fn old_duplicate_is_stopped_by_paws_or_the_ack_check_and_accepted_otherwise() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let v = hazard(&["old-duplicate"]);
    let rows = v["rows"].as_array().unwrap();
    let sends = 4u64 << 20;
    for r in rows {
        // Connection A itself got both segments.
        assert_eq!(r["bytes_a"], 200, "{r}");
    }
    // Timestamps on both sides: PAWS drops the old segment, whatever the DUT sent.
    for s in [0, sends] {
        let r = find(
            rows,
            &[
                ("dut_timestamps", true.into()),
                ("client_timestamps", true.into()),
                ("dut_sends", s.into()),
            ],
        );
        assert_eq!(r["timestamps_negotiated"], true, "{r}");
        assert_eq!(r["accepted"], false, "{r}");
        assert!(
            r["dut_counters"]["TcpExtPAWSEstab"].as_u64().unwrap() > 0,
            "{r}"
        );
    }
    let mut accepted = 0;
    for (dut, client) in [(true, false), (false, true), (false, false)] {
        let key = [
            ("dut_timestamps", dut.into()),
            ("client_timestamps", client.into()),
            ("isn_in_window", true.into()),
        ];
        // No timestamps, the DUT sent nothing: the old ACK number is behind anything
        // the new connection had acknowledged; RFC 5961 ACK check, challenge ACK.
        let quiet = find(
            rows,
            &[
                key[0].clone(),
                key[1].clone(),
                key[2].clone(),
                ("dut_sends", 0.into()),
            ],
        );
        assert_eq!(quiet["timestamps_negotiated"], false, "{quiet}");
        assert_eq!(quiet["accepted"], false, "{quiet}");
        assert!(
            quiet["dut_counters"]["TcpExtTCPChallengeACK"]
                .as_u64()
                .unwrap()
                > 0,
            "{quiet}"
        );
        // No timestamps, the DUT sent more than its ISN clock moved between the two
        // connections: the old bytes are taken as the new connection's. (On a machine
        // so slow that the ISN clock outran the transfer, the ACK check rejects it
        // instead, and says so.)
        let busy = find(
            rows,
            &[
                key[0].clone(),
                key[1].clone(),
                key[2].clone(),
                ("dut_sends", sends.into()),
            ],
        );
        let advance = busy["dut_isn_advance"].as_u64().unwrap();
        if advance < sends - 1024 {
            assert_eq!(busy["accepted"], true, "{busy}");
            assert_eq!(busy["dut_answer"], "ACK ack=+100", "{busy}");
            accepted += 1;
        } else if advance > sends + 1024 {
            assert_eq!(busy["accepted"], false, "{busy}");
            assert!(
                busy["dut_counters"]["TcpExtTCPChallengeACK"]
                    .as_u64()
                    .unwrap()
                    > 0,
                "{busy}"
            );
        }
    }
    assert!(
        accepted > 0,
        "the old duplicate was never reproduced: {rows:?}"
    );
    // The control: outside the window, never accepted.
    let out = find(rows, &[("isn_in_window", false.into())]);
    assert_eq!(out["accepted"], false, "{out}");
}

#[test]
fn lost_last_ack_and_time_wait_on_the_dut() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let v = hazard(&["lost-last-ack", "--wait", "1500ms"]);
    let rows = v["rows"].as_array().unwrap();
    let last_ack = |on: &str, ts: bool| {
        find(
            rows,
            &[
                ("dut_state", "last_ack".into()),
                ("on_answer", on.into()),
                ("client_timestamps", ts.into()),
            ],
        )
    };
    for (on, ts) in [
        ("rst", true),
        ("late_ack", true),
        ("silent", true),
        ("rst", false),
    ] {
        let r = last_ack(on, ts);
        assert_eq!(r["state_before"], "LAST-ACK", "{r}");
        // A SYN into LAST-ACK gets an ACK (RFC 5961 challenge ACK), not a SYN-ACK.
        assert_eq!(r["first_answer"], "ACK", "{r}");
        assert!(
            r["dut_counters"]["TcpExtTCPChallengeACK"].as_u64().unwrap() > 0,
            "{r}"
        );
        if on == "silent" {
            assert!(r["opened_after_ms"].is_null(), "{r}");
        } else {
            assert!(r["opened_after_ms"].is_u64(), "{r}");
        }
    }
    let tw = |ts: bool, above: bool, rfc1337: bool| {
        find(
            rows,
            &[
                ("dut_state", "time_wait".into()),
                ("client_timestamps", ts.into()),
                ("isn_above", above.into()),
                ("rfc1337", rfc1337.into()),
            ],
        )
    };
    // A SYN into TIME-WAIT with a higher ISN, or a newer timestamp, reopens at once.
    for (ts, above) in [(true, true), (true, false)] {
        let r = tw(ts, above, false);
        assert_eq!(r["state_before"], "TIME-WAIT", "{r}");
        assert_eq!(r["first_answer"], "SYN-ACK", "{r}");
        assert_eq!(r["syns"], 1, "{r}");
    }
    // Lower ISN, no timestamps: the TIME-WAIT ACK; our RST ends TIME-WAIT unless
    // tcp_rfc1337=1.
    let r = tw(false, false, false);
    assert_eq!(r["first_answer"], "ACK", "{r}");
    assert!(r["opened_after_ms"].is_u64(), "{r}");
    let r = tw(false, false, true);
    assert_eq!(r["first_answer"], "ACK", "{r}");
    assert!(r["opened_after_ms"].is_null(), "{r}");
}
