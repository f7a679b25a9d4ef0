//! `psmi_std::io` against files written by numpy and the `safetensors` Python package
//! (tests/fixtures/io, made by tests/fixtures/make_fixtures.py) and crafted broken ones.

mod common;

use common::{fresh_seed, listing, mixture};
use psmi_std::io::{
    read_labels, write_npy_f32_2d, write_npy_f64, FeatureLayers, FeatureMatrix, Input, IoError,
    IoErrorKind,
};
use psmi_std::{Features, NEstimators, Psmi};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn io_fixture(name: &str) -> Input {
    Input::parse(fixture("io").join(name))
}

/// The 5 × 3 matrix every feature fixture holds: (k - 7) / 8 for k = 0..15.
fn expected() -> Vec<f32> {
    (0..15).map(|k| (k as f32 - 7.0) / 8.0).collect()
}

/// An .npy file as `np.save` lays it out (format 1.0, data on a 64-byte boundary).
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((dict.len() + pad + 1) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// A safetensors file from a JSON header and the data section.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut header = header.to_owned();
    while !(8 + header.len()).is_multiple_of(8) {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Asserts the error names `path` (and `tensor`) at the start of its message.
fn assert_names(err: &IoError, path: &Path, tensor: Option<&str>) {
    let mut prefix = path.display().to_string();
    if let Some(t) = tensor {
        prefix = format!("{prefix}:{t}");
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{prefix}: ")),
        "{text:?} does not start with {prefix:?}"
    );
    assert_eq!(err.path(), path);
    assert_eq!(err.tensor(), tensor);
}

fn features_err(input: &Input) -> IoError {
    let err = FeatureMatrix::open(input).unwrap_err();
    assert_names(&err, input.path(), input.tensor());
    err
}

fn labels_err(input: &Input) -> IoError {
    let err = read_labels(input).unwrap_err();
    assert_names(&err, input.path(), input.tensor());
    err
}

#[test]
fn every_feature_dtype_reads_the_same_values() {
    let cases = [
        ("features_f32.npy", true),
        ("features_f64.npy", false),
        ("features_f16.npy", true),
        ("features_f32_be.npy", false),
        ("features_f64_be.npy", false),
        ("features_f16_be.npy", false),
        ("tensors.safetensors:features_f32", true),
        ("tensors.safetensors:features_f64", false),
        ("tensors.safetensors:features_f16", true),
        ("tensors.safetensors:features_bf16", true),
    ];
    for (name, mapped) in cases {
        let x = FeatureMatrix::open(&io_fixture(name)).unwrap();
        assert_eq!((x.rows(), x.cols()), (5, 3), "{name}");
        assert_eq!(x.to_vec(), expected(), "{name}");
        assert_eq!(x.is_mapped(), mapped, "{name}");
    }
}

#[test]
fn digits_fixture_reads_as_f16_features_and_i64_labels() {
    let x = FeatureMatrix::open(&Input::parse(fixture("digits/features.npy"))).unwrap();
    assert_eq!((x.rows(), x.cols()), (1797, 64));
    assert!(x
        .to_vec()
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=16.0).contains(&v)));
    let y = read_labels(&Input::parse(fixture("digits/labels.npy"))).unwrap();
    assert_eq!(y.len(), 1797);
    assert_eq!(*y.iter().max().unwrap(), 9);
    let d = FeatureMatrix::open(&Input::parse(fixture("digits/directions.npy"))).unwrap();
    assert_eq!((d.rows(), d.cols()), (100, 64));
    assert!(d.is_mapped());
}

#[test]
fn unaligned_f32_tensor_is_copied_with_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let values = [1.5f32, -2.0, 0.25, 8.0];
    let mut data = vec![7u8, 9];
    data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    let header = r#"{"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"x":{"dtype":"F32","shape":[2,2],"data_offsets":[2,18]}}"#;
    let path = write_temp(&dir, "u.safetensors", &safetensors(header, &data));
    let x = FeatureMatrix::open(&Input::parse(format!("{}:x", path.display()))).unwrap();
    assert!(!x.is_mapped());
    assert_eq!(x.to_vec(), values);
    let pad = read_labels(&Input::parse(format!("{}:pad", path.display()))).unwrap();
    assert_eq!(pad, [7, 9]);
}

#[test]
fn npy_format_version_2_reads() {
    let dir = tempfile::tempdir().unwrap();
    let dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }\n";
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend([-5i16, 0, 300].iter().flat_map(|v| v.to_le_bytes()));
    let path = write_temp(&dir, "v2.npy", &bytes);
    assert_eq!(read_labels(&Input::parse(&path)).unwrap(), [-5, 0, 300]);
}

#[test]
fn every_label_dtype_reads_as_i64() {
    let cases: [(&str, Vec<i64>); 6] = [
        ("labels_i8.npy", vec![-3, 7, 127, -128, 0]),
        ("labels_u16.npy", vec![0, 1, 65535, 7, 2]),
        (
            "labels_i32.npy",
            vec![-3, 7, 1000, -(1 << 31), (1 << 31) - 1],
        ),
        ("labels_i64_be.npy", vec![-3, 7, 1000, i64::MIN, i64::MAX]),
        ("tensors.safetensors:labels_i32", vec![-3, 7, 1000, 7, -3]),
        ("tensors.safetensors:labels_u8", vec![0, 1, 255, 1, 0]),
    ];
    for (name, want) in cases {
        assert_eq!(read_labels(&io_fixture(name)).unwrap(), want, "{name}");
    }
}

#[test]
fn u64_label_above_i64_max_names_its_row() {
    let err = labels_err(&io_fixture("labels_u64_overflow.npy"));
    assert!(matches!(
        err.kind(),
        IoErrorKind::LabelOverflow {
            row: 2,
            value: 9_223_372_036_854_775_808
        }
    ));
    assert!(err.to_string().contains("row 2"));
}

#[test]
fn missing_file() {
    let err = features_err(&Input::parse("/nonexistent/psmi/features.npy"));
    assert!(matches!(err.kind(), IoErrorKind::Open(_)));
    let err = labels_err(&Input::parse("/nonexistent/psmi/model.safetensors:y"));
    assert!(matches!(err.kind(), IoErrorKind::Open(_)));
}

#[test]
fn not_an_npy_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "text.npy", b"label,feature\n1,2\n");
    let err = features_err(&Input::parse(&path));
    assert!(matches!(err.kind(), IoErrorKind::NotNpy(_)), "{err}");
    assert!(err.to_string().contains("magic"));
    let empty = write_temp(&dir, "empty.npy", b"");
    assert!(matches!(
        features_err(&Input::parse(&empty)).kind(),
        IoErrorKind::NotNpy(_)
    ));
}

#[test]
fn malformed_npy_header() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = npy("<f4", false, "(2, 1", &[0; 8]);
    let path = write_temp(&dir, "bad.npy", &bytes);
    let err = features_err(&Input::parse(&path));
    assert!(matches!(err.kind(), IoErrorKind::NotNpy(_)), "{err}");
    let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    let path = write_temp(&dir, "deep.npy", &npy("<f4", false, &deep, &[]));
    assert!(matches!(
        features_err(&Input::parse(&path)).kind(),
        IoErrorKind::NotNpy(_)
    ));
}

/// Found by tests/fuzz.rs: errors about long or odd headers quoted the header,
/// the dtype or the shape whole, megabytes long or over several lines.
#[test]
fn errors_about_long_headers_are_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let digits = "9".repeat(20_000);
    let cases = [
        (
            "unclosed",
            npy(
                "<f4",
                false,
                &format!("(2, {}", "x ".repeat(10_000)),
                &[0; 8],
            ),
        ),
        (
            "descr",
            npy(&format!("<f4{digits}\nx"), false, "(2, 1)", &[0; 8]),
        ),
        (
            "dims",
            npy(
                "<f4",
                false,
                &format!("({})", "1, ".repeat(10_000)),
                &[0; 4],
            ),
        ),
        (
            "number",
            npy("<f4", false, &format!("({digits}, 1)"), &[0; 8]),
        ),
    ];
    for (name, bytes) in cases {
        let path = write_temp(&dir, &format!("{name}.npy"), &bytes);
        let err = features_err(&Input::parse(&path));
        let text = err.to_string();
        assert!(!text.contains('\n') && text.len() < 400, "{name}: {text}");
        match name {
            "descr" => assert!(
                matches!(err.kind(), IoErrorKind::UnsupportedDtype { .. }),
                "{text}"
            ),
            _ => assert!(matches!(err.kind(), IoErrorKind::NotNpy(_)), "{text}"),
        }
        if name == "dims" {
            assert!(text.contains("10000 dimensions"), "{text}");
        }
    }
}

/// Found by tests/fuzz.rs: a checkpoint of thousands of tensors gave an error
/// listing every name.
#[test]
fn a_missing_tensor_or_an_unmatched_pattern_lists_at_most_twenty_names() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<String> = (0..500)
        .map(|i| {
            let at = 4 * i;
            format!(
                r#""layer.{i:03}":{{"dtype":"F32","shape":[1],"data_offsets":[{at},{}]}}"#,
                at + 4
            )
        })
        .collect();
    let bytes = safetensors(&format!("{{{}}}", entries.join(",")), &[0; 2000]);
    let path = write_temp(&dir, "checkpoint.safetensors", &bytes);
    let input = Input::parse(format!("{}:hidden", path.display()));
    let missing = features_err(&input);
    assert!(
        matches!(missing.kind(), IoErrorKind::TensorNotFound { available } if available.len() == 500)
    );
    // A pattern that matches nothing lists them by the same rule.
    let pattern = Input::parse(format!("{}:hidden.*", path.display()));
    let unmatched = FeatureLayers::open(&pattern).unwrap_err();
    assert!(
        matches!(unmatched.kind(), IoErrorKind::NoTensorMatches { available } if available.len() == 500)
    );
    for text in [missing.to_string(), unmatched.to_string()] {
        assert!(
            text.contains("layer.000, layer.001,") && text.contains("layer.019, and 480 more"),
            "{text}"
        );
        assert!(!text.contains("layer.020"), "{text}");
    }
}

/// A stack of `layers` layers of an `n × d` mixture (fresh values, rounded
/// to multiples of 1/8 so that f16 and bf16 hold them exactly), as f32.
fn stack(layers: usize, n: usize, d: usize) -> Vec<Vec<f32>> {
    let seed = fresh_seed();
    println!("seed {seed}");
    (0..layers)
        .map(|l| {
            let (x, _) = mixture(seed + l as u64, n, d, 3, 2.0);
            x.iter()
                .map(|v| ((v * 8.0).round() / 8.0).clamp(-15.875, 15.875))
                .collect()
        })
        .collect()
}

#[test]
fn half_precision_layers_are_read_in_place_with_the_values_of_f32() {
    let (layers, n, d) = (3, 301, 7);
    let x = stack(layers, n, d);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let dir = tempfile::tempdir().unwrap();
    // A 3-D f16 .npy [L, n, d], and bf16 safetensors tensors taken by a pattern.
    let f16: Vec<u8> = x
        .iter()
        .flatten()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let f16_path = write_temp(
        &dir,
        "stack.npy",
        &npy("<f2", false, &format!("({layers}, {n}, {d})"), &f16),
    );
    let bf16_layer = |l: usize| -> Vec<u8> {
        x[l].iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect()
    };
    let (mut header, mut data) = (Vec::new(), Vec::new());
    for l in 0..layers {
        let start = data.len();
        data.extend(bf16_layer(l));
        header.push(format!(
            r#""h.{l}":{{"dtype":"BF16","shape":[{n},{d}],"data_offsets":[{start},{}]}}"#,
            data.len()
        ));
    }
    let bf16_path = write_temp(
        &dir,
        "states.safetensors",
        &safetensors(&format!("{{{}}}", header.join(",")), &data),
    );
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(33))
        .seed(9)
        .build()
        .unwrap();
    let scores = |features: &Features| {
        let (_, scores) = psmi.fit_transform(features, &labels).unwrap();
        let (mean, std, _) = scores.into_parts();
        (
            mean.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            std.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        )
    };
    for spec in [
        f16_path.display().to_string(),
        format!("{}:h.*", bf16_path.display()),
    ] {
        let opened = FeatureLayers::open(&Input::parse(&spec))
            .unwrap()
            .expect("layers");
        assert_eq!(opened.len(), layers);
        for (l, values) in x.iter().enumerate() {
            let features = opened.features(l).unwrap();
            // Halves stay halves: no f32 slice holds them.
            assert_eq!(
                features.as_slice(),
                None,
                "{spec}: layer {l} was copied to f32"
            );
            let reference = Features::new(values, n, d).unwrap();
            assert!(scores(&features) == scores(&reference), "{spec}: layer {l}");
            opened.release(l);
        }
    }
}

#[test]
fn not_a_safetensors_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "x.safetensors", b"\x04\0\0\0\0\0\0\0abcd");
    let input = Input::parse(format!("{}:x", path.display()));
    let err = features_err(&input);
    assert!(
        matches!(err.kind(), IoErrorKind::NotSafetensors(_)),
        "{err}"
    );
}

#[test]
fn truncated_npy_data() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(fixture("io/features_f32.npy")).unwrap();
    let path = write_temp(&dir, "cut.npy", &bytes[..bytes.len() - 4]);
    let err = features_err(&Input::parse(&path));
    assert!(matches!(err.kind(), IoErrorKind::Truncated(_)), "{err}");
    assert!(err.to_string().contains("60 bytes"), "{err}");
}

#[test]
fn truncated_npy_header() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(fixture("io/features_f32.npy")).unwrap();
    for cut in [3, 9, 40] {
        let path = write_temp(&dir, "cut.npy", &bytes[..cut]);
        let err = features_err(&Input::parse(&path));
        assert!(
            matches!(err.kind(), IoErrorKind::Truncated(_)),
            "{cut}: {err}"
        );
    }
}

#[test]
fn header_claiming_a_huge_shape_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let huge = [
        "(1099511627776, 1048576)",
        "(18446744073709551615, 18446744073709551615)",
    ];
    for shape in huge {
        let path = write_temp(&dir, "huge.npy", &npy("<f8", false, shape, &[0; 16]));
        let start = Instant::now();
        let err = features_err(&Input::parse(&path));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(matches!(err.kind(), IoErrorKind::Truncated(_)), "{err}");
        assert!(err.to_string().contains("16 bytes follow"), "{err}");
    }
    let header =
        r#"{"x":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}"#;
    let path = write_temp(&dir, "huge.safetensors", &safetensors(header, &[0; 8]));
    let err = features_err(&Input::parse(format!("{}:x", path.display())));
    assert!(matches!(err.kind(), IoErrorKind::Truncated(_)), "{err}");
    let mut claims = u64::MAX.to_le_bytes().to_vec();
    claims.extend_from_slice(b"{}");
    let path = write_temp(&dir, "claims.safetensors", &claims);
    let err = features_err(&Input::parse(format!("{}:x", path.display())));
    assert!(matches!(err.kind(), IoErrorKind::Truncated(_)), "{err}");
}

#[test]
fn fortran_order_is_refused() {
    let err = features_err(&io_fixture("features_fortran.npy"));
    assert!(matches!(err.kind(), IoErrorKind::FortranOrder));
    assert!(err.to_string().contains("ascontiguousarray"));
}

#[test]
fn fortran_flag_on_a_vector_is_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "f.npy", &npy("|u1", true, "(3,)", &[4, 5, 6]));
    assert_eq!(read_labels(&Input::parse(&path)).unwrap(), [4, 5, 6]);
}

#[test]
fn unsupported_feature_dtype_says_which_and_what_is_supported() {
    let err = features_err(&io_fixture("labels_i32.npy"));
    match err.kind() {
        IoErrorKind::UnsupportedDtype { found, supported } => {
            assert_eq!(found, "'<i4'");
            assert!(supported.contains("f16"));
        }
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "c.npy", &npy("<c8", false, "(1, 1)", &[0; 8]));
    let err = features_err(&Input::parse(&path));
    assert!(err.to_string().contains("'<c8'"), "{err}");
    let header = r#"{"x":{"dtype":"F8_E4M3","shape":[1,1],"data_offsets":[0,1]}}"#;
    let path = write_temp(&dir, "f8.safetensors", &safetensors(header, &[0]));
    let err = features_err(&Input::parse(format!("{}:x", path.display())));
    assert!(err.to_string().contains("F8_E4M3"), "{err}");
}

#[test]
fn labels_that_are_not_integers() {
    let err = labels_err(&io_fixture("features_f64.npy"));
    assert!(matches!(err.kind(), IoErrorKind::UnsupportedDtype { .. }));
    assert!(err.to_string().contains("integers"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "bool.npy", &npy("|b1", false, "(2,)", &[0, 1]));
    assert!(matches!(
        labels_err(&Input::parse(&path)).kind(),
        IoErrorKind::UnsupportedDtype { .. }
    ));
    let err = labels_err(&io_fixture("tensors.safetensors:features_bf16"));
    assert!(err.to_string().contains("BF16"), "{err}");
}

#[test]
fn features_that_are_not_2d() {
    let err = features_err(&Input::parse(fixture("digits/psmi_mean.npy")));
    assert!(matches!(err.kind(), IoErrorKind::NotMatrix { shape } if shape == &[1797]));
    let err = features_err(&io_fixture("tensors.safetensors:features_3d"));
    assert!(matches!(err.kind(), IoErrorKind::NotMatrix { shape } if shape == &[2, 2, 2]));
}

#[test]
fn empty_features() {
    let dir = tempfile::tempdir().unwrap();
    for (shape, rows, cols) in [("(0, 3)", 0, 3), ("(4, 0)", 4, 0)] {
        let path = write_temp(&dir, "empty.npy", &npy("<f4", false, shape, &[]));
        let err = features_err(&Input::parse(&path));
        assert!(
            matches!(err.kind(), IoErrorKind::Empty { rows: r, cols: c } if (*r, *c) == (rows, cols)),
            "{err}"
        );
    }
}

#[test]
fn labels_that_are_not_1d() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "col.npy", &npy("<i8", false, "(2, 1)", &[0; 16]));
    let err = labels_err(&Input::parse(&path));
    assert!(matches!(err.kind(), IoErrorKind::NotVector { shape } if shape == &[2, 1]));
}

#[test]
fn unknown_tensor_lists_the_tensors() {
    let err = features_err(&io_fixture("tensors.safetensors:hidden"));
    assert!(matches!(err.kind(), IoErrorKind::TensorNotFound { .. }));
    assert!(
        err.to_string().ends_with(
            "no tensor of that name; the file holds: features_3d, features_bf16, features_f16, \
             features_f32, features_f64, labels_i32, labels_u8"
        ),
        "{err}"
    );
}

#[test]
fn safetensors_without_a_tensor_name_lists_the_tensors() {
    for spec in ["tensors.safetensors", "tensors.safetensors:"] {
        let err = labels_err(&io_fixture(spec));
        assert!(matches!(err.kind(), IoErrorKind::TensorNameMissing { .. }));
        assert!(err.to_string().contains("FILE.safetensors:TENSOR"), "{err}");
        assert!(err.to_string().contains("labels_i32, labels_u8"), "{err}");
    }
}

#[test]
fn input_syntax() {
    assert_eq!(Input::parse("a.npy"), Input::Npy("a.npy".into()));
    assert_eq!(
        Input::parse("a:b/m.safetensors:layer.3:out"),
        Input::Safetensors {
            path: "a:b/m.safetensors".into(),
            tensor: Some("layer.3:out".into())
        }
    );
    assert_eq!(
        Input::parse("m.safetensors:x").to_string(),
        "m.safetensors:x"
    );
}

/// The data of a little-endian f64 .npy file written by numpy.
fn npy_f64_values(bytes: &[u8]) -> Vec<f64> {
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn writers_match_numpy_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let numpy = fs::read(fixture("digits/psmi_mean.npy")).unwrap();
    let ours = dir.path().join("psmi_mean.npy");
    write_npy_f64(&ours, &npy_f64_values(&numpy)).unwrap();
    assert_eq!(fs::read(&ours).unwrap(), numpy);

    let ours = dir.path().join("features.npy");
    write_npy_f32_2d(&ours, 5, 3, &expected()).unwrap();
    assert_eq!(
        fs::read(&ours).unwrap(),
        fs::read(fixture("io/features_f32.npy")).unwrap()
    );
}

#[test]
fn writer_refuses_a_wrong_length_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.npy");
    let err = write_npy_f32_2d(&path, 2, 3, &[0.0; 5]).unwrap_err();
    assert!(matches!(
        err.kind(),
        IoErrorKind::Length {
            len: 5,
            rows: 2,
            cols: 3
        }
    ));
    assert_names(&err, &path, None);
    assert!(!err.is_input_error());
    assert!(!path.exists());
}

#[cfg(unix)]
#[test]
fn write_whole_removes_temporary_files_of_dead_writers_only() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let partial = |name: &str, old: bool| {
        let path = dir.path().join(name);
        fs::write(&path, "half a model").unwrap();
        if old {
            let file = fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(hour_ago).unwrap();
        }
        path
    };
    // What a writer killed an hour ago left.
    let dead = partial(".psmi-partial-dead", true);
    // Made an instant ago by a writer that may not have locked it yet.
    let fresh = partial(".psmi-partial-fresh", false);
    // A live writer's, however old.
    let held = partial(".psmi-partial-held", true);
    let holder = fs::File::open(&held).unwrap();
    holder.lock().unwrap();
    // Not ours.
    let other = partial(".tmp-other", true);
    let path = dir.path().join("model.safetensors");
    psmi_std::io::write_whole(&path, |w| w.write_all(b"model")).unwrap();
    assert!(!dead.exists());
    assert!(fresh.exists() && held.exists() && other.exists());
    assert_eq!(fs::read(&path).unwrap(), b"model");
    assert_eq!(
        listing(dir.path()),
        [
            ".psmi-partial-fresh",
            ".psmi-partial-held",
            ".tmp-other",
            "model.safetensors"
        ]
    );
}

#[test]
fn types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FeatureMatrix>();
    send_sync::<IoError>();
}
