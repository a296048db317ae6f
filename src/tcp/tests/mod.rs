//! State-machine tests in the smoltcp style: one fixture per state, template
//! segments, and `send!`/`recv!`-like helpers that assert exactly what comes back.

use super::listen::{self, NoConnReply};
use super::*;
use crate::time::Instant;
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

pub(super) const LOCAL_IP: u32 = 0xc612_0001; // 198.18.0.1
pub(super) const REMOTE_IP: u32 = 0xc613_0001; // 198.19.0.1
pub(super) const LOCAL_PORT: u16 = 40000;
pub(super) const REMOTE_PORT: u16 = 80;
pub(super) const LOCAL_ISS: SeqNumber = SeqNumber(1_000);
pub(super) const REMOTE_ISS: SeqNumber = SeqNumber(50_000);

/// Everything a connection produced.
#[derive(Default, Debug)]
pub(super) struct TestSink {
    pub sent: Vec<(TcpRepr, u32)>,
    pub samples: Vec<(Phase, u64)>,
    pub events: Vec<Event>,
}

impl Sink for TestSink {
    fn send(&mut self, local_ip: u32, remote_ip: u32, seg: &TcpRepr, payload_offset: u32) {
        assert_ne!(local_ip, remote_ip);
        self.sent.push((*seg, payload_offset));
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

/// Settings for fixtures: no options unless a test asks, small request/response.
pub(super) fn config() -> TcpConfig {
    TcpConfig {
        mss: 1460,
        window_scale: None,
        sack_permitted: false,
        timestamps: false,
        window: 65535,
        request_bytes: 10,
        response_bytes: 20,
        ..TcpConfig::default()
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
        let step = self
            .conn
            .on_segment(&self.cfg, self.now, &seg, &mut self.sink);
        let got = self.sink.take();
        assert_eq!(got, expect, "in reply to {seg:?}");
        step
    }
    /// Fire the timer at its deadline and assert exactly `expect`.
    #[track_caller]
    pub fn fire(&mut self, expect: &[TcpRepr]) -> Step {
        self.now = self.conn.deadline();
        let step = self.conn.on_timer(&self.cfg, self.now, &mut self.sink);
        let got = self.sink.take();
        assert_eq!(got, expect);
        step
    }
    pub fn state(&self) -> State {
        self.conn.state()
    }
    pub fn events(&self) -> &[Event] {
        &self.sink.events
    }
}

/// Client in SYN-SENT: our SYN went out.
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

/// The SYN-ACK the remote answers with.
pub(super) fn syn_ack() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS,
        ack: LOCAL_ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        ..SEND_TEMPLATE
    }
}

/// Client in ESTABLISHED, request (10 bytes) sent on the handshake ACK.
pub(super) fn client_established(cfg: TcpConfig) -> Fixture {
    let mut f = client_syn_sent(cfg);
    f.now = Instant::from_millis(1001);
    let req = f.cfg.request_bytes as u16;
    f.send(
        syn_ack(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            payload_len: req,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::Established);
    f
}

#[test]
fn syn_sent_syn_ack_establishes_and_sends_request() {
    let f = client_established(config());
    assert_eq!(
        f.sink
            .samples
            .iter()
            .filter(|s| s.0 == Phase::Connect)
            .count(),
        1
    );
}

#[test]
fn full_client_close_lifecycle() {
    let mut f = client_established(config());
    let req = f.cfg.request_bytes;
    // The response (20 bytes) acks the request; the client closes with FIN.
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 1 + req,
            payload_len: 20,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + req,
            ack: REMOTE_ISS + 21,
            flags: TcpFlags::FIN | TcpFlags::ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Continue);
    assert_eq!(f.state(), State::FinWait1);
    // FIN+ACK from the server → TIME-WAIT, ACK.
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 21,
            ack: LOCAL_ISS + 2 + req,
            flags: TcpFlags::FIN | TcpFlags::ACK,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + req,
            ack: REMOTE_ISS + 22,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::TimeWait);
    assert_eq!(f.state(), State::TimeWait);
    assert!(f.events().contains(&Event::Completed));
}

#[test]
fn listen_answers() {
    let syn = TcpRepr {
        flags: TcpFlags::SYN,
        seq: REMOTE_ISS,
        ..SEND_TEMPLATE
    };
    assert_eq!(listen::listen(&syn), NoConnReply::Accept);
    let ack = TcpRepr {
        flags: TcpFlags::ACK,
        seq: REMOTE_ISS,
        ack: SeqNumber(77),
        ..SEND_TEMPLATE
    };
    match listen::listen(&ack) {
        NoConnReply::Rst(r) => {
            assert_eq!(r.seq, SeqNumber(77));
            assert_eq!(r.flags, TcpFlags::RST);
        }
        other => panic!("{other:?}"),
    }
    let _ = Timestamps::default();
}
