// The virtual clock of tests that drive a client and a server worker over an
// in-memory wire themselves: after a step in which nothing happened, the clock
// moves to the next thing due.

use std::time::Duration;

use synfin::engine::client::ClientWorker;
use synfin::engine::server::ServerWorker;
use synfin::io::mem::MemWire;
use synfin::time::Instant;

/// The earliest wake-up of `client`, `server` or `wire` after `now` (one at or
/// before `now` is something the workers cannot act on yet: a due connection
/// waiting for a tuple), else 1 ms on.
pub fn next_due(
    now: Instant,
    client: &ClientWorker,
    server: &ServerWorker,
    wire: &MemWire,
) -> Instant {
    [
        client.next_wakeup(),
        server.next_wakeup(),
        wire.next_delivery(),
    ]
    .into_iter()
    .flatten()
    .filter(|t| *t > now)
    .min()
    .unwrap_or(now + Duration::from_millis(1))
}
