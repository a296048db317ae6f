//! The wire parsers on arbitrary bytes: none panics; the engine's fast path
//! (`parse_usual_tcp_frame`) agrees field for field with the parsers of each layer
//! whenever it accepts a frame; `parse_tcp_frame` and `classify` agree; a parsed
//! frame emitted again parses to the same segment; ARP and TCP options likewise.
#![no_main]

use synfin::wire::arp::{ArpPacket, ArpRepr};
use synfin::wire::ethernet::{EtherType, EthernetFrame};
use synfin::wire::frame::{
    Frame, FrameHeader, TcpFrame, classify, emit_tcp_frame, parse_tcp_frame, parse_usual_tcp_frame,
};
use synfin::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use synfin::wire::tcp::{TcpOptions, TcpPacket, TcpRepr};

/// The frame through the parsers of each layer, independently of `frame.rs`.
fn by_layers(data: &[u8], verify: bool) -> Option<TcpFrame> {
    let eth = EthernetFrame::new_checked(data).ok()?;
    if eth.ethertype_raw() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, verify).ok()?;
    if ip_repr.protocol != 6 {
        return None;
    }
    let seg = TcpPacket::new_checked(ip.payload()).ok()?;
    let tcp = TcpRepr::parse(&seg, ip_repr.src, ip_repr.dst, verify).ok()?;
    Some(TcpFrame {
        src_mac: eth.src_addr(),
        dst_mac: eth.dst_addr(),
        src_ip: ip_repr.src,
        dst_ip: ip_repr.dst,
        tcp,
        payload_offset: 14 + ip.header_len() + seg.header_len(),
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for verify in [false, true] {
        let usual = parse_usual_tcp_frame(data, verify);
        let full = parse_tcp_frame(data, verify);
        let layers = by_layers(data, verify);
        if let Some(u) = usual {
            assert_eq!(Some(u), layers, "fast path and layers disagree");
        }
        assert_eq!(
            full.ok(),
            usual.or(layers),
            "parse_tcp_frame is one or the other"
        );
        match classify(data, verify) {
            Ok(Frame::Tcp(f)) => assert_eq!(Some(f), full.ok(), "classify agrees"),
            Ok(_) | Err(_) => assert!(full.is_err(), "classify missed a TCP frame"),
        }
        // Emitted again, a parsed segment parses to itself (checksums recomputed).
        if let Ok(f) = full {
            let hdr = FrameHeader {
                src_mac: f.src_mac,
                dst_mac: f.dst_mac,
                src_ip: f.src_ip,
                dst_ip: f.dst_ip,
                ttl: 64,
            };
            let mut buf = [0u8; 1 << 16];
            if let Ok(n) = emit_tcp_frame(&mut buf, &hdr, &f.tcp, f.payload(data)) {
                let again = parse_tcp_frame(&buf[..n], true).expect("our own frame parses");
                // Emit writes the SYN-only options (MSS, window scale, SACK-permitted)
                // on SYN segments only; the parser keeps whatever it finds.
                let mut want = f.tcp;
                if !want.flags.syn() {
                    want.options.mss = None;
                    want.options.window_scale = None;
                    want.options.sack_permitted = false;
                }
                assert_eq!(again.tcp, want);
                assert_eq!((again.src_ip, again.dst_ip), (f.src_ip, f.dst_ip));
                assert_eq!(again.payload(&buf[..n]), f.payload(data));
            }
        }
    }
    // ARP from the Ethernet payload, and the options parser on raw bytes.
    if let Ok(p) = ArpPacket::new_checked(data.get(14..).unwrap_or(&[]))
        && let Ok(arp) = ArpRepr::parse(&p)
    {
        let mut buf = [0u8; 128];
        if let Ok(n) = arp.emit_frame(&mut buf) {
            let again = ArpRepr::parse(&ArpPacket::new_checked(&buf[14..n]).unwrap()).unwrap();
            assert_eq!(again, arp);
        }
    }
    let _ = TcpOptions::parse(data);
});
