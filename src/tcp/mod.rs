//! Sans-IO TCP: the connection state machines of RFC 9293 for both sides.
//!
//! Nothing here owns a socket, reads a clock or allocates. Every entry point takes
//! `now`, and everything a connection wants done goes through a [`Sink`]: segments to
//! transmit, latency samples, and events to count. The timer a connection wants is
//! its [`Conn::deadline`], which the engine keeps in its timer wheel.
//!
//! - [`conn`]: the control block for an open connection, client or server side.
//! - [`timewait`]: the compact record that replaces a control block in TIME-WAIT.
//! - [`listen`]: what LISTEN and CLOSED answer to a segment that has no connection.
//! - [`isn`]: initial sequence numbers and timestamp offsets (RFC 6528, RFC 7323 §5.4).

use core::fmt;
use std::time::Duration;

pub use crate::stats::{FailCause, Phase};
use crate::time::Instant;
use crate::wire::tcp::{OptionArea, TcpHeaderWords, TcpOptions, TcpRepr, Timestamps};

pub mod conn;
pub mod isn;
pub mod listen;
pub mod timewait;

#[cfg(test)]
mod tests;

pub use conn::{Conn, Step};

pub use timewait::{TimeWaitRecord, TwVerdict};

/// The connection states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// No connection.
    #[default]
    Closed,
    /// Waiting for a SYN (server side).
    Listen,
    /// SYN sent, waiting for a SYN-ACK (client side).
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for the ACK.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// Our FIN sent, not yet acknowledged, no FIN from the peer yet.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// Both FINs sent (simultaneous close), ours not yet acknowledged.
    Closing,
    /// Both FINs exchanged and acknowledged; waiting 2·MSL.
    TimeWait,
    /// The peer's FIN received, ours not yet sent.
    CloseWait,
    /// The peer closed first; our FIN sent, waiting for its ACK.
    LastAck,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::Closing => "CLOSING",
            State::TimeWait => "TIME-WAIT",
            State::CloseWait => "CLOSE-WAIT",
            State::LastAck => "LAST-ACK",
        })
    }
}

/// Who ends a connection, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CloseMode {
    /// The client sends the first FIN once the response is in; TIME-WAIT lands on the
    /// client.
    #[default]
    Client,
    /// The server sends its FIN with the response; the client closes passively and
    /// TIME-WAIT lands on the server.
    Server,
    /// The client aborts with RST once the response is in (SO_LINGER 0): no TIME-WAIT.
    Rst,
}

impl CloseMode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseMode::Client => "client",
            CloseMode::Server => "server",
            CloseMode::Rst => "rst",
        }
    }
}

/// Which end of the connection a control block is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// Active opener: sends the request, counts the response.
    #[default]
    Client,
    /// Passive opener: counts the request, sends the response.
    Server,
}

/// Per-worker TCP settings shared by every connection of one side.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// MSS we advertise and the largest payload we send (before option space).
    pub mss: u16,
    /// Window scale shift we offer in our SYN (RFC 7323 §2); `None` sends no option.
    pub window_scale: Option<u8>,
    /// Offer SACK-permitted (RFC 2018). synfin never sends SACK blocks: beyond a
    /// hole it holds one range of out-of-order data, which its ACK covers once the
    /// hole fills.
    pub sack_permitted: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Receive window we advertise, in bytes (scaled by `window_scale`).
    pub window: u32,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).
    pub rto_min: Duration,
    /// Upper bound of the RTO after backoff (RFC 6298 §2.5: at least 60 s).
    pub rto_max: Duration,
    /// The initial congestion window in segments (RFC 6928 and Linux: 10; RFC
    /// 5681 §3.1 allows 2 to 4). A connection whose SYN or SYN-ACK was
    /// retransmitted starts with one.
    pub initial_cwnd: u32,
    /// Retransmissions of a SYN or SYN-ACK before giving up (Linux tcp_syn_retries: 6).
    pub syn_retries: u8,
    /// Retransmissions of data or FIN before giving up.
    pub retries: u8,
    /// How long a connection may wait for its peer with nothing of its own
    /// outstanding (a silent peer after the handshake, or in FIN-WAIT-2).
    pub idle_timeout: Duration,
    /// TIME-WAIT duration, 2·MSL (Linux TCP_TIMEWAIT_LEN: 60 s).
    pub time_wait: Duration,
    /// Request bytes the client sends after the handshake.
    pub request_bytes: u32,
    /// Response bytes the server sends once the request is in.
    pub response_bytes: u32,
    /// Who closes.
    pub close: CloseMode,
    /// Base of the timestamp clock in milliseconds (wall-clock based, so TSvals keep
    /// increasing across runs; see FACTS.md on PAWS across runs).
    pub ts_base_ms: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: true,
            window: 1 << 20,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            initial_cwnd: 10,
            syn_retries: 6,
            retries: 8,
            idle_timeout: Duration::from_secs(30),
            time_wait: Duration::from_secs(60),
            request_bytes: 64,
            response_bytes: 256,
            close: CloseMode::Client,
            ts_base_ms: 0,
        }
    }
}

/// What a connection reads of its side's settings: the [`TcpConfig`] itself, and the
/// values the segment path derives from it. [`TcpConfig`] derives them when asked;
/// [`TcpParams`] (what the engine holds) has them computed once, so that no
/// segment converts a `Duration`.
pub trait Settings {
    /// The settings.
    fn tcp(&self) -> &TcpConfig;
    /// `rto_initial` in whole milliseconds.
    #[inline]
    fn rto_initial_ms(&self) -> u32 {
        conn::ms(self.tcp().rto_initial)
    }
    /// `rto_min` in whole milliseconds.
    #[inline]
    fn rto_min_ms(&self) -> u32 {
        conn::ms(self.tcp().rto_min)
    }
    /// `rto_max` in whole milliseconds.
    #[inline]
    fn rto_max_ms(&self) -> u32 {
        conn::ms(self.tcp().rto_max)
    }
    /// Application bytes a connection of `role` sends: the request (client) or
    /// the response (server). Read from the settings rather than copied into
    /// each control block, whose bytes are all taken.
    #[inline]
    fn tx_total(&self, role: Role) -> u32 {
        match role {
            Role::Client => self.tcp().request_bytes,
            Role::Server => self.tcp().response_bytes,
        }
    }
    /// Application bytes a connection of `role` expects: the response (client)
    /// or the request (server).
    #[inline]
    fn rx_expect(&self, role: Role) -> u32 {
        match role {
            Role::Client => self.tcp().response_bytes,
            Role::Server => self.tcp().request_bytes,
        }
    }
    /// `time_wait` in whole milliseconds.
    #[inline]
    fn time_wait_ms(&self) -> u32 {
        conn::ms(self.tcp().time_wait)
    }
    /// `idle_timeout` in nanoseconds (saturating).
    #[inline]
    fn idle_nanos(&self) -> u64 {
        nanos(self.tcp().idle_timeout)
    }
    /// `time_wait` in nanoseconds (saturating).
    #[inline]
    fn time_wait_nanos(&self) -> u64 {
        nanos(self.tcp().time_wait)
    }
    /// The options of our SYN, as configured, with TSval 0 (the only field that
    /// changes from one SYN to the next, filled in at send time: the second word
    /// of [`OptionArea::words`] ends with it when timestamps are on).
    #[inline]
    fn syn_options(&self) -> OptionArea {
        let c = self.tcp();
        OptionArea::syn(&TcpOptions {
            mss: Some(c.mss),
            window_scale: c.window_scale,
            sack_permitted: c.sack_permitted,
            timestamps: c.timestamps.then_some(Timestamps::default()),
        })
    }
    /// The options of our SYN-ACK when it carries window scale (our shift
    /// [`rcv_wscale`](Self::rcv_wscale)), SACK-permitted and timestamps as `ws`,
    /// `sack` and `ts` say, with TSval and TSecr 0 (filled in at send time: the
    /// second word of [`OptionArea::words`] ends with TSval, the third starts with
    /// TSecr).
    #[inline]
    fn synack_options(&self, ws: bool, sack: bool, ts: bool) -> OptionArea {
        OptionArea::syn(&TcpOptions {
            mss: Some(self.tcp().mss),
            window_scale: ws.then_some(self.rcv_wscale().unwrap_or(0)),
            sack_permitted: sack,
            timestamps: ts.then_some(Timestamps::default()),
        })
    }
    /// The window field of a SYN or SYN-ACK: `window`, never scaled there
    /// (RFC 7323 §2.2), at most 65,535.
    #[inline]
    fn syn_window(&self) -> u16 {
        self.tcp().window.min(65535) as u16
    }
    /// The shift we apply to our window field once the peer agreed to window
    /// scaling: our offered scale, at most 14 (RFC 7323 §2.3); `None` when we offer
    /// none.
    #[inline]
    fn rcv_wscale(&self) -> Option<u8> {
        self.tcp().window_scale.map(|s| s.min(conn::MAX_WSCALE))
    }
    /// The window field of every segment after the handshake when window scaling
    /// was agreed: `window >> rcv_wscale`, at most 65,535 (without it, the field
    /// is [`syn_window`](Self::syn_window)).
    #[inline]
    fn scaled_window(&self) -> u16 {
        (self.tcp().window >> self.rcv_wscale().unwrap_or(0)).min(65535) as u16
    }
}

/// A duration in nanoseconds, saturating (as `Instant + Duration` adds it).
#[inline]
fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl Settings for TcpConfig {
    #[inline(always)]
    fn tcp(&self) -> &TcpConfig {
        self
    }
}

/// A [`TcpConfig`] with the values of [`Settings`] computed once: what a worker
/// holds. It reads as the [`TcpConfig`] it was made from (`Deref`), and cannot be
/// changed afterwards, so the two never disagree.
#[derive(Clone, Debug)]
pub struct TcpParams {
    cfg: TcpConfig,
    rto_initial_ms: u32,
    rto_min_ms: u32,
    rto_max_ms: u32,
    time_wait_ms: u32,
    /// [`Settings::tx_total`] and [`Settings::rx_expect`], indexed by role.
    tx_total: [u32; 2],
    rx_expect: [u32; 2],
    idle_nanos: u64,
    time_wait_nanos: u64,
    syn_options: OptionArea,
    /// [`Settings::synack_options`] of every subset, indexed by
    /// [`synack_index`].
    synack_options: [OptionArea; 8],
    syn_window: u16,
    rcv_wscale: Option<u8>,
    scaled_window: u16,
}

impl TcpParams {
    /// `cfg` with its derived values.
    pub fn new(cfg: TcpConfig) -> TcpParams {
        TcpParams {
            rto_initial_ms: cfg.rto_initial_ms(),
            rto_min_ms: cfg.rto_min_ms(),
            rto_max_ms: cfg.rto_max_ms(),
            time_wait_ms: cfg.time_wait_ms(),
            tx_total: [cfg.tx_total(Role::Client), cfg.tx_total(Role::Server)],
            rx_expect: [cfg.rx_expect(Role::Client), cfg.rx_expect(Role::Server)],
            idle_nanos: cfg.idle_nanos(),
            time_wait_nanos: cfg.time_wait_nanos(),
            syn_options: cfg.syn_options(),
            synack_options: core::array::from_fn(|i| {
                cfg.synack_options(i & 1 != 0, i & 2 != 0, i & 4 != 0)
            }),
            syn_window: cfg.syn_window(),
            rcv_wscale: cfg.rcv_wscale(),
            scaled_window: cfg.scaled_window(),
            cfg,
        }
    }
}

/// Where [`TcpParams`] keeps the SYN-ACK options of a subset.
#[inline(always)]
fn synack_index(ws: bool, sack: bool, ts: bool) -> usize {
    usize::from(ws) | usize::from(sack) << 1 | usize::from(ts) << 2
}

impl core::ops::Deref for TcpParams {
    type Target = TcpConfig;
    #[inline(always)]
    fn deref(&self) -> &TcpConfig {
        &self.cfg
    }
}

impl Settings for TcpParams {
    #[inline(always)]
    fn tcp(&self) -> &TcpConfig {
        &self.cfg
    }
    #[inline(always)]
    fn rto_initial_ms(&self) -> u32 {
        self.rto_initial_ms
    }
    #[inline(always)]
    fn rto_min_ms(&self) -> u32 {
        self.rto_min_ms
    }
    #[inline(always)]
    fn rto_max_ms(&self) -> u32 {
        self.rto_max_ms
    }
    #[inline(always)]
    fn tx_total(&self, role: Role) -> u32 {
        self.tx_total[role as usize]
    }
    #[inline(always)]
    fn rx_expect(&self, role: Role) -> u32 {
        self.rx_expect[role as usize]
    }
    #[inline(always)]
    fn time_wait_ms(&self) -> u32 {
        self.time_wait_ms
    }
    #[inline(always)]
    fn idle_nanos(&self) -> u64 {
        self.idle_nanos
    }
    #[inline(always)]
    fn time_wait_nanos(&self) -> u64 {
        self.time_wait_nanos
    }
    #[inline(always)]
    fn syn_options(&self) -> OptionArea {
        self.syn_options
    }
    #[inline(always)]
    fn synack_options(&self, ws: bool, sack: bool, ts: bool) -> OptionArea {
        self.synack_options[synack_index(ws, sack, ts)]
    }
    #[inline(always)]
    fn syn_window(&self) -> u16 {
        self.syn_window
    }
    #[inline(always)]
    fn rcv_wscale(&self) -> Option<u8> {
        self.rcv_wscale
    }
    #[inline(always)]
    fn scaled_window(&self) -> u16 {
        self.scaled_window
    }
}

/// Something a connection reports, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection finished its whole lifecycle as intended.
    Completed,
    /// The connection ended early, for this cause.
    Failed(FailCause),
    /// A segment was sent again after an RTO.
    Retransmitted,
    /// We sent a RST.
    RstSent,
    /// We received an acceptable RST.
    RstReceived,
    /// We answered an out-of-window or suspicious segment with a challenge ACK
    /// (RFC 5961).
    ChallengeAck,
    /// A segment failed the PAWS test (RFC 7323 §5) and was dropped.
    PawsRejected,
    /// A retransmitted FIN reached TIME-WAIT; it was re-acknowledged and the timer
    /// restarted.
    TimeWaitFinReacked,
}

/// What [`Sink::send_words`] does by default: the header `header` builds, read
/// back as a [`TcpRepr`], goes to [`Sink::send`]. Returns true (sent).
pub fn send_as_repr<S: Sink + ?Sized>(
    sink: &mut S,
    local_ip: u32,
    remote_ip: u32,
    payload_len: u16,
    payload_offset: u32,
    header: impl FnOnce() -> TcpHeaderWords,
) -> bool {
    let seg = header();
    debug_assert_eq!(seg.payload_len, payload_len);
    sink.send(local_ip, remote_ip, &seg.repr(), payload_offset);
    true
}

/// Where a connection's output goes: segments to transmit, latency samples, events.
pub trait Sink {
    /// Transmit `seg` from `local_ip` to `remote_ip` (IPv4 addresses as u32, host
    /// order). Its payload is `seg.payload_len` bytes starting at `payload_offset` of
    /// this side's payload source (the request on the client side, the response on the
    /// server side).
    fn send(&mut self, local_ip: u32, remote_ip: u32, seg: &TcpRepr, payload_offset: u32);
    /// [`send`](Self::send) of a segment whose header `header` builds as a frame
    /// stores it ([`TcpHeaderWords`], with `payload_len` octets of payload): how a
    /// connection sends its own segments, its fields going straight into header
    /// words with no [`TcpRepr`] in between. The sink calls `header` when it is
    /// ready to store the header (a frame buffer taken), so that the connection's
    /// fields are read where they are stored instead of being held across the
    /// taking of the buffer. The default reads the header back as a [`TcpRepr`]
    /// with the wire's parser and sends that, so that a sink which looks at
    /// segments sees what goes on the wire.
    ///
    /// Returns whether the segment went out: false when the port had no room
    /// for it (its frame pool or transmit ring full), so that nothing left.
    /// The connection then holds back the data it has not sent yet rather than
    /// take it as sent (see `Conn::transmit`).
    #[inline]
    fn send_words(
        &mut self,
        local_ip: u32,
        remote_ip: u32,
        payload_len: u16,
        payload_offset: u32,
        header: impl FnOnce() -> TcpHeaderWords,
    ) -> bool {
        send_as_repr(
            self,
            local_ip,
            remote_ip,
            payload_len,
            payload_offset,
            header,
        )
    }
    /// The millisecond clock at `now` (`now.as_millis()`, truncated to 32 bits):
    /// what our TSvals count, plus a connection's offset. `now` is the instant the
    /// connection was called with; a sink made for one burst, whose instant that
    /// is, may hold the value instead of dividing for every segment.
    #[inline]
    fn ms_clock(&self, now: Instant) -> u32 {
        now.as_millis() as u32
    }
    /// A latency sample, in nanoseconds.
    fn record(&mut self, phase: Phase, nanos: u64);
    /// Count an event.
    fn event(&mut self, ev: Event);
}
