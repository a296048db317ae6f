//! What a side answers to a segment that matches no connection (RFC 9293 §3.10.7.1
//! CLOSED and §3.10.7.2 LISTEN).

use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};

/// The answer to a segment with no connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoConnReply {
    /// Ignore it.
    Drop,
    /// Send this RST.
    Rst(TcpRepr),
    /// A SYN to a listening port: open a connection in SYN-RECEIVED.
    Accept,
}

/// The RST that answers `seg` in CLOSED (RFC 9293 §3.10.7.1): if the segment has
/// ACK, `<SEQ=SEG.ACK><CTL=RST>`; otherwise `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
pub fn reset_for(seg: &TcpRepr) -> TcpRepr {
    let base = TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        window: 0,
        options: TcpOptions::default(),
        payload_len: 0,
        ..TcpRepr::default()
    };
    if seg.flags.ack() {
        TcpRepr {
            seq: seg.ack,
            flags: TcpFlags::RST,
            ..base
        }
    } else {
        TcpRepr {
            ack: seg.seq + seg.seq_len(),
            flags: TcpFlags::RST | TcpFlags::ACK,
            ..base
        }
    }
}

/// The CLOSED state: every segment but a RST is answered with a RST.
pub fn closed(seg: &TcpRepr) -> NoConnReply {
    if seg.flags.rst() {
        NoConnReply::Drop
    } else {
        NoConnReply::Rst(reset_for(seg))
    }
}

/// The LISTEN state (RFC 9293 §3.10.7.2): RST is ignored, an ACK is answered with
/// `<SEQ=SEG.ACK><CTL=RST>`, a SYN opens a connection, anything else is dropped.
pub fn listen(seg: &TcpRepr) -> NoConnReply {
    let f = seg.flags;
    if f.rst() {
        NoConnReply::Drop
    } else if f.ack() {
        NoConnReply::Rst(reset_for(seg))
    } else if f.syn() {
        NoConnReply::Accept
    } else {
        NoConnReply::Drop
    }
}
