//! Timer wheel throughput in a steady state of about a million pending timers,
//! advancing 1 ms per step as a worker does once per burst.
//!
//! Each step polls the wheel to the new millisecond (firing and, as the engine
//! would, checking each fired entry's generation: most RTO timers are stale,
//! their segment having been acknowledged) and arms the timers of the connections
//! opened in that millisecond. One iteration is 4096 steps (the span of a level-2
//! slot, so each sample holds the same share of cascades); throughput is counted
//! in timer operations (one insert plus one fire per timer).
//!
//! - `mixed_16k_cps`: 16 connections per ms, each arming a SYN RTO and a FIN RTO
//!   (1 s, both stale when they fire) and a 60 s TIME-WAIT timer: about 990 k
//!   pending, 96 ops per step.
//! - `rto_1m_cps`: 1000 connections per ms (1 M CPS), each arming one 1 s RTO:
//!   1 M pending, 2000 ops per step. (Its TIME-WAIT timers would add 60 M entries,
//!   1.4 GB, which this bench leaves out.)
//!
//! Before measuring, each case prints its median, p99.9 and worst step time over
//! 8192 steps: a cascade moves a whole higher-level slot in one poll, so the worst
//! step is what a worker's burst loop has to absorb.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synfin::engine::wheel::TimerWheel;

/// What the engine would put in a wheel entry: a slab index and its generation.
#[derive(Clone, Copy)]
struct TimerRef {
    index: u32,
    generation: u32,
}

/// A worker's wheel in steady state, with the generations it checks fired
/// entries against.
struct Steady {
    wheel: TimerWheel<TimerRef>,
    /// Current generation of each (fake) connection slot.
    generations: Vec<u32>,
    now: u64,
    next_conn: u32,
    conns_per_ms: u32,
    /// Deadlines, relative to now, that each new connection arms, and whether the
    /// timer will be stale (cancelled) by the time it fires.
    timers: &'static [(u64, bool)],
    fired_live: u64,
    fired_stale: u64,
}

impl Steady {
    fn new(conns_per_ms: u32, timers: &'static [(u64, bool)], capacity: usize) -> Self {
        let mut s = Steady {
            wheel: TimerWheel::new(capacity, 0),
            generations: vec![0; 1 << 20],
            now: 0,
            next_conn: 0,
            conns_per_ms,
            timers,
            fired_live: 0,
            fired_stale: 0,
        };
        let longest = timers.iter().map(|t| t.0).max().unwrap();
        for _ in 0..=longest {
            s.step();
        }
        s
    }

    /// One millisecond of a worker's life: poll, then arm new connections' timers.
    fn step(&mut self) -> usize {
        self.now += 1;
        let generations = &self.generations;
        let (mut live, mut stale) = (0u64, 0u64);
        let fired = self.wheel.poll(self.now, |deadline, t| {
            // Lazy cancel: a generation that moved on means the timer is stale.
            if generations[t.index as usize] == t.generation {
                live += 1;
                black_box((deadline, t.index));
            } else {
                stale += 1;
            }
        });
        self.fired_live += live;
        self.fired_stale += stale;
        for _ in 0..self.conns_per_ms {
            let index = self.next_conn & ((1 << 20) - 1);
            self.next_conn = self.next_conn.wrapping_add(1);
            for &(after, cancelled) in self.timers {
                let generation = self.generations[index as usize];
                self.wheel
                    .insert(self.now + after, TimerRef { index, generation })
                    .unwrap_or_else(|_| panic!("wheel full"));
                if cancelled {
                    self.generations[index as usize] = generation.wrapping_add(1);
                }
            }
        }
        fired
    }
}

/// Steps (ms) in one iteration: the span of a level-2 slot.
const PERIOD: u64 = 4096;

/// SYN RTO and FIN RTO (stale when they fire), TIME-WAIT (live).
const MIXED: &[(u64, bool)] = &[(1_000, true), (1_000, true), (60_000, false)];
/// One RTO, stale when it fires.
const RTO: &[(u64, bool)] = &[(1_000, true)];

fn steady_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("wheel_steady_1M_pending");
    for (name, conns_per_ms, timers) in [("mixed_16k_cps", 16, MIXED), ("rto_1m_cps", 1000, RTO)] {
        let mut s = Steady::new(conns_per_ms, timers, 1_100_000);
        eprintln!(
            "{name}: {} pending after warm-up ({} live, {} stale fired so far)",
            s.wheel.len(),
            s.fired_live,
            s.fired_stale
        );
        // Cascades move a whole higher-level slot at once: report the worst step
        // over 8192 ms (two turns of a level-2 slot), not just the mean.
        let mut steps: Vec<u64> = (0..8192)
            .map(|_| {
                let t = Instant::now();
                s.step();
                t.elapsed().as_nanos() as u64
            })
            .collect();
        steps.sort_unstable();
        eprintln!(
            "{name}: step time over 8192 steps: median {} ns, p99.9 {} ns, 4 worst {:?} ns",
            steps[steps.len() / 2],
            steps[steps.len() * 999 / 1000],
            &steps[steps.len() - 4..]
        );
        // One iteration is a whole level-2 period, so every sample holds the same
        // mix of plain steps and cascades and the mean is the amortised cost.
        let ops = 2 * u64::from(conns_per_ms) * timers.len() as u64 * PERIOD;
        group.throughput(Throughput::Elements(ops));
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..PERIOD {
                    s.step();
                }
            })
        });
        assert!(s.wheel.len() <= 1_100_000);
    }
    group.finish();
}

/// Draining a million timers spread over an hour by jumping a virtual clock from
/// one `next_deadline` to the next, as scenario tests do.
fn virtual_clock_drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("wheel_virtual_clock");
    const N: u64 = 1_000_000;
    group.throughput(Throughput::Elements(N));
    let mut wheel: TimerWheel<u32> = TimerWheel::new(N as usize, 0);
    group.bench_function("drain_1M_over_1h", |b| {
        b.iter(|| {
            let start = wheel.now_ms();
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for i in 0..N {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                wheel.insert(start + 1 + x % 3_600_000, i as u32).unwrap();
            }
            let mut fired = 0;
            while let Some(t) = wheel.next_deadline() {
                fired += wheel.poll(t, |d, i| {
                    black_box((d, i));
                });
            }
            assert_eq!(fired, N as usize);
        })
    });
    group.finish();
}

criterion_group!(benches, steady_state, virtual_clock_drain);
criterion_main!(benches);
