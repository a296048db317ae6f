//! Thin, safe wrappers over the Linux calls the socket mode makes: epoll, TCP
//! sockets, the socket options it sets, and non-blocking reads and writes.
//!
//! This is the only module of the socket mode with `unsafe`. Every wrapper takes
//! plain Rust values (`BorrowedFd`, `SocketAddrV4`, slices) and returns
//! `io::Result`, with the error taken from `errno`. A descriptor a call creates is
//! returned as an [`OwnedFd`] at once, so it is closed exactly once: when it is
//! dropped (`close(2)`), which also removes it from every epoll set.
#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Readable (or the peer's FIN, or an error, is pending).
pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
/// Writable (a non-blocking connect has finished, or send-buffer room).
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
/// An error is pending (`SO_ERROR`); always reported.
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
/// Hang-up (both directions shut, or a reset); always reported.
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
/// Edge-triggered: report a readiness change once.
pub const EPOLLET: u32 = libc::EPOLLET as u32;

/// `Ok(r)` when a call returned a non-negative `r`, else the `errno` error.
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// As [`check`], for calls that return a byte count.
fn check_len(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Takes ownership of a descriptor a call has just returned.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(fd)?;
    // SAFETY: `fd` was just returned by a successful call that creates a new
    // descriptor (socket, accept4, epoll_create1); nothing else owns it, so
    // OwnedFd becomes its only owner and closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

const SOCKADDR_IN_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// A new non-blocking, close-on-exec IPv4 TCP socket (`socket(2)`).
pub fn tcp_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; its result is checked by `owned`.
    owned(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
}

fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size passed; the kernel only
    // reads it, and the descriptor is borrowed, hence open, for the call.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn set_flag(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int, on: bool) -> io::Result<()> {
    setsockopt(fd, level, name, &libc::c_int::from(on))
}

/// `SO_REUSEPORT`: several sockets (one per thread) may listen on one port; the
/// kernel spreads incoming connections over them by flow hash.
pub fn set_reuseport(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, on)
}

/// `SO_REUSEADDR`: a listener may bind while old connections on its port are in
/// TIME-WAIT.
pub fn set_reuseaddr(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    set_flag(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, on)
}

/// `TCP_NODELAY`: send small segments at once (no Nagle). Accepted sockets
/// inherit it from their listener.
pub fn set_nodelay(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    set_flag(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, on)
}

/// `IP_BIND_ADDRESS_NO_PORT`: a `bind` to `(addr, 0)` fixes the address only; the
/// port is chosen at `connect`, for the full 4-tuple, so one address serves up to
/// a whole port range per destination.
pub fn set_bind_address_no_port(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    set_flag(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, on)
}

/// `SO_LINGER {on, 0}`: the next `close` aborts the connection with RST and leaves
/// no TIME-WAIT.
pub fn set_linger_abort(fd: BorrowedFd<'_>) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger)
}

/// `getsockopt(SO_ERROR)`: the pending error of the socket (cleared by reading
/// it), as an errno; `None` when there is none. After a non-blocking `connect`
/// reports writable, `None` means connected.
pub fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are live locals; `len` holds the size of `err`, so
    // the kernel writes at most that many bytes into it.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok((err != 0).then_some(err))
}

/// `bind(2)` to an IPv4 address (port 0: the kernel chooses one).
pub fn bind(fd: BorrowedFd<'_>, addr: SocketAddrV4) -> io::Result<()> {
    let sa = sockaddr_in(addr);
    // SAFETY: `sa` is a live, initialised sockaddr_in and SOCKADDR_IN_LEN is its
    // size; the kernel only reads it.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN_LEN,
        )
    })
    .map(drop)
}

/// `listen(2)` with `backlog` (the kernel caps it at `net.core.somaxconn`).
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers; the descriptor is borrowed, hence open.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// The address a socket is bound to (`getsockname(2)`).
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddrV4> {
    let mut sa = sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `sa` is a live sockaddr_in and `len` holds its size, so the kernel
    // writes at most that many bytes into it.
    check(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut sa as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    })?;
    if libc::c_int::from(sa.sin_family) != libc::AF_INET {
        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
        u16::from_be(sa.sin_port),
    ))
}

/// `accept4(2)`: the next connection of a listener, non-blocking and
/// close-on-exec; `WouldBlock` when none is queued.
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers ask for no peer address; the result is
    // checked by `owned`.
    owned(unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })
}

/// `connect(2)`. On a non-blocking socket this normally fails with
/// `EINPROGRESS`: the handshake goes on, and the socket reports writable (or an
/// error) when it ends; read the outcome with [`take_error`].
pub fn connect(fd: BorrowedFd<'_>, addr: SocketAddrV4) -> io::Result<()> {
    let sa = sockaddr_in(addr);
    // SAFETY: `sa` is a live, initialised sockaddr_in and SOCKADDR_IN_LEN is its
    // size; the kernel only reads it.
    check(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN_LEN,
        )
    })
    .map(drop)
}

/// Reads into `buf` (`recv(2)`): `Ok(0)` is the peer's FIN, `WouldBlock` means
/// nothing is there yet.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice and its length is passed, so the
    // kernel writes only within it.
    check_len(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// Writes from `buf` (`send(2)` with `MSG_NOSIGNAL`: a reset peer gives `EPIPE`,
/// never SIGPIPE). May write less than `buf`; `WouldBlock` when the send buffer
/// is full.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live slice and its length is passed, so the kernel reads
    // only within it.
    check_len(unsafe {
        libc::send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    })
}

/// `shutdown(SHUT_WR)`: send our FIN now, keep reading.
pub fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers; the descriptor is borrowed, hence open.
    check(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) }).map(drop)
}

/// `close(2)`: what dropping an [`OwnedFd`] does; spelled out where the close is
/// the point (a FIN, or with [`set_linger_abort`] a RST).
pub fn close(fd: OwnedFd) {
    drop(fd);
}

/// Raises the soft limit of open descriptors to the hard limit and returns it: a
/// load tester holds one descriptor per open connection.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live rlimit the kernel writes into.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a live, initialised rlimit the kernel only reads.
        check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

/// A buffer for the events one [`Epoll::wait`] returns.
pub struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl Events {
    /// Room for up to `cap` events per wait (at least 1).
    pub fn with_capacity(cap: usize) -> Events {
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; cap.max(1)],
            len: 0,
        }
    }

    /// Events the last wait returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The last wait returned nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Event `i` of the last wait: (readiness bits, the data given to
    /// [`Epoll::add`]).
    pub fn get(&self, i: usize) -> (u32, u64) {
        let e = self.buf[..self.len][i];
        (e.events, e.u64)
    }
}

/// An epoll instance.
pub struct Epoll {
    fd: OwnedFd,
    /// `epoll_pwait2` (nanosecond timeouts, Linux 5.11) is known to be missing.
    no_pwait2: bool,
}

impl Epoll {
    /// A new, close-on-exec epoll instance (`epoll_create1`).
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers; the result is checked by `owned`.
        let fd = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            fd,
            no_pwait2: false,
        })
    }

    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` is a live epoll_event the kernel only reads; both
        // descriptors are open for the call.
        check(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd.as_raw_fd(), &mut ev) })
            .map(drop)
    }

    /// Watches `fd` for `events` (`EPOLLIN | EPOLLOUT | EPOLLET`, …); each report
    /// carries `data`.
    pub fn add(&self, fd: BorrowedFd<'_>, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, data)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: BorrowedFd<'_>, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, data)
    }

    /// Stops watching `fd` (closing it does this too).
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Waits for events, at most `timeout` (`None`: until one comes), and fills
    /// `events`; returns how many. A signal interrupting the wait returns 0.
    /// Timeouts are taken to the nanosecond where the kernel has `epoll_pwait2`,
    /// else rounded up to the millisecond.
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let max = events.buf.len().min(i32::MAX as usize) as libc::c_int;
        let ptr = events.buf.as_mut_ptr();
        events.len = 0;
        let mut r = -1;
        let mut tried_pwait2 = false;
        if !self.no_pwait2 {
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `ptr` points to `max` writable epoll_events owned by
            // `events`; `ts_ptr` is null or points to a live timespec; a null
            // sigmask leaves the signal mask alone.
            r = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.fd.as_raw_fd(),
                    ptr,
                    max,
                    ts_ptr,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            } as libc::c_int;
            tried_pwait2 = true;
        }
        if r < 0 && tried_pwait2 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS)
        {
            self.no_pwait2 = true;
        }
        if self.no_pwait2 {
            let ms = timeout.map_or(-1, |d| {
                let ms = d.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as libc::c_int
            });
            // SAFETY: `ptr` points to `max` writable epoll_events owned by
            // `events`.
            r = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), ptr, max, ms) };
        }
        match check(r) {
            Ok(n) => {
                events.len = n as usize;
                Ok(events.len)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn listener_reports_its_bound_port_and_accepts() {
        let l = tcp_socket().unwrap();
        set_reuseaddr(l.as_fd(), true).unwrap();
        bind(l.as_fd(), SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        listen(l.as_fd(), 16).unwrap();
        let addr = local_addr(l.as_fd()).unwrap();
        assert_eq!(*addr.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(addr.port(), 0);
        assert_eq!(
            accept(l.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );

        let c = tcp_socket().unwrap();
        match connect(c.as_fd(), addr) {
            Ok(()) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS)),
        }
        let mut ep = Epoll::new().unwrap();
        ep.add(c.as_fd(), EPOLLOUT | EPOLLET, 7).unwrap();
        let mut evs = Events::with_capacity(4);
        let n = ep.wait(&mut evs, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(n, 1);
        let (bits, data) = evs.get(0);
        assert_eq!(data, 7);
        assert_ne!(bits & EPOLLOUT, 0);
        assert_eq!(take_error(c.as_fd()).unwrap(), None);

        let s = accept(l.as_fd()).unwrap();
        assert_eq!(write(c.as_fd(), b"ping").unwrap(), 4);
        shutdown_write(c.as_fd()).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(read_soon(s.as_fd(), &mut buf), 4);
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(read_soon(s.as_fd(), &mut buf), 0, "the FIN reads as 0");
    }

    /// Reads from a non-blocking socket, retrying for up to 5 s while nothing is there.
    fn read_soon(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize {
        let t = std::time::Instant::now();
        loop {
            match read(fd, buf) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(t.elapsed() < Duration::from_secs(5), "nothing to read");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    #[test]
    fn refused_connect_shows_in_so_error() {
        // A bound socket that does not listen: SYNs to it are answered with RST.
        let holder = tcp_socket().unwrap();
        bind(holder.as_fd(), SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = local_addr(holder.as_fd()).unwrap();
        let c = tcp_socket().unwrap();
        let mut ep = Epoll::new().unwrap();
        let immediate = connect(c.as_fd(), addr);
        if let Err(e) = &immediate {
            if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                return;
            }
            assert_eq!(e.raw_os_error(), Some(libc::EINPROGRESS));
        }
        ep.add(c.as_fd(), EPOLLIN | EPOLLOUT | EPOLLET, 1).unwrap();
        let mut evs = Events::with_capacity(4);
        assert_eq!(ep.wait(&mut evs, Some(Duration::from_secs(5))).unwrap(), 1);
        assert_ne!(evs.get(0).0 & (EPOLLERR | EPOLLHUP), 0);
        assert_eq!(take_error(c.as_fd()).unwrap(), Some(libc::ECONNREFUSED));
    }

    #[test]
    fn wait_times_out_with_nothing_ready() {
        let mut ep = Epoll::new().unwrap();
        let mut evs = Events::with_capacity(1);
        let t = std::time::Instant::now();
        assert_eq!(
            ep.wait(&mut evs, Some(Duration::from_micros(300))).unwrap(),
            0
        );
        assert!(evs.is_empty());
        assert!(t.elapsed() >= Duration::from_micros(300));
    }

    #[test]
    fn options_apply() {
        let s = tcp_socket().unwrap();
        set_reuseport(s.as_fd(), true).unwrap();
        set_nodelay(s.as_fd(), true).unwrap();
        set_bind_address_no_port(s.as_fd(), true).unwrap();
        set_linger_abort(s.as_fd()).unwrap();
        assert_eq!(take_error(s.as_fd()).unwrap(), None);
        assert!(raise_nofile_limit().unwrap() > 0);
        close(s);
    }
}
