//! SYN option negotiation (RFC 9293 §3.7.1, RFC 7323 §2–3, RFC 2018), PAWS
//! (RFC 7323 §5.3) and TS.Recent (RFC 7323 §4.3). Our TSval is the clock in ms
//! (the fixtures' timestamp base and offset are 0).

use super::*;

/// Every option on.
fn config_all() -> TcpConfig {
    TcpConfig {
        mss: 1400,
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: true,
        window: 1 << 20,
        ..config()
    }
}

/// SYN options with every option the peer can offer.
fn all_options(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(2),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval, tsecr }),
    }
}

/// A timestamps-only option set with an MSS, as on a SYN.
fn mss_ts(mss: u16, tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(mss),
        ..ts(tsval, tsecr)
    }
}

// Negotiation, client side ------------------------------------------------------------

#[test]
fn client_syn_offers_every_configured_option() {
    let f = client_syn_sent(config_all());
    // The fixture took the SYN; send one again by timer to see it.
    let mut f = f;
    f.fire(&[TcpRepr {
        seq: LOCAL_ISS,
        flags: TcpFlags::SYN,
        // The window field of a SYN is never scaled (RFC 7323 §2.2).
        window: 65535,
        options: TcpOptions {
            mss: Some(1400),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: 2000,
                tsecr: 0,
            }),
        },
        ..RECV_TEMPLATE
    }]);
}

#[test]
fn client_uses_timestamps_and_scaling_when_the_syn_ack_offers_them_too() {
    let mut f = client_syn_sent(config_all());
    f.at(1001);
    f.send(
        TcpRepr {
            options: all_options(5000, 1000),
            ..syn_ack()
        },
        &[TcpRepr {
            // Our window, scaled by our shift: 2^20 >> 7.
            window: 8192,
            options: ts(1001, 5000),
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    assert!(f.conn.ts_enabled());
    assert_eq!(f.conn.ts_recent(), 5000);
}

#[test]
fn client_uses_no_option_the_syn_ack_lacks() {
    let mut f = client_syn_sent(config_all());
    f.at(1001);
    f.send(
        syn_ack(),
        &[TcpRepr {
            // No scaling: the 16-bit field caps the window.
            window: 65535,
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    assert!(!f.conn.ts_enabled());
}

#[test]
fn client_ignores_options_it_did_not_offer() {
    let mut f = client_syn_sent(TcpConfig {
        window: 1 << 20,
        ..config()
    });
    f.at(1001);
    f.send(
        TcpRepr {
            options: all_options(5000, 1000),
            ..syn_ack()
        },
        &[TcpRepr {
            window: 65535,
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    assert!(!f.conn.ts_enabled());
}

#[test]
fn peer_window_is_unscaled_in_the_syn_ack_and_scaled_after() {
    // RFC 7323 §2.2: the window field of a SYN is never scaled. A 3000-byte request
    // meets a SYN-ACK window of 1000 (shift 2): only 1000 bytes go out; the next ACK
    // says 1000 << 2 = 4000 and releases the rest.
    let cfg = TcpConfig {
        window_scale: Some(7),
        request_bytes: 3000,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(
        TcpRepr {
            window: 1000,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(2),
                ..TcpOptions::default()
            },
            ..syn_ack()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            flags: TcpFlags::ACK,
            window: 65535 >> 7,
            payload_len: 1000,
            ..RECV_TEMPLATE
        }],
    );
    f.at(1002);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 1001,
            window: 1000,
            ..SEND_TEMPLATE
        },
        &[
            TcpRepr {
                seq: LOCAL_ISS + 1001,
                ack: REMOTE_ISS + 1,
                flags: TcpFlags::ACK,
                window: 65535 >> 7,
                payload_len: 1460,
                ..RECV_TEMPLATE
            },
            TcpRepr {
                seq: LOCAL_ISS + 2461,
                ack: REMOTE_ISS + 1,
                flags: PSH_ACK,
                window: 65535 >> 7,
                payload_len: 540,
                ..RECV_TEMPLATE
            },
        ],
    );
}

#[test]
fn missing_mss_option_means_536_bytes() {
    // RFC 9293 §3.7.1: without an MSS option the peer takes 536.
    let cfg = TcpConfig {
        request_bytes: 1000,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(
        TcpRepr {
            options: TcpOptions::default(),
            ..syn_ack()
        },
        &[
            TcpRepr {
                seq: LOCAL_ISS + 1,
                ack: REMOTE_ISS + 1,
                flags: TcpFlags::ACK,
                payload_len: 536,
                ..RECV_TEMPLATE
            },
            TcpRepr {
                seq: LOCAL_ISS + 537,
                ack: REMOTE_ISS + 1,
                flags: PSH_ACK,
                payload_len: 464,
                ..RECV_TEMPLATE
            },
        ],
    );
}

#[test]
fn segments_are_sized_by_the_smaller_mss_less_the_timestamps_option() {
    // Our MSS 1400 and the peer's 1460: 1400, less 12 bytes for NOP NOP TS.
    let cfg = TcpConfig {
        request_bytes: 2000,
        ..config_all()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(
        TcpRepr {
            options: all_options(5000, 1000),
            ..syn_ack()
        },
        &[
            TcpRepr {
                seq: LOCAL_ISS + 1,
                ack: REMOTE_ISS + 1,
                flags: TcpFlags::ACK,
                window: 8192,
                options: ts(1001, 5000),
                payload_len: 1388,
                ..RECV_TEMPLATE
            },
            TcpRepr {
                seq: LOCAL_ISS + 1389,
                ack: REMOTE_ISS + 1,
                flags: PSH_ACK,
                window: 8192,
                options: ts(1001, 5000),
                payload_len: 612,
                ..RECV_TEMPLATE
            },
        ],
    );
}

// Negotiation, server side ------------------------------------------------------------

#[test]
fn server_syn_ack_carries_each_option_only_if_both_sides_offer_it() {
    // RFC 7323 §2.2 and §3.2, RFC 2018 §2: a SYN-ACK may carry window scale,
    // timestamps and SACK-permitted only if the SYN did. MSS is always sent.
    let offers: [(&str, TcpOptions); 5] = [
        ("none", TcpOptions::default()),
        ("all", all_options(777, 0)),
        (
            "wscale",
            TcpOptions {
                window_scale: Some(2),
                ..TcpOptions::default()
            },
        ),
        (
            "sack",
            TcpOptions {
                sack_permitted: true,
                ..TcpOptions::default()
            },
        ),
        ("ts", ts(777, 0)),
    ];
    for (cfg_name, cfg) in [("all", config_all()), ("none", config())] {
        for (name, offer) in offers {
            let syn = TcpRepr {
                options: offer,
                ..syn_from_client()
            };
            let (f, sent) = server_accept(cfg.clone(), syn);
            let on = cfg_name == "all";
            let expect = TcpOptions {
                mss: Some(cfg.mss),
                window_scale: (on && offer.window_scale.is_some()).then_some(7),
                sack_permitted: on && offer.sack_permitted,
                timestamps: (on && offer.timestamps.is_some()).then_some(Timestamps {
                    tsval: 1000,
                    tsecr: 777,
                }),
            };
            assert_eq!(
                sent,
                [TcpRepr {
                    options: expect,
                    ..server_syn_ack()
                }],
                "server {cfg_name}, SYN offers {name}"
            );
            assert_eq!(f.conn.ts_enabled(), expect.timestamps.is_some());
        }
    }
}

#[test]
fn server_uses_negotiated_timestamps_and_scaling_after_the_handshake() {
    let syn = TcpRepr {
        options: all_options(777, 0),
        ..syn_from_client()
    };
    let (mut f, _) = server_accept(config_all(), syn);
    f.at(1001);
    f.send(
        TcpRepr {
            options: ts(778, 1000),
            ..request()
        },
        &[TcpRepr {
            window: 8192,
            options: ts(1001, 778),
            ..server_response()
        }],
    );
}

#[test]
fn our_window_scale_shift_is_clamped_to_14() {
    // RFC 7323 §2.3: a shift above 14 is used as 14.
    let cfg = TcpConfig {
        window_scale: Some(20),
        window: 1 << 30,
        ..config()
    };
    let syn = TcpRepr {
        options: TcpOptions {
            window_scale: Some(0),
            ..TcpOptions::default()
        },
        ..syn_from_client()
    };
    let (mut f, sent) = server_accept(cfg, syn);
    assert_eq!(sent[0].options.window_scale, Some(14));
    f.at(1001);
    f.send(
        request(),
        &[TcpRepr {
            window: 65535, // 2^30 >> 14 = 65536, capped at 65535
            ..server_response()
        }],
    );
}

// PAWS and TS.Recent ----------------------------------------------------------------

/// Client in ESTABLISHED with timestamps: our SYN had TSval 1000, the SYN-ACK
/// TSval 5000; the request went out at 1001 echoing 5000.
fn client_established_ts() -> Fixture {
    let mut f = client_syn_sent(config_ts());
    f.at(1001);
    f.send(
        TcpRepr {
            options: mss_ts(1460, 5000, 1000),
            ..syn_ack()
        },
        &[TcpRepr {
            options: ts(1001, 5000),
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    assert_eq!(f.conn.ts_recent(), 5000);
    f.clear();
    f.at(1002);
    f
}

/// Our ACK at t = 1002 ms with the given RCV.NXT and TSecr.
fn our_ack_ts(ack: SeqNumber, tsecr: u32) -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1 + REQ,
        ack,
        options: ts(1002, tsecr),
        ..RECV_TEMPLATE
    }
}

/// Our FIN at t = 1002 ms after the whole response, echoing `tsecr`.
fn our_fin_ts(tsecr: u32) -> TcpRepr {
    TcpRepr {
        flags: FIN_ACK,
        ..our_ack_ts(REMOTE_ISS + 1 + RESP, tsecr)
    }
}

#[test]
fn older_tsval_is_dropped_with_an_ack_and_counted() {
    // RFC 7323 §5.3 R1: SEG.TSval < TS.Recent → not acceptable: ACK and drop.
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            options: ts(4999, 1001),
            ..response()
        },
        &[our_ack_ts(REMOTE_ISS + 1, 5000)],
    );
    assert_eq!(f.conn.rx_bytes(), 0);
    assert_eq!(f.conn.ts_recent(), 5000);
    f.expect_events(&[Event::PawsRejected]);
    // The same segment with a current timestamp is taken.
    f.send(
        TcpRepr {
            options: ts(5001, 1001),
            ..response()
        },
        &[our_fin_ts(5001)],
    );
}

#[test]
fn equal_tsval_passes_paws() {
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            options: ts(5000, 1001),
            ..response()
        },
        &[our_fin_ts(5000)],
    );
    f.expect_events(&[]);
}

#[test]
fn tsval_comparison_wraps_around() {
    // RFC 7323 §5.2: timestamps compare modulo 2^32.
    let mut f = client_syn_sent(config_ts());
    f.at(1001);
    f.send(
        TcpRepr {
            options: mss_ts(1460, 0xffff_fff0, 1000),
            ..syn_ack()
        },
        &[TcpRepr {
            options: ts(1001, 0xffff_fff0),
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    f.at(1002);
    f.send(
        TcpRepr {
            options: ts(5, 1001),
            ..response()
        },
        &[our_fin_ts(5)],
    );
    f.expect_events(&[]);
}

#[test]
fn newer_tsval_at_rcv_nxt_updates_ts_recent() {
    // RFC 7323 §4.3 (2): SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent.
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            options: ts(6000, 1001),
            ..response()
        },
        &[our_fin_ts(6000)],
    );
    assert_eq!(f.conn.ts_recent(), 6000);
}

#[test]
fn tsval_of_a_segment_beyond_rcv_nxt_does_not_update_ts_recent() {
    // Out of order: the duplicate ACK still echoes the in-order segment's TSval.
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 11,
            payload_len: 10,
            options: ts(6000, 1001),
            ..response()
        },
        &[our_ack_ts(REMOTE_ISS + 1, 5000)],
    );
    assert_eq!(f.conn.ts_recent(), 5000);
}

#[test]
fn delayed_ack_echoes_the_tsval_of_the_earliest_unacknowledged_segment() {
    // RFC 7323 §4.3, case (A): when one ACK covers two segments, its TSecr is the
    // TSval of the first (SEG.SEQ =< Last.ACK.sent holds for it only), so the
    // peer's RTT measurement includes the delay.
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            payload_len: 10,
            flags: TcpFlags::ACK,
            options: ts(5001, 1001),
            ..response()
        },
        &[],
    );
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 11,
            payload_len: 10,
            options: ts(5002, 1001),
            ..response()
        },
        &[our_fin_ts(5001)],
    );
}

#[test]
fn rst_with_an_older_tsval_is_not_subject_to_paws() {
    // RFC 7323 §5.3 R1 applies to non-RST segments only: a RST off RCV.NXT with an
    // old TSval still gets the challenge ACK, and it does not move TS.Recent back.
    let mut f = client_established_ts();
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 5,
            flags: TcpFlags::RST,
            options: ts(10, 0),
            ..SEND_TEMPLATE
        },
        &[our_ack_ts(REMOTE_ISS + 1, 5000)],
    );
    f.expect_events(&[Event::ChallengeAck]);
    // And one at RCV.NXT resets.
    let step = f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            flags: TcpFlags::RST,
            options: ts(10, 0),
            ..SEND_TEMPLATE
        },
        &[],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[
        Event::RstReceived,
        Event::Failed(FailCause::ResetEstablished),
    ]);
}

#[test]
fn segment_without_timestamps_is_accepted_although_negotiated() {
    // RFC 7323 §3.2 says a non-RST segment without TSopt SHOULD be dropped once
    // timestamps are negotiated; synfin is lenient like Linux and takes it (many
    // middleboxes strip options). Our reply still carries timestamps.
    let mut f = client_established_ts();
    f.send(response(), &[our_fin_ts(5000)]);
    assert_eq!(f.conn.rx_bytes(), RESP);
}

#[test]
fn older_tsval_in_syn_received_is_dropped_with_an_ack() {
    let syn = TcpRepr {
        options: mss_ts(1460, 777, 0),
        ..syn_from_client()
    };
    let (mut f, _) = server_accept(config_ts(), syn);
    f.at(1001);
    f.send(
        TcpRepr {
            options: ts(776, 1000),
            ..handshake_ack()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            options: ts(1001, 777),
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::SynReceived);
    f.expect_events(&[Event::PawsRejected]);
}

#[test]
fn old_retransmitted_fin_in_last_ack_fails_paws_and_is_reacked() {
    let mut f = client_syn_sent(TcpConfig {
        close: CloseMode::Server,
        ..config_ts()
    });
    f.at(1001);
    f.send(
        TcpRepr {
            options: mss_ts(1460, 5000, 1000),
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
            options: ts(5010, 1001),
            ..response_with_fin()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            flags: FIN_ACK,
            options: ts(1002, 5010),
            ..RECV_TEMPLATE
        }],
    );
    f.clear();
    f.send(
        TcpRepr {
            options: ts(5009, 1001),
            ..response_with_fin()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 2 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            options: ts(1002, 5010),
            ..RECV_TEMPLATE
        }],
    );
    f.expect_events(&[Event::PawsRejected]);
    assert_eq!(f.state(), State::LastAck);
}
