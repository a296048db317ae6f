//! engine (to be written).
pub mod pacer;
