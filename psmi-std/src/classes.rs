//! Labels: the mapping from label values to classes, and the checks that
//! labels fit the features they come with.

use crate::error::{PsmiError, Result};

/// The classes of a labelling: the sorted distinct label values (as numpy's
/// `unique`), and each sample's class index.
#[derive(Clone, Debug)]
pub(crate) struct Classes {
    /// Sorted distinct labels; class c is `labels[c]`.
    pub labels: Vec<i64>,
    /// Class index of each sample.
    pub index: Vec<u32>,
}

impl Classes {
    /// The classes of `labels`, which must be one per feature row.
    pub fn of(labels: &[i64], rows: usize) -> Result<Self> {
        check_label_count(labels, rows)?;
        let mut distinct = labels.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let index = Self::indices(&distinct, labels)?;
        Ok(Classes {
            labels: distinct,
            index,
        })
    }

    /// Class indices of `labels` among the known sorted `classes`.
    pub fn indices(classes: &[i64], labels: &[i64]) -> Result<Vec<u32>> {
        labels
            .iter()
            .enumerate()
            .map(|(row, label)| match classes.binary_search(label) {
                Ok(c) => Ok(c as u32),
                Err(_) => Err(PsmiError::UnseenLabel {
                    label: *label,
                    row,
                    known: list_labels(classes),
                }),
            })
            .collect()
    }
}

/// Checks that there is one label per feature row.
pub(crate) fn check_label_count(labels: &[i64], rows: usize) -> Result<()> {
    if labels.len() != rows {
        return Err(PsmiError::LabelCount {
            labels: labels.len(),
            rows,
        });
    }
    Ok(())
}

/// `[a, b, c]`, or the first and last few of a long list.
fn list_labels(labels: &[i64]) -> String {
    const SHOWN: usize = 8;
    let show = |s: &[i64]| s.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    if labels.len() <= SHOWN {
        format!("[{}]", show(labels))
    } else {
        format!(
            "[{}, …, {}] ({} labels)",
            show(&labels[..SHOWN / 2]),
            show(&labels[labels.len() - SHOWN / 2..]),
            labels.len()
        )
    }
}
