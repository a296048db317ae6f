//! engine (to be written).
pub mod slab;
pub mod wheel;
