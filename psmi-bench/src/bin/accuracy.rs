//! `accuracy`: how close each scheme of directions comes to the exact
//! per-sample PSMI for a given number of directions, and at what cost.
//!
//! ```text
//! accuracy [--sets digits,w1,llm] [--seeds 4] [--truth 20000] [--llm-n 4000] [--threads T] [--rule-only]
//!          [--precision f32,bf16] [--iid-only]
//! ```
//!
//! For each set, the ground truth is the per-sample mean over `--truth` i.i.d.
//! directions of a seed of its own. For each scheme (`iid`; `orthogonal` with
//! the frame size the library chooses from the shape; `orthogonal` with other
//! frame sizes) and each of `--seeds` seeds, one run of 4d directions gives
//! the error of its first m directions for every m (direction j does not
//! depend on m): the mean over samples of |mean_i(m) − truth_i|, averaged over
//! the seeds (± its standard error over the seeds), for m in {d/4, d/2, d,
//! 2d, 4d}, and each frame size's difference from i.i.d. in those standard
//! errors (the seeds of two schemes are independent). Then:
//!
//! - time to an error: the fewest directions (on a grid of d/16) at which each
//!   scheme's mean error reaches i.i.d.'s at m = 4d, and the wall time of a run
//!   of that many directions, frames drawn included;
//! - auto mode (the package's rule, blocks of 500): directions drawn and the
//!   error, for each scheme and seed.
//!
//! Each scheme runs in every `--precision` of the projection (the truth is
//! always f32); `--iid-only` leaves out the orthonormal frames.
//!
//! Sets: `digits` (the 1797 × 64 fixture of psmi-std's tests), `w1` (a 10000
//! × 512, 10-class Gaussian mixture), `llm` (`--llm-n` × 4096, 20 classes,
//! Student-t noise, 8 dimensions of 20× scale). Prints a Markdown table per
//! set, and one JSON line per measurement on stderr.

use clap::Parser;
use psmi_bench::sets::{exit_code, mean_and_stderr, Set};
use psmi_std::{parse_precision, Directions, Features, NEstimators, Precision, Psmi};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

/// Measures the accuracy of i.i.d. and orthonormal directions.
#[derive(Debug, Parser)]
#[command(name = "accuracy")]
struct Cli {
    /// Sets to measure, comma-separated: digits, w1, llm.
    #[arg(long, default_value = "digits,w1,llm", value_delimiter = ',')]
    sets: Vec<String>,
    /// Seeds per scheme.
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// Directions of the i.i.d. ground truth.
    #[arg(long, default_value_t = 20_000)]
    truth: usize,
    /// Samples of the LLM-shaped set.
    #[arg(long, default_value_t = 4000)]
    llm_n: usize,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Only i.i.d. and the frame size of the library's rule.
    #[arg(long)]
    rule_only: bool,
    /// Precisions of the projection to run every scheme in, comma-separated.
    #[arg(long, default_value = "f32", value_delimiter = ',', value_parser = parse_precision)]
    precision: Vec<Precision>,
    /// Only i.i.d. directions (no orthonormal frames).
    #[arg(long)]
    iid_only: bool,
}

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    exit_code(run(&Cli::parse()))
}

fn run(cli: &Cli) -> Result<(), Error> {
    for name in &cli.sets {
        let set = Set::load(name, cli.llm_n)?;
        measure(&set, cli)?;
    }
    Ok(())
}

fn estimator(
    cli: &Cli,
    (directions, frame, precision): (Directions, Option<usize>, Precision),
    m: NEstimators,
    seed: u64,
) -> Result<Psmi, Error> {
    let mut builder = Psmi::builder()
        .n_estimators(m)
        .directions(directions)
        .precision(precision)
        .seed(seed);
    if let Some(frame) = frame {
        builder = builder.frame_size(frame);
    }
    if let Some(threads) = cli.threads {
        builder = builder.threads(threads);
    }
    Ok(builder.build()?)
}

/// `value` to 4 significant digits.
fn significant(value: f64) -> String {
    significant_to(value, 4)
}

/// `value` to `digits` significant digits.
fn significant_to(value: f64, digits: i32) -> String {
    let decimals = (digits - 1 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// Mean over samples of |a_i − truth_i|.
fn mean_abs_error(a: &[f64], truth: &[f64]) -> f64 {
    a.iter().zip(truth).map(|(a, t)| (a - t).abs()).sum::<f64>() / truth.len() as f64
}

/// A scheme under test: its name in the table, the frame size asked for,
/// and the precision of the projection.
struct Candidate {
    label: String,
    directions: Directions,
    frame: Option<usize>,
    precision: Precision,
}

impl Candidate {
    fn options(&self) -> (Directions, Option<usize>, Precision) {
        (self.directions, self.frame, self.precision)
    }
}

fn measure(set: &Set, cli: &Cli) -> Result<(), Error> {
    let (n, d) = (set.labels.len(), set.d);
    let x = Features::new(&set.x, n, d)?;
    let start = Instant::now();
    let truth_model = estimator(
        cli,
        (Directions::Iid, None, Precision::F32),
        NEstimators::Fixed(cli.truth),
        1 << 40,
    )?;
    let truth = truth_model
        .fit_transform(&x, &set.labels)?
        .1
        .mean()
        .to_vec();
    eprintln!(
        "{}",
        json!({"set": set.name, "n": n, "d": d, "truth": cli.truth, "truth_s": start.elapsed().as_secs_f64()})
    );

    let orthogonal = (Directions::Orthogonal, None, Precision::F32);
    let rule = estimator(cli, orthogonal, NEstimators::Auto, 0)?.scheme(Some(n), d)?;
    let rule_frame = rule.frame_size().expect("orthogonal");
    let mut schemes = vec![("iid".to_string(), Directions::Iid, None)];
    if !cli.iid_only {
        let label = format!("orthogonal, f {rule_frame} (rule)");
        schemes.push((label, Directions::Orthogonal, None));
    }
    // Full frames of d = 4096 take a minute a seed here: the largest tried is 1024.
    let extra: &[usize] = match (cli.iid_only || cli.rule_only, d <= 512) {
        (true, _) => &[],
        (false, true) => &[d / 4, d / 2, d],
        (false, false) => &[256, 1024],
    };
    for &f in extra.iter().filter(|&&f| f != rule_frame) {
        schemes.push((
            format!("orthogonal, f {f}"),
            Directions::Orthogonal,
            Some(f),
        ));
    }
    // Every scheme in every precision, the first precision's i.i.d. first.
    let candidates: Vec<Candidate> = schemes
        .iter()
        .flat_map(|(label, directions, frame)| {
            cli.precision.iter().map(move |&precision| Candidate {
                label: match precision {
                    Precision::F32 => label.clone(),
                    Precision::Bf16 => format!("{label}, {}", precision.name()),
                },
                directions: *directions,
                frame: *frame,
                precision,
            })
        })
        .collect();

    let m_max = 4 * d;
    let step = (d / 16).max(1);
    let grid: Vec<usize> = (1..=m_max / step).map(|k| k * step).collect();
    let table_m = [d / 4, d / 2, d, 2 * d, 4 * d];
    // by_seed[c][s][g]: the error of seed s at grid[g].
    let seeds = cli.seeds as usize;
    let mut by_seed = vec![vec![vec![0.0f64; grid.len()]; seeds]; candidates.len()];
    for (c, candidate) in candidates.iter().enumerate() {
        for seed in 0..cli.seeds {
            let errors = &mut by_seed[c][seed as usize];
            let psmi = estimator(cli, candidate.options(), NEstimators::Fixed(m_max), seed)?;
            let start = Instant::now();
            let (_, scores) = psmi.fit_transform_with(&x, &set.labels, true, |_| {
                std::ops::ControlFlow::Continue(())
            })?;
            let elapsed = start.elapsed().as_secs_f64();
            let full = scores.full().expect("asked for");
            // Each sample's running mean over its row, checked at the grid.
            for (row, t) in full.chunks_exact(m_max).zip(&truth) {
                let mut sum = 0.0f64;
                let mut next = 0;
                for (j, v) in row.iter().enumerate() {
                    sum += *v as f64;
                    if next < grid.len() && j + 1 == grid[next] {
                        errors[next] += (sum / grid[next] as f64 - t).abs() / n as f64;
                        next += 1;
                    }
                }
            }
            eprintln!(
                "{}",
                json!({"set": set.name, "scheme": candidate.label, "seed": seed, "m": m_max, "full_run_s": elapsed})
            );
        }
    }

    // errors[c][g]: the mean over seeds at grid[g]; spread[c][g]: its standard error.
    let (errors, spread): (Vec<Vec<f64>>, Vec<Vec<f64>>) = by_seed
        .iter()
        .map(|runs| {
            (0..grid.len())
                .map(|g| mean_and_stderr(&runs.iter().map(|run| run[g]).collect::<Vec<_>>()))
                .unzip()
        })
        .unzip();
    println!(
        "\n### {} (n {n}, d {d}; error vs {} i.i.d. directions, mean ± standard error over {} seeds)\n",
        set.name, cli.truth, cli.seeds
    );
    print!("| scheme |");
    for m in table_m {
        print!(" m = {m} |");
    }
    println!("\n|---|{}", "---|".repeat(table_m.len()));
    let column = |m: usize| grid.iter().position(|&v| v == m).expect("on the grid");
    for (c, candidate) in candidates.iter().enumerate() {
        print!("| {} |", candidate.label);
        for m in table_m {
            let g = column(m);
            print!(
                " {} ± {} |",
                significant(errors[c][g]),
                significant_to(spread[c][g], 2)
            );
        }
        println!();
    }
    for (c, candidate) in candidates.iter().enumerate().skip(1) {
        print!("| {} − iid, in standard errors |", candidate.label);
        for m in table_m {
            let g = column(m);
            let joint = spread[c][g].hypot(spread[0][g]);
            print!(" {:+.2} |", (errors[c][g] - errors[0][g]) / joint);
        }
        println!();
    }

    // Time to i.i.d.'s error at m = 4d.
    let target = errors[0][grid.len() - 1];
    println!(
        "\nTime to i.i.d.'s error at m = 4d ({}):\n",
        significant(target)
    );
    println!("| scheme | directions | wall s (one run, seed 0) |\n|---|---|---|");
    for (c, candidate) in candidates.iter().enumerate() {
        let Some(g) = errors[c].iter().position(|&e| e <= target) else {
            println!("| {} | > {m_max} | — |", candidate.label);
            continue;
        };
        let m = grid[g];
        let psmi = estimator(cli, candidate.options(), NEstimators::Fixed(m), 0)?;
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            psmi.fit_transform(&x, &set.labels)?;
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!("| {} | {m} | {best:.3} |", candidate.label);
    }

    // Auto mode, with the shape's frame size.
    println!("\nAuto mode (blocks of 500, the package's rule):\n");
    println!(
        "| scheme | seed | directions | converged | error | wall s |\n|---|---|---|---|---|---|"
    );
    for candidate in candidates.iter().filter(|c| c.frame.is_none()) {
        for seed in 0..cli.seeds {
            let psmi = estimator(cli, candidate.options(), NEstimators::Auto, seed)?;
            let start = Instant::now();
            let (model, scores) = psmi.fit_transform(&x, &set.labels)?;
            let elapsed = start.elapsed().as_secs_f64();
            let error = mean_abs_error(scores.mean(), &truth);
            let converged = model.auto_report().is_some_and(|a| a.converged);
            println!(
                "| {} | {seed} | {} | {converged} | {error:.5} | {elapsed:.2} |",
                candidate.label,
                model.n_estimators()
            );
        }
    }
    Ok(())
}
