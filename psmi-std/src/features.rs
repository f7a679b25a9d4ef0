//! Inputs: a row-major feature matrix, and the mapping from labels to classes.

use crate::error::{PsmiError, Result};
use std::borrow::Cow;

/// A row-major n × d matrix of f32 features, borrowed or converted.
///
/// ```
/// use psmi_std::Features;
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let x = Features::new(&data, 3, 2)?;
/// assert_eq!((x.rows(), x.cols()), (3, 2));
/// let y = Features::from_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2)?;
/// assert_eq!(x.as_slice(), y.as_slice());
/// assert!(Features::new(&[1.0, f32::NAN], 1, 2).is_err());
/// # Ok::<(), psmi_std::PsmiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Features<'a> {
    data: Cow<'a, [f32]>,
    rows: usize,
    cols: usize,
}

impl<'a> Features<'a> {
    /// Borrows `data` as `rows × cols`, after checking the shape and that
    /// every value is finite.
    ///
    /// # Errors
    ///
    /// [`PsmiError::Empty`], [`PsmiError::FeatureShape`], or
    /// [`PsmiError::NonFinite`] naming the first bad value's row and column.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::checked(Cow::Borrowed(data), rows, cols)
    }

    /// Converts f64 features to f32 (one copy), with the same checks as [`Features::new`].
    ///
    /// # Errors
    ///
    /// As [`Features::new`]; a finite f64 beyond the f32 range is reported as non-finite.
    pub fn from_f64(data: &[f64], rows: usize, cols: usize) -> Result<Features<'static>> {
        let converted: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        Features::checked(Cow::Owned(converted), rows, cols)
    }

    /// Takes ownership of f32 features, with the same checks as [`Features::new`].
    ///
    /// # Errors
    ///
    /// As [`Features::new`].
    pub fn from_vec(data: Vec<f32>, rows: usize, cols: usize) -> Result<Features<'static>> {
        Features::checked(Cow::Owned(data), rows, cols)
    }

    fn checked(data: Cow<'a, [f32]>, rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 {
            return Err(PsmiError::Empty {
                what: "features (no rows)",
            });
        }
        if cols == 0 {
            return Err(PsmiError::Empty {
                what: "features (no columns)",
            });
        }
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(PsmiError::FeatureShape {
                len: data.len(),
                rows,
                cols,
            });
        }
        if let Err(psmi_core::Error::NonFinite { row, column }) =
            psmi_core::projection::check_finite(&data, cols)
        {
            return Err(PsmiError::NonFinite { row, column });
        }
        Ok(Features { data, rows, cols })
    }

    /// Number of samples n.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Dimension d.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
}

#[cfg(feature = "ndarray")]
impl<'a> TryFrom<ndarray::ArrayView2<'a, f32>> for Features<'a> {
    type Error = PsmiError;

    /// Borrows a standard-layout (C order) view, or copies any other layout.
    ///
    /// ```
    /// use psmi_std::Features;
    /// let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
    /// let x = Features::try_from(a.view())?;
    /// assert_eq!(x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    fn try_from(view: ndarray::ArrayView2<'a, f32>) -> Result<Self> {
        let (rows, cols) = view.dim();
        match view.to_slice() {
            Some(data) => Features::new(data, rows, cols),
            None => Features::from_vec(view.iter().copied().collect(), rows, cols),
        }
    }
}

#[cfg(feature = "ndarray")]
impl TryFrom<ndarray::ArrayView2<'_, f64>> for Features<'static> {
    type Error = PsmiError;

    /// Converts an f64 view to f32, row-major.
    ///
    /// ```
    /// use psmi_std::Features;
    /// let a = ndarray::array![[1.0f64, 2.0], [3.0, 4.0]];
    /// let x = Features::try_from(a.view())?;
    /// assert_eq!(x.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), psmi_std::PsmiError>(())
    /// ```
    fn try_from(view: ndarray::ArrayView2<'_, f64>) -> Result<Self> {
        let (rows, cols) = view.dim();
        Features::from_vec(view.iter().map(|&v| v as f32).collect(), rows, cols)
    }
}

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
pub(crate) fn list_labels(labels: &[i64]) -> String {
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
