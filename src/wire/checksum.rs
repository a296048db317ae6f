//! The Internet checksum (RFC 1071): the one's complement of the one's complement sum
//! of the data taken as 16-bit big-endian words, an odd last octet padded with zero.
//!
//! Partial sums are `u16` values that are already folded (end-around carry applied);
//! they combine with [`combine`] in any order (RFC 1071 §2(A), commutativity and
//! associativity), provided every part but the last has an even length. A sum is zero
//! only when all its data is zero, so a verified header sums to `0xffff`.
//!
//! [`sum`] reads the data as native-endian 8-byte words, adds them with end-around
//! carry into a `u64` and folds and byte-swaps once at the end: the sum does not depend
//! on byte order except for that final swap (RFC 1071 §2(B)), and carries out of 16 bits
//! can be deferred (§2(C)).
//!
//! Headers that change in one field are updated with [`update16`] and [`update32`]
//! (RFC 1624 §3, equation 3).

use std::net::Ipv4Addr;

/// Adds `w` to `acc` with end-around carry: a one's complement addition in 64 bits,
/// which is congruent to the 16-bit sum modulo 0xffff (RFC 1071 §2(C), "deferred
/// carries", and §2(D) for wider words).
#[inline(always)]
pub(crate) fn add_carry(acc: u64, w: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(w);
    // Cannot overflow: when `carry` is set, `s` is at most 2^64 - 2.
    s + carry as u64
}

/// `acc` and every word of `words` added with end-around carry, unfolded: congruent
/// modulo 2^64 - 1 (and so modulo 0xffff) to the sum of [`add_carry`] applied word
/// by word, and zero only when every input is zero. The carry of each addition goes
/// into the next (one add-with-carry per word on x86) and the last one is added at
/// the end (RFC 1071 §2(C), deferred carries); it cannot overflow there: a carry out
/// of an addition leaves at most 2^64 - 2 below it. The transmit path's checksum of
/// the header words.
#[inline(always)]
pub(crate) fn add_words<const N: usize>(acc: u64, words: [u64; N]) -> u64 {
    let (mut s, mut c) = (acc, false);
    for w in words {
        (s, c) = s.carrying_add(w, c);
    }
    s + c as u64
}

/// The one's complement sum of `data` read as native-endian words, unfolded: the
/// "native space" of the fast paths. Its fold is the byte-swapped fold of [`sum`] on a
/// little-endian machine (RFC 1071 §2(B)); sums in native space combine with
/// [`add_carry`] like sums in big-endian space do, a big-endian 16-bit value `v` at an
/// even offset enters native space as `v.to_be()`, a folded native sum `f` is stored
/// as a checksum field with `(!f).to_ne_bytes()`, and `0xffff` (a verified sum) is the
/// same in both spaces.
#[inline]
pub(crate) fn sum_native(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let (blocks, rest) = data.as_chunks::<32>();
    for block in blocks {
        for w in block.as_chunks::<8>().0 {
            acc = add_carry(acc, u64::from_ne_bytes(*w));
        }
    }
    // At most 31 octets are left, taken 16, 8, 4, 2 and 1 at a time (a loop here
    // would be unrolled for lengths it never sees). Words keep their parity of offset,
    // and shifts by multiples of 16 bits do not change a one's complement sum, so each
    // piece can be added at the bottom of the accumulator.
    let mut tail = rest;
    if let Some((w, rest)) = tail.split_first_chunk::<16>() {
        for w in w.as_chunks::<8>().0 {
            acc = add_carry(acc, u64::from_ne_bytes(*w));
        }
        tail = rest;
    }
    if let Some((w, rest)) = tail.split_first_chunk::<8>() {
        acc = add_carry(acc, u64::from_ne_bytes(*w));
        tail = rest;
    }
    let t = short_sum(tail);
    add_carry(acc, t)
}

/// The native-space sum of fewer than 8 octets (the tail after whole words), taken
/// 4, 2 and 1 at a time, as a small number (less than 2^33): words keep their parity
/// of offset, and shifts by multiples of 16 bits do not change a one's complement
/// sum, so each piece can be added at the bottom.
#[inline(always)]
fn short_sum(mut tail: &[u8]) -> u64 {
    debug_assert!(tail.len() < 8);
    let mut t = 0u64;
    if let Some((w, rest)) = tail.split_first_chunk::<4>() {
        t += u64::from(u32::from_ne_bytes(*w));
        tail = rest;
    }
    if let Some((w, rest)) = tail.split_first_chunk::<2>() {
        t += u64::from(u16::from_ne_bytes(*w));
        tail = rest;
    }
    if let [last] = tail {
        // The odd last octet is the high-order octet of a word padded with zero.
        t += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    t
}

/// `acc` plus the native-space sum of `data` (see [`sum_native`]), in carry chains of
/// up to 64 octets: congruent to `add_carry(acc, sum_native(data))` modulo
/// 2^64 - 1, and nonzero when `acc` or `data` is. The receive path's verification;
/// data of a constant length (a header) is summed in one unrolled chain.
#[inline(always)]
pub(crate) fn add_native(acc: u64, data: &[u8]) -> u64 {
    // (Most segments carry no data: one test for them.)
    if data.is_empty() {
        return acc;
    }
    let (blocks, tail) = data.as_chunks::<64>();
    let mut s = acc;
    for block in blocks {
        s = add_chain(s, block);
    }
    if tail.is_empty() {
        s
    } else {
        add_chain(s, tail)
    }
}

/// `acc` plus the native-space sum of up to 64 octets, in one carry chain: each
/// word's carry out goes into the next addition (an `adc` chain on x86), and the
/// last one around to the bottom (RFC 1071 §2(C), §2(D)). Words keep their parity of
/// offset, and shifts by multiples of 16 bits do not change a one's complement sum,
/// so the octets after the last whole 8-octet word can be added as a small number.
#[inline(always)]
fn add_chain(acc: u64, data: &[u8]) -> u64 {
    let (words, tail) = data.as_chunks::<8>();
    let (mut s, mut c) = (acc, false);
    for w in words {
        (s, c) = s.carrying_add(u64::from_ne_bytes(*w), c);
    }
    if tail.is_empty() {
        // (Known where the length is: a whole block, or a header.) The last
        // carry goes around to the bottom, where it cannot carry out again: an
        // addition that carried leaves at most 2^64 - 2.
        return s + c as u64;
    }
    let t = short_sum(tail);
    // The last carry goes around to the bottom. That addition cannot carry out
    // again: when `s + t + c` carries, what is left is at most `t`, a small number.
    let (s, c) = s.carrying_add(t, c);
    s + c as u64
}

/// Whether a nonzero unfolded sum (native or big-endian space) folds to `0xffff`,
/// the sum of data that holds its own checksum: that is, whether it is a multiple
/// of 0xffff (2^16 is 1 modulo 0xffff, so a fold keeps the remainder, and a
/// nonzero sum folds into 1..=0xffff). Tested by a multiplication instead of the
/// fold's shifts and adds: for an odd divisor d, x is a multiple of d exactly when
/// x times the inverse of d modulo 2^64 is at most (2^64 - 1) / d.
#[cfg(test)]
fn verifies(acc: u64) -> bool {
    verify_product(acc) <= u64::MAX / 0xffff
}

/// `verifies` (a test helper) of two sums at once, with one comparison.
#[inline(always)]
pub(crate) fn both_verify(a: u64, b: u64) -> bool {
    verify_product(a).max(verify_product(b)) <= u64::MAX / 0xffff
}

/// `acc` times the inverse of 0xffff modulo 2^64 (see `verifies`, a test helper).
#[inline(always)]
fn verify_product(acc: u64) -> u64 {
    debug_assert_ne!(acc, 0, "the sum of a header is never zero");
    /// The inverse of 0xffff modulo 2^64: 0xffff * -(1 + 2^16 + 2^32 + 2^48) is
    /// 1 - 2^64.
    const INVERSE: u64 = 0x0001_0001_0001_0001u64.wrapping_neg();
    const { assert!(0xffffu64.wrapping_mul(INVERSE) == 1) };
    acc.wrapping_mul(INVERSE)
}

/// The native-space sum of the TCP pseudo-header (RFC 9293 §3.1, "Checksum") of
/// `src` and `dst` without the length, unfolded.
#[inline]
pub(crate) fn pseudo_header_native(src: [u8; 4], dst: [u8; 4], protocol: u8) -> u64 {
    u64::from(u32::from_ne_bytes(src))
        + u64::from(u32::from_ne_bytes(dst))
        + u64::from(u16::from_ne_bytes([0, protocol]))
}

/// Folds a wide accumulator of 16-bit words (or of 32- or 64-bit words: their halves
/// are congruent modulo 0xffff) into a 16-bit one's complement sum, applying the
/// end-around carries (RFC 1071 §4.1). The result is zero only when `acc` is zero.
#[inline]
pub fn fold(acc: u64) -> u16 {
    let (s, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let s = s + carry as u32;
    let (t, carry) = (s as u16).overflowing_add((s >> 16) as u16);
    t + carry as u16
}

/// The one's complement sum (RFC 1071 §1) of `data` as big-endian 16-bit words, folded;
/// an odd last octet is padded with a zero octet. This is the partial sum, not the
/// checksum: the checksum field holds its complement (see [`checksum`]).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    // The sum of native-endian words is the byte-swapped sum of big-endian words
    // (RFC 1071 §2(B)); `from_be` swaps back on little-endian machines.
    u16::from_be(fold(sum_native(data)))
}

/// Adds two partial sums with end-around carry. The data under `a` must have an even
/// length when it precedes the data under `b`.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The Internet checksum of `data` (RFC 1071 §1): the complement of its sum, as it
/// is stored in a checksum field (whose own octets must be zero in `data`).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// The sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293
/// §3.1, "Checksum"): source address, destination address, a zero octet and the
/// protocol, and the length of the TCP header plus data.
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    fold(
        u64::from(src.to_bits())
            + u64::from(dst.to_bits())
            + u64::from(protocol)
            + u64::from(length),
    )
}

/// The checksum field after a 16-bit field of the covered data changes from `old` to
/// `new`, given the old checksum field `hc`: HC' = ~(~HC + ~m + m') (RFC 1624 §3,
/// equation 3). The result equals a full recomputation unless all the covered data is
/// zero.
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// As [`update16`] for a 32-bit field (an address, a sequence number) starting at an
/// even offset: the complement of a 32-bit word is the two complemented halves, so
/// equation 3 of RFC 1624 §3 applies to the whole word at once.
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    !fold(u64::from(!hc) + u64::from(!old) + u64::from(new))
}

/// The one's complement sums of the prefixes of a buffer that does not change, so
/// that the sum of any slice of it costs a subtraction instead of a pass over its
/// octets: the payload a load generator sends again and again (a segment's checksum
/// is then finished from its header, the pseudo-header and this, RFC 1071 §2(A)
/// associativity). One `u16` per octet, so that a slice at any offset and of any
/// length takes two loads and no test of parity.
#[derive(Clone, Debug, Default)]
pub struct PrefixSums {
    /// `at[i]`: the folded native-space sum of the first `i` octets, an odd last
    /// octet the high-order octet of a word padded with zero. Empty for
    /// [`EMPTY`](Self::EMPTY), otherwise one longer than the buffer.
    at: Vec<u16>,
}

impl PrefixSums {
    /// The sums of an empty buffer.
    pub const EMPTY: PrefixSums = PrefixSums { at: Vec::new() };

    /// The sums of the prefixes of `data`.
    pub fn new(data: &[u8]) -> PrefixSums {
        let mut at = Vec::with_capacity(data.len() + 1);
        let mut acc = 0u64;
        at.push(0);
        for (i, &b) in data.iter().enumerate() {
            // Native space: an octet at an even offset is the first octet of a word.
            let w = if i % 2 == 0 { [b, 0] } else { [0, b] };
            acc = add_carry(acc, u64::from(u16::from_ne_bytes(w)));
            at.push(fold(acc));
        }
        PrefixSums { at }
    }

    /// An unfolded native-space value congruent modulo 0xffff to the sum of
    /// `data[start..end]` as the first octets of a segment (its first octet the
    /// high-order octet of a word), where `data` is the buffer these sums were made
    /// from: what `add_carry` adds to a checksum accumulator. Less than 2^25.
    /// `None` if `end` is past the buffer (or the sums are [`EMPTY`](Self::EMPTY)).
    ///
    /// # Panics
    /// If `start > end`.
    #[inline(always)]
    pub fn slice_acc(&self, start: usize, end: usize) -> Option<u64> {
        let last = *self.at.get(end)?;
        let first = self.at[start];
        // One's complement subtraction: add the complement.
        let diff = u64::from(last) + u64::from(!first);
        // A slice that starts in the second octet of a word of the buffer holds its
        // words with their octets swapped; times 2^8 is that swap modulo 0xffff
        // (2^16 = 1), and a one's complement sum commutes with it (RFC 1071 §2(B)).
        Some(diff << (8 * (start & 1)))
    }

    /// The folded native-space sum of `data[start..end]` as the first octets of a
    /// segment (its first octet the high-order octet of a word), where `data` is the
    /// buffer these sums were made from. Equal to `fold(sum_native(&data[start..end]))`
    /// as a one's complement number (an all-zero slice may give 0xffff, the other
    /// zero, which changes no checksum that also covers a non-zero word).
    ///
    /// # Panics
    /// If `start > end` or `end > data.len()`, or `data` is not the buffer.
    #[inline(always)]
    pub fn slice_sum(&self, data: &[u8], start: usize, end: usize) -> u16 {
        assert!(start <= end && end <= data.len());
        if start == end {
            return 0;
        }
        fold(self.slice_acc(start, end).expect("the sums of this buffer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, word by word.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            acc += hi | lo;
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, checksum 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn odd_last_octet_is_the_high_half_of_a_word() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(sum(&[0xff; 64]), 0xffff);
        assert_eq!(sum(&[0xff; 1501]), 0xff00);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0x1_0000), 0x0001);
        assert_eq!(fold(0), 0);
    }

    #[test]
    fn ipv4_header_example_checksum() {
        // A well-known IPv4 header whose checksum field is b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(sum(&hdr), 0xffff);
    }

    #[test]
    fn pseudo_header_sums_its_words() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 19, 0, 2);
        let by_hand = reference_sum(&[198, 18, 0, 1, 198, 19, 0, 2, 0, 6, 0, 32]);
        assert_eq!(pseudo_header_sum(src, dst, 6, 32), by_hand);
    }

    #[test]
    fn native_space_is_the_byte_swapped_big_endian_space() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(10, 255, 0, 254);
        let len: u16 = 0x0134;
        let native =
            fold(pseudo_header_native(src.octets(), dst.octets(), 6) + u64::from(len.to_be()));
        assert_eq!(u16::from_be(native), pseudo_header_sum(src, dst, 6, len));
        // A checksum stored from native space is the bytes a big-endian one stores.
        let data = [0x45, 0x00, 0x12, 0x34, 0xab, 0xcd, 0xef];
        assert_eq!(
            (!fold(sum_native(&data))).to_ne_bytes(),
            checksum(&data).to_be_bytes()
        );
    }

    #[test]
    fn rfc1624_example_update() {
        // RFC 1624 §4: HC = dd2f, m = 5555 changes to m' = 3285, HC' = 0000.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    proptest! {
        #[test]
        fn sum_matches_the_definition(data in proptest::collection::vec(any::<u8>(), 0..1600)) {
            prop_assert_eq!(sum(&data), reference_sum(&data));
        }

        #[test]
        fn sums_of_even_parts_combine(
            a in proptest::collection::vec(any::<u8>(), 0..200),
            b in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut a = a;
            if a.len() % 2 == 1 { a.pop(); }
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(combine(sum(&a), sum(&b)), sum(&whole));
        }

        #[test]
        fn incremental_update_equals_recomputation(
            words in proptest::collection::vec(any::<u16>(), 2..40),
            at in any::<prop::sample::Index>(),
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // Word 0 is a fixed non-zero word (as the IPv4 version octet is), so the
            // data is never all zero and the result is unique (RFC 1624 §3).
            let mut data: Vec<u8> = vec![0x45, 0x00];
            for w in &words { data.extend_from_slice(&w.to_be_bytes()); }
            let hc = checksum(&data);

            let i = 2 + 2 * at.index(words.len());
            let old16 = u16::from_be_bytes([data[i], data[i + 1]]);
            let mut d16 = data.clone();
            d16[i..i + 2].copy_from_slice(&new16.to_be_bytes());
            prop_assert_eq!(update16(hc, old16, new16), checksum(&d16));

            let j = 2 + 2 * at.index(words.len() - 1);
            let old32 = u32::from_be_bytes([data[j], data[j + 1], data[j + 2], data[j + 3]]);
            let mut d32 = data.clone();
            d32[j..j + 4].copy_from_slice(&new32.to_be_bytes());
            prop_assert_eq!(update32(hc, old32, new32), checksum(&d32));
        }
    }

    proptest! {
        #[test]
        fn carry_chains_sum_as_sum_native_does(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            acc in any::<u64>(),
            ones in any::<bool>(),
        ) {
            // All-ones words make every carry ripple.
            let data = if ones { vec![0xff; data.len()] } else { data };
            let chained = add_native(acc, &data);
            let reference = add_carry(acc, sum_native(&data));
            prop_assert_eq!(chained % 0xffff, reference % 0xffff);
            prop_assert_eq!(chained == 0, acc == 0 && data.iter().all(|&b| b == 0));
            prop_assert_eq!(fold(chained), fold(reference));
        }

        #[test]
        fn verifies_is_a_fold_to_ffff(acc in 1..=u64::MAX, k in any::<u64>()) {
            prop_assert_eq!(verifies(acc), fold(acc) == 0xffff);
            prop_assert_eq!(both_verify(acc, k.max(1)), verifies(acc) && verifies(k.max(1)));
            prop_assert_eq!(both_verify(k.max(1), acc), verifies(acc) && verifies(k.max(1)));
            let multiple = (k % (u64::MAX / 0xffff)).max(1) * 0xffff;
            prop_assert!(verifies(multiple));
            prop_assert_eq!(fold(multiple), 0xffff);
        }

        #[test]
        fn add_words_is_add_carry_word_by_word(acc in any::<u64>(), words in any::<[u64; 6]>()) {
            let chained = add_words(acc, words);
            let one_by_one = words.into_iter().fold(acc, add_carry);
            prop_assert_eq!(fold(chained), fold(one_by_one));
        }
    }

    #[test]
    fn verifies_at_the_edges() {
        for acc in [
            1,
            0xfffe,
            0xffff,
            0x1_0000,
            0x1_fffe,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(verifies(acc), fold(acc) == 0xffff, "{acc:#x}");
        }
        // A header that holds its own checksum.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(!verifies(add_native(0, &hdr)));
        hdr[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verifies(add_native(0, &hdr)));
    }

    #[test]
    fn add_words_at_the_extremes() {
        let max = u64::MAX;
        assert_eq!(add_words(max, [max; 6]), max);
        assert_eq!(add_words(0, [0; 4]), 0);
        assert_eq!(add_words(1, [max; 3]), 1);
        assert_eq!(add_words(max - 1, [1, 0, max]), max);
        assert_eq!(fold(add_words(0, [0x8000_0000_0000_0000; 2])), 1);
    }

    proptest! {
        #[test]
        fn prefix_sums_give_every_slice_sum(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
        ) {
            let p = PrefixSums::new(&data);
            let (mut a, mut b) = (a.index(data.len() + 1), b.index(data.len() + 1));
            if a > b { std::mem::swap(&mut a, &mut b); }
            let want = fold(sum_native(&data[a..b]));
            let got = p.slice_sum(&data, a, b);
            // Equal as one's complement numbers (0 and 0xffff are both zero).
            prop_assert!(got == want || (got.is_multiple_of(0xffff) && want.is_multiple_of(0xffff)), "{a}..{b}: {got:#x} {want:#x}");
        }
    }

    #[test]
    fn prefix_sums_of_all_slices_of_a_small_buffer() {
        let data: Vec<u8> = (0..37u32).map(|i| (i * 97 + 13) as u8).collect();
        let p = PrefixSums::new(&data);
        for a in 0..=data.len() {
            for b in a..=data.len() {
                let want = fold(sum_native(&data[a..b]));
                let got = p.slice_sum(&data, a, b);
                assert!(
                    got == want || (got.is_multiple_of(0xffff) && want.is_multiple_of(0xffff)),
                    "{a}..{b}"
                );
            }
        }
    }
}
