//! `synfin testbed up|down|status`: the veth test bed as a command.

use clap::{Args, Subcommand};

use super::{CliError, parse_count_u32_nonzero};
use crate::testbed::{Testbed, TestbedConfig};

/// Options of `synfin testbed`.
#[derive(Debug, Args)]
pub struct TestbedArgs {
    /// What to do with the test bed.
    #[command(subcommand)]
    pub action: TestbedAction,
}

/// Test bed actions.
#[derive(Debug, Subcommand)]
pub enum TestbedAction {
    /// Create the namespaces `NAME-gen` and `NAME-dut` joined by a veth pair (idempotent).
    Up {
        /// Name prefix (1-13 of A-Z a-z 0-9 _ -).
        #[arg(long, default_value = "synfin")]
        name: String,
        /// Receive/transmit queues on each veth end.
        #[arg(long, value_parser = parse_count_u32_nonzero, default_value = "1")]
        queues: u32,
        /// Generator source addresses (from 198.18.1.0) the DUT can reach.
        #[arg(long, value_parser = parse_count_u32_nonzero, default_value = "64")]
        sources: u32,
    },
    /// Remove everything `up` made (safe to repeat).
    Down {
        /// Name prefix.
        #[arg(long, default_value = "synfin")]
        name: String,
    },
    /// Show what exists, as the kernel reports it.
    Status {
        /// Name prefix.
        #[arg(long, default_value = "synfin")]
        name: String,
    },
}

/// Run a test bed action; the text to print on success.
pub fn run(a: &TestbedArgs) -> Result<String, CliError> {
    super::require_root("synfin testbed")?;
    match &a.action {
        TestbedAction::Up {
            name,
            queues,
            sources,
        } => {
            let cfg = TestbedConfig {
                queues: *queues,
                sources: *sources,
                ..TestbedConfig::named(name.clone())
            };
            cfg.validate().map_err(|e| CliError::Usage(e.to_string()))?;
            let tb = Testbed::up(&cfg).map_err(refusal_or_runtime)?;
            let c = tb.config();
            Ok(format!(
                "testbed {} is up\n  generator: namespace {} interface {} ({}), sources {}\n  DUT:       namespace {} interface {} ({})\n  run: synfin run --io xdp --netns {} --interface {} --src {} --dst {}:80\n",
                tb.name(),
                tb.gen_ns(),
                tb.gen_if(),
                c.gen_addr,
                c.src_arg(),
                tb.dut_ns(),
                tb.dut_if(),
                c.dut_addr,
                tb.gen_ns(),
                tb.gen_if(),
                c.src_arg(),
                c.dut_addr,
            ))
        }
        TestbedAction::Down { name } => {
            crate::testbed::validate_name(name).map_err(|e| CliError::Usage(e.to_string()))?;
            Testbed::down(name).map_err(refusal_or_runtime)?;
            Ok(format!("testbed {name} is down\n"))
        }
        TestbedAction::Status { name } => {
            crate::testbed::validate_name(name).map_err(|e| CliError::Usage(e.to_string()))?;
            let st = Testbed::status(name).map_err(|e| CliError::Runtime(e.to_string()))?;
            Ok(format!("{st}\n"))
        }
    }
}

/// A test bed refused because its names belong to someone else, or exist with
/// another configuration, is a usage error (status 2); anything else is a failure.
fn refusal_or_runtime(e: crate::testbed::TestbedError) -> CliError {
    use crate::testbed::TestbedError;
    match e {
        TestbedError::NotOurs { .. } | TestbedError::ConfigMismatch { .. } => {
            CliError::Usage(e.to_string())
        }
        e => CliError::Runtime(e.to_string()),
    }
}
