//! The model file: safetensors, readable from Python with
//! `safetensors.numpy.load_file`.
//!
//! Tensors `directions` F32 [m, d], `labels` I64 [k] (sorted), `frequency`
//! F64 [k], `mean` F64 [k, m], `std` F64 [k, m]; metadata `format`
//! (`psmi-model`), `format_version`, `crate_version`, `seed` with
//! `directions` (`iid` or `orthogonal`) and, for frames, `frame_size` (unless
//! the directions were given by the caller; a file without `directions` holds
//! i.i.d. ones), and how auto mode ended where it ran.

use crate::auto::AutoReport;
use crate::error::{PsmiError, Result};
use crate::model::PsmiModel;
use crate::options::Directions;
use psmi_core::directions::Scheme;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The value of the `format` metadata entry.
const FORMAT: &str = "psmi-model";
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
        let (k, m) = (self.labels.len(), self.n_estimators());
        let directions = le_bytes(self.directions(), |v| v.to_le_bytes());
        let labels = le_bytes(&self.labels, |v| v.to_le_bytes());
        let frequency = le_bytes(&self.frequency, |v| v.to_le_bytes());
        let mean = le_bytes(&self.mean, |v| v.to_le_bytes());
        let std = le_bytes(&self.std, |v| v.to_le_bytes());
        let unwritable = |e: safetensors::SafeTensorError| PsmiError::ModelFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let tensors = [
            (
                "directions",
                TensorView::new(Dtype::F32, vec![m, self.dim], &directions),
            ),
            ("labels", TensorView::new(Dtype::I64, vec![k], &labels)),
            (
                "frequency",
                TensorView::new(Dtype::F64, vec![k], &frequency),
            ),
            ("mean", TensorView::new(Dtype::F64, vec![k, m], &mean)),
            ("std", TensorView::new(Dtype::F64, vec![k, m], &std)),
        ]
        .into_iter()
        .map(|(name, view)| view.map(|v| (name, v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(unwritable)?;
        let mut metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            (
                "crate_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ]);
        if let Some(seed) = self.seed {
            metadata.insert("seed".into(), seed.to_string());
            let name = Directions::from(self.scheme).name();
            metadata.insert("directions".into(), name.into());
            if let Some(frame) = self.scheme.frame_size() {
                metadata.insert("frame_size".into(), frame.to_string());
            }
        }
        if let Some(auto) = self.auto {
            metadata.insert("auto_blocks".into(), auto.blocks.to_string());
            metadata.insert("auto_converged".into(), auto.converged.to_string());
            if let Some(v) = auto.variation {
                metadata.insert("auto_variation".into(), v.to_string());
            }
        }
        let bytes = safetensors::serialize(tensors, Some(metadata)).map_err(unwritable)?;
        crate::io::write_whole(path, |w| w.write_all(&bytes)).map_err(|source| PsmiError::Io {
            path: path.to_path_buf(),
            source,
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
        let bad = |reason: String| PsmiError::ModelFile {
            path: path.to_path_buf(),
            reason,
        };
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        if metadata.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!(
                "metadata `format` is not `{FORMAT}`: not a PSMI model"
            )));
        }
        if let Some(version) = metadata
            .get("format_version")
            .filter(|v| *v != FORMAT_VERSION)
        {
            return Err(bad(format!(
                "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let reader = TensorReader { file: &file, path };
        let (directions, dir_shape) =
            reader.read("directions", Dtype::F32, 2, f32::from_le_bytes)?;
        let (labels, label_shape) = reader.read("labels", Dtype::I64, 1, i64::from_le_bytes)?;
        let (frequency, freq_shape) =
            reader.read("frequency", Dtype::F64, 1, f64::from_le_bytes)?;
        let (mean, mean_shape) = reader.read("mean", Dtype::F64, 2, f64::from_le_bytes)?;
        let (std, std_shape) = reader.read("std", Dtype::F64, 2, f64::from_le_bytes)?;
        let (m, dim, k) = (dir_shape[0], dir_shape[1], label_shape[0]);
        if m == 0 || dim == 0 || k == 0 {
            return Err(bad(format!(
                "empty model: {m} directions of dimension {dim}, {k} labels"
            )));
        }
        if freq_shape[0] != k {
            return Err(bad(format!(
                "`frequency` has {} entries for {k} labels",
                freq_shape[0]
            )));
        }
        for (name, shape) in [("mean", &mean_shape), ("std", &std_shape)] {
            if shape[..] != [k, m] {
                return Err(bad(format!(
                    "`{name}` has shape {shape:?}, expected [{k}, {m}] ({k} labels, {m} directions)"
                )));
            }
        }
        if let Some(w) = labels.windows(2).find(|w| w[0] >= w[1]) {
            return Err(bad(format!(
                "`labels` are not strictly increasing ({} then {})",
                w[0], w[1]
            )));
        }
        if let Some(i) = directions.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "`directions` has a non-finite value at [{}, {}]",
                i / dim,
                i % dim
            )));
        }
        if let Some(c) = frequency.iter().position(|f| !(*f > 0.0 && *f <= 1.0)) {
            return Err(bad(format!(
                "`frequency` of label {} is {}, not in (0, 1]",
                labels[c], frequency[c]
            )));
        }
        if let Some(i) = mean.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!(
                "`mean` has a non-finite value for label {} at direction {}",
                labels[i / m],
                i % m
            )));
        }
        if let Some(i) = std.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(format!(
                "`std` is {} for label {} at direction {}: must be positive and finite",
                std[i],
                labels[i / m],
                i % m
            )));
        }
        let seed = match metadata.get("seed") {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| bad(format!("metadata `seed` = {s:?} is not a whole number")))?,
            ),
            None => None,
        };
        // Files written before frames existed hold i.i.d. directions.
        let scheme = match (
            metadata.get("directions").map(String::as_str),
            metadata.get("frame_size"),
        ) {
            (None | Some("iid"), _) => Scheme::Iid,
            (Some("orthogonal"), Some(f)) => match f.parse() {
                Ok(frame) if frame >= 1 && frame <= dim => Scheme::Orthogonal { frame },
                _ => {
                    return Err(bad(format!(
                        "metadata `frame_size` = {f:?} is not a whole number in 1..={dim}"
                    )))
                }
            },
            (Some("orthogonal"), None) => {
                return Err(bad(
                    "metadata `directions` = \"orthogonal\" needs `frame_size`".into(),
                ))
            }
            (Some(other), _) => {
                return Err(bad(format!(
                    "metadata `directions` = {other:?} is not `iid` or `orthogonal`"
                )))
            }
        };
        let auto = match metadata.get("auto_blocks") {
            Some(blocks) => Some(AutoReport {
                blocks: blocks
                    .parse()
                    .map_err(|_| bad(format!("metadata `auto_blocks` = {blocks:?}")))?,
                variation: metadata.get("auto_variation").and_then(|v| v.parse().ok()),
                converged: metadata.get("auto_converged").is_some_and(|v| v == "true"),
            }),
            None => None,
        };
        Ok(PsmiModel {
            dim,
            n_estimators: m,
            directions: directions.into(),
            labels,
            frequency,
            mean,
            std,
            seed,
            scheme,
            threads: None,
            auto,
        })
    }
}

fn le_bytes<T: Copy, const N: usize>(values: &[T], to_bytes: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_bytes(v)).collect()
}

/// Reads named tensors of a model file, with errors that name them.
struct TensorReader<'a> {
    file: &'a SafeTensors<'a>,
    path: &'a Path,
}

impl TensorReader<'_> {
    fn read<T, const N: usize>(
        &self,
        name: &str,
        dtype: Dtype,
        rank: usize,
        decode: impl Fn([u8; N]) -> T,
    ) -> Result<(Vec<T>, Vec<usize>)> {
        let bad = |reason: String| PsmiError::ModelFile {
            path: self.path.to_path_buf(),
            reason,
        };
        let tensor = self.file.tensor(name).map_err(|_| {
            let mut names = self.file.names();
            names.sort_unstable();
            bad(format!(
                "tensor `{name}` is missing (the file has: {})",
                names.join(", ")
            ))
        })?;
        if tensor.dtype() != dtype {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, expected {dtype:?}",
                tensor.dtype()
            )));
        }
        if tensor.shape().len() != rank {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}, expected {rank} dimension(s)",
                tensor.shape()
            )));
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
