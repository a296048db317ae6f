//! Faults on a real wire and a dying server (issue 6, points 2 and 3), as root.
//!
//! This kernel has no `sch_netem` (nor modprobe), so the impairments come from
//! synfin's own stand-in (`synfin::io::xdp::tcx`): a middle namespace whose two
//! veth ends pass frames to each other through a BPF program at tc ingress that
//! drops, duplicates, or sends them through a slow HTB class (delay with jitter,
//! hence reordering). Topology, all made here and removed on drop:
//!
//! ```text
//!  NAME-gen [NAME-g] <-veth-> [NAME-mg] NAME-mid [NAME-md] <-veth-> [NAME-d] NAME-dut
//!   synfin run --io xdp        tcx wire both ways + HTB       kernel server, or
//!                                                              synfin serve --io xdp
//! ```
//!
//! Every run must account for every attempt (attempted == completed + Σ failed +
//! in flight), count retransmissions under loss, and leave no control block and no
//! uncounted TIME-WAIT record in its tables.
#![cfg(target_os = "linux")]

#[path = "common/report.rs"]
mod report;
#[path = "common/root.rs"]
mod root;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use root::is_root;
use synfin::io::xdp::tcx::{Impairment, TcxWire, ifindex_of};
use synfin::testbed::netns;

const SRC: &str = "198.18.1.0-198.18.1.7";
const DST: &str = "198.19.0.1:80";
const SLOW_CLASS: u32 = 0x0001_0020;

fn sh(ns: Option<&str>, args: &[&str]) {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tc(ns: &str, args: &str) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "tc"])
        .args(args.split_whitespace())
        .output()
        .expect("tc runs");
    assert!(
        out.status.success(),
        "tc {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The three namespaces; removed (with their links) on drop.
struct Bed {
    name: String,
    wires: Vec<TcxWire>,
}

impl Bed {
    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.name)
    }
    fn dev(&self, end: &str) -> String {
        format!("{}-{end}", self.name)
    }

    fn up(name: &str) -> Bed {
        let bed = Bed {
            name: name.to_string(),
            wires: Vec::new(),
        };
        for role in ["gen", "mid", "dut"] {
            sh(None, &["netns", "add", &bed.ns(role)]);
            let _ = Command::new("ip")
                .args(["netns", "exec", &bed.ns(role), "sh", "-c"])
                .arg("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6")
                .status();
        }
        let (gen_ns, mid, dut) = (bed.ns("gen"), bed.ns("mid"), bed.ns("dut"));
        let (g, mg, md, d) = (bed.dev("g"), bed.dev("mg"), bed.dev("md"), bed.dev("d"));
        sh(
            Some(&gen_ns),
            &[
                "link", "add", &g, "type", "veth", "peer", "name", &mg, "netns", &mid,
            ],
        );
        sh(
            Some(&dut),
            &[
                "link", "add", &d, "type", "veth", "peer", "name", &md, "netns", &mid,
            ],
        );
        for (ns, dev) in [(&gen_ns, &g), (&mid, &mg), (&mid, &md), (&dut, &d)] {
            sh(Some(ns), &["link", "set", "dev", dev, "up"]);
        }
        sh(Some(&gen_ns), &["link", "set", "dev", "lo", "up"]);
        sh(Some(&dut), &["link", "set", "dev", "lo", "up"]);
        sh(Some(&gen_ns), &["addr", "add", "198.18.0.1/15", "dev", &g]);
        sh(Some(&dut), &["addr", "add", "198.19.0.1/15", "dev", &d]);
        let gen_mac = netns::mac_of(&gen_ns, &g).expect("gen mac").to_string();
        for i in 0..8 {
            let ip = format!("198.18.1.{i}");
            sh(
                Some(&dut),
                &[
                    "neigh",
                    "replace",
                    &ip,
                    "lladdr",
                    &gen_mac,
                    "dev",
                    &d,
                    "nud",
                    "permanent",
                ],
            );
        }
        // The slow class on each egress of the middle: 2 Mbit/s, 64 frames of queue.
        for dev in [&mg, &md] {
            tc(
                &mid,
                &format!("qdisc add dev {dev} root handle 1: htb default 10"),
            );
            tc(
                &mid,
                &format!("class add dev {dev} parent 1: classid 1:10 htb rate 10gbit"),
            );
            tc(
                &mid,
                &format!("class add dev {dev} parent 1: classid 1:20 htb rate 2mbit ceil 2mbit"),
            );
            tc(
                &mid,
                &format!("qdisc add dev {dev} parent 1:20 handle 20: pfifo limit 64"),
            );
        }
        bed
    }

    /// Impair both directions of the middle with `imp` (replacing what was there).
    fn impair(&mut self, imp: Impairment) {
        self.wires.clear();
        let (mg, md) = (self.dev("mg"), self.dev("md"));
        let wires = netns::run_in(&self.ns("mid"), || {
            let (a, b) = (ifindex_of(&mg)?, ifindex_of(&md)?);
            let ab =
                TcxWire::attach(a, b, &imp).map_err(|e| std::io::Error::other(e.to_string()))?;
            let ba =
                TcxWire::attach(b, a, &imp).map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok::<_, std::io::Error>(vec![ab, ba])
        })
        .expect("enter the middle namespace")
        .expect("attach the wire programs");
        self.wires = wires;
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.wires.clear();
        for role in ["gen", "mid", "dut"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(role)])
                .status();
        }
    }
}

fn synfin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_synfin"));
    c.env_remove("RUST_BACKTRACE");
    c
}

/// A server in the DUT namespace, killed on drop.
struct Server(Child);

impl Server {
    fn kernel(bed: &Bed) -> Server {
        Server::start(
            bed,
            &[
                "serve",
                "--io",
                "socket",
                "--netns",
                &bed.ns("dut"),
                "--listen",
                DST,
            ],
        )
    }
    fn synfin(bed: &Bed) -> Server {
        Server::start(
            bed,
            &[
                "serve",
                "--io",
                "xdp",
                "--netns",
                &bed.ns("dut"),
                "--interface",
                &bed.dev("d"),
                "--listen",
                DST,
            ],
        )
    }
    fn start(_bed: &Bed, args: &[&str]) -> Server {
        let mut child = synfin()
            .args(args)
            .args(["--announce", "--duration", "120s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        // Wait for "listening on".
        use std::io::{BufRead, BufReader};
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listening"), "server: {line:?}");
        Server(child)
    }
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `synfin run --io xdp` from the generator namespace; its JSON report.
fn run(bed: &Bed, extra: &[&str]) -> serde_json::Value {
    let out = synfin()
        .args([
            "run",
            "--io",
            "xdp",
            "--netns",
            &bed.ns("gen"),
            "--interface",
            &bed.dev("g"),
            "--src",
            SRC,
            "--dst",
            DST,
            // The kernel's SYN-ACKs leave the DUT with unfinished checksums (TX
            // offload on its veth end; the middle does not finish them).
            "--no-rx-checksum",
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .expect("synfin runs");
    assert!(
        out.status.success(),
        "run {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// The promises every run keeps; returns (attempted, completed, failed, retransmitted).
fn assert_accounted(v: &serde_json::Value, what: &str) -> (u64, u64, u64, u64) {
    let c = &v["connections"];
    let report::Accounted {
        attempted: att,
        completed: done,
        failed,
        ..
    } = report::accounted(c);
    let cfg = &v["config"];
    assert_eq!(
        cfg["tables_at_end"]["open"], 0,
        "{what}: control blocks left"
    );
    assert_eq!(
        cfg["tables_at_end"]["time_wait"], v["time_wait"]["current"],
        "{what}: every TIME-WAIT record is counted"
    );
    assert_eq!(cfg["tx_blocked"], 0, "{what}");
    (
        att,
        done,
        failed,
        v["packets"]["retransmitted"].as_u64().unwrap(),
    )
}

#[test]
fn impaired_wire_every_attempt_is_accounted_for_against_both_servers() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::up(&format!("sfw{}", std::process::id() % 100_000));
    let profiles = [
        (
            "loss 1%, duplication 1%, 5% delayed (jitter, reordering)",
            Impairment {
                loss: 0.01,
                duplicate: 0.01,
                slow: 0.05,
                slow_priority: SLOW_CLASS,
            },
        ),
        (
            "loss 5%",
            Impairment {
                loss: 0.05,
                ..Impairment::default()
            },
        ),
    ];
    for dut in ["kernel", "synfin"] {
        let _server = if dut == "kernel" {
            Server::kernel(&bed)
        } else {
            Server::synfin(&bed)
        };
        for (what, imp) in profiles {
            bed.impair(imp);
            let v = run(
                &bed,
                &[
                    "-n",
                    "3000",
                    "--concurrency",
                    "64",
                    "--time-wait",
                    "2s",
                    "--duration",
                    "20s",
                    "--drain",
                    "10s",
                ],
            );
            let what = format!("{dut} server, {what}");
            let (att, done, _failed, retx) = assert_accounted(&v, &what);
            eprintln!("{what}: {att} attempted, {done} completed, {retx} retransmitted");
            assert_eq!(att, 3000, "{what}");
            assert!(done > 2500, "{what}: most complete: {}", v["connections"]);
            assert!(retx > 0, "{what}: retransmissions under loss are counted");
        }
    }
}

#[test]
fn a_server_killed_mid_run_is_counted_by_cause_and_the_run_reports() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::up(&format!("sfk{}", std::process::id() % 100_000));
    bed.impair(Impairment::default());
    let mut server = Server::kernel(&bed);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        server.kill();
        server
    });
    let v = run(
        &bed,
        &[
            "-n",
            "1m",
            "--rate",
            "2000",
            "--concurrency",
            "256",
            "--duration",
            "4s",
            "--drain",
            "3s",
        ],
    );
    drop(killer.join());
    let (att, done, failed, _) = assert_accounted(&v, "killed server");
    let by_cause = &v["connections"]["failed"];
    eprintln!("killed server: {att} attempted, {done} completed, failed {by_cause}");
    assert!(done > 0, "connections completed before the kill");
    assert!(failed > 0, "and failed after it");
    assert!(
        by_cause["refused"].as_u64().unwrap() > 0,
        "SYNs to the dead port meet RSTs: {by_cause}"
    );
    // Then silence: the middle drops everything; SYNs time out, the run still ends
    // and reports.
    bed.impair(Impairment {
        loss: 1.0,
        ..Impairment::default()
    });
    let v = run(
        &bed,
        &[
            "-n",
            "50",
            "--syn-retries",
            "1",
            "--duration",
            "3s",
            "--drain",
            "5s",
            "--dst-mac",
            "02:00:00:00:00:02",
        ],
    );
    let (att, _, _, retx) = assert_accounted(&v, "silent server");
    let by_cause = &v["connections"]["failed"];
    assert_eq!(att, 50);
    assert!(retx > 0);
    assert_eq!(
        by_cause["syn_timeout"].as_u64().unwrap() + v["connections"]["in_flight"].as_u64().unwrap(),
        50,
        "every SYN timed out or was still waiting: {by_cause}"
    );
}
