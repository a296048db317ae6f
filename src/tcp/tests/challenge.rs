//! Challenge ACKs for SYN (RFC 5961 §4) and for unacceptable ACK values (§5.2) in
//! the synchronized states, and the plain ACK the sequence test sends.

use super::*;

/// `<SEQ=seq><ACK=ack><CTL=ACK>` from us.
fn our_ack(seq: SeqNumber, ack: SeqNumber) -> TcpRepr {
    TcpRepr {
        seq,
        ack,
        ..RECV_TEMPLATE
    }
}

#[test]
fn syn_in_window_draws_a_challenge_ack_in_every_synchronized_state() {
    // RFC 5961 §4.2: SYN in a synchronized state → <SEQ=SND.NXT><ACK=RCV.NXT>, the
    // connection is left alone.
    for (name, mut f, snd_nxt, rcv_nxt) in synchronized_fixtures() {
        if f.state() == State::SynReceived {
            continue;
        }
        let state = f.state();
        f.clear();
        for flags in [TcpFlags::SYN, SYN_ACK] {
            let syn = TcpRepr {
                seq: rcv_nxt + 5,
                ack: snd_nxt,
                flags,
                ..SEND_TEMPLATE
            };
            let step = f.send(syn, &[our_ack(snd_nxt, rcv_nxt)]);
            assert_eq!(step, Step::Continue, "{name}");
            assert_eq!(f.state(), state, "{name}");
            assert_eq!(f.conn.rcv_nxt(), rcv_nxt, "{name}");
        }
        f.expect_events(&[Event::ChallengeAck, Event::ChallengeAck]);
    }
}

#[test]
fn syn_at_rcv_nxt_with_data_is_not_taken_in_established() {
    // Even a SYN exactly at RCV.NXT: its payload is not data of this connection.
    let mut f = client_established(config());
    f.send(
        TcpRepr {
            flags: TcpFlags::SYN,
            ..response()
        },
        &[our_ack(LOCAL_ISS + 1 + REQ, REMOTE_ISS + 1)],
    );
    assert_eq!(f.conn.rx_bytes(), 0);
    f.expect_events(&[Event::ChallengeAck]);
}

#[test]
fn old_syn_in_established_is_answered_with_an_ack() {
    // The client's original SYN, duplicated in the network, reaches the server
    // after the handshake. The answer is the same ACK as a challenge ACK; synfin
    // counts it as a plain duplicate (it is below RCV.NXT), not as a challenge.
    let mut f = server_responded(config());
    f.clear();
    f.send(
        syn_from_client(),
        &[our_ack(LOCAL_ISS + 1 + RESP, REMOTE_ISS + 1 + REQ)],
    );
    assert_eq!(f.state(), State::Established);
    f.expect_events(&[]);
}

#[test]
fn new_syn_in_syn_received_draws_a_challenge_ack() {
    // RFC 9293 would return a passively opened connection to LISTEN on an
    // in-window SYN (and Linux resets it); synfin keeps the half-open connection
    // and answers as RFC 5961 §4 does in synchronized states, so a blind SYN
    // cannot tear it down.
    let mut f = server_syn_received(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 10,
            ..syn_from_client()
        },
        &[our_ack(LOCAL_ISS + 1, REMOTE_ISS + 1)],
    );
    assert_eq!(f.state(), State::SynReceived);
    f.expect_events(&[Event::ChallengeAck]);
}

#[test]
fn ack_of_unsent_data_draws_a_challenge_ack_and_drops_the_segment() {
    // RFC 5961 §5.2 (and RFC 9293: "if the ACK acknowledges something not yet
    // sent, send an ACK, drop the segment"): the response bytes are not taken.
    for (name, mut f, snd_nxt, rcv_nxt) in synchronized_fixtures() {
        if f.state() == State::SynReceived {
            continue; // a RST there, see server.rs
        }
        let state = f.state();
        f.clear();
        let step = f.send(
            TcpRepr {
                seq: rcv_nxt,
                ack: snd_nxt + 1,
                flags: PSH_ACK,
                payload_len: 3,
                ..SEND_TEMPLATE
            },
            &[our_ack(snd_nxt, rcv_nxt)],
        );
        assert_eq!(step, Step::Continue, "{name}");
        assert_eq!(f.state(), state, "{name}");
        assert_eq!(f.conn.rcv_nxt(), rcv_nxt, "{name}: data taken");
        f.expect_events(&[Event::ChallengeAck]);
    }
}

#[test]
fn ack_older_than_the_largest_window_draws_a_challenge_ack() {
    // RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND is not acceptable either.
    let mut f = client_awaiting_response(config());
    f.send(
        TcpRepr {
            ack: LOCAL_ISS + 1 + REQ - 70_000,
            ..response()
        },
        &[our_ack(LOCAL_ISS + 1 + REQ, REMOTE_ISS + 1)],
    );
    assert_eq!(f.conn.rx_bytes(), 0);
    f.expect_events(&[Event::ChallengeAck]);
}

#[test]
fn old_ack_within_the_window_is_a_harmless_duplicate() {
    // SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.UNA: acceptable; the data is taken.
    let mut f = client_awaiting_response(config());
    f.send(
        TcpRepr {
            ack: LOCAL_ISS + 1,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(
        f.conn.snd_una(),
        LOCAL_ISS + 1 + REQ,
        "SND.UNA never moves back"
    );
    assert_eq!(f.state(), State::FinWait1);
    f.expect_events(&[]);
}

#[test]
fn segment_below_rcv_nxt_is_reacked_without_a_challenge() {
    // Not acceptable (old duplicate): RFC 9293 sends <SEQ=SND.NXT><ACK=RCV.NXT>.
    let mut f = client_fin_wait_2(config());
    f.clear();
    f.send(
        response(),
        &[our_ack(LOCAL_ISS + 2 + REQ, REMOTE_ISS + 1 + RESP)],
    );
    assert_eq!(f.state(), State::FinWait2);
    f.expect_events(&[]);
}

#[test]
fn pure_ack_beyond_the_window_draws_a_challenge_ack() {
    let mut f = client_awaiting_response(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1 + 65_535,
            ack: LOCAL_ISS + 1 + REQ,
            ..SEND_TEMPLATE
        },
        &[our_ack(LOCAL_ISS + 1 + REQ, REMOTE_ISS + 1)],
    );
    f.expect_events(&[Event::ChallengeAck]);
}
