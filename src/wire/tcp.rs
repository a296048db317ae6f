//! TCP header (RFC 9293 §3.1) with options (MSS, window scale, SACK-permitted,
//! timestamps, NOP/EOL), as a typed view over bytes and as a plain representation.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Sub};
use std::net::Ipv4Addr;

use super::ipv4::PROTOCOL_TCP;
use super::{Error, Result, checksum};

/// A TCP sequence number. Arithmetic wraps modulo 2^32 and comparisons follow
/// RFC 9293 §3.4 (a < b iff (b - a) as i32 > 0), so they are valid for numbers less
/// than 2^31 apart.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The signed distance `self - other`.
    #[inline]
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The larger of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self > other { self } else { other }
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeqNumber {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }
}

/// The control bits of a TCP header (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// Whether every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether any bit of `other` is set in `self`.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// SYN set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// FIN set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// RST set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// ACK set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.0 & 0x10 != 0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, o: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | o.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The TCP timestamps option (RFC 7323 §3).
///
/// In C layout, TSecr first: the two fields are then the option's eight octets
/// read as one big-endian word (TSval is its high half), so that a parser stores
/// them with one load, one byte swap and one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Timestamps {
    /// TSecr: the most recent TSval received from the peer (valid when ACK is set).
    pub tsecr: u32,
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
}

/// The TCP options synfin understands. Unknown options are skipped on parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), only on SYN segments.
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3, RFC 7323 §2), only on SYN segments.
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, RFC 2018), only on SYN segments.
    pub sack_permitted: bool,
    /// Timestamps (kind 8, RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
}

/// A plain, `Copy` representation of a TCP header. The payload is not held:
/// `payload_len` says how long it is, and emit takes the bytes separately.
///
/// In C layout, in an order that follows the header read as big-endian words:
/// the ports and sequence number (the header's first eight octets) are one 64-bit
/// word whose high half is the ports, so `seq`, `dst_port`, `src_port` are that word
/// stored little-endian; `window` and `flags` are the low octets of the next 32-bit
/// word. A parser then stores them with one load, one byte swap and one store each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TcpRepr {
    /// Sequence number of the first octet (of the SYN when SYN is set).
    pub seq: SeqNumber,
    /// Destination port.
    pub dst_port: u16,
    /// Source port.
    pub src_port: u16,
    /// Receive window, unscaled (as on the wire).
    pub window: u16,
    /// Control bits.
    pub flags: TcpFlags,
    /// Next sequence number the sender expects; meaningful only when ACK is set.
    pub ack: SeqNumber,
    /// Length of the payload in octets.
    pub payload_len: u16,
    /// Options.
    pub options: TcpOptions,
}

// The offsets `TcpRepr::set` relies on (C layout): window, flags, a padding octet,
// then ack, in octets 8 to 15.
const _: () = assert!(
    core::mem::offset_of!(TcpRepr, window) == 8
        && core::mem::offset_of!(TcpRepr, flags) == 10
        && core::mem::offset_of!(TcpRepr, ack) == 12
        && size_of::<TcpRepr>() >= 16
);

impl TcpRepr {
    /// Make `self` equal to `v`, storing the window, flags and acknowledgment
    /// number as one 64-bit word (octets 8 to 15, the padding octet after `flags`
    /// written as zero): a receive loop keeps each parsed segment this way, where
    /// those fields come from one word of the header (the store of each field,
    /// with the shifts that take it out of the word, was six more instructions
    /// per segment).
    #[inline(always)]
    pub fn set(&mut self, v: TcpRepr) {
        let word = u64::from(v.window) | u64::from(v.flags.0) << 16 | u64::from(v.ack.0) << 32;
        self.set_with_word(v, word);
    }

    /// [`set`](Self::set) from a parsed header: `ack_flags_window` is octets 8 to
    /// 15 of the TCP header read as a big-endian word (acknowledgment number, data
    /// offset, flags, window), whose fields `v` has. It is stored as it is, the data
    /// offset's octet going into the padding octet after `flags` (padding holds any
    /// value): no mask to clear it, two instructions per segment.
    #[inline(always)]
    pub fn set_parsed(&mut self, v: TcpRepr, ack_flags_window: u64) {
        debug_assert!(
            ack_flags_window as u16 == v.window
                && (ack_flags_window >> 16) as u8 == v.flags.0
                && (ack_flags_window >> 32) as u32 == v.ack.0,
            "the word holds the fields of v"
        );
        self.set_with_word(v, ack_flags_window);
    }

    /// [`set`](Self::set) with `word` stored over octets 8 to 15: its low half
    /// the window and flags, its octet 3 the padding, its high half the ack.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn set_with_word(&mut self, v: TcpRepr, word: u64) {
        let TcpRepr {
            seq,
            dst_port,
            src_port,
            window,
            flags,
            ack,
            payload_len,
            options,
        } = v;
        self.seq = seq;
        self.dst_port = dst_port;
        self.src_port = src_port;
        #[cfg(target_endian = "little")]
        {
            let _ = (window, flags, ack);
            // SAFETY: `TcpRepr` is `repr(C)` with `window` at octet 8, `flags` at
            // 10 and `ack` at 12 (asserted above), so octets 8 to 15 of `self` are
            // those fields and the padding octet between `flags` and `ack`; the
            // word is written within `self` (unaligned write, no alignment
            // needed), and in little-endian order its octets are `window`, `flags`,
            // the padding (any value is valid there) and `ack`, each field a valid
            // value of its type (integers, and `TcpFlags` and `SeqNumber` wrap
            // integers).
            unsafe {
                (self as *mut TcpRepr)
                    .cast::<u8>()
                    .add(8)
                    .cast::<u64>()
                    .write_unaligned(word);
            }
        }
        #[cfg(not(target_endian = "little"))]
        {
            let _ = word;
            self.window = window;
            self.flags = flags;
            self.ack = ack;
        }
        self.payload_len = payload_len;
        self.options = options;
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    #[inline]
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + self.flags.syn() as u32 + self.flags.fin() as u32
    }
}

/// Length of a header without options (RFC 9293 §3.1, "Data Offset": at least 5).
pub const HEADER_LEN: usize = 20;
/// Longest header: a data offset of 15 words (RFC 9293 §3.1).
pub const MAX_HEADER_LEN: usize = 60;

/// Option kinds (RFC 9293 §3.2; IANA TCP option kind numbers).
pub mod kind {
    /// End of option list (RFC 9293 §3.2).
    pub const END: u8 = 0;
    /// No-operation (RFC 9293 §3.2).
    pub const NOP: u8 = 1;
    /// Maximum segment size, length 4 (RFC 9293 §3.2, §3.7.1).
    pub const MSS: u8 = 2;
    /// Window scale, length 3 (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted, length 2 (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK, length 2 + 8 per block (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps, length 10 (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
}

/// Byte ranges of the TCP header (RFC 9293 §3.1).
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset in 32-bit words (high nibble), reserved bits.
    pub const DATA_OFF: usize = 12;
    /// Control bits CWR ECE URG ACK PSH RST SYN FIN.
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
    /// Options start here and end at the data offset.
    pub const OPTIONS_START: usize = 20;
}

/// A typed view over a TCP segment: header, options and payload. The segment ends
/// where the buffer ends, so wrap exactly the IP payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking it; accessors may panic on a short buffer. Use
    /// [`new_checked`](Self::new_checked) for untrusted input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking that it holds the fixed header, that the data
    /// offset is at least 5 words and that the buffer holds the whole header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let header_len = usize::from(h[field::DATA_OFF] >> 4) * 4;
        if header_len < HEADER_LEN {
            Err(Error::Malformed)
        } else if header_len > buf.len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn header(&self) -> &[u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .expect("length checked")
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[0], h[1]])
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[2], h[3]])
    }
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNumber {
        let h = self.header();
        SeqNumber(u32::from_be_bytes([h[4], h[5], h[6], h[7]]))
    }
    /// Acknowledgment number (meaningful when ACK is set).
    #[inline]
    pub fn ack_number(&self) -> SeqNumber {
        let h = self.header();
        SeqNumber(u32::from_be_bytes([h[8], h[9], h[10], h[11]]))
    }
    /// Header length in octets (data offset times 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.header()[field::DATA_OFF] >> 4) * 4
    }
    /// Control bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.header()[field::FLAGS])
    }
    /// Window, unscaled.
    #[inline]
    pub fn window_len(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[14], h[15]])
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[16], h[17]])
    }
    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[18], h[19]])
    }
    /// The option octets, between the fixed header and the data offset.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// An iterator over the options.
    #[inline]
    pub fn option_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }
    /// The payload: from the data offset to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// The whole segment.
    #[inline]
    pub fn segment(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Whether the checksum verifies over the pseudo-header of `src` and `dst`, the
    /// header and the payload (RFC 9293 §3.1, "Checksum"). A segment longer than the
    /// 65,535 octets the pseudo-header can state never verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let seg = self.buffer.as_ref();
        let Ok(len) = u16::try_from(seg.len()) else {
            return false;
        };
        let pseudo = checksum::pseudo_header_native(src.octets(), dst.octets(), PROTOCOL_TCP);
        let acc = checksum::add_carry(pseudo + u64::from(len.to_be()), checksum::sum_native(seg));
        // 0xffff reads the same in either byte order.
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        self.buffer
            .as_mut()
            .first_chunk_mut::<HEADER_LEN>()
            .expect("length checked")
    }
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.header_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.header_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        self.header_mut()[field::SEQ_NUM].copy_from_slice(&v.0.to_be_bytes());
    }
    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        self.header_mut()[field::ACK_NUM].copy_from_slice(&v.0.to_be_bytes());
    }
    /// Sets the header length (a multiple of 4 from 20 to 60), clearing the reserved
    /// bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len.is_multiple_of(4) && (HEADER_LEN..=MAX_HEADER_LEN).contains(&len));
        self.header_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }
    /// Sets the control bits.
    #[inline]
    pub fn set_flags(&mut self, f: TcpFlags) {
        self.header_mut()[field::FLAGS] = f.0;
    }
    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        self.header_mut()[field::WINDOW].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.header_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        self.header_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }
    /// The option octets, writable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
    /// Computes and writes the checksum over the pseudo-header, header and payload.
    /// The segment must not be longer than 65,535 octets.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let seg = self.buffer.as_ref();
        let len = u16::try_from(seg.len()).expect("segment longer than 65,535 octets");
        let pseudo = checksum::pseudo_header_sum(src, dst, PROTOCOL_TCP, len);
        let c = !checksum::combine(pseudo, checksum::sum(seg));
        self.set_checksum(c);
    }
}

/// One TCP option as found on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0); the iterator stops after it.
    EndOfList,
    /// No-operation (kind 1), padding.
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3), as sent: RFC 7323 §2.3 caps its use at 14,
    /// which is the receiver's business, not the parser's.
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): the option data, 8 octets (left edge, right edge) per
    /// block, one to four blocks. See [`sack_blocks`].
    Sack(&'a [u8]),
    /// Timestamps (kind 8).
    Timestamps(Timestamps),
    /// An option of another kind, skipped by [`TcpOptions::parse`].
    Unknown {
        /// The kind octet.
        kind: u8,
        /// The octets after the kind and length octets.
        data: &'a [u8],
    },
}

/// The (left edge, right edge) pairs of the data of a [`TcpOption::Sack`]
/// (RFC 2018 §3).
pub fn sack_blocks(data: &[u8]) -> impl Iterator<Item = (SeqNumber, SeqNumber)> + '_ {
    data.as_chunks::<8>().0.iter().map(|b| {
        (
            SeqNumber(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            SeqNumber(u32::from_be_bytes([b[4], b[5], b[6], b[7]])),
        )
    })
}

/// An iterator over the options of a header. It yields `Err(Error::Malformed)` once,
/// then stops, for an option whose length octet is missing, is less than 2, runs past
/// the options, or is not the length its kind requires. It stops after
/// [`TcpOption::EndOfList`].
#[derive(Clone, Debug)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// An iterator over `options`, the octets between the fixed header and the data
    /// offset.
    #[inline]
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }

    #[inline]
    fn next_option(&mut self) -> Result<Option<TcpOption<'a>>> {
        let Some((&k, after_kind)) = self.rest.split_first() else {
            return Ok(None);
        };
        match k {
            kind::END => {
                self.rest = &[];
                return Ok(Some(TcpOption::EndOfList));
            }
            kind::NOP => {
                self.rest = after_kind;
                return Ok(Some(TcpOption::NoOperation));
            }
            _ => {}
        }
        let Some(&len) = after_kind.first() else {
            return Err(Error::Malformed);
        };
        let len = usize::from(len);
        if len < 2 || len > self.rest.len() {
            return Err(Error::Malformed);
        }
        let (opt, rest) = self.rest.split_at(len);
        let data = &opt[2..];
        let option = match (k, data) {
            (kind::MSS, &[a, b]) => TcpOption::MaxSegmentSize(u16::from_be_bytes([a, b])),
            (kind::WINDOW_SCALE, &[s]) => TcpOption::WindowScale(s),
            (kind::SACK_PERMITTED, &[]) => TcpOption::SackPermitted,
            (kind::SACK, d) if !d.is_empty() && d.len().is_multiple_of(8) => TcpOption::Sack(d),
            (kind::TIMESTAMPS, &[a, b, c, d, e, f, g, h]) => TcpOption::Timestamps(Timestamps {
                tsval: u32::from_be_bytes([a, b, c, d]),
                tsecr: u32::from_be_bytes([e, f, g, h]),
            }),
            (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::SACK, _)
            | (kind::TIMESTAMPS, _) => return Err(Error::Malformed),
            (kind, data) => TcpOption::Unknown { kind, data },
        };
        self.rest = rest;
        Ok(Some(option))
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Result<TcpOption<'a>>> {
        match self.next_option() {
            Ok(o) => o.map(Ok),
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Option words laid out as Linux lays them out (`tcp_options_write`): at most five
/// 32-bit words, each written big-endian.
#[derive(Clone, Copy)]
struct OptionWords {
    words: [u32; 5],
    len: usize,
}

impl OptionWords {
    /// NOP, NOP, timestamps kind and length (RFC 7323 Appendix A layout).
    const NOP_NOP_TS: u32 = 0x0101_080a;
    /// SACK permitted then timestamps kind and length, packed (as Linux does).
    const SACKPERM_TS: u32 = 0x0402_080a;
    /// NOP, NOP, SACK permitted.
    const NOP_NOP_SACKPERM: u32 = 0x0101_0402;
    /// MSS kind and length; the value goes in the low half.
    const MSS: u32 = 0x0204_0000;
    /// NOP, window scale kind and length; the shift goes in the low octet.
    const NOP_WS: u32 = 0x0103_0300;

    #[inline]
    fn new(repr: &TcpRepr) -> OptionWords {
        let o = &repr.options;
        let mut words = [0u32; 5];
        if !repr.flags.syn() {
            return match o.timestamps {
                Some(ts) => {
                    words[0] = Self::NOP_NOP_TS;
                    words[1] = ts.tsval;
                    words[2] = ts.tsecr;
                    OptionWords { words, len: 3 }
                }
                None => OptionWords { words, len: 0 },
            };
        }
        let mut len = 0;
        if let Some(mss) = o.mss {
            words[0] = Self::MSS | u32::from(mss);
            len = 1;
        }
        match (o.sack_permitted, o.timestamps) {
            (sack, Some(ts)) => {
                words[len] = if sack {
                    Self::SACKPERM_TS
                } else {
                    Self::NOP_NOP_TS
                };
                words[len + 1] = ts.tsval;
                words[len + 2] = ts.tsecr;
                len += 3;
            }
            (true, None) => {
                words[len] = Self::NOP_NOP_SACKPERM;
                len += 1;
            }
            (false, None) => {}
        }
        if let Some(ws) = o.window_scale {
            words[len] = Self::NOP_WS | u32::from(ws);
            len += 1;
        }
        OptionWords { words, len }
    }

    #[inline]
    fn as_slice(&self) -> &[u32] {
        &self.words[..self.len]
    }
}

/// The first 16 octets of a header as two words in memory order: the ports (`ports`
/// is the source port in the high half, the destination port in the low half),
/// sequence and acknowledgment numbers, data offset, flags and window.
#[inline(always)]
fn fixed_words(
    ports: u32,
    seq: SeqNumber,
    ack: SeqNumber,
    header_len: usize,
    flags: TcpFlags,
    window: u16,
) -> [u64; 2] {
    let w0 = u64::from(ports) << 32 | u64::from(seq.0);
    let w1 = u64::from(ack.0) << 32
        | (header_len as u64) << 26
        | u64::from(flags.0) << 16
        | u64::from(window);
    [w0.to_be(), w1.to_be()]
}

/// The part of a header from octet 16 to 40 (checksum and urgent pointer, zero, then
/// up to 20 octets of options, zero past the header) as three words in memory order,
/// and the header length: what [`TcpHeaderWords`] takes besides the fixed fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionArea {
    /// The header length, 20 plus the options' octets.
    pub header_len: usize,
    /// Octets 16 to 40 of the header, in memory order.
    pub words: [u64; 3],
}

impl OptionArea {
    /// No options: a 20-octet header.
    pub const NONE: OptionArea = OptionArea {
        header_len: HEADER_LEN,
        words: [0; 3],
    };

    /// NOP, NOP, timestamps: the options of every segment after the handshake when
    /// timestamps were negotiated (RFC 7323 Appendix A layout).
    #[inline(always)]
    pub fn timestamps(tsval: u32, tsecr: u32) -> OptionArea {
        OptionArea {
            header_len: HEADER_LEN + 12,
            words: [
                u64::from(OptionWords::NOP_NOP_TS).to_be(),
                (u64::from(tsval) << 32 | u64::from(tsecr)).to_be(),
                0,
            ],
        }
    }

    /// The options of a SYN (or SYN-ACK) that carries all four, laid out as Linux lays
    /// them out: MSS, SACK-permitted + timestamps, NOP + window scale.
    #[inline(always)]
    pub fn syn_all(mss: u16, tsval: u32, tsecr: u32, shift: u8) -> OptionArea {
        OptionArea {
            header_len: HEADER_LEN + 20,
            words: [
                u64::from(OptionWords::MSS | u32::from(mss)).to_be(),
                (u64::from(OptionWords::SACKPERM_TS) << 32 | u64::from(tsval)).to_be(),
                (u64::from(tsecr) << 32 | u64::from(OptionWords::NOP_WS | u32::from(shift)))
                    .to_be(),
            ],
        }
    }

    /// `self`, the options of a SYN or SYN-ACK that carries MSS and timestamps,
    /// laid out by [`syn`](Self::syn) with TSval and TSecr 0, with `tsval` and
    /// `tsecr` in their place (the timestamps follow the MSS: TSval ends the second
    /// word, TSecr starts the third). The bytes of `syn` with those timestamps.
    #[inline(always)]
    pub fn with_syn_timestamps(mut self, tsval: u32, tsecr: u32) -> OptionArea {
        self.words[1] |= u64::from(tsval).to_be();
        self.words[2] |= (u64::from(tsecr) << 32).to_be();
        self
    }

    /// The options of a SYN (or SYN-ACK) with any option set, laid out as
    /// [`TcpRepr::emit`] lays them out. The usual SYNs carry every option
    /// ([`syn_all`](Self::syn_all)); the others are laid out out of line.
    #[inline(always)]
    pub fn syn(o: &TcpOptions) -> OptionArea {
        // The options as scalars in registers: anything passed in memory would make
        // every caller keep its options in memory.
        let ts = o.timestamps.unwrap_or_default();
        Self::syn_any(
            o.mss,
            o.window_scale,
            o.sack_permitted,
            o.timestamps.is_some(),
            u64::from(ts.tsval) << 32 | u64::from(ts.tsecr),
        )
    }

    /// [`syn`](Self::syn) of any option set, through the general option writer.
    #[cold]
    #[inline(never)]
    fn syn_any(
        mss: Option<u16>,
        window_scale: Option<u8>,
        sack_permitted: bool,
        has_timestamps: bool,
        timestamps: u64,
    ) -> OptionArea {
        let syn = TcpRepr {
            flags: TcpFlags::SYN,
            options: TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: has_timestamps.then_some(Timestamps {
                    tsval: (timestamps >> 32) as u32,
                    tsecr: timestamps as u32,
                }),
            },
            ..TcpRepr::default()
        };
        let opts = OptionWords::new(&syn);
        let [a, b, c, d, e] = opts.words.map(u64::from);
        OptionArea {
            header_len: HEADER_LEN + 4 * opts.len,
            words: [a.to_be(), (b << 32 | c).to_be(), (d << 32 | e).to_be()],
        }
    }
}

/// A TCP header in the form a frame stores it: its first 40 octets as five words in
/// memory order (the checksum field zero, the octets past the header zero), its
/// length, and the length of the payload that follows it. Built straight from a
/// connection's fields on the transmit path ([`TcpHeaderWords::new`]), or from a
/// [`TcpRepr`] ([`TcpRepr::header_words`]); [`repr`](Self::repr) reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeaderWords {
    /// The header length in octets: 20 plus the options, a multiple of 4, at most 40.
    pub len: usize,
    /// Octets 0 to 40 of the header, in memory order.
    pub words: [u64; 5],
    /// Length of the payload in octets.
    pub payload_len: u16,
}

impl TcpHeaderWords {
    /// The header of a segment from port `ports >> 16` to port `ports & 0xffff`
    /// with these fields, `options` and a payload of `payload_len` octets.
    #[inline(always)]
    pub fn new(
        ports: u32,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        window: u16,
        options: OptionArea,
        payload_len: u16,
    ) -> TcpHeaderWords {
        let [w0, w1] = fixed_words(ports, seq, ack, options.header_len, flags, window);
        let [w2, w3, w4] = options.words;
        TcpHeaderWords {
            len: options.header_len,
            words: [w0, w1, w2, w3, w4],
            payload_len,
        }
    }

    /// The header's octets (40; those past [`len`](Self::len) are zero).
    #[inline]
    pub fn octets(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        for (dst, w) in b.as_chunks_mut::<8>().0.iter_mut().zip(self.words) {
            *dst = w.to_ne_bytes();
        }
        b
    }

    /// The header read back as a [`TcpRepr`] by the parser, as a receiver reads it.
    /// Panics if the words are not a header (they always are when built by
    /// [`new`](Self::new) with an [`OptionArea`], or from a `TcpRepr`).
    pub fn repr(&self) -> TcpRepr {
        let b = self.octets();
        let packet = TcpPacket::new_checked(&b[..self.len]).expect("a whole TCP header");
        let any = Ipv4Addr::UNSPECIFIED;
        let repr = TcpRepr::parse(&packet, any, any, false).expect("a valid TCP header");
        TcpRepr {
            payload_len: self.payload_len,
            ..repr
        }
    }
}

impl TcpOptions {
    /// Parses the option octets of a header. Unknown kinds and SACK blocks are
    /// skipped; a later option of a kind replaces an earlier one; parsing stops at
    /// End of Option List. A malformed option is [`Error::Malformed`].
    #[inline(always)]
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        // The layouts Linux sends (and `TcpRepr::emit` writes) are recognised by whole
        // words and read at fixed offsets.
        let ne32 = |b: &[u8; 4]| u32::from_ne_bytes(*b);
        let be32 =
            |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if options.is_empty() {
            return Ok(TcpOptions::default());
        }
        // Every segment after the handshake: NOP, NOP, timestamps.
        if let Ok(b) = <&[u8; 12]>::try_from(options)
            && ne32(&[b[0], b[1], b[2], b[3]]) == ne32(&OptionWords::NOP_NOP_TS.to_be_bytes())
        {
            return Ok(TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: be32(b, 4),
                    tsecr: be32(b, 8),
                }),
                ..TcpOptions::default()
            });
        }
        // A SYN or SYN-ACK with everything: MSS, SACK-permitted and timestamps, NOP and
        // window scale.
        if let Ok(b) = <&[u8; 20]>::try_from(options)
            && [b[0], b[1]] == [kind::MSS, 4]
            && ne32(&[b[4], b[5], b[6], b[7]]) == ne32(&OptionWords::SACKPERM_TS.to_be_bytes())
            && [b[16], b[17], b[18]] == [kind::NOP, kind::WINDOW_SCALE, 3]
        {
            return Ok(TcpOptions {
                mss: Some(u16::from_be_bytes([b[2], b[3]])),
                window_scale: Some(b[19]),
                sack_permitted: true,
                timestamps: Some(Timestamps {
                    tsval: be32(b, 8),
                    tsecr: be32(b, 12),
                }),
            });
        }
        Self::parse_any(options)
    }

    /// [`parse`](Self::parse) for any layout, one option at a time.
    #[inline(never)]
    fn parse_any(options: &[u8]) -> Result<TcpOptions> {
        let mut out = TcpOptions::default();
        for option in TcpOptionIter::new(options) {
            match option? {
                TcpOption::MaxSegmentSize(m) => out.mss = Some(m),
                TcpOption::WindowScale(s) => out.window_scale = Some(s),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::Timestamps(t) => out.timestamps = Some(t),
                TcpOption::EndOfList
                | TcpOption::NoOperation
                | TcpOption::Sack(_)
                | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(out)
    }
}

impl TcpRepr {
    /// Parses a checked segment sent from `src_ip` to `dst_ip`. With `verify_checksum`
    /// a segment whose checksum does not verify is [`Error::BadChecksum`]. The urgent
    /// pointer is not kept. Options are as [`TcpOptions::parse`] finds them, on any
    /// segment.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &TcpPacket<T>,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr> {
        packet.check_len()?;
        let Ok(payload_len) = u16::try_from(packet.segment().len() - packet.header_len()) else {
            return Err(Error::BadLength);
        };
        if verify_checksum && !packet.verify_checksum(src_ip, dst_ip) {
            return Err(Error::BadChecksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            options: TcpOptions::parse(packet.options())?,
            payload_len,
        })
    }

    /// Length of the header [`emit`](Self::emit) writes, options included: on a SYN,
    /// MSS (4), SACK-permitted and timestamps (12 together, 12 for timestamps alone,
    /// 4 for SACK-permitted alone) and window scale (4), the options that are set; on
    /// any other segment 12 for timestamps when set (MSS, window scale and
    /// SACK-permitted are not written there). Always a multiple of 4.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + 4 * OptionWords::new(self).len
    }

    /// The first 16 octets of the header as two words in memory order (ready to
    /// store, and to add in the native space of the checksum).
    #[inline(always)]
    pub(crate) fn fixed_words(&self, header_len: usize) -> [u64; 2] {
        fixed_words(
            u32::from(self.src_port) << 16 | u32::from(self.dst_port),
            self.seq,
            self.ack,
            header_len,
            self.flags,
            self.window,
        )
    }

    /// The header as [`TcpHeaderWords`]: what a frame carries of it.
    #[inline(always)]
    pub fn header_words(&self) -> TcpHeaderWords {
        let (len, [w2, w3, w4]) = self.tail_words();
        let [w0, w1] = self.fixed_words(len);
        TcpHeaderWords {
            len,
            words: [w0, w1, w2, w3, w4],
            payload_len: self.payload_len,
        }
    }

    /// The header length [`header_len`](Self::header_len) gives, and the octets from
    /// offset 16 to 40 of the header as three words in memory order: checksum and
    /// urgent pointer (zero) and up to 20 octets of options, the octets past the
    /// header zero. With [`fixed_words`](Self::fixed_words) these are the whole
    /// header, ready to store and to add in the native space of the checksum (a zero
    /// word adds nothing). The usual option sets (none, or NOP NOP timestamps after
    /// the handshake, and everything on a SYN) are found at once; other SYN option
    /// sets go through the general option writer.
    #[inline(always)]
    pub(crate) fn tail_words(&self) -> (usize, [u64; 3]) {
        let a = self.option_area();
        (a.header_len, a.words)
    }

    /// The options as an [`OptionArea`] (see [`tail_words`](Self::tail_words)).
    #[inline(always)]
    fn option_area(&self) -> OptionArea {
        let o = &self.options;
        if !self.flags.syn() {
            return match o.timestamps {
                Some(ts) => OptionArea::timestamps(ts.tsval, ts.tsecr),
                None => OptionArea::NONE,
            };
        }
        if let TcpOptions {
            mss: Some(mss),
            window_scale: Some(shift),
            sack_permitted: true,
            timestamps: Some(ts),
        } = *o
        {
            return OptionArea::syn_all(mss, ts.tsval, ts.tsecr, shift);
        }
        OptionArea::syn(o)
    }

    /// Writes header, options and payload into `seg` (at least header plus payload
    /// long) with a zero checksum field; returns the segment length and the unfolded
    /// native-space sum of the header (see `checksum::sum_native`).
    ///
    /// Errors, in this order: a payload whose length is not `payload_len`, or a segment
    /// longer than `max_len`, is [`Error::BadLength`]; a short `seg` is
    /// [`Error::BufferTooSmall`].
    #[inline(always)]
    pub(crate) fn write_segment(
        &self,
        seg: &mut [u8],
        payload: &[u8],
        max_len: usize,
    ) -> Result<(usize, u64)> {
        if payload.len() != usize::from(self.payload_len) {
            return Err(Error::BadLength);
        }
        if !self.flags.syn()
            && let Some(ts) = self.options.timestamps
        {
            // Every segment after the handshake: NOP, NOP, timestamps; four words.
            const LEN: usize = HEADER_LEN + 12;
            const CHECKSUM_URGENT_NOP_NOP_TS: [u8; 8] = [0, 0, 0, 0, 1, 1, 8, 10];
            let seg_len = LEN + payload.len();
            if seg_len > max_len {
                return Err(Error::BadLength);
            }
            let Some((hdr, data)) = seg
                .get_mut(..seg_len)
                .and_then(|s| s.split_first_chunk_mut::<LEN>())
            else {
                return Err(Error::BufferTooSmall);
            };
            let [w0, w1] = self.fixed_words(LEN);
            let w2 = u64::from_ne_bytes(CHECKSUM_URGENT_NOP_NOP_TS);
            let w3 = (u64::from(ts.tsval) << 32 | u64::from(ts.tsecr)).to_be();
            hdr[0..8].copy_from_slice(&w0.to_ne_bytes());
            hdr[8..16].copy_from_slice(&w1.to_ne_bytes());
            hdr[16..24].copy_from_slice(&w2.to_ne_bytes());
            hdr[24..32].copy_from_slice(&w3.to_ne_bytes());
            if !payload.is_empty() {
                data.copy_from_slice(payload);
            }
            let sum = checksum::add_carry(checksum::add_carry(w0, w1), checksum::add_carry(w2, w3));
            return Ok((seg_len, sum));
        }

        if self.flags.syn()
            && let TcpOptions {
                mss: Some(mss),
                window_scale: Some(shift),
                sack_permitted: true,
                timestamps: Some(ts),
            } = self.options
        {
            // A SYN with every option (the non-SYN case returned above): MSS,
            // SACK-permitted + timestamps, NOP + window scale; five words.
            const LEN: usize = HEADER_LEN + 20;
            let seg_len = LEN + payload.len();
            if seg_len > max_len {
                return Err(Error::BadLength);
            }
            let Some((hdr, data)) = seg
                .get_mut(..seg_len)
                .and_then(|s| s.split_first_chunk_mut::<LEN>())
            else {
                return Err(Error::BufferTooSmall);
            };
            let [w0, w1] = self.fixed_words(LEN);
            let w2 = u64::from(OptionWords::MSS | u32::from(mss)).to_be();
            let w3 = (u64::from(OptionWords::SACKPERM_TS) << 32 | u64::from(ts.tsval)).to_be();
            let w4 = (u64::from(ts.tsecr) << 32
                | u64::from(OptionWords::NOP_WS | u32::from(shift)))
            .to_be();
            for (dst, w) in hdr
                .as_chunks_mut::<8>()
                .0
                .iter_mut()
                .zip([w0, w1, w2, w3, w4])
            {
                *dst = w.to_ne_bytes();
            }
            if !payload.is_empty() {
                data.copy_from_slice(payload);
            }
            let sum = checksum::add_carry(
                checksum::add_carry(checksum::add_carry(w0, w1), checksum::add_carry(w2, w3)),
                w4,
            );
            return Ok((seg_len, sum));
        }

        let opts = OptionWords::new(self);
        let header_len = HEADER_LEN + 4 * opts.len;
        let seg_len = header_len + payload.len();
        if seg_len > max_len {
            return Err(Error::BadLength);
        }
        let Some((fixed, rest)) = seg
            .get_mut(..seg_len)
            .and_then(|s| s.split_first_chunk_mut::<HEADER_LEN>())
        else {
            return Err(Error::BufferTooSmall);
        };
        let [w0, w1] = self.fixed_words(header_len);
        fixed[0..8].copy_from_slice(&w0.to_ne_bytes());
        fixed[8..16].copy_from_slice(&w1.to_ne_bytes());
        fixed[16..20].fill(0); // checksum, urgent pointer
        let mut sum = checksum::add_carry(w0, w1);
        let (opt_bytes, data) = rest.split_at_mut(4 * opts.len);
        for (dst, &w) in opt_bytes
            .as_chunks_mut::<4>()
            .0
            .iter_mut()
            .zip(opts.as_slice())
        {
            let w = w.to_be();
            *dst = w.to_ne_bytes();
            sum = checksum::add_carry(sum, u64::from(w));
        }
        if !payload.is_empty() {
            data.copy_from_slice(payload);
        }
        Ok((seg_len, sum))
    }

    /// Writes the segment (header, options as [`header_len`](Self::header_len)
    /// describes, `payload`) into the start of `buf` with its checksum over the
    /// pseudo-header of `src_ip` and `dst_ip`; returns the segment length. A payload
    /// whose length is not `payload_len`, or a segment longer than 65,535 octets, is
    /// [`Error::BadLength`]; a short buffer is [`Error::BufferTooSmall`].
    pub fn emit(
        &self,
        buf: &mut [u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        payload: &[u8],
    ) -> Result<usize> {
        let (len, _) = self.write_segment(buf, payload, usize::from(u16::MAX))?;
        let seg = &mut buf[..len];
        let pseudo = checksum::pseudo_header_sum(src_ip, dst_ip, PROTOCOL_TCP, len as u16);
        let c = !checksum::combine(pseudo, checksum::sum(seg));
        seg[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_makes_a_repr_equal() {
        let v = TcpRepr {
            seq: SeqNumber(0x0102_0304),
            dst_port: 80,
            src_port: 50_000,
            window: 0xfedc,
            flags: TcpFlags::FIN | TcpFlags::ACK | TcpFlags::PSH,
            ack: SeqNumber(0xa1b2_c3d4),
            payload_len: 1448,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { tsval: 5, tsecr: 6 }),
            },
        };
        let mut r = TcpRepr {
            seq: SeqNumber(u32::MAX),
            window: u16::MAX,
            flags: TcpFlags(0xff),
            ack: SeqNumber(u32::MAX),
            ..TcpRepr::default()
        };
        r.set(v);
        assert_eq!(r, v);
        r.set(TcpRepr::default());
        assert_eq!(r, TcpRepr::default());
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);

    /// A SYN as Linux sends it: MSS 1460, SACK-permitted + timestamps, NOP + WS 7.
    const SYN: [u8; 40] = [
        0xc3, 0x50, 0x00, 0x50, // ports 50000 -> 80
        0x00, 0x00, 0x03, 0xe8, // seq 1000
        0x00, 0x00, 0x00, 0x00, // ack 0
        0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
        0x00, 0x00, 0x00, 0x00, // checksum (filled in), urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, 0x08, 0x0a, // SACK permitted, timestamps
        0x00, 0x00, 0x00, 0x01, // TSval 1
        0x00, 0x00, 0x00, 0x00, // TSecr 0
        0x01, 0x03, 0x03, 0x07, // NOP, window scale 7
    ];

    /// An ACK with timestamps and a 3-octet payload.
    const DATA: [u8; 35] = [
        0x00, 0x50, 0xc3, 0x50, // ports 80 -> 50000
        0x00, 0x00, 0x07, 0xd0, // seq 2000
        0x00, 0x00, 0x03, 0xe9, // ack 1001
        0x80, 0x18, 0x01, 0xf5, // data offset 8, PSH|ACK, window 501
        0x00, 0x00, 0x00, 0x00, // checksum (filled in), urgent
        0x01, 0x01, 0x08, 0x0a, // NOP NOP timestamps
        0x00, 0x00, 0x00, 0x09, // TSval 9
        0x00, 0x00, 0x00, 0x01, // TSecr 1
        b'a', b'b', b'c',
    ];

    fn with_checksum<const N: usize>(mut seg: [u8; N], src: Ipv4Addr, dst: Ipv4Addr) -> [u8; N] {
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(src, dst);
        seg
    }

    fn syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 50000,
            dst_port: 80,
            seq: SeqNumber(1000),
            ack: SeqNumber(0),
            flags: TcpFlags::SYN,
            window: 64240,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
            },
            payload_len: 0,
        }
    }

    fn data_repr() -> TcpRepr {
        TcpRepr {
            src_port: 80,
            dst_port: 50000,
            seq: SeqNumber(2000),
            ack: SeqNumber(1001),
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 501,
            options: TcpOptions {
                timestamps: Some(Timestamps { tsval: 9, tsecr: 1 }),
                ..TcpOptions::default()
            },
            payload_len: 3,
        }
    }

    #[test]
    fn syn_parses_to_its_repr() {
        let seg = with_checksum(SYN, SRC, DST);
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(p.header_len(), 40);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true), Ok(syn_repr()));
    }

    #[test]
    fn syn_emits_linux_option_layout() {
        let mut buf = [0xeeu8; 64];
        assert_eq!(syn_repr().header_len(), 40);
        assert_eq!(syn_repr().emit(&mut buf, SRC, DST, &[]), Ok(40));
        assert_eq!(buf[..40], with_checksum(SYN, SRC, DST));
    }

    #[test]
    fn data_segment_round_trips() {
        let seg = with_checksum(DATA, DST, SRC);
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(p.payload(), b"abc");
        assert_eq!(TcpRepr::parse(&p, DST, SRC, true), Ok(data_repr()));
        let mut buf = [0u8; 35];
        assert_eq!(data_repr().emit(&mut buf, DST, SRC, b"abc"), Ok(35));
        assert_eq!(buf, seg);
    }

    #[test]
    fn syn_option_subsets_follow_linux() {
        let cases: [(TcpOptions, &[u8]); 5] = [
            (TcpOptions::default(), &[]),
            (
                TcpOptions {
                    sack_permitted: true,
                    ..TcpOptions::default()
                },
                &[1, 1, 4, 2],
            ),
            (
                TcpOptions {
                    timestamps: Some(Timestamps { tsval: 5, tsecr: 6 }),
                    ..TcpOptions::default()
                },
                &[1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6],
            ),
            (
                TcpOptions {
                    mss: Some(536),
                    window_scale: Some(0),
                    ..TcpOptions::default()
                },
                &[2, 4, 2, 24, 1, 3, 3, 0],
            ),
            (
                TcpOptions {
                    mss: Some(1460),
                    sack_permitted: true,
                    window_scale: Some(14),
                    timestamps: None,
                },
                &[2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 14],
            ),
        ];
        for (options, bytes) in cases {
            let repr = TcpRepr {
                options,
                ..syn_repr()
            };
            let mut buf = [0u8; 60];
            let n = repr.emit(&mut buf, SRC, DST, &[]).unwrap();
            assert_eq!(n, 20 + bytes.len());
            assert_eq!(&buf[20..n], bytes);
            let p = TcpPacket::new_checked(&buf[..n]).unwrap();
            assert_eq!(TcpRepr::parse(&p, SRC, DST, true), Ok(repr));
        }
    }

    #[test]
    fn header_words_are_the_header_emit_writes_and_read_back_as_the_repr() {
        let ts = Some(Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0xa0b0_c0d0,
        });
        let mut reprs = vec![data_repr(), syn_repr()];
        for mss in [None, Some(536), Some(1460)] {
            for window_scale in [None, Some(0), Some(7), Some(14)] {
                for sack_permitted in [false, true] {
                    for timestamps in [None, ts] {
                        let options = TcpOptions {
                            mss,
                            window_scale,
                            sack_permitted,
                            timestamps,
                        };
                        reprs.push(TcpRepr {
                            options,
                            ..syn_repr()
                        });
                        reprs.push(TcpRepr {
                            options,
                            flags: TcpFlags::SYN | TcpFlags::ACK,
                            ack: SeqNumber(77),
                            ..syn_repr()
                        });
                    }
                }
            }
        }
        for flags in [0x10, 0x11, 0x18, 0x19, 0x14, 0x04] {
            for timestamps in [None, ts] {
                reprs.push(TcpRepr {
                    flags: TcpFlags(flags),
                    options: TcpOptions {
                        timestamps,
                        ..TcpOptions::default()
                    },
                    payload_len: 0,
                    ..data_repr()
                });
            }
        }
        for repr in reprs {
            let w = repr.header_words();
            assert_eq!(w.len, repr.header_len(), "{repr:?}");
            let mut buf = [0u8; 60];
            let n = repr.emit(&mut buf, SRC, DST, &[0; 3][..usize::from(repr.payload_len)]);
            let n = n.unwrap() - usize::from(repr.payload_len);
            buf[field::CHECKSUM].fill(0);
            assert_eq!(w.octets()[..n], buf[..n], "{repr:?}");
            assert!(w.octets()[n..].iter().all(|&b| b == 0), "{repr:?}");
            assert_eq!(w.repr(), repr);
        }
    }

    #[test]
    fn header_words_built_from_fields_are_those_of_the_repr() {
        let ts = Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0xa0b0_c0d0,
        };
        let syn = TcpRepr {
            flags: TcpFlags::SYN | TcpFlags::ACK,
            ack: SeqNumber(0x8000_0001),
            options: TcpOptions {
                mss: Some(1400),
                window_scale: Some(9),
                sack_permitted: true,
                timestamps: Some(ts),
            },
            ..syn_repr()
        };
        let ports = u32::from(syn.src_port) << 16 | u32::from(syn.dst_port);
        let all = OptionArea::syn_all(1400, ts.tsval, ts.tsecr, 9);
        assert_eq!(all, OptionArea::syn(&syn.options));
        let w = TcpHeaderWords::new(ports, syn.seq, syn.ack, syn.flags, syn.window, all, 0);
        assert_eq!(w, syn.header_words());
        let ack = TcpRepr {
            payload_len: 1000,
            ..data_repr()
        };
        let w = TcpHeaderWords::new(
            u32::from(ack.dst_port) | u32::from(ack.src_port) << 16,
            ack.seq,
            ack.ack,
            ack.flags,
            ack.window,
            OptionArea::timestamps(9, 1),
            1000,
        );
        assert_eq!(w, ack.header_words());
        let bare = TcpRepr {
            options: TcpOptions::default(),
            ..ack
        };
        let w = TcpHeaderWords::new(
            u32::from(ack.dst_port) | u32::from(ack.src_port) << 16,
            ack.seq,
            ack.ack,
            ack.flags,
            ack.window,
            OptionArea::NONE,
            1000,
        );
        assert_eq!(w, bare.header_words());
    }

    #[test]
    fn syn_options_laid_out_once_take_their_timestamps_in_place() {
        let ts = Timestamps {
            tsval: 0x0102_0304,
            tsecr: 0xa0b0_c0d0,
        };
        for window_scale in [None, Some(0), Some(7), Some(14)] {
            for sack_permitted in [false, true] {
                let o = TcpOptions {
                    mss: Some(1400),
                    window_scale,
                    sack_permitted,
                    timestamps: Some(Timestamps::default()),
                };
                let with = TcpOptions {
                    timestamps: Some(ts),
                    ..o
                };
                assert_eq!(
                    OptionArea::syn(&o).with_syn_timestamps(ts.tsval, ts.tsecr),
                    OptionArea::syn(&with),
                    "{o:?}"
                );
            }
        }
    }

    #[test]
    fn non_syn_segments_carry_only_timestamps() {
        let repr = TcpRepr {
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: None,
            },
            ..data_repr()
        };
        assert_eq!(repr.header_len(), 20);
        assert_eq!(data_repr().header_len(), 32);
    }

    #[test]
    fn bad_checksum_is_reported_only_when_verifying() {
        let mut seg = with_checksum(DATA, DST, SRC);
        seg[34] = b'd';
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, DST, SRC, true), Err(Error::BadChecksum));
        assert!(TcpRepr::parse(&p, DST, SRC, false).is_ok());
        // The pseudo-header counts: the right bytes from another address fail.
        let seg = with_checksum(DATA, DST, SRC);
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, DST, Ipv4Addr::new(198, 18, 0, 9), true),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn emit_checks_payload_and_buffer_lengths() {
        let mut buf = [0u8; 64];
        assert_eq!(
            data_repr().emit(&mut buf, DST, SRC, b"ab"),
            Err(Error::BadLength)
        );
        assert_eq!(
            data_repr().emit(&mut buf[..34], DST, SRC, b"abc"),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn header_length_errors() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).unwrap_err(),
            Error::Truncated
        );
        let mut b = SYN;
        b[12] = 0x40; // data offset 4
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Malformed
        );
    }

    #[test]
    fn options_iterator_yields_every_kind() {
        let bytes = [
            1, 2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 8, 10, 0, 0, 0, 3,
            0, 0, 0, 4, 30, 3, 0xaa, 0, 0xff,
        ];
        let got: Vec<_> = TcpOptionIter::new(&bytes).collect();
        let sack = &bytes[12..20];
        assert_eq!(
            got,
            vec![
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::WindowScale(7)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Sack(sack)),
                Ok(TcpOption::Timestamps(Timestamps { tsval: 3, tsecr: 4 })),
                Ok(TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa]
                }),
                Ok(TcpOption::EndOfList),
            ]
        );
        let blocks: Vec<_> = sack_blocks(sack).collect();
        assert_eq!(blocks, vec![(SeqNumber(1), SeqNumber(2))]);
        let parsed = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(
            parsed,
            TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { tsval: 3, tsecr: 4 }),
            }
        );
    }

    #[test]
    fn malformed_options_are_errors() {
        let cases: [&[u8]; 8] = [
            &[2],                          // no length octet
            &[30, 1],                      // length below 2
            &[30, 0],                      // length 0
            &[30, 5, 0, 0],                // runs past the options
            &[2, 3, 5],                    // MSS of the wrong length
            &[8, 6, 0, 0, 0, 0],           // timestamps of the wrong length
            &[5, 6, 0, 0, 0, 0],           // SACK that is not whole blocks
            &[1, 1, 8, 10, 0, 0, 0, 0, 0], // NOP NOP TS cut short
        ];
        for bytes in cases {
            assert_eq!(TcpOptions::parse(bytes), Err(Error::Malformed), "{bytes:?}");
            let mut it = TcpOptionIter::new(bytes);
            assert!(it.any(|o| o.is_err()));
            assert_eq!(it.next(), None);
        }
        // After End of Option List nothing is read, even garbage.
        assert_eq!(TcpOptions::parse(&[0, 30, 0]), Ok(TcpOptions::default()));
    }

    mod layouts {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn known_layouts_parse_as_any_layout_does(
                bytes in prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..=40),
                    any::<[u8; 16]>().prop_map(|b| [&[2u8, 4][..], &b[..2], &[4, 2, 8, 10], &b[2..10], &[1, 3, 3], &b[10..11]].concat()),
                    any::<[u8; 8]>().prop_map(|b| [&[1u8, 1, 8, 10][..], &b].concat()),
                ],
                at in any::<prop::sample::Index>(),
                v in any::<u8>(),
                edit in any::<bool>(),
            ) {
                let mut bytes = bytes;
                if edit && !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = v;
                }
                prop_assert_eq!(TcpOptions::parse(&bytes), TcpOptions::parse_any(&bytes));
            }
        }
    }

    #[test]
    fn setters_write_fields() {
        let mut buf = [0u8; 20];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(80);
        p.set_dst_port(50000);
        p.set_seq_number(SeqNumber(7));
        p.set_ack_number(SeqNumber(9));
        p.set_header_len(20);
        p.set_flags(TcpFlags::RST | TcpFlags::ACK);
        p.set_window_len(0);
        p.set_urgent_at(0);
        p.fill_checksum(SRC, DST);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.flags(), TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(p.seq_number(), SeqNumber(7));
        assert_eq!(p.ack_number(), SeqNumber(9));
        assert!(p.verify_checksum(SRC, DST));
    }
}
