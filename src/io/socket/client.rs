//! The socket client: one thread, one edge-triggered epoll loop, connections
//! opened on the [`Pacer`]'s schedule and driven through socket calls.
//!
//! Per connection: a non-blocking `socket()`; with source addresses, `bind` to
//! the next one round-robin with `IP_BIND_ADDRESS_NO_PORT` (the kernel picks the
//! port at `connect`, for the whole 4-tuple); `connect()` (`EINPROGRESS`); on
//! writable, `SO_ERROR` says connected or why not; write the request; read the
//! response, counting bytes; then close as [`CloseMode`] says:
//!
//! - [`CloseMode::Client`]: `shutdown(SHUT_WR)` sends our FIN; `recv` returning 0
//!   is the server's FIN (TIME-WAIT begins here); then `close()`;
//! - [`CloseMode::Server`]: wait for the server's FIN (`recv` returns 0), then
//!   `close()` (our FIN; TIME-WAIT is on the server);
//! - [`CloseMode::Rst`]: `SO_LINGER {1, 0}` then `close()`: RST, no TIME-WAIT.
//!
//! The phases recorded, and how they differ from the engine's, are in the
//! [module documentation](super). Timeouts: `connect_timeout` bounds the
//! handshake (then `syn_timeout`); `io_timeout` bounds each of the two waits
//! after it — request and response together (then `data_timeout`), and the
//! close (then `fin_timeout` with close `client`, `data_timeout` while waiting
//! for the server's FIN with close `server`, as the engine's idle timer says).
//! A connection that times out is aborted with RST. Timers of one duration are
//! armed in time order, so each kind lives in a FIFO, sorted by construction,
//! cancelled lazily by a per-connection timer id.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use super::sys::{self, EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, Epoll, Events};
use super::{ErrnoCounts, Stage, cause_of, ensure_slot, epoll_token, errno_of, token_parts};
use crate::engine::live::LiveCounters;
use crate::engine::mem_run::payload;
use crate::engine::pacer::{Pacer, PacerMode};
use crate::stats::interval::IntervalTap;
use crate::stats::{FailCause, Phase, Recorder};
use crate::tcp::CloseMode;
use crate::time::{Clock, Instant, MonotonicClock};

/// What the socket client runs.
#[derive(Clone, Debug)]
pub struct SocketClientConfig {
    /// The server.
    pub dst: SocketAddrV4,
    /// Source addresses `first..=last`, used round-robin; `None`: the kernel
    /// chooses the address. The port is always the kernel's choice.
    pub src: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Connections to open in all.
    pub connections: u64,
    /// Open-loop rate (latency from each connection's scheduled start) or
    /// closed loop.
    pub mode: PacerMode,
    /// Most connections open at once (at least 1).
    pub concurrency: u32,
    /// Request bytes written once connected (0: none).
    pub request_bytes: u32,
    /// Response bytes expected; fewer before the server's FIN is
    /// `short_response`.
    pub response_bytes: u32,
    /// Who closes, and how.
    pub close: CloseMode,
    /// Stop opening connections after this long.
    pub duration: Duration,
    /// Then wait this long for open connections to end; those still open are
    /// closed (FIN: what they received is read first, so the kernel has no reason
    /// to reset) and counted in flight.
    pub drain: Duration,
    /// Set from outside (the first Ctrl-C): stop opening and drain.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Longest wait for the handshake.
    pub connect_timeout: Duration,
    /// Longest wait for the response, and again for the close.
    pub io_timeout: Duration,
}

impl SocketClientConfig {
    /// A closed-loop run of `connections` to `dst` with the engine's defaults:
    /// 64-byte requests, 256-byte responses, client close, 50 open at once,
    /// 60 s at most, 5 s of drain, 3 s connect and 5 s I/O timeouts.
    pub fn new(dst: SocketAddrV4, connections: u64) -> SocketClientConfig {
        SocketClientConfig {
            dst,
            src: None,
            connections,
            mode: PacerMode::Max,
            concurrency: 50,
            request_bytes: 64,
            response_bytes: 256,
            close: CloseMode::Client,
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(5),
            stop: None,
            connect_timeout: Duration::from_secs(3),
            io_timeout: Duration::from_secs(5),
        }
    }
}

/// What a client run produced.
#[derive(Debug)]
pub struct ClientRun {
    /// Latency histograms and counters. `attempted == completed + failed +
    /// in_flight`; byte counters count payload; `rst_sent` counts RST closes,
    /// `rst_received` connections ended by `ECONNREFUSED` or `ECONNRESET`.
    pub recorder: Recorder,
    /// From the first scheduled connection to the end of the run (drain
    /// included).
    pub duration: Duration,
    /// Every errno that ended an attempt, by name (timeouts and short responses
    /// are not errnos and are not here).
    pub errors_by_errno: BTreeMap<String, u64>,
    /// Open loop: due connections that waited for the concurrency cap
    /// ([`Pacer::deferred_by_cap`]).
    pub deferred_by_cap: u64,
    /// Connections still open when the drain ran out, closed with FIN.
    pub closed_at_stop: u64,
    /// The run was stopped by its stop flag.
    pub interrupted: bool,
}

/// Runs the client to the end: every connection opened and finished, or the
/// duration and then the drain time spent. Raises the soft limit of open files
/// to the hard limit. Errors only when the run cannot start or epoll fails.
pub fn run_client(cfg: &SocketClientConfig) -> io::Result<ClientRun> {
    run_client_with(cfg, None)
}

/// [`run_client`], shipping per-period snapshots through `tap` (see
/// [`crate::stats::interval`]).
pub fn run_client_with(
    cfg: &SocketClientConfig,
    tap: Option<IntervalTap>,
) -> io::Result<ClientRun> {
    run_client_inner(cfg, tap, None)
}

/// [`run_client`], also publishing the running totals into slot 0 of `live` on
/// every pass of the loop, for an observer that samples the run over time.
pub fn run_client_observed(
    cfg: &SocketClientConfig,
    live: Option<&LiveCounters>,
) -> io::Result<ClientRun> {
    run_client_inner(cfg, None, live)
}

fn run_client_inner(
    cfg: &SocketClientConfig,
    tap: Option<IntervalTap>,
    live: Option<&LiveCounters>,
) -> io::Result<ClientRun> {
    validate(cfg)?;
    // Best effort: the default soft limit may be enough.
    let _ = sys::raise_nofile_limit();
    let mut client = Client::new(cfg)?;
    client.live = live;
    client.tap = tap;
    client.run()
}

fn validate(cfg: &SocketClientConfig) -> io::Result<()> {
    let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
    if cfg.concurrency == 0 {
        return invalid("the concurrency cap must be at least 1");
    }
    if let PacerMode::Rate { cps } = cfg.mode
        && !(1e-6..=1e12).contains(&cps)
    {
        return invalid("the rate must be within 0.000001..=10^12 connections/s");
    }
    if let Some((first, last)) = cfg.src {
        if first > last {
            return invalid("the source range ends before it starts");
        }
        check_sources_local(first, last)?;
    }
    Ok(())
}

/// Most source addresses [`check_sources_local`] tries.
const CHECKED_SOURCES: u64 = 4096;

/// Whether the addresses of `first..=last` are this host's (or network
/// namespace's): the kernel's client binds each connection to a source, and a bind
/// to a foreign address fails, which would fail every connection as `no_tuple`. A
/// bind with port 0 and `IP_BIND_ADDRESS_NO_PORT` takes no port; the test socket is
/// closed at once. Every address of a range of up to [`CHECKED_SOURCES`] is tried,
/// and that many evenly spaced ones (the first and the last among them) of a longer
/// one, so that a whole /8 of loopback costs no more than a few milliseconds.
fn check_sources_local(first: Ipv4Addr, last: Ipv4Addr) -> io::Result<()> {
    let (lo, hi) = (u64::from(u32::from(first)), u64::from(u32::from(last)));
    let span = hi - lo;
    let tries = span.min(CHECKED_SOURCES - 1);
    for i in 0..=tries {
        // (i = tries gives the last address; a range of one address has tries = 0.)
        let off = (span * i).checked_div(tries).unwrap_or(0);
        let ip = Ipv4Addr::from((lo + off) as u32);
        let fd = sys::tcp_socket()?;
        sys::set_bind_address_no_port(fd.as_fd(), true)?;
        match sys::bind(fd.as_fd(), SocketAddrV4::new(ip, 0)) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "--src {ip} is not an address of this host or namespace: the kernel's \
                         client binds its sources, so they must be its own (add them with \
                         `ip addr add {ip}/32 dev IF`, or leave --src out to let the kernel \
                         choose)"
                    ),
                ));
            }
            other => other?,
        }
    }
    Ok(())
}

/// Where a connection is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Step {
    /// The slot holds no connection.
    #[default]
    Free,
    /// `connect` issued, waiting for writable.
    Connecting,
    /// Writing the request.
    Sending,
    /// Reading the response.
    Receiving,
    /// Close `server`: response in, waiting for the server's FIN.
    AwaitFin,
    /// Close `client`: our FIN sent, waiting for the server's.
    Closing,
}

impl Step {
    fn stage(self) -> Stage {
        match self {
            Step::Free | Step::Connecting => Stage::Connect,
            Step::Sending | Step::Receiving | Step::AwaitFin => Stage::Data,
            Step::Closing => Stage::Closing,
        }
    }
}

/// A connection's state, in the table at the index of its descriptor.
#[derive(Debug, Default)]
struct Conn {
    fd: Option<OwnedFd>,
    /// Incarnation of this descriptor number (see the epoll data).
    generation: u32,
    step: Step,
    /// Scheduled start: `connect` and `lifecycle` are measured from it.
    start: Instant,
    /// Start of the phase under way: request sent (`ttfb`), our FIN (`close`).
    mark: Instant,
    /// Request bytes written.
    sent: u32,
    /// Response bytes read.
    got: u64,
    /// Id of the connection's live timer; older FIFO entries are stale.
    timer: u64,
}

/// A FIFO timer entry.
#[derive(Clone, Copy, Debug)]
struct Timer {
    deadline: Instant,
    fd: u32,
    id: u64,
}

/// Connections released per pass of the loop, at most (then events are read).
const OPEN_BURST: usize = 64;
/// Events taken per wait.
const EVENTS: usize = 256;
/// Requests longer than this may span segments; only then is Nagle switched off
/// (one `setsockopt` saved per connection otherwise; a single `send` of a short
/// request leaves at once either way).
const NODELAY_ABOVE: u32 = 536;

struct Client<'a> {
    cfg: &'a SocketClientConfig,
    clock: MonotonicClock,
    epoll: Epoll,
    conns: Vec<Conn>,
    request: Vec<u8>,
    scratch: Box<[u8]>,
    rec: Recorder,
    errnos: ErrnoCounts,
    open: u32,
    /// Source addresses (host order): first, count, next offset.
    src_first: u32,
    src_count: u64,
    src_next: u64,
    connect_timers: VecDeque<Timer>,
    io_timers: VecDeque<Timer>,
    next_timer: u64,
    /// Where running totals are published, if anyone watches.
    live: Option<&'a LiveCounters>,
    tap: Option<IntervalTap>,
}

impl<'a> Client<'a> {
    fn new(cfg: &'a SocketClientConfig) -> io::Result<Client<'a>> {
        let (src_first, src_count) = cfg.src.map_or((0, 0), |(first, last)| {
            let (first, last) = (u32::from(first), u32::from(last));
            (first, u64::from(last - first) + 1)
        });
        let table = (cfg.concurrency as usize)
            .saturating_mul(2)
            .clamp(1024, 1 << 16);
        let mut conns = Vec::new();
        conns.resize_with(table, Conn::default);
        Ok(Client {
            cfg,
            clock: MonotonicClock::new(),
            epoll: Epoll::new()?,
            conns,
            request: payload(cfg.request_bytes, true),
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
            rec: Recorder::new(),
            errnos: ErrnoCounts::new(),
            open: 0,
            src_first,
            src_count,
            src_next: 0,
            connect_timers: VecDeque::with_capacity(table),
            io_timers: VecDeque::with_capacity(table),
            next_timer: 0,
            live: None,
            tap: None,
        })
    }

    fn run(mut self) -> io::Result<ClientRun> {
        let cfg = self.cfg;
        let start = self.clock.now();
        let mut pacer = Pacer::new(cfg.mode, start, Some(cfg.connections), cfg.concurrency);
        let stop_opening = start + cfg.duration;
        let mut drain_end: Option<Instant> = None;
        let mut events = Events::with_capacity(EVENTS);
        let (mut closed_at_stop, mut interrupted) = (0, false);
        let end = loop {
            let mut now = self.clock.now();
            if drain_end.is_none()
                && cfg
                    .stop
                    .as_ref()
                    .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
            {
                interrupted = true;
                drain_end = Some(now + cfg.drain);
            }
            if drain_end.is_none() {
                for _ in 0..OPEN_BURST {
                    if now >= stop_opening {
                        break;
                    }
                    let Some(scheduled) = pacer.next_due(now, self.open) else {
                        break;
                    };
                    pacer.started();
                    self.open_one(scheduled);
                    now = self.clock.now();
                }
                if now >= stop_opening || pacer.is_done() {
                    drain_end = Some(now + cfg.drain);
                }
            }
            self.expire(now);
            if let Some(live) = self.live {
                live.publish(0, &self.rec.counters);
            }
            if let Some(t) = &mut self.tap {
                t.tick(now, &self.rec);
            }
            if drain_end.is_some() && self.open == 0 {
                break now;
            }
            if drain_end.is_some_and(|d| now >= d) {
                closed_at_stop = self.close_open();
                break now;
            }
            let opening = drain_end.is_none();
            let wake = [
                self.connect_timers.front().map(|t| t.deadline),
                self.io_timers.front().map(|t| t.deadline),
                drain_end,
                opening.then(|| pacer.next_wakeup(self.open)).flatten(),
                opening.then_some(stop_opening),
                self.tap.as_ref().map(IntervalTap::next_due),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = wake.map(|w| Duration::from_nanos(w.nanos_since(now)));
            self.epoll.wait(&mut events, timeout)?;
            for i in 0..events.len() {
                let (bits, data) = events.get(i);
                self.on_event(bits, data);
            }
        };
        if let Some(live) = self.live {
            live.publish(0, &self.rec.counters);
        }
        self.rec.counters.deferred_by_cap = pacer.deferred_by_cap();
        if let Some(t) = self.tap.take() {
            t.finish(end, &self.rec);
        }
        Ok(ClientRun {
            recorder: self.rec,
            duration: end - start,
            errors_by_errno: self.errnos.to_map(),
            deferred_by_cap: pacer.deferred_by_cap(),
            closed_at_stop,
            interrupted,
        })
    }

    /// Starts one attempt scheduled at `scheduled`; it is counted whatever
    /// happens to it.
    fn open_one(&mut self, scheduled: Instant) {
        self.rec.counters.attempted += 1;
        let fd = match self.new_socket() {
            Ok(fd) => fd,
            Err(e) => return self.fail_unopened(&e),
        };
        let connected = match sys::connect(fd.as_fd(), self.cfg.dst) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => false,
            Err(e) => return self.fail_unopened(&e),
        };
        let i = fd.as_raw_fd() as usize;
        ensure_slot(&mut self.conns, i);
        let generation = self.conns[i].generation.wrapping_add(1);
        self.conns[i].generation = generation;
        let watch = EPOLLIN | EPOLLOUT | EPOLLET;
        if let Err(e) = self
            .epoll
            .add(fd.as_fd(), watch, epoll_token(i, generation))
        {
            return self.fail_unopened(&e);
        }
        self.conns[i] = Conn {
            fd: Some(fd),
            generation,
            step: Step::Connecting,
            start: scheduled,
            ..Conn::default()
        };
        self.open += 1;
        let deadline = self.clock.now() + self.cfg.connect_timeout;
        self.arm(i, deadline, false);
        if connected {
            self.drive(i, EPOLLOUT);
        }
    }

    /// `socket()`, and the options and source address the run asks for.
    fn new_socket(&mut self) -> io::Result<OwnedFd> {
        let fd = sys::tcp_socket()?;
        if self.cfg.request_bytes > NODELAY_ABOVE {
            sys::set_nodelay(fd.as_fd(), true)?;
        }
        if self.src_count > 0 {
            let ip = self.src_first + self.src_next as u32;
            self.src_next = (self.src_next + 1) % self.src_count;
            sys::set_bind_address_no_port(fd.as_fd(), true)?;
            sys::bind(fd.as_fd(), SocketAddrV4::new(Ipv4Addr::from(ip), 0))?;
        }
        Ok(fd)
    }

    /// Arms connection `i`'s timer (the connect FIFO or the I/O FIFO), replacing
    /// the one it had.
    fn arm(&mut self, i: usize, deadline: Instant, io: bool) {
        self.next_timer += 1;
        self.conns[i].timer = self.next_timer;
        let t = Timer {
            deadline,
            fd: i as u32,
            id: self.next_timer,
        };
        if io {
            self.io_timers.push_back(t);
        } else {
            self.connect_timers.push_back(t);
        }
    }

    /// Ends the connections whose live timer has expired by `now`, and drops
    /// stale entries (of connections that moved on) from the front of each FIFO
    /// whatever their deadline: the FIFOs then hold about one entry per open
    /// connection instead of one per connection of the last timeout's worth, and
    /// their fronts are true wake-up times.
    fn expire(&mut self, now: Instant) {
        for io in [false, true] {
            loop {
                let q = if io {
                    &mut self.io_timers
                } else {
                    &mut self.connect_timers
                };
                let Some(&t) = q.front() else { break };
                let c = &self.conns[t.fd as usize];
                let live = c.step != Step::Free && c.timer == t.id;
                if live && t.deadline > now {
                    break;
                }
                q.pop_front();
                if live {
                    // A timeout is no errno: the cause is the one ETIMEDOUT
                    // would have at this stage.
                    let cause = cause_of(c.step.stage(), libc::ETIMEDOUT);
                    self.end(t.fd as usize, Err((cause, None)), true);
                }
            }
        }
    }

    fn on_event(&mut self, bits: u32, data: u64) {
        let (i, generation) = token_parts(data);
        match self.conns.get(i) {
            Some(c) if c.step != Step::Free && c.generation == generation => self.drive(i, bits),
            // An event of an earlier connection on this descriptor number.
            _ => {}
        }
    }

    /// Moves connection `i` as far as it can go without blocking; `bits` are the
    /// readiness epoll reported (only the handshake needs them).
    fn drive(&mut self, i: usize, bits: u32) {
        let (req, resp) = (
            self.request.len() as u32,
            u64::from(self.cfg.response_bytes),
        );
        loop {
            let c = &mut self.conns[i];
            let Some(fd) = c.fd.as_ref() else { return };
            let step = c.step;
            match step {
                Step::Free => return,
                Step::Connecting => {
                    if bits & (EPOLLOUT | EPOLLERR | EPOLLHUP) == 0 {
                        return;
                    }
                    match sys::take_error(fd.as_fd()) {
                        Ok(None) if bits & EPOLLOUT != 0 => {
                            let now = self.clock.now();
                            self.rec.record_between(Phase::Connect, c.start, now);
                            c.step = Step::Sending;
                            c.mark = now;
                            self.arm(i, now + self.cfg.io_timeout, true);
                        }
                        // No error and not writable: not an answer yet.
                        Ok(None) => return,
                        Ok(Some(errno)) => return self.fail(i, step, errno),
                        Err(e) => return self.fail(i, step, errno_of(&e)),
                    }
                }
                Step::Sending => {
                    if c.sent >= req {
                        c.mark = self.clock.now();
                        c.step = Step::Receiving;
                        continue;
                    }
                    match sys::write(fd.as_fd(), &self.request[c.sent as usize..]) {
                        Ok(n) => {
                            c.sent += n as u32;
                            self.rec.counters.tx_bytes += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => return self.fail(i, step, errno_of(&e)),
                    }
                }
                Step::Receiving if c.got >= resp => match self.cfg.close {
                    CloseMode::Client => {
                        if let Err(e) = sys::shutdown_write(fd.as_fd()) {
                            return self.fail(i, step, errno_of(&e));
                        }
                        let now = self.clock.now();
                        c.mark = now;
                        c.step = Step::Closing;
                        self.arm(i, now + self.cfg.io_timeout, true);
                    }
                    CloseMode::Server => {
                        c.step = Step::AwaitFin;
                        let deadline = self.clock.now() + self.cfg.io_timeout;
                        self.arm(i, deadline, true);
                    }
                    CloseMode::Rst => {
                        if let Err(e) = sys::set_linger_abort(fd.as_fd()) {
                            return self.fail(i, step, errno_of(&e));
                        }
                        self.rec.counters.rst_sent += 1;
                        return self.end(i, Ok(()), false);
                    }
                },
                Step::Receiving | Step::AwaitFin | Step::Closing => {
                    match sys::read(fd.as_fd(), &mut self.scratch) {
                        Ok(0) => {
                            return match step {
                                Step::Receiving => {
                                    self.end(i, Err((FailCause::ShortResponse, None)), false)
                                }
                                Step::Closing => {
                                    let mark = c.mark;
                                    let now = self.clock.now();
                                    self.rec.record_between(Phase::Close, mark, now);
                                    self.end(i, Ok(()), false)
                                }
                                _ => self.end(i, Ok(()), false),
                            };
                        }
                        Ok(n) => {
                            if step == Step::Receiving && c.got == 0 {
                                let now = self.clock.now();
                                self.rec.record_between(Phase::Ttfb, c.mark, now);
                            }
                            // Bytes beyond the response, or after it, are
                            // counted and otherwise ignored.
                            c.got += n as u64;
                            self.rec.counters.rx_bytes += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => return self.fail(i, step, errno_of(&e)),
                    }
                }
            }
        }
    }

    /// Ends connection `i` on an error `errno` seen at `step`.
    fn fail(&mut self, i: usize, step: Step, errno: i32) {
        self.end(i, Err((cause_of(step.stage(), errno), Some(errno))), false);
    }

    /// Counts a failed attempt that never had a slot (its socket, if any, is
    /// closed by the caller dropping it).
    fn fail_unopened(&mut self, e: &io::Error) {
        let errno = errno_of(e);
        self.count_failure(cause_of(Stage::Connect, errno), Some(errno));
    }

    /// Counts a failure: its cause, and its errno if it had one.
    fn count_failure(&mut self, cause: FailCause, errno: Option<i32>) {
        if let Some(e) = errno {
            self.errnos.add(e);
            if matches!(e, libc::ECONNRESET | libc::ECONNREFUSED) {
                self.rec.counters.rst_received += 1;
            }
        }
        self.rec.counters.fail(cause);
    }

    /// Ends connection `i`: closes it (with RST first when `abort`) and counts
    /// its outcome; a completed one records `lifecycle`.
    fn end(&mut self, i: usize, outcome: Result<(), (FailCause, Option<i32>)>, abort: bool) {
        let c = &mut self.conns[i];
        let start = c.start;
        c.step = Step::Free;
        if let Some(fd) = c.fd.take() {
            if abort {
                // Best effort: a failure leaves a FIN instead of a RST.
                let _ = sys::set_linger_abort(fd.as_fd());
            }
            sys::close(fd);
            self.open -= 1;
        }
        match outcome {
            Ok(()) => {
                let now = self.clock.now();
                self.rec.record_between(Phase::Lifecycle, start, now);
                self.rec.counters.completed += 1;
            }
            Err((cause, errno)) => self.count_failure(cause, errno),
        }
    }

    /// The drain time is over: abort what is still open. These attempts stay
    /// uncounted, hence in flight.
    /// The drain ran out: close what is open as an application would, FIN first
    /// (what arrived is read first: unread data would make the kernel send RST).
    /// The kernel finishes the close handshakes. Returns how many were open.
    fn close_open(&mut self) -> u64 {
        let mut n = 0;
        for c in &mut self.conns {
            c.step = Step::Free;
            if let Some(fd) = c.fd.take() {
                while matches!(sys::read(fd.as_fd(), &mut self.scratch), Ok(k) if k > 0) {}
                sys::close(fd);
                self.open -= 1;
                n += 1;
            }
        }
        n
    }
}
