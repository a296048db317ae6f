//! Signals and clean-up (issue 6, point 4), through the binary as root: after
//! SIGINT, SIGTERM, a double Ctrl-C, a panic in a worker or an error at start-up,
//! no namespace, link, marker or XDP program of the run is left, and a second run
//! right after the first succeeds.
#![cfg(target_os = "linux")]

#[path = "common/report.rs"]
mod report;
#[path = "common/root.rs"]
mod root;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use root::is_root;

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// Everything a test bed `name` could leave: namespaces, links (any namespace we
/// can see from here), the marker, XDP programs on the host's links.
fn assert_nothing_left(name: &str) {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(!ns.contains(name), "namespace of {name} left: {ns}");
    let links = Command::new("ip").args(["-d", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(name), "link of {name} left: {links}");
    assert!(
        !std::path::Path::new(&format!("/run/synfin/testbed/{name}.json")).exists(),
        "marker of {name} left"
    );
}

/// A demo started in the background, its stderr lines forwarded to a channel.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    name: String,
}

impl Demo {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_synfin"))
            .arg("demo")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("synfin starts");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let name = format!("sfd{}", child.id() % 1_000_000);
        Demo { child, lines, name }
    }

    /// Wait for a stderr line containing `what`; all lines seen so far.
    fn wait_for(&self, what: &str, seen: &mut Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(what);
                seen.push(l);
                if hit {
                    return;
                }
            }
        }
        panic!("no '{what}' within 30 s: {seen:#?}");
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Wait for the exit (bounded); status code, stdout, remaining stderr.
    fn finish(mut self, mut seen: Vec<String>) -> (Option<i32>, String, Vec<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the demo did not end: {seen:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        seen.extend(self.lines.try_iter());
        (status.code(), out, seen)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // A failed test: make sure the child and its test bed go.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = Command::new(env!("CARGO_BIN_EXE_synfin"))
            .args(["testbed", "down", "--name", &self.name])
            .output();
    }
}

/// One signal while the load runs: the demo stops opening, drains, reports, and
/// removes its test bed; a second demo right after succeeds.
#[test]
fn one_signal_stops_drains_reports_and_cleans_up_and_a_second_run_succeeds() {
    need_root!();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let demo = Demo::start(&["--duration", "30s", "--format", "json"], &[]);
        let mut seen = Vec::new();
        demo.wait_for("kernel server on", &mut seen);
        std::thread::sleep(Duration::from_millis(700));
        demo.signal(sig);
        let name = demo.name.clone();
        let (code, out, seen) = demo.finish(seen);
        assert_eq!(code, Some(0), "signal {sig}: {seen:#?}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
        assert!(report::accounted(&v["connections"]).attempted > 0);
        assert!(
            v["notes"].to_string().contains("stopped by a signal"),
            "{}",
            v["notes"]
        );
        assert_nothing_left(&name);
    }
    // Right after: a whole demo.
    let demo = Demo::start(&["--duration", "1s", "--format", "json"], &[]);
    let name = demo.name.clone();
    let (code, out, seen) = demo.finish(Vec::new());
    assert_eq!(code, Some(0), "{seen:#?}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert!(v["connections"]["completed"].as_u64().unwrap() > 0);
    assert_nothing_left(&name);
}

/// Two Ctrl-C: the demo aborts at once with 130 — and still removes its test bed.
#[test]
fn a_second_signal_aborts_with_130_and_still_removes_the_test_bed() {
    need_root!();
    let demo = Demo::start(&["--duration", "30s"], &[]);
    let mut seen = Vec::new();
    demo.wait_for("kernel server on", &mut seen);
    std::thread::sleep(Duration::from_millis(500));
    demo.signal(libc::SIGINT);
    demo.wait_for("a second signal aborts", &mut seen);
    demo.signal(libc::SIGINT);
    let name = demo.name.clone();
    let (code, _, seen) = demo.finish(seen);
    assert_eq!(code, Some(130), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("removed")),
        "says it removed the test bed: {seen:#?}"
    );
    assert_nothing_left(&name);
}

/// A worker that panics mid-run: the run ends with an error (status 1, one line
/// naming the panic), the XDP program goes with the socket, the test bed is removed.
#[test]
fn a_panicking_worker_ends_the_run_and_everything_is_removed() {
    need_root!();
    let demo = Demo::start(&["--duration", "20s"], &[("SYNFIN_FAULT", "worker-panic")]);
    let name = demo.name.clone();
    let (code, _, seen) = demo.finish(Vec::new());
    assert_eq!(code, Some(1), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("panicked")),
        "names the panic: {seen:#?}"
    );
    assert_nothing_left(&name);
}

/// An error at start-up (nobody answers ARP for the destination) after the XDP
/// program was attached: status 1, and the program is gone from the interface.
/// Then a run on the same interface works.
#[test]
fn an_error_at_start_up_leaves_no_xdp_program() {
    need_root!();
    let name = format!("sfc{}", std::process::id() % 100_000);
    let synfin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_synfin"))
            .args(args)
            .output()
            .expect("synfin runs")
    };
    struct Down(String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Command::new(env!("CARGO_BIN_EXE_synfin"))
                .args(["testbed", "down", "--name", &self.0])
                .output();
        }
    }
    let up = synfin(&["testbed", "up", "--name", &name, "--sources", "8"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let _down = Down(name.clone());
    let (gen_ns, gen_if) = (format!("{name}-gen"), format!("{name}-g"));
    let xdp_on_gen = || {
        let o = Command::new("ip")
            .args(["-n", &gen_ns, "-d", "link", "show", "dev", &gen_if])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).contains("prog/xdp")
    };
    let src = "198.18.1.0-198.18.1.7";
    let out = synfin(&[
        "run",
        "--io",
        "xdp",
        "--netns",
        &gen_ns,
        "--interface",
        &gen_if,
        "--src",
        src,
        "--dst",
        "198.19.0.99:80",
        "-n",
        "10",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no ARP reply"), "{stderr}");
    assert!(!xdp_on_gen(), "the XDP program was detached");
    // The same interface again, at once, against the DUT's kernel (it answers RST:
    // nothing listens, which is fine here: the run must only start and end).
    let out = synfin(&[
        "run",
        "--io",
        "xdp",
        "--netns",
        &gen_ns,
        "--interface",
        &gen_if,
        "--src",
        src,
        "--dst",
        "198.19.0.1:80",
        "-n",
        "10",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connections"]["attempted"], 10);
    assert_eq!(v["connections"]["failed"]["refused"], 10);
    assert!(!xdp_on_gen(), "detached after a normal run too");
    drop(_down);
    assert_nothing_left(&name);
}
