// Reading synfin's JSON reports in tests: the report a run printed, and the
// accounting every report (and every per-period row, which has the same fields)
// must keep: attempted == completed + sum(failed) + in_flight.
#![allow(dead_code)] // each test binary uses some of it

use std::process::Output;

use serde_json::Value;

/// The JSON report on the stdout of a synfin that exited successfully (its stderr is
/// in the message when it did not).
pub fn json_report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "synfin failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report on stdout")
}

/// Connections as a report's `connections` object (or a per-period row) counts them.
#[derive(Clone, Copy, Debug)]
pub struct Accounted {
    pub attempted: u64,
    pub completed: u64,
    /// The sum of `failed` over its causes.
    pub failed: u64,
    pub in_flight: u64,
}

/// The sum of a `failed` object (cause -> count).
pub fn failed_total(failed: &Value) -> u64 {
    failed
        .as_object()
        .unwrap_or_else(|| panic!("failed is an object of counts: {failed}"))
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum()
}

/// The counts of `c` (a `connections` object or a row), after checking that every
/// attempt is accounted for.
pub fn accounted(c: &Value) -> Accounted {
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("no {k} in {c}"));
    let a = Accounted {
        attempted: n("attempted"),
        completed: n("completed"),
        failed: failed_total(&c["failed"]),
        in_flight: n("in_flight"),
    };
    assert_eq!(
        a.attempted,
        a.completed + a.failed + a.in_flight,
        "not every attempt is accounted for: {c}"
    );
    a
}
