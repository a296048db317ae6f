//! The kernel-socket client and server against each other on 127.0.0.1 (no root
//! needed): every close mode end to end, refused and timed-out attempts, the
//! open-loop schedule. Each server binds port 0, so tests run in parallel and
//! repeated runs never meet an earlier run's TIME-WAIT tuples.
#![cfg(target_os = "linux")]

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use synfin::engine::pacer::PacerMode;
use synfin::io::socket::{
    ClientRun, ServerStats, SocketClientConfig, SocketServer, SocketServerConfig, run_client, sys,
};
use synfin::stats::{Counters, FailCause, Phase};
use synfin::tcp::CloseMode;

// Counts the allocations of the calling thread (the client runs on the test's own
// thread; servers run on others).
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

const REQUEST: u32 = 64;
const RESPONSE: u32 = 256;

/// A running socket server on 127.0.0.1 with a port of the kernel's choosing.
struct Server {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<ServerStats>>,
}

impl Server {
    fn start(close: CloseMode, threads: usize) -> Server {
        let (server, addr) = SocketServer::bind(SocketServerConfig {
            threads,
            request_bytes: REQUEST,
            response_bytes: RESPONSE,
            close,
            // Bounds a test that fails before it stops the server.
            duration: Some(Duration::from_secs(30)),
            ..SocketServerConfig::default()
        })
        .expect("bind the server");
        assert_eq!(*addr.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(addr.port(), 0, "the kernel's port is read back");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || server.run(&flag));
        Server { addr, stop, thread }
    }

    fn stop(self) -> ServerStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .expect("server thread")
            .expect("server run")
    }
}

fn client(dst: SocketAddrV4, connections: u64, close: CloseMode) -> SocketClientConfig {
    SocketClientConfig {
        request_bytes: REQUEST,
        response_bytes: RESPONSE,
        close,
        duration: Duration::from_secs(20),
        drain: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        ..SocketClientConfig::new(dst, connections)
    }
}

#[track_caller]
fn assert_adds_up(c: &Counters) {
    assert_eq!(
        c.attempted,
        c.completed + c.failed_total() + c.in_flight(),
        "{c:?}"
    );
    assert!(c.completed + c.failed_total() <= c.attempted, "{c:?}");
}

#[track_caller]
fn samples(run: &ClientRun, phase: Phase) -> u64 {
    run.recorder.histogram(phase).len()
}

/// 2000 connections in `close` mode: every one completes on both sides, every
/// phase the mode can see is recorded once per connection, bytes add up.
fn all_complete(close: CloseMode) {
    const N: u64 = 2000;
    let server = Server::start(close, 2);
    let run = run_client(&client(server.addr, N, close)).expect("client run");
    let s = server.stop();
    let c = &run.recorder.counters;
    eprintln!(
        "close {}: {} completed in {:?} ({:.0} CPS)",
        close.as_str(),
        c.completed,
        run.duration,
        c.completed as f64 / run.duration.as_secs_f64()
    );
    assert_adds_up(c);
    assert_eq!(c.attempted, N);
    assert_eq!(c.completed, N, "{c:?} {:?}", run.errors_by_errno);
    assert_eq!(c.failed_total(), 0);
    assert!(run.errors_by_errno.is_empty(), "{:?}", run.errors_by_errno);
    assert_eq!(c.tx_bytes, N * u64::from(REQUEST));
    assert_eq!(c.rx_bytes, N * u64::from(RESPONSE));
    assert_eq!(samples(&run, Phase::Connect), N);
    assert_eq!(samples(&run, Phase::Ttfb), N);
    assert_eq!(samples(&run, Phase::Lifecycle), N);
    let closes = if close == CloseMode::Client { N } else { 0 };
    assert_eq!(samples(&run, Phase::Close), closes);
    let rsts = if close == CloseMode::Rst { N } else { 0 };
    assert_eq!(c.rst_sent, rsts);

    assert_eq!(s.accepted(), N, "{s:?}");
    assert_eq!(s.completed(), N, "{s:?}");
    assert_eq!(s.failed(), 0, "{s:?}");
    assert_eq!(s.open_at_stop, 0);
    assert_eq!(s.short_requests, 0);
    assert!(s.errors_by_errno.is_empty(), "{:?}", s.errors_by_errno);
    assert_eq!(s.counters.rx_bytes, N * u64::from(REQUEST));
    assert_eq!(s.counters.tx_bytes, N * u64::from(RESPONSE));
    assert_eq!(s.counters.rst_received, rsts);
    assert_eq!(
        s.counters.attempted,
        s.counters.completed + s.counters.failed_total() + s.open_at_stop
    );
}

#[test]
fn client_close_completes_every_connection() {
    all_complete(CloseMode::Client);
}

#[test]
fn server_close_completes_every_connection() {
    all_complete(CloseMode::Server);
}

#[test]
fn rst_close_completes_every_connection() {
    all_complete(CloseMode::Rst);
}

#[test]
fn closed_port_refuses_every_attempt() {
    const N: u64 = 500;
    // Bound but not listening: the port stays ours, and SYNs to it get RST.
    let holder = sys::tcp_socket().unwrap();
    sys::bind(holder.as_fd(), SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    let dst = sys::local_addr(holder.as_fd()).unwrap();
    let run = run_client(&client(dst, N, CloseMode::Client)).unwrap();
    let c = &run.recorder.counters;
    assert_adds_up(c);
    assert_eq!(c.attempted, N);
    assert_eq!(c.failed_by(FailCause::Refused), N, "{c:?}");
    assert_eq!(c.failed_total(), N);
    assert_eq!(c.rst_received, N);
    assert_eq!(run.errors_by_errno.get("ECONNREFUSED"), Some(&N));
    assert_eq!(run.errors_by_errno.len(), 1);
    assert_eq!(samples(&run, Phase::Connect), 0);
    assert_eq!(samples(&run, Phase::Lifecycle), 0);
}

#[test]
fn open_loop_keeps_its_schedule_from_two_source_addresses() {
    const N: u64 = 2000;
    let server = Server::start(CloseMode::Client, 1);
    let cfg = SocketClientConfig {
        mode: PacerMode::Rate { cps: 2000.0 },
        concurrency: 1000,
        src: Some((Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3))),
        ..client(server.addr, N, CloseMode::Client)
    };
    let run = run_client(&cfg).unwrap();
    let s = server.stop();
    let c = &run.recorder.counters;
    assert_adds_up(c);
    assert_eq!(c.completed, N, "{c:?} {:?}", run.errors_by_errno);
    assert_eq!(s.completed(), N);
    assert_eq!(run.deferred_by_cap, 0);
    // The last connection is scheduled at 999.5 ms: the run cannot be shorter,
    // and at 2000/s it has no reason to be much longer.
    assert!(
        run.duration >= Duration::from_millis(999),
        "{:?}",
        run.duration
    );
    assert!(run.duration < Duration::from_secs(5), "{:?}", run.duration);
    assert_eq!(samples(&run, Phase::Connect), N);
}

#[test]
fn silent_server_ends_in_data_timeouts() {
    const N: u64 = 20;
    // The kernel completes the handshakes into the accept queue; nobody answers.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let std::net::SocketAddr::V4(dst) = silent.local_addr().unwrap() else {
        unreachable!()
    };
    let cfg = SocketClientConfig {
        io_timeout: Duration::from_millis(200),
        ..client(dst, N, CloseMode::Client)
    };
    let run = run_client(&cfg).unwrap();
    let c = &run.recorder.counters;
    assert_adds_up(c);
    assert_eq!(c.failed_by(FailCause::DataTimeout), N, "{c:?}");
    assert_eq!(samples(&run, Phase::Connect), N);
    assert!(run.errors_by_errno.is_empty());
    drop(silent);
}

#[test]
fn full_accept_queue_ends_in_syn_timeouts() {
    const N: u64 = 10;
    // backlog 0: one connection fills the accept queue, later SYNs are dropped.
    let l = sys::tcp_socket().unwrap();
    sys::bind(l.as_fd(), SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
    sys::listen(l.as_fd(), 0).unwrap();
    let dst = sys::local_addr(l.as_fd()).unwrap();
    let cfg = SocketClientConfig {
        concurrency: N as u32,
        connect_timeout: Duration::from_millis(300),
        io_timeout: Duration::from_millis(300),
        ..client(dst, N, CloseMode::Client)
    };
    let run = run_client(&cfg).unwrap();
    let c = &run.recorder.counters;
    assert_adds_up(c);
    let syn = c.failed_by(FailCause::SynTimeout);
    assert!(syn >= N / 2, "{c:?}");
    assert_eq!(syn + c.failed_by(FailCause::DataTimeout), N, "{c:?}");
}

#[test]
fn response_cut_short_is_short_response() {
    const N: u64 = 20;
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let std::net::SocketAddr::V4(dst) = l.local_addr().unwrap() else {
        unreachable!()
    };
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        for _ in 0..N {
            let (mut s, _) = l.accept().unwrap();
            // Read the whole request first, or the close would be a RST.
            let mut req = [0u8; REQUEST as usize];
            s.read_exact(&mut req).unwrap();
            s.write_all(b"HTTP/1.1 2").unwrap();
        }
    });
    let run = run_client(&client(dst, N, CloseMode::Client)).unwrap();
    server.join().unwrap();
    let c = &run.recorder.counters;
    assert_adds_up(c);
    assert_eq!(c.failed_by(FailCause::ShortResponse), N, "{c:?}");
    assert_eq!(c.rx_bytes, N * 10);
    assert_eq!(samples(&run, Phase::Ttfb), N);
}

#[test]
fn client_allocates_nothing_per_connection() {
    let server = Server::start(CloseMode::Client, 1);
    let allocations = |n: u64| {
        let before = counting_alloc::allocations();
        let run = run_client(&client(server.addr, n, CloseMode::Client)).unwrap();
        let after = counting_alloc::allocations();
        assert_eq!(run.recorder.counters.completed, n);
        after - before
    };
    let (small, large) = (allocations(200), allocations(2000));
    server.stop();
    assert_eq!(
        small, large,
        "allocations grow with connections ({small} for 200, {large} for 2000)"
    );
}
