//! The congestion window (RFC 5681, RFC 6928 for the initial window) and the
//! sender's silly window avoidance (RFC 9293 §3.8.6.2.1), seen on a server
//! sending a response of many segments to the client of the fixtures.

use super::*;

/// SMSS with [`config`] and [`syn_from_client`]'s MSS: no timestamps.
const SMSS: u32 = 1460;

/// The initial window: ten segments (the handshake's ACK acknowledges no data,
/// so it does not grow the window).
const IW: u32 = 10 * SMSS;

/// A server with a response of `segments` full segments, ESTABLISHED at t =
/// 1001 ms (no request yet).
fn server_with_response(segments: u32) -> Fixture {
    server_established(TcpConfig {
        response_bytes: segments * SMSS,
        ..config()
    })
}

/// The client's ACK of the response up to `octets` of it.
fn response_ack(octets: u32) -> TcpRepr {
    TcpRepr {
        seq: REMOTE_ISS + 1 + REQ,
        ack: LOCAL_ISS + 1 + octets,
        ..SEND_TEMPLATE
    }
}

/// Feed `seg`; what went out, as (offset in the response, length) pairs.
fn reply(f: &mut Fixture, seg: TcpRepr) -> Vec<(u32, u16)> {
    on_segment(&mut f.conn, &f.cfg, f.now, &seg, &mut f.sink);
    f.sink
        .take()
        .iter()
        .map(|s| (s.seq.diff(LOCAL_ISS + 1) as u32, s.payload_len))
        .collect()
}

/// The response's first segment, as the retransmission timer resends it.
fn first_segment() -> TcpRepr {
    TcpRepr {
        seq: LOCAL_ISS + 1,
        ack: REMOTE_ISS + 1 + REQ,
        payload_len: SMSS as u16,
        ..RECV_TEMPLATE
    }
}

/// `n` full segments from the one at `first` (a segment index).
fn full_segments(first: u32, n: u32) -> Vec<(u32, u16)> {
    (first..first + n)
        .map(|i| (i * SMSS, SMSS as u16))
        .collect()
}

#[test]
fn the_response_starts_with_the_initial_window() {
    let mut f = server_with_response(30);
    assert_eq!(f.conn.cwnd(), IW);
    assert_eq!(
        f.conn.ssthresh(),
        u32::MAX,
        "arbitrarily high before a loss"
    );
    // The peer's window (65,535) would take 44 segments: cwnd sends 10.
    assert_eq!(reply(&mut f, request()), full_segments(0, 10));
}

#[test]
fn the_initial_window_is_configurable() {
    let mut f = server_established(TcpConfig {
        response_bytes: 30 * SMSS,
        initial_cwnd: 4,
        ..config()
    });
    assert_eq!(reply(&mut f, request()), full_segments(0, 4));
}

#[test]
fn slow_start_opens_the_window_by_one_segment_per_ack() {
    let mut f = server_with_response(30);
    reply(&mut f, request());
    // An ACK of two segments frees two and grows cwnd by one SMSS (RFC 5681
    // equation 2 takes at most SMSS per ACK): three go out.
    f.at(1_100);
    assert_eq!(reply(&mut f, response_ack(2 * SMSS)), full_segments(10, 3));
    assert_eq!(f.conn.cwnd(), IW + SMSS);
    // An ACK of one segment: one freed, one grown.
    assert_eq!(reply(&mut f, response_ack(3 * SMSS)), full_segments(13, 2));
    assert_eq!(f.conn.cwnd(), IW + 2 * SMSS);
}

#[test]
fn a_timeout_drops_the_window_to_one_segment_and_halves_the_threshold() {
    let mut f = server_with_response(30);
    reply(&mut f, request());
    // The whole initial window is lost: the timer resends the first segment.
    f.fire(&[first_segment()]);
    assert_eq!(f.conn.cwnd(), SMSS, "the loss window (RFC 5681 §3.1)");
    assert_eq!(f.conn.ssthresh(), 5 * SMSS, "FlightSize / 2 (equation 4)");
    // A second timeout of the same segment leaves the threshold.
    f.fire(&[first_segment()]);
    assert_eq!((f.conn.cwnd(), f.conn.ssthresh()), (SMSS, 5 * SMSS));
    // The whole flight arrives behind it and is acknowledged: recovery ends,
    // and slow start (cwnd below the threshold) grows the window by one SMSS
    // to two segments, which go out.
    assert_eq!(reply(&mut f, response_ack(10 * SMSS)), full_segments(10, 2));
    assert_eq!(f.conn.cwnd(), 2 * SMSS);
}

#[test]
fn congestion_avoidance_grows_about_one_segment_a_window() {
    let mut f = server_with_response(60);
    reply(&mut f, request());
    f.fire(&[first_segment()]);
    // Slow start from one segment up to the threshold (five), one ACK per
    // segment.
    let mut acked = 10 * SMSS;
    reply(&mut f, response_ack(acked));
    while f.conn.cwnd() < f.conn.ssthresh() {
        acked += SMSS;
        reply(&mut f, response_ack(acked));
    }
    assert_eq!(f.conn.cwnd(), 5 * SMSS);
    // Above it, each ACK of a segment adds SMSS·SMSS/cwnd: five ACKs (one
    // window) add just under one segment, six just over.
    for _ in 0..5 {
        acked += SMSS;
        reply(&mut f, response_ack(acked));
    }
    assert!(f.conn.cwnd() > 5 * SMSS + SMSS * 9 / 10 && f.conn.cwnd() < 6 * SMSS);
    acked += SMSS;
    reply(&mut f, response_ack(acked));
    assert!(f.conn.cwnd() > 6 * SMSS);
    // An ACK of nothing new adds nothing.
    let before = f.conn.cwnd();
    reply(
        &mut f,
        TcpRepr {
            window: 65000,
            ..response_ack(acked)
        },
    );
    assert_eq!(f.conn.cwnd(), before);
}

#[test]
fn the_third_duplicate_ack_halves_the_window() {
    let mut f = server_with_response(30);
    reply(&mut f, request());
    f.at(1_100);
    // Segment 0 lost; segments 1 to 3 draw duplicate ACKs. The third resends
    // segment 0 (fast retransmit).
    assert_eq!(reply(&mut f, response_ack(0)), []);
    assert_eq!(reply(&mut f, response_ack(0)), []);
    assert_eq!(reply(&mut f, response_ack(0)), full_segments(0, 1));
    assert_eq!(f.conn.ssthresh(), 5 * SMSS, "FlightSize / 2");
    assert_eq!(
        f.conn.cwnd(),
        8 * SMSS,
        "ssthresh + 3·SMSS (RFC 5681 §3.2 step 3)"
    );
    // The ACK of everything sent ends recovery: the window deflates to the
    // threshold (step 6), and five segments go out.
    assert_eq!(reply(&mut f, response_ack(10 * SMSS)), full_segments(10, 5));
    assert_eq!(f.conn.cwnd(), 5 * SMSS);
}

#[test]
fn a_lost_syn_ack_starts_the_response_with_one_segment() {
    let cfg = TcpConfig {
        response_bytes: 30 * SMSS,
        ..config()
    };
    let mut f = server_syn_received(cfg);
    f.fire(&[server_syn_ack()]);
    f.at(3_001);
    f.send(handshake_ack(), &[]);
    assert_eq!(f.conn.cwnd(), SMSS, "one segment (RFC 5681 §3.1)");
    assert_eq!(f.conn.ssthresh(), u32::MAX);
    assert_eq!(reply(&mut f, request()), full_segments(0, 1));
}

#[test]
fn a_lost_syn_starts_the_request_with_one_segment() {
    let mut f = client_syn_sent(TcpConfig {
        request_bytes: 10 * SMSS,
        ..config()
    });
    f.fire(&[client_syn()]);
    f.at(3_100);
    on_segment(&mut f.conn, &f.cfg, f.now, &syn_ack(), &mut f.sink);
    let sent = f.sink.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(u32::from(sent[0].payload_len), SMSS);
    assert_eq!(f.conn.cwnd(), SMSS);
}

#[test]
fn no_short_segment_goes_while_an_ack_is_to_come() {
    let mut f = server_with_response(30);
    // The client's window takes two and a half segments: two go, and the half
    // waits for the ACK instead of going as a short segment (silly window
    // avoidance).
    let window = (5 * SMSS / 2) as u16;
    assert_eq!(
        reply(
            &mut f,
            TcpRepr {
                window,
                ..request()
            }
        ),
        full_segments(0, 2)
    );
    assert_eq!(
        reply(
            &mut f,
            TcpRepr {
                window,
                ..response_ack(2 * SMSS)
            }
        ),
        full_segments(2, 2)
    );
    // With nothing in flight, the short segment goes (nothing else would
    // bring the window open).
    let window = (SMSS / 2) as u16;
    assert_eq!(
        reply(
            &mut f,
            TcpRepr {
                window,
                ..response_ack(4 * SMSS)
            }
        ),
        [(4 * SMSS, (SMSS / 2) as u16)]
    );
}

#[test]
fn the_end_of_the_data_goes_short() {
    // 2.5 segments, window and cwnd larger: the last, short segment goes at once.
    let mut f = server_established(TcpConfig {
        response_bytes: 5 * SMSS / 2,
        ..config()
    });
    assert_eq!(
        reply(&mut f, request()),
        [
            (0, SMSS as u16),
            (SMSS, SMSS as u16),
            (2 * SMSS, (SMSS / 2) as u16)
        ]
    );
}
