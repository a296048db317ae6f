//! Whole lifecycles: the three close modes end to end between a client and a
//! server control block over a lossless 1 ms link (exact segments, one outcome per
//! connection, the client's latency samples), simultaneous close and simultaneous
//! open.

use super::pair::{Dir, Pair};
use super::*;

/// The client's FIN after the response (CloseMode::Client).
fn client_fin() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1 + REQ,
        ack: REMOTE_ISS + 1 + RESP,
        flags: FIN_ACK,
        ..RECV_TEMPLATE
    }
}

/// Run a pair in `mode` to the end and check what both sides report.
fn run_pair(mode: CloseMode) -> Pair {
    let mut p = Pair::new(config_close(mode), config_close(mode), 1);
    p.run(1_000);
    assert!(
        !p.client.alive() && !p.server().alive(),
        "all state released"
    );
    assert_eq!(p.servers.len(), 1);
    assert_eq!(p.client.outcomes(), [Event::Completed], "client");
    assert_eq!(p.server().outcomes(), [Event::Completed], "server");
    assert_eq!(p.stray_rsts, 0);
    p
}

#[test]
fn client_close_end_to_end_leaves_time_wait_on_the_client() {
    use Dir::*;
    let p = run_pair(CloseMode::Client);
    assert_eq!(
        p.wire_log(),
        [
            (ToServer, client_syn()),
            (ToClient, syn_ack()),
            (ToServer, client_request(REMOTE_ISS + 1)),
            (ToClient, response()),
            (ToServer, client_fin()),
            (ToClient, server_fin_to_client()),
            (ToServer, client_time_wait_ack()),
        ]
    );
    assert_eq!(p.wire_times_ms(), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(p.client.ended, Some(Step::TimeWait));
    assert_eq!(p.server().ended, Some(Step::Closed));
    assert_eq!(p.server().last_state, State::Closed);
    // Connect 0→2 ms, first byte 2→4, close 4→6 (our FIN to the peer's), whole 0→6;
    // then 2·MSL.
    let c = &p.client;
    assert_eq!(c.sample_ms(Phase::Connect), Some(2));
    assert_eq!(c.sample_ms(Phase::Ttfb), Some(2));
    assert_eq!(c.sample_ms(Phase::Close), Some(2));
    assert_eq!(c.sample_ms(Phase::Lifecycle), Some(6));
    assert_eq!(p.now, Instant::from_millis(60_006));
    assert!(p.server().sink.samples.is_empty());
}

#[test]
fn server_close_end_to_end_leaves_time_wait_on_the_server() {
    use Dir::*;
    let p = run_pair(CloseMode::Server);
    assert_eq!(
        p.wire_log(),
        [
            (ToServer, client_syn()),
            (ToClient, syn_ack()),
            (ToServer, client_request(REMOTE_ISS + 1)),
            (ToClient, response_with_fin()),
            (
                ToServer,
                TcpRepr {
                    ack: REMOTE_ISS + 2 + RESP,
                    ..client_fin()
                }
            ),
            (ToClient, server_fin_to_client_ack()),
        ]
    );
    assert_eq!(p.client.ended, Some(Step::Closed));
    assert_eq!(p.server().ended, Some(Step::TimeWait));
    // Close runs from the server's FIN (4 ms) to its ACK of ours (6 ms).
    let c = &p.client;
    assert_eq!(c.sample_ms(Phase::Connect), Some(2));
    assert_eq!(c.sample_ms(Phase::Ttfb), Some(2));
    assert_eq!(c.sample_ms(Phase::Close), Some(2));
    assert_eq!(c.sample_ms(Phase::Lifecycle), Some(6));
    assert_eq!(p.now, Instant::from_millis(60_005));
}

/// The server's last ACK in a server close, as the client sees it.
fn server_fin_to_client_ack() -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 2 + RESP,
        ack: LOCAL_ISS + 2 + REQ,
        ..SEND_TEMPLATE
    }
}

#[test]
fn rst_close_end_to_end_leaves_no_time_wait() {
    use Dir::*;
    let p = run_pair(CloseMode::Rst);
    assert_eq!(
        p.wire_log(),
        [
            (ToServer, client_syn()),
            (ToClient, syn_ack()),
            (ToServer, client_request(REMOTE_ISS + 1)),
            (ToClient, response()),
            (
                ToServer,
                TcpRepr {
                    flags: RST_ACK,
                    window: 0,
                    ..client_fin()
                }
            ),
        ]
    );
    assert_eq!(p.client.ended, Some(Step::Closed));
    assert_eq!(p.server().ended, Some(Step::Closed));
    // No FIN, no close phase; everything is over when the RST lands.
    let c = &p.client;
    assert_eq!(c.sample_ms(Phase::Connect), Some(2));
    assert_eq!(c.sample_ms(Phase::Ttfb), Some(2));
    assert_eq!(c.sample_ms(Phase::Close), None);
    assert_eq!(c.sample_ms(Phase::Lifecycle), Some(4));
    assert_eq!(p.now, Instant::from_millis(5));
}

#[test]
fn rst_close_on_the_client_aborts_once_the_response_is_in() {
    let mut f = client_established(config_close(CloseMode::Rst));
    f.at(1003);
    let step = f.send(
        response(),
        &[TcpRepr {
            flags: RST_ACK,
            window: 0,
            ..client_fin()
        }],
    );
    assert_eq!(step, Step::Closed);
    assert_eq!(f.state(), State::Closed);
    f.expect_events(&[Event::RstSent, Event::Completed]);
    f.expect_samples(&[(Phase::Connect, 1), (Phase::Ttfb, 2), (Phase::Lifecycle, 3)]);
}

#[test]
fn rst_close_client_aborts_also_when_the_server_closed_first() {
    // The response arrives with the server's FIN: CLOSE-WAIT, then the abort.
    let mut f = client_established(config_close(CloseMode::Rst));
    f.at(1002);
    let step = f.send(
        response_with_fin(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 2 + RESP,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstSent, Event::Completed]);
}

#[test]
fn rst_close_with_short_response_reports_the_short_response() {
    let mut f = client_established(config_close(CloseMode::Rst));
    f.at(1002);
    f.send(
        TcpRepr {
            payload_len: 3,
            flags: FIN_PSH_ACK,
            ..response()
        },
        &[TcpRepr {
            seq: LOCAL_ISS + 1 + REQ,
            ack: REMOTE_ISS + 5,
            flags: RST_ACK,
            window: 0,
            ..RECV_TEMPLATE
        }],
    );
    f.expect_events(&[Event::RstSent, Event::Failed(FailCause::ShortResponse)]);
}

#[test]
fn rst_close_with_nothing_to_exchange_acks_the_syn_ack_before_aborting() {
    // RFC 9293 §3.10.7.3: the SYN-ACK is answered with an ACK on entering
    // ESTABLISHED; the abort comes after it, so the server is ESTABLISHED (not
    // SYN-RECEIVED) when the RST lands and counts a normal end.
    let cfg = TcpConfig {
        request_bytes: 0,
        response_bytes: 0,
        ..config_close(CloseMode::Rst)
    };
    let mut f = client_syn_sent(cfg.clone());
    f.at(1001);
    let step = f.send(
        syn_ack(),
        &[
            TcpRepr {
                seq: LOCAL_ISS + 1,
                ack: REMOTE_ISS + 1,
                ..RECV_TEMPLATE
            },
            TcpRepr {
                seq: LOCAL_ISS + 1,
                ack: REMOTE_ISS + 1,
                flags: RST_ACK,
                window: 0,
                ..RECV_TEMPLATE
            },
        ],
    );
    assert_eq!(step, Step::Closed);
    f.expect_events(&[Event::RstSent, Event::Completed]);
    // Both ends, over a link.
    let mut p = Pair::new(cfg.clone(), cfg, 1);
    p.run(100);
    assert_eq!(p.client.outcomes(), [Event::Completed]);
    assert_eq!(p.server().outcomes(), [Event::Completed]);
}

#[test]
fn handshake_with_nothing_to_exchange_closes_at_once() {
    let cfg = TcpConfig {
        request_bytes: 0,
        response_bytes: 0,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    f.send(
        syn_ack(),
        &[TcpRepr {
            seq: LOCAL_ISS + 1,
            ack: REMOTE_ISS + 1,
            flags: FIN_ACK,
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::FinWait1);
}

#[test]
fn simultaneous_close_passes_closing_to_time_wait_on_both_sides() {
    // RFC 9293 Figure 13: the client closes (a graceful stop) while the server's
    // response and FIN are in flight. Both FINs cross; each side goes
    // FIN-WAIT-1 → CLOSING → TIME-WAIT.
    use Dir::*;
    let mode = CloseMode::Server;
    let mut p = Pair::new(config_close(mode), config_close(mode), 10);
    p.run_until(100, |p| {
        p.servers
            .first()
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.state() == State::FinWait1)
    });
    p.close_client();
    assert_eq!(p.client.conn.as_ref().unwrap().state(), State::FinWait1);
    p.run_until(100, |p| {
        p.client
            .conn
            .as_ref()
            .is_some_and(|c| c.state() == State::Closing)
    });
    p.run(1_000);
    assert_eq!(
        p.wire_log()[3..],
        [
            (ToClient, response_with_fin()),
            (
                ToServer,
                TcpRepr {
                    ack: REMOTE_ISS + 1,
                    ..client_fin()
                }
            ),
            // Each side's FIN reaches the other in FIN-WAIT-1: ACK → CLOSING.
            (ToServer, client_time_wait_ack()),
            (ToClient, server_fin_to_client_ack()),
        ]
    );
    assert_eq!(p.client.ended, Some(Step::TimeWait));
    assert_eq!(p.server().ended, Some(Step::TimeWait));
    assert_eq!(p.client.outcomes(), [Event::Completed]);
    assert_eq!(p.server().outcomes(), [Event::Completed]);
}

#[test]
fn simultaneous_open_enters_syn_received_and_establishes_on_the_syn_ack() {
    // RFC 9293 Figure 8: our SYN and the peer's cross. The peer's SYN moves us to
    // SYN-RECEIVED with <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; the peer's SYN-ACK
    // (its answer to our SYN) moves us to ESTABLISHED.
    let mut f = client_syn_sent(config());
    f.at(1001);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS,
            flags: TcpFlags::SYN,
            options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS,
            ack: REMOTE_ISS + 1,
            flags: SYN_ACK,
            options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            ..RECV_TEMPLATE
        }],
    );
    assert_eq!(f.state(), State::SynReceived);
    assert_eq!(f.conn.role(), Role::Client);
    f.at(1002);
    f.send(syn_ack(), &[client_request(REMOTE_ISS + 1)]);
    assert_eq!(f.state(), State::Established);
    f.expect_samples(&[(Phase::Connect, 2)]);
    f.expect_events(&[]);
    // From here on it is an ordinary client.
    f.at(1003);
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
}

#[test]
fn simultaneous_open_establishes_on_a_plain_ack_too() {
    // The peer may answer our SYN-ACK with a plain ACK instead.
    let mut f = client_syn_sent(config());
    f.at(1001);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS,
            flags: TcpFlags::SYN,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS,
            ack: REMOTE_ISS + 1,
            flags: SYN_ACK,
            options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            ..RECV_TEMPLATE
        }],
    );
    f.at(1002);
    f.send(
        TcpRepr {
            seq: REMOTE_ISS + 1,
            ack: LOCAL_ISS + 1,
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            // The request; the peer sent no MSS, so 536 bytes would be the cap.
            ..client_request(REMOTE_ISS + 1)
        }],
    );
    assert_eq!(f.state(), State::Established);
    f.expect_samples(&[(Phase::Connect, 2)]);
}

#[test]
fn syn_ack_in_simultaneous_open_carries_only_options_both_offered() {
    // RFC 7323 §2.2/§3.2: in SYN-RECEIVED our SYN-ACK answers the peer's SYN; it
    // carries timestamps (echoing the peer's TSval) and window scale only if that
    // SYN did.
    let cfg = TcpConfig {
        timestamps: true,
        window_scale: Some(7),
        sack_permitted: true,
        ..config()
    };
    let mut f = client_syn_sent(cfg);
    f.at(1001);
    let expect_options = |ts: Option<Timestamps>, ws: Option<u8>, sack: bool| TcpOptions {
        mss: Some(1460),
        window_scale: ws,
        sack_permitted: sack,
        timestamps: ts,
    };
    f.send(
        TcpRepr {
            seq: REMOTE_ISS,
            flags: TcpFlags::SYN,
            options: TcpOptions {
                mss: Some(1460),
                ..ts(4242, 0)
            },
            ..SEND_TEMPLATE
        },
        &[TcpRepr {
            seq: LOCAL_ISS,
            ack: REMOTE_ISS + 1,
            flags: SYN_ACK,
            options: expect_options(
                Some(Timestamps {
                    tsval: 1001,
                    tsecr: 4242,
                }),
                None,
                false,
            ),
            ..RECV_TEMPLATE
        }],
    );
}
