//! Time as the engine sees it: a monotonic instant in nanoseconds.
//!
//! The sans-IO core never reads a clock; every entry point takes `now: Instant`.
//! Workers read the clock once per burst ([`Clock`]) and tests drive a virtual one.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, in nanoseconds since an arbitrary epoch (the run's start for
/// real clocks, zero for virtual ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// A time later than any the engine will see; "no deadline".
    pub const NEVER: Instant = Instant(u64::MAX);

    /// Nanoseconds since the epoch.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole milliseconds since the epoch (the timer wheel's tick).
    #[inline]
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// An instant `ms` milliseconds after the epoch.
    #[inline]
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms.saturating_mul(1_000_000))
    }
    /// An instant `us` microseconds after the epoch.
    #[inline]
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us.saturating_mul(1_000))
    }
    /// `self - earlier` in nanoseconds, zero if `earlier` is later.
    #[inline]
    pub const fn nanos_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    #[inline]
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(d.as_nanos().min(u64::MAX as u128) as u64),
        )
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    #[inline]
    fn sub(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos_since(earlier))
    }
}

/// A source of `now`.
pub trait Clock {
    /// The current instant.
    fn now(&mut self) -> Instant;
}

/// The monotonic system clock, counted from when it was made.
#[derive(Debug)]
pub struct MonotonicClock {
    start: std::time::Instant,
}

impl MonotonicClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        MonotonicClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&mut self) -> Instant {
        Instant(self.start.elapsed().as_nanos() as u64)
    }
}

/// A clock that only moves when told: scenario tests jump it to the next deadline.
#[derive(Debug, Default, Clone, Copy)]
pub struct VirtualClock {
    /// The current virtual instant.
    pub now: Instant,
}

impl Clock for VirtualClock {
    #[inline]
    fn now(&mut self) -> Instant {
        self.now
    }
}
