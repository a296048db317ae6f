//! Kernel sockets: a TCP client and server on the Linux socket API, the baseline
//! users have today and the fallback where AF_XDP is unavailable.
//!
//! - [`sys`]: the thin, safe wrappers over the system calls (the only `unsafe`).

pub mod sys;
