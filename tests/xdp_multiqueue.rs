//! Two workers on a two-queue veth pair against the kernel server (root; CI runs as
//! root): the DUT spreads its replies over both queues by its own flow hash, so
//! about half the frames reach the worker that does not own their connection and
//! are handed over; every connection still completes, no frame is lost on the way,
//! and the handoffs are counted.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use synfin::engine::TwPolicy;
use synfin::engine::client::ClientConfig;
use synfin::engine::pacer::PacerMode;
use synfin::engine::xdp_run::{XdpRunConfig, run_xdp};
use synfin::io::socket::SocketServerConfig;
use synfin::io::xdp::XdpConfig;
use synfin::tcp::{CloseMode, TcpConfig};

#[path = "common/kernel_dut.rs"]
mod kernel_dut;
#[path = "common/root.rs"]
mod root;
use kernel_dut::KernelDut;
use root::{assert_test_bed_gone, is_root};

#[test]
fn two_workers_hand_frames_to_their_owner_and_complete_everything() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let name = format!("sfm{}", std::process::id() % 100_000);
    let mut dut = KernelDut::up_with(
        &name,
        2,
        SocketServerConfig {
            threads: 2,
            request_bytes: 64,
            response_bytes: 256,
            close: CloseMode::Client,
            ..SocketServerConfig::default()
        },
    );
    let tb = &dut.tb;
    let c = tb.config().clone();
    let (first, last) = c.src_range();
    let cfg = XdpRunConfig {
        netns: Some(tb.gen_ns()),
        interface: tb.gen_if(),
        cores: vec![0, 1],
        xdp: XdpConfig::default(),
        dst_mac: None,
        arp_timeout: Duration::from_secs(3),
        connections: 20_000,
        mode: PacerMode::Max,
        concurrency: 256,
        tcp: TcpConfig {
            request_bytes: 64,
            response_bytes: 256,
            ..TcpConfig::default()
        },
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
            secret: 5,
            cursor_start: std::process::id() as u64,
        },
        duration_limit: Duration::from_secs(30),
        drain: Duration::from_secs(5),
        close_timeout: Duration::from_secs(2),
    };
    let run = run_xdp(&cfg, &Arc::new(AtomicBool::new(false))).expect("run");
    std::thread::sleep(Duration::from_millis(200));
    let served = dut.stop_server();
    let cc = &run.client.counters;
    assert_eq!(run.workers, 2);
    assert_eq!(cc.attempted, 20_000);
    assert_eq!(cc.completed, 20_000, "{cc:#?} handoff {:?}", run.handoff);
    assert!(
        run.handoff.handed_out > 0,
        "with two queues some frames reach the other worker"
    );
    assert_eq!(
        run.handoff.handed_out,
        run.handoff.handed_in + run.handoff.dropped
    );
    // Every frame the DUT sent is valid TCP; a handed-in frame must find a slot in
    // the burst (beyond the burst's slots, frames used to be dropped as invalid).
    assert_eq!(cc.rx_invalid, 0, "{cc:#?} handoff {:?}", run.handoff);
    assert_eq!(served.completed(), 20_000);
    assert_eq!(
        run.tx_blocked, 0,
        "every frame went from our sources to the DUT"
    );
    drop(dut);
    assert_test_bed_gone(&name);
}
