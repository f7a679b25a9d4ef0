//! The fitted model: directions and the Gaussian fit of every class along each.

use crate::auto::AutoReport;
use crate::class_table::ClassTable;
use crate::classes::Classes;
use crate::error::{PsmiError, Result};
use crate::error_bars::{BarsTarget, ErrorBars, RunningErrors};
use crate::features::Features;
use crate::pipeline::{DirectionBlock, DirectionSource, Engine, MAX_BLOCK};
use crate::scores::PsmiScores;
use crate::stages::{self, ClassParameters, FullMatrix};
use psmi_core::directions::Scheme;
use psmi_core::projection::{PackedDirections, Precision};
use psmi_core::scoring::ScoringTable;
use psmi_core::statistics::Moments;
use std::sync::OnceLock;

/// A fitted PSMI estimator: the directions (m × d), the class labels, the
/// frequency of each, and the mean and population std of each class along
/// each direction. These are the Python package's `thetas`,
/// `frequency_per_label`, `mean_per_label` and `std_per_label`.
///
/// ```
/// use psmi_std::{Features, NEstimators, Psmi};
/// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
/// let model = Psmi::builder().n_estimators(NEstimators::Fixed(10)).build()?.fit(&x, &[7, 7, -3, -3])?;
/// assert_eq!(model.labels(), &[-3, 7]);          // sorted, as numpy's unique
/// assert_eq!(model.frequency(), &[0.5, 0.5]);
/// assert_eq!(model.directions().len(), 10 * 2);   // m × d, row-major
/// assert_eq!(model.mean_per_label(7).unwrap().len(), 10);
/// let scores = model.transform(&x, &[7, 7, -3, -3])?;
/// assert_eq!(scores.n_estimators(), 10);
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PsmiModel {
    pub(crate) dim: usize,
    pub(crate) n_estimators: usize,
    /// Given, or drawn from `seed` when first asked for: `fit_transform` then
    /// never holds all m × d directions at once.
    pub(crate) directions: OnceLock<Vec<f32>>,
    pub(crate) labels: Vec<i64>,
    pub(crate) frequency: Vec<f64>,
    pub(crate) mean: Vec<f64>,
    pub(crate) std: Vec<f64>,
    pub(crate) seed: Option<u64>,
    /// How the directions were drawn from `seed` ([`Scheme::Iid`] for
    /// directions given by the caller).
    pub(crate) scheme: Scheme,
    /// The arithmetic of the projection, at fit and in `transform`.
    pub(crate) precision: Precision,
    pub(crate) threads: Option<usize>,
    pub(crate) auto: Option<AutoReport>,
}

/// Models are equal when they score alike: same directions, precision,
/// classes and parameters, seed and auto-mode report (the thread count is
/// not compared).
impl PartialEq for PsmiModel {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim
            && self.n_estimators == other.n_estimators
            && self.seed == other.seed
            && self.scheme == other.scheme
            && self.precision == other.precision
            && self.directions() == other.directions()
            && self.labels == other.labels
            && self.frequency == other.frequency
            && self.mean == other.mean
            && self.std == other.std
            && self.seed == other.seed
            && self.auto == other.auto
    }
}

impl PsmiModel {
    /// Assembles a model from blocks of class parameters (each with the index
    /// of its first direction), given with the classes in the order of
    /// `labels`, which is sorted here. `directions` are the model's m × d
    /// directions, or `None` to draw them from `seed` and `scheme` when first
    /// needed; `precision` is the projection's, at fit and in `transform`.
    pub(crate) fn assemble(
        dim: usize,
        labels: &[i64],
        blocks: Vec<(usize, ClassParameters)>,
        directions: Option<Vec<f32>>,
        (seed, scheme, precision): (Option<u64>, Scheme, Precision),
        threads: Option<usize>,
        auto: Option<AutoReport>,
    ) -> PsmiModel {
        let classes = labels.len();
        let m: usize = blocks.iter().map(|(_, p)| p.directions()).sum();
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by_key(|&c| labels[c]);
        // Class c goes to row `rows[c]`, its place in label order.
        let mut rows = vec![0; classes];
        for (sorted, &c) in order.iter().enumerate() {
            rows[c] = sorted;
        }
        let (mut mean, mut std) = (ClassTable::zeros(classes, m), ClassTable::zeros(classes, m));
        let frequency = order.iter().map(|&c| blocks[0].1.frequency[c]).collect();
        for (first, params) in &blocks {
            mean.scatter(*first, &params.mean, Some(&rows));
            std.scatter(*first, &params.std, Some(&rows));
        }
        PsmiModel {
            dim,
            n_estimators: m,
            directions: directions.map(OnceLock::from).unwrap_or_default(),
            labels: order.iter().map(|&c| labels[c]).collect(),
            frequency,
            mean: mean.into_values(),
            std: std.into_values(),
            seed,
            scheme,
            precision,
            threads,
            auto,
        }
    }

    /// Joins models fitted over consecutive blocks of the directions of
    /// `seed` and `scheme` (directions 0..m₁, m₁..m₁+m₂, …, as from
    /// [`PsmiFitter::for_block`](crate::PsmiFitter::for_block)) into the
    /// model over all of them, with auto mode's report if there was one.
    ///
    /// ```
    /// use psmi_std::{Features, Psmi, PsmiFitter, PsmiModel};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().seed(9).build()?;
    /// let block = |first| -> psmi_std::Result<PsmiModel> {
    ///     let mut fitter = PsmiFitter::for_block(&psmi, 2, Some(4), first, 10)?;
    ///     fitter.update(&x, &[0, 0, 1, 1])?;
    ///     fitter.finish()
    /// };
    /// let scheme = psmi.scheme(Some(4), 2)?;
    /// let model = PsmiModel::concat(&[block(0)?, block(10)?], 9, scheme, None)?;
    /// assert_eq!((model.n_estimators(), model.seed()), (20, Some(9)));
    /// assert_eq!(model.mean_per_label(1).unwrap()[10..], block(10)?.mean_per_label(1).unwrap()[..]);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] for no models; [`PsmiError::Incompatible`] if
    /// their dimensions, labels, frequencies or precisions differ, or if a
    /// block's first direction is not the seed's direction of that index.
    pub fn concat(
        parts: &[PsmiModel],
        seed: u64,
        scheme: Scheme,
        auto: Option<AutoReport>,
    ) -> Result<PsmiModel> {
        let Some(head) = parts.first() else {
            return Err(PsmiError::Empty {
                what: "models to join",
            });
        };
        let (dim, classes) = (head.dim, head.labels.len());
        let m: usize = parts.iter().map(PsmiModel::n_estimators).sum();
        let mut directions = Vec::with_capacity(m * dim);
        let (mut mean, mut std) = (ClassTable::zeros(classes, m), ClassTable::zeros(classes, m));
        let mut expected = vec![0.0f32; dim];
        let mut first = 0;
        for (b, part) in parts.iter().enumerate() {
            if part.dim != dim
                || part.labels != head.labels
                || part.frequency != head.frequency
                || part.precision != head.precision
            {
                return Err(PsmiError::Incompatible(format!(
                    "model {b} has other dimensions, labels, frequencies or precision than model 0"
                )));
            }
            stages::draw_directions(seed, scheme, first, dim, &mut expected)?;
            if part.directions()[..dim] != expected[..] {
                return Err(PsmiError::Incompatible(format!(
                    "model {b} is not over directions {first}.. of seed {seed}"
                )));
            }
            directions.extend_from_slice(part.directions());
            let width = part.n_estimators;
            let all = 0..width;
            mean.scatter(
                first,
                &ClassTable::columns_of(&part.mean, width, all.clone()),
                None,
            );
            std.scatter(first, &ClassTable::columns_of(&part.std, width, all), None);
            first += width;
        }
        Ok(PsmiModel {
            dim,
            n_estimators: m,
            directions: OnceLock::from(directions),
            labels: head.labels.clone(),
            frequency: head.frequency.clone(),
            mean: mean.into_values(),
            std: std.into_values(),
            seed: Some(seed),
            scheme,
            precision: head.precision,
            threads: head.threads,
            auto,
        })
    }

    /// Number of directions m.
    pub fn n_estimators(&self) -> usize {
        self.n_estimators
    }

    /// Dimension d of the features.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The seed the directions were drawn from; `None` for directions given
    /// by the caller ([`PsmiFitter::with_directions`](crate::PsmiFitter::with_directions)).
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// How the directions were drawn from the seed: i.i.d., or in orthonormal
    /// frames of a given size. Direction j is a pure function of the seed,
    /// the scheme and j. [`Scheme::Iid`] for directions given by the caller.
    ///
    /// ```
    /// use psmi_std::{Directions, Features, NEstimators, Psmi, Scheme};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(6))
    ///     .directions(Directions::Orthogonal).frame_size(2).build()?;
    /// let model = psmi.fit(&x, &[0, 0, 1, 1])?;
    /// assert_eq!(model.scheme(), Scheme::Orthogonal { frame: 2 });
    /// // Directions 0 and 1 form a frame: orthogonal.
    /// let t = model.directions();
    /// assert!((t[0] * t[2] + t[1] * t[3]).abs() < 1e-6);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The arithmetic of the projection, at fit and in
    /// [`transform`](PsmiModel::transform): the estimator's
    /// [`precision`](crate::PsmiBuilder::precision), saved with the model.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Precision, Psmi};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let model = Psmi::builder().n_estimators(NEstimators::Fixed(4)).build()?.fit(&x, &[0, 0, 1, 1])?;
    /// assert_eq!(model.precision(), Precision::F32);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The directions, row-major m × d (the Python package's `thetas`).
    ///
    /// A model fitted by `fit_transform` draws them from its seed on first use.
    pub fn directions(&self) -> &[f32] {
        self.directions.get_or_init(|| {
            let seed = self
                .seed
                .expect("a model without a seed is built with its directions");
            let mut theta = vec![0.0f32; self.n_estimators * self.dim];
            stages::draw_directions(seed, self.scheme, 0, self.dim, &mut theta)
                .expect("dim > 0 and a frame no larger in every model");
            theta
        })
    }

    /// Draws the model's directions block by block, without drawing the
    /// others, when they are drawn from the seed and not yet held.
    pub(crate) fn direction_source(&self) -> Option<DirectionSource> {
        match (self.directions.get(), self.seed) {
            (None, Some(seed)) => Some(DirectionSource::new(
                seed,
                self.scheme,
                self.dim,
                self.n_estimators,
            )),
            _ => None,
        }
    }

    /// The class labels, sorted.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// Frequency of each label, in the order of [`PsmiModel::labels`].
    pub fn frequency(&self) -> &[f64] {
        &self.frequency
    }

    /// Means of every class along every direction: k × m, row c for `labels()[c]`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Population standard deviations, laid out as [`PsmiModel::mean`].
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// The mean of `label` along every direction, if it is a fitted label.
    pub fn mean_per_label(&self, label: i64) -> Option<&[f64]> {
        let c = self.labels.binary_search(&label).ok()?;
        Some(&self.mean[c * self.n_estimators()..(c + 1) * self.n_estimators()])
    }

    /// The std of `label` along every direction, if it is a fitted label.
    pub fn std_per_label(&self, label: i64) -> Option<&[f64]> {
        let c = self.labels.binary_search(&label).ok()?;
        Some(&self.std[c * self.n_estimators()..(c + 1) * self.n_estimators()])
    }

    /// How auto mode ended, if the model was fitted in auto mode.
    pub fn auto_report(&self) -> Option<AutoReport> {
        self.auto
    }

    /// Uses `threads` worker threads for `transform` (default: as at fit).
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] for 0 threads.
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        if threads == 0 {
            return Err(PsmiError::InvalidOption {
                option: "threads",
                value: "0".into(),
                expected: "must be at least 1",
            });
        }
        self.threads = Some(threads);
        Ok(())
    }

    /// PSMI of every sample along the model's directions: per-sample mean,
    /// std and standard error.
    ///
    /// The mixture density in the denominator sums over every fitted class
    /// (the Python package sums over the classes present in `labels`; the two
    /// agree whenever every fitted class appears).
    ///
    /// # Errors
    ///
    /// [`PsmiError::DimensionMismatch`], [`PsmiError::LabelCount`], or
    /// [`PsmiError::UnseenLabel`] naming the first label not seen at fit.
    pub fn transform(&self, x: &Features<'_>, labels: &[i64]) -> Result<PsmiScores> {
        self.transform_with(x, labels, false)
    }

    /// As [`PsmiModel::transform`], and also the full n × m matrix if `full`.
    ///
    /// # Errors
    ///
    /// As [`PsmiModel::transform`].
    pub fn transform_with(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        full: bool,
    ) -> Result<PsmiScores> {
        let class_index = self.class_index(x, labels)?;
        let engine = self.engine()?;
        let mut full_values = full.then(|| vec![0.0f32; x.rows() * self.n_estimators()]);
        let mut summaries = vec![Moments::default(); x.rows()];
        let mut bars = self.error_bars(x.rows());
        self.score_rows(
            &engine,
            x,
            &class_index,
            &mut summaries,
            full_values.as_deref_mut(),
            &mut bars,
        )?;
        Ok(PsmiScores::from_summaries(&summaries, &bars, full_values))
    }

    /// Scores rows of one partition of a distributed auto-mode run along
    /// this model, one block of the run whose first direction is
    /// `first_direction`, into the partition's `errors`, where `x` starts at
    /// the partition's row `row` (rows past those held are added, in the
    /// run's first block only).
    ///
    /// ```
    /// use psmi_std::{error_bars::RunningErrors, Features, Psmi, PsmiFitter};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let psmi = Psmi::builder().seed(9).build()?;
    /// let mut errors = RunningErrors::new(psmi.scheme(Some(4), 2)?);
    /// for first in [0, 10] {
    ///     let mut fitter = PsmiFitter::for_block(&psmi, 2, Some(4), first, 10)?;
    ///     fitter.update(&x, &[0, 0, 1, 1])?;
    ///     fitter.finish()?.score_running(&x, &[0, 0, 1, 1], first, 0, &mut errors)?;
    /// }
    /// assert_eq!((errors.rows(), errors.directions()), (4, 20));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PsmiModel::transform`]; [`PsmiError::Incompatible`] if the rows
    /// or directions do not follow on from those `errors` holds.
    pub fn score_running(
        &self,
        x: &Features<'_>,
        labels: &[i64],
        first_direction: usize,
        row: usize,
        errors: &mut RunningErrors,
    ) -> Result<()> {
        let class_index = self.class_index(x, labels)?;
        let engine = self.engine()?;
        let (summaries, bars) = errors.block(row, x.rows(), first_direction)?;
        let mut block_summaries = vec![Moments::default(); x.rows()];
        let (mut packed, mut table) = (Vec::new(), Vec::new());
        let mut source = self.direction_source();
        for first in self.block_starts() {
            let block =
                self.prepare_block(&engine, source.as_mut(), first, &mut packed, &mut table)?;
            let outputs = (&mut block_summaries[..], None, &mut *bars);
            block.score_at(
                &engine,
                x,
                &class_index,
                (row, first_direction + first),
                outputs,
            )?;
        }
        stages::merge_summaries(summaries, &block_summaries);
        Ok(())
    }

    /// As [`PsmiModel::transform`], from the projections of the rows on the
    /// model's directions that [`PsmiFitter::update_keeping`](crate::PsmiFitter::update_keeping)
    /// kept (row-major, one row of m per label) rather than from the
    /// features: the same numbers, without projecting again. `kept` is left
    /// as it was.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiFitter};
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?;
    /// let (x, y) = (Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?, [3, 3, 1, 1]);
    /// let mut fitter = PsmiFitter::new(&psmi, 2)?;
    /// let mut kept = vec![0.0f32; 4 * 8];
    /// fitter.update_keeping(&x, &y, &mut kept)?;
    /// let scores = fitter.finish()?.transform_kept(&kept, &y)?;
    /// assert_eq!(scores.mean().len(), 4);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::LabelCount`] unless `kept` holds m values per label,
    /// [`PsmiError::UnseenLabel`] naming the first label not seen at fit.
    pub fn transform_kept(&self, kept: &[f32], labels: &[i64]) -> Result<PsmiScores> {
        let class_index = self.kept_class_index(kept, labels)?;
        let mut summaries = vec![Moments::default(); labels.len()];
        let mut bars = self.error_bars(labels.len());
        self.score_kept(kept, &class_index, (0, 0), &mut summaries, &mut bars)?;
        Ok(PsmiScores::from_summaries(&summaries, &bars, None))
    }

    /// As [`PsmiModel::score_running`], from projections kept by
    /// [`PsmiFitter::update_keeping`](crate::PsmiFitter::update_keeping)
    /// on the block this model was fitted on.
    ///
    /// ```
    /// use psmi_std::{error_bars::RunningErrors, Features, Psmi, PsmiFitter};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let (psmi, y) = (Psmi::builder().seed(9).build()?, [0, 0, 1, 1]);
    /// let (mut kept_errors, mut errors) = (RunningErrors::new(psmi.scheme(Some(4), 2)?), RunningErrors::new(psmi.scheme(Some(4), 2)?));
    /// for first in [0, 10] {
    ///     let mut fitter = PsmiFitter::for_block(&psmi, 2, Some(4), first, 10)?;
    ///     let mut kept = vec![0.0f32; 4 * 10];
    ///     fitter.update_keeping(&x, &y, &mut kept)?;
    ///     let model = fitter.finish()?;
    ///     model.score_running_kept(&kept, &y, first, 0, &mut kept_errors)?;
    ///     model.score_running(&x, &y, first, 0, &mut errors)?;
    /// }
    /// assert_eq!(kept_errors.to_bytes(), errors.to_bytes());
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PsmiModel::transform_kept`] and [`PsmiModel::score_running`].
    pub fn score_running_kept(
        &self,
        kept: &[f32],
        labels: &[i64],
        first_direction: usize,
        row: usize,
        errors: &mut RunningErrors,
    ) -> Result<()> {
        let class_index = self.kept_class_index(kept, labels)?;
        let (summaries, bars) = errors.block(row, labels.len(), first_direction)?;
        let mut block_summaries = vec![Moments::default(); labels.len()];
        self.score_kept(
            kept,
            &class_index,
            (row, first_direction),
            &mut block_summaries,
            bars,
        )?;
        stages::merge_summaries(summaries, &block_summaries);
        Ok(())
    }

    /// Each label's class index, after checking that `kept` holds one row
    /// of m projections per label.
    fn kept_class_index(&self, kept: &[f32], labels: &[i64]) -> Result<Vec<u32>> {
        let rows = kept.len() / self.n_estimators.max(1);
        if rows * self.n_estimators != kept.len() {
            return Err(PsmiError::Incompatible(format!(
                "{} kept projections are not whole rows of the model's {} directions",
                kept.len(),
                self.n_estimators
            )));
        }
        crate::classes::check_label_count(labels, rows)?;
        Classes::indices(&self.labels, labels)
    }

    /// Scores kept projections block by block into `summaries` and `bars`,
    /// the rows starting at sample `row`, the model's directions at the
    /// run's direction `direction`.
    fn score_kept(
        &self,
        kept: &[f32],
        class_index: &[u32],
        (row, direction): (usize, usize),
        summaries: &mut [Moments],
        bars: &mut ErrorBars,
    ) -> Result<()> {
        let engine = self.engine()?;
        let mut table = Vec::new();
        for first in self.block_starts() {
            let table = self.block_table(first, &mut table)?;
            let mut target = BarsTarget {
                bars: &mut *bars,
                row,
                direction: direction + first,
            };
            engine.install(|| {
                stages::score_kept(
                    engine.kernels,
                    kept,
                    self.n_estimators,
                    first,
                    &table,
                    class_index,
                    &mut *summaries,
                    None,
                    Some(&mut target),
                )
            })?;
        }
        Ok(())
    }

    /// Empty error bars for `rows` samples scored along the model's directions.
    pub(crate) fn error_bars(&self, rows: usize) -> ErrorBars {
        ErrorBars::new(self.scheme, rows)
    }

    /// The thread pool `transform` runs on.
    pub(crate) fn engine(&self) -> Result<Engine> {
        Engine::new(self.threads, self.precision)
    }

    /// Each sample's class index, after checking the features' dimension
    /// and the number of labels.
    pub(crate) fn class_index(&self, x: &Features<'_>, labels: &[i64]) -> Result<Vec<u32>> {
        if x.cols() != self.dim {
            return Err(PsmiError::DimensionMismatch {
                expected: self.dim,
                found: x.cols(),
            });
        }
        crate::classes::check_label_count(labels, x.rows())?;
        Classes::indices(&self.labels, labels)
    }

    /// Scores the rows `x` of classes `class_index` along every direction,
    /// block after block, each block drawn (or copied), packed and scored
    /// over all the rows before the next: their moments into `summaries`,
    /// their error bars into `bars` and, if given, every score into `full`
    /// (rows × m).
    pub(crate) fn score_rows(
        &self,
        engine: &Engine,
        x: &Features<'_>,
        class_index: &[u32],
        summaries: &mut [Moments],
        mut full: Option<&mut [f32]>,
        bars: &mut ErrorBars,
    ) -> Result<()> {
        let mut source = self.direction_source();
        let (mut packed, mut table) = (Vec::new(), Vec::new());
        for first in self.block_starts() {
            let block =
                self.prepare_block(engine, source.as_mut(), first, &mut packed, &mut table)?;
            let outputs = (&mut *summaries, full.as_deref_mut(), &mut *bars);
            block.score(engine, x, class_index, 0, outputs)?;
        }
        Ok(())
    }

    /// The first direction of each block the model is scored in.
    pub(crate) fn block_starts(&self) -> std::iter::StepBy<std::ops::Range<usize>> {
        (0..self.n_estimators).step_by(MAX_BLOCK)
    }

    /// The block of directions starting at `first` (at most [`MAX_BLOCK`]),
    /// drawn from `source` (or copied from the directions held), packed into
    /// `packed`, with its scoring table in `table`.
    pub(crate) fn prepare_block<'b>(
        &self,
        engine: &Engine,
        source: Option<&mut DirectionSource>,
        first: usize,
        packed: &'b mut Vec<f32>,
        table: &'b mut Vec<f32>,
    ) -> Result<ScoringBlock<'b>> {
        let width = MAX_BLOCK.min(self.n_estimators - first);
        let block = match source {
            Some(source) => source.draw(engine, first, width)?,
            None => {
                let rows = &self.directions()[first * self.dim..(first + width) * self.dim];
                DirectionBlock::from_theta(first, rows.to_vec(), self.dim)
            }
        };
        Ok(ScoringBlock {
            first,
            directions: self.n_estimators,
            packed: block.pack(engine, packed)?,
            table: self.block_table(first, table)?,
        })
    }

    /// The scoring table of the block of directions starting at `first`, in `buffer`.
    fn block_table<'b>(&self, first: usize, buffer: &'b mut Vec<f32>) -> Result<ScoringTable<'b>> {
        let width = MAX_BLOCK.min(self.n_estimators - first);
        self.block_parameters(first, width)
            .table(buffer)
            .map_err(|e| PsmiError::from_core(e, &self.labels, first))
    }

    /// The class parameters of directions `first .. first + width`.
    fn block_parameters(&self, first: usize, width: usize) -> ClassParameters {
        let columns = first..first + width;
        ClassParameters {
            frequency: self.frequency.clone(),
            mean: ClassTable::columns_of(&self.mean, self.n_estimators, columns.clone()),
            std: ClassTable::columns_of(&self.std, self.n_estimators, columns),
        }
    }
}

/// One block of a model's directions, ready to score rows: packed for the
/// kernels, with the scoring table of its class parameters.
pub(crate) struct ScoringBlock<'b> {
    first: usize,
    /// The model's directions in all: the width of a full matrix.
    directions: usize,
    packed: PackedDirections<'b>,
    table: ScoringTable<'b>,
}

impl ScoringBlock<'_> {
    /// Scores the rows `x` of classes `class_index` along the block: their
    /// moments merged into `summaries`, the scores copied into the block's
    /// columns of `full` (rows × the model's m) if given, and gathered into
    /// `bars`, where `x` starts at sample `row`.
    pub fn score(
        &self,
        engine: &Engine,
        x: &Features<'_>,
        class_index: &[u32],
        row: usize,
        outputs: (&mut [Moments], Option<&mut [f32]>, &mut ErrorBars),
    ) -> Result<()> {
        self.score_at(engine, x, class_index, (row, self.first), outputs)
    }

    /// As [`ScoringBlock::score`], the block's directions gathered into
    /// `bars` from direction `direction` on (the model being one block of a
    /// longer run).
    fn score_at(
        &self,
        engine: &Engine,
        x: &Features<'_>,
        class_index: &[u32],
        (row, direction): (usize, usize),
        (summaries, full, bars): (&mut [Moments], Option<&mut [f32]>, &mut ErrorBars),
    ) -> Result<()> {
        let mut bars = BarsTarget {
            bars,
            row,
            direction,
        };
        let mut target = full.map(|values| FullMatrix {
            values,
            width: self.directions,
            column: self.first,
        });
        engine.install(|| {
            stages::project_and_score(
                x,
                &self.packed,
                &self.table,
                class_index,
                summaries,
                target.as_mut(),
                Some(&mut bars),
            )
        })?;
        Ok(())
    }
}
