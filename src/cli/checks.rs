//! Checks of whole command lines, beyond what one value's parser can see: option
//! combinations, destinations that cannot be a server, cores that do not exist.
//! Each failure is a usage error (one line, exit status 2).

use std::net::SocketAddrV4;

use super::{CliError, IoKind, RunArgs, XdpModeArg, is_unicast_source};

/// A destination that a connection can be opened to: a unicast address and a port
/// other than 0.
pub(crate) fn check_destination(what: &str, dst: SocketAddrV4) -> Result<(), CliError> {
    if dst.port() == 0 {
        return Err(CliError::Usage(format!(
            "{what} {dst}: port 0 cannot be connected to"
        )));
    }
    if !is_unicast_source(*dst.ip()) {
        return Err(CliError::Usage(format!(
            "{what} {dst}: not a unicast address (0.0.0.0/8, multicast, reserved or broadcast)"
        )));
    }
    Ok(())
}

/// Every listed core exists on this machine.
pub(crate) fn check_cores(cores: &[usize]) -> Result<(), CliError> {
    let available = core_affinity::get_core_ids().map(|v| v.len()).unwrap_or(1);
    match cores.iter().find(|c| **c >= available) {
        Some(c) => Err(CliError::Usage(format!(
            "core {c} does not exist (this machine has {available})"
        ))),
        None => Ok(()),
    }
}

/// The checks of `synfin run` that no single value parser can make.
pub(crate) fn check_run_args(a: &RunArgs) -> Result<(), CliError> {
    check_destination("--dst", a.dst)?;
    if a.io != IoKind::Xdp
        && (a.dut_netns.is_some() || a.no_rx_checksum || a.xdp_mode != XdpModeArg::Auto)
    {
        return Err(CliError::Usage(
            "--dut-netns, --no-rx-checksum and --xdp-mode are for --io xdp".into(),
        ));
    }
    if let Some(c) = &a.cores {
        check_cores(&c.0)?;
    }
    Ok(())
}

/// Print clap's error as one line (`synfin: error: ...`, without its usage and
/// tips) and return status 2; help and version go out as clap prints them.
pub(crate) fn usage_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            let text = e.render().to_string();
            // The error, with clap's list of possible values or its tip, on one line.
            let mut parts = text.lines().map(str::trim).filter(|l| {
                l.starts_with("error: ")
                    || l.starts_with("[possible values")
                    || l.starts_with("tip: ")
            });
            let first = parts.next().unwrap_or("bad command line");
            let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
            for p in parts {
                line.push(' ');
                line.push_str(p);
            }
            eprintln!("synfin: error: {line} (see synfin --help)");
            std::process::ExitCode::from(2)
        }
    }
}
