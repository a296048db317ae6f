//! Wire formats: typed views over byte buffers and plain representations for
//! Ethernet II, ARP, IPv4 and TCP, and the Internet checksum.
//!
//! Each protocol has two halves, as in smoltcp:
//! - a *view* (`EthernetFrame<T>`, `ArpPacket<T>`, `Ipv4Packet<T>`, `TcpPacket<T>`)
//!   over any `T: AsRef<[u8]>`, whose `new_checked` validates the length once so that
//!   no accessor can panic afterwards; setters exist only where `T: AsMut<[u8]>`;
//! - a plain `Copy` *repr* (`EthernetRepr`, `ArpRepr`, `Ipv4Repr`, `TcpRepr`) that
//!   parses from a view and emits into a buffer.
//!
//! [`frame`] is what the engine uses on the hot path: one call parses or emits a whole
//! Ethernet II + IPv4 + TCP frame, and [`frame::TcpFrameTemplate`] emits from headers
//! prepared once with the checksums of the constant fields precomputed.
//!
//! Parsing never panics, whatever the bytes: it returns `Ok` or an [`Error`].
//! Nothing here allocates.

use core::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frame;
pub mod ipv4;
pub mod tcp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use frame::{
    Frame, FrameHeader, TcpFrame, TcpFrameTemplate, classify, emit_tcp_frame, parse_tcp_frame,
};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use tcp::{
    OptionArea, SeqNumber, TcpFlags, TcpHeaderWords, TcpOption, TcpOptions, TcpPacket, TcpRepr,
    Timestamps,
};

/// Why a buffer could not be parsed, or a header could not be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the header (or the length a header states) does.
    Truncated,
    /// A field holds a value the format does not allow (a header length below the
    /// minimum, an option with a bad length, a total length shorter than the header).
    Malformed,
    /// A header or segment checksum does not verify.
    BadChecksum,
    /// A valid frame of a kind this module does not handle (a VLAN tag, an 802.3
    /// length field, ARP for another hardware or protocol type, IPv4 options on emit).
    Unsupported,
    /// The frame does not carry IPv4 (another EtherType, or an IP version other than 4).
    NotIpv4,
    /// The IPv4 packet does not carry TCP.
    NotTcp,
    /// The IPv4 packet is a fragment (MF set or a non-zero fragment offset);
    /// reassembly is not supported.
    Fragmented,
    /// The output buffer is too small for what is to be emitted.
    BufferTooSmall,
    /// The payload given to an emit function is not as long as the representation says,
    /// or the packet would exceed the 65,535 octets an IPv4 total length can state.
    BadLength,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::BadChecksum => "checksum does not verify",
            Error::Unsupported => "unsupported frame or header",
            Error::NotIpv4 => "not an IPv4 packet",
            Error::NotTcp => "not a TCP segment",
            Error::Fragmented => "IPv4 fragment",
            Error::BufferTooSmall => "buffer too small",
            Error::BadLength => "payload length does not match the header",
        })
    }
}

impl std::error::Error for Error {}

/// The result of a wire operation.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_a_short_reason() {
        assert_eq!(Error::Fragmented.to_string(), "IPv4 fragment");
        assert_eq!(Error::BadChecksum.to_string(), "checksum does not verify");
        let e: &dyn std::error::Error = &Error::Truncated;
        assert_eq!(e.to_string(), "truncated packet");
    }
}
