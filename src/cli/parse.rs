//! Value parsers of the command line: counts and rates with k/m suffixes,
//! durations, probabilities, address and port ranges. Each returns a message that
//! names the bad value and shows what a good one looks like.

use std::net::Ipv4Addr;
use std::time::Duration;

/// A connection rate: a number of connections per second, or `max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Open loop at this many connections per second.
    PerSecond(f64),
    /// Closed loop: as fast as the concurrency cap allows.
    Max,
}

fn split_suffix(s: &str) -> (&str, f64) {
    let s = s.trim();
    match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    }
}

/// A positive count with an optional k/m/g suffix.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let (num, mult) = split_suffix(s);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a count (examples: 1000, 10k, 2m)"))?;
    let v = v * mult;
    if !v.is_finite() || v < 1.0 || v.fract() != 0.0 || v > 1e15 {
        return Err(format!("'{s}' must be a whole number from 1 to 10^15"));
    }
    Ok(v as u64)
}

/// The largest table synfin sizes at start (connections open at once).
const MAX_CONCURRENCY: u64 = 16 << 20;

/// A concurrency cap: a positive count up to the largest table synfin sizes.
pub fn parse_concurrency(s: &str) -> Result<u32, String> {
    let v = parse_count(s)?;
    if v > MAX_CONCURRENCY {
        return Err(format!(
            "'{s}' is more than {MAX_CONCURRENCY} connections open at once"
        ));
    }
    Ok(v as u32)
}

/// A positive count that fits 32 bits.
pub fn parse_count_u32_nonzero(s: &str) -> Result<u32, String> {
    let v = parse_count(s)?;
    u32::try_from(v).map_err(|_| format!("'{s}' is too large (at most {})", u32::MAX))
}

/// A list of CPU cores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

/// A list of CPU cores: `0,1`, `2-5`, or a mix (`0,2-3`).
pub fn parse_cores(s: &str) -> Result<CoreList, String> {
    let mut cores = Vec::new();
    for part in s.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let lo: usize = a
            .trim()
            .parse()
            .map_err(|_| format!("'{part}' in '{s}' is not a core number or range"))?;
        let hi: usize = b
            .trim()
            .parse()
            .map_err(|_| format!("'{part}' in '{s}' is not a core number or range"))?;
        if hi < lo || hi >= 4096 {
            return Err(format!("core range '{part}' is empty or beyond 4095"));
        }
        for c in lo..=hi {
            if cores.contains(&c) {
                return Err(format!("core {c} is listed twice in '{s}'"));
            }
            cores.push(c);
        }
    }
    if cores.is_empty() {
        return Err("the core list is empty".into());
    }
    Ok(CoreList(cores))
}

/// A byte count: 0, or a count with k/m suffix, up to 64 MiB.
pub fn parse_bytes(s: &str) -> Result<u32, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    let v = parse_count(s)?;
    if v > 64 << 20 {
        return Err(format!("'{s}' is more than 64 MiB"));
    }
    Ok(v as u32)
}

/// A rate: `max` or a positive number of connections per second (k/m suffixes).
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let (num, mult) = split_suffix(s);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a rate (examples: 50000, 50k, max)"))?;
    let v = v * mult;
    if !v.is_finite() || v <= 0.0 || v > 1e12 {
        return Err(format!(
            "rate '{s}' must be above 0 and at most 10^12 per second, or 'max'"
        ));
    }
    Ok(Rate::PerSecond(v))
}

/// A duration like `60s`, `500ms`, `1m 30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}; examples: 60s, 500ms)"))
}

/// A duration above zero (a run length, a timeout, 2·MSL).
pub fn parse_nonzero_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("'{s}' must be longer than zero"));
    }
    Ok(d)
}

/// A probability: a fraction in [0, 1] or a percentage in [0%, 100%].
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a probability (examples: 0.05, 5%)"))?;
    let p = v / scale;
    if !p.is_finite() || !(0.0..=1.0).contains(&p) {
        return Err(format!("'{s}' must be between 0 and 1 (or 0% and 100%)"));
    }
    Ok(p)
}

/// A source range `FIRST[-LAST]` of IPv4 addresses.
pub fn parse_src_range(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let first: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
    let last: Ipv4Addr = b
        .parse()
        .map_err(|_| format!("'{b}' is not an IPv4 address"))?;
    if u32::from(last) < u32::from(first) {
        return Err(format!(
            "source range '{s}' is empty (last address before first)"
        ));
    }
    // 0.0.0.0/8 lies below every usable address and 224/3 above: a range holds
    // one of them iff one of its ends does.
    if let Some(bad) = [first, last].into_iter().find(|a| !is_unicast_source(*a)) {
        return Err(format!(
            "source range '{s}' contains {bad}, which cannot be a source address (0.0.0.0/8, multicast, reserved or broadcast)"
        ));
    }
    if u32::from(last) - u32::from(first) >= 1 << 20 {
        return Err(format!("source range '{s}' has more than 2^20 addresses"));
    }
    Ok((first, last))
}

/// Whether `a` can be the source of a unicast TCP segment: not 0.0.0.0/8, not
/// multicast (224/4), not reserved (240/4, which holds the broadcast address).
pub fn is_unicast_source(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o != 0 && o < 224
}

/// A port range `LO-HI` within 1..=65535.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("'{s}' is not a port range (example: 1024-65535)"))?;
    let lo: u32 = a
        .trim()
        .parse()
        .map_err(|_| format!("'{a}' is not a port"))?;
    let hi: u32 = b
        .trim()
        .parse()
        .map_err(|_| format!("'{b}' is not a port"))?;
    if lo == 0 || hi > 65535 || lo > 65535 {
        return Err(format!("ports in '{s}' must be from 1 to 65535"));
    }
    if hi < lo {
        return Err(format!("port range '{s}' is empty"));
    }
    Ok((lo as u16, hi as u16))
}

/// A window scale shift to offer, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowScale(pub Option<u8>);

/// A window scale shift 0-14, or `off`.
pub fn parse_wscale(s: &str) -> Result<WindowScale, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(WindowScale(None));
    }
    let v: u8 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a window scale (0-14 or off)"))?;
    if v > 14 {
        return Err(format!("window scale {v} is above 14 (RFC 7323 §2.3)"));
    }
    Ok(WindowScale(Some(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_units() {
        assert_eq!(parse_count("10k"), Ok(10_000));
        assert_eq!(parse_count("2m"), Ok(2_000_000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("-5").is_err());
        assert!(parse_count("1.5").is_err());
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("50k"), Ok(Rate::PerSecond(50_000.0)));
        assert!(parse_rate("0").is_err());
        assert_eq!(parse_probability("5%"), Ok(0.05));
        assert_eq!(parse_probability("0.05"), Ok(0.05));
        assert!(parse_probability("101%").is_err());
        assert!(parse_probability("1.5").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_port_range("1024-70000").is_err());
        assert!(parse_port_range("2000-1000").is_err());
        assert!(parse_src_range("10.0.0.5-10.0.0.1").is_err());
    }
}
