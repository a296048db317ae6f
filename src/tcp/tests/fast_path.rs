//! The engine's shortcuts against the plain paths: a control block opened in place
//! over a used one ([`Conn::open_active`], [`Conn::open_passive`]) is the one
//! [`Conn::connect`] and [`Conn::accept`] build, and the specialised segment paths
//! leave the same state and send the same segments as the general ones.

use super::*;

/// A control block that has been through a whole lifecycle with options on, so
/// that every field differs from a fresh one.
fn used_conn() -> Conn {
    let mut f = client_time_wait(TcpConfig {
        timestamps: true,
        window_scale: Some(7),
        sack_permitted: true,
        ..config()
    });
    f.conn.local_ip ^= 0xff;
    f.conn.remote_port ^= 0xff;
    f.conn
}

fn configs() -> [TcpConfig; 3] {
    [
        config(),
        config_ts(),
        TcpConfig {
            timestamps: true,
            window_scale: Some(7),
            sack_permitted: true,
            window: 1 << 20,
            ..config()
        },
    ]
}

#[test]
fn open_active_over_a_used_block_is_connect() {
    for cfg in configs() {
        let now = Instant::from_millis(1000);
        let start = Instant::from_millis(990);
        let mut a = TestSink::default();
        let fresh = Conn::connect(
            &cfg,
            (LOCAL_IP, LOCAL_PORT),
            (REMOTE_IP, REMOTE_PORT),
            LOCAL_ISS,
            77,
            start,
            now,
            &mut a,
        );
        let mut b = TestSink::default();
        let mut reused = used_conn();
        reused.open_active(
            &cfg,
            (LOCAL_IP, LOCAL_PORT),
            (REMOTE_IP, REMOTE_PORT),
            LOCAL_ISS,
            77,
            start,
            now,
            &mut b,
        );
        assert_eq!(format!("{fresh:?}"), format!("{reused:?}"));
        assert_eq!(a.sent, b.sent);
    }
}

#[test]
fn open_passive_over_a_used_block_is_accept() {
    for cfg in configs() {
        for syn in [
            syn_from_client(),
            TcpRepr {
                options: TcpOptions {
                    mss: Some(1400),
                    window_scale: Some(9),
                    sack_permitted: true,
                    timestamps: Some(Timestamps { tsval: 5, tsecr: 0 }),
                },
                ..syn_from_client()
            },
        ] {
            let now = Instant::from_millis(1000);
            let mut a = TestSink::default();
            let fresh = Conn::accept(
                &cfg,
                (LOCAL_IP, LOCAL_PORT),
                (REMOTE_IP, REMOTE_PORT),
                &syn,
                LOCAL_ISS,
                77,
                now,
                &mut a,
            );
            let mut b = TestSink::default();
            let mut reused = used_conn();
            reused.open_passive(
                &cfg,
                (LOCAL_IP, LOCAL_PORT),
                (REMOTE_IP, REMOTE_PORT),
                &syn,
                LOCAL_ISS,
                77,
                now,
                &mut b,
            );
            assert_eq!(format!("{fresh:?}"), format!("{reused:?}"));
            assert_eq!(a.sent, b.sent);
        }
    }
}

#[test]
fn params_derive_what_the_config_derives() {
    let odd = TcpConfig {
        rto_initial: Duration::from_micros(1_500_700),
        rto_min: Duration::from_nanos(999_999),
        rto_max: Duration::MAX,
        idle_timeout: Duration::MAX,
        time_wait: Duration::from_secs(u64::MAX / 1000),
        ..config()
    };
    let plain = TcpConfig {
        window_scale: None,
        sack_permitted: false,
        window: 1000,
        ..config()
    };
    let wide = TcpConfig {
        window_scale: Some(20),
        window: u32::MAX,
        ..config()
    };
    for cfg in [config(), TcpConfig::default(), odd, plain, wide] {
        let p = TcpParams::new(cfg.clone());
        assert_eq!(p.syn_options(), cfg.syn_options());
        for subset in 0..8 {
            let (ws, sack, ts) = (subset & 1 != 0, subset & 2 != 0, subset & 4 != 0);
            assert_eq!(
                p.synack_options(ws, sack, ts),
                cfg.synack_options(ws, sack, ts)
            );
        }
        assert_eq!(p.syn_window(), cfg.syn_window());
        assert_eq!(p.rcv_wscale(), cfg.rcv_wscale());
        assert_eq!(p.scaled_window(), cfg.scaled_window());
        assert_eq!(p.rto_initial_ms(), cfg.rto_initial_ms());
        assert_eq!(p.rto_min_ms(), cfg.rto_min_ms());
        assert_eq!(p.rto_max_ms(), cfg.rto_max_ms());
        assert_eq!(p.time_wait_ms(), cfg.time_wait_ms());
        assert_eq!(p.idle_nanos(), cfg.idle_nanos());
        assert_eq!(p.time_wait_nanos(), cfg.time_wait_nanos());
        let now = Instant::from_millis(5);
        assert_eq!(
            Instant(now.0.saturating_add(p.idle_nanos())),
            now + cfg.idle_timeout
        );
        assert_eq!(
            Instant(now.0.saturating_add(p.time_wait_nanos())),
            now + cfg.time_wait
        );
        assert_eq!(p.window, cfg.window);
    }
}

/// A whole client–server exchange driven once with the plain configs and once
/// with [`TcpParams`]: the same segments, samples and events.
#[test]
fn params_and_config_drive_a_connection_alike() {
    for cfg in configs() {
        let p = TcpParams::new(cfg.clone());
        let run = |s: &dyn Fn(&mut Conn, Instant, &TcpRepr, &mut TestSink) -> Step,
                   o: &dyn Fn(Instant, &mut TestSink) -> Conn| {
            let mut sink = TestSink::default();
            let now = Instant::from_millis(1000);
            let mut c = o(now, &mut sink);
            let syn_ack = TcpRepr {
                seq: REMOTE_ISS,
                ack: LOCAL_ISS + 1,
                flags: SYN_ACK,
                ..SEND_TEMPLATE
            };
            s(&mut c, Instant::from_millis(1003), &syn_ack, &mut sink);
            let resp = TcpRepr {
                seq: REMOTE_ISS + 1,
                ack: LOCAL_ISS + 1 + REQ,
                payload_len: RESP as u16,
                ..SEND_TEMPLATE
            };
            s(&mut c, Instant::from_millis(1010), &resp, &mut sink);
            let fin = TcpRepr {
                seq: REMOTE_ISS + 1 + RESP,
                ack: LOCAL_ISS + 2 + REQ,
                flags: FIN_ACK,
                ..SEND_TEMPLATE
            };
            let step = s(&mut c, Instant::from_millis(1020), &fin, &mut sink);
            (format!("{c:?}"), step, sink.sent, sink.samples, sink.events)
        };
        let with_cfg = run(
            &|c, now, seg, sink| on_segment(c, &cfg, now, seg, sink),
            &|now, sink| {
                Conn::connect(
                    &cfg,
                    (LOCAL_IP, LOCAL_PORT),
                    (REMOTE_IP, REMOTE_PORT),
                    LOCAL_ISS,
                    3,
                    now,
                    now,
                    sink,
                )
            },
        );
        let with_params = run(
            &|c, now, seg, sink| on_segment(c, &p, now, seg, sink),
            &|now, sink| {
                Conn::connect(
                    &p,
                    (LOCAL_IP, LOCAL_PORT),
                    (REMOTE_IP, REMOTE_PORT),
                    LOCAL_ISS,
                    3,
                    now,
                    now,
                    sink,
                )
            },
        );
        assert_eq!(with_cfg, with_params);
        assert_eq!(with_cfg.1, Step::TimeWait);
    }
}

#[test]
fn a_control_block_stays_within_120_bytes() {
    // Two cache lines with the table's key; the layout comment on Conn says
    // why the field order matters.
    assert!(std::mem::size_of::<Conn>() <= 120);
}

/// Whole lifecycles over a lossless link, in every close mode, with and without
/// options, with responses of one and of several segments: the segments of the
/// usual lifecycle take the specialised handlers (each checked against the
/// general path by the tests' `on_segment`).
#[test]
fn the_usual_lifecycle_takes_the_specialised_handlers() {
    use super::pair::Pair;
    for cfg in configs() {
        for close in [CloseMode::Client, CloseMode::Server, CloseMode::Rst] {
            for resp in [RESP, 3000] {
                let cfg = TcpConfig {
                    close,
                    response_bytes: resp,
                    ..cfg.clone()
                };
                let before = conn::USUAL_TAKEN.with(|n| n.get());
                let mut p = Pair::new(cfg.clone(), cfg.clone(), 1);
                p.run(1_000);
                let taken = conn::USUAL_TAKEN.with(|n| n.get()) - before;
                assert_eq!(p.client.outcomes(), [Event::Completed]);
                assert_eq!(p.server().outcomes(), [Event::Completed]);
                // Every segment received but the SYN (LISTEN's).
                let received = p.trace.len() as u64 - 1;
                if resp == RESP {
                    assert_eq!(taken, received, "{close:?}, {cfg:?}");
                } else {
                    // The client's ACK of the first two response segments goes
                    // the general way (the server in ESTABLISHED is specialised
                    // for the FIN and the RST only).
                    assert_eq!(
                        taken,
                        received - 1,
                        "{close:?}, {resp}-byte response, {cfg:?}"
                    );
                }
            }
        }
    }
}

/// What an active open with `cfg` sends (its SYN).
fn sent_on_connect(cfg: &impl Settings, now: Instant) -> TestSink {
    let mut sink = TestSink::default();
    Conn::connect(
        cfg,
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        LOCAL_ISS,
        77,
        now,
        now,
        &mut sink,
    );
    sink
}

/// What a passive open of `syn` with `cfg` sends (its SYN-ACK).
fn sent_on_accept(cfg: &impl Settings, syn: &TcpRepr, now: Instant) -> TestSink {
    let mut sink = TestSink::default();
    Conn::accept(
        cfg,
        (LOCAL_IP, LOCAL_PORT),
        (REMOTE_IP, REMOTE_PORT),
        syn,
        LOCAL_ISS,
        77,
        now,
        &mut sink,
    );
    sink
}

/// Every SYN and SYN-ACK option set, sent from the options laid out once
/// ([`Settings::syn_options`], [`Settings::synack_options`]) with TcpParams and
/// TcpConfig alike, carries what RFC 7323 and RFC 2018 say it offers: our SYN what
/// is configured, our SYN-ACK each option both offered (window scale whatever the
/// shifts, ours capped at 14), TSecr the SYN's TSval.
#[test]
fn syn_and_syn_ack_of_every_option_set_carry_what_both_offered() {
    let mut checked = 0;
    for window_scale in [None, Some(0), Some(7), Some(20)] {
        for sack_permitted in [false, true] {
            for timestamps in [false, true] {
                let cfg = TcpConfig {
                    mss: 1400,
                    window_scale,
                    sack_permitted,
                    timestamps,
                    ..config()
                };
                let params = TcpParams::new(cfg.clone());
                let now = Instant::from_millis(1000);
                // Our SYN.
                let sinks = [sent_on_connect(&cfg, now), sent_on_connect(&params, now)];
                for sink in &sinks {
                    let o = sink.sent[0].0.options;
                    assert_eq!(o.mss, Some(1400));
                    assert_eq!(o.window_scale, window_scale);
                    assert_eq!(o.sack_permitted, sack_permitted);
                    assert_eq!(o.timestamps.map(|t| t.tsecr), timestamps.then_some(0));
                }
                assert_eq!(sinks[0].sent, sinks[1].sent);
                // Our SYN-ACK to every SYN.
                for peer_ws in [None, Some(0), Some(9)] {
                    for peer_sack in [false, true] {
                        for peer_ts in [None, Some(Timestamps { tsval: 5, tsecr: 0 })] {
                            let syn = TcpRepr {
                                options: TcpOptions {
                                    mss: Some(1460),
                                    window_scale: peer_ws,
                                    sack_permitted: peer_sack,
                                    timestamps: peer_ts,
                                },
                                ..syn_from_client()
                            };
                            let sinks = [
                                sent_on_accept(&cfg, &syn, now),
                                sent_on_accept(&params, &syn, now),
                            ];
                            let ours = window_scale.map(|s| s.min(14));
                            // Agreed when both SYNs carry the option, whatever
                            // the shifts (RFC 7323 §2.2): shift 0 on both sides
                            // is still answered with the option.
                            let ws = match (ours, peer_ws) {
                                (Some(a), Some(_)) => Some(a),
                                _ => None,
                            };
                            for sink in &sinks {
                                let o = sink.sent[0].0.options;
                                assert_eq!(o.mss, Some(1400));
                                assert_eq!(o.window_scale, ws);
                                assert_eq!(o.sack_permitted, sack_permitted && peer_sack);
                                assert_eq!(
                                    o.timestamps.map(|t| t.tsecr),
                                    peer_ts.filter(|_| timestamps).map(|t| t.tsval)
                                );
                            }
                            assert_eq!(sinks[0].sent, sinks[1].sent);
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 16 * 12);
}
