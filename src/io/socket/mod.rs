//! Kernel sockets: a TCP client and server on the Linux socket API, the baseline
//! users have today and the fallback where AF_XDP is unavailable.
//!
//! The kernel runs TCP here; synfin only opens, reads, writes and closes. Both
//! sides are non-blocking, edge-triggered epoll loops with a state table indexed
//! by file descriptor (allocated at start and grown by doubling, rarely); nothing
//! is allocated per connection.
//!
//! - [`server`]: [`SocketServer`] — N threads, each with its own `SO_REUSEPORT`
//!   listener and epoll loop: read the request, write the response, close as
//!   [`CloseMode`](crate::tcp::CloseMode) says.
//! - [`client`]: [`run_client`] — one thread opening connections on the
//!   [`Pacer`](crate::engine::pacer::Pacer)'s schedule, recording the same
//!   [`Phase`](crate::stats::Phase)s and [`FailCause`]s as the engine.
//! - [`sys`]: the thin, safe wrappers over the system calls (the only `unsafe`).
//!
//! # Phases, as the socket API lets them be seen
//!
//! The kernel hides the segments, so each phase ends at the first moment the
//! socket API shows its event; the start is the engine's where it can be.
//!
//! | phase | engine | socket client |
//! |---|---|---|
//! | `connect` | SYN sent (open loop: scheduled start) → SYN-ACK received | scheduled start (closed loop: the moment the pacer released it, just before `socket()`) → epoll reports the socket writable with `SO_ERROR` 0. Includes `socket()`, `bind()`, `connect()` and the wake-up. |
//! | `ttfb` | request sent → first response byte | the last request byte accepted by `send()` (no request: connected) → the first `recv()` that returns data |
//! | `close` | first FIN (ours or the peer's) → close handshake done | close `client`: `shutdown(SHUT_WR)` (our FIN) → `recv()` returns 0 (the server's FIN: the socket enters TIME-WAIT then, as the engine's does). Close `server` and `rst`: not recorded (no sample): the ACK of our FIN in LAST-ACK cannot be seen through the socket API, and an RST close has no handshake (the engine records none for `rst` either). |
//! | `lifecycle` | start → connection finished | start → the connection's last call: `recv()` returning 0 and `close()` (close `client` and `server`), the aborting `close()` (`rst`). Close `server` ends one round trip earlier than the engine's (it cannot wait for the ACK of our FIN). Recorded for completed connections only, as the engine does. |
//!
//! Close `client` uses `shutdown(SHUT_WR)` and waits for the server's FIN rather
//! than a bare `close()`: a bare `close()` returns at once and leaves the close
//! handshake unobserved (an orphaned FIN-WAIT the kernel finishes, or times out,
//! unseen), so neither a close latency nor a failed close could be reported. The
//! price is one `shutdown` call per connection, and the connection counts against
//! the concurrency cap until the server's FIN arrives, as in the engine.
//!
//! # Outcomes
//!
//! Every attempt ends exactly once: completed, failed with one [`FailCause`], or
//! in flight when the drain time ran out. An errno maps to a cause by the stage
//! it ended ([`cause_of`]); every errno is also counted by name
//! ([`errno_name`]). Timeouts are not errnos: the connect timeout ends an attempt
//! as `syn_timeout`, the I/O timeout as `data_timeout` (before the response is
//! complete) or `fin_timeout` (waiting for the server's FIN). Byte counters count
//! payload bytes (what `send`/`recv` moved), not whole frames as the engine's do;
//! packet and TIME-WAIT counters stay 0 (the kernel owns them: see
//! `/proc/net/sockstat`, `nstat`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::stats::FailCause;

pub mod client;
pub mod server;
pub mod sys;

pub use client::{ClientRun, SocketClientConfig, run_client, run_client_observed};
pub use server::{ServerStats, SocketServer, SocketServerConfig, run_server};

/// Where a connection was when an error ended it; decides its [`FailCause`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Before the handshake finished (`socket`, `bind`, `connect`, `SO_ERROR`).
    Connect,
    /// After the handshake, before our side started closing.
    Data,
    /// Our FIN sent (close `client`), waiting for the server's.
    Closing,
}

/// The failure cause of an error `errno` at `stage`:
///
/// | errno | cause |
/// |---|---|
/// | `EADDRNOTAVAIL`, `EADDRINUSE` | `no_tuple` (no free source port for the 4-tuple) |
/// | `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM` | `table_full` (no descriptor or socket memory) |
/// | `ECONNREFUSED`, `ECONNRESET` while connecting | `refused` |
/// | `ETIMEDOUT`, `EHOSTUNREACH`, `ENETUNREACH`, `EHOSTDOWN`, `ENETDOWN` while connecting | `syn_timeout` (no SYN-ACK came) |
/// | any other errno while connecting | `tx_failed` (the SYN could not go out: `EPERM`, …) |
/// | `ETIMEDOUT` after the handshake | `data_timeout`, or `fin_timeout` while closing |
/// | any other errno after the handshake (`ECONNRESET`, `EPIPE`, …) | `reset_established`, or `reset_closing` while closing |
pub fn cause_of(stage: Stage, errno: i32) -> FailCause {
    match errno {
        libc::EADDRNOTAVAIL | libc::EADDRINUSE => FailCause::NoTuple,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => FailCause::TableFull,
        _ => match stage {
            Stage::Connect => match errno {
                libc::ECONNREFUSED | libc::ECONNRESET => FailCause::Refused,
                libc::ETIMEDOUT
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN => FailCause::SynTimeout,
                _ => FailCause::TxFailed,
            },
            Stage::Data if errno == libc::ETIMEDOUT => FailCause::DataTimeout,
            Stage::Data => FailCause::ResetEstablished,
            Stage::Closing if errno == libc::ETIMEDOUT => FailCause::FinTimeout,
            Stage::Closing => FailCause::ResetClosing,
        },
    }
}

/// The symbolic name of an errno a TCP socket can report (`"ECONNREFUSED"`), or
/// `"errno N"` for any other.
pub fn errno_name(errno: i32) -> Cow<'static, str> {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EPIPE => "EPIPE",
        libc::ENOSYS => "ENOSYS",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTO => "EPROTO",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENETRESET => "ENETRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTDOWN => "EHOSTDOWN",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        _ => return Cow::Owned(format!("errno {errno}")),
    };
    Cow::Borrowed(name)
}

/// Errors counted by errno without allocating: a fixed array indexed by errno
/// (Linux's are below 134), turned into a map by name at the end of a run.
#[derive(Clone, Debug)]
pub(crate) struct ErrnoCounts {
    by_errno: [u64; ErrnoCounts::SLOTS],
}

impl ErrnoCounts {
    /// Errnos counted one by one; larger ones (none on Linux) share the last slot.
    const SLOTS: usize = 256;

    pub(crate) fn new() -> ErrnoCounts {
        ErrnoCounts {
            by_errno: [0; Self::SLOTS],
        }
    }

    /// Counts one error.
    #[inline]
    pub(crate) fn add(&mut self, errno: i32) {
        let i = usize::try_from(errno).map_or(0, |e| e.min(Self::SLOTS - 1));
        self.by_errno[i] += 1;
    }

    /// Adds `other`'s counts into `self`.
    pub(crate) fn merge(&mut self, other: &ErrnoCounts) {
        for (a, b) in self.by_errno.iter_mut().zip(&other.by_errno) {
            *a += b;
        }
    }

    /// The nonzero counts by [`errno_name`].
    pub(crate) fn to_map(&self) -> BTreeMap<String, u64> {
        self.by_errno
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(e, &n)| (errno_name(e as i32).into_owned(), n))
            .collect()
    }
}

/// The epoll data of descriptor `fd` in its `generation`: a connection's slot
/// counts the connections that had its descriptor number, so an event still
/// queued for a closed connection is not taken for the next one.
#[inline]
pub(crate) fn epoll_token(fd: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | fd as u64
}

/// The descriptor and generation an [`epoll_token`] names.
#[inline]
pub(crate) fn token_parts(data: u64) -> (usize, u32) {
    ((data & u64::from(u32::MAX)) as usize, (data >> 32) as u32)
}

/// Makes `table[i]` exist, at least doubling the table when it grows: the
/// kernel hands out the lowest free descriptor, so growth is rare and stops
/// once the table covers the most descriptors open at once.
pub(crate) fn ensure_slot<T: Default>(table: &mut Vec<T>, i: usize) {
    if i >= table.len() {
        let len = (i + 1).max(table.len() * 2);
        table.resize_with(len, T::default);
    }
}

/// The errno of an I/O error (`EIO` when it carries none, which the wrappers
/// in [`sys`] never return).
#[inline]
pub(crate) fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_causes_by_stage() {
        use FailCause::*;
        use Stage::*;
        let cases = [
            (Connect, libc::ECONNREFUSED, Refused),
            (Connect, libc::ECONNRESET, Refused),
            (Connect, libc::ETIMEDOUT, SynTimeout),
            (Connect, libc::EHOSTUNREACH, SynTimeout),
            (Connect, libc::EADDRNOTAVAIL, NoTuple),
            (Connect, libc::EADDRINUSE, NoTuple),
            (Connect, libc::EMFILE, TableFull),
            (Connect, libc::EPERM, TxFailed),
            (Data, libc::ECONNRESET, ResetEstablished),
            (Data, libc::EPIPE, ResetEstablished),
            (Data, libc::ETIMEDOUT, DataTimeout),
            (Closing, libc::ECONNRESET, ResetClosing),
            (Closing, libc::ETIMEDOUT, FinTimeout),
            (Closing, libc::ENOBUFS, TableFull),
        ];
        for (stage, errno, want) in cases {
            assert_eq!(
                cause_of(stage, errno),
                want,
                "{stage:?} {}",
                errno_name(errno)
            );
        }
    }

    #[test]
    fn errno_counts_by_name() {
        let mut a = ErrnoCounts::new();
        a.add(libc::ECONNREFUSED);
        a.add(libc::ECONNREFUSED);
        a.add(4000); // beyond the table: shares the last slot
        let mut b = ErrnoCounts::new();
        b.add(libc::ECONNRESET);
        a.merge(&b);
        let m = a.to_map();
        assert_eq!(m["ECONNREFUSED"], 2);
        assert_eq!(m["ECONNRESET"], 1);
        assert_eq!(m["errno 255"], 1);
        assert_eq!(m.len(), 3);
        assert_eq!(errno_name(libc::EADDRNOTAVAIL), "EADDRNOTAVAIL");
    }
}
