//! Ending a long-running command cleanly on `SIGINT` and `SIGTERM`: the
//! signal sets a flag that the command's loop checks, so it can finish its
//! output (and, for `mapped log tail --name`, save its position) and exit
//! with status 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by `SIGINT` and `SIGTERM` once [`catch_stop_signals`] has run.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Makes `SIGINT` and `SIGTERM` set the stop flag instead of killing us.
pub fn catch_stop_signals() {
    let handler = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_stop` only stores to an atomic, which is
        // async-signal-safe; it has the signature `signal` expects.
        let previous = unsafe { libc::signal(signal, handler) };
        if previous == libc::SIG_IGN {
            // Ignored by whoever started us (`nohup`, a background job of a
            // script): keep it so.
            // SAFETY: restoring SIG_IGN runs no code of ours.
            unsafe { libc::signal(signal, libc::SIG_IGN) };
        }
    }
}

/// True once a stop signal has arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Sleeps for `interval`, in short steps so that a stop signal is noticed
/// promptly; returns false if one arrived.
pub fn sleep_unless_stopped(interval: Duration) -> bool {
    let deadline = Instant::now() + interval;
    loop {
        if stopped() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}
