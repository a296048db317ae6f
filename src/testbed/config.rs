//! What a testbed is made of: names, addressing plan, CPUs (see [`TestbedConfig`]).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::error::{Result, TestbedError};

/// The longest testbed name: the veth names `<name>-g` / `<name>-d` must fit in
/// IFNAMSIZ − 1 = 15 bytes.
pub const MAX_NAME_LEN: usize = 13;

/// The network all testbed addresses come from: 198.18.0.0/15.
pub const NETWORK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);

/// The prefix length of [`NETWORK`] and of both veth addresses.
pub const PREFIX_LEN: u8 = 15;

/// The alias put on both veth ends (`ip link` shows it): `synfin-testbed:<name>`.
pub const ALIAS_PREFIX: &str = "synfin-testbed:";

/// How to build a testbed. [`Default`] gives the documented plan.
///
/// # Addressing plan (all of it inside 198.18.0.0/15, RFC 2544's benchmarking range)
///
/// | what | default | notes |
/// |---|---|---|
/// | generator veth `<name>-g` in namespace `<name>-gen` | 198.18.0.1/15 | the generator namespace's kernel address |
/// | DUT veth `<name>-d` in namespace `<name>-dut` | 198.19.0.1/15 | the DUT service address (`--dst 198.19.0.1:PORT`) |
/// | generator sources | 198.18.1.0 … 198.18.1.0 + sources − 1 | `--src` of the AF_XDP client (`198.18.1.0-198.18.1.63` by default); not configured on any interface |
///
/// Both ends are /15, so every address above is on-link from both sides and no route
/// is needed; there is no default route in either namespace, so nothing can leave
/// them. The generator's kernel does not own the source addresses and never answers
/// ARP for them: the DUT gets a permanent neighbour entry for each, pointing at the
/// generator veth's MAC address. The source range may not contain either veth
/// address nor the network's first and last address: from the default first source
/// it can run to 198.18.255.255 (65,280 addresses).
///
/// # CPUs
///
/// On veth, a namespace's receive work (the whole TCP stack of the receiver) runs on
/// the CPU that sent the frame, unless RPS moves it. The testbed sets RPS on each end
/// so that receive work runs on that side's own CPU: the DUT end's `rps_cpus` is the
/// DUT CPU, the generator end's the generator CPU. On the 2-core machine: generator
/// on CPU 0, DUT on CPU 1 (masks `1` and `2`); pin the generator and the DUT server to
/// the same CPUs. With fewer than 2 CPUs the default leaves RPS off.
///
/// RPS moves the work that follows the driver. An XDP program attached in generic
/// (SKB) mode runs after that move, so on the generator's CPU; one attached in native
/// mode runs in veth's NAPI poll before it, on the CPU that sent the frame (the
/// DUT's). FACTS.md found native mode no faster on veth, so generic mode keeps the
/// split cleaner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestbedConfig {
    /// Prefix of every name: namespaces `<name>-gen`, `<name>-dut`, veth ends
    /// `<name>-g`, `<name>-d`. 1 to 13 characters from `[A-Za-z0-9_-]`, starting with
    /// a letter or digit. Default `synfin`.
    pub name: String,
    /// Receive and transmit queues on each veth end (one AF_XDP socket per queue).
    /// Default 1.
    pub queues: u32,
    /// How many generator source addresses, from `src_first` up. Default 64.
    pub sources: u32,
    /// The generator veth's address. Default 198.18.0.1.
    pub gen_addr: Ipv4Addr,
    /// The DUT veth's address, the service address. Default 198.19.0.1.
    pub dut_addr: Ipv4Addr,
    /// The first generator source address. Default 198.18.1.0.
    pub src_first: Ipv4Addr,
    /// The CPU that receive work on the generator end runs on (RPS), or `None` for no
    /// RPS. Default CPU 0 when the machine has at least 2 CPUs.
    pub gen_cpu: Option<u32>,
    /// The CPU that receive work on the DUT end runs on (RPS), or `None` for no RPS.
    /// Default CPU 1 when the machine has at least 2 CPUs.
    pub dut_cpu: Option<u32>,
}

impl Default for TestbedConfig {
    fn default() -> Self {
        let two_cpus = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
        TestbedConfig {
            name: "synfin".to_owned(),
            queues: 1,
            sources: 64,
            gen_addr: Ipv4Addr::new(198, 18, 0, 1),
            dut_addr: Ipv4Addr::new(198, 19, 0, 1),
            src_first: Ipv4Addr::new(198, 18, 1, 0),
            gen_cpu: two_cpus.then_some(0),
            dut_cpu: two_cpus.then_some(1),
        }
    }
}

/// Checks a testbed name: 1 to [`MAX_NAME_LEN`] characters from `[A-Za-z0-9_-]`,
/// the first a letter or digit.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(TestbedError::InvalidConfig(format!(
            "testbed name {name:?} {why}"
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad(&format!(
            "is longer than {MAX_NAME_LEN} characters (the veth names <name>-g and <name>-d \
             must fit in 15)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return bad("may only contain letters, digits, '-' and '_'");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("must start with a letter or digit");
    }
    Ok(())
}

fn in_network(a: Ipv4Addr) -> bool {
    u32::from(a) >> (32 - PREFIX_LEN) == u32::from(NETWORK) >> (32 - PREFIX_LEN)
}

const BROADCAST: u32 = 0xC613_FFFF; // 198.19.255.255

impl TestbedConfig {
    /// The default configuration under another name.
    pub fn named(name: impl Into<String>) -> TestbedConfig {
        TestbedConfig {
            name: name.into(),
            ..TestbedConfig::default()
        }
    }

    /// The generator's namespace: `<name>-gen`.
    pub fn gen_ns(&self) -> String {
        format!("{}-gen", self.name)
    }

    /// The DUT's namespace: `<name>-dut`.
    pub fn dut_ns(&self) -> String {
        format!("{}-dut", self.name)
    }

    /// The generator's veth end: `<name>-g`.
    pub fn gen_if(&self) -> String {
        format!("{}-g", self.name)
    }

    /// The DUT's veth end: `<name>-d`.
    pub fn dut_if(&self) -> String {
        format!("{}-d", self.name)
    }

    /// The alias both veth ends carry: `synfin-testbed:<name>`.
    pub fn alias(&self) -> String {
        format!("{ALIAS_PREFIX}{}", self.name)
    }

    /// The generator source addresses, first and last (inclusive).
    pub fn src_range(&self) -> (Ipv4Addr, Ipv4Addr) {
        let first = u32::from(self.src_first);
        let last = first.saturating_add(self.sources.saturating_sub(1));
        (self.src_first, Ipv4Addr::from(last))
    }

    /// Every generator source address, in order.
    pub fn sources(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let first = u32::from(self.src_first);
        (0..self.sources).map(move |i| Ipv4Addr::from(first.wrapping_add(i)))
    }

    /// The source range as synfin's `--src` takes it: `FIRST-LAST`.
    pub fn src_arg(&self) -> String {
        let (first, last) = self.src_range();
        format!("{first}-{last}")
    }

    /// Checks the configuration: the name, 1 to 64 queues, 1 or more sources, and an
    /// addressing plan inside 198.18.0.0/15 with no address used twice.
    pub fn validate(&self) -> Result<()> {
        validate_name(&self.name)?;
        let bad = |msg: String| Err(TestbedError::InvalidConfig(msg));
        if !(1..=64).contains(&self.queues) {
            return bad(format!("queues must be 1 to 64, not {}", self.queues));
        }
        if self.sources == 0 {
            return bad("sources must be at least 1".to_owned());
        }
        for (what, addr) in [
            ("gen_addr", self.gen_addr),
            ("dut_addr", self.dut_addr),
            ("src_first", self.src_first),
        ] {
            if !in_network(addr) {
                return bad(format!("{what} {addr} is outside {NETWORK}/{PREFIX_LEN}"));
            }
            if u32::from(addr) == u32::from(NETWORK) || u32::from(addr) == BROADCAST {
                return bad(format!(
                    "{what} {addr} is the network or broadcast address of {NETWORK}/{PREFIX_LEN}"
                ));
            }
        }
        if self.gen_addr == self.dut_addr {
            return bad(format!("gen_addr and dut_addr are both {}", self.gen_addr));
        }
        let first = u64::from(u32::from(self.src_first));
        let last = first + u64::from(self.sources) - 1;
        if last >= u64::from(BROADCAST) {
            return bad(format!(
                "{} sources from {} run past the end of {NETWORK}/{PREFIX_LEN}",
                self.sources, self.src_first
            ));
        }
        for (what, addr) in [("gen_addr", self.gen_addr), ("dut_addr", self.dut_addr)] {
            let a = u64::from(u32::from(addr));
            if (first..=last).contains(&a) {
                return bad(format!(
                    "{what} {addr} lies inside the source range {}",
                    self.src_arg()
                ));
            }
        }
        for (what, cpu) in [("gen_cpu", self.gen_cpu), ("dut_cpu", self.dut_cpu)] {
            if cpu.is_some_and(|c| c >= 4096) {
                return bad(format!("{what} {} is not a CPU number", cpu.unwrap_or(0)));
            }
        }
        Ok(())
    }
}

/// The RPS mask that selects one CPU, as `rps_cpus` takes it (comma-separated 32-bit
/// hex groups, most significant first), or `0` for none.
pub(crate) fn rps_mask(cpu: Option<u32>) -> String {
    let Some(cpu) = cpu else {
        return "0".to_owned();
    };
    let mut mask = format!("{:x}", 1u32 << (cpu % 32));
    for _ in 0..cpu / 32 {
        mask.push_str(",00000000");
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan() {
        let cfg = TestbedConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.gen_ns(), "synfin-gen");
        assert_eq!(cfg.dut_ns(), "synfin-dut");
        assert_eq!(cfg.gen_if(), "synfin-g");
        assert_eq!(cfg.dut_if(), "synfin-d");
        assert_eq!(cfg.src_arg(), "198.18.1.0-198.18.1.63");
        assert_eq!(cfg.sources().count(), 64);
        assert_eq!(cfg.sources().last(), Some(Ipv4Addr::new(198, 18, 1, 63)));
    }

    #[test]
    fn names() {
        for good in ["a", "synfin", "sf12345x1", "abcdefghijklm", "a_b-c"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "abcdefghijklmn",
            "-a",
            "_a",
            "a.b",
            "a/b",
            "a b",
            "ä",
            "a\0",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_plans_are_refused() {
        let ok = TestbedConfig::named("t");
        let cases = [
            TestbedConfig {
                queues: 0,
                ..ok.clone()
            },
            TestbedConfig {
                queues: 65,
                ..ok.clone()
            },
            TestbedConfig {
                sources: 0,
                ..ok.clone()
            },
            TestbedConfig {
                gen_addr: Ipv4Addr::new(10, 0, 0, 1),
                ..ok.clone()
            },
            TestbedConfig {
                dut_addr: Ipv4Addr::new(198, 20, 0, 1),
                ..ok.clone()
            },
            TestbedConfig {
                dut_addr: ok.gen_addr,
                ..ok.clone()
            },
            TestbedConfig {
                src_first: Ipv4Addr::new(198, 18, 0, 0),
                ..ok.clone()
            },
            TestbedConfig {
                sources: 70_000,
                ..ok.clone()
            },
            TestbedConfig {
                src_first: Ipv4Addr::new(198, 18, 0, 0),
                ..ok.clone()
            },
            TestbedConfig {
                src_first: Ipv4Addr::new(198, 18, 0, 1),
                ..ok.clone()
            },
            TestbedConfig {
                src_first: Ipv4Addr::new(198, 18, 255, 0),
                sources: 512,
                ..ok.clone()
            },
            TestbedConfig {
                dut_cpu: Some(5000),
                ..ok.clone()
            },
        ];
        for cfg in cases {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        let most = TestbedConfig {
            sources: 65_280,
            ..ok.clone()
        };
        most.validate().unwrap();
        assert_eq!(most.src_range().1, Ipv4Addr::new(198, 18, 255, 255));
    }

    #[test]
    fn rps_masks() {
        assert_eq!(rps_mask(None), "0");
        assert_eq!(rps_mask(Some(0)), "1");
        assert_eq!(rps_mask(Some(1)), "2");
        assert_eq!(rps_mask(Some(31)), "80000000");
        assert_eq!(rps_mask(Some(33)), "2,00000000");
    }
}
