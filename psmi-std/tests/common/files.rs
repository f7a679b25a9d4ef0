//! Hand-made .npy and .safetensors files, for dtypes the library does not
//! write and for broken files, and a strict reader for the files it writes.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::Path;

/// An .npy file's bytes (format 1.0), padded as np.save pads them.
pub fn npy_bytes(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {dims}, }}").into_bytes();
    // np.save pads so that the data starts on a 64-byte boundary.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// A C-order .npy file with `descr`, `shape` and raw data.
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    std::fs::write(path, npy_bytes(descr, false, shape, data)).unwrap();
}

pub fn encode<T: Copy, const W: usize>(values: &[T], to_bytes: impl Fn(T) -> [u8; W]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_bytes(v)).collect()
}

/// Little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    encode(values, f32::to_le_bytes)
}

/// Little-endian bytes of 16-bit floats given by their bits.
pub fn halves(values: &[u16]) -> Vec<u8> {
    encode(values, u16::to_le_bytes)
}

/// Labels as the integer dtype `descr` (`<i1`, `<u2`, `>i8`, …).
pub fn label_bytes(descr: &str, labels: &[i64]) -> Vec<u8> {
    let big = descr.starts_with('>');
    macro_rules! as_type {
        ($t:ty) => {
            encode(labels, |l| {
                let v = <$t>::try_from(l).unwrap();
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            })
        };
    }
    match &descr[1..] {
        "i1" => as_type!(i8),
        "u1" => as_type!(u8),
        "i2" => as_type!(i16),
        "u2" => as_type!(u16),
        "i4" => as_type!(i32),
        "u4" => as_type!(u32),
        "i8" => as_type!(i64),
        "u8" => as_type!(u64),
        other => panic!("no integer dtype {other}"),
    }
}

/// A labels .npy file of the integer dtype `descr` (`<i8` for i64).
pub fn write_labels(path: &Path, descr: &str, labels: &[i64]) {
    let descr = if descr.ends_with('1') {
        format!("|{}", &descr[1..])
    } else {
        descr.to_owned()
    };
    write_npy(path, &descr, &[labels.len()], &label_bytes(&descr, labels));
}

/// A safetensors file of `(name, dtype, shape, bytes)`: 8-byte header length,
/// JSON header, the tensors' bytes.
pub fn write_safetensors(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            (*name).to_owned(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// An .npy file's dtype, shape and data bytes, checking that it is format
/// 1.0, C order, with the data 64-byte aligned.
pub fn read_npy(path: &Path) -> (String, Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x93NUMPY\x01\x00"),
        "{}",
        path.display()
    );
    let len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert_eq!(
        (10 + len) % 64,
        0,
        "{}: data not 64-byte aligned",
        path.display()
    );
    assert!(header.contains("'fortran_order': False"), "{header}");
    let field = |key: &str, close: char| {
        let start = header.find(key).unwrap_or_else(|| panic!("{header}")) + key.len();
        let end = start + header[start..].find(close).unwrap();
        header[start..end].to_owned()
    };
    let descr = field("'descr': '", '\'');
    let shape = field("'shape': (", ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (descr, shape, bytes[10 + len..].to_vec())
}

/// An .npy file's shape and its data as f64 (from `<f4` or `<f8`).
pub fn read_npy_f64(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let (descr, shape, data) = read_npy(path);
    let values = match descr.as_str() {
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        "<f8" => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        other => panic!("{}: dtype {other}", path.display()),
    };
    (shape, values)
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
