//! A hostile peer (issue 6, point 3): random flags, wrong acknowledgement numbers,
//! window 0, segments for connections that never existed, floods of RSTs and
//! bytes that are not frames, against a client worker and a server worker. Neither
//! may panic, grow past its tables, lose a connection from the counts, send to
//! anyone but its peer, or keep a control block or a TIME-WAIT record after the
//! peer falls silent and every timer has run. Virtual time: no timed assertion.
//!
//! The same sessions are the fuzz targets `engine_client` and `engine_server`
//! (`fuzz/`), where the fuzzer's bytes choose instead of a seeded generator.

#[path = "common/hostile.rs"]
mod hostile;

use hostile::{Outcome, Rng, client_session, server_session};

fn sum(a: &mut Outcome, b: &Outcome) {
    a.attempted += b.attempted;
    a.completed += b.completed;
    a.failed += b.failed;
    a.rx_frames += b.rx_frames;
    a.tx_frames += b.tx_frames;
    a.rst_received += b.rst_received;
    a.tw_entered += b.tw_entered;
    a.peak_open = a.peak_open.max(b.peak_open);
    a.peak_tw = a.peak_tw.max(b.peak_tw);
}

#[test]
fn a_client_keeps_its_promises_against_a_hostile_server() {
    let mut total = Outcome::default();
    for seed in 0..300u64 {
        let o = client_session(Rng(seed), 2_000);
        sum(&mut total, &o);
    }
    eprintln!("{total:?}");
    // The peer was hostile and also plausible enough to get connections through.
    assert!(total.rx_frames > 100_000, "{total:?}");
    assert!(total.completed > 0 && total.failed > 0, "{total:?}");
    assert!(total.rst_received > 0 && total.tw_entered > 0, "{total:?}");
}

#[test]
fn a_server_keeps_its_promises_against_hostile_clients() {
    let mut total = Outcome::default();
    for seed in 0..300u64 {
        let o = server_session(Rng(seed ^ 0xdead_beef), 2_000);
        sum(&mut total, &o);
    }
    eprintln!("{total:?}");
    assert!(total.rx_frames > 100_000, "{total:?}");
    assert!(total.attempted > 0 && total.failed > 0, "{total:?}");
    assert!(total.rst_received > 0, "{total:?}");
}
