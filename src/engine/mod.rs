//! engine (to be written).
pub mod flow_table;
pub mod slab;
pub mod tuple_index;
pub mod wheel;
