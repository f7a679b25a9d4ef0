//! `throughput`: times each stage of PSMI on one block of directions.
//!
//! ```text
//! throughput --n N --d D --m M [--classes K] [--threads T]
//!            [--isa portable|avx2-fma|avx512] [--precision f32|bf16]
//!            [--directions orthogonal|iid] [--runs R] [--seed S] [--json]
//! ```
//!
//! On standard normal features (n × d) with balanced labels over K classes,
//! after one warm-up run, it times R runs of each stage on a pool of T
//! threads, with the stages psmi-std runs ([`psmi_std::stages`]), and reports medians:
//!
//! - `directions_s`: drawing the m directions, in frames of the size the
//!   library picks for n and d (`frame`), or i.i.d. (`--directions iid`;
//!   `frame` is then null), and `directions_cpu_s`, the on-CPU seconds of all
//!   threads together;
//! - `pack_s`: packing them for the projection kernel (once per block);
//! - `projection_s`, `projection_gflops` = 2·n·d·m / `projection_s`, in the
//!   arithmetic of `--precision` (bf16: directions and rows rounded to bf16,
//!   products by `vdpbf16ps` where the CPU has it);
//! - `statistics_s`: class means and variances of the n × m projections;
//! - `scoring_s`, `scoring_gevals` = n·m·K / `scoring_s` (`score_in_place`);
//! - `summaries_s`: each sample's mean and spread over the directions.
//!
//! It also reports the cache sizes the CPU gives (`l1d_bytes`, `l2_bytes`) and
//! the length of the coordinate blocks (`block_len`, at most the KC derived
//! from them), and the limit the projection works against: the machine's own
//! peak ([`psmi_bench::peak`]), measured on all T threads at once after the
//! stages, the f32 FMA peak (`fma_peak_gflops`) and, where the CPU has
//! AVX512-BF16, the bf16 dot peak (`bf16_peak_gflops`), and
//! `projection_of_peak`, the projection's rate as a fraction of the peak of
//! its arithmetic (bf16 dot for the bf16 projection where the CPU has it,
//! FMA otherwise). The peaks count the probes' time on the CPU; so does
//! `projection_cpu_s` (the median over runs of the pool's threads' total
//! on-CPU time, where Linux reports it), and `projection_of_peak_on_cpu` is
//! the rate per on-CPU second of each thread against the same peak: on a
//! machine shared with other work, the figure that the waits for the CPU
//! do not lower.
//!
//! With `--json`, one JSON line; otherwise a short table. Bad arguments
//! give one `error:` line on stderr and exit status 2; a failing stage,
//! exit status 1.

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};
use psmi_bench::cpu_time;
use psmi_bench::peak::{self, Peak};
use psmi_bench::workload::{balanced_labels, gaussian_features};
use psmi_core::directions::Scheme;
use psmi_core::projection::{self, Precision};
use psmi_core::statistics::Moments;
use psmi_core::{Isa, Kernels};
use psmi_std::stages::{self, ClassStatistics};
use std::process::ExitCode;
use std::time::Instant;

/// Times each stage of PSMI on random data.
#[derive(Debug, Parser)]
#[command(name = "throughput", version)]
struct Cli {
    /// Samples.
    #[arg(long, value_parser = positive)]
    n: usize,
    /// Dimension of the features.
    #[arg(long, value_parser = positive)]
    d: usize,
    /// Directions.
    #[arg(long, value_parser = positive)]
    m: usize,
    /// Classes, balanced.
    #[arg(long, default_value_t = 10, value_parser = positive)]
    classes: usize,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = positive)]
    threads: Option<usize>,
    /// Kernels to run [default: the widest the CPU supports].
    #[arg(long, value_enum)]
    isa: Option<IsaArg>,
    /// Arithmetic of the projection: f32, or bf16 (bf16 products, f32 sums).
    #[arg(long, default_value = "f32", value_parser = psmi_std::parse_precision)]
    precision: Precision,
    /// How the directions are drawn: orthonormal frames of the size the
    /// library picks for n and d, or i.i.d.
    #[arg(long, default_value_t = psmi_std::DEFAULT_DIRECTIONS)]
    directions: psmi_std::Directions,
    /// Timed runs of each stage, after one warm-up run.
    #[arg(long, default_value_t = 7, value_parser = positive)]
    runs: usize,
    /// Seed of the data and of the directions.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// L1d bytes the blocks are cut for [default: the CPU's]: a smaller
    /// cache gives shorter coordinate blocks (KC), to try other blockings.
    #[arg(long, value_parser = positive)]
    l1d_bytes: Option<usize>,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    json: bool,
}

/// The cache sizes of this CPU, with `--l1d-bytes` if given.
fn caches(cli: &Cli) -> projection::CacheSizes {
    let detected = projection::CacheSizes::detect();
    projection::CacheSizes {
        l1d: cli.l1d_bytes.unwrap_or(detected.l1d),
        ..detected
    }
}

/// The `--isa` values, named as [`Isa::name`] names them.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum IsaArg {
    /// Portable SIMD.
    Portable,
    /// AVX2 with FMA.
    #[value(name = "avx2-fma")]
    Avx2Fma,
    /// AVX-512 (F, VL, DQ, BW).
    Avx512,
}

impl From<IsaArg> for Isa {
    fn from(arg: IsaArg) -> Isa {
        match arg {
            IsaArg::Portable => Isa::Portable,
            IsaArg::Avx2Fma => Isa::Avx2Fma,
            IsaArg::Avx512 => Isa::Avx512,
        }
    }
}

fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(e) => Err(e.to_string()),
    }
}

/// Median seconds of each stage.
#[derive(Debug, Default)]
struct Timings {
    directions: f64,
    /// Median on-CPU seconds of drawing, all threads together.
    directions_cpu: Option<f64>,
    pack: f64,
    projection: f64,
    statistics: f64,
    scoring: f64,
    summaries: f64,
    /// Median on-CPU seconds of the projection, all threads together.
    projection_cpu: Option<f64>,
    /// Length of the coordinate blocks the directions were packed in.
    block_len: usize,
}

/// A failure and its exit status.
struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            status: 2,
        }
    }
}

impl From<psmi_core::Error> for Failure {
    fn from(e: psmi_core::Error) -> Self {
        Failure {
            message: e.to_string(),
            status: 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            print!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(Failure::usage(one_line(&e.to_string()))),
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.status)
}

/// clap's message without its `error:` prefix, tips, usage and pointer to
/// `--help`, on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| {
            !line.is_empty()
                && !line.starts_with("tip:")
                && !line.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error:")
        .trim()
        .to_string()
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let kernels = match cli.isa.map(Isa::from) {
        None => Kernels::detect(),
        Some(isa) => Kernels::for_isa(isa)
            .ok_or_else(|| Failure::usage(format!("--isa {}: this CPU lacks it", isa.name())))?,
    };
    if cli.n < 2 * cli.classes {
        return Err(Failure::usage(format!(
            "--n {} is too small for --classes {}: every class needs 2 samples",
            cli.n, cli.classes
        )));
    }
    let (n, d, m, k) = (cli.n, cli.d, cli.m, cli.classes);
    let too_large = || Failure::usage("--n, --d and --m ask for more memory than can be addressed");
    n.checked_mul(d)
        .and(n.checked_mul(m))
        .and(m.checked_mul(d))
        .ok_or_else(too_large)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads.unwrap_or(0))
        .build()
        .map_err(|e| Failure::usage(format!("--threads: {e}")))?;
    let x = gaussian_features(n, d, cli.seed);
    let x = psmi_std::Features::new(&x, n, d).map_err(|e| Failure {
        message: e.to_string(),
        status: 1,
    })?;
    let labels = balanced_labels(n, k, cli.seed.wrapping_add(1));
    // The frame size the library picks for n and d.
    let scheme = psmi_std::Psmi::builder()
        .directions(cli.directions)
        .build()
        .and_then(|psmi| psmi.scheme(Some(n), d))
        .map_err(|e| Failure::usage(e.to_string()))?;
    let timings = pool.install(|| time_stages(cli, &pool, kernels, scheme, &x, &labels))?;
    let peaks = Peaks::measure(&pool, kernels, cli.runs);

    let projection_gflops = 2.0 * (n * d) as f64 * m as f64 / timings.projection / 1e9;
    let scoring_gevals = (n * m) as f64 * k as f64 / timings.scoring / 1e9;
    let threads = pool.current_num_threads();
    let caches = caches(cli);
    let precision = cli.precision;
    let limit = match precision {
        Precision::Bf16 if kernels.has_bf16_dot() => peaks.bf16,
        Precision::F32 | Precision::Bf16 => peaks.fma,
    };
    let projection_of_peak = limit.map(|peak| projection_gflops / peak.gflops);
    let flops = 2.0 * (n * d) as f64 * m as f64;
    let projection_of_peak_on_cpu = timings
        .projection_cpu
        .zip(limit)
        .map(|(cpu, peak)| flops / (cpu / threads as f64) / 1e9 / peak.gflops);
    if cli.json {
        let report = serde_json::json!({
            "n": n,
            "d": d,
            "m": m,
            "classes": k,
            "threads": threads,
            "isa": kernels.isa().name(),
            "precision": precision.name(),
            "l1d_bytes": caches.l1d,
            "l2_bytes": caches.l2,
            "block_len": timings.block_len,
            "runs": cli.runs,
            "seed": cli.seed,
            "projection_gflops": projection_gflops,
            "fma_peak_gflops": peaks.fma.map(|peak| peak.gflops),
            "bf16_peak_gflops": peaks.bf16.map(|peak| peak.gflops),
            "projection_of_peak": projection_of_peak,
            "projection_cpu_s": timings.projection_cpu,
            "projection_of_peak_on_cpu": projection_of_peak_on_cpu,
            "scoring_gevals": scoring_gevals,
            "frame": scheme.frame_size(),
            "directions_s": timings.directions,
            "directions_cpu_s": timings.directions_cpu,
            "pack_s": timings.pack,
            "projection_s": timings.projection,
            "statistics_s": timings.statistics,
            "scoring_s": timings.scoring,
            "summaries_s": timings.summaries,
        });
        println!("{report}");
    } else {
        println!(
            "n {n}, d {d}, m {m}, {k} classes, {threads} threads, {} kernels, {} directions, \
             {} projection, blocks of {} (L1d {} KiB, L2 {} KiB); median of {} runs",
            kernels.isa().name(),
            scheme
                .frame_size()
                .map_or("i.i.d.".to_string(), |f| format!("frames of {f}")),
            precision.name(),
            timings.block_len,
            caches.l1d / 1024,
            caches.l2 / 1024,
            cli.runs
        );
        let rows = [
            (
                "directions",
                timings.directions,
                timings
                    .directions_cpu
                    .map_or(String::new(), |cpu| format!("{:.3} ms on CPU", cpu * 1e3)),
            ),
            ("pack", timings.pack, String::new()),
            (
                "projection",
                timings.projection,
                match (projection_of_peak, limit) {
                    (Some(fraction), Some(peak)) => format!(
                        "{projection_gflops:.1} GFLOP/s, {fraction:.2} of {} peak {:.1} \
                         ({:.2} on CPU time)",
                        peak.instruction,
                        peak.gflops,
                        projection_of_peak_on_cpu.unwrap_or(f64::NAN)
                    ),
                    _ => format!("{projection_gflops:.1} GFLOP/s"),
                },
            ),
            ("statistics", timings.statistics, String::new()),
            (
                "scoring",
                timings.scoring,
                format!("{scoring_gevals:.2} G evals/s"),
            ),
            ("summaries", timings.summaries, String::new()),
        ];
        println!("{:<12} {:>12}  rate", "stage", "ms");
        for (stage, seconds, rate) in rows {
            println!("{stage:<12} {:>12.3}  {rate}", seconds * 1e3);
        }
    }
    Ok(())
}

/// The machine's peaks on the pool's threads, all running at once.
struct Peaks {
    fma: Option<Peak>,
    bf16: Option<Peak>,
}

impl Peaks {
    fn measure(pool: &rayon::ThreadPool, kernels: Kernels, runs: usize) -> Peaks {
        let on_every_thread = |probe: fn(Kernels, usize) -> Option<Peak>| {
            let per_thread = pool.broadcast(|_| probe(kernels, runs));
            let instruction = per_thread.first().copied().flatten()?.instruction;
            let gflops = per_thread
                .iter()
                .map(|peak| peak.map_or(0.0, |p| p.gflops))
                .sum();
            Some(Peak {
                instruction,
                gflops,
            })
        };
        Peaks {
            fma: on_every_thread(peak::fma_f32),
            bf16: on_every_thread(peak::dot_bf16),
        }
    }
}

/// Runs each stage once to warm up, then `cli.runs` times, in order, each
/// stage feeding the next.
fn time_stages(
    cli: &Cli,
    pool: &rayon::ThreadPool,
    kernels: Kernels,
    scheme: Scheme,
    x: &psmi_std::Features<'_>,
    labels: &[u32],
) -> Result<Timings, Failure> {
    let (n, d, m, k) = (cli.n, cli.d, cli.m, cli.classes);
    let repeat = cli.runs + 1;
    let mut timings = Timings::default();

    let mut theta = vec![0.0f32; m * d];
    (timings.directions, timings.directions_cpu) = median_with_cpu(pool, repeat, || {
        stages::draw_directions(cli.seed, scheme, 0, d, &mut theta)
    })?;

    let mut packed_buffer = vec![0.0f32; projection::packed_len(kernels, m, d)];
    let (precision, caches) = (cli.precision, caches(cli));
    timings.pack = median(repeat, || {
        let start = Instant::now();
        projection::pack_directions_as(kernels, precision, caches, &theta, d, &mut packed_buffer)?;
        Ok(start.elapsed().as_secs_f64())
    })?;
    let packed =
        projection::pack_directions_as(kernels, precision, caches, &theta, d, &mut packed_buffer)?;
    timings.block_len = packed.block_len();

    let mut z = vec![0.0f32; n * m];
    (timings.projection, timings.projection_cpu) =
        median_with_cpu(pool, repeat, || stages::project(x, &packed, &mut z))?;

    timings.statistics = median(repeat, || {
        let start = Instant::now();
        let statistics = ClassStatistics::of_projections(&z, labels, k, m)?;
        let seconds = start.elapsed().as_secs_f64();
        drop(statistics);
        Ok(seconds)
    })?;
    let parameters = ClassStatistics::of_projections(&z, labels, k, m)?.parameters()?;
    let mut table_buffer = Vec::new();
    let table = parameters.table(&mut table_buffer)?;

    // Scoring works in place: each run starts from a fresh copy of Z.
    let mut scores = z.clone();
    timings.scoring = median(repeat, || {
        scores.copy_from_slice(&z);
        let start = Instant::now();
        stages::score(kernels, &table, labels, &mut scores)?;
        Ok(start.elapsed().as_secs_f64())
    })?;

    let mut summaries = vec![Moments::default(); n];
    timings.summaries = median(repeat, || {
        let start = Instant::now();
        stages::summarize(&scores, m, &mut summaries)?;
        Ok(start.elapsed().as_secs_f64())
    })?;
    Ok(timings)
}

/// The medians of the wall and on-CPU seconds (all of `pool`'s threads, if
/// the system reports them) of `runs - 1` calls of `work`, after one
/// warm-up call.
fn median_with_cpu(
    pool: &rayon::ThreadPool,
    runs: usize,
    mut work: impl FnMut() -> Result<(), psmi_core::Error>,
) -> Result<(f64, Option<f64>), Failure> {
    let mut cpu_seconds = Vec::with_capacity(runs);
    let wall = median(runs, || {
        let (start, cpu_start) = (Instant::now(), cpu_time::pool_cpu_seconds(pool));
        work()?;
        let seconds = start.elapsed().as_secs_f64();
        let cpu_end = cpu_time::pool_cpu_seconds(pool);
        cpu_seconds.push(cpu_start.zip(cpu_end).map(|(start, end)| end - start));
        Ok(seconds)
    })?;
    // The first run is the warm-up.
    let cpu = cpu_seconds[1..]
        .iter()
        .copied()
        .collect::<Option<Vec<f64>>>()
        .map(psmi_bench::median);
    Ok((wall, cpu))
}

/// The median of the seconds reported by `runs - 1` calls of `time`, after
/// one call whose time is dropped (the warm-up).
fn median(
    runs: usize,
    mut time: impl FnMut() -> Result<f64, psmi_core::Error>,
) -> Result<f64, Failure> {
    time()?;
    let seconds = (1..runs).map(|_| time()).collect::<Result<Vec<_>, _>>()?;
    Ok(psmi_bench::median(seconds))
}
