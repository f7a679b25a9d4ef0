//! Stage 2: projection Z = X Θᵀ of n samples onto m directions.
//!
//! The directions are packed once ([`pack_directions`]) into the layout the
//! micro-kernel of the chosen [`Isa`] reads; [`project`] then multiplies any
//! number of row chunks of X by them, each with its own scratch buffer, so
//! threads can share one packed block.

use crate::dispatch::{Isa, Kernels};
use crate::error::{ensure_len, ensure_shape, Error};

/// Directions packed for the projection kernels of one instruction set.
///
/// ```
/// use psmi_core::{Kernels, projection::{pack_directions, packed_len}};
/// let kernels = Kernels::portable();
/// let theta = [1.0f32, 0.0, 0.0, 1.0]; // two directions in 2-D
/// let mut buffer = vec![0.0f32; packed_len(kernels, 2, 2)];
/// let packed = pack_directions(kernels, &theta, 2, &mut buffer).unwrap();
/// assert_eq!((packed.directions(), packed.dim()), (2, 2));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PackedDirections<'a> {
    data: &'a [f32],
    directions: usize,
    dim: usize,
    kernels: Kernels,
}

impl PackedDirections<'_> {
    /// Number of directions.
    pub fn directions(&self) -> usize {
        self.directions
    }

    /// Dimension of each direction.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The kernels the layout was packed for.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }
}

/// Length of the buffer that [`pack_directions`] needs.
pub fn packed_len(kernels: Kernels, directions: usize, dim: usize) -> usize {
    match kernels.isa() {
        Isa::Portable | Isa::Avx2Fma | Isa::Avx512 => directions * dim,
    }
}

/// Length of the per-call scratch buffer that [`project`] needs.
pub fn scratch_len(kernels: Kernels, dim: usize) -> usize {
    match kernels.isa() {
        Isa::Portable | Isa::Avx2Fma | Isa::Avx512 => {
            let _ = dim;
            0
        }
    }
}

/// Packs `theta` (row-major `m × dim`, m = `theta.len() / dim`) into `out`.
///
/// # Errors
///
/// [`Error::EmptyInput`] for `dim` 0 or no directions,
/// [`Error::ShapeMismatch`] if `theta.len()` is not a multiple of `dim`,
/// [`Error::BufferTooSmall`] if `out` is shorter than [`packed_len`].
pub fn pack_directions<'a>(
    kernels: Kernels,
    theta: &[f32],
    dim: usize,
    out: &'a mut [f32],
) -> Result<PackedDirections<'a>, Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let directions = theta.len() / dim;
    if directions == 0 {
        return Err(Error::EmptyInput { what: "directions" });
    }
    ensure_shape("directions", theta, directions * dim)?;
    let len = packed_len(kernels, directions, dim);
    ensure_len("packed directions", out, len)?;
    out[..len].copy_from_slice(theta);
    Ok(PackedDirections {
        data: &out[..len],
        directions,
        dim,
        kernels,
    })
}

/// Z = X Θᵀ: `x` is row-major `n × dim`, `z` row-major `n × m` (overwritten).
///
/// ```
/// use psmi_core::{Kernels, projection::{pack_directions, packed_len, project, scratch_len}};
/// let kernels = Kernels::portable();
/// let theta = [1.0f32, 0.0, 0.6, 0.8];
/// let mut packed_buf = vec![0.0f32; packed_len(kernels, 2, 2)];
/// let packed = pack_directions(kernels, &theta, 2, &mut packed_buf).unwrap();
/// let x = [2.0f32, 1.0, -1.0, 3.0];
/// let mut z = [0.0f32; 4];
/// let mut scratch = vec![0.0f32; scratch_len(kernels, 2)];
/// project(&x, &packed, &mut z, &mut scratch).unwrap();
/// assert_eq!(z, [2.0, 2.0, -1.0, 1.8]);
/// ```
///
/// # Errors
///
/// [`Error::ShapeMismatch`] if `x` is not whole rows of `dim` or `z` is not
/// `n × m`, [`Error::BufferTooSmall`] if `scratch` is shorter than [`scratch_len`].
pub fn project(
    x: &[f32],
    packed: &PackedDirections<'_>,
    z: &mut [f32],
    scratch: &mut [f32],
) -> Result<(), Error> {
    let (dim, m) = (packed.dim, packed.directions);
    let n = x.len() / dim;
    ensure_shape("features", x, n * dim)?;
    ensure_shape("projections", z, n * m)?;
    ensure_len(
        "projection scratch",
        scratch,
        scratch_len(packed.kernels, dim),
    )?;
    for (x_row, z_row) in x.chunks_exact(dim).zip(z.chunks_exact_mut(m)) {
        for (theta_row, out) in packed.data.chunks_exact(dim).zip(z_row.iter_mut()) {
            *out = x_row
                .iter()
                .zip(theta_row)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>() as f32;
        }
    }
    Ok(())
}

/// Finds the first NaN or infinity in row-major features with `dim` columns.
///
/// ```
/// use psmi_core::{Error, projection::check_finite};
/// assert_eq!(check_finite(&[1.0, 2.0, f32::NAN, 4.0], 2), Err(Error::NonFinite { row: 1, column: 0 }));
/// ```
///
/// # Errors
///
/// [`Error::NonFinite`] naming the first such value's row and column,
/// [`Error::EmptyInput`] for `dim` 0.
pub fn check_finite(x: &[f32], dim: usize) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            row: index / dim,
            column: index % dim,
        }),
        None => Ok(()),
    }
}
