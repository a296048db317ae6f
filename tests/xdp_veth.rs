//! AF_XDP over a veth pair between two network namespaces this test creates (root
//! only; skipped with a message otherwise). The port runs on end A inside namespace A;
//! namespace B's kernel is the peer: it answers pings and SYNs.
//!
//! What is proven: frames the port transmits reach B's kernel and B's replies come
//! back through the port (ICMP echo, TCP SYN → SYN-ACK with a checksum that verifies);
//! the XDP program is gone from the interface once the port is dropped; a queue can be
//! reopened at once (bind retries `EBUSY`); one program serves the sockets of several
//! queues; and everything the tests create is removed, also when a test fails.
#![cfg(target_os = "linux")]
#![allow(unsafe_code)]

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant as StdInstant};

use synfin::io::xdp::{AttachMode, BindMode, XdpConfig, XdpMode, XdpPort, XdpProgram};
use synfin::io::{Port, Transmit};
use synfin::time::Instant;

// ---------------------------------------------------------------------------------
// The testbed: two namespaces, one veth pair, removed on drop (also on panic).

static NEXT_BED: AtomicU32 = AtomicU32::new(0);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Skip (with a line saying so) unless root.
macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: AF_XDP veth tests need root (network namespaces, bpf)");
            return;
        }
    };
}

/// Run `ip` with `args`; panics with its stderr on failure.
#[track_caller]
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair, addressed from 198.18.0.0/15, with static
/// neighbour entries both ways and IPv6 off on both ends. Everything is named
/// `sfx<pid>…` with a per-process counter, and removed by `Drop`.
struct Testbed {
    ns_a: String,
    ns_b: String,
    dev_a: String,
    dev_b: String,
    mac_a: [u8; 6],
    mac_b: [u8; 6],
    ip_a: Ipv4Addr,
    ip_b: Ipv4Addr,
}

impl Testbed {
    fn new(queues: u32) -> Testbed {
        let n = NEXT_BED.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // The guard exists before anything is created, so that a failure half way
        // still removes what was made.
        let bed = Testbed {
            ns_a: format!("sfx{pid}n{n}a"),
            ns_b: format!("sfx{pid}n{n}b"),
            dev_a: format!("sfx{pid}v{n}a"),
            dev_b: format!("sfx{pid}v{n}b"),
            mac_a: [0x02, 0x5f, 0, 0, n as u8, 0x0a],
            mac_b: [0x02, 0x5f, 0, 0, n as u8, 0x0b],
            ip_a: Ipv4Addr::new(198, 18, (n % 250) as u8, 1),
            ip_b: Ipv4Addr::new(198, 18, (n % 250) as u8, 2),
        };
        assert!(
            bed.dev_a.len() <= 15,
            "interface name {} too long",
            bed.dev_a
        );
        let q = queues.to_string();
        let (mac_a, mac_b) = (mac_str(&bed.mac_a), mac_str(&bed.mac_b));
        ip(&["netns", "add", &bed.ns_a]);
        ip(&["netns", "add", &bed.ns_b]);
        #[rustfmt::skip]
        ip(&[
            "link", "add", &bed.dev_a, "netns", &bed.ns_a, "address", &mac_a,
            "numtxqueues", &q, "numrxqueues", &q,
            "type", "veth", "peer", "name", &bed.dev_b, "netns", &bed.ns_b, "address", &mac_b,
            "numtxqueues", &q, "numrxqueues", &q,
        ]);
        for (ns, dev) in [(&bed.ns_a, &bed.dev_a), (&bed.ns_b, &bed.dev_b)] {
            let path = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
            in_netns(ns, || std::fs::write(&path, "1")).expect("disable IPv6");
        }
        let (ip_a, ip_b) = (format!("{}/30", bed.ip_a), format!("{}/30", bed.ip_b));
        ip(&["-n", &bed.ns_a, "addr", "add", &ip_a, "dev", &bed.dev_a]);
        ip(&["-n", &bed.ns_b, "addr", "add", &ip_b, "dev", &bed.dev_b]);
        #[rustfmt::skip]
        ip(&["-n", &bed.ns_a, "neigh", "replace", &bed.ip_b.to_string(), "lladdr", &mac_b,
             "dev", &bed.dev_a, "nud", "permanent"]);
        #[rustfmt::skip]
        ip(&["-n", &bed.ns_b, "neigh", "replace", &bed.ip_a.to_string(), "lladdr", &mac_a,
             "dev", &bed.dev_b, "nud", "permanent"]);
        ip(&["-n", &bed.ns_a, "link", "set", &bed.dev_a, "up"]);
        ip(&["-n", &bed.ns_b, "link", "set", &bed.dev_b, "up"]);
        // B's kernel finishes its checksums in software, so that A can verify them.
        in_netns(&bed.ns_b, || set_tx_checksum_offload(&bed.dev_b, false))
            .expect("turn off TX checksum offload on B");
        bed
    }

    /// What `ip -d link show` says about end A.
    fn link_a(&self) -> String {
        ip(&["-n", &self.ns_a, "-d", "link", "show", "dev", &self.dev_a])
    }

    fn names(&self) -> [String; 4] {
        [
            self.ns_a.clone(),
            self.ns_b.clone(),
            self.dev_a.clone(),
            self.dev_b.clone(),
        ]
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end in it, and with it the pair.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Whether nothing named in `names` (namespaces, then links) is left.
fn all_gone(names: &[String; 4]) -> bool {
    let ns_gone = |ns: &String| !Path::new(&format!("/run/netns/{ns}")).exists();
    let link_gone = |dev: &String| {
        !Command::new("ip")
            .args(["link", "show", "dev", dev])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    ns_gone(&names[0]) && ns_gone(&names[1]) && link_gone(&names[2]) && link_gone(&names[3])
}

fn mac_str(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Run `f` on a thread that has entered network namespace `ns` (only that thread
/// changes namespace). A panic in `f` resumes on the caller.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(format!("/run/netns/{ns}")).expect("open the namespace");
            // SAFETY: setns with a namespace fd and CLONE_NEWNET changes only this
            // thread's network namespace; `file` stays open for the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `ethtool -K dev tx on|off` through the SIOCETHTOOL ioctl (ETHTOOL_STXCSUM), in the
/// calling thread's namespace.
fn set_tx_checksum_offload(dev: &str, on: bool) -> std::io::Result<()> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_STXCSUM: u32 = 0x17;
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        data: *mut libc::c_void,
        _pad: [u8; 16],
    }
    let mut value = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: u32::from(on),
    };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: (&mut value as *mut EthtoolValue).cast(),
        _pad: [0; 16],
    };
    req.name[..dev.len()].copy_from_slice(dev.as_bytes());
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `req` is a live struct ifreq whose data pointer points at a live
    // ethtool_value; the kernel reads the name and reads/writes the value only.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req as *mut IfReq) };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is the socket made above and nothing else uses it.
    unsafe { libc::close(fd) };
    if rc < 0 { Err(err) } else { Ok(()) }
}

// ---------------------------------------------------------------------------------
// Frames: just enough Ethernet/IPv4/ICMP/TCP to talk to a kernel, with checksums.

const ETH: usize = 14;
const IP: usize = 20;

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        let mut words = chunk.chunks_exact(2);
        for w in &mut words {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[0..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = proto;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// Write Ethernet + IPv4 headers for a payload of `l4_len` bytes; returns the frame
/// length.
fn eth_ip(buf: &mut [u8], bed: &Testbed, proto: u8, l4_len: usize) -> usize {
    buf[0..6].copy_from_slice(&bed.mac_b);
    buf[6..12].copy_from_slice(&bed.mac_a);
    buf[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut buf[ETH..ETH + IP];
    ip.fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((IP + l4_len) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&bed.ip_a.octets());
    ip[16..20].copy_from_slice(&bed.ip_b.octets());
    let c = checksum(&[ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ETH + IP + l4_len
}

fn echo_request(buf: &mut [u8], bed: &Testbed, id: u16, seq: u16) -> usize {
    let icmp = &mut buf[ETH + IP..ETH + IP + 40];
    icmp.fill(0);
    icmp[0] = 8;
    icmp[4..6].copy_from_slice(&id.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in icmp[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = checksum(&[icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    eth_ip(buf, bed, 1, 40)
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

fn tcp_segment(
    buf: &mut [u8],
    bed: &Testbed,
    (sport, dport): (u16, u16),
    (seq, ack): (u32, u32),
    flags: u8,
) -> usize {
    let len = 24; // header with an MSS option
    let tcp = &mut buf[ETH + IP..ETH + IP + len];
    tcp.fill(0);
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = ((len / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    let c = checksum(&[&pseudo_header(bed.ip_a, bed.ip_b, 6, len), tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    eth_ip(buf, bed, 6, len)
}

/// An IPv4 frame from B to A with protocol `proto` whose IP header checksum holds:
/// its L4 bytes.
fn ipv4_from_b<'f>(frame: &'f [u8], bed: &Testbed, proto: u8) -> Option<&'f [u8]> {
    if frame.len() < ETH + IP
        || frame[0..6] != bed.mac_a
        || frame[12..14] != [0x08, 0x00]
        || frame[ETH] != 0x45
        || frame[ETH + 9] != proto
        || frame[ETH + 12..ETH + 16] != bed.ip_b.octets()
        || frame[ETH + 16..ETH + 20] != bed.ip_a.octets()
    {
        return None;
    }
    assert_eq!(
        checksum(&[&frame[ETH..ETH + IP]]),
        0,
        "IPv4 header checksum"
    );
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    frame.get(ETH + IP..ETH + total)
}

fn is_echo_reply(frame: &[u8], bed: &Testbed, id: u16, seq: u16) -> bool {
    let Some(icmp) = ipv4_from_b(frame, bed, 1) else {
        return false;
    };
    let ours = icmp.len() >= 8
        && icmp[0] == 0
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes();
    if ours {
        assert_eq!(checksum(&[icmp]), 0, "ICMP checksum of the echo reply");
    }
    ours
}

/// If `frame` is a SYN-ACK from B's `dport` to our `sport`: its sequence number.
fn syn_ack(frame: &[u8], bed: &Testbed, sport: u16, dport: u16, isn: u32) -> Option<u32> {
    let tcp = ipv4_from_b(frame, bed, 6)?;
    if tcp.len() < 20
        || tcp[0..2] != dport.to_be_bytes()
        || tcp[2..4] != sport.to_be_bytes()
        || tcp[13] != SYN | ACK
    {
        return None;
    }
    let ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
    assert_eq!(ack, isn.wrapping_add(1), "the SYN-ACK acknowledges our SYN");
    let sum = checksum(&[&pseudo_header(bed.ip_b, bed.ip_a, 6, tcp.len()), tcp]);
    assert_eq!(
        sum, 0,
        "TCP checksum of the SYN-ACK (TX offload is off on B)"
    );
    Some(u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]))
}

/// Receive until `pick` returns something or two seconds pass.
fn wait_for<T>(port: &mut XdpPort, mut pick: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
    let deadline = StdInstant::now() + Duration::from_secs(2);
    let mut found = None;
    while StdInstant::now() < deadline {
        port.rx_burst(Instant::ZERO, 64, |f| {
            if found.is_none() {
                found = pick(f);
            }
        });
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[track_caller]
fn ping(port: &mut XdpPort, bed: &Testbed, id: u16, seq: u16) {
    assert!(port.tx(Instant::ZERO, |b| echo_request(b, bed, id, seq)));
    port.flush(Instant::ZERO);
    let got = wait_for(port, |f| is_echo_reply(f, bed, id, seq).then_some(()));
    assert!(got.is_some(), "no echo reply {id}/{seq} within 2 s");
}

fn config() -> XdpConfig {
    XdpConfig {
        frames: 1024,
        rx_frames: 512,
        ..XdpConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// The tests.

#[test]
fn frames_reach_the_peer_kernel_and_replies_come_back_through_the_port() {
    require_root!();
    let bed = Testbed::new(1);
    let listener = in_netns(&bed.ns_b, || TcpListener::bind((bed.ip_b, 8080))).expect("listen");

    let mut port = in_netns(&bed.ns_a, || {
        XdpPort::open(bed.dev_a.as_str(), 0, &config())
    })
    .expect("open the port on end A, queue 0");
    let mode = port.mode();
    eprintln!("veth gave: {mode}");
    assert_eq!(
        mode.attach,
        AttachMode::Native,
        "auto mode tries native first"
    );
    assert_eq!(mode.bind, BindMode::Copy, "veth has no zero-copy");

    ping(&mut port, &bed, 0x5f5f, 1);

    let (sport, isn) = (40_000, 0x1234_5678);
    assert!(port.tx(Instant::ZERO, |b| {
        tcp_segment(b, &bed, (sport, 8080), (isn, 0), SYN)
    }));
    port.flush(Instant::ZERO);
    let server_isn = wait_for(&mut port, |f| syn_ack(f, &bed, sport, 8080, isn))
        .expect("a SYN-ACK from B's listener within 2 s");
    // Leave nothing half-open in B.
    assert!(port.tx(Instant::ZERO, |b| {
        let ack = server_isn.wrapping_add(1);
        tcp_segment(
            b,
            &bed,
            (sport, 8080),
            (isn.wrapping_add(1), ack),
            RST | ACK,
        )
    }));
    port.flush(Instant::ZERO);

    let stats = port.stats().expect("XDP_STATISTICS");
    eprintln!("{stats:?}");
    assert!(stats.tx_frames >= 3 && stats.rx_frames >= 2, "{stats:?}");
    assert_eq!(stats.rx_invalid_descs + stats.tx_invalid_descs, 0);
    assert_eq!(stats.rx_bad_descs + stats.tx_no_buffer, 0);
    drop(listener);
}

#[test]
fn dropping_the_port_detaches_the_program() {
    require_root!();
    let bed = Testbed::new(1);
    let port = in_netns(&bed.ns_a, || {
        XdpPort::open(bed.dev_a.as_str(), 0, &config())
    })
    .expect("open the port");
    let id = port.program().prog_id();
    assert_ne!(id, 0, "the kernel names the program");
    let shown = bed.link_a();
    assert!(
        shown.contains(&format!("prog/xdp id {id}")),
        "ip link shows the program while the port lives:\n{shown}"
    );
    drop(port);
    // Closing the link's fd detaches at once, unless another test thread forked
    // meanwhile: its child holds a copy of the fd until it execs.
    let deadline = StdInstant::now() + Duration::from_secs(1);
    let mut shown = bed.link_a();
    while shown.contains("prog/xdp") && StdInstant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        shown = bed.link_a();
    }
    assert!(
        !shown.contains("prog/xdp"),
        "no XDP program once the port is dropped:\n{shown}"
    );
}

#[test]
fn a_queue_can_be_reopened_right_after_its_port_is_dropped() {
    require_root!();
    let bed = Testbed::new(1);
    in_netns(&bed.ns_a, || {
        // The whole port (program and socket) again and again…
        for seq in 0..3 {
            let mut port = XdpPort::open(bed.dev_a.as_str(), 0, &config()).expect("reopen");
            ping(&mut port, &bed, 1, seq);
            eprintln!(
                "reopen {seq}: {} EBUSY retries to attach, {} to bind",
                port.program().busy_retries(),
                port.bind_busy_retries()
            );
        }
        // …and only the socket, under a program that stays attached.
        let program = Arc::new(
            XdpProgram::attach(&bed.dev_a.as_str().into(), 1, XdpMode::Auto).expect("attach"),
        );
        for seq in 0..3 {
            let mut port = XdpPort::open_with(&program, 0, &config()).expect("rebind");
            ping(&mut port, &bed, 2, seq);
            eprintln!("rebind {seq}: {} EBUSY retries", port.bind_busy_retries());
        }
    });
}

#[test]
fn one_program_serves_the_sockets_of_every_queue() {
    require_root!();
    let bed = Testbed::new(2);
    let listener = in_netns(&bed.ns_b, || TcpListener::bind((bed.ip_b, 8081))).expect("listen");
    let (mut q0, mut q1) = in_netns(&bed.ns_a, || {
        let program = Arc::new(
            XdpProgram::attach(&bed.dev_a.as_str().into(), 2, XdpMode::Auto).expect("attach"),
        );
        let q0 = XdpPort::open_with(&program, 0, &config()).expect("queue 0");
        let q1 = XdpPort::open_with(&program, 1, &config()).expect("queue 1");
        (q0, q1)
    });
    // SYNs from 32 source ports, all sent through queue 0; B's replies spread over
    // both queues by B's flow hash, and each socket sees only its own queue's.
    const FLOWS: u16 = 32;
    for i in 0..FLOWS {
        assert!(q0.tx(Instant::ZERO, |b| {
            tcp_segment(b, &bed, (41_000 + i, 8081), (7, 0), SYN)
        }));
    }
    q0.flush(Instant::ZERO);
    let mut seen = [0u32; 2];
    let mut ports = std::collections::HashSet::new();
    let deadline = StdInstant::now() + Duration::from_secs(3);
    while ports.len() < usize::from(FLOWS) && StdInstant::now() < deadline {
        for (q, port) in [&mut q0, &mut q1].into_iter().enumerate() {
            port.rx_burst(Instant::ZERO, 64, |f| {
                for sport in 41_000..41_000 + FLOWS {
                    if syn_ack(f, &bed, sport, 8081, 7).is_some() && ports.insert(sport) {
                        seen[q] += 1;
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!("SYN-ACKs per queue: {seen:?}");
    assert_eq!(ports.len(), usize::from(FLOWS), "every SYN answered");
    assert!(seen[0] > 0 && seen[1] > 0, "both queues used: {seen:?}");
    drop(listener);
}

#[test]
fn a_port_cannot_be_opened_from_another_namespace() {
    require_root!();
    let bed = Testbed::new(1);
    let program = in_netns(&bed.ns_a, || {
        XdpProgram::attach(&bed.dev_a.as_str().into(), 1, XdpMode::Auto).map(Arc::new)
    })
    .expect("attach in A");
    // In B, the program's ifindex names some other interface (B's veth end, here).
    let err = in_netns(&bed.ns_b, || XdpPort::open_with(&program, 0, &config()))
        .expect_err("refused outside A");
    assert!(
        err.to_string().contains("another network namespace"),
        "{err}"
    );
    in_netns(&bed.ns_a, || XdpPort::open_with(&program, 0, &config())).expect("fine in A");
}

#[test]
fn everything_created_is_removed_even_when_a_test_fails() {
    require_root!();
    let mut names = None;
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let bed = Testbed::new(1);
        names = Some(bed.names());
        let _port = in_netns(&bed.ns_a, || {
            XdpPort::open(bed.dev_a.as_str(), 0, &config())
        })
        .expect("open the port");
        panic!("a deliberate failure, to prove the cleanup");
    }));
    assert!(failed.is_err());
    let names = names.expect("the testbed was made");
    assert!(all_gone(&names), "left behind: {names:?}");

    // And the ordinary path.
    let bed = Testbed::new(1);
    let names = bed.names();
    drop(bed);
    assert!(all_gone(&names), "left behind: {names:?}");
}

#[test]
fn a_burst_larger_than_one_sendto_budget_goes_out_in_one_flush() {
    require_root!();
    let bed = Testbed::new(1);
    // The kernel's default budget: 32 frames per sendto, EAGAIN while more wait.
    let cfg = XdpConfig {
        tx_skb_budget: 0,
        ..config()
    };
    let mut port =
        in_netns(&bed.ns_a, || XdpPort::open(bed.dev_a.as_str(), 0, &cfg)).expect("open the port");
    const BURST: u16 = 200;
    for seq in 0..BURST {
        assert!(port.tx(Instant::ZERO, |b| echo_request(b, &bed, 3, seq)));
    }
    port.flush(Instant::ZERO);
    let mut seen = std::collections::HashSet::new();
    let deadline = StdInstant::now() + Duration::from_secs(2);
    while seen.len() < usize::from(BURST) && StdInstant::now() < deadline {
        port.rx_burst(Instant::ZERO, 64, |f| {
            for seq in 0..BURST {
                if is_echo_reply(f, &bed, 3, seq) {
                    seen.insert(seq);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = port.stats().expect("stats");
    eprintln!("{stats:?}");
    assert_eq!(seen.len(), usize::from(BURST), "every ping answered");
    assert_eq!(stats.tx_kicks, 7, "200 frames at 32 per sendto");
    assert_eq!(stats.tx_kicks_again, 6, "EAGAIN while more than 32 waited");
    assert_eq!(port.tx_frames_free(), 512, "every transmit frame completed");
}

/// Not a check: prints copy-mode rates on this machine, for the numbers in the
/// report. `cargo test --release --test xdp_veth -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_copy_mode_rates() {
    require_root!();
    const BURST: usize = 64;
    let run = Duration::from_millis(1500);
    for (xdp_mode, budget) in [
        (XdpMode::Native, 0),
        (XdpMode::Native, u32::MAX),
        (XdpMode::Generic, 0),
        (XdpMode::Generic, u32::MAX),
    ] {
        let bed = Testbed::new(1);
        let cfg = XdpConfig {
            xdp_mode,
            tx_skb_budget: budget,
            ..XdpConfig::default()
        };
        let mut port = in_netns(&bed.ns_a, || XdpPort::open(bed.dev_a.as_str(), 0, &cfg))
            .expect("open the port");

        // Transmit only: frames to a MAC that B's kernel drops on sight.
        let start = StdInstant::now();
        let mut sent = 0u64;
        while start.elapsed() < run {
            for seq in 0..BURST {
                if port.tx(Instant::ZERO, |b| {
                    let n = echo_request(b, &bed, 9, seq as u16);
                    b[0..6].copy_from_slice(&[0x02, 0x5f, 0xff, 0xff, 0xff, 0xff]);
                    n
                }) {
                    sent += 1;
                }
            }
            port.flush(Instant::ZERO);
        }
        let tx_rate = sent as f64 / start.elapsed().as_secs_f64();
        let after_tx = port.stats().expect("stats");

        // Round trips: bursts of pings, replies received through the port.
        let start = StdInstant::now();
        let mut replies = 0u64;
        while start.elapsed() < run {
            for seq in 0..BURST {
                port.tx(Instant::ZERO, |b| echo_request(b, &bed, 10, seq as u16));
            }
            port.flush(Instant::ZERO);
            replies += port.rx_burst(Instant::ZERO, 4 * BURST, |_| {}) as u64;
        }
        let rtt_rate = replies as f64 / start.elapsed().as_secs_f64();
        let s = port.stats().expect("stats");
        eprintln!(
            "{}: tx-only {:.0} k frames/s ({:.2} kicks per flush of {BURST}); \
             ping {:.0} k replies/s; rx_ring_full {}, fill_empty {}, tx_no_buffer {}",
            port.mode(),
            tx_rate / 1e3,
            after_tx.tx_kicks as f64 / (sent as f64 / BURST as f64),
            rtt_rate / 1e3,
            s.rx_ring_full,
            s.rx_fill_ring_empty_descs,
            s.tx_no_buffer,
        );
    }
}
