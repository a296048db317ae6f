//! synfin: a TCP connection-rate load tester.
//!
//! The crate is layered as in DESIGN.md: [`wire`] (typed views over frames),
//! [`tcp`] (sans-IO connection state machines), [`engine`] (per-core worker:
//! connection table, timer wheel, TIME-WAIT, allocator, pacer), [`io`] (ports),
//! [`stats`] (histograms, counters, reports) and [`cli`].
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod engine;
pub mod io;
pub mod plot;
pub mod stats;
pub mod tcp;
#[cfg(target_os = "linux")]
pub mod testbed;
pub mod time;
#[cfg(target_os = "linux")]
pub mod tw;
pub mod wire;
