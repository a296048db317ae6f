//! A whole run over the in-memory wire: one client worker and one server worker
//! stepped alternately on one thread, on a real or a virtual clock.

use std::time::Duration;

use super::client::{ClientConfig, ClientWorker};
use super::core::Macs;
use super::pacer::{Pacer, PacerMode};
use super::server::{ServerConfig, ServerWorker};
use super::stop::GracefulStop;
use crate::io::mem::{Dir, MemWire, MemWireConfig, MemWireStats};
use crate::stats::Recorder;
use crate::stats::interval::IntervalTap;
use crate::tcp::TcpConfig;
use crate::time::{Clock, Instant, MonotonicClock};
use crate::wire::ethernet::EthernetAddress;

/// Everything a run over the in-memory wire needs.
#[derive(Clone, Debug)]
pub struct MemRunConfig {
    /// Connections to open in all.
    pub connections: u64,
    /// Open-loop rate or closed loop.
    pub mode: PacerMode,
    /// Most connections open at once.
    pub concurrency: u32,
    /// The client side's TCP settings.
    pub client_tcp: TcpConfig,
    /// The server side's TCP settings.
    pub server_tcp: TcpConfig,
    /// Client addressing, tables and TIME-WAIT policy.
    pub client: ClientConfig,
    /// Server addressing and tables.
    pub server: ServerConfig,
    /// The wire and its impairments.
    pub wire: MemWireConfig,
    /// Run on a virtual clock that jumps to the next event (tests, benches).
    pub virtual_time: bool,
    /// Stop opening connections after this long.
    pub duration_limit: Duration,
    /// After the last connection is opened, wait this long for open ones to end;
    /// what is still open then is closed with FIN and reported as in flight.
    pub drain: Duration,
    /// After the drain, wait this long for the FIN closes; what is still open then
    /// is reset (see [`super::stop`]).
    pub close_timeout: Duration,
}

/// What a run produced.
#[derive(Debug)]
pub struct MemRunResult {
    /// The client's histograms and counters.
    pub client: Recorder,
    /// The server's counters.
    pub server: Recorder,
    /// From the first scheduled connection to the end of the run.
    pub duration: Duration,
    /// Wire statistics, client → server.
    pub wire_a_to_b: MemWireStats,
    /// Wire statistics, server → client.
    pub wire_b_to_a: MemWireStats,
    /// Times the client waited for a usable source tuple.
    pub tuple_waits: u64,
    /// Connections reset when the drain and the close time ran out.
    pub aborted: u64,
    /// Connections closed with FIN when the drain time ran out.
    pub closed_at_stop: u64,
    /// The run was stopped by its stop flag.
    pub interrupted: bool,
    /// Connections the server dropped for a full table.
    pub listen_overflows: u64,
}

/// Make a payload of `n` bytes that is an HTTP/1.1 message, so that HTTP servers
/// and HTTP load tools can be on the other side. A request is a `GET` padded with
/// an `X-Pad` header to end, with its empty line, exactly at `n` bytes; a response
/// is a `200` with `Connection: close` and a `Content-Length` that makes it `n`
/// bytes in all. Below the smallest such message (57 bytes either way) it is the
/// message's first bytes.
pub fn payload(n: u32, request: bool) -> Vec<u8> {
    let n = n as usize;
    if request {
        let head = b"GET / HTTP/1.1\r\nHost: dut\r\nConnection: close\r\nX-Pad: ";
        if n >= head.len() + 4 {
            let mut v = head.to_vec();
            v.resize(n - 4, b'x');
            v.extend_from_slice(b"\r\n\r\n");
            return v;
        }
        return head.iter().copied().chain(*b"\r\n\r\n").take(n).collect();
    }
    let head = |len: usize, digits: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len:0digits$}\r\nConnection: close\r\n\r\n")
    };
    // The body's length is what the header leaves, and the header's length
    // depends on the digits of the body's: pad them with zeros where no length
    // fits exactly (1059 bytes: a 3-digit length leaves 1000, a 4-digit one 999).
    for digits in 1..=10usize {
        let fixed = head(0, digits).len();
        if let Some(body) = n.checked_sub(fixed)
            && body.to_string().len() <= digits
        {
            let mut v = head(body, digits).into_bytes();
            v.resize(n, b'x');
            return v;
        }
    }
    head(0, 1).into_bytes().into_iter().take(n).collect()
}

/// A client worker, a server worker and the wire between them, ready to run.
pub struct MemRun {
    cfg: MemRunConfig,
    wire: MemWire,
    client: ClientWorker,
    server: ServerWorker,
    /// A stall to inject: from `.1` (run time) the direction `.0` delivers nothing
    /// until `.2`. See [`MemRun::stall`].
    stall: Option<(Dir, Instant, Instant)>,
    /// Set from outside (a signal) to stop opening and drain.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Per-second snapshots of the client's recorder, when asked for.
    tap: Option<IntervalTap>,
}

impl MemRun {
    /// Build everything (all allocation happens here).
    pub fn new(cfg: &MemRunConfig) -> MemRun {
        let client_mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
        let server_mac = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
        let wire = MemWire::new(cfg.wire);
        let pacer = Pacer::new(
            cfg.mode,
            Instant::ZERO,
            Some(cfg.connections),
            cfg.concurrency,
        );
        let client = ClientWorker::new(
            cfg.client_tcp.clone(),
            &cfg.client,
            pacer,
            Macs {
                local: client_mac,
                remote: server_mac,
            },
            payload(cfg.client_tcp.request_bytes, true),
        );
        let server = ServerWorker::new(
            cfg.server_tcp.clone(),
            cfg.server.clone(),
            Macs {
                local: server_mac,
                remote: client_mac,
            },
            payload(cfg.server_tcp.response_bytes, false),
        );
        MemRun {
            cfg: cfg.clone(),
            wire,
            client,
            server,
            stall: None,
            stop: None,
            tap: None,
        }
    }

    /// Stop opening, drain and report once `flag` is set (the first Ctrl-C).
    pub fn stop_on(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Make one direction of the wire stall during the run: from `from` (time since
    /// the run's start) it delivers nothing for `length`, then everything queued
    /// meanwhile. [`Dir::BtoA`] is a server that stops answering for a moment;
    /// [`Dir::AtoB`] one that stops reading. For tests of what the latencies show.
    pub fn stall(&mut self, dir: Dir, from: Duration, length: Duration) {
        let from = Instant::ZERO + from;
        self.stall = Some((dir, from, from + length));
    }

    /// Ship per-period snapshots of the client's measurements through `tap`
    /// (see [`crate::stats::interval`]); on a virtual clock the run also stops at
    /// each period's end, so that every period gets its own row.
    pub fn set_intervals(&mut self, tap: IntervalTap) {
        self.tap = Some(tap);
    }

    /// Run to the end: every connection opened and finished, or the duration limit
    /// and the drain time spent.
    pub fn run(&mut self) -> MemRunResult {
        let cfg = &self.cfg;
        let (wire, client, server) = (&mut self.wire, &mut self.client, &mut self.server);
        let tap = &mut self.tap;
        let start = Instant::ZERO;
        let mut real = MonotonicClock::new();
        let mut now = start;
        let stop_opening = start + cfg.duration_limit;
        let mut graceful = GracefulStop::new(cfg.drain, cfg.close_timeout);
        let mut interrupted = false;
        loop {
            if !cfg.virtual_time {
                now = real.now();
            }
            if let Some((dir, from, until)) = self.stall
                && now >= from
            {
                wire.pause_until(dir, until);
                self.stall = None;
            }
            let mut work = client.step(&mut wire.port_a(), now);
            work += server.step(&mut wire.port_b(), now);
            if let Some(t) = tap {
                t.tick(now, client.recorder());
            }
            let asked = self
                .stop
                .as_ref()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed));
            interrupted |= asked && !graceful.stopping();
            let end_opening = asked || now >= stop_opening || client.pacer.is_done();
            let finished = graceful.poll(client, &mut wire.port_a(), now, end_opening);
            if finished && graceful.reset > 0 {
                // Let the server see the resets.
                server.step(&mut wire.port_b(), now);
                break;
            }
            // The run ends when the client has nothing left and the server has
            // finished the connections the client's last segments end (a LAST-ACK
            // waiting for the final ACK still on the wire, say).
            if finished && server.core.open() == 0 && wire.in_flight_frames() == 0 {
                break;
            }
            if cfg.virtual_time && work == 0 {
                now = [
                    client.next_wakeup(),
                    server.next_wakeup(),
                    wire.next_delivery(),
                    graceful.deadline(),
                    (!client.stopping).then_some(stop_opening),
                    self.stall.map(|s| s.1),
                    tap.as_ref().map(IntervalTap::next_due),
                ]
                .into_iter()
                .flatten()
                .filter(|t| *t > now)
                .min()
                .unwrap_or(now + Duration::from_millis(1));
            }
        }
        if let Some(t) = tap.take() {
            t.finish(now, client.recorder());
        }
        MemRunResult {
            client: client.recorder().clone(),
            server: server.recorder().clone(),
            duration: now - start,
            wire_a_to_b: wire.stats(Dir::AtoB),
            wire_b_to_a: wire.stats(Dir::BtoA),
            tuple_waits: client.tuple_waits,
            aborted: graceful.reset,
            closed_at_stop: graceful.closed_with_fin,
            interrupted,
            listen_overflows: server.listen_overflows,
        }
    }
}

/// Run a client and a server over one in-memory wire.
pub fn run_mem(cfg: &MemRunConfig) -> MemRunResult {
    MemRun::new(cfg).run()
}

#[cfg(test)]
mod tests {
    use super::payload;

    #[test]
    fn payloads_are_http_messages_of_the_exact_size() {
        for n in [57u32, 64, 100, 1000, 65_536] {
            let r = payload(n, true);
            assert_eq!(r.len(), n as usize);
            assert!(r.starts_with(b"GET / HTTP/1.1\r\n"));
            assert!(r.ends_with(b"\r\n\r\n"));
            assert_eq!(r.windows(4).filter(|w| w == b"\r\n\r\n").count(), 1);
        }
        for n in [59u32, 60, 68, 69, 256, 1059, 100_000] {
            let r = payload(n, false);
            assert_eq!(r.len(), n as usize, "{n}");
            let text = String::from_utf8(r).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len(), "{n}");
            assert!(head.starts_with("HTTP/1.1 200 OK"));
        }
        assert_eq!(payload(0, true), b"");
        assert_eq!(payload(5, false), b"HTTP/");
        assert_eq!(payload(10, true), b"GET / HTTP");
    }
}
