//! What a testbed looks like right now, read from the kernel (not from synfin's
//! record), and its text form.

use std::fmt;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use super::config::TestbedConfig;
use super::error::{Result, TestbedError};
use super::netns;
use super::sys::{self, ethtool};
use crate::wire::EthernetAddress;

/// The DUT sysctls that decide how it handles connection churn, in the order shown.
pub const DUT_SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_tw_reuse_delay",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.ip_local_port_range",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_fin_timeout",
];

/// Whose a namespace name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// There is no namespace of that name.
    Absent,
    /// synfin made it (and has it on record).
    Ours,
    /// It exists, but synfin did not make it.
    Foreign,
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Presence::Absent => "absent",
            Presence::Ours => "made by synfin",
            Presence::Foreign => "NOT made by synfin",
        })
    }
}

/// Offload flags of an interface (`None`: could not be read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offloads {
    /// TX checksum offload (`ethtool -k`: tx-checksumming).
    pub tx_checksum: Option<bool>,
    /// TCP segmentation offload.
    pub tso: Option<bool>,
    /// Generic segmentation offload.
    pub gso: Option<bool>,
    /// Generic receive offload.
    pub gro: Option<bool>,
}

impl Offloads {
    /// Reads them for `ifname` in the calling thread's namespace.
    pub(crate) fn read_here(ifname: &str) -> Offloads {
        let get = |cmd| sys::ethtool_get(ifname, cmd).ok();
        Offloads {
            tx_checksum: get(ethtool::GTXCSUM),
            tso: get(ethtool::GTSO),
            gso: get(ethtool::GGSO),
            gro: get(ethtool::GGRO),
        }
    }

    /// Whether all four are known to be off.
    pub fn all_off(&self) -> bool {
        [self.tx_checksum, self.tso, self.gso, self.gro]
            .iter()
            .all(|v| *v == Some(false))
    }
}

impl fmt::Display for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<bool>| match v {
            Some(true) => "on",
            Some(false) => "off",
            None => "?",
        };
        write!(
            f,
            "tx-csum {} tso {} gso {} gro {}",
            show(self.tx_checksum),
            show(self.tso),
            show(self.gso),
            show(self.gro)
        )
    }
}

/// One veth end as the kernel has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// Interface name.
    pub ifname: String,
    /// Interface index inside its namespace.
    pub ifindex: u32,
    /// MAC address.
    pub mac: EthernetAddress,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Operational state (`up`, `down`, `lowerlayerdown`, ...).
    pub operstate: String,
    /// The interface alias (`synfin-testbed:<name>` on synfin's).
    pub alias: Option<String>,
    /// IPv4 addresses with prefix lengths.
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// Receive queues in use (`/sys/class/net/IF/queues/rx-*`).
    pub rx_queues: u32,
    /// Transmit queues in use (`/sys/class/net/IF/queues/tx-*`).
    pub tx_queues: u32,
    /// `rps_cpus` of each receive queue, in queue order.
    pub rps_cpus: Vec<String>,
    /// Offload flags.
    pub offloads: Offloads,
    /// `net.ipv6.conf.IF.disable_ipv6` (`None` without IPv6).
    pub ipv6_disabled: Option<bool>,
}

/// One namespace of a testbed and its veth end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceStatus {
    /// The namespace's name.
    pub namespace: String,
    /// Whether it exists and whose it is.
    pub presence: Presence,
    /// Its veth end, if it is synfin's and the end exists.
    pub link: Option<LinkStatus>,
}

/// A testbed as it is now ([`super::Testbed::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestbedStatus {
    /// The testbed's name.
    pub name: String,
    /// The configuration synfin recorded when it made it.
    pub config: Option<TestbedConfig>,
    /// The generator side.
    pub generator: NamespaceStatus,
    /// The DUT side.
    pub dut: NamespaceStatus,
    /// Permanent neighbour entries on the DUT end (for the generator's sources), and
    /// how many of them point at the generator veth's MAC address.
    pub dut_neighbours: (usize, usize),
    /// The [`DUT_SYSCTLS`] in the DUT namespace (`None`: not readable there).
    pub dut_sysctls: Vec<(String, Option<String>)>,
}

impl TestbedStatus {
    /// Whether both namespaces exist and are synfin's.
    pub fn exists(&self) -> bool {
        self.generator.presence == Presence::Ours && self.dut.presence == Presence::Ours
    }

    /// Whether the testbed is complete: both namespaces synfin's, both veth ends
    /// present and up.
    pub fn is_up(&self) -> bool {
        self.exists()
            && [&self.generator, &self.dut]
                .iter()
                .all(|n| n.link.as_ref().is_some_and(|l| l.admin_up))
    }

    /// The value of one of the DUT sysctls, if read.
    pub fn dut_sysctl(&self, key: &str) -> Option<&str> {
        self.dut_sysctls
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }
}

fn read_trim(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_owned())
}

fn count_queues(dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort_by_key(|n| n[prefix.len()..].parse::<u32>().unwrap_or(u32::MAX));
    Ok(names)
}

/// The receive queue directories (`rx-0`, `rx-1`, ...) of `ifname`, read in a thread
/// with the namespace's sysfs.
pub(crate) fn rx_queue_dirs(ifname: &str) -> io::Result<Vec<String>> {
    count_queues(
        &Path::new("/sys/class/net").join(ifname).join("queues"),
        "rx-",
    )
}

struct SysfsLink {
    ifindex: u32,
    mac: EthernetAddress,
    admin_up: bool,
    operstate: String,
    alias: Option<String>,
    rx_queues: u32,
    tx_queues: u32,
    rps_cpus: Vec<String>,
    offloads: Offloads,
    ipv6_disabled: Option<bool>,
}

/// Reads what sysfs, sysctl and ethtool say about `ifname`; to run inside the
/// namespace with its sysfs.
fn read_link_here(ifname: &str) -> io::Result<Option<SysfsLink>> {
    let dir = Path::new("/sys/class/net").join(ifname);
    if !dir.exists() {
        return Ok(None);
    }
    let bad = |what: &str, text: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} of {ifname}: {text:?}"),
        )
    };
    let ifindex_text = read_trim(&dir.join("ifindex"))?;
    let ifindex = ifindex_text
        .parse()
        .map_err(|_| bad("ifindex", &ifindex_text))?;
    let flags_text = read_trim(&dir.join("flags"))?;
    let flags = u32::from_str_radix(flags_text.trim_start_matches("0x"), 16)
        .map_err(|_| bad("flags", &flags_text))?;
    let alias = read_trim(&dir.join("ifalias"))
        .ok()
        .filter(|a| !a.is_empty());
    let queues = dir.join("queues");
    let rx = count_queues(&queues, "rx-")?;
    let tx = count_queues(&queues, "tx-")?;
    let rps_cpus = rx
        .iter()
        .map(|q| read_trim(&queues.join(q).join("rps_cpus")).unwrap_or_else(|_| "?".to_owned()))
        .collect();
    let ipv6_disabled = read_trim(
        &Path::new("/proc/sys/net/ipv6/conf")
            .join(ifname)
            .join("disable_ipv6"),
    )
    .ok()
    .map(|v| v == "1");
    Ok(Some(SysfsLink {
        ifindex,
        mac: EthernetAddress(sys::hwaddr(ifname)?),
        admin_up: flags & libc::IFF_UP as u32 != 0,
        operstate: read_trim(&dir.join("operstate"))?,
        alias,
        rx_queues: rx.len() as u32,
        tx_queues: tx.len() as u32,
        rps_cpus,
        offloads: Offloads::read_here(ifname),
        ipv6_disabled,
    }))
}

/// The IPv4 addresses of `ifname` in `ns`, from `ip -j -4 addr show`.
pub(crate) fn addresses(ns: &str, ifname: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
    let text = netns::ip(Some(ns), &["-j", "-4", "addr", "show", "dev", ifname])?;
    let what = || format!("`ip -j addr` output for {ifname} in {ns}");
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| TestbedError::parse(what(), &text))?;
    let mut out = Vec::new();
    for link in json.as_array().into_iter().flatten() {
        for info in link["addr_info"].as_array().into_iter().flatten() {
            let local = info["local"].as_str().and_then(|s| s.parse().ok());
            let len = info["prefixlen"]
                .as_u64()
                .and_then(|l| u8::try_from(l).ok());
            match (local, len) {
                (Some(a), Some(l)) => out.push((a, l)),
                _ => return Err(TestbedError::parse(what(), &text)),
            }
        }
    }
    Ok(out)
}

/// The kernel's view of veth end `ifname` in `ns`, or `None` if it does not exist.
pub(crate) fn link_status(ns: &str, ifname: &str) -> Result<Option<LinkStatus>> {
    let owned = ifname.to_owned();
    let here = netns::run_in_with_sysfs(ns, move || read_link_here(&owned))?
        .map_err(|e| TestbedError::io(format!("reading {ifname} in namespace {ns}"), e))?;
    let Some(l) = here else {
        return Ok(None);
    };
    Ok(Some(LinkStatus {
        ifname: ifname.to_owned(),
        ifindex: l.ifindex,
        mac: l.mac,
        admin_up: l.admin_up,
        operstate: l.operstate,
        alias: l.alias,
        addresses: addresses(ns, ifname)?,
        rx_queues: l.rx_queues,
        tx_queues: l.tx_queues,
        rps_cpus: l.rps_cpus,
        offloads: l.offloads,
        ipv6_disabled: l.ipv6_disabled,
    }))
}

/// Permanent neighbour entries on `ifname` in `ns`: how many, and how many have
/// link-layer address `mac`.
pub(crate) fn permanent_neighbours(
    ns: &str,
    ifname: &str,
    mac: Option<EthernetAddress>,
) -> Result<(usize, usize)> {
    let text = netns::ip(
        Some(ns),
        &["-4", "neigh", "show", "dev", ifname, "nud", "permanent"],
    )?;
    let mac = mac.map(|m| m.to_string());
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let matching = lines
        .iter()
        .filter(|l| {
            mac.as_deref()
                .is_some_and(|m| l.split_whitespace().any(|w| w.eq_ignore_ascii_case(m)))
        })
        .count();
    Ok((lines.len(), matching))
}

/// Reads [`DUT_SYSCTLS`] in `ns`.
pub(crate) fn dut_sysctls(ns: &str) -> Result<Vec<(String, Option<String>)>> {
    netns::run_in(ns, || {
        DUT_SYSCTLS
            .iter()
            .map(|key| {
                let path = Path::new("/proc/sys").join(key.replace('.', "/"));
                let value = fs::read_to_string(path)
                    .ok()
                    .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
                ((*key).to_owned(), value)
            })
            .collect()
    })
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "veth {} ifindex {} mac {} {} ({})",
            self.ifname,
            self.ifindex,
            self.mac,
            if self.admin_up { "UP" } else { "DOWN" },
            self.operstate
        )?;
        for (a, l) in &self.addresses {
            write!(f, " {a}/{l}")?;
        }
        write!(
            f,
            "\n      queues rx {} tx {}, rps_cpus {}, {}, ipv6 {}",
            self.rx_queues,
            self.tx_queues,
            if self.rps_cpus.is_empty() {
                "-".to_owned()
            } else {
                self.rps_cpus.join(",")
            },
            self.offloads,
            match self.ipv6_disabled {
                Some(true) => "disabled",
                Some(false) => "enabled",
                None => "n/a",
            }
        )?;
        if let Some(alias) = &self.alias {
            write!(f, ", alias {alias}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TestbedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_up() {
            "up"
        } else if self.exists() {
            "incomplete (run `synfin testbed up` again, or `down`)"
        } else if self.generator.presence == Presence::Absent
            && self.dut.presence == Presence::Absent
        {
            "down"
        } else {
            "not usable"
        };
        writeln!(f, "testbed {}: {state}", self.name)?;
        for (role, ns) in [("generator", &self.generator), ("dut", &self.dut)] {
            writeln!(
                f,
                "  {role:<9} namespace {} ({})",
                ns.namespace, ns.presence
            )?;
            if let Some(link) = &ns.link {
                writeln!(f, "      {link}")?;
            } else if ns.presence == Presence::Ours {
                writeln!(f, "      no veth end")?;
            }
        }
        if let Some(cfg) = &self.config {
            writeln!(
                f,
                "  sources   {} ({} addresses; {} permanent neighbour entries on the DUT end, \
                 {} to the generator's MAC)",
                cfg.src_arg(),
                cfg.sources,
                self.dut_neighbours.0,
                self.dut_neighbours.1
            )?;
            writeln!(
                f,
                "  service   {} (generator end {}); RPS cpu: generator {}, dut {}",
                cfg.dut_addr,
                cfg.gen_addr,
                cfg.gen_cpu.map_or("off".to_owned(), |c| c.to_string()),
                cfg.dut_cpu.map_or("off".to_owned(), |c| c.to_string()),
            )?;
        }
        if !self.dut_sysctls.is_empty() {
            writeln!(f, "  dut sysctls")?;
            for (k, v) in &self.dut_sysctls {
                writeln!(f, "      {k} = {}", v.as_deref().unwrap_or("(absent)"))?;
            }
        }
        Ok(())
    }
}
