//! The XDP program that feeds AF_XDP sockets, loaded with plain bpf(2) calls.
//!
//! One [`XdpProgram`] per interface owns two kernel objects, each an fd closed on
//! drop: an XSKMAP (queue index → AF_XDP socket) and the BPF link that attaches the
//! program to the interface (the link holds the program, the program the map). Because the attachment is a link, closing
//! the link's fd (dropping the `XdpProgram`, or the process dying) detaches the
//! program: a crashed tester leaves nothing attached.
//!
//! The program is five instructions (six slots; the 64-bit immediate load takes two):
//!
//! ```text
//! r2 = *(u32 *)(r1 + 16)      ; ctx->rx_queue_index
//! r1 = map[XSKMAP]            ; ld_imm64 with src = BPF_PSEUDO_MAP_FD
//! r3 = XDP_PASS               ; what to do when no socket sits at that index
//! call bpf_redirect_map       ; r0 = XDP_REDIRECT or r3
//! exit
//! ```
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::{AttachMode, Iface, XdpError, XdpMode};

// bpf(2) commands (enum bpf_cmd in <linux/bpf.h>).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
pub(super) const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
pub(super) const BPF_LINK_CREATE: libc::c_long = 28;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// enum bpf_attach_type: attach to a device's XDP hook.
const BPF_XDP: u32 = 37;
/// Source register value of an ld_imm64 whose immediate is a map fd.
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// Helper id of `bpf_redirect_map` (enum bpf_func_id).
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// enum xdp_action.
const XDP_PASS: i32 = 2;
/// BPF_MAP_UPDATE_ELEM flag: create or replace.
const BPF_ANY: u64 = 0;

// <linux/if_link.h> XDP attach flags.
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

// Instruction encodings (<linux/bpf_common.h>, <linux/bpf.h>).
const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_LD_IMM_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const BPF_ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const BPF_JMP_CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const BPF_JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// Offset of `rx_queue_index` in `struct xdp_md`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// How long attaching waits while the interface still has a program (`EBUSY`), which
/// is what a link that is being closed looks like.
pub const ATTACH_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// Verifier log size: the program's log is a few hundred bytes.
pub(super) const LOG_SIZE: usize = 64 * 1024;

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct Insn {
    pub(super) code: u8,
    /// dst_reg in the low nibble, src_reg in the high one (little-endian bitfields).
    regs: u8,
    pub(super) off: i16,
    imm: i32,
}

impl Insn {
    pub(super) const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }
}

/// The redirect program for an XSKMAP whose fd is `map_fd`.
fn redirect_program(map_fd: RawFd) -> [Insn; 6] {
    [
        Insn::new(BPF_LDX_MEM_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        Insn::new(BPF_LD_IMM_DW, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        Insn::new(0, 0, 0, 0, 0), // upper half of the 64-bit immediate
        Insn::new(BPF_ALU64_MOV_K, 3, 0, 0, XDP_PASS),
        Insn::new(BPF_JMP_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        Insn::new(BPF_JMP_EXIT, 0, 0, 0, 0),
    ]
}

/// The leading fields of `union bpf_attr` for BPF_MAP_CREATE.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD.
#[repr(C)]
#[derive(Default)]
pub(super) struct ProgLoadAttr {
    pub(super) prog_type: u32,
    pub(super) insn_cnt: u32,
    pub(super) insns: u64,
    pub(super) license: u64,
    pub(super) log_level: u32,
    pub(super) log_size: u32,
    pub(super) log_buf: u64,
    pub(super) kern_version: u32,
    pub(super) prog_flags: u32,
    pub(super) prog_name: [u8; 16],
    pub(super) prog_ifindex: u32,
    pub(super) expected_attach_type: u32,
}

/// The leading fields of `union bpf_attr` for BPF_LINK_CREATE.
#[repr(C)]
#[derive(Default)]
pub(super) struct LinkCreateAttr {
    pub(super) prog_fd: u32,
    pub(super) target_ifindex: u32,
    pub(super) attach_type: u32,
    pub(super) flags: u32,
}

/// `union bpf_attr` for BPF_MAP_*_ELEM.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading fields of `struct bpf_prog_info`: `type` and `id`.
type ProgInfoHead = [u32; 2];

/// bpf(2) with an attribute struct; returns the non-negative result.
fn bpf<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct laid out as the
    // leading fields of `union bpf_attr` for `cmd`, and the size passed is its size, so
    // the kernel reads (and for some commands writes) only within it. Pointers inside
    // it (program, license, log, key, value, info) point at buffers the caller keeps
    // alive for the duration of this call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut A as *mut libc::c_void,
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// bpf(2) for a command that returns a new fd.
pub(super) fn bpf_fd<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: on success these commands return a new fd (opened O_CLOEXEC by the
    // kernel) that nothing else owns; OwnedFd takes sole ownership and closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A name for bpf objects: at most 15 bytes and a NUL.
pub(super) fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out[..15].iter_mut().zip(name.bytes()) {
        *o = b;
    }
    out
}

/// Resolve an interface to its index in the calling thread's network namespace.
pub fn ifindex(iface: &Iface) -> Result<u32, XdpError> {
    let mut info = xdpilone::IfInfo::invalid();
    let result = match iface {
        Iface::Index(index) => info.from_ifindex(*index),
        Iface::Name(name) => {
            let Ok(cname) = std::ffi::CString::new(name.as_str()) else {
                return Err(XdpError::NoInterface {
                    iface: iface.clone(),
                    source: io::Error::from_raw_os_error(libc::EINVAL),
                });
            };
            info.from_name(&cname)
        }
    };
    match result {
        Ok(()) => Ok(info.ifindex()),
        Err(errno) => Err(XdpError::NoInterface {
            iface: iface.clone(),
            source: io::Error::from_raw_os_error(errno.get_raw().abs()),
        }),
    }
}

/// The redirect program attached to one interface, with its XSKMAP.
///
/// Share it (in an `Arc`) between the ports of an interface's queues: each port puts
/// its socket at its queue's index. Dropping the last handle detaches the program.
#[derive(Debug)]
pub struct XdpProgram {
    // Field order is drop order: detach first (which frees the program), then the map.
    link: OwnedFd,
    map: OwnedFd,
    ifindex: u32,
    queues: u32,
    mode: AttachMode,
    prog_id: u32,
    busy_retries: u32,
    /// The network namespace the interface index belongs to, if /proc could say.
    netns: Option<NetnsId>,
}

impl XdpProgram {
    /// Create an XSKMAP with `queues` slots, load the redirect program and attach it
    /// to `iface` (in the calling thread's network namespace) through a BPF link.
    ///
    /// [`XdpMode::Auto`] tries native mode and falls back to generic mode. While the
    /// interface still has a program (`EBUSY`), each mode is retried for up to
    /// [`ATTACH_BUSY_TIMEOUT`]: a program whose link was closed a moment ago may still
    /// be attached. An interface with another, lasting program fails with `EBUSY`.
    pub fn attach(iface: &Iface, queues: u32, mode: XdpMode) -> Result<XdpProgram, XdpError> {
        if queues == 0 {
            return Err(XdpError::Config(
                "an XSKMAP needs at least one queue".into(),
            ));
        }
        let ifindex = ifindex(iface)?;
        let netns = current_netns();
        let map = create_xskmap(queues)?;
        let prog = load_program(&map)?;

        let modes: &[AttachMode] = match mode {
            XdpMode::Auto => &[AttachMode::Native, AttachMode::Generic],
            XdpMode::Native => &[AttachMode::Native],
            XdpMode::Generic => &[AttachMode::Generic],
        };
        let mut tried = Vec::new();
        let mut busy_retries = 0;
        for &mode in modes {
            let started = Instant::now();
            loop {
                match create_link(&prog, ifindex, mode) {
                    Ok(link) => {
                        let prog_id = prog_id(&prog).unwrap_or(0);
                        return Ok(XdpProgram {
                            link,
                            map,
                            ifindex,
                            queues,
                            mode,
                            prog_id,
                            busy_retries,
                            netns,
                        });
                    }
                    // A link whose fd was just closed may still be attached: another
                    // thread that forked meanwhile holds a copy of the fd until its
                    // child execs. Wait for it rather than fall back to the other mode
                    // (which would fail with EEXIST while this one is attached).
                    Err(err)
                        if err.raw_os_error() == Some(libc::EBUSY)
                            && started.elapsed() < ATTACH_BUSY_TIMEOUT =>
                    {
                        busy_retries += 1;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(err) => {
                        tried.push((mode, err));
                        break;
                    }
                }
            }
        }
        Err(XdpError::Attach { ifindex, tried })
    }

    /// How many times attaching met `EBUSY` (a previous program still attached)
    /// before it succeeded.
    pub fn busy_retries(&self) -> u32 {
        self.busy_retries
    }

    /// Put the AF_XDP socket `xsk` at `queue`'s index: from now on the frames that
    /// arrive on that queue go to it. A socket that closes leaves the map by itself.
    pub fn insert(&self, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), XdpError> {
        self.check_queue(queue)?;
        let key = queue;
        let value = u32::try_from(xsk.as_raw_fd()).unwrap_or(u32::MAX);
        let mut attr = MapElemAttr {
            map_fd: self.map_fd(),
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            flags: BPF_ANY,
            ..MapElemAttr::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr)
            .map(drop)
            .map_err(|source| XdpError::Bpf {
                step: "put the socket into the XSKMAP",
                source,
                log: String::new(),
            })
    }

    /// Take whatever socket sits at `queue`'s index out of the map: that queue's
    /// frames go to the kernel's stack again.
    pub fn remove(&self, queue: u32) -> Result<(), XdpError> {
        self.check_queue(queue)?;
        let key = queue;
        let mut attr = MapElemAttr {
            map_fd: self.map_fd(),
            key: &key as *const u32 as u64,
            ..MapElemAttr::default()
        };
        bpf(BPF_MAP_DELETE_ELEM, &mut attr)
            .map(drop)
            .map_err(|source| XdpError::Bpf {
                step: "remove a socket from the XSKMAP",
                source,
                log: String::new(),
            })
    }

    /// The interface the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The number of queue slots in the map.
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// Native or generic.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The kernel's id of the program (what `ip link` prints as `prog/xdp id N`), or 0
    /// if the kernel did not say.
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// The BPF link's fd: closing it (dropping the program) detaches the program.
    pub fn link_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.link.as_fd()
    }

    /// Fail unless the calling thread is in the network namespace the program was
    /// attached from. Interface indexes are per namespace (every namespace's first
    /// veth is likely index 2), so a socket bound from another namespace would land
    /// on whatever interface has that index there.
    pub fn check_netns(&self) -> Result<(), XdpError> {
        match (self.netns, current_netns()) {
            (Some(ours), Some(now)) if ours != now => Err(XdpError::Config(format!(
                "the program's interface (ifindex {}) is in another network namespace \
                 than this thread; open its ports from a thread in that namespace",
                self.ifindex
            ))),
            _ => Ok(()),
        }
    }

    fn map_fd(&self) -> u32 {
        u32::try_from(self.map.as_raw_fd()).unwrap_or(u32::MAX)
    }

    fn check_queue(&self, queue: u32) -> Result<(), XdpError> {
        if queue < self.queues {
            Ok(())
        } else {
            Err(XdpError::Config(format!(
                "queue {queue} is outside the XSKMAP's {} slots",
                self.queues
            )))
        }
    }
}

/// A network namespace, as the (device, inode) of its nsfs file.
type NetnsId = (u64, u64);

/// The calling thread's network namespace (threads may differ, after setns).
fn current_netns() -> Option<NetnsId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    Some((meta.dev(), meta.ino()))
}

fn create_xskmap(queues: u32) -> Result<OwnedFd, XdpError> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: queues,
        map_name: obj_name("synfin_xsks"),
        ..MapCreateAttr::default()
    };
    bpf_fd(BPF_MAP_CREATE, &mut attr).map_err(|source| XdpError::Bpf {
        step: "create the XSKMAP",
        source,
        log: String::new(),
    })
}

fn load_program(map: &OwnedFd) -> Result<OwnedFd, XdpError> {
    let insns = redirect_program(map.as_raw_fd());
    load_prog(
        BPF_PROG_TYPE_XDP,
        BPF_XDP,
        &insns,
        "synfin_xsk",
        "load the XDP program",
    )
}

/// Load `insns` as a program of `prog_type` (GPL-compatible licence), with the
/// verifier's log in the error when it is refused; `step` names the step there.
pub(super) fn load_prog(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
    step: &'static str,
) -> Result<OwnedFd, XdpError> {
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; LOG_SIZE];
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: LOG_SIZE as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: obj_name(name),
        expected_attach_type,
        ..ProgLoadAttr::default()
    };
    bpf_fd(BPF_PROG_LOAD, &mut attr).map_err(|source| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        XdpError::Bpf {
            step,
            source,
            log: String::from_utf8_lossy(&log[..end]).into_owned(),
        }
    })
}

fn create_link(prog: &OwnedFd, ifindex: u32, mode: AttachMode) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX),
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: match mode {
            AttachMode::Native => XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => XDP_FLAGS_SKB_MODE,
        },
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
}

fn prog_id(prog: &OwnedFd) -> io::Result<u32> {
    let mut info: ProgInfoHead = [0; 2];
    let mut attr = InfoAttr {
        bpf_fd: u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX),
        info_len: std::mem::size_of::<ProgInfoHead>() as u32,
        info: &mut info as *mut ProgInfoHead as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_encodes_the_five_instructions() {
        let p = redirect_program(7);
        // r2 = *(u32 *)(r1 + 16)
        assert_eq!((p[0].code, p[0].regs, p[0].off), (0x61, 0x12, 16));
        // r1 = map fd 7 (src = pseudo map fd), two slots
        assert_eq!((p[1].code, p[1].regs, p[1].imm), (0x18, 0x11, 7));
        assert_eq!((p[2].code, p[2].regs, p[2].imm), (0, 0, 0));
        // r3 = XDP_PASS
        assert_eq!((p[3].code, p[3].regs, p[3].imm), (0xb7, 0x03, 2));
        // call bpf_redirect_map; exit
        assert_eq!((p[4].code, p[4].imm), (0x85, 51));
        assert_eq!(p[5].code, 0x95);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::size_of::<MapElemAttr>(), 32);
        assert_eq!(std::mem::size_of::<MapCreateAttr>(), 44);
        assert_eq!(std::mem::size_of::<LinkCreateAttr>(), 16);
    }

    #[test]
    fn long_names_are_cut_to_fifteen_bytes_and_a_nul() {
        let n = obj_name("a_name_longer_than_sixteen");
        assert_eq!(&n[..15], b"a_name_longer_t");
        assert_eq!(n[15], 0);
    }
}
