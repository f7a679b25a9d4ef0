//! Stage 2: projection Z = X Θᵀ of n samples onto m directions.
//!
//! The directions are packed once ([`pack_directions`]) into the layout the
//! micro-kernel of the chosen [`Isa`] reads; [`project`] then multiplies any
//! number of row chunks of X by them, each with its own scratch buffer, so
//! threads can share one packed block.
//!
//! The product is blocked as in BLIS (Van Zee & van de Geijn, 2015):
//!
//! - the dimension is cut into blocks of at most `KC` coordinates; Z receives
//!   the partial sum of each block in turn, so an f32 accumulator never sums
//!   more than `KC` products;
//! - `KC` and `NC` come from the cache sizes the CPU reports ([`CacheSizes`]),
//!   by the analytical model of BLIS (Low et al., 2016) fitted to the loop
//!   order here, where the rows of X stay in L1 and the panels of directions
//!   stream from L2: `KC` is the longest block (a multiple of 16, at most the
//!   kernel's row stride) for which `MR` rows of X and one `KC × NR` panel fit
//!   in L1 together, and `NC` the most directions whose `KC × NC` slice fills
//!   at most half of L2. There is no `MC` block: `MR` rows of X are packed at
//!   a time, and the rows of one call play its part, since each call streams
//!   every slice from memory into L2 once per coordinate block: callers pass
//!   long chunks, whole numbers of `MR` rows
//!   ([`PackedDirections::rows_per_tile`]). `KC` sets how the f32 sums are
//!   grouped, so two CPUs with different caches may differ in the last bits, as two BLAS builds do;
//!   [`pack_directions_with`] fixes the sizes for identical bits everywhere;
//! - within a block, the directions are packed in panels of `NR` (a multiple
//!   of the vector width), coordinate-major, zero-padded past the last
//!   direction;
//! - [`project`] copies `MR` rows of X at a time into the scratch buffer (a
//!   fixed row stride of `KC`, so the kernel addresses every row with a
//!   constant offset and rows never alias in the cache), widening f16 and
//!   bf16 features ([`Rows`]) to f32 as it copies them, and the micro-kernel
//!   computes one `MR × NR` tile of Z in registers;
//! - the panels of a block are visited `NC` directions at a time, a slice
//!   (`KC × NC`) that stays in the L2 cache while every row of X streams past.
//!
//! # Precision
//!
//! Directions packed with [`Precision::Bf16`] ([`pack_directions_as`]) are
//! rounded to bfloat16 once, to nearest even ([`f32_to_bf16`]), and every
//! row of X is rounded to bfloat16 as it is packed (bf16 features are used
//! as stored). A product of two bf16 values is exact in f32, so the only
//! roundings left are those of the f32 sums, as in the f32 projection. Where
//! the CPU has AVX512-BF16 ([`Kernels::has_bf16_dot`]) the products are taken
//! two coordinates at a time by `vdpbf16ps`, which reads coordinate pairs
//! from 32-bit words: the packed directions and rows then hold the pairs
//! `(k, k + 1)` of a block side by side, and the blocks have even lengths.
//! Elsewhere the f32 kernels of [`Kernels::isa`] multiply the same rounded
//! values one coordinate at a time: the same numbers up to the order of the
//! f32 additions. `vdpbf16ps` also treats bf16 subnormals (magnitudes below
//! 1.2 · 10⁻³⁸) as zero, where the f32 kernels multiply them.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512bf16;
mod portable;

mod cache;

use crate::dispatch::{Isa, Kernels};
use crate::error::{ensure_len, ensure_shape, Error};

pub use cache::CacheSizes;

/// Row-major features in the element type they are stored in, widened to f32
/// only as rows are packed for the kernels: an f16 or bf16 input is never
/// copied whole. The halves are bit patterns (`u16`), as read from a file.
///
/// ```
/// use psmi_core::projection::Rows;
/// let bf16 = [0x3F80u16, 0xC000]; // 1.0, -2.0
/// let x = Rows::Bf16(&bf16);
/// assert_eq!(x.len(), 2);
/// let mut wide = [0.0f32; 2];
/// x.widen_into(0, &mut wide);
/// assert_eq!(wide, [1.0, -2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// IEEE binary32.
    F32(&'a [f32]),
    /// IEEE binary16 (half precision), as bits.
    F16(&'a [u16]),
    /// bfloat16 (the upper half of a binary32), as bits.
    Bf16(&'a [u16]),
}

impl<'a> Rows<'a> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Rows::F32(x) => x.len(),
            Rows::F16(x) | Rows::Bf16(x) => x.len(),
        }
    }

    /// Whether there are no values.
    ///
    /// ```
    /// assert!(psmi_core::projection::Rows::F32(&[]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values `start .. end`, in the same type.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds, as slicing does.
    ///
    /// ```
    /// use psmi_core::projection::Rows;
    /// assert_eq!(Rows::F16(&[0, 1, 2]).slice(1, 3).len(), 2);
    /// ```
    pub fn slice(&self, start: usize, end: usize) -> Rows<'a> {
        match *self {
            Rows::F32(x) => Rows::F32(&x[start..end]),
            Rows::F16(x) => Rows::F16(&x[start..end]),
            Rows::Bf16(x) => Rows::Bf16(&x[start..end]),
        }
    }

    /// Widens values `start .. start + out.len()` into `out`, portably: the
    /// same bits as the SIMD paths of [`widen`].
    ///
    /// # Panics
    ///
    /// If the values run past the end.
    pub fn widen_into(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match *self {
            Rows::F32(x) => out.copy_from_slice(&x[start..end]),
            Rows::F16(x) => widen_each(&x[start..end], out, f16_to_f32),
            Rows::Bf16(x) => widen_each(&x[start..end], out, bf16_to_f32),
        }
    }

    /// Widens values `start .. start + out.len()` into `out` with the
    /// conversion of kernel set `K`.
    fn widen_with<K: MicroKernel>(&self, start: usize, out: &mut [f32]) {
        match *self {
            // SAFETY: a kernel set `K` runs only on a CPU that supports it
            // (the promise of `blocked` and `widen`).
            Rows::F16(x) => unsafe { K::widen_f16(&x[start..start + out.len()], out) },
            // SAFETY: as above.
            Rows::Bf16(x) => unsafe { K::widen_bf16(&x[start..start + out.len()], out) },
            Rows::F32(_) => self.widen_into(start, out),
        }
    }
}

impl<'a> From<&'a [f32]> for Rows<'a> {
    fn from(x: &'a [f32]) -> Self {
        Rows::F32(x)
    }
}

fn widen_each(src: &[u16], out: &mut [f32], widen: impl Fn(u16) -> f32) {
    out.iter_mut().zip(src).for_each(|(o, &h)| *o = widen(h));
}

/// The f32 of an IEEE binary16 value given as bits: exact for every finite
/// value (subnormals included) and infinities; a NaN stays a NaN of the same
/// sign and payload, made quiet, as F16C's `vcvtph2ps` does.
///
/// ```
/// use psmi_core::projection::f16_to_f32;
/// assert_eq!(f16_to_f32(0x3C00), 1.0);
/// assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // smallest subnormal
/// assert_eq!(f16_to_f32(0xFC00), f32::NEG_INFINITY);
/// assert!(f16_to_f32(0x7C01).is_nan());
/// ```
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from(bits >> 10) & 0x1F;
    let mantissa = u32::from(bits & 0x03FF);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        // Subnormal: m · 2⁻²⁴, normalised by moving its leading one to bit 10.
        (0, m) => {
            let shift = m.leading_zeros() - 21;
            ((113 - shift) << 23) | ((m << shift) & 0x03FF) << 13
        }
        (0x1F, 0) => 0x7F80_0000,
        (0x1F, m) => 0x7FC0_0000 | (m << 13),
        (e, m) => ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// The f32 of a bfloat16 value given as bits: the upper half of its binary32
/// (a NaN made quiet, as for [`f16_to_f32`]).
///
/// ```
/// use psmi_core::projection::bf16_to_f32;
/// assert_eq!(bf16_to_f32(0x3F80), 1.0);
/// assert_eq!(bf16_to_f32(0xFF80), f32::NEG_INFINITY);
/// ```
pub fn bf16_to_f32(bits: u16) -> f32 {
    let quiet = if bits & 0x7FFF > 0x7F80 { 0x0040 } else { 0 };
    f32::from_bits(u32::from(bits | quiet) << 16)
}

/// Widens `src` into `out` (of the same length) with `kernels`: F16C for f16
/// and vector shifts for bf16 on the x86-64 sets, bit for bit the values of
/// [`f16_to_f32`] and [`bf16_to_f32`]. The projection widens with the same code as it packs rows.
///
/// ```
/// use psmi_core::{Kernels, projection::{widen, Rows}};
/// let mut out = [0.0f32; 3];
/// widen(Kernels::detect(), Rows::F16(&[0x3C00, 0xC000, 0x0000]), &mut out)?;
/// assert_eq!(out, [1.0, -2.0, 0.0]);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::ShapeMismatch`] if `out` is not as long as `src`.
pub fn widen(kernels: Kernels, src: Rows<'_>, out: &mut [f32]) -> Result<(), Error> {
    if out.len() != src.len() {
        return Err(Error::ShapeMismatch {
            what: "widened values",
            expected: src.len(),
            found: out.len(),
        });
    }
    match kernels.isa() {
        Isa::Portable => src.widen_with::<portable::Kernel>(0, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => src.widen_with::<avx2::Kernel>(0, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => src.widen_with::<avx512::Kernel>(0, out),
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2Fma | Isa::Avx512 => src.widen_with::<portable::Kernel>(0, out),
    }
    Ok(())
}

/// The arithmetic of the projection.
///
/// With [`Precision::Bf16`], each direction θ is rounded to bfloat16 once,
/// when it is packed: the rounded vector θ' is still a direction (PSMI along
/// a direction does not change when the direction is scaled), but its law is
/// not exactly uniform on the sphere. Each coordinate moves by at most half
/// an ulp of bf16 (2⁻⁹ of its magnitude), so θ'/|θ'| lies within an angle
/// of about 2⁻⁹ radians of θ (0.11°): the rounded directions crowd,
/// by that much, towards the lattice of bf16 values.
///
/// ```
/// use psmi_core::projection::Precision;
/// assert_eq!(Precision::Bf16.name(), "bf16");
/// assert_eq!(Precision::default(), Precision::F32);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 features and directions, f32 products and sums.
    #[default]
    F32,
    /// bf16 features and directions (rounded to nearest even when packed),
    /// exact products, f32 sums.
    Bf16,
}

impl Precision {
    /// A short lower-case name: `"f32"` or `"bf16"`.
    ///
    /// ```
    /// assert_eq!(psmi_core::projection::Precision::F32.name(), "f32");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// The bfloat16 bits of `value`, rounded to nearest, ties to even; a NaN
/// stays a NaN (made quiet), values beyond the largest bf16 become infinite.
///
/// ```
/// use psmi_core::projection::{bf16_to_f32, f32_to_bf16};
/// assert_eq!(f32_to_bf16(1.0), 0x3F80);
/// // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: the tie goes to the even 1.
/// assert_eq!(f32_to_bf16(1.0 + 2f32.powi(-8)), 0x3F80);
/// assert_eq!(bf16_to_f32(f32_to_bf16(-3.0)), -3.0);
/// assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
/// ```
pub fn f32_to_bf16(value: f32) -> u16 {
    let bits = value.to_bits();
    let nan = bits & 0x7FFF_FFFF > 0x7F80_0000;
    // Adding 0x7FFF plus the lowest kept bit carries into the kept half
    // exactly when the dropped half is above one half, or equal to it with an
    // odd kept half; a carry out of the mantissa raises the exponent, as it should.
    let rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
    let quiet = (bits >> 16) | 0x0040;
    (if nan { quiet } else { rounded }) as u16
}

/// `value` rounded to bfloat16 ([`f32_to_bf16`]), as an f32.
fn round_to_bf16(value: f32) -> f32 {
    f32::from_bits(u32::from(f32_to_bf16(value)) << 16)
}

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
    /// The packed values: f32, or for the bf16 dot-product kernel, pairs of
    /// bf16 as the bits of one f32 slot.
    data: &'a [f32],
    directions: usize,
    dim: usize,
    kernels: Kernels,
    precision: Precision,
    blocks: Blocks,
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

    /// The arithmetic the projection uses.
    ///
    /// ```
    /// use psmi_core::{Kernels, projection::{pack_directions_as, packed_len, CacheSizes, Precision}};
    /// let kernels = Kernels::detect();
    /// let mut buffer = vec![0.0f32; packed_len(kernels, 1, 2)];
    /// let packed = pack_directions_as(kernels, Precision::Bf16, CacheSizes::detect(), &[0.6, 0.8], 2, &mut buffer)?;
    /// assert_eq!(packed.precision(), Precision::Bf16);
    /// # Ok::<(), psmi_core::Error>(())
    /// ```
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The geometry of the kernel this layout is for.
    fn geometry(&self) -> Geometry {
        Geometry::for_kernels(self.kernels, self.precision)
    }

    /// Length of the coordinate blocks the layout was cut into (the last
    /// may be shorter): the dimension in equal blocks of at most `KC`.
    ///
    /// ```
    /// use psmi_core::{Kernels, projection::{pack_directions_with, packed_len, CacheSizes}};
    /// let kernels = Kernels::portable();
    /// let mut buffer = vec![0.0f32; packed_len(kernels, 1, 300)];
    /// // KC = 64: 6 rows and 8 directions of 64 floats take 3.5 KiB of L1.
    /// let caches = CacheSizes { l1d: 4096, l2: 65536 };
    /// let packed = pack_directions_with(kernels, caches, &[1.0; 300], 300, &mut buffer)?;
    /// assert_eq!(packed.block_len(), 60); // 300 coordinates in 5 blocks
    /// # Ok::<(), psmi_core::Error>(())
    /// ```
    pub fn block_len(&self) -> usize {
        self.geometry().block_len(self.blocks.kc, self.dim)
    }

    /// Rows of X the micro-kernel computes at a time (`MR`): a chunk of rows
    /// that is a multiple of it leaves no tile partly empty.
    ///
    /// ```
    /// use psmi_core::{Kernels, projection::{pack_directions, packed_len, project, scratch_len}};
    /// let kernels = Kernels::detect();
    /// let mut buffer = vec![0.0f32; packed_len(kernels, 3, 4)];
    /// let packed = pack_directions(kernels, &[0.5; 12], 4, &mut buffer)?;
    /// let rows = 2 * packed.rows_per_tile(); // two full tiles of rows
    /// let (x, mut z) = (vec![1.0f32; rows * 4], vec![0.0f32; rows * 3]);
    /// project(&x, &packed, &mut z, &mut vec![0.0; scratch_len(kernels, 4)])?;
    /// assert!(z.iter().all(|&v| v == 2.0));
    /// # Ok::<(), psmi_core::Error>(())
    /// ```
    pub fn rows_per_tile(&self) -> usize {
        self.geometry().mr
    }
}

/// Coordinate and direction block sizes, fixed when the directions are packed.
#[derive(Clone, Copy, Debug)]
struct Blocks {
    /// Longest coordinate block (`KC`).
    kc: usize,
    /// Directions per cache block (`NC`), a multiple of `NR`.
    nc: usize,
}

/// Computes one register tile: `c[..rows][..cols] (+)= a · b` over `kc` steps.
struct Tile {
    /// Packed values per row in this block (1 ..= `KC / PER_SLOT`): the
    /// coordinates, or the coordinate pairs of the bf16 dot-product kernel.
    kc: usize,
    /// `MR` packed rows of X, row `r` at `a + r·STRIDE`, `kc` values each.
    a: *const f32,
    /// One packed panel of directions: `kc × NR` values, coordinate-major.
    b: *const f32,
    /// Top-left element of the tile in Z.
    c: *mut f32,
    /// Row stride of Z (the number of directions).
    ldc: usize,
    /// Rows of the tile that exist in Z (1 ..= `MR`).
    rows: usize,
    /// Columns of the tile that exist in Z (1 ..= `NR`).
    cols: usize,
    /// Add to Z (later coordinate blocks) rather than overwrite it (the first).
    accumulate: bool,
}

/// A micro-kernel and the block sizes it is tuned with.
trait MicroKernel {
    /// Rows of X per register tile.
    const MR: usize;
    /// Directions per register tile (and per packed panel).
    const NR: usize;
    /// Largest coordinate block; also the row stride of packed X, in
    /// coordinates.
    const KC: usize;
    /// Coordinates per packed value: 1 (an f32), or 2 (a pair of bf16 in
    /// the 32 bits of one slot, for `vdpbf16ps`).
    const PER_SLOT: usize = 1;
    /// Row stride of packed X, in packed values: at least `KC / PER_SLOT`.
    const STRIDE: usize = Self::KC / Self::PER_SLOT;

    /// Computes `tile`.
    ///
    /// # Safety
    ///
    /// The CPU supports the kernel's instruction set; `tile.a` is readable
    /// at `r·STRIDE + k` and `tile.b` at `k·NR + j` for every `r < MR`,
    /// `k < tile.kc`, `j < NR`; `tile.c` is writable at `r·ldc + j` for every
    /// `r < rows`, `j < cols`.
    unsafe fn tile(tile: &Tile);

    /// Widens f16 bits to f32 (`src` and `out` of one length), bit for bit
    /// as [`f16_to_f32`].
    ///
    /// # Safety
    ///
    /// The CPU supports the kernel's instruction set.
    unsafe fn widen_f16(src: &[u16], out: &mut [f32]) {
        widen_each(src, out, f16_to_f32);
    }

    /// Widens bf16 bits to f32 (`src` and `out` of one length), bit for bit
    /// as [`bf16_to_f32`].
    ///
    /// # Safety
    ///
    /// The CPU supports the kernel's instruction set.
    unsafe fn widen_bf16(src: &[u16], out: &mut [f32]) {
        widen_each(src, out, bf16_to_f32);
    }

    /// Rounds `values` to bf16 and packs them two to a slot, bit for bit as
    /// [`bf16_pair`] (`slots` holds `values.len().div_ceil(2)`).
    ///
    /// # Safety
    ///
    /// The CPU supports the kernel's instruction set.
    unsafe fn pair_rounded(values: &[f32], slots: &mut [f32]) {
        pair_each(values, slots);
    }
}

/// The layout parameters of one kernel set.
#[derive(Clone, Copy)]
struct Geometry {
    mr: usize,
    nr: usize,
    /// The longest block the kernel can take, in coordinates.
    stride: usize,
    /// Row stride of packed X, in packed values (`MicroKernel::STRIDE`).
    row_stride: usize,
    /// Coordinates per packed value (`MicroKernel::PER_SLOT`).
    per_slot: usize,
}

/// Whether `precision` runs on the bf16 dot-product kernel with `kernels`.
fn uses_bf16_dot(kernels: Kernels, precision: Precision) -> bool {
    precision == Precision::Bf16 && kernels.has_bf16_dot()
}

impl Geometry {
    fn of<K: MicroKernel>() -> Self {
        Geometry {
            mr: K::MR,
            nr: K::NR,
            stride: K::KC,
            row_stride: K::STRIDE,
            per_slot: K::PER_SLOT,
        }
    }

    /// The geometry of the kernel that runs `precision` with `kernels`.
    fn for_kernels(kernels: Kernels, precision: Precision) -> Self {
        #[cfg(target_arch = "x86_64")]
        if uses_bf16_dot(kernels, precision) {
            return Self::of::<avx512bf16::Kernel>();
        }
        Self::for_isa(kernels.isa())
    }

    /// The geometry of the f32 kernels of `isa`.
    fn for_isa(isa: Isa) -> Self {
        match isa {
            Isa::Portable => Self::of::<portable::Kernel>(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => Self::of::<avx2::Kernel>(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Self::of::<avx512::Kernel>(),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2Fma | Isa::Avx512 => Self::of::<portable::Kernel>(),
        }
    }

    /// Directions rounded up to whole panels.
    fn padded_directions(self, directions: usize) -> usize {
        directions.div_ceil(self.nr) * self.nr
    }

    /// Packed values that hold `coordinates` coordinates.
    fn slots(self, coordinates: usize) -> usize {
        coordinates.div_ceil(self.per_slot)
    }

    /// Floats of scratch for `MR` packed rows of one block of a `dim`-long
    /// row, and for pairs, the block widened to f32 before it is paired.
    fn scratch_len(self, dim: usize) -> usize {
        let block = dim.clamp(1, self.stride);
        if self.per_slot == 1 {
            (self.mr - 1) * self.row_stride + block
        } else {
            self.mr * self.row_stride + block
        }
    }

    /// The block sizes for `caches` (see the module's documentation): `MR`
    /// rows of X and a `KC × NR` panel in L1, a `KC × NC` slice in half of L2,
    /// in coordinates of 4 bytes, or 2 for packed bf16 pairs.
    fn blocks(self, caches: CacheSizes) -> Blocks {
        const BLOCK_UNIT: usize = 16;
        let coordinates = |bytes: usize| bytes * self.per_slot / core::mem::size_of::<f32>();
        let kc = coordinates(caches.l1d) / (self.mr + self.nr) / BLOCK_UNIT * BLOCK_UNIT;
        let kc = kc.clamp(BLOCK_UNIT, self.stride);
        let nc = (coordinates(caches.l2 / 2) / kc / self.nr * self.nr).max(self.nr);
        Blocks { kc, nc }
    }

    /// Length of the coordinate blocks: `dim` cut into equal blocks of at
    /// most `kc` (the last one shorter), so no block is needlessly thin;
    /// whole pairs where the kernel reads pairs (`kc` is a multiple of 16).
    fn block_len(self, kc: usize, dim: usize) -> usize {
        dim.div_ceil(dim.div_ceil(kc))
            .next_multiple_of(self.per_slot)
    }
}

/// Floats of slack that let the packed directions start on a 64-byte line.
const ALIGN_SLACK: usize = 64 / core::mem::size_of::<f32>() - 1;

/// Length of the buffer that [`pack_directions`] needs, for either
/// [`Precision`].
///
/// The directions are padded to whole panels of the kernel's width, and a
/// few floats more let the packed data start on a cache line.
pub fn packed_len(kernels: Kernels, directions: usize, dim: usize) -> usize {
    let packed = |geometry: Geometry| geometry.padded_directions(directions) * geometry.slots(dim);
    geometries(kernels).map(packed).max().unwrap_or(0) + ALIGN_SLACK
}

/// Length of the scratch buffer that [`project`] needs, for either
/// [`Precision`]: a few rows of X, of at most one coordinate block each. It
/// depends neither on the number of rows nor on the cache sizes, so one
/// buffer serves any chunk of them.
pub fn scratch_len(kernels: Kernels, dim: usize) -> usize {
    let scratch = |geometry: Geometry| geometry.scratch_len(dim);
    geometries(kernels).map(scratch).max().unwrap_or(0)
}

/// The geometries `kernels` may pack for: the f32 kernels' and, with the
/// bf16 dot product, that of its kernel.
fn geometries(kernels: Kernels) -> impl Iterator<Item = Geometry> {
    [Precision::F32, Precision::Bf16]
        .into_iter()
        .map(move |precision| Geometry::for_kernels(kernels, precision))
}

/// Packs `theta` (row-major `m × dim`, m = `theta.len() / dim`) into `out`,
/// in blocks cut for the caches of this CPU ([`CacheSizes::detect`]), for
/// the f32 projection.
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
    pack_directions_with(kernels, CacheSizes::detect(), theta, dim, out)
}

/// Packs `theta` as [`pack_directions`] does, in blocks cut for `caches`
/// rather than for this CPU's: the same `caches` give the same bits on
/// every CPU with the same kernels.
///
/// ```
/// use psmi_core::{Kernels, projection::{pack_directions_with, packed_len, CacheSizes}};
/// let kernels = Kernels::portable();
/// let mut buffer = vec![0.0f32; packed_len(kernels, 1, 2)];
/// let packed = pack_directions_with(kernels, CacheSizes::FALLBACK, &[0.6, 0.8], 2, &mut buffer)?;
/// assert_eq!(packed.directions(), 1);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`pack_directions`].
pub fn pack_directions_with<'a>(
    kernels: Kernels,
    caches: CacheSizes,
    theta: &[f32],
    dim: usize,
    out: &'a mut [f32],
) -> Result<PackedDirections<'a>, Error> {
    pack_directions_as(kernels, Precision::F32, caches, theta, dim, out)
}

/// Packs `theta` for the projection in `precision`, in blocks cut for
/// `caches` ([`CacheSizes::detect`] for this CPU's). With
/// [`Precision::Bf16`] every direction is rounded to bf16 here, once.
///
/// ```
/// use psmi_core::{Kernels, projection::*};
/// let kernels = Kernels::detect();
/// let theta = [0.6f32, 0.8, 1.0, 0.0];
/// let mut buffer = vec![0.0f32; packed_len(kernels, 2, 2)];
/// let packed = pack_directions_as(kernels, Precision::Bf16, CacheSizes::detect(), &theta, 2, &mut buffer)?;
/// let mut z = [0.0f32; 2];
/// project(&[1.0, 1.0], &packed, &mut z, &mut vec![0.0; scratch_len(kernels, 2)])?;
/// // 0.6 and 0.8 rounded to bf16 are 0.6015625 and 0.80078125.
/// assert_eq!(z, [1.40234375, 1.0]);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`pack_directions`].
pub fn pack_directions_as<'a>(
    kernels: Kernels,
    precision: Precision,
    caches: CacheSizes,
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
    ensure_len(
        "packed directions",
        out,
        packed_len(kernels, directions, dim),
    )?;
    let geometry = Geometry::for_kernels(kernels, precision);
    let blocks = geometry.blocks(caches);
    let nr = geometry.nr;
    let misalignment = (out.as_ptr() as usize % 64) / core::mem::size_of::<f32>();
    let start = (ALIGN_SLACK + 1 - misalignment) % (ALIGN_SLACK + 1);
    let len = geometry.padded_directions(directions) * geometry.slots(dim);
    let data = &mut out[start..start + len];

    // Block of coordinates k0.., panel of directions j0..: kc × nr values,
    // coordinate-major, the directions past the last one zero (or their
    // bf16 pairs, each slot holding coordinates 2t and 2t + 1).
    let block_len = geometry.block_len(blocks.kc, dim);
    let mut offset = 0;
    for k0 in (0..dim).step_by(block_len) {
        let kc = block_len.min(dim - k0);
        let steps = geometry.slots(kc);
        for j0 in (0..directions).step_by(nr) {
            let panel = &mut data[offset..offset + steps * nr];
            for j in 0..nr {
                let column = panel[j..].iter_mut().step_by(nr);
                if j0 + j >= directions {
                    column.for_each(|out| *out = 0.0);
                    continue;
                }
                let row = &theta[(j0 + j) * dim + k0..][..kc];
                match (precision, geometry.per_slot) {
                    (Precision::F32, _) => column.zip(row).for_each(|(out, &v)| *out = v),
                    (Precision::Bf16, 1) => {
                        column
                            .zip(row)
                            .for_each(|(out, &v)| *out = round_to_bf16(v));
                    }
                    (Precision::Bf16, _) => {
                        column
                            .zip(row.chunks(2))
                            .for_each(|(out, pair)| *out = bf16_pair(pair));
                    }
                }
            }
            offset += steps * nr;
        }
    }
    Ok(PackedDirections {
        data,
        directions,
        dim,
        kernels,
        precision,
        blocks,
    })
}

/// One or two coordinates rounded to bf16 and packed in the bits of one f32
/// slot, the first in the low half (the order `vdpbf16ps` reads), a missing
/// second as zero.
fn bf16_pair(pair: &[f32]) -> f32 {
    let low = u32::from(f32_to_bf16(pair[0]));
    let high = pair.get(1).map_or(0, |&v| u32::from(f32_to_bf16(v)));
    f32::from_bits(low | high << 16)
}

/// [`bf16_pair`] of each pair of `values`, into `slots`.
fn pair_each(values: &[f32], slots: &mut [f32]) {
    slots
        .iter_mut()
        .zip(values.chunks(2))
        .for_each(|(slot, pair)| *slot = bf16_pair(pair));
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
/// // f32 arithmetic: within a rounding error of the exact products.
/// let exact = [2.0, 2.0, -1.0, 1.8];
/// assert!(z.iter().zip(exact).all(|(z, e)| (z - e).abs() <= 1e-6));
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
    project_rows(Rows::F32(x), packed, z, scratch)
}

/// Z = X Θᵀ for features of any [`Rows`] type, widened as rows are packed:
/// the same bits as [`project`] on the widened values.
///
/// ```
/// use psmi_core::{Kernels, projection::{pack_directions, packed_len, project, project_rows, scratch_len, Rows}};
/// let kernels = Kernels::detect();
/// let theta = [1.0f32, 0.5, -0.25, 2.0];
/// let mut packed_buf = vec![0.0f32; packed_len(kernels, 2, 2)];
/// let packed = pack_directions(kernels, &theta, 2, &mut packed_buf).unwrap();
/// let mut scratch = vec![0.0f32; scratch_len(kernels, 2)];
/// let (mut wide, mut half) = ([0.0f32; 4], [0.0f32; 4]);
/// project(&[1.5, -3.0, 0.125, 4.0], &packed, &mut wide, &mut scratch)?;
/// // The same values in bfloat16.
/// project_rows(Rows::Bf16(&[0x3FC0, 0xC040, 0x3E00, 0x4080]), &packed, &mut half, &mut scratch)?;
/// assert_eq!(wide, half);
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`project`].
pub fn project_rows(
    x: Rows<'_>,
    packed: &PackedDirections<'_>,
    z: &mut [f32],
    scratch: &mut [f32],
) -> Result<(), Error> {
    project_with(x, packed, z, scratch, false).map(|_| ())
}

/// Z = X Θᵀ as [`project_rows`] computes it, checking every value of X on
/// the way: the check reads each row as it is packed for the kernels, while
/// it is in L1, rather than in a pass over X of its own.
///
/// ```
/// use psmi_core::{Error, Kernels, projection::{pack_directions, packed_len, project_rows_checked, scratch_len, Rows}};
/// let kernels = Kernels::detect();
/// let mut packed_buf = vec![0.0f32; packed_len(kernels, 1, 3)];
/// let packed = pack_directions(kernels, &[1.0, 0.0, 0.0], 3, &mut packed_buf)?;
/// let mut scratch = vec![0.0f32; scratch_len(kernels, 3)];
/// let mut z = [0.0f32; 2];
/// let x = [1.0, 2.0, 3.0, 4.0, f32::NAN, 6.0];
/// let found = project_rows_checked(Rows::F32(&x), &packed, &mut z, &mut scratch);
/// assert_eq!(found, Err(Error::NonFinite { row: 1, column: 1 }));
/// # Ok::<(), psmi_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`project`], and [`Error::NonFinite`] naming the first NaN or
/// infinity of `x` (row of `x`, column) if there is one; `z` is then partly
/// written.
pub fn project_rows_checked(
    x: Rows<'_>,
    packed: &PackedDirections<'_>,
    z: &mut [f32],
    scratch: &mut [f32],
) -> Result<(), Error> {
    if project_with(x, packed, z, scratch, true)? {
        return Ok(());
    }
    // The kernels stop at the first packed block holding a bad value, which
    // need not hold the first bad value in row-major order: the plain scan
    // names that one (widening keeps every NaN and infinity, so it finds one).
    check_finite_rows(x, packed.dim)?;
    project_rows(x, packed, z, scratch)
}

/// [`project_rows`], checking that `x` is finite if `check` is set:
/// whether it is (always true unchecked).
fn project_with(
    x: Rows<'_>,
    packed: &PackedDirections<'_>,
    z: &mut [f32],
    scratch: &mut [f32],
    check: bool,
) -> Result<bool, Error> {
    let (dim, m) = (packed.dim, packed.directions);
    let n = x.len() / dim;
    if x.len() != n * dim {
        return Err(Error::ShapeMismatch {
            what: "features",
            expected: n * dim,
            found: x.len(),
        });
    }
    ensure_shape("projections", z, n * m)?;
    ensure_len(
        "projection scratch",
        scratch,
        scratch_len(packed.kernels, dim),
    )?;
    // SAFETY (every arm): the shapes of `x`, `z` and `scratch` were checked
    // above, and `packed` was laid out by `pack_directions_as` for the same
    // kernels and precision, whose geometry is the one of the kernel run here.
    #[cfg(target_arch = "x86_64")]
    if uses_bf16_dot(packed.kernels, packed.precision) {
        // SAFETY: a token claims the bf16 dot product only if the CPU has
        // AVX512-BF16 beside AVX-512 (`Kernels::detect`, `for_isa`, `if_compiled`).
        return Ok(unsafe { blocked::<avx512bf16::Kernel>(x, packed, z, scratch, check) });
    }
    let finite = match packed.kernels.isa() {
        // SAFETY: the portable kernel runs on every CPU.
        Isa::Portable => unsafe { blocked::<portable::Kernel>(x, packed, z, scratch, check) },
        // SAFETY: a `Kernels` token of this set exists only if the CPU
        // supports it (`Kernels::for_isa`, `if_compiled`, or the caller's
        // promise to `new_unchecked`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { blocked::<avx2::Kernel>(x, packed, z, scratch, check) },
        // SAFETY: as for AVX2.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { blocked::<avx512::Kernel>(x, packed, z, scratch, check) },
        // No CPU outside x86-64 has these sets (so no token of them is
        // valid there), and their layout is the portable one.
        // SAFETY: the portable kernel runs on every CPU.
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2Fma | Isa::Avx512 => unsafe {
            blocked::<portable::Kernel>(x, packed, z, scratch, check)
        },
    };
    Ok(finite)
}

/// The cache-blocked loops around the micro-kernel `K`. With `check`, every
/// block of rows is checked as it is first packed, and the projection stops
/// at the first holding a NaN or infinity: whether none did.
///
/// # Safety
///
/// The CPU supports `K`'s instruction set, `packed` was laid out for `K`,
/// `x` is `n × dim`, `z` is `n × m` and `scratch` holds at least
/// [`scratch_len`] floats.
unsafe fn blocked<K: MicroKernel>(
    x: Rows<'_>,
    packed: &PackedDirections<'_>,
    z: &mut [f32],
    scratch: &mut [f32],
    check: bool,
) -> bool {
    let (dim, m) = (packed.dim, packed.directions);
    let n = x.len() / dim;
    let geometry = Geometry::of::<K>();
    let block_len = geometry.block_len(packed.blocks.kc, dim);
    let panels = m.div_ceil(K::NR);
    // Equal cache blocks of whole panels, at most NC directions each.
    let panels_per_slice = panels.div_ceil(panels.div_ceil(packed.blocks.nc / K::NR));
    let padded = geometry.padded_directions(m);
    let rounding = RowRounding::of::<K>(packed.precision);
    let c = z.as_mut_ptr();

    for p0 in (0..panels).step_by(panels_per_slice) {
        let p1 = panels.min(p0 + panels_per_slice);
        for k0 in (0..dim).step_by(block_len) {
            let kc = block_len.min(dim - k0);
            let steps = geometry.slots(kc);
            let block = &packed.data[geometry.slots(k0) * padded..];
            for i0 in (0..n).step_by(K::MR) {
                let rows = RowBlock::tile(i0, n, K::MR, k0, kc);
                // The first slice of directions packs every block of X once.
                let check = check && p0 == 0;
                // SAFETY: the CPU supports K (our caller's promise).
                let finite = unsafe { pack_rows::<K>(x, dim, rows, rounding, check, scratch) };
                if !finite {
                    return false;
                }
                if let Some(next) = rows.next(n, K::MR) {
                    prefetch_rows(x, dim, next);
                }
                for p in p0..p1 {
                    let j0 = p * K::NR;
                    let tile = Tile {
                        kc: steps,
                        a: scratch.as_ptr(),
                        b: block[p * steps * K::NR..][..steps * K::NR].as_ptr(),
                        // In bounds: i0 < n and j0 < m.
                        c: c.wrapping_add(i0 * m + j0),
                        ldc: m,
                        rows: rows.rows,
                        cols: K::NR.min(m - j0),
                        accumulate: k0 > 0,
                    };
                    // SAFETY: the CPU supports K (our caller's promise);
                    // `scratch` holds MR rows of stride STRIDE with
                    // `steps` values each (`pack_rows`, `scratch_len`); the
                    // panel slice holds steps × NR values; the tile's
                    // rows × cols lie in z (i0 + rows ≤ n, j0 + cols ≤ m).
                    unsafe { K::tile(&tile) };
                }
            }
        }
    }
    true
}

/// Whether no value is a NaN or an infinity: one test of the exponent bits
/// per value and no early exit, so that it vectorises.
fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7F80_0000;
    !values
        .iter()
        .fold(false, |bad, v| bad | (v.to_bits() & EXPONENT == EXPONENT))
}

/// Rows `i0..i0 + rows` of X, coordinates `k0..k0 + kc`: one tile's rows of
/// one coordinate block.
#[derive(Clone, Copy)]
struct RowBlock {
    i0: usize,
    rows: usize,
    k0: usize,
    kc: usize,
}

impl RowBlock {
    /// The tile of at most `mr` rows from `i0` of X's `n`, at coordinates
    /// `k0 .. k0 + kc`.
    fn tile(i0: usize, n: usize, mr: usize, k0: usize, kc: usize) -> Self {
        RowBlock {
            i0,
            rows: mr.min(n - i0),
            k0,
            kc,
        }
    }

    /// The tile after this one in the same coordinate block, if X has more rows.
    fn next(self, n: usize, mr: usize) -> Option<Self> {
        let i0 = self.i0 + mr;
        (i0 < n).then(|| RowBlock::tile(i0, n, mr, self.k0, self.kc))
    }
}

/// Asks the CPU to bring `block`'s values into L2 while the current block's
/// tiles run, so that packing it next reads L2 rather than memory: a pass of
/// few directions packs every row again for little arithmetic.
fn prefetch_rows(x: Rows<'_>, dim: usize, block: RowBlock) {
    #[cfg(target_arch = "x86_64")]
    {
        let (base, size) = match x {
            Rows::F32(values) => (values.as_ptr().cast::<u8>(), 4),
            Rows::F16(bits) | Rows::Bf16(bits) => (bits.as_ptr().cast::<u8>(), 2),
        };
        for r in 0..block.rows {
            let start = ((block.i0 + r) * dim + block.k0) * size;
            let end = start + block.kc * size;
            for line in (start..end).step_by(64).chain([end - 1]) {
                // SAFETY: a prefetch neither reads nor faults, and the
                // address lies within the rows (`block` is inside X).
                unsafe {
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(
                        base.wrapping_add(line).cast(),
                    );
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, dim, block);
}

/// What becomes of the rows of X, widened to f32, as they are packed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowRounding {
    /// Kept as f32 (the f32 projection).
    None,
    /// Rounded to bf16 and kept as f32 (the bf16 projection on f32 kernels).
    Bf16,
    /// Rounded to bf16 and packed in pairs (the bf16 dot-product kernel).
    Bf16Pairs,
}

impl RowRounding {
    fn of<K: MicroKernel>(precision: Precision) -> Self {
        match (precision, K::PER_SLOT) {
            (Precision::F32, _) => RowRounding::None,
            (Precision::Bf16, 1) => RowRounding::Bf16,
            (Precision::Bf16, _) => RowRounding::Bf16Pairs,
        }
    }
}

/// Packs `block` of `x` into `out` for `K`: widened to f32 and rounded as
/// `rounding` says, row `r` at `r·STRIDE`; zeroes the rows up to `MR`
/// that X lacks. With `check`, whether every value was finite (else true).
///
/// # Safety
///
/// The CPU supports `K`'s instruction set.
unsafe fn pack_rows<K: MicroKernel>(
    x: Rows<'_>,
    dim: usize,
    block: RowBlock,
    rounding: RowRounding,
    check: bool,
    out: &mut [f32],
) -> bool {
    let stride = K::STRIDE;
    let steps = block.kc.div_ceil(K::PER_SLOT);
    // Pairs are widened into the scratch past the MR packed rows first.
    let (packed, wide) = match rounding {
        RowRounding::Bf16Pairs => out.split_at_mut(K::MR * stride),
        RowRounding::None | RowRounding::Bf16 => (out, &mut [][..]),
    };
    let mut finite = true;
    for r in 0..K::MR {
        if r >= block.rows {
            packed[r * stride..][..steps].fill(0.0);
            continue;
        }
        let start = (block.i0 + r) * dim + block.k0;
        let row = &mut packed[r * stride..][..steps];
        if let (RowRounding::Bf16Pairs, Rows::Bf16(bits)) = (rounding, x) {
            // Stored bf16 values are the pairs' halves as they are: widening
            // and rounding them again gives the same bits, at two scalar
            // conversions per value.
            let halves = &bits[start..start + block.kc];
            finite &= !check || all_finite_bf16(halves);
            pair_bf16(halves, row);
        } else if rounding == RowRounding::Bf16Pairs {
            // f32 rows are rounded from where they lie; f16 rows widened first.
            let values = match x {
                Rows::F32(values) => &values[start..start + block.kc],
                Rows::F16(_) | Rows::Bf16(_) => {
                    let values = &mut wide[..block.kc];
                    x.widen_with::<K>(start, values);
                    values
                }
            };
            finite &= !check || all_finite(values);
            // SAFETY: a kernel set `K` runs only on a CPU that supports it
            // (our caller's promise).
            unsafe { K::pair_rounded(values, row) };
        } else {
            x.widen_with::<K>(start, row);
            finite &= !check || all_finite(row);
            if rounding == RowRounding::Bf16 {
                row.iter_mut().for_each(|v| *v = round_to_bf16(*v));
            }
        }
    }
    finite
}

/// Whether no bf16 value (bits) is a NaN or an infinity, as [`all_finite`].
fn all_finite_bf16(halves: &[u16]) -> bool {
    const EXPONENT: u16 = 0x7F80;
    !halves
        .iter()
        .fold(false, |bad, h| bad | (h & EXPONENT == EXPONENT))
}

/// Packs bf16 values (bits) two to a slot, as [`bf16_pair`] packs their
/// f32 values: the first in the low half, a missing second as zero.
fn pair_bf16(halves: &[u16], slots: &mut [f32]) {
    let (pairs, rest) = halves.as_chunks::<2>();
    for (slot, [low, high]) in slots.iter_mut().zip(pairs) {
        *slot = f32::from_bits(u32::from(*low) | u32::from(*high) << 16);
    }
    if let [last] = rest {
        slots[pairs.len()] = f32::from_bits(u32::from(*last));
    }
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
    check_finite_rows(Rows::F32(x), dim)
}

/// Finds the first NaN or infinity in row-major features of any [`Rows`] type.
///
/// ```
/// use psmi_core::{Error, projection::{check_finite_rows, Rows}};
/// // 1.0, 2.0, 3.0, +inf in f16.
/// let x = Rows::F16(&[0x3C00, 0x4000, 0x4200, 0x7C00]);
/// assert_eq!(check_finite_rows(x, 2), Err(Error::NonFinite { row: 1, column: 1 }));
/// ```
///
/// # Errors
///
/// As [`check_finite`].
pub fn check_finite_rows(x: Rows<'_>, dim: usize) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    // A half is infinite or NaN when its exponent bits are all set.
    let half = |x: &[u16], exponent: u16| x.iter().position(|&h| h & exponent == exponent);
    let bad = match x {
        Rows::F32(x) => x.iter().position(|v| !v.is_finite()),
        Rows::F16(x) => half(x, 0x7C00),
        Rows::Bf16(x) => half(x, 0x7F80),
    };
    match bad {
        Some(index) => Err(Error::NonFinite {
            row: index / dim,
            column: index % dim,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::{CacheSizes, Geometry};
    use crate::Isa;

    /// The blocks of every kernel set obey the model: MR rows of X and one
    /// KC × NR panel within L1, KC a multiple of 16 up to the row stride (or
    /// the shortest block when nothing fits), KC × NC within half of L2.
    #[test]
    fn blocks_follow_the_cache_sizes() {
        for isa in Isa::ALL {
            let geometry = Geometry::for_isa(isa);
            for l1d in [4096, 32 * 1024, 48 * 1024, 64 * 1024, 1 << 20] {
                for l2 in [l1d, 512 * 1024, 1 << 20, 2 << 20] {
                    let blocks = geometry.blocks(CacheSizes { l1d, l2 });
                    let (kc, nc) = (blocks.kc, blocks.nc);
                    assert!(kc % 16 == 0 && (16..=geometry.stride).contains(&kc));
                    let l1_floats = kc * (geometry.mr + geometry.nr);
                    assert!(kc == 16 || l1_floats * 4 <= l1d, "{isa:?} {l1d}: {kc}");
                    // The next multiple of 16 would not fit, unless capped.
                    let longer = (kc + 16) * (geometry.mr + geometry.nr) * 4;
                    assert!(kc == geometry.stride || longer > l1d, "{isa:?} {l1d}: {kc}");
                    assert!(nc % geometry.nr == 0 && nc >= geometry.nr);
                    assert!(nc == geometry.nr || kc * nc * 4 <= l2 / 2);
                    assert!(kc * (nc + geometry.nr) * 4 > l2 / 2);
                }
            }
        }
        // A 48 KiB L1 and a 2 MiB L2 (Sapphire Rapids): AVX-512 takes the
        // 256 coordinates it was tuned with; a 32 KiB L1 and a 1 MiB L2 (Zen 4)
        // need shorter blocks.
        if cfg!(target_arch = "x86_64") {
            let avx512 = Geometry::for_isa(Isa::Avx512);
            let spr = avx512.blocks(CacheSizes::FALLBACK);
            assert_eq!((spr.kc, spr.nc), (256, 1024));
            let zen4 = avx512.blocks(CacheSizes {
                l1d: 32 * 1024,
                l2: 1 << 20,
            });
            assert_eq!((zen4.kc, zen4.nc), (176, 736));
        }
    }
}
