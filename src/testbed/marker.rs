//! synfin's record of the testbeds it made: one JSON file per testbed under
//! [`MARKER_DIR`] (on /run, a tmpfs, so it lives exactly as long as the namespaces
//! it describes can: until reboot).
//!
//! A namespace counts as synfin's only if the record names it with the identity
//! (device and inode of its nsfs file) it had when synfin made it. A namespace of
//! the same name made by someone else — even after synfin's was removed behind its
//! back — has another identity and is never touched.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::TestbedConfig;
use super::error::{Result, TestbedError};
use super::netns;

/// Where synfin records the testbeds it made.
pub const MARKER_DIR: &str = "/run/synfin/testbed";

const VERSION: u32 = 1;

/// The record of one testbed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// Format version.
    pub version: u32,
    /// The configuration it was made with.
    pub config: TestbedConfig,
    /// Identity of the generator namespace synfin made, once made.
    pub gen_ns_id: Option<(u64, u64)>,
    /// Identity of the DUT namespace synfin made, once made.
    pub dut_ns_id: Option<(u64, u64)>,
}

impl Marker {
    pub fn new(config: TestbedConfig) -> Marker {
        Marker {
            version: VERSION,
            config,
            gen_ns_id: None,
            dut_ns_id: None,
        }
    }
}

/// The marker file of testbed `name` (a validated name).
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(MARKER_DIR).join(format!("{name}.json"))
}

/// Reads the record of testbed `name`, if any.
pub(crate) fn read(name: &str) -> Result<Option<Marker>> {
    let path = path(name);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TestbedError::io(format!("reading {}", path.display()), e)),
    };
    match serde_json::from_str::<Marker>(&text) {
        Ok(m) if m.version == VERSION => Ok(Some(m)),
        _ => Err(TestbedError::parse(
            format!(
                "synfin's testbed record {} (remove the file, and the namespaces by hand)",
                path.display()
            ),
            &text,
        )),
    }
}

/// Writes the record (atomically: a new file renamed over the old one).
pub(crate) fn write(m: &Marker) -> Result<()> {
    let path = path(&m.config.name);
    let ctx = |e| TestbedError::io(format!("writing {}", path.display()), e);
    fs::create_dir_all(MARKER_DIR).map_err(ctx)?;
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let text = serde_json::to_string_pretty(m).expect("a marker serialises");
    fs::write(&tmp, text + "\n").map_err(ctx)?;
    fs::rename(&tmp, &path).map_err(ctx)
}

/// Removes the record of testbed `name`; no record is fine.
pub(crate) fn remove(name: &str) -> Result<()> {
    let path = path(name);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(TestbedError::io(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Who a namespace name belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// No namespace of that name.
    Absent,
    /// The namespace synfin made and recorded.
    Ours,
    /// Someone else's, with the reason synfin does not take it for its own.
    Foreign(String),
}

/// Who namespace `ns` belongs to, given synfin's record of the testbed (`marker`) and
/// the identity it recorded for this namespace (`recorded`).
pub(crate) fn owner(ns: &str, marker: Option<&Marker>, recorded: Option<(u64, u64)>) -> Owner {
    let Some(id) = netns::identity(ns) else {
        return if netns::exists(ns) {
            Owner::Foreign(format!(
                "it cannot be inspected; remove it with `ip netns del {ns}`"
            ))
        } else {
            Owner::Absent
        };
    };
    if marker.is_none() {
        return Owner::Foreign(format!(
            "synfin has no record of it (no {MARKER_DIR}/<name>.json); choose another testbed \
             name, or if it is left over from an interrupted `synfin testbed up`, remove it \
             with `ip netns del {ns}`"
        ));
    }
    if recorded == Some(id) {
        Owner::Ours
    } else {
        Owner::Foreign(format!(
            "it is not the namespace synfin recorded when it made this testbed; choose another \
             testbed name, or remove it with `ip netns del {ns}` if it is yours to remove"
        ))
    }
}
