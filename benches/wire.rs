//! The wire hot path: parsing a frame with checksum verification, emitting one (plain
//! and from a template), and the checksum primitives under them.
//!
//! The frames are those of a connection's life: a 66-octet ACK with timestamps (the
//! common case), a 166-octet segment with 100 octets of payload, and a 74-octet SYN
//! with every option.
//!
//! Instruction counts, where the machine has no performance counters: with
//! `WIRE_ICOUNT` set (to `ack66`, `data100` or `syn74` for one frame, to anything else
//! for all three)
//! the binary runs each operation 10,000 times in a function of its own instead of
//! benchmarking, so that
//! `WIRE_ICOUNT=ack66 valgrind --tool=callgrind --callgrind-out-file=cg.out <bench>`
//! then `callgrind_annotate --inclusive=yes cg.out | grep icount_` gives 10,000 times
//! the instructions of one call (plus the few of the loop around it).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group};
use synfin::wire::checksum;
use synfin::wire::ethernet::EthernetAddress;
use synfin::wire::frame::{FrameHeader, TcpFrameTemplate, emit_tcp_frame, parse_tcp_frame};
use synfin::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

fn header() -> FrameHeader {
    FrameHeader {
        src_mac: EthernetAddress::new(2, 0, 0, 0, 0, 1),
        dst_mac: EthernetAddress::new(2, 0, 0, 0, 0, 2),
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: Ipv4Addr::new(198, 19, 0, 2),
        ttl: 64,
    }
}

fn ack(payload_len: u16) -> TcpRepr {
    TcpRepr {
        src_port: 50_000,
        dst_port: 80,
        seq: SeqNumber(0x1234_5678),
        ack: SeqNumber(0x9abc_def0),
        flags: if payload_len > 0 {
            TcpFlags::ACK | TcpFlags::PSH
        } else {
            TcpFlags::ACK
        },
        window: 502,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 0x0102_0304,
                tsecr: 0x0506_0708,
            }),
            ..TcpOptions::default()
        },
        payload_len,
    }
}

/// A SYN with every option, as Linux sends it: a 74-octet frame.
fn syn() -> TcpRepr {
    TcpRepr {
        flags: TcpFlags::SYN,
        ack: SeqNumber(0),
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: 0x0102_0304,
                tsecr: 0,
            }),
        },
        ..ack(0)
    }
}

fn frames(c: &mut Criterion) {
    let hdr = header();
    let template = TcpFrameTemplate::new(&hdr);
    let payload: Vec<u8> = (0..100u8).collect();
    let cases: [(&str, TcpRepr, &[u8]); 3] = [
        ("ack66", ack(0), &[]),
        ("data100", ack(100), &payload),
        ("syn74", syn(), &[]),
    ];
    let mut buf = [0u8; 2048];

    let mut g = c.benchmark_group("parse_tcp_frame");
    for (name, tcp, data) in cases {
        let n = emit_tcp_frame(&mut buf, &hdr, &tcp, data).unwrap();
        let frame = buf[..n].to_vec();
        g.bench_function(format!("{name}_verify"), |b| {
            b.iter(|| parse_tcp_frame(black_box(&frame), true))
        });
        g.bench_function(format!("{name}_noverify"), |b| {
            b.iter(|| parse_tcp_frame(black_box(&frame), false))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("emit_tcp_frame");
    for (name, tcp, data) in cases {
        g.bench_function(name, |b| {
            b.iter(|| emit_tcp_frame(black_box(&mut buf), &hdr, black_box(&tcp), data))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("template_emit");
    for (name, tcp, data) in cases {
        g.bench_function(name, |b| {
            b.iter(|| template.emit(black_box(&mut buf), black_box(&tcp), data))
        });
    }
    g.finish();
}

fn checksums(c: &mut Criterion) {
    let data: Vec<u8> = (0..1500u32).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    for len in [64usize, 1500] {
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("sum{len}"), |b| {
            b.iter(|| checksum::sum(black_box(&data[..len])))
        });
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("update16", |b| {
        b.iter(|| checksum::update16(black_box(0xdd2f), black_box(0x5555), black_box(0x3285)))
    });
    g.bench_function("update32", |b| {
        b.iter(|| {
            checksum::update32(
                black_box(0xdd2f),
                black_box(0x5555_0102),
                black_box(0x3285_0304),
            )
        })
    });
    g.finish();
}

/// Calls of each operation in the instruction-count mode.
const ICOUNT_CALLS: usize = 10_000;

#[inline(never)]
fn icount_parse_verify(frame: &[u8]) -> usize {
    let mut n = 0;
    for _ in 0..ICOUNT_CALLS {
        n += parse_tcp_frame(black_box(frame), true).map_or(0, |f| f.payload_offset);
    }
    n
}

#[inline(never)]
fn icount_emit(buf: &mut [u8], hdr: &FrameHeader, tcp: &TcpRepr, data: &[u8]) -> usize {
    let mut n = 0;
    for _ in 0..ICOUNT_CALLS {
        n += emit_tcp_frame(black_box(&mut *buf), hdr, black_box(tcp), data).unwrap_or(0);
    }
    n
}

#[inline(never)]
fn icount_template_emit(
    buf: &mut [u8],
    template: &TcpFrameTemplate,
    tcp: &TcpRepr,
    data: &[u8],
) -> usize {
    let mut n = 0;
    for _ in 0..ICOUNT_CALLS {
        n += template
            .emit(black_box(&mut *buf), black_box(tcp), data)
            .unwrap_or(0);
    }
    n
}

/// The instruction-count mode (see the module documentation).
fn icount() {
    let hdr = header();
    let template = TcpFrameTemplate::new(&hdr);
    let payload: Vec<u8> = (0..100u8).collect();
    let mut buf = [0u8; 2048];
    let which = std::env::var("WIRE_ICOUNT").unwrap_or_default();
    let cases = [
        ("ack66", ack(0), &[][..]),
        ("data100", ack(100), &payload[..]),
        ("syn74", syn(), &[][..]),
    ];
    let all = !cases.iter().any(|(name, ..)| *name == which);
    for (name, tcp, data) in cases {
        if !all && name != which {
            continue;
        }
        let n = emit_tcp_frame(&mut buf, &hdr, &tcp, data).unwrap();
        let frame = buf[..n].to_vec();
        black_box(icount_parse_verify(&frame));
        black_box(icount_emit(&mut buf, &hdr, &tcp, data));
        black_box(icount_template_emit(&mut buf, &template, &tcp, data));
    }
}

criterion_group!(benches, frames, checksums);

fn main() {
    if std::env::var_os("WIRE_ICOUNT").is_some() {
        icount();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
