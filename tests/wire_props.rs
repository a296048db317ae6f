//! Properties of the wire module: no parser panics on any input (random bytes, every
//! truncation and single-octet corruption of valid frames); emit then parse gives back
//! what was emitted; the template fast path writes exactly what the plain emit writes.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use synfin::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use synfin::wire::ethernet::{EthernetAddress, EthernetFrame, EthernetRepr};
use synfin::wire::frame::{
    Frame, FrameHeader, TcpFrameTemplate, classify, emit_tcp_frame, parse_tcp_frame,
};
use synfin::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use synfin::wire::tcp::{
    SeqNumber, TcpFlags, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr, Timestamps,
};

/// Runs every parser over `bytes`, at every layer, with and without checksum checks.
/// The results are thrown away: what is tested is that none of them panics.
fn parse_everything(bytes: &[u8]) {
    let ip = Ipv4Addr::new(198, 18, 0, 1);
    for verify in [false, true] {
        let _ = parse_tcp_frame(bytes, verify);
        let _ = classify(bytes, verify);
        if let Ok(p) = Ipv4Packet::new_checked(bytes) {
            let _ = Ipv4Repr::parse(&p, verify);
            let _ = (p.options(), p.payload(), p.verify_checksum());
        }
        if let Ok(p) = TcpPacket::new_checked(bytes) {
            let _ = TcpRepr::parse(&p, ip, ip, verify);
            let _ = (p.options(), p.payload(), p.urgent_at());
        }
    }
    if let Ok(f) = EthernetFrame::new_checked(bytes) {
        let _ = EthernetRepr::parse(&f);
        let _ = f.payload();
    }
    if let Ok(p) = ArpPacket::new_checked(bytes) {
        let _ = ArpRepr::parse(&p);
    }
    let _ = TcpOptions::parse(bytes);
    for o in TcpOptionIter::new(bytes) {
        let _ = o;
    }
    // The layers below Ethernet, at the offsets they have in a frame.
    if let Some(rest) = bytes.get(14..) {
        if let Ok(p) = ArpPacket::new_checked(rest) {
            let _ = ArpRepr::parse(&p);
        }
        if let Ok(p) = Ipv4Packet::new_checked(rest) {
            let _ = Ipv4Repr::parse(&p, true);
        }
    }
    if let Some(rest) = bytes.get(34..)
        && let Ok(p) = TcpPacket::new_checked(rest)
    {
        let _ = TcpRepr::parse(&p, ip, ip, true);
    }
}

fn mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from_bits)
}

fn frame_header() -> impl Strategy<Value = FrameHeader> {
    (mac(), mac(), ipv4(), ipv4(), any::<u8>()).prop_map(
        |(src_mac, dst_mac, src_ip, dst_ip, ttl)| FrameHeader {
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            ttl,
        },
    )
}

/// Option sets that emit writes in full: anything on a SYN, only timestamps elsewhere.
fn options(syn: bool) -> BoxedStrategy<TcpOptions> {
    let ts = proptest::option::of(
        (any::<u32>(), any::<u32>()).prop_map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
    );
    if syn {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            ts,
        )
            .prop_map(
                |(mss, window_scale, sack_permitted, timestamps)| TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps,
                },
            )
            .boxed()
    } else {
        ts.prop_map(|timestamps| TcpOptions {
            timestamps,
            ..TcpOptions::default()
        })
        .boxed()
    }
}

/// A segment and its payload (up to 1400 octets).
fn segment() -> impl Strategy<Value = (TcpRepr, Vec<u8>)> {
    any::<u8>()
        .prop_flat_map(|flags| {
            (
                Just(TcpFlags(flags)),
                any::<(u16, u16, u32, u32, u16)>(),
                options(TcpFlags(flags).syn()),
                proptest::collection::vec(any::<u8>(), 0..=1400),
            )
        })
        .prop_map(|(flags, (sp, dp, seq, ack, window), options, payload)| {
            let repr = TcpRepr {
                src_port: sp,
                dst_port: dp,
                seq: SeqNumber(seq),
                ack: SeqNumber(ack),
                flags,
                window,
                options,
                payload_len: payload.len() as u16,
            };
            (repr, payload)
        })
}

fn arp() -> impl Strategy<Value = ArpRepr> {
    (any::<bool>(), mac(), ipv4(), mac(), ipv4()).prop_map(|(reply, sha, spa, tha, tpa)| ArpRepr {
        operation: if reply {
            ArpOperation::Reply
        } else {
            ArpOperation::Request
        },
        source_hardware_addr: sha,
        source_protocol_addr: spa,
        target_hardware_addr: tha,
        target_protocol_addr: tpa,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_everything(&bytes);
    }

    #[test]
    fn random_bytes_behind_plausible_headers_never_panic(
        ethertype in prop_oneof![Just([0x08u8, 0x00]), Just([0x08, 0x06]), any::<[u8; 2]>()],
        ver_ihl in prop_oneof![Just(0x45u8), 0x40u8..0x50, any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = vec![0u8; 12];
        bytes.extend_from_slice(&ethertype);
        bytes.push(ver_ihl);
        bytes.extend_from_slice(&rest);
        parse_everything(&bytes);
    }

    #[test]
    fn truncated_and_corrupted_frames_never_panic(
        hdr in frame_header(),
        (tcp, payload) in segment(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut buf = vec![0u8; 1600];
        let n = emit_tcp_frame(&mut buf, &hdr, &tcp, &payload).unwrap();
        let frame = &buf[..n];
        // Every truncation of a short frame; a sample of the cuts of a long one.
        let step = if n > 200 { 7 } else { 1 };
        for cut in (0..=n).step_by(step) {
            parse_everything(&frame[..cut]);
        }
        for cut in 0..n.min(80) {
            parse_everything(&frame[..cut]);
        }
        let mut bad = frame.to_vec();
        let at = at.index(n);
        bad[at] ^= xor;
        parse_everything(&bad);
        // Past the MAC addresses every octet is covered by a checksum (or is the
        // EtherType), and the Internet checksum catches any change of one octet.
        if at >= 12 {
            prop_assert!(parse_tcp_frame(&bad, true).is_err());
        }
    }

    #[test]
    fn truncated_arp_frames_never_panic(req in arp(), at in 0usize..42, xor in 1u8..) {
        let mut buf = [0u8; 42];
        req.emit_frame(&mut buf).unwrap();
        for cut in 0..=42 {
            parse_everything(&buf[..cut]);
        }
        let mut bad = buf;
        bad[at] ^= xor;
        parse_everything(&bad);
    }

    #[test]
    fn arp_frames_round_trip(req in arp()) {
        let mut buf = [0u8; 60];
        let n = req.emit_frame(&mut buf).unwrap();
        prop_assert_eq!(classify(&buf[..n], true), Ok(Frame::Arp(req, req.source_hardware_addr)));
    }

    #[test]
    fn tcp_frames_round_trip(hdr in frame_header(), (tcp, payload) in segment()) {
        let mut buf = vec![0u8; 1600];
        let n = emit_tcp_frame(&mut buf, &hdr, &tcp, &payload).unwrap();
        prop_assert_eq!(n, 14 + 20 + tcp.header_len() + payload.len());
        let f = parse_tcp_frame(&buf[..n], true).unwrap();
        prop_assert_eq!(f.tcp, tcp);
        prop_assert_eq!((f.src_mac, f.dst_mac), (hdr.src_mac, hdr.dst_mac));
        prop_assert_eq!((f.src_ip, f.dst_ip), (hdr.src_ip, hdr.dst_ip));
        prop_assert_eq!(f.payload(&buf), &payload[..]);
        prop_assert_eq!(classify(&buf[..n], true), Ok(Frame::Tcp(f)));
        // Each layer's own parser agrees.
        let ip = Ipv4Packet::new_checked(&buf[14..n]).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, true).unwrap();
        prop_assert_eq!(ip_repr.ttl, hdr.ttl);
        prop_assert_eq!(usize::from(ip_repr.payload_len), n - 34);
        let seg = TcpPacket::new_checked(ip.payload()).unwrap();
        prop_assert_eq!(TcpRepr::parse(&seg, hdr.src_ip, hdr.dst_ip, true), Ok(tcp));
    }

    #[test]
    fn template_emit_equals_emit_tcp_frame(
        hdr in frame_header(),
        (tcp, payload) in segment(),
        len_delta in prop_oneof![4 => Just(0i32), 1 => -2i32..=2],
        buf_len in prop_oneof![4 => Just(1600usize), 1 => 0usize..200],
    ) {
        // Sometimes the payload does not match payload_len, or the buffer is short:
        // the errors must agree as well as the bytes.
        let tcp = TcpRepr {
            payload_len: (i32::from(tcp.payload_len) + len_delta).clamp(0, 1400) as u16,
            ..tcp
        };
        let template = TcpFrameTemplate::new(&hdr);
        let (mut a, mut b) = (vec![0x5au8; buf_len], vec![0xa5u8; buf_len]);
        // Emit twice into the same buffers: a reused buffer must not leak old bytes.
        for _ in 0..2 {
            let plain = emit_tcp_frame(&mut a, &hdr, &tcp, &payload);
            let fast = template.emit(&mut b, &tcp, &payload);
            prop_assert_eq!(plain, fast);
            if let Ok(n) = plain {
                prop_assert_eq!(&a[..n], &b[..n]);
            }
        }
    }

    #[test]
    fn template_emits_parse_back(hdr in frame_header(), (tcp, payload) in segment()) {
        let mut buf = vec![0u8; 1600];
        let n = TcpFrameTemplate::new(&hdr).emit(&mut buf, &tcp, &payload).unwrap();
        let f = parse_tcp_frame(&buf[..n], true).unwrap();
        prop_assert_eq!(f.tcp, tcp);
        prop_assert_eq!(f.payload(&buf), &payload[..]);
    }
}
