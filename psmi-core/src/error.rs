//! The error type of every fallible entry point of the core.

use core::fmt;

/// What went wrong, and where. Small and `Copy`, so returning it never allocates.
///
/// Classes are named by their index `0..k` (the core sees class indices, not
/// the caller's label values; the std crate maps them back).
///
/// ```
/// use psmi_core::Error;
/// let e = Error::NonFinite { row: 3, column: 7 };
/// assert_eq!(e.to_string(), "non-finite value at row 3, column 7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Two sizes that must agree do not.
    ShapeMismatch {
        /// The argument whose size is wrong.
        what: &'static str,
        /// The size it must have.
        expected: usize,
        /// The size it has.
        found: usize,
    },
    /// A caller-provided buffer is shorter than the operation needs.
    BufferTooSmall {
        /// The buffer's argument name.
        buffer: &'static str,
        /// Elements needed.
        required: usize,
        /// Elements provided.
        provided: usize,
    },
    /// An input has no rows, no columns, no directions or no classes.
    EmptyInput {
        /// The input that is empty.
        what: &'static str,
    },
    /// A NaN or an infinity in the features.
    NonFinite {
        /// Row (sample) of the value.
        row: usize,
        /// Column (feature) of the value.
        column: usize,
    },
    /// A class has fewer than two samples, so its spread cannot be estimated.
    TooFewSamples {
        /// Class index.
        class: usize,
        /// Samples seen in that class.
        count: u64,
    },
    /// A class has zero spread along a direction (its samples coincide there),
    /// so its Gaussian density is degenerate.
    ZeroVariance {
        /// Class index.
        class: usize,
        /// Direction index.
        direction: usize,
    },
    /// A class index is not below the number of classes.
    LabelOutOfRange {
        /// Row (sample) of the label.
        row: usize,
        /// The label found.
        label: u32,
        /// Number of classes.
        classes: usize,
    },
    /// An orthonormal frame's size is 0 or exceeds the dimension.
    FrameSize {
        /// The frame size asked for.
        frame: usize,
        /// The dimension of the directions.
        dim: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what} has size {found}, expected {expected}"),
            Error::BufferTooSmall {
                buffer,
                required,
                provided,
            } => write!(
                f,
                "buffer `{buffer}` holds {provided} elements, {required} are needed"
            ),
            Error::EmptyInput { what } => write!(f, "{what} is empty"),
            Error::NonFinite { row, column } => {
                write!(f, "non-finite value at row {row}, column {column}")
            }
            Error::TooFewSamples { class, count } => write!(
                f,
                "class {class} has {count} sample(s), at least 2 are needed"
            ),
            Error::ZeroVariance { class, direction } => write!(
                f,
                "class {class} has zero variance along direction {direction}"
            ),
            Error::LabelOutOfRange {
                row,
                label,
                classes,
            } => write!(
                f,
                "label {label} at row {row} is out of range for {classes} classes"
            ),
            Error::FrameSize { frame, dim } => write!(
                f,
                "frame size {frame} must be between 1 and the dimension {dim}"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// Checks that `buffer` holds at least `required` elements.
pub(crate) fn ensure_len<T>(
    buffer: &'static str,
    slice: &[T],
    required: usize,
) -> Result<(), Error> {
    if slice.len() < required {
        return Err(Error::BufferTooSmall {
            buffer,
            required,
            provided: slice.len(),
        });
    }
    Ok(())
}

/// Checks that an input has exactly `expected` elements.
pub(crate) fn ensure_shape<T>(
    what: &'static str,
    slice: &[T],
    expected: usize,
) -> Result<(), Error> {
    if slice.len() != expected {
        return Err(Error::ShapeMismatch {
            what,
            expected,
            found: slice.len(),
        });
    }
    Ok(())
}
