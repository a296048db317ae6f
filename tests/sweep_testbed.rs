//! A capacity sweep on a real wire (root; CI runs as root): AF_XDP against the
//! Linux kernel's TCP server on a test bed, two short steps. The output has the
//! latency and completion of each step and the capacity headline. The bound is
//! loose on purpose: this checks the sweep, not the machine (CI machines are
//! shared and noisy).

use std::process::Command;

#[path = "common/root.rs"]
mod root;
use root::{assert_test_bed_gone, is_root};
#[path = "common/kernel_dut.rs"]
mod kernel_dut;
use kernel_dut::KernelDut;

#[test]
fn a_sweep_against_the_kernel_prints_each_step_and_the_capacity() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfw{}", std::process::id() % 100_000);
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
        .output()
        .expect("synfin runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
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
    let served = dut.stop_server();
    assert_eq!(served.completed(), 1500);
    drop(dut);
    assert_test_bed_gone(&name);
}
