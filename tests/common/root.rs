// Helpers of the root tests (test beds, AF_XDP): who we are, and what is left.

/// Whether the test runs as root (CI does; elsewhere root tests skip themselves).
#[allow(dead_code)]
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// `ip netns list`, as text.
#[allow(dead_code)]
pub fn namespaces() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panic if any namespace of test bed `name` is left.
#[allow(dead_code)]
pub fn assert_test_bed_gone(name: &str) {
    let left = namespaces();
    assert!(
        !left.contains(&format!("{name}-")),
        "test bed {name} left behind: {left}"
    );
}
