//! [`XdpPort`]: one AF_XDP socket bound to one (interface, queue), with its own UMEM
//! and xdpilone's four rings, implementing [`Port`].
//!
//! Frame ownership, which the two `unsafe` blocks below rely on:
//! - receive frames (UMEM frames `0..rx_frames`) are in the fill ring, or in the rx
//!   ring, or being read during a `burst` (between `receive` and the refill that
//!   follows in the same call), or in `to_fill`. User space reads a frame only in the
//!   third state;
//! - transmit frames (`rx_frames..frames`) are on `tx_free`, or in the tx ring, or in
//!   the completion ring. User space writes a frame only while it is on `tx_free`, and
//!   takes it off in the same call that puts it on the tx ring.
//!
//! A burst lends both sides at once (a reply is built while the frame it answers is
//! read): the two kinds of frames are disjoint parts of the UMEM, and the split
//! views of it ([`UmemArea::split`]) reach only their own part, so a received
//! frame's slice and a transmit frame's never overlap.
#![allow(unsafe_code)]

use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, UmemConfig, User};

use super::bpf::{XdpProgram, ifindex};
use super::umem::{FRAME, RxArea, TxArea, UmemArea};
use super::{BindMode, Iface, PortMode, XdpConfig, XdpError, XdpStats, ZeroCopy, sys};
use crate::io::{Burst, Port, Receive, Transmit};
use crate::time::Instant;

/// An AF_XDP socket on one (interface, queue) with its own UMEM.
///
/// Open it in the network namespace of the interface; afterwards it may move to
/// another thread. Dropping it closes the socket (which leaves the XSKMAP by itself)
/// and, when it holds the last handle to its [`XdpProgram`], detaches the program.
pub struct XdpPort {
    // Field order is drop order: the rings and the socket go before the program and
    // the memory.
    rx: RingRx,
    tx: RingTx,
    device: DeviceQueue,
    user: User,
    /// Transmit frames user space owns (UMEM offsets).
    tx_free: Vec<u64>,
    /// Receive frames read and waiting to go back to the fill ring.
    to_fill: Vec<u64>,
    program: Arc<XdpProgram>,
    area: UmemArea,
    /// Where the transmit frames start in the area (octets): the receive frames
    /// lie below, the transmit frames from here on ([`UmemArea::split`]).
    rx_end: usize,
    fd: RawFd,
    queue: u32,
    mode: PortMode,
    max_kicks: u32,
    bind_busy_retries: u32,
    counters: XdpStats,
}

/// How the frames split and how large each ring is.
#[derive(Clone, Copy, Debug)]
struct Layout {
    rx_frames: u32,
    tx_frames: u32,
    /// Fill and rx rings: a power of two holding every receive frame.
    rx_ring: u32,
    /// Tx and completion rings: a power of two holding every transmit frame.
    tx_ring: u32,
}

impl Layout {
    fn new(cfg: &XdpConfig) -> Result<Layout, XdpError> {
        if cfg.rx_frames == 0 || cfg.rx_frames >= cfg.frames {
            return Err(XdpError::Config(format!(
                "rx_frames must be in 1..frames (frames = {}, rx_frames = {})",
                cfg.frames, cfg.rx_frames
            )));
        }
        let tx_frames = cfg.frames - cfg.rx_frames;
        let ring = |n: u32| {
            n.checked_next_power_of_two()
                .ok_or_else(|| XdpError::Config(format!("{n} frames need a ring larger than 2^31")))
        };
        Ok(Layout {
            rx_frames: cfg.rx_frames,
            tx_frames,
            rx_ring: ring(cfg.rx_frames)?,
            tx_ring: ring(tx_frames)?,
        })
    }
}

/// A socket after bind, before the port takes it over.
struct Bound {
    rx: RingRx,
    tx: RingTx,
    device: DeviceQueue,
    user: User,
    tx_skb_budget: Option<u32>,
    busy_retries: u32,
}

/// `sxdp_flags` for the bind.
const BIND_ZEROCOPY: u16 = SocketConfig::XDP_BIND_ZEROCOPY | SocketConfig::XDP_BIND_NEED_WAKEUP;
const BIND_COPY: u16 = SocketConfig::XDP_BIND_COPY | SocketConfig::XDP_BIND_NEED_WAKEUP;

impl XdpPort {
    /// Attach a program of its own to `iface` (with an XSKMAP of `queue + 1` slots)
    /// and open a socket on `queue`. For several queues of one interface, attach one
    /// [`XdpProgram`] and use [`XdpPort::open_with`] per queue.
    pub fn open(iface: impl Into<Iface>, queue: u32, cfg: &XdpConfig) -> Result<XdpPort, XdpError> {
        let slots = queue
            .checked_add(1)
            .ok_or_else(|| XdpError::Config(format!("queue {queue} is out of range")))?;
        let program = Arc::new(XdpProgram::attach(&iface.into(), slots, cfg.xdp_mode)?);
        XdpPort::open_with(&program, queue, cfg)
    }

    /// Open a socket on `queue` of the interface `program` is attached to, and put it
    /// into the program's XSKMAP. The port keeps the program alive. The calling thread
    /// must be in the namespace the program was attached from (checked).
    pub fn open_with(
        program: &Arc<XdpProgram>,
        queue: u32,
        cfg: &XdpConfig,
    ) -> Result<XdpPort, XdpError> {
        if queue >= program.queues() {
            return Err(XdpError::Config(format!(
                "queue {queue} is outside the program's {} XSKMAP slots",
                program.queues()
            )));
        }
        let layout = Layout::new(cfg)?;
        program.check_netns()?;
        // Resolve the index again: it fails early if the interface has gone.
        let ifindex = ifindex(&Iface::Index(program.ifindex()))?;
        let area = UmemArea::new(cfg.frames)?;

        let bound = match cfg.zero_copy {
            ZeroCopy::Never => bind_socket(&area, ifindex, queue, layout, cfg, BIND_COPY)?,
            ZeroCopy::Auto => {
                match bind_socket(&area, ifindex, queue, layout, cfg, BIND_ZEROCOPY) {
                    Ok(bound) => bound,
                    Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                        bind_socket(&area, ifindex, queue, layout, cfg, BIND_COPY)?
                    }
                    Err(err) => return Err(err),
                }
            }
        };
        let fd = bound.user.as_raw_fd();
        let bind = match sys::is_zero_copy(fd) {
            Ok(true) => BindMode::ZeroCopy,
            Ok(false) => BindMode::Copy,
            Err(source) => return Err(XdpError::socket("read the bound mode", source)),
        };

        let frame = FRAME as u64;
        let mut port = XdpPort {
            rx: bound.rx,
            tx: bound.tx,
            device: bound.device,
            user: bound.user,
            tx_free: (layout.rx_frames..layout.rx_frames + layout.tx_frames)
                .rev()
                .map(|i| u64::from(i) * frame)
                .collect(),
            to_fill: Vec::with_capacity(layout.rx_frames as usize),
            program: Arc::clone(program),
            area,
            rx_end: layout.rx_frames as usize * FRAME,
            fd,
            queue,
            mode: PortMode {
                attach: program.mode(),
                bind,
                tx_skb_budget: bound.tx_skb_budget,
            },
            max_kicks: cfg.max_kicks_per_flush.max(1),
            bind_busy_retries: bound.busy_retries,
            counters: XdpStats::default(),
        };
        port.to_fill
            .extend((0..layout.rx_frames).map(|i| u64::from(i) * frame));
        port.refill();
        if !port.to_fill.is_empty() {
            return Err(XdpError::Config(format!(
                "the fill ring took only {} of {} receive frames",
                layout.rx_frames as usize - port.to_fill.len(),
                layout.rx_frames
            )));
        }

        // Last: the socket is bound and its fill ring full before frames come to it.
        port.program.insert(queue, port.as_fd())?;
        Ok(port)
    }

    /// Native or generic XDP, copy or zero-copy, and the transmit budget.
    pub fn mode(&self) -> PortMode {
        self.mode
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.program.ifindex()
    }

    /// The queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The program feeding this port.
    pub fn program(&self) -> &Arc<XdpProgram> {
        &self.program
    }

    /// How many times `bind` met `EBUSY` (the queue still held by a socket that had
    /// just closed) before it succeeded.
    pub fn bind_busy_retries(&self) -> u32 {
        self.bind_busy_retries
    }

    /// Transmit frames free right now (after reclaiming completions).
    pub fn tx_frames_free(&mut self) -> usize {
        self.reclaim();
        self.tx_free.len()
    }

    /// The kernel's `XDP_STATISTICS` for the socket plus the port's own counters.
    pub fn stats(&self) -> Result<XdpStats, XdpError> {
        let k = self
            .user
            .statistics_v2()
            .map_err(|errno| XdpError::socket_errno("read XDP_STATISTICS", &errno))?;
        Ok(XdpStats {
            rx_dropped: k.rx_dropped,
            rx_invalid_descs: k.rx_invalid_descs,
            tx_invalid_descs: k.tx_invalid_descs,
            rx_ring_full: k.rx_ring_full,
            rx_fill_ring_empty_descs: k.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: k.tx_ring_empty_descs,
            ..self.counters
        })
    }

    /// The socket, e.g. to `poll` it for readability.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `fd` is the socket that `self.user` (and the rings) keep open for as
        // long as `self` lives; the borrow cannot outlive `self`.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Move completed transmit frames back to the free stack.
    fn reclaim(&mut self) {
        reclaim(&mut self.device, &mut self.tx_free);
    }

    /// The two sides of the port, lent together for a burst: the receive side (rx
    /// ring, receive frames) reads frames while the transmit side (tx and
    /// completion rings, transmit frames) builds others. Disjoint fields, and
    /// disjoint parts of the UMEM ([`UmemArea::split`]).
    fn halves(&mut self, max: usize) -> (XdpRx<'_>, XdpTx<'_>) {
        let (rx_area, tx_area) = self.area.split(self.rx_end);
        (
            XdpRx {
                rx: &mut self.rx,
                area: rx_area,
                to_fill: &mut self.to_fill,
                bad_descs: &mut self.counters.rx_bad_descs,
                max,
                got: 0,
            },
            XdpTx {
                tx: &mut self.tx,
                device: &mut self.device,
                tx_free: &mut self.tx_free,
                area: tx_area,
                no_buffer: &mut self.counters.tx_no_buffer,
                frames: &mut self.counters.tx_frames,
            },
        )
    }

    /// Give read receive frames back to the fill ring.
    fn refill(&mut self) {
        while !self.to_fill.is_empty() {
            let want = u32::try_from(self.to_fill.len()).unwrap_or(u32::MAX);
            let mut slots = self.device.fill(want);
            let n = slots.capacity() as usize;
            if n == 0 {
                break;
            }
            let start = self.to_fill.len() - n;
            slots.insert(self.to_fill[start..].iter().copied());
            slots.commit();
            self.to_fill.truncate(start);
        }
    }
}

impl AsRawFd for XdpPort {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl std::fmt::Debug for XdpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpPort")
            .field("ifindex", &self.ifindex())
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

/// Move completed transmit frames back to the free stack.
fn reclaim(device: &mut DeviceQueue, tx_free: &mut Vec<u64>) {
    loop {
        let mut done = device.complete(u32::MAX);
        if done.capacity() == 0 {
            break;
        }
        while let Some(addr) = done.read() {
            tx_free.push(addr - addr % FRAME as u64);
        }
        done.release();
    }
}

/// The receive side of an [`XdpPort`] during a burst.
struct XdpRx<'a> {
    rx: &'a mut RingRx,
    area: RxArea<'a>,
    to_fill: &'a mut Vec<u64>,
    bad_descs: &'a mut u64,
    /// The most frames the burst takes.
    max: usize,
    /// Frames taken so far.
    got: usize,
}

impl Receive for XdpRx<'_> {
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        let before = self.got;
        while self.got < self.max {
            let want = u32::try_from(self.max - self.got).unwrap_or(u32::MAX);
            let mut batch = self.rx.receive(want);
            if batch.capacity() == 0 {
                break;
            }
            while let Some(desc) = batch.read() {
                // SAFETY: the kernel handed this frame over on the rx ring and it goes
                // back to the fill ring only in `refill`, after the burst has ended
                // and the slice is gone (see the module's ownership notes).
                match unsafe { self.area.bytes(desc.addr, desc.len) } {
                    Some(frame) => {
                        f(frame);
                        self.got += 1;
                        self.to_fill.push(desc.addr - desc.addr % FRAME as u64);
                    }
                    None => *self.bad_descs += 1,
                }
            }
            batch.release();
        }
        self.got - before
    }
}

/// The transmit side of an [`XdpPort`] (the whole port's, or lent during a burst).
struct XdpTx<'a> {
    tx: &'a mut RingTx,
    device: &'a mut DeviceQueue,
    tx_free: &'a mut Vec<u64>,
    area: TxArea<'a>,
    no_buffer: &'a mut u64,
    frames: &'a mut u64,
}

impl Transmit for XdpTx<'_> {
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, _now: Instant, build: F) -> bool {
        if self.tx_free.is_empty() {
            reclaim(self.device, self.tx_free);
        }
        let Some(&offset) = self.tx_free.last() else {
            *self.no_buffer += 1;
            return false;
        };
        let mut slot = self.tx.transmit(1);
        if slot.capacity() == 0 {
            // Cannot happen while the tx ring holds every transmit frame; kept as a
            // refusal rather than a panic.
            *self.no_buffer += 1;
            return false;
        }
        // SAFETY: `offset` is on the free stack: user space owns the frame, and it
        // leaves the stack below in the same call that queues it, after `build`'s
        // borrow has ended.
        let Some(buf) = (unsafe { self.area.frame_mut(offset) }) else {
            *self.no_buffer += 1;
            return false;
        };
        let len = build(buf);
        debug_assert!(len <= FRAME, "frame of {len} bytes exceeds MAX_FRAME");
        let len = len.min(FRAME);
        if len == 0 {
            // Dropping the uncommitted slot cancels it; the frame stays free.
            return true;
        }
        slot.insert_once(XdpDesc {
            addr: offset,
            len: len as u32,
            options: 0,
        });
        slot.commit();
        self.tx_free.pop();
        *self.frames += 1;
        true
    }
}

/// Create a socket on the area, map its four rings and bind it with `flags`,
/// retrying while the queue is busy.
fn bind_socket(
    area: &UmemArea,
    ifindex: u32,
    queue: u32,
    layout: Layout,
    cfg: &XdpConfig,
    flags: u16,
) -> Result<Bound, XdpError> {
    let umem = area.register(UmemConfig {
        fill_size: layout.rx_ring,
        complete_size: layout.tx_ring,
        frame_size: FRAME as u32,
        headroom: 0,
        flags: 0,
    })?;
    let mut info = IfInfo::invalid();
    info.from_ifindex(ifindex)
        .map_err(|e| XdpError::socket_errno("name the interface", &e))?;
    info.set_queue(queue);
    let sock = Socket::with_shared(&info, &umem)
        .map_err(|e| XdpError::socket_errno("create the socket", &e))?;
    sys::set_cloexec(sock.as_raw_fd()).map_err(|e| XdpError::socket("set close-on-exec", e))?;
    let device = umem
        .fq_cq(&sock)
        .map_err(|e| XdpError::socket_errno("create the fill and completion rings", &e))?;
    let user = umem
        .rx_tx(
            &sock,
            &SocketConfig {
                rx_size: NonZeroU32::new(layout.rx_ring),
                tx_size: NonZeroU32::new(layout.tx_ring),
                bind_flags: flags,
            },
        )
        .map_err(|e| XdpError::socket_errno("create the rx and tx rings", &e))?;
    let rx = user
        .map_rx()
        .map_err(|e| XdpError::socket_errno("map the rx ring", &e))?;
    let tx = user
        .map_tx()
        .map_err(|e| XdpError::socket_errno("map the tx ring", &e))?;

    let tx_skb_budget = if cfg.tx_skb_budget == 0 || layout.tx_ring < sys::TX_BATCH_SIZE {
        None
    } else {
        let budget = cfg.tx_skb_budget.clamp(sys::TX_BATCH_SIZE, layout.tx_ring);
        match sys::set_tx_skb_budget(user.as_raw_fd(), budget) {
            Ok(true) => Some(budget),
            Ok(false) => None,
            Err(e) => return Err(XdpError::socket("set XDP_MAX_TX_SKB_BUDGET", e)),
        }
    };

    let started = StdInstant::now();
    let mut busy_retries = 0;
    loop {
        match umem.bind(&user) {
            Ok(()) => break,
            Err(errno)
                if errno.get_raw().abs() == libc::EBUSY
                    && started.elapsed() < cfg.bind_busy_timeout =>
            {
                busy_retries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(errno) => return Err(XdpError::socket_errno("bind", &errno)),
        }
    }
    // The Umem handle only builds; the kernel's UMEM lives with the socket, which the
    // rings keep open.
    drop(umem);
    Ok(Bound {
        rx,
        tx,
        device,
        user,
        tx_skb_budget,
        busy_retries,
    })
}

impl Transmit for XdpPort {
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.halves(0).1.tx(now, build)
    }
}

impl Port for XdpPort {
    /// Takes frames off the rx ring as `b` reads them (up to `max`), then gives
    /// them back to the fill ring and wakes the kernel if it asks to be.
    fn burst<B: Burst>(&mut self, _now: Instant, max: usize, b: B) -> B::Out {
        let (mut rx, mut tx) = self.halves(max);
        let out = b.run(&mut rx, &mut tx);
        let got = rx.got;
        self.counters.rx_frames += got as u64;
        self.refill();
        if self.device.needs_wakeup() {
            self.device.wake();
            self.counters.rx_wakeups += 1;
        }
        out
    }

    fn flush(&mut self, _now: Instant) {
        let copy = self.mode.bind == BindMode::Copy;
        let mut kicks = 0;
        while self.tx.pending() > 0 && (copy || self.tx.needs_wakeup()) {
            if kicks == self.max_kicks {
                self.counters.tx_kick_limit_hit += 1;
                break;
            }
            kicks += 1;
            self.counters.tx_kicks += 1;
            match sys::kick_tx(self.fd) {
                // Copy mode moved up to one budget; loop while more is queued. Zero-copy
                // only needed the wakeup.
                Ok(()) if copy => {}
                Ok(()) => break,
                Err(libc::EAGAIN) => {
                    self.counters.tx_kicks_again += 1;
                    self.reclaim();
                }
                Err(_) => {
                    self.counters.tx_kick_errors += 1;
                    break;
                }
            }
        }
        self.reclaim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(frames: u32, rx_frames: u32) -> Result<Layout, XdpError> {
        Layout::new(&XdpConfig {
            frames,
            rx_frames,
            ..XdpConfig::default()
        })
    }

    #[test]
    fn rings_hold_their_whole_share() {
        let l = layout(4096, 2048).expect("the default splits");
        assert_eq!(
            (l.rx_frames, l.tx_frames, l.rx_ring, l.tx_ring),
            (2048, 2048, 2048, 2048)
        );
        let l = layout(1000, 300).expect("uneven shares");
        assert_eq!(
            (l.rx_frames, l.tx_frames, l.rx_ring, l.tx_ring),
            (300, 700, 512, 1024)
        );
    }

    #[test]
    fn both_shares_must_have_a_frame() {
        assert!(matches!(layout(4096, 0), Err(XdpError::Config(_))));
        assert!(matches!(layout(4096, 4096), Err(XdpError::Config(_))));
        assert!(matches!(layout(0, 0), Err(XdpError::Config(_))));
    }

    #[test]
    fn ports_move_between_threads() {
        fn send<T: Send>() {}
        send::<XdpPort>();
        send::<Arc<XdpProgram>>();
    }
}
