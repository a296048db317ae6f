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
