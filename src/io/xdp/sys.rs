//! The socket calls xdpilone does not make for us: close-on-exec, the transmit kick
//! with its errno, and the `SOL_XDP` options for the transmit budget and the bound
//! mode.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// `SOL_XDP` (not in every libc).
const SOL_XDP: libc::c_int = 283;
/// `getsockopt(SOL_XDP, XDP_OPTIONS)`: `struct xdp_options { __u32 flags; }`.
const XDP_OPTIONS: libc::c_int = 8;
/// `xdp_options.flags` bit: the socket is bound in zero-copy mode.
const XDP_OPTIONS_ZEROCOPY: u32 = 1 << 0;
/// `setsockopt(SOL_XDP, XDP_MAX_TX_SKB_BUDGET)` (Linux 6.17): frames one copy-mode
/// `sendto` may move, 32..=tx ring size.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// The kernel's lower bound for `XDP_MAX_TX_SKB_BUDGET` (and its default budget).
pub(super) const TX_BATCH_SIZE: u32 = 32;

/// Mark `fd` close-on-exec, so that commands the tester spawns do not inherit the
/// socket (and keep its queue busy after the port is dropped).
pub(super) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd the caller owns, with an int argument; no memory involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ask the kernel to transmit what the tx ring holds: `sendto(fd, NULL, 0,
/// MSG_DONTWAIT)`. Returns the errno on failure (`EAGAIN`: more is queued than one
/// call moves).
pub(super) fn kick_tx(fd: RawFd) -> Result<(), i32> {
    // SAFETY: a zero-length send with null buffer and address is how AF_XDP is kicked;
    // the kernel reads no user memory for it.
    let ret = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

/// Set the copy-mode transmit budget. `Ok(false)` when the kernel does not know the
/// option (before 6.17).
pub(super) fn set_tx_skb_budget(fd: RawFd, budget: u32) -> io::Result<bool> {
    let value: libc::c_uint = budget;
    // SAFETY: `value` is a live c_uint and the length passed is its size.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            XDP_MAX_TX_SKB_BUDGET,
            (&value as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if ret == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOPROTOOPT) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Whether the bound socket runs in zero-copy mode (`XDP_OPTIONS`).
pub(super) fn is_zero_copy(fd: RawFd) -> io::Result<bool> {
    let mut flags: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `flags` and `len` are live and `len` holds the size of `flags`; the kernel
    // writes at most that many bytes.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            (&mut flags as *mut u32).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & XDP_OPTIONS_ZEROCOPY != 0)
}
