//! The socket server: N threads, each with its own `SO_REUSEPORT` listener and
//! edge-triggered epoll loop, serving one request/response per connection and
//! closing as [`CloseMode`] says.
//!
//! Per connection: read until `request_bytes` have arrived (or the peer's FIN),
//! write `response_bytes` (waiting for `EPOLLOUT` when the send buffer is full),
//! then
//!
//! - [`CloseMode::Server`]: `close()` at once — our FIN goes first and TIME-WAIT
//!   lands here;
//! - [`CloseMode::Client`]: wait for the client's FIN (`recv` returns 0), then
//!   `close()`;
//! - [`CloseMode::Rst`]: wait for the client, which aborts with RST (`recv`
//!   fails with `ECONNRESET`, the planned end) or closes with FIN, then `close()`.
//!
//! State lives in a table indexed by descriptor, grown by doubling (rarely);
//! nothing is allocated per connection. The kernel hashes each incoming
//! connection to one listener, so a connection stays on the thread that accepted
//! it and nothing is shared between threads.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::sys::{self, EPOLLET, EPOLLIN, EPOLLOUT, Epoll, Events};
use super::{ErrnoCounts, Stage, cause_of, ensure_slot, epoll_token, errno_of, token_parts};
use crate::engine::mem_run::payload;
use crate::stats::Counters;
use crate::tcp::CloseMode;

/// What the socket server serves, and where.
#[derive(Clone, Debug)]
pub struct SocketServerConfig {
    /// Address to listen on; port 0 lets the kernel choose (see
    /// [`SocketServer::bind`] for the port it chose).
    pub addr: SocketAddrV4,
    /// Threads, each with its own listener and epoll loop (at least 1).
    pub threads: usize,
    /// `listen()` backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: i32,
    /// Bytes of request to read before responding (fewer if the peer's FIN comes
    /// first).
    pub request_bytes: u32,
    /// Bytes of response to write.
    pub response_bytes: u32,
    /// Who closes, and how.
    pub close: CloseMode,
    /// Stop after this long (`None`: only when told to stop).
    pub duration: Option<Duration>,
    /// Pin thread `i` to core `cores[i % cores.len()]`; empty: no pinning.
    pub cores: Vec<usize>,
    /// On stop, the listeners close at once and open connections get this long
    /// to finish; those still open then are closed and counted in
    /// [`ServerStats::open_at_stop`].
    pub stop_grace: Duration,
    /// The request ends with its HTTP header (the first empty line), whatever its
    /// length, instead of after `request_bytes`: what HTTP load tools (wrk, ab,
    /// h2load) need. The response is the same either way (an HTTP/1.1 response
    /// with `Content-Length` and `Connection: close`, see [`payload`]).
    pub http: bool,
}

impl Default for SocketServerConfig {
    /// 127.0.0.1 on a port the kernel chooses, one thread, 64-byte requests,
    /// 256-byte responses (the engine's defaults), client close.
    fn default() -> Self {
        SocketServerConfig {
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            threads: 1,
            backlog: 4096,
            request_bytes: 64,
            response_bytes: 256,
            close: CloseMode::Client,
            duration: None,
            cores: Vec::new(),
            stop_grace: Duration::from_secs(1),
            http: false,
        }
    }
}

/// What the server did, all threads together.
///
/// Every accepted connection ends exactly once:
/// `counters.attempted == counters.completed + counters.failed_total() + open_at_stop`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// `attempted`: connections accepted; `completed`: served and closed as the
    /// close mode says; `failed`: ended by an error, with the cause
    /// [`cause_of`] gives (stage `Data` while reading or writing, `Closing` while
    /// waiting for the client's close); `rst_received`: connections that ended
    /// with a reset from the client, planned (close `rst`) or not;
    /// `tx_bytes`/`rx_bytes`: payload bytes written/read. The other fields are 0.
    /// This is the shape of [`Report::server`](crate::stats::Report::server).
    pub counters: Counters,
    /// Connections whose peer sent its FIN before the whole request (they were
    /// still answered).
    pub short_requests: u64,
    /// `accept4` failures (`EMFILE`, `ECONNABORTED`, …); not connections.
    pub accept_errors: u64,
    /// Connections still open when the server stopped (closed then).
    pub open_at_stop: u64,
    /// Every error that ended a connection or an `accept4`, by errno name
    /// (the planned `ECONNRESET` of close `rst` is not an error).
    pub errors_by_errno: BTreeMap<String, u64>,
    /// From the start of [`SocketServer::run`] to its end.
    pub duration: Duration,
}

impl ServerStats {
    /// Connections accepted.
    pub fn accepted(&self) -> u64 {
        self.counters.attempted
    }

    /// Connections served and closed as planned.
    pub fn completed(&self) -> u64 {
        self.counters.completed
    }

    /// Connections that failed because the peer reset them (RST before the
    /// planned end).
    pub fn reset_by_peer(&self) -> u64 {
        use crate::stats::FailCause::{ResetClosing, ResetEstablished};
        self.counters.failed_by(ResetEstablished) + self.counters.failed_by(ResetClosing)
    }

    /// Connections that failed, every cause.
    pub fn failed(&self) -> u64 {
        self.counters.failed_total()
    }

    fn merge(&mut self, t: &ThreadStats) {
        self.counters.merge(&t.counters);
        self.short_requests += t.short_requests;
        self.accept_errors += t.accept_errors;
        self.open_at_stop += t.open_at_stop;
    }
}

/// Bound listeners, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct SocketServer {
    cfg: SocketServerConfig,
    listeners: Vec<OwnedFd>,
    addr: SocketAddrV4,
}

impl SocketServer {
    /// Opens one listening socket per thread on `cfg.addr` (`SO_REUSEPORT`,
    /// `SO_REUSEADDR`, `TCP_NODELAY` inherited by accepted sockets) and returns
    /// them with the address they are bound to (the kernel's port when
    /// `cfg.addr` has port 0). Raises the soft limit of open files to the hard
    /// limit.
    pub fn bind(cfg: SocketServerConfig) -> io::Result<(SocketServer, SocketAddrV4)> {
        if cfg.threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket server needs at least one thread",
            ));
        }
        // Best effort: the default soft limit may be enough.
        let _ = sys::raise_nofile_limit();
        let mut addr = cfg.addr;
        let mut listeners = Vec::with_capacity(cfg.threads);
        for _ in 0..cfg.threads {
            let l = sys::tcp_socket()?;
            sys::set_reuseaddr(l.as_fd(), true)?;
            sys::set_reuseport(l.as_fd(), true)?;
            sys::set_nodelay(l.as_fd(), true)?;
            sys::bind(l.as_fd(), addr)?;
            sys::listen(l.as_fd(), cfg.backlog)?;
            // The others join the first one's port (the kernel's, for port 0).
            addr = sys::local_addr(l.as_fd())?;
            listeners.push(l);
        }
        Ok((
            SocketServer {
                cfg,
                listeners,
                addr,
            },
            addr,
        ))
    }

    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Serves until `stop` is set or the configured duration ends, then lets open
    /// connections finish for `stop_grace`. Returns the merged statistics, or the
    /// first error that stopped a thread (an epoll failure, or a core it could
    /// not be pinned to).
    pub fn run(self, stop: &AtomicBool) -> io::Result<ServerStats> {
        let started = Instant::now();
        let end = self.cfg.duration.map(|d| started + d);
        let abort = AtomicBool::new(false);
        let response = payload(self.cfg.response_bytes, false);
        let cfg = &self.cfg;
        let results: Vec<io::Result<(ThreadStats, ErrnoCounts)>> = std::thread::scope(|s| {
            let spawned: Vec<io::Result<_>> = self
                .listeners
                .into_iter()
                .enumerate()
                .map(|(i, listener)| {
                    let (abort, response) = (&abort, &response[..]);
                    std::thread::Builder::new()
                        .name(format!("synfin-serve-{i}"))
                        .spawn_scoped(s, move || {
                            let r = serve_thread(cfg, i, listener, response, stop, abort, end);
                            if r.is_err() {
                                abort.store(true, Ordering::Relaxed);
                            }
                            r
                        })
                })
                .collect();
            if spawned.iter().any(|h| h.is_err()) {
                // The threads that did start stop at once.
                abort.store(true, Ordering::Relaxed);
            }
            spawned
                .into_iter()
                .map(|h| h.and_then(|h| h.join().expect("a server thread panicked")))
                .collect()
        });
        let mut stats = ServerStats::default();
        let mut errnos = ErrnoCounts::new();
        for r in results {
            let (t, e) = r?;
            stats.merge(&t);
            errnos.merge(&e);
        }
        stats.errors_by_errno = errnos.to_map();
        stats.duration = started.elapsed();
        Ok(stats)
    }
}

/// Binds and runs a server: [`SocketServer::bind`] then [`SocketServer::run`].
pub fn run_server(cfg: SocketServerConfig, stop: &AtomicBool) -> io::Result<ServerStats> {
    let (server, _) = SocketServer::bind(cfg)?;
    server.run(stop)
}

/// One thread's share of [`ServerStats`].
#[derive(Default)]
struct ThreadStats {
    counters: Counters,
    short_requests: u64,
    accept_errors: u64,
    open_at_stop: u64,
}

/// Where a connection is in its exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Step {
    /// The slot holds no connection.
    #[default]
    Free,
    /// Reading the request.
    Reading,
    /// Writing the response.
    Writing,
    /// Response written; waiting for the client's FIN or RST.
    AwaitPeer,
}

/// A connection's state, in the table at the index of its descriptor.
#[derive(Debug, Default)]
struct Slot {
    fd: Option<OwnedFd>,
    /// Incarnation of this descriptor number: an event of an earlier connection
    /// that had the same descriptor is recognised and ignored.
    generation: u32,
    step: Step,
    /// Request bytes read.
    got: u32,
    /// HTTP mode: how much of the header's end (CR LF CR LF) the bytes read so far
    /// end with; 4 once the header is complete.
    header_end: u8,
    /// Response bytes written.
    sent: u32,
    /// The peer's FIN has been read.
    peer_fin: bool,
    /// `EPOLLOUT` is in the watched set (a write found the buffer full).
    watch_out: bool,
}

/// Epoll data of the listener; a connection's is `generation << 32 | fd`.
const LISTENER: u64 = u64::MAX;
/// Connections accepted per listener wake-up, at most (the listener is
/// level-triggered: the rest wake it again).
const ACCEPT_BURST: usize = 128;
/// Events taken per wait.
const EVENTS: usize = 256;
/// How often a thread looks at `stop` while idle.
const POLL: Duration = Duration::from_millis(20);
/// Initial size of the descriptor-indexed table.
const TABLE_START: usize = 1024;

struct Worker<'a> {
    cfg: &'a SocketServerConfig,
    epoll: Epoll,
    conns: Vec<Slot>,
    response: &'a [u8],
    scratch: Box<[u8]>,
    open: usize,
    stats: ThreadStats,
    errnos: ErrnoCounts,
}

fn serve_thread(
    cfg: &SocketServerConfig,
    index: usize,
    listener: OwnedFd,
    response: &[u8],
    stop: &AtomicBool,
    abort: &AtomicBool,
    end: Option<Instant>,
) -> io::Result<(ThreadStats, ErrnoCounts)> {
    if !cfg.cores.is_empty() {
        let id = cfg.cores[index % cfg.cores.len()];
        if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
            return Err(io::Error::other(format!(
                "server thread {index}: cannot pin to core {id}"
            )));
        }
    }
    let mut w = Worker {
        cfg,
        epoll: Epoll::new()?,
        conns: Vec::new(),
        response,
        scratch: vec![0; 64 * 1024].into_boxed_slice(),
        open: 0,
        stats: ThreadStats::default(),
        errnos: ErrnoCounts::new(),
    };
    w.conns.resize_with(TABLE_START, Slot::default);
    w.epoll.add(listener.as_fd(), EPOLLIN, LISTENER)?;
    let mut listener = Some(listener);
    let mut events = Events::with_capacity(EVENTS);
    let mut grace_end: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if grace_end.is_none()
            && (stop.load(Ordering::Relaxed)
                || abort.load(Ordering::Relaxed)
                || end.is_some_and(|e| now >= e))
        {
            // No new connections; those queued but not accepted are reset.
            listener = None;
            grace_end = Some(now + cfg.stop_grace);
        }
        if let Some(g) = grace_end
            && (w.open == 0 || now >= g)
        {
            break;
        }
        let limit = grace_end
            .or(end)
            .map_or(POLL, |t| t.saturating_duration_since(now));
        w.epoll.wait(&mut events, Some(limit.min(POLL)))?;
        for i in 0..events.len() {
            let (_, data) = events.get(i);
            if data == LISTENER {
                if let Some(l) = &listener {
                    w.accept_burst(l);
                }
            } else {
                w.on_event(data);
            }
        }
    }
    for slot in &mut w.conns {
        if let Some(fd) = slot.fd.take() {
            slot.step = Step::Free;
            w.stats.open_at_stop += 1;
            sys::close(fd);
        }
    }
    Ok((w.stats, w.errnos))
}

impl Worker<'_> {
    fn accept_burst(&mut self, listener: &OwnedFd) {
        for _ in 0..ACCEPT_BURST {
            match sys::accept(listener.as_fd()) {
                Ok(fd) => self.admit(fd),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let errno = errno_of(&e);
                    self.stats.accept_errors += 1;
                    self.errnos.add(errno);
                    // A connection that died in the queue: take the next one.
                    // Anything else (out of descriptors, say) will not improve
                    // within this burst.
                    if !matches!(errno, libc::ECONNABORTED | libc::EINTR | libc::EPROTO) {
                        return;
                    }
                }
            }
        }
    }

    fn admit(&mut self, fd: OwnedFd) {
        let i = fd.as_raw_fd() as usize;
        ensure_slot(&mut self.conns, i);
        let slot = &mut self.conns[i];
        slot.generation = slot.generation.wrapping_add(1);
        // Readable only: the response normally fits the send buffer, and
        // EPOLLOUT would wake every new connection once for nothing.
        if let Err(e) = self.epoll.add(
            fd.as_fd(),
            EPOLLIN | EPOLLET,
            epoll_token(i, slot.generation),
        ) {
            self.stats.accept_errors += 1;
            self.errnos.add(errno_of(&e));
            return;
        }
        *slot = Slot {
            fd: Some(fd),
            generation: slot.generation,
            step: Step::Reading,
            ..Slot::default()
        };
        self.open += 1;
        self.stats.counters.attempted += 1;
        if self.cfg.request_bytes == 0 {
            // Nothing to wait for: no event would come.
            self.drive(i);
        }
    }

    fn on_event(&mut self, data: u64) {
        let (i, generation) = token_parts(data);
        match self.conns.get(i) {
            Some(slot) if slot.step != Step::Free && slot.generation == generation => self.drive(i),
            // An event of an earlier connection on this descriptor number.
            _ => {}
        }
    }

    /// Moves the connection at `i` as far as it can go without blocking.
    fn drive(&mut self, i: usize) {
        let (req, resp) = (self.cfg.request_bytes, self.response.len() as u32);
        loop {
            let slot = &mut self.conns[i];
            let Some(fd) = slot.fd.as_ref() else { return };
            match slot.step {
                Step::Free => return,
                Step::Reading => {
                    let whole = if self.cfg.http {
                        slot.header_end == 4
                    } else {
                        slot.got >= req
                    };
                    if whole || slot.peer_fin {
                        if !whole {
                            self.stats.short_requests += 1;
                        }
                        slot.step = Step::Writing;
                        continue;
                    }
                    match sys::read(fd.as_fd(), &mut self.scratch) {
                        Ok(0) => slot.peer_fin = true,
                        Ok(n) => {
                            slot.got = slot.got.saturating_add(n as u32);
                            self.stats.counters.rx_bytes += n as u64;
                            if self.cfg.http {
                                slot.header_end = header_end(slot.header_end, &self.scratch[..n]);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) => return self.fail(i, Stage::Data, &e),
                    }
                }
                Step::Writing => {
                    if slot.sent >= resp {
                        match self.cfg.close {
                            CloseMode::Server => return self.complete(i),
                            CloseMode::Client | CloseMode::Rst if slot.peer_fin => {
                                return self.complete(i);
                            }
                            CloseMode::Client | CloseMode::Rst => {
                                slot.step = Step::AwaitPeer;
                                continue;
                            }
                        }
                    }
                    match sys::write(fd.as_fd(), &self.response[slot.sent as usize..]) {
                        Ok(n) => {
                            slot.sent += n as u32;
                            self.stats.counters.tx_bytes += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if !slot.watch_out {
                                slot.watch_out = true;
                                let t = epoll_token(i, slot.generation);
                                if let Err(e) =
                                    self.epoll
                                        .modify(fd.as_fd(), EPOLLIN | EPOLLOUT | EPOLLET, t)
                                {
                                    return self.fail(i, Stage::Data, &e);
                                }
                            }
                            return;
                        }
                        Err(e) => return self.fail(i, Stage::Data, &e),
                    }
                }
                Step::AwaitPeer => match sys::read(fd.as_fd(), &mut self.scratch) {
                    Ok(0) => return self.complete(i),
                    // More than the request: counted, not answered.
                    Ok(n) => self.stats.counters.rx_bytes += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e)
                        if self.cfg.close == CloseMode::Rst
                            && e.raw_os_error() == Some(libc::ECONNRESET) =>
                    {
                        self.stats.counters.rst_received += 1;
                        return self.complete(i);
                    }
                    Err(e) => return self.fail(i, Stage::Closing, &e),
                },
            }
        }
    }

    /// Frees the slot and closes the descriptor (our FIN, unless already reset).
    fn release(&mut self, i: usize) {
        let slot = &mut self.conns[i];
        slot.step = Step::Free;
        if let Some(fd) = slot.fd.take() {
            self.open -= 1;
            sys::close(fd);
        }
    }

    fn complete(&mut self, i: usize) {
        self.stats.counters.completed += 1;
        self.release(i);
    }

    fn fail(&mut self, i: usize, stage: Stage, e: &io::Error) {
        let errno = errno_of(e);
        self.errnos.add(errno);
        if errno == libc::ECONNRESET {
            self.stats.counters.rst_received += 1;
        }
        self.stats.counters.fail(cause_of(stage, errno));
        self.release(i);
    }
}

/// How much of CR LF CR LF the stream ends with after `bytes`, given that it
/// ended with `state` of it before (4: the header ended, and stays ended).
fn header_end(mut state: u8, bytes: &[u8]) -> u8 {
    const END: &[u8; 4] = b"\r\n\r\n";
    for &b in bytes {
        if state == 4 {
            break;
        }
        state = if b == END[state as usize] {
            state + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_header_ends_at_the_first_empty_line_across_reads() {
        assert_eq!(header_end(0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 4);
        assert_eq!(header_end(0, b"GET / HTTP/1.1\r\nHost: a\r"), 1);
        assert_eq!(header_end(1, b"\n\r"), 3);
        assert_eq!(header_end(3, b"\n"), 4);
        assert_eq!(header_end(3, b"x\r\n"), 2);
        assert_eq!(header_end(2, b"\r\r\n\r\n"), 4);
        assert_eq!(header_end(4, b"anything"), 4);
    }
}
