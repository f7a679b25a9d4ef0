//! What a command reads: the features and labels of `--features` and
//! `--labels`, as layers. A single matrix (one file, or shards of rows) is a
//! run of one unnamed layer written to DIR itself; a tensor pattern or a 3-D
//! tensor gives named layers, each written to `DIR/<layer>/`. Every command
//! walks the layers of a [`Source`] the same way.

use crate::args::DataArgs;
use crate::failure::{Blame, Failure};
use crate::memory;
use psmi_std::io::{shard_labels, shard_layers, FeatureLayers, FeatureShards, Input};
use psmi_std::Features;
use std::fmt::Display;

/// Files of DIR beside the layers' directories.
pub const LAYERS_CSV: &str = "layers.csv";
pub const SUMMARY: &str = "summary.json";
pub const LAYER_PLOT: &str = "smi_by_layer.svg";
pub const SCORES_CSV: &str = "scores.csv";

/// The layers of `--features` (of every shard, for a glob of files), or
/// `None` for one matrix.
pub fn layers(data: &DataArgs) -> Result<Option<Layers>, Failure> {
    Ok(shard_layers(&Input::parse(&data.features))?.map(Layers))
}

/// Layers in one or several shards of rows, each shard holding them all.
pub struct Layers(Vec<(Input, FeatureLayers)>);

impl Layers {
    /// The layers' names, in order.
    pub fn names(&self) -> Vec<&str> {
        let first = &self.0[0].1;
        (0..first.len()).map(|i| first.name(i)).collect()
    }
}

/// The features and labels of one command.
pub struct Source {
    features_input: Input,
    labels_input: Input,
    labels: Vec<i64>,
    kind: Kind,
}

enum Kind {
    /// One matrix, mapped whole or streamed within `--max-memory`.
    Matrix(FeatureShards),
    /// Named layers, each with its directory and the `FILE:TENSOR` its errors name.
    Layers {
        layers: Layers,
        dirs: Vec<String>,
        sources: Vec<String>,
    },
}

impl Source {
    /// Opens the features (`layers`, from [`layers`], or else one matrix
    /// within `--max-memory`, sized by `working(rows, cols)` bytes of work)
    /// and reads the labels.
    pub fn open(
        data: &DataArgs,
        layers: Option<Layers>,
        working: impl Fn(usize, usize) -> u64,
    ) -> Result<Source, Failure> {
        let features_input = Input::parse(&data.features);
        let labels_input = Input::parse(&data.labels);
        let (labels, kind) = match layers {
            None => {
                let matrix = memory::open_features(&features_input, data.max_memory, working)?;
                (matrix.labels(&labels_input)?, Kind::Matrix(matrix))
            }
            Some(layers) => {
                let names = layers.names();
                let dirs = directories(&names, "layer", &features_input)?;
                let sources = names
                    .iter()
                    .map(|name| format!("{}:{name}", features_input.path().display()))
                    .collect();
                let shards: Vec<(&Input, usize)> = layers
                    .0
                    .iter()
                    .map(|(input, l)| (input, l.rows()))
                    .collect();
                let labels = shard_labels(&labels_input, &shards)?;
                let kind = Kind::Layers {
                    layers,
                    dirs,
                    sources,
                };
                (labels, kind)
            }
        };
        Ok(Source {
            features_input,
            labels_input,
            labels,
            kind,
        })
    }

    /// Every sample's label.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// The number of layers (1 for a single matrix).
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Matrix(_) => 1,
            Kind::Layers { dirs, .. } => dirs.len(),
        }
    }

    /// Whether the layers are named (and written to directories of their own).
    pub fn layered(&self) -> bool {
        matches!(self.kind, Kind::Layers { .. })
    }

    /// Layer `i`'s name and directory, `None` for a single matrix.
    pub fn layer(&self, i: usize) -> Option<(&str, &str)> {
        match &self.kind {
            Kind::Matrix(_) => None,
            Kind::Layers { layers, dirs, .. } => Some((layers.0[0].1.name(i), &dirs[i])),
        }
    }

    /// Layer `i`'s features. Those of a single matrix are checked for NaN and
    /// infinities by the estimator's first pass over them rather than by a
    /// pass of their own.
    pub fn features(&self, i: usize) -> Result<Features<'_>, Failure> {
        match &self.kind {
            Kind::Matrix(matrix) => Ok(matrix.features_checked_when_projected()?),
            Kind::Layers { layers, .. } => {
                // Each shard's rows where they lie, concatenated without a copy.
                let mut parts = Vec::with_capacity(layers.0.len());
                for (_, shard) in &layers.0 {
                    parts.push(shard.features(i)?);
                }
                if parts.len() == 1 {
                    return Ok(parts.remove(0));
                }
                Features::concat(parts).map_err(|e| self.blame(i).failure(e))
            }
        }
    }

    /// What layer `i`'s estimator errors are blamed on.
    pub fn blame(&self, i: usize) -> Blame<'_> {
        match &self.kind {
            Kind::Matrix(matrix) => Blame {
                features: &self.features_input,
                labels: &self.labels_input,
                shards: Some(matrix),
            },
            Kind::Layers { sources, .. } => Blame {
                features: &sources[i],
                labels: &self.labels_input,
                shards: None,
            },
        }
    }

    /// Where the samples come from, in order: each file and its number of rows.
    pub fn origins(&self) -> Vec<(String, usize)> {
        match &self.kind {
            Kind::Matrix(matrix) => matrix
                .inputs()
                .map(|input| input.path().display().to_string())
                .zip(matrix.shard_rows())
                .collect(),
            Kind::Layers { layers, .. } => layers
                .0
                .iter()
                .map(|(input, l)| (input.path().display().to_string(), l.rows()))
                .collect(),
        }
    }

    /// Done with layer `i`: its pages may go.
    pub fn release(&self, i: usize) {
        if let Kind::Layers { layers, .. } = &self.kind {
            for (_, shard) in &layers.0 {
                shard.release(i);
            }
        }
    }
}

/// One directory name per layer (or run, as `what` says): its name with any
/// character other than letters, digits, `.`, `-` and `_` replaced by `_` (and
/// no leading `.`), distinct from each other and from DIR's own files.
pub fn directories(names: &[&str], what: &str, spec: &dyn Display) -> Result<Vec<String>, Failure> {
    let mut dirs: Vec<String> = Vec::with_capacity(names.len());
    for &name in names {
        let mut dir: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if dir.starts_with('.') {
            dir.insert(0, '_');
        }
        let clash = dirs
            .iter()
            .position(|d| *d == dir)
            .map(|j| format!("{what} {}", names[j]))
            .or_else(|| {
                [LAYERS_CSV, SCORES_CSV, SUMMARY, LAYER_PLOT]
                    .contains(&dir.as_str())
                    .then(|| "a file of the results".to_owned())
            });
        if let Some(other) = clash {
            return Err(Failure::input(format!(
                "{spec}: {what} {name} would be written to directory {dir}, as {other}; rename it"
            )));
        }
        dirs.push(dir);
    }
    Ok(dirs)
}
