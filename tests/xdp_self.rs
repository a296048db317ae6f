//! synfin's server over AF_XDP on a test bed of its own (root; CI runs as root):
//! `serve --io xdp` in the DUT namespace against synfin's client (`run --io xdp`,
//! 20,000 connections) and against the kernel's (`run --io socket`, on two queues),
//! every connection completed on both sides; afterwards no namespace, veth or XDP
//! program of the test remains.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use synfin::engine::TwPolicy;
use synfin::engine::client::ClientConfig;
use synfin::engine::pacer::PacerMode;
use synfin::engine::xdp_run::{XdpRunConfig, XdpRunError, run_xdp};
use synfin::engine::xdp_serve::{XdpServeConfig, XdpServeResult, serve_xdp};
use synfin::io::socket::SocketClientConfig;
use synfin::io::socket::client::run_client;
use synfin::io::xdp::XdpConfig;
use synfin::tcp::{CloseMode, TcpConfig};
use synfin::testbed::{Testbed, TestbedConfig, TestbedGuard, netns};

#[path = "common/root.rs"]
mod root;
use root::{assert_test_bed_gone, is_root};

#[test]
fn engine_client_against_engine_server_over_af_xdp() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfs{}", std::process::id() % 100_000);
    let guard = TestbedGuard::new(&name);
    let tb = Testbed::up(&TestbedConfig {
        sources: 16,
        ..TestbedConfig::named(name.clone())
    })
    .expect("test bed");
    let tcp = TcpConfig {
        request_bytes: 64,
        response_bytes: 512,
        close: CloseMode::Client,
        ..TcpConfig::default()
    };
    let (stop_server, server) = start_server(&tb, tcp.clone());
    let run_cfg = xdp_client(&tb, tcp, 20_000);
    let run = run_xdp(&run_cfg, &Arc::new(AtomicBool::new(false))).expect("client run");
    std::thread::sleep(Duration::from_millis(300));
    stop_server.store(true, Ordering::Relaxed);
    let served = server.join().expect("server thread").expect("server run");
    let cc = &run.client.counters;
    assert_eq!(cc.attempted, 20_000);
    assert_eq!(cc.completed, 20_000, "client: {cc:#?}");
    let sc = &served.server.counters;
    assert_eq!(sc.completed, 20_000, "server: {sc:#?}");
    assert!(
        served.arp_answered >= 1,
        "the client resolved the server by ARP"
    );
    drop(guard);
    assert_test_bed_gone(&name);
}

/// synfin's client (`run --io xdp`) from the test bed's generator end, one
/// unpinned worker, `connections` at most 256 at a time.
fn xdp_client(tb: &Testbed, tcp: TcpConfig, connections: u64) -> XdpRunConfig {
    let c = tb.config();
    let (first, last) = c.src_range();
    XdpRunConfig {
        netns: Some(tb.gen_ns()),
        interface: tb.gen_if(),
        cores: Vec::new(),
        xdp: XdpConfig::default(),
        dst_mac: None,
        arp_timeout: Duration::from_secs(3),
        connections,
        mode: PacerMode::Max,
        concurrency: 256,
        tcp,
        client: ClientConfig {
            src_first: u32::from(first),
            src_count: u32::from(last) - u32::from(first) + 1,
            port_lo: 1024,
            port_hi: 65535,
            dst_ip: u32::from(c.dut_addr),
            dst_port: 80,
            tw_policy: TwPolicy::Strict,
            tw_cap: 20_000,
            max_conns: 256,
            verify_checksums: true,
            secret: 11,
            cursor_start: std::process::id() as u64,
        },
        duration_limit: Duration::from_secs(30),
        drain: Duration::from_secs(5),
        close_timeout: Duration::from_secs(2),
    }
}

/// `serve --io xdp` on the test bed's DUT end, in a thread, once its sockets are
/// bound: its stop flag and its thread.
fn start_server(
    tb: &Testbed,
    tcp: TcpConfig,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<Result<XdpServeResult, XdpRunError>>,
) {
    let serve_cfg = XdpServeConfig {
        netns: Some(tb.dut_ns()),
        interface: tb.dut_if(),
        listen: SocketAddrV4::new(tb.config().dut_addr, 80),
        cores: Vec::new(),
        xdp: XdpConfig::default(),
        tcp,
        max_conns: 8192,
        tw_cap: 1024,
        duration: Some(Duration::from_secs(60)),
        verify_checksums: true,
    };
    let stop_server = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = Arc::clone(&stop_server);
        std::thread::spawn(move || {
            serve_xdp(&serve_cfg, &stop, move |_| ready_tx.send(()).unwrap())
        })
    };
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server ready");
    (stop_server, server)
}

/// The kernel's client against synfin's server on a test bed of two queues: the
/// kernel spreads its connections over both (by flow hash), so the server needs a
/// socket on each (a SYN on a queue without one reaches the DUT's kernel, which
/// refuses it), a frame on the queue of the worker that does not own its connection
/// must be handed over (the kernel may move a flow; 20 kB requests give it many
/// segments to do so), and its segments must carry finished checksums (the test bed
/// turns TX checksum offload off on the generator's end too).
#[test]
fn kernel_client_against_engine_server_on_two_queues() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfk{}", std::process::id() % 100_000);
    let guard = TestbedGuard::new(&name);
    let tb = Testbed::up(&TestbedConfig {
        queues: 2,
        sources: 1,
        ..TestbedConfig::named(name.clone())
    })
    .expect("test bed");
    let tcp = TcpConfig {
        request_bytes: 20_000,
        response_bytes: 2000,
        close: CloseMode::Client,
        ..TcpConfig::default()
    };
    // synfin's client with one worker would see the replies of one queue only: it
    // is refused before it sends anything.
    let one_worker = run_xdp(
        &xdp_client(&tb, tcp.clone(), 10),
        &Arc::new(AtomicBool::new(false)),
    );
    assert!(
        matches!(one_worker, Err(XdpRunError::Queues(_))),
        "one worker on two queues: {:?}",
        one_worker.map(|r| r.client.counters)
    );
    let mut cfg = SocketClientConfig::new(SocketAddrV4::new(tb.config().dut_addr, 80), 2_000);
    cfg.concurrency = 64;
    cfg.request_bytes = 20_000;
    cfg.response_bytes = 2000;
    cfg.close = CloseMode::Client;
    cfg.drain = Duration::from_secs(5);
    // Twice: the second server starts with the client's kernel knowing its MAC
    // address already (no ARP first), so the SYNs of the burst it learns the
    // client's address from must be served, not dropped (each would wait out a
    // 1 s RTO): the client's kernel retransmits no SYN. (Other segments may be:
    // 20 kB requests can overrun a receive ring now and then.)
    for round in 0..2 {
        let (stop_server, server) = start_server(&tb, tcp.clone());
        let retrans = || netns::nstat(&tb.gen_ns()).expect("nstat")["TcpExtTCPSynRetrans"];
        let before = retrans();
        let run = netns::run_in(&tb.gen_ns(), || run_client(&cfg))
            .expect("enter the generator namespace")
            .expect("kernel client run");
        let resent = retrans() - before;
        std::thread::sleep(Duration::from_millis(300));
        stop_server.store(true, Ordering::Relaxed);
        let served = server.join().expect("server thread").expect("server run");
        let cc = &run.recorder.counters;
        assert_eq!(
            cc.completed, 2_000,
            "round {round}, kernel client: {cc:#?} {:?}",
            run.errors_by_errno
        );
        let sc = &served.server.counters;
        assert_eq!(served.workers, 2, "one server worker per queue");
        assert_eq!(sc.completed, 2_000, "round {round}, server: {sc:#?}");
        assert_eq!(sc.rx_invalid, 0, "no unfinished checksums: {sc:#?}");
        // A frame on the other worker's queue is handed to the connection's owner,
        // never answered as one for no connection.
        assert_eq!(sc.rx_no_conn, 0, "round {round}, server: {sc:#?}");
        assert_eq!(served.handoff.dropped, 0, "{:?}", served.handoff);
        if round == 1 {
            assert_eq!(resent, 0, "the client's kernel retransmitted SYNs");
        }
    }
    drop(guard);
    assert_test_bed_gone(&name);
}
