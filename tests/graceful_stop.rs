//! The graceful stop on a real wire (root; CI runs as root): an AF_XDP run against
//! the Linux kernel's TCP server on a test bed is stopped in the middle by SIGINT.
//! It stops opening, closes what is open with FIN (no drain here, so that many
//! connections are open at the stop), reports, and leaves the DUT no connection
//! in ESTABLISHED, SYN-RECV, CLOSE-WAIT or LAST-ACK — and sends no RST.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use synfin::testbed::netns;

#[path = "common/root.rs"]
mod root;
use root::{assert_test_bed_gone, is_root};
#[path = "common/kernel_dut.rs"]
mod kernel_dut;
use kernel_dut::KernelDut;
#[path = "common/report.rs"]
mod report;

/// Connections of the DUT's port 80 by state, from `/proc/net/tcp` in its
/// namespace (listening sockets left out).
fn dut_states(ns: &str) -> Vec<&'static str> {
    let out = netns::exec(ns, "cat", ["/proc/net/tcp"]).expect("read /proc/net/tcp");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; st is the state in hex.
            let port = f.get(1)?.rsplit(':').next()?;
            let st = *f.get(3)?;
            (port == "0050").then_some(match st {
                "01" => "ESTABLISHED",
                "02" => "SYN-SENT",
                "03" => "SYN-RECV",
                "04" => "FIN-WAIT-1",
                "05" => "FIN-WAIT-2",
                "06" => "TIME-WAIT",
                "07" => "CLOSE",
                "08" => "CLOSE-WAIT",
                "09" => "LAST-ACK",
                "0A" => "LISTEN",
                "0B" => "CLOSING",
                _ => "?",
            })
        })
        .filter(|s| *s != "LISTEN")
        .collect()
}

const HALF_OPEN: [&str; 4] = ["ESTABLISHED", "SYN-RECV", "CLOSE-WAIT", "LAST-ACK"];

/// Kills the child if the test fails before it ends.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn sigint_in_the_middle_leaves_the_dut_nothing_half_open() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfs{}", std::process::id() % 100_000);
    let mut dut = KernelDut::up(&name);
    let dut_ns = dut.tb.dut_ns();
    // Bounded by itself (60 s, 600 k connections) should the signal be lost.
    let child = Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(dut.xdp_args())
        .args([
            "--rate",
            "10k",
            "--concurrency",
            "4096",
            "--connections",
            "600k",
        ])
        .args([
            "--duration",
            "60s",
            "--drain",
            "0s",
            "--close-timeout",
            "5s",
        ])
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synfin runs");
    let mut child = ChildGuard(Some(child));
    // Wait until the DUT is busy with our connections, then stop the run.
    let t0 = Instant::now();
    loop {
        let open = dut_states(&dut_ns).len();
        if open > 0 {
            break;
        }
        let c = child.0.as_mut().unwrap();
        assert!(
            c.try_wait().unwrap().is_none(),
            "synfin ended before the stop"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the DUT never saw a connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.0.as_ref().unwrap().id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(s) = child.0.as_mut().unwrap().try_wait().unwrap() {
            break s;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "synfin did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "synfin failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let notes = v["notes"].to_string();
    eprintln!("notes: {notes}");
    assert!(notes.contains("stopped by a signal"), "{notes}");
    // The stop came long before the run's own end.
    let attempted = report::accounted(&v["connections"]).attempted;
    assert!(attempted > 0 && attempted < 600_000, "{}", v["connections"]);
    // No drain: what was open was closed with FIN, and none needed an RST.
    assert_eq!(
        v["packets"]["rst_sent"], 0,
        "synfin sent RSTs; notes {notes}"
    );
    // The DUT: nothing half-open from us (a LAST-ACK may wait a moment for our
    // final ACK still on the wire).
    let t2 = Instant::now();
    loop {
        let states = dut_states(&dut_ns);
        let half: Vec<_> = states.iter().filter(|s| HALF_OPEN.contains(s)).collect();
        if half.is_empty() {
            break;
        }
        assert!(
            t2.elapsed() < Duration::from_secs(3),
            "the DUT is left with {half:?}; notes {notes}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let served = dut.stop_server();
    // The kernel server saw every connection end, with our FIN: none was reset,
    // none failed, none was still open when it stopped.
    assert_eq!(served.reset_by_peer(), 0, "{served:?}");
    assert_eq!(served.failed(), 0, "{served:?}");
    assert_eq!(served.open_at_stop, 0, "{served:?}");
    drop(dut);
    assert_test_bed_gone(&name);
}
