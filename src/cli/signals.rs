//! SIGINT and SIGTERM: the first one asks the run to stop opening connections,
//! drain and report; a second one aborts at once — after running the clean-ups
//! registered with [`on_abort`] (the demo's test bed), so that even an impatient
//! double Ctrl-C leaves nothing behind. (The XDP program needs no clean-up: its BPF
//! link detaches when the process's file descriptors close.)
//!
//! A thread waits for the signals (signal-hook's iterator), so the clean-ups run in
//! ordinary code, not in a signal handler.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::CliError;

/// Exit status after an abort by a second signal (128 + SIGINT, as shells report).
pub const ABORT_STATUS: i32 = 130;

type Cleanup = Box<dyn FnOnce() + Send>;

/// Clean-ups to run on an abort, by id.
fn cleanups() -> &'static Mutex<Vec<(u64, Cleanup)>> {
    static CLEANUPS: OnceLock<Mutex<Vec<(u64, Cleanup)>>> = OnceLock::new();
    CLEANUPS.get_or_init(|| Mutex::new(Vec::new()))
}

/// The stop flag, shared by every caller of [`install`] in this process.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Install the handlers (once per process) and return the stop flag that the first
/// signal sets.
pub fn install() -> Result<Arc<AtomicBool>, CliError> {
    if let Some(stop) = STOP.get() {
        return Ok(Arc::clone(stop));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| CliError::Runtime(format!("cannot install signal handlers: {e}")))?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("synfin-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if !flag.swap(true, Ordering::SeqCst) {
                    let name = if sig == signal_hook::consts::SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    eprintln!(
                        "synfin: {name}: stopping (open connections drain); a second signal aborts"
                    );
                    continue;
                }
                run_cleanups();
                eprintln!("synfin: aborted by a second signal");
                std::process::exit(ABORT_STATUS);
            }
        })
        .map_err(|e| CliError::Runtime(format!("cannot start the signal thread: {e}")))?;
    let _ = STOP.set(Arc::clone(&stop));
    Ok(STOP.get().map(Arc::clone).unwrap_or(stop))
}

/// Run every registered clean-up (each once), newest first.
fn run_cleanups() {
    let taken: Vec<(u64, Cleanup)> = match cleanups().lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for (_, f) in taken.into_iter().rev() {
        f();
    }
}

/// A clean-up registered with [`on_abort`]; dropping it unregisters it (the normal
/// path cleans up by itself).
pub struct AbortCleanup(u64);

impl Drop for AbortCleanup {
    fn drop(&mut self) {
        if let Ok(mut v) = cleanups().lock() {
            v.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Run `f` if the process is aborted by a second signal while the returned value
/// lives.
pub fn on_abort(f: impl FnOnce() + Send + 'static) -> AbortCleanup {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut v) = cleanups().lock() {
        v.push((id, Box::new(f)));
    }
    AbortCleanup(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleanup_runs_once_and_a_dropped_one_not_at_all() {
        let hits = Arc::new(AtomicU64::new(0));
        let h = Arc::clone(&hits);
        let kept = on_abort(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let h = Arc::clone(&hits);
        drop(on_abort(move || {
            h.fetch_add(10, Ordering::SeqCst);
        }));
        run_cleanups();
        run_cleanups();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        drop(kept);
    }
}
