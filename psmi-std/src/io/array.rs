//! A typed array located inside a memory-mapped file, and its conversion to f32 or i64.

use super::error::IoErrorKind;
use half::{bf16, f16};
use psmi_core::projection::Rows;
use std::ops::Range;

/// The element types the readers know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    F16,
    Bf16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    /// numpy's and safetensors' bool: one byte, 0 or 1.
    Bool,
}

impl Elem {
    pub(crate) fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 | Elem::Bool => 1,
            Elem::F16 | Elem::Bf16 | Elem::I16 | Elem::U16 => 2,
            Elem::F32 | Elem::I32 | Elem::U32 => 4,
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
        }
    }
}

/// An array found in a file: where its bytes are, and how to read them.
#[derive(Debug)]
pub(crate) struct RawArray {
    pub(crate) elem: Elem,
    /// The file's own spelling of the dtype, for error messages.
    pub(crate) dtype_name: String,
    pub(crate) big_endian: bool,
    pub(crate) shape: Vec<usize>,
    /// Byte offset of the first element in the mapped file.
    pub(crate) offset: usize,
}

impl RawArray {
    pub(crate) fn len(&self) -> usize {
        // The readers checked that a shape without zeros fits in the file;
        // one with a zero may multiply its other sizes beyond usize.
        if self.shape.contains(&0) {
            return 0;
        }
        self.shape.iter().product()
    }

    /// Where the array's bytes lie in its file.
    pub(crate) fn byte_range(&self) -> Range<usize> {
        self.offset..self.offset + self.len() * self.elem.size()
    }

    /// The array's bytes in `file`, the bytes of the file it was found in.
    pub(crate) fn bytes<'m>(&self, file: &'m [u8]) -> &'m [u8] {
        &file[self.byte_range()]
    }

    /// The values where they lie in `file`, if they are native-endian f32,
    /// f16 or bf16 aligned to their size: features read in place.
    pub(crate) fn in_place<'m>(&self, file: &'m [u8]) -> Option<Rows<'m>> {
        if self.big_endian != cfg!(target_endian = "big") {
            return None;
        }
        let bytes = self.bytes(file);
        match self.elem {
            Elem::F32 => bytemuck::try_cast_slice(bytes).ok().map(Rows::F32),
            Elem::F16 => bytemuck::try_cast_slice(bytes).ok().map(Rows::F16),
            Elem::Bf16 => bytemuck::try_cast_slice(bytes).ok().map(Rows::Bf16),
            _ => None,
        }
    }

    /// Layer `l` of a 3-D array of `rows × cols` layers, as a 2-D array.
    pub(crate) fn layer(&self, l: usize, rows: usize, cols: usize) -> RawArray {
        RawArray {
            elem: self.elem,
            dtype_name: self.dtype_name.clone(),
            big_endian: self.big_endian,
            shape: vec![rows, cols],
            offset: self.offset + l * rows * cols * self.elem.size(),
        }
    }
}

pub(crate) const FEATURE_DTYPES: &str =
    "f32, f64, f16, bf16 (npy: <f4 >f4 <f8 >f8 <f2 >f2; safetensors: F32 F64 F16 BF16)";
pub(crate) const LABEL_DTYPES: &str =
    "integers (npy: i1 i2 i4 i8 u1 u2 u4 u8, either byte order; safetensors: I8 I16 I32 I64 U8 U16 U32 U64)";
pub(crate) const TARGET_DTYPES: &str =
    "integers or bool (npy: i1 i2 i4 i8 u1 u2 u4 u8 b1, either byte order; safetensors: I8 I16 I32 I64 U8 U16 U32 U64 BOOL)";

fn elems<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().unwrap_or([0; N]))
}

macro_rules! decode {
    ($bytes:expr, $big:expr, $ty:ty, $n:literal, $map:expr) => {{
        let map = $map;
        if $big {
            elems::<$n>($bytes)
                .map(|b| map(<$ty>::from_be_bytes(b)))
                .collect()
        } else {
            elems::<$n>($bytes)
                .map(|b| map(<$ty>::from_le_bytes(b)))
                .collect()
        }
    }};
}

/// Converts float elements to f32 (one pass, one allocation).
pub(crate) fn to_f32(raw: &RawArray, bytes: &[u8]) -> Result<Vec<f32>, IoErrorKind> {
    let big = raw.big_endian;
    Ok(match raw.elem {
        Elem::F32 => decode!(bytes, big, f32, 4, |v: f32| v),
        Elem::F64 => decode!(bytes, big, f64, 8, |v: f64| v as f32),
        Elem::F16 => decode!(bytes, big, u16, 2, |v: u16| f16::from_bits(v).to_f32()),
        Elem::Bf16 => decode!(bytes, big, u16, 2, |v: u16| bf16::from_bits(v).to_f32()),
        _ => {
            return Err(IoErrorKind::UnsupportedDtype {
                found: raw.dtype_name.clone(),
                supported: FEATURE_DTYPES,
            })
        }
    })
}

/// Converts integer elements to i64; u64 values above `i64::MAX` are an error naming the row.
pub(crate) fn to_i64(raw: &RawArray, bytes: &[u8]) -> Result<Vec<i64>, IoErrorKind> {
    let big = raw.big_endian;
    Ok(match raw.elem {
        Elem::I8 => decode!(bytes, big, i8, 1, i64::from),
        Elem::I16 => decode!(bytes, big, i16, 2, i64::from),
        Elem::I32 => decode!(bytes, big, i32, 4, i64::from),
        Elem::I64 => decode!(bytes, big, i64, 8, |v: i64| v),
        Elem::U8 | Elem::Bool => decode!(bytes, big, u8, 1, i64::from),
        Elem::U16 => decode!(bytes, big, u16, 2, i64::from),
        Elem::U32 => decode!(bytes, big, u32, 4, i64::from),
        Elem::U64 => elems::<8>(bytes)
            .enumerate()
            .map(|(row, b)| {
                let value = if big {
                    u64::from_be_bytes(b)
                } else {
                    u64::from_le_bytes(b)
                };
                i64::try_from(value).map_err(|_| IoErrorKind::LabelOverflow { row, value })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(IoErrorKind::UnsupportedDtype {
                found: raw.dtype_name.clone(),
                supported: LABEL_DTYPES,
            });
        }
    })
}
