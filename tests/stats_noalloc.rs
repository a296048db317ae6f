//! Proves the recorder's hot path does not allocate: a counting global allocator
//! (tests/common/counting_alloc.rs) counts the allocations made by the test's own
//! thread while it records.

use std::hint::black_box;

use synfin::stats::{FailCause, Phase, Recorder};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

/// Allocations made by this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> u64 {
    counting_alloc::allocations_in(f).0
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| {
        black_box(Vec::<u64>::with_capacity(16));
    });
    assert!(
        n >= 1,
        "the counting allocator must notice a Vec allocation"
    );
}

#[test]
fn a_million_records_allocate_nothing() {
    let mut rec = Recorder::new();
    let n = allocations_during(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..1_000_000u64 {
            // xorshift: values spread over the whole range, edges included.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let nanos = match i % 1000 {
                0 => 0,
                1 => u64::MAX,
                _ => x >> (x % 40),
            };
            let phase = Phase::ALL[(i % Phase::COUNT as u64) as usize];
            rec.record(black_box(phase), black_box(nanos));
            rec.counters.attempted += 1;
        }
        rec.counters.fail(FailCause::Refused);
    });
    assert_eq!(n, 0, "Recorder::record allocated {n} times");
    let total: u64 = Phase::ALL.iter().map(|&p| rec.histogram(p).len()).sum();
    assert_eq!(total, 1_000_000);
}

#[test]
fn merging_recorders_allocates_nothing() {
    let mut a = Recorder::new();
    let mut b = Recorder::new();
    for v in 1..=10_000u64 {
        a.record(Phase::Connect, v * 1_000);
        b.record(Phase::Lifecycle, v * 7_919);
        b.record(Phase::Connect, v);
    }
    let n = allocations_during(|| {
        a.merge(&b);
        a.merge(&b);
    });
    assert_eq!(n, 0, "Recorder::merge allocated {n} times");
    assert_eq!(a.histogram(Phase::Connect).len(), 30_000);
}
