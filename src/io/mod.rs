//! Ports: where frames come from and go to. One small trait, [`Port`], and its
//! implementations: [`mem`] (an in-memory wire with seeded impairments) and
//! [`xdp`] (an AF_XDP socket per queue). [`socket`] is not a port: it is the
//! kernel-socket client and server (the baseline, and a DUT).
//!
//! A port lends its two sides at once for a receive burst ([`Port::burst`]): the
//! burst's frames ([`Receive`]) and a transmit side ([`Transmit`]), so that an
//! engine answers each frame while it reads it, with nothing staged in between.
//! The two sides are separate resources in every port (two lanes of the in-memory
//! wire; the rx and tx rings of AF_XDP, over disjoint parts of the UMEM).

use crate::time::Instant;

pub mod mem;
#[cfg(target_os = "linux")]
pub mod socket;
#[cfg(target_os = "linux")]
pub mod xdp;

/// Largest frame a port hands out or accepts (Ethernet + IPv4 + TCP + payload).
pub const MAX_FRAME: usize = 2048;

/// The transmit side of a port: the port itself, or the half of it lent during a
/// receive burst ([`Port::burst`]).
pub trait Transmit {
    /// Lend a transmit buffer of [`MAX_FRAME`] bytes to `build`, which writes a frame
    /// at its start and returns its length; a length of 0 cancels. Returns false
    /// (without calling `build`) when no buffer is free: the frame is dropped and the
    /// caller counts it.
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool;
}

/// The frames of one receive burst, as [`Port::burst`] lends them.
pub trait Receive {
    /// Call `f` with each frame of the burst, in order (a second call finds none
    /// left). Returns how many frames the burst took off the port (a wrapper that
    /// keeps some for itself counts them too).
    fn each<F: FnMut(&[u8])>(&mut self, f: F) -> usize;
}

/// What runs during a receive burst, with both sides of the port at hand (a
/// closure generic over the sides' types, which each port chooses).
pub trait Burst {
    /// What the burst gives back.
    type Out;
    /// Run with the burst's frames and the port's transmit side.
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, tx: &mut T) -> Self::Out;
}

/// No frames: the receive side of a port that has nothing to receive.
pub struct NoFrames;

impl Receive for NoFrames {
    #[inline]
    fn each<F: FnMut(&[u8])>(&mut self, _f: F) -> usize {
        0
    }
}

/// A burst that only reads: a closure called with each frame ([`Port::rx_burst`]).
pub struct EachFrame<F>(pub F);

impl<F: FnMut(&[u8])> Burst for EachFrame<F> {
    type Out = usize;
    #[inline(always)]
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, _tx: &mut T) -> usize {
        rx.each(self.0)
    }
}

/// A burst-oriented frame port, owned by one worker.
///
/// Receive lends the frames due and, at the same time, the transmit side
/// ([`burst`](Self::burst)); transmit lends a buffer to build a frame into
/// (reserve, write, commit); `flush` kicks the other side once per burst.
pub trait Port: Transmit {
    /// Take up to `max` frames that are due at `now` off the port and run `b` with
    /// them and the port's transmit side. Whatever the port counts of the frames
    /// taken (pool space, delivery) is settled before `b` runs: a frame transmitted
    /// during the burst sees the port as it would after the whole burst was read.
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out;

    /// Receive up to `max` frames that are due at `now`, calling `f` with each one's
    /// bytes. Returns how many were received.
    #[inline]
    fn rx_burst<F: FnMut(&[u8])>(&mut self, now: Instant, max: usize, f: F) -> usize {
        self.burst(now, max, EachFrame(f))
    }

    /// Make everything transmitted so far visible to the other side.
    fn flush(&mut self, now: Instant);
}
