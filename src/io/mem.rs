//! In-memory wire (to be written).
