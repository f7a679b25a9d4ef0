//! The file parsers fed mutated files: valid `.npy` files (features and
//! labels, several dtypes and both header versions), safetensors files and a
//! saved model, with flipped header bytes, truncations, lying shapes, offsets,
//! dtypes and header lengths, sizes whose product overflows usize, and garbage
//! before and after.
//!
//! Every mutant must give a one-line error of the input kind that names the
//! file, or a result consistent with the file's size; never a panic (proptest
//! fails the case), never a hang (a watchdog aborts the run), and never an
//! allocation larger than the file, checked by the counting allocator below.
//! A result may be larger than the file only by its conversion (f16 to f32,
//! i8 to i64), and only by its own size.

use proptest::prelude::*;
use proptest::sample::select;
use psmi_std::io::{read_labels, write_npy_f32_2d, FeatureMatrix, Input, IoError};
use psmi_std::{Features, NEstimators, Psmi, PsmiError, PsmiModel};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// The largest single allocation made while a parser runs.

/// The system allocator, noting the size of each allocation made on a
/// thread while it is watching.
struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: a thread being torn down has no slots, and is not parsing.
    let _ = WATCHING.try_with(|watching| {
        if watching.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

// SAFETY: every call is passed on to `System` unchanged; noting a size touches
// only const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's `layout`, passed on: it meets `System`'s terms
        // (a non-zero size) as it meets ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's `layout`, passed on: it meets `System`'s terms
        // (a non-zero size) as it meets ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, so by `System`, with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` was allocated by `System` with `layout`, and `new_size`
        // is non-zero and fits `isize`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allowance beyond the file's size for the parsers' own small allocations
/// (names, messages, the safetensors header's map).
const SLACK: usize = 16 << 10;

/// Runs `parse` and returns its result with the largest single allocation it
/// made, under the watchdog.
fn measured<T>(what: &str, parse: impl FnOnce() -> T) -> (T, usize) {
    watch(what);
    LARGEST.with(|l| l.set(0));
    WATCHING.with(|w| w.set(true));
    let result = parse();
    WATCHING.with(|w| w.set(false));
    watch("");
    (result, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------
// The watchdog: a parse that runs for many seconds is a hang; abort and say which.

/// Longer than any parse of these small files can take, even on a loaded machine.
const HANG: Duration = Duration::from_secs(30);

/// The parse under way on each test thread: when it started, and what it is.
type Running = Mutex<Vec<(ThreadId, Instant, String)>>;

/// Marks the start of parse `what` on this thread, or its end if `what` is empty.
fn watch(what: &str) {
    static RUNNING: OnceLock<&'static Running> = OnceLock::new();
    let running = RUNNING.get_or_init(|| {
        let running: &'static Running = Box::leak(Box::default());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let list = running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, _, case)) = list.iter().find(|(_, t, _)| t.elapsed() > HANG) {
                // Not `eprintln!`: the test harness would capture it, and the
                // abort would lose it.
                let message = format!("a parse has run for over {HANG:?}: {case}\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
                std::process::abort();
            }
        });
        running
    });
    let me = std::thread::current().id();
    let mut list = running.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|(id, _, _)| *id != me);
    if !what.is_empty() {
        list.push((me, Instant::now(), what.to_owned()));
    }
}

// ---------------------------------------------------------------------------
// Valid files to start from.

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/io")
        .join(name)
}

/// An .npy file of format version `major` (1, 2 or 3) holding `dict` and `data`.
fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.as_bytes().to_vec();
    let fixed = if major == 1 { 10 } else { 12 };
    while !(fixed + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// The parts of an .npy file: format version, header text, data.
fn npy_parts(bytes: &[u8]) -> (u8, String, Vec<u8>) {
    let major = bytes[6];
    let (len, start) = if major == 1 {
        (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
    } else {
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        (len as usize, 12)
    };
    let text = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    (
        major,
        text.trim_end().to_owned(),
        bytes[start + len..].to_vec(),
    )
}

/// Feature files: numpy's own (tests/fixtures/io, made by make_fixtures.py) in
/// every dtype and byte order, and format versions 2 and 3 of one of them.
fn feature_bases() -> Vec<Vec<u8>> {
    let mut bases: Vec<Vec<u8>> = [
        "features_f32.npy",
        "features_f32_be.npy",
        "features_f64.npy",
        "features_f64_be.npy",
        "features_f16.npy",
        "features_f16_be.npy",
    ]
    .iter()
    .map(|name| std::fs::read(fixture(name)).unwrap())
    .collect();
    let (_, dict, data) = npy_parts(&bases[0]);
    bases.push(npy(2, &dict, &data));
    bases.push(npy(3, &dict, &data));
    bases
}

fn label_bases() -> Vec<Vec<u8>> {
    [
        "labels_i8.npy",
        "labels_i32.npy",
        "labels_i64_be.npy",
        "labels_u16.npy",
        "labels_u64_overflow.npy",
    ]
    .iter()
    .map(|name| std::fs::read(fixture(name)).unwrap())
    .collect()
}

/// Safetensors files: the fixture (made by the `safetensors` Python package),
/// and a checkpoint-like file of 150 small tensors besides features and labels.
fn safetensors_bases() -> Vec<Vec<u8>> {
    let fixture = std::fs::read(fixture("tensors.safetensors")).unwrap();
    let mut entries = vec![
        r#""features_f32":{"dtype":"F32","shape":[5,3],"data_offsets":[0,60]}"#.to_owned(),
        r#""labels_i32":{"dtype":"I32","shape":[5],"data_offsets":[60,80]}"#.to_owned(),
    ];
    let mut data: Vec<u8> = (0..15u8)
        .flat_map(|i| (f32::from(i) / 4.0).to_le_bytes())
        .collect();
    data.extend((0..5i32).flat_map(|i| (i % 2).to_le_bytes()));
    for i in 0..150 {
        let at = data.len();
        entries.push(format!(
            r#""model.layers.{i}.self_attn.o_proj.weight":{{"dtype":"BF16","shape":[1,2],"data_offsets":[{at},{}]}}"#,
            at + 4
        ));
        data.extend_from_slice(&[0, 0x3f, 0, 0x40]);
    }
    let mut header = format!("{{{}}}", entries.join(","));
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut checkpoint = (header.len() as u64).to_le_bytes().to_vec();
    checkpoint.extend_from_slice(header.as_bytes());
    checkpoint.extend_from_slice(&data);
    vec![fixture, checkpoint]
}

/// A model saved by `fit`: 3 labels, 7 directions of dimension 3.
fn model_base() -> Vec<u8> {
    static MODEL: OnceLock<Vec<u8>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let x: Vec<f32> = (0..30).map(|i| ((i * 37) % 11) as f32 / 3.0).collect();
            let labels: Vec<i64> = (0..10).map(|i| i % 3 * 5).collect();
            let x = Features::new(&x, 10, 3).unwrap();
            let psmi = Psmi::builder()
                .n_estimators(NEstimators::Fixed(7))
                .build()
                .unwrap();
            let model = psmi.fit(&x, &labels).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.safetensors");
            model.save(&path).unwrap();
            std::fs::read(&path).unwrap()
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Mutations.

/// A value in a header field: a size, offset or length, small or enormous.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..40,
        1 => Just(u64::MAX),
        1 => Just(u64::from(u32::MAX) + 1),
        1 => Just(1u64 << 62),
        1 => Just((1u64 << 63) + 1),
        1 => Just(usize::MAX as u64 / 3 + 1),
        2 => any::<u64>(),
    ]
}

/// An edit of the header's text: field `key`, its `nth` occurrence (modulo how
/// many there are), given the raw text `value`.
#[derive(Clone)]
struct HeaderEdit {
    key: &'static str,
    nth: usize,
    value: String,
}

impl std::fmt::Debug for HeaderEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start: String = self.value.chars().take(60).collect();
        write!(
            f,
            "{}#{} = {start:?} ({} bytes)",
            self.key,
            self.nth,
            self.value.len()
        )
    }
}

/// A change to the file's bytes, after any header edit.
#[derive(Clone, Debug)]
enum RawEdit {
    /// XOR the byte at `at` (modulo the header's end, or the file's length).
    Flip {
        at: usize,
        mask: u8,
        in_header: bool,
    },
    /// Keep the first `keep` bytes (modulo the length + 1).
    Truncate {
        keep: usize,
    },
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    /// Overwrite the header-length field (little-endian) with this value.
    HeaderLength(u64),
}

fn raw_edit() -> impl Strategy<Value = RawEdit> {
    prop_oneof![
        4 => (any::<usize>(), 1u8.., any::<bool>())
            .prop_map(|(at, mask, in_header)| RawEdit::Flip { at, mask, in_header }),
        2 => any::<usize>().prop_map(|keep| RawEdit::Truncate { keep }),
        1 => prop::collection::vec(any::<u8>(), 1..24).prop_map(RawEdit::Prefix),
        1 => prop::collection::vec(any::<u8>(), 1..80).prop_map(RawEdit::Suffix),
        1 => number().prop_map(RawEdit::HeaderLength),
    ]
}

/// A mutant: header edits (the length field kept right, so lies reach the
/// checks behind the header parser), then raw edits.
#[derive(Clone, Debug)]
struct Mutant {
    base: usize,
    header: Vec<HeaderEdit>,
    raw: Vec<RawEdit>,
}

fn mutant(bases: usize, header_edit: BoxedStrategy<HeaderEdit>) -> impl Strategy<Value = Mutant> {
    (
        0..bases,
        prop::collection::vec(header_edit, 0..3),
        prop::collection::vec(raw_edit(), 0..3),
    )
        .prop_map(|(base, header, raw)| Mutant { base, header, raw })
}

/// Replaces the value after the `nth` `key` in `text`: a value runs to the
/// first `end` character after `open` (or, for an unquoted word, to `,` or `}`).
fn edit_text(text: &str, key: &str, nth: usize, value: &str) -> String {
    let starts: Vec<usize> = text
        .match_indices(key)
        .map(|(i, _)| i + key.len())
        .collect();
    if starts.is_empty() {
        return text.to_owned();
    }
    let start = starts[nth % starts.len()];
    let rest = &text[start..];
    let len = match rest.chars().next() {
        Some('(') => rest.find(')').map(|i| i + 1),
        Some('[') => rest.find(']').map(|i| i + 1),
        Some(q @ ('\'' | '"')) => rest[1..].find(q).map(|i| i + 2),
        _ => rest.find([',', '}']),
    }
    .unwrap_or(rest.len());
    format!("{}{value}{}", &text[..start], &text[start + len..])
}

/// Applies the raw edits; `length_field` is where the header length sits.
fn apply_raw(mut bytes: Vec<u8>, raw: &[RawEdit], length_field: std::ops::Range<usize>) -> Vec<u8> {
    let header_end = length_field.end + 128;
    for edit in raw {
        match edit {
            RawEdit::Flip {
                at,
                mask,
                in_header,
            } if !bytes.is_empty() => {
                let span = if *in_header {
                    header_end.min(bytes.len())
                } else {
                    bytes.len()
                };
                bytes[at % span] ^= mask;
            }
            RawEdit::Flip { .. } => {}
            RawEdit::Truncate { keep } => bytes.truncate(keep % (bytes.len() + 1)),
            RawEdit::Prefix(garbage) => {
                bytes.splice(0..0, garbage.iter().copied());
            }
            RawEdit::Suffix(garbage) => bytes.extend_from_slice(garbage),
            RawEdit::HeaderLength(value) => {
                let field = value.to_le_bytes();
                for (i, b) in length_field.clone().zip(field) {
                    if let Some(slot) = bytes.get_mut(i) {
                        *slot = b;
                    }
                }
            }
        }
    }
    bytes
}

fn npy_mutant(bases: &[Vec<u8>], m: &Mutant) -> Vec<u8> {
    let base = &bases[m.base];
    let bytes = if m.header.is_empty() {
        base.clone()
    } else {
        let (major, mut dict, data) = npy_parts(base);
        for e in &m.header {
            dict = edit_text(&dict, e.key, e.nth, &e.value);
        }
        // A header too long for version 1's length field moves to version 2.
        let major = if major == 1 && dict.len() > 60_000 {
            2
        } else {
            major
        };
        npy(major, &dict, &data)
    };
    let field = if bytes.get(6) == Some(&1) {
        8..10
    } else {
        8..12
    };
    apply_raw(bytes, &m.raw, field)
}

fn safetensors_mutant(bases: &[Vec<u8>], m: &Mutant) -> Vec<u8> {
    let base = &bases[m.base];
    let bytes = if m.header.is_empty() {
        base.clone()
    } else {
        let len = u64::from_le_bytes(base[..8].try_into().unwrap()) as usize;
        let mut json = std::str::from_utf8(&base[8..8 + len]).unwrap().to_owned();
        for e in &m.header {
            json = edit_text(&json, e.key, e.nth, &e.value);
        }
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(&base[8 + len..]);
        out
    };
    apply_raw(bytes, &m.raw, 0..8)
}

fn npy_header_edit() -> BoxedStrategy<HeaderEdit> {
    let descr = prop_oneof![
        select(vec![
            "<f4",
            ">f4",
            "<f8",
            ">f8",
            "<f2",
            ">f2",
            "=f4",
            "|f4",
            "<c8",
            "|b1",
            "<U3",
            "|O",
            "<f16",
            "<f0",
            "f4",
            "",
            "<",
            "<i4",
            "|u1",
            "|i1",
            ">u8",
            "<u2",
            "<i8",
            "<f99999999999999999999999",
        ])
        .prop_map(|d| format!("'{d}'")),
        "[<>|=]?[fiuUcbO]?[0-9]{0,3}".prop_map(|d| format!("'{d}'")),
        Just("[('a', '<f4'), ('b', '<i8')]".to_owned()),
        Just("'\\'".to_owned()),
    ];
    let shape = prop::collection::vec(number(), 0..5).prop_map(|dims| match &dims[..] {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let fortran = select(vec!["True", "False", "1", "None", "'False'"]).prop_map(str::to_owned);
    // Long headers (numpy allows them) of odd characters: non-ASCII latin-1,
    // whitespace, nesting, many dimensions.
    let long = (
        select(vec!["'descr': ", "'shape': ", "'fortran_order': "]),
        select(vec![
            "\u{ff}", "\u{85}", " ", "x", "\\", "(", "[", "1, ", "'", "0",
        ]),
        1000usize..30_000,
    )
        .prop_map(|(key, unit, n)| HeaderEdit {
            key,
            nth: 0,
            value: unit.repeat(n),
        });
    prop_oneof![
        1 => long,
        1 => descr.prop_map(|value| HeaderEdit { key: "'descr': ", nth: 0, value }),
        2 => shape.prop_map(|value| HeaderEdit { key: "'shape': ", nth: 0, value }),
        1 => fortran.prop_map(|value| HeaderEdit { key: "'fortran_order': ", nth: 0, value }),
    ]
    .boxed()
}

fn safetensors_header_edit() -> BoxedStrategy<HeaderEdit> {
    let dtype = select(vec![
        "F32", "F64", "F16", "BF16", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL",
        "F8_E4M3", "F4", "C64", "X", "",
    ])
    .prop_map(|d| format!("\"{d}\""));
    let list = |n| {
        prop::collection::vec(number(), n).prop_map(|v| {
            format!(
                "[{}]",
                v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            )
        })
    };
    let text_value = prop_oneof![
        select(vec!["1", "2", "-1", "x", "99999999999999999999999", "true"]),
        Just(""),
    ]
    .prop_map(|v| format!("\"{v}\""));
    let long = (
        any::<usize>(),
        select(vec!["\"dtype\":", "\"shape\":", "\"data_offsets\":"]),
        select(vec!["\u{ff}", " ", "[", "1,", "\"", "0"]),
        1000usize..30_000,
    )
        .prop_map(|(nth, key, unit, n)| HeaderEdit {
            key,
            nth,
            value: unit.repeat(n),
        });
    prop_oneof![
        1 => long,
        1 => (any::<usize>(), dtype).prop_map(|(nth, value)| HeaderEdit { key: "\"dtype\":", nth, value }),
        2 => (any::<usize>(), list(0..5)).prop_map(|(nth, value)| HeaderEdit { key: "\"shape\":", nth, value }),
        2 => (any::<usize>(), list(0..4)).prop_map(|(nth, value)| HeaderEdit { key: "\"data_offsets\":", nth, value }),
        1 => (any::<usize>(), select(vec!["\"format_version\":", "\"seed\":", "\"auto_blocks\":", "\"format\":"]), text_value)
            .prop_map(|(nth, key, value)| HeaderEdit { key, nth, value }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// What each parser must do with a mutant.

/// A temporary file holding the mutant, one per test thread.
struct Scratch {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        Scratch { _dir: dir, path }
    }

    fn write(&self, bytes: &[u8]) -> &Path {
        std::fs::write(&self.path, bytes).unwrap();
        &self.path
    }
}

/// An error must name the file (and tensor), blame the input, and be one
/// short line; the largest allocation must not exceed the file.
fn check_error(err: &IoError, input: &Input, file: usize, largest: usize) {
    let text = err.to_string();
    assert_one_line(&text);
    assert_eq!(err.path(), input.path(), "{text}");
    assert_eq!(err.tensor(), input.tensor(), "{text}");
    assert!(text.starts_with(&format!("{input}: ")), "{text}");
    assert!(err.is_input_error(), "{text}");
    assert!(
        largest <= file + SLACK,
        "{text}: allocated {largest} for a file of {file}"
    );
}

fn assert_one_line(text: &str) {
    let start: String = text.chars().take(300).collect();
    assert!(!text.contains('\n'), "not one line: {start:?}");
    assert!(text.len() <= 1000, "{} bytes long: {start:?}", text.len());
}

/// Opens the mutant as features. A result holds at most one value per two bytes
/// of the file (f16 being the smallest type), and allocates at most its own size.
fn check_features(m: &Mutant, input: &Input, file: usize, unchanged: Option<&FeatureMatrix>) {
    let (result, largest) = measured(&format!("features {input}: {m:?}"), || {
        FeatureMatrix::open(input)
    });
    match result {
        Ok(x) => {
            let values = x.rows() * x.cols();
            assert_eq!(x.values().len(), values);
            assert!(values * 2 <= file, "{values} values in {file} bytes");
            assert!(
                largest <= file.max(values * 4) + SLACK,
                "allocated {largest}"
            );
            if let Some(original) = unchanged {
                assert_eq!((x.rows(), x.cols()), (original.rows(), original.cols()));
                let (x, original) = (x.to_vec(), original.to_vec());
                let same = x.iter().zip(&original);
                assert!(same.into_iter().all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        Err(err) => check_error(&err, input, file, largest),
    }
}

fn check_labels(m: &Mutant, input: &Input, file: usize, unchanged: Option<&[i64]>) {
    let (result, largest) = measured(&format!("labels {input}: {m:?}"), || read_labels(input));
    match result {
        Ok(labels) => {
            assert!(
                labels.len() <= file,
                "{} labels in {file} bytes",
                labels.len()
            );
            assert!(
                largest <= file.max(labels.len() * 8) + SLACK,
                "allocated {largest}"
            );
            if let Some(original) = unchanged {
                assert_eq!(labels, original);
            }
        }
        Err(err) => check_error(&err, input, file, largest),
    }
}

/// Whether the mutant is its base with garbage appended and nothing else,
/// which must read as the base does if it reads at all.
fn only_suffixed(m: &Mutant) -> bool {
    m.header.is_empty() && m.raw.iter().all(|e| matches!(e, RawEdit::Suffix(_)))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn npy_features(m in mutant(8, npy_header_edit())) {
        static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let bases = BASES.get_or_init(feature_bases);
        let scratch = Scratch::new("features.npy");
        let original = FeatureMatrix::open(&Input::Npy(scratch.write(&bases[m.base]).into())).unwrap();
        let bytes = npy_mutant(bases, &m);
        let input = Input::Npy(scratch.write(&bytes).into());
        check_features(&m, &input, bytes.len(), only_suffixed(&m).then_some(&original));
    }
}

proptest! {
    #![proptest_config(config(1200))]

    #[test]
    fn npy_labels(m in mutant(5, npy_header_edit())) {
        static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let bases = BASES.get_or_init(label_bases);
        let scratch = Scratch::new("labels.npy");
        // The u64 fixture holds a label above i64::MAX: an error to begin with.
        let original = read_labels(&Input::Npy(scratch.write(&bases[m.base]).into())).ok();
        let bytes = npy_mutant(bases, &m);
        let input = Input::Npy(scratch.write(&bytes).into());
        check_labels(&m, &input, bytes.len(), original.as_deref().filter(|_| only_suffixed(&m)));
    }
}

proptest! {
    #![proptest_config(config(1200))]

    #[test]
    fn safetensors_inputs(
        m in mutant(2, safetensors_header_edit()),
        tensor in select(vec![
            "features_f32", "features_f64", "features_f16", "features_bf16", "features_3d",
            "labels_i32", "missing",
        ]),
    ) {
        static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let bases = BASES.get_or_init(safetensors_bases);
        let scratch = Scratch::new("tensors.safetensors");
        let bytes = safetensors_mutant(bases, &m);
        let path = scratch.write(&bytes);
        let input = Input::Safetensors { path: path.into(), tensor: Some(tensor.to_owned()) };
        if tensor.starts_with("labels") {
            check_labels(&m, &input, bytes.len(), None);
        } else {
            check_features(&m, &input, bytes.len(), None);
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn model_files(m in mutant(1, safetensors_header_edit())) {
        let bases = vec![model_base()];
        let scratch = Scratch::new("model.safetensors");
        let bytes = safetensors_mutant(&bases, &m);
        let path = scratch.write(&bytes);
        let (result, largest) = measured(&format!("model: {m:?}"), || PsmiModel::load(path));
        let file = bytes.len();
        assert!(largest <= file + SLACK, "allocated {largest} for a file of {file}");
        match result {
            Ok(model) => {
                let floats = model.n_estimators() * model.dim() + 2 * model.labels().len() * model.n_estimators();
                assert!(floats * 4 <= file, "{floats} values in {file} bytes");
            }
            Err(err) => {
                let text = err.to_string();
                match &err {
                    PsmiError::ModelFile { path: p, .. } | PsmiError::Io { path: p, .. } => {
                        assert_eq!(p, path, "{text}");
                    }
                    other => panic!("not a model file error: {other:?}"),
                }
                assert!(text.contains(&path.display().to_string()), "{text}");
                assert_one_line(&text);
            }
        }
    }
}

/// Found by the properties above: a version 1 header in latin-1 was decoded to
/// UTF-8, which takes up to twice its size.
#[test]
fn latin1_header_takes_no_more_memory_than_the_file() {
    let mut dict = b"{'descr': '".to_vec();
    dict.extend(std::iter::repeat_n(0xffu8, 30_000));
    dict.extend_from_slice(b"', 'fortran_order': False, 'shape': (2, 1), }");
    dict.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(&dict);
    bytes.extend_from_slice(&[0; 8]);
    let scratch = Scratch::new("latin1.npy");
    let input = Input::Npy(scratch.write(&bytes).into());
    let (result, largest) = measured("latin-1", || FeatureMatrix::open(&input));
    let err = result.unwrap_err();
    assert!(err.to_string().contains("unsupported dtype"), "{err}");
    check_error(&err, &input, bytes.len(), largest);
}

/// Found by the properties above: a string value escaping its closing quote
/// ran on over the whole header, and growing it by doubling allocated up to
/// twice its length.
#[test]
fn a_string_as_long_as_the_header_takes_no_more_memory_than_the_file() {
    let ones = "1, ".repeat(29_000);
    let dict = format!("{{'descr': '\\', {ones}'fortran_order': False, 'shape': (2, 1), }}");
    let bytes = npy(2, &dict, &[0; 8]);
    let scratch = Scratch::new("long-string.npy");
    let input = Input::Npy(scratch.write(&bytes).into());
    let (result, largest) = measured("long string", || FeatureMatrix::open(&input));
    let err = result.unwrap_err();
    check_error(&err, &input, bytes.len(), largest);
}

/// Found by the properties above: a sequence of 20000 items was kept whole
/// (32 bytes each, by doubling) before its length was checked. Nested
/// sequences are bounded by the values a header may keep in all.
#[test]
fn long_and_nested_sequences_take_no_more_memory_than_the_file() {
    let ones = "1, ".repeat(20_000);
    let row = format!("({}), ", "1, ".repeat(64));
    let nested = row.repeat(64);
    for (shape, says) in [
        (ones.as_str(), "a shape of 20000 dimensions"),
        (nested.as_str(), "more than 256 values"),
    ] {
        let dict = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({shape}), }}");
        let bytes = npy(2, &dict, &[0; 8]);
        let scratch = Scratch::new("long-sequence.npy");
        let input = Input::Npy(scratch.write(&bytes).into());
        let (result, largest) = measured("long sequence", || read_labels(&input));
        let err = result.unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        check_error(&err, &input, bytes.len(), largest);
    }
}

/// The bases themselves read, so that the mutants start from valid files.
#[test]
fn bases_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in feature_bases().iter().enumerate() {
        let path = dir.path().join(format!("f{i}.npy"));
        std::fs::write(&path, bytes).unwrap();
        let x = FeatureMatrix::open(&Input::Npy(path)).unwrap();
        assert_eq!((x.rows(), x.cols()), (5, 3));
    }
    for (i, bytes) in safetensors_bases().iter().enumerate() {
        let path = dir.path().join(format!("t{i}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        let input = Input::parse(format!("{}:features_f32", path.display()));
        let x = FeatureMatrix::open(&input).unwrap();
        assert_eq!((x.rows(), x.cols()), (5, 3));
    }
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, model_base()).unwrap();
    assert_eq!(PsmiModel::load(&path).unwrap().n_estimators(), 7);
    let path = dir.path().join("g.npy");
    write_npy_f32_2d(&path, 2, 2, &[1.0; 4]).unwrap();
    assert!(FeatureMatrix::open(&Input::Npy(path)).is_ok());
}
