//! Per-packet lookup structures at a million flows.
//!
//! - `flow_table`: 1 M flows in 2 M slots (load ½, 32 MiB, far beyond cache):
//!   lookups of present and absent tuples in random order, and FIFO churn
//!   (remove the oldest flow, insert a new one) that keeps the load at ½.
//! - `slab`: 128-byte control blocks, 1 M entries, ½ M in use: FIFO churn (free the
//!   oldest, allocate a new one) and checked gets in random order.
//! - `tuple_index`: 16 source addresses × ports 1024‥=65535 (1 M tuples, 4 MiB):
//!   index computation plus get, and set, in random order.
//!
//! Tuples are drawn from source ranges (consecutive addresses and ports), the
//! shape a load tester really sees; random order defeats the cache as a burst of
//! packets for unrelated connections does.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synfin::engine::flow_table::{FlowKey, FlowTable};
use synfin::engine::slab::{Slab, SlabKey};
use synfin::engine::tuple_index::TupleIndex;

const FLOWS: u32 = 1 << 20;
const PORTS: u32 = 64_512;

/// The `n`-th flow from a client source range to one server (server side's view:
/// remote is the client).
fn flow(n: u32) -> FlowKey {
    FlowKey {
        remote_ip: 0xc613_0000 + n / PORTS,
        local_ip: 0xc612_0001,
        remote_port: (1024 + n % PORTS) as u16,
        local_port: 80,
    }
}

/// A pseudo-random permutation of `0..n`.
fn shuffled(n: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn flow_table(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow_table_1M_load_half");
    group.throughput(Throughput::Elements(1));
    let mut table = FlowTable::with_capacity(FLOWS as usize, 0x5eed_1234_abcd_ef01);
    for n in 0..FLOWS {
        table.insert(flow(n), n).unwrap();
    }
    let order = shuffled(FLOWS);
    let hits: Vec<FlowKey> = order.iter().map(|&n| flow(n)).collect();
    let misses: Vec<FlowKey> = order.iter().map(|&n| flow(n + FLOWS)).collect();

    let mut i = 0usize;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) & (FLOWS as usize - 1);
            table.get(&hits[i])
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) & (FLOWS as usize - 1);
            table.get(&misses[i])
        })
    });
    // FIFO churn: flows n-1M.. are live; close the oldest, open the next.
    let mut next = FLOWS;
    group.bench_function("insert_remove", |b| {
        b.iter(|| {
            let old = table.remove(&flow(next - FLOWS));
            let new = table.insert(flow(next), next);
            next = next.wrapping_add(1);
            (old, new)
        })
    });
    assert_eq!(table.len(), FLOWS as usize);
    group.finish();
}

/// A control block about the size the engine's will be.
#[derive(Clone, Copy, Default)]
struct ControlBlock {
    words: [u64; 16],
}

fn slab(c: &mut Criterion) {
    let mut group = c.benchmark_group("slab_1M_half_full");
    group.throughput(Throughput::Elements(1));
    let mut slab: Slab<ControlBlock> = Slab::new(FLOWS as usize);
    let half = FLOWS as usize / 2;
    let mut ring: Vec<SlabKey> = (0..half)
        .map(|_| slab.insert(ControlBlock::default()).unwrap())
        .collect();
    let mut i = 0usize;
    group.bench_function("insert_remove", |b| {
        b.iter(|| {
            i = (i + 1) % half;
            slab.remove(ring[i]).unwrap();
            ring[i] = slab.insert(black_box(ControlBlock::default())).unwrap();
        })
    });
    let order: Vec<SlabKey> = shuffled(half as u32)
        .iter()
        .map(|&n| ring[n as usize])
        .collect();
    group.bench_function("get_checked", |b| {
        b.iter(|| {
            i = (i + 1) % half;
            slab.get(order[i]).map(|cb| cb.words[0])
        })
    });
    group.finish();
}

fn tuple_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("tuple_index_1M");
    group.throughput(Throughput::Elements(1));
    let mut index = TupleIndex::new(16, 1024, 65535);
    let n = index.len() as u32;
    let tuples: Vec<(u32, u16)> = shuffled(n)
        .iter()
        .map(|&k| (k / PORTS, (1024 + k % PORTS) as u16))
        .collect();
    let mut i = 0usize;
    group.bench_function("set", |b| {
        b.iter(|| {
            i = (i + 1) % tuples.len();
            let (a, p) = tuples[i];
            let idx = index.index_of(a, p).unwrap();
            index.set(idx, i as u32);
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 1) % tuples.len();
            let (a, p) = tuples[i];
            index.index_of(a, p).map(|idx| index.get(idx))
        })
    });
    group.finish();
}

criterion_group!(benches, flow_table, slab, tuple_index);
criterion_main!(benches);
