//! Files in and out: features and labels from `.npy` or `.safetensors`, results to
//! `.npy`, each file written whole or not at all.
//!
//! Inputs are memory-mapped and checked against the file's length before anything of
//! the announced size is allocated; only the array used is read from the file, and
//! little-endian f32, f16 and bf16 features are used in place.
//!
//! The .npy header is read by a small parser of our own rather than `npyz`, because
//! npyz reads through `io::Read` into buffers of its own while we need the data's offset
//! inside the map (zero copy), f16, and the announced shape checked against the file's
//! length before any allocation, and the header is a small Python dict literal that a
//! short strict parser reads.
//!
//! ```
//! use psmi_std::io::{read_labels, write_npy_f64, FeatureMatrix, Input};
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/io");
//! let x = FeatureMatrix::open(&Input::parse(format!("{fixtures}/features_f32.npy")))?;
//! let y = read_labels(&Input::parse(format!("{fixtures}/labels_i8.npy")))?;
//! assert_eq!((x.rows(), x.cols()), (5, 3));
//! assert_eq!(y, [-3, 7, 127, -128, 0]);
//!
//! let dir = std::env::temp_dir().join("psmi-doc-io-module");
//! std::fs::create_dir_all(&dir)?;
//! write_npy_f64(dir.join("psmi_mean.npy"), &[0.1, 0.2])?;
//! assert!(dir.join("psmi_mean.npy").is_file());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod array;
mod error;
mod layers;
mod matrix;
mod names;
mod npy;
mod pages;
mod shards;
mod tensors;
mod whole;

pub use error::{IoError, IoErrorKind};
pub use layers::{shard_layers, FeatureLayers};
pub use matrix::{read_labels, read_target, FeatureMatrix};
pub use npy::{write_npy_f32_2d, write_npy_f64, write_npy_f64_2d};
pub use shards::{input_bytes, matching_directories, shard_inputs, shard_labels, FeatureShards};
pub use whole::write_whole;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an array comes from: an `.npy` file, or one tensor of a `.safetensors` file.
///
/// ```
/// use psmi_std::io::Input;
/// use std::path::Path;
/// assert_eq!(Input::parse("x.npy"), Input::Npy("x.npy".into()));
/// let input = Input::parse("model.safetensors:hidden");
/// assert_eq!(input.path(), Path::new("model.safetensors"));
/// assert_eq!(input.tensor(), Some("hidden"));
/// assert_eq!(input.to_string(), "model.safetensors:hidden");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// An .npy file.
    Npy(PathBuf),
    /// A safetensors file and the tensor to read; `None` when the name was left out,
    /// which opening reports along with the tensors the file holds.
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: Option<String>,
    },
}

impl Input {
    /// Reads the `psmi` program's input syntax: `FILE.safetensors:TENSOR` (split at the
    /// first `.safetensors:`) or `FILE.safetensors` name a safetensors input, anything
    /// else an .npy file.
    ///
    /// ```
    /// use psmi_std::io::Input;
    /// assert_eq!(
    ///     Input::parse("a:b/c.safetensors"),
    ///     Input::Safetensors { path: "a:b/c.safetensors".into(), tensor: None }
    /// );
    /// assert_eq!(Input::parse("dir:x/y.npy"), Input::Npy("dir:x/y.npy".into()));
    /// ```
    pub fn parse(spec: impl AsRef<OsStr>) -> Input {
        let spec = spec.as_ref();
        let Some(text) = spec.to_str() else {
            return Input::Npy(spec.into());
        };
        if text.ends_with(".safetensors") {
            return Input::Safetensors {
                path: text.into(),
                tensor: None,
            };
        }
        const EXT: &str = ".safetensors";
        match text.find(".safetensors:") {
            Some(i) => Input::Safetensors {
                path: text[..i + EXT.len()].into(),
                tensor: Some(&text[i + EXT.len() + 1..])
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            },
            None => Input::Npy(text.into()),
        }
    }

    /// The file.
    ///
    /// ```
    /// # use psmi_std::io::Input;
    /// assert_eq!(Input::parse("m.safetensors:x").path(), std::path::Path::new("m.safetensors"));
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            Input::Npy(path) | Input::Safetensors { path, .. } => path,
        }
    }

    /// The tensor's name, for a safetensors input that gives one.
    ///
    /// ```
    /// # use psmi_std::io::Input;
    /// assert_eq!(Input::parse("x.npy").tensor(), None);
    /// ```
    pub fn tensor(&self) -> Option<&str> {
        match self {
            Input::Npy(_) => None,
            Input::Safetensors { tensor, .. } => tensor.as_deref(),
        }
    }

    fn error(&self, kind: IoErrorKind) -> IoError {
        IoError::new(self.path(), kind).in_tensor(self.tensor())
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())?;
        if let Some(tensor) = self.tensor() {
            write!(f, ":{tensor}")?;
        }
        Ok(())
    }
}
