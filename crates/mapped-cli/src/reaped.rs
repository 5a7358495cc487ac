//! A child process that is killed and reaped when its owner gives up on
//! it: the demo's child processes, and the CLI tests' (a test that fails
//! while its child runs leaves no child behind).

use std::process::Child;

/// A child process, killed (if still running) and reaped when dropped.
#[derive(Debug)]
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
