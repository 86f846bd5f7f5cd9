//! Resource trend charts: one PNG per server, a panel per resource with the daily minimum,
//! mean and maximum over the month, axis labels and titles in Japanese.
//!
//! Owns: drawing with plotters into memory and encoding the PNG. Must not know: where the
//! numbers come from, or where the PNG goes (mail part, file, PDF).

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::compute::ResourceTrend;
use crate::font::JapaneseFont;

/// The family name the report's font is registered under (plotters' ab_glyph backend knows
/// only registered fonts).
const FAMILY: &str = "anshin-jp";

#[derive(Debug, thiserror::Error)]
#[error("chart: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// Registers the font once per process (plotters keeps fonts in a global table, borrowed for
/// the process's life, so the bytes are leaked once on purpose).
fn register(font: &JapaneseFont) -> Result<(), ChartError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let bytes: &'static [u8] = Box::leak(font.data.as_ref().clone().into_boxed_slice());
        for name in [FAMILY, "sans-serif"] {
            plotters::style::register_font(name, FontStyle::Normal, bytes)
                .map_err(|_| format!("{}: plotters cannot read this font", font.path.display()))?;
        }
        Ok(())
    })
    .clone()
    .map_err(ChartError)
}

/// A line of a panel: legend name, colour, width, and which value of the day it draws.
type Series = (&'static str, RGBColor, u32, fn(&crate::compute::DayStat) -> f64);

/// Width and height of a chart in pixels.
pub const SIZE: (u32, u32) = (1100, 760);

/// Draws one server's trends (up to four panels) as a PNG.
pub fn server_chart(
    host: &str,
    month_label: &str,
    days_in_month: u32,
    trends: &[&ResourceTrend],
    font: &JapaneseFont,
) -> Result<Vec<u8>, ChartError> {
    register(font)?;
    let (w, h) = SIZE;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = format!("{host} リソース推移（{month_label}、日ごとの最小・平均・最大）");
        let root = root.titled(&title, (FAMILY, 28).into_font().color(&BLACK)).map_err(err)?;
        let rows = if trends.len() > 2 { 2 } else { 1 };
        let cols = if trends.len() > 1 { 2 } else { 1 };
        let areas = root.split_evenly((rows, cols));
        for (area, t) in areas.iter().zip(trends) {
            let top = t.days.iter().map(|d| d.max).fold(0.0f64, f64::max);
            let top = if t.unit == "%" {
                100.0
            } else if top <= 0.0 {
                1.0
            } else {
                top * 1.2
            };
            let x_end = f64::from(days_in_month.max(2));
            let unit = if t.unit.is_empty() { "値".to_string() } else { format!("値（{}）", t.unit) };
            let mut chart = ChartBuilder::on(area)
                .caption(&t.title, (FAMILY, 22).into_font())
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(1f64..x_end, 0f64..top)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("日")
                .y_desc(unit)
                .x_labels(days_in_month.min(16) as usize)
                .x_label_formatter(&|x| format!("{}", x.round() as i64))
                .label_style((FAMILY, 15).into_font())
                .axis_desc_style((FAMILY, 17).into_font())
                .light_line_style(WHITE)
                .draw()
                .map_err(err)?;
            let band: Vec<(f64, f64)> = t
                .days
                .iter()
                .map(|d| (f64::from(d.day), d.max))
                .chain(t.days.iter().rev().map(|d| (f64::from(d.day), d.min)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15)))).map_err(err)?;
            let series: [Series; 3] = [
                ("最大", RGBColor(200, 40, 40), 2, |d| d.max),
                ("平均", RGBColor(20, 70, 190), 3, |d| d.mean),
                ("最小", RGBColor(30, 140, 60), 2, |d| d.min),
            ];
            for (name, color, width, pick) in series {
                chart
                    .draw_series(LineSeries::new(
                        t.days.iter().map(|d| (f64::from(d.day), pick(d))),
                        color.stroke_width(width),
                    ))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width)));
            }
            chart
                .configure_series_labels()
                .label_font((FAMILY, 15).into_font())
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&buf).map_err(err)?;
    }
    Ok(png_bytes)
}
