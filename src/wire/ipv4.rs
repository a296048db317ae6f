//! IPv4 headers (RFC 791 §3.1). Options are skipped on parse and never emitted;
//! fragments are rejected (no reassembly); emitted packets have DF set and ID 0
//! (RFC 6864 §4.1 lets an atomic datagram carry any ID).

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, Result};

/// Protocol number of TCP (RFC 9293 §3.1; IANA protocol numbers).
pub const PROTOCOL_TCP: u8 = 6;
/// Protocol number of UDP (RFC 768).
pub const PROTOCOL_UDP: u8 = 17;
/// Protocol number of ICMP (RFC 792).
pub const PROTOCOL_ICMP: u8 = 1;
/// Don't Fragment, in the flags-and-offset word (RFC 791 §3.1, "Flags").
pub const FLAG_DF: u16 = 0x4000;
/// More Fragments, in the flags-and-offset word (RFC 791 §3.1, "Flags").
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset, in the flags-and-offset word (RFC 791 §3.1).
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;
/// Length of a header without options (RFC 791 §3.1, "IHL": at least 5 words).
pub const HEADER_LEN: usize = 20;
/// Time to live that emitted packets get by default (RFC 1700's recommended 64).
pub const DEFAULT_TTL: u8 = 64;

/// Byte ranges of the IPv4 header (RFC 791 §3.1).
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP and ECN (RFC 2474, RFC 3168).
    pub const DSCP_ECN: usize = 1;
    /// Total length of header and data in octets.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol of the payload.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// A typed view over an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it; accessors may panic on a short buffer. Use
    /// [`new_checked`](Self::new_checked) for untrusted input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking that it holds an IPv4 header (version 4,
    /// IHL >= 5) and the whole packet its total length states. Octets past the total
    /// length (Ethernet padding) are allowed and ignored.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
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
        if h[field::VER_IHL] >> 4 != 4 {
            return Err(Error::NotIpv4);
        }
        let header_len = usize::from(h[field::VER_IHL] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if header_len < HEADER_LEN || total_len < header_len {
            Err(Error::Malformed)
        } else if total_len > buf.len() {
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

    /// IP version (4 once checked).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header()[field::VER_IHL] >> 4
    }
    /// Header length in octets, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.header()[field::VER_IHL] & 0x0f) * 4
    }
    /// DSCP and ECN octet.
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.header()[field::DSCP_ECN]
    }
    /// Total length of header and data.
    #[inline]
    pub fn total_len(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[2], h[3]])
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[4], h[5]])
    }
    /// The flags-and-fragment-offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[6], h[7]])
    }
    /// Don't Fragment set.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    /// More Fragments set.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }
    /// Fragment offset in octets.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }
    /// Whether this is a fragment of a larger datagram (MF set or offset non-zero).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.header()[field::TTL]
    }
    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.header()[field::PROTOCOL]
    }
    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[10], h[11]])
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let h = self.header();
        Ipv4Addr::new(h[12], h[13], h[14], h[15])
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let h = self.header();
        Ipv4Addr::new(h[16], h[17], h[18], h[19])
    }
    /// The whole header, options included.
    #[inline]
    pub fn header_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    /// The options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload: from the end of the header to the total length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
    /// Whether the header checksum verifies (RFC 791 §3.1, "Header Checksum").
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        // Summed in native byte order: 0xffff reads the same in either order.
        let sum = match self.buffer.as_ref().first_chunk::<HEADER_LEN>() {
            // The usual header without options, summed with a length known at compile time.
            Some(h) if self.header_len() == HEADER_LEN => checksum::sum_native(h),
            _ => checksum::sum_native(self.header_bytes()),
        };
        checksum::fold(sum) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        self.buffer
            .as_mut()
            .first_chunk_mut::<HEADER_LEN>()
            .expect("length checked")
    }
    /// Sets version 4 and the header length (a multiple of 4 from 20 to 60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        debug_assert!(header_len.is_multiple_of(4) && (HEADER_LEN..=60).contains(&header_len));
        self.header_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    /// Sets the DSCP and ECN octet.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.header_mut()[field::DSCP_ECN] = v;
    }
    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.header_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.header_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the flags-and-fragment-offset word.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        self.header_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.header_mut()[field::TTL] = v;
    }
    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.header_mut()[field::PROTOCOL] = v;
    }
    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.header_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.header_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.header_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
    /// Computes and writes the header checksum over the header as it stands.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header_bytes());
        self.set_checksum(c);
    }
    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// A parsed IPv4 header, as far as synfin needs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload ([`PROTOCOL_TCP`] for TCP).
    pub protocol: u8,
    /// Length of the payload: total length minus header length.
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet. With `verify_checksum`, a header whose checksum does
    /// not verify is [`Error::BadChecksum`]; a fragment is [`Error::Fragmented`].
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(Error::Fragmented);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            // check_len guarantees total length >= header length.
            payload_len: packet.total_len() - packet.header_len() as u16,
            ttl: packet.ttl(),
        })
    }

    /// Length of the header this emits (20: no options).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-octet header (DF set, ID 0, DSCP/ECN 0, checksum filled) into the
    /// start of `buf`; returns its length. The payload is not written. A payload that
    /// would make the total length exceed 65,535 is [`Error::BadLength`].
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let Some(total_len) = self.payload_len.checked_add(HEADER_LEN as u16) else {
            return Err(Error::BadLength);
        };
        let Some(h) = buf.first_chunk_mut::<HEADER_LEN>() else {
            return Err(Error::BufferTooSmall);
        };
        let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
        p.set_version_and_header_len(HEADER_LEN);
        p.set_dscp_ecn(0);
        p.set_total_len(total_len);
        p.set_ident(0);
        p.set_flags_frag(FLAG_DF);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40-octet TCP SYN's IPv4 header (as Linux sends it, ID 0 and DF), then
    /// two octets of payload, then two octets of Ethernet padding.
    const PACKET: [u8; 24] = [
        0x45, 0x00, 0x00, 0x16, // version, IHL, DSCP, total length 22
        0x00, 0x00, 0x40, 0x00, // ID 0, DF
        0x40, 0x06, 0x00, 0x00, // TTL 64, TCP, checksum (filled in below)
        198, 18, 0, 1, // src
        198, 19, 0, 2, // dst
        0xaa, 0xbb, // payload
        0x00, 0x00, // padding
    ];

    fn packet() -> [u8; 24] {
        let mut p = PACKET;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 2),
            protocol: PROTOCOL_TCP,
            payload_len: 2,
            ttl: 64,
        }
    }

    #[test]
    fn header_checksum_is_the_hand_computed_one() {
        // 4500 + 0016 + 0000 + 4000 + 4006 + c612 + 0001 + c613 + 0002 = 2_5144,
        // folded 5146, complemented aeb9.
        assert_eq!(u16::from_be_bytes([packet()[10], packet()[11]]), 0xaeb9);
    }

    #[test]
    fn parse_ignores_padding_after_total_length() {
        let b = packet();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!(Ipv4Repr::parse(&p, true), Ok(repr()));
    }

    #[test]
    fn emit_writes_df_id0_and_checksum() {
        let mut buf = [0xeeu8; 20];
        assert_eq!(repr().emit(&mut buf), Ok(20));
        assert_eq!(buf, packet()[..20]);
        assert_eq!(repr().emit(&mut buf[..19]), Err(Error::BufferTooSmall));
        let huge = Ipv4Repr {
            payload_len: 65_516,
            ..repr()
        };
        assert_eq!(huge.emit(&mut buf), Err(Error::BadLength));
    }

    #[test]
    fn bad_checksum_is_reported_only_when_verifying() {
        let mut b = packet();
        b[8] = 63; // TTL changed, checksum not
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::BadChecksum));
        assert_eq!(Ipv4Repr::parse(&p, false).map(|r| r.ttl), Ok(63));
    }

    #[test]
    fn fragments_are_rejected() {
        for flg_off in [0x2000u16, 0x0001, 0x6000, 0x1fff] {
            let mut b = packet();
            b[6..8].copy_from_slice(&flg_off.to_be_bytes());
            b[10..12].fill(0);
            let c = checksum::checksum(&b[..20]);
            b[10..12].copy_from_slice(&c.to_be_bytes());
            let p = Ipv4Packet::new_checked(&b[..]).unwrap();
            assert_eq!(Ipv4Repr::parse(&p, true), Err(Error::Fragmented));
        }
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one word of options (NOP NOP NOP EOL).
        let mut b = [0u8; 26];
        b[..12].copy_from_slice(&PACKET[..12]);
        b[0] = 0x46;
        b[2..4].copy_from_slice(&26u16.to_be_bytes());
        b[12..20].copy_from_slice(&PACKET[12..20]);
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        b[24..26].copy_from_slice(&[0xaa, 0xbb]);
        let c = checksum::checksum(&b[..24]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        assert_eq!(Ipv4Repr::parse(&p, true), Ok(repr()));
    }

    #[test]
    fn bad_lengths_and_versions_are_errors() {
        let b = packet();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..21]).unwrap_err(),
            Error::Truncated
        );
        let mut v6 = b;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).unwrap_err(),
            Error::NotIpv4
        );
        let mut short_ihl = b;
        short_ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&short_ihl[..]).unwrap_err(),
            Error::Malformed
        );
        let mut long_ihl = b;
        long_ihl[0] = 0x4f; // 60 octets of header in a 22-octet packet
        assert_eq!(
            Ipv4Packet::new_checked(&long_ihl[..]).unwrap_err(),
            Error::Malformed
        );
        let mut short_total = b;
        short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&short_total[..]).unwrap_err(),
            Error::Malformed
        );
    }
}
