//! Once a run has started, no connection allocates: a run of 20,000 connections
//! performs exactly as many allocations as a run of 1,000 (those of building the
//! result at the end).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use synfin::engine::mem_run::MemRun;

mod common {
    use std::time::Duration;
    include!("common/lifecycle_config.rs");
}

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed unchanged to the system allocator; the wrapper only
// counts, in a thread-local cell that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during_run(n: u64, close: &str) -> u64 {
    let mut run = MemRun::new(&common::lifecycle_config(n, close));
    let before = ALLOCS.with(|c| c.get());
    let r = run.run();
    let after = ALLOCS.with(|c| c.get());
    assert_eq!(r.client.counters.completed, n);
    after - before
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
