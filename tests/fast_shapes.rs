//! Every frame synfin's own lifecycles send is one the receive parser takes on its
//! fast path (`wire::frame::parse_usual_tcp_frame`), whatever SYN options are
//! configured. A frame that misses it still parses (the general way gives the same
//! result), only at several times the cost: with timestamps off, SACK off or window
//! scaling off, the SYN and SYN-ACK once went the general way and a lifecycle cost
//! 28–32% more instructions than with everything on. This test keeps such a cliff
//! from coming back unseen (instruction counts themselves are measured by
//! `scripts/callgrind-lifecycle.sh`, not in tests).

use synfin::engine::TwPolicy;
use synfin::engine::client::{ClientConfig, ClientWorker};
use synfin::engine::core::Macs;
use synfin::engine::mem_run::payload;
use synfin::engine::pacer::{Pacer, PacerMode};
use synfin::engine::server::{ServerConfig, ServerWorker};
use synfin::io::mem::{Dir, MemWire, MemWireConfig};
use synfin::tcp::{CloseMode, TcpConfig};
use synfin::time::Instant;
use synfin::wire::EthernetAddress;
use synfin::wire::frame::{parse_tcp_frame, parse_usual_tcp_frame};

#[path = "common/virtual_clock.rs"]
mod virtual_clock;

const CONNECTIONS: u64 = 24;

/// What the frames of one direction were: how many, and which missed the fast path.
#[derive(Default)]
struct Seen {
    frames: u64,
    missed: Vec<String>,
}

impl Seen {
    /// Look at every frame queued on `dir` (each is looked at once: the peer takes
    /// them all off in its next step, the wire having no delay).
    fn look(&mut self, wire: &mut MemWire, dir: Dir) {
        wire.drop_queued(dir, |f| {
            self.frames += 1;
            let full = parse_tcp_frame(f, true).expect("synfin sends valid frames");
            match parse_usual_tcp_frame(f, true) {
                Some(fast) => assert_eq!(fast, full, "the fast path reads what the layers read"),
                None => self.missed.push(format!(
                    "{dir:?} flags {:?} options {:?} payload {}",
                    full.tcp.flags, full.tcp.options, full.tcp.payload_len
                )),
            }
            false // keep it
        });
    }
}

/// Run `CONNECTIONS` lifecycles with `tcp` on both sides over a clean in-memory
/// wire on a virtual clock, looking at every frame; returns what was seen in both
/// directions and how many connections completed.
fn lifecycles(tcp: &TcpConfig) -> (Seen, u64) {
    let client_mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
    let server_mac = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
    let (src_first, dst_ip) = (0xc612_0001, 0xc613_0001);
    let mut wire = MemWire::new(MemWireConfig {
        frames: 1024,
        seed: 1,
        ..MemWireConfig::default()
    });
    let pacer = Pacer::new(PacerMode::Max, Instant::ZERO, Some(CONNECTIONS), 8);
    let client_cfg = ClientConfig {
        src_first,
        src_count: 1,
        port_lo: 1024,
        port_hi: 65535,
        dst_ip,
        dst_port: 80,
        tw_policy: TwPolicy::Strict,
        tw_cap: 1024,
        max_conns: 8,
        verify_checksums: true,
        secret: 1,
        cursor_start: 0,
    };
    let mut client = ClientWorker::new(
        tcp.clone(),
        &client_cfg,
        pacer,
        Macs {
            local: client_mac,
            remote: server_mac,
        },
        payload(tcp.request_bytes, true),
    );
    let mut server = ServerWorker::new(
        tcp.clone(),
        ServerConfig {
            ip: dst_ip,
            port: 80,
            max_conns: 64,
            tw_cap: 1024,
            verify_checksums: true,
            secret: 2,
        },
        Macs {
            local: server_mac,
            remote: client_mac,
        },
        payload(tcp.response_bytes, false),
    );
    let mut seen = Seen::default();
    let mut now = Instant::ZERO;
    for _ in 0..100_000 {
        let mut work = client.step(&mut wire.port_a(), now);
        seen.look(&mut wire, Dir::AtoB);
        work += server.step(&mut wire.port_b(), now);
        seen.look(&mut wire, Dir::BtoA);
        if client.done() && server.core.open() == 0 && wire.in_flight_frames() == 0 {
            return (seen, client.recorder().counters.completed);
        }
        if work == 0 {
            now = virtual_clock::next_due(now, &client, &server, &wire);
        }
    }
    panic!("the run did not end");
}

#[test]
fn every_frame_of_every_syn_option_set_takes_the_fast_path() {
    let mut failures = Vec::new();
    for close in [CloseMode::Client, CloseMode::Server, CloseMode::Rst] {
        for timestamps in [true, false] {
            for sack_permitted in [true, false] {
                for window_scale in [Some(7), Some(0), None] {
                    let tcp = TcpConfig {
                        timestamps,
                        sack_permitted,
                        window_scale,
                        request_bytes: 64,
                        response_bytes: 256,
                        close,
                        ..TcpConfig::default()
                    };
                    let (seen, completed) = lifecycles(&tcp);
                    let what = format!(
                        "close {close:?}, timestamps {timestamps}, SACK {sack_permitted}, \
                         window scale {window_scale:?}"
                    );
                    assert_eq!(completed, CONNECTIONS, "{what}");
                    // At least the lifecycle's own segments (5 with RST, 6 or 7
                    // with FINs) were looked at.
                    assert!(seen.frames >= 5 * CONNECTIONS, "{what}: {}", seen.frames);
                    if !seen.missed.is_empty() {
                        failures.push(format!(
                            "{what}: {} of {} frames missed, e.g. {}",
                            seen.missed.len(),
                            seen.frames,
                            seen.missed[0]
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
