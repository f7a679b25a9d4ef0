//! Streaming fit: class statistics accumulated chunk by chunk, mergeable.

use crate::class_table::ClassTable;
use crate::classes::check_label_count;
use crate::error::{PsmiError, Result};
use crate::features::Features;
use crate::model::PsmiModel;
use crate::options::{NEstimators, Psmi};
use crate::pipeline::{DirectionBlock, DirectionSource, Engine, MAX_BLOCK};
use crate::stages::{self, ClassStatistics};
use psmi_core::directions::Scheme;
use psmi_core::projection::Precision;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Fits a PSMI model from data that arrives in chunks, or lives on several
/// threads, processes or machines, in the way of LEACE's `LeaceFitter`.
///
/// `update` adds a chunk, `merge` adds another fitter's chunks, `finish` gives
/// the model. Memory is O(m·d + k·m) (the directions and the class
/// statistics), whatever the number of samples. Needs a fixed number of
/// directions: auto mode decides from the scores, which need every sample.
///
/// ```
/// use psmi_std::{Features, NEstimators, Psmi, PsmiFitter};
/// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(32)).build()?;
/// let mut fitter = PsmiFitter::new(&psmi, 2)?;
/// fitter.update(&Features::new(&[0.0, 0.1, 5.0, 5.2], 2, 2)?, &[0, 1])?;
/// let mut other = PsmiFitter::new(&psmi, 2)?;
/// other.update(&Features::new(&[0.3, 0.2, 5.1, 4.9], 2, 2)?, &[0, 1])?;
/// fitter.merge(&other)?;
/// let model = fitter.finish()?;
/// assert_eq!(model.labels(), &[0, 1]);
/// assert_eq!(fitter.samples(), 4);
/// assert_eq!((fitter.n_estimators(), fitter.dim()), (32, 2));
/// assert_eq!(fitter.seed(), Some(psmi_std::DEFAULT_SEED));
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Debug)]
pub struct PsmiFitter {
    dim: usize,
    seed: Option<u64>,
    scheme: Scheme,
    threads: Option<usize>,
    engine: Engine,
    /// The first direction and count of each block.
    layout: Vec<(usize, usize)>,
    /// The blocks' directions: drawn from the seed when first needed, so
    /// that a copy made to merge statistics or finish never draws them.
    blocks: OnceLock<Vec<DirectionBlock>>,
    /// Labels in the order they were first seen; class c is `labels[c]`.
    labels: Vec<i64>,
    class_of: HashMap<i64, u32>,
    /// One set of class moments per block of directions.
    moments: Vec<ClassStatistics>,
}

impl PsmiFitter {
    /// A fitter with no samples yet, for features of dimension `dim`. As the
    /// number of samples is not known, orthonormal frames span the whole
    /// dimension unless the builder sets `frame_size`.
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] in auto mode, [`PsmiError::Empty`] for `dim` 0.
    pub fn new(psmi: &Psmi, dim: usize) -> Result<Self> {
        // The number of samples is not known yet: frames span the dimension.
        Self::for_samples(psmi, dim, None)
    }

    /// As [`PsmiFitter::new`], with orthonormal frames sized for `n` samples
    /// when known (as [`Psmi::fit`] sizes them), for a caller that streams
    /// rows whose number it knows.
    ///
    /// ```
    /// use psmi_std::{Directions, NEstimators, Psmi, PsmiFitter, Scheme};
    /// let psmi = Psmi::builder()
    ///     .n_estimators(NEstimators::Fixed(64))
    ///     .directions(Directions::Orthogonal)
    ///     .build()?;
    /// let fitter = PsmiFitter::for_samples(&psmi, 32, Some(20_000))?;
    /// assert_eq!(fitter.scheme(), psmi.scheme(Some(20_000), 32)?);
    /// assert_eq!(PsmiFitter::new(&psmi, 32)?.scheme(), Scheme::Orthogonal { frame: 32 });
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PsmiFitter::new`], and [`PsmiError::InvalidOption`] for a
    /// builder's frame size larger than `dim`.
    pub fn for_samples(psmi: &Psmi, dim: usize, n: Option<usize>) -> Result<Self> {
        let NEstimators::Fixed(m) = psmi.n_estimators else {
            return Err(PsmiError::InvalidOption {
                option: "n_estimators",
                value: "auto".into(),
                expected: "a streaming fit needs a fixed number of directions",
            });
        };
        if dim == 0 {
            return Err(PsmiError::Empty {
                what: "features (no columns)",
            });
        }
        let scheme = psmi.scheme(n, dim)?;
        Self::seeded(psmi.seed, scheme, m, dim, psmi.threads, psmi.precision)
    }

    /// A fitter over `m` directions of `scheme` drawn from `seed` (`dim` ≥ 1),
    /// projecting in `precision`.
    pub(crate) fn seeded(
        seed: u64,
        scheme: Scheme,
        m: usize,
        dim: usize,
        threads: Option<usize>,
        precision: Precision,
    ) -> Result<Self> {
        let engine = Engine::new(threads, precision)?;
        let layout = (0..m)
            .step_by(MAX_BLOCK)
            .map(|first| (first, MAX_BLOCK.min(m - first)))
            .collect();
        Ok(Self::over(
            engine,
            (layout, OnceLock::new()),
            dim,
            (Some(seed), scheme),
            threads,
        ))
    }

    /// A fitter over directions given by the caller (row-major m × `dim`, used
    /// as given), for example to reproduce another implementation's run. It
    /// projects in f32 unless [`PsmiFitter::with_precision`] says otherwise.
    ///
    /// ```
    /// use psmi_std::{Features, PsmiFitter};
    /// let axes = [1.0f32, 0.0, 0.0, 1.0]; // the two coordinate axes of the plane
    /// let mut fitter = PsmiFitter::with_directions(&axes, 2, None)?;
    /// fitter.update(&Features::new(&[0.0, 1.0, 2.0, 5.0, 4.0, 9.0, 6.0, 13.0], 4, 2)?, &[0, 0, 1, 1])?;
    /// let model = fitter.finish()?;
    /// assert_eq!(model.mean_per_label(1).unwrap(), &[5.0, 11.0]);
    /// assert_eq!(model.seed(), None);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] for no directions or `dim` 0,
    /// [`PsmiError::FeatureShape`] if `directions` is not whole rows of `dim`,
    /// [`PsmiError::NonFinite`] for a NaN or infinity (row = direction).
    pub fn with_directions(directions: &[f32], dim: usize, threads: Option<usize>) -> Result<Self> {
        Self::given(directions, dim, threads, Precision::F32)
    }

    /// As [`PsmiFitter::with_directions`], projecting in `precision`.
    pub(crate) fn given(
        directions: &[f32],
        dim: usize,
        threads: Option<usize>,
        precision: Precision,
    ) -> Result<Self> {
        let rows = directions.len().checked_div(dim).unwrap_or(0);
        // Checked as features are: shape and finiteness.
        Features::new(directions, rows, dim)?;
        let engine = Engine::new(threads, precision)?;
        let blocks: Vec<DirectionBlock> = directions
            .chunks(MAX_BLOCK * dim)
            .enumerate()
            .map(|(b, theta)| DirectionBlock::from_theta(b * MAX_BLOCK, theta.to_vec(), dim))
            .collect();
        let layout = blocks.iter().map(|b| (b.first, b.count())).collect();
        Ok(Self::over(
            engine,
            (layout, OnceLock::from(blocks)),
            dim,
            (None, Scheme::Iid),
            threads,
        ))
    }

    /// A fitter over directions `first .. first + count` of the estimator's
    /// seed and scheme (frames sized for `n` samples when known, as
    /// [`PsmiFitter::for_samples`] sizes them), held as given directions: one
    /// block of auto mode fitted on its own, as a distributed run does before
    /// it decides whether to go on. Its models join into one with
    /// [`PsmiModel::concat`].
    ///
    /// ```
    /// use psmi_std::{Features, Psmi, PsmiFitter};
    /// let psmi = Psmi::builder().seed(5).build()?; // auto mode
    /// let mut fitter = PsmiFitter::for_block(&psmi, 2, Some(4), 100, 50)?;
    /// fitter.update(&Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?, &[0, 0, 1, 1])?;
    /// assert_eq!((fitter.n_estimators(), fitter.seed()), (50, None));
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] for `dim` or `count` 0, [`PsmiError::InvalidOption`]
    /// for a builder's frame size larger than `dim`.
    pub fn for_block(
        psmi: &Psmi,
        dim: usize,
        n: Option<usize>,
        first: usize,
        count: usize,
    ) -> Result<Self> {
        if dim == 0 || count == 0 {
            return Err(PsmiError::Empty {
                what: "block of directions (no columns or no directions)",
            });
        }
        let engine = Engine::new(psmi.threads, psmi.precision)?;
        let scheme = psmi.scheme(n, dim)?;
        let block = DirectionSource::new(psmi.seed, scheme, dim, first + count)
            .draw(&engine, first, count)?;
        Self::given(&block.theta, dim, psmi.threads, psmi.precision)
    }

    /// The fitter, projecting in `precision` from its first update on (the
    /// estimator's [`precision`](crate::PsmiBuilder::precision); fitters made
    /// from a [`Psmi`] already have it).
    ///
    /// ```
    /// use psmi_std::{Features, Precision, PsmiFitter};
    /// let fitter = PsmiFitter::with_directions(&[0.6, 0.8], 2, None)?.with_precision(Precision::Bf16)?;
    /// assert_eq!(fitter.precision(), Precision::Bf16);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::InvalidOption`] naming `precision` once samples were
    /// added: they were projected in the other precision.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self> {
        if self.samples() > 0 && precision != self.engine.precision {
            return Err(PsmiError::InvalidOption {
                option: "precision",
                value: precision.name().into(),
                expected: "must be chosen before the fitter's first update",
            });
        }
        self.engine.precision = precision;
        Ok(self)
    }

    /// The arithmetic of the projection ([`Psmi::precision`]).
    pub fn precision(&self) -> Precision {
        self.engine.precision
    }

    fn over(
        engine: Engine,
        (layout, blocks): (Vec<(usize, usize)>, OnceLock<Vec<DirectionBlock>>),
        dim: usize,
        (seed, scheme): (Option<u64>, Scheme),
        threads: Option<usize>,
    ) -> Self {
        let moments = layout
            .iter()
            .map(|&(_, count)| ClassStatistics::zeros(0, count))
            .collect();
        PsmiFitter {
            dim,
            seed,
            scheme,
            threads,
            engine,
            layout,
            blocks,
            labels: Vec::new(),
            class_of: HashMap::new(),
            moments,
        }
    }

    /// Number of directions m.
    pub fn n_estimators(&self) -> usize {
        self.layout.iter().map(|&(_, count)| count).sum()
    }

    /// Dimension d of the features.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The seed the directions are drawn from; `None` for directions given
    /// by the caller.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// How the directions are drawn from the seed ([`Scheme::Iid`] for
    /// directions given by the caller).
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The directions, row-major m × d, block after block, if held (always
    /// for directions given by the caller).
    pub(crate) fn directions(&self) -> Option<Vec<f32>> {
        let blocks = self.blocks.get()?;
        Some(
            blocks
                .iter()
                .flat_map(|b| b.theta.iter().copied())
                .collect(),
        )
    }

    /// The blocks of directions, drawn from the seed if not held yet.
    fn blocks(&self) -> Result<&[DirectionBlock]> {
        if let Some(blocks) = self.blocks.get() {
            return Ok(blocks);
        }
        let seed = self.seed.ok_or_else(|| {
            PsmiError::Incompatible("a fitter of given directions without them".into())
        })?;
        let mut source = DirectionSource::new(seed, self.scheme, self.dim, self.n_estimators());
        let drawn = self
            .layout
            .iter()
            .map(|&(first, count)| source.draw(&self.engine, first, count))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.blocks.get_or_init(|| drawn))
    }

    /// The labels in the order first seen, each one's count, and their running
    /// means and sums of squared deviations as k × m matrices.
    pub(crate) fn statistics(&self) -> (&[i64], Vec<u64>, Vec<f64>, Vec<f64>) {
        let (k, m) = (self.labels.len(), self.n_estimators());
        let counts = self
            .moments
            .first()
            .map_or(vec![0; k], |s| s.parts().0.to_vec());
        let (mut mean, mut m2) = (ClassTable::zeros(k, m), ClassTable::zeros(k, m));
        for (&(first, _), stats) in self.layout.iter().zip(&self.moments) {
            let (_, block_mean, block_m2) = stats.parts();
            mean.scatter(first, block_mean, None);
            m2.scatter(first, block_m2, None);
        }
        (&self.labels, counts, mean.into_values(), m2.into_values())
    }

    /// Replaces a fitter's (empty) state by the classes `labels` with the
    /// statistics laid out as [`PsmiFitter::statistics`] gives them.
    pub(crate) fn restore(&mut self, labels: Vec<i64>, counts: Vec<u64>, mean: &[f64], m2: &[f64]) {
        let m = self.n_estimators();
        for (&(first, count), stats) in self.layout.iter().zip(&mut self.moments) {
            let columns = first..first + count;
            *stats = ClassStatistics::from_parts(
                counts.clone(),
                ClassTable::columns_of(mean, m, columns.clone()),
                ClassTable::columns_of(m2, m, columns),
            );
        }
        self.class_of = labels
            .iter()
            .enumerate()
            .map(|(c, &l)| (l, c as u32))
            .collect();
        self.labels = labels;
    }

    /// Number of samples seen so far.
    pub fn samples(&self) -> u64 {
        self.moments.first().map_or(0, |m| m.parts().0.iter().sum())
    }

    /// Adds a chunk of samples. On error the fitter is unchanged.
    ///
    /// # Errors
    ///
    /// [`PsmiError::DimensionMismatch`] and [`PsmiError::LabelCount`].
    pub fn update(&mut self, x: &Features<'_>, labels: &[i64]) -> Result<()> {
        self.add(x, labels, None)
    }

    /// As [`PsmiFitter::update`], keeping the chunk's projections on every
    /// direction in `kept` (row-major, `x.rows() × m`), so that once the
    /// merged model is known it scores these rows from them
    /// ([`PsmiModel::transform_kept`]) without projecting them again: one
    /// partition of a distributed fit and transform. The statistics are
    /// those `update` adds, bit for bit.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiFitter};
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(300)).build()?;
    /// let (x, y) = (Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?, [0, 0, 1, 1]);
    /// let mut fitter = PsmiFitter::new(&psmi, 2)?;
    /// let mut kept = vec![0.0f32; 4 * 300];
    /// fitter.update_keeping(&x, &y, &mut kept)?;
    /// let model = fitter.finish()?;
    /// assert_eq!(model.transform_kept(&kept, &y)?, model.transform(&x, &y)?);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PsmiFitter::update`], and [`PsmiError::Incompatible`] unless
    /// `kept` holds m values per row.
    pub fn update_keeping(
        &mut self,
        x: &Features<'_>,
        labels: &[i64],
        kept: &mut [f32],
    ) -> Result<()> {
        let m = self.n_estimators();
        if kept.len() != x.rows() * m {
            return Err(PsmiError::Incompatible(format!(
                "{} values to keep the projections of {} rows on {m} directions; expected {}",
                kept.len(),
                x.rows(),
                x.rows() * m
            )));
        }
        self.add(x, labels, Some(kept))
    }

    /// Adds a chunk, its projections copied into `kept` if given.
    fn add(
        &mut self,
        x: &Features<'_>,
        labels: &[i64],
        mut kept: Option<&mut [f32]>,
    ) -> Result<()> {
        if x.cols() != self.dim {
            return Err(PsmiError::DimensionMismatch {
                expected: self.dim,
                found: x.cols(),
            });
        }
        check_label_count(labels, x.rows())?;
        let mut new_labels = Vec::new();
        let mut pending = HashMap::new();
        let class_index: Vec<u32> = labels
            .iter()
            .map(|&label| match self.class_of.get(&label) {
                Some(&class) => class,
                None => *pending.entry(label).or_insert_with(|| {
                    new_labels.push(label);
                    (self.labels.len() + new_labels.len() - 1) as u32
                }),
            })
            .collect();
        let classes = self.labels.len() + new_labels.len();
        let (engine, m, single) = (&self.engine, self.n_estimators(), self.layout.len() == 1);
        let (mut packed_buffer, mut block_buffer) = (Vec::new(), Vec::new());
        let partials = self
            .blocks()?
            .iter()
            .map(|block| {
                let packed = block.pack(engine, &mut packed_buffer)?;
                let statistics = match kept.as_deref_mut() {
                    None => engine.install(|| {
                        ClassStatistics::of_features(x, &packed, &class_index, classes)
                    })?,
                    // One block: its projections are the rows kept.
                    Some(kept) if single => engine.install(|| {
                        stages::project_with_statistics(x, &packed, &class_index, classes, kept)
                    })?,
                    Some(kept) => {
                        let width = block.count();
                        block_buffer.resize(x.rows() * width, 0.0);
                        let statistics = engine.install(|| {
                            stages::project_with_statistics(
                                x,
                                &packed,
                                &class_index,
                                classes,
                                &mut block_buffer,
                            )
                        })?;
                        for (to, from) in kept
                            .chunks_exact_mut(m)
                            .zip(block_buffer.chunks_exact(width))
                        {
                            to[block.first..block.first + width].copy_from_slice(from);
                        }
                        statistics
                    }
                };
                Ok(statistics)
            })
            .collect::<Result<Vec<_>>>()?;
        self.add_classes(&new_labels);
        for (total, partial) in self.moments.iter_mut().zip(partials) {
            total.merge(partial)?;
        }
        Ok(())
    }

    /// Appends classes with no samples yet.
    fn add_classes(&mut self, new_labels: &[i64]) {
        for &label in new_labels {
            self.class_of.insert(label, self.labels.len() as u32);
            self.labels.push(label);
            for moments in &mut self.moments {
                moments.add_class();
            }
        }
    }

    /// Adds the samples of another fitter over the same directions.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Incompatible`] if the two fitters' directions or
    /// precisions differ.
    pub fn merge(&mut self, other: &PsmiFitter) -> Result<()> {
        if self.precision() != other.precision() {
            return Err(PsmiError::Incompatible(format!(
                "cannot merge a fitter of precision {} into one of precision {}",
                other.precision().name(),
                self.precision().name()
            )));
        }
        let same_directions = self.dim == other.dim
            && self.layout == other.layout
            && match (self.seed, other.seed) {
                // The same draws: no need to draw them to compare.
                (Some(a), Some(b)) => a == b && self.scheme == other.scheme,
                _ => self
                    .blocks()?
                    .iter()
                    .zip(other.blocks()?)
                    .all(|(a, b)| a.theta == b.theta),
            };
        if !same_directions {
            let describe = |f: &PsmiFitter| {
                let m = f.n_estimators();
                let seed = f.seed.map_or("given directions".to_string(), |s| {
                    format!("seed {s}, {:?}", f.scheme)
                });
                format!("{m} directions of dimension {} ({seed})", f.dim)
            };
            return Err(PsmiError::Incompatible(format!(
                "cannot merge a fitter over {} into one over {}",
                describe(other),
                describe(self)
            )));
        }
        if other.labels.is_empty() {
            // No samples to add, and moments of no class cannot be merged.
            return Ok(());
        }
        let new_labels: Vec<i64> = other
            .labels
            .iter()
            .copied()
            .filter(|l| !self.class_of.contains_key(l))
            .collect();
        self.add_classes(&new_labels);
        // The other fitter's classes, moved to this fitter's class order.
        let rows: Vec<usize> = other
            .labels
            .iter()
            .map(|label| self.class_of[label] as usize)
            .collect();
        let classes = self.labels.len();
        for (total, theirs) in self.moments.iter_mut().zip(&other.moments) {
            total.merge(theirs.moved_to(&rows, classes))?;
        }
        Ok(())
    }

    /// The fitted model of every sample seen so far. The fitter stays usable.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`] before any sample, [`PsmiError::TooFewSamples`]
    /// and [`PsmiError::ZeroVariance`] naming the label.
    pub fn finish(&self) -> Result<PsmiModel> {
        if self.labels.is_empty() {
            return Err(PsmiError::Empty {
                what: "fitter (no samples)",
            });
        }
        let mut table_buffer = Vec::new();
        let blocks = self
            .layout
            .iter()
            .zip(&self.moments)
            .map(|(&(first, _), moments)| {
                let named = |e| PsmiError::from_core(e, &self.labels, first);
                let params = moments.clone().parameters().map_err(named)?;
                params.table(&mut table_buffer).map_err(named)?;
                Ok((first, params))
            })
            .collect::<Result<Vec<_>>>()?;
        // Directions not drawn here are drawn by the model when it needs them.
        Ok(PsmiModel::assemble(
            self.dim,
            &self.labels,
            blocks,
            self.directions(),
            (self.seed, self.scheme, self.precision()),
            self.threads,
            None,
        ))
    }
}
