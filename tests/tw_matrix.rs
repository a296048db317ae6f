//! `synfin tw-matrix --quick` on real test beds (root; CI runs as root): every row
//! runs, every sysctl it set is put back (and the host's are untouched), nothing is
//! left behind, and the directions the issue names hold — on one source address the
//! kernel client is limited by TIME-WAIT and tcp_tw_reuse=1 lifts it; the AF_XDP
//! client under `strict` never reuses a tuple inside 2·MSL, under `none` it reports
//! hazard reuses. Directions and counts only, no timing.

use std::process::{Command, Stdio};

#[path = "common/root.rs"]
mod root;
use root::{is_root, namespaces};
#[path = "common/report.rs"]
mod report;

const HOST_SYSCTLS: &[&str] = &[
    "net/ipv4/tcp_tw_reuse",
    "net/ipv4/tcp_tw_reuse_delay",
    "net/ipv4/tcp_timestamps",
    "net/ipv4/tcp_max_tw_buckets",
    "net/ipv4/ip_local_port_range",
];

fn host_sysctls() -> Vec<String> {
    HOST_SYSCTLS
        .iter()
        .map(|k| std::fs::read_to_string(format!("/proc/sys/{k}")).unwrap_or_default())
        .collect()
}

fn row<'a>(
    rows: &'a [serde_json::Value],
    client: &str,
    setting: &str,
    policy: Option<&str>,
) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| {
            r["client"] == client
                && r["close"] == "client"
                && r["setting"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(setting))
                && r["policy"].as_str() == policy
        })
        .unwrap_or_else(|| panic!("no row {client} {setting} {policy:?}"))
}

#[test]
fn quick_grid_runs_restores_and_shows_the_directions() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let host_before = host_sysctls();
    let child = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(["tw-matrix", "--quick", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synfin runs");
    let prefix = format!("tw{}c", child.id() % 100_000);
    let out = child.wait_with_output().expect("synfin ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tw-matrix --quick failed: {stderr}");
    let left = namespaces();
    assert!(
        !left.contains(&prefix),
        "test beds {prefix}* left behind: {left}"
    );
    assert_eq!(host_sysctls(), host_before, "a host sysctl changed");

    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(!m["kernel"].as_str().unwrap_or("").is_empty());
    let rows = m["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 7, "{stderr}");
    for r in rows {
        assert!(r["error"].is_null(), "{}", r["error"]);
        report::accounted(r);
        assert!(r["completed"].as_u64().unwrap() > 0, "{r}");
        assert!(!r["series"].as_array().unwrap().is_empty());
        for s in r["sysctls"].as_array().unwrap() {
            assert_eq!(s["restored"], true, "{s}");
        }
    }
    // The kernel client closing on one address and 1,024 ports.
    let defaults = row(rows, "socket", "defaults", None);
    let reuse = row(rows, "socket", "tw_reuse=1", None);
    assert_eq!(defaults["sysctls"].as_array().unwrap().len(), 1);
    assert_eq!(reuse["sysctls"].as_array().unwrap().len(), 2);
    let (d, u) = (
        defaults["completed"].as_u64().unwrap(),
        reuse["completed"].as_u64().unwrap(),
    );
    // Defaults: no port comes back within 2·MSL, so no more connections than ports.
    assert!(d <= 1024, "defaults completed {d}");
    assert!(defaults["tw_gen_peak"].as_u64().unwrap() > 0);
    assert!(u > d, "tcp_tw_reuse=1 completed {u}, defaults {d}");
    // The AF_XDP client's own counters.
    let strict = row(rows, "xdp", "defaults", Some("strict"));
    assert_eq!(strict["tw_hazard_reuses"], 0, "{strict}");
    assert_eq!(strict["tw_reused"], 0, "{strict}");
    let attempts = strict["attempted"].as_u64().unwrap();
    assert!(
        attempts <= 1024,
        "strict used {attempts} tuples of 1,024 within 2·MSL"
    );
    let none = row(rows, "xdp", "defaults", Some("none"));
    assert!(none["tw_hazard_reuses"].as_u64().unwrap() > 0, "{none}");
    let legal = row(rows, "xdp", "defaults", Some("reuse"));
    assert_eq!(legal["tw_hazard_reuses"], 0, "{legal}");
}
