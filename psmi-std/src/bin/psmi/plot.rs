//! psmi.svg: the distribution of PSMI per label, lowest samples marked.

use crate::failure::Failure;
use psmi_std::PsmiScores;
use std::fmt::Write;
use std::path::Path;

const WIDTH: f64 = 900.0;
const ROW: f64 = 56.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 50.0;
const BINS: usize = 60;
/// How many of the lowest samples are marked, and how many of those named.
const MARKED: usize = 50;
const NAMED: usize = 10;

/// Writes one density ridge per label (histogram of per-sample mean PSMI,
/// scaled to the label's own peak), with the lowest samples as red dots.
pub fn write_svg(
    path: &Path,
    classes: &[i64],
    labels: &[i64],
    scores: &PsmiScores,
) -> Result<(), Failure> {
    let means = scores.mean();
    let (lo, hi) = means
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (lo, hi) = (lo - 0.02 * span, hi + 0.02 * span);
    let height = TOP + BOTTOM + ROW * classes.len() as f64;
    let x_of = |v: f64| LEFT + (v - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT);
    let row_base = |c: usize| TOP + ROW * (c as f64 + 1.0) - 6.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="15">PSMI per label: {} samples, {} directions (red: the {} lowest)</text>"#,
        means.len(),
        scores.n_estimators(),
        MARKED.min(means.len())
    );
    for (c, class) in classes.iter().enumerate() {
        let members: Vec<f64> = means
            .iter()
            .zip(labels)
            .filter(|(_, l)| *l == class)
            .map(|(m, _)| *m)
            .collect();
        let mut counts = [0usize; BINS];
        for v in &members {
            let bin = (((v - lo) / (hi - lo)) * BINS as f64) as usize;
            counts[bin.min(BINS - 1)] += 1;
        }
        let peak = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let base = row_base(c);
        let mut d = format!("M{:.1},{base:.1}", x_of(lo));
        for (b, &count) in counts.iter().enumerate() {
            let x = x_of(lo + (b as f64 + 0.5) / BINS as f64 * (hi - lo));
            let y = base - count as f64 / peak * (ROW - 12.0);
            let _ = write!(d, " L{x:.1},{y:.1}");
        }
        let _ = write!(d, " L{:.1},{base:.1} Z", x_of(hi));
        let _ = writeln!(
            svg,
            r##"<path d="{d}" fill="#9ecae1" stroke="#3182bd" stroke-width="1"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">label {class} ({})</text>"#,
            LEFT - 8.0,
            base - 4.0,
            members.len()
        );
    }
    for (rank, &i) in scores.lowest(MARKED).iter().enumerate() {
        let Ok(c) = classes.binary_search(&labels[i]) else {
            continue;
        };
        let (x, y) = (x_of(means[i]), row_base(c) - 3.0);
        let _ = writeln!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="#e6550d"><title>sample {i}: {:.4}</title></circle>"##,
            means[i]
        );
        if rank < NAMED {
            let _ = writeln!(
                svg,
                r##"<text x="{x:.1}" y="{:.1}" font-size="9" fill="#e6550d">{i}</text>"##,
                y - 6.0
            );
        }
    }
    let axis_y = height - BOTTOM + 4.0;
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    for t in 0..=5 {
        let v = lo + (hi - lo) * t as f64 / 5.0;
        let x = x_of(v);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#,
            axis_y + 5.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{v:.2}</text>"#,
            axis_y + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">mean PSMI over directions (nats); low = label explains the sample badly</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        axis_y + 36.0
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).map_err(|e| Failure::other(format!("{}: {e}", path.display())))
}
