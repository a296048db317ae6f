//! A stand-in for `tc netem` where the kernel has none (this project's kernels are
//! built without `sch_netem`): a wire made of a BPF program at the tc ingress hook
//! (tcx) of each end of a middle namespace, loaded with plain bpf(2) calls like the
//! XDP program.
//!
//! Each frame that arrives on one end is, with the configured probabilities,
//! dropped (loss), cloned to the other end as well (duplication), or marked for a
//! slow HTB class on the other end's egress (delay with jitter, and so reordering
//! against the frames that take the fast class); then it is redirected to the other
//! end. The HTB qdisc itself is set up with `tc` (iproute2) by the caller.
//!
//! ```text
//! r6 = r1                                ; the skb
//! if prandom() < LOSS  goto drop
//! if prandom() < SLOW  skb->priority = SLOW_PRIORITY
//! if prandom() < DUP   clone_redirect(skb, TARGET, egress)
//! return redirect(TARGET, egress)
//! drop: return TC_ACT_SHOT
//! ```
//!
//! The program is attached through a BPF link: dropping [`TcxWire`] (or the process
//! ending) detaches it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::XdpError;
use super::bpf::{BPF_LINK_CREATE, Insn, LinkCreateAttr, bpf_fd, load_prog};

const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_TCX_INGRESS: u32 = 46;
const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;
const BPF_FUNC_CLONE_REDIRECT: i32 = 13;
const BPF_FUNC_REDIRECT: i32 = 23;
const TC_ACT_SHOT: i32 = 2;
/// Offset of `priority` in `struct __sk_buff`.
const SKB_PRIORITY: i16 = 32;

const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const STX_W: u8 = 0x63; // BPF_STX | BPF_MEM | BPF_W
const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
const JLT32_K: u8 = 0xa6; // BPF_JMP32 | BPF_JLT | BPF_K (unsigned)
const JGE32_K: u8 = 0x36; // BPF_JMP32 | BPF_JGE | BPF_K (unsigned)

/// What the wire does to each frame, as probabilities in 0..=1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Drop the frame.
    pub loss: f64,
    /// Send it twice.
    pub duplicate: f64,
    /// Put it in the slow class (`slow_priority`, an HTB class id `major:minor` as
    /// `major << 16 | minor`): delayed behind the slow class's queue, so later frames
    /// of the fast class overtake it.
    pub slow: f64,
    /// The HTB class of slow frames on the target's egress.
    pub slow_priority: u32,
}

/// A probability as a threshold for a uniform `u32`.
fn threshold(p: f64) -> i32 {
    ((p.clamp(0.0, 1.0) * 4_294_967_295.0) as u32) as i32
}

/// The program for frames going to `target` (an ifindex in the same namespace).
fn program(imp: &Impairment, target: u32) -> [Insn; 19] {
    let t = target as i32;
    [
        Insn::new(MOV64_X, 6, 1, 0, 0),
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_GET_PRANDOM_U32),
        Insn::new(JLT32_K, 0, 0, 14, threshold(imp.loss)), // -> drop (17)
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_GET_PRANDOM_U32),
        Insn::new(JGE32_K, 0, 0, 2, threshold(imp.slow)), // -> 7
        Insn::new(MOV64_K, 1, 0, 0, imp.slow_priority as i32),
        Insn::new(STX_W, 6, 1, SKB_PRIORITY, 0),
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_GET_PRANDOM_U32),
        Insn::new(JGE32_K, 0, 0, 4, threshold(imp.duplicate)), // -> 13
        Insn::new(MOV64_X, 1, 6, 0, 0),
        Insn::new(MOV64_K, 2, 0, 0, t),
        Insn::new(MOV64_K, 3, 0, 0, 0),
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_CLONE_REDIRECT),
        Insn::new(MOV64_K, 1, 0, 0, t),
        Insn::new(MOV64_K, 2, 0, 0, 0),
        Insn::new(CALL, 0, 0, 0, BPF_FUNC_REDIRECT),
        Insn::new(EXIT, 0, 0, 0, 0),
        Insn::new(MOV64_K, 0, 0, 0, TC_ACT_SHOT),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]
}

/// One direction of an impairing wire: frames arriving on `from` go to `to`.
pub struct TcxWire {
    _prog: OwnedFd,
    _link: OwnedFd,
}

impl TcxWire {
    /// Attach, in the calling thread's network namespace, a program at the tc
    /// ingress of `from` (an ifindex) that impairs each frame by `imp` and
    /// redirects it to the egress of `to`.
    pub fn attach(from: u32, to: u32, imp: &Impairment) -> Result<TcxWire, XdpError> {
        let insns = program(imp, to);
        let prog = load_prog(
            BPF_PROG_TYPE_SCHED_CLS,
            0,
            &insns,
            "synfin_wire",
            "load the wire program",
        )?;
        let mut link = LinkCreateAttr {
            prog_fd: u32::try_from(prog.as_raw_fd()).unwrap_or(u32::MAX),
            target_ifindex: from,
            attach_type: BPF_TCX_INGRESS,
            flags: 0,
        };
        let link = bpf_fd(BPF_LINK_CREATE, &mut link).map_err(|source| XdpError::Bpf {
            step: "attach the wire program (tcx ingress)",
            source,
            log: String::new(),
        })?;
        Ok(TcxWire {
            _prog: prog,
            _link: link,
        })
    }
}

/// The ifindex of `name` in the calling thread's namespace.
pub fn ifindex_of(name: &str) -> io::Result<u32> {
    super::bpf::ifindex(&super::Iface::from(name)).map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_cover_the_whole_range() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0) as u32, u32::MAX);
        assert_eq!(threshold(0.5) as u32, u32::MAX / 2);
        let p = program(&Impairment::default(), 7);
        // Every jump lands inside the program.
        for (i, insn) in p.iter().enumerate() {
            if insn.code == JLT32_K || insn.code == JGE32_K {
                assert!(i + 1 + (insn.off as usize) < p.len());
            }
        }
    }
}
