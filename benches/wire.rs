//! The wire hot path: parsing a frame with checksum verification, emitting one (plain
//! and from a template), and the checksum primitives under them.
//!
//! The frames are those of a connection's life: a 66-octet ACK with timestamps (the
//! common case) and a 166-octet segment with 100 octets of payload.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

fn frames(c: &mut Criterion) {
    let hdr = header();
    let template = TcpFrameTemplate::new(&hdr);
    let payload: Vec<u8> = (0..100u8).collect();
    let cases: [(&str, TcpRepr, &[u8]); 2] =
        [("ack66", ack(0), &[]), ("data100", ack(100), &payload)];
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

criterion_group!(benches, frames, checksums);
criterion_main!(benches);
