//! `serve --io socket --http` answers HTTP load tools: a request of any length ends
//! at its header's empty line, and the response is HTTP/1.1 with a Content-Length
//! and `Connection: close` (what wrk, ab and h2load need to count a request and
//! open a new connection for the next).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use synfin::io::socket::{SocketServer, SocketServerConfig};
use synfin::tcp::CloseMode;

fn serve(close: CloseMode) -> (SocketAddrV4, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let cfg = SocketServerConfig {
        addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        response_bytes: 300,
        close,
        http: true,
        ..SocketServerConfig::default()
    };
    let (server, addr) = SocketServer::bind(cfg).expect("listen");
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        let stats = server.run(&s).expect("server");
        assert_eq!(stats.failed(), 0, "{stats:?}");
        assert_eq!(stats.short_requests, 0, "{stats:?}");
    });
    (addr, stop, h)
}

fn check_response(r: &[u8]) {
    assert_eq!(r.len(), 300);
    let text = String::from_utf8_lossy(r);
    let (head, body) = text.split_once("\r\n\r\n").expect("a header");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close"), "{head}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}", body.len())),
        "{head}"
    );
}

#[test]
fn short_and_long_requests_are_answered_when_their_header_ends() {
    // The server closes: read to its FIN.
    let (addr, stop, h) = serve(CloseMode::Server);
    for req in [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: {}\r\n\r\n",
            "a".repeat(500)
        ),
    ] {
        let mut c = TcpStream::connect(addr).unwrap();
        // In two writes: the header's end may straddle reads.
        let (a, b) = req.as_bytes().split_at(req.len() - 3);
        c.write_all(a).unwrap();
        c.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.write_all(b).unwrap();
        let mut r = Vec::new();
        c.read_to_end(&mut r).unwrap();
        check_response(&r);
    }
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}

#[test]
fn a_client_that_closes_after_the_response_is_served_too() {
    let (addr, stop, h) = serve(CloseMode::Client);
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /x HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = vec![0; 300];
    c.read_exact(&mut r).unwrap();
    check_response(&r);
    drop(c);
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
}
