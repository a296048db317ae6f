//! Handing frames to the worker that owns their connection.
//!
//! With several queues, the DUT picks the queue of each reply by its own flow hash,
//! so a frame often arrives at a worker that does not own its connection. Client
//! workers own disjoint source-port ranges, so the owner of a frame is a pure
//! function of its destination port: [`PortOwners::owner`], one subtraction and one
//! division, no table. [`HandoffPort`] wraps a worker's port: frames it owns pass
//! through; others are copied into the owner's bounded inbox (a crossbeam
//! `ArrayQueue` of buffers taken from a preallocated pool), and the owner receives
//! them with its own burst. A full inbox or an empty pool drops the frame and counts
//! it; TCP retransmission recovers it like any loss.
//!
//! Server workers (`serve --io xdp`) cannot own port ranges: the client picks the
//! ports. A peer's kernel keeps a flow on one queue until it re-hashes it (Linux
//! does on a retransmission timeout, and on some duplicate ACKs), and a frame that
//! then reaches a worker without its connection would be answered with an RST. So
//! their owner is a function of the client's port, its source port modulo the
//! number of workers ([`RemotePortOwners`]): ephemeral ports come in sequence, so
//! the connections spread evenly.

use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use super::memory::HANDOFF_FRAMES;
use crate::io::{Burst, MAX_FRAME, Port, Receive, Transmit};
use crate::time::Instant;

/// Which worker owns which source ports: worker `w` owns
/// `lo + w·chunk ..= lo + (w+1)·chunk − 1` (the last worker also owns the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortOwners {
    /// Lowest port of the whole range.
    pub lo: u16,
    /// Highest port of the whole range.
    pub hi: u16,
    /// Ports per worker.
    pub chunk: u32,
    /// Number of workers.
    pub workers: u32,
}

impl PortOwners {
    /// Split `lo..=hi` among `workers` (at least one port each).
    pub fn new(lo: u16, hi: u16, workers: u32) -> Option<PortOwners> {
        let n = (hi as u32).checked_sub(lo as u32)? + 1;
        if workers == 0 || n < workers {
            return None;
        }
        Some(PortOwners {
            lo,
            hi,
            chunk: n / workers,
            workers,
        })
    }

    /// The ports of worker `w`.
    pub fn range(&self, w: u32) -> (u16, u16) {
        let lo = self.lo as u32 + w * self.chunk;
        let hi = if w + 1 == self.workers {
            self.hi as u32
        } else {
            lo + self.chunk - 1
        };
        (lo as u16, hi as u16)
    }

    /// The worker owning local port `port` (`None` outside the range).
    #[inline]
    pub fn owner(&self, port: u16) -> Option<u32> {
        let off = (port as u32).checked_sub(self.lo as u32)?;
        if port > self.hi {
            return None;
        }
        Some((off / self.chunk).min(self.workers - 1))
    }
}

/// Which worker owns the connection of a received frame (`None`: the frame is not
/// TCP over IPv4, and the worker that received it keeps it).
pub trait FrameOwner: Copy {
    /// The owner of `frame`'s connection.
    fn owner_of(&self, frame: &[u8]) -> Option<u32>;
}

impl FrameOwner for PortOwners {
    /// The owner of the frame's destination port (a client's own port).
    #[inline]
    fn owner_of(&self, frame: &[u8]) -> Option<u32> {
        tcp_ports(frame).and_then(|(_, dst)| self.owner(dst))
    }
}

/// Server workers' owners: worker `source port mod workers` owns a connection (the
/// source port of a received frame is the client's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemotePortOwners {
    /// Number of workers (at least one).
    pub workers: u32,
}

impl FrameOwner for RemotePortOwners {
    #[inline]
    fn owner_of(&self, frame: &[u8]) -> Option<u32> {
        tcp_ports(frame).map(|(src, _)| u32::from(src) % self.workers.max(1))
    }
}

/// A frame in transit between workers.
pub struct HandoffBuf {
    len: u16,
    data: [u8; MAX_FRAME],
}

/// One worker's inbox, and the pool its buffers come from.
pub struct Inbox {
    queue: ArrayQueue<Box<HandoffBuf>>,
    pool: ArrayQueue<Box<HandoffBuf>>,
}

impl Inbox {
    /// An inbox of `capacity` frames, its buffers all allocated now.
    pub fn new(capacity: usize) -> Arc<Inbox> {
        let pool = ArrayQueue::new(capacity);
        for _ in 0..capacity {
            let _ = pool.push(Box::new(HandoffBuf {
                len: 0,
                data: [0; MAX_FRAME],
            }));
        }
        Arc::new(Inbox {
            queue: ArrayQueue::new(capacity),
            pool,
        })
    }

    /// One inbox per worker of `workers`: of [`HANDOFF_FRAMES`] frames each when
    /// there are several, of one frame for a lone worker (which hands nothing).
    pub fn for_workers(workers: usize) -> Vec<Arc<Inbox>> {
        let capacity = if workers > 1 {
            HANDOFF_FRAMES as usize
        } else {
            1
        };
        (0..workers).map(|_| Inbox::new(capacity)).collect()
    }
}

/// Handoff counters of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandoffStats {
    /// Frames this worker received for another and handed over.
    pub handed_out: u64,
    /// Frames another worker handed to this one.
    pub handed_in: u64,
    /// Frames dropped because the owner's inbox was full or its pool empty.
    pub dropped: u64,
}

impl HandoffStats {
    /// Adds another worker's counters (the workers' make one report).
    pub fn add(&mut self, other: &HandoffStats) {
        self.handed_out += other.handed_out;
        self.handed_in += other.handed_in;
        self.dropped += other.dropped;
    }
}

/// The source and destination TCP ports of an Ethernet + IPv4 + TCP frame, if it
/// is one.
#[inline]
fn tcp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 34 || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 6 {
        return None;
    }
    let ihl = (frame[14] & 0x0f) as usize * 4;
    let at = 14 + ihl;
    let b = frame.get(at..at + 4)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// A worker's port that hands other workers' frames to them.
pub struct HandoffPort<P: Port, O: FrameOwner = PortOwners> {
    inner: P,
    me: u32,
    owners: O,
    inboxes: Vec<Arc<Inbox>>,
    /// Counters.
    pub stats: HandoffStats,
}

impl<P: Port, O: FrameOwner> HandoffPort<P, O> {
    /// Worker `me` of `inboxes.len()`, owning connections as `owners` says.
    pub fn new(inner: P, me: u32, owners: O, inboxes: Vec<Arc<Inbox>>) -> Self {
        HandoffPort {
            inner,
            me,
            owners,
            inboxes,
            stats: HandoffStats::default(),
        }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

/// The frames of a burst that this worker owns: the inner port's less those
/// handed to their owners, then what the others handed to this one, at most `max`
/// in all (the burst has a slot for `max` frames: a frame beyond them would be
/// dropped as if invalid; what is not taken now waits in the inbox).
struct HandoffFrames<'a, R, O> {
    inner: &'a mut R,
    me: u32,
    owners: O,
    inboxes: &'a [Arc<Inbox>],
    stats: &'a mut HandoffStats,
    max: usize,
}

impl<R: Receive, O: FrameOwner> Receive for HandoffFrames<'_, R, O> {
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        let (me, owners) = (self.me, self.owners);
        let inboxes = self.inboxes;
        let stats = &mut *self.stats;
        let mut own = 0usize;
        let mut n = self.inner.each(|frame| match owners.owner_of(frame) {
            Some(w) if w != me => {
                let inbox = &inboxes[w as usize];
                match inbox.pool.pop() {
                    Some(mut buf) => {
                        let len = frame.len().min(MAX_FRAME);
                        buf.data[..len].copy_from_slice(&frame[..len]);
                        buf.len = len as u16;
                        match inbox.queue.push(buf) {
                            Ok(()) => stats.handed_out += 1,
                            Err(buf) => {
                                let _ = inbox.pool.push(buf);
                                stats.dropped += 1;
                            }
                        }
                    }
                    None => stats.dropped += 1,
                }
            }
            _ => {
                own += 1;
                f(frame)
            }
        });
        // Then what the others handed to us, into the slots left.
        let mine = &self.inboxes[me as usize];
        for _ in own..std::mem::take(&mut self.max) {
            let Some(buf) = mine.queue.pop() else { break };
            f(&buf.data[..buf.len as usize]);
            self.stats.handed_in += 1;
            n += 1;
            let _ = mine.pool.push(buf);
        }
        n
    }
}

/// A burst run on the frames this worker owns ([`HandoffFrames`]).
struct HandoffBurst<'a, B, O> {
    burst: B,
    me: u32,
    owners: O,
    inboxes: &'a [Arc<Inbox>],
    stats: &'a mut HandoffStats,
    max: usize,
}

impl<B: Burst, O: FrameOwner> Burst for HandoffBurst<'_, B, O> {
    type Out = B::Out;
    #[inline(always)]
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, tx: &mut T) -> B::Out {
        let mut rx = HandoffFrames {
            inner: rx,
            me: self.me,
            owners: self.owners,
            inboxes: self.inboxes,
            stats: self.stats,
            max: self.max,
        };
        self.burst.run(&mut rx, tx)
    }
}

impl<P: Port, O: FrameOwner> Transmit for HandoffPort<P, O> {
    #[inline]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.inner.tx(now, build)
    }
}

impl<P: Port, O: FrameOwner> Port for HandoffPort<P, O> {
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out {
        let burst = HandoffBurst {
            burst: b,
            me: self.me,
            owners: self.owners,
            inboxes: &self.inboxes,
            stats: &mut self.stats,
            max,
        };
        self.inner.burst(now, max, burst)
    }

    #[inline]
    fn flush(&mut self, now: Instant) {
        self.inner.flush(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal Ethernet + IPv4 + TCP frame from port `src` to port `dst`.
    fn tcp_frame(src: u16, dst: u16) -> [u8; 60] {
        let mut f = [0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 6;
        f[34..36].copy_from_slice(&src.to_be_bytes());
        f[36..38].copy_from_slice(&dst.to_be_bytes());
        f
    }

    #[test]
    fn owners_split_the_range_and_find_each_port() {
        let o = PortOwners::new(1024, 65535, 2).unwrap();
        assert_eq!(o.range(0), (1024, 33279));
        assert_eq!(o.range(1), (33280, 65535));
        assert_eq!(o.owner(1024), Some(0));
        assert_eq!(o.owner(33279), Some(0));
        assert_eq!(o.owner(33280), Some(1));
        assert_eq!(o.owner(65535), Some(1));
        assert_eq!(o.owner(80), None);
        let o3 = PortOwners::new(10, 20, 3).unwrap();
        assert_eq!(o3.range(2), (16, 20));
        for p in 10..=20 {
            let w = o3.owner(p).unwrap();
            let (lo, hi) = o3.range(w);
            assert!(lo <= p && p <= hi, "{p} → {w}");
        }
        assert!(PortOwners::new(10, 11, 3).is_none());
    }

    #[test]
    fn frames_reach_their_owner_through_the_inbox() {
        use crate::io::mem::{MemWire, MemWireConfig};
        let owners = PortOwners::new(1000, 1999, 2).unwrap();
        let inboxes = vec![Inbox::new(8), Inbox::new(8)];
        let mut wire = MemWire::new(MemWireConfig {
            frames: 64,
            ..Default::default()
        });
        let now = Instant::ZERO;
        for p in [1001u16, 1501, 1502] {
            let f = tcp_frame(1, p);
            wire.port_b().tx(now, |buf| {
                buf[..60].copy_from_slice(&f);
                60
            });
        }
        let mut w0 = HandoffPort::new(wire.port_a(), 0, owners, inboxes.clone());
        let mut got0 = Vec::new();
        w0.rx_burst(now, 64, |f| got0.push(tcp_ports(f).unwrap().1));
        assert_eq!(got0, [1001]);
        assert_eq!(w0.stats.handed_out, 2);
        let mut wire2 = MemWire::new(MemWireConfig {
            frames: 8,
            ..Default::default()
        });
        let mut w1 = HandoffPort::new(wire2.port_a(), 1, owners, inboxes);
        let mut got1 = Vec::new();
        w1.rx_burst(now, 64, |f| got1.push(tcp_ports(f).unwrap().1));
        assert_eq!(got1, [1501, 1502]);
        assert_eq!(w1.stats.handed_in, 2);
    }

    #[test]
    fn a_server_worker_owns_the_client_ports_equal_to_its_index_modulo_the_workers() {
        let two = RemotePortOwners { workers: 2 };
        let three = RemotePortOwners { workers: 3 };
        for src in [0u16, 1, 32768, 40001, 60999, 65535] {
            assert_eq!(two.owner_of(&tcp_frame(src, 80)), Some(u32::from(src) % 2));
            assert_eq!(
                three.owner_of(&tcp_frame(src, 80)),
                Some(u32::from(src) % 3)
            );
        }
        // Sequential ephemeral ports alternate.
        let owners: Vec<_> = (40000..40004)
            .map(|p| two.owner_of(&tcp_frame(p, 80)).unwrap())
            .collect();
        assert_eq!(owners, [0, 1, 0, 1]);
        // Not TCP over IPv4 (an ARP frame): kept by the worker that received it.
        let mut arp = tcp_frame(1, 80);
        arp[13] = 0x06;
        assert_eq!(two.owner_of(&arp), None);
        // The client's owners read the destination port instead.
        let client = PortOwners::new(1000, 1999, 2).unwrap();
        assert_eq!(client.owner_of(&tcp_frame(80, 1600)), Some(1));
    }

    /// A burst has `max` slots: what was handed in fills those its own frames left,
    /// and the rest waits in the inbox for the next burst (it used to be given
    /// beyond them, where the engine counted it invalid and dropped it).
    #[test]
    fn a_burst_takes_at_most_max_frames_and_the_inbox_keeps_the_rest() {
        use crate::io::mem::{MemWire, MemWireConfig};
        let owners = PortOwners::new(1000, 1999, 2).unwrap();
        let inboxes = vec![Inbox::new(8), Inbox::new(8)];
        let now = Instant::ZERO;
        let send = |wire: &mut MemWire, ports: &[u16]| {
            for &p in ports {
                let f = tcp_frame(1, p);
                wire.port_b().tx(now, |buf| {
                    buf[..60].copy_from_slice(&f);
                    60
                });
            }
        };
        // Worker 0 hands three frames to worker 1.
        let mut wire0 = MemWire::new(MemWireConfig {
            frames: 64,
            ..Default::default()
        });
        send(&mut wire0, &[1501, 1502, 1503]);
        let mut w0 = HandoffPort::new(wire0.port_a(), 0, owners, inboxes.clone());
        w0.rx_burst(now, 64, |_| panic!("nothing is worker 0's"));
        assert_eq!(w0.stats.handed_out, 3);
        // Worker 1 has two of its own, in bursts of at most 4.
        let mut wire1 = MemWire::new(MemWireConfig {
            frames: 64,
            ..Default::default()
        });
        send(&mut wire1, &[1601, 1602]);
        let mut w1 = HandoffPort::new(wire1.port_a(), 1, owners, inboxes);
        let mut got = Vec::new();
        w1.rx_burst(now, 4, |f| got.push(tcp_ports(f).unwrap().1));
        assert_eq!(
            got,
            [1601, 1602, 1501, 1502],
            "its own first, then two handed in"
        );
        got.clear();
        w1.rx_burst(now, 4, |f| got.push(tcp_ports(f).unwrap().1));
        assert_eq!(got, [1503], "the third waited in the inbox");
        assert_eq!(w1.stats.handed_in, 3);
    }
}
