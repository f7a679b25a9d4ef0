//! safetensors inputs: the `safetensors` crate parses and validates the header, we take
//! the named tensor's location in the mapped file.

use super::array::{Elem, RawArray};
use super::error::IoErrorKind;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

/// Parses the header of the safetensors file `bytes`: its length and the metadata.
fn header(bytes: &[u8]) -> Result<(usize, Metadata), IoErrorKind> {
    // Checked here so a header that claims more than the file holds is reported as
    // truncation rather than as the crate's generic "invalid header length".
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(IoErrorKind::NotSafetensors(format!(
            "{} bytes, shorter than the 8-byte header length",
            bytes.len()
        )));
    };
    let header_len = u64::from_le_bytes(len_bytes.try_into().unwrap_or_default());
    let available = bytes.len() as u64 - 8;
    if header_len > available {
        return Err(IoErrorKind::Truncated(format!(
            "the header claims {header_len} bytes but only {available} follow"
        )));
    }
    SafeTensors::read_metadata(bytes).map_err(|e| match e {
        safetensors::SafeTensorError::MetadataIncompleteBuffer => IoErrorKind::Truncated(
            "the tensors the header announces do not end where the file ends".to_owned(),
        ),
        e => IoErrorKind::NotSafetensors(e.to_string()),
    })
}

/// The names of the tensors in the safetensors file `bytes`, sorted.
pub(crate) fn names(bytes: &[u8]) -> Result<Vec<String>, IoErrorKind> {
    Ok(sorted_names(&header(bytes)?.1))
}

fn sorted_names(metadata: &Metadata) -> Vec<String> {
    let mut names: Vec<String> = metadata.tensors().into_keys().collect();
    names.sort();
    names
}

/// Finds `tensor` in the safetensors file `bytes`; without a name, lists the tensors.
pub(crate) fn locate(
    bytes: &[u8],
    tensor: Option<&str>,
    supported: &'static str,
) -> Result<RawArray, IoErrorKind> {
    let (header_len, metadata) = header(bytes)?;
    let names = || sorted_names(&metadata);
    let Some(name) = tensor else {
        return Err(IoErrorKind::TensorNameMissing { available: names() });
    };
    let Some(info) = metadata.info(name) else {
        return Err(IoErrorKind::TensorNotFound { available: names() });
    };
    let elem = match info.dtype {
        Dtype::F16 => Elem::F16,
        Dtype::BF16 => Elem::Bf16,
        Dtype::F32 => Elem::F32,
        Dtype::F64 => Elem::F64,
        Dtype::I8 => Elem::I8,
        Dtype::I16 => Elem::I16,
        Dtype::I32 => Elem::I32,
        Dtype::I64 => Elem::I64,
        Dtype::U8 => Elem::U8,
        Dtype::U16 => Elem::U16,
        Dtype::U32 => Elem::U32,
        Dtype::U64 => Elem::U64,
        Dtype::BOOL => Elem::Bool,
        other => {
            return Err(IoErrorKind::UnsupportedDtype {
                found: other.to_string(),
                supported,
            })
        }
    };
    Ok(RawArray {
        elem,
        dtype_name: info.dtype.to_string(),
        // safetensors is little-endian by definition.
        big_endian: false,
        shape: info.shape.clone(),
        offset: 8 + header_len + info.data_offsets.0,
    })
}
