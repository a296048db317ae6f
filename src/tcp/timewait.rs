//! TIME-WAIT as a compact record (RFC 9293 §3.10.7.4, RFC 7323 §5, RFC 6191).
//!
//! When a connection reaches TIME-WAIT its control block is freed and replaced by a
//! [`TimeWaitRecord`]: just what is needed to re-acknowledge a retransmitted FIN, to
//! judge a SYN that wants to reuse the tuple, and to know when the wait ends. The
//! 4-tuple itself is the key under which the engine files the record.

use super::Event;
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// A connection in TIME-WAIT: 24 bytes instead of a control block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeWaitRecord {
    /// SND.NXT: our FIN has been sent and acknowledged, so this is one past it.
    pub snd_nxt: SeqNumber,
    /// RCV.NXT: one past the peer's FIN.
    pub rcv_nxt: SeqNumber,
    /// TS.Recent (RFC 7323 §4.3), valid when `ts_ok`.
    pub ts_recent: u32,
    /// When the record entered TIME-WAIT, in ms of engine time (for reuse judgements).
    pub entered_ms: u32,
    /// When TIME-WAIT ends, in ms of engine time.
    pub expires_ms: u32,
    /// The window field of the connection's segments (its receive window, scaled
    /// only when window scaling was agreed), which the re-acknowledgements carry.
    pub window: u16,
    /// Timestamps were negotiated on the connection.
    pub ts_ok: bool,
    /// Generation tag the engine uses to skip stale timer entries.
    pub generation: u8,
}

// The window field fills what was padding: the record stays 24 bytes.
const _: () = assert!(std::mem::size_of::<TimeWaitRecord>() == 24);

/// What to do with a segment that reached a TIME-WAIT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwVerdict {
    /// Ignore it.
    Drop,
    /// Send [`TimeWaitRecord::ack`]; the record's expiry may have been restarted.
    Ack,
    /// An acceptable RST: end TIME-WAIT now (Linux's default, tcp_rfc1337 = 0).
    Close,
    /// A SYN that may open a new incarnation of the tuple (RFC 6191: its timestamp,
    /// or without timestamps its sequence number, is newer than the old
    /// connection's): end TIME-WAIT and hand the SYN to the listener.
    Reopen,
}

impl TimeWaitRecord {
    /// Judge a segment that arrived in TIME-WAIT at `now_ms`. A retransmitted FIN is
    /// re-acknowledged and restarts the 2·MSL timer (`tw_len_ms`) (RFC 9293
    /// §3.10.7.4, "eighth, check the FIN bit"). Events go to `event`.
    pub fn on_segment(
        &mut self,
        seg: &TcpRepr,
        now_ms: u32,
        tw_len_ms: u32,
        mut event: impl FnMut(Event),
    ) -> TwVerdict {
        let flags = seg.flags;
        let ts = seg.options.timestamps;
        // RFC 7323 §5.3: PAWS applies in TIME-WAIT too; a RST is never answered.
        if self.ts_ok
            && let Some(ts) = ts
            && (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
        {
            if flags.rst() {
                return TwVerdict::Drop;
            }
            if flags.syn() && !flags.ack() {
                // An old SYN: answer with the ACK that tells its sender where we are.
                event(Event::PawsRejected);
                return TwVerdict::Ack;
            }
            event(Event::PawsRejected);
            return TwVerdict::Ack;
        }
        if flags.rst() {
            // RFC 9293: an RST in the window (here: at RCV.NXT) closes TIME-WAIT.
            if seg.seq == self.rcv_nxt {
                event(Event::RstReceived);
                return TwVerdict::Close;
            }
            return TwVerdict::Drop;
        }
        if flags.syn() && !flags.ack() {
            // RFC 6191 §2: accept a new incarnation if its timestamp is newer, or,
            // without timestamps, if its ISN is past what the old one used.
            // With equal timestamps the sequence number decides (RFC 6191 §2,
            // second rule; PAWS above has already answered older ones). Before,
            // an equal TSval was always refused.
            let newer = match (self.ts_ok, ts) {
                (true, Some(ts)) => match ts.tsval.wrapping_sub(self.ts_recent) as i32 {
                    0 => seg.seq > self.rcv_nxt,
                    d => d > 0,
                },
                _ => seg.seq > self.rcv_nxt,
            };
            return if newer {
                TwVerdict::Reopen
            } else {
                TwVerdict::Ack
            };
        }
        if flags.fin() && seg.seq + seg.seq_len() == self.rcv_nxt {
            // The peer did not get our last ACK and sent its FIN again.
            if let Some(ts) = ts {
                self.ts_recent = ts.tsval;
            }
            self.expires_ms = now_ms.wrapping_add(tw_len_ms);
            event(Event::TimeWaitFinReacked);
            return TwVerdict::Ack;
        }
        if seg.payload_len > 0 || flags.fin() || flags.syn() {
            // Anything else that occupies sequence space is not acceptable in
            // TIME-WAIT: acknowledge it (RFC 9293 "first, check sequence number").
            return TwVerdict::Ack;
        }
        TwVerdict::Drop
    }

    /// The ACK TIME-WAIT sends: SEQ = SND.NXT, ACK = RCV.NXT, the connection's
    /// window field.
    pub fn ack(&self, local_port: u16, remote_port: u16, tsval: u32) -> TcpRepr {
        TcpRepr {
            src_port: local_port,
            dst_port: remote_port,
            seq: self.snd_nxt,
            ack: self.rcv_nxt,
            flags: TcpFlags::ACK,
            window: self.window,
            options: TcpOptions {
                timestamps: self.ts_ok.then_some(Timestamps {
                    tsval,
                    tsecr: self.ts_recent,
                }),
                ..TcpOptions::default()
            },
            payload_len: 0,
        }
    }

    /// Whether TIME-WAIT has run out at `now_ms`.
    #[inline]
    pub fn expired(&self, now_ms: u32) -> bool {
        (now_ms.wrapping_sub(self.expires_ms) as i32) >= 0
    }
}
