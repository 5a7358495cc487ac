//! The I/O report's chart: warm read throughput by operation size, one
//! panel per access pattern, one line per method (SVG, via plotters).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{BenchError, Result};
use crate::io::{Access, Cache, IoReport, Method};
use crate::table::bytes;

const METHODS: [(Method, RGBColor); 4] = [
    (Method::Pread, RGBColor(0x44, 0x44, 0x44)),
    (Method::ReadAt, RGBColor(0x1f, 0x77, 0xb4)),
    (Method::InPlace, RGBColor(0x2c, 0xa0, 0x2c)),
    (Method::MapPerOp, RGBColor(0xd6, 0x27, 0x28)),
];

pub(crate) fn io_chart(r: &IoReport, path: &Path) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| BenchError::Plot {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let warm: Vec<_> = r.rows.iter().filter(|x| x.cache == Cache::Warm).collect();
    let rates = warm.iter().map(|x| x.mib_per_s.median).filter(|v| *v > 0.0);
    let lo = rates.clone().fold(f64::INFINITY, f64::min);
    let hi = rates.fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.5, hi * 1.5)
    } else {
        (1.0, 10.0)
    };

    let root = SVGBackend::new(path, (1260, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(
            &format!(
                "Warm reads of a {} file: MiB/s by operation size (median of {} repetitions)",
                bytes(r.file.len),
                r.repetitions
            ),
            ("sans-serif", 20),
        )
        .map_err(|e| err(&e))?;
    for (panel, access) in
        root.split_evenly((1, 3))
            .iter()
            .zip([Access::Sequential, Access::Random, Access::Hot])
    {
        let mut chart = ChartBuilder::on(panel)
            .caption(access.name(), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(5.5f64..20.5f64, (lo..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("operation size")
            .y_desc("MiB/s")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_labels(16)
            .x_label_formatter(&|x| {
                let e = x.round();
                if (x - e).abs() < 1e-6 && [6.0, 12.0, 16.0, 20.0].contains(&e) {
                    bytes(1u64 << e as u32)
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| err(&e))?;
        for (method, color) in METHODS {
            let points: Vec<(f64, f64)> = warm
                .iter()
                .filter(|x| x.access == access && x.method == method)
                .map(|x| ((x.size as f64).log2(), x.mib_per_s.median.max(lo)))
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(method.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

impl IoReport {
    /// Draws the warm read throughput by size, one panel per access
    /// pattern and one line per method, as an SVG file at `path`.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        io_chart(self, path)
    }
}
