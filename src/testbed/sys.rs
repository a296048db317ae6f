//! The few system calls the testbed makes directly: entering a network namespace,
//! giving the calling thread a private `/sys` of that namespace, and the interface
//! ioctls (SIOCETHTOOL for offloads, SIOCGIFHWADDR, if_nametoindex).
//!
//! This is the only place in the crate where `unsafe` is allowed. Every function
//! here acts on the calling thread (namespaces) or on a socket it opens itself, so
//! callers in [`super::netns`] run them on a thread made for the purpose.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct ethtool_value` of `<linux/ethtool.h>`: a command and one 32-bit value.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Legacy ethtool commands (`<linux/ethtool.h>`): get/set one offload flag.
pub(crate) mod ethtool {
    /// Get TX checksum offload.
    pub const GTXCSUM: u32 = 0x16;
    /// Set TX checksum offload.
    pub const STXCSUM: u32 = 0x17;
    /// Get TCP segmentation offload.
    pub const GTSO: u32 = 0x1e;
    /// Set TCP segmentation offload.
    pub const STSO: u32 = 0x1f;
    /// Get generic segmentation offload.
    pub const GGSO: u32 = 0x23;
    /// Set generic segmentation offload.
    pub const SGSO: u32 = 0x24;
    /// Get generic receive offload.
    pub const GGRO: u32 = 0x2b;
    /// Set generic receive offload.
    pub const SGRO: u32 = 0x2c;
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Moves the calling thread into the network namespace `ns` (an open
/// `/run/netns/NAME` or `/proc/PID/ns/net`).
pub(crate) fn setns_net(ns: &File) -> io::Result<()> {
    // SAFETY: setns takes a file descriptor and a flag; `ns` is an open file that
    // outlives the call. It changes only the calling thread's namespace.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Gives the calling thread its own mount namespace and mounts a fresh sysfs on
/// `/sys` in it, so that `/sys/class/net` shows the devices of the network namespace
/// the thread is in (sysfs shows the namespace of whoever mounted it). This is what
/// `ip netns exec` does. Nothing outside the thread sees these mounts, and they go
/// away with the thread.
pub(crate) fn private_sysfs() -> io::Result<()> {
    // SAFETY: unshare with CLONE_NEWNS only affects the calling thread (the kernel
    // unshares its fs_struct with it); no pointers are involved.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
    let root = CString::new("/").expect("no NUL");
    // SAFETY: all pointers are NUL-terminated strings that live across the call or
    // null where mount(2) allows it (source, fstype and data for a propagation change).
    cvt(unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        )
    })?;
    let sys = CString::new("/sys").expect("no NUL");
    // SAFETY: `sys` is a NUL-terminated string that lives across the call. The
    // unmount happens in this thread's private mount namespace only. It may fail if
    // nothing is mounted there, which is fine: a fresh sysfs goes on top anyway.
    let _ = unsafe { libc::umount2(sys.as_ptr(), libc::MNT_DETACH) };
    let fstype = CString::new("sysfs").expect("no NUL");
    // SAFETY: NUL-terminated strings that live across the call; null data is allowed.
    cvt(unsafe {
        libc::mount(
            fstype.as_ptr(),
            sys.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    })?;
    Ok(())
}

fn ifreq_for(ifname: &str) -> io::Result<libc::ifreq> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    // SAFETY: ifreq is a plain C struct (a name array and a union of plain fields)
    // for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn inet_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor
    // that nothing else owns, so OwnedFd may take it.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ethtool(ifname: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let sock = inet_socket()?;
    let mut value = EthtoolValue { cmd, data };
    let mut req = ifreq_for(ifname)?;
    req.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq and the ethtool_value its data pointer
    // points to (and for a get command writes `data`); both live on this stack frame
    // across the call and have the kernel's layout.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL as _, &mut req) })?;
    Ok(value.data)
}

/// Reads one legacy ethtool flag (a `G*` command of [`ethtool()`]) of `ifname` in the
/// calling thread's network namespace.
pub(crate) fn ethtool_get(ifname: &str, cmd: u32) -> io::Result<bool> {
    ethtool(ifname, cmd, 0).map(|v| v != 0)
}

/// Sets one legacy ethtool flag (an `S*` command of [`ethtool()`]) of `ifname` in the
/// calling thread's network namespace.
pub(crate) fn ethtool_set(ifname: &str, cmd: u32, on: bool) -> io::Result<()> {
    ethtool(ifname, cmd, u32::from(on)).map(|_| ())
}

/// The hardware address of `ifname` in the calling thread's network namespace.
pub(crate) fn hwaddr(ifname: &str) -> io::Result<[u8; 6]> {
    let sock = inet_socket()?;
    let mut req = ifreq_for(ifname)?;
    // SAFETY: SIOCGIFHWADDR reads the name and writes a sockaddr into the ifreq,
    // which lives on this stack frame across the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut req) })?;
    // SAFETY: after a successful SIOCGIFHWADDR the union holds `ifru_hwaddr`.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr }.sa_data;
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(data.iter()) {
        *dst = src as u8;
    }
    Ok(mac)
}

/// The interface index of `ifname` in the calling thread's network namespace.
pub(crate) fn ifindex(ifname: &str) -> io::Result<u32> {
    let name = CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `name` is a NUL-terminated string that lives across the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}
