//! Load shapes over the in-memory wire, on a virtual clock (deterministic): what an
//! open-loop and a closed-loop run show of a server that stalls for a moment.

use std::time::Duration;

use clap::Parser;
use synfin::cli::{Cli, Command, mem_config};
use synfin::engine::mem_run::{MemRun, MemRunResult};
use synfin::io::mem::Dir;
use synfin::stats::{Counters, Phase, Report};

fn config(args: &[&str]) -> synfin::engine::mem_run::MemRunConfig {
    let line: Vec<&str> = ["synfin", "run", "--io", "mem", "--virtual-time"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let Command::Run(a) = Cli::try_parse_from(line).expect("parses").command else {
        panic!("run expected")
    };
    mem_config(&a).expect("valid")
}

/// 20,000 connections over a wire with 100 µs of delay each way; the server stops
/// answering for 100 ms from 10 ms into the run.
fn stalled_run(rate: &str) -> MemRunResult {
    let cfg = config(&[
        "-n",
        "20k",
        "--rate",
        rate,
        "--concurrency",
        "64",
        "--delay",
        "100us",
    ]);
    let mut run = MemRun::new(&cfg);
    run.stall(
        Dir::BtoA,
        Duration::from_millis(10),
        Duration::from_millis(100),
    );
    run.run()
}

#[track_caller]
fn assert_all_completed(c: &Counters) {
    assert_eq!(c.attempted, 20_000);
    assert_eq!(c.completed, 20_000, "{c:?}");
    assert_eq!(c.failed_total(), 0);
}

#[test]
fn open_loop_shows_a_stall_that_closed_loop_hides() {
    let open = Report::new(stalled_run("10k").client, "mem", Duration::from_secs(1));
    let closed = Report::new(stalled_run("max").client, "mem", Duration::from_secs(1));
    assert_all_completed(open.counters());
    assert_all_completed(closed.counters());
    let ms = 1_000_000;
    for phase in [Phase::Connect, Phase::Lifecycle] {
        let (o, c) = (open.latency(phase), closed.latency(phase));
        // Open loop: the ~1,000 connections scheduled during the stall kept their
        // scheduled start, so 5 % of the samples carry the stall and the p99 shows
        // it.
        assert!(o.max >= 90 * ms, "{phase}: open-loop max {} ns", o.max);
        assert!(o.p99 >= 50 * ms, "{phase}: open-loop p99 {} ns", o.p99);
        // Closed loop: only the 64 connections open at the time waited (0.3 % of
        // the samples); the generator slowed down with the server, and the p99
        // stays at the wire's round trips (a few hundred µs).
        assert!(c.p99 < ms, "{phase}: closed-loop p99 {} ns", c.p99);
        assert!(o.p99 > 50 * c.p99, "{phase}");
    }
    // The closed loop did see the stall — in the few connections open then, which
    // fall beyond the p99.
    let c = closed.latency(Phase::Lifecycle);
    assert!(c.max >= 90 * ms, "closed-loop lifecycle max {} ns", c.max);
    // The ~1,000 connections that fell due while the cap was full (the stall, and
    // the catching up after it) are counted in open loop, and only there (a closed
    // loop waits for the cap by design).
    let deferred = open.counters().deferred_by_cap;
    assert!(
        (1_000..=1_200).contains(&deferred),
        "deferred by cap: {deferred}"
    );
    assert_eq!(closed.counters().deferred_by_cap, 0);
    let j = open.to_json();
    assert_eq!(j["connections"]["deferred_by_cap"], deferred);
    assert!(open.to_text().contains("waited for cap"));
}

#[test]
fn without_a_stall_open_and_closed_loop_agree() {
    // The control: the difference above is the stall's, not the modes'.
    for rate in ["10k", "max"] {
        let cfg = config(&[
            "-n",
            "20k",
            "--rate",
            rate,
            "--concurrency",
            "64",
            "--delay",
            "100us",
        ]);
        let r = Report::new(
            MemRun::new(&cfg).run().client,
            "mem",
            Duration::from_secs(1),
        );
        assert_all_completed(r.counters());
        assert!(r.latency(Phase::Connect).p99 < 1_000_000, "{rate}");
        assert_eq!(r.counters().deferred_by_cap, 0, "{rate}");
    }
}
