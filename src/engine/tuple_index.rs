//! The client side's direct-indexed tuple map: one `u32` per source tuple.
//!
//! The client picks its own source tuples from a range of addresses and a range of
//! ports, so a reply's tuple can be turned into an array index with a subtraction
//! and a multiply, no hashing: `addr_idx × ports + (port − port_lo)`, where
//! `addr_idx` is the local address's position in the source range. Each element
//! holds a slab index (or a TIME-WAIT record index) or [`TupleIndex::EMPTY`].
//!
//! Memory is 4 bytes per tuple, allocated once: 1 000 addresses × ports
//! 1024‥=65535 (64 512 ports) is 64.5 M tuples, 258 MB; a single address with the
//! whole port range is 256 KiB.

/// A `u32` for every (source address index, source port) tuple of the client's
/// range, `EMPTY` when unused. Never grows; no method allocates after
/// [`new`](TupleIndex::new).
///
/// ```
/// use synfin::engine::tuple_index::TupleIndex;
/// let mut idx = TupleIndex::new(2, 1024, 65535);
/// let i = idx.index_of(1, 40_000).unwrap();
/// assert_eq!(idx.get(i), TupleIndex::EMPTY);
/// idx.set(i, 7);
/// assert_eq!(idx.get(i), 7);
/// assert_eq!(idx.index_of(2, 40_000), None);
/// assert_eq!(idx.index_of(0, 80), None);
/// ```
#[derive(Debug, Clone)]
pub struct TupleIndex {
    /// `n_addrs × ports` values, address-major.
    values: Vec<u32>,
    /// Number of source addresses.
    n_addrs: u32,
    /// Lowest source port.
    port_lo: u16,
    /// Number of ports in `port_lo..=port_hi`.
    ports: u32,
}

impl TupleIndex {
    /// The value of an unused tuple.
    pub const EMPTY: u32 = u32::MAX;

    /// An index over `n_addrs` source addresses × ports `port_lo..=port_hi`, all
    /// [`EMPTY`](Self::EMPTY): `4 × n_addrs × (port_hi − port_lo + 1)` bytes.
    ///
    /// # Panics
    /// If `port_lo > port_hi`.
    pub fn new(n_addrs: u32, port_lo: u16, port_hi: u16) -> Self {
        assert!(port_lo <= port_hi, "empty port range {port_lo}..={port_hi}");
        let ports = u32::from(port_hi - port_lo) + 1;
        let len = (n_addrs as usize)
            .checked_mul(ports as usize)
            .expect("tuple space overflows usize");
        Self {
            values: vec![Self::EMPTY; len],
            n_addrs,
            port_lo,
            ports,
        }
    }

    /// The array index of tuple (`addr_idx`, `port`), `None` outside the space.
    #[inline]
    pub fn index_of(&self, addr_idx: u32, port: u16) -> Option<usize> {
        let port_off = u32::from(port.wrapping_sub(self.port_lo));
        if addr_idx < self.n_addrs && port_off < self.ports {
            Some(addr_idx as usize * self.ports as usize + port_off as usize)
        } else {
            None
        }
    }

    /// The value of tuple (`addr_idx`, `port`) (possibly [`EMPTY`](Self::EMPTY)),
    /// `None` outside the space: [`index_of`](Self::index_of) and
    /// [`get`](Self::get) in one, with one check for the address (the array's
    /// bound) instead of two.
    #[inline]
    pub fn value_of(&self, addr_idx: u32, port: u16) -> Option<u32> {
        self.find(addr_idx, port).map(|(_, v)| v)
    }

    /// The array index and value of tuple (`addr_idx`, `port`), `None` outside the
    /// space: [`value_of`](Self::value_of) with the index, for a caller that
    /// stores under the tuple next.
    #[inline]
    pub fn find(&self, addr_idx: u32, port: u16) -> Option<(usize, u32)> {
        let port_off = u32::from(port.wrapping_sub(self.port_lo));
        if port_off >= self.ports {
            return None;
        }
        // With port_off < ports, idx < n_addrs × ports (the length) exactly when
        // addr_idx < n_addrs; in u64 nothing overflows (2^32 × 2^16).
        let idx =
            usize::try_from(u64::from(addr_idx) * u64::from(self.ports) + u64::from(port_off))
                .ok()?;
        self.values.get(idx).map(|&v| (idx, v))
    }

    /// The tuple (`addr_idx`, `port`) at array index `idx`; the inverse of
    /// [`index_of`](Self::index_of), for the allocator that walks indices.
    ///
    /// # Panics
    /// If `idx >= len()`.
    #[inline]
    pub fn tuple_of(&self, idx: usize) -> (u32, u16) {
        assert!(idx < self.values.len(), "tuple index {idx} out of range");
        let ports = self.ports as usize;
        ((idx / ports) as u32, self.port_lo + (idx % ports) as u16)
    }

    /// The value at `idx` ([`EMPTY`](Self::EMPTY) if unused).
    ///
    /// # Panics
    /// If `idx >= len()`.
    #[inline]
    pub fn get(&self, idx: usize) -> u32 {
        self.values[idx]
    }

    /// Stores `value` at `idx`; store [`EMPTY`](Self::EMPTY) to clear it.
    ///
    /// # Panics
    /// If `idx >= len()`.
    #[inline]
    pub fn set(&mut self, idx: usize, value: u32) {
        self.values[idx] = value;
    }

    /// Number of tuples: addresses × ports.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the space holds no tuple (no address).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes used by the values: 4 per tuple.
    #[inline]
    pub fn memory_bytes(&self) -> usize {
        self.values.len() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_of_is_index_of_then_get() {
        let mut t = TupleIndex::new(3, 1000, 1009);
        for i in 0..t.len() {
            t.set(i, i as u32 * 7);
        }
        for addr in [0u32, 1, 2, 3, 4, u32::MAX, u32::MAX / 10] {
            for port in [0u16, 999, 1000, 1005, 1009, 1010, 65535] {
                assert_eq!(
                    t.value_of(addr, port),
                    t.index_of(addr, port).map(|i| t.get(i)),
                    "{addr} {port}"
                );
                assert_eq!(
                    t.find(addr, port),
                    t.index_of(addr, port).map(|i| (i, t.get(i))),
                    "{addr} {port}"
                );
            }
        }
    }

    #[test]
    fn every_tuple_has_a_distinct_index_and_round_trips() {
        let t = TupleIndex::new(3, 1000, 1009);
        assert_eq!(t.len(), 30);
        let mut seen = vec![false; t.len()];
        for a in 0..3 {
            for p in 1000..=1009 {
                let i = t.index_of(a, p).unwrap();
                assert!(!seen[i]);
                seen[i] = true;
                assert_eq!(t.tuple_of(i), (a, p));
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn tuples_outside_the_space_have_no_index() {
        let t = TupleIndex::new(3, 1000, 1009);
        assert_eq!(t.index_of(3, 1000), None);
        assert_eq!(t.index_of(0, 999), None);
        assert_eq!(t.index_of(0, 1010), None);
        assert_eq!(t.index_of(u32::MAX, 0), None);
        assert_eq!(t.index_of(0, 65535), None);
    }

    #[test]
    fn full_port_range_and_single_port_work() {
        let t = TupleIndex::new(2, 0, 65535);
        assert_eq!(t.len(), 2 * 65536);
        assert_eq!(t.index_of(1, 65535), Some(2 * 65536 - 1));
        let one = TupleIndex::new(1, 80, 80);
        assert_eq!(one.index_of(0, 80), Some(0));
        assert_eq!(one.index_of(0, 81), None);
        assert_eq!(one.memory_bytes(), 4);
    }

    #[test]
    fn values_start_empty_and_can_be_cleared() {
        let mut t = TupleIndex::new(1, 1024, 2047);
        let i = t.index_of(0, 1500).unwrap();
        assert_eq!(t.get(i), TupleIndex::EMPTY);
        t.set(i, 42);
        assert_eq!(t.get(i), 42);
        t.set(i, TupleIndex::EMPTY);
        assert_eq!(t.get(i), TupleIndex::EMPTY);
    }

    #[test]
    fn no_address_means_no_tuple() {
        let t = TupleIndex::new(0, 1024, 65535);
        assert!(t.is_empty());
        assert_eq!(t.index_of(0, 2000), None);
    }
}
