//! TIME-WAIT, on a full control block and on the compact [`TimeWaitRecord`]
//! (RFC 9293 §3.10.7.4, RFC 7323 §5, RFC 6191).

use super::*;

// TIME-WAIT on a control block -------------------------------------------------------

#[test]
fn fin_retransmit_in_time_wait_is_reacked() {
    // Our last ACK was lost and the server sent its FIN again: ACK it again and
    // restart the 2·MSL timer (RFC 9293 §3.10.7.4, eighth).
    let mut f = client_time_wait(config());
    f.clear();
    f.at(30_000);
    let step = f.send(server_fin_to_client(), &[client_time_wait_ack()]);
    assert_eq!(step, Step::Continue);
    assert_eq!(f.state(), State::TimeWait);
    assert_eq!(f.conn.deadline(), Instant::from_millis(90_000));
    f.expect_events(&[Event::TimeWaitFinReacked]);
}

#[test]
fn fin_retransmit_in_server_time_wait_is_reacked() {
    let mut f = server_time_wait(config_close(CloseMode::Server));
    f.clear();
    f.at(2_000);
    f.send(client_fin_to_server(), &[server_time_wait_ack()]);
    assert_eq!(f.conn.deadline(), Instant::from_millis(62_000));
    f.expect_events(&[Event::TimeWaitFinReacked]);
}

#[test]
fn time_wait_expiry_closes_without_another_outcome() {
    let mut f = client_time_wait(config());
    f.clear();
    let step = f.fire_at(61_004, &[]);
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    assert_eq!(f.conn.deadline(), Instant::NEVER);
    f.expect_events(&[]);
    f.expect_samples(&[]);
}

#[test]
fn time_wait_reached_from_closing_expires_after_2msl() {
    let mut f = client_closing(config());
    f.at(1_004);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.fire_at(61_004, &[]), Step::Closed);
}

#[test]
fn time_wait_record_carries_the_connection_state() {
    let f = client_time_wait(config());
    assert_eq!(
        f.conn.time_wait_record(),
        TimeWaitRecord {
            snd_nxt: LOCAL_ISS + 2 + REQ,
            rcv_nxt: REMOTE_ISS + 2 + RESP,
            ts_recent: 0,
            entered_ms: 1_004,
            expires_ms: 61_004,
            window: 65535,
            ts_ok: false,
            generation: 0,
        }
    );
}

#[test]
fn time_wait_record_keeps_the_window_field_the_connection_sent() {
    // We offer window scaling with a 1 MiB window, the peer's SYN-ACK does not:
    // nothing is scaled (RFC 7323 §2.2), so every segment, and the re-ACKs from
    // TIME-WAIT, carry the window capped at 65,535, not 2^20 >> 7.
    let cfg = TcpConfig {
        window: 1 << 20,
        window_scale: Some(7),
        ..config()
    };
    let mut f = client_time_wait(cfg);
    assert_eq!(f.conn.time_wait_record().window, 65535);
    // The record's re-ACK is the control block's.
    f.clear();
    f.at(30_000);
    f.send(server_fin_to_client(), &[client_time_wait_ack()]);
    let rec = TimeWaitRecord {
        expires_ms: 90_000,
        ..f.conn.time_wait_record()
    };
    assert_eq!(rec.ack(LOCAL_PORT, REMOTE_PORT, 0), client_time_wait_ack());
}

#[test]
fn data_in_time_wait_is_answered_with_an_ack() {
    // Anything occupying sequence space is not acceptable in TIME-WAIT.
    let mut f = client_time_wait(config());
    f.clear();
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            payload_len: 5,
            ..SEND_TEMPLATE
        },
        &[client_time_wait_ack()],
    );
    assert_eq!(
        f.conn.deadline(),
        Instant::from_millis(61_004),
        "not restarted"
    );
    f.expect_events(&[]);
}

#[test]
fn pure_ack_in_time_wait_is_ignored() {
    let mut f = client_time_wait(config());
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 2 + RESP,
            ack: LOCAL_ISS + 2 + REQ,
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(f.state(), State::TimeWait);
}

#[test]
fn syn_with_higher_seq_ends_server_time_wait_for_a_new_incarnation() {
    // RFC 6191 without timestamps: a SYN past RCV.NXT may reopen the tuple. On a
    // control block the connection just ends; the engine hands the SYN to LISTEN.
    let mut f = server_time_wait(config_close(CloseMode::Server));
    f.clear();
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 100_000,
            ..syn_from_client()
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[]);
}

#[test]
fn syn_with_lower_seq_in_server_time_wait_is_answered_with_an_ack() {
    let mut f = server_time_wait(config_close(CloseMode::Server));
    f.clear();
    f.send(syn_from_client(), &[server_time_wait_ack()]);
    assert_eq!(f.state(), State::TimeWait);
}

/// Client in TIME-WAIT with timestamps: the peer's TSvals were 5000 (SYN-ACK),
/// 5001 (response) and 5003 (FIN); ours are the clock.
fn client_time_wait_ts() -> Fixture {
    let mut f = client_syn_sent(config_ts());
    f.at(1001);
    let t = |v, e| TcpOptions {
        mss: Some(1460),
        ..ts(v, e)
    };
    f.send(
        TcpRepr {
            options: t(5000, 1000),
            ..syn_ack()
        },
        &[TcpRepr {
            options: ts(1001, 5000),
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    f.at(1002);
    f.send(
        TcpRepr {
            options: ts(5001, 1001),
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 1 + RESP,
            flags: FIN_ACK,
            options: ts(1002, 5001),
            ..RECV_TEMPLATE
        }],
    );
    f.at(1003);
    f.send(
        TcpRepr {
            options: ts(5003, 1002),
            ..server_fin_to_client()
        },
        &[TcpRepr {
            options: ts(1003, 5003),
            ..client_time_wait_ack()
        }],
    );
    assert_eq!(f.state(), State::TimeWait);
    f.clear();
    f
}

#[test]
fn fin_retransmit_with_newer_timestamp_in_time_wait_is_reacked_echoing_it() {
    let mut f = client_time_wait_ts();
    f.at(2_000);
    f.send(
        TcpRepr {
            options: ts(5500, 1002),
            ..server_fin_to_client()
        },
        &[TcpRepr {
            options: ts(2_000, 5500),
            ..client_time_wait_ack()
        }],
    );
    assert_eq!(f.conn.ts_recent(), 5500);
    assert_eq!(f.conn.time_wait_record().ts_recent, 5500);
    f.expect_events(&[Event::TimeWaitFinReacked]);
}

#[test]
fn old_duplicate_fin_in_time_wait_fails_paws_and_keeps_the_timer() {
    // RFC 7323 §5.3 applies in TIME-WAIT: ACK and drop, counted.
    let mut f = client_time_wait_ts();
    f.at(2_000);
    f.send(
        TcpRepr {
            options: ts(5002, 1002),
            ..server_fin_to_client()
        },
        &[TcpRepr {
            options: ts(2_000, 5003),
            ..client_time_wait_ack()
        }],
    );
    assert_eq!(f.conn.deadline(), Instant::from_millis(61_003));
    f.expect_events(&[Event::PawsRejected]);
}

// The compact record -------------------------------------------------------------------

const TW_LEN_MS: u32 = 60_000;

/// A record as the server keeps it after a server close: our FIN is acked at
/// 1021+1, the peer's FIN at 50011 taken. Timestamps on, TS.Recent 7000.
fn record() -> TimeWaitRecord {
    TimeWaitRecord {
        snd_nxt: LOCAL_ISS + 2 + RESP,
        rcv_nxt: REMOTE_ISS + 2 + REQ,
        ts_recent: 7_000,
        entered_ms: 1_000,
        expires_ms: 61_000,
        window: 512,
        ts_ok: true,
        generation: 3,
    }
}

/// Feed `seg` to `rec` at `now_ms`; return the verdict and the events.
fn judge(rec: &mut TimeWaitRecord, seg: TcpRepr, now_ms: u32) -> (TwVerdict, Vec<Event>) {
    let mut events = Vec::new();
    let v = rec.on_segment(&seg, now_ms, TW_LEN_MS, |e| events.push(e));
    (v, events)
}

/// The client's FIN retransmitted, with TSval `tsval`.
fn fin_again(tsval: u32) -> TcpRepr {
    TcpRepr {
        options: ts(tsval, 900),
        ..client_fin_to_server()
    }
}

/// A SYN for a new incarnation at `seq`, with an optional TSval.
fn new_syn(seq: SeqNumber, tsval: Option<u32>) -> TcpRepr {
    TcpRepr {
        seq,
        options: TcpOptions {
            mss: Some(1460),
            timestamps: tsval.map(|v| Timestamps { tsval: v, tsecr: 0 }),
            ..TcpOptions::default()
        },
        ..syn_from_client()
    }
}

#[test]
fn fin_retransmit_to_a_time_wait_record_is_reacked_and_restarts_2msl() {
    let mut rec = record();
    let (v, ev) = judge(&mut rec, fin_again(7_100), 30_000);
    assert_eq!(v, TwVerdict::Ack);
    assert_eq!(ev, [Event::TimeWaitFinReacked]);
    assert_eq!(rec.expires_ms, 90_000);
    assert_eq!(rec.ts_recent, 7_100);
    assert_eq!(rec.generation, 3, "the engine's tag is left alone");
    // The ACK: <SEQ=SND.NXT><ACK=RCV.NXT>, echoing the FIN's TSval.
    assert_eq!(
        rec.ack(LOCAL_PORT, REMOTE_PORT, 30_123),
        TcpRepr {
            window: 512,
            options: ts(30_123, 7_100),
            ..server_time_wait_ack()
        }
    );
}

#[test]
fn time_wait_record_ack_has_no_timestamps_unless_negotiated() {
    let rec = TimeWaitRecord {
        ts_ok: false,
        window: 65535,
        ..record()
    };
    assert_eq!(rec.ack(LOCAL_PORT, REMOTE_PORT, 1), server_time_wait_ack());
}

#[test]
fn time_wait_record_expires_after_2msl() {
    let rec = record();
    assert!(!rec.expired(60_999));
    assert!(rec.expired(61_000));
    assert!(rec.expired(61_001));
    // Engine time in ms wraps after 49 days; expiry compares modulo 2^32.
    let rec = TimeWaitRecord {
        expires_ms: 5,
        ..record()
    };
    assert!(!rec.expired(u32::MAX - 10));
    assert!(rec.expired(5));
}

#[test]
fn old_duplicate_fin_to_a_time_wait_record_fails_paws_without_restarting() {
    let mut rec = record();
    let (v, ev) = judge(&mut rec, fin_again(6_999), 30_000);
    assert_eq!(v, TwVerdict::Ack);
    assert_eq!(ev, [Event::PawsRejected]);
    assert_eq!(rec.expires_ms, 61_000);
    assert_eq!(rec.ts_recent, 7_000);
}

#[test]
fn syn_with_newer_timestamp_reopens_a_time_wait_record() {
    // RFC 6191 §2: a newer TSval proves the SYN is not an old duplicate, whatever
    // its sequence number.
    for seq in [REMOTE_ISS + 100_000, REMOTE_ISS] {
        let mut rec = record();
        let (v, ev) = judge(&mut rec, new_syn(seq, Some(7_001)), 2_000);
        assert_eq!(v, TwVerdict::Reopen, "seq {seq:?}");
        assert_eq!(ev, []);
    }
}

#[test]
fn syn_with_older_timestamp_to_a_time_wait_record_is_acked() {
    // An old duplicate (PAWS): stay in TIME-WAIT and answer with the ACK, as
    // Linux does (RFC 6191 would drop it silently).
    let mut rec = record();
    let (v, ev) = judge(&mut rec, new_syn(REMOTE_ISS + 100_000, Some(6_000)), 2_000);
    assert_eq!(v, TwVerdict::Ack);
    assert_eq!(ev, [Event::PawsRejected]);
    assert_eq!(rec, record());
}

#[test]
fn syn_with_equal_timestamp_reopens_a_time_wait_record_only_with_higher_seq() {
    // RFC 6191 §2: equal TSval → accept iff SEG.SEQ is past the old RCV.NXT.
    let mut rec = record();
    let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS + 100_000, Some(7_000)), 2_000);
    assert_eq!(v, TwVerdict::Reopen);
    let mut rec = record();
    let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS, Some(7_000)), 2_000);
    assert_eq!(v, TwVerdict::Ack);
}

#[test]
fn syn_without_timestamps_is_judged_by_its_seq() {
    // RFC 6191 §2: without timestamps on the new SYN, only a sequence number past
    // the old RCV.NXT may reopen, whether or not the old connection had them.
    for ts_ok in [true, false] {
        let mut rec = TimeWaitRecord { ts_ok, ..record() };
        let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS + 100_000, None), 2_000);
        assert_eq!(v, TwVerdict::Reopen, "ts_ok {ts_ok}");
        let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS + 2 + REQ, None), 2_000);
        assert_eq!(v, TwVerdict::Ack, "ts_ok {ts_ok}: SEG.SEQ = RCV.NXT");
        let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS, None), 2_000);
        assert_eq!(v, TwVerdict::Ack, "ts_ok {ts_ok}");
    }
}

#[test]
fn syn_with_timestamps_to_a_record_without_them_is_judged_by_its_seq() {
    // RFC 6191 accepts this SYN if the new incarnation would use timestamps. The
    // record cannot know the listener's settings, so synfin keeps the sequence
    // rule here (Linux also accepts a higher sequence number).
    let mut rec = TimeWaitRecord {
        ts_ok: false,
        ..record()
    };
    let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS + 100_000, Some(1)), 2_000);
    assert_eq!(v, TwVerdict::Reopen);
    let (v, _) = judge(&mut rec, new_syn(REMOTE_ISS, Some(1)), 2_000);
    assert_eq!(v, TwVerdict::Ack);
}

#[test]
fn rst_at_rcv_nxt_ends_a_time_wait_record() {
    let mut rec = record();
    let rst = TcpRepr {
        seq: REMOTE_ISS + 2 + REQ,
        flags: TcpFlags::RST,
        options: ts(7_001, 0),
        ..SEND_TEMPLATE
    };
    let (v, ev) = judge(&mut rec, rst, 2_000);
    assert_eq!(v, TwVerdict::Close);
    assert_eq!(ev, [Event::RstReceived]);
    // Off RCV.NXT, or older than TS.Recent: dropped without a reply.
    for bad in [
        TcpRepr {
            seq: REMOTE_ISS + 3 + REQ,
            ..rst
        },
        TcpRepr {
            options: ts(6_999, 0),
            ..rst
        },
    ] {
        let mut rec = record();
        let (v, ev) = judge(&mut rec, bad, 2_000);
        assert_eq!(v, TwVerdict::Drop);
        assert_eq!(ev, []);
    }
}

#[test]
fn data_to_a_time_wait_record_is_acked_and_pure_ack_dropped() {
    let mut rec = record();
    let data = TcpRepr {
        seq: REMOTE_ISS + 2 + REQ,
        ack: LOCAL_ISS + 2 + RESP,
        payload_len: 7,
        options: ts(7_001, 0),
        ..SEND_TEMPLATE
    };
    assert_eq!(judge(&mut rec, data, 2_000), (TwVerdict::Ack, vec![]));
    assert_eq!(rec.expires_ms, 61_000, "only a FIN restarts the timer");
    let ack = TcpRepr {
        payload_len: 0,
        ..data
    };
    assert_eq!(judge(&mut rec, ack, 2_000), (TwVerdict::Drop, vec![]));
}

#[test]
fn ceil_ms_is_div_ceil_for_every_edge() {
    use crate::tcp::conn::ceil_ms;
    for x in [
        0,
        1,
        999_999,
        1_000_000,
        1_000_001,
        u64::MAX - 1_000_000,
        u64::MAX - 999_999,
        u64::MAX - 999_998,
        u64::MAX - 1,
        u64::MAX,
    ] {
        assert_eq!(ceil_ms(x), x.div_ceil(1_000_000), "{x}");
    }
    for k in 0..10_000u64 {
        let x = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        assert_eq!(ceil_ms(x), x.div_ceil(1_000_000), "{x}");
    }
}
