//! The testbed: a generator namespace and a DUT namespace joined by one veth pair,
//! addressed from 198.18.0.0/15 with no default route. [`netns`] has the helpers for
//! working inside a namespace (run a closure or a command there, sysctls, counters,
//! interfaces).

mod error;
pub mod netns;
mod sys;

pub use error::{Result, TestbedError};
