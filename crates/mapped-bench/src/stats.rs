//! Medians, spreads, ratios, and the verdicts drawn from them.
//!
//! Every comparison is between two rows of the same run. A ratio carries
//! the range the repetitions allow (best case over worst case and back):
//! when that range straddles the line a claim or target draws, the honest
//! answer is "too noisy to conclude".

use serde::Serialize;

/// The median and the min–max spread of repeated measurements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest measurement.
    pub min: f64,
    /// The largest measurement.
    pub max: f64,
    /// Every measurement, in the order taken.
    pub samples: Vec<f64>,
}

impl Summary {
    /// Summarizes `samples`; all zero for none.
    pub fn of(samples: Vec<f64>) -> Summary {
        if samples.is_empty() {
            return Summary {
                median: 0.0,
                min: 0.0,
                max: 0.0,
                samples,
            };
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            samples,
        }
    }

    /// Applies `f` to every measurement (for unit changes; `f` must be
    /// monotonic, increasing or decreasing).
    pub(crate) fn map(&self, f: impl Fn(f64) -> f64) -> Summary {
        Summary::of(self.samples.iter().map(|&x| f(x)).collect())
    }

    /// `self / other` with the range the spreads allow.
    pub fn ratio(&self, other: &Summary) -> Ratio {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
        Ratio {
            value: div(self.median, other.median),
            low: div(self.min, other.max),
            high: div(self.max, other.min),
        }
    }
}

/// A ratio of two medians, with the lowest and highest ratio the two
/// spreads allow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// The ratio of the medians.
    pub value: f64,
    /// The smallest ratio the spreads allow.
    pub low: f64,
    /// The largest ratio the spreads allow.
    pub high: f64,
}

impl Ratio {
    /// The reciprocal (for turning a time ratio into a rate ratio).
    pub fn inverse(self) -> Ratio {
        Ratio {
            value: 1.0 / self.value,
            low: 1.0 / self.high,
            high: 1.0 / self.low,
        }
    }

    /// The verdict on "this ratio is at least `line`".
    pub fn at_least(self, line: f64) -> Verdict {
        if self.low >= line {
            Verdict::Holds
        } else if self.high < line {
            Verdict::DoesNotHold
        } else {
            Verdict::TooNoisy
        }
    }

    /// The verdict on "this ratio is at most `line`".
    pub fn at_most(self, line: f64) -> Verdict {
        if self.high <= line {
            Verdict::Holds
        } else if self.low > line {
            Verdict::DoesNotHold
        } else {
            Verdict::TooNoisy
        }
    }

    /// `1.72x [1.60–1.85]`.
    pub fn show(self) -> String {
        format!(
            "{}x [{}–{}]",
            fmt_ratio(self.value),
            fmt_ratio(self.low),
            fmt_ratio(self.high)
        )
    }
}

/// A ratio with sensible precision.
pub(crate) fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "inf".to_string()
    } else if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// What the measurements say about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every repetition agrees with the claim.
    Holds,
    /// Every repetition contradicts the claim.
    DoesNotHold,
    /// The spreads straddle the line: too noisy to conclude.
    TooNoisy,
    /// Not measured in this run (the reason is in the measured text).
    NotMeasured,
}

impl Verdict {
    /// Both parts must hold; either failing fails; otherwise undecided.
    pub(crate) fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (NotMeasured, _) | (_, NotMeasured) => NotMeasured,
            (DoesNotHold, _) | (_, DoesNotHold) => DoesNotHold,
            (Holds, Holds) => Holds,
            _ => TooNoisy,
        }
    }

    /// The words printed in reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::TooNoisy => "too noisy to conclude",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One claim of the benchmark's brief, with what this run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// The claim's number in the brief.
    pub number: u32,
    /// The claim, in one line.
    pub claim: String,
    /// What was compared and the result, in one line.
    pub measured: String,
    /// The main ratio behind the verdict, if measured.
    pub ratio: Option<Ratio>,
    /// The verdict for this machine and file.
    pub verdict: Verdict,
}

impl Claim {
    /// One line: `(1) claim: measured — verdict`.
    pub(crate) fn line(&self) -> String {
        format!(
            "({}) {}: {} — {}",
            self.number,
            self.claim,
            self.measured,
            self.verdict.label()
        )
    }
}

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// The median ratio meets the target.
    Pass,
    /// The median ratio misses the target.
    Miss,
    /// Not measured in this run.
    NotMeasured,
}

/// One of the project's performance targets, checked against this run.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target, in words, with its threshold.
    pub target: String,
    /// The measured ratio (in the target's direction), if measured.
    pub ratio: Option<Ratio>,
    /// PASS or MISS on the median ratio.
    pub status: TargetStatus,
    /// True when the threshold lies inside the ratio's spread: the status
    /// could flip on a quieter run.
    pub noisy: bool,
    /// Why it was not measured, or a remark on what was compared.
    pub note: String,
}

impl Target {
    /// A target met when `ratio >= line` (`at_least`) or `ratio <= line`.
    pub(crate) fn check(
        target: impl Into<String>,
        ratio: Option<Ratio>,
        line: f64,
        at_least: bool,
        note: impl Into<String>,
    ) -> Target {
        let note = note.into();
        let Some(r) = ratio else {
            return Target {
                target: target.into(),
                ratio: None,
                status: TargetStatus::NotMeasured,
                noisy: false,
                note,
            };
        };
        let pass = if at_least {
            r.value >= line
        } else {
            r.value <= line
        };
        Target {
            target: target.into(),
            ratio: Some(r),
            status: if pass {
                TargetStatus::Pass
            } else {
                TargetStatus::Miss
            },
            noisy: r.low < line && line < r.high,
            note,
        }
    }

    /// One line: `PASS  target: 1.72x [1.60–1.85]`.
    pub(crate) fn line(&self) -> String {
        let status = match self.status {
            TargetStatus::Pass => "PASS",
            TargetStatus::Miss => "MISS",
            TargetStatus::NotMeasured => "----",
        };
        let measured = match self.ratio {
            Some(r) => r.show(),
            None => "not measured".to_string(),
        };
        let noisy = if self.noisy {
            " (noisy: the spread straddles the threshold)"
        } else {
            ""
        };
        let note = if self.note.is_empty() {
            String::new()
        } else {
            format!(" — {}", self.note)
        };
        format!("{status}  {}: {measured}{noisy}{note}", self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Summary::of(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(Summary::of(vec![5.0]).median, 5.0);
    }

    #[test]
    fn ratio_range_and_verdicts() {
        let a = Summary::of(vec![10.0, 12.0]);
        let b = Summary::of(vec![4.0, 5.0]);
        let r = a.ratio(&b);
        assert_eq!((r.low, r.high), (2.0, 3.0));
        assert_eq!(r.at_least(1.5), Verdict::Holds);
        assert_eq!(r.at_least(2.5), Verdict::TooNoisy);
        assert_eq!(r.at_least(4.0), Verdict::DoesNotHold);
        assert_eq!(r.at_most(4.0), Verdict::Holds);
        assert_eq!(r.inverse().at_most(0.4), Verdict::TooNoisy);
        assert_eq!(Verdict::Holds.and(Verdict::TooNoisy), Verdict::TooNoisy);
        assert_eq!(
            Verdict::DoesNotHold.and(Verdict::TooNoisy),
            Verdict::DoesNotHold
        );
    }

    #[test]
    fn targets_flag_noise() {
        let r = Ratio {
            value: 1.6,
            low: 1.4,
            high: 1.8,
        };
        let t = Target::check("x", Some(r), 1.5, true, "");
        assert_eq!(t.status, TargetStatus::Pass);
        assert!(t.noisy);
        let t = Target::check("x", Some(r), 1.5, false, "");
        assert_eq!(t.status, TargetStatus::Miss);
        let t = Target::check("x", None, 1.5, true, "no data");
        assert_eq!(t.status, TargetStatus::NotMeasured);
        assert!(t.line().contains("not measured"));
    }
}
