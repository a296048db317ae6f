//! Client side, state by state (RFC 9293 §3.3.2 and §3.10.7.3–4), apart from RST
//! ([`super::reset`]), challenge ACKs ([`super::challenge`]), timers
//! ([`super::retransmit`]) and TIME-WAIT ([`super::time_wait`]).

use super::*;

// SYN-SENT ------------------------------------------------------------------------

#[test]
fn connect_sends_syn_with_mss_and_arms_initial_rto() {
    let mut sink = TestSink::default();
    let now = Instant::from_millis(1000);
    let conn = Conn::connect(
        &config(),
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        LOCAL_ISS,
        0,
        now,
        now,
        &mut sink,
    );
    assert_eq!(sink.take(), [client_syn()]);
    assert_eq!(conn.state(), State::SynSent);
    assert_eq!(conn.role(), Role::Client);
    assert_eq!(conn.snd_una(), LOCAL_ISS);
    assert_eq!(conn.snd_nxt(), LOCAL_ISS + 1);
    assert_eq!(conn.timer(), conn::TimerKind::Retransmit);
    // RFC 6298 §2.1: the initial RTO is 1 s.
    assert_eq!(conn.deadline(), Instant::from_millis(2000));
    assert!(sink.events.is_empty());
}

#[test]
fn syn_ack_in_syn_sent_establishes_and_sends_request() {
    let mut f = client_established(config());
    assert_eq!(f.conn.snd_una(), LOCAL_ISS + 1);
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 1 + REQ);
    assert_eq!(f.conn.rcv_nxt(), REMOTE_ISS + 1);
    // Connect is measured from the scheduled start to the SYN-ACK.
    f.expect_samples(&[(Phase::Connect, 1)]);
    f.expect_events(&[]);
    // The request is outstanding: the retransmission timer runs.
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
}

#[test]
fn syn_ack_with_nothing_to_send_is_acknowledged() {
    // No request: the handshake ACK is a bare ACK (and with no response expected
    // either, the client closes at once; see close_modes).
    let cfg = TcpConfig {
        request_bytes: 0,
        response_bytes: 5,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(
        syn_ack(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
}

#[test]
fn connect_latency_is_measured_from_the_scheduled_start() {
    // Open-loop: the connection was due at 900 ms but started at 1000 ms.
    let mut sink = TestSink::default();
    let mut conn = Conn::connect(
        &config(),
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        LOCAL_ISS,
        0,
        Instant::from_millis(900),
        Instant::from_millis(1000),
        &mut sink,
    );
    sink.take();
    on_segment(
        &mut conn,
        &config(),
        Instant::from_millis(1001),
        &syn_ack(),
        &mut sink,
    );
    assert_eq!(sink.samples, [(Phase::Connect, 101_000_000)]);
    assert_eq!(conn.start(), Instant::from_millis(900));
}

#[test]
fn old_syn_ack_in_syn_sent_is_reset_and_the_right_one_still_works() {
    let mut f = client_syn_sent(config());
    f.at(1001);
    // RFC 9293 §3.10.7.3, first: SEG.ACK =< ISS or > SND.NXT → <SEQ=SEG.ACK><CTL=RST>.
    let old = TcpRepr {
        seq: SeqNumber(7_777),
        ack: SeqNumber(123_456),
        ..syn_ack()
    };
    f.send(
        old,
        &[TcpRepr {
            seq: SeqNumber(123_456),
            ack: SeqNumber(0),
            flags: TcpFlags::RST,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::SynSent);
    f.expect_events(&[Event::RstSent]);
    // An ACK of exactly ISS is not acceptable either.
    f.send(
        TcpRepr {
            ack: LOCAL_ISS,
            ..syn_ack()
        },
        &[TcpRepr {
            seq: LOCAL_ISS,
            ack: SeqNumber(0),
            flags: TcpFlags::RST,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::SynSent);
    assert_eq!(f.conn.rcv_nxt(), SeqNumber(0), "nothing was taken from it");
    f.expect_events(&[Event::RstSent]);
    // The real SYN-ACK still establishes.
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.state(), State::Established);
}

#[test]
fn ack_without_syn_in_syn_sent_is_dropped() {
    // RFC 9293 §3.10.7.3, fifth: neither SYN nor RST → drop.
    let mut f = client_syn_sent(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS,
            ack: LOCAL_ISS + 1,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::SynSent);
    f.expect_events(&[]);
}

#[test]
fn close_in_syn_sent_deletes_the_connection_without_sending() {
    // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB. synfin counts the attempt
    // as a SYN timeout (the handshake never completed).
    let mut f = client_syn_sent(config());
    let step = f.conn.close(&f.cfg, f.now, &mut f.sink);
    assert_eq!(step, Step::Closed);
    assert_eq!(f.sink.take(), []);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::Failed(FailCause::SynTimeout)]);
}

// ESTABLISHED ---------------------------------------------------------------------

#[test]
fn ack_of_request_in_established_arms_idle_timer() {
    let f = client_awaiting_response(config());
    assert_eq!(f.conn.snd_una(), LOCAL_ISS + 1 + REQ);
    // 30 s after the last segment.
    assert_eq!(f.conn.deadline(), Instant::from_millis(31_002));
}

#[test]
fn whole_response_in_established_sends_fin_and_enters_fin_wait_1() {
    let mut f = client_fin_wait_1(config());
    assert_eq!(f.conn.rx_bytes(), RESP);
    f.expect_samples(&[(Phase::Connect, 1), (Phase::Ttfb, 1)]);
    f.expect_events(&[]);
    // Our FIN is outstanding: the retransmission timer runs (RTO = rto_min after
    // the 1 ms RTT sample).
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    assert_eq!(f.conn.deadline(), Instant::from_millis(1202));
}

#[test]
fn partial_response_in_established_waits_for_the_rest() {
    let mut f = client_established(config());
    f.at(1002);
    // Half the response: one segment, not yet worth an ACK of its own (synfin ACKs
    // every second segment and has no delayed-ACK timer: a lone segment is
    // acknowledged by whatever we send next, see the report on RFC 9293 MUST-40).
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            ..response()
        },
        &[],
    );
    assert_eq!(f.conn.rx_bytes(), 10);
    assert_eq!(f.state(), State::Established);
    // The second half completes it: the FIN acknowledges both.
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 11,
            payload_len: 10,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::FinWait1);
    // Time to first byte counts the first segment only.
    f.expect_samples(&[(Phase::Connect, 1), (Phase::Ttfb, 1)]);
}

#[test]
fn duplicate_response_segment_in_established_is_reacked() {
    let mut f = client_established(config());
    f.at(1002);
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            ..response()
        },
        &[],
    );
    // The same segment again (our ACK was delayed, the peer retransmitted): an
    // immediate ACK says where we are.
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 11,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.conn.rx_bytes(), 10, "counted once");
}

#[test]
fn segment_overlapping_received_data_counts_only_the_new_bytes() {
    let mut f = client_established(config());
    f.at(1002);
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            ..response()
        },
        &[],
    );
    // Bytes 5..20: 5 old, 10 new, and it completes the response.
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 6,
            payload_len: 15,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.conn.rx_bytes(), RESP);
}

#[test]
fn fin_with_whole_response_in_established_passes_close_wait_to_last_ack() {
    let mut f = client_last_ack(config_close(CloseMode::Server));
    assert_eq!(f.conn.rcv_nxt(), REMOTE_ISS + 2 + RESP);
    f.expect_events(&[]);
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
}

#[test]
fn fin_after_response_in_established_is_answered_with_our_fin() {
    // The response and the FIN in separate segments.
    let mut f = client_established(config_close(CloseMode::Server));
    f.at(1002);
    f.send(response(), &[]);
    assert_eq!(f.state(), State::Established);
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + RESP,
            ack: LOCAL_ISS + 1 + REQ,
            flags: FIN_ACK,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::LastAck);
}

#[test]
fn fin_before_the_whole_response_is_a_short_response_but_closes_politely() {
    let mut f = client_established(config());
    f.at(1002);
    // 5 of the 20 bytes, then the peer closes.
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
    assert_eq!(f.state(), State::LastAck);
    f.expect_events(&[]);
    f.at(1003);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 7,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::Failed(FailCause::ShortResponse)]);
}

#[test]
fn fin_beyond_a_hole_in_established_is_not_taken_and_asks_for_the_gap() {
    let mut f = client_established(config());
    f.at(1002);
    // The last 10 bytes and the FIN, the first 10 lost.
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 11,
            payload_len: 10,
            flags: FIN_PSH_ACK,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.rcv_nxt(), REMOTE_ISS + 1);
}

#[test]
fn segment_without_ack_in_established_is_dropped() {
    // RFC 9293 §3.10.7.4, fifth: if the ACK bit is off, drop the segment.
    let mut f = client_established(config());
    f.send(
        TcpRepr {
            flags: TcpFlags::PSH,
            ..response()
        },
        &[],
    );
    assert_eq!(f.conn.rx_bytes(), 0);
}

#[test]
fn data_beyond_the_window_in_established_is_answered_with_an_ack() {
    // Not acceptable (RFC 9293 §3.10.7.4, first): send <SEQ=SND.NXT><ACK=RCV.NXT>.
    let mut f = client_established(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + 70_000,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.conn.rx_bytes(), 0);
    assert_eq!(f.state(), State::Established);
}

#[test]
fn graceful_close_in_established_sends_fin_after_the_request() {
    // The engine stops: close() queues the FIN → FIN-WAIT-1.
    let mut f = client_awaiting_response(config());
    let step = f.conn.close(&f.cfg, f.now, &mut f.sink);
    assert_eq!(step, Step::Continue);
    assert_eq!(
        f.sink.take(),
        [TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }]
    );
    assert_eq!(f.state(), State::FinWait1);
    // A second close changes nothing.
    assert_eq!(f.conn.close(&f.cfg, f.now, &mut f.sink), Step::Continue);
    assert_eq!(f.sink.take(), []);
}

// FIN-WAIT-1 ----------------------------------------------------------------------

#[test]
fn ack_of_fin_in_fin_wait_1_enters_fin_wait_2_with_idle_timer() {
    let mut f = client_fin_wait_2(config());
    assert_eq!(f.conn.snd_una(), LOCAL_ISS + 2 + REQ);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    assert_eq!(f.conn.deadline(), Instant::from_millis(31_003));
    f.expect_events(&[]);
}

#[test]
fn fin_acking_our_fin_in_fin_wait_1_enters_time_wait() {
    let mut f = client_fin_wait_1(config());
    f.clear();
    f.at(1005);
    let step = f.send(server_fin_to_client(), &[client_time_wait_ack()]);
    assert_eq!(step, Step::TimeWait);
    assert_eq!(f.state(), State::TimeWait);
    f.expect_events(&[Event::Completed]);
    // Close: our FIN (1002) to the end of the handshake; lifecycle from 1000.
    f.expect_samples(&[(Phase::Close, 3), (Phase::Lifecycle, 5)]);
}

#[test]
fn fin_not_acking_our_fin_in_fin_wait_1_enters_closing() {
    let mut f = client_closing(config());
    f.expect_events(&[]);
    // Our FIN is still outstanding.
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    assert_eq!(f.conn.snd_una(), LOCAL_ISS + 1 + REQ);
}

#[test]
fn ack_not_covering_fin_in_fin_wait_1_stays_in_fin_wait_1() {
    // A client closing on its own (close()) before the response: an ACK that does
    // not cover our FIN leaves it in FIN-WAIT-1.
    let mut f = client_awaiting_response(config());
    f.conn.close(&f.cfg, f.now, &mut f.sink);
    f.sink.take();
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 1 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait1);
}

// FIN-WAIT-2 ----------------------------------------------------------------------

#[test]
fn fin_in_fin_wait_2_is_acked_and_enters_time_wait() {
    let mut f = client_time_wait(config());
    f.expect_events(&[Event::Completed]);
    f.expect_samples(&[
        (Phase::Connect, 1),
        (Phase::Ttfb, 1),
        (Phase::Close, 2),
        (Phase::Lifecycle, 4),
    ]);
    assert_eq!(f.conn.timer(), conn::TimerKind::TimeWait);
    assert_eq!(f.conn.deadline(), Instant::from_millis(61_004));
}

#[test]
fn duplicate_ack_in_fin_wait_2_is_ignored() {
    let mut f = client_fin_wait_2(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait2);
}

#[test]
fn data_in_fin_wait_2_is_still_received() {
    // RFC 9293: FIN-WAIT-2 still receives. A client that closed early (close())
    // takes the response and then the FIN.
    let mut f = client_awaiting_response(config());
    f.conn.close(&f.cfg, f.now, &mut f.sink);
    f.sink.take();
    f.at(1003);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::FinWait2);
    f.send(
        TcpRepr {
            ack: LOCAL_ISS + 2 + REQ,
            flags: FIN_PSH_ACK,
            ..response()
        },
        &[client_time_wait_ack()],
    );
    assert_eq!(f.state(), State::TimeWait);
    assert_eq!(f.conn.rx_bytes(), RESP);
}

// CLOSING -------------------------------------------------------------------------

#[test]
fn ack_of_fin_in_closing_enters_time_wait() {
    let mut f = client_closing(config());
    f.clear();
    f.at(1004);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::TimeWait);
    assert_eq!(f.state(), State::TimeWait);
    f.expect_events(&[Event::Completed]);
    f.expect_samples(&[(Phase::Close, 2), (Phase::Lifecycle, 4)]);
}

#[test]
fn retransmitted_fin_in_closing_is_reacked() {
    let mut f = client_closing(config());
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
}

// LAST-ACK ------------------------------------------------------------------------

#[test]
fn ack_of_fin_in_last_ack_closes_and_completes() {
    let mut f = client_last_ack(config_close(CloseMode::Server));
    f.clear();
    f.at(1004);
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    assert_eq!(f.conn.deadline(), Instant::NEVER);
    f.expect_events(&[Event::Completed]);
    // Close runs from the peer's FIN (1002) to its ACK of ours.
    f.expect_samples(&[(Phase::Close, 2), (Phase::Lifecycle, 4)]);
}

#[test]
fn retransmitted_fin_in_last_ack_is_reacked() {
    let mut f = client_last_ack(config_close(CloseMode::Server));
    f.send(
        response_with_fin(),
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::LastAck);
}

#[test]
fn ack_not_covering_fin_in_last_ack_keeps_waiting() {
    let mut f = client_last_ack(config_close(CloseMode::Server));
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 1 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::LastAck);
    f.expect_events(&[]);
}

#[test]
fn segment_for_a_closed_connection_is_ignored() {
    let mut f = client_last_ack(config_close(CloseMode::Server));
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    f.clear();
    // The engine should have freed it; if it did not, nothing more happens.
    let step = f.send(response_with_fin(), &[]);
    assert_eq!(step, Step::Continue);
    assert_eq!(f.conn.on_timer(&f.cfg, f.now, &mut f.sink), Step::Continue);
    f.expect_events(&[]);
}

// Idle timeouts ---------------------------------------------------------------------

#[test]
fn idle_timeout_in_established_aborts_as_data_timeout() {
    // A silent server after the request: the idle timer ends it with a RST.
    let mut f = client_awaiting_response(config());
    let step = f.fire_at(
        31_002,
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::RstSent, Event::Failed(FailCause::DataTimeout)]);
}

#[test]
fn segments_from_the_peer_restart_the_idle_timer() {
    let mut f = client_awaiting_response(config());
    f.at(20_000);
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            ..response()
        },
        &[],
    );
    // The lone segment's ACK waits for the delayed-ACK time; then the idle
    // timer runs again from there, not from the request.
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(20_000 + conn::DELAYED_ACK_MS)
    );
    f.now = f.conn.deadline();
    f.conn.on_timer(&f.cfg, f.now, &mut f.sink);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(50_000 + conn::DELAYED_ACK_MS)
    );
}

#[test]
fn idle_timeout_in_fin_wait_2_aborts_as_fin_timeout() {
    // The server acknowledged our FIN and never sent its own.
    let mut f = client_fin_wait_2(config());
    f.clear();
    let step = f.fire_at(
        31_003,
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstSent, Event::Failed(FailCause::FinTimeout)]);
}
