//! The testbed against the real kernel: namespaces, veth pair, addresses, RPS,
//! offloads, static neighbours, reachability, idempotence, refusal of namespaces
//! synfin did not make, and clean-up even when a test panics.
//!
//! Needs root (CI runs as root); without it each test prints "skipped: needs root".
//! Every test uses its own name (`sf<pid>x<counter>`) and removes what it made.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use synfin::testbed::{
    Presence, Testbed, TestbedConfig, TestbedError, TestbedGuard, TestbedStatus, marker, netns,
};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "sf{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A namespace made by the test itself (not by synfin), removed on drop.
struct ForeignNs(String);

impl ForeignNs {
    fn add(name: String) -> ForeignNs {
        ip(&["netns", "add", &name]);
        ForeignNs(name)
    }
}

impl Drop for ForeignNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ns_inode(ns: &str) -> u64 {
    std::fs::metadata(format!("/run/netns/{ns}"))
        .expect("namespace exists")
        .ino()
}

fn mask_value(mask: &str) -> u128 {
    u128::from_str_radix(&mask.replace(',', ""), 16).expect("an RPS mask is hex")
}

fn assert_nothing_left(name: &str) {
    let listed = ip(&["netns", "list"]);
    for ns in [format!("{name}-gen"), format!("{name}-dut")] {
        assert!(!netns::exists(&ns), "{ns} still exists");
        assert!(
            !listed.split_whitespace().any(|w| w == ns),
            "`ip netns list` still shows {ns}:\n{listed}"
        );
    }
    let links = ip(&["-o", "link", "show"]);
    assert!(
        !links.contains(&format!("{name}-")),
        "a link named {name}-* is in the host namespace:\n{links}"
    );
    assert!(!marker::path(name).exists(), "synfin's record is left over");
}

fn assert_configured(st: &TestbedStatus, cfg: &TestbedConfig) {
    assert!(st.exists() && st.is_up(), "{st}");
    assert_eq!(st.config.as_ref(), Some(cfg));
    let generator = st.generator.link.as_ref().expect("generator end");
    let dut = st.dut.link.as_ref().expect("dut end");
    assert_eq!(generator.ifname, cfg.gen_if());
    assert_eq!(dut.ifname, cfg.dut_if());
    assert_eq!(generator.addresses, vec![(cfg.gen_addr, 15)], "{st}");
    assert_eq!(dut.addresses, vec![(cfg.dut_addr, 15)], "{st}");
    for (link, cpu) in [(generator, cfg.gen_cpu), (dut, cfg.dut_cpu)] {
        assert_eq!(link.alias.as_deref(), Some(cfg.alias().as_str()));
        assert_eq!(link.ipv6_disabled, Some(true), "{st}");
        assert_eq!(link.rx_queues, cfg.queues, "{st}");
        assert_eq!(link.tx_queues, cfg.queues, "{st}");
        assert_eq!(link.rps_cpus.len(), cfg.queues as usize);
        let want = cpu.map_or(0, |c| 1u128 << c);
        for mask in &link.rps_cpus {
            assert_eq!(mask_value(mask), want, "rps_cpus of {}: {st}", link.ifname);
        }
    }
    assert!(dut.offloads.all_off(), "DUT offloads: {}", dut.offloads);
    assert!(
        generator.offloads.all_off(),
        "generator offloads: {}",
        generator.offloads
    );
    let n = cfg.sources as usize;
    assert_eq!(st.dut_neighbours, (n, n), "{st}");
    for key in [
        "net.ipv4.tcp_tw_reuse",
        "net.ipv4.tcp_timestamps",
        "net.ipv4.tcp_max_tw_buckets",
        "net.ipv4.ip_local_port_range",
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
    ] {
        assert!(st.dut_sysctl(key).is_some(), "{key} missing: {st}");
    }
}

/// One TCP connection from the generator namespace to a listener in the DUT
/// namespace, with a byte each way. Returns the client's local address.
fn connect_across(tb: &Testbed) -> SocketAddr {
    let dut_addr = tb.config().dut_addr;
    let listener = netns::run_in(&tb.dut_ns(), || TcpListener::bind((dut_addr, 0)))
        .expect("enter the DUT namespace")
        .expect("listen on the DUT address");
    let service = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().expect("accept");
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).unwrap();
        conn.write_all(&[byte[0] + 1]).unwrap();
        peer
    });
    let mut client = netns::run_in(&tb.gen_ns(), || {
        TcpStream::connect_timeout(&service, Duration::from_secs(5))
    })
    .expect("enter the generator namespace")
    .expect("connect from the generator namespace");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(&[41]).unwrap();
    let mut reply = [0u8; 1];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(reply[0], 42);
    let local = client.local_addr().unwrap();
    let peer = server.join().unwrap();
    assert_eq!(peer, local);
    local
}

#[test]
fn up_status_reach_again_down_and_down_again() {
    need_root!();
    let name = unique_name();
    let cfg = TestbedConfig {
        sources: 8,
        ..TestbedConfig::named(&name)
    };
    let guard = TestbedGuard::new(&name);

    let tb = Testbed::up(&cfg).expect("up");
    assert!(tb.created());
    let st = Testbed::status(&name).unwrap();
    assert_configured(&st, &cfg);
    let shown = st.to_string();
    assert!(shown.contains(&format!("testbed {name}: up")), "{shown}");
    assert!(shown.contains("198.19.0.1/15"), "{shown}");

    // What the generator needs, as the helpers and the status see it.
    let (g, d) = (
        st.generator.link.clone().unwrap(),
        st.dut.link.clone().unwrap(),
    );
    assert_eq!((g.operstate.as_str(), d.operstate.as_str()), ("up", "up"));
    assert_eq!(tb.gen_mac(), g.mac);
    assert_eq!(tb.dut_mac(), d.mac);
    assert_eq!(netns::mac_of(&tb.gen_ns(), &tb.gen_if()).unwrap(), g.mac);
    assert_eq!(
        netns::ifindex(&tb.dut_ns(), &tb.dut_if()).unwrap(),
        d.ifindex
    );
    assert_eq!(tb.dut_ifindex(), d.ifindex);

    // Reachability: the kernel in the generator namespace connects from its veth address.
    let local = connect_across(&tb);
    assert_eq!(local.ip(), std::net::IpAddr::V4(cfg.gen_addr));
    let dut_counters = netns::nstat(&tb.dut_ns()).unwrap();
    assert!(dut_counters["TcpPassiveOpens"] >= 1, "{dut_counters:?}");
    assert!(netns::nstat(&tb.gen_ns()).unwrap()["TcpActiveOpens"] >= 1);

    // Sysctls are the namespace's own: setting one leaves the host's alone.
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse").unwrap();
    netns::sysctl_set(&tb.dut_ns(), "net.ipv4.tcp_tw_reuse", "1").unwrap();
    assert_eq!(
        netns::sysctl_get(&tb.dut_ns(), "net.ipv4.tcp_tw_reuse").unwrap(),
        "1"
    );
    let host_after = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse").unwrap();
    assert_eq!(host_before, host_after);
    assert_eq!(
        Testbed::status(&name)
            .unwrap()
            .dut_sysctl("net.ipv4.tcp_tw_reuse"),
        Some("1")
    );
    assert!(netns::sysctl_set(&tb.dut_ns(), "kernel.hostname", "x").is_err());

    // A command inside the namespace sees the namespace's links.
    let out = netns::exec(&tb.dut_ns(), "ip", ["-o", "link", "show"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&tb.dut_if()), "{text}");

    // Up again: succeeds, makes nothing new, duplicates nothing.
    let again = Testbed::up(&cfg).expect("up again");
    assert!(!again.created());
    assert_eq!(again.gen_mac(), tb.gen_mac());
    let st2 = Testbed::status(&name).unwrap();
    assert_configured(&st2, &cfg);
    for ns in [tb.gen_ns(), tb.dut_ns()] {
        let links = ip(&["-n", &ns, "-o", "link", "show"]);
        assert_eq!(
            links.lines().count(),
            2,
            "lo and one veth end in {ns}:\n{links}"
        );
    }
    assert_eq!(Testbed::open(&name).unwrap(), again);

    // The same name with another configuration is refused, and nothing changes.
    let other = TestbedConfig {
        queues: 2,
        ..cfg.clone()
    };
    match Testbed::up(&other) {
        Err(TestbedError::ConfigMismatch { .. }) => {}
        r => panic!("expected a configuration mismatch, got {r:?}"),
    }
    assert_configured(&Testbed::status(&name).unwrap(), &cfg);

    Testbed::down(&name).expect("down");
    assert_nothing_left(&name);
    let st3 = Testbed::status(&name).unwrap();
    assert_eq!(st3.generator.presence, Presence::Absent);
    assert_eq!(st3.dut.presence, Presence::Absent);
    assert!(st3.to_string().contains("down"));
    Testbed::down(&name).expect("down again is fine");
    drop(guard);
    assert_nothing_left(&name);
}

#[test]
fn a_namespace_synfin_did_not_make_is_refused_and_left_alone() {
    need_root!();
    let name = unique_name();
    let foreign = ForeignNs::add(format!("{name}-gen"));
    let inode = ns_inode(&foreign.0);

    let err = Testbed::up(&TestbedConfig::named(&name)).expect_err("must refuse");
    assert!(
        matches!(&err, TestbedError::NotOurs { namespace, .. } if *namespace == foreign.0),
        "{err}"
    );
    assert!(err.to_string().contains("not made by synfin"), "{err}");
    assert_eq!(
        ns_inode(&foreign.0),
        inode,
        "the foreign namespace is untouched"
    );
    let links = ip(&["-n", &foreign.0, "-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "only lo:\n{links}");
    assert!(!netns::exists(&format!("{name}-dut")));
    assert!(!marker::path(&name).exists());

    // down refuses it too, and status says whose it is.
    assert!(matches!(
        Testbed::down(&name),
        Err(TestbedError::NotOurs { .. })
    ));
    assert_eq!(ns_inode(&foreign.0), inode);
    let st = Testbed::status(&name).unwrap();
    assert_eq!(st.generator.presence, Presence::Foreign);
    assert!(!st.exists());

    drop(foreign);
    assert_nothing_left(&name);
}

#[test]
fn a_namespace_replaced_behind_synfins_back_is_not_taken_for_its_own() {
    need_root!();
    let name = unique_name();
    let cfg = TestbedConfig {
        sources: 2,
        ..TestbedConfig::named(&name)
    };
    let guard = TestbedGuard::new(&name);
    Testbed::up(&cfg).unwrap();
    // Someone removes synfin's DUT namespace and makes their own of the same name.
    ip(&["netns", "del", &cfg.dut_ns()]);
    let foreign = ForeignNs::add(cfg.dut_ns());
    let inode = ns_inode(&foreign.0);

    assert!(matches!(
        Testbed::up(&cfg),
        Err(TestbedError::NotOurs { namespace, .. }) if namespace == cfg.dut_ns()
    ));
    // down removes synfin's generator namespace but not theirs.
    assert!(matches!(
        Testbed::down(&name),
        Err(TestbedError::NotOurs { .. })
    ));
    assert!(!netns::exists(&cfg.gen_ns()));
    assert_eq!(ns_inode(&foreign.0), inode);
    drop(foreign);
    drop(guard);
    assert_nothing_left(&name);
}

#[test]
fn two_queues_on_both_ends() {
    need_root!();
    let name = unique_name();
    let cfg = TestbedConfig {
        queues: 2,
        sources: 4,
        ..TestbedConfig::named(&name)
    };
    let _guard = TestbedGuard::new(&name);
    Testbed::up(&cfg).unwrap();
    let st = Testbed::status(&name).unwrap();
    assert_configured(&st, &cfg);
    for (ns, ifname) in [(cfg.gen_ns(), cfg.gen_if()), (cfg.dut_ns(), cfg.dut_if())] {
        let dir = format!("/sys/class/net/{ifname}/queues");
        let rx = netns::run_in_with_sysfs(&ns, || {
            std::fs::read_dir(&dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("rx-")
                })
                .count()
        })
        .unwrap();
        assert_eq!(rx, 2, "{ns}/{ifname}");
    }
}

#[test]
fn a_panic_midway_still_removes_the_testbed() {
    need_root!();
    let name = unique_name();
    let cfg = TestbedConfig {
        sources: 1,
        ..TestbedConfig::named(&name)
    };
    let result = std::panic::catch_unwind(|| {
        let _guard = TestbedGuard::new(&name);
        Testbed::up(&cfg).unwrap();
        assert!(netns::exists(&cfg.gen_ns()) && netns::exists(&cfg.dut_ns()));
        panic!("a test failing in the middle (on purpose)");
    });
    assert!(result.is_err());
    assert_nothing_left(&name);
}

#[test]
fn bad_names_are_refused_before_anything_is_done() {
    for bad in [
        "",
        "waytoolongname1",
        "has space",
        "dot.ted",
        "-lead",
        "slash/x",
    ] {
        let cfg = TestbedConfig::named(bad);
        assert!(
            matches!(Testbed::up(&cfg), Err(TestbedError::InvalidConfig(_))),
            "{bad:?}"
        );
        assert!(Testbed::down(bad).is_err(), "{bad:?}");
        assert!(Testbed::status(bad).is_err(), "{bad:?}");
    }
    let outside = TestbedConfig {
        dut_addr: Ipv4Addr::new(10, 0, 0, 1),
        ..TestbedConfig::named("x")
    };
    assert!(matches!(
        Testbed::up(&outside),
        Err(TestbedError::InvalidConfig(_))
    ));
}

#[test]
fn helpers_report_a_missing_namespace() {
    let ns = format!("{}-none", unique_name());
    assert!(matches!(
        netns::run_in(&ns, || ()),
        Err(TestbedError::NoSuchNamespace(_))
    ));
    assert!(netns::exec(&ns, "true", [""; 0]).is_err());
    assert!(netns::sysctl_get(&ns, "net.core.somaxconn").is_err());
}
