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
/// strides; CPU memory) from a `dltensor` capsule into a C-ordered float32
/// array.
#[pyfunction]
pub fn dlpack_to_f32<'py>(capsule: &Bound<'py, PyCapsule>) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let py = capsule.py();
    let name = c"dltensor";
    // SAFETY: a capsule named "dltensor" holds a DLManagedTensor (the DLPack
    // protocol), alive as long as the capsule, which the caller holds.
    let tensor = unsafe {
        let pointer = pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), name.as_ptr());
        if pointer.is_null() {
            return Err(PyErr::fetch(py));
        }
        &(*(pointer as *const ManagedTensor)).dl_tensor
    };
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
    // SAFETY: `shape` (and `strides` unless null) hold `ndim` = 2 entries.
    let (shape, strides) = unsafe {
        let shape = [*tensor.shape, *tensor.shape.add(1)];
        let strides = match tensor.strides.is_null() {
            true => [shape[1], 1],
            false => [*tensor.strides, *tensor.strides.add(1)],
        };
        (shape, strides)
    };
    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
    let dtype = (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes);
    // SAFETY: the tensor's elements at data + byte_offset + (i·s0 + j·s1)
    // elements are readable for every i < rows, j < cols.
    let element = |i: usize, j: usize, size: usize| unsafe {
        let offset = i as isize * strides[0] as isize + j as isize * strides[1] as isize;
        (tensor.data as *const u8)
            .add(tensor.byte_offset as usize)
            .offset(offset * size as isize)
    };
    let read = |convert: &dyn Fn(*const u8) -> f32, size: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                out.push(convert(element(i, j, size)));
            }
        }
        out
    };
    // SAFETY (each conversion): the pointer addresses one element of that type.
    let values = match dtype {
        (FLOAT, 16, 1) => read(
            &|p| unsafe { f16::from_bits(p.cast::<u16>().read_unaligned()) }.to_f32(),
            2,
        ),
        (BFLOAT, 16, 1) => read(
            &|p| unsafe { bf16::from_bits(p.cast::<u16>().read_unaligned()) }.to_f32(),
            2,
        ),
        (FLOAT, 32, 1) => read(&|p| unsafe { p.cast::<f32>().read_unaligned() }, 4),
        (FLOAT, 64, 1) => read(&|p| unsafe { p.cast::<f64>().read_unaligned() } as f32, 8),
        (code, bits, lanes) => {
            return Err(bad(format!(
                "a DLPack tensor of type code {code}, {bits} bits, {lanes} lane(s); \
                 expected float16, bfloat16, float32 or float64"
            )))
        }
    };
    PyArray1::from_vec(py, values).reshape([rows, cols])
}
