//! Plain-text tables and number formats for the reports.

use crate::stats::{Ratio, Summary, fmt_ratio};

/// A table of left-aligned text columns.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, columns padded to their widest cell, two spaces apart.
    pub(crate) fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut width = vec![0; cols];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                line.push_str(c);
                if i + 1 < r.len() {
                    let pad = width[i] - c.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A byte count in binary units: `64 B`, `4 KiB`, `1.5 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A number with three significant digits at most, without exponent.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A duration in nanoseconds, in the unit that reads best.
pub(crate) fn ns(v: f64) -> String {
    if v >= 1e9 {
        format!("{} s", num(v / 1e9))
    } else if v >= 1e6 {
        format!("{} ms", num(v / 1e6))
    } else if v >= 1e3 {
        format!("{} µs", num(v / 1e3))
    } else {
        format!("{} ns", num(v))
    }
}

/// `median [min–max]` of durations in nanoseconds, in one unit.
pub(crate) fn ns_spread(s: &Summary) -> String {
    let (div, unit) = if s.median >= 1e9 {
        (1e9, "s")
    } else if s.median >= 1e6 {
        (1e6, "ms")
    } else if s.median >= 1e3 {
        (1e3, "µs")
    } else {
        (1.0, "ns")
    };
    format!(
        "{} [{}–{}] {unit}",
        num(s.median / div),
        num(s.min / div),
        num(s.max / div)
    )
}

/// A rate per second with a unit prefix: `13.2 M`, `328 k`, `950`.
pub(crate) fn rate(v: f64) -> String {
    if v >= 1e9 {
        format!("{} G", num(v / 1e9))
    } else if v >= 1e6 {
        format!("{} M", num(v / 1e6))
    } else if v >= 1e3 {
        format!("{} k", num(v / 1e3))
    } else {
        num(v)
    }
}

/// `median [min–max]` of rates per second, in one unit.
pub(crate) fn rate_spread(s: &Summary) -> String {
    let (div, unit) = if s.median >= 1e9 {
        (1e9, " G")
    } else if s.median >= 1e6 {
        (1e6, " M")
    } else if s.median >= 1e3 {
        (1e3, " k")
    } else {
        (1.0, "")
    };
    format!(
        "{} [{}–{}]{unit}",
        num(s.median / div),
        num(s.min / div),
        num(s.max / div)
    )
}

/// A speed-up (above 1: faster) in words, its range turned the same way:
/// `2.63x faster [1.08–6.67]`, `1.44x slower [1.41–2.18]`; `(noisy)` when
/// the range holds both.
pub(crate) fn faster(r: Ratio) -> String {
    let (word, q) = if r.value >= 1.0 {
        ("faster", r)
    } else {
        ("slower", r.inverse())
    };
    let noisy = if r.low < 1.0 && r.high > 1.0 {
        " (noisy)"
    } else {
        ""
    };
    format!(
        "{}x {word} [{}–{}]{noisy}",
        fmt_ratio(q.value),
        fmt_ratio(q.low),
        fmt_ratio(q.high)
    )
}

/// A speed-up in a sentence: `2.6x faster than`, `1.4x slower than`,
/// `about as fast as` (within 5%).
pub(crate) fn faster_than(speedup: f64) -> String {
    if !speedup.is_finite() || speedup <= 0.0 {
        "not comparable with".to_string()
    } else if (0.95..=1.05).contains(&speedup) {
        "about as fast as".to_string()
    } else if speedup > 1.0 {
        format!("{}x faster than", short_ratio(speedup))
    } else {
        format!("{}x slower than", short_ratio(1.0 / speedup))
    }
}

/// A ratio to one decimal below 10, whole above: `2.6`, `13`, `131`.
pub(crate) fn short_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(64), "64 B");
        assert_eq!(bytes(4096), "4 KiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(num(1234.5), "1234");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(ns(1500.0), "1.50 µs");
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["ccc".into(), "d".into()]);
        assert_eq!(t.render(), "a    bb\nccc  d\n");
        assert_eq!(rate(13_201_564.0), "13.2 M");
        assert_eq!(rate(328_471.0), "328 k");
    }

    #[test]
    fn speedups_read_in_words() {
        let r = |value, low, high| Ratio { value, low, high };
        assert_eq!(faster(r(2.5, 2.0, 3.0)), "2.50x faster [2.00–3.00]");
        assert_eq!(
            faster(r(0.5, 0.25, 1.25)),
            "2.00x slower [0.80–4.00] (noisy)"
        );
        assert_eq!(faster_than(131.2), "131x faster than");
        assert_eq!(faster_than(0.4), "2.5x slower than");
        assert_eq!(faster_than(1.02), "about as fast as");
    }
}
