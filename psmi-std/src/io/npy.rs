//! The .npy format: a strict header reader that locates the data inside a mapped file,
//! and little-endian writers whose output is byte-for-byte what `np.save` writes.

use super::array::{Elem, RawArray};
use super::error::{IoError, IoErrorKind};
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// numpy itself refuses headers above 10 kB unless told otherwise; anything near this
/// bound is not an array we can read.
const MAX_HEADER: usize = 1 << 20;
/// Nesting allowed in the header literal (structured dtypes nest lists of tuples).
const MAX_DEPTH: usize = 32;
/// numpy's own limit on an array's dimensions (`NPY_MAXDIMS`).
const MAX_DIMS: usize = 64;
/// Most values a header may keep: a valid one has a few keys, a dtype, a
/// flag and at most [`MAX_DIMS`] sizes. A sequence keeps its first
/// `MAX_DIMS + 1` items and counts the rest, and no header keeps more than
/// this many values in all, so that a header of long or nested lists is
/// never held as 32 bytes per value.
const MAX_VALUES: usize = 4 * MAX_DIMS;
/// Characters of the header an error message quotes.
const EXCERPT: usize = 40;

/// The start of `text`, for an error message: a header can be a megabyte long.
fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(EXCERPT) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// The start of a piece of header, quoted and escaped as Rust's `{:?}` does.
fn excerpt(text: &str) -> String {
    format!("{:?}", shorten(text))
}

/// The dtype as the file spells it, in numpy's quotes, shortened and escaped.
fn descr_name(descr: &str) -> String {
    format!("'{}'", shorten(descr).escape_debug())
}

/// Reads the header at the start of `bytes` and checks that the data it announces is
/// there, before anything of that size is allocated.
pub(crate) fn parse(bytes: &[u8], supported: &'static str) -> Result<RawArray, IoErrorKind> {
    if !bytes.starts_with(MAGIC) {
        let why = if bytes.is_empty() {
            "the file is empty".to_owned()
        } else if MAGIC.starts_with(bytes) {
            return Err(IoErrorKind::Truncated(format!(
                "{} bytes, shorter than the .npy preamble",
                bytes.len()
            )));
        } else {
            "it does not begin with the .npy magic \\x93NUMPY".to_owned()
        };
        return Err(IoErrorKind::NotNpy(why));
    }
    let too_short = || {
        IoErrorKind::Truncated(format!(
            "{} bytes, shorter than the .npy preamble",
            bytes.len()
        ))
    };
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(too_short()),
    };
    let (len_field, header_start) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        _ => {
            return Err(IoErrorKind::NotNpy(format!(
                "unknown format version {major}.{minor}"
            )))
        }
    };
    let len_bytes = bytes.get(8..8 + len_field).ok_or_else(too_short)?;
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    if header_len > MAX_HEADER {
        return Err(IoErrorKind::NotNpy(format!(
            "a header of {header_len} bytes is not a plain array's"
        )));
    }
    let data_offset = header_start + header_len;
    let header = bytes.get(header_start..data_offset).ok_or_else(|| {
        IoErrorKind::Truncated(format!(
            "the header needs {data_offset} bytes but the file holds {}",
            bytes.len()
        ))
    })?;
    // Versions 1 and 2 store latin-1, version 3 UTF-8. Outside string literals
    // a header is ASCII; a latin-1 character inside one (a structured dtype's
    // field name, refused anyway) reads as `?`, so that the text never takes
    // more memory than the file (latin-1 as UTF-8 would take up to twice).
    let text: Cow<str> = match std::str::from_utf8(header) {
        Ok(text) if major == 3 || header.is_ascii() => Cow::Borrowed(text),
        Err(_) if major == 3 => {
            return Err(IoErrorKind::NotNpy("the header is not UTF-8".to_owned()))
        }
        _ => Cow::Owned(
            header
                .iter()
                .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
                .collect(),
        ),
    };
    let fields = Parser::new(&text).dict().map_err(|e| {
        IoErrorKind::NotNpy(format!(
            "malformed header {}: {e}",
            excerpt(text.trim_end())
        ))
    })?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| IoErrorKind::NotNpy(format!("the header has no '{name}'")))
    };

    let descr = match field("descr")? {
        Value::Str(s) => s,
        _ => {
            return Err(IoErrorKind::UnsupportedDtype {
                found: "a structured (record) dtype".to_owned(),
                supported,
            })
        }
    };
    let (elem, big_endian) = dtype(descr).ok_or_else(|| IoErrorKind::UnsupportedDtype {
        found: descr_name(descr),
        supported,
    })?;
    let fortran = match field("fortran_order")? {
        Value::Bool(b) => *b,
        _ => {
            return Err(IoErrorKind::NotNpy(
                "'fortran_order' is not True or False".to_owned(),
            ))
        }
    };
    let dims: Vec<u64> = match field("shape")? {
        Value::Seq(_, len) if *len > MAX_DIMS => {
            return Err(IoErrorKind::NotNpy(format!(
                "a shape of {len} dimensions; numpy allows at most {MAX_DIMS}"
            )))
        }
        Value::Seq(items, _) => items
            .iter()
            .map(|v| match v {
                Value::Int(n) => Ok(*n),
                _ => Err(IoErrorKind::NotNpy(
                    "'shape' holds something other than sizes".to_owned(),
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(IoErrorKind::NotNpy("'shape' is not a tuple".to_owned())),
    };
    // One non-trivial axis: Fortran and C order are the same bytes.
    if fortran && dims.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(IoErrorKind::FortranOrder);
    }

    let available = bytes.len() - data_offset;
    let needed = dims.iter().try_fold(elem.size() as u128, |acc, &d| {
        acc.checked_mul(u128::from(d))
    });
    let shape: Option<Vec<usize>> = dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    match (needed, shape) {
        (Some(needed), Some(shape)) if needed <= available as u128 => Ok(RawArray {
            elem,
            dtype_name: descr_name(descr),
            big_endian,
            shape,
            offset: data_offset,
        }),
        (needed, _) => Err(IoErrorKind::Truncated(format!(
            "the header announces shape {dims:?} of {} ({} bytes) but only {available} bytes follow it",
            descr_name(descr),
            needed.map_or_else(|| "more than 2^128".to_owned(), |n| n.to_string())
        ))),
    }
}

/// numpy's type string (`<f4`, `|u1`, `>i8`, …) as an element type and byte order.
fn dtype(descr: &str) -> Option<(Elem, bool)> {
    let mut chars = descr.chars();
    let order = chars.next()?;
    let kind = chars.next()?;
    let size: usize = chars.as_str().parse().ok()?;
    let elem = match (kind, size) {
        ('f', 2) => Elem::F16,
        ('f', 4) => Elem::F32,
        ('f', 8) => Elem::F64,
        ('i', 1) => Elem::I8,
        ('i', 2) => Elem::I16,
        ('i', 4) => Elem::I32,
        ('i', 8) => Elem::I64,
        ('u', 1) => Elem::U8,
        ('u', 2) => Elem::U16,
        ('u', 4) => Elem::U32,
        ('u', 8) => Elem::U64,
        ('b', 1) => Elem::Bool,
        _ => return None,
    };
    let big = match order {
        '<' => false,
        '>' => true,
        '=' => cfg!(target_endian = "big"),
        '|' if size == 1 => false,
        _ => return None,
    };
    Some((elem, big))
}

/// The parts of a Python literal that npy headers use.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Int(u64),
    None,
    /// The first items (at most `MAX_DIMS + 1`) and the number of items.
    Seq(Vec<Value>, usize),
}

struct Parser<'a> {
    rest: &'a str,
    /// Values kept so far in sequences and as dictionary entries.
    kept: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            rest: text,
            kept: 0,
        }
    }

    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' before {}", excerpt(self.rest)))
        }
    }

    fn dict(mut self) -> Result<Vec<(String, Value)>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            let key = match self.value(0)? {
                Value::Str(s) => s,
                _ => return Err("a key is not a string".to_owned()),
            };
            self.expect(':')?;
            let value = self.value(0)?;
            self.keep()?;
            fields.push((key, value));
            if !self.eat(',') {
                self.expect('}')?;
                break;
            }
        }
        self.skip_ws();
        if self.rest.is_empty() {
            Ok(fields)
        } else {
            Err(format!("text after the dictionary: {}", excerpt(self.rest)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_owned());
        }

        self.skip_ws();
        let first = self.rest.chars().next().ok_or("unexpected end")?;
        match first {
            '\'' | '"' => self.string(first),
            '(' | '[' => {
                let close = if first == '(' { ')' } else { ']' };
                self.rest = &self.rest[1..];
                let (mut items, mut len) = (Vec::new(), 0);
                while !self.eat(close) {
                    let item = self.value(depth + 1)?;
                    len += 1;
                    if items.len() <= MAX_DIMS {
                        self.keep()?;
                        items.push(item);
                    }
                    if !self.eat(',') {
                        self.expect(close)?;
                        break;
                    }
                }
                Ok(Value::Seq(items, len))
            }
            '0'..='9' => {
                let end = self
                    .rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(self.rest.len());
                let n = self.rest[..end]
                    .parse()
                    .map_err(|_| format!("number out of range: {}", shorten(&self.rest[..end])))?;
                // Python 2 wrote long integers with an `L` suffix.
                self.rest = self.rest[end..]
                    .strip_prefix('L')
                    .unwrap_or(&self.rest[end..]);
                Ok(Value::Int(n))
            }
            _ => {
                for (word, value) in [
                    ("True", Value::Bool(true)),
                    ("False", Value::Bool(false)),
                    ("None", Value::None),
                ] {
                    if let Some(rest) = self.rest.strip_prefix(word) {
                        self.rest = rest;
                        return Ok(value);
                    }
                }
                Err(format!("unexpected {}", excerpt(self.rest)))
            }
        }
    }

    /// Counts one more value kept, within [`MAX_VALUES`].
    fn keep(&mut self) -> Result<(), String> {
        self.kept += 1;
        if self.kept > MAX_VALUES {
            Err(format!("more than {MAX_VALUES} values"))
        } else {
            Ok(())
        }
    }

    fn string(&mut self, quote: char) -> Result<Value, String> {
        // The closing quote first, so that the value is allocated once and
        // no larger than its text (growing it by doubling could take twice
        // the size of a header that is one long string).
        let body = &self.rest[quote.len_utf8()..];
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => {
                    chars.next();
                }
                Some((i, c)) if c == quote => break i,
                Some(_) => {}
                None => return Err("unterminated string".to_owned()),
            }
        };
        let mut out = String::with_capacity(end);
        let mut chars = body[..end].chars();
        while let Some(c) = chars.next() {
            out.extend(if c == '\\' { chars.next() } else { Some(c) });
        }
        self.rest = &body[end + quote.len_utf8()..];
        Ok(Value::Str(out))
    }
}

/// Writes a 1-D little-endian f64 array as an .npy file that `np.load` reads.
///
/// # Errors
///
/// [`IoErrorKind::Write`] naming `path` if the file cannot be created or written.
///
/// ```
/// use psmi_std::io::write_npy_f64;
/// let path = std::env::temp_dir().join("psmi-doc-write-f64.npy");
/// write_npy_f64(&path, &[0.5, -1.25, 3.0])?;
/// let bytes = std::fs::read(&path)?;
/// assert_eq!(bytes.len(), 128 + 3 * 8);
/// assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_npy_f64(path: impl AsRef<Path>, data: &[f64]) -> Result<(), IoError> {
    write(path.as_ref(), "<f8", &[data.len()], data, f64::to_le_bytes)
}

/// Writes a row-major `rows × cols` little-endian f32 array as an .npy file that
/// `np.load` reads.
///
/// # Errors
///
/// [`IoErrorKind::Length`] if `data.len() != rows * cols`; [`IoErrorKind::Write`]
/// naming `path` if the file cannot be created or written.
///
/// ```
/// use psmi_std::io::{write_npy_f32_2d, FeatureMatrix, Input};
/// let path = std::env::temp_dir().join("psmi-doc-write-f32.npy");
/// write_npy_f32_2d(&path, 2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// let back = FeatureMatrix::open(&Input::parse(&path))?;
/// assert_eq!((back.rows(), back.cols()), (2, 3));
/// assert_eq!(back.to_vec(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// assert!(write_npy_f32_2d(&path, 4, 4, &[1.0]).is_err());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_npy_f32_2d(
    path: impl AsRef<Path>,
    rows: usize,
    cols: usize,
    data: &[f32],
) -> Result<(), IoError> {
    let path = path.as_ref();
    check_length(path, rows, cols, data.len())?;
    write(path, "<f4", &[rows, cols], data, f32::to_le_bytes)
}

/// Writes a row-major `rows × cols` little-endian f64 array as an .npy file that
/// `np.load` reads.
///
/// # Errors
///
/// As [`write_npy_f32_2d`].
///
/// ```
/// use psmi_std::io::write_npy_f64_2d;
/// let path = std::env::temp_dir().join("psmi-doc-write-f64-2d.npy");
/// write_npy_f64_2d(&path, 2, 1, &[0.25, 0.75])?;
/// let bytes = std::fs::read(&path)?;
/// assert!(String::from_utf8_lossy(&bytes[..bytes.len() - 16]).contains("'shape': (2, 1)"));
/// assert_eq!(bytes[bytes.len() - 8..], 0.75f64.to_le_bytes());
/// assert!(write_npy_f64_2d(&path, 3, 1, &[1.0]).is_err());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_npy_f64_2d(
    path: impl AsRef<Path>,
    rows: usize,
    cols: usize,
    data: &[f64],
) -> Result<(), IoError> {
    let path = path.as_ref();
    check_length(path, rows, cols, data.len())?;
    write(path, "<f8", &[rows, cols], data, f64::to_le_bytes)
}

/// A shape that does not hold `len` values is an error naming `path`.
fn check_length(path: &Path, rows: usize, cols: usize, len: usize) -> Result<(), IoError> {
    if rows.checked_mul(cols) == Some(len) {
        Ok(())
    } else {
        Err(IoError::new(path, IoErrorKind::Length { len, rows, cols }))
    }
}

/// The header `np.save` writes (format 1.0): the dict literal padded with spaces so the
/// data starts on a 64-byte boundary.
fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = MAGIC.len() + 4 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header_len = u16::try_from(dict.len() + pad + 1).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + pad, b' ');
    out.push(b'\n');
    out
}

fn write<T: Copy, const N: usize>(
    path: &Path,
    descr: &str,
    shape: &[usize],
    data: &[T],
    to_le: fn(T) -> [u8; N],
) -> Result<(), IoError> {
    const CHUNK: usize = 1 << 14;
    let fail = |e| IoError::new(path, IoErrorKind::Write(e));
    let mut file = File::create(path).map_err(fail)?;
    file.write_all(&header(descr, shape)).map_err(fail)?;
    let mut buf = Vec::with_capacity(CHUNK * N);
    for chunk in data.chunks(CHUNK) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|&v| to_le(v)));
        file.write_all(&buf).map_err(fail)?;
    }
    // On disk before the staging directory is committed, so a crash cannot expose a
    // renamed but unwritten file.
    file.sync_all().map_err(fail)
}
