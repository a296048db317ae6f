//! Command line (to be written).

/// Entry point of the binary; returns the exit status.
pub fn main() -> i32 {
    0
}
