//! The wire hot path does not allocate: after warm-up, emitting and parsing 10,000
//! frames into a reused buffer performs zero allocations on the calling thread.
//! Counted per thread by tests/common/counting_alloc.rs (the test harness allocates
//! on its own threads meanwhile).

use std::hint::black_box;
use std::net::Ipv4Addr;

use synfin::wire::ethernet::EthernetAddress;
use synfin::wire::frame::{
    Frame, FrameHeader, TcpFrameTemplate, classify, emit_tcp_frame, parse_tcp_frame,
};
use synfin::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations;

fn header() -> FrameHeader {
    FrameHeader {
        src_mac: EthernetAddress::new(2, 0, 0, 0, 0, 1),
        dst_mac: EthernetAddress::new(2, 0, 0, 0, 0, 2),
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: Ipv4Addr::new(198, 19, 0, 2),
        ttl: 64,
    }
}

fn segment(i: u32, syn: bool, payload_len: u16) -> TcpRepr {
    TcpRepr {
        src_port: 1024 + (i % 60_000) as u16,
        dst_port: 80,
        seq: SeqNumber(i.wrapping_mul(2_654_435_761)),
        ack: SeqNumber(i),
        flags: if syn {
            TcpFlags::SYN
        } else {
            TcpFlags::ACK | TcpFlags::PSH
        },
        window: 64_240,
        options: TcpOptions {
            mss: syn.then_some(1460),
            window_scale: syn.then_some(7),
            sack_permitted: syn,
            timestamps: Some(Timestamps {
                tsval: i,
                tsecr: i / 2,
            }),
        },
        payload_len,
    }
}

/// Emits and parses `count` frames (SYNs, ACKs and data, plain and template) into
/// `buf`; returns a checksum of what was parsed so nothing is optimised away.
fn run(count: u32, buf: &mut [u8], payload: &[u8]) -> u64 {
    let hdr = header();
    let template = TcpFrameTemplate::new(&hdr);
    let mut acc = 0u64;
    for i in 0..count {
        let len = (i % 4) as u16 * 100;
        let tcp = segment(i, i % 7 == 0, len);
        let data = &payload[..usize::from(len)];
        let n = if i % 2 == 0 {
            template.emit(buf, &tcp, data).unwrap()
        } else {
            emit_tcp_frame(buf, &hdr, &tcp, data).unwrap()
        };
        let f = parse_tcp_frame(&buf[..n], true).unwrap();
        assert_eq!(f.tcp, tcp);
        match classify(&buf[..n], true).unwrap() {
            Frame::Tcp(t) => acc = acc.wrapping_add(u64::from(t.tcp.seq.0)),
            other => panic!("classified as {other:?}"),
        }
        acc = acc.wrapping_add(f.payload(buf).len() as u64);
    }
    black_box(acc)
}

#[test]
fn emitting_and_parsing_10k_frames_allocates_nothing() {
    let mut buf = vec![0u8; 2048];
    let payload: Vec<u8> = (0..400u32).map(|i| i as u8).collect();
    // Warm-up: anything lazily allocated on first use happens here.
    run(100, &mut buf, &payload);

    let before = allocations();
    let acc = run(10_000, &mut buf, &payload);
    let after = allocations();

    assert_ne!(acc, 0);
    assert_eq!(after - before, 0, "allocations on the hot path");
    // The counter does count: this allocates once.
    let v = black_box(Vec::<u8>::with_capacity(16));
    assert_eq!(allocations() - after, 1);
    drop(v);
}
