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
    // A margin, so that the extreme samples do not sit on the axis's ends.
    let margin = 0.02 * (hi - lo);
    let axis = Axis::new(lo - margin, hi + margin);
    let (lo, hi) = (axis.lo, axis.hi);
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
    // Names of the lowest samples, per label's row, placed apart.
    let mut named: Vec<Vec<(f64, usize)>> = vec![Vec::new(); classes.len()];
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
            named[c].push((x, i));
        }
    }
    // Leader lines first, then the names over them on a white halo.
    let mut names = String::new();
    for (c, points) in named.iter_mut().enumerate() {
        let y = row_base(c) - 3.0;
        for (x, i, label) in place_labels(points, LEFT) {
            let (lx, ly) = (label.x, y - 7.0 - label.level as f64 * LABEL_STEP);
            if (lx - x).abs() > 0.5 || label.level > 0 {
                let _ = writeln!(
                    svg,
                    r##"<line x1="{x:.1}" y1="{:.1}" x2="{lx:.1}" y2="{:.1}" stroke="#e6550d" stroke-width="0.6" stroke-opacity="0.6"/>"##,
                    y - 3.0,
                    ly + 1.0
                );
            }
            let _ = writeln!(
                names,
                r##"<text x="{lx:.1}" y="{ly:.1}" font-size="9" fill="#e6550d" text-anchor="middle" stroke="white" stroke-width="2.5" paint-order="stroke">{i}</text>"##
            );
        }
    }
    svg.push_str(&names);
    let axis_y = height - BOTTOM + 4.0;
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    for v in axis.ticks() {
        let x = x_of(v);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#,
            axis_y + 5.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            axis_y + 18.0,
            axis.label(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">mean PSMI over directions (nats); low = label explains the sample badly</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        axis_y + 36.0
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).map_err(crate::failure::write(path))
}

/// Vertical room of one level of sample names above a row's marked points.
const LABEL_STEP: f64 = 10.0;
/// Levels of names above a row: enough for the named samples to move
/// mostly up rather than sideways, few enough to stay within the row.
const LABEL_LEVELS: usize = 4;
/// Width of a digit of the names (font size 9), and the gap between names.
const DIGIT_WIDTH: f64 = 5.5;
const LABEL_GAP: f64 = 3.0;

/// A value axis whose ticks fall on round numbers: steps of 1, 2 or 5 times
/// a power of ten, about five of them, and ends on ticks.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Axis {
    fn new(lo: f64, hi: f64) -> Axis {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let raw = (hi - lo) / 5.0;
        let power = 10f64.powf(raw.log10().floor());
        let step = power
            * [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .find(|&f| raw <= f * power * (1.0 + 1e-9))
                .unwrap_or(10.0);
        Axis {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
        }
    }

    /// The ticks, each computed from its index (no accumulated rounding).
    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let first = (self.lo / self.step).round() as i64;
        let last = (self.hi / self.step).round() as i64;
        (first..=last).map(move |k| k as f64 * self.step)
    }

    /// A tick's text, with as many decimals as the step has.
    fn label(&self, v: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        let v = if v.abs() < self.step / 2.0 { 0.0 } else { v };
        format!("{v:.decimals$}")
    }
}

/// Where a name goes: its centre and its level above the point.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placed {
    x: f64,
    level: usize,
}

/// Places the names (`(x, sample)`) of one row so that none overlap and
/// none starts left of `left`: each at the level where it needs to move
/// least sideways (the lowest such level).
fn place_labels(points: &mut [(f64, usize)], left: f64) -> Vec<(f64, usize, Placed)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ends = [f64::NEG_INFINITY; LABEL_LEVELS];
    points
        .iter()
        .map(|&(x, i)| {
            let width = i.to_string().len() as f64 * DIGIT_WIDTH;
            let wanted = (x - width / 2.0).max(left);
            let (level, start) = ends
                .iter()
                .map(|end| wanted.max(end + LABEL_GAP))
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, wanted));
            ends[level] = start + width;
            (
                x,
                i,
                Placed {
                    x: start + width / 2.0,
                    level,
                },
            )
        })
        .collect()
}

/// One layer (of one run, in a sweep) in smi_by_layer.svg.
pub struct LayerPoint<'a> {
    pub run: Option<&'a str>,
    pub name: &'a str,
    pub smi: f64,
    pub stderr: f64,
}

/// Half-width of the error bars, in standard errors (a 95 % interval).
const BAR_Z: f64 = 1.96;

/// Colours of the runs' lines, in turn.
const RUN_COLOURS: [&str; 6] = [
    "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#d6616b",
];

/// Writes smi_by_layer.svg: the SMI of each layer, in order, with error bars
/// of ±1.96 standard errors, on an axis with round ticks; one line per run.
pub fn write_layer_svg(path: &Path, layers: &[LayerPoint<'_>], n: usize) -> Result<(), Failure> {
    const HEIGHT: f64 = 380.0;
    const NAME_FONT: f64 = 11.0;
    let lo = layers
        .iter()
        .map(|l| l.smi - BAR_Z * l.stderr)
        .fold(f64::INFINITY, f64::min);
    let hi = layers
        .iter()
        .map(|l| l.smi + BAR_Z * l.stderr)
        .fold(f64::NEG_INFINITY, f64::max);
    let axis = Axis::new(lo, hi);
    // Names side by side if they fit their slot, else at 45°, and only every
    // `every`-th if even slanted names would touch.
    let mut names: Vec<&str> = Vec::new();
    let mut runs: Vec<Option<&str>> = Vec::new();
    for l in layers {
        if !names.contains(&l.name) {
            names.push(l.name);
        }
        if !runs.contains(&l.run) {
            runs.push(l.run);
        }
    }
    let slot_of = |l: &LayerPoint<'_>| names.iter().position(|n| *n == l.name).unwrap_or(0);
    let (prefix, shown, suffix) = distinct_parts(&names);
    let name_width = shown
        .iter()
        .map(|name| name.chars().count() as f64 * NAME_FONT * 0.6)
        .fold(0.0, f64::max);
    // Room on the left for the first slanted name as well as the tick labels.
    let slot_at = |left: f64| (WIDTH - left - RIGHT) / names.len().max(1) as f64;
    let slanted = name_width > slot_at(80.0) - 4.0;
    let left = if slanted {
        (name_width * 0.71 - slot_at(80.0) / 2.0 + 8.0).clamp(80.0, WIDTH / 3.0)
    } else {
        80.0
    };
    let slot = slot_at(left);
    let every = if slanted {
        (NAME_FONT * 1.6 / slot).ceil().max(1.0) as usize
    } else {
        1
    };
    let bottom = if slanted {
        36.0 + name_width * 0.72
    } else {
        56.0
    };
    let height = HEIGHT + bottom;
    let plot_bottom = HEIGHT;
    let y_of = |v: f64| plot_bottom - (v - axis.lo) / (axis.hi - axis.lo) * (plot_bottom - TOP);
    let x_of = |i: usize| left + slot * (i as f64 + 0.5);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="22" font-size="15">SMI per layer: {} layers{}, {n} samples (bars: ±{BAR_Z} standard errors, 95 %)</text>"#,
        names.len(),
        if runs.len() > 1 {
            format!(" × {} runs", runs.len())
        } else {
            String::new()
        }
    );
    for v in axis.ticks() {
        let y = y_of(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + 4.0,
            axis.label(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{TOP}" x2="{left}" y2="{plot_bottom}" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{left}" y1="{plot_bottom}" x2="{:.1}" y2="{plot_bottom}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">SMI (nats): mean PSMI over samples</text>"#,
        (TOP + plot_bottom) / 2.0
    );
    let cap = (slot * 0.2).clamp(2.0, 6.0);
    for (r, run) in runs.iter().enumerate() {
        let colour = RUN_COLOURS[r % RUN_COLOURS.len()];
        let points: Vec<&LayerPoint<'_>> = layers.iter().filter(|l| l.run == *run).collect();
        let line: Vec<String> = points
            .iter()
            .map(|l| format!("{:.1},{:.1}", x_of(slot_of(l)), y_of(l.smi)))
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"##,
            line.join(" ")
        );
        if let Some(run) = run {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" fill="{colour}" text-anchor="end">{run}</text>"#,
                WIDTH - RIGHT,
                TOP + 14.0 * r as f64
            );
        }
        for l in points {
            let (x, y) = (x_of(slot_of(l)), y_of(l.smi));
            let (top, low) = (
                y_of(l.smi + BAR_Z * l.stderr),
                y_of(l.smi - BAR_Z * l.stderr),
            );
            let _ = writeln!(
                svg,
                r#"<path d="M{x:.1},{top:.1} V{low:.1} M{:.1},{top:.1} H{:.1} M{:.1},{low:.1} H{:.1}" stroke="black" stroke-width="1"/>"#,
                x - cap,
                x + cap,
                x - cap,
                x + cap
            );
            let _ = writeln!(
                svg,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"><title>{}{}: SMI {:.4} ± {:.4}</title></circle>"##,
                run.map_or(String::new(), |r| format!("{r}, ")),
                l.name,
                l.smi,
                l.stderr
            );
        }
    }
    for (i, name) in shown.iter().enumerate() {
        if i % every == 0 {
            let (x, ny) = (x_of(i), plot_bottom + 16.0);
            if slanted {
                let _ = writeln!(
                    svg,
                    r#"<text transform="translate({x:.1} {ny:.1}) rotate(-45)" text-anchor="end" font-size="{NAME_FONT}">{name}</text>"#
                );
            } else {
                let _ = writeln!(
                    svg,
                    r#"<text x="{x:.1}" y="{ny:.1}" text-anchor="middle" font-size="{NAME_FONT}">{name}</text>"#
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + WIDTH - RIGHT) / 2.0,
        height - 12.0,
        if prefix.is_empty() && suffix.is_empty() {
            "layer".to_owned()
        } else {
            format!("layer: {prefix}*{suffix}")
        }
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).map_err(crate::failure::write(path))
}

/// The layers' names without the text they all share at both ends, cut
/// after or before a separator such as `.` or `_` (so `layers.1` and
/// `layers.10` keep their numbers whole, `embed` and `head` their `d`): the
/// shared prefix, each name's own part, and the shared suffix. Names are
/// kept whole when a part would be empty.
fn distinct_parts<'a>(names: &[&'a str]) -> (&'a str, Vec<&'a str>, &'a str) {
    let whole = ("", names.to_vec(), "");
    let Some((first, rest)) = names.split_first() else {
        return whole;
    };
    let shared = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let mut head = rest.iter().fold(first.len(), |n, name| {
        n.min(shared(first.as_bytes(), name.as_bytes()))
    });
    while head > 0
        && (!first.is_char_boundary(head) || first.as_bytes()[head - 1].is_ascii_alphanumeric())
    {
        head -= 1;
    }
    let reversed = |s: &str| s.bytes().rev().collect::<Vec<u8>>();
    let first_rev = reversed(first);
    let mut tail = rest.iter().fold(first.len(), |n, name| {
        n.min(shared(&first_rev, &reversed(name)))
    });
    while tail > 0
        && (!first.is_char_boundary(first.len() - tail)
            || first.as_bytes()[first.len() - tail].is_ascii_alphanumeric())
    {
        tail -= 1;
    }
    let parts: Vec<&str> = names
        .iter()
        .map(|name| {
            name.get(head..name.len().saturating_sub(tail))
                .unwrap_or("")
        })
        .collect();
    if names.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return whole;
    }
    (&first[..head], parts, &first[first.len() - tail..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_one_two_five_steps_and_cover_the_data() {
        for (lo, hi, step) in [
            (-0.87, 0.12, 0.2),
            (0.0, 1.0, 0.2),
            (0.31, 0.36, 0.01),
            (-12.3, 48.0, 20.0),
            (2.0, 2.0, 0.2),
        ] {
            let axis = Axis::new(lo, hi);
            assert!((axis.step - step).abs() < 1e-12, "{lo}..{hi}: {axis:?}");
            assert!(axis.lo <= lo && axis.hi >= hi, "{axis:?}");
            let ticks: Vec<f64> = axis.ticks().collect();
            assert!((4..=12).contains(&ticks.len()), "{ticks:?}");
            for t in &ticks {
                let k = t / step;
                assert!((k - k.round()).abs() < 1e-9, "{t} not a multiple of {step}");
            }
        }
        let axis = Axis::new(-0.87, 0.12);
        let labels: Vec<String> = axis.ticks().map(|v| axis.label(v)).collect();
        assert_eq!(
            labels,
            ["-1.0", "-0.8", "-0.6", "-0.4", "-0.2", "0.0", "0.2"]
        );
    }

    #[test]
    fn placed_names_never_overlap() {
        // Clusters of close points, a lone one, and long and short names.
        let mut points = vec![
            (100.0, 7),
            (101.0, 1234),
            (102.5, 56),
            (103.0, 9999),
            (104.0, 3),
            (160.0, 42),
            (300.0, 100_000),
            (301.0, 8),
        ];
        let placed = place_labels(&mut points, 99.0);
        assert_eq!(placed.len(), points.len());
        let width = |i: usize| i.to_string().len() as f64 * DIGIT_WIDTH;
        for (a, &(_, i, p)) in placed.iter().enumerate() {
            assert!(p.level < LABEL_LEVELS);
            for &(_, j, q) in &placed[a + 1..] {
                if p.level == q.level {
                    let apart = (p.x - q.x).abs() - (width(i) + width(j)) / 2.0;
                    assert!(apart >= LABEL_GAP - 1e-9, "{i} and {j}: {placed:?}");
                }
            }
        }
        // A lone name stays above its point; none starts left of the bound.
        let lone = placed.iter().find(|p| p.1 == 42).unwrap();
        assert_eq!((lone.2.x, lone.2.level), (160.0, 0));
        assert!(placed.iter().all(|&(_, i, p)| p.x - width(i) / 2.0 >= 99.0));
    }

    #[test]
    fn layer_names_lose_what_they_all_share() {
        let parts = |names: &[&'static str]| distinct_parts(names);
        let names = [
            "model.layers.0.mlp",
            "model.layers.1.mlp",
            "model.layers.10.mlp",
        ];
        assert_eq!(
            parts(&names),
            ("model.layers.", vec!["0", "1", "10"], ".mlp")
        );
        // Numbers stay whole.
        assert_eq!(
            parts(&["layers.1", "layers.10", "layers.11"]),
            ("layers.", vec!["1", "10", "11"], "")
        );
        // Indices of a 3-D tensor, one layer, and names with nothing in common.
        assert_eq!(parts(&["0", "1", "2"]), ("", vec!["0", "1", "2"], ""));
        assert_eq!(parts(&["layers.3"]), ("", vec!["layers.3"], ""));
        assert_eq!(parts(&["embed", "head"]), ("", vec!["embed", "head"], ""));
        // A name that is all shared text keeps every name whole.
        assert_eq!(parts(&["h", "h.1"]), ("", vec!["h", "h.1"], ""));
    }
}
