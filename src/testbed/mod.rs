//! The testbed: a generator namespace and a DUT namespace joined by one veth pair,
//! addressed from 198.18.0.0/15 with no default route, so that every packet synfin
//! sends on one machine stays between namespaces it made itself.
//!
//! ```text
//!   namespace <name>-gen                          namespace <name>-dut
//!   +---------------------------+                 +---------------------------+
//!   | synfin (AF_XDP, CPU 0)    |                 | DUT server (CPU 1)        |
//!   | sources 198.18.1.0/..     |                 |                           |
//!   | veth <name>-g 198.18.0.1/15 <-------------> veth <name>-d 198.19.0.1/15 |
//!   |   rps_cpus = CPU 0        |                 |   rps_cpus = CPU 1        |
//!   |                           |                 |   tx-csum/tso/gso/gro off |
//!   |                           |                 |   neigh 198.18.1.x -> MAC |
//!   +---------------------------+                 +---------------------------+
//! ```
//!
//! [`Testbed::up`] makes it (and converges an existing one made by synfin with the same
//! configuration), [`Testbed::down`] removes it, [`Testbed::status`] reads it back from
//! the kernel. The addressing plan and the choice of CPUs are documented on
//! [`TestbedConfig`]. [`netns`] has the helpers for working inside a namespace (run a
//! closure or a command there, sysctls, counters, interfaces).
//!
//! # What `up` does, in order
//!
//! 1. Validates the configuration (name: 1–13 of `[A-Za-z0-9_-]`; addresses inside
//!    198.18.0.0/15, distinct, the source range clear of both veth addresses).
//! 2. Checks ownership: a namespace `<name>-gen` or `<name>-dut` that exists but is not
//!    the one synfin recorded making (see [`marker`]) is refused, nothing touched. A
//!    testbed of the name that synfin made with another configuration is refused too.
//! 3. Creates the missing namespaces (`ip netns add`), recording each one's identity
//!    in `/run/synfin/testbed/<name>.json` right after making it.
//! 4. Brings `lo` up in both.
//! 5. Creates the veth pair directly inside the namespaces (it never appears in the
//!    host's namespace) with `queues` receive and transmit queues on each end, and
//!    labels both ends with the alias `synfin-testbed:<name>`.
//! 6. Disables IPv6 on both ends (`net.ipv6.conf.<if>.disable_ipv6=1`): no router
//!    solicitations or DAD frames in the way of a measurement.
//! 7. Addresses the ends (`ip addr replace`, so a second `up` adds nothing).
//! 8. Turns TX checksum offload, TSO, GSO and GRO off on both ends (SIOCETHTOOL):
//!    otherwise a kernel's segments reach AF_XDP on the other end with unfinished
//!    checksums (veth never finishes them), and large ones as super-frames bigger
//!    than a UMEM frame. The DUT end's matter to synfin's client (`run --io xdp`),
//!    the generator end's to synfin's server (`serve --io xdp`) under the kernel's
//!    client (`run --io socket`).
//! 9. Sets RPS on every receive queue of each end to that side's CPU.
//! 10. Brings both ends up.
//! 11. Adds a permanent neighbour entry on the DUT end for every generator source,
//!     pointing at the generator end's MAC (`ip neigh replace`, in one `ip -batch`).
//! 12. Waits (at most 2 s) until both ends report operational state `up`.
//!
//! If a step fails, the namespaces that this call made are removed again.
//!
//! Everything is done by `ip` (iproute2) and by system calls; `ethtool` is not needed.
//!
//! # Limits
//!
//! - `up` and `down` hold an exclusive lock (`/run/synfin/testbed/.lock`, flock) while
//!   they work, so concurrent calls, from threads or processes, take turns.
//! - A crash between `ip netns add` and the write of the record leaves a namespace
//!   synfin will not recognise; the error says how to remove it.
//! - `down` removes the namespaces' names; the kernel frees a namespace (and with it
//!   the veth pair) once no process or socket holds it any more.

mod config;
mod error;
pub mod marker;
pub mod netns;
mod status;
mod sys;

pub use config::{ALIAS_PREFIX, MAX_NAME_LEN, NETWORK, PREFIX_LEN, TestbedConfig, validate_name};
pub use error::{Result, TestbedError};
pub use status::{DUT_SYSCTLS, LinkStatus, NamespaceStatus, Offloads, Presence, TestbedStatus};

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::wire::EthernetAddress;
use marker::{Marker, Owner};

/// A testbed that is up: its configuration and what a generator needs to know about
/// its two ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Testbed {
    config: TestbedConfig,
    gen_mac: EthernetAddress,
    dut_mac: EthernetAddress,
    gen_ifindex: u32,
    dut_ifindex: u32,
    created: bool,
}

impl Testbed {
    /// Makes the testbed `cfg` describes, or finishes and checks the one synfin already
    /// made under that name with the same configuration (see the module doc for the
    /// steps). Fails, touching nothing, if a namespace of the name exists that synfin
    /// did not make, or synfin's testbed of that name has another configuration.
    pub fn up(cfg: &TestbedConfig) -> Result<Testbed> {
        cfg.validate()?;
        let _lock = lock()?;
        let (gen_ns, dut_ns) = (cfg.gen_ns(), cfg.dut_ns());
        let record = marker::read(&cfg.name)?;
        let gen_owner = marker::owner(
            &gen_ns,
            record.as_ref(),
            record.as_ref().and_then(|m| m.gen_ns_id),
        );
        let dut_owner = marker::owner(
            &dut_ns,
            record.as_ref(),
            record.as_ref().and_then(|m| m.dut_ns_id),
        );
        for (ns, owner) in [(&gen_ns, &gen_owner), (&dut_ns, &dut_owner)] {
            if let Owner::Foreign(why) = owner {
                return Err(TestbedError::NotOurs {
                    namespace: ns.clone(),
                    why: why.clone(),
                });
            }
        }
        let any_ours = gen_owner == Owner::Ours || dut_owner == Owner::Ours;
        let mut record = match record {
            Some(m) if any_ours => {
                if m.config != *cfg {
                    return Err(TestbedError::ConfigMismatch {
                        name: cfg.name.clone(),
                        what: config_difference(&m.config, cfg),
                    });
                }
                m
            }
            // No record, or a stale one whose namespaces are gone: start afresh.
            _ => Marker::new(cfg.clone()),
        };
        if gen_owner == Owner::Absent {
            record.gen_ns_id = None;
        }
        if dut_owner == Owner::Absent {
            record.dut_ns_id = None;
        }
        marker::write(&record)?;

        let mut made = Vec::new();
        let result = make_namespaces(&mut record, &mut made).and_then(|()| configure(cfg));
        match result {
            Ok(mut tb) => {
                tb.created = !made.is_empty();
                Ok(tb)
            }
            Err(e) => {
                for ns in &made {
                    let _ = netns::ip(None, &["netns", "del", ns]);
                }
                if !made.is_empty() && !netns::exists(&gen_ns) && !netns::exists(&dut_ns) {
                    let _ = marker::remove(&cfg.name);
                }
                Err(e)
            }
        }
    }

    /// The testbed synfin made under `name`, as it is now; an error if it is not
    /// completely up (then run [`Testbed::up`]).
    pub fn open(name: &str) -> Result<Testbed> {
        validate_name(name)?;
        let Some(record) = marker::read(name)? else {
            return Err(TestbedError::InvalidConfig(format!(
                "no testbed {name:?} is up (run `synfin testbed up`)"
            )));
        };
        let cfg = record.config.clone();
        for (ns, id) in [
            (cfg.gen_ns(), record.gen_ns_id),
            (cfg.dut_ns(), record.dut_ns_id),
        ] {
            match marker::owner(&ns, Some(&record), id) {
                Owner::Ours => {}
                Owner::Absent => return Err(TestbedError::NoSuchNamespace(ns)),
                Owner::Foreign(why) => return Err(TestbedError::NotOurs { namespace: ns, why }),
            }
        }
        Testbed::read_back(&cfg)
    }

    fn read_back(cfg: &TestbedConfig) -> Result<Testbed> {
        Ok(Testbed {
            gen_mac: netns::mac_of(&cfg.gen_ns(), &cfg.gen_if())?,
            dut_mac: netns::mac_of(&cfg.dut_ns(), &cfg.dut_if())?,
            gen_ifindex: netns::ifindex(&cfg.gen_ns(), &cfg.gen_if())?,
            dut_ifindex: netns::ifindex(&cfg.dut_ns(), &cfg.dut_if())?,
            config: cfg.clone(),
            created: false,
        })
    }

    /// Removes testbed `name`: exactly the namespaces synfin made under that name
    /// (which takes the veth pair with them) and synfin's record. Nothing there is
    /// fine, so it is safe to call twice. A namespace of the name that synfin did not
    /// make is left alone and reported as an error.
    pub fn down(name: &str) -> Result<()> {
        validate_name(name)?;
        let _lock = lock()?;
        let record = marker::read(name)?;
        let cfg = TestbedConfig::named(name);
        let mut foreign = None;
        for (ns, id) in [
            (cfg.gen_ns(), record.as_ref().and_then(|m| m.gen_ns_id)),
            (cfg.dut_ns(), record.as_ref().and_then(|m| m.dut_ns_id)),
        ] {
            match marker::owner(&ns, record.as_ref(), id) {
                Owner::Absent => {}
                Owner::Ours => {
                    netns::ip(None, &["netns", "del", &ns])?;
                }
                Owner::Foreign(why) => {
                    foreign.get_or_insert(TestbedError::NotOurs { namespace: ns, why });
                }
            }
        }
        marker::remove(name)?;
        foreign.map_or(Ok(()), Err)
    }

    /// Reads testbed `name` back from the kernel: which namespaces exist and whose
    /// they are, both veth ends (addresses, queues, RPS, offloads, IPv6), the DUT's
    /// neighbour entries and its connection-handling sysctls. Only a bad name is an
    /// error; whatever is missing shows in the status.
    pub fn status(name: &str) -> Result<TestbedStatus> {
        validate_name(name)?;
        let record = marker::read(name)?;
        let cfg = record
            .as_ref()
            .map(|m| m.config.clone())
            .unwrap_or_else(|| TestbedConfig::named(name));
        let side = |ns: String, ifname: String, id| -> Result<status::NamespaceStatus> {
            let presence = match marker::owner(&ns, record.as_ref(), id) {
                Owner::Absent => Presence::Absent,
                Owner::Ours => Presence::Ours,
                Owner::Foreign(_) => Presence::Foreign,
            };
            let link = if presence == Presence::Ours {
                status::link_status(&ns, &ifname)?
            } else {
                None
            };
            Ok(NamespaceStatus {
                namespace: ns,
                presence,
                link,
            })
        };
        let generator = side(
            cfg.gen_ns(),
            cfg.gen_if(),
            record.as_ref().and_then(|m| m.gen_ns_id),
        )?;
        let dut = side(
            cfg.dut_ns(),
            cfg.dut_if(),
            record.as_ref().and_then(|m| m.dut_ns_id),
        )?;
        let (dut_neighbours, dut_sysctls) = if dut.presence == Presence::Ours {
            let neigh = if dut.link.is_some() {
                status::permanent_neighbours(
                    &dut.namespace,
                    &cfg.dut_if(),
                    generator.link.as_ref().map(|l| l.mac),
                )?
            } else {
                (0, 0)
            };
            (neigh, status::dut_sysctls(&dut.namespace)?)
        } else {
            ((0, 0), Vec::new())
        };
        Ok(TestbedStatus {
            name: name.to_owned(),
            config: record.map(|m| m.config),
            generator,
            dut,
            dut_neighbours,
            dut_sysctls,
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &TestbedConfig {
        &self.config
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The generator's namespace.
    pub fn gen_ns(&self) -> String {
        self.config.gen_ns()
    }

    /// The DUT's namespace.
    pub fn dut_ns(&self) -> String {
        self.config.dut_ns()
    }

    /// The generator's veth end (in [`Testbed::gen_ns`]): where the AF_XDP sockets bind.
    pub fn gen_if(&self) -> String {
        self.config.gen_if()
    }

    /// The DUT's veth end (in [`Testbed::dut_ns`]).
    pub fn dut_if(&self) -> String {
        self.config.dut_if()
    }

    /// The generator end's MAC address: the source MAC of the generator's frames.
    pub fn gen_mac(&self) -> EthernetAddress {
        self.gen_mac
    }

    /// The DUT end's MAC address: the destination MAC of the generator's frames.
    pub fn dut_mac(&self) -> EthernetAddress {
        self.dut_mac
    }

    /// The generator end's interface index (inside the generator namespace).
    pub fn gen_ifindex(&self) -> u32 {
        self.gen_ifindex
    }

    /// The DUT end's interface index (inside the DUT namespace).
    pub fn dut_ifindex(&self) -> u32 {
        self.dut_ifindex
    }

    /// Whether this `up` made a namespace (false: it was already there).
    pub fn created(&self) -> bool {
        self.created
    }
}

/// Removes a testbed when dropped — also while a panic unwinds — unless disarmed.
/// Make it before [`Testbed::up`], so a half-made testbed is removed too:
///
/// ```no_run
/// # use synfin::testbed::{Testbed, TestbedConfig, TestbedGuard};
/// let cfg = TestbedConfig::named("demo");
/// let _guard = TestbedGuard::new(&cfg.name);
/// let tb = Testbed::up(&cfg)?;
/// // ... use it; it is removed when `_guard` goes out of scope.
/// # Ok::<(), synfin::testbed::TestbedError>(())
/// ```
#[derive(Debug)]
pub struct TestbedGuard {
    name: Option<String>,
}

impl TestbedGuard {
    /// A guard that will call [`Testbed::down`] on `name`.
    pub fn new(name: &str) -> TestbedGuard {
        TestbedGuard {
            name: Some(name.to_owned()),
        }
    }

    /// Keeps the testbed: the guard no longer removes it.
    pub fn disarm(mut self) {
        self.name = None;
    }
}

impl Drop for TestbedGuard {
    fn drop(&mut self) {
        if let Some(name) = self.name.take()
            && let Err(e) = Testbed::down(&name)
        {
            eprintln!("synfin: removing testbed {name}: {e}");
        }
    }
}

/// Takes the testbed lock: an exclusive flock on a file beside the records, released
/// when the returned file is dropped.
fn lock() -> Result<fs::File> {
    let path = Path::new(marker::MARKER_DIR).join(".lock");
    let ctx = |e| TestbedError::io(format!("locking {}", path.display()), e);
    fs::create_dir_all(marker::MARKER_DIR).map_err(ctx)?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(ctx)?;
    file.lock().map_err(ctx)?;
    Ok(file)
}

fn config_difference(old: &TestbedConfig, new: &TestbedConfig) -> String {
    let mut diffs = Vec::new();
    macro_rules! cmp {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                diffs.push(format!(
                    "{} {:?} now, {:?} asked",
                    stringify!($field),
                    old.$field,
                    new.$field
                ));
            }
        )*};
    }
    cmp!(
        queues, sources, gen_addr, dut_addr, src_first, gen_cpu, dut_cpu
    );
    diffs.join(", ")
}

/// Creates whichever of the two namespaces is missing, recording each at once.
fn make_namespaces(record: &mut Marker, made: &mut Vec<String>) -> Result<()> {
    let cfg = record.config.clone();
    for (ns, is_gen) in [(cfg.gen_ns(), true), (cfg.dut_ns(), false)] {
        let slot = if is_gen {
            &mut record.gen_ns_id
        } else {
            &mut record.dut_ns_id
        };
        if slot.is_some() {
            continue;
        }
        netns::ip(None, &["netns", "add", &ns])?;
        made.push(ns.clone());
        *slot = netns::identity(&ns);
        if slot.is_none() {
            return Err(TestbedError::NoSuchNamespace(ns));
        }
        marker::write(record)?;
    }
    Ok(())
}

/// Brings the two namespaces (which exist and are synfin's) to the configuration;
/// every step is idempotent.
fn configure(cfg: &TestbedConfig) -> Result<Testbed> {
    let (gen_ns, dut_ns) = (cfg.gen_ns(), cfg.dut_ns());
    let (gen_if, dut_if) = (cfg.gen_if(), cfg.dut_if());

    for ns in [&gen_ns, &dut_ns] {
        netns::ip(Some(ns), &["link", "set", "dev", "lo", "up"])?;
    }

    let gen_has = netns::link_exists(&gen_ns, &gen_if)?;
    let dut_has = netns::link_exists(&dut_ns, &dut_if)?;
    if !gen_has {
        if dut_has {
            // A lone DUT end cannot be a veth whose peer is in our generator
            // namespace; it lives in synfin's namespace, so replace it.
            netns::ip(Some(&dut_ns), &["link", "del", "dev", &dut_if])?;
        }
        let q = cfg.queues.to_string();
        netns::ip(
            Some(&gen_ns),
            &[
                "link",
                "add",
                "name",
                &gen_if,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                &dut_if,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "netns",
                &dut_ns,
            ],
        )?;
    } else if !dut_has {
        return Err(TestbedError::InvalidConfig(format!(
            "{gen_if} exists in {gen_ns} but its peer {dut_if} is not in {dut_ns}; \
             run `synfin testbed down {}` and up again",
            cfg.name
        )));
    }

    let alias = cfg.alias();
    for (ns, ifname) in [(&gen_ns, &gen_if), (&dut_ns, &dut_if)] {
        netns::ip(Some(ns), &["link", "set", "dev", ifname, "alias", &alias])?;
        let key = format!("net/ipv6/conf/{ifname}/disable_ipv6");
        match netns::sysctl_set(ns, &key, "1") {
            Err(TestbedError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }

    let prefix = format!("/{}", config::PREFIX_LEN);
    netns::ip(
        Some(&gen_ns),
        &[
            "addr",
            "replace",
            &format!("{}{prefix}", cfg.gen_addr),
            "dev",
            &gen_if,
        ],
    )?;
    netns::ip(
        Some(&dut_ns),
        &[
            "addr",
            "replace",
            &format!("{}{prefix}", cfg.dut_addr),
            "dev",
            &dut_if,
        ],
    )?;

    offloads_off(&dut_ns, &dut_if)?;
    offloads_off(&gen_ns, &gen_if)?;
    set_rps(&gen_ns, &gen_if, cfg.gen_cpu)?;
    set_rps(&dut_ns, &dut_if, cfg.dut_cpu)?;

    for (ns, ifname) in [(&gen_ns, &gen_if), (&dut_ns, &dut_if)] {
        netns::ip(Some(ns), &["link", "set", "dev", ifname, "up"])?;
    }

    let tb = Testbed::read_back(cfg)?;
    let mut script = String::with_capacity(cfg.sources as usize * 80);
    for src in cfg.sources() {
        script.push_str(&format!(
            "neigh replace {src} lladdr {} dev {dut_if} nud permanent\n",
            tb.gen_mac
        ));
    }
    netns::ip_batch(&dut_ns, &script)?;
    wait_operstate_up(
        &[(&gen_ns, &gen_if), (&dut_ns, &dut_if)],
        Duration::from_secs(2),
    );
    Ok(tb)
}

/// Waits until every `(namespace, interface)` reports operational state `up` (the
/// kernel's link watcher can take a moment after the carrier comes up), at most
/// `limit`. Traffic already flows before that, so running out of time is no error;
/// `status` shows the state.
fn wait_operstate_up(links: &[(&str, &str)], limit: Duration) {
    let start = Instant::now();
    let all_up = || {
        links.iter().all(|(ns, ifname)| {
            netns::ip(Some(ns), &["-j", "link", "show", "dev", ifname])
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .is_some_and(|v| v[0]["operstate"] == "UP")
        })
    };
    while !all_up() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// TX checksum offload, TSO, GSO and GRO off on `ifname` in `ns`.
fn offloads_off(ns: &str, ifname: &str) -> Result<()> {
    use sys::ethtool::{SGRO, SGSO, STSO, STXCSUM};
    netns::run_in(ns, || -> io::Result<()> {
        for cmd in [STXCSUM, STSO, SGSO, SGRO] {
            sys::ethtool_set(ifname, cmd, false)?;
        }
        Ok(())
    })?
    .map_err(|e| TestbedError::io(format!("turning offloads off on {ifname} in {ns}"), e))
}

/// Writes the RPS mask of `cpu` (or 0) to every receive queue of `ifname` in `ns`.
fn set_rps(ns: &str, ifname: &str, cpu: Option<u32>) -> Result<()> {
    let mask = config::rps_mask(cpu);
    netns::run_in_with_sysfs(ns, || -> io::Result<()> {
        let queues = Path::new("/sys/class/net").join(ifname).join("queues");
        for q in status::rx_queue_dirs(ifname)? {
            let file = queues.join(q).join("rps_cpus");
            if file.exists() {
                fs::write(&file, &mask)?;
            }
        }
        Ok(())
    })?
    .map_err(|e| {
        TestbedError::io(
            format!("setting rps_cpus={mask} on {ifname} in {ns} (is CPU {cpu:?} online?)"),
            e,
        )
    })
}
