//! Working inside a named network namespace (`/run/netns/NAME`, as `ip netns`
//! makes them): run a closure in it, run a command in it, read and write its
//! sysctls, read its SNMP counters, look up its interfaces.
//!
//! A closure runs on a fresh thread that entered the namespace with
//! `setns(CLONE_NEWNET)` and ends afterwards, so the caller's threads never change
//! namespace. Sockets made inside the closure belong to the namespace for their whole
//! life, and may be returned and used from any thread.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::{Result, TestbedError};
use super::sys;
use crate::wire::EthernetAddress;

/// Where `ip netns` keeps the names of network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Checks that `ns` can be a namespace name: a plain file name under
/// [`NETNS_DIR`] (no `/`, not `.` or `..`, no NUL, at most 255 bytes).
pub fn validate_ns_name(ns: &str) -> Result<()> {
    if ns.is_empty()
        || ns == "."
        || ns == ".."
        || ns.len() > 255
        || ns.contains('/')
        || ns.contains('\0')
    {
        return Err(TestbedError::InvalidConfig(format!(
            "{ns:?} is not a network namespace name"
        )));
    }
    Ok(())
}

fn ns_path(ns: &str) -> Result<PathBuf> {
    validate_ns_name(ns)?;
    Ok(Path::new(NETNS_DIR).join(ns))
}

/// Whether a namespace named `ns` exists (has an entry in [`NETNS_DIR`]).
pub fn exists(ns: &str) -> bool {
    ns_path(ns).map(|p| p.exists()).unwrap_or(false)
}

/// The names of all named network namespaces, sorted.
pub fn list() -> Result<Vec<String>> {
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TestbedError::io(format!("reading {NETNS_DIR}"), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TestbedError::io(format!("reading {NETNS_DIR}"), e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// The identity (device, inode) of the namespace that `ns` names, or `None` if there
/// is no such name. Two namespaces alive at once never share it.
pub(crate) fn identity(ns: &str) -> Option<(u64, u64)> {
    let meta = fs::metadata(ns_path(ns).ok()?).ok()?;
    Some((meta.dev(), meta.ino()))
}

fn open_ns(ns: &str) -> Result<File> {
    let path = ns_path(ns)?;
    File::open(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            TestbedError::NoSuchNamespace(ns.to_owned())
        } else {
            TestbedError::io(format!("opening {}", path.display()), e)
        }
    })
}

fn run_on_thread<R, F>(ns: &str, with_sysfs: bool, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let file = open_ns(ns)?;
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("netns {ns}"))
            .spawn_scoped(scope, move || -> Result<R> {
                sys::setns_net(&file)
                    .map_err(|e| TestbedError::io(format!("entering network namespace {ns}"), e))?;
                drop(file);
                if with_sysfs {
                    sys::private_sysfs().map_err(|e| {
                        TestbedError::io(format!("mounting the sysfs of namespace {ns}"), e)
                    })?;
                }
                Ok(f())
            })
            .map_err(|e| TestbedError::io("starting a thread", e))?;
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `f` on a fresh thread inside network namespace `ns` and returns what it
/// returns. A panic in `f` is passed on to the caller.
///
/// Inside, sockets, `/proc/sys/net` and `/proc/thread-self/net` are the namespace's.
/// `/sys/class/net` is not (sysfs shows the namespace that mounted it): use
/// [`run_in_with_sysfs`] for that. (`/proc/net` is `/proc/self/net`, the main
/// thread's view; use `/proc/thread-self/net`.)
pub fn run_in<R, F>(ns: &str, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    run_on_thread(ns, false, f)
}

/// Like [`run_in`], and the thread also gets a private mount namespace with a fresh
/// sysfs on `/sys`, so `/sys/class/net/*` are the devices of `ns` (as under
/// `ip netns exec`). Nothing outside the thread sees that mount.
pub fn run_in_with_sysfs<R, F>(ns: &str, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    run_on_thread(ns, true, f)
}

fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `cmd` to completion (feeding it `stdin` if given) and returns its output; a
/// command that cannot start or exits with failure is an error carrying its stderr.
pub(crate) fn run_command(cmd: &mut Command, stdin: Option<&str>) -> Result<Output> {
    let line = describe(cmd);
    let failed = |stderr: String| TestbedError::Command {
        command: line.clone(),
        status: None,
        stderr,
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| failed(e.to_string()))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // A command that exits early closes the pipe; its status tells why.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: line,
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out)
}

/// Runs `ip ARGS` (with `-n NS` first when `ns` is given) and returns its stdout.
pub(crate) fn ip<S: AsRef<OsStr>>(ns: Option<&str>, args: &[S]) -> Result<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        validate_ns_name(ns)?;
        cmd.arg("-n").arg(ns);
    }
    cmd.args(args);
    let out = run_command(&mut cmd, None)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip -n NS -batch -` with `script` (one `ip` command a line) on stdin.
pub(crate) fn ip_batch(ns: &str, script: &str) -> Result<()> {
    validate_ns_name(ns)?;
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns, "-batch", "-"]);
    run_command(&mut cmd, Some(script)).map(|_| ())
}

/// A [`Command`] that runs `program` inside namespace `ns` (`ip netns exec NS
/// PROGRAM`); add arguments, then spawn it or wait for it as usual. Under `ip netns
/// exec` the program also sees the namespace's own `/sys`.
pub fn command(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.arg("netns").arg("exec").arg(ns).arg(program);
    cmd
}

/// Runs `program ARGS` inside namespace `ns` and returns its output. It is an error if
/// the namespace does not exist, the program cannot start, or it exits with failure
/// (the error carries its stderr).
pub fn exec<I, S>(ns: &str, program: impl AsRef<OsStr>, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    validate_ns_name(ns)?;
    if !exists(ns) {
        return Err(TestbedError::NoSuchNamespace(ns.to_owned()));
    }
    let mut cmd = command(ns, program);
    cmd.args(args);
    run_command(&mut cmd, None)
}

/// The file under `/proc/sys` for a sysctl key, dotted (`net.ipv4.tcp_tw_reuse`) or
/// with slashes (`net/ipv4/conf/eth0.5/rp_filter`, for names containing dots).
fn sysctl_path(key: &str) -> Result<PathBuf> {
    let bad = || TestbedError::InvalidConfig(format!("{key:?} is not a sysctl key"));
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
    {
        return Err(bad());
    }
    let rel = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    if rel
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad());
    }
    Ok(Path::new("/proc/sys").join(rel))
}

/// Reads sysctl `key` as seen inside namespace `ns` (trailing newline removed;
/// multi-value keys such as `net.ipv4.ip_local_port_range` keep their tab).
pub fn sysctl_get(ns: &str, key: &str) -> Result<String> {
    let path = sysctl_path(key)?;
    run_in(ns, || fs::read_to_string(&path))?
        .map(|s| s.trim_end_matches('\n').to_owned())
        .map_err(|e| TestbedError::io(format!("reading {key} in namespace {ns}"), e))
}

/// Writes sysctl `key` inside namespace `ns`. Only `net.*` keys are accepted: those
/// that exist inside a namespace are the namespace's own, so nothing outside changes
/// (host-wide ones such as `net.ipv4.tcp_max_orphans` do not exist inside one).
pub fn sysctl_set(ns: &str, key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    if !path.starts_with("/proc/sys/net/") {
        return Err(TestbedError::InvalidConfig(format!(
            "refusing to set {key}: only per-namespace net.* sysctls are set by the testbed"
        )));
    }
    run_in(ns, || fs::write(&path, value))?
        .map_err(|e| TestbedError::io(format!("setting {key}={value} in namespace {ns}"), e))
}

/// Adds the counters of one `/proc/net/snmp`-style file (pairs of lines `Prefix:
/// names...` / `Prefix: values...`) to `out`, named as `nstat` names them: prefix and
/// field run together (`TcpActiveOpens`, `TcpExtPAWSTimewait`). Values that are not
/// unsigned (only `TcpMaxConn`, which is -1) are left out.
pub(crate) fn parse_snmp(text: &str, out: &mut BTreeMap<String, u64>) -> Result<()> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| TestbedError::parse("a counter file (header without values)", header))?;
        let (prefix, names) = header
            .split_once(':')
            .ok_or_else(|| TestbedError::parse("a counter header", header))?;
        let (vprefix, vals) = values
            .split_once(':')
            .ok_or_else(|| TestbedError::parse("a counter line", values))?;
        if prefix != vprefix {
            return Err(TestbedError::parse(
                "a counter line (prefix mismatch)",
                values,
            ));
        }
        for (name, val) in names.split_whitespace().zip(vals.split_whitespace()) {
            if let Ok(v) = val.parse::<u64>() {
                out.insert(format!("{prefix}{name}"), v);
            }
        }
    }
    Ok(())
}

/// The kernel's SNMP and extended counters inside namespace `ns`
/// (`/proc/net/snmp` and `/proc/net/netstat` of the namespace), by `nstat` name:
/// `TcpActiveOpens`, `TcpExtListenDrops`, `TcpExtPAWSTimewait`, `IpExtInOctets`, ...
/// Absolute values, as `nstat -az` prints them; take differences yourself.
pub fn nstat(ns: &str) -> Result<BTreeMap<String, u64>> {
    let texts = run_in(ns, || -> io::Result<Vec<String>> {
        [
            "/proc/thread-self/net/snmp",
            "/proc/thread-self/net/netstat",
        ]
        .iter()
        .map(fs::read_to_string)
        .collect()
    })?
    .map_err(|e| TestbedError::io(format!("reading the counters of namespace {ns}"), e))?;
    let mut out = BTreeMap::new();
    for text in &texts {
        parse_snmp(text, &mut out)?;
    }
    Ok(out)
}

/// The interface index of `ifname` inside namespace `ns`.
pub fn ifindex(ns: &str, ifname: &str) -> Result<u32> {
    run_in(ns, || sys::ifindex(ifname))?
        .map_err(|e| TestbedError::io(format!("interface {ifname} in namespace {ns}"), e))
}

/// Whether interface `ifname` exists inside namespace `ns`.
pub(crate) fn link_exists(ns: &str, ifname: &str) -> Result<bool> {
    match run_in(ns, || sys::ifindex(ifname))? {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
        Err(e) => Err(TestbedError::io(
            format!("looking up {ifname} in namespace {ns}"),
            e,
        )),
    }
}

/// The MAC address of `ifname` inside namespace `ns`.
pub fn mac_of(ns: &str, ifname: &str) -> Result<EthernetAddress> {
    run_in(ns, || sys::hwaddr(ifname))?
        .map(EthernetAddress)
        .map_err(|e| TestbedError::io(format!("MAC address of {ifname} in namespace {ns}"), e))
}

/// TIME-WAIT sockets in a namespace now (`/proc/net/sockstat`, "tw").
pub fn time_wait_sockets(ns: &str) -> Option<u64> {
    let text = run_in(ns, || {
        std::fs::read_to_string("/proc/thread-self/net/sockstat")
    })
    .ok()?
    .ok()?;
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let mut it = line.split_whitespace();
    while let Some(w) = it.next() {
        if w == "tw" {
            return it.next()?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_pairs_are_named_like_nstat() {
        let text = "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 42\n\
                    TcpExt: SyncookiesSent PAWSTimewait\nTcpExt: 0 7\n";
        let mut out = BTreeMap::new();
        parse_snmp(text, &mut out).unwrap();
        assert_eq!(out.get("TcpActiveOpens"), Some(&42));
        assert_eq!(out.get("TcpExtPAWSTimewait"), Some(&7));
        assert_eq!(out.get("TcpRtoAlgorithm"), Some(&1));
        assert!(!out.contains_key("TcpMaxConn"));
    }

    #[test]
    fn snmp_rejects_mismatched_pairs() {
        let mut out = BTreeMap::new();
        assert!(parse_snmp("Tcp: A\nUdp: 1\n", &mut out).is_err());
        assert!(parse_snmp("Tcp: A\n", &mut out).is_err());
    }

    #[test]
    fn sysctl_keys_map_to_proc_sys() {
        assert_eq!(
            sysctl_path("net.ipv4.tcp_tw_reuse").unwrap(),
            Path::new("/proc/sys/net/ipv4/tcp_tw_reuse")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.5/rp_filter").unwrap(),
            Path::new("/proc/sys/net/ipv4/conf/eth0.5/rp_filter")
        );
        for bad in [
            "",
            "net..x",
            "net/../etc",
            "/net/x",
            "net.ipv4 x",
            "net/./x",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_names_are_plain_file_names() {
        assert!(validate_ns_name("synfin-gen").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(validate_ns_name(bad).is_err(), "{bad:?}");
        }
    }
}
