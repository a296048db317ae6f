//! AF_XDP ports: one [`XdpPort`] per (interface, queue), each with its own UMEM, and
//! the XDP program ([`XdpProgram`]) that redirects a queue's frames into its socket.
//!
//! What lives where:
//! - [`bpf`] loads the redirect program with plain bpf(2) calls (no libbpf, no BPF
//!   compiler, no bpffs) and attaches it through a BPF link, so that it detaches by
//!   itself when the last handle is dropped or the process dies.
//! - `umem` owns the page-aligned memory of the frames; `sys` holds the few socket
//!   calls that xdpilone does not make (kick, socket options); `socket` is the port:
//!   xdpilone's four rings, the frame bookkeeping and the [`Port`](super::Port) trait.
//!
//! Frames are [`MAX_FRAME`](super::MAX_FRAME) (2048) bytes. A port splits its frames
//! into a receive share, which circulates between the fill ring, the rx ring and the
//! caller's closure, and a transmit share, which circulates between a free stack, the
//! tx ring and the completion ring. The rings are sized so that each can hold its whole
//! share: no ring ever refuses a frame that the bookkeeping says is free.
//!
//! A port (and an [`XdpProgram`]) belongs to the network namespace of the thread that
//! opened it; once open, it may move to any thread (a worker pinned to a core).

pub mod bpf;
mod socket;
mod sys;
pub mod tcx;
mod umem;

use std::fmt;
use std::io;
use std::time::Duration;

pub use bpf::XdpProgram;
pub use socket::XdpPort;

/// An interface, by name (resolved in the calling thread's network namespace) or by
/// index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Iface {
    /// An interface name such as `veth0`.
    Name(String),
    /// An interface index (`ip link` shows it first on each line).
    Index(u32),
}

impl From<&str> for Iface {
    fn from(name: &str) -> Self {
        Iface::Name(name.to_owned())
    }
}

impl From<String> for Iface {
    fn from(name: String) -> Self {
        Iface::Name(name)
    }
}

impl From<u32> for Iface {
    fn from(index: u32) -> Self {
        Iface::Index(index)
    }
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Iface::Name(name) => f.write_str(name),
            Iface::Index(index) => write!(f, "ifindex {index}"),
        }
    }
}

/// How the XDP program is attached to the interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Native first, generic if the driver refuses.
    #[default]
    Auto,
    /// In the driver (`XDP_FLAGS_DRV_MODE`), or fail.
    Native,
    /// In the generic skb path (`XDP_FLAGS_SKB_MODE`), which every device has.
    Generic,
}

/// Whether the socket may bind in zero-copy mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ZeroCopy {
    /// Zero-copy first, copy mode if the driver refuses (`EOPNOTSUPP`).
    #[default]
    Auto,
    /// Copy mode only.
    Never,
}

/// Where the XDP program runs, as attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// In the driver (`xdp` in `ip link`).
    Native,
    /// In the generic skb path (`xdpgeneric` in `ip link`).
    Generic,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        })
    }
}

/// How the socket moves frames, as bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// The kernel copies frames between the UMEM and its own buffers; transmit happens
    /// only inside `sendto`.
    Copy,
    /// The driver reads and writes the UMEM directly.
    ZeroCopy,
}

impl fmt::Display for BindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindMode::Copy => "copy",
            BindMode::ZeroCopy => "zero-copy",
        })
    }
}

/// What a port got from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortMode {
    /// Where the XDP program that feeds the port runs.
    pub attach: AttachMode,
    /// Copy or zero-copy.
    pub bind: BindMode,
    /// The transmit budget per `sendto` in copy mode (`XDP_MAX_TX_SKB_BUDGET`), or
    /// `None` when the kernel does not have the option and keeps its 32.
    pub tx_skb_budget: Option<u32>,
}

impl fmt::Display for PortMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} XDP, {} socket", self.attach, self.bind)?;
        match self.tx_skb_budget {
            Some(budget) => write!(f, ", {budget} frames per sendto"),
            None => write!(f, ", kernel default frames per sendto"),
        }
    }
}

/// How to open an [`XdpPort`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// UMEM frames of [`MAX_FRAME`](super::MAX_FRAME) bytes, receive and transmit share
    /// together.
    pub frames: u32,
    /// How many of `frames` receive; the rest transmit. Both shares must be at least 1.
    pub rx_frames: u32,
    /// Where the XDP program runs (only when the port attaches its own program).
    pub xdp_mode: XdpMode,
    /// Whether to try zero-copy first.
    pub zero_copy: ZeroCopy,
    /// Frames one `sendto` may move in copy mode (`XDP_MAX_TX_SKB_BUDGET`), clamped to
    /// 32..=the tx ring's size; 0 leaves the kernel's 32. Ignored on kernels without
    /// the option.
    pub tx_skb_budget: u32,
    /// The most `sendto` calls one [`flush`](super::Port::flush) makes while the kernel
    /// answers `EAGAIN` (more queued than one call moves).
    pub max_kicks_per_flush: u32,
    /// How long `bind` keeps retrying while the queue is still held by a socket that
    /// was just closed (`EBUSY`).
    pub bind_busy_timeout: Duration,
}

impl Default for XdpConfig {
    fn default() -> Self {
        XdpConfig {
            frames: 4096,
            rx_frames: 2048,
            xdp_mode: XdpMode::Auto,
            zero_copy: ZeroCopy::Auto,
            tx_skb_budget: u32::MAX,
            max_kicks_per_flush: 16,
            bind_busy_timeout: Duration::from_millis(200),
        }
    }
}

/// What went wrong while setting up AF_XDP. Every variant names the step and carries
/// the kernel's answer; [`XdpError::raw_os_error`] gives the errno.
#[derive(Debug)]
pub enum XdpError {
    /// The configuration cannot work (zero frames, shares that do not fit, …).
    Config(String),
    /// The interface does not exist in this thread's network namespace.
    NoInterface {
        /// The interface as asked for.
        iface: Iface,
        /// The lookup's error.
        source: io::Error,
    },
    /// A bpf(2) call failed.
    Bpf {
        /// The step: "create the XSKMAP", "load the XDP program", ….
        step: &'static str,
        /// The kernel's answer.
        source: io::Error,
        /// The verifier's log, when the step was a program load.
        log: String,
    },
    /// Attaching the program failed in every mode that was tried.
    Attach {
        /// The interface index.
        ifindex: u32,
        /// Each mode tried with the kernel's answer, in order.
        tried: Vec<(AttachMode, io::Error)>,
    },
    /// A step of setting up the AF_XDP socket failed.
    Socket {
        /// The step: "register the UMEM", "bind", ….
        step: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
}

impl XdpError {
    /// The errno of the (last) kernel answer, if the error came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            XdpError::Config(_) => None,
            XdpError::NoInterface { source, .. }
            | XdpError::Bpf { source, .. }
            | XdpError::Socket { source, .. } => source.raw_os_error(),
            XdpError::Attach { tried, .. } => tried.last().and_then(|(_, e)| e.raw_os_error()),
        }
    }

    pub(crate) fn socket(step: &'static str, source: io::Error) -> Self {
        XdpError::Socket { step, source }
    }

    pub(crate) fn socket_errno(step: &'static str, errno: &xdpilone::Errno) -> Self {
        XdpError::Socket {
            step,
            source: io::Error::from_raw_os_error(errno.get_raw().abs()),
        }
    }
}

impl fmt::Display for XdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XdpError::Config(why) => write!(f, "AF_XDP configuration: {why}"),
            XdpError::NoInterface { iface, source } => {
                write!(
                    f,
                    "interface {iface} not found in this network namespace: {source}"
                )
            }
            XdpError::Bpf { step, source, log } => {
                write!(f, "bpf: cannot {step}: {source}")?;
                if !log.is_empty() {
                    write!(f, "; verifier log:\n{}", log.trim_end())?;
                }
                Ok(())
            }
            XdpError::Attach { ifindex, tried } => {
                write!(f, "cannot attach the XDP program to ifindex {ifindex}:")?;
                for (mode, err) in tried {
                    write!(f, " {mode} mode: {err};")?;
                }
                Ok(())
            }
            XdpError::Socket { step, source } => {
                write!(f, "AF_XDP socket: cannot {step}: {source}")
            }
        }
    }
}

impl std::error::Error for XdpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            XdpError::Config(_) => None,
            XdpError::NoInterface { source, .. }
            | XdpError::Bpf { source, .. }
            | XdpError::Socket { source, .. } => Some(source),
            XdpError::Attach { tried, .. } => tried
                .last()
                .map(|(_, e)| e as &(dyn std::error::Error + 'static)),
        }
    }
}

/// Counters of one port: the kernel's `XDP_STATISTICS` for the socket and the port's
/// own counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Kernel: frames dropped for reasons other than a full rx ring or an empty fill
    /// ring (e.g. too large for a frame).
    pub rx_dropped: u64,
    /// Kernel: invalid descriptors on the fill ring.
    pub rx_invalid_descs: u64,
    /// Kernel: invalid descriptors on the tx ring.
    pub tx_invalid_descs: u64,
    /// Kernel: frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Kernel: times a frame found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Kernel: times the kernel found the tx ring empty when asked to send. In copy
    /// mode every kick that drains the ring counts one: not a sign of trouble.
    pub tx_ring_empty_descs: u64,
    /// Frames handed to `rx_burst`'s closure.
    pub rx_frames: u64,
    /// Frames committed to the tx ring.
    pub tx_frames: u64,
    /// `tx` calls refused because no transmit frame was free.
    pub tx_no_buffer: u64,
    /// `sendto` calls made to kick transmission.
    pub tx_kicks: u64,
    /// Kicks the kernel answered with `EAGAIN` (more queued than one call moves).
    pub tx_kicks_again: u64,
    /// Kicks that failed otherwise (`ENOBUFS`, `EBUSY`, `ENETDOWN`, …).
    pub tx_kick_errors: u64,
    /// Flushes that stopped at `max_kicks_per_flush` with frames still queued.
    pub tx_kick_limit_hit: u64,
    /// Fill-ring wakeups (`poll`) made because the kernel asked for one.
    pub rx_wakeups: u64,
    /// Rx descriptors that pointed outside the UMEM (skipped; never expected).
    pub rx_bad_descs: u64,
}

impl XdpStats {
    /// Adds another port's counters (several ports' make one report).
    pub fn add(&mut self, other: &XdpStats) {
        // (Destructured, so that a new counter cannot be left out of the sum.)
        let XdpStats {
            rx_dropped,
            rx_invalid_descs,
            tx_invalid_descs,
            rx_ring_full,
            rx_fill_ring_empty_descs,
            tx_ring_empty_descs,
            rx_frames,
            tx_frames,
            tx_no_buffer,
            tx_kicks,
            tx_kicks_again,
            tx_kick_errors,
            tx_kick_limit_hit,
            rx_wakeups,
            rx_bad_descs,
        } = *other;
        self.rx_dropped += rx_dropped;
        self.rx_invalid_descs += rx_invalid_descs;
        self.tx_invalid_descs += tx_invalid_descs;
        self.rx_ring_full += rx_ring_full;
        self.rx_fill_ring_empty_descs += rx_fill_ring_empty_descs;
        self.tx_ring_empty_descs += tx_ring_empty_descs;
        self.rx_frames += rx_frames;
        self.tx_frames += tx_frames;
        self.tx_no_buffer += tx_no_buffer;
        self.tx_kicks += tx_kicks;
        self.tx_kicks_again += tx_kicks_again;
        self.tx_kick_errors += tx_kick_errors;
        self.tx_kick_limit_hit += tx_kick_limit_hit;
        self.rx_wakeups += rx_wakeups;
        self.rx_bad_descs += rx_bad_descs;
    }
}
