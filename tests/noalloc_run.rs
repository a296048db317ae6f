//! Once a run has started, no connection allocates: a run of 20,000 connections
//! performs exactly as many allocations as a run of 1,000 (those of building the
//! result at the end).

use synfin::engine::mem_run::MemRun;

mod common {
    use std::time::Duration;
    include!("common/lifecycle_config.rs");
}

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

fn allocations_during_run(n: u64, close: &str) -> u64 {
    let mut run = MemRun::new(&common::lifecycle_config(n, close));
    let (allocations, r) = counting_alloc::allocations_in(|| run.run());
    assert_eq!(r.client.counters.completed, n);
    allocations
}

#[test]
fn no_allocation_per_connection() {
    for close in ["client", "server", "rst"] {
        let small = allocations_during_run(1_000, close);
        let large = allocations_during_run(20_000, close);
        assert_eq!(
            small, large,
            "close {close}: allocations grow with connections ({small} for 1k, {large} for 20k)"
        );
    }
}

/// The same with per-period snapshots shipped (a 1 ms period on the virtual clock,
/// with a one-way delay so that the run spans many periods): a tick copies into a
/// buffer of the worker's pool and sends it through a bounded channel, which does
/// not allocate either.
#[test]
fn interval_snapshots_allocate_nothing_per_period() {
    let run = |n: u64| {
        let mut cfg = common::lifecycle_config(n, "client");
        cfg.wire.delay = std::time::Duration::from_micros(100);
        let mut run = MemRun::new(&cfg);
        let (mut taps, collector) =
            synfin::stats::interval::start(1, std::time::Duration::from_millis(1), Vec::new())
                .unwrap();
        run.set_intervals(taps.pop().unwrap());
        let before = counting_alloc::allocations();
        let r = run.run();
        let after = counting_alloc::allocations();
        assert_eq!(r.client.counters.completed, n);
        let series = collector.finish();
        let shipped: u64 = series.rows.iter().map(|r| r.completed).sum();
        assert_eq!(shipped, n, "the periods hold every connection");
        (after - before, series.rows.len())
    };
    let (small, small_rows) = run(1_000);
    let (large, large_rows) = run(20_000);
    assert!(
        large_rows > small_rows + 10,
        "the large run spans more periods ({small_rows} vs {large_rows})"
    );
    assert_eq!(
        small, large,
        "allocations grow with periods ({small} for {small_rows} periods, {large} for {large_rows})"
    );
}
