//! SIGINT (Ctrl-C) and SIGTERM (a scheduler's pre-emption): the first stops the
//! run at its next check, which removes its staging directory and leaves
//! earlier results whole; a second ends the process at once (the next run's
//! commit removes what it leaves).
//!
//! signal-hook's flags rather than a handler of our own: registering is safe
//! code, chains with other handlers, and the only work done inside the handler
//! is an atomic store.

use signal_hook::consts::{SIGINT, SIGTERM};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The number of the first signal received, 0 before any.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Set by the first signal; arms the immediate exit on the second.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Installs the handlers. Without them (registration failed) the signals keep
/// their default action, which ends the process as before.
pub fn install() {
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the exit sees the flag as the previous signal left it.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &STOPPING);
        let _ = signal_hook::flag::register_usize(signal, &RECEIVED, signal as usize);
        let _ = signal_hook::flag::register(signal, &STOPPING);
    }
}

/// A signal that stopped the run.
#[derive(Debug)]
pub struct Stopped {
    /// Its name (`SIGINT`).
    pub name: &'static str,
    /// Its number.
    pub number: i32,
}

/// The first signal received, if one arrived.
pub fn received() -> Option<Stopped> {
    let number = i32::try_from(RECEIVED.load(Ordering::SeqCst)).ok()?;
    let name = match number {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => return None,
    };
    Some(Stopped { name, number })
}

/// Stops here if a signal arrived: a check between the steps of a run.
pub fn check() -> Result<(), Stopped> {
    received().map_or(Ok(()), Err)
}

/// For a progress callback: stop the estimator if a signal arrived.
pub fn flow() -> ControlFlow<()> {
    if RECEIVED.load(Ordering::SeqCst) == 0 {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}
