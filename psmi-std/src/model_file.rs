//! The model file: safetensors, readable from Python with
//! `safetensors.numpy.load_file`.
//!
//! Tensors `directions` F32 [m, d], `labels` I64 [k] (sorted), `frequency`
//! F64 [k], `mean` F64 [k, m], `std` F64 [k, m]; metadata `format`
//! (`psmi-model`), `format_version`, `crate_version`, `dim`, `seed` with
//! `directions` (`iid` or `orthogonal`) and, for frames, `frame_size` (unless
//! the directions were given by the caller; a file without `directions` holds
//! i.i.d. ones), `precision` of the projection (`f32` or `bf16`; a file
//! without it projects in f32), and how auto mode ended where it ran.
//! [`PsmiModel::to_bytes`] leaves out the directions of a seeded model;
//! [`PsmiFitter::to_bytes`] writes a fitter's running class statistics.

use crate::auto::AutoReport;
use crate::error::{PsmiError, Result};
use crate::fitter::PsmiFitter;
use crate::model::PsmiModel;
use crate::options::{parse_precision, Directions};
use psmi_core::directions::Scheme;
use psmi_core::projection::Precision;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// The value of the `format` metadata entry of a model.
const FORMAT: &str = "psmi-model";
/// The value of the `format` metadata entry of a fitter's state.
const FITTER_FORMAT: &str = "psmi-fitter";
/// Version of the layout described above.
const FORMAT_VERSION: &str = "1";

impl PsmiModel {
    /// Saves the model to `path`, whole or not at all (written beside it,
    /// then renamed over it).
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiModel};
    /// let x = Features::new(&[0.0, 0.1, 0.3, 0.2, 5.0, 5.2, 5.1, 4.9], 4, 2)?;
    /// let model = Psmi::builder().n_estimators(NEstimators::Fixed(8)).build()?.fit(&x, &[0, 0, 1, 1])?;
    /// let path = std::env::temp_dir().join(format!("psmi-doc-{}.safetensors", std::process::id()));
    /// model.save(&path)?;
    /// let loaded = PsmiModel::load(&path)?;
    /// assert_eq!(loaded.directions(), model.directions());
    /// assert_eq!(loaded.mean(), model.mean());
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PsmiError::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.serialize(true);
        crate::io::write_whole(path, |w| w.write_all(&bytes)).map_err(|source| PsmiError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The model as bytes, in the format of [`PsmiModel::save`], except that
    /// a model drawn from a seed leaves its directions out (metadata `dim`
    /// says their dimension): it is then seed + k × m parameters, cheap to
    /// send to another process or machine, which draws the directions again.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiModel};
    /// let data: Vec<f32> = (0..200).map(|i| ((i * 37) % 11) as f32).collect();
    /// let x = Features::new(&data, 4, 50)?;
    /// let model = Psmi::builder().n_estimators(NEstimators::Fixed(300)).build()?.fit(&x, &[0, 0, 1, 1])?;
    /// let bytes = model.to_bytes();
    /// assert!(bytes.len() < 300 * 50 * 4); // less than the directions alone
    /// assert_eq!(PsmiModel::from_bytes(&bytes)?, model);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        self.serialize(self.seed.is_none())
    }

    /// Reads bytes written by [`PsmiModel::to_bytes`], or the contents of a
    /// model file, with the checks of [`PsmiModel::load`].
    ///
    /// # Errors
    ///
    /// [`PsmiError::Decode`] naming the tensor or entry at fault.
    pub fn from_bytes(bytes: &[u8]) -> Result<PsmiModel> {
        Self::parse(bytes).map_err(|reason| PsmiError::Decode {
            what: "model",
            reason,
        })
    }

    /// Loads a model saved by [`PsmiModel::save`], checking that every tensor
    /// is present with the right type and that their shapes agree.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Io`] if the file cannot be read, [`PsmiError::ModelFile`]
    /// naming the tensor or entry at fault otherwise.
    pub fn load(path: impl AsRef<Path>) -> Result<PsmiModel> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PsmiError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes).map_err(|reason| PsmiError::ModelFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn serialize(&self, with_directions: bool) -> Vec<u8> {
        let (k, m) = (self.labels.len(), self.n_estimators());
        let mut tensors = Tensors::default();
        if with_directions {
            tensors.add(
                "directions",
                Dtype::F32,
                vec![m, self.dim],
                self.directions(),
            );
        }
        tensors.add("labels", Dtype::I64, vec![k], &self.labels);
        tensors.add("frequency", Dtype::F64, vec![k], &self.frequency);
        tensors.add("mean", Dtype::F64, vec![k, m], &self.mean);
        tensors.add("std", Dtype::F64, vec![k, m], &self.std);
        let mut metadata =
            format_metadata(FORMAT, self.dim, (self.seed, self.scheme), self.precision);
        if let Some(auto) = self.auto {
            metadata.insert("auto_blocks".into(), auto.blocks.to_string());
            metadata.insert("auto_converged".into(), auto.converged.to_string());
            if let Some(v) = auto.variation {
                metadata.insert("auto_variation".into(), v.to_string());
            }
        }
        tensors.serialize(metadata)
    }

    fn parse(bytes: &[u8]) -> std::result::Result<PsmiModel, String> {
        let reader = TensorReader::new(bytes, FORMAT)?;
        let metadata = &reader.metadata;
        let seed = reader.seed()?;
        let (labels, label_shape) = reader.read("labels", Dtype::I64, 1, i64::from_le_bytes)?;
        let (frequency, freq_shape) =
            reader.read("frequency", Dtype::F64, 1, f64::from_le_bytes)?;
        let (mean, mean_shape) = reader.read("mean", Dtype::F64, 2, f64::from_le_bytes)?;
        let (std, std_shape) = reader.read("std", Dtype::F64, 2, f64::from_le_bytes)?;
        let (k, m) = (label_shape[0], mean_shape[1]);
        let (directions, dim) = reader.directions(seed, m)?;
        if m == 0 || dim == 0 || k == 0 {
            return Err(format!(
                "empty model: {m} directions of dimension {dim}, {k} labels"
            ));
        }
        let scheme = reader.scheme(dim)?;
        let precision = reader.precision()?;
        if freq_shape[0] != k {
            return Err(format!(
                "`frequency` has {} entries for {k} labels",
                freq_shape[0]
            ));
        }
        for (name, shape) in [("mean", &mean_shape), ("std", &std_shape)] {
            if shape[..] != [k, m] {
                return Err(format!(
                    "`{name}` has shape {shape:?}, expected [{k}, {m}] ({k} labels, {m} directions)"
                ));
            }
        }
        if let Some(w) = labels.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!(
                "`labels` are not strictly increasing ({} then {})",
                w[0], w[1]
            ));
        }
        if let Some(c) = frequency.iter().position(|f| !(*f > 0.0 && *f <= 1.0)) {
            return Err(format!(
                "`frequency` of label {} is {}, not in (0, 1]",
                labels[c], frequency[c]
            ));
        }
        if let Some(i) = mean.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "`mean` has a non-finite value for label {} at direction {}",
                labels[i / m],
                i % m
            ));
        }
        if let Some(i) = std.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(format!(
                "`std` is {} for label {} at direction {}: must be positive and finite",
                std[i],
                labels[i / m],
                i % m
            ));
        }
        let auto = match metadata.get("auto_blocks") {
            Some(blocks) => Some(AutoReport {
                blocks: blocks
                    .parse()
                    .map_err(|_| format!("metadata `auto_blocks` = {blocks:?}"))?,
                variation: metadata.get("auto_variation").and_then(|v| v.parse().ok()),
                converged: metadata.get("auto_converged").is_some_and(|v| v == "true"),
            }),
            None => None,
        };
        Ok(PsmiModel {
            dim,
            n_estimators: m,
            directions: directions.map(OnceLock::from).unwrap_or_default(),
            labels,
            frequency,
            mean,
            std,
            seed,
            scheme,
            precision,
            threads: None,
            auto,
        })
    }
}

impl PsmiFitter {
    /// The fitter's state as bytes (safetensors, metadata `format` =
    /// `psmi-fitter`): per class, in the order first seen, its label, its
    /// sample count, and its running mean and sum of squared deviations
    /// along every direction; directions only when they were given rather
    /// than drawn from a seed. Partial fits travel between processes or
    /// machines this way and [`merge`](PsmiFitter::merge) at the other end.
    ///
    /// ```
    /// use psmi_std::{Features, NEstimators, Psmi, PsmiFitter};
    /// let psmi = Psmi::builder().n_estimators(NEstimators::Fixed(16)).build()?;
    /// let mut fitter = PsmiFitter::new(&psmi, 2)?;
    /// fitter.update(&Features::new(&[0.0, 0.1, 5.0, 5.2, 0.3, 0.2, 5.1, 4.9], 4, 2)?, &[0, 1, 0, 1])?;
    /// let copy = PsmiFitter::from_bytes(&fitter.to_bytes(), None)?;
    /// assert_eq!(copy.samples(), 4);
    /// assert_eq!(copy.finish()?, fitter.finish()?);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let (labels, counts, mean, m2) = self.statistics();
        let (k, m) = (labels.len(), self.n_estimators());
        let mut tensors = Tensors::default();
        if let (None, Some(directions)) = (self.seed(), self.directions()) {
            tensors.add("directions", Dtype::F32, vec![m, self.dim()], &directions);
        }
        tensors.add("labels", Dtype::I64, vec![k], labels);
        tensors.add("counts", Dtype::U64, vec![k], &counts);
        tensors.add("mean", Dtype::F64, vec![k, m], &mean);
        tensors.add("m2", Dtype::F64, vec![k, m], &m2);
        let mut metadata = format_metadata(
            FITTER_FORMAT,
            self.dim(),
            (self.seed(), self.scheme()),
            self.precision(),
        );
        metadata.insert("n_estimators".into(), m.to_string());
        tensors.serialize(metadata)
    }

    /// Reads bytes written by [`PsmiFitter::to_bytes`]; the fitter runs on
    /// `threads` workers (all cores if `None`).
    ///
    /// # Errors
    ///
    /// [`PsmiError::Decode`] naming the tensor or entry at fault.
    pub fn from_bytes(bytes: &[u8], threads: Option<usize>) -> Result<PsmiFitter> {
        let bad = |reason| PsmiError::Decode {
            what: "fitter",
            reason,
        };
        let reader = TensorReader::new(bytes, FITTER_FORMAT).map_err(bad)?;
        let parsed = (|| {
            let seed = reader.seed()?;
            let m: usize = reader.number("n_estimators")?;
            let (labels, label_shape) = reader.read("labels", Dtype::I64, 1, i64::from_le_bytes)?;
            let (counts, count_shape) = reader.read("counts", Dtype::U64, 1, u64::from_le_bytes)?;
            let (mean, mean_shape) = reader.read("mean", Dtype::F64, 2, f64::from_le_bytes)?;
            let (m2, m2_shape) = reader.read("m2", Dtype::F64, 2, f64::from_le_bytes)?;
            let k = label_shape[0];
            let (directions, dim) = reader.directions(seed, m)?;
            if m == 0 || dim == 0 {
                return Err(format!("empty fitter: {m} directions of dimension {dim}"));
            }
            let scheme = reader.scheme(dim)?;
            let precision = reader.precision()?;
            if count_shape[0] != k {
                return Err(format!("`counts` has {} entries for {k} labels", count_shape[0]));
            }
            for (name, shape) in [("mean", &mean_shape), ("m2", &m2_shape)] {
                if shape[..] != [k, m] {
                    return Err(format!(
                        "`{name}` has shape {shape:?}, expected [{k}, {m}] ({k} labels, {m} directions)"
                    ));
                }
            }
            let mut distinct = labels.clone();
            distinct.sort_unstable();
            if let Some(w) = distinct.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("`labels` holds {} twice", w[0]));
            }
            if let Some(c) = counts.iter().position(|&c| c == 0) {
                return Err(format!("`counts` of label {} is 0", labels[c]));
            }
            if let Some(i) = mean.iter().zip(&m2).position(|(a, b)| !(a.is_finite() && b.is_finite() && *b >= 0.0)) {
                return Err(format!(
                    "`mean` or `m2` of label {} at direction {} is not finite (or `m2` < 0)",
                    labels[i / m],
                    i % m
                ));
            }
            Ok((seed, scheme, precision, m, dim, directions, labels, counts, mean, m2))
        })()
        .map_err(bad)?;
        let (seed, scheme, precision, m, dim, directions, labels, counts, mean, m2) = parsed;
        let mut fitter = match (seed, directions) {
            (_, Some(directions)) => PsmiFitter::given(&directions, dim, threads, precision)?,
            (Some(seed), None) => PsmiFitter::seeded(seed, scheme, m, dim, threads, precision)?,
            (None, None) => unreachable!("TensorReader::directions needs a seed or the tensor"),
        };
        fitter.restore(labels, counts, &mean, &m2);
        Ok(fitter)
    }
}

/// Metadata entries every file of this module carries.
fn format_metadata(
    format: &str,
    dim: usize,
    (seed, scheme): (Option<u64>, Scheme),
    precision: Precision,
) -> HashMap<String, String> {
    let mut metadata = HashMap::from([
        ("format".to_string(), format.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        (
            "crate_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("dim".to_string(), dim.to_string()),
        ("precision".to_string(), precision.name().to_string()),
    ]);
    if let Some(seed) = seed {
        metadata.insert("seed".into(), seed.to_string());
        let name = Directions::from(scheme).name();
        metadata.insert("directions".into(), name.into());
        if let Some(frame) = scheme.frame_size() {
            metadata.insert("frame_size".into(), frame.to_string());
        }
    }
    metadata
}

/// Named tensors on their way to a safetensors buffer.
#[derive(Default)]
struct Tensors {
    entries: Vec<(&'static str, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Tensors {
    fn add<T: ToLeBytes>(
        &mut self,
        name: &'static str,
        dtype: Dtype,
        shape: Vec<usize>,
        values: &[T],
    ) {
        let bytes = values.iter().flat_map(|v| v.to_le()).collect();
        self.entries.push((name, dtype, shape, bytes));
    }

    fn serialize(&self, metadata: HashMap<String, String>) -> Vec<u8> {
        let views = self.entries.iter().map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes)
                .expect("shapes are built from the lengths of the values");
            (*name, view)
        });
        safetensors::serialize(views, Some(metadata))
            .expect("serialising tensors in memory does not fail")
    }
}

/// Little-endian bytes of the element types the files hold.
trait ToLeBytes {
    fn to_le(&self) -> Vec<u8>;
}

macro_rules! to_le_bytes {
    ($($t:ty),*) => {$(
        impl ToLeBytes for $t {
            fn to_le(&self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
        }
    )*};
}
to_le_bytes!(f32, f64, i64, u64);

/// Reads the named tensors and the metadata of a file of this module, with
/// errors that name them.
struct TensorReader<'a> {
    file: SafeTensors<'a>,
    metadata: HashMap<String, String>,
}

impl<'a> TensorReader<'a> {
    /// Parses `bytes`, checking the `format` and `format_version` entries.
    fn new(bytes: &'a [u8], format: &str) -> std::result::Result<Self, String> {
        let file =
            SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let metadata = header.metadata().clone().unwrap_or_default();
        if metadata.get("format").map(String::as_str) != Some(format) {
            return Err(format!("metadata `format` is not `{format}`"));
        }
        if let Some(version) = metadata
            .get("format_version")
            .filter(|v| *v != FORMAT_VERSION)
        {
            return Err(format!(
                "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            ));
        }
        Ok(TensorReader { file, metadata })
    }

    /// The metadata entry `name`, parsed as a number.
    fn number<T: std::str::FromStr>(&self, name: &str) -> std::result::Result<T, String> {
        let value = self
            .metadata
            .get(name)
            .ok_or_else(|| format!("metadata `{name}` is missing"))?;
        value
            .parse()
            .map_err(|_| format!("metadata `{name}` = {value:?} is not a whole number"))
    }

    /// The `seed` entry, if there is one.
    /// How the directions are drawn from the seed; files written before
    /// frames existed hold i.i.d. directions.
    fn scheme(&self, dim: usize) -> std::result::Result<Scheme, String> {
        match (
            self.metadata.get("directions").map(String::as_str),
            self.metadata.get("frame_size"),
        ) {
            (None | Some("iid"), _) => Ok(Scheme::Iid),
            (Some("orthogonal"), Some(f)) => match f.parse() {
                Ok(frame) if frame >= 1 && frame <= dim => Ok(Scheme::Orthogonal { frame }),
                _ => Err(format!(
                    "metadata `frame_size` = {f:?} is not a whole number in 1..={dim}"
                )),
            },
            (Some("orthogonal"), None) => {
                Err("metadata `directions` = \"orthogonal\" needs `frame_size`".into())
            }
            (Some(other), _) => Err(format!(
                "metadata `directions` = {other:?} is not `iid` or `orthogonal`"
            )),
        }
    }

    /// The arithmetic of the projection; files written before it was
    /// recorded projected in f32.
    fn precision(&self) -> std::result::Result<Precision, String> {
        self.metadata
            .get("precision")
            .map_or(Ok(Precision::F32), |name| {
                parse_precision(name)
                    .map_err(|_| format!("metadata `precision` = {name:?} is not `f32` or `bf16`"))
            })
    }

    fn seed(&self) -> std::result::Result<Option<u64>, String> {
        match self.metadata.contains_key("seed") {
            true => self.number("seed").map(Some),
            false => Ok(None),
        }
    }

    /// The `directions` tensor ([`None`] when it is left out for a seed) and
    /// the dimension, for `m` directions.
    fn directions(
        &self,
        seed: Option<u64>,
        m: usize,
    ) -> std::result::Result<(Option<Vec<f32>>, usize), String> {
        if seed.is_some() && !self.file.names().contains(&"directions") {
            return Ok((None, self.number("dim")?));
        }
        let (directions, shape) = self.read("directions", Dtype::F32, 2, f32::from_le_bytes)?;
        if shape[0] != m {
            return Err(format!(
                "`directions` has {} rows for {m} directions",
                shape[0]
            ));
        }
        if let Some(i) = directions.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "`directions` has a non-finite value at [{}, {}]",
                i / shape[1],
                i % shape[1]
            ));
        }
        Ok((Some(directions), shape[1]))
    }

    fn read<T, const N: usize>(
        &self,
        name: &str,
        dtype: Dtype,
        rank: usize,
        decode: impl Fn([u8; N]) -> T,
    ) -> std::result::Result<(Vec<T>, Vec<usize>), String> {
        let tensor = self.file.tensor(name).map_err(|_| {
            let mut names = self.file.names();
            names.sort_unstable();
            format!(
                "tensor `{name}` is missing (the file has: {})",
                names.join(", ")
            )
        })?;
        if tensor.dtype() != dtype {
            return Err(format!(
                "tensor `{name}` is {:?}, expected {dtype:?}",
                tensor.dtype()
            ));
        }
        if tensor.shape().len() != rank {
            return Err(format!(
                "tensor `{name}` has shape {:?}, expected {rank} dimension(s)",
                tensor.shape()
            ));
        }
        // safetensors checked that the data length matches shape and dtype.
        let values = tensor
            .data()
            .as_chunks::<N>()
            .0
            .iter()
            .map(|&b| decode(b))
            .collect();
        Ok((values, tensor.shape().to_vec()))
    }
}
