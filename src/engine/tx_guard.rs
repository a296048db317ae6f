//! The transmit guard: a [`Port`] wrapper that lets a client's frames out only when
//! they go from its configured source range to its one destination.
//!
//! synfin must never send anywhere it was not told to (issue 6, "safety guards").
//! The engine builds every frame from its tables, so a frame to another address
//! would be a bug — or a hostile peer's segment answered from an address it forged.
//! The guard reads the frame that was just built (EtherType, IPv4 source and
//! destination, TCP destination port: a few byte loads), and cancels it if it is not
//! IPv4 from `[src_first, src_first + src_count)` to `dst_ip:dst_port`. Cancelled
//! frames are counted in [`TxGuard::blocked`] and reported; a correct engine never
//! blocks one, which the tests assert.

use crate::io::{Burst, Port, Receive, Transmit};
use crate::time::Instant;

/// What a client may send: IPv4 TCP from its source range to its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPolicy {
    /// First source address (host order).
    pub src_first: u32,
    /// Number of source addresses.
    pub src_count: u32,
    /// The one destination address (host order).
    pub dst_ip: u32,
    /// The one destination port.
    pub dst_port: u16,
}

impl TxPolicy {
    /// Whether `frame` (Ethernet II + IPv4 + TCP) may leave.
    #[inline]
    pub fn allows(&self, frame: &[u8]) -> bool {
        if frame.len() < 14 + 20 + 4 || frame[12] != 0x08 || frame[13] != 0x00 {
            return false;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[0] >> 4 != 4 || ihl < 20 || ip[9] != 6 || frame.len() < 14 + ihl + 4 {
            return false;
        }
        let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
        let dport = u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]);
        src.wrapping_sub(self.src_first) < self.src_count
            && dst == self.dst_ip
            && dport == self.dst_port
    }
}

/// A port whose transmitted frames are checked against a [`TxPolicy`].
pub struct TxGuard<P: Port> {
    inner: P,
    policy: TxPolicy,
    /// Frames cancelled because they broke the policy.
    pub blocked: u64,
}

impl<P: Port> TxGuard<P> {
    /// Guard `inner` with `policy`.
    pub fn new(inner: P, policy: TxPolicy) -> Self {
        TxGuard {
            inner,
            policy,
            blocked: 0,
        }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped port, mutably.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }
}

/// A transmit side whose frames are checked against a [`TxPolicy`].
struct Guarded<'a, T: Transmit> {
    inner: &'a mut T,
    policy: TxPolicy,
    blocked: &'a mut u64,
}

impl<T: Transmit> Transmit for Guarded<'_, T> {
    #[inline]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        let policy = self.policy;
        let mut blocked = false;
        let sent = self.inner.tx(now, |buf| {
            let len = build(buf);
            if len == 0 || policy.allows(&buf[..len.min(buf.len())]) {
                len
            } else {
                blocked = true;
                0
            }
        });
        if blocked {
            *self.blocked += 1;
            return false;
        }
        sent
    }
}

/// A burst run with the inner port's transmit side guarded.
struct GuardedBurst<'a, B> {
    burst: B,
    policy: TxPolicy,
    blocked: &'a mut u64,
}

impl<B: Burst> Burst for GuardedBurst<'_, B> {
    type Out = B::Out;
    #[inline(always)]
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, tx: &mut T) -> B::Out {
        let mut tx = Guarded {
            inner: tx,
            policy: self.policy,
            blocked: self.blocked,
        };
        self.burst.run(rx, &mut tx)
    }
}

impl<P: Port> Transmit for TxGuard<P> {
    #[inline]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        Guarded {
            inner: &mut self.inner,
            policy: self.policy,
            blocked: &mut self.blocked,
        }
        .tx(now, build)
    }
}

impl<P: Port> Port for TxGuard<P> {
    #[inline]
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out {
        let burst = GuardedBurst {
            burst: b,
            policy: self.policy,
            blocked: &mut self.blocked,
        };
        self.inner.burst(now, max, burst)
    }

    #[inline]
    fn flush(&mut self, now: Instant) {
        self.inner.flush(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::EthernetAddress;
    use crate::wire::frame::{FrameHeader, emit_tcp_frame};
    use crate::wire::tcp::TcpRepr;
    use std::net::Ipv4Addr;

    /// A port that keeps what it is given.
    #[derive(Default)]
    struct Sink(Vec<Vec<u8>>);

    impl Port for Sink {
        fn burst<B: Burst>(&mut self, _: Instant, _: usize, b: B) -> B::Out {
            b.run(&mut crate::io::NoFrames, self)
        }
        fn flush(&mut self, _: Instant) {}
    }

    impl Transmit for Sink {
        fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, _: Instant, build: F) -> bool {
            let mut buf = vec![0u8; crate::io::MAX_FRAME];
            let n = build(&mut buf);
            if n > 0 {
                buf.truncate(n);
                self.0.push(buf);
            }
            true
        }
    }

    const POLICY: TxPolicy = TxPolicy {
        src_first: 0xc612_0100, // 198.18.1.0
        src_count: 4,
        dst_ip: 0xc613_0001, // 198.19.0.1
        dst_port: 80,
    };

    fn send(g: &mut TxGuard<Sink>, src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> bool {
        let h = FrameHeader {
            src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
            src_ip: src,
            dst_ip: dst,
            ttl: 64,
        };
        let tcp = TcpRepr {
            src_port: 4000,
            dst_port: dport,
            ..TcpRepr::default()
        };
        g.tx(Instant::ZERO, |buf| {
            emit_tcp_frame(buf, &h, &tcp, &[]).unwrap_or(0)
        })
    }

    #[test]
    fn frames_inside_the_policy_pass_and_others_are_blocked() {
        let mut g = TxGuard::new(Sink::default(), POLICY);
        let (ours, last, dst) = (
            Ipv4Addr::new(198, 18, 1, 0),
            Ipv4Addr::new(198, 18, 1, 3),
            Ipv4Addr::new(198, 19, 0, 1),
        );
        assert!(send(&mut g, ours, dst, 80));
        assert!(send(&mut g, last, dst, 80));
        assert_eq!(g.blocked, 0);
        // A source outside the range, another destination, another port.
        assert!(!send(&mut g, Ipv4Addr::new(198, 18, 1, 4), dst, 80));
        assert!(!send(&mut g, Ipv4Addr::new(198, 18, 0, 255), dst, 80));
        assert!(!send(&mut g, ours, Ipv4Addr::new(8, 8, 8, 8), 80));
        assert!(!send(&mut g, ours, dst, 81));
        // Not IPv4 at all.
        assert!(!g.tx(Instant::ZERO, |buf| {
            buf[..60].fill(0);
            buf[12] = 0x86;
            buf[13] = 0xdd;
            60
        }));
        assert_eq!(g.blocked, 5);
        assert_eq!(g.inner().0.len(), 2, "only the allowed frames went out");
    }
}
