//! ARP (RFC 826) for Ethernet and IPv4 only: hardware type 1, protocol type 0x0800,
//! 6-octet hardware and 4-octet protocol addresses. Anything else is an error.

use std::net::Ipv4Addr;

use super::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use super::{Error, Result};

/// Hardware type Ethernet (RFC 826, "ar$hrd"; IANA ARP parameters).
pub const HARDWARE_ETHERNET: u16 = 1;
/// Protocol type IPv4, the EtherType of IP (RFC 826, "ar$pro").
pub const PROTOCOL_IPV4: u16 = EtherType::IPV4;
/// Length of an Ethernet hardware address (RFC 826, "ar$hln").
pub const HARDWARE_LEN: u8 = 6;
/// Length of an IPv4 protocol address (RFC 826, "ar$pln").
pub const PROTOCOL_LEN: u8 = 4;

/// Byte ranges of an Ethernet/IPv4 ARP packet (RFC 826, "Packet format").
pub mod field {
    use core::ops::Range;
    /// Hardware type (ar$hrd).
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type (ar$pro).
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length (ar$hln).
    pub const HLEN: usize = 4;
    /// Protocol address length (ar$pln).
    pub const PLEN: usize = 5;
    /// Operation (ar$op).
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address (ar$sha).
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address (ar$spa).
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address (ar$tha).
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address (ar$tpa).
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// An ARP operation (RFC 826, "ar$op").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// ares_op$REQUEST, 1.
    Request,
    /// ares_op$REPLY, 2.
    Reply,
}

impl ArpOperation {
    /// The value of ar$op.
    #[inline]
    pub const fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

/// A typed view over an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking its length; accessors may panic on a short
    /// buffer. Use [`new_checked`](Self::new_checked) for untrusted input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps `buffer`, which must hold the 28 octets of an Ethernet/IPv4 ARP packet.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the whole packet.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
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
    fn bytes(&self) -> &[u8; PACKET_LEN] {
        self.buffer.as_ref()[..PACKET_LEN]
            .try_into()
            .expect("length checked")
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.bytes();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    #[inline]
    fn mac_at(&self, at: usize) -> EthernetAddress {
        let b = self.bytes();
        EthernetAddress([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]])
    }

    #[inline]
    fn ip_at(&self, at: usize) -> Ipv4Addr {
        let b = self.bytes();
        Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
    }

    /// Hardware type.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE.start)
    }
    /// Protocol type.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE.start)
    }
    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.bytes()[field::HLEN]
    }
    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.bytes()[field::PLEN]
    }
    /// The raw operation code.
    #[inline]
    pub fn operation(&self) -> u16 {
        self.u16_at(field::OPER.start)
    }
    /// Sender hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> EthernetAddress {
        self.mac_at(field::SHA.start)
    }
    /// Sender protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        self.ip_at(field::SPA.start)
    }
    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        self.mac_at(field::THA.start)
    }
    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.ip_at(field::TPA.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8; PACKET_LEN] {
        (&mut self.buffer.as_mut()[..PACKET_LEN])
            .try_into()
            .expect("length checked")
    }
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        self.bytes_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        self.bytes_mut()[field::PTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, v: u8) {
        self.bytes_mut()[field::HLEN] = v;
    }
    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, v: u8) {
        self.bytes_mut()[field::PLEN] = v;
    }
    /// Sets the operation code.
    #[inline]
    pub fn set_operation(&mut self, v: u16) {
        self.bytes_mut()[field::OPER].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the sender hardware address.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, a: EthernetAddress) {
        self.bytes_mut()[field::SHA].copy_from_slice(&a.0);
    }
    /// Sets the sender protocol address.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, a: Ipv4Addr) {
        self.bytes_mut()[field::SPA].copy_from_slice(&a.octets());
    }
    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, a: EthernetAddress) {
        self.bytes_mut()[field::THA].copy_from_slice(&a.0);
    }
    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        self.bytes_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// The sender's MAC address.
    pub source_hardware_addr: EthernetAddress,
    /// The sender's IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// The target's MAC address (ignored in a request; usually zero there).
    pub target_hardware_addr: EthernetAddress,
    /// The IPv4 address being resolved (request) or answered to (reply).
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Parses an ARP packet. Another hardware or protocol type is
    /// [`Error::Unsupported`]; Ethernet/IPv4 with other address lengths is
    /// [`Error::Malformed`]; an operation other than request or reply (RARP's 3 and 4,
    /// for instance) is [`Error::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET || packet.protocol_type() != PROTOCOL_IPV4 {
            return Err(Error::Unsupported);
        }
        if packet.hardware_len() != HARDWARE_LEN || packet.protocol_len() != PROTOCOL_LEN {
            return Err(Error::Malformed);
        }
        let operation = match packet.operation() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            _ => return Err(Error::Unsupported),
        };
        Ok(ArpRepr {
            operation,
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Length of the packet this emits (28).
    #[inline]
    pub const fn packet_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the ARP packet into the start of `buf`; returns its length (28).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let Some(bytes) = buf.first_chunk_mut::<PACKET_LEN>() else {
            return Err(Error::BufferTooSmall);
        };
        let mut p = ArpPacket::new_unchecked(&mut bytes[..]);
        p.set_hardware_type(HARDWARE_ETHERNET);
        p.set_protocol_type(PROTOCOL_IPV4);
        p.set_hardware_len(HARDWARE_LEN);
        p.set_protocol_len(PROTOCOL_LEN);
        p.set_operation(self.operation.code());
        p.set_source_hardware_addr(self.source_hardware_addr);
        p.set_source_protocol_addr(self.source_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
        Ok(PACKET_LEN)
    }

    /// Writes a whole Ethernet II frame carrying this packet; returns its length (42;
    /// the NIC pads to the 60-octet minimum). The Ethernet source is the sender's
    /// hardware address; the destination is broadcast for a request and the target's
    /// hardware address for a reply.
    pub fn emit_frame(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.len() < ethernet::HEADER_LEN + PACKET_LEN {
            return Err(Error::BufferTooSmall);
        }
        let eth = EthernetRepr {
            src_addr: self.source_hardware_addr,
            dst_addr: match self.operation {
                ArpOperation::Request => EthernetAddress::BROADCAST,
                ArpOperation::Reply => self.target_hardware_addr,
            },
            ethertype: EtherType::Arp,
        };
        let n = eth.emit(buf)?;
        Ok(n + self.emit(&mut buf[n..])?)
    }

    /// The reply that the owner of `hardware_addr` gives to this request: sender and
    /// target swapped, the sender's hardware address filled in.
    #[inline]
    pub fn answer(&self, hardware_addr: EthernetAddress) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: hardware_addr,
            source_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.source_hardware_addr,
            target_protocol_addr: self.source_protocol_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0x00, 0x01, // Ethernet
        0x08, 0x00, // IPv4
        0x06, 0x04, // lengths
        0x00, 0x01, // request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sha
        198, 18, 0, 1, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        198, 18, 0, 2, // tpa
    ];

    fn request() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress::new(2, 0, 0, 0, 0, 1),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: EthernetAddress::default(),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn request_parses() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Ok(request()));
    }

    #[test]
    fn request_emits_the_same_bytes() {
        let mut buf = [0xeeu8; 28];
        assert_eq!(request().emit(&mut buf), Ok(28));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn frame_of_a_request_goes_to_broadcast() {
        let mut buf = [0u8; 64];
        assert_eq!(request().emit_frame(&mut buf), Ok(42));
        assert_eq!(&buf[..6], &[0xff; 6]);
        assert_eq!(&buf[6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&buf[12..14], &[0x08, 0x06]);
        assert_eq!(&buf[14..42], &REQUEST);
        assert_eq!(
            request().emit_frame(&mut buf[..41]),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn answer_swaps_sender_and_target() {
        let mine = EthernetAddress::new(2, 0, 0, 0, 0, 2);
        let reply = request().answer(mine);
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(reply.source_hardware_addr, mine);
        assert_eq!(reply.source_protocol_addr, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(reply.target_hardware_addr, request().source_hardware_addr);
        assert_eq!(reply.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
        let mut buf = [0u8; 42];
        reply.emit_frame(&mut buf).unwrap();
        assert_eq!(&buf[..6], &[2, 0, 0, 0, 0, 1]);
        let p = ArpPacket::new_checked(&buf[14..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Ok(reply));
    }

    #[test]
    fn other_hardware_protocol_or_lengths_are_rejected() {
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
        let mut b = REQUEST;
        b[2..4].copy_from_slice(&[0x86, 0xdd]);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
        let mut b = REQUEST;
        b[4] = 8;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Malformed));
        let mut b = REQUEST;
        b[5] = 16;
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Malformed));
        let mut b = REQUEST;
        b[7] = 3; // RARP request
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn short_packets_are_truncated() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(request().emit(&mut [0u8; 27]), Err(Error::BufferTooSmall));
    }
}
