//! TCP header (RFC 9293 §3.1) with options (MSS, window scale, SACK-permitted,
//! timestamps, NOP/EOL), as a typed view over bytes and as a plain representation.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Sub};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the most recent TSval received from the peer (valid when ACK is set).
    pub tsecr: u32,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (of the SYN when SYN is set).
    pub seq: SeqNumber,
    /// Next sequence number the sender expects; meaningful only when ACK is set.
    pub ack: SeqNumber,
    /// Control bits.
    pub flags: TcpFlags,
    /// Receive window, unscaled (as on the wire).
    pub window: u16,
    /// Options.
    pub options: TcpOptions,
    /// Length of the payload in octets.
    pub payload_len: u16,
}

impl TcpRepr {
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    #[inline]
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + self.flags.syn() as u32 + self.flags.fin() as u32
    }
}
