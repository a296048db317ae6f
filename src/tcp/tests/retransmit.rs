//! Retransmission (RFC 6298 and RFC 9293 §3.8.1): SYN, SYN-ACK, data and FIN with
//! RTO backoff and their timeouts, RTO from RTT samples, recovery after an RTO, and
//! how the receiving side acknowledges a response spanning several segments.

use super::*;

/// The client's SYN retransmitted by the timer.
fn syn_again() -> TcpRepr {
    client_syn()
}

/// The RST|ACK an abort sends.
fn abort_rst(seq: SeqNumber, ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq,
        ack,
        flags: RST_ACK,
        window: 0,
        ..RECV_TEMPLATE
    }
}

/// [`config`] with a request that takes three MSS-sized segments (1460, 1460, 80).
fn config_big_request() -> TcpConfig {
    TcpConfig {
        request_bytes: 3000,
        ..config()
    }
}

/// Segment `i` (0, 1, 2) of the 3000-byte request.
fn request_segment(i: u32) -> TcpRepr {
    let len = if i < 2 { 1460 } else { 80 };
    TcpRepr {
        seq: LOCAL_ISS + 1 + 1460 * i,
        ack: REMOTE_ISS + 1,
        flags: if i < 2 { TcpFlags::ACK } else { PSH_ACK },
        payload_len: len,
        ..RECV_TEMPLATE
    }
}

/// An ACK from the peer up to `ack`.
fn peer_ack(ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1,
        ack,
        ..SEND_TEMPLATE
    }
}

// SYN and SYN-ACK ------------------------------------------------------------------

#[test]
fn syn_is_retransmitted_with_rto_doubling_until_syn_retries_then_syn_timeout() {
    // RFC 6298 §5.5 doubles the RTO at each expiry; after syn_retries (Linux's 6)
    // retransmissions the next expiry ends the attempt: 1+2+4+8+16+32 s, then the
    // last wait of 64 s is capped by rto_max (60 s).
    let mut f = client_syn_sent(config());
    for at in [2_000, 4_000, 8_000, 16_000, 32_000, 64_000] {
        assert_eq!(f.fire_at(at, &[syn_again()]), Step::Continue);
        assert_eq!(f.state(), State::SynSent);
    }
    assert_eq!(f.conn.rto_ms(), 60_000);
    // No RST: there is no connection to reset yet (RFC 9293 §3.10.4 ABORT in
    // SYN-SENT sends nothing).
    let step = f.fire_at(124_000, &[]);
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    let mut expect = vec![Event::Retransmitted; 6];
    expect.push(Event::Failed(FailCause::SynTimeout));
    f.expect_events(&expect);
    f.expect_samples(&[]);
}

#[test]
fn syn_backoff_is_capped_at_rto_max() {
    // RFC 6298 §5.5: a maximum value may be placed on the RTO.
    let cfg = TcpConfig {
        rto_max: Duration::from_secs(5),
        syn_retries: 4,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    for at in [2_000, 4_000, 8_000, 13_000] {
        f.fire_at(at, &[syn_again()]);
    }
    assert_eq!(f.fire_at(18_000, &[]), Step::Closed);
}

#[test]
fn timer_called_before_its_deadline_does_nothing() {
    let mut f = client_syn_sent(config());
    let step = f
        .conn
        .on_timer(&f.cfg, Instant::from_millis(1999), &mut f.sink);
    assert_eq!(step, Step::Continue);
    assert_eq!(f.sink.take(), []);
    assert_eq!(f.conn.deadline(), Instant::from_millis(2000));
}

#[test]
fn syn_ack_after_a_retransmitted_syn_takes_no_rtt_sample() {
    // Karn's algorithm (RFC 6298 §3): a SYN-ACK might answer either SYN. With no
    // sample, RFC 6298 §5.7 sets the RTO to 3 s once data transmission begins.
    let mut f = client_syn_sent(config());
    f.fire_at(2_000, &[syn_again()]);
    f.at(2_010);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.conn.rto_ms(), 3_000);
    assert_eq!(f.conn.deadline(), Instant::from_millis(5_010));
    // Connect still counts from the start.
    f.expect_samples(&[(Phase::Connect, 1_010)]);
}

#[test]
fn syn_ack_is_retransmitted_until_syn_retries_then_syn_timeout() {
    let cfg = TcpConfig {
        syn_retries: 2,
        ..config()
    };
    let mut f = server_syn_received(cfg);
    f.fire_at(2_000, &[server_syn_ack()]);
    f.fire_at(4_000, &[server_syn_ack()]);
    assert_eq!(f.state(), State::SynReceived);
    // synfin resets the half-open connection it gives up on (Linux drops it
    // silently); the peer, if any, learns at once.
    let step = f.fire_at(8_000, &[abort_rst(LOCAL_ISS + 1, REMOTE_ISS + 1)]);
    assert_eq!(step, Step::Closed);
    f.expect_events(&[
        Event::Retransmitted,
        Event::Retransmitted,
        Event::RstSent,
        Event::Failed(FailCause::SynTimeout),
    ]);
}

#[test]
fn handshake_ack_after_a_retransmitted_syn_ack_takes_no_rtt_sample() {
    let mut f = server_syn_received(config());
    f.fire_at(2_000, &[server_syn_ack()]);
    f.at(2_001);
    f.send(handshake_ack(), &[]);
    assert_eq!(f.state(), State::Established);
    assert_eq!(f.conn.rto_ms(), 3_000);
}

// RTO from RTT samples -------------------------------------------------------------

#[test]
fn first_rtt_sample_sets_rto_to_srtt_plus_four_rttvar() {
    // RFC 6298 §2.2: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4·RTTVAR).
    let mut f = client_syn_sent(config());
    f.at(1_300);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.conn.rto_ms(), 900);
    assert_eq!(f.conn.deadline(), Instant::from_millis(2_200));
}

#[test]
fn rto_is_at_least_rto_min() {
    // RFC 6298 §2.4 (synfin's floor is configurable; Linux uses 200 ms).
    let f = client_established(config());
    assert_eq!(f.conn.rto_ms(), 200);
    assert_eq!(f.conn.deadline(), Instant::from_millis(1_201));
}

#[test]
fn rto_is_at_most_rto_max() {
    // RTT 30 s: 30 + 4·15 = 90 s, capped at 60 s.
    let cfg = TcpConfig {
        rto_initial: Duration::from_secs(100),
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(31_000);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.conn.rto_ms(), 60_000);
}

#[test]
fn second_rtt_sample_is_smoothed() {
    // RFC 6298 §2.3 with α = 1/8, β = 1/4: handshake RTT 100 ms (SRTT 100,
    // RTTVAR 50), request RTT 200 ms: RTTVAR = 37.5 + 25 = 62.5,
    // SRTT = 87.5 + 25 = 112.5, RTO = 112.5 + 250 = 362.5 → 363 ms.
    let mut f = client_syn_sent(config());
    f.at(1_100);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.conn.rto_ms(), 300);
    f.at(1_300);
    f.send(peer_ack(LOCAL_ISS + 1 + REQ), &[]);
    assert_eq!(f.conn.rto_ms(), 363);
}

// Request, response and FIN --------------------------------------------------------

#[test]
fn request_is_retransmitted_with_backoff_until_retries_then_data_timeout() {
    let cfg = TcpConfig {
        retries: 3,
        ..config()
    };
    let mut f = client_established(cfg);
    let req = client_request(REMOTE_ISS + 1);
    f.fire_at(1_201, &[req]);
    f.fire_at(1_601, &[req]);
    f.fire_at(2_401, &[req]);
    assert_eq!(f.state(), State::Established);
    let step = f.fire_at(4_001, &[abort_rst(LOCAL_ISS + 1 + REQ, REMOTE_ISS + 1)]);
    assert_eq!(step, Step::Closed);
    f.expect_events(&[
        Event::Retransmitted,
        Event::Retransmitted,
        Event::Retransmitted,
        Event::RstSent,
        Event::Failed(FailCause::DataTimeout),
    ]);
}

#[test]
fn ack_after_a_retransmitted_request_takes_no_rtt_sample_and_stops_the_timer() {
    let mut f = client_established(config());
    f.fire_at(1_201, &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.conn.rto_ms(), 400);
    f.at(1_250);
    f.send(peer_ack(LOCAL_ISS + 1 + REQ), &[]);
    // Karn: the backed-off RTO stays until a fresh sample.
    assert_eq!(f.conn.rto_ms(), 400);
    // RFC 6298 §5.2: all acknowledged → the retransmission timer stops.
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
}

#[test]
fn response_is_retransmitted_by_the_server() {
    let mut f = server_responded(config());
    f.fire_at(1_202, &[server_response()]);
    f.fire_at(1_602, &[server_response()]);
    f.expect_events(&[Event::Retransmitted, Event::Retransmitted]);
}

#[test]
fn fin_is_retransmitted_until_retries_then_fin_timeout() {
    let cfg = TcpConfig {
        retries: 2,
        ..config()
    };
    let mut f = client_fin_wait_1(cfg);
    let fin = TcpRepr {
        seq: LOCAL_ISS + 1 + REQ,
        ack: REMOTE_ISS + 1 + RESP,
        flags: FIN_ACK,
        ..RECV_TEMPLATE
    };
    f.fire_at(1_202, &[fin]);
    f.fire_at(1_602, &[fin]);
    assert_eq!(f.state(), State::FinWait1);
    let step = f.fire_at(
        2_402,
        &[abort_rst(LOCAL_ISS + 2 + REQ, REMOTE_ISS + 1 + RESP)],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[
        Event::Retransmitted,
        Event::Retransmitted,
        Event::RstSent,
        Event::Failed(FailCause::FinTimeout),
    ]);
}

#[test]
fn fin_is_retransmitted_in_closing_and_times_out_as_fin_timeout() {
    let cfg = TcpConfig {
        retries: 1,
        ..config()
    };
    let mut f = client_closing(cfg);
    f.clear();
    let fin = TcpRepr {
        seq: LOCAL_ISS + 1 + REQ,
        ack: REMOTE_ISS + 2 + RESP,
        flags: FIN_ACK,
        ..RECV_TEMPLATE
    };
    f.fire_at(1_202, &[fin]);
    f.fire_at(
        1_602,
        &[abort_rst(LOCAL_ISS + 2 + REQ, REMOTE_ISS + 2 + RESP)],
    );
    f.expect_events(&[
        Event::Retransmitted,
        Event::RstSent,
        Event::Failed(FailCause::FinTimeout),
    ]);
}

#[test]
fn fin_is_retransmitted_in_last_ack_and_times_out_as_fin_timeout() {
    let cfg = TcpConfig {
        retries: 1,
        ..config()
    };
    let mut f = server_last_ack(cfg);
    let fin = TcpRepr {
        seq: LOCAL_ISS + 1 + RESP,
        ack: REMOTE_ISS + 2 + REQ,
        flags: FIN_ACK,
        ..RECV_TEMPLATE
    };
    // The FIN went out at 1003; the timer was armed then.
    f.fire_at(1_203, &[fin]);
    f.fire_at(
        1_603,
        &[abort_rst(LOCAL_ISS + 2 + RESP, REMOTE_ISS + 2 + REQ)],
    );
    f.expect_events(&[
        Event::Retransmitted,
        Event::RstSent,
        Event::Failed(FailCause::FinTimeout),
    ]);
}

#[test]
fn rto_resends_data_and_fin_together() {
    // Request unacknowledged when the client closes: the FIN goes out alone, and
    // the retransmission carries the request with the FIN on it.
    let mut f = client_established(config());
    f.conn.close(&f.cfg, f.now, &mut f.sink);
    assert_eq!(
        f.sink.take(),
        [TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }]
    );
    f.fire_at(
        1_201,
        &[TcpRepr {
            flags: FIN_PSH_ACK,
            ..client_request(REMOTE_ISS + 1)
        }],
    );
}

// Several segments in flight ---------------------------------------------------------

#[test]
fn request_of_several_segments_goes_out_at_once() {
    let mut f = client_syn_sent(config_big_request());
    f.at(1_001);
    f.send(
        syn_ack(),
        &[request_segment(0), request_segment(1), request_segment(2)],
    );
}

/// Client with the 3000-byte request in flight at t = 1001.
fn client_big_request_sent() -> Fixture {
    let mut f = client_syn_sent(config_big_request());
    f.at(1_001);
    f.send(
        syn_ack(),
        &[request_segment(0), request_segment(1), request_segment(2)],
    );
    f
}

// A port with no room ----------------------------------------------------------------

#[test]
fn segments_the_port_refuses_are_held_back_until_the_next_ack() {
    // The port takes one segment: the rest of the request waits behind SND.NXT,
    // is neither lost nor counted as retransmitted, and goes out on the ACK of
    // the first segment.
    let mut f = client_syn_sent(config_big_request());
    f.at(1_001);
    f.sink.room = Some(1);
    f.send(syn_ack(), &[request_segment(0)]);
    assert_eq!(f.sink.refused, 1);
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 1 + 1460, "held back");
    assert_eq!(f.conn.timer(), conn::TimerKind::Retransmit);
    f.sink.room = None;
    f.at(1_010);
    f.send(
        peer_ack(LOCAL_ISS + 1 + 1460),
        &[request_segment(1), request_segment(2)],
    );
    f.at(1_020);
    f.send(peer_ack(LOCAL_ISS + 3001), &[]);
    f.expect_events(&[]);
}

#[test]
fn a_refused_segment_with_nothing_in_flight_is_lost_and_resent_by_the_timer() {
    // Nothing in flight would bring an ACK to release a held segment: the first
    // one counts as sent (lost on the way) and its timer resends it; the rest
    // waits behind it.
    let mut f = client_syn_sent(config_big_request());
    f.at(1_001);
    f.sink.room = Some(0);
    // (No bare ACK either: the request's retransmission will carry it.)
    f.send(syn_ack(), &[]);
    assert_eq!(f.sink.refused, 1);
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 1 + 1460);
    f.sink.room = None;
    f.fire_at(1_201, &[request_segment(0)]);
    f.expect_events(&[Event::Retransmitted]);
    f.at(1_210);
    f.send(
        peer_ack(LOCAL_ISS + 1 + 1460),
        &[request_segment(1), request_segment(2)],
    );
}

#[test]
fn a_refused_fin_waits_for_the_ack_of_the_data_before_it() {
    // The whole response arrives while two request segments are still in flight:
    // the client closes, and its FIN finds the port full. The FIN waits behind
    // SND.NXT and goes on the next ACK (acknowledging the response with it).
    let mut f = client_big_request_sent();
    f.sink.room = Some(0);
    f.at(1_010);
    let response = TcpRepr {
        seq: REMOTE_ISS + 1,
        ack: LOCAL_ISS + 1 + 1460,
        flags: PSH_ACK,
        payload_len: RESP as u16,
        ..SEND_TEMPLATE
    };
    f.send(response, &[]);
    assert_eq!(f.state(), State::FinWait1);
    assert_eq!(f.sink.refused, 1, "the FIN");
    assert_eq!(f.conn.snd_nxt(), LOCAL_ISS + 3001, "the FIN held back");
    f.sink.room = None;
    f.at(1_020);
    let fin = TcpRepr {
        seq: LOCAL_ISS + 3001,
        ack: REMOTE_ISS + 1 + RESP,
        flags: FIN_ACK,
        ..RECV_TEMPLATE
    };
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + RESP,
            ..peer_ack(LOCAL_ISS + 3001)
        },
        &[fin],
    );
    f.expect_events(&[]);
}

#[test]
fn new_ack_restarts_the_retransmission_timer() {
    // RFC 6298 §5.3: an ACK of new data restarts the timer (RTO 200 ms).
    let mut f = client_big_request_sent();
    assert_eq!(f.conn.deadline(), Instant::from_millis(1_201));
    f.at(1_100);
    f.send(peer_ack(LOCAL_ISS + 1 + 1460), &[]);
    assert_eq!(f.conn.deadline(), Instant::from_millis(1_300));
    // A duplicate ACK does not.
    f.at(1_150);
    f.send(peer_ack(LOCAL_ISS + 1 + 1460), &[]);
    assert_eq!(f.conn.deadline(), Instant::from_millis(1_300));
}

#[test]
fn rto_resends_only_the_oldest_segment() {
    // RFC 6298 §5.4.
    let mut f = client_big_request_sent();
    f.fire_at(1_201, &[request_segment(0)]);
    assert_eq!(
        f.conn.snd_nxt(),
        LOCAL_ISS + 3001,
        "SND.NXT does not move back"
    );
}

#[test]
fn partial_ack_during_recovery_resends_the_next_segment() {
    let mut f = client_big_request_sent();
    f.fire_at(1_201, &[request_segment(0)]);
    f.at(1_210);
    f.send(peer_ack(LOCAL_ISS + 1 + 1460), &[request_segment(1)]);
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(1_610),
        "timer restarted"
    );
    f.at(1_220);
    f.send(peer_ack(LOCAL_ISS + 1 + 2920), &[request_segment(2)]);
    f.at(1_230);
    // Everything acknowledged: recovery is over, nothing more is resent.
    f.send(peer_ack(LOCAL_ISS + 3001), &[]);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    // Every segment sent again counts: the timeout's and the two partial ACKs'.
    f.expect_events(&[
        Event::Retransmitted,
        Event::Retransmitted,
        Event::Retransmitted,
    ]);
}

#[test]
fn third_duplicate_ack_resends_at_once_and_recovery_follows_the_partial_acks() {
    // RFC 5681 §3.2: the third duplicate ACK retransmits the segment at SND.UNA
    // without waiting for the timer (RTO 200 ms, due at 1,201) and without
    // backing it off; each partial ACK then resends the next (RFC 6582 §3.2).
    let mut f = client_big_request_sent();
    f.at(1_010);
    f.send(peer_ack(LOCAL_ISS + 1), &[]);
    f.send(peer_ack(LOCAL_ISS + 1), &[]);
    f.send(peer_ack(LOCAL_ISS + 1), &[request_segment(0)]);
    // More duplicates (for the segments after the hole) resend nothing more.
    f.send(peer_ack(LOCAL_ISS + 1), &[]);
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(1_210),
        "timer restarted"
    );
    f.at(1_020);
    f.send(peer_ack(LOCAL_ISS + 1 + 1460), &[request_segment(1)]);
    f.send(peer_ack(LOCAL_ISS + 1 + 2920), &[request_segment(2)]);
    f.send(peer_ack(LOCAL_ISS + 3001), &[]);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    f.expect_events(&[
        Event::Retransmitted,
        Event::Retransmitted,
        Event::Retransmitted,
    ]);
}

#[test]
fn an_ack_that_moves_the_window_or_carries_data_is_no_duplicate() {
    // RFC 5681 §2: a duplicate ACK carries no data and leaves the window as it was.
    let mut f = client_big_request_sent();
    f.at(1_010);
    for window in [65535, 60000, 50000] {
        f.send(
            TcpRepr {
                window,
                ..peer_ack(LOCAL_ISS + 1)
            },
            &[],
        );
    }
    f.send(
        TcpRepr {
            window: 50000,
            ..peer_ack(LOCAL_ISS + 1)
        },
        &[],
    );
    // Two duplicates so far (the 50000 ones): a third one resends.
    f.send(
        TcpRepr {
            window: 50000,
            ..peer_ack(LOCAL_ISS + 1)
        },
        &[request_segment(0)],
    );
}

#[test]
fn partial_ack_outside_recovery_resends_nothing() {
    let mut f = client_big_request_sent();
    f.at(1_010);
    f.send(peer_ack(LOCAL_ISS + 1 + 1460), &[]);
}

/// Segment `i` of a 5000-byte response (1460, 1460, 1460, 620).
fn response_segment(i: u32) -> TcpRepr {
    let last = i == 3;
    TcpRepr {
        seq: REMOTE_ISS + 1 + 1460 * i,
        ack: LOCAL_ISS + 1 + REQ,
        flags: if last { PSH_ACK } else { TcpFlags::ACK },
        payload_len: if last { 620 } else { 1460 },
        ..SEND_TEMPLATE
    }
}

/// Our ACK of the response up to `ack`.
fn client_ack(ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1 + REQ,
        ack,
        ..RECV_TEMPLATE
    }
}

/// A client expecting a 5,000-octet response (segments of 1460, 1460, 1460, 620)
/// at t = 1002, its first segment in.
fn client_after_first_response_segment() -> Fixture {
    let cfg = TcpConfig {
        response_bytes: 5000,
        ..config()
    };
    let mut f = client_established(cfg);
    f.at(1_002);
    f.send(response_segment(0), &[]);
    f
}

#[test]
fn response_of_several_segments_is_acked_every_second_segment() {
    let mut f = client_after_first_response_segment();
    f.send(response_segment(1), &[client_ack(REMOTE_ISS + 1 + 2920)]);
    f.send(response_segment(2), &[]);
    // The last one completes the response: the FIN acknowledges it all.
    f.send(
        response_segment(3),
        &[TcpRepr {
            flags: FIN_ACK,
            ..client_ack(REMOTE_ISS + 5001)
        }],
    );
    assert_eq!(f.conn.rx_bytes(), 5000);
    f.expect_samples(&[(Phase::Connect, 1), (Phase::Ttfb, 1)]);
}

#[test]
fn out_of_order_segments_are_held_and_counted_when_the_hole_fills() {
    let mut f = client_after_first_response_segment();
    // Segment 1 lost: segment 2 draws a duplicate ACK at once (RFC 5681 §4.2), and
    // so does 3; their range is held (RFC 9293 §3.10.7.4), not yet counted.
    f.send(response_segment(2), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    assert_eq!(
        f.conn.held(),
        Some((REMOTE_ISS + 1 + 2920, REMOTE_ISS + 1 + 4380))
    );
    f.send(response_segment(3), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    assert_eq!(
        f.conn.held(),
        Some((REMOTE_ISS + 1 + 2920, REMOTE_ISS + 5001))
    );
    assert_eq!(f.conn.rx_bytes(), 1460);
    // The retransmitted segment 1 fills the hole: RCV.NXT moves past the range,
    // the whole response is in, and the client's FIN acknowledges it all.
    f.send(
        response_segment(1),
        &[TcpRepr {
            flags: FIN_ACK,
            ..client_ack(REMOTE_ISS + 5001)
        }],
    );
    assert_eq!(f.conn.held(), None);
    assert_eq!(f.conn.rx_bytes(), 5000);
    f.expect_samples(&[(Phase::Connect, 1), (Phase::Ttfb, 1)]);
    // Segment 2 again (the sender resending what it took as lost): a duplicate.
    assert_eq!(f.state(), State::FinWait1);
    let dup_ack = client_ack(REMOTE_ISS + 5001);
    f.send(
        response_segment(2),
        &[TcpRepr {
            seq: dup_ack.seq + 1,
            ..dup_ack
        }],
    );
}

#[test]
fn in_order_data_overlapping_the_range_counts_each_octet_once() {
    let mut f = client_after_first_response_segment();
    f.send(response_segment(2), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    // In order, from RCV.NXT 500 octets into the range held [2920, 4380).
    let overlap = TcpRepr {
        payload_len: 1460 + 500,
        ..response_segment(1)
    };
    f.send(overlap, &[client_ack(REMOTE_ISS + 1 + 4380)]);
    assert_eq!(f.conn.held(), None);
    assert_eq!(f.conn.rx_bytes(), 4380);
    // Data joining the range on either side (touching its end, overlapping its
    // start) widens it.
    let mut f = client_after_first_response_segment();
    f.send(response_segment(2), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    f.send(response_segment(3), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    let before = TcpRepr {
        seq: REMOTE_ISS + 1 + 2000,
        payload_len: 1000,
        ..response_segment(1)
    };
    f.send(before, &[client_ack(REMOTE_ISS + 1 + 1460)]);
    assert_eq!(
        f.conn.held(),
        Some((REMOTE_ISS + 1 + 2000, REMOTE_ISS + 5001))
    );
}

#[test]
fn out_of_order_data_apart_from_the_range_held_is_dropped() {
    let mut f = client_after_first_response_segment();
    // Segment 1 lost: 2 is held. Data that starts 100 octets past 2's end is
    // apart from the range: dropped.
    f.send(response_segment(2), &[client_ack(REMOTE_ISS + 1 + 1460)]);
    let far = TcpRepr {
        seq: REMOTE_ISS + 1 + 4380 + 100,
        payload_len: 100,
        ..response_segment(3)
    };
    f.send(far, &[client_ack(REMOTE_ISS + 1 + 1460)]);
    assert_eq!(
        f.conn.held(),
        Some((REMOTE_ISS + 1 + 2920, REMOTE_ISS + 1 + 4380))
    );
    // Segment 1 fills the first hole: RCV.NXT moves to the range's end, where
    // the next hole begins.
    f.send(response_segment(1), &[client_ack(REMOTE_ISS + 1 + 4380)]);
    assert_eq!(f.conn.held(), None);
    assert_eq!(f.conn.rx_bytes(), 4380);
}

#[test]
fn connection_stays_open_while_the_peer_answers_zero_window_probes() {
    // RFC 9293 §3.8.6.1 (MUST-36): as long as the receiver keeps acknowledging the
    // probes, the sender must keep the connection open, however many there are.
    let cfg = TcpConfig {
        retries: 2,
        ..config_big_request()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1_001);
    // A zero window in the SYN-ACK: one byte goes out to probe it.
    f.send(
        TcpRepr {
            window: 0,
            ..syn_ack()
        },
        &[TcpRepr {
            payload_len: 1,
            ..request_segment(0)
        }],
    );
    let zero_window_ack = TcpRepr {
        window: 0,
        ..peer_ack(LOCAL_ISS + 1)
    };
    for _ in 0..6 {
        f.now = f.conn.deadline();
        assert_eq!(f.conn.on_timer(&f.cfg, f.now, &mut f.sink), Step::Continue);
        let probe = f.sink.take();
        assert_eq!(probe.len(), 1);
        assert_eq!(probe[0].seq, LOCAL_ISS + 1, "the probe starts at SND.UNA");
        f.send(zero_window_ack, &[]);
        assert_eq!(f.state(), State::Established);
    }
    assert!(
        !f.sink.events.iter().any(|e| matches!(e, Event::Failed(_))),
        "{:?}",
        f.sink.events
    );
    // The window opens: the rest of the request goes out.
    let sent = {
        on_segment(
            &mut f.conn,
            &f.cfg,
            f.now,
            &peer_ack(LOCAL_ISS + 2),
            &mut f.sink,
        );
        f.sink.take()
    };
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].seq, LOCAL_ISS + 2);
}

#[test]
fn a_lone_in_order_segment_is_acknowledged_by_the_delayed_ack_timer() {
    // RFC 9293 §3.8.6.3: every second segment is acknowledged at once; a lone one
    // within the delayed-ACK time (under 0.5 s), when nothing of ours is
    // outstanding to carry the ACK sooner.
    let mut f = client_after_first_response_segment();
    assert_eq!(f.conn.timer(), conn::TimerKind::DelayedAck);
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(1_002 + conn::DELAYED_ACK_MS)
    );
    f.now = f.conn.deadline();
    assert_eq!(f.conn.on_timer(&f.cfg, f.now, &mut f.sink), Step::Continue);
    assert_eq!(f.sink.take(), [client_ack(REMOTE_ISS + 1 + 1460)]);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
    // A second segment before the timer: acknowledged with the first, at once.
    f.at(1_100);
    f.send(response_segment(1), &[]);
    f.send(response_segment(2), &[client_ack(REMOTE_ISS + 1 + 4380)]);
    assert_eq!(f.conn.timer(), conn::TimerKind::Idle);
}
