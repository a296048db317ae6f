//! The server worker: the built-in responder. It listens on one port, accepts any
//! SYN, reads the request, sends the response, and closes as configured. It closes
//! the loop for `--io mem` and serves as a DUT made of the same engine.

use super::core::{
    Core, FlowIndex, Macs, NO_HINT, Output, RxSeg, RxSegs, TW_BIT, Tx, receive_burst, rx_segs,
};
use super::flow_table::{FlowKey, FlowTable};
use super::tuple_index::TupleIndex;
use crate::io::{Port, Transmit};
use crate::stats::Recorder;
use crate::tcp::listen::{self, NoConnReply};
use crate::tcp::{Conn, Event, Sink, TcpConfig, TcpParams};
use crate::time::Instant;

/// What a server listens on and how big its tables are.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The listening address (host order); 0 accepts any.
    pub ip: u32,
    /// The listening port.
    pub port: u16,
    /// Most connections open at once.
    pub max_conns: usize,
    /// Most TIME-WAIT records (when the server closes first).
    pub tw_cap: usize,
    /// Verify checksums of received frames.
    pub verify_checksums: bool,
    /// Secret for ISNs and timestamp offsets.
    pub secret: u64,
}

/// The server's index: a 4-tuple hash table, and, when the peers' source range is
/// known ([`ServerWorker::index_peers`]), a direct index of that range in front of
/// it, as the client has.
pub struct ServerIndex {
    table: FlowTable,
    /// Always there, so that no segment tests whether it is: a server that does
    /// not know its peers' range has one of no tuple ([`PeerIndex::none`]), in
    /// which no key lies.
    direct: PeerIndex,
}

/// The direct index of a known range of peer tuples, all to one local address and
/// port.
struct PeerIndex {
    tuples: TupleIndex,
    src_first: u32,
    local_ip: u32,
    local_port: u16,
}

impl PeerIndex {
    /// The direct index of no tuple.
    fn none() -> PeerIndex {
        PeerIndex {
            tuples: TupleIndex::new(0, 0, 0),
            src_first: 0,
            local_ip: 0,
            local_port: 0,
        }
    }

    /// The array index of `key`, if it lies in the range.
    #[inline(always)]
    fn slot(&self, key: &FlowKey) -> Option<usize> {
        if key.local_ip != self.local_ip || key.local_port != self.local_port {
            return None;
        }
        self.tuples
            .index_of(key.remote_ip.wrapping_sub(self.src_first), key.remote_port)
    }
}

impl PeerIndex {
    /// The slot and value of `key` in the direct index (the value possibly
    /// [`TupleIndex::EMPTY`]), if it lies in the range.
    #[inline(always)]
    fn find(&self, key: &FlowKey) -> Option<(usize, u32)> {
        if key.local_ip != self.local_ip || key.local_port != self.local_port {
            return None;
        }
        self.tuples
            .find(key.remote_ip.wrapping_sub(self.src_first), key.remote_port)
    }
}

impl ServerIndex {
    /// The value filed under `key`.
    #[cfg(test)]
    fn get(&self, key: &FlowKey) -> Option<u32> {
        let v = self.find(key).0;
        (v != TupleIndex::EMPTY).then_some(v)
    }

    /// The value filed under `key` ([`TupleIndex::EMPTY`] if none: it has
    /// [`TW_BIT`] set, so a caller that tests the bit first finds a control block
    /// with one test), and the key's slot in the direct index if it has one
    /// (where [`set_hinted`](FlowIndex::set_hinted) files it).
    #[inline(always)]
    fn find(&self, key: &FlowKey) -> (u32, Option<usize>) {
        const _: () = assert!(TupleIndex::EMPTY & TW_BIT != 0);
        if let Some((i, v)) = self.direct.find(key) {
            return (v, Some(i));
        }
        // (No table value is EMPTY: slots and records are numbered below 2^31.)
        (self.table.get(key).unwrap_or(TupleIndex::EMPTY), None)
    }
}

impl FlowIndex for ServerIndex {
    type Key = FlowKey;
    #[inline]
    fn endpoints(&self, k: FlowKey) -> (u32, u16, u32, u16) {
        (k.local_ip, k.local_port, k.remote_ip, k.remote_port)
    }
    #[inline(always)]
    fn set(&mut self, key: FlowKey, value: u32) {
        if let Some(i) = self.direct.slot(&key) {
            self.direct.tuples.set(i, value);
            return;
        }
        self.table_set(key, value);
    }
    #[inline(always)]
    fn set_hinted(&mut self, key: FlowKey, hint: u32, value: u32) {
        // The hint is the key's direct slot, from find().
        if hint != NO_HINT {
            self.direct.tuples.set(hint as usize, value);
            return;
        }
        self.set(key, value);
    }
    #[inline(always)]
    fn clear_hinted(&mut self, key: FlowKey, hint: u32) {
        if hint != NO_HINT {
            self.direct.tuples.set(hint as usize, TupleIndex::EMPTY);
            return;
        }
        self.clear(key);
    }
    #[inline(always)]
    fn clear(&mut self, key: FlowKey) {
        if let Some(i) = self.direct.slot(&key) {
            self.direct.tuples.set(i, TupleIndex::EMPTY);
            return;
        }
        self.table_clear(key);
    }
}

impl ServerIndex {
    /// [`FlowIndex::set`] of a key outside the direct index (out of line: the
    /// direct index is the usual case when there is one).
    #[inline(never)]
    fn table_set(&mut self, key: FlowKey, value: u32) {
        // The table is sized for every slot of both tables; it cannot be full.
        let _ = self.table.insert(key, value);
    }

    /// [`FlowIndex::clear`] of a key outside the direct index.
    #[inline(never)]
    fn table_clear(&mut self, key: FlowKey) {
        self.table.remove(&key);
    }
}

/// One server worker.
pub struct ServerWorker {
    /// Table, timers, TIME-WAIT.
    pub core: Core<FlowKey>,
    /// Counters, the response, frame templates.
    pub out: Output,
    index: ServerIndex,
    cfg: ServerConfig,
    /// The burst's segments (out only while they are dispatched).
    rx: Option<RxSegs>,
    /// SYNs dropped because the table was full (a listen overflow).
    pub listen_overflows: u64,
}

impl ServerWorker {
    /// A server worker; everything it needs is allocated here.
    pub fn new(tcp: TcpConfig, cfg: ServerConfig, macs: Macs, response: Vec<u8>) -> Self {
        let table =
            FlowTable::with_capacity(cfg.max_conns + cfg.tw_cap.max(1), cfg.secret ^ 0x5eed);
        ServerWorker {
            core: Core::new(tcp, cfg.max_conns, cfg.tw_cap.max(1), cfg.secret),
            out: Output::new(response, macs),
            index: ServerIndex {
                table,
                direct: PeerIndex::none(),
            },
            cfg,
            rx: Some(rx_segs()),
            listen_overflows: 0,
        }
    }

    /// Most tuples [`index_peers`](Self::index_peers) indexes directly (64 MiB).
    const MAX_DIRECT_TUPLES: u64 = 1 << 24;

    /// How many tuples [`index_peers`](Self::index_peers) would index directly for a
    /// server of `cfg` (0: it would not index), for the memory budget.
    pub fn peer_index_tuples(
        cfg: &ServerConfig,
        src_count: u32,
        port_lo: u16,
        port_hi: u16,
    ) -> u64 {
        let tuples = u64::from(src_count) * (u64::from(port_hi.saturating_sub(port_lo)) + 1);
        if cfg.ip == 0 || port_lo > port_hi || tuples > Self::MAX_DIRECT_TUPLES {
            0
        } else {
            tuples
        }
    }

    /// Index the tuples of peers in `src_count` addresses from `src_first`, ports
    /// `port_lo..=port_hi` directly (an array slot per tuple instead of a hash
    /// probe), as the client indexes its own; other peers still go through the
    /// hash table. For a server that knows its clients' range (the in-memory run).
    /// Does nothing for a server listening on any address, or for a range of more
    /// than 2^24 tuples. Call before the first segment.
    pub fn index_peers(&mut self, src_first: u32, src_count: u32, port_lo: u16, port_hi: u16) {
        if Self::peer_index_tuples(&self.cfg, src_count, port_lo, port_hi) == 0 {
            return;
        }
        self.index.direct = PeerIndex {
            tuples: TupleIndex::new(src_count, port_lo, port_hi),
            src_first,
            local_ip: self.cfg.ip,
            local_port: self.cfg.port,
        };
    }

    /// Send to `mac` from now on (a server that learns its peer's address after
    /// its tables were built: on a veth pair there is one peer).
    pub fn set_peer_mac(&mut self, mac: crate::wire::ethernet::EthernetAddress) {
        let local = self.out.templates.macs().local;
        self.out.templates = super::core::Templates::new(Macs { local, remote: mac });
    }

    /// The recorder (counters; the server records no latency).
    pub fn recorder(&self) -> &Recorder {
        &self.out.rec
    }

    /// The earliest timer, for a virtual clock.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.core.next_timer()
    }

    /// One burst: receive, fire timers, flush. One [`Tx`] serves the whole burst.
    pub fn step<P: Port>(&mut self, port: &mut P, now: Instant) -> usize {
        // Taken out for the burst (and put back) so that the segments are read in
        // place while the worker is borrowed.
        let mut rx = self.rx.take().expect("the burst's segments are back");
        let (n, kept) = receive_burst(
            port,
            now,
            &mut rx,
            &mut self.out.rec.counters,
            self.cfg.verify_checksums,
        );
        let mut tx = self.out.tx(port, now);
        let mut listener = Listener {
            core: &mut self.core,
            index: &mut self.index,
            cfg: &self.cfg,
            listen_overflows: &mut self.listen_overflows,
        };
        for f in &rx[..kept] {
            listener.on_frame(&mut tx, f);
        }
        self.rx = Some(rx);
        let mut work = n;
        work += self.core.poll_timers(&mut self.index, &mut tx);
        port.flush(now);
        work
    }
}

/// What the server's segment path works on, borrowed for a burst beside its
/// [`Tx`].
struct Listener<'a> {
    core: &'a mut Core<FlowKey>,
    index: &'a mut ServerIndex,
    cfg: &'a ServerConfig,
    listen_overflows: &'a mut u64,
}

impl Listener<'_> {
    #[inline(always)]
    fn on_frame<P: Transmit>(&mut self, tx: &mut Tx<'_, P>, f: &RxSeg) {
        let seg = &f.tcp;
        let key = FlowKey {
            remote_ip: f.src_ip,
            local_ip: f.dst_ip,
            remote_port: seg.src_port,
            local_port: seg.dst_port,
        };
        let (v, direct_slot) = self.index.find(&key);
        if v & TW_BIT == 0 {
            self.core.conn_segment(self.index, tx, v, seg);
            return;
        }
        if v != TupleIndex::EMPTY && !self.core.tw_segment(self.index, tx, v & !TW_BIT, seg) {
            return;
        }
        // Nothing filed, or RFC 6191: the SYN may open a new incarnation; go on as
        // LISTEN.
        let ours = self.cfg.ip == 0 || key.local_ip == self.cfg.ip;
        if !ours {
            // Not addressed to us: answering would send from an address we do not
            // own (a hostile peer's choice). Count it and say nothing.
            tx.rec.counters.rx_no_conn += 1;
            return;
        }
        let listening = seg.dst_port == self.cfg.port;
        let reply = if listening {
            listen::listen(seg)
        } else {
            listen::closed(seg)
        };
        match reply {
            NoConnReply::Drop => tx.rec.counters.rx_no_conn += 1,
            NoConnReply::Rst(rst) => {
                // (A RST carries no payload: the side's payload is not read.)
                tx.rec.counters.rx_no_conn += 1;
                tx.send(key.local_ip, key.remote_ip, &rst, 0);
                tx.event(Event::RstSent);
            }
            NoConnReply::Accept => {
                if self.core.open() >= self.core.conns.capacity() {
                    // A full table drops the SYN, as a full backlog does.
                    *self.listen_overflows += 1;
                    return;
                }
                tx.rec.counters.attempted += 1;
                let now = tx.now;
                let (lip, lport, rip, rport) =
                    (key.local_ip, key.local_port, key.remote_ip, key.remote_port);
                let (iss, off) = self.core.isn.isn_and_offset(lip, lport, rip, rport, now);
                let tcp_open = |c: &mut Conn, cfg: &TcpParams, tx: &mut Tx<'_, P>| {
                    c.open_passive(cfg, (lip, lport), (rip, rport), seg, iss, off, now, tx);
                };
                // Filed where the lookup found the key's direct slot, if it has one.
                let hint = direct_slot.map_or(NO_HINT, |slot| slot as u32);
                if self
                    .core
                    .open_conn_hinted(self.index, tx, key, hint, tcp_open)
                    .is_none()
                {
                    *self.listen_overflows += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_index_and_hash_table_hold_the_same_flows() {
        let mut idx = ServerIndex {
            table: FlowTable::with_capacity(64, 1),
            direct: PeerIndex::none(),
        };
        let mut direct = ServerIndex {
            table: FlowTable::with_capacity(64, 1),
            direct: PeerIndex {
                tuples: TupleIndex::new(2, 1024, 1100),
                src_first: 0xc612_0001,
                local_ip: 0xc613_0001,
                local_port: 80,
            },
        };
        let key = |rip: u32, rport: u16, lip: u32, lport: u16| FlowKey {
            remote_ip: rip,
            local_ip: lip,
            remote_port: rport,
            local_port: lport,
        };
        // In the range, and out of it by each field in turn.
        let keys = [
            key(0xc612_0001, 1024, 0xc613_0001, 80),
            key(0xc612_0002, 1100, 0xc613_0001, 80),
            key(0xc612_0003, 1024, 0xc613_0001, 80),
            key(0xc612_0000, 1024, 0xc613_0001, 80),
            key(0xc612_0001, 1101, 0xc613_0001, 80),
            key(0xc612_0001, 1023, 0xc613_0001, 80),
            key(0xc612_0001, 1024, 0xc613_0002, 80),
            key(0xc612_0001, 1024, 0xc613_0001, 81),
        ];
        for (v, k) in keys.iter().enumerate() {
            idx.set(*k, v as u32);
            direct.set(*k, v as u32);
        }
        let d = &direct.direct;
        assert_eq!(keys.iter().filter(|k| d.slot(k).is_some()).count(), 2);
        for k in &keys {
            assert_eq!(idx.get(k), direct.get(k));
            assert!(direct.get(k).is_some());
        }
        // Filing and clearing with the slot find gives as the hint (and with
        // no hint) is filing and clearing by key.
        for (v, k) in keys.iter().enumerate() {
            let hint = direct.find(k).1.map_or(NO_HINT, |s| s as u32);
            direct.set_hinted(*k, hint, 100 + v as u32);
            idx.set_hinted(*k, NO_HINT, 100 + v as u32);
            assert_eq!(direct.get(k), Some(100 + v as u32));
            assert_eq!(idx.get(k), direct.get(k));
            direct.clear_hinted(*k, hint);
            idx.clear_hinted(*k, NO_HINT);
            assert_eq!(direct.get(k), None);
            assert_eq!(idx.get(k), None);
            direct.set(*k, v as u32);
            idx.set(*k, v as u32);
        }
        for k in &keys[..4] {
            idx.clear(*k);
            direct.clear(*k);
        }
        for k in &keys {
            assert_eq!(idx.get(k), direct.get(k));
        }
        assert_eq!(direct.get(&keys[0]), None);
        assert_eq!(direct.get(&keys[7]), Some(7));
    }
}
