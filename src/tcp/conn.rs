//! The connection control block and its state machine (RFC 9293 §3.10), for both
//! the client side (active open, sends a request, counts the response) and the
//! server side (passive open, counts the request, sends the response).
//!
//! Sequence space of our side: the SYN at ISS, our application data (the request or
//! the response) at `ISS+1 .. ISS+1+tx_total`, then our FIN. Retransmission follows
//! RFC 6298: one timer, started when something is outstanding and none runs,
//! restarted when new data is acknowledged, doubled on expiry; after an RTO the
//! oldest unacknowledged segment is resent, and each partial ACK during recovery
//! resends the next one.

use super::timewait::{TimeWaitRecord, TwVerdict};
use super::{CloseMode, Event, FailCause, Phase, Role, Settings, Sink, State};
use crate::time::Instant;
use crate::wire::tcp::{
    OptionArea, SeqNumber, TcpFlags, TcpHeaderWords, TcpOptions, TcpRepr, Timestamps,
};

/// What the engine must do with a control block after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep it; re-arm its timer at [`Conn::deadline`] if that changed.
    Continue,
    /// It entered TIME-WAIT: replace it with [`Conn::time_wait_record`] and free it.
    TimeWait,
    /// It is finished (its outcome has been reported): free it.
    Closed,
}

/// Which timer a connection is waiting on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum TimerKind {
    /// No timer.
    #[default]
    None,
    /// Retransmission of the oldest unacknowledged segment (RFC 6298).
    Retransmit,
    /// Waiting for the peer with nothing of ours outstanding.
    Idle,
    /// 2·MSL in TIME-WAIT.
    TimeWait,
    /// An in-order segment not yet acknowledged, with nothing of ours
    /// outstanding: the ACK waits for a second segment, at most
    /// [`DELAYED_ACK_MS`] (RFC 9293 §3.8.6.3: under 0.5 s).
    DelayedAck,
}

/// How long a lone in-order segment's ACK waits for a second segment (Linux's
/// shortest delayed ACK).
pub const DELAYED_ACK_MS: u64 = 40;

/// Default MSS when the peer sends no MSS option (RFC 9293 §3.7.1).
const DEFAULT_MSS: u16 = 536;
/// Largest window scale shift (RFC 7323 §2.3).
pub(crate) const MAX_WSCALE: u8 = 14;
/// The bit of [`Conn`]'s `rcv_wscale` that says window scaling was agreed (above
/// every shift: at most [`MAX_WSCALE`]).
const WS_AGREED: u8 = 0x80;
/// RTO once data flows after a handshake that needed a retransmission
/// (RFC 6298 §5.7), in ms.
const RTO_AFTER_SYN_LOSS_MS: u32 = 3_000;
/// Bytes the timestamps option takes in every segment once negotiated (NOP NOP TS).
const TS_OPTION_LEN: u16 = 12;

/// A TCP control block. About two cache lines; TIME-WAIT uses a
/// [`TimeWaitRecord`] instead.
// Laid out (repr(C)) with what an open sets first and what it zeroes after, from
// `fin_queued` on, so that building a block in place stores a few wide zeros
// instead of a field at a time.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Conn {
    /// When the timer fires.
    deadline: Instant,
    /// Start of the lifecycle: the scheduled start (client) or the SYN's arrival.
    t_start: Instant,
    /// When the request was first sent (client) or the SYN-ACK first sent (server),
    /// for the ttfb phase and for the first RTT sample.
    t_mark: Instant,
    /// Our IPv4 address.
    pub local_ip: u32,
    /// The peer's IPv4 address.
    pub remote_ip: u32,
    /// ISS: our initial sequence number.
    iss: SeqNumber,
    /// SND.UNA: oldest unacknowledged sequence number.
    snd_una: SeqNumber,
    /// SND.NXT: next sequence number to send; everything before it was sent at
    /// least once (it never moves back on retransmission).
    snd_nxt: SeqNumber,
    /// Our TSval minus the millisecond clock: the side's base
    /// ([`TcpConfig::ts_base_ms`](super::TcpConfig::ts_base_ms)) plus this tuple's
    /// offset (RFC 7323 §5.4), added once at the open instead of per segment.
    ts_clock: u32,
    /// cwnd: the congestion window in octets (RFC 5681 §3.1), which with the
    /// peer's window bounds the data in flight; set at negotiation to the
    /// initial window ([`TcpConfig::initial_cwnd`](super::TcpConfig::initial_cwnd)
    /// segments).
    cwnd: u32,
    /// ssthresh: the slow start threshold in octets (RFC 5681 §3.1), "arbitrarily
    /// high" (`u32::MAX`) until a loss sets it.
    ssthresh: u32,
    /// Current RTO in ms (after backoff).
    rto_ms: u32,
    /// IRS: the peer's initial sequence number.
    irs: SeqNumber,
    /// RCV.NXT: next sequence number expected from the peer; everything before it
    /// has been received (and counted).
    rcv_nxt: SeqNumber,
    // The two ports in this order so that, little-endian, they read as one u32
    // with ours in the high half: the first word of a header ([`Conn::ports`]).
    /// The peer's port.
    pub remote_port: u16,
    /// Our port.
    pub local_port: u16,
    state: State,
    role: Role,
    timer: TimerKind,
    /// A failure decided before the end (the peer closed early); reported when the
    /// connection ends.
    pending_fail: Option<FailCause>,
    /// Our FIN is queued behind our data (the application has closed).
    fin_queued: bool,
    /// Timestamps negotiated (RFC 7323 §3.2).
    ts_ok: bool,
    /// SACK-permitted negotiated (we never send SACK blocks; recorded for reports).
    sack_ok: bool,
    /// Shift applied to the peer's window field (its offered scale).
    snd_wscale: u8,
    /// Shift applied to our window field (our offered scale, when the peer agreed)
    /// in the low bits ([`rcv_shift`](Self::rcv_shift)), and [`WS_AGREED`] when
    /// window scaling was agreed, even with both shifts 0 (a flag of its own
    /// would grow the block past 120 bytes; the shift is not read on the usual
    /// path, whose window field is `rcv_wnd`).
    rcv_wscale: u8,
    /// RTO expirations of the current outstanding segment (reset by new ACKs).
    retries: u8,
    /// Loss handling, one byte of flags and a count ([`RECOVERING`], [`HOLE`],
    /// [`RANGE`], duplicate ACKs in the bits from [`DUPACK_ONE`] up); zero on a lossless
    /// connection. (Beside `retries`: `usual` tests the two as one 16-bit word, so
    /// a connection that met loss takes the general path.)
    loss: u8,
    /// Full-sized segments received and not yet acknowledged.
    ack_pending: u8,
    /// The window field of our segments after the handshake,
    /// `(cfg.window >> rcv_wscale).min(65535)`: fixed at negotiation, so computed
    /// once rather than per segment (no segment but a SYN is sent before it).
    /// Zero means our window is shut: no segment is predicted then.
    rcv_wnd: u16,
    /// SMSS: the largest payload of our segments, from the peer's MSS, ours and
    /// the timestamp option's room, fixed at negotiation.
    smss: u16,
    /// SND.WND: the peer's receive window in bytes (scaled).
    snd_wnd: u32,
    /// TS.Recent (RFC 7323 §4.3).
    ts_recent: u32,
    /// Last.ACK.sent (RFC 7323 §4.3): the ACK field of the last segment we sent.
    /// Only a segment at or before it may update TS.Recent, so that an ACK
    /// covering several segments echoes the earliest one's TSval.
    last_ack_sent: SeqNumber,
    /// Application bytes received in order so far.
    rx_got: u32,
    /// Smoothed RTT in µs (RFC 6298 §2); 0 until the first sample.
    srtt_us: u32,
    /// RTT variation in µs.
    rttvar_us: u32,
    /// When the first FIN of the close handshake was sent or received. Before
    /// that, in ESTABLISHED, its eight octets may hold the out-of-order data
    /// received beyond a hole instead ([`RANGE`], [`Conn::held`]): a control
    /// block has no room for a field of its own, and the two are never needed
    /// at once (a FIN sent or received in order ends the holding).
    t_fin: Instant,
}

/// [`Conn::loss`]: segments were retransmitted and not all acknowledged yet
/// (recovery: each partial ACK resends the next segment, RFC 6582 §3.2 step 3).
const RECOVERING: u8 = 1;
/// [`Conn::loss`]: out-of-order data arrived beyond a hole, so what arrives in
/// order from then on fills a gap: every segment is acknowledged at once (RFC
/// 5681 §4.2), and the sender's recovery is not left waiting for its
/// retransmission timer on each segment after the hole.
const HOLE: u8 = 2;
/// [`Conn::loss`]: the sequence range of out-of-order data received beyond the
/// hole is held in `t_fin`'s place ([`Conn::held`]). Payload is only counted,
/// never kept, so holding it is remembering where it was (RFC 9293 §3.10.7.4:
/// such segments SHOULD be held); once the hole fills, RCV.NXT moves past the
/// range and the ACK says so, and the sender resends only the hole instead of
/// everything after it, one segment a round trip.
const RANGE: u8 = 4;
/// [`Conn::loss`]: one duplicate ACK (RFC 5681 §2), counted in the bits above
/// [`RANGE`] up to 31 (all of [`DUPACK_MASK`]), where the count stops.
const DUPACK_ONE: u8 = 8;
/// [`Conn::loss`]: the duplicate-ACK bits.
const DUPACK_MASK: u8 = !(RECOVERING | HOLE | RANGE);
/// The duplicate ACK that triggers the fast retransmit (RFC 5681 §3.2).
const DUPACK_THRESHOLD: u8 = 3;

impl Conn {
    /// Active open (client side): build a control block in SYN-SENT and send the SYN.
    /// `start` is the connection's scheduled start (latency is measured from it);
    /// `iss` and `ts_offset` come from an [`super::isn::IsnGenerator`].
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        cfg: &impl Settings,
        local: (u32, u16),
        remote: (u32, u16),
        iss: SeqNumber,
        ts_offset: u32,
        start: Instant,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Conn {
        let mut c = Conn::default();
        c.open_active(cfg, local, remote, iss, ts_offset, start, now, sink);
        c
    }

    /// [`connect`](Self::connect) into an existing control block, whatever it held
    /// (every field is overwritten): the engine builds a connection in its table
    /// slot instead of building it elsewhere and copying two cache lines in.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn open_active(
        &mut self,
        cfg: &impl Settings,
        local: (u32, u16),
        remote: (u32, u16),
        iss: SeqNumber,
        ts_offset: u32,
        start: Instant,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        self.open(
            cfg,
            Role::Client,
            local,
            remote,
            None,
            iss,
            ts_offset,
            start,
            now,
            sink,
        );
    }

    /// Passive open (server side): build a control block in SYN-RECEIVED for the
    /// `syn` that reached a listening port, and send the SYN-ACK.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        cfg: &impl Settings,
        local: (u32, u16),
        remote: (u32, u16),
        syn: &TcpRepr,
        iss: SeqNumber,
        ts_offset: u32,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Conn {
        let mut c = Conn::default();
        c.open_passive(cfg, local, remote, syn, iss, ts_offset, now, sink);
        c
    }

    /// [`accept`](Self::accept) into an existing control block, whatever it held
    /// (see [`open_active`](Self::open_active)).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn open_passive(
        &mut self,
        cfg: &impl Settings,
        local: (u32, u16),
        remote: (u32, u16),
        syn: &TcpRepr,
        iss: SeqNumber,
        ts_offset: u32,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        self.open(
            cfg,
            Role::Server,
            local,
            remote,
            Some(syn),
            iss,
            ts_offset,
            now,
            now,
            sink,
        );
    }

    /// The in-place builder of both opens: every field of the block written for a
    /// new connection of `role` between `local` and `remote` (the peer's `syn` in
    /// a passive open), in SYN-SENT (active) or SYN-RECEIVED (passive) with the
    /// SYN-ACK's options negotiated, then our SYN (or SYN-ACK) sent and the
    /// retransmission timer running. SND.NXT and the timer are written with the
    /// rest (sending the SYN reads neither), so no field is stored twice around
    /// the send.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn open(
        &mut self,
        cfg: &impl Settings,
        role: Role,
        local: (u32, u16),
        remote: (u32, u16),
        syn: Option<&TcpRepr>,
        iss: SeqNumber,
        ts_offset: u32,
        start: Instant,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let c = cfg.tcp();
        let state = match role {
            Role::Client => State::SynSent,
            Role::Server => State::SynReceived,
        };
        let rto_ms = cfg.rto_initial_ms();
        let irs = syn.map_or(SeqNumber(0), |syn| syn.seq);
        *self = Conn {
            local_ip: local.0,
            local_port: local.1,
            remote_ip: remote.0,
            remote_port: remote.1,
            role,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            ts_clock: c.ts_base_ms.wrapping_add(ts_offset),
            rto_ms,
            t_start: start,
            t_mark: now,
            // arm_retransmit's, as sending the SYN leaves them.
            timer: TimerKind::Retransmit,
            deadline: Instant(now.0.saturating_add(rto_ms as u64 * 1_000_000)),
            irs,
            rcv_nxt: if syn.is_some() { irs + 1 } else { SeqNumber(0) },
            ssthresh: u32::MAX,
            ..Conn::default()
        };
        if let Some(syn) = syn {
            self.negotiate(cfg, syn);
        }
        self.set_state(state);
        self.send_syn(cfg, now, sink);
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }
    /// Client or server side.
    #[inline]
    pub fn role(&self) -> Role {
        self.role
    }
    /// When [`Conn::on_timer`] wants to be called ([`Instant::NEVER`]: no timer).
    #[inline]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
    /// Which timer is armed.
    #[inline]
    pub fn timer(&self) -> TimerKind {
        self.timer
    }
    /// ISS.
    #[inline]
    pub fn iss(&self) -> SeqNumber {
        self.iss
    }
    /// SND.UNA.
    #[inline]
    pub fn snd_una(&self) -> SeqNumber {
        self.snd_una
    }
    /// SND.NXT.
    #[inline]
    pub fn snd_nxt(&self) -> SeqNumber {
        self.snd_nxt
    }
    /// RCV.NXT.
    #[inline]
    pub fn rcv_nxt(&self) -> SeqNumber {
        self.rcv_nxt
    }
    /// Application bytes received in order.
    #[inline]
    pub fn rx_bytes(&self) -> u32 {
        self.rx_got
    }
    /// Timestamps negotiated.
    #[inline]
    pub fn ts_enabled(&self) -> bool {
        self.ts_ok
    }
    /// TS.Recent.
    #[inline]
    pub fn ts_recent(&self) -> u32 {
        self.ts_recent
    }
    /// The current RTO in milliseconds.
    #[inline]
    pub fn rto_ms(&self) -> u32 {
        self.rto_ms
    }

    /// cwnd, the congestion window in octets (RFC 5681).
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// ssthresh, the slow start threshold in octets (RFC 5681).
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    /// The scheduled start of the connection.
    #[inline]
    pub fn start(&self) -> Instant {
        self.t_start
    }

    /// The record that stands for this connection in TIME-WAIT.
    pub fn time_wait_record(&self) -> TimeWaitRecord {
        // Rounded up: TIME-WAIT may end late by under a millisecond, never early.
        let tw_ms = ceil_ms(self.deadline.as_nanos()) as u32;
        TimeWaitRecord {
            snd_nxt: self.snd_nxt,
            rcv_nxt: self.rcv_nxt,
            ts_recent: self.ts_recent,
            entered_ms: ceil_ms(self.t_fin.as_nanos()) as u32,
            expires_ms: tw_ms,
            window: self.rcv_wnd,
            ts_ok: self.ts_ok,
            generation: 0,
        }
    }

    #[inline]
    fn set_state(&mut self, s: State) {
        #[cfg(feature = "trace")]
        eprintln!(
            "{}:{} {} => {}",
            self.local_port, self.remote_port, self.state, s
        );
        self.state = s;
    }

    /// Our TSval at `now`.
    #[inline]
    pub fn tsval(&self, _cfg: &impl Settings, now: Instant) -> u32 {
        self.tsval_at(now.as_millis() as u32)
    }

    /// The shift applied to our window field (0 unless window scaling was agreed).
    #[inline(always)]
    fn rcv_shift(&self) -> u8 {
        self.rcv_wscale & !WS_AGREED
    }

    /// Whether window scaling was agreed: both SYNs carried the option (RFC 7323
    /// §2.2), whatever the shifts.
    #[inline(always)]
    fn ws_agreed(&self) -> bool {
        self.rcv_wscale & WS_AGREED != 0
    }

    /// Our TSval when the millisecond clock reads `ms` ([`Sink::ms_clock`]).
    #[inline(always)]
    fn tsval_at(&self, ms: u32) -> u32 {
        ms.wrapping_add(self.ts_clock)
    }

    /// Sequence number one past our data, where our FIN goes.
    #[inline]
    fn data_end(&self, cfg: &impl Settings) -> SeqNumber {
        self.data_end_as(cfg, self.role)
    }

    /// [`data_end`](Self::data_end) where the role is known.
    #[inline(always)]
    fn data_end_as(&self, cfg: &impl Settings, role: Role) -> SeqNumber {
        debug_assert_eq!(role, self.role);
        self.iss + 1 + cfg.tx_total(role)
    }

    /// Largest payload per segment.
    #[inline]
    fn seg_payload_max(&self) -> u32 {
        u32::from(self.smss)
    }

    /// Our ports as the first word of a header holds them: ours in the high half.
    #[inline(always)]
    fn ports(&self) -> u32 {
        u32::from(self.local_port) << 16 | u32::from(self.remote_port)
    }

    /// The header of one of our segments after the handshake, `<SEQ=seq>
    /// <ACK=RCV.NXT>` with `flags` (which include ACK) and `len` octets of payload,
    /// built from the connection's fields as a frame stores it: no SYN options, and
    /// the timestamps when they were negotiated.
    #[inline(always)]
    fn header(&self, ms: u32, flags: TcpFlags, seq: SeqNumber, len: u32) -> TcpHeaderWords {
        debug_assert!(flags.ack() && !flags.syn());
        let options = if self.ts_ok {
            OptionArea::timestamps(self.tsval_at(ms), self.ts_recent)
        } else {
            OptionArea::NONE
        };
        TcpHeaderWords::new(
            self.ports(),
            seq,
            self.rcv_nxt,
            flags,
            self.rcv_wnd,
            options,
            len as u16,
        )
    }

    /// The header of our SYN (in SYN-SENT) or SYN-ACK (in SYN-RECEIVED).
    #[inline(always)]
    fn syn_header(&self, cfg: &impl Settings, ms: u32) -> TcpHeaderWords {
        let c = cfg.tcp();
        // Our SYN (SYN-SENT) offers what is configured. A SYN-ACK offers an option
        // only if the SYN carried it (RFC 7323 §2.2, §3.2; RFC 2018), and echoes the
        // SYN's TSval. This is decided by the state, not the role: a client that met
        // a simultaneous open sends its SYN-ACK from SYN-RECEIVED too, and used to
        // offer everything with TSecr 0 there.
        let offer = self.state == State::SynSent;
        let (flags, ack, tsecr) = if offer {
            (TcpFlags::SYN, SeqNumber(0), 0)
        } else {
            (TcpFlags::SYN | TcpFlags::ACK, self.rcv_nxt, self.ts_recent)
        };
        // (Agreed is both SYNs carrying the option, whatever the shifts: a peer
        // offering shift 0 to a side configured with shift 0 gets the option
        // back, RFC 7323 §2.2.)
        let ws_agreed = self.ws_agreed();
        let tsval = self.tsval_at(ms);
        // The options were laid out once for each option set, but for TSval and
        // TSecr: the SYN's as configured, the SYN-ACK's for each subset, with our
        // shift (the one negotiation gives: the general way for another).
        let options = if offer {
            let o = cfg.syn_options();
            if c.timestamps {
                o.with_syn_timestamps(tsval, 0)
            } else {
                o
            }
        } else {
            let sack = c.sack_permitted & self.sack_ok;
            let ts = c.timestamps & self.ts_ok;
            if !ws_agreed || Some(self.rcv_shift()) == cfg.rcv_wscale() {
                let o = cfg.synack_options(ws_agreed, sack, ts);
                if ts {
                    o.with_syn_timestamps(tsval, tsecr)
                } else {
                    o
                }
            } else {
                OptionArea::syn(&TcpOptions {
                    mss: Some(c.mss),
                    window_scale: Some(self.rcv_shift()),
                    sack_permitted: sack,
                    timestamps: ts.then_some(Timestamps { tsval, tsecr }),
                })
            }
        };
        TcpHeaderWords::new(
            self.ports(),
            self.iss,
            ack,
            flags,
            cfg.syn_window(),
            options,
            0,
        )
    }

    /// Send the segment that starts at sequence number `at` (which must be in
    /// `[SND.UNA, SND.NXT]` or the next new one) and return how much sequence space it
    /// covers: what a retransmission sends.
    #[inline]
    fn send_at(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        at: SeqNumber,
        max_len: u32,
        sink: &mut impl Sink,
    ) -> u32 {
        if at == self.iss {
            self.send_syn(cfg, now, sink);
            return 1;
        }
        if at < self.data_end(cfg) {
            return self.send_data(cfg, now, at, max_len, sink);
        }
        // At the end of our data: only the FIN is left.
        self.send_fin(cfg, now, sink);
        1
    }

    /// Send our SYN (in SYN-SENT) or SYN-ACK (in SYN-RECEIVED). The SYN-ACK's ACK
    /// field becomes Last.ACK.sent.
    #[inline(never)]
    fn send_syn(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) {
        if self.state != State::SynSent {
            self.last_ack_sent = self.rcv_nxt;
        }
        let ms = sink.ms_clock(now);
        sink.send_words(self.local_ip, self.remote_ip, 0, 0, || {
            self.syn_header(cfg, ms)
        });
    }

    /// Send data from `at` (after our SYN, before the end of our data): as much as
    /// the segment size, `max_len` (at least one octet) and the data allow, with PSH
    /// on the last octets and our FIN with them when it is queued. Returns the
    /// sequence space covered, 0 when the port had no room for the segment. The ACK
    /// field becomes Last.ACK.sent.
    #[inline(never)]
    fn send_data(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        at: SeqNumber,
        max_len: u32,
        sink: &mut impl Sink,
    ) -> u32 {
        let (offset, len, last) = self.data_segment(cfg, at, max_len);
        // PSH on the last octets, and our FIN with them when it is queued.
        let fin = last && self.fin_queued;
        let flags = TcpFlags(
            TcpFlags::ACK.0
                | (u8::from(last) * TcpFlags::PSH.0)
                | (u8::from(fin) * TcpFlags::FIN.0),
        );
        self.last_ack_sent = self.rcv_nxt;
        let ms = sink.ms_clock(now);
        let sent = sink.send_words(self.local_ip, self.remote_ip, len as u16, offset, || {
            self.header(ms, flags, at, len)
        });
        (len + flags.fin() as u32) * u32::from(sent)
    }

    /// The data segment [`send_data`](Self::send_data) sends from `at`: the
    /// offset of `at` in our data, the segment's length, and whether it ends our
    /// data.
    #[inline(always)]
    fn data_segment(&self, cfg: &impl Settings, at: SeqNumber, max_len: u32) -> (u32, u32, bool) {
        debug_assert!(self.iss < at && at < self.data_end(cfg));
        // Where `at` is in our data, and what is left of it from there.
        let offset = at.diff(self.iss + 1) as u32;
        let rest = cfg.tx_total(self.role).wrapping_sub(offset);
        let len = rest.min(self.seg_payload_max()).min(max_len.max(1));
        (offset, len, len == rest)
    }

    /// Send our FIN, `<SEQ=end of our data><ACK=RCV.NXT><CTL=FIN,ACK>`. Its own
    /// function (not [`send_bare`](Self::send_bare) with arguments) so that a call
    /// passes only what every send takes. Returns whether it went out (see
    /// [`Sink::send_words`]).
    #[inline(never)]
    fn send_fin(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> bool {
        let end = self.data_end(cfg);
        self.send_bare(now, TcpFlags::FIN | TcpFlags::ACK, end, sink)
    }

    /// Send `<SEQ=seq><ACK=RCV.NXT><CTL=flags>` with no payload: a bare ACK, or our
    /// FIN (`flags` include ACK, not SYN). The ACK field becomes Last.ACK.sent.
    /// Returns whether it went out.
    #[inline(always)]
    fn send_bare(
        &mut self,
        now: Instant,
        flags: TcpFlags,
        seq: SeqNumber,
        sink: &mut impl Sink,
    ) -> bool {
        self.last_ack_sent = self.rcv_nxt;
        let ms = sink.ms_clock(now);
        sink.send_words(self.local_ip, self.remote_ip, 0, 0, || {
            self.header(ms, flags, seq, 0)
        })
    }

    /// Send whatever new data (and FIN) the peer's window allows. Returns whether
    /// anything was sent.
    ///
    /// When the port has no room for a segment (its frame pool or transmit ring
    /// is full: [`Sink::send_words`] returns false), the segment and everything
    /// after it are held back, SND.NXT staying before them, and go out when the
    /// next ACK calls this again, as a kernel keeps a segment its device queue
    /// refused. That needs something in flight to bring an ACK: when nothing is,
    /// the refused segment is taken as sent (lost on the way), and the
    /// retransmission timer sends it again. A refused segment taken as sent
    /// would be lost data to recover, one segment a round trip, for every
    /// segment of a window sent into a full pool.
    #[inline(always)]
    fn transmit(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> bool {
        let end = self.data_end(cfg);
        let limit = self.snd_una + self.snd_wnd.min(self.cwnd).max(1);
        let mut sent = false;
        // (Our SYN went out when the connection opened: SND.NXT is past it.)
        while self.snd_nxt < end && self.snd_nxt < limit {
            let room = limit.diff(self.snd_nxt) as u32;
            let at = self.snd_nxt;
            if room < self.seg_payload_max() && self.sws_wait(end, at, room) {
                break;
            }
            let n = self.send_data(cfg, now, at, room, sink);
            if n == 0 {
                self.refused(cfg, at, room, &mut sent);
                return self.transmitted(now, sent);
            }
            self.snd_nxt = at + n;
            sent = true;
        }
        // (A refused FIN is held back like data, or taken as sent when nothing
        // is in flight.)
        if self.fin_queued
            && self.snd_nxt == end
            && (self.send_fin(cfg, now, sink) || self.snd_una == self.snd_nxt)
        {
            self.snd_nxt = end + 1;
            sent = true;
        }
        self.transmitted(now, sent)
    }

    /// Sender silly window avoidance (RFC 9293 §3.8.6.2.1, MUST-38): with room
    /// for less than a full segment at `at`, wait when that is not the rest of
    /// our data (which ends at `end`) and an ACK is to come (something is in
    /// flight) that opens the windows. Out of line: only a window smaller than
    /// the data meets it.
    #[cold]
    #[inline(never)]
    fn sws_wait(&self, end: SeqNumber, at: SeqNumber, room: u32) -> bool {
        room < end.diff(at) as u32 && self.snd_una != at
    }

    /// The port refused the data segment at `at` (SND.NXT, at most `room`
    /// octets) that [`transmit`](Self::transmit) offered: it is held back when
    /// something of ours is in flight, otherwise taken as sent (see there).
    #[cold]
    #[inline(never)]
    fn refused(&mut self, cfg: &impl Settings, at: SeqNumber, room: u32, sent: &mut bool) {
        if self.snd_una == at {
            let (_, len, last) = self.data_segment(cfg, at, room);
            self.snd_nxt = at + len + u32::from(last && self.fin_queued);
            *sent = true;
        }
    }

    /// What [`transmit`](Self::transmit) does once it has sent: nothing is left
    /// to acknowledge, and the retransmission timer runs. Returns `sent`.
    #[inline(always)]
    fn transmitted(&mut self, now: Instant, sent: bool) -> bool {
        if sent {
            self.ack_pending = 0;
            if self.timer != TimerKind::Retransmit {
                self.arm_retransmit(now);
            }
        }
        sent
    }

    /// Send a bare ACK `<SEQ=SND.NXT><ACK=RCV.NXT>`; nothing is left to acknowledge.
    #[inline(never)]
    fn send_ack(&mut self, now: Instant, sink: &mut impl Sink) {
        self.send_bare(now, TcpFlags::ACK, self.snd_nxt, sink);
        self.ack_pending = 0;
    }

    /// Send a challenge ACK (RFC 5961 §3.2, §4.2, §5.2).
    #[cold]
    #[inline(never)]
    fn challenge_ack(&mut self, _cfg: &impl Settings, now: Instant, sink: &mut impl Sink) {
        self.send_ack(now, sink);
        sink.event(Event::ChallengeAck);
    }

    /// Answer `seg` with the RST a CLOSED port would send (RFC 9293 §3.10.7.1), as
    /// SYN-SENT and SYN-RECEIVED do for an unacceptable ACK. Rare, so out of line
    /// (the transmit path is inlined into each send site; here it would weigh on
    /// the segment path that contains it).
    #[cold]
    #[inline(never)]
    fn reply_reset(&mut self, seg: &TcpRepr, sink: &mut impl Sink) {
        let rst = super::listen::reset_for(seg);
        sink.send(self.local_ip, self.remote_ip, &rst, 0);
        sink.event(Event::RstSent);
    }

    /// Send our SYN-ACK (again, or for a simultaneous open) from SYN-RECEIVED. Rare,
    /// so out of line (see [`reply_reset`](Self::reply_reset)).
    #[cold]
    #[inline(never)]
    fn send_syn_ack(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) {
        debug_assert_eq!(self.state, State::SynReceived);
        self.send_syn(cfg, now, sink);
    }

    /// Send `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>` with a zero window and no
    /// options (an abort, like SO_LINGER 0).
    fn send_rst(&mut self, _cfg: &impl Settings, _now: Instant, sink: &mut impl Sink) {
        sink.send_words(self.local_ip, self.remote_ip, 0, 0, || {
            TcpHeaderWords::new(
                self.ports(),
                self.snd_nxt,
                self.rcv_nxt,
                TcpFlags::RST | TcpFlags::ACK,
                0,
                OptionArea::NONE,
                0,
            )
        });
        sink.event(Event::RstSent);
    }

    #[inline]
    fn arm_retransmit(&mut self, now: Instant) {
        self.timer = TimerKind::Retransmit;
        self.deadline = Instant(now.0.saturating_add(self.rto_ms as u64 * 1_000_000));
    }

    #[inline]
    fn arm_idle(&mut self, cfg: &impl Settings, now: Instant) {
        self.timer = TimerKind::Idle;
        self.deadline = Instant(now.0.saturating_add(cfg.idle_nanos()));
    }

    /// An in-order segment left unacknowledged (every second one is
    /// acknowledged at once) gets its ACK within [`DELAYED_ACK_MS`] when no
    /// segment of ours is outstanding to carry it sooner. Without it a lone
    /// segment, such as a retransmission filling the last hole, was never
    /// acknowledged, and its sender timed out again.
    #[inline]
    fn arm_delayed_ack(&mut self, now: Instant) {
        self.timer = TimerKind::DelayedAck;
        self.deadline = Instant(now.0.saturating_add(DELAYED_ACK_MS * 1_000_000));
    }

    /// Timer bookkeeping after an ACK or a state change: retransmission timer while
    /// something is outstanding (RFC 6298 §5.1–5.3), otherwise the delayed ACK's
    /// when a segment waits for its ACK, the idle timer when none does.
    #[inline(always)]
    fn rearm(&mut self, cfg: &impl Settings, now: Instant, new_ack: bool) {
        match self.state {
            State::TimeWait | State::Closed => {}
            _ => self.rearm_open(cfg, now, new_ack),
        }
    }

    /// [`rearm`](Self::rearm) in a state known to be neither TIME-WAIT nor CLOSED.
    #[inline(always)]
    fn rearm_open(&mut self, cfg: &impl Settings, now: Instant, new_ack: bool) {
        if self.snd_una != self.snd_nxt {
            if new_ack || self.timer != TimerKind::Retransmit {
                self.arm_retransmit(now);
            }
        } else if self.ack_pending != 0 {
            self.arm_delayed_ack(now);
        } else {
            self.arm_idle(cfg, now);
        }
    }

    /// Take an RTT sample (RFC 6298 §2.2–2.3) and recompute the RTO.
    #[inline(always)]
    fn rtt_sample(&mut self, cfg: &impl Settings, r_us: u32) {
        let r_us = r_us.max(1);
        if self.srtt_us == 0 {
            self.srtt_us = r_us;
            self.rttvar_us = r_us / 2;
        } else {
            let delta = self.srtt_us.abs_diff(r_us);
            self.rttvar_us = self.rttvar_us - self.rttvar_us / 4 + delta / 4;
            self.srtt_us = self.srtt_us - self.srtt_us / 8 + r_us / 8;
        }
        self.set_rto(cfg);
    }

    /// [`rtt_sample`](Self::rtt_sample) of the first sample (SRTT still 0), as
    /// the handshake of the usual lifecycle takes it: no SYN retransmitted, so no
    /// sample was taken or skipped before.
    #[inline(always)]
    fn rtt_first_sample(&mut self, cfg: &impl Settings, r_us: u32) {
        debug_assert_eq!(self.srtt_us, 0);
        let r_us = r_us.max(1);
        self.srtt_us = r_us;
        self.rttvar_us = r_us / 2;
        self.set_rto(cfg);
    }

    /// The RTO from SRTT and RTTVAR (RFC 6298 §2.2–2.3), rounded up to whole
    /// milliseconds and bounded.
    #[inline(always)]
    fn set_rto(&mut self, cfg: &impl Settings) {
        let rto_us = self.srtt_us as u64 + (4 * self.rttvar_us as u64).max(1000);
        // Rounded up; rto_us < 2^35, so the sum cannot overflow (and it is
        // cheaper than div_ceil's remainder test).
        #[allow(clippy::manual_div_ceil)]
        let rto_ms = (rto_us + 999) / 1000;
        // (Bounded as clamp() would, without its check that the bounds are ordered.)
        self.rto_ms = rto_ms
            .max(cfg.rto_min_ms() as u64)
            .min(cfg.rto_max_ms() as u64) as u32;
    }

    /// The handshake completed: take its RTT sample, unless the SYN (or SYN-ACK)
    /// was retransmitted and the answer is ambiguous (Karn, RFC 6298 §3). Then no
    /// sample exists and RFC 6298 §5.7 applies: with an initial RTO under 3 s, the
    /// RTO is re-initialized to 3 s when data transmission begins (before, the
    /// backed-off SYN RTO simply carried over).
    #[inline(always)]
    fn handshake_rtt(&mut self, cfg: &impl Settings, now: Instant) {
        if self.retries == 0 {
            self.rtt_sample(cfg, (now.nanos_since(self.t_mark) / 1000) as u32);
        } else if self.srtt_us == 0 && cfg.rto_initial_ms() < RTO_AFTER_SYN_LOSS_MS {
            self.rto_ms = RTO_AFTER_SYN_LOSS_MS.clamp(cfg.rto_min_ms(), cfg.rto_max_ms());
        }
    }

    /// The round trip `seg`'s TSecr measures at `ms` on the millisecond clock
    /// (RFC 7323 §4.1), when timestamps are on and it echoes one of ours: our
    /// TSval now minus the echoed one, if that is within the largest RTO (a TSecr
    /// of 0 is taken as none, as Linux does).
    #[inline]
    fn echoed_rtt_ms(&self, cfg: &impl Settings, seg: &TcpRepr, ms: u32) -> Option<u32> {
        let ts = seg
            .options
            .timestamps
            .filter(|t| self.ts_ok && t.tsecr != 0)?;
        let r = self.tsval_at(ms).wrapping_sub(ts.tsecr);
        (r <= cfg.rto_max_ms()).then_some(r)
    }

    /// Take the peer's SYN options (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2).
    fn negotiate(&mut self, cfg: &impl Settings, syn: &TcpRepr) {
        let o = &syn.options;
        // Our window field and shift, from what the settings derive once.
        (self.rcv_wscale, self.snd_wscale, self.rcv_wnd) = match (cfg.rcv_wscale(), o.window_scale)
        {
            (Some(ours), Some(theirs)) => (
                ours | WS_AGREED,
                theirs.min(MAX_WSCALE),
                cfg.scaled_window(),
            ),
            _ => (0, 0, cfg.syn_window()),
        };
        let peer_mss = o.mss.unwrap_or(DEFAULT_MSS).max(64);
        self.sack_ok = cfg.tcp().sack_permitted && o.sack_permitted;
        match (cfg.tcp().timestamps, o.timestamps) {
            (true, Some(ts)) => {
                self.ts_ok = true;
                self.ts_recent = ts.tsval;
            }
            _ => self.ts_ok = false,
        }
        let opt = if self.ts_ok { TS_OPTION_LEN } else { 0 };
        self.smss = peer_mss.min(cfg.tcp().mss).saturating_sub(opt).max(1);
        // The initial window (RFC 5681 §3.1, RFC 6928), or one segment when our
        // SYN was retransmitted (RFC 5681 §3.1: "the initial window used by a
        // sender after a correctly transmitted SYN MUST be one segment"). A
        // SYN-ACK retransmitted after this sets it on its timeout.
        let segs = if self.retries == 0 {
            cfg.tcp().initial_cwnd.max(1)
        } else {
            1
        };
        self.cwnd = segs.saturating_mul(u32::from(self.smss));
        self.snd_wnd = syn.window as u32;
    }

    /// End the connection with its outcome reported: `None` is success.
    #[inline(always)]
    fn finish(&mut self, now: Instant, fail: Option<FailCause>, sink: &mut impl Sink) -> Step {
        match fail.or(self.pending_fail) {
            None => {
                if self.role == Role::Client {
                    sink.record(Phase::Lifecycle, now.nanos_since(self.t_start));
                }
                sink.event(Event::Completed);
            }
            Some(cause) => sink.event(Event::Failed(cause)),
        }
        self.set_state(State::Closed);
        self.timer = TimerKind::None;
        self.deadline = Instant::NEVER;
        Step::Closed
    }

    /// Enter TIME-WAIT: the connection is complete (reported now), and the engine
    /// swaps the control block for a record.
    #[inline(always)]
    fn enter_time_wait(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> Step {
        if self.role == Role::Client {
            sink.record(Phase::Close, now.nanos_since(self.t_fin));
        }
        match self.pending_fail {
            None => {
                if self.role == Role::Client {
                    sink.record(Phase::Lifecycle, now.nanos_since(self.t_start));
                }
                sink.event(Event::Completed);
            }
            Some(cause) => sink.event(Event::Failed(cause)),
        }
        self.set_state(State::TimeWait);
        self.timer = TimerKind::TimeWait;
        self.deadline = Instant(now.0.saturating_add(cfg.time_wait_nanos()));
        // Remember when TIME-WAIT began (the record's `entered_ms`). (No range is
        // held: our FIN or the peer's came first, and ended any.)
        debug_assert_eq!(self.loss & RANGE, 0);
        self.t_fin = now;
        Step::TimeWait
    }

    /// The application closes: queue our FIN behind the data (or abort with RST in
    /// [`CloseMode::Rst`] on the client side). Used when the response is complete and
    /// by a graceful stop of the engine.
    pub fn close(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> Step {
        match self.state {
            State::SynSent => self.finish(now, Some(FailCause::SynTimeout), sink),
            State::SynReceived | State::Established | State::CloseWait => {
                if self.fin_queued {
                    return Step::Continue;
                }
                self.fin_queued = true;
                if self.state == State::CloseWait {
                    self.set_state(State::LastAck);
                } else if self.state == State::Established {
                    self.mark_fin(now);
                    self.set_state(State::FinWait1);
                } else {
                    // SYN-RECEIVED: the FIN goes after the handshake (RFC 9293
                    // §3.10.4): it is queued and sent once established.
                    return Step::Continue;
                }
                self.transmit(cfg, now, sink);
                Step::Continue
            }
            _ => Step::Continue,
        }
    }

    /// Abort: send RST (RFC 9293 §3.10.5) and end, reporting `fail` (`None` when the
    /// abort is the intended close, as with [`CloseMode::Rst`]).
    pub fn abort(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        fail: Option<FailCause>,
        sink: &mut impl Sink,
    ) -> Step {
        if self.state != State::SynSent {
            self.send_rst(cfg, now, sink);
        }
        self.finish(now, fail, sink)
    }

    /// The timer fired (the engine calls this at or after [`Conn::deadline`]).
    pub fn on_timer(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> Step {
        if now < self.deadline {
            return Step::Continue;
        }
        match self.timer {
            TimerKind::None => Step::Continue,
            TimerKind::TimeWait => {
                self.set_state(State::Closed);
                self.timer = TimerKind::None;
                self.deadline = Instant::NEVER;
                Step::Closed
            }
            TimerKind::DelayedAck => {
                self.send_ack(now, sink);
                self.rearm(cfg, now, false);
                Step::Continue
            }
            TimerKind::Idle => {
                let cause = match self.state {
                    State::FinWait2 => FailCause::FinTimeout,
                    _ => FailCause::DataTimeout,
                };
                self.abort(cfg, now, Some(cause), sink)
            }
            TimerKind::Retransmit => {
                let limit = match self.state {
                    State::SynSent | State::SynReceived => cfg.tcp().syn_retries,
                    _ => cfg.tcp().retries,
                };
                if self.retries >= limit {
                    let cause = match self.state {
                        State::SynSent | State::SynReceived => FailCause::SynTimeout,
                        State::FinWait1 | State::Closing | State::LastAck => FailCause::FinTimeout,
                        _ => FailCause::DataTimeout,
                    };
                    return if self.state == State::SynSent {
                        self.finish(now, Some(cause), sink)
                    } else {
                        self.abort(cfg, now, Some(cause), sink)
                    };
                }
                // RFC 5681 §3.1: on the first timeout of a segment the threshold
                // halves (equation 4), and on every timeout the window drops to
                // one segment, the loss window. A SYN or SYN-ACK lost leaves the
                // threshold and makes the initial window one segment (in
                // SYN-SENT through `negotiate`).
                // A timeout while the peer's window is shut is a window probe's
                // (RFC 9293 §3.8.6.1), not a loss: the windows stay.
                if self.snd_wnd != 0 {
                    if self.retries == 0
                        && !matches!(self.state, State::SynSent | State::SynReceived)
                    {
                        self.ssthresh = self.loss_threshold();
                    }
                    self.cwnd = self.seg_payload_max();
                }
                self.retries += 1;
                self.loss |= RECOVERING;
                // RFC 6298 §5.5: back off; §5.4: resend the oldest segment.
                self.rto_ms = (self.rto_ms.saturating_mul(2)).min(cfg.rto_max_ms());
                sink.event(Event::Retransmitted);
                let at = self.snd_una;
                self.send_at(cfg, now, at, u32::MAX, sink);
                self.arm_retransmit(now);
                Step::Continue
            }
        }
    }

    /// A segment for this connection arrived (RFC 9293 §3.10.7.3 and §3.10.7.4).
    ///
    /// The segments of the usual lifecycle go to handlers specialised by state
    /// and role, each doing only what its transition needs (`usual` says which
    /// segments those are); every other segment, and every usual one in a
    /// connection that is not in its usual condition, takes the general path
    /// (`on_segment_general`), which is the reference: the handlers leave the same
    /// state and send the same segments.
    #[inline(always)]
    pub fn on_segment(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        const ACK: u8 = TcpFlags::ACK.0;
        const FIN_ACK: u8 = TcpFlags::FIN.0 | TcpFlags::ACK.0;
        // The segment's TSval when timestamps are on, read once for PAWS (in
        // `usual`) and TS.Recent (in the handlers).
        let ts = seg.options.timestamps.filter(|_| self.ts_ok);
        match self.state {
            // SYN-SENT: the SYN-ACK → ESTABLISHED, the request on the ACK.
            State::SynSent if self.usual_syn_ack(cfg, seg) => {
                self.on_usual_syn_ack(cfg, now, seg, sink)
            }
            // (Nothing is predicted in SYN-SENT.)
            State::SynSent => self.on_unpredicted(cfg, now, seg, sink),
            // SYN-RECEIVED: the handshake's ACK (with the request) → ESTABLISHED.
            State::SynReceived
                if self.role == Role::Server && !self.fin_queued && self.usual(seg, ACK, ts) =>
            {
                self.usual_handshake_ack(cfg, now, seg, ts, sink)
            }
            // ESTABLISHED, client: the response; once it is in, FIN → FIN-WAIT-1
            // (or the abort).
            State::Established
                if self.role == Role::Client && !self.fin_queued && self.usual(seg, ACK, ts) =>
            {
                self.usual_response(cfg, now, seg, ts, sink)
            }
            // ESTABLISHED, server: the client's FIN → CLOSE-WAIT → LAST-ACK, FIN.
            State::Established
                if self.role == Role::Server
                    && !self.fin_queued
                    && seg.payload_len == 0
                    && self.snd_nxt == self.data_end_as(cfg, Role::Server)
                    && self.usual(seg, FIN_ACK, ts) =>
            {
                self.usual_peer_fin(cfg, now, seg, ts, sink)
            }
            // ESTABLISHED, client: the server's FIN (after the response) →
            // CLOSE-WAIT → LAST-ACK, FIN.
            State::Established
                if self.role == Role::Client
                    && !self.fin_queued
                    && self.usual(seg, FIN_ACK, ts) =>
            {
                self.usual_response_fin(cfg, now, seg, ts, sink)
            }
            // ESTABLISHED: the peer's RST at RCV.NXT (its abort) → CLOSED.
            State::Established if self.usual_rst(seg) => self.on_usual_rst(cfg, now, seg, sink),
            // FIN-WAIT-1: the peer's FIN acknowledging ours → TIME-WAIT, ACK.
            State::FinWait1
                if seg.payload_len == 0 && self.fin_sent(cfg) && self.usual(seg, FIN_ACK, ts) =>
            {
                self.usual_fin_wait_1_fin(cfg, now, seg, ts, sink)
            }
            // LAST-ACK: the ACK of our FIN → CLOSED.
            State::LastAck
                if seg.payload_len == 0 && self.fin_sent(cfg) && self.usual(seg, ACK, ts) =>
            {
                self.usual_last_ack(cfg, now, seg, ts, sink)
            }
            _ => self.on_segment_general(cfg, now, seg, sink),
        }
    }

    /// [`on_segment`](Self::on_segment) by the general path alone (the reference
    /// the specialised handlers are tested against).
    #[inline(never)]
    pub(crate) fn on_segment_general(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        if self.predicted(cfg, seg) {
            return self.on_predicted(cfg, now, seg, sink);
        }
        self.on_unpredicted(cfg, now, seg, sink)
    }

    /// Whether `seg` is the segment of the usual lifecycle a specialised handler
    /// takes: among FIN, SYN, RST, ACK and URG exactly `flags` (PSH is free), at
    /// RCV.NXT, acknowledging exactly SND.NXT, passing PAWS, with our window
    /// open, and no retransmission under way (so no RTT sample is ambiguous and
    /// no recovery is to be continued). Such a segment is
    /// [`predicted`](Self::predicted) (SND.NXT is within every range prediction
    /// allows), so its handler is [`on_predicted`](Self::on_predicted) with the
    /// branches the state, the role and these facts decide taken.
    #[inline(always)]
    fn usual(&self, seg: &TcpRepr, flags: u8, ts: Option<Timestamps>) -> bool {
        const CTL: u8 =
            TcpFlags::FIN.0 | TcpFlags::SYN.0 | TcpFlags::RST.0 | TcpFlags::ACK.0 | TcpFlags::URG.0;
        // `ts` is the TSval with timestamps on, None without (or when missing).
        let paws_ok = match ts {
            Some(ts) => (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0,
            None => !self.ts_ok,
        };
        let usual = seg.flags.0 & CTL == flags
            && seg.seq == self.rcv_nxt
            && seg.ack == self.snd_nxt
            // retries == 0 && loss == 0, as one load of the two adjacent bytes.
            && u16::from_le_bytes([self.retries, self.loss]) == 0
            && self.rcv_wnd != 0
            && paws_ok;
        // (The last condition of every guard: true means its handler runs.)
        #[cfg(test)]
        usual_taken(usual);
        usual
    }

    /// Whether `seg` is the SYN-ACK of the usual lifecycle in SYN-SENT: among FIN,
    /// SYN, RST and ACK exactly SYN and ACK, acknowledging our SYN (SND.NXT), our
    /// SYN not retransmitted (so the RTT sample is not ambiguous), and a response
    /// expected (so the client does not close at once).
    #[inline(always)]
    fn usual_syn_ack(&self, cfg: &impl Settings, seg: &TcpRepr) -> bool {
        const CTL: u8 = TcpFlags::FIN.0 | TcpFlags::SYN.0 | TcpFlags::RST.0 | TcpFlags::ACK.0;
        let usual = seg.flags.0 & CTL == TcpFlags::SYN.0 | TcpFlags::ACK.0
            && seg.ack == self.snd_nxt
            && self.retries == 0
            && cfg.rx_expect(Role::Client) > 0;
        #[cfg(test)]
        usual_taken(usual);
        usual
    }

    /// SYN-SENT: the usual SYN-ACK ([`usual_syn_ack`](Self::usual_syn_ack)) →
    /// ESTABLISHED (RFC 9293 §3.10.7.3, fourth), the request on the handshake's
    /// ACK; what [`on_syn_sent`](Self::on_syn_sent) and
    /// [`after_established`](Self::after_established) do with it.
    #[inline(always)]
    fn on_usual_syn_ack(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.negotiate(cfg, seg);
        self.snd_una = seg.ack;
        self.snd_wnd = seg.window as u32; // not scaled in a SYN (RFC 7323 §2.2)
        sink.record(Phase::Connect, now.nanos_since(self.t_start));
        self.rtt_first_sample(cfg, (now.nanos_since(self.t_mark) / 1000) as u32);
        self.loss = 0;
        self.set_state(State::Established);
        self.t_mark = now;
        // The client's move (app_progress): the request, with the ACK.
        if !self.transmit_usual(cfg, now, sink) {
            self.send_ack(now, sink);
        }
        self.rearm_open(cfg, now, true);
        Step::Continue
    }

    /// [`transmit`](Self::transmit) for the usual handlers: once all our data is
    /// out (SND.NXT at its end, as it is after the request or the response went),
    /// only our FIN can be due, and it goes without the data loop; otherwise
    /// transmit itself. Leaves what transmit leaves.
    #[inline(always)]
    fn transmit_usual(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) -> bool {
        let end = self.data_end(cfg);
        if self.snd_nxt != end {
            return self.transmit(cfg, now, sink);
        }
        if !self.fin_queued {
            return false;
        }
        self.send_fin(cfg, now, sink);
        self.snd_nxt = end + 1;
        self.ack_pending = 0;
        if self.timer != TimerKind::Retransmit {
            self.arm_retransmit(now);
        }
        true
    }

    /// Our FIN is queued and has been sent (SND.NXT is one past it).
    #[inline(always)]
    fn fin_sent(&self, cfg: &impl Settings) -> bool {
        self.fin_queued && self.snd_nxt == self.data_end(cfg) + 1
    }

    /// TS.Recent from a [`usual`](Self::usual) segment (RFC 7323 §4.3 (2), as
    /// [`on_predicted`](Self::on_predicted)), and the peer's window (RFC 9293
    /// §3.10.7.4, scaled: not a SYN) and SND.UNA from its ACK.
    #[inline(always)]
    fn usual_ack(&mut self, seg: &TcpRepr, ts: Option<Timestamps>) {
        if let Some(ts) = ts
            && seg.seq <= self.last_ack_sent
        {
            self.ts_recent = ts.tsval;
        }
        self.snd_una = seg.ack;
        self.snd_wnd = (seg.window as u32) << self.snd_wscale;
    }

    /// An ACK of new octets (`seg.ack` past SND.UNA, before SND.UNA moves): the
    /// congestion window grows ([`grow_cwnd`](Self::grow_cwnd)) by the data it
    /// acknowledges (not our SYN's octet: RFC 5681 counts data) while some of our
    /// data is still unsent. Once all of it has gone, no later window is
    /// computed from this one (a loss sets it from the flight and the
    /// threshold), so the usual handlers after that point skip it, and so does
    /// the handshake's ACK, which acknowledges no data.
    #[inline(always)]
    fn acked_new(&mut self, cfg: &impl Settings, seg: &TcpRepr) {
        if self.snd_nxt < self.data_end(cfg) {
            let data_from = self.snd_una.max(self.iss + 1);
            self.grow_cwnd(seg.ack.diff(data_from).max(0) as u32);
        }
    }

    /// New data acknowledged, `acked` octets: the congestion window grows (RFC
    /// 5681 §3.1), in slow start by the octets acknowledged but at most SMSS
    /// (equation 2), in congestion avoidance by about one SMSS a round trip
    /// ([`avoidance_step`](Self::avoidance_step)).
    #[inline(always)]
    fn grow_cwnd(&mut self, acked: u32) {
        let step = if self.cwnd < self.ssthresh {
            acked.min(self.seg_payload_max())
        } else {
            self.avoidance_step(acked)
        };
        self.cwnd = self.cwnd.saturating_add(step);
    }

    /// The congestion avoidance increase of an ACK of `acked` new octets,
    /// SMSS·SMSS/cwnd and at least one octet (RFC 5681 §3.1, equation 3); none
    /// for an ACK of nothing new. Only after a loss, so out of line.
    #[cold]
    #[inline(never)]
    fn avoidance_step(&self, acked: u32) -> u32 {
        if acked == 0 {
            return 0;
        }
        let smss = u64::from(self.smss);
        (smss * smss / u64::from(self.cwnd.max(1))).max(1) as u32
    }

    /// The slow start threshold after a loss, max(FlightSize / 2, 2·SMSS) (RFC
    /// 5681 §3.1, equation 4).
    fn loss_threshold(&self) -> u32 {
        let flight = self.snd_nxt.diff(self.snd_una).max(0) as u32;
        (flight / 2).max(2 * self.seg_payload_max())
    }

    /// The client's RTT sample on the ACK of its whole request, as
    /// [`on_ack`](Self::on_ack) takes it (a usual segment: no retransmission, so
    /// no ambiguity), before SND.UNA moves.
    #[inline(always)]
    fn usual_request_rtt(&mut self, cfg: &impl Settings, now: Instant, seg: &TcpRepr) {
        // (SND.UNA first: past the request's start in every usual segment but
        // the one that acknowledges it, so that the others test one condition.)
        if self.snd_una <= self.iss + 1
            && self.role == Role::Client
            && cfg.tx_total(Role::Client) > 0
            && seg.ack >= self.data_end_as(cfg, Role::Client)
        {
            self.rtt_sample(cfg, (now.nanos_since(self.t_mark) / 1000) as u32);
        }
    }

    /// In-order payload of a usual segment, as [`on_data`](Self::on_data) counts
    /// it (the client times the first byte).
    #[inline(always)]
    fn usual_data(&mut self, seg: &TcpRepr, now: Instant, sink: &mut impl Sink) {
        let len = seg.payload_len as u32;
        if len > 0 {
            if self.role == Role::Client && self.rx_got == 0 {
                sink.record(Phase::Ttfb, now.nanos_since(self.t_mark));
            }
            self.rx_got = self.rx_got.saturating_add(len);
            self.rcv_nxt = self.rcv_nxt + len;
            self.ack_pending = self.ack_pending.saturating_add(1);
        }
    }

    /// SYN-RECEIVED, server: the handshake's ACK, usually carrying the request
    /// (RFC 9293 §3.10.7.4) → ESTABLISHED; once the whole request is in, the
    /// response goes out (with our FIN when the server closes).
    #[inline(always)]
    fn usual_handshake_ack(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        self.usual_ack(seg, ts);
        // The SYN-ACK was not retransmitted: the handshake's RTT sample.
        self.rtt_first_sample(cfg, (now.nanos_since(self.t_mark) / 1000) as u32);
        self.set_state(State::Established);
        self.usual_data(seg, now, sink);
        let mut sent = false;
        if self.rx_got >= cfg.rx_expect(Role::Server) {
            if cfg.tcp().close == CloseMode::Server {
                self.fin_queued = true;
                self.t_fin = now;
                self.set_state(State::FinWait1);
            }
            sent = self.transmit_usual(cfg, now, sink);
        }
        if !sent && self.ack_pending >= 2 {
            self.send_ack(now, sink);
        }
        self.rearm_open(cfg, now, true);
        Step::Continue
    }

    /// ESTABLISHED, client: (part of) the response; once it is all in, the
    /// client closes (CloseMode::Client): FIN → FIN-WAIT-1.
    #[inline(always)]
    fn usual_response(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        let new_ack = seg.ack > self.snd_una;
        if new_ack {
            self.usual_request_rtt(cfg, now, seg);
            self.acked_new(cfg, seg);
        }
        self.usual_ack(seg, ts);
        self.usual_data(seg, now, sink);
        if self.rx_got >= cfg.rx_expect(Role::Client) {
            // Everything expected is in: the client closes (app_progress).
            match cfg.tcp().close {
                CloseMode::Client => {
                    self.fin_queued = true;
                    self.t_fin = now;
                    self.set_state(State::FinWait1);
                }
                CloseMode::Rst => {
                    let sent = self.transmit_usual(cfg, now, sink);
                    if !sent && self.rcv_nxt == self.irs + 1 && self.last_ack_sent != self.rcv_nxt {
                        // (See app_progress: the SYN-ACK not yet answered.)
                        self.send_ack(now, sink);
                    }
                    return self.abort(cfg, now, None, sink);
                }
                CloseMode::Server => {}
            }
        }
        let sent = self.transmit_usual(cfg, now, sink);
        if !sent && self.ack_pending >= 2 {
            self.send_ack(now, sink);
        }
        self.rearm_open(cfg, now, new_ack);
        Step::Continue
    }

    /// ESTABLISHED, server: the client's FIN, everything of ours acknowledged →
    /// CLOSE-WAIT; the application closes at once → LAST-ACK, our FIN.
    #[inline(always)]
    fn usual_peer_fin(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        self.usual_ack(seg, ts);
        self.rcv_nxt = self.rcv_nxt + 1;
        self.t_fin = now;
        self.set_state(State::CloseWait);
        self.fin_queued = true;
        self.set_state(State::LastAck);
        // All our data is out and acknowledged: this sends just the FIN.
        self.transmit_usual(cfg, now, sink);
        self.rearm_open(cfg, now, true);
        Step::Continue
    }

    /// ESTABLISHED, client: the server's FIN, usually on the last of the response
    /// (RFC 9293 §3.10.7.4, eighth) → CLOSE-WAIT; the application closes at once
    /// (app_close_passive) → LAST-ACK, our FIN (or the abort in RST mode).
    #[inline(always)]
    fn usual_response_fin(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        if seg.ack > self.snd_una {
            self.usual_request_rtt(cfg, now, seg);
            self.acked_new(cfg, seg);
        }
        self.usual_ack(seg, ts);
        self.usual_data(seg, now, sink);
        // The FIN, in order behind the data just taken.
        self.rcv_nxt = self.rcv_nxt + 1;
        self.t_fin = now;
        self.set_state(State::CloseWait);
        if self.rx_got < cfg.rx_expect(Role::Client) {
            self.pending_fail = Some(FailCause::ShortResponse);
        }
        if cfg.tcp().close == CloseMode::Rst {
            let fail = self.pending_fail;
            return self.abort(cfg, now, fail, sink);
        }
        self.fin_queued = true;
        self.set_state(State::LastAck);
        if !self.transmit_usual(cfg, now, sink) {
            self.send_ack(now, sink);
        }
        self.rearm_open(cfg, now, true);
        Step::Continue
    }

    /// Whether `seg` is a RST exactly at RCV.NXT (RFC 5961 §3.2: it resets) with
    /// no SYN, our window open (so the sequence test passes).
    #[inline(always)]
    fn usual_rst(&self, seg: &TcpRepr) -> bool {
        const SYN_RST: u8 = TcpFlags::SYN.0 | TcpFlags::RST.0;
        let usual = seg.flags.0 & SYN_RST == TcpFlags::RST.0
            && seg.seq == self.rcv_nxt
            && self.rcv_wnd != 0;
        #[cfg(test)]
        usual_taken(usual);
        usual
    }

    /// An acceptable RST ([`usual_rst`](Self::usual_rst)) in a synchronized
    /// state: what [`synchronized`](Self::synchronized) does with it (PAWS does
    /// not apply to a RST; TS.Recent may move forward).
    #[inline(always)]
    fn on_usual_rst(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0
            && seg.seq <= self.last_ack_sent
        {
            self.ts_recent = ts.tsval;
        }
        sink.event(Event::RstReceived);
        self.on_reset(cfg, now, seg, sink)
    }

    /// FIN-WAIT-1: the peer's FIN acknowledging ours → (FIN-WAIT-2) → TIME-WAIT,
    /// with the last ACK.
    #[inline(always)]
    fn usual_fin_wait_1_fin(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        self.usual_request_rtt(cfg, now, seg);
        self.usual_ack(seg, ts);
        self.set_state(State::FinWait2);
        self.rcv_nxt = self.rcv_nxt + 1;
        if self.t_fin == Instant::ZERO {
            self.t_fin = now;
        }
        self.send_ack(now, sink);
        self.enter_time_wait(cfg, now, sink)
    }

    /// LAST-ACK: the ACK of our FIN → CLOSED.
    #[inline(always)]
    fn usual_last_ack(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        ts: Option<Timestamps>,
        sink: &mut impl Sink,
    ) -> Step {
        self.usual_request_rtt(cfg, now, seg);
        self.usual_ack(seg, ts);
        if self.role == Role::Client {
            sink.record(Phase::Close, now.nanos_since(self.t_fin));
        }
        self.finish(now, None, sink)
    }

    /// Header prediction (after the BSD stack's `tcp_input`): whether `seg` is the
    /// segment a synchronized connection expects, one that passes every check of
    /// RFC 9293 §3.10.7.4 before the ACK is processed without acting on any of
    /// them: ACK set, no SYN, RST or URG, exactly at RCV.NXT (so inside a nonzero
    /// window), a TSval not older than TS.Recent (PAWS), an ACK within
    /// `[SND.UNA, SND.NXT]` (in SYN-RECEIVED beyond SND.UNA, as the handshake's ACK
    /// must be). Such a segment skips those checks
    /// ([`on_predicted`](Self::on_predicted)); any other takes the full path, which gives the same
    /// result for a predicted one.
    #[inline(always)]
    fn predicted(&self, _cfg: &impl Settings, seg: &TcpRepr) -> bool {
        const CTL: u8 = TcpFlags::SYN.0 | TcpFlags::RST.0 | TcpFlags::ACK.0 | TcpFlags::URG.0;
        // The synchronized states but TIME-WAIT, as a set of discriminants.
        const SYNCHRONIZED: u16 = 1 << State::SynReceived as u8
            | 1 << State::Established as u8
            | 1 << State::FinWait1 as u8
            | 1 << State::FinWait2 as u8
            | 1 << State::CloseWait as u8
            | 1 << State::Closing as u8
            | 1 << State::LastAck as u8;
        let state = self.state as u8;
        let paws_ok = match seg.options.timestamps {
            Some(ts) => (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0,
            None => !self.ts_ok,
        } | !self.ts_ok;
        // In SYN-RECEIVED the ACK must be beyond SND.UNA (it acknowledges our SYN).
        let ack_from = self.snd_una + u32::from(state == State::SynReceived as u8);
        seg.flags.0 & CTL == TcpFlags::ACK.0
            && seg.seq == self.rcv_nxt
            && SYNCHRONIZED >> state & 1 != 0
            && paws_ok
            // SEG.ACK in [ack_from, SND.NXT]: one unsigned comparison of distances
            // (SND.NXT is never more than 2^31 beyond SND.UNA).
            && seg.ack.0.wrapping_sub(ack_from.0) <= self.snd_nxt.0.wrapping_sub(ack_from.0)
            && self.rcv_wnd != 0
    }

    /// A segment [`predicted`](Self::predicted): what the full path does with it
    /// once its checks have passed.
    #[inline(always)]
    fn on_predicted(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        // TS.Recent (RFC 7323 §4.3 (2)); the TSval was found not older above.
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && seg.seq <= self.last_ack_sent
        {
            self.ts_recent = ts.tsval;
        }
        if self.state == State::SynReceived {
            self.handshake_acked(cfg, now, sink);
        }
        self.on_ack(cfg, now, seg, sink)
    }

    /// [`on_segment`](Self::on_segment) of a segment that was not predicted.
    #[inline(never)]
    fn on_unpredicted(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        match self.state {
            State::SynSent => self.on_syn_sent(cfg, now, seg, sink),
            State::TimeWait => self.on_time_wait(cfg, now, seg, sink),
            State::Closed | State::Listen => Step::Continue,
            _ => self.on_synchronized(cfg, now, seg, sink),
        }
    }

    /// SYN-SENT (RFC 9293 §3.10.7.3).
    fn on_syn_sent(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        let f = seg.flags;
        // First, check the ACK: it must acknowledge our SYN and nothing more.
        let ack_ok = f.ack() && seg.ack > self.iss && seg.ack <= self.snd_nxt;
        if f.ack() && !ack_ok {
            // An old duplicate SYN-ACK (or garbage): answer <SEQ=SEG.ACK><CTL=RST>
            // unless it is itself a RST.
            if !f.rst() {
                self.reply_reset(seg, sink);
            }
            return Step::Continue;
        }
        // Second, RST: acceptable only with an acceptable ACK (RFC 5961 §3.2 keeps
        // RFC 793's rule for SYN-SENT): connection refused.
        if f.rst() {
            if ack_ok {
                sink.event(Event::RstReceived);
                return self.finish(now, Some(FailCause::Refused), sink);
            }
            return Step::Continue;
        }
        if !f.syn() {
            return Step::Continue;
        }
        // Fourth, SYN.
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.negotiate(cfg, seg);
        if !ack_ok {
            // Simultaneous open: SYN without ACK → SYN-RECEIVED, send SYN-ACK.
            self.role = Role::Client;
            self.set_state(State::SynReceived);
            self.send_syn_ack(cfg, now, sink);
            return Step::Continue;
        }
        self.snd_una = seg.ack;
        self.snd_wnd = seg.window as u32; // not scaled in a SYN (RFC 7323 §2.2)
        sink.record(Phase::Connect, now.nanos_since(self.t_start));
        self.handshake_rtt(cfg, now);
        self.retries = 0;
        self.loss = 0;
        self.set_state(State::Established);
        self.t_mark = now;
        self.after_established(cfg, now, sink)
    }

    /// The client's move once established: send the request on the handshake ACK,
    /// or close at once when nothing is to be exchanged.
    fn after_established(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Step {
        let (sent, step) = self.app_progress(cfg, now, sink);
        if step == Step::Closed {
            return step;
        }
        if !sent {
            self.send_ack(now, sink);
        }
        self.rearm(cfg, now, true);
        Step::Continue
    }

    /// TIME-WAIT on a full control block (the engine normally holds a
    /// [`TimeWaitRecord`] instead; both share the same rules).
    fn on_time_wait(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        let mut rec = self.time_wait_record();
        let now_ms = now.as_millis() as u32;
        let verdict = rec.on_segment(seg, now_ms, cfg.time_wait_ms(), |e| sink.event(e));
        self.ts_recent = rec.ts_recent;
        if rec.expires_ms != self.deadline.as_millis() as u32 {
            self.deadline = Instant(now.0.saturating_add(cfg.time_wait_nanos()));
        }
        match verdict {
            TwVerdict::Ack => {
                let a = rec.ack(self.local_port, self.remote_port, self.tsval(cfg, now));
                sink.send(self.local_ip, self.remote_ip, &a, 0);
                Step::Continue
            }
            TwVerdict::Close | TwVerdict::Reopen => {
                self.set_state(State::Closed);
                self.timer = TimerKind::None;
                self.deadline = Instant::NEVER;
                Step::Closed
            }
            TwVerdict::Drop => Step::Continue,
        }
    }

    /// Is `seg` acceptable by the sequence test of RFC 9293 §3.10.7.4 (first)?
    #[inline]
    fn seq_acceptable(&self, seg: &TcpRepr) -> bool {
        // RCV.WND is the window we advertise: the window field scaled by our shift.
        // Without window scaling the 16-bit field caps it at 65535 whatever
        // cfg.tcp().window says, and a segment beyond what we advertised is not
        // acceptable (RFC 9293 §3.10.7.4; RFC 5961 §3.2 drops such a RST).
        let wnd = u32::from(self.rcv_wnd) << self.rcv_shift();
        let len = seg.seq_len();
        let from_nxt = seg.seq.diff(self.rcv_nxt);
        if len == 0 {
            // RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND
            from_nxt >= 0 && (from_nxt as u32) < wnd
        } else {
            let last = (seg.seq + (len - 1)).diff(self.rcv_nxt);
            (from_nxt >= 0 && (from_nxt as u32) < wnd) || (last >= 0 && (last as u32) < wnd)
        }
    }

    /// Every synchronized state but TIME-WAIT, plus SYN-RECEIVED (RFC 9293
    /// §3.10.7.4).
    fn on_synchronized(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        // Simultaneous open (RFC 9293 §3.5, Figure 8, line 6): in SYN-RECEIVED
        // after our own SYN, the peer's SYN-ACK answers our SYN. Its SYN was taken
        // already; what is new is its ACK, which moves us to ESTABLISHED. Without
        // this the SYN-ACK failed the sequence test (SEG.SEQ+SEG.LEN-1 < RCV.NXT)
        // and only drew an ACK, costing a round trip. Linux passes it the same way
        // (tcp_validate_incoming). Processed as the ACK one past its SYN (out of
        // line: it is rare, and the copy of the segment it needs would otherwise
        // cost every segment).
        if self.state == State::SynReceived
            && self.role == Role::Client
            && seg.flags.syn()
            && seg.flags.ack()
            && !seg.flags.rst()
            && seg.seq == self.irs
            && seg.payload_len == 0
        {
            return self.on_simultaneous_syn_ack(cfg, now, seg, sink);
        }
        self.synchronized(cfg, now, seg, sink)
    }

    /// The SYN-ACK that completes a simultaneous open, processed as the ACK one past
    /// its SYN (see [`on_synchronized`](Self::on_synchronized)).
    #[cold]
    #[inline(never)]
    fn on_simultaneous_syn_ack(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        let ack_of_syn_ack = TcpRepr {
            seq: seg.seq + 1,
            flags: TcpFlags(seg.flags.0 & !TcpFlags::SYN.0),
            ..*seg
        };
        self.synchronized(cfg, now, &ack_of_syn_ack, sink)
    }

    /// The body of [`on_synchronized`](Self::on_synchronized).
    #[inline(always)]
    fn synchronized(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        let f = seg.flags;
        // PAWS (RFC 7323 §5.3): a segment whose TSval is older than TS.Recent is an
        // old duplicate. Drop it, acknowledging unless it is a RST.
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
            && !f.rst()
        {
            sink.event(Event::PawsRejected);
            self.send_ack(now, sink);
            return Step::Continue;
        }
        // First, the sequence number.
        if !self.seq_acceptable(seg) {
            if f.rst() {
                return Step::Continue;
            }
            if self.state == State::SynReceived && f.syn() && !f.ack() && seg.seq == self.irs {
                // The peer's SYN again: our SYN-ACK was lost; send it again.
                self.send_syn_ack(cfg, now, sink);
                return Step::Continue;
            }
            if seg.seq > self.rcv_nxt {
                // Beyond the window (or a SYN into a synchronized state).
                self.challenge_ack(cfg, now, sink);
            } else {
                // An old duplicate: re-acknowledge where we are.
                self.send_ack(now, sink);
            }
            return Step::Continue;
        }
        // Update TS.Recent (RFC 7323 §4.3 (2)): SEG.TSval >= TS.Recent and
        // SEG.SEQ =< Last.ACK.sent. Comparing with RCV.NXT instead let the second
        // of two segments under one delayed ACK overwrite the first's TSval, and
        // let a RST (exempt from PAWS) move TS.Recent back.
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) >= 0
            && seg.seq <= self.last_ack_sent
        {
            self.ts_recent = ts.tsval;
        }
        // Second, RST (RFC 5961 §3.2): exact match resets, in-window challenges.
        if f.rst() {
            if seg.seq != self.rcv_nxt {
                self.challenge_ack(cfg, now, sink);
                return Step::Continue;
            }
            sink.event(Event::RstReceived);
            return self.on_reset(cfg, now, seg, sink);
        }
        // Fourth, SYN in a synchronized state (RFC 5961 §4.2): challenge ACK.
        if f.syn() {
            self.challenge_ack(cfg, now, sink);
            return Step::Continue;
        }
        // Fifth, ACK.
        if !f.ack() {
            return Step::Continue;
        }
        if self.state == State::SynReceived {
            // The handshake's ACK (RFC 9293 §3.10.7.4, fifth, SYN-RECEIVED):
            // SND.UNA < SEG.ACK =< SND.NXT enters ESTABLISHED; any other ACK is
            // answered with <SEQ=SEG.ACK><CTL=RST>. This comes before the RFC 5961
            // §5.2 check below, which is for synchronized states: before, an ACK
            // beyond SND.NXT got a challenge ACK here instead of the RST.
            if seg.ack <= self.snd_una || seg.ack > self.snd_nxt {
                self.reply_reset(seg, sink);
                return Step::Continue;
            }
            self.handshake_acked(cfg, now, sink);
        }
        // RFC 5961 §5.2: SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT.
        if seg.ack > self.snd_nxt || seg.ack.diff(self.snd_una) < -(self.snd_wnd.max(65535) as i32)
        {
            self.challenge_ack(cfg, now, sink);
            return Step::Continue;
        }
        self.on_ack(cfg, now, seg, sink)
    }

    /// SYN-RECEIVED: the handshake's acceptable ACK arrived → ESTABLISHED.
    #[inline(always)]
    fn handshake_acked(&mut self, cfg: &impl Settings, now: Instant, sink: &mut impl Sink) {
        self.handshake_rtt(cfg, now);
        self.retries = 0;
        self.set_state(State::Established);
        if self.role == Role::Client {
            // A simultaneous open completes here instead of in SYN-SENT: the
            // client's connect phase ends and its request goes out now, so
            // record Connect and start the ttfb clock as on_syn_sent() does.
            sink.record(Phase::Connect, now.nanos_since(self.t_start));
            self.t_mark = now;
        }
        if self.fin_queued {
            // The application closed during the handshake (RFC 9293 §3.10.4).
            self.mark_fin(now);
            self.set_state(State::FinWait1);
        }
    }

    /// The rest of RFC 9293 §3.10.7.4 for a segment whose checks passed, from its
    /// (acceptable) ACK on: the ACK, the text, the FIN, and what the application
    /// does next.
    #[inline(always)]
    fn on_ack(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        let f = seg.flags;
        let mut new_ack = false;
        // A duplicate ACK (RFC 5681 §2): data outstanding, nothing carried, no SYN
        // or FIN, the ACK field at SND.UNA and the window unchanged.
        let dupack = seg.ack == self.snd_una
            && self.snd_una != self.snd_nxt
            && seg.payload_len == 0
            && !f.syn()
            && !f.fin()
            && (seg.window as u32) << self.snd_wscale == self.snd_wnd;
        if dupack && self.loss & DUPACK_MASK != DUPACK_MASK {
            self.loss += DUPACK_ONE;
        }
        if seg.ack > self.snd_una {
            // New data acknowledged.
            if self.role == Role::Client
                && self.retries == 0
                && cfg.tx_total(Role::Client) > 0
                && self.snd_una <= self.iss + 1
                && seg.ack >= self.data_end_as(cfg, Role::Client)
            {
                self.rtt_sample(cfg, (now.nanos_since(self.t_mark) / 1000) as u32);
            } else if (self.retries != 0 || self.loss & RECOVERING != 0)
                && let Some(r_ms) = self.echoed_rtt_ms(cfg, seg, sink.ms_clock(now))
            {
                // After a retransmission: the ACK that advances SND.UNA times the
                // segment its TSecr echoes, the retransmission itself (RTTM, RFC
                // 7323 §4.1, which timestamps make unambiguous), so the RTO is
                // recomputed and a timeout's backoff does not outlive its loss.
                // (Without timestamps Karn's rule keeps the backoff. Only here:
                // outside recovery the usual handlers' RTT samples stand.)
                self.rtt_sample(cfg, r_ms.saturating_mul(1000));
            }
            self.acked_new(cfg, seg);
            self.snd_una = seg.ack;
            self.retries = 0;
            self.loss &= !DUPACK_MASK;
            new_ack = true;
        }
        // Window update (RFC 9293 §3.10.7.4): scaled unless in a SYN.
        self.snd_wnd = (seg.window as u32) << self.snd_wscale;
        if !new_ack && self.snd_wnd == 0 && self.snd_una != self.snd_nxt {
            // A zero-window ACK answering our retransmission, which is a window
            // probe: RFC 9293 §3.8.6.1 (MUST-36) keeps the connection open as long
            // as the peer answers its probes, so they do not count as retries
            // (the RTO backoff stays). Before, the retry limit ended a connection
            // whose peer was alive but not reading (DataTimeout).
            self.retries = 0;
        }
        // Our FIN acknowledged.
        if self.fin_queued && self.snd_una == self.data_end(cfg) + 1 {
            match self.state {
                // FIN-WAIT-1: our FIN acknowledged → FIN-WAIT-2.
                State::FinWait1 => self.set_state(State::FinWait2),
                // CLOSING: our FIN acknowledged → TIME-WAIT.
                State::Closing => return self.enter_time_wait(cfg, now, sink),
                // LAST-ACK: our FIN acknowledged → CLOSED.
                State::LastAck => {
                    if self.role == Role::Client {
                        sink.record(Phase::Close, now.nanos_since(self.t_fin));
                    }
                    return self.finish(now, None, sink);
                }
                _ => {}
            }
        }
        if self.loss & RECOVERING != 0 {
            if new_ack && self.snd_una < self.snd_nxt {
                // A partial ACK during recovery: resend the next segment (counted:
                // `retransmitted` is every segment sent again, as Linux's
                // TcpRetransSegs).
                sink.event(Event::Retransmitted);
                let at = self.snd_una;
                self.send_at(cfg, now, at, u32::MAX, sink);
            } else if self.snd_una == self.snd_nxt {
                // Everything sent is acknowledged (with no `recover` point kept,
                // that includes what went out during recovery): recovery ends,
                // and the window deflates to the threshold (RFC 5681 §3.2 step
                // 6; after a timeout, slow start has it below already).
                self.loss &= !RECOVERING;
                self.cwnd = self.cwnd.min(self.ssthresh);
            }
        } else if dupack && self.loss & DUPACK_MASK == DUPACK_THRESHOLD * DUPACK_ONE {
            // The third duplicate ACK: the segment at SND.UNA is taken as lost and
            // resent at once, without waiting for the retransmission timer (fast
            // retransmit, RFC 5681 §3.2), and recovery goes on as after a timeout
            // but without its backoff: each partial ACK resends the next segment.
            // The window halves (RFC 5681 §3.2 steps 2 and 3). It is not
            // inflated by the duplicate ACKs that follow (step 4): new data goes
            // out once partial ACKs bring the flight under it, which sends less
            // than RFC 5681 allows, never more.
            self.ssthresh = self.loss_threshold();
            self.cwnd = self.ssthresh.saturating_add(3 * self.seg_payload_max());
            self.loss |= RECOVERING;
            sink.event(Event::Retransmitted);
            let at = self.snd_una;
            self.send_at(cfg, now, at, u32::MAX, sink);
            self.arm_retransmit(now);
        }
        // Sixth (URG) is ignored. Seventh, the segment text.
        let mut must_ack = false;
        if seg.payload_len > 0 {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    must_ack = self.on_data(seg, now, sink);
                }
                // Data after the peer's FIN: not acceptable; the sequence test
                // normally catches it. Acknowledge.
                _ => must_ack = true,
            }
        }
        // Eighth, FIN.
        let fin_in_order = f.fin() && seg.seq + seg.payload_len as u32 == self.rcv_nxt;
        if fin_in_order {
            self.rcv_nxt = self.rcv_nxt + 1;
            // (In ESTABLISHED `t_fin` may hold a range, which the FIN ends.)
            if self.t_fin == Instant::ZERO || self.state == State::Established {
                self.mark_fin(now);
            }
            match self.state {
                // ESTABLISHED: the peer closes first → CLOSE-WAIT; our application
                // closes at once (after the response, on the server side).
                State::Established | State::SynReceived => {
                    self.set_state(State::CloseWait);
                    if self.role == Role::Client && self.rx_got < cfg.rx_expect(Role::Client) {
                        self.pending_fail = Some(FailCause::ShortResponse);
                    }
                    return self.app_close_passive(cfg, now, sink);
                }
                // FIN-WAIT-1: FIN before our FIN's ACK → CLOSING (simultaneous
                // close); with our FIN acknowledged it was FIN-WAIT-2 already.
                State::FinWait1 => {
                    self.set_state(State::Closing);
                    self.send_ack(now, sink);
                    self.rearm(cfg, now, new_ack);
                    return Step::Continue;
                }
                // FIN-WAIT-2: the peer's FIN → TIME-WAIT.
                State::FinWait2 => {
                    self.send_ack(now, sink);
                    return self.enter_time_wait(cfg, now, sink);
                }
                _ => must_ack = true,
            }
        } else if f.fin() && seg.seq + seg.payload_len as u32 != self.rcv_nxt {
            // A FIN beyond a hole: ask for what is missing.
            must_ack = true;
        }
        // What the application does with what arrived.
        let sent = self.app_progress(cfg, now, sink);
        if let Step::Closed = sent.1 {
            return Step::Closed;
        }
        if !sent.0 && (must_ack || self.ack_pending >= 2) {
            self.send_ack(now, sink);
        }
        self.rearm(cfg, now, new_ack);
        Step::Continue
    }

    /// In-order payload: count it (the client times the first byte), and with it
    /// the out-of-order data held beyond it once it fills the hole. Out-of-order
    /// payload is held (see [`RANGE`]). Returns whether an ACK is due at once (out
    /// of order, a retransmission, or after a hole).
    #[inline(always)]
    fn on_data(&mut self, seg: &TcpRepr, now: Instant, sink: &mut impl Sink) -> bool {
        let off = self.rcv_nxt.diff(seg.seq);
        let len = seg.payload_len as u32;
        if off < 0 {
            // A hole before it. Duplicate ACK, and from now on every segment is
            // acknowledged at once.
            self.loss |= HOLE;
            self.hold(seg.seq, seg.seq + len);
            return true;
        }
        let off = off as u32;
        if off >= len {
            return true;
        }
        let new = len - off;
        if self.role == Role::Client && self.rx_got == 0 {
            sink.record(Phase::Ttfb, now.nanos_since(self.t_mark));
        }
        self.rx_got = self.rx_got.saturating_add(new);
        self.rcv_nxt = self.rcv_nxt + new;
        self.ack_pending = self.ack_pending.saturating_add(1);
        if self.loss & RANGE != 0 {
            self.fill_hole();
        }
        off > 0 || self.loss & HOLE != 0
    }

    /// The out-of-order data held beyond the hole, `[start, end)`, if any.
    pub fn held(&self) -> Option<(SeqNumber, SeqNumber)> {
        (self.loss & RANGE != 0).then(|| {
            let r = self.t_fin.as_nanos();
            (SeqNumber(r as u32), SeqNumber((r >> 32) as u32))
        })
    }

    /// Hold out-of-order data `[start, end)` (beyond RCV.NXT, within the window:
    /// the sequence test let it in): it starts the range, or joins a range it
    /// touches or overlaps. Data apart from the range held is dropped, as all
    /// out-of-order data was before (its sender resends it). Only in
    /// ESTABLISHED, where `t_fin` is not yet in use (see [`RANGE`]).
    #[cold]
    #[inline(never)]
    fn hold(&mut self, start: SeqNumber, end: SeqNumber) {
        let (start, end) = match self.held() {
            None if self.state == State::Established && self.t_fin == Instant::ZERO => (start, end),
            Some((s, e)) if start <= e && s <= end => (s.min(start), e.max(end)),
            _ => return,
        };
        self.loss |= RANGE;
        self.t_fin = Instant((u64::from(end.0) << 32) | u64::from(start.0));
    }

    /// In-order data arrived while a range is held: once RCV.NXT reaches the
    /// range, it moves past it and the range's octets are counted as received.
    #[cold]
    #[inline(never)]
    fn fill_hole(&mut self) {
        let Some((start, end)) = self.held() else {
            return;
        };
        if self.rcv_nxt < start {
            return;
        }
        if end > self.rcv_nxt {
            self.rx_got = self.rx_got.saturating_add(end.diff(self.rcv_nxt) as u32);
            self.rcv_nxt = end;
        }
        self.loss &= !RANGE;
        self.t_fin = Instant::ZERO;
    }

    /// `t_fin` becomes `now` (a FIN sent or received): a range held in its
    /// place is let go (its sender resends what it covered).
    #[inline(always)]
    fn mark_fin(&mut self, now: Instant) {
        self.loss &= !RANGE;
        self.t_fin = now;
    }

    /// The application reacts to progress: the server sends its response once the
    /// request is in; the client closes once the response is in. Returns whether
    /// something was sent, and the step.
    #[inline(always)]
    fn app_progress(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        sink: &mut impl Sink,
    ) -> (bool, Step) {
        if self.state != State::Established || self.rx_got < cfg.rx_expect(self.role) {
            if self.role == Role::Server && self.state == State::Established {
                // The response answers the request (TcpConfig::response_bytes):
                // nothing of it goes out before the whole request is in. Without
                // this the handshake ACK alone released the response.
                return (false, Step::Continue);
            }
            return (self.transmit(cfg, now, sink), Step::Continue);
        }
        match self.role {
            Role::Server => {
                if cfg.tcp().close == CloseMode::Server && !self.fin_queued {
                    self.fin_queued = true;
                    self.mark_fin(now);
                    self.set_state(State::FinWait1);
                }
                (self.transmit(cfg, now, sink), Step::Continue)
            }
            // Everything expected is in: the client closes (its FIN follows any
            // request bytes still unsent).
            Role::Client => match cfg.tcp().close {
                CloseMode::Client => {
                    self.fin_queued = true;
                    self.mark_fin(now);
                    self.set_state(State::FinWait1);
                    (self.transmit(cfg, now, sink), Step::Continue)
                }
                CloseMode::Rst => {
                    let sent = self.transmit(cfg, now, sink);
                    if !sent && self.rcv_nxt == self.irs + 1 && self.last_ack_sent != self.rcv_nxt {
                        // Nothing to exchange: the SYN-ACK has not been answered yet.
                        // RFC 9293 §3.10.7.3 sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                        // on entering ESTABLISHED, before the application can abort;
                        // a bare RST here left the server to see a RST in
                        // SYN-RECEIVED, a failed connection.
                        self.send_ack(now, sink);
                    }
                    (true, self.abort(cfg, now, None, sink))
                }
                CloseMode::Server => (self.transmit(cfg, now, sink), Step::Continue),
            },
        }
    }

    /// CLOSE-WAIT: our application closes at once; the FIN goes out after any data
    /// still to send (the server's response) → LAST-ACK.
    #[inline(always)]
    fn app_close_passive(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        sink: &mut impl Sink,
    ) -> Step {
        if self.role == Role::Client && cfg.tcp().close == CloseMode::Rst {
            let fail = self.pending_fail;
            return self.abort(cfg, now, fail, sink);
        }
        self.fin_queued = true;
        self.set_state(State::LastAck);
        if !self.transmit(cfg, now, sink) {
            self.send_ack(now, sink);
        }
        self.rearm(cfg, now, true);
        Step::Continue
    }

    /// An acceptable RST arrived (RFC 9293 §3.10.7.4, "second, check the RST bit").
    #[inline(never)]
    fn on_reset(
        &mut self,
        cfg: &impl Settings,
        now: Instant,
        seg: &TcpRepr,
        sink: &mut impl Sink,
    ) -> Step {
        // Whether the client has the whole response. The client's abort (RST close
        // mode) goes out as RST|ACK on the last response byte, with no ACK before
        // it, so the RST's own ACK field is what says so. It is only read for this
        // account: RFC 9293 processes no ACK on a RST.
        let response_acked = self.snd_una == self.data_end(cfg)
            || (seg.flags.ack() && seg.ack == self.data_end(cfg));
        let cause = match self.state {
            // The client aborting after the whole response is the RST close mode:
            // for the server that is a normal end.
            State::Established | State::CloseWait
                if self.role == Role::Server
                    && self.rx_got >= cfg.rx_expect(Role::Server)
                    && response_acked =>
            {
                None
            }
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(FailCause::ResetEstablished),
            _ => Some(FailCause::ResetClosing),
        };
        let cause = match (self.state, cause) {
            (State::FinWait1 | State::FinWait2, Some(_))
                if self.rx_got >= cfg.rx_expect(self.role) =>
            {
                Some(FailCause::ResetClosing)
            }
            _ => cause,
        };
        self.finish(now, cause, sink)
    }
}

#[cfg(test)]
thread_local! {
    /// Segments the specialised handlers of [`Conn::on_segment`] took on this
    /// thread (the tests check that the usual lifecycle takes them).
    pub(crate) static USUAL_TAKEN: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// Count a segment a specialised handler takes.
#[cfg(test)]
fn usual_taken(taken: bool) {
    USUAL_TAKEN.with(|n| n.set(n.get() + u64::from(taken)));
}

/// `nanos.div_ceil(1_000_000)`, computed as `(nanos + 999_999) / 1_000_000` (one
/// multiply by the reciprocal and a shift, where `div_ceil` also multiplies back to
/// test the remainder); the sum overflows only within a millisecond of `u64::MAX`,
/// where `div_ceil` itself answers, so the result is the same for every input.
#[inline(always)]
pub(crate) fn ceil_ms(nanos: u64) -> u64 {
    match nanos.checked_add(999_999) {
        Some(n) => n / 1_000_000,
        None => nanos.div_ceil(1_000_000),
    }
}

/// A duration in whole milliseconds, saturating.
#[inline]
pub(crate) fn ms(d: std::time::Duration) -> u32 {
    // `d.as_millis().min(u32::MAX)`, in 64 bits (RTO bounds are read on every RTT
    // sample): a product that overflows u64 is far above u32::MAX anyway.
    let ms = d
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()));
    ms.min(u64::from(u32::MAX)) as u32
}
