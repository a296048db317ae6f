//! Server side: LISTEN and CLOSED (`listen.rs`), then the control block state by
//! state, apart from RST ([`super::reset`]), timers ([`super::retransmit`]) and
//! TIME-WAIT ([`super::time_wait`]).

use super::listen::{NoConnReply, closed, listen, reset_for};
use super::*;

/// The RST `<SEQ=s><CTL=RST>` sent from the local end.
fn rst_seq(s: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq: s,
        ack: SeqNumber(0),
        flags: TcpFlags::RST,
        window: 0,
        ..RECV_TEMPLATE
    }
}

// LISTEN --------------------------------------------------------------------------

#[test]
fn syn_in_listen_is_accepted() {
    assert_eq!(listen(&syn_from_client()), NoConnReply::Accept);
    // Options and data on the SYN do not change that.
    let syn = TcpRepr {
        options: ts(5, 0),
        payload_len: 3,
        ..syn_from_client()
    };
    assert_eq!(listen(&syn), NoConnReply::Accept);
}

#[test]
fn rst_in_listen_is_ignored() {
    // RFC 9293 §3.10.7.2, first.
    let rst = TcpRepr {
        seq: REMOTE_ISS,
        flags: TcpFlags::RST,
        ..SEND_TEMPLATE
    };
    assert_eq!(listen(&rst), NoConnReply::Drop);
    let rst_ack = TcpRepr {
        flags: RST_ACK,
        ack: SeqNumber(77),
        ..rst
    };
    assert_eq!(listen(&rst_ack), NoConnReply::Drop);
}

#[test]
fn ack_in_listen_is_reset_with_seq_of_its_ack() {
    // RFC 9293 §3.10.7.2, second: <SEQ=SEG.ACK><CTL=RST>.
    let ack = TcpRepr {
        seq: REMOTE_ISS,
        ack: SeqNumber(77),
        ..SEND_TEMPLATE
    };
    assert_eq!(listen(&ack), NoConnReply::Rst(rst_seq(SeqNumber(77))));
    // A SYN-ACK too: the ACK check comes before the SYN check.
    let syn_ack = TcpRepr {
        flags: SYN_ACK,
        ..ack
    };
    assert_eq!(listen(&syn_ack), NoConnReply::Rst(rst_seq(SeqNumber(77))));
}

#[test]
fn segment_without_syn_ack_or_rst_in_listen_is_dropped() {
    // RFC 9293 §3.10.7.2, fourth.
    let fin = TcpRepr {
        seq: REMOTE_ISS,
        flags: TcpFlags::FIN,
        payload_len: 4,
        ..SEND_TEMPLATE
    };
    assert_eq!(listen(&fin), NoConnReply::Drop);
}

// CLOSED --------------------------------------------------------------------------

#[test]
fn segment_without_ack_in_closed_is_reset_acking_its_end() {
    // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN and FIN
    // count in SEG.LEN.
    let syn = syn_from_client();
    let expect = TcpRepr {
        seq: SeqNumber(0),
        ack: REMOTE_ISS + 1,
        flags: RST_ACK,
        window: 0,
        ..RECV_TEMPLATE
    };
    assert_eq!(closed(&syn), NoConnReply::Rst(expect));
    assert_eq!(reset_for(&syn), expect);
    let data_fin = TcpRepr {
        seq: REMOTE_ISS,
        flags: TcpFlags::FIN,
        payload_len: 9,
        ..SEND_TEMPLATE
    };
    assert_eq!(
        closed(&data_fin),
        NoConnReply::Rst(TcpRepr {
            ack: REMOTE_ISS + 10,
            ..expect
        })
    );
}

#[test]
fn ack_in_closed_is_reset_with_seq_of_its_ack() {
    let ack = TcpRepr {
        seq: REMOTE_ISS,
        ack: SeqNumber(4242),
        options: ts(1, 2),
        payload_len: 5,
        ..SEND_TEMPLATE
    };
    // No options on a RST, and a zero window.
    assert_eq!(closed(&ack), NoConnReply::Rst(rst_seq(SeqNumber(4242))));
}

#[test]
fn rst_in_closed_is_ignored() {
    let rst = TcpRepr {
        seq: REMOTE_ISS,
        flags: TcpFlags::RST,
        ..SEND_TEMPLATE
    };
    assert_eq!(closed(&rst), NoConnReply::Drop);
}

// SYN-RECEIVED --------------------------------------------------------------------

#[test]
fn accept_sends_syn_ack_and_arms_initial_rto() {
    let f = server_syn_received(config());
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 1);
    assert_eq!(f.conn.rcv_nxt(), REMOTE_ISS + 1);
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    assert_eq!(f.conn.deadline(), Instant::from_millis(2000));
}

#[test]
fn handshake_ack_in_syn_received_establishes() {
    let mut f = server_established(config());
    assert_eq!(f.conn.snd_una(), LOCAL_ISS + 1);
    // Nothing of ours is outstanding: wait for the request with the idle timer.
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    assert_eq!(f.conn.deadline(), Instant::from_millis(31_001));
    // The server records no latency samples and no events yet.
    f.expect_samples(&[]);
    f.expect_events(&[]);
}

#[test]
fn handshake_ack_with_request_in_syn_received_establishes_and_responds() {
    let mut f = server_syn_received(config());
    f.at(1001);
    f.send(request(), &[server_response()]);
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.rx_bytes(), REQ);
}

#[test]
fn retransmitted_syn_in_syn_received_resends_syn_ack() {
    // Our SYN-ACK was lost and the client sent its SYN again (Linux does the same).
    let mut f = server_syn_received(config());
    f.at(1500);
    f.send(syn_from_client(), &[server_syn_ack()]);
    assert_eq!(f.state(), State::SynReceived);
    f.expect_events(&[]);
}

#[test]
fn ack_of_nothing_new_in_syn_received_is_reset() {
    // RFC 9293 §3.10.7.4 SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT or
    // <SEQ=SEG.ACK><CTL=RST>.
    let mut f = server_syn_received(config());
    f.send(
        TcpRepr {
            ack: LOCAL_ISS,
            ..handshake_ack()
        },
        &[rst_seq(LOCAL_ISS)],
    );
    assert_eq!(f.state(), State::SynReceived);
    f.expect_events(&[Event::RstSent]);
}

#[test]
fn ack_of_unsent_data_in_syn_received_is_reset() {
    let mut f = server_syn_received(config());
    f.send(
        TcpRepr {
            ack: LOCAL_ISS + 100,
            ..handshake_ack()
        },
        &[rst_seq(LOCAL_ISS + 100)],
    );
    assert_eq!(f.state(), State::SynReceived);
    f.expect_events(&[Event::RstSent]);
    // The real ACK still establishes.
    f.send(handshake_ack(), &[]);
    assert_eq!(f.state(), State::Established);
}

#[test]
fn segment_without_ack_in_syn_received_is_dropped() {
    let mut f = server_syn_received(config());
    f.send(
        TcpRepr {
            flags: TcpFlags::PSH,
            ..request()
        },
        &[],
    );
    assert_eq!(f.state(), State::SynReceived);
    assert_eq!(f.conn.rx_bytes(), 0);
}

#[test]
fn close_in_syn_received_sends_fin_once_established() {
    // RFC 9293 §3.10.4: CLOSE in SYN-RECEIVED queues the FIN until ESTABLISHED.
    let mut f = server_syn_received(config());
    assert_eq!(f.conn.close(&f.cfg, f.now, &mut f.sink), Step::Continue);
    assert_eq!(f.sink.take(), []);
    assert_eq!(f.state(), State::SynReceived);
    f.at(1001);
    // The handshake ACK: ESTABLISHED → FIN-WAIT-1 at once. The response goes out
    // with the FIN (the close came from the engine, not the application).
    f.send(
        handshake_ack(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            flags: FIN_PSH_ACK,
            payload_len: RESP as u16,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::FinWait1);
}

// ESTABLISHED ---------------------------------------------------------------------

#[test]
fn request_in_established_is_answered_with_the_response() {
    let mut f = server_responded(config());
    assert_eq!(f.conn.rx_bytes(), REQ);
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 1 + RESP);
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    f.expect_events(&[]);
    f.expect_samples(&[]);
}

#[test]
fn request_in_two_segments_is_answered_after_the_second() {
    let mut f = server_established(config());
    f.at(1002);
    f.send(
        TcpRepr {
            payload_len: 4,
            flags: TcpFlags::ACK,
            ..request()
        },
        &[],
    );
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 5,
            payload_len: 6,
            ..request()
        },
        &[server_response()],
    );
}

#[test]
fn ack_of_response_in_established_arms_idle_timer() {
    let mut f = server_responded(config());
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    assert_eq!(f.conn.deadline(), Instant::from_millis(31_003));
}

#[test]
fn request_with_fin_in_established_sends_response_and_fin() {
    // The client half-closes right after its request: CLOSE-WAIT, the application
    // answers and closes → LAST-ACK with the response and FIN in one segment.
    let mut f = server_established(config());
    f.at(1002);
    f.send(
        TcpRepr {
            flags: FIN_PSH_ACK,
            ..request()
        },
        &[TcpRepr {
            ack: REMOTE_ISS + 2 + REQ,
            flags: FIN_PSH_ACK,
            ..server_response()
        }],
    );
    assert_eq!(f.state(), State::LastAck);
    f.at(1003);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + REQ,
            ack: LOCAL_ISS + 2 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::Completed]);
}

#[test]
fn request_in_established_with_server_close_sends_response_with_fin() {
    let mut f = server_fin_wait_1(config_close(CloseMode::Server));
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 2 + RESP);
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    f.expect_events(&[]);
}

// CLOSE-WAIT → LAST-ACK ------------------------------------------------------------

#[test]
fn fin_in_established_passes_close_wait_and_sends_fin() {
    let mut f = server_last_ack(config());
    assert_eq!(f.conn.rcv_nxt(), REMOTE_ISS + 2 + REQ);
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    f.expect_events(&[]);
}

#[test]
fn ack_of_fin_in_last_ack_closes_the_server_and_completes() {
    let mut f = server_last_ack(config());
    f.at(1004);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + REQ,
            ack: LOCAL_ISS + 2 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::Completed]);
    // Latency phases are the client's business.
    f.expect_samples(&[]);
}

#[test]
fn retransmitted_fin_in_server_last_ack_is_reacked() {
    let mut f = server_last_ack(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..SEND_TEMPLATE
        },
        &[server_time_wait_ack()],
    );
    assert_eq!(f.state(), State::LastAck);
}

// FIN-WAIT-1, FIN-WAIT-2, CLOSING ----------------------------------------------------

#[test]
fn ack_of_response_and_fin_in_fin_wait_1_enters_fin_wait_2() {
    let mut f = server_fin_wait_2(config_close(CloseMode::Server));
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    f.expect_events(&[]);
}

#[test]
fn ack_of_response_only_in_fin_wait_1_stays_in_fin_wait_1() {
    let mut f = server_fin_wait_1(config_close(CloseMode::Server));
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait1);
    // The FIN is still outstanding: the timer restarted for it.
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    assert_eq!(f.conn.deadline(), Instant::from_millis(1203));
}

#[test]
fn fin_acking_everything_in_server_fin_wait_1_enters_time_wait() {
    // The usual server-close ending: the client's FIN acknowledges ours.
    let mut f = server_fin_wait_1(config_close(CloseMode::Server));
    f.at(1003);
    let step = f.send(client_fin_to_server(), &[server_time_wait_ack()]);
    assert_eq!(step, Step::TimeWait);
    f.expect_events(&[Event::Completed]);
    f.expect_samples(&[]);
}

#[test]
fn fin_in_server_fin_wait_2_enters_time_wait_and_completes() {
    let mut f = server_time_wait(config_close(CloseMode::Server));
    f.expect_events(&[Event::Completed]);
    f.expect_samples(&[]);
    assert_eq!(f.conn.deadline(), Instant::from_millis(61_004));
}

#[test]
fn ack_of_fin_in_server_closing_enters_time_wait() {
    let mut f = server_closing(config_close(CloseMode::Server));
    f.expect_events(&[]);
    f.at(1004);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + REQ,
            ack: LOCAL_ISS + 2 + RESP,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::TimeWait);
    f.expect_events(&[Event::Completed]);
}

#[test]
fn idle_timeout_in_server_established_aborts_as_data_timeout() {
    // The handshake completed but no request came.
    let mut f = server_established(config());
    let step = f.fire_at(
        31_001,
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstSent, Event::Failed(FailCause::DataTimeout)]);
}

#[test]
fn idle_timeout_in_server_fin_wait_2_aborts_as_fin_timeout() {
    let mut f = server_fin_wait_2(config_close(CloseMode::Server));
    let step = f.fire_at(
        31_003,
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + RESP,
            ack: REMOTE_ISS + 1 + REQ,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstSent, Event::Failed(FailCause::FinTimeout)]);
}
