//! The engine: per-core workers that own everything they touch.
//!
//! - [`core`]: what both sides share (control-block table, lazy timers, TIME-WAIT
//!   records, transmit path);
//! - [`client`] and [`server`]: the two workers;
//! - [`wheel`]: the hierarchical timer wheel; [`slab`], [`flow_table`],
//!   [`tuple_index`]: preallocated tables;
//! - [`pacer`]: the open-loop schedule; [`stop`]: the graceful stop (drain, FIN,
//!   then RST);
//! - [`mem_run`]: a client and a server worker joined by the in-memory wire;
//! - [`memory`]: what the tables of a run take, from its options, and the peak RSS;
//! - [`tx_guard`]: a port wrapper that lets a client's frames out only from its
//!   source range to its destination.

pub mod arp;
pub mod client;
pub mod core;
pub mod flow_table;
pub mod handoff;
pub mod live;
pub mod mem_run;
pub mod memory;
pub mod pacer;
pub mod server;
pub mod slab;
pub mod stop;
pub mod tuple_index;
pub mod tx_guard;
pub mod wheel;
#[cfg(target_os = "linux")]
pub mod xdp_run;
#[cfg(target_os = "linux")]
pub mod xdp_serve;

/// Frames received, and connections opened, per worker step at most.
pub const BURST: usize = 64;

/// What a client does with a source tuple whose connection is in TIME-WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwPolicy {
    /// Never reuse a tuple before its TIME-WAIT (2·MSL) ends.
    Strict,
    /// Linux tcp_tw_reuse: reuse once the record is `delay_ms` old, when timestamps
    /// were on (the new connection's TSval is then newer than the old one's).
    Reuse {
        /// Minimum age of the record (Linux tcp_tw_reuse_delay, default 1000 ms).
        delay_ms: u32,
    },
    /// Ignore TIME-WAIT (as dperf does): reuse at once, counting every such reuse as
    /// a hazard.
    None,
}

impl TwPolicy {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TwPolicy::Strict => "strict",
            TwPolicy::Reuse { .. } => "reuse",
            TwPolicy::None => "none",
        }
    }
}
