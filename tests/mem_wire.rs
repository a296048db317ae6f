//! The in-memory wire allocates nothing after `MemWire::new`: a counting global
//! allocator watches 100,000 frames go through each direction.

use synfin::io::mem::{Dir, MemWire, MemWireConfig};
use synfin::io::{MAX_FRAME, Port, Transmit};
use synfin::time::Instant;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocations_in;

const FRAMES: u32 = 100_000;
const BURST: u32 = 32;

/// Pump `FRAMES` frames each way in bursts, checking each arrives intact and in
/// order; returns how many bytes were checked.
fn pump(wire: &mut MemWire) -> u64 {
    let mut checked = 0u64;
    let mut next_rx = [0u32; 2];
    let mut t = 0u64;
    let mut sent = 0u32;
    while sent < FRAMES {
        let now = Instant(t);
        for (i, dir) in [Dir::AtoB, Dir::BtoA].into_iter().enumerate() {
            let mut port = wire.port(dir);
            for k in 0..BURST {
                let id = sent + k;
                assert!(port.tx(now, |b| {
                    let len = 60 + (id as usize % (MAX_FRAME - 64));
                    b[..4].copy_from_slice(&id.to_le_bytes());
                    b[4..len].fill(id as u8);
                    len
                }));
            }
            port.flush(now);
            // Receive what the other side sent.
            let mut other = wire.port(dir.reverse());
            let got = other.rx_burst(now, BURST as usize, |f| {
                let id = u32::from_le_bytes(f[..4].try_into().unwrap());
                assert_eq!(id, next_rx[i]);
                assert_eq!(f.len(), 60 + (id as usize % (MAX_FRAME - 64)));
                assert!(f[4..].iter().all(|&x| x == id as u8));
                next_rx[i] += 1;
                checked += f.len() as u64;
            });
            assert_eq!(got, BURST as usize);
        }
        sent += BURST;
        t += 1_000;
    }
    assert_eq!(next_rx, [sent, sent]);
    checked
}

#[test]
fn no_allocation_after_new() {
    let mut wire = MemWire::new(MemWireConfig {
        frames: 1024,
        ..MemWireConfig::default()
    });
    let (allocs, checked) = allocations_in(|| pump(&mut wire));
    assert!(checked > 0);
    assert_eq!(allocs, 0, "the wire allocated on the hot path");
    for dir in [Dir::AtoB, Dir::BtoA] {
        let s = wire.stats(dir);
        assert_eq!(s.sent, u64::from(FRAMES));
        assert_eq!(s.delivered, u64::from(FRAMES));
    }
    assert_eq!(wire.in_flight_frames(), 0);
    assert_eq!(wire.free_frames(), 1024);

    // The counter itself works: an allocation inside the window is seen.
    let (allocs, v) = allocations_in(|| vec![1u8; 10]);
    assert_eq!(v.len(), 10);
    assert!(allocs >= 1);
}

#[test]
fn no_allocation_with_impairments() {
    let mut wire = MemWire::new(MemWireConfig {
        frames: 4096,
        loss: 0.01,
        duplicate: 0.01,
        reorder: 0.05,
        delay: std::time::Duration::from_micros(5),
        jitter: std::time::Duration::from_micros(3),
        seed: 99,
    });
    let (allocs, ()) = allocations_in(|| {
        for step in 0..u64::from(FRAMES) {
            let now = Instant(step * 1_000);
            for dir in [Dir::AtoB, Dir::BtoA] {
                let mut port = wire.port(dir);
                port.tx(now, |b| {
                    b[..8].copy_from_slice(&step.to_le_bytes());
                    64
                });
                port.flush(now);
            }
            for dir in [Dir::AtoB, Dir::BtoA] {
                wire.port(dir)
                    .rx_burst(now, 64, |f| assert_eq!(f.len(), 64));
            }
        }
    });
    assert_eq!(allocs, 0, "the impaired wire allocated on the hot path");
    let s = wire.stats(Dir::AtoB);
    assert!(s.lost > 0 && s.duplicated > 0 && s.reordered > 0, "{s:?}");
}
