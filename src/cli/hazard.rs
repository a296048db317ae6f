//! `synfin hazard old-duplicate|lost-last-ack`: the TIME-WAIT hazards reproduced
//! against the kernel on a test bed (see [`crate::tw::hazard`]).

use std::fmt::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{CliError, Format, parse_duration};
use crate::tw::hazard;
use crate::tw::matrix::kernel_release;

/// Options of `synfin hazard`.
#[derive(Debug, Args)]
pub struct HazardArgs {
    /// Which hazard.
    #[command(subcommand)]
    pub which: HazardKind,
}

/// The hazards.
#[derive(Debug, Subcommand)]
pub enum HazardKind {
    /// A delayed segment of an earlier connection on the same 4-tuple, delivered into
    /// a new one whose window it falls in.
    OldDuplicate {
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The last ACK of a close withheld (the DUT in LAST-ACK), then a SYN on the same
    /// 4-tuple; and the mirror, the DUT in TIME-WAIT.
    LostLastAck {
        /// Longest wait in each case for the tuple to open again.
        #[arg(long, value_parser = parse_duration, default_value = "3s")]
        wait: Duration,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn yes(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Runs a hazard; its table (or JSON).
pub fn run(a: &HazardArgs) -> Result<String, CliError> {
    super::require_root("synfin hazard")?;
    let name = format!("hz{}", std::process::id() % 100_000);
    let kernel = kernel_release();
    match &a.which {
        HazardKind::OldDuplicate { format } => {
            let rows = hazard::old_duplicate(&name, &hazard::old_duplicate_variants())
                .map_err(CliError::Runtime)?;
            if *format == Format::Json {
                let v = json!({ "hazard": "old-duplicate", "kernel": kernel, "rows": rows });
                return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
            }
            let mut s = format!("synfin hazard old-duplicate | kernel {kernel}\n\n");
            s.push_str("| DUT timestamps | client timestamps | DUT sends | new ISN | negotiated | old segment accepted | DUT answered | DUT ISN moved | why |\n|---|---|---|---|---|---|---|---|---|\n");
            for r in &rows {
                let v = r.variant;
                if let Some(e) = &r.error {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | | | error: {e} | | | |",
                        yes(v.dut_timestamps),
                        yes(v.client_timestamps),
                        v.dut_sends
                    );
                    continue;
                }
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | **{}** | {} | {} | {} |",
                    yes(v.dut_timestamps),
                    yes(v.client_timestamps),
                    v.dut_sends,
                    if v.isn_in_window {
                        "old segment at RCV.NXT"
                    } else {
                        "2^31 away"
                    },
                    if r.timestamps_negotiated {
                        "timestamps"
                    } else {
                        "no timestamps"
                    },
                    if r.accepted { "yes" } else { "no" },
                    r.dut_answer,
                    r.dut_isn_advance,
                    r.why
                );
            }
            Ok(s)
        }
        HazardKind::LostLastAck { wait, format } => {
            if wait.is_zero() || *wait > Duration::from_secs(120) {
                return Err(CliError::Usage(
                    "--wait must be above 0 and at most 120s".into(),
                ));
            }
            let rows = hazard::lost_last_ack(&name, &hazard::last_ack_variants(), *wait)
                .map_err(CliError::Runtime)?;
            if *format == Format::Json {
                let v = json!({ "hazard": "lost-last-ack", "kernel": kernel,
                                "probe_interval_ms": hazard::PROBE_INTERVAL.as_millis() as u64, "rows": rows });
                return Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n");
            }
            let mut s = format!(
                "synfin hazard lost-last-ack | kernel {kernel} | a SYN every {} ms, at most {:?} per case\n\n",
                hazard::PROBE_INTERVAL.as_millis(),
                wait
            );
            s.push_str("| DUT state | DUT ts | client ts | new ISN | rfc1337 | client answers with | state seen | first answer | opened after | answers |\n|---|---|---|---|---|---|---|---|---|---|\n");
            for r in &rows {
                let v = r.variant;
                let head = format!(
                    "| {} | {} | {} | {} | {} | {:?} |",
                    v.dut_state,
                    yes(v.dut_timestamps),
                    yes(v.client_timestamps),
                    if v.isn_above { "above" } else { "below" },
                    v.rfc1337 as u8,
                    v.on_answer
                );
                if let Some(e) = &r.error {
                    let _ = writeln!(s, "{head} error: {e} | | | |");
                    continue;
                }
                let _ = writeln!(
                    s,
                    "{head} {} | {} | {} | {} |",
                    r.state_before.unwrap_or("none"),
                    r.first_answer,
                    r.opened_after_ms.map_or_else(
                        || format!("not within {} ms", r.waited_ms),
                        |ms| format!("{ms} ms")
                    ),
                    r.answers.join(" ")
                );
            }
            Ok(s)
        }
    }
}
