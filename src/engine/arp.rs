//! ARP at the edge of a worker: a [`Port`] wrapper that answers ARP requests for
//! our own addresses and remembers who asked, and passes every other frame through.
//!
//! The XDP program redirects every frame of the queue to the AF_XDP socket, so the
//! kernel of the namespace never sees ARP: synfin must answer for its source
//! addresses (so a DUT without static neighbour entries can reach them) and, as a
//! server, for its service address. Checking a frame costs two byte loads (the
//! EtherType); ARP itself is rare.

use std::net::Ipv4Addr;

use crate::io::{Burst, Port, Receive, Transmit};
use crate::time::Instant;
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::EthernetAddress;
use crate::wire::frame::{Frame, classify};

/// Most ARP answers queued within one receive burst.
const MAX_PENDING: usize = 16;

/// A port that answers ARP for an address range and hands everything else on.
pub struct ArpResponder<P: Port> {
    inner: P,
    mac: EthernetAddress,
    first: u32,
    count: u32,
    pending: [Option<ArpRepr>; MAX_PENDING],
    /// Requests answered.
    pub answered: u64,
    /// ARP frames that were not requests for us (replies, others' requests).
    pub ignored: u64,
    /// The hardware address of the last host that asked us, if any.
    pub last_asker: Option<EthernetAddress>,
}

impl<P: Port> ArpResponder<P> {
    /// Answer for `count` addresses from `first` with `mac`.
    pub fn new(inner: P, mac: EthernetAddress, first: Ipv4Addr, count: u32) -> Self {
        ArpResponder {
            inner,
            mac,
            first: u32::from(first),
            count,
            pending: [None; MAX_PENDING],
            answered: 0,
            ignored: 0,
            last_asker: None,
        }
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped port, mutably.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    #[inline]
    fn ours(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip).wrapping_sub(self.first) < self.count
    }
}

/// The frames of a burst less the ARP frames, which it answers (queues the
/// answers in `pending`) or counts.
struct ArpFilter<'a, R> {
    inner: &'a mut R,
    first: u32,
    count: u32,
    mac: EthernetAddress,
    pending: &'a mut [Option<ArpRepr>; MAX_PENDING],
    answered: u64,
    ignored: u64,
    asker: Option<EthernetAddress>,
}

impl<R: Receive> Receive for ArpFilter<'_, R> {
    #[inline]
    fn each<F: FnMut(&[u8])>(&mut self, mut f: F) -> usize {
        let (first, count, mac) = (self.first, self.count, self.mac);
        let pending = &mut *self.pending;
        let (answered, ignored, asker) = (&mut self.answered, &mut self.ignored, &mut self.asker);
        self.inner.each(|frame| {
            // EtherType 0x0806 at bytes 12..14.
            if frame.len() >= 14 && frame[12] == 0x08 && frame[13] == 0x06 {
                match classify(frame, false) {
                    Ok(Frame::Arp(arp, _))
                        if arp.operation == ArpOperation::Request
                            && u32::from(arp.target_protocol_addr).wrapping_sub(first) < count =>
                    {
                        *asker = Some(arp.source_hardware_addr);
                        if let Some(slot) = pending.iter_mut().find(|p| p.is_none()) {
                            *slot = Some(arp.answer(mac));
                            *answered += 1;
                        }
                    }
                    _ => *ignored += 1,
                }
                return;
            }
            f(frame)
        })
    }
}

/// A burst run on the frames that are not ARP; gives back what it gave and the
/// filter's counts.
struct ArpBurst<'a, B> {
    burst: B,
    first: u32,
    count: u32,
    mac: EthernetAddress,
    pending: &'a mut [Option<ArpRepr>; MAX_PENDING],
}

impl<B: Burst> Burst for ArpBurst<'_, B> {
    type Out = (B::Out, u64, u64, Option<EthernetAddress>);
    #[inline(always)]
    fn run<R: Receive, T: Transmit>(self, rx: &mut R, tx: &mut T) -> Self::Out {
        let mut rx = ArpFilter {
            inner: rx,
            first: self.first,
            count: self.count,
            mac: self.mac,
            pending: self.pending,
            answered: 0,
            ignored: 0,
            asker: None,
        };
        let out = self.burst.run(&mut rx, tx);
        (out, rx.answered, rx.ignored, rx.asker)
    }
}

impl<P: Port> Transmit for ArpResponder<P> {
    #[inline]
    fn tx<F: FnOnce(&mut [u8]) -> usize>(&mut self, now: Instant, build: F) -> bool {
        self.inner.tx(now, build)
    }
}

impl<P: Port> Port for ArpResponder<P> {
    /// ARP frames are answered once the burst is over (queued meanwhile), and
    /// flushed at once.
    fn burst<B: Burst>(&mut self, now: Instant, max: usize, b: B) -> B::Out {
        let burst = ArpBurst {
            burst: b,
            first: self.first,
            count: self.count,
            mac: self.mac,
            pending: &mut self.pending,
        };
        let (out, answered, ignored, asker) = self.inner.burst(now, max, burst);
        self.answered += answered;
        self.ignored += ignored;
        if asker.is_some() {
            self.last_asker = asker;
        }
        if answered > 0 {
            for slot in self.pending.iter_mut() {
                if let Some(reply) = slot.take() {
                    self.inner.tx(now, |buf| reply.emit_frame(buf).unwrap_or(0));
                }
            }
            self.inner.flush(now);
        }
        out
    }

    #[inline]
    fn flush(&mut self, now: Instant) {
        self.inner.flush(now)
    }
}

impl<P: Port> ArpResponder<P> {
    /// Whether `ip` is one of the addresses answered for.
    pub fn answers_for(&self, ip: Ipv4Addr) -> bool {
        self.ours(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::mem::{MemWire, MemWireConfig};

    #[test]
    fn answers_requests_for_its_range_and_passes_the_rest() {
        let mut wire = MemWire::new(MemWireConfig {
            frames: 64,
            ..Default::default()
        });
        let asker = EthernetAddress([2, 0, 0, 0, 0, 9]);
        let ours = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let now = Instant::ZERO;
        let ask = |target: [u8; 4]| ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: asker,
            source_protocol_addr: Ipv4Addr::new(198, 19, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::from(target),
        };
        {
            let mut b = wire.port_b();
            for t in [[198, 18, 1, 5], [198, 18, 2, 5]] {
                let r = ask(t);
                b.tx(now, |buf| r.emit_frame(buf).unwrap());
            }
            b.tx(now, |buf| {
                buf[..14].copy_from_slice(&[0xff; 14]);
                buf[12] = 0x08;
                buf[13] = 0x00;
                60
            });
        }
        {
            let mut a = ArpResponder::new(wire.port_a(), ours, Ipv4Addr::new(198, 18, 1, 0), 64);
            let mut passed = 0;
            a.rx_burst(now, 64, |_| passed += 1);
            assert_eq!((a.answered, a.ignored, passed), (1, 1, 1));
            assert_eq!(a.last_asker, Some(asker));
        }
        let mut replies = Vec::new();
        wire.port_b()
            .rx_burst(now, 64, |f| replies.push(classify(f, false).unwrap()));
        match replies.as_slice() {
            [Frame::Arp(r, _)] => {
                assert_eq!(r.operation, ArpOperation::Reply);
                assert_eq!(r.source_hardware_addr, ours);
                assert_eq!(r.source_protocol_addr, Ipv4Addr::new(198, 18, 1, 5));
                assert_eq!(r.target_hardware_addr, asker);
            }
            other => panic!("{other:?}"),
        }
    }
}
