//! Whole frames, as the engine sees them: Ethernet II + IPv4 + TCP parsed or emitted
//! in one call, ARP told apart from TCP, and [`TcpFrameTemplate`], the emit fast
//! path: the Ethernet and IPv4 headers of a flow are prepared once with the sums of
//! their constant fields, and each segment patches the lengths and finishes the
//! checksums from those sums (RFC 1071 §2(A), RFC 1624 §3).
//!
//! Nothing here allocates; parsing never panics.

use std::net::Ipv4Addr;

use super::arp::{ArpPacket, ArpRepr};
use super::checksum;
use super::ethernet::{self, EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use super::ipv4::{self, Ipv4Packet, Ipv4Repr, PROTOCOL_TCP};
use super::tcp::{self, TcpHeaderWords, TcpOptions, TcpPacket, TcpRepr, Timestamps};
use super::{Error, Result};

/// Length of the Ethernet II and IPv4 headers that every emitted TCP frame starts with.
const HEAD_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
/// The Ethernet, IPv4 and longest TCP header (20 octets of options) that
/// [`TcpFrameTemplate`] writes as one fixed-size area.
pub const HEAD_AREA: usize = HEAD_LEN + tcp::HEADER_LEN + 20;
/// The longest TCP segment an IPv4 packet without options can carry (RFC 791 §3.1,
/// "Total Length" is 16 bits).
const MAX_SEGMENT_LEN: usize = u16::MAX as usize - ipv4::HEADER_LEN;
/// Offset of the IPv4 total length in an emitted frame.
const IP_LENGTH: usize = ethernet::HEADER_LEN + ipv4::field::LENGTH.start;
/// Offset of the IPv4 header checksum in an emitted frame.
const IP_CHECKSUM: usize = ethernet::HEADER_LEN + ipv4::field::CHECKSUM.start;

/// The addresses and TTL of the Ethernet and IPv4 headers of an emitted TCP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Ethernet source: this end's MAC address.
    pub src_mac: EthernetAddress,
    /// Ethernet destination: the next hop's MAC address.
    pub dst_mac: EthernetAddress,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// IPv4 time to live.
    pub ttl: u8,
}

/// A parsed Ethernet II + IPv4 + TCP frame. The payload is not held: it is
/// `tcp.payload_len` octets of the frame from `payload_offset` (see
/// [`payload`](Self::payload)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame {
    /// Ethernet source.
    pub src_mac: EthernetAddress,
    /// Ethernet destination.
    pub dst_mac: EthernetAddress,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// The TCP header and options.
    pub tcp: TcpRepr,
    /// Offset of the TCP payload from the start of the frame.
    pub payload_offset: usize,
}

impl TcpFrame {
    /// The payload within `frame`, the buffer this was parsed from. Empty if `frame`
    /// is not that buffer and too short.
    #[inline]
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let end = self.payload_offset + usize::from(self.tcp.payload_len);
        frame.get(self.payload_offset..end).unwrap_or(&[])
    }

    /// The header of a frame going back where this one came from, with `ttl`.
    #[inline]
    pub fn reply_header(&self, ttl: u8) -> FrameHeader {
        FrameHeader {
            src_mac: self.dst_mac,
            dst_mac: self.src_mac,
            src_ip: self.dst_ip,
            dst_ip: self.src_ip,
            ttl,
        }
    }
}

/// What a received frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A TCP segment over IPv4.
    Tcp(TcpFrame),
    /// An ARP packet, and the Ethernet source address of its frame.
    Arp(ArpRepr, EthernetAddress),
    /// Anything else that is well formed as far as it was read: another EtherType, or
    /// IPv4 carrying another protocol.
    Other,
}

/// Parses the IPv4 packet and TCP segment in an Ethernet payload; a packet of
/// another protocol is [`Error::NotTcp`].
#[inline]
fn parse_ipv4_tcp(eth: &EthernetFrame<&[u8]>, verify_checksums: bool) -> Result<TcpFrame> {
    let ip = Ipv4Packet::new_checked(eth.payload())?;
    let ip_repr = Ipv4Repr::parse(&ip, verify_checksums)?;
    if ip_repr.protocol != PROTOCOL_TCP {
        return Err(Error::NotTcp);
    }
    let seg = TcpPacket::new_checked(ip.payload())?;
    let tcp = TcpRepr::parse(&seg, ip_repr.src, ip_repr.dst, verify_checksums)?;
    Ok(TcpFrame {
        src_mac: eth.src_addr(),
        dst_mac: eth.dst_addr(),
        src_ip: ip_repr.src,
        dst_ip: ip_repr.dst,
        tcp,
        payload_offset: ethernet::HEADER_LEN + ip.header_len() + seg.header_len(),
    })
}

/// Whether an EtherType value is one [`EthernetRepr::parse`] refuses.
#[inline]
fn is_unsupported_ethertype(raw: u16) -> bool {
    raw < EtherType::MIN_TYPE || raw == EtherType::VLAN || raw == EtherType::QINQ
}

/// Parses an Ethernet II frame carrying TCP over IPv4. With `verify_checksums`, the
/// IPv4 header and TCP checksums are verified ([`Error::BadChecksum`]). Another
/// EtherType is [`Error::NotIpv4`] (a VLAN tag [`Error::Unsupported`]); another IP
/// protocol is [`Error::NotTcp`]; a fragment is [`Error::Fragmented`]. Ethernet
/// padding after the IPv4 total length is ignored.
///
/// The frames the receive loops' fast path ([`with_usual_tcp_frame`]) leaves to
/// this are read by the same fixed-offset shapes when their only difference is a
/// type of service (a DUT or a network that marks DSCP or ECN): the layered
/// parsers only for the rest.
#[inline]
pub fn parse_tcp_frame(frame: &[u8], verify_checksums: bool) -> Result<TcpFrame> {
    let mut parsed = None;
    if with_tcp_frame::<_, true>(frame, verify_checksums, &mut parsed)
        && let Some(f) = parsed
    {
        return Ok(f);
    }
    parse_tcp_frame_by_layers(frame, verify_checksums)
}

/// The fast path of [`parse_tcp_frame`]: a valid frame with an IPv4 header without
/// options, a type of service of zero and a TCP header with well-formed options.
/// Anything else (an error, IPv4 options, DSCP or ECN bits, a malformed option) is
/// `None`, and goes the way of the layered parsers, which give the same result for
/// every frame this accepts (tested) and find the error of every frame it does not.
/// Receive loops call it themselves, so that what it parses is used where it is
/// parsed (not joined with the result of the general parser first); on `None` they
/// must call [`parse_tcp_frame`].
///
/// The usual shapes, told apart by the data offset: 5 words (no options), 8 words
/// whose options are NOP, NOP, timestamps (every segment after the handshake), and
/// 10 words with MSS, SACK-permitted, timestamps, NOP, window scale (a SYN or
/// SYN-ACK with everything). Each is read from one fixed-size prefix of the frame,
/// so that every field is a load at a constant offset with no bounds check. Any
/// other option list (a SYN with fewer options, another stack's order, SACK
/// blocks) is read out of line from the 40 octets that end where the header ends:
/// by words when it is laid out as Linux lays out a SYN's options, by a scan of
/// the options otherwise.
#[inline(always)]
pub fn parse_usual_tcp_frame(frame: &[u8], verify_checksums: bool) -> Option<TcpFrame> {
    let mut parsed = None;
    with_usual_tcp_frame(frame, verify_checksums, &mut parsed);
    parsed
}

/// Where [`with_usual_tcp_frame`] puts what it parses.
pub trait KeepFrame {
    /// Keep `frame`. Implementations should be `#[inline(always)]`, so that the
    /// fields go from the frame to where they are kept with nothing in between.
    fn keep(&mut self, frame: TcpFrame);

    /// Keep `frame`, parsed from a header whose octets 8 to 15 of TCP, read as a
    /// big-endian word, are `ack_flags_window` (for
    /// [`TcpRepr::set_parsed`](super::tcp::TcpRepr::set_parsed)).
    #[inline(always)]
    fn keep_parsed(&mut self, frame: TcpFrame, ack_flags_window: u64) {
        let _ = ack_flags_window;
        self.keep(frame);
    }
}

impl KeepFrame for Option<TcpFrame> {
    #[inline(always)]
    fn keep(&mut self, frame: TcpFrame) {
        *self = Some(frame);
    }
}

/// [`parse_usual_tcp_frame`] handing the frame to `out` instead of returning it:
/// true when the frame was taken (and given to `out`), false when it must go the
/// general way. `out` is called in the code of each shape, so that the fields it
/// stores go from the frame to their place with nothing in between (the result of
/// a function joins the shapes first, and then goes through the stack).
#[inline(always)]
pub fn with_usual_tcp_frame<K: KeepFrame>(
    frame: &[u8],
    verify_checksums: bool,
    out: &mut K,
) -> bool {
    with_tcp_frame::<K, false>(frame, verify_checksums, out)
}

/// [`with_usual_tcp_frame`], with `ANY_TOS` of any type of service.
#[inline(always)]
fn with_tcp_frame<K: KeepFrame, const ANY_TOS: bool>(
    frame: &[u8],
    verify_checksums: bool,
    out: &mut K,
) -> bool {
    let Some(h) = frame.first_chunk::<{ TCP + tcp::HEADER_LEN }>() else {
        return false;
    };
    // EtherType IPv4, version 4 with a 20-octet header and a type of service of
    // zero (as Linux and synfin send TCP; a frame with DSCP or ECN bits goes the
    // general way): one comparison of four octets with the frame in memory. Then
    // no MF, offset zero (DF either way) and TCP: a masked comparison.
    let word = |at: usize| u32::from_ne_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let tos_mask = if ANY_TOS {
        [0xff, 0xff, 0xff, 0]
    } else {
        [0xff; 4]
    };
    if word(12) & u32::from_ne_bytes(tos_mask) != u32::from_ne_bytes([0x08, 0x00, 0x45, 0])
        || word(IP + 6) & u32::from_ne_bytes([0x3f, 0xff, 0, 0xff])
            != u32::from_ne_bytes([0, 0, 0, PROTOCOL_TCP])
    {
        return false;
    }
    let total_len = usize::from(u16::from_be_bytes([h[IP + 2], h[IP + 3]]));
    // The shape of every segment after the handshake first, on its own (in one
    // match with the others, it was tested last).
    let data_off = h[TCP + tcp::field::DATA_OFF];
    let taken = if data_off & 0xf0 == 0x80 {
        usual_shape::<{ TCP + 32 }, false>(frame, total_len, verify_checksums, out)
    } else {
        match data_off >> 4 {
            5 => {
                return usual_shape::<{ TCP + 20 }, false>(frame, total_len, verify_checksums, out);
            }
            10 => usual_shape::<{ TCP + 40 }, false>(frame, total_len, verify_checksums, out),
            _ => false,
        }
    };
    // Any other header with options: a SYN or SYN-ACK without timestamps, SACK
    // or window scaling, another stack's option order, SACK blocks... (and the
    // frames of a usual data offset that were not taken: rare, those in error).
    taken || any_options_shape(frame, total_len, data_off, verify_checksums, out)
}

/// [`with_usual_tcp_frame`] of a frame whose Ethernet and IPv4 headers have been
/// checked and whose TCP header has options of any layout (`data_off` is its data
/// offset octet): [`usual_shape`] of its length, the options read from the 40
/// octets that end where the header ends, by [`linux_syn_layout`] for the SYNs
/// and SYN-ACKs of Linux and synfin, by [`scan_options`] for any other list. False
/// when the frame is not valid or its options are not well formed (the general way
/// then finds the error), and for a data offset below 6.
///
/// Out of line: inlined in the receive loop beside the usual shapes, it made every
/// frame of theirs cost more (about 30 instructions per lifecycle with every
/// option on).
#[inline(never)]
fn any_options_shape(
    frame: &[u8],
    total_len: usize,
    data_off: u8,
    verify_checksums: bool,
    out: &mut impl KeepFrame,
) -> bool {
    let (f, len, v) = (frame, total_len, verify_checksums);
    match data_off >> 4 {
        6 => usual_shape::<{ TCP + 24 }, true>(f, len, v, out),
        7 => usual_shape::<{ TCP + 28 }, true>(f, len, v, out),
        8 => usual_shape::<{ TCP + 32 }, true>(f, len, v, out),
        9 => usual_shape::<{ TCP + 36 }, true>(f, len, v, out),
        10 => usual_shape::<{ TCP + 40 }, true>(f, len, v, out),
        11 => usual_shape::<{ TCP + 44 }, true>(f, len, v, out),
        12 => usual_shape::<{ TCP + 48 }, true>(f, len, v, out),
        13 => usual_shape::<{ TCP + 52 }, true>(f, len, v, out),
        14 => usual_shape::<{ TCP + 56 }, true>(f, len, v, out),
        15 => usual_shape::<{ TCP + 60 }, true>(f, len, v, out),
        _ => false,
    }
}

/// The most option octets a header holds (a data offset of 15 words).
const MAX_OPTIONS: usize = tcp::MAX_HEADER_LEN - tcp::HEADER_LEN;

/// The options of a SYN or SYN-ACK as Linux and synfin lay them out, whatever
/// subset they carry (`tcp_options_write`; [`TcpRepr::emit`]): MSS, then
/// SACK-permitted and timestamps (packed), or NOP NOP timestamps, or NOP NOP
/// SACK-permitted, or neither, then NOP window scale or not. Read a word at a time
/// from `area`, the [`MAX_OPTIONS`] octets that end where the header ends, the
/// options being its octets from `start` (a multiple of 4). `None` for any other
/// list, whether well formed or not: [`scan_options`] then judges it. What this
/// accepts, [`TcpOptions::parse`] reads the same (each word is whole options).
#[inline(always)]
fn linux_syn_layout(area: &[u8; MAX_OPTIONS], start: usize) -> Option<TcpOptions> {
    const WORDS: usize = MAX_OPTIONS / 4;
    let words = area.as_chunks::<4>().0;
    let word = |i: usize| u32::from_ne_bytes(words[i]);
    let mut i = start / 4;
    if i >= WORDS || word(i) & u32::from_ne_bytes([0xff, 0xff, 0, 0]) != MSS_NE {
        return None;
    }
    let mut o = TcpOptions {
        mss: Some(u16::from_be_bytes([words[i][2], words[i][3]])),
        ..TcpOptions::default()
    };
    i += 1;
    if i < WORDS {
        let w = word(i);
        if (w == SACKPERM_TS_NE || w == NOP_NOP_TS) && i + 3 <= WORDS {
            o.sack_permitted = w == SACKPERM_TS_NE;
            o.timestamps = Some(timestamps(be64(area, 4 * i + 4)));
            i += 3;
        } else if w == NOP_NOP_SACKPERM {
            o.sack_permitted = true;
            i += 1;
        }
    }
    if i < WORDS && word(i) & u32::from_ne_bytes([0xff, 0xff, 0xff, 0]) == NOP_WS {
        o.window_scale = Some(words[i][3]);
        i += 1;
    }
    (i == WORDS).then_some(o)
}

/// The options of a header, as [`TcpOptions::parse`] finds them, read from `area`,
/// the [`MAX_OPTIONS`] octets that end where the header ends: the options are its
/// octets from `start` (so that every read is within one fixed-size array, and
/// its index is checked only by the comparisons the option list needs anyway).
/// `None` when they are not well formed (`parse` finds them
/// [`Error::Malformed`](super::Error::Malformed)).
#[inline(always)]
fn scan_options(area: &[u8; MAX_OPTIONS], start: usize) -> Option<TcpOptions> {
    use tcp::kind;
    let mut o = TcpOptions::default();
    let mut at = start;
    while at < MAX_OPTIONS {
        let k = area[at];
        if k == kind::END {
            break;
        }
        if k == kind::NOP {
            at += 1;
            continue;
        }
        // The length octet, at least 2, within the options.
        let len = usize::from(*area.get(at + 1)?);
        if len < 2 || len > MAX_OPTIONS - at {
            return None;
        }
        match (k, len) {
            (kind::MSS, 4) => o.mss = Some(u16::from_be_bytes([area[at + 2], area[at + 3]])),
            (kind::WINDOW_SCALE, 3) => o.window_scale = Some(area[at + 2]),
            (kind::SACK_PERMITTED, 2) => o.sack_permitted = true,
            (kind::TIMESTAMPS, 10) => o.timestamps = Some(timestamps(be64(area, at + 2))),
            (kind::SACK, _) if len >= 10 && (len - 2) % 8 == 0 => {}
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMPS,
                _,
            ) => return None,
            _ => {}
        }
        at += len;
    }
    Some(o)
}

/// The options of a header of 8 words after the handshake: NOP, NOP, timestamps,
/// recognised by one comparison of their first word.
#[inline(always)]
fn is_timestamps_only(o: &[u8; 12]) -> bool {
    u32::from_ne_bytes(*o.first_chunk().expect("12 octets")) == NOP_NOP_TS
}

/// The options of a header of 8 words that [`is_timestamps_only`] recognised.
#[inline(always)]
fn timestamps_only(o: &[u8; 12]) -> TcpOptions {
    TcpOptions {
        timestamps: Some(timestamps(be64(o, 4))),
        ..TcpOptions::default()
    }
}

/// Whether the options of a SYN or SYN-ACK of 10 words are as Linux sends them with
/// everything on: MSS, SACK-permitted, timestamps, NOP, window scale.
#[inline(always)]
fn is_linux_syn_options(o: &[u8; 20]) -> bool {
    u32::from_ne_bytes(*o.first_chunk().expect("20 octets"))
        & u32::from_ne_bytes([0xff, 0xff, 0, 0])
        == u32::from_ne_bytes([tcp::kind::MSS, 4, 0, 0])
        && be32(o, 4) == SACKPERM_TS
        // (A masked word: its three octets compared with one load.)
        && u32::from_ne_bytes(*o[16..].first_chunk().expect("20 octets"))
            & u32::from_ne_bytes([0xff, 0xff, 0xff, 0])
            == NOP_WS
}

/// The options of a header of 10 words that [`is_linux_syn_options`] recognised.
#[inline(always)]
fn linux_syn_options(o: &[u8; 20]) -> TcpOptions {
    TcpOptions {
        mss: Some(u16::from_be_bytes([o[2], o[3]])),
        window_scale: Some(o[19]),
        sack_permitted: true,
        timestamps: Some(timestamps(be64(o, 8))),
    }
}

/// Offset of the IPv4 header in a frame.
const IP: usize = ethernet::HEADER_LEN;
/// Offset of the TCP header in a frame whose IPv4 header has no options.
const TCP: usize = IP + ipv4::HEADER_LEN;
/// NOP, NOP, timestamps kind and length, as one native-order word (RFC 7323
/// Appendix A).
const NOP_NOP_TS: u32 =
    u32::from_ne_bytes([tcp::kind::NOP, tcp::kind::NOP, tcp::kind::TIMESTAMPS, 10]);
/// SACK-permitted then timestamps kind and length, packed (as Linux sends them).
const SACKPERM_TS: u32 =
    u32::from_be_bytes([tcp::kind::SACK_PERMITTED, 2, tcp::kind::TIMESTAMPS, 10]);
/// MSS kind and length, as a native-order word whose last two octets (the value)
/// are masked off.
const MSS_NE: u32 = u32::from_ne_bytes([tcp::kind::MSS, 4, 0, 0]);
/// SACK-permitted then timestamps kind and length, as one native-order word.
const SACKPERM_TS_NE: u32 =
    u32::from_ne_bytes([tcp::kind::SACK_PERMITTED, 2, tcp::kind::TIMESTAMPS, 10]);
/// NOP, NOP, SACK-permitted, as one native-order word.
const NOP_NOP_SACKPERM: u32 =
    u32::from_ne_bytes([tcp::kind::NOP, tcp::kind::NOP, tcp::kind::SACK_PERMITTED, 2]);
/// NOP, window scale kind and length, as one native-order word whose last octet
/// (the shift) is masked off.
const NOP_WS: u32 = u32::from_ne_bytes([tcp::kind::NOP, tcp::kind::WINDOW_SCALE, 3, 0]);

/// The timestamps option's TSval and TSecr read as one big-endian word (the
/// fields of [`Timestamps`] are its halves, in its order in memory).
#[inline(always)]
fn timestamps(w: u64) -> Timestamps {
    Timestamps {
        tsecr: w as u32,
        tsval: (w >> 32) as u32,
    }
}

/// The big-endian 64-bit word at `at` of `b`.
#[inline(always)]
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(*b[at..].first_chunk().expect("8 octets"))
}

/// The big-endian word at `at` of `b`.
#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// [`parse_usual_tcp_frame`] of a frame whose Ethernet and IPv4 headers have been
/// checked, and whose TCP header ends at `N` (a constant: 54, 66 or 74 in the
/// receive loop, 58 to 94 out of line): the first `N` octets are one array, the
/// options are parsed by the shape's parser (which gives `None` when they are not
/// the shape's), or with `ANY` by the parsers of any well-formed list, the
/// checksums are verified in carry chains unrolled for the header length.
#[inline(always)]
fn usual_shape<const N: usize, const ANY: bool>(
    frame: &[u8],
    total_len: usize,
    verify_checksums: bool,
    out: &mut impl KeepFrame,
) -> bool {
    // The payload: after the header, up to the IPv4 total length (Ethernet padding
    // after it is ignored). None when the total length leaves no room for the
    // header or runs past the frame; otherwise the frame has room for the header
    // too (so the next check is known to pass, and costs nothing).
    let Some(payload) = frame.get(N..IP + total_len) else {
        return false;
    };
    let Some(h) = frame.first_chunk::<N>() else {
        return false;
    };
    // The options are recognised here, and read after the verification (their
    // values, kept in registers across it, went to the stack). (A match on the
    // constant, so that each shape's recogniser is a direct call.)
    // Options of any layout (`ANY`) are read here, and kept across it.
    let mut any = TcpOptions::default();
    let usual = if ANY {
        let area = h[N - MAX_OPTIONS..].first_chunk().expect("40 octets");
        let start = MAX_OPTIONS - (N - TCP - tcp::HEADER_LEN);
        match linux_syn_layout(area, start).or_else(|| scan_options(area, start)) {
            Some(o) => {
                any = o;
                true
            }
            None => false,
        }
    } else {
        match N - TCP {
            20 => true,
            32 => is_timestamps_only(options::<N, 12>(h)),
            _ => is_linux_syn_options(options::<N, 20>(h)),
        }
    };
    if !usual {
        return false;
    }
    if verify_checksums {
        // Native byte order (see `checksum::sum_native`); 0xffff is the same in both.
        let ip_sum = checksum::add_native(0, &h[IP..TCP]);
        // The pseudo-header (RFC 9293 §3.1) without its addresses: the protocol, and
        // the segment length. That is the total length less 20: the total length
        // as it is stored plus the complement of 20 (one's complement subtraction,
        // in the byte-swapped space too: a swap is a multiplication by 2^8 modulo
        // 0xffff).
        let length_protocol = u64::from(u16::from_ne_bytes([h[IP + 2], h[IP + 3]]))
            + u64::from(!(ipv4::HEADER_LEN as u16).to_be())
            + u64::from(u16::from_ne_bytes([0, PROTOCOL_TCP]));
        // The pseudo-header's addresses are the last 8 octets of the IPv4 header, just
        // before the TCP header: one carry chain from there, unrolled (the header has
        // a constant length), then the payload's.
        let seg_sum = checksum::add_native(
            checksum::add_native(length_protocol, &h[IP + 12..]),
            payload,
        );
        if !checksum::both_verify(ip_sum, seg_sum) {
            return false;
        }
    }
    // The fields are read again from the frame, not taken out of the words the
    // checksums were summed from: kept in registers across the verification, those
    // were too many and went to the stack. (`black_box` hides that it is the same
    // memory; it changes nothing else.)
    let h = opaque(h);
    // The header's fields read as big-endian words whose halves and octets are
    // the fields in the order of `TcpRepr` and `RxSeg` (C layout): each word is
    // then stored with one byte swap and one store.
    let addrs = be64(h, IP + 12);
    let ports_seq = be64(h, TCP);
    let ack_flags_window = be64(h, TCP + 8);
    let options = if ANY {
        any
    } else {
        match N - TCP {
            20 => TcpOptions::default(),
            32 => timestamps_only(options::<N, 12>(h)),
            _ => linux_syn_options(options::<N, 20>(h)),
        }
    };
    out.keep_parsed(
        TcpFrame {
            src_mac: EthernetAddress([h[6], h[7], h[8], h[9], h[10], h[11]]),
            dst_mac: EthernetAddress([h[0], h[1], h[2], h[3], h[4], h[5]]),
            src_ip: Ipv4Addr::from_bits((addrs >> 32) as u32),
            dst_ip: Ipv4Addr::from_bits(addrs as u32),
            tcp: TcpRepr {
                seq: tcp::SeqNumber(ports_seq as u32),
                dst_port: (ports_seq >> 32) as u16,
                src_port: (ports_seq >> 48) as u16,
                window: ack_flags_window as u16,
                flags: tcp::TcpFlags((ack_flags_window >> 16) as u8),
                ack: tcp::SeqNumber((ack_flags_window >> 32) as u32),
                options,
                payload_len: payload.len() as u16,
            },
            payload_offset: N,
        },
        ack_flags_window,
    );
    true
}

/// `h`, with what the compiler knows of it hidden: the loads through it are made
/// again, not taken from the registers of earlier loads of the same memory. On
/// x86-64 an empty `asm!` that passes the address through a register, which costs
/// nothing (`black_box` put it on the stack and loaded it back: three instructions
/// per frame).
#[inline(always)]
#[allow(unsafe_code)]
// (The block reads no memory through the pointer: it only passes it through.)
#[allow(clippy::pointers_in_nomem_asm_block)]
fn opaque<const N: usize>(h: &[u8; N]) -> &[u8; N] {
    #[cfg(target_arch = "x86_64")]
    {
        let mut p: *const [u8; N] = h;
        // SAFETY: the block is empty: it neither reads nor writes memory nor
        // changes `p`, so `p` is still `h`'s address, valid for `h`'s lifetime,
        // and the reference made from it is `h` again.
        unsafe {
            core::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags));
            &*p
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::hint::black_box(h)
    }
}

/// The `M` octets of options of a header that ends at `N` (`M` is `N - TCP - 20`
/// where this is called, and the match arms that do not call it are never taken).
#[inline(always)]
fn options<const N: usize, const M: usize>(h: &[u8; N]) -> &[u8; M] {
    h[TCP + tcp::HEADER_LEN..]
        .first_chunk()
        .expect("the options of the shape")
}

/// [`parse_tcp_frame`] through the parsers of each layer.
fn parse_tcp_frame_by_layers(frame: &[u8], verify_checksums: bool) -> Result<TcpFrame> {
    let eth = EthernetFrame::new_checked(frame)?;
    let raw = eth.ethertype_raw();
    if raw != EtherType::IPV4 {
        return Err(if is_unsupported_ethertype(raw) {
            Error::Unsupported
        } else {
            Error::NotIpv4
        });
    }
    parse_ipv4_tcp(&eth, verify_checksums)
}

/// Tells a received frame apart: TCP over IPv4 (parsed as [`parse_tcp_frame`] does),
/// ARP, or something else. Errors are those of the parsers of the layers read; IPv4
/// of another protocol is [`Frame::Other`] once its header has been checked.
#[inline]
pub fn classify(frame: &[u8], verify_checksums: bool) -> Result<Frame> {
    if let Some(f) = parse_usual_tcp_frame(frame, verify_checksums) {
        return Ok(Frame::Tcp(f));
    }
    let eth = EthernetFrame::new_checked(frame)?;
    match EthernetRepr::parse(&eth)?.ethertype {
        EtherType::Ipv4 => match parse_ipv4_tcp(&eth, verify_checksums) {
            Ok(tcp) => Ok(Frame::Tcp(tcp)),
            Err(Error::NotTcp) => Ok(Frame::Other),
            Err(e) => Err(e),
        },
        EtherType::Arp => {
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload())?)?;
            Ok(Frame::Arp(arp, eth.src_addr()))
        }
        EtherType::Unknown(_) => Ok(Frame::Other),
    }
}

/// Writes an Ethernet II + IPv4 + TCP frame into the start of `buf`, every checksum
/// computed in full; returns the frame length. `payload.len()` must equal
/// `tcp.payload_len`. Errors, in this order: a payload of the wrong length or a packet
/// longer than IPv4 allows is [`Error::BadLength`]; a short buffer is
/// [`Error::BufferTooSmall`]. [`TcpFrameTemplate::emit`] writes the same bytes faster.
pub fn emit_tcp_frame(
    buf: &mut [u8],
    hdr: &FrameHeader,
    tcp: &TcpRepr,
    payload: &[u8],
) -> Result<usize> {
    if payload.len() != usize::from(tcp.payload_len) {
        return Err(Error::BadLength);
    }
    let seg_len = tcp.header_len() + payload.len();
    if seg_len > MAX_SEGMENT_LEN {
        return Err(Error::BadLength);
    }
    let frame_len = HEAD_LEN + seg_len;
    if buf.len() < frame_len {
        return Err(Error::BufferTooSmall);
    }
    let eth = EthernetRepr {
        src_addr: hdr.src_mac,
        dst_addr: hdr.dst_mac,
        ethertype: EtherType::Ipv4,
    };
    let ip = Ipv4Repr {
        src: hdr.src_ip,
        dst: hdr.dst_ip,
        protocol: PROTOCOL_TCP,
        payload_len: seg_len as u16,
        ttl: hdr.ttl,
    };
    let mut at = eth.emit(buf)?;
    at += ip.emit(&mut buf[at..])?;
    at += tcp.emit(&mut buf[at..], hdr.src_ip, hdr.dst_ip, payload)?;
    debug_assert_eq!(at, frame_len);
    Ok(at)
}

/// The Ethernet and IPv4 headers of one flow direction, prepared once, and the sums of
/// their constant fields; [`emit`](Self::emit) writes a whole TCP frame from it.
///
/// The IPv4 header is kept with a zero total length and checksum, and `ip_sum` is the
/// one's complement sum of the rest; a frame's header checksum is then
/// `!(ip_sum + total length)`, RFC 1624 equation 3 with the old value zero. The TCP
/// checksum starts from `pseudo_sum`, the pseudo-header without the segment length
/// (RFC 9293 §3.1), and adds the length, the header words as they are built and the
/// payload. Both sums are kept in native byte order, so that no word is byte-swapped
/// to be summed (RFC 1071 §2(B)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrameTemplate {
    head: [u8; HEAD_LEN],
    ip_sum: u16,
    pseudo_sum: u16,
    header: FrameHeader,
}

impl TcpFrameTemplate {
    /// Prepares the headers for frames with the addresses and TTL of `hdr`.
    pub fn new(hdr: &FrameHeader) -> TcpFrameTemplate {
        let mut head = [0u8; HEAD_LEN];
        let eth = EthernetRepr {
            src_addr: hdr.src_mac,
            dst_addr: hdr.dst_mac,
            ethertype: EtherType::Ipv4,
        };
        let ip = Ipv4Repr {
            src: hdr.src_ip,
            dst: hdr.dst_ip,
            protocol: PROTOCOL_TCP,
            payload_len: 0,
            ttl: hdr.ttl,
        };
        let n = eth.emit(&mut head).expect("room for the Ethernet header");
        ip.emit(&mut head[n..]).expect("room for the IPv4 header");
        head[IP_LENGTH..IP_LENGTH + 2].fill(0);
        head[IP_CHECKSUM..IP_CHECKSUM + 2].fill(0);
        TcpFrameTemplate {
            head,
            ip_sum: checksum::fold(checksum::sum_native(&head[ethernet::HEADER_LEN..])),
            pseudo_sum: checksum::fold(checksum::pseudo_header_native(
                hdr.src_ip.octets(),
                hdr.dst_ip.octets(),
                PROTOCOL_TCP,
            )),
            header: *hdr,
        }
    }

    /// The addresses and TTL this template was made from.
    #[inline]
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// Writes a frame carrying `tcp` and `payload` into the start of `buf`; returns
    /// the frame length. The bytes and the errors are exactly those of
    /// [`emit_tcp_frame`] with this template's header. On error, what `buf` holds is
    /// unspecified.
    #[inline(always)]
    pub fn emit(&self, buf: &mut [u8], tcp: &TcpRepr, payload: &[u8]) -> Result<usize> {
        if payload.len() != usize::from(tcp.payload_len) {
            return Err(Error::BadLength);
        }
        self.emit_summed(buf, tcp, payload, None)
    }

    /// [`emit`](Self::emit) of a payload whose sum is known, so that the payload is
    /// copied but not read again to be summed: `payload_acc` is any `u64` congruent
    /// modulo 0xffff to its native-space sum (as [`checksum::PrefixSums::slice_acc`]
    /// gives it for a slice of a buffer prepared once). The bytes written are those
    /// of `emit`.
    #[inline(always)]
    pub fn emit_with_payload_acc(
        &self,
        buf: &mut [u8],
        tcp: &TcpRepr,
        payload: &[u8],
        payload_acc: u64,
    ) -> Result<usize> {
        if payload.len() != usize::from(tcp.payload_len) {
            return Err(Error::BadLength);
        }
        self.emit_carrying(buf, tcp, payload, payload_acc)
    }

    /// [`emit_with_payload_acc`](Self::emit_with_payload_acc) with `payload` whatever
    /// `tcp.payload_len` says: the frame carries `payload` (the bytes are those of
    /// `emit` of `tcp` with `payload_len` set to its length). For a sender that
    /// clamps a segment to the payload it has without making another segment (which
    /// would keep both in memory for the choice between them).
    #[inline(always)]
    pub fn emit_carrying(
        &self,
        buf: &mut [u8],
        tcp: &TcpRepr,
        payload: &[u8],
        payload_acc: u64,
    ) -> Result<usize> {
        debug_assert_eq!(
            u64::from(checksum::fold(checksum::sum_native(payload))) % 0xffff,
            payload_acc % 0xffff,
            "payload sum does not match the payload"
        );
        self.emit_summed(buf, tcp, payload, Some(payload_acc))
    }

    /// [`emit_carrying`](Self::emit_carrying) of a header given as the words a frame
    /// stores ([`TcpHeaderWords`]), as the transmit path builds it from a
    /// connection's fields: the frame of `payload` (whatever `tcp.payload_len`
    /// says), its bytes those of `emit` of [`TcpHeaderWords::repr`].
    #[inline(always)]
    pub fn emit_words(
        &self,
        buf: &mut [u8],
        tcp: &TcpHeaderWords,
        payload: &[u8],
        payload_acc: u64,
    ) -> Result<usize> {
        debug_assert_eq!(
            u64::from(checksum::fold(checksum::sum_native(payload))) % 0xffff,
            payload_acc % 0xffff,
            "payload sum does not match the payload"
        );
        self.emit_header_words(buf, tcp, payload, payload_acc)
    }

    /// The emit of a [`TcpRepr`]: its header words, then
    /// [`emit_header_words`](Self::emit_header_words).
    #[inline(always)]
    fn emit_summed(
        &self,
        buf: &mut [u8],
        tcp: &TcpRepr,
        payload: &[u8],
        payload_acc: Option<u64>,
    ) -> Result<usize> {
        let payload_acc = match payload_acc {
            Some(sum) => sum,
            None => checksum::sum_native(payload),
        };
        self.emit_header_words(buf, &tcp.header_words(), payload, payload_acc)
    }

    /// The emit of every frame: the headers are written as one fixed-size area of
    /// [`HEAD_AREA`] octets with no check per field, the template copied, the TCP
    /// header stored as four or five whole words (those past a shorter header are
    /// then overwritten by the payload, or lie past the frame), both checksums finished
    /// from the template's sums. A buffer shorter than the area (never a port's,
    /// whose [`MAX_FRAME`](crate::io::MAX_FRAME) octets the compiler sees) gets the
    /// area written aside first. The frame carries `payload`, whatever
    /// `tcp.payload_len` says (the callers check it, or mean it), whose
    /// native-space sum is congruent to `payload_acc`.
    #[inline(always)]
    fn emit_header_words(
        &self,
        buf: &mut [u8],
        tcp: &TcpHeaderWords,
        payload: &[u8],
        payload_acc: u64,
    ) -> Result<usize> {
        let header_len = tcp.len;
        let [w0, w1, w2, w3, w4] = tcp.words;
        let seg_len = header_len + payload.len();
        let frame_len = HEAD_LEN + seg_len;
        // The errors of emit_tcp_frame, in its order (the payload length was
        // checked by the caller).
        if seg_len > MAX_SEGMENT_LEN {
            return Err(Error::BadLength);
        }
        if frame_len > buf.len() {
            return Err(Error::BufferTooSmall);
        }
        // Checksums are summed in native byte order (see `checksum::sum_native`): a
        // big-endian 16-bit value v enters as v.to_be(), a folded sum f is stored as
        // (!f).to_ne_bytes().
        // The last header word (zero past a header of 32 octets) and the payload's
        // sum (zero without payload) are added after the chain: where they are
        // known to be zero, they then cost nothing.
        let acc = checksum::add_words(
            u64::from(self.pseudo_sum) + u64::from((seg_len as u16).to_be()),
            [w0, w1, w2, w3],
        );
        let acc = checksum::add_carry(checksum::add_carry(acc, w4), payload_acc);
        let tcp_check = !checksum::fold(acc);
        let total_len = (ipv4::HEADER_LEN + seg_len) as u16;
        let ip_check = !checksum::fold(u64::from(self.ip_sum) + u64::from(total_len.to_be()));

        let mut aside = [0u8; HEAD_AREA];
        let area = match buf.first_chunk_mut::<HEAD_AREA>() {
            Some(area) => area,
            None => &mut aside,
        };
        let (head, tcp_area) = area.split_first_chunk_mut::<HEAD_LEN>().expect("HEAD_LEN");
        *head = self.head;
        head[IP_LENGTH..IP_LENGTH + 2].copy_from_slice(&total_len.to_be_bytes());
        head[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&ip_check.to_ne_bytes());
        let (words, _) = tcp_area.as_chunks_mut::<8>();
        for (dst, w) in words.iter_mut().zip([w0, w1, w2, w3]) {
            *dst = w.to_ne_bytes();
        }
        if header_len > 32 {
            // (Past a shorter header the last word is zero, and either payload or
            // past the frame: not stored. The usual headers' lengths are known.)
            words[4] = w4.to_ne_bytes();
        }
        tcp_area[tcp::field::CHECKSUM].copy_from_slice(&tcp_check.to_ne_bytes());
        let payload_at = HEAD_LEN + header_len;
        if buf.len() < HEAD_AREA {
            // The frame fits (checked above), and so within the area.
            buf[..payload_at].copy_from_slice(&aside[..payload_at]);
        }
        if !payload.is_empty() {
            buf[payload_at..frame_len].copy_from_slice(payload);
        }
        Ok(frame_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::arp::ArpOperation;
    use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, Timestamps};

    /// A 66-octet ACK with timestamps from 198.18.0.1:50000 to 198.19.0.2:80 as
    /// Linux would send it; checksums filled in by [`frame_bytes`].
    const ACK_FRAME: [u8; 66] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst mac
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src mac
        0x08, 0x00, // IPv4
        0x45, 0x00, 0x00, 0x34, // version, IHL, DSCP, total length 52
        0x00, 0x00, 0x40, 0x00, // ID 0, DF
        0x40, 0x06, 0x00, 0x00, // TTL 64, TCP, checksum
        198, 18, 0, 1, // src
        198, 19, 0, 2, // dst
        0xc3, 0x50, 0x00, 0x50, // ports 50000 -> 80
        0x00, 0x00, 0x03, 0xe9, // seq 1001
        0x00, 0x00, 0x07, 0xd1, // ack 2001
        0x80, 0x10, 0x01, 0xf6, // data offset 8, ACK, window 502
        0x00, 0x00, 0x00, 0x00, // checksum, urgent
        0x01, 0x01, 0x08, 0x0a, // NOP NOP timestamps
        0x00, 0x00, 0x00, 0x0a, // TSval 10
        0x00, 0x00, 0x00, 0x09, // TSecr 9
    ];

    fn frame_bytes() -> [u8; 66] {
        let mut f = ACK_FRAME;
        let ip = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&ip.to_be_bytes());
        let pseudo = checksum::pseudo_header_sum(src_ip(), dst_ip(), 6, 32);
        let tcp = !checksum::combine(pseudo, checksum::sum(&f[34..]));
        f[50..52].copy_from_slice(&tcp.to_be_bytes());
        f
    }

    fn src_ip() -> Ipv4Addr {
        Ipv4Addr::new(198, 18, 0, 1)
    }
    fn dst_ip() -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, 2)
    }

    fn header() -> FrameHeader {
        FrameHeader {
            src_mac: EthernetAddress::new(2, 0, 0, 0, 0, 1),
            dst_mac: EthernetAddress::new(2, 0, 0, 0, 0, 2),
            src_ip: src_ip(),
            dst_ip: dst_ip(),
            ttl: 64,
        }
    }

    fn ack() -> TcpRepr {
        TcpRepr {
            src_port: 50000,
            dst_port: 80,
            seq: SeqNumber(1001),
            ack: SeqNumber(2001),
            flags: TcpFlags::ACK,
            window: 502,
            options: TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: 10,
                    tsecr: 9,
                }),
                ..TcpOptions::default()
            },
            payload_len: 0,
        }
    }

    fn expected_frame() -> TcpFrame {
        TcpFrame {
            src_mac: header().src_mac,
            dst_mac: header().dst_mac,
            src_ip: src_ip(),
            dst_ip: dst_ip(),
            tcp: ack(),
            payload_offset: 66,
        }
    }

    #[test]
    fn ack_frame_parses() {
        let f = frame_bytes();
        assert_eq!(parse_tcp_frame(&f, true), Ok(expected_frame()));
        assert_eq!(classify(&f, true), Ok(Frame::Tcp(expected_frame())));
    }

    #[test]
    fn ack_frame_emits_the_same_bytes_both_ways() {
        let mut buf = [0xeeu8; 128];
        assert_eq!(emit_tcp_frame(&mut buf, &header(), &ack(), &[]), Ok(66));
        assert_eq!(buf[..66], frame_bytes());
        let mut buf = [0xeeu8; 128];
        let t = TcpFrameTemplate::new(&header());
        assert_eq!(t.emit(&mut buf, &ack(), &[]), Ok(66));
        assert_eq!(buf[..66], frame_bytes());
        assert_eq!(t.header(), &header());
    }

    #[test]
    fn emit_with_a_prefix_sum_writes_the_bytes_emit_writes() {
        // Every slice of a payload, at even and odd offsets, including all-zero ones.
        let mut data: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        data[100..140].fill(0);
        let sums = checksum::PrefixSums::new(&data);
        let t = TcpFrameTemplate::new(&header());
        for a in (0..data.len()).step_by(7).chain([99, 100, 101, 139, 140]) {
            for b in (a..=data.len()).step_by(5).chain([a, a + 1, 140.max(a)]) {
                let b = b.min(data.len());
                let tcp = TcpRepr {
                    payload_len: (b - a) as u16,
                    flags: TcpFlags::PSH | TcpFlags::ACK,
                    ..ack()
                };
                let (mut x, mut y) = ([0u8; 600], [0u8; 600]);
                let n = t.emit(&mut x, &tcp, &data[a..b]).unwrap();
                let m = t
                    .emit_with_payload_acc(
                        &mut y,
                        &tcp,
                        &data[a..b],
                        u64::from(sums.slice_sum(&data, a, b)),
                    )
                    .unwrap();
                assert_eq!((n, &x[..n]), (m, &y[..m]), "{a}..{b}");
                assert!(parse_tcp_frame(&y[..m], true).is_ok());
            }
        }
    }

    /// Every option set a [`TcpOptions`] can hold.
    fn option_sets() -> Vec<TcpOptions> {
        let mut v = Vec::new();
        for mss in [None, Some(1460)] {
            for window_scale in [None, Some(7), Some(0)] {
                for sack_permitted in [false, true] {
                    for timestamps in [
                        None,
                        Some(Timestamps {
                            tsval: 0x0102_0304,
                            tsecr: 0xfffe_fdfc,
                        }),
                    ] {
                        v.push(TcpOptions {
                            mss,
                            window_scale,
                            sack_permitted,
                            timestamps,
                        });
                    }
                }
            }
        }
        v
    }

    #[test]
    fn template_emit_writes_the_general_bytes_for_every_flag_option_and_length() {
        let t = TcpFrameTemplate::new(&header());
        let data: Vec<u8> = (0..1600u32).map(|i| (i * 131 + 17) as u8).collect();
        let sums = checksum::PrefixSums::new(&data);
        for flags in 0..=255u8 {
            for options in option_sets() {
                for plen in [0usize, 1, 2, 3, 7, 64, 255, 256, 1000, 1460] {
                    for offset in [0usize, 1, 100, 139] {
                        let tcp = TcpRepr {
                            flags: TcpFlags(flags),
                            options,
                            payload_len: plen as u16,
                            ..ack()
                        };
                        let payload = &data[offset..offset + plen];
                        let mut want = [0x5au8; 2048];
                        let n = emit_tcp_frame(&mut want, &header(), &tcp, payload).unwrap();
                        let acc = sums.slice_acc(offset, offset + plen).unwrap();
                        // A port's buffer, one just long enough, and the fill of
                        // the buffer before (the fast path writes past short
                        // headers).
                        for (len, fill) in
                            [(2048, 0u8), (2048, 0xff), (n, 0xa5), (n.max(HEAD_AREA), 3)]
                        {
                            let mut got = vec![fill; len];
                            assert_eq!(t.emit(&mut got, &tcp, payload), Ok(n));
                            assert_eq!(got[..n], want[..n], "{tcp:?}");
                            got.fill(fill);
                            let m = t.emit_with_payload_acc(&mut got, &tcp, payload, acc);
                            assert_eq!(m, Ok(n));
                            assert_eq!(got[..n], want[..n], "{tcp:?} at {offset}");
                            got.fill(fill);
                            let m = t.emit_words(&mut got, &tcp.header_words(), payload, acc);
                            assert_eq!(m, Ok(n));
                            assert_eq!(got[..n], want[..n], "{tcp:?} as words");
                        }
                        let mut short = vec![0u8; n - 1];
                        assert_eq!(
                            t.emit(&mut short, &tcp, payload),
                            Err(Error::BufferTooSmall)
                        );
                        assert_eq!(
                            emit_tcp_frame(&mut short, &header(), &tcp, payload),
                            Err(Error::BufferTooSmall)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn emit_carrying_writes_the_frame_of_the_payload_given() {
        let t = TcpFrameTemplate::new(&header());
        let data = b"a payload of some length";
        let sums = checksum::PrefixSums::new(data);
        for n in 0..=data.len() {
            let asked = TcpRepr {
                payload_len: 1000,
                ..ack()
            };
            let fitted = TcpRepr {
                payload_len: n as u16,
                ..ack()
            };
            let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
            let acc = sums.slice_acc(0, n).unwrap();
            let got = t.emit_carrying(&mut a, &asked, &data[..n], acc);
            assert_eq!(got, emit_tcp_frame(&mut b, &header(), &fitted, &data[..n]));
            assert_eq!(a, b);
            assert_eq!(
                t.emit_with_payload_acc(&mut a, &asked, &data[..n], acc),
                Err(Error::BadLength)
            );
        }
    }

    #[test]
    fn template_emit_of_a_frame_in_error_reports_what_the_general_emit_reports() {
        let t = TcpFrameTemplate::new(&header());
        let big = vec![7u8; 65_600];
        for options in option_sets() {
            for flags in [TcpFlags::SYN, TcpFlags::ACK] {
                for plen in [0usize, 65_455, 65_475, 65_495, 65_515, 65_535] {
                    for given in [plen, plen + 1] {
                        let tcp = TcpRepr {
                            flags,
                            options,
                            payload_len: plen as u16,
                            ..ack()
                        };
                        for len in [10, 60, 2048, 70_000] {
                            let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                            let want = emit_tcp_frame(&mut a, &header(), &tcp, &big[..given]);
                            let got = t.emit(&mut b, &tcp, &big[..given]);
                            assert_eq!(got, want, "{tcp:?} {given} into {len}");
                            if let Ok(n) = got {
                                assert_eq!(a[..n], b[..n]);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn payload_is_found_at_its_offset() {
        let tcp = TcpRepr {
            payload_len: 5,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            ..ack()
        };
        let mut buf = [0u8; 80];
        let n = emit_tcp_frame(&mut buf, &header(), &tcp, b"hello").unwrap();
        // Ethernet padding to the 60-octet minimum is ignored, as is any trailer.
        let parsed = parse_tcp_frame(&buf[..n + 4], true).unwrap();
        assert_eq!(parsed.tcp, tcp);
        assert_eq!(parsed.payload(&buf), b"hello");
        assert_eq!(parsed.payload(&buf[..3]), b"");
    }

    #[test]
    fn padded_syn_frame_parses() {
        // A bare SYN is 54 octets; a NIC pads it to 60.
        let tcp = TcpRepr {
            flags: TcpFlags::SYN,
            options: TcpOptions::default(),
            ..ack()
        };
        let mut buf = [0u8; 60];
        assert_eq!(emit_tcp_frame(&mut buf, &header(), &tcp, &[]), Ok(54));
        let parsed = parse_tcp_frame(&buf, true).unwrap();
        assert_eq!(parsed.tcp, tcp);
        assert_eq!(parsed.payload_offset, 54);
    }

    #[test]
    fn emit_checks_lengths_in_order() {
        let t = TcpFrameTemplate::new(&header());
        let mut buf = [0u8; 65];
        assert_eq!(
            emit_tcp_frame(&mut buf, &header(), &ack(), b"x"),
            Err(Error::BadLength)
        );
        assert_eq!(t.emit(&mut buf, &ack(), b"x"), Err(Error::BadLength));
        assert_eq!(
            emit_tcp_frame(&mut buf, &header(), &ack(), &[]),
            Err(Error::BufferTooSmall)
        );
        assert_eq!(t.emit(&mut buf, &ack(), &[]), Err(Error::BufferTooSmall));
        assert_eq!(
            t.emit(&mut buf[..10], &ack(), &[]),
            Err(Error::BufferTooSmall)
        );
        let big = vec![0u8; 65_500];
        let tcp = TcpRepr {
            payload_len: 65_500,
            ..ack()
        };
        assert_eq!(
            emit_tcp_frame(&mut buf, &header(), &tcp, &big),
            Err(Error::BadLength)
        );
        assert_eq!(t.emit(&mut buf, &tcp, &big), Err(Error::BadLength));
    }

    #[test]
    fn template_follows_its_ttl_and_addresses() {
        let hdr = FrameHeader {
            ttl: 1,
            src_ip: Ipv4Addr::new(10, 255, 255, 254),
            dst_ip: Ipv4Addr::new(255, 255, 255, 255),
            ..header()
        };
        let tcp = TcpRepr {
            payload_len: 3,
            ..ack()
        };
        let (mut a, mut b) = ([0u8; 128], [0u8; 128]);
        let n = emit_tcp_frame(&mut a, &hdr, &tcp, b"abc").unwrap();
        let m = TcpFrameTemplate::new(&hdr)
            .emit(&mut b, &tcp, b"abc")
            .unwrap();
        assert_eq!(a[..n], b[..m]);
        assert_eq!(parse_tcp_frame(&b[..m], true).unwrap().tcp, tcp);
    }

    #[test]
    fn wrong_layers_are_reported() {
        let mut f = frame_bytes();
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse_tcp_frame(&f, true), Err(Error::NotIpv4));
        assert_eq!(classify(&f, true), Ok(Frame::Other));
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        assert_eq!(parse_tcp_frame(&f, true), Err(Error::Unsupported));
        assert_eq!(classify(&f, true), Err(Error::Unsupported));

        let mut udp = frame_bytes();
        udp[23] = 17;
        udp[24..26].fill(0);
        let c = checksum::checksum(&udp[14..34]);
        udp[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_tcp_frame(&udp, true), Err(Error::NotTcp));
        assert_eq!(classify(&udp, true), Ok(Frame::Other));

        let mut bad = frame_bytes();
        bad[60] ^= 1;
        assert_eq!(parse_tcp_frame(&bad, true), Err(Error::BadChecksum));
        assert_eq!(classify(&bad, true), Err(Error::BadChecksum));
        assert!(parse_tcp_frame(&bad, false).is_ok());
    }

    #[test]
    fn arp_is_classified_with_its_source_mac() {
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress::new(2, 0, 0, 0, 0, 9),
            source_protocol_addr: dst_ip(),
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: src_ip(),
        };
        let mut buf = [0u8; 60];
        let n = req.emit_frame(&mut buf).unwrap();
        assert_eq!(
            classify(&buf[..n], true),
            Ok(Frame::Arp(req, EthernetAddress::new(2, 0, 0, 0, 0, 9)))
        );
        assert_eq!(parse_tcp_frame(&buf[..n], true), Err(Error::NotIpv4));
    }

    mod fast_path {
        use super::*;
        use proptest::prelude::*;

        /// The options of a SYN or SYN-ACK as Linux and synfin lay them out, with
        /// any subset of MSS, SACK-permitted, timestamps and window scale.
        fn linux_syn_options() -> impl Strategy<Value = Vec<u8>> {
            (
                any::<Option<u16>>(),
                any::<bool>(),
                any::<Option<[u8; 8]>>(),
                any::<Option<u8>>(),
            )
                .prop_map(|(mss, sack, ts, ws)| {
                    let mut v = Vec::new();
                    if let Some(m) = mss {
                        v.extend([2, 4]);
                        v.extend(m.to_be_bytes());
                    }
                    match (sack, ts) {
                        (true, Some(t)) => v.extend([&[4u8, 2, 8, 10][..], &t].concat()),
                        (false, Some(t)) => v.extend([&[1u8, 1, 8, 10][..], &t].concat()),
                        (true, None) => v.extend([1, 1, 4, 2]),
                        (false, None) => {}
                    }
                    if let Some(s) = ws {
                        v.extend([1, 3, 3, s]);
                    }
                    v
                })
        }

        /// Well-formed option lists in any order: every kind the parser knows,
        /// SACK blocks, unknown kinds, NOPs and End of Option List (after which
        /// anything may follow), padded with NOPs to whole words.
        fn well_formed_options() -> impl Strategy<Value = Vec<u8>> {
            let option = prop_oneof![
                Just(vec![0u8]),
                Just(vec![1u8]),
                any::<[u8; 2]>().prop_map(|m| vec![2, 4, m[0], m[1]]),
                any::<u8>().prop_map(|s| vec![3, 3, s]),
                Just(vec![4u8, 2]),
                (1usize..=4).prop_map(|n| {
                    let mut v = vec![5, (2 + 8 * n) as u8];
                    v.resize(2 + 8 * n, 0xab);
                    v
                }),
                any::<[u8; 8]>().prop_map(|t| [&[8u8, 10][..], &t].concat()),
                (9u8..=254, 2usize..=6).prop_map(|(k, l)| {
                    let mut v = vec![k, l as u8];
                    v.resize(l, 7);
                    v
                }),
            ];
            proptest::collection::vec(option, 0..=8).prop_map(|parts| {
                let mut v = parts.concat();
                v.truncate(40);
                while !v.len().is_multiple_of(4) {
                    v.push(1);
                }
                v
            })
        }

        /// Frames near the usual one: options of any layout (including malformed
        /// ones), payloads, padding, IPv4 options, then octets overwritten and the
        /// frame cut anywhere.
        fn near_usual_frame() -> impl Strategy<Value = Vec<u8>> {
            let options = prop_oneof![
                Just(vec![]),
                any::<[u8; 8]>().prop_map(|ts| [&[1u8, 1, 8, 10][..], &ts].concat()),
                any::<[u8; 8]>().prop_map(|ts| {
                    [&[2u8, 4, 5, 180, 4, 2, 8, 10][..], &ts, &[1, 3, 3, 7]].concat()
                }),
                Just(vec![2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 14, 0, 0, 0, 0]),
                proptest::collection::vec(any::<u8>(), 0..=40),
                linux_syn_options(),
                well_formed_options(),
            ];
            let edits = prop_oneof![
                2 => Just(vec![]),
                1 => proptest::collection::vec((0usize..160, any::<u8>()), 1..=3),
            ];
            (
                options,
                proptest::collection::vec(any::<u8>(), 0..=64),
                0usize..=8,
                prop::bool::weighted(0.2),
                edits,
                any::<prop::sample::Index>(),
                prop::bool::weighted(0.3),
            )
                .prop_map(|(opts, payload, pad, ip_opts, edits, cut, do_cut)| {
                    let mut opts = opts;
                    opts.truncate(opts.len() / 4 * 4);
                    let ihl = if ip_opts { 24 } else { 20 };
                    let seg_len = 20 + opts.len() + payload.len();
                    let mut f = Vec::new();
                    f.extend_from_slice(&ACK_FRAME[..14]);
                    f.extend_from_slice(&ACK_FRAME[14..34]);
                    f[14] = 0x40 | (ihl / 4) as u8;
                    f[16..18].copy_from_slice(&((ihl + seg_len) as u16).to_be_bytes());
                    if ip_opts {
                        f.extend_from_slice(&[1, 1, 1, 0]);
                    }
                    let ip_end = f.len();
                    let c = checksum::checksum(&f[14..ip_end]);
                    f[24..26].copy_from_slice(&c.to_be_bytes());
                    let tcp_start = f.len();
                    f.extend_from_slice(&ACK_FRAME[34..54]);
                    f[tcp_start + 12] = (((20 + opts.len()) / 4) << 4) as u8;
                    f.extend_from_slice(&opts);
                    f.extend_from_slice(&payload);
                    let pseudo = checksum::pseudo_header_sum(src_ip(), dst_ip(), 6, seg_len as u16);
                    let c = !checksum::combine(pseudo, checksum::sum(&f[tcp_start..]));
                    f[tcp_start + 16..tcp_start + 18].copy_from_slice(&c.to_be_bytes());
                    f.extend(std::iter::repeat_n(0, pad));
                    for (at, v) in edits {
                        if let Some(b) = f.get_mut(at) {
                            *b = v;
                        }
                    }
                    if do_cut {
                        f.truncate(cut.index(f.len() + 1));
                    }
                    f
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn fast_path_agrees_with_the_layered_parsers(frame in near_usual_frame()) {
                for verify in [true, false] {
                    let layered = parse_tcp_frame_by_layers(&frame, verify);
                    prop_assert_eq!(parse_tcp_frame(&frame, verify), layered);
                    if let Some(fast) = parse_usual_tcp_frame(&frame, verify) {
                        prop_assert_eq!(Ok(fast), layered);
                    }
                }
            }
        }

        #[test]
        fn usual_frames_take_the_fast_path() {
            let f = frame_bytes();
            assert_eq!(parse_usual_tcp_frame(&f, true), Some(expected_frame()));
        }

        /// `tcp` with `payload` in a frame from [`header`], every checksum right.
        fn frame_of(tcp: &TcpRepr, payload: &[u8]) -> Vec<u8> {
            let mut buf = vec![0u8; 128 + payload.len()];
            let n = emit_tcp_frame(&mut buf, &header(), tcp, payload).unwrap();
            buf.truncate(n);
            buf
        }

        /// A SYN with every option: Linux's layout, data offset 10.
        fn full_syn() -> TcpRepr {
            TcpRepr {
                flags: TcpFlags::SYN,
                options: TcpOptions {
                    mss: Some(1460),
                    window_scale: Some(7),
                    sack_permitted: true,
                    timestamps: Some(Timestamps {
                        tsval: 0x0102_0304,
                        tsecr: 0,
                    }),
                },
                ..ack()
            }
        }

        /// SYNs with MSS and every subset of SACK-permitted, timestamps and window
        /// scale (shifts 0 and 14), laid out as Linux and synfin lay them out.
        fn syn_option_subsets() -> Vec<TcpRepr> {
            let mut v = Vec::new();
            for window_scale in [None, Some(0), Some(14)] {
                for sack_permitted in [false, true] {
                    for timestamps in [None, full_syn().options.timestamps] {
                        v.push(TcpRepr {
                            options: TcpOptions {
                                mss: Some(1460),
                                window_scale,
                                sack_permitted,
                                timestamps,
                            },
                            ..full_syn()
                        });
                    }
                }
            }
            v
        }

        /// `syn` with `options` (raw octets, a whole number of words) in place of
        /// its own, every checksum right.
        fn with_raw_options(syn: &TcpRepr, options: &[u8]) -> Vec<u8> {
            let bare = TcpRepr {
                options: TcpOptions::default(),
                ..*syn
            };
            let mut f = frame_of(&bare, &[]);
            f.extend_from_slice(options);
            f[46] = (((20 + options.len()) / 4) << 4) as u8;
            f[16..18].copy_from_slice(&((40 + options.len()) as u16).to_be_bytes());
            fix_checksums(&mut f);
            f
        }

        /// Recomputes both checksums of a frame without IPv4 options after an edit.
        fn fix_checksums(f: &mut [u8]) {
            f[24..26].fill(0);
            let ip = checksum::checksum(&f[14..34]);
            f[24..26].copy_from_slice(&ip.to_be_bytes());
            let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
            let seg_len = total - 20;
            f[50..52].fill(0);
            let pseudo = checksum::pseudo_header_sum(src_ip(), dst_ip(), 6, seg_len as u16);
            let tcp = !checksum::combine(pseudo, checksum::sum(&f[34..14 + total]));
            f[50..52].copy_from_slice(&tcp.to_be_bytes());
        }

        /// The fast path's answer, checked against the layered parsers: when it
        /// takes a frame it agrees with them, and `parse_tcp_frame` always does.
        #[track_caller]
        fn fast(f: &[u8], verify: bool) -> Option<TcpFrame> {
            let layered = parse_tcp_frame_by_layers(f, verify);
            let fast = parse_usual_tcp_frame(f, verify);
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), layered);
            }
            assert_eq!(parse_tcp_frame(f, verify), layered);
            fast
        }

        #[test]
        fn each_usual_shape_is_read_at_fixed_offsets() {
            let data = TcpRepr {
                payload_len: 300,
                flags: TcpFlags::PSH | TcpFlags::ACK,
                ..ack()
            };
            let bare = TcpRepr {
                flags: TcpFlags::RST,
                options: TcpOptions::default(),
                ..ack()
            };
            let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 + 1) as u8).collect();
            let mut cases = vec![
                (ack(), &[][..], 32),
                (data, &payload[..], 32),
                (bare, &[][..], 20),
                (full_syn(), &[][..], 40),
            ];
            // Every SYN and SYN-ACK synfin and Linux send: MSS and any subset of
            // SACK-permitted, timestamps and window scale.
            for syn in syn_option_subsets() {
                cases.push((syn, &[][..], syn.header_len() as u8));
                let synack = TcpRepr {
                    flags: TcpFlags::SYN | TcpFlags::ACK,
                    ..syn
                };
                cases.push((synack, &[][..], syn.header_len() as u8));
            }
            for (tcp, payload, header_len) in cases {
                let f = frame_of(&tcp, payload);
                assert_eq!(f[46] >> 4, header_len / 4);
                for verify in [true, false] {
                    let got = fast(&f, verify).expect("a usual shape");
                    assert_eq!(got.tcp, tcp);
                    assert_eq!((got.src_ip, got.dst_ip), (src_ip(), dst_ip()));
                    assert_eq!(got.payload_offset, 34 + usize::from(header_len));
                    assert_eq!(got.payload(&f), payload);
                }
                // Ethernet padding after the IPv4 packet is ignored.
                let mut padded = f.clone();
                padded.extend_from_slice(&[0xaa; 7]);
                assert_eq!(fast(&padded, true).map(|p| p.tcp), Some(tcp));
            }
        }

        #[test]
        fn linux_and_synfin_syns_are_read_by_words_and_others_scanned() {
            for syn in syn_option_subsets() {
                let f = frame_of(&syn, &[]);
                let len = syn.header_len();
                let area = f[..34 + len].last_chunk::<MAX_OPTIONS>().unwrap();
                assert_eq!(linux_syn_layout(area, 60 - len), Some(syn.options));
                assert_eq!(scan_options(area, 60 - len), Some(syn.options));
            }
            // FreeBSD's order is not Linux's: scanned.
            let f = with_raw_options(
                &full_syn(),
                &[
                    2, 4, 5, 180, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0,
                ],
            );
            let area = f.last_chunk::<MAX_OPTIONS>().unwrap();
            assert_eq!(linux_syn_layout(area, 20), None);
            assert!(scan_options(area, 20).is_some());
        }

        #[test]
        fn other_option_layouts_are_scanned_and_malformed_ones_go_the_general_way() {
            // Well-formed lists that are none of the fixed shapes are read by the
            // scan: a SYN of other stacks' orders, MSS alone, SACK-permitted in
            // 8 words, 10 words not in Linux's order, SACK blocks, unknown
            // kinds, End of Option List followed by anything.
            let ts = [0, 0, 0, 9, 0, 0, 0, 0];
            let well_formed: [(&[u8], TcpOptions); 8] = [
                (
                    // FreeBSD: MSS, NOP, WS, SACK-permitted, timestamps.
                    &[&[2u8, 4, 5, 180, 1, 3, 3, 6, 4, 2, 8, 10][..], &ts].concat(),
                    TcpOptions {
                        mss: Some(1460),
                        window_scale: Some(6),
                        sack_permitted: true,
                        timestamps: Some(Timestamps { tsval: 9, tsecr: 0 }),
                    },
                ),
                (
                    // Windows: MSS, NOP, WS, NOP, NOP, SACK-permitted.
                    &[2, 4, 5, 180, 1, 3, 3, 8, 1, 1, 4, 2],
                    TcpOptions {
                        mss: Some(1460),
                        window_scale: Some(8),
                        sack_permitted: true,
                        timestamps: None,
                    },
                ),
                (
                    &[2, 4, 2, 24],
                    TcpOptions {
                        mss: Some(536),
                        ..TcpOptions::default()
                    },
                ),
                (
                    &[4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0],
                    TcpOptions {
                        sack_permitted: true,
                        timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
                        ..TcpOptions::default()
                    },
                ),
                (
                    // 10 words, the last NOP where the window scale would be.
                    &[&[2u8, 4, 5, 180, 4, 2, 8, 10][..], &ts, &[1, 1, 1, 1]].concat(),
                    TcpOptions {
                        mss: Some(1460),
                        window_scale: None,
                        sack_permitted: true,
                        timestamps: Some(Timestamps { tsval: 9, tsecr: 0 }),
                    },
                ),
                (
                    // NOP NOP SACK with two blocks, NOP NOP timestamps.
                    &[
                        &[1u8, 1, 5, 18][..],
                        &[0; 16],
                        &[1, 1, 8, 10],
                        &[0, 0, 0, 7, 0, 0, 0, 5],
                    ]
                    .concat(),
                    TcpOptions {
                        timestamps: Some(Timestamps { tsval: 7, tsecr: 5 }),
                        ..TcpOptions::default()
                    },
                ),
                (
                    // An unknown kind (TCP Fast Open cookie), a later MSS replacing
                    // an earlier one.
                    &[2, 4, 0, 1, 34, 6, 1, 2, 3, 4, 2, 4, 5, 180],
                    TcpOptions {
                        mss: Some(1460),
                        ..TcpOptions::default()
                    },
                ),
                (
                    // End of Option List, then garbage that is not read.
                    &[3, 3, 2, 0, 30, 99, 2, 1],
                    TcpOptions {
                        window_scale: Some(2),
                        ..TcpOptions::default()
                    },
                ),
            ];
            for (options, want) in well_formed {
                let mut options = options.to_vec();
                while !options.len().is_multiple_of(4) {
                    options.push(0);
                }
                let f = with_raw_options(&full_syn(), &options);
                let got = fast(&f, true).unwrap_or_else(|| panic!("{options:?}"));
                assert_eq!(got.tcp.options, want, "{options:?}");
                assert_eq!(got.payload_offset, 54 + options.len());
            }
            // Malformed lists are refused, and the general way finds them so.
            let malformed: [&[u8]; 7] = [
                &[2, 4, 5, 180, 30, 9, 0, 0], // runs past the options
                &[2, 3, 5, 0],                // MSS of the wrong length
                &[1, 1, 1, 2],                // no length octet
                &[30, 1, 0, 0],               // length below 2
                &[8, 6, 0, 0, 0, 0, 0, 0],    // timestamps of the wrong length
                &[5, 6, 0, 0, 0, 0, 0, 0],    // SACK that is not whole blocks
                &[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 1, 0], // WS of length 4
            ];
            for options in malformed {
                let f = with_raw_options(&full_syn(), options);
                assert_eq!(fast(&f, true), None, "{options:?}");
                assert_eq!(parse_tcp_frame(&f, true), Err(Error::Malformed));
            }
        }

        #[test]
        fn a_type_of_service_goes_the_general_way() {
            let good = frame_of(&ack(), &[]);
            let usual = fast(&good, true).expect("the usual frame");
            for tos in [0x01, 0x02, 0x10, 0xb8] {
                let mut f = good.clone();
                f[15] = tos;
                fix_checksums(&mut f);
                assert_eq!(fast(&f, true), None, "{tos:#x}");
                assert_eq!(parse_tcp_frame(&f, true), Ok(usual), "{tos:#x}");
                // The general way reads it at fixed offsets too.
                let mut any_tos = None;
                assert!(with_tcp_frame::<_, true>(&f, true, &mut any_tos));
                assert_eq!(any_tos, Some(usual), "{tos:#x}");
            }
        }

        #[test]
        fn invalid_usual_frames_are_refused_and_the_general_way_finds_why() {
            let good = frame_of(
                &TcpRepr {
                    payload_len: 5,
                    ..ack()
                },
                b"hello",
            );
            assert!(fast(&good, true).is_some());
            let edit = |f: fn(&mut Vec<u8>)| {
                let mut v = good.clone();
                f(&mut v);
                v
            };
            let cases: [(&str, Vec<u8>, Error); 9] = [
                ("IPv4 checksum", edit(|v| v[25] ^= 0x10), Error::BadChecksum),
                ("TCP checksum", edit(|v| v[51] ^= 0x01), Error::BadChecksum),
                ("payload", edit(|v| v[70] ^= 0x80), Error::BadChecksum),
                (
                    "truncated payload",
                    edit(|v| v.truncate(70)),
                    Error::Truncated,
                ),
                (
                    "truncated header",
                    edit(|v| v.truncate(60)),
                    Error::Truncated,
                ),
                (
                    "IHL 6",
                    edit(|v| {
                        v[14] = 0x46;
                        fix_checksums(v);
                    }),
                    Error::BadChecksum,
                ),
                (
                    "more fragments",
                    edit(|v| {
                        v[20] |= 0x20;
                        fix_checksums(v);
                    }),
                    Error::Fragmented,
                ),
                (
                    "fragment offset",
                    edit(|v| {
                        v[21] = 1;
                        fix_checksums(v);
                    }),
                    Error::Fragmented,
                ),
                (
                    "total length below the header",
                    edit(|v| {
                        v[16..18].copy_from_slice(&50u16.to_be_bytes());
                        v[24..26].fill(0);
                        let ip = checksum::checksum(&v[14..34]);
                        v[24..26].copy_from_slice(&ip.to_be_bytes());
                    }),
                    Error::Truncated,
                ),
            ];
            for (what, f, want) in cases {
                assert_eq!(fast(&f, true), None, "{what}");
                assert_eq!(parse_tcp_frame(&f, true), Err(want), "{what}");
            }
            // Without verification a bad checksum is no reason to refuse.
            let bad_sum = edit(|v| v[51] ^= 0x01);
            assert!(fast(&bad_sum, false).is_some());
        }

        #[test]
        fn every_one_octet_edit_and_cut_of_each_shape_agrees_with_the_layers() {
            let data = TcpRepr {
                payload_len: 77,
                flags: TcpFlags::PSH | TcpFlags::ACK,
                ..ack()
            };
            let bare = TcpRepr {
                options: TcpOptions::default(),
                ..ack()
            };
            let payload: Vec<u8> = (0..77u32).map(|i| (i * 13 + 5) as u8).collect();
            let mut taken = 0;
            let mut frames = vec![
                frame_of(&ack(), &[]),
                frame_of(&data, &payload),
                frame_of(&bare, &[]),
                frame_of(&full_syn(), &[]),
            ];
            frames.extend(syn_option_subsets().iter().map(|syn| frame_of(syn, &[])));
            for f in frames {
                for at in 0..f.len() {
                    for x in [0x01, 0x10, 0x80, 0xff] {
                        let mut g = f.clone();
                        g[at] ^= x;
                        for verify in [true, false] {
                            taken += usize::from(fast(&g, verify).is_some());
                        }
                        // With the checksums made right again, only the fields
                        // decide.
                        if at >= 14 && !(24..26).contains(&at) && !(50..52).contains(&at) {
                            let total = u16::from_be_bytes([g[16], g[17]]);
                            if g[14] == 0x45 && (20..=(g.len() - 14) as u16).contains(&total) {
                                fix_checksums(&mut g);
                                taken += usize::from(fast(&g, true).is_some());
                            }
                        }
                    }
                }
                for cut in 0..=f.len() {
                    fast(&f[..cut], true);
                }
            }
            // The edits that keep a frame valid (addresses, ports, flags, payload
            // with verification off...) are taken by the fast path.
            assert!(taken > 1000, "{taken}");
        }
    }

    #[test]
    fn reply_header_swaps_ends() {
        let r = expected_frame().reply_header(64);
        assert_eq!(r.src_mac, header().dst_mac);
        assert_eq!(r.dst_ip, src_ip());
        let t = TcpFrameTemplate::new(&r);
        let mut buf = [0u8; 66];
        t.emit(&mut buf, &ack(), &[]).unwrap();
        let back = parse_tcp_frame(&buf, true).unwrap();
        assert_eq!((back.src_ip, back.dst_ip), (dst_ip(), src_ip()));
    }
}
