//! Proves the recorder's hot path does not allocate: a counting global allocator
//! counts the allocations made by the test's own thread while "armed".
//!
//! A global allocator can only be written with `unsafe` (`GlobalAlloc` is an
//! unsafe trait). The library itself stays `#![deny(unsafe_code)]`; the unsafe
//! here is confined to this test binary and only forwards to `System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use synfin::stats::{FailCause, Phase, Recorder};

struct Counting;

thread_local! {
    // Per thread, because tests run on parallel threads and each must see only
    // its own allocations. Const-initialized without destructor: touching these
    // from inside the allocator never allocates.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees are ours; counting touches only const thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ALLOCATIONS.with(Cell::get)
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
