//! Ports: where frames come from and go to. One small trait, [`Port`], and its
//! implementations: [`mem`] (an in-memory wire with seeded impairments) and
//! [`xdp`] (an AF_XDP socket per queue). [`socket`] is not a port: it is the
//! kernel-socket client and server (the baseline, and a DUT).

use crate::time::Instant;

pub mod mem;
#[cfg(target_os = "linux")]
pub mod socket;
#[cfg(target_os = "linux")]
pub mod xdp;

/// Largest frame a port hands out or accepts (Ethernet + IPv4 + TCP + payload).
pub const MAX_FRAME: usize = 2048;

/// A burst-oriented frame port, owned by one worker.
///
/// Receive lends each frame to a closure; transmit lends a buffer to build a frame
/// into (reserve, write, commit); `flush` kicks the other side once per burst.
pub trait Port {
    /// Receive up to `max` frames that are due at `now`, calling `f` with each one's
    /// bytes. Returns how many were received.
    fn rx_burst<F: FnMut(&[u8])>(&mut self, now: Instant, max: usize, f: F) -> usize;

    /// Lend a transmit buffer of [`MAX_FRAME`] bytes to `build`, which writes a frame
    /// at its start and returns its length; a length of 0 cancels. Returns false
    /// (without calling `build`) when no buffer is free: the frame is dropped and the
    /// caller counts it.
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool;

    /// Make everything transmitted so far visible to the other side.
    fn flush(&mut self, now: Instant);
}
