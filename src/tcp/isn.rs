//! Initial sequence numbers (RFC 6528) and per-connection timestamp offsets
//! (RFC 7323 §5.4).
//!
//! ISN = M + F(4-tuple, key): M is a clock ticking every 4 µs and F a keyed mix of
//! the 4-tuple, so ISNs are unpredictable to anyone without the key, and successive
//! incarnations of one tuple get increasing ISNs (which lets a peer in TIME-WAIT tell
//! a new SYN from an old duplicate, as RFC 6191 and Linux do). F is a fast keyed
//! multiply-mix, not a cryptographic hash: a load tester needs unpredictability and
//! spread, not resistance to a determined cryptanalyst, and an MD5 per connection
//! would cost more than the rest of the connection.
//!
//! The timestamp offset comes from the same keyed hash: F is its low 32 bits and the
//! offset its high 32 bits, so a connection costs one hash for both. The offset is
//! fixed per tuple, so TSvals of successive incarnations of a tuple keep increasing
//! with the clock.

use crate::time::Instant;
use crate::wire::tcp::SeqNumber;

/// Generates ISNs and timestamp offsets from a secret key.
#[derive(Clone, Copy, Debug)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let m = (a as u128).wrapping_mul((b ^ 0x9e37_79b9_7f4a_7c15) as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

impl IsnGenerator {
    /// A generator keyed from a 64-bit secret (expanded with splitmix64).
    pub fn new(secret: u64) -> Self {
        let mut s = secret;
        let mut next = || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        IsnGenerator {
            k0: next(),
            k1: next(),
        }
    }

    /// The keyed 64-bit hash of a 4-tuple: its low half is the ISN's F (RFC 6528),
    /// its high half the tuple's timestamp offset, so that one hash per
    /// connection gives both.
    #[inline]
    fn keyed(&self, local_ip: u32, local_port: u16, remote_ip: u32, remote_port: u16) -> u64 {
        let key = self.k0;
        let a = ((local_ip as u64) << 32 | remote_ip as u64) ^ key;
        let b = ((local_port as u64) << 16 | remote_port as u64) ^ key.rotate_left(29);
        mix(mix(a, b), self.k1)
    }

    /// M of RFC 6528 §3: a clock ticking every 4 µs.
    #[inline]
    fn clock(now: Instant) -> u32 {
        (now.as_nanos() / 4000) as u32
    }

    /// The ISN for a connection on this 4-tuple opened at `now` (RFC 6528 §3).
    #[inline]
    pub fn isn(
        &self,
        local_ip: u32,
        local_port: u16,
        remote_ip: u32,
        remote_port: u16,
        now: Instant,
    ) -> SeqNumber {
        self.isn_and_offset(local_ip, local_port, remote_ip, remote_port, now)
            .0
    }

    /// The timestamp offset of this 4-tuple (RFC 7323 §5.4).
    #[inline]
    pub fn ts_offset(
        &self,
        local_ip: u32,
        local_port: u16,
        remote_ip: u32,
        remote_port: u16,
    ) -> u32 {
        (self.keyed(local_ip, local_port, remote_ip, remote_port) >> 32) as u32
    }

    /// [`isn`](Self::isn) and [`ts_offset`](Self::ts_offset) together, from one
    /// hash of the tuple.
    #[inline]
    pub fn isn_and_offset(
        &self,
        local_ip: u32,
        local_port: u16,
        remote_ip: u32,
        remote_port: u16,
        now: Instant,
    ) -> (SeqNumber, u32) {
        let h = self.keyed(local_ip, local_port, remote_ip, remote_port);
        (
            SeqNumber(Self::clock(now).wrapping_add(h as u32)),
            (h >> 32) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isns_differ_across_tuples_and_keys() {
        let g = IsnGenerator::new(1);
        let h = IsnGenerator::new(2);
        let t = Instant::from_millis(5);
        let a = g.isn(1, 1000, 2, 80, t);
        assert_ne!(a, g.isn(1, 1001, 2, 80, t));
        assert_ne!(a, h.isn(1, 1000, 2, 80, t));
        let mut seen = std::collections::HashSet::new();
        for p in 0..10_000u16 {
            seen.insert(g.isn(0xc612_0001, p, 0xc612_0002, 80, t).0);
        }
        assert!(seen.len() > 9_990, "ISNs collide too often: {}", seen.len());
    }

    #[test]
    fn isn_of_one_tuple_increases_with_time() {
        let g = IsnGenerator::new(7);
        let a = g.isn(1, 1000, 2, 80, Instant::from_millis(1));
        let b = g.isn(1, 1000, 2, 80, Instant::from_millis(2));
        assert_eq!(b.diff(a), 250, "1 ms is 250 ticks of 4 us");
    }

    #[test]
    fn isn_and_offset_agree_with_the_separate_calls() {
        let g = IsnGenerator::new(11);
        let t = Instant::from_millis(1234);
        for p in [1u16, 80, 1024, 65535] {
            let (isn, off) = g.isn_and_offset(0xc612_0001, p, 0xc613_0001, 80, t);
            assert_eq!(isn, g.isn(0xc612_0001, p, 0xc613_0001, 80, t));
            assert_eq!(off, g.ts_offset(0xc612_0001, p, 0xc613_0001, 80));
        }
        // Offsets spread over tuples too, not just ISNs.
        let mut seen = std::collections::HashSet::new();
        for p in 0..10_000u16 {
            seen.insert(g.ts_offset(0xc612_0001, p, 0xc612_0002, 80));
        }
        assert!(
            seen.len() > 9_990,
            "offsets collide too often: {}",
            seen.len()
        );
    }

    #[test]
    fn ts_offset_is_fixed_per_tuple() {
        let g = IsnGenerator::new(7);
        assert_eq!(g.ts_offset(1, 2, 3, 4), g.ts_offset(1, 2, 3, 4));
        assert_ne!(g.ts_offset(1, 2, 3, 4), g.ts_offset(1, 3, 3, 4));
    }
}
