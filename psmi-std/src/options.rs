//! Hyper-parameters: the [`Psmi`] estimator and its [`PsmiBuilder`].

use crate::error::{PsmiError, Result};
use psmi_core::directions::Scheme;
use psmi_core::projection::Precision;

/// The seed used when none is given, so that two runs agree by default.
pub const DEFAULT_SEED: u64 = 0x5053_4d49; // "PSMI"

/// Upper bound of auto mode when none is given: 100 blocks of the default size.
pub const DEFAULT_MAX_N_ESTIMATORS: usize = 50_000;

/// How the directions are drawn, when none is chosen: shared by the library,
/// the `psmi` program and the Python package. Orthonormal frames: never less
/// accurate than i.i.d. directions in the README's measurements, and far more
/// on data with many samples per dimension.
pub const DEFAULT_DIRECTIONS: Directions = Directions::Orthogonal;

/// Frames span the whole dimension once there are `FRAME_RATIO · d` samples
/// or more: see [`frame_size`].
pub const FRAME_RATIO: usize = 16;

/// Rows per orthonormal frame for `n` samples of dimension `dim`:
/// `min(dim, max(1, (n / FRAME_RATIO)² / dim))`.
///
/// Drawing a frame of f rows costs O(d·f) per direction, against O(n·d) per
/// direction for the projection, and measured about 20 f / n of it; the
/// variance of the mean falls by about f / d. Full frames (n ≥ 16 d) reach a
/// given error several times sooner even where drawing is half the run
/// (digits, a 10000 × 512 mixture); partial frames of n ≪ d gain a few
/// percent at most (README, "Directions in orthonormal frames"), so there f
/// shrinks as (n/d)², and drawing's share of a run, ≈ 20 f / n =
/// 20 n / (256 d), with it.
///
/// ```
/// use psmi_std::frame_size;
/// assert_eq!(frame_size(10_000, 512), 512);  // full frames
/// assert_eq!(frame_size(1797, 64), 64);
/// assert_eq!(frame_size(4000, 4096), 15);    // (4000 / 16)² / 4096
/// assert_eq!(frame_size(10, 4096), 1);
/// ```
pub fn frame_size(n: usize, dim: usize) -> usize {
    let side = n / FRAME_RATIO;
    (side.saturating_mul(side) / dim.max(1)).clamp(1, dim.max(1))
}

/// How the directions are drawn (the README's "Directions in orthonormal frames").
///
/// ```
/// use psmi_std::Directions;
/// assert_eq!("orthogonal".parse::<Directions>().unwrap(), Directions::Orthogonal);
/// assert_eq!(Directions::Iid.to_string(), "iid");
/// assert!("sobol".parse::<Directions>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Directions {
    /// Independent normalised Gaussian vectors, as the Python package `psmi` draws.
    Iid,
    /// Orthonormal frames: rows of Haar-random orthogonal matrices.
    Orthogonal,
}

impl Directions {
    /// The name used on the command line, in summary.json and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Directions::Iid => "iid",
            Directions::Orthogonal => "orthogonal",
        }
    }
}

/// The kind of a scheme, without its frame size.
///
/// ```
/// use psmi_std::{Directions, Scheme};
/// assert_eq!(Directions::from(Scheme::Orthogonal { frame: 8 }), Directions::Orthogonal);
/// ```
impl From<Scheme> for Directions {
    fn from(scheme: Scheme) -> Self {
        match scheme {
            Scheme::Iid => Directions::Iid,
            Scheme::Orthogonal { .. } => Directions::Orthogonal,
        }
    }
}

impl std::fmt::Display for Directions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Directions {
    type Err = PsmiError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "iid" => Ok(Directions::Iid),
            "orthogonal" => Ok(Directions::Orthogonal),
            _ => Err(PsmiError::InvalidOption {
                option: "directions",
                value: s.to_string(),
                expected: "must be `iid` or `orthogonal`",
            }),
        }
    }
}

/// The [`Precision`] named `name` (`f32` or `bf16`, as [`Precision::name`]
/// writes them): the one parser of the option for the program, the Python
/// package and model files.
///
/// ```
/// use psmi_std::{parse_precision, Precision};
/// assert_eq!(parse_precision("bf16")?, Precision::Bf16);
/// let err = parse_precision("fp8").unwrap_err();
/// assert!(err.to_string().contains("precision") && err.to_string().contains("fp8"));
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
///
/// # Errors
///
/// [`PsmiError::InvalidOption`] naming `precision` and the value.
pub fn parse_precision(name: &str) -> Result<Precision> {
    [Precision::F32, Precision::Bf16]
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| PsmiError::InvalidOption {
            option: "precision",
            value: name.to_string(),
            expected: "must be `f32` or `bf16`",
        })
}

/// How many directions to draw.
///
/// ```
/// use psmi_std::NEstimators;
/// assert_eq!("auto".parse::<NEstimators>().unwrap(), NEstimators::Auto);
/// assert_eq!("500".parse::<NEstimators>().unwrap(), NEstimators::Fixed(500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NEstimators {
    /// Add blocks of `min_n_estimators` directions until the lowest PSMI
    /// values settle (the rule of the Python package `psmi`).
    Auto,
    /// Exactly this many directions.
    Fixed(usize),
}

impl std::str::FromStr for NEstimators {
    type Err = PsmiError;

    fn from_str(s: &str) -> Result<Self> {
        if s == "auto" {
            return Ok(NEstimators::Auto);
        }
        match s.parse::<usize>() {
            Ok(m) if m >= 1 => Ok(NEstimators::Fixed(m)),
            _ => Err(PsmiError::InvalidOption {
                option: "n_estimators",
                value: s.to_string(),
                expected: "must be `auto` or a whole number ≥ 1",
            }),
        }
    }
}

/// The PSMI estimator, unfitted: validated hyper-parameters.
///
/// Defaults follow the Python package `psmi` 0.2.0, plus a fixed seed, all
/// cores, and an upper bound on auto mode.
///
/// ```
/// use psmi_std::{NEstimators, Psmi};
/// let psmi = Psmi::default();
/// assert_eq!(psmi.n_estimators(), NEstimators::Auto);
/// assert_eq!(psmi.min_n_estimators(), 500);
/// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(200)).seed(7).threads(2).build()?;
/// assert_eq!(psmi.seed(), 7);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Psmi {
    pub(crate) n_estimators: NEstimators,
    pub(crate) min_n_estimators: usize,
    pub(crate) lowest_psmi_quantile: f64,
    pub(crate) max_variation_of_the_lowest: f64,
    pub(crate) milestone: f64,
    pub(crate) max_n_estimators: usize,
    pub(crate) seed: u64,
    pub(crate) threads: Option<usize>,
    pub(crate) directions: Directions,
    pub(crate) frame_size: Option<usize>,
    pub(crate) target_error: Option<f64>,
    pub(crate) precision: Precision,
}

impl Default for Psmi {
    fn default() -> Self {
        Psmi {
            n_estimators: NEstimators::Auto,
            min_n_estimators: 500,
            lowest_psmi_quantile: 0.05,
            max_variation_of_the_lowest: 0.05,
            milestone: 0.5,
            max_n_estimators: DEFAULT_MAX_N_ESTIMATORS,
            seed: DEFAULT_SEED,
            threads: None,
            directions: DEFAULT_DIRECTIONS,
            frame_size: None,
            target_error: None,
            precision: Precision::F32,
        }
    }
}

impl Psmi {
    /// A builder starting from the defaults.
    pub fn builder() -> PsmiBuilder {
        PsmiBuilder {
            options: Psmi::default(),
        }
    }

    /// Number of directions, or auto mode.
    pub fn n_estimators(&self) -> NEstimators {
        self.n_estimators
    }

    /// Directions per block in auto mode.
    pub fn min_n_estimators(&self) -> usize {
        self.min_n_estimators
    }

    /// Fraction of samples with the lowest PSMI that auto mode watches.
    pub fn lowest_psmi_quantile(&self) -> f64 {
        self.lowest_psmi_quantile
    }

    /// Auto mode stops when the watched samples vary by at most this (relative).
    pub fn max_variation_of_the_lowest(&self) -> f64 {
        self.max_variation_of_the_lowest
    }

    /// Auto mode compares against the first `milestone` fraction of the blocks.
    pub fn milestone(&self) -> f64 {
        self.milestone
    }

    /// Auto mode stops, unconverged, once it has drawn this many directions.
    pub fn max_n_estimators(&self) -> usize {
        self.max_n_estimators
    }

    /// Seed of the directions: direction j is a pure function of (seed, j).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Worker threads; `None` means all cores.
    pub fn threads(&self) -> Option<usize> {
        self.threads
    }

    /// How the directions are drawn.
    pub fn directions(&self) -> Directions {
        self.directions
    }

    /// Auto mode's target standard error of the watched samples, if it
    /// stops at one rather than by the package's rule.
    pub fn target_error(&self) -> Option<f64> {
        self.target_error
    }

    /// The arithmetic of the projection (default [`Precision::F32`]).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The scheme of the directions for `n` samples (`None` when not known,
    /// as in a streaming fit) of dimension `dim`. Frames hold the frame size
    /// given to the builder, or else [`frame_size`]`(n, dim)` rows, and `dim`
    /// rows when `n` is not known.
    ///
    /// ```
    /// use psmi_std::{Directions, Psmi, Scheme};
    /// let psmi = Psmi::builder().directions(Directions::Orthogonal).build()?;
    /// assert_eq!(psmi.scheme(Some(10_000), 512)?, Scheme::Orthogonal { frame: 512 });
    /// assert_eq!(psmi.scheme(Some(4000), 4096)?, Scheme::Orthogonal { frame: 15 });
    /// assert_eq!(psmi.scheme(None, 4096)?, Scheme::Orthogonal { frame: 4096 });
    /// assert_eq!(Psmi::builder().directions(Directions::Iid).build()?.scheme(Some(10), 4)?, Scheme::Iid);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] if the builder's frame size exceeds `dim`.
    pub fn scheme(&self, n: Option<usize>, dim: usize) -> Result<Scheme> {
        Ok(match (self.directions, self.frame_size) {
            (Directions::Iid, _) => Scheme::Iid,
            (Directions::Orthogonal, Some(frame)) if frame > dim => {
                return Err(PsmiError::InvalidOption {
                    option: "frame_size",
                    value: frame.to_string(),
                    expected: "must be at most the dimension of the features",
                })
            }
            (Directions::Orthogonal, Some(frame)) => Scheme::Orthogonal { frame },
            (Directions::Orthogonal, None) => Scheme::Orthogonal {
                frame: n.map_or(dim, |n| frame_size(n, dim)),
            },
        })
    }
}

/// Builds a validated [`Psmi`]; each setter takes a value, `build` checks them all.
///
/// ```
/// use psmi_std::Psmi;
/// let err = Psmi::builder().lowest_psmi_quantile(0.0).build().unwrap_err();
/// assert!(err.to_string().contains("lowest_psmi_quantile"));
/// ```
#[derive(Clone, Debug)]
pub struct PsmiBuilder {
    options: Psmi,
}

impl PsmiBuilder {
    /// Number of directions, or [`NEstimators::Auto`] (default).
    pub fn n_estimators(mut self, value: NEstimators) -> Self {
        self.options.n_estimators = value;
        self
    }

    /// Directions per block in auto mode (default 500, at least 1).
    pub fn min_n_estimators(mut self, value: usize) -> Self {
        self.options.min_n_estimators = value;
        self
    }

    /// Fraction of lowest-PSMI samples auto mode watches (default 0.05, in (0, 1]).
    pub fn lowest_psmi_quantile(mut self, value: f64) -> Self {
        self.options.lowest_psmi_quantile = value;
        self
    }

    /// Relative variation at which auto mode stops (default 0.05, positive).
    pub fn max_variation_of_the_lowest(mut self, value: f64) -> Self {
        self.options.max_variation_of_the_lowest = value;
        self
    }

    /// Fraction of blocks auto mode compares against (default 0.5, in (0, 1)).
    pub fn milestone(mut self, value: f64) -> Self {
        self.options.milestone = value;
        self
    }

    /// Upper bound on directions in auto mode (default 50 000, at least `min_n_estimators`).
    pub fn max_n_estimators(mut self, value: usize) -> Self {
        self.options.max_n_estimators = value;
        self
    }

    /// Seed of the directions (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, value: u64) -> Self {
        self.options.seed = value;
        self
    }

    /// Worker threads (default: all cores; at least 1).
    pub fn threads(mut self, value: usize) -> Self {
        self.options.threads = Some(value);
        self
    }

    /// How the directions are drawn (default [`DEFAULT_DIRECTIONS`]).
    pub fn directions(mut self, value: Directions) -> Self {
        self.options.directions = value;
        self
    }

    /// Rows per orthonormal frame, at least 1 and at most the features'
    /// dimension (default: chosen from the shape, see [`Psmi::scheme`]).
    pub fn frame_size(mut self, value: usize) -> Self {
        self.options.frame_size = Some(value);
        self
    }

    /// Auto mode stops once the standard error of each watched sample (the
    /// lowest `lowest_psmi_quantile` fraction by mean PSMI) is at most
    /// `value`, instead of by the package's rule (positive and finite; auto
    /// mode only). Still bounded by `max_n_estimators`.
    ///
    /// ```
    /// use psmi_std::{Features, Psmi};
    /// let data: Vec<f32> = (0..80).map(|i| ((i * 7) % 11) as f32 + if i >= 40 { 6.0 } else { 0.0 }).collect();
    /// let x = Features::new(&data, 40, 2)?;
    /// let labels: Vec<i64> = (0..40).map(|i| (i >= 20) as i64).collect();
    /// let psmi = Psmi::builder().min_n_estimators(50).target_error(0.05).build()?;
    /// let (model, scores) = psmi.fit_transform(&x, &labels)?;
    /// let report = model.auto_report().unwrap();
    /// assert!(report.converged && report.variation.unwrap() <= 0.05);
    /// // The watched sample (the lowest of 40 at quantile 0.05) is within the target.
    /// assert!(scores.stderr()[scores.lowest(1)[0]] <= 0.05);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn target_error(mut self, value: f64) -> Self {
        self.options.target_error = Some(value);
        self
    }

    /// The arithmetic of the projection (default [`Precision::F32`]).
    /// [`Precision::Bf16`] rounds every direction to bfloat16 once, when it
    /// is packed, and every feature as it is packed (f32 and f16 features
    /// cost one rounding per value and pass over the data; bf16 features
    /// are used as stored); the products are exact and summed in f32, by
    /// `vdpbf16ps` where the CPU has AVX512-BF16. Class statistics, scores
    /// and summaries stay f32/f64. See [`Precision`] for the directions'
    /// departure from uniformity on the sphere.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Precision, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(40))
    ///     .precision(Precision::Bf16).build()?;
    /// let model = psmi.fit(&x, &[0, 0, 1, 1])?;
    /// assert_eq!(model.precision(), Precision::Bf16);
    /// // A model sent as bytes projects in bf16 again: the same scores, bit for bit.
    /// let copy = psmi_std::PsmiModel::from_bytes(&model.to_bytes())?;
    /// assert_eq!(copy.transform(&x, &[0, 0, 1, 1])?, model.transform(&x, &[0, 0, 1, 1])?);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn precision(mut self, value: Precision) -> Self {
        self.options.precision = value;
        self
    }

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] naming the first option out of range.
    pub fn build(self) -> Result<Psmi> {
        let o = self.options;
        let invalid = |option, value: String, expected| {
            Err(PsmiError::InvalidOption {
                option,
                value,
                expected,
            })
        };
        if o.n_estimators == NEstimators::Fixed(0) {
            return invalid(
                "n_estimators",
                "0".into(),
                "must be `auto` or a whole number ≥ 1",
            );
        }
        if o.min_n_estimators == 0 {
            return invalid("min_n_estimators", "0".into(), "must be at least 1");
        }
        let q = o.lowest_psmi_quantile;
        if !(q > 0.0 && q <= 1.0) {
            return invalid("lowest_psmi_quantile", q.to_string(), "must be in (0, 1]");
        }
        let v = o.max_variation_of_the_lowest;
        if !(v > 0.0 && v.is_finite()) {
            return invalid(
                "max_variation_of_the_lowest",
                v.to_string(),
                "must be positive and finite",
            );
        }
        if !(o.milestone > 0.0 && o.milestone < 1.0) {
            return invalid("milestone", o.milestone.to_string(), "must be in (0, 1)");
        }
        if o.max_n_estimators < o.min_n_estimators {
            return invalid(
                "max_n_estimators",
                o.max_n_estimators.to_string(),
                "must be at least min_n_estimators",
            );
        }
        if let Some(e) = o.target_error {
            if !(e > 0.0 && e.is_finite()) {
                return invalid("target_error", e.to_string(), "must be positive and finite");
            }
            if o.n_estimators != NEstimators::Auto {
                return invalid(
                    "target_error",
                    e.to_string(),
                    "stops auto mode: n_estimators must be `auto`",
                );
            }
        }
        if o.frame_size == Some(0) {
            return invalid("frame_size", "0".into(), "must be at least 1");
        }
        if o.threads == Some(0) {
            return invalid("threads", "0".into(), "must be at least 1");
        }
        Ok(o)
    }
}
