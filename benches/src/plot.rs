//! The scaling plot: line charts side by side in one SVG file, drawn with `plotters` (its SVG
//! backend only, no fonts needed: the SVG names a font family and the viewer renders it).
//!
//! Every panel has categories along x (the scales of one invocation, or job counts) at
//! equal spacing, and median wall seconds along a logarithmic y axis, so that equal ratios
//! look equal at every scale. Each panel's legend sits below its chart, never over a line.

use plotters::prelude::*;

/// One line: a value per category (by index into [`Panel::categories`]); categories without
/// a value are skipped, and the line joins the ones on either side.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(usize, f64)>,
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    /// What x is (under the axis).
    pub x_desc: String,
    /// What y is (along the axis).
    pub y_desc: String,
    /// The x axis's labels, left to right.
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

/// Distinct line colours (the Tableau 10 palette), reused in order past ten series, whose
/// lines are then dashed.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const PANEL_WIDTH: u32 = 640;
const CHART_HEIGHT: u32 = 440;
const LEGEND_LINE: u32 = 20;

/// The SVG text of `panels`, side by side; an error if there is nothing to draw (no panel,
/// or no positive value in one).
pub fn svg(panels: &[Panel]) -> Result<String, String> {
    if panels.is_empty() {
        return Err("nothing to plot".into());
    }
    let most_series = panels.iter().map(|p| p.series.len()).max().unwrap_or(0) as u32;
    let size = (
        PANEL_WIDTH * panels.len() as u32,
        CHART_HEIGHT + LEGEND_LINE * (most_series + 1),
    );
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("plotting: {e}"))?;
        for (panel, area) in panels.iter().zip(root.split_evenly((1, panels.len()))) {
            draw_panel(panel, &area).map_err(|e| format!("plotting {}: {e}", panel.title))?;
        }
        root.present().map_err(|e| format!("plotting: {e}"))?;
    }
    Ok(text)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(panel: &Panel, area: &Area) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let values = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if hi <= 0.0 {
        return Err("no positive value".into());
    }
    let (chart_area, legend_area) = area.split_vertically(CHART_HEIGHT);
    let n = panel.categories.len() as i32;
    // Grid lines start at a power of ten (plotters' logarithmic key points do), so the
    // axis starts at the 1, 2 or 5 × 10^k just under the smallest value.
    let (lo, hi) = (nice_floor(lo / 1.2), hi * 1.5);
    // Enough key points for a grid line at every 1-9 × 10^k (see `format_seconds`).
    let decades = (hi / lo).log10().floor().max(1.0) as usize;
    // One empty category's width either side, so no point sits on the frame.
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&panel.title, ("sans-serif", 24))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(-1..n, (lo..hi).log_scale())
        .map_err(err)?;
    let categories = &panel.categories;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .y_labels(10 * decades)
        .x_labels(categories.len() + 2)
        .x_label_formatter(&|x| {
            usize::try_from(*x)
                .ok()
                .and_then(|i| categories.get(i))
                .cloned()
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| format_seconds(*y))
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (i, s) in panel.series.iter().enumerate() {
        let style = COLOURS[i % COLOURS.len()].stroke_width(2);
        let points: Vec<(i32, f64)> = s
            .points
            .iter()
            .filter(|(_, v)| *v > 0.0 && v.is_finite())
            .map(|&(x, v)| (x as i32, v))
            .collect();
        if i < COLOURS.len() {
            chart.draw_series(LineSeries::new(points.clone(), style))
        } else {
            chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
        }
        .map_err(err)?;
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 4, style)))
            .map_err(err)?;
    }
    for (i, s) in panel.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let y = (LEGEND_LINE * i as u32 + LEGEND_LINE / 2) as i32;
        let dashes = if i < COLOURS.len() {
            vec![(70, 100)]
        } else {
            vec![(70, 78), (81, 89), (92, 100)]
        };
        for (from, to) in dashes {
            legend_area
                .draw(&PathElement::new(
                    vec![(from, y), (to, y)],
                    colour.stroke_width(2),
                ))
                .map_err(err)?;
        }
        legend_area
            .draw(&Circle::new((85, y), 4, colour.filled()))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(
                s.label.clone(),
                (108, y - 7),
                ("sans-serif", 17).into_font(),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// The largest 1, 2 or 5 × 10^k at most `v` (> 0).
fn nice_floor(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * power)
        .find(|x| *x <= v)
        .unwrap_or(power)
}

/// A y-axis label: seconds with as many decimals as small values need, at 1, 2 and 5 ×
/// 10^k only (the other grid lines stay unlabelled).
fn format_seconds(s: f64) -> String {
    let mantissa = s / 10f64.powf(s.log10().floor());
    if ![1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6)
    {
        String::new()
    } else if s >= 10.0 {
        format!("{s:.0}")
    } else if s >= 1.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_every_series_and_category() {
        let panel = |title: &str| Panel {
            title: title.into(),
            x_desc: "scale".into(),
            y_desc: "median wall s".into(),
            categories: vec!["100mb".into(), "1gb".into(), "5gb".into()],
            series: vec![
                Series {
                    label: "migrator copy --jobs 2".into(),
                    points: vec![(0, 2.0), (1, 18.4), (2, 95.0)],
                },
                Series {
                    label: "pg_dump | psql & <more>".into(),
                    points: vec![(0, 2.5), (2, 110.0)],
                },
            ],
        };
        let text = svg(&[panel("against size"), panel("against jobs")]).unwrap();
        if let Some(path) = std::env::var_os("BENCH_PLOT_TEST_OUT") {
            std::fs::write(path, &text).unwrap();
        }
        assert!(text.starts_with("<svg"), "{}", &text[..80]);
        assert!(text.trim_end().ends_with("</svg>"));
        assert_eq!(text.matches("<svg").count(), 1);
        for needle in [
            "against size",
            "against jobs",
            "migrator copy --jobs 2",
            "pg_dump | psql &amp; &lt;more&gt;",
            "100mb",
            "5gb",
            "median wall s",
        ] {
            assert!(text.contains(needle), "no {needle:?} in the SVG");
        }
        // Every series drawn in its colour with a mark per point, plus one in the legend.
        for colour in ["#1F77B4", "#FF7F0E"] {
            assert!(
                text.contains(&format!("stroke=\"{colour}\"")),
                "no line in {colour}"
            );
        }
        assert!(text.matches("<circle").count() >= 2 * (3 + 2 + 2));
        assert!(!text.contains("#2CA02C"), "a third colour for two series");
        // Well formed: as many opening as closing text elements.
        assert_eq!(
            text.matches("<text").count(),
            text.matches("</text>").count()
        );
    }

    #[test]
    fn lines_past_the_tenth_are_dashed() {
        let series = |n: usize| Panel {
            title: "t".into(),
            x_desc: String::new(),
            y_desc: String::new(),
            categories: vec!["1".into(), "2".into(), "4".into()],
            series: (0..n)
                .map(|i| Series {
                    label: format!("series {i}"),
                    points: vec![
                        (0, 10.0 + i as f64),
                        (1, 8.0 + i as f64),
                        (2, 7.0 + i as f64),
                    ],
                })
                .collect(),
        };
        let ten = svg(&[series(10)]).unwrap();
        let twelve = svg(&[series(12)]).unwrap();
        if let Some(path) = std::env::var_os("BENCH_PLOT_TEST_OUT_MANY") {
            std::fs::write(path, &twelve).unwrap();
        }
        // Two more lines, each in a few dashes, and two more legend entries in three.
        let lines = |t: &str| t.matches("<polyline").count();
        assert!(
            lines(&twelve) >= lines(&ten) + 2 * 3 + 2 * 3,
            "{} {}",
            lines(&ten),
            lines(&twelve)
        );
        assert!(twelve.contains("series 11"));
    }

    #[test]
    fn nothing_to_plot_is_an_error() {
        assert!(svg(&[]).is_err());
        let empty = Panel {
            title: "t".into(),
            x_desc: String::new(),
            y_desc: String::new(),
            categories: vec!["a".into()],
            series: vec![Series {
                label: "s".into(),
                points: vec![(0, 0.0)],
            }],
        };
        assert!(svg(&[empty]).is_err());
    }

    #[test]
    fn seconds_labels() {
        assert_eq!(format_seconds(200.0), "200");
        assert_eq!(format_seconds(2.0), "2.0");
        assert_eq!(format_seconds(0.5), "0.50");
        assert_eq!(format_seconds(10.0), "10");
        assert_eq!(format_seconds(30.0), "");
        assert_eq!(nice_floor(1.67), 1.0);
        assert_eq!(nice_floor(4.0), 2.0);
        assert_eq!(nice_floor(73.0), 50.0);
    }
}
