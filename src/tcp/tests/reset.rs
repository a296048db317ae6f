//! RST in every state (RFC 9293 §3.10.7.3–4, "second, check the RST bit", with
//! RFC 5961 §3.2): in SYN-SENT a RST counts only with an acceptable ACK; elsewhere
//! only a RST at exactly RCV.NXT resets, one elsewhere in the window draws a
//! challenge ACK, and one outside the window is dropped silently.

use super::*;

/// A RST from the peer at `seq`.
fn rst(seq: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq,
        flags: TcpFlags::RST,
        window: 0,
        ..SEND_TEMPLATE
    }
}

/// `<SEQ=seq><ACK=ack><CTL=ACK>` from us.
fn our_ack(seq: SeqNumber, ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq,
        ack,
        ..RECV_TEMPLATE
    }
}

/// A RST at RCV.NXT closes the connection silently, reporting `cause`.
#[track_caller]
fn exact_rst_closes(mut f: Fixture, rcv_nxt: SeqNumber, cause: Option<FailCause>) {
    assert_eq!(f.conn.rcv_nxt(), rcv_nxt);
    f.clear();
    let step = f.send(rst(rcv_nxt), &[]);
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    assert_eq!(f.conn.deadline(), Instant::NEVER);
    let outcome = match cause {
        Some(c) => Event::Failed(c),
        None => Event::Completed,
    };
    f.expect_events(&[Event::RstReceived, outcome]);
}

#[test]
fn rst_acking_our_syn_in_syn_sent_is_refused() {
    let mut f = client_syn_sent(config());
    let step = f.send(
        TcpRepr {
            seq: SeqNumber(0),
            ack: LOCAL_ISS + 1,
            flags: RST_ACK,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::RstReceived, Event::Failed(FailCause::Refused)]);
    f.expect_samples(&[]);
}

#[test]
fn rst_without_ack_in_syn_sent_is_ignored() {
    let mut f = client_syn_sent(config());
    let step = f.send(rst(REMOTE_ISS), &[]);
    assert_eq!(step, Step::Continue);
    assert_eq!(f.state(), State::SynSent);
    f.expect_events(&[]);
}

#[test]
fn rst_with_wrong_ack_in_syn_sent_is_ignored_without_reply() {
    // RFC 9293 §3.10.7.3, first: an unacceptable ACK draws a RST "unless the RST
    // bit is set, if so drop the segment".
    let mut f = client_syn_sent(config());
    for ack in [LOCAL_ISS, LOCAL_ISS + 2, SeqNumber(9)] {
        let step = f.send(
            TcpRepr {
                ack,
                flags: RST_ACK,
                ..rst(REMOTE_ISS)
            },
            &[],
        );
        assert_eq!(step, Step::Continue);
    }
    assert_eq!(f.state(), State::SynSent);
    f.expect_events(&[]);
}

#[test]
fn exact_rst_in_syn_received_closes_as_reset_established() {
    // RFC 9293 returns a passively opened connection to LISTEN; synfin's LISTEN is
    // stateless, so the control block just ends.
    exact_rst_closes(
        server_syn_received(config()),
        REMOTE_ISS + 1,
        Some(FailCause::ResetEstablished),
    );
}

#[test]
fn exact_rst_in_client_established_closes_as_reset_established() {
    exact_rst_closes(
        client_established(config()),
        REMOTE_ISS + 1,
        Some(FailCause::ResetEstablished),
    );
}

#[test]
fn exact_rst_in_server_established_before_the_response_closes_as_reset_established() {
    exact_rst_closes(
        server_established(config()),
        REMOTE_ISS + 1,
        Some(FailCause::ResetEstablished),
    );
}

#[test]
fn exact_rst_in_server_established_with_response_unacked_closes_as_reset_established() {
    // A bare RST (no ACK) after the response was sent: nothing says the client got
    // it.
    exact_rst_closes(
        server_responded(config()),
        REMOTE_ISS + 1 + REQ,
        Some(FailCause::ResetEstablished),
    );
}

#[test]
fn exact_rst_in_client_fin_wait_1_closes_as_reset_closing() {
    exact_rst_closes(
        client_fin_wait_1(config()),
        REMOTE_ISS + 1 + RESP,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_client_fin_wait_1_before_the_response_closes_as_reset_established() {
    // The client closed early (close()), so the reset cut the exchange short.
    let mut f = client_awaiting_response(config());
    f.conn.close(&f.cfg, f.now, &mut f.sink);
    f.sink.take();
    assert_eq!(f.state(), State::FinWait1);
    exact_rst_closes(f, REMOTE_ISS + 1, Some(FailCause::ResetEstablished));
}

#[test]
fn exact_rst_in_server_fin_wait_1_closes_as_reset_closing() {
    exact_rst_closes(
        server_fin_wait_1(config_close(CloseMode::Server)),
        REMOTE_ISS + 1 + REQ,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_client_fin_wait_2_closes_as_reset_closing() {
    exact_rst_closes(
        client_fin_wait_2(config()),
        REMOTE_ISS + 1 + RESP,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_server_fin_wait_2_closes_as_reset_closing() {
    exact_rst_closes(
        server_fin_wait_2(config_close(CloseMode::Server)),
        REMOTE_ISS + 1 + REQ,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_client_closing_closes_as_reset_closing() {
    exact_rst_closes(
        client_closing(config()),
        REMOTE_ISS + 2 + RESP,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_server_closing_closes_as_reset_closing() {
    exact_rst_closes(
        server_closing(config_close(CloseMode::Server)),
        REMOTE_ISS + 2 + REQ,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_client_last_ack_closes_as_reset_closing() {
    exact_rst_closes(
        client_last_ack(config_close(CloseMode::Server)),
        REMOTE_ISS + 2 + RESP,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_in_server_last_ack_closes_as_reset_closing() {
    exact_rst_closes(
        server_last_ack(config()),
        REMOTE_ISS + 2 + REQ,
        Some(FailCause::ResetClosing),
    );
}

#[test]
fn exact_rst_after_a_short_response_reports_one_failure() {
    // ShortResponse was pending; the RST's cause replaces it, one outcome only.
    let mut f = client_established(config());
    f.at(1002);
    f.send(
        TcpRepr {
            payload_len: 5,
            flags: FIN_PSH_ACK,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 7,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    exact_rst_closes(f, REMOTE_ISS + 7, Some(FailCause::ResetClosing));
}

#[test]
fn client_rst_after_the_whole_response_is_a_normal_end_for_the_server() {
    // CloseMode::Rst seen from the server: the client's abort (RST|ACK at once on
    // the last response byte, SO_LINGER 0) acknowledges the whole response. That is
    // the intended close, not a failure.
    let mut f = server_responded(config_close(CloseMode::Rst));
    f.at(1003);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP,
            flags: RST_ACK,
            window: 0,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstReceived, Event::Completed]);
}

#[test]
fn rst_acking_part_of_the_response_is_a_failure_for_the_server() {
    let mut f = server_responded(config_close(CloseMode::Rst));
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + REQ,
            ack: LOCAL_ISS + 1 + RESP - 1,
            flags: RST_ACK,
            window: 0,
            ..SEND_TEMPLATE
        },
        &[],
    );
    f.expect_events(&[
        Event::RstReceived,
        Event::Failed(FailCause::ResetEstablished),
    ]);
}

#[test]
fn in_window_rst_off_rcv_nxt_draws_a_challenge_ack_in_every_synchronized_state() {
    // RFC 5961 §3.2 (3): <SEQ=SND.NXT><ACK=RCV.NXT>, state unchanged.
    for (name, mut f, snd_nxt, rcv_nxt) in synchronized_fixtures() {
        let state = f.state();
        f.clear();
        for off in [1, 1000, 65_534] {
            let step = f.send(rst(rcv_nxt + off), &[our_ack(snd_nxt, rcv_nxt)]);
            assert_eq!(step, Step::Continue, "{name}");
            assert_eq!(f.state(), state, "{name}");
        }
        assert_eq!(f.sink.events, [Event::ChallengeAck; 3], "{name}");
    }
}

#[test]
fn rst_outside_the_window_is_dropped_silently_in_every_synchronized_state() {
    // RFC 5961 §3.2 (1); RCV.WND is 65535 with config().
    for (name, mut f, _, rcv_nxt) in synchronized_fixtures() {
        let state = f.state();
        f.clear();
        for seq in [
            rcv_nxt - 1,
            rcv_nxt - 40_000,
            rcv_nxt + 65_535,
            rcv_nxt + 1_000_000,
        ] {
            let step = f.send(rst(seq), &[]);
            assert_eq!(step, Step::Continue, "{name}");
            assert_eq!(f.state(), state, "{name}");
        }
        assert_eq!(f.sink.events, [], "{name}");
    }
}

#[test]
fn rst_outside_the_advertised_window_is_dropped_without_window_scaling() {
    // With a 1 MiB receive buffer but no window scaling agreed, the window field
    // caps what we advertise at 65535 bytes: that is RCV.WND for the RST test.
    let cfg = TcpConfig {
        window: 1 << 20,
        window_scale: Some(7),
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    // The SYN-ACK carries no window scale option.
    let got = {
        on_segment(&mut f.conn, &f.cfg, f.now, &syn_ack(), &mut f.sink);
        f.sink.take()
    };
    assert_eq!(got[0].window, 65535);
    f.send(rst(REMOTE_ISS + 1 + 100_000), &[]);
    assert_eq!(f.state(), State::Established);
    f.expect_events(&[]);
}

#[test]
fn exact_rst_in_client_time_wait_ends_time_wait() {
    // RFC 9293: RST in TIME-WAIT → CLOSED (Linux's default, tcp_rfc1337 = 0). The
    // connection's outcome was reported on entering TIME-WAIT; no second one.
    let mut f = client_time_wait(config());
    f.clear();
    let step = f.send(rst(REMOTE_ISS + 2 + RESP), &[]);
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::RstReceived]);
}

#[test]
fn exact_rst_in_server_time_wait_ends_time_wait() {
    let mut f = server_time_wait(config_close(CloseMode::Server));
    f.clear();
    let step = f.send(rst(REMOTE_ISS + 2 + REQ), &[]);
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstReceived]);
}

#[test]
fn rst_off_rcv_nxt_in_time_wait_is_dropped() {
    // synfin follows Linux here: in TIME-WAIT only a RST at RCV.NXT counts; any
    // other is dropped without the RFC 5961 challenge ACK (the peer has nothing
    // left to send, so no in-window RST can be legitimate).
    let mut f = client_time_wait(config());
    f.clear();
    for seq in [
        REMOTE_ISS + 3 + RESP,
        REMOTE_ISS + 1 + RESP,
        REMOTE_ISS + 5000,
    ] {
        let step = f.send(rst(seq), &[]);
        assert_eq!(step, Step::Continue);
        assert_eq!(f.state(), State::TimeWait);
    }
    f.expect_events(&[]);
}
