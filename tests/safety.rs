//! Safety guards (issue 6, point 5), through the binary as root: synfin refuses to
//! attach to the interface that carries the host's default route unless `--force`,
//! and refuses test bed names that exist but were not made by synfin. (That synfin
//! sends only from its sources to its destination is proven over a hostile wire in
//! `tests/hostile.rs` and by the transmit guard's unit tests.)
#![cfg(target_os = "linux")]

#[path = "common/root.rs"]
mod root;

use std::process::Command;

use root::is_root;

fn synfin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synfin"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

/// Attached XDP programs on `dev`, as `ip -d link` shows them ("prog/xdp id N").
fn xdp_attached(dev: &str) -> bool {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", dev])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

#[test]
fn the_default_route_interface_is_refused_without_force() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let carriers = synfin::cli::default_route_interfaces(None).expect("routing table");
    let Some(dev) = carriers.first() else {
        eprintln!("skipped: this host has no default route");
        return;
    };
    // The refusal comes before anything is opened: the library found the carrier
    // above, and the binary asks the same function first.
    let before = xdp_attached(dev);
    for io in [
        &["run", "--io", "xdp", "--src", "198.18.1.0", "-n", "1"][..],
        &["serve", "--io", "xdp", "--duration", "1s"][..],
    ] {
        let mut args = io.to_vec();
        args.extend(["--interface", dev.as_str()]);
        let out = synfin(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("default route") && stderr.contains("--force"),
            "{args:?} should say why and how: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert_eq!(xdp_attached(dev), before, "nothing attached to {dev}");
}

/// A namespace made by the test itself (not by synfin), removed on drop.
struct ForeignNs(String);

impl Drop for ForeignNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn testbed_up_on_a_name_synfin_did_not_make_is_refused_and_left_alone() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfs{}", std::process::id() % 100_000);
    let foreign = ForeignNs(format!("{name}-gen"));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &foreign.0])
            .status()
            .unwrap()
            .success()
    );
    let ino = std::fs::metadata(format!("/run/netns/{}", foreign.0)).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    for action in ["up", "down"] {
        let out = synfin(&["testbed", action, "--name", &name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "testbed {action}: {stderr}");
        assert!(stderr.contains(&foreign.0), "names the namespace: {stderr}");
    }
    let left = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        left.contains(&foreign.0),
        "the foreign namespace is still there"
    );
    assert!(!left.contains(&format!("{name}-dut")), "nothing was added");
    let ino_after = std::fs::metadata(format!("/run/netns/{}", foreign.0)).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    assert_eq!(ino.ok(), ino_after.ok(), "and it is the same namespace");
}
