// The virtual clock of tests that drive a client and a server worker over an
// in-memory wire themselves: after a step in which nothing happened, the clock
// moves to the next thing due.

use std::time::Duration;

use synfin::time::Instant;

/// The earliest of `due` after `now` (something due at or before `now` is what
/// the workers cannot act on yet: a due connection waiting for a tuple), else
/// 1 ms on.
pub fn next_due<const N: usize>(now: Instant, due: [Option<Instant>; N]) -> Instant {
    due.into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::from_millis(1))
}
