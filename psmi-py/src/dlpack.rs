//! Features from a DLPack capsule whose type numpy cannot view (bfloat16).
//!
//! The Python layer asks numpy first (`np.from_dlpack`, zero-copy for
//! float16/32/64); this reads the capsule itself, converting to float32 once.
//! The capsule keeps its name, so its own destructor releases the tensor.

use half::{bf16, f16};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::c_void;

/// DLPack's `DLDevice`.
#[repr(C)]
struct Device {
    device_type: i32,
    device_id: i32,
}

/// DLPack's `DLDataType`.
#[repr(C)]
struct DataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

/// DLPack's `DLTensor`.
#[repr(C)]
struct Tensor {
    data: *mut c_void,
    device: Device,
    ndim: i32,
    dtype: DataType,
    shape: *const i64,
    strides: *const i64,
    byte_offset: u64,
}

/// DLPack's `DLManagedTensor` (only its first member is read).
#[repr(C)]
struct ManagedTensor {
    dl_tensor: Tensor,
}

const CPU: i32 = 1;
const CUDA_HOST: i32 = 3;
const FLOAT: u8 = 2;
const BFLOAT: u8 = 4;

/// Copies a 2-D float tensor (float16, bfloat16, float32, float64; any
/// non-negative strides; CPU memory) from a `dltensor` capsule into a
/// C-ordered float32 array.
#[pyfunction]
pub fn dlpack_to_f32<'py>(capsule: &Bound<'py, PyCapsule>) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let py = capsule.py();
    let name = c"dltensor";
    // SAFETY: `capsule` is a live capsule object (the caller holds it), and
    // `name` is a NUL-terminated string; a capsule of another name gives
    // null and a Python error, returned below.
    let pointer = unsafe { pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), name.as_ptr()) };
    if pointer.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a capsule named "dltensor" holds a DLManagedTensor (the DLPack
    // protocol), whose first member is the DLTensor; it stays alive and
    // unchanged while the capsule lives, which outlives this call.
    let tensor = unsafe { &(*pointer.cast::<ManagedTensor>()).dl_tensor };
    let bad = |what: String| PyValueError::new_err(format!("X: {what}"));
    if !matches!(tensor.device.device_type, CPU | CUDA_HOST) {
        return Err(bad(format!(
            "a DLPack tensor on device type {} (id {}); move it to the CPU first",
            tensor.device.device_type, tensor.device.device_id
        )));
    }
    if tensor.ndim != 2 {
        return Err(bad(format!(
            "a DLPack tensor of {} dimension(s), expected 2 (n_samples, dim)",
            tensor.ndim
        )));
    }
    if tensor.shape.is_null() {
        return Err(bad("a DLPack tensor without a shape".to_owned()));
    }
    // SAFETY: a DLTensor's `shape` points to `ndim` (2, checked) int64s.
    let shape: [i64; 2] = unsafe { [*tensor.shape, *tensor.shape.add(1)] };
    let strides: [i64; 2] = match tensor.strides.is_null() {
        // Null strides mean C order (DLPack ≥ 0.2).
        true => [shape[1], 1],
        // SAFETY: non-null `strides` point to `ndim` (2, checked) int64s.
        false => unsafe { [*tensor.strides, *tensor.strides.add(1)] },
    };
    let sizes = |what: &str, values: [i64; 2]| {
        values.map(usize::try_from).iter().enumerate().try_fold(
            [0usize; 2],
            |mut out, (axis, value)| match value {
                Ok(v) => {
                    out[axis] = *v;
                    Ok(out)
                }
                Err(_) => Err(bad(format!(
                    "a DLPack tensor of {what} {values:?}: {what} {axis} is negative"
                ))),
            },
        )
    };
    let [rows, cols] = sizes("shape", shape)?;
    let strides = sizes("strides", strides)?;
    let element = match (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes) {
        (FLOAT, 16, 1) => Element::F16,
        (BFLOAT, 16, 1) => Element::Bf16,
        (FLOAT, 32, 1) => Element::F32,
        (FLOAT, 64, 1) => Element::F64,
        (code, bits, lanes) => {
            return Err(bad(format!(
                "a DLPack tensor of type code {code}, {bits} bits, {lanes} lane(s); \
                 expected float16, bfloat16, float32 or float64"
            )))
        }
    };
    if rows == 0 || cols == 0 {
        return PyArray1::from_vec(py, Vec::new()).reshape([rows, cols]);
    }
    // The bytes from the first element to the end of the last one.
    let last = (rows - 1)
        .checked_mul(strides[0])
        .zip((cols - 1).checked_mul(strides[1]))
        .and_then(|(a, b)| a.checked_add(b));
    let extent = last
        .and_then(|last| last.checked_add(1)?.checked_mul(element.size()))
        .filter(|&bytes| bytes <= isize::MAX as usize)
        .ok_or_else(|| {
            bad(format!(
                "a DLPack tensor of shape {shape:?} and strides {strides:?} spans more memory than exists"
            ))
        })?;
    let offset = usize::try_from(tensor.byte_offset)
        .map_err(|_| bad(format!("a DLPack byte offset of {}", tensor.byte_offset)))?;
    let mut values = Vec::new();
    rows.checked_mul(cols)
        .and_then(|len| values.try_reserve_exact(len).ok())
        .ok_or_else(|| {
            bad(format!(
                "a DLPack tensor of shape {shape:?}: no room for its float32 copy"
            ))
        })?;
    // SAFETY: the producer holds `rows × cols` elements at these
    // non-negative strides from `data + byte_offset`, in one buffer (a
    // strided tensor is a view of one allocation), so every byte from its
    // first element to the end of its last lies in that buffer and is
    // readable, unchanged, while the capsule lives.
    let bytes = unsafe { std::slice::from_raw_parts(tensor.data.cast::<u8>().add(offset), extent) };
    for i in 0..rows {
        for j in 0..cols {
            let at = (i * strides[0] + j * strides[1]) * element.size();
            values.push(element.read(bytes, at));
        }
    }
    PyArray1::from_vec(py, values).reshape([rows, cols])
}

/// The element types read.
#[derive(Clone, Copy)]
enum Element {
    F16,
    Bf16,
    F32,
    F64,
}

impl Element {
    fn size(self) -> usize {
        match self {
            Element::F16 | Element::Bf16 => 2,
            Element::F32 => 4,
            Element::F64 => 8,
        }
    }

    /// The element at byte `at` of `bytes` (native byte order, as
    /// DLPack's), as f32.
    fn read(self, bytes: &[u8], at: usize) -> f32 {
        match self {
            Element::F16 => f16::from_bits(u16::from_ne_bytes(take(bytes, at))).to_f32(),
            Element::Bf16 => bf16::from_bits(u16::from_ne_bytes(take(bytes, at))).to_f32(),
            Element::F32 => f32::from_ne_bytes(take(bytes, at)),
            Element::F64 => f64::from_ne_bytes(take(bytes, at)) as f32,
        }
    }
}

/// The `N` bytes from byte `at` of `bytes`.
fn take<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    std::array::from_fn(|k| bytes[at + k])
}
