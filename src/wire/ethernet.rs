//! Ethernet II frames (IEEE 802.3 §3.2, the DIX "type" interpretation of the
//! length/type field): destination, source, EtherType, payload. No VLAN tags: an
//! 802.1Q or 802.1ad tag, or an 802.3 length in the type field, parses as
//! [`Error::Unsupported`]. The frame check sequence is not part of the buffer.

use core::fmt;

use super::{Error, Result};

/// A 48-bit MAC address (IEEE 802 §8.2).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The address from its six octets in transmission order.
    #[inline]
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> EthernetAddress {
        EthernetAddress([a, b, c, d, e, f])
    }

    /// The six octets.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether this is a multicast (group) address: the I/G bit, the least significant
    /// bit of the first octet, is set (IEEE 802 §8.2). Broadcast is multicast.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address: the I/G bit is clear.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the U/L bit (second least significant bit of the first octet) says the
    /// address is locally administered.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The EtherType of a frame's payload (IEEE Registration Authority).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (RFC 894).
    Ipv4,
    /// ARP (RFC 826).
    Arp,
    /// Any other value.
    Unknown(u16),
}

impl EtherType {
    /// IPv4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// ARP (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// A customer VLAN tag (IEEE 802.1Q).
    pub const VLAN: u16 = 0x8100;
    /// A service VLAN tag (IEEE 802.1ad).
    pub const QINQ: u16 = 0x88a8;
    /// Values below this are 802.3 lengths, not types (IEEE 802.3 §3.2.6).
    pub const MIN_TYPE: u16 = 0x0600;
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> EtherType {
        match v {
            EtherType::IPV4 => EtherType::Ipv4,
            EtherType::ARP => EtherType::Arp,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => EtherType::IPV4,
            EtherType::Arp => EtherType::ARP,
            EtherType::Unknown(v) => v,
        }
    }
}

/// Byte ranges of the Ethernet II header (IEEE 802.3 §3.1.1).
pub mod field {
    use core::ops::{Range, RangeFrom};
    /// Destination address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Payload.
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A typed view over an Ethernet II frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking its length; accessors may panic on a short
    /// buffer. Use [`new_checked`](Self::new_checked) for untrusted input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer`, which must hold at least the 14-octet header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the buffer holds the whole header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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
        self.buffer.as_ref()[..HEADER_LEN]
            .try_into()
            .expect("length checked")
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let h = self.header();
        EthernetAddress([h[0], h[1], h[2], h[3], h[4], h[5]])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let h = self.header();
        EthernetAddress([h[6], h[7], h[8], h[9], h[10], h[11]])
    }

    /// The raw EtherType field.
    #[inline]
    pub fn ethertype_raw(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[12], h[13]])
    }

    /// EtherType.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.ethertype_raw())
    }

    /// The octets after the header (including any padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        (&mut self.buffer.as_mut()[..HEADER_LEN])
            .try_into()
            .expect("length checked")
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.header_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.header_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        self.header_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    /// The octets after the header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// A parsed Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Parses the header of `frame`. VLAN tags and 802.3 length fields are
    /// [`Error::Unsupported`].
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        let raw = frame.ethertype_raw();
        if raw < EtherType::MIN_TYPE || raw == EtherType::VLAN || raw == EtherType::QINQ {
            return Err(Error::Unsupported);
        }
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: EtherType::from(raw),
        })
    }

    /// Length of the header this emits.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the start of `buf`; returns its length (14).
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let Some(h) = buf.first_chunk_mut::<HEADER_LEN>() else {
            return Err(Error::BufferTooSmall);
        };
        h[field::DESTINATION].copy_from_slice(&self.dst_addr.0);
        h[field::SOURCE].copy_from_slice(&self.src_addr.0);
        h[field::ETHERTYPE].copy_from_slice(&u16::from(self.ethertype).to_be_bytes());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
        0xaa, 0xbb, 0xcc, 0xdd, // payload
    ];

    fn repr() -> EthernetRepr {
        EthernetRepr {
            src_addr: EthernetAddress::new(2, 0, 0, 0, 0, 1),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        }
    }

    #[test]
    fn view_reads_fields() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(f.src_addr(), EthernetAddress::new(2, 0, 0, 0, 0, 1));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn parse_then_emit_gives_the_same_header() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f).unwrap(), repr());
        let mut buf = [0u8; 14];
        assert_eq!(repr().emit(&mut buf), Ok(14));
        assert_eq!(buf, FRAME[..14]);
    }

    #[test]
    fn setters_write_fields() {
        let mut buf = [0u8; 14];
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr(EthernetAddress::BROADCAST);
        f.set_src_addr(EthernetAddress::new(2, 0, 0, 0, 0, 1));
        f.set_ethertype(EtherType::Arp);
        assert_eq!(buf, FRAME[..14]);
    }

    #[test]
    fn short_buffers_are_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(repr().emit(&mut [0u8; 13]), Err(Error::BufferTooSmall));
    }

    #[test]
    fn vlan_tags_and_lengths_are_unsupported() {
        let mut vlan = FRAME;
        vlan[12..14].copy_from_slice(&[0x81, 0x00]);
        let f = EthernetFrame::new_checked(&vlan[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f), Err(Error::Unsupported));
        vlan[12..14].copy_from_slice(&[0x05, 0xdc]);
        let f = EthernetFrame::new_checked(&vlan[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f), Err(Error::Unsupported));
    }

    #[test]
    fn addresses_display_and_classify() {
        let a = EthernetAddress::new(0x02, 0xab, 0, 0x10, 0xff, 1);
        assert_eq!(a.to_string(), "02:ab:00:10:ff:01");
        assert!(a.is_unicast() && a.is_local() && !a.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(!EthernetAddress::BROADCAST.is_unicast());
        assert_eq!(EtherType::from(0x86dd), EtherType::Unknown(0x86dd));
        assert_eq!(u16::from(EtherType::Ipv4), 0x0800);
    }
}
