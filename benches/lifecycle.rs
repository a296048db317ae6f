//! Full connection lifecycles over the in-memory wire, both sides on one core:
//! SYN, SYN-ACK, ACK + 64-byte request, 256-byte response, FIN, FIN-ACK, ACK,
//! with checksums written and verified and histograms on. Throughput is in
//! connections (lifecycles) per second.

use std::time::{Duration, Instant as StdInstant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use synfin::engine::mem_run::MemRun;

// The binary's allocator (src/main.rs). Each iteration builds a fresh run; with the
// system allocator its tables came back as new pages every time, and faulting them
// in (the kernel zeroing each page) took most of the bench's time, which a run of
// the binary pays once at its start.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

mod common {
    use std::time::Duration;
    include!("../tests/common/lifecycle_config.rs");
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    for close in ["client", "server", "rst"] {
        let n = 20_000u64;
        let cfg = common::lifecycle_config(n, close);
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("close_{close}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut run = MemRun::new(&cfg);
                    let t = StdInstant::now();
                    let r = run.run();
                    total += t.elapsed();
                    assert_eq!(r.client.counters.completed, n);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = lifecycle
}
criterion_main!(benches);
