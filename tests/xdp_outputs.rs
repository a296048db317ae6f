//! The per-second outputs of an AF_XDP run with two workers (root; CI runs as
//! root): both workers ship their snapshots, and the rows, the CSV and the
//! HdrHistogram log add up to the report, against the kernel's TCP server on a
//! two-queue test bed that the test removes.

use std::net::SocketAddrV4;
use std::process::Command;

use synfin::io::socket::SocketServerConfig;
use synfin::stats::{Phase, hlog};
use synfin::tcp::CloseMode;

#[path = "common/kernel_dut.rs"]
mod kernel_dut;
#[path = "common/root.rs"]
mod root;
use kernel_dut::KernelDut;
use root::{assert_test_bed_gone, is_root};

#[test]
fn two_xdp_workers_ship_rows_that_add_up_to_the_report() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfo{}", std::process::id() % 100_000);
    let dut = KernelDut::up_with(
        &name,
        2,
        SocketServerConfig {
            threads: 2,
            close: CloseMode::Client,
            duration: Some(std::time::Duration::from_secs(60)),
            ..SocketServerConfig::default()
        },
    );
    let tb = &dut.tb;
    let c = tb.config().clone();
    let listen = SocketAddrV4::new(c.dut_addr, 80);
    let dir = std::env::temp_dir().join(format!("synfin-xdp-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (csv, hlog_path) = (dir.join("run.csv"), dir.join("run.hlog"));
    let (first, last) = c.src_range();
    let out = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args([
            "run",
            "--io",
            "xdp",
            "--netns",
            &tb.gen_ns(),
            "--interface",
            &tb.gen_if(),
            "--src",
            &format!("{first}-{last}"),
            "--dst",
            &listen.to_string(),
            "--cores",
            "0,1",
            "-n",
            "8000",
            "--rate",
            "4k",
            "--duration",
            "30s",
            "--drain",
            "5s",
            "--format",
            "json",
            "--progress",
            "off",
            "--csv",
            csv.to_str().unwrap(),
            "--hlog",
            hlog_path.to_str().unwrap(),
        ])
        .output()
        .expect("synfin runs");
    drop(dut);
    assert_test_bed_gone(&name);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["config"]["workers"], 2);
    let rows = j["intervals"]["rows"].as_array().unwrap();
    assert!(
        rows.len() >= 2,
        "2 s give two periods or more: {}",
        rows.len()
    );
    let sum = |k: &str| -> u64 { rows.iter().map(|r| r[k].as_u64().unwrap()).sum() };
    assert_eq!(
        sum("completed"),
        j["connections"]["completed"].as_u64().unwrap()
    );
    assert_eq!(
        sum("attempted"),
        j["connections"]["attempted"].as_u64().unwrap()
    );
    assert_eq!(sum("tx_packets"), j["packets"]["tx"].as_u64().unwrap());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), rows.len() + 1);
    let log = hlog::read(&std::fs::read(&hlog_path).unwrap()).unwrap();
    for p in Phase::ALL {
        let h = log.total(p.as_str());
        assert_eq!(
            h.len(),
            j["latency_us"][p.as_str()]["count"].as_u64().unwrap(),
            "{p}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
