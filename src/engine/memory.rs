//! Memory, sized from the options at start and measured at the end (issue 6,
//! "bounded memory").
//!
//! Every table a worker uses is allocated when it is built and never grows: the
//! connection slab, the TIME-WAIT slab, their timer bookkeeping and wheel, the
//! client's source-tuple index, the server's flow table, and the frame buffers
//! (the in-memory wire's pool, or each AF_XDP socket's UMEM and, with several
//! workers, each worker's handoff inbox). [`MemoryBudget`]
//! adds them up from the same capacities the constructors use, so a run can be
//! refused before it starts when the machine cannot hold it, and the report can
//! state the bound next to the measured peak RSS ([`peak_rss_bytes`]).

use std::mem::size_of;

use super::client::ClientConfig;
use super::core::{ConnSlot, TwSlot};
use super::flow_table::FlowKey;
use super::server::ServerConfig;

/// Per-entry bookkeeping a slab keeps beside each value (generation, free link).
const SLAB_META: usize = 8;
/// A wheel node: deadline, item, link (see `TimerWheel::new`).
const WHEEL_NODE: usize = 24;
/// The deadline a slot remembers for its pending timer.
const ARMED: usize = 8;
/// A TIME-WAIT slot's link in its timer group.
const TW_LINK: usize = 4;
/// A flow-table slot (key and value).
const FLOW_SLOT: usize = 16;
/// Frames in each worker's handoff inbox when an AF_XDP run has more than one
/// worker (`Inbox::for_workers` builds inboxes of this size).
pub const HANDOFF_FRAMES: u64 = 4096;
/// One handoff frame: its boxed buffer, which the allocator rounds up to its size
/// class (2,560 bytes for the 2,050 of a buffer, with mimalloc's bins 512 bytes
/// apart at that size), and its slot in the pool's and the queue's ring (a stamp
/// and a pointer each).
const HANDOFF_SLOT: u64 =
    (size_of::<crate::engine::handoff::HandoffBuf>() as u64).next_multiple_of(512) + 2 * 16;
/// Histograms, templates and other fixed per-worker state (measured order of
/// magnitude: four HdrHistograms of 3 significant digits up to an hour).
const FIXED_PER_WORKER: u64 = 2 << 20;

/// What the tables of a run take, in bytes, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryBudget {
    /// Control blocks (the slab of connections), both sides.
    pub conn_table: u64,
    /// TIME-WAIT records, both sides.
    pub time_wait: u64,
    /// Timer bookkeeping: the wheel's nodes and each slot's armed deadline.
    pub timers: u64,
    /// The client's direct index of source tuples (4 bytes per tuple).
    pub tuple_index: u64,
    /// The server's 4-tuple hash table.
    pub flow_table: u64,
    /// Frame buffers: the in-memory wire's pool, or the AF_XDP UMEMs and the
    /// workers' handoff inboxes.
    pub frames: u64,
    /// Histograms and fixed state of each worker, and the payload it sends (the
    /// request or the response, with its prefix sums).
    pub fixed: u64,
}

impl MemoryBudget {
    /// The sum of every part.
    pub fn total(&self) -> u64 {
        self.conn_table
            + self.time_wait
            + self.timers
            + self.tuple_index
            + self.flow_table
            + self.frames
            + self.fixed
    }

    /// Add another budget (another worker).
    pub fn add(&mut self, o: &MemoryBudget) {
        self.conn_table += o.conn_table;
        self.time_wait += o.time_wait;
        self.timers += o.timers;
        self.tuple_index += o.tuple_index;
        self.flow_table += o.flow_table;
        self.frames += o.frames;
        self.fixed += o.fixed;
    }

    /// A client worker of `cfg` (its tables as `ClientWorker::new` sizes them).
    pub fn client(cfg: &ClientConfig) -> MemoryBudget {
        let conns = cfg.max_conns as u64;
        let tws = cfg.tw_cap.max(1) as u64;
        let n_ports = u64::from(cfg.port_hi - cfg.port_lo) + 1;
        MemoryBudget {
            conn_table: conns * (size_of::<ConnSlot<u32>>() + SLAB_META) as u64,
            time_wait: tws * (size_of::<TwSlot<u32>>() + SLAB_META) as u64,
            timers: (conns + tws) * (WHEEL_NODE + ARMED) as u64 + tws * TW_LINK as u64,
            tuple_index: u64::from(cfg.src_count) * n_ports * 4,
            flow_table: 0,
            frames: 0,
            fixed: FIXED_PER_WORKER,
        }
    }

    /// A server worker of `cfg` (as `ServerWorker::new` sizes it).
    pub fn server(cfg: &ServerConfig) -> MemoryBudget {
        let conns = cfg.max_conns as u64;
        let tws = cfg.tw_cap.max(1) as u64;
        let flow_slots = ((conns + tws) * 2).next_power_of_two().max(2);
        MemoryBudget {
            conn_table: conns * (size_of::<ConnSlot<FlowKey>>() + SLAB_META) as u64,
            time_wait: tws * (size_of::<TwSlot<FlowKey>>() + SLAB_META) as u64,
            timers: (conns + tws) * (WHEEL_NODE + ARMED) as u64 + tws * TW_LINK as u64,
            tuple_index: 0,
            flow_table: flow_slots * FLOW_SLOT as u64,
            frames: 0,
            fixed: FIXED_PER_WORKER,
        }
    }

    /// The payload a worker sends, `len` bytes (see
    /// [`crate::engine::core::Payload::reserved_bytes`]).
    pub fn payload(len: u32) -> MemoryBudget {
        MemoryBudget {
            fixed: crate::engine::core::Payload::reserved_bytes(len),
            ..MemoryBudget::default()
        }
    }

    /// The in-memory wire of `frames` frames in flight (each direction reserves a
    /// ring of its own, see [`crate::io::mem::MemWire::reserved_bytes`]).
    pub fn mem_wire(frames: usize) -> MemoryBudget {
        MemoryBudget {
            frames: crate::io::mem::MemWire::reserved_bytes(frames),
            ..MemoryBudget::default()
        }
    }

    /// `sockets` AF_XDP sockets, each with a UMEM of `frames` frames, and each
    /// worker's handoff inbox (see [`crate::engine::handoff::Inbox`]): with more
    /// than one worker, [`HANDOFF_FRAMES`] boxed frame buffers in its pool and two
    /// queues of that many slots (`xdp_run` builds them; one frame with one worker).
    pub fn umem(sockets: u32, frames: u32) -> MemoryBudget {
        let inbox = if sockets > 1 { HANDOFF_FRAMES } else { 1 };
        MemoryBudget {
            frames: u64::from(sockets)
                * (u64::from(frames) * crate::io::MAX_FRAME as u64 + inbox * HANDOFF_SLOT),
            ..MemoryBudget::default()
        }
    }

    /// One line for the report: the total and its parts, in MiB.
    pub fn line(&self) -> String {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        format!(
            "{:.1} MiB (connection tables {:.1}, TIME-WAIT {:.1}, timers {:.1}, tuple index {:.1}, flow table {:.1}, frames {:.1}, fixed {:.1})",
            mib(self.total()),
            mib(self.conn_table),
            mib(self.time_wait),
            mib(self.timers),
            mib(self.tuple_index),
            mib(self.flow_table),
            mib(self.frames),
            mib(self.fixed)
        )
    }
}

/// The process's peak resident set size so far (`VmHWM` of /proc/self/status), in
/// bytes; `None` where it cannot be read.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory the kernel says it could give now (`MemAvailable` of /proc/meminfo), in
/// bytes; `None` where it cannot be read.
pub fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TwPolicy;

    #[test]
    fn a_payload_counts_its_bytes_and_their_prefix_sums() {
        // 3 bytes per payload byte: the byte and its 16-bit prefix sum (plus one sum).
        assert_eq!(MemoryBudget::payload(0).total(), 2);
        assert_eq!(MemoryBudget::payload(1 << 20).total(), 3 * (1 << 20) + 2);
        let mut b = MemoryBudget::payload(64);
        b.add(&MemoryBudget::payload(256));
        assert_eq!(b.fixed, 3 * 320 + 4);
    }

    #[test]
    fn the_budget_grows_with_each_option_it_depends_on() {
        let base = ClientConfig {
            src_first: 0xc612_0001,
            src_count: 1,
            port_lo: 1024,
            port_hi: 2047,
            dst_ip: 0xc613_0001,
            dst_port: 80,
            tw_policy: TwPolicy::Strict,
            tw_cap: 1000,
            max_conns: 1000,
            verify_checksums: true,
            secret: 1,
            cursor_start: 0,
        };
        let b = MemoryBudget::client(&base);
        assert_eq!(b.tuple_index, 1024 * 4);
        let more_conns = MemoryBudget::client(&ClientConfig {
            max_conns: 2000,
            ..base.clone()
        });
        assert!(more_conns.conn_table == 2 * b.conn_table && more_conns.timers > b.timers);
        let more_tw = MemoryBudget::client(&ClientConfig {
            tw_cap: 2000,
            ..base.clone()
        });
        assert!(more_tw.time_wait == 2 * b.time_wait);
        assert_eq!(more_tw.conn_table, b.conn_table);
        assert!(b.total() > b.conn_table + b.time_wait);
        assert!(peak_rss_bytes().is_some_and(|r| r > 0));
    }

    #[test]
    fn several_xdp_workers_count_their_handoff_inboxes() {
        let umem = |n: u32| MemoryBudget::umem(n, 4096).frames;
        let per_socket = 4096 * crate::io::MAX_FRAME as u64;
        // One worker hands nothing off: its inbox is one buffer.
        assert_eq!(umem(1), per_socket + HANDOFF_SLOT);
        // Two workers: each inbox holds 4,096 buffers of at least a frame.
        assert_eq!(umem(2), 2 * (per_socket + HANDOFF_FRAMES * HANDOFF_SLOT));
        assert!(HANDOFF_SLOT > crate::io::MAX_FRAME as u64);
    }
}
