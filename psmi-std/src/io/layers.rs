//! Several layers of hidden states as one input: the tensors of a safetensors
//! file whose names match a pattern, or one 3-D tensor [L, n, d].

use super::array::{to_f32, Elem, RawArray, FEATURE_DTYPES};
use super::error::{IoError, IoErrorKind};
use super::names::{matches, natural_order};
use super::pages::MappedFile;
use super::{npy, tensors, Input};
use crate::features::{Check, Features};
use crate::PsmiError;
use std::fmt;
use std::path::PathBuf;

/// The layers of a features input, each an n × d matrix (d may differ from
/// layer to layer, n may not), read where they lie in the mapped file:
/// little-endian f32, f16 and bf16 layers in place, without a copy; only
/// the layer being used is read from the file.
///
/// An input is a set of layers when it is `FILE.safetensors:PATTERN` with `*`
/// (any run of characters) or `?` (one character) in the pattern — the
/// matching tensors, in natural order (`layers.2` before `layers.10`) — or
/// when its array is 3-D, [L, n, d], whose layers are named `0` … `L−1`.
///
/// ```
/// use psmi_std::io::{FeatureLayers, Input};
/// use safetensors::{serialize, Dtype, tensor::TensorView};
/// let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
/// let (a, b, c) = (bytes(&[1.0; 6]), bytes(&[2.0; 6]), bytes(&[3.0; 4]));
/// let tensors = [
///     ("layers.10", TensorView::new(Dtype::F32, vec![3, 2], &a).unwrap()),
///     ("layers.2", TensorView::new(Dtype::F32, vec![3, 2], &b).unwrap()),
///     ("head", TensorView::new(Dtype::F32, vec![2, 2], &c).unwrap()),
/// ];
/// let path = std::env::temp_dir().join("psmi-doc-layers.safetensors");
/// std::fs::write(&path, serialize(tensors, None).unwrap())?;
///
/// let spec = format!("{}:layers.*", path.display());
/// let layers = FeatureLayers::open(&Input::parse(&spec))?.expect("a pattern");
/// assert_eq!((layers.len(), layers.rows()), (2, 3));
/// assert_eq!((layers.name(0), layers.name(1)), ("layers.2", "layers.10"));
/// assert_eq!(layers.cols(0), 2);
/// assert_eq!(layers.features(0)?.as_slice(), Some(&[2.0; 6][..]));
/// layers.release(0); // done with layers.2: its pages may go
/// assert_eq!(layers.features(1)?.as_slice(), Some(&[1.0; 6][..]));
/// // One tensor named outright is not a set of layers.
/// let one = format!("{}:head", path.display());
/// assert!(FeatureLayers::open(&Input::parse(&one))?.is_none());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FeatureLayers {
    path: PathBuf,
    map: MappedFile,
    layers: Vec<(String, RawArray)>,
    rows: usize,
}

impl FeatureLayers {
    /// The layers of `input`, or `None` when it names one 2-D matrix or a
    /// pattern of files (read those with
    /// [`FeatureShards::open`](super::FeatureShards::open)).
    ///
    /// The file is mapped without reading it ahead, so only the layer being
    /// used need be resident.
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming the file (and tensor): as for
    /// [`FeatureMatrix::open`](super::FeatureMatrix::open) for each layer;
    /// [`IoErrorKind::NoTensorMatches`] for a pattern that matches nothing;
    /// [`IoErrorKind::LayerRows`] naming a layer whose rows differ from the
    /// first layer's.
    pub fn open(input: &Input) -> Result<Option<FeatureLayers>, IoError> {
        let path = input.path().to_path_buf();
        // A pattern over file names is shards of rows, not layers.
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.contains(['*', '?']))
        {
            return Ok(None);
        }
        let map = MappedFile::open(&path).map_err(|e| input.error(IoErrorKind::Open(e)))?;
        let named = match input.tensor() {
            Some(pattern) if pattern.contains(['*', '?']) => {
                let names = tensors::names(&map).map_err(|kind| input.error(kind))?;
                let mut matching: Vec<String> = names
                    .iter()
                    .filter(|name| matches(pattern.as_bytes(), name.as_bytes()))
                    .cloned()
                    .collect();
                if matching.is_empty() {
                    return Err(input.error(IoErrorKind::NoTensorMatches { available: names }));
                }
                matching.sort_by(|a, b| natural_order(a, b));
                let mut layers = Vec::with_capacity(matching.len());
                for name in matching {
                    let raw = tensors::locate(&map, Some(&name), FEATURE_DTYPES)
                        .map_err(|kind| IoError::new(&path, kind).in_tensor(Some(&name)))?;
                    layers.push((name, raw));
                }
                layers
            }
            tensor => {
                let raw = match tensor {
                    None if matches!(input, Input::Npy(_)) => npy::parse(&map, FEATURE_DTYPES),
                    _ => tensors::locate(&map, tensor, FEATURE_DTYPES),
                }
                .map_err(|kind| input.error(kind))?;
                match raw.shape[..] {
                    [count, rows, cols] => (0..count)
                        .map(|l| (l.to_string(), raw.layer(l, rows, cols)))
                        .collect(),
                    _ => return Ok(None),
                }
            }
        };
        // A 3-D tensor's layers are named in errors as TENSOR[l].
        let stack = match input.tensor() {
            Some(pattern) if pattern.contains(['*', '?']) => None,
            tensor => Some(tensor.unwrap_or("")),
        };
        Self::checked(path, map, named, stack).map(Some)
    }

    /// Checks every layer's dtype and shape, and that all have the first one's rows.
    fn checked(
        path: PathBuf,
        map: MappedFile,
        layers: Vec<(String, RawArray)>,
        stack: Option<&str>,
    ) -> Result<FeatureLayers, IoError> {
        let fail = |name: &str, kind| {
            let tensor = stack.map_or(name.to_owned(), |s| format!("{s}[{name}]"));
            IoError::new(&path, kind).in_tensor(Some(&tensor))
        };
        let mut rows = None;
        for (name, raw) in &layers {
            if !matches!(raw.elem, Elem::F16 | Elem::Bf16 | Elem::F32 | Elem::F64) {
                let kind = IoErrorKind::UnsupportedDtype {
                    found: raw.dtype_name.clone(),
                    supported: FEATURE_DTYPES,
                };
                return Err(fail(name, kind));
            }
            let [n, d] = raw.shape[..] else {
                let shape = raw.shape.clone();
                return Err(fail(name, IoErrorKind::NotMatrix { shape }));
            };
            if n == 0 || d == 0 {
                return Err(fail(name, IoErrorKind::Empty { rows: n, cols: d }));
            }
            match rows {
                None => rows = Some((n, name)),
                Some((first_rows, first)) if first_rows != n => {
                    let kind = IoErrorKind::LayerRows {
                        rows: n,
                        first: first.clone(),
                        first_rows,
                    };
                    return Err(fail(name, kind));
                }
                Some(_) => {}
            }
        }
        let Some((rows, _)) = rows else {
            return Err(IoError::new(&path, IoErrorKind::Empty { rows: 0, cols: 0 }));
        };
        Ok(FeatureLayers {
            path,
            map,
            layers,
            rows,
        })
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layer `i`'s name: the tensor's, or its index in a 3-D tensor.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`FeatureLayers::len`].
    pub fn name(&self, i: usize) -> &str {
        &self.layers[i].0
    }

    /// Number of samples n, the same in every layer.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Layer `i`'s dimension d.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`FeatureLayers::len`].
    pub fn cols(&self, i: usize) -> usize {
        self.layers[i].1.shape[1]
    }

    /// Layer `i` as [`Features`], checked finite: read in place for
    /// little-endian f32, f16 and bf16 aligned to their size, otherwise
    /// converted to f32 (one layer's copy). Its pages are filled in at once,
    /// and stay until [`FeatureLayers::release`].
    ///
    /// # Errors
    ///
    /// An [`IoError`] naming the file and layer: a NaN or infinity
    /// ([`PsmiError::NonFinite`], its row and column within the layer).
    ///
    /// # Panics
    ///
    /// If `i` is not below [`FeatureLayers::len`].
    pub fn features(&self, i: usize) -> Result<Features<'_>, IoError> {
        let (name, raw) = &self.layers[i];
        let fail =
            |e: PsmiError| IoError::new(&self.path, IoErrorKind::Features(e)).in_tensor(Some(name));
        self.map.populate(raw.byte_range());
        let (rows, cols) = (self.rows, self.cols(i));
        match raw.in_place(&self.map) {
            Some(values) => Features::in_place(values, rows, cols, None, Check::Now),
            None => {
                let values = to_f32(raw, raw.bytes(&self.map))
                    .map_err(|kind| IoError::new(&self.path, kind).in_tensor(Some(name)))?;
                Features::from_vec(values, rows, cols)
            }
        }
        .map_err(fail)
    }

    /// Lets go of layer `i`'s pages once it is done with, so that the
    /// process holds one layer at a time rather than, in the end, the whole
    /// file. They stay in the page cache, and are read again if used again.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`FeatureLayers::len`].
    pub fn release(&self, i: usize) {
        self.map.release(self.layers[i].1.byte_range());
    }
}

/// The layers of every file a glob names (`train_???.safetensors:layer_*`):
/// shards of rows, each holding the same layers, in natural order. `None`
/// when the first file's input is one matrix (read those with
/// [`FeatureShards::open`](super::FeatureShards::open)). A name without `*`
/// or `?` is one shard: [`FeatureLayers::open`] on it.
///
/// ```
/// use psmi_std::io::{shard_layers, Input};
/// use safetensors::{serialize, Dtype, tensor::TensorView};
/// let dir = std::env::temp_dir().join("psmi-doc-shard-layers");
/// std::fs::create_dir_all(&dir)?;
/// let bytes: Vec<u8> = [1.0f32; 6].iter().flat_map(|x| x.to_le_bytes()).collect();
/// for (file, rows) in [("part-1.safetensors", 3), ("part-2.safetensors", 1)] {
///     let view = |d| TensorView::new(Dtype::F32, vec![rows, d], &bytes[..rows * d * 4]).unwrap();
///     let tensors = [("h.1", view(2)), ("h.0", view(1))];
///     std::fs::write(dir.join(file), serialize(tensors, None).unwrap())?;
/// }
/// let spec = format!("{}:h.*", dir.join("part-*.safetensors").display());
/// let shards = shard_layers(&Input::parse(&spec))?.expect("layers");
/// assert_eq!(shards.len(), 2);
/// let (input, layers) = &shards[1];
/// assert!(input.path().ends_with("part-2.safetensors"));
/// assert_eq!((layers.name(0), layers.cols(0), layers.rows()), ("h.0", 1, 1));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`shard_inputs`](super::shard_inputs) and [`FeatureLayers::open`];
/// [`IoErrorKind::ShardLayers`] naming a shard whose layers differ from the
/// first shard's, and [`IoErrorKind::ShardDimension`] one whose layer has
/// other columns.
pub fn shard_layers(input: &Input) -> Result<Option<Vec<(Input, FeatureLayers)>>, IoError> {
    let mut shards: Vec<(Input, FeatureLayers)> = Vec::new();
    for shard in super::shard_inputs(input)? {
        let Some(layers) = FeatureLayers::open(&shard)? else {
            return Ok(None);
        };
        if let Some((first_input, first)) = shards.first() {
            let names = |l: &FeatureLayers| {
                (0..l.len())
                    .map(|i| l.name(i).to_owned())
                    .collect::<Vec<_>>()
            };
            let (expected, found) = (names(first), names(&layers));
            let difference = expected
                .iter()
                .find(|name| !found.contains(name))
                .map(|name| format!("it has no layer {name}"))
                .or_else(|| {
                    found
                        .iter()
                        .find(|name| !expected.contains(name))
                        .map(|name| format!("it has layer {name}, which the first lacks"))
                });
            if let Some(difference) = difference {
                return Err(shard.error(IoErrorKind::ShardLayers {
                    first: first_input.to_string(),
                    difference,
                }));
            }
            if let Some(i) = (0..first.len()).find(|&i| first.cols(i) != layers.cols(i)) {
                return Err(IoError::new(
                    shard.path(),
                    IoErrorKind::ShardDimension {
                        cols: layers.cols(i),
                        expected: first.cols(i),
                        first: first_input.path().display().to_string(),
                    },
                )
                .in_tensor(Some(layers.name(i))));
            }
        }
        shards.push((shard, layers));
    }
    Ok(Some(shards))
}

impl fmt::Debug for FeatureLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.layers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("FeatureLayers")
            .field("path", &self.path)
            .field("layers", &names)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}
