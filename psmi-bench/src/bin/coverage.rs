//! `coverage`: how often the nominal 95 % intervals of each sample's mean
//! PSMI (mean ± 1.96 · stderr) contain a high-precision truth, for i.i.d.
//! directions and orthonormal frames.
//!
//! ```text
//! coverage [--sets w1,digits] [--seeds 20] [--truth 131072] [--m M] [--target-error E] [--threads T]
//! ```
//!
//! For each set, the truth is each sample's mean over `--truth` directions in
//! orthonormal frames of the shape's frame size (2 × 65536 by default), from
//! a seed of its own. Then, for each scheme and each of `--seeds` seeds, one
//! fixed run of m directions (2048 on `w1`, 256 on `digits`, or `--m`) gives
//! each sample's mean and `PsmiScores::stderr`; a sample is covered when
//! |mean − truth| ≤ 1.96 · stderr. Prints, per scheme, the coverage over all
//! samples and seeds (± its standard error over the seeds, whose samples
//! share directions and so are not independent), the mean stderr, the mean
//! absolute error, and the coverage of the i.i.d. formula std/√m for
//! comparison; one JSON line per run on stderr.
//!
//! With `--target-error E`, the runs are auto mode stopping at that target
//! instead: per scheme, the directions it took and the fraction of the
//! watched samples (the lowest 5 % by mean, as the rule watches them) within
//! 1.96 · E of the truth.

use clap::Parser;
use psmi_bench::sets::{exit_code, mean_and_stderr, Set};
use psmi_std::{Directions, Features, NEstimators, Psmi};
use serde_json::json;
use std::process::ExitCode;

/// Measures the coverage of the error bars of i.i.d. and orthonormal directions.
#[derive(Debug, Parser)]
#[command(name = "coverage")]
struct Cli {
    /// Sets to measure, comma-separated: digits, w1, llm.
    #[arg(long, default_value = "w1,digits", value_delimiter = ',')]
    sets: Vec<String>,
    /// Seeds per scheme.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Directions of the truth (orthonormal frames).
    #[arg(long, default_value_t = 2 * 65536)]
    truth: usize,
    /// Directions of each run [default: 2048 on w1, 256 on digits, d otherwise].
    #[arg(long)]
    m: Option<usize>,
    /// Samples of the LLM-shaped set.
    #[arg(long, default_value_t = 4000)]
    llm_n: usize,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Measure auto mode with this target error instead of fixed runs.
    #[arg(long)]
    target_error: Option<f64>,
}

type Error = Box<dyn std::error::Error>;

/// z of a two-sided 95 % normal interval.
const Z95: f64 = 1.96;

fn main() -> ExitCode {
    exit_code(run(&Cli::parse()))
}

fn run(cli: &Cli) -> Result<(), Error> {
    for name in &cli.sets {
        measure(&Set::load(name, cli.llm_n)?, cli)?;
    }
    Ok(())
}

/// The estimator of one run: `m` directions, or auto mode with the target
/// error when `m` is `None`.
fn estimator(
    cli: &Cli,
    directions: Directions,
    m: Option<usize>,
    seed: u64,
) -> Result<Psmi, Error> {
    let mut builder = Psmi::builder().directions(directions).seed(seed);
    builder = match (m, cli.target_error) {
        (Some(m), _) => builder.n_estimators(NEstimators::Fixed(m)),
        (None, Some(target)) => builder.target_error(target),
        (None, None) => builder,
    };
    if let Some(threads) = cli.threads {
        builder = builder.threads(threads);
    }
    Ok(builder.build()?)
}

/// Fraction of samples whose interval mean ± Z95 · stderr holds the truth.
fn covered(mean: &[f64], stderr: &[f64], truth: &[f64]) -> f64 {
    let hits = mean
        .iter()
        .zip(stderr)
        .zip(truth)
        .filter(|((m, s), t)| (*m - *t).abs() <= Z95 * *s)
        .count();
    hits as f64 / truth.len() as f64
}

fn average(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn measure(set: &Set, cli: &Cli) -> Result<(), Error> {
    let (n, d) = (set.labels.len(), set.d);
    let x = Features::new(&set.x, n, d)?;
    let m = cli.m.unwrap_or(match set.name {
        "w1" => 2048,
        "digits" => 256,
        _ => d,
    });
    let start = std::time::Instant::now();
    let truth_psmi = estimator(cli, Directions::Orthogonal, Some(cli.truth), 1 << 40)?;
    let (truth_model, truth_scores) = truth_psmi.fit_transform(&x, &set.labels)?;
    let truth = truth_scores.mean();
    let truth_stderr = average(&truth_scores.stderr());
    eprintln!(
        "{}",
        json!({"set": set.name, "truth": cli.truth, "scheme": format!("{:?}", truth_model.scheme()),
               "truth_mean_stderr": truth_stderr, "truth_s": start.elapsed().as_secs_f64()})
    );
    if let Some(target) = cli.target_error {
        return measure_target(set, cli, &x, truth, target);
    }
    println!(
        "\n### {} (n {n}, d {d}, m {m}; truth: {} directions in frames, mean stderr {:.2e}; {} seeds)\n",
        set.name, cli.truth, truth_stderr, cli.seeds
    );
    println!("| scheme | coverage of mean ± 1.96·stderr | mean stderr | mean abs. error | coverage with std/√m |");
    println!("|---|---|---|---|---|");
    for directions in [Directions::Iid, Directions::Orthogonal] {
        let (mut coverage, mut naive) = (Vec::new(), Vec::new());
        let (mut stderr_sum, mut error_sum) = (0.0, 0.0);
        let mut scheme = None;
        for seed in 0..cli.seeds {
            let (model, scores) =
                estimator(cli, directions, Some(m), seed)?.fit_transform(&x, &set.labels)?;
            scheme = Some(model.scheme());
            let stderr = scores.stderr();
            let root_m = (m as f64).sqrt();
            let iid_formula: Vec<f64> = scores.std().iter().map(|s| s / root_m).collect();
            coverage.push(covered(scores.mean(), &stderr, truth));
            naive.push(covered(scores.mean(), &iid_formula, truth));
            let error: Vec<f64> = scores
                .mean()
                .iter()
                .zip(truth)
                .map(|(a, t)| (a - t).abs())
                .collect();
            stderr_sum += average(&stderr);
            error_sum += average(&error);
            eprintln!(
                "{}",
                json!({"set": set.name, "scheme": format!("{:?}", model.scheme()), "seed": seed,
                       "coverage": coverage.last(), "iid_formula_coverage": naive.last(),
                       "mean_stderr": average(&stderr), "mean_abs_error": average(&error),
                       "smi": scores.smi(), "smi_stderr": scores.smi_stderr()})
            );
        }
        let seeds = cli.seeds as f64;
        let (c, c_se) = mean_and_stderr(&coverage);
        let (c_naive, c_naive_se) = mean_and_stderr(&naive);
        println!(
            "| {:?} | {:.3} ± {:.3} | {:.5} | {:.5} | {:.3} ± {:.3} |",
            scheme.expect("at least one seed"),
            c,
            c_se,
            stderr_sum / seeds,
            error_sum / seeds,
            c_naive,
            c_naive_se
        );
    }
    Ok(())
}

/// Auto mode stopping at `target`, per scheme and seed: the directions taken
/// and the fraction of the watched samples within 1.96 · target of `truth`.
fn measure_target(
    set: &Set,
    cli: &Cli,
    x: &Features<'_>,
    truth: &[f64],
    target: f64,
) -> Result<(), Error> {
    let n = set.labels.len();
    let watched = ((0.05 * n as f64) as usize).max(1);
    println!(
        "\n### {} (n {n}, d {}; target error {target}, {watched} watched samples; {} seeds)\n",
        set.name, set.d, cli.seeds
    );
    println!("| scheme | directions | converged | watched within 1.96·E of the truth |");
    println!("|---|---|---|---|");
    for directions in [Directions::Iid, Directions::Orthogonal] {
        let (mut within, mut taken, mut converged) = (Vec::new(), Vec::new(), 0);
        let mut scheme = None;
        for seed in 0..cli.seeds {
            let (model, scores) =
                estimator(cli, directions, None, seed)?.fit_transform(x, &set.labels)?;
            scheme = Some(model.scheme());
            let lowest = scores.lowest(watched);
            let hits = lowest
                .iter()
                .filter(|&&i| (scores.mean()[i] - truth[i]).abs() <= Z95 * target)
                .count();
            within.push(hits as f64 / watched as f64);
            taken.push(model.n_estimators());
            converged += model.auto_report().is_some_and(|r| r.converged) as usize;
            eprintln!(
                "{}",
                json!({"set": set.name, "scheme": format!("{:?}", model.scheme()), "seed": seed,
                       "target_error": target, "n_estimators": model.n_estimators(),
                       "watched_within": within.last()})
            );
        }
        let (w, w_se) = mean_and_stderr(&within);
        println!(
            "| {:?} | {}–{} | {converged}/{} | {w:.3} ± {w_se:.3} |",
            scheme.expect("at least one seed"),
            taken.iter().min().unwrap_or(&0),
            taken.iter().max().unwrap_or(&0),
            cli.seeds
        );
    }
    Ok(())
}
