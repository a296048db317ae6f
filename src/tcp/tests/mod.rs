//! State-machine tests in the smoltcp style: one fixture per state, template
//! segments, and helpers that feed a segment (or fire the timer) and assert exactly
//! the segments that come back.
//!
//! Conventions. The connection under test is always the local end
//! (`LOCAL_IP:LOCAL_PORT`, ISS [`LOCAL_ISS`]), whatever its role; the peer is the
//! remote end (ISS [`REMOTE_ISS`]). Segments from the peer are written
//! `TcpRepr { .., ..SEND_TEMPLATE }`, segments we expect `TcpRepr { .., ..RECV_TEMPLATE }`.
//! With [`config`] the client sends a [`REQ`]-byte request and expects a
//! [`RESP`]-byte response; the server the reverse. So, on the client side, our FIN
//! is at `LOCAL_ISS + 1 + REQ` and the peer's at `REMOTE_ISS + 1 + RESP`; on the
//! server side, our FIN is at `LOCAL_ISS + 1 + RESP` and the peer's at
//! `REMOTE_ISS + 1 + REQ`.
//!
//! Fixtures drive a connection into its state through the real transitions (the
//! control block's fields are private), starting at t = 1000 ms and taking one
//! millisecond per exchange, so the first RTT sample is 1 ms and the RTO sits at
//! `rto_min`.
//!
//! CLOSE-WAIT has no fixture of its own: synfin's application closes as soon as the
//! peer's FIN arrives, so a control block passes through CLOSE-WAIT to LAST-ACK
//! within one call ([`client_last_ack`], [`server_last_ack`] are those passages).

use std::time::Duration;

use super::*;
use crate::time::Instant;
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

mod challenge; // SYN and ACK challenge ACKs (RFC 5961 §4, §5.2)
mod client; // client states, one section each
mod close_modes; // the three close modes end to end, simultaneous open/close
mod congestion; // the congestion window: initial window, slow start, loss, SWS
mod fast_path; // in-place opening and specialised paths against the general ones
mod lossy; // the counts add up over a lossy link (proptest)
mod options; // option negotiation, PAWS, TS.Recent
mod pair; // a client and a server joined by a simulated link
mod reset; // RST in every state (RFC 9293, RFC 5961 §3)
mod retransmit; // RTO, retransmission and timeouts, receiving several segments
mod server; // LISTEN/CLOSED replies and server states
mod time_wait; // TIME-WAIT on control blocks and records

pub(super) const LOCAL_IP: u32 = 0xc612_0001; // 198.18.0.1
pub(super) const REMOTE_IP: u32 = 0xc613_0001; // 198.19.0.1
pub(super) const LOCAL_PORT: u16 = 40000;
pub(super) const REMOTE_PORT: u16 = 80;
pub(super) const LOCAL_ISS: SeqNumber = SeqNumber(1_000);
pub(super) const REMOTE_ISS: SeqNumber = SeqNumber(50_000);
/// Request bytes in [`config`].
pub(super) const REQ: u32 = 10;
/// Response bytes in [`config`].
pub(super) const RESP: u32 = 20;

/// Everything a connection produced.
#[derive(Default, Debug)]
pub(super) struct TestSink {
    pub sent: Vec<(TcpRepr, u32)>,
    pub samples: Vec<(Phase, u64)>,
    pub events: Vec<Event>,
    /// How many more segments the port takes (None: any number); once it is
    /// Some(0) every segment is refused, as by a full frame pool.
    pub room: Option<usize>,
    /// Segments refused.
    pub refused: usize,
}

impl Sink for TestSink {
    fn send(&mut self, local_ip: u32, remote_ip: u32, seg: &TcpRepr, payload_offset: u32) {
        assert_ne!(local_ip, remote_ip);
        self.sent.push((*seg, payload_offset));
    }
    fn send_words(
        &mut self,
        local_ip: u32,
        remote_ip: u32,
        payload_len: u16,
        payload_offset: u32,
        header: impl FnOnce() -> TcpHeaderWords,
    ) -> bool {
        if let Some(room) = &mut self.room {
            if *room == 0 {
                self.refused += 1;
                return false;
            }
            *room -= 1;
        }
        crate::tcp::send_as_repr(
            self,
            local_ip,
            remote_ip,
            payload_len,
            payload_offset,
            header,
        )
    }
    fn record(&mut self, phase: Phase, nanos: u64) {
        self.samples.push((phase, nanos));
    }
    fn event(&mut self, ev: Event) {
        self.events.push(ev);
    }
}

impl TestSink {
    pub fn take(&mut self) -> Vec<TcpRepr> {
        self.sent.drain(..).map(|(s, _)| s).collect()
    }
}

/// `conn.on_segment(cfg, now, seg, sink)`, checked against the general path
/// ([`Conn::on_segment_general`]) on a copy of the control block: the
/// specialised handlers of the usual lifecycle must leave exactly the same
/// block, return the same step and send, record and count exactly the same.
/// Every test feeds its segments through this.
#[track_caller]
pub(super) fn on_segment(
    conn: &mut Conn,
    cfg: &impl Settings,
    now: Instant,
    seg: &TcpRepr,
    sink: &mut TestSink,
) -> Step {
    let mut general = conn.clone();
    let mut expect = TestSink {
        room: sink.room,
        ..TestSink::default()
    };
    let general_step = general.on_segment_general(cfg, now, seg, &mut expect);
    let (sent, samples, events) = (sink.sent.len(), sink.samples.len(), sink.events.len());
    let step = conn.on_segment(cfg, now, seg, sink);
    assert_eq!(step, general_step, "step for {seg:?}");
    assert_eq!(
        format!("{conn:?}"),
        format!("{general:?}"),
        "control block after {seg:?}"
    );
    assert_eq!(sink.sent[sent..], expect.sent, "sent for {seg:?}");
    assert_eq!(
        sink.samples[samples..],
        expect.samples,
        "samples for {seg:?}"
    );
    assert_eq!(sink.events[events..], expect.events, "events for {seg:?}");
    assert_eq!(sink.room, expect.room, "room left after {seg:?}");
    step
}

/// Settings for fixtures: no options unless a test asks, small request/response.
pub(super) fn config() -> TcpConfig {
    TcpConfig {
        mss: 1460,
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
        window: 65535,
        request_bytes: REQ,
        response_bytes: RESP,
        ..TcpConfig::default()
    }
}

/// [`config`] with another close mode.
pub(super) fn config_close(close: CloseMode) -> TcpConfig {
    TcpConfig { close, ..config() }
}

/// [`config`] with timestamps offered.
pub(super) fn config_ts() -> TcpConfig {
    TcpConfig {
        timestamps: true,
        ..config()
    }
}

/// Options carrying only a timestamps option.
pub(super) fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..TcpOptions::default()
    }
}

/// A segment from the remote end, to be completed with `..SEND_TEMPLATE`.
pub(super) const SEND_TEMPLATE: TcpRepr = TcpRepr {
    src_port: REMOTE_PORT,
    dst_port: LOCAL_PORT,
    seq: SeqNumber(0),
    ack: SeqNumber(0),
    flags: TcpFlags::ACK,
    window: 65535,
    options: TcpOptions {
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
    },
    payload_len: 0,
};

/// A segment we expect from the connection, to be completed with `..RECV_TEMPLATE`.
pub(super) const RECV_TEMPLATE: TcpRepr = TcpRepr {
    src_port: LOCAL_PORT,
    dst_port: REMOTE_PORT,
    seq: SeqNumber(0),
    ack: SeqNumber(0),
    flags: TcpFlags::ACK,
    window: 65535,
    options: TcpOptions {
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
    },
    payload_len: 0,
};

/// The PSH|ACK flags of the last (or only) data segment.
pub(super) const PSH_ACK: TcpFlags = TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0);
/// FIN|ACK.
pub(super) const FIN_ACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
/// FIN|PSH|ACK: the last data segment with the FIN on it.
pub(super) const FIN_PSH_ACK: TcpFlags =
    TcpFlags(TcpFlags::FIN.0 | TcpFlags::PSH.0 | TcpFlags::ACK.0);
/// SYN|ACK.
pub(super) const SYN_ACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
/// RST|ACK: what an abort sends.
pub(super) const RST_ACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

/// A connection under test with its settings, output and clock.
pub(super) struct Fixture {
    pub cfg: TcpConfig,
    pub conn: Conn,
    pub sink: TestSink,
    pub now: Instant,
}

impl Fixture {
    /// Feed `seg` and assert that exactly `expect` comes back.
    #[track_caller]
    pub fn send(&mut self, seg: TcpRepr, expect: &[TcpRepr]) -> Step {
        let step = on_segment(&mut self.conn, &self.cfg, self.now, &seg, &mut self.sink);
        let got = self.sink.take();
        assert_eq!(got, expect, "in reply to {seg:?}");
        step
    }
    /// Fire the timer at its deadline and assert exactly `expect`.
    #[track_caller]
    pub fn fire(&mut self, expect: &[TcpRepr]) -> Step {
        assert_ne!(self.conn.deadline(), Instant::NEVER, "no timer armed");
        self.now = self.conn.deadline();
        let step = self.conn.on_timer(&self.cfg, self.now, &mut self.sink);
        let got = self.sink.take();
        assert_eq!(got, expect, "timer fired at {:?}", self.now);
        step
    }
    /// Fire the timer, asserting that its deadline is `at` ms and that exactly
    /// `expect` comes back.
    #[track_caller]
    pub fn fire_at(&mut self, at_ms: u64, expect: &[TcpRepr]) -> Step {
        assert_eq!(
            self.conn.deadline(),
            Instant::from_millis(at_ms),
            "deadline of the {:?} timer",
            self.conn.timer()
        );
        self.fire(expect)
    }
    /// Set the clock.
    pub fn at(&mut self, ms: u64) {
        self.now = Instant::from_millis(ms);
    }
    pub fn state(&self) -> State {
        self.conn.state()
    }
    /// Assert that exactly `expect` was reported since the last check, and forget it.
    #[track_caller]
    pub fn expect_events(&mut self, expect: &[Event]) {
        let got: Vec<Event> = self.sink.events.drain(..).collect();
        assert_eq!(got, expect, "events");
    }
    /// Assert that exactly these phases were sampled since the last check (with
    /// these durations in ms), and forget them.
    #[track_caller]
    pub fn expect_samples(&mut self, expect: &[(Phase, u64)]) {
        let got: Vec<(Phase, u64)> = self.sink.samples.drain(..).collect();
        let want: Vec<(Phase, u64)> = expect.iter().map(|&(p, ms)| (p, ms * 1_000_000)).collect();
        assert_eq!(got, want, "samples (ns)");
    }
    /// Forget what was reported so far (a fixture's history).
    pub fn clear(&mut self) {
        self.sink.events.clear();
        self.sink.samples.clear();
    }
}

// ---------------------------------------------------------------------------------
// Client fixtures.
// ---------------------------------------------------------------------------------

/// Client in SYN-SENT: our SYN went out at t = 1000 ms.
pub(super) fn client_syn_sent(cfg: TcpConfig) -> Fixture {
    let mut sink = TestSink::default();
    let now = Instant::from_millis(1000);
    let conn = Conn::connect(
        &cfg,
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        LOCAL_ISS,
        0,
        now,
        now,
        &mut sink,
    );
    let syn = sink.take();
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].flags, TcpFlags::SYN);
    assert_eq!(conn.state(), State::SynSent);
    Fixture {
        cfg,
        conn,
        sink,
        now,
    }
}

/// The SYN we expect from a client with [`config`].
pub(super) fn client_syn() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS,
        ack: SeqNumber(0),
        flags: TcpFlags::SYN,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..RECV_TEMPLATE
    }
}

/// The SYN-ACK the remote answers with.
pub(super) fn syn_ack() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS,
        ack: LOCAL_ISS + 1,
        flags: SYN_ACK,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..SEND_TEMPLATE
    }
}

/// The client's request, all in one segment, carrying `ack`.
pub(super) fn client_request(ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1,
        ack,
        flags: PSH_ACK,
        payload_len: REQ as u16,
        ..RECV_TEMPLATE
    }
}

/// Client in ESTABLISHED at t = 1001 ms, request sent on the handshake ACK and not
/// yet acknowledged.
pub(super) fn client_established(cfg: TcpConfig) -> Fixture {
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.state(), State::Established);
    f
}

/// Client in ESTABLISHED at t = 1002 ms, request acknowledged, waiting for the
/// response (idle timer armed).
pub(super) fn client_awaiting_response(cfg: TcpConfig) -> Fixture {
    let mut f = client_established(cfg);
    f.at(1002);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 1 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    f
}

/// The whole response in one segment, acknowledging the request.
pub(super) fn response() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1,
        ack: LOCAL_ISS + 1 + REQ,
        flags: PSH_ACK,
        payload_len: RESP as u16,
        ..SEND_TEMPLATE
    }
}

/// Client in FIN-WAIT-1 at t = 1002 ms: the response arrived and our FIN went out.
pub(super) fn client_fin_wait_1(cfg: TcpConfig) -> Fixture {
    assert_eq!(cfg.close, CloseMode::Client);
    let mut f = client_established(cfg);
    f.at(1002);
    f.send(
        response(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::FinWait1);
    f
}

/// Client in FIN-WAIT-2 at t = 1003 ms: our FIN acknowledged.
pub(super) fn client_fin_wait_2(cfg: TcpConfig) -> Fixture {
    let mut f = client_fin_wait_1(cfg);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait2);
    f
}

/// Client in CLOSING at t = 1003 ms: the peer's FIN crossed ours.
pub(super) fn client_closing(cfg: TcpConfig) -> Fixture {
    let mut f = client_fin_wait_1(cfg);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + RESP,
            ack: LOCAL_ISS + 1 + REQ,
            flags: FIN_ACK,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::Closing);
    f
}

/// The ACK a client in TIME-WAIT sends.
pub(super) fn client_time_wait_ack() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 2 + REQ,
        ack: REMOTE_ISS + 2 + RESP,
        ..RECV_TEMPLATE
    }
}

/// The peer's FIN as a client in FIN-WAIT-2 (or TIME-WAIT) sees it.
pub(super) fn server_fin_to_client() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1 + RESP,
        ack: LOCAL_ISS + 2 + REQ,
        flags: FIN_ACK,
        ..SEND_TEMPLATE
    }
}

/// Client in TIME-WAIT at t = 1004 ms, reached from FIN-WAIT-2.
pub(super) fn client_time_wait(cfg: TcpConfig) -> Fixture {
    let mut f = client_fin_wait_2(cfg);
    f.at(1004);
    let step = f.send(server_fin_to_client(), &[client_time_wait_ack()]);
    assert_eq!(step, Step::TimeWait);
    assert_eq!(f.state(), State::TimeWait);
    f
}

/// The response with the server's FIN on it (the server closes).
pub(super) fn response_with_fin() -> TcpRepr {
    TcpRepr {
        flags: FIN_PSH_ACK,
        ..response()
    }
}

/// Client in LAST-ACK at t = 1002 ms ([`CloseMode::Server`]): the response came with
/// the server's FIN; CLOSE-WAIT closed at once and our FIN went out.
pub(super) fn client_last_ack(cfg: TcpConfig) -> Fixture {
    let mut f = client_established(cfg);
    f.at(1002);
    f.send(
        response_with_fin(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::LastAck);
    f
}

// ---------------------------------------------------------------------------------
// Server fixtures.
// ---------------------------------------------------------------------------------

/// The SYN a client with [`config`] sends to the server under test.
pub(super) fn syn_from_client() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS,
        flags: TcpFlags::SYN,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..SEND_TEMPLATE
    }
}

/// The SYN-ACK a server with [`config`] answers [`syn_from_client`] with.
pub(super) fn server_syn_ack() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS,
        ack: REMOTE_ISS + 1,
        flags: SYN_ACK,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..RECV_TEMPLATE
    }
}

/// Accept `syn` at t = 1000 ms and return the fixture and what was sent.
pub(super) fn server_accept(cfg: TcpConfig, syn: TcpRepr) -> (Fixture, Vec<TcpRepr>) {
    let mut sink = TestSink::default();
    let now = Instant::from_millis(1000);
    assert_eq!(listen::listen(&syn), listen::NoConnReply::Accept);
    let conn = Conn::accept(
        &cfg,
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        &syn,
        LOCAL_ISS,
        0,
        now,
        &mut sink,
    );
    let sent = sink.take();
    let f = Fixture {
        cfg,
        conn,
        sink,
        now,
    };
    (f, sent)
}

/// Server in SYN-RECEIVED at t = 1000 ms: a SYN arrived and our SYN-ACK went out.
pub(super) fn server_syn_received(cfg: TcpConfig) -> Fixture {
    let (f, sent) = server_accept(cfg, syn_from_client());
    assert_eq!(sent, [server_syn_ack()]);
    assert_eq!(f.state(), State::SynReceived);
    assert_eq!(f.conn.role(), Role::Server);
    f
}

/// The client's handshake ACK (no data).
pub(super) fn handshake_ack() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1,
        ack: LOCAL_ISS + 1,
        ..SEND_TEMPLATE
    }
}

/// Server in ESTABLISHED at t = 1001 ms, no request yet.
pub(super) fn server_established(cfg: TcpConfig) -> Fixture {
    let mut f = server_syn_received(cfg);
    f.at(1001);
    f.send(handshake_ack(), &[]);
    assert_eq!(f.state(), State::Established);
    f
}

/// The client's request as the server sees it.
pub(super) fn request() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1,
        ack: LOCAL_ISS + 1,
        flags: PSH_ACK,
        payload_len: REQ as u16,
        ..SEND_TEMPLATE
    }
}

/// The server's response, all in one segment.
pub(super) fn server_response() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1,
        ack: REMOTE_ISS + 1 + REQ,
        flags: PSH_ACK,
        payload_len: RESP as u16,
        ..RECV_TEMPLATE
    }
}

/// Server in ESTABLISHED at t = 1002 ms, the request in and the response sent
/// ([`CloseMode::Client`] or [`CloseMode::Rst`]: the client closes).
pub(super) fn server_responded(cfg: TcpConfig) -> Fixture {
    assert_ne!(cfg.close, CloseMode::Server);
    let mut f = server_established(cfg);
    f.at(1002);
    f.send(request(), &[server_response()]);
    assert_eq!(f.state(), State::Established);
    f
}

/// Server in LAST-ACK at t = 1003 ms: the client's FIN (acknowledging the response)
/// arrived; CLOSE-WAIT closed at once and our FIN went out.
pub(super) fn server_last_ack(cfg: TcpConfig) -> Fixture {
    let mut f = server_responded(cfg);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + RESP,
            ack: REMOTE_ISS + 2 + REQ,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::LastAck);
    f
}

/// Server in FIN-WAIT-1 at t = 1002 ms ([`CloseMode::Server`]): the request in, the
/// response sent with our FIN on it.
pub(super) fn server_fin_wait_1(cfg: TcpConfig) -> Fixture {
    assert_eq!(cfg.close, CloseMode::Server);
    let mut f = server_established(cfg);
    f.at(1002);
    f.send(
        request(),
        &[TcpRepr {
            flags: FIN_PSH_ACK,
            ..server_response()
        }],
    );
    assert_eq!(f.state(), State::FinWait1);
    f
}

/// Server in FIN-WAIT-2 at t = 1003 ms: response and FIN acknowledged.
pub(super) fn server_fin_wait_2(cfg: TcpConfig) -> Fixture {
    let mut f = server_fin_wait_1(cfg);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 2 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait2);
    f
}

/// The client's FIN as a server in FIN-WAIT-2 (or TIME-WAIT) sees it.
pub(super) fn client_fin_to_server() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1 + REQ,
        ack: LOCAL_ISS + 2 + RESP,
        flags: FIN_ACK,
        ..SEND_TEMPLATE
    }
}

/// The ACK a server in TIME-WAIT sends.
pub(super) fn server_time_wait_ack() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 2 + RESP,
        ack: REMOTE_ISS + 2 + REQ,
        ..RECV_TEMPLATE
    }
}

/// Server in TIME-WAIT at t = 1004 ms, reached from FIN-WAIT-2.
pub(super) fn server_time_wait(cfg: TcpConfig) -> Fixture {
    let mut f = server_fin_wait_2(cfg);
    f.at(1004);
    let step = f.send(client_fin_to_server(), &[server_time_wait_ack()]);
    assert_eq!(step, Step::TimeWait);
    assert_eq!(f.state(), State::TimeWait);
    f
}

/// Server in CLOSING at t = 1003 ms: the client's FIN acknowledged the response but
/// not our FIN.
pub(super) fn server_closing(cfg: TcpConfig) -> Fixture {
    let mut f = server_fin_wait_1(cfg);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..SEND_TEMPLATE
        },
        &[server_time_wait_ack()],
    );
    assert_eq!(f.state(), State::Closing);
    f
}

/// Every fixture past the handshake but TIME-WAIT, plus server SYN-RECEIVED, named,
/// with its SND.NXT and RCV.NXT.
pub(super) fn synchronized_fixtures() -> Vec<(&'static str, Fixture, SeqNumber, SeqNumber)> {
    vec![
        (
            "server SYN-RECEIVED",
            server_syn_received(config()),
            LOCAL_ISS + 1,
            REMOTE_ISS + 1,
        ),
        (
            "client ESTABLISHED",
            client_established(config()),
            LOCAL_ISS + 1 + REQ,
            REMOTE_ISS + 1,
        ),
        (
            "server ESTABLISHED",
            server_responded(config()),
            LOCAL_ISS + 1 + RESP,
            REMOTE_ISS + 1 + REQ,
        ),
        (
            "client FIN-WAIT-1",
            client_fin_wait_1(config()),
            LOCAL_ISS + 2 + REQ,
            REMOTE_ISS + 1 + RESP,
        ),
        (
            "server FIN-WAIT-1",
            server_fin_wait_1(config_close(CloseMode::Server)),
            LOCAL_ISS + 2 + RESP,
            REMOTE_ISS + 1 + REQ,
        ),
        (
            "client FIN-WAIT-2",
            client_fin_wait_2(config()),
            LOCAL_ISS + 2 + REQ,
            REMOTE_ISS + 1 + RESP,
        ),
        (
            "server FIN-WAIT-2",
            server_fin_wait_2(config_close(CloseMode::Server)),
            LOCAL_ISS + 2 + RESP,
            REMOTE_ISS + 1 + REQ,
        ),
        (
            "client CLOSING",
            client_closing(config()),
            LOCAL_ISS + 2 + REQ,
            REMOTE_ISS + 2 + RESP,
        ),
        (
            "server CLOSING",
            server_closing(config_close(CloseMode::Server)),
            LOCAL_ISS + 2 + RESP,
            REMOTE_ISS + 2 + REQ,
        ),
        (
            "client LAST-ACK",
            client_last_ack(config_close(CloseMode::Server)),
            LOCAL_ISS + 2 + REQ,
            REMOTE_ISS + 2 + RESP,
        ),
        (
            "server LAST-ACK",
            server_last_ack(config()),
            LOCAL_ISS + 2 + RESP,
            REMOTE_ISS + 2 + REQ,
        ),
    ]
}
