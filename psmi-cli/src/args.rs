//! The command line: commands, options and their help.

use clap::{Args, Parser, Subcommand};
use psmi_std::{NEstimators, Psmi, PsmiError};
use std::path::PathBuf;

/// Pointwise Sliced Mutual Information: score every labelled sample by how well
/// its label explains its features. Low PSMI marks mislabelled or atypical samples.
#[derive(Debug, Parser)]
#[command(name = "psmi", version, propagate_version = true)]
#[command(after_help = "Start with `psmi demo`. Inputs are FILE.npy or FILE.safetensors:TENSOR.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit on features and labels, and score every sample.
    #[command(after_help = "Examples:
  psmi fit-transform --features hidden.npy --labels labels.npy --out results
  psmi fit-transform --features layer.safetensors:h12 --labels y.npy --out r --n-estimators 2000 --top 20 --plot
  psmi fit-transform --features states.safetensors:'layers.*' --labels y.npy --out results --quantiles 0.01,0.99 --plot
Outputs in DIR: psmi_mean.npy, psmi_std.npy (f64, one per sample), summary.json,
and psmi_full.npy (f32, samples × directions) with --full, psmi_quantiles.npy with
--quantiles, psmi.svg with --plot.
Layers (a tensor pattern with * or ?, or a 3-D tensor [L, n, d]): one run per layer,
each in DIR/<layer>/, with DIR/layers.csv, DIR/summary.json and, with --plot,
DIR/smi_by_layer.svg; --model M is then a directory of M/<layer>.safetensors.")]
    FitTransform {
        #[command(flatten)]
        data: DataArgs,
        /// Directory for the results (created if needed; earlier results are replaced only on success).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also save the fitted model (safetensors); for layers, a directory of one model per
        /// layer, `M/<layer>.safetensors`.
        #[arg(long, value_name = "M")]
        model: Option<PathBuf>,
        /// A sweep over runs (checkpoints): the directories this quoted glob matches, in
        /// natural order; `{run}` in --features and --labels stands for each. Results in
        /// `DIR/<run>/<layer>/`, with DIR/layers.csv (a `run` column) and DIR/scores.csv (one
        /// row per run × layer × sample, with delta_mean against the first run). Every run
        /// and layer of one width uses the same directions.
        #[arg(long, value_name = "GLOB", conflicts_with = "model")]
        runs: Option<String>,
        #[command(flatten)]
        estimator: EstimatorArgs,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Fit on features and labels, and save the model.
    #[command(after_help = "Example:
  psmi fit --features train.npy --labels train_labels.npy --model psmi.safetensors --n-estimators 1000")]
    Fit {
        #[command(flatten)]
        data: DataArgs,
        /// Where to save the fitted model (safetensors).
        #[arg(long, value_name = "M")]
        model: PathBuf,
        #[command(flatten)]
        estimator: EstimatorArgs,
        /// No progress bar, no summary on stdout.
        #[arg(long)]
        quiet: bool,
    },
    /// Score samples with a saved model.
    #[command(after_help = "Example:
  psmi transform --model psmi.safetensors --features test.npy --labels test_labels.npy --out test_results
Layers (a tensor pattern or a 3-D tensor, as in fit-transform): --model is the directory
that fit-transform --model wrote, holding <layer>.safetensors for every layer.")]
    Transform {
        /// A model saved by `psmi fit` or `psmi fit-transform --model` (for layers, the
        /// directory of their models).
        #[arg(long, value_name = "M")]
        model: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Directory for the results.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "T", allow_negative_numbers = true)]
        threads: Option<usize>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Run PSMI on a built-in data set with flipped labels, and show what it finds.
    #[command(after_help = "Example:
  psmi demo --seed 7")]
    Demo {
        /// Seed of the data set and of the directions.
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "T", allow_negative_numbers = true)]
        threads: Option<usize>,
        /// Show this many of the lowest-PSMI samples.
        #[arg(long, value_name = "K", default_value_t = 10)]
        top: usize,
    },
}

/// Features and labels.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Features, n × d: FILE.npy (f32, f64 or f16) or FILE.safetensors:TENSOR (F32, F64, F16, BF16),
    /// or a quoted glob of shards ('DIR/part-*.npy', 'shard-*.safetensors:hidden') taken in
    /// natural order (part-2 before part-10) and concatenated by rows.
    /// Layers: FILE.safetensors:'PATTERN' (tensors matching * and ?, in natural order) or a
    /// 3-D array [L, n, d], one run per layer (fit-transform and transform).
    #[arg(long, value_name = "F")]
    pub features: PathBuf,
    /// Labels, n integers: FILE.npy or FILE.safetensors:TENSOR (any integer type), or a glob
    /// of as many shards as the features', each as long as its feature shard.
    #[arg(long, value_name = "L")]
    pub labels: PathBuf,
    /// Peak memory of the whole run, mapped input included (4GiB, 512MiB, 1.5GB, or bytes).
    /// Features larger than what is left are streamed in chunks of rows, with the same
    /// results. Default: the memory available at start.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
}

/// Bytes from `4GiB`, `512MiB`, `1.5GB`, `100kB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 4GiB, 512MiB or 1000000"))?;
    let bytes = value * scale as f64;
    if bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64 {
        Ok(bytes as u64)
    } else {
        Err(format!("{text:?} is not a size of at least one byte"))
    }
}

/// The estimator's options, with the names and defaults of the Python package `psmi`.
#[derive(Debug, Args)]
pub struct EstimatorArgs {
    /// Number of directions, or `auto` to add blocks until the lowest scores settle.
    #[arg(
        long,
        value_name = "N|auto",
        default_value = "auto",
        allow_negative_numbers = true
    )]
    pub n_estimators: String,
    /// Directions per block in auto mode.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 500,
        allow_negative_numbers = true
    )]
    pub min_n_estimators: usize,
    /// Fraction of lowest-PSMI samples auto mode watches.
    #[arg(
        long,
        value_name = "Q",
        default_value_t = 0.05,
        allow_negative_numbers = true
    )]
    pub lowest_psmi_quantile: f64,
    /// Auto mode stops when the watched samples vary by at most this (relative).
    #[arg(
        long,
        value_name = "V",
        default_value_t = 0.05,
        allow_negative_numbers = true
    )]
    pub max_variation_of_the_lowest: f64,
    /// Auto mode compares against the first MILESTONE fraction of the blocks.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 0.5,
        allow_negative_numbers = true
    )]
    pub milestone: f64,
    /// Upper bound on directions in auto mode.
    #[arg(long, value_name = "N", default_value_t = psmi_std::DEFAULT_MAX_N_ESTIMATORS, allow_negative_numbers = true)]
    pub max_n_estimators: usize,
    /// Seed of the directions.
    #[arg(long, value_name = "S", default_value_t = psmi_std::DEFAULT_SEED, allow_negative_numbers = true)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// How directions are drawn: `iid`, or `orthogonal` frames (fewer
    /// directions for the same accuracy).
    #[arg(long, value_name = "SCHEME", default_value_t = psmi_std::DEFAULT_DIRECTIONS)]
    pub directions: psmi_std::Directions,
    /// Auto mode: stop once every watched sample's standard error is at most E
    /// (instead of the package's rule on their relative variation).
    #[arg(long, value_name = "E")]
    pub target_error: Option<f64>,
    /// Arithmetic of the projection: `f32`, or `bf16` (directions and
    /// features rounded to bfloat16, exact products summed in f32; about
    /// twice as fast on CPUs with AVX512-BF16). Saved with the model.
    #[arg(long, value_name = "P", default_value = "f32", value_parser = psmi_std::parse_precision)]
    pub precision: psmi_std::Precision,
}

impl EstimatorArgs {
    /// The validated estimator.
    pub fn estimator(&self) -> Result<Psmi, PsmiError> {
        let mut builder = Psmi::builder()
            .n_estimators(self.n_estimators.parse::<NEstimators>()?)
            .min_n_estimators(self.min_n_estimators)
            .lowest_psmi_quantile(self.lowest_psmi_quantile)
            .max_variation_of_the_lowest(self.max_variation_of_the_lowest)
            .milestone(self.milestone)
            .max_n_estimators(self.max_n_estimators)
            .seed(self.seed)
            .directions(self.directions)
            .precision(self.precision);
        if let Some(threads) = self.threads {
            builder = builder.threads(threads);
        }
        if let Some(error) = self.target_error {
            builder = builder.target_error(error);
        }
        builder.build()
    }
}

/// What to show and write beyond the results.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Also write psmi_full.npy: every sample's PSMI along every direction (f32).
    #[arg(long)]
    pub full: bool,
    /// Print the K samples with the lowest PSMI.
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Write one row per sample: index, label, mean, std, stderr.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write psmi.svg in DIR: the distribution of PSMI per label, lowest samples marked
    /// (and smi_by_layer.svg for layers).
    #[arg(long)]
    pub plot: bool,
    /// Also write psmi_quantiles.npy (f64, samples × levels): each sample's exact quantiles
    /// of PSMI over the directions (as np.quantile), and a column per level in the CSV.
    /// Costs one more pass over the data.
    #[arg(
        long,
        value_name = "Q,..",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub quantiles: Vec<f64>,
    /// Evaluate the scores against a per-sample target (FILE.npy or FILE.safetensors:TENSOR,
    /// 0/1 integers or bool, in the order of the samples; 1 marks samples expected to score low):
    /// the AUROC of −mean and the false-positive rate at --tpr, with 95 % Wilson intervals,
    /// in summary.json (and layers.csv), which names the best run and layer by AUROC.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// The true-positive rate at which --against reports the false-positive rate.
    #[arg(
        long,
        value_name = "RATE",
        default_value_t = 0.75,
        requires = "against",
        allow_negative_numbers = true
    )]
    pub tpr: f64,
    /// No progress bar, no summary on stdout.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512 mib"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("100kB"), Ok(100_000));
        assert_eq!(parse_size("123456"), Ok(123_456));
        for bad in ["", "GiB", "4 parsecs", "0", "1.2.3MiB", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
