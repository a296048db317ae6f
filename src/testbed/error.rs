//! What can go wrong while making, inspecting or removing a testbed.

use std::fmt;
use std::io;

/// A testbed operation's failure. Every variant's message is one line a user can
/// act on.
#[derive(Debug)]
pub enum TestbedError {
    /// The configuration (or a name given to a helper) is not acceptable; nothing was
    /// touched.
    InvalidConfig(String),
    /// A namespace with one of the testbed's names exists, but synfin did not make it
    /// (or has no record of making it); nothing was touched.
    NotOurs {
        /// The namespace.
        namespace: String,
        /// Why synfin does not consider it its own, and what the user can do.
        why: String,
    },
    /// synfin's testbed of that name is up with a different configuration.
    ConfigMismatch {
        /// The testbed's name.
        name: String,
        /// What differs.
        what: String,
    },
    /// A namespace that a helper was asked to enter does not exist.
    NoSuchNamespace(String),
    /// An external command (`ip`, ...) could not run or exited with failure.
    Command {
        /// The command line.
        command: String,
        /// Its exit code, if it ran and exited.
        status: Option<i32>,
        /// What it said on stderr (trimmed), or why it could not run.
        stderr: String,
    },
    /// A system call or file operation failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// Output of a command or a kernel file was not what was expected.
    Parse {
        /// What was being parsed.
        what: String,
        /// The offending text (shortened).
        text: String,
    },
}

impl TestbedError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> TestbedError {
        TestbedError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, text: &str) -> TestbedError {
        let mut text = text.trim().to_owned();
        if text.len() > 200 {
            let mut cut = 200;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        TestbedError::Parse {
            what: what.into(),
            text,
        }
    }
}

impl fmt::Display for TestbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestbedError::InvalidConfig(msg) => write!(f, "invalid testbed configuration: {msg}"),
            TestbedError::NotOurs { namespace, why } => {
                write!(
                    f,
                    "network namespace {namespace:?} was not made by synfin: {why}"
                )
            }
            TestbedError::ConfigMismatch { name, what } => write!(
                f,
                "testbed {name:?} is already up with a different configuration ({what}); \
                 run `synfin testbed down {name}` first"
            ),
            TestbedError::NoSuchNamespace(ns) => {
                write!(f, "network namespace {ns:?} does not exist")
            }
            TestbedError::Command {
                command,
                status,
                stderr,
            } => {
                match status {
                    Some(code) => write!(f, "`{command}` exited with status {code}")?,
                    None => write!(f, "`{command}` failed")?,
                }
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            TestbedError::Io { what, source } => write!(f, "{what}: {source}"),
            TestbedError::Parse { what, text } => write!(f, "cannot parse {what}: {text:?}"),
        }
    }
}

impl std::error::Error for TestbedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestbedError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The testbed's result type.
pub type Result<T, E = TestbedError> = std::result::Result<T, E>;
