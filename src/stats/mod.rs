//! Temporary stub of the stats vocabulary the TCP core speaks (replaced by the
//! full module on merge).

/// Latency phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// SYN sent (or scheduled start) → SYN-ACK received.
    Connect,
    /// Request sent → first response byte.
    Ttfb,
    /// First FIN → close handshake done.
    Close,
    /// Start → connection finished.
    Lifecycle,
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailCause {
    /// SYN retries exhausted.
    SynTimeout,
    /// RST answering our SYN.
    Refused,
    /// RST after the handshake, before our close.
    ResetEstablished,
    /// RST during the close handshake.
    ResetClosing,
    /// Request/response retries exhausted.
    DataTimeout,
    /// FIN retries exhausted.
    FinTimeout,
    /// Peer closed before the expected response bytes arrived.
    ShortResponse,
    /// No source tuple could be allocated.
    NoTuple,
    /// Connection table full.
    TableFull,
    /// No frame buffer to send the SYN.
    TxFailed,
}
