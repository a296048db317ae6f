//! Sysctls set inside the test bed's namespaces for one measurement, and put back.
//!
//! [`SysctlGuard::set`] reads a key's value before writing it; [`SysctlGuard::restore`]
//! (or dropping the guard, also on error or panic) writes every original back, newest
//! first, and reads each back to check it.

use serde::Serialize;

use crate::testbed::netns;

/// One sysctl a measurement set: where, what, what it was, and whether it was put back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppliedSysctl {
    /// The namespace it was set in.
    pub netns: String,
    /// The key (`net.ipv4.tcp_tw_reuse`).
    pub key: String,
    /// The value set.
    pub value: String,
    /// The value before (and after the restore).
    pub original: String,
    /// Read back equal to `original` after the restore.
    pub restored: bool,
}

/// Sysctls set for a measurement; restored when dropped.
#[derive(Debug, Default)]
pub struct SysctlGuard {
    applied: Vec<AppliedSysctl>,
}

/// Multi-value keys (`ip_local_port_range`) read back with tabs and are written with
/// spaces; compare them by their words.
fn same(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

impl SysctlGuard {
    /// No sysctl set yet.
    pub fn new() -> SysctlGuard {
        SysctlGuard::default()
    }

    /// Sets `key` to `value` in namespace `ns`, remembering what it was.
    pub fn set(&mut self, ns: &str, key: &str, value: &str) -> Result<(), String> {
        let original = netns::sysctl_get(ns, key).map_err(|e| e.to_string())?;
        netns::sysctl_set(ns, key, value).map_err(|e| e.to_string())?;
        self.applied.push(AppliedSysctl {
            netns: ns.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            original,
            restored: false,
        });
        Ok(())
    }

    /// What has been set so far.
    pub fn applied(&self) -> &[AppliedSysctl] {
        &self.applied
    }

    /// Puts every original back (newest first), checks each, and returns the record.
    pub fn restore(mut self) -> Vec<AppliedSysctl> {
        self.restore_all();
        std::mem::take(&mut self.applied)
    }

    fn restore_all(&mut self) {
        for a in self.applied.iter_mut().rev() {
            if a.restored {
                continue;
            }
            let _ = netns::sysctl_set(&a.netns, &a.key, &a.original);
            a.restored = netns::sysctl_get(&a.netns, &a.key)
                .map(|now| same(&now, &a.original))
                .unwrap_or(false);
        }
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        self.restore_all();
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn multi_value_sysctls_compare_by_words() {
        assert!(same("32768\t60999", "32768 60999"));
        assert!(!same("1024\t65535", "32768 60999"));
    }
}
