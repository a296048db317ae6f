//! Wire formats: typed views over byte buffers and plain representations for
//! Ethernet II, ARP, IPv4 and TCP, and the Internet checksum.

pub mod tcp;
