//! [`Environment`]: the machine a report was measured on.

use serde::Serialize;

use crate::Scale;

/// Where and how a run was measured, printed at the top of each report.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// The kernel release.
    pub kernel: String,
    /// The CPU model.
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// Total memory in bytes.
    pub mem_total: u64,
    /// The run's scale.
    pub scale: Scale,
    /// This crate's version.
    pub version: String,
    /// The CPUs the measuring threads were pinned to (empty: not pinned).
    pub pinned: Vec<usize>,
}

impl Environment {
    pub(crate) fn probe(scale: Scale) -> Environment {
        Environment {
            kernel: crate::sys::kernel_release(),
            cpu_model: crate::sys::cpu_model(),
            cpus: crate::sys::allowed_cpus().len(),
            mem_total: crate::sys::mem_total().unwrap_or(0),
            scale,
            version: env!("CARGO_PKG_VERSION").to_string(),
            pinned: Vec::new(),
        }
    }

    /// One line for a report header.
    pub(crate) fn line(&self) -> String {
        let pinned = if self.pinned.is_empty() {
            "not pinned".to_string()
        } else {
            format!(
                "pinned to CPU {}",
                self.pinned
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        };
        format!(
            "Linux {}, {} CPU(s) ({}), {} memory, {pinned}; scale {:?}",
            self.kernel,
            self.cpus,
            self.cpu_model,
            crate::table::bytes(self.mem_total),
            self.scale
        )
    }
}
