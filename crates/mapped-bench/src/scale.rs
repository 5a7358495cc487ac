//! [`Scale`]: how much work a benchmark does.

/// How much work a benchmark does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// The full run: larger files, more operations and repetitions.
    Full,
    /// Every claim and target covered in under a minute on two cores.
    Quick,
    /// A handful of operations of each kind, for tests: the numbers mean
    /// nothing, but every code path runs and the report is complete.
    Smoke,
}

impl Scale {
    /// Picks a value by scale.
    pub(crate) fn pick<T>(self, full: T, quick: T, smoke: T) -> T {
        match self {
            Scale::Full => full,
            Scale::Quick => quick,
            Scale::Smoke => smoke,
        }
    }
}
