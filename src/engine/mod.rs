//! engine (to be written).
pub mod wheel;
