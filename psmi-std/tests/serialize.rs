//! Models and fitters as bytes: what a process sends to another.

mod common;

use common::mixture;
use psmi_std::{
    Directions, Features, NEstimators, Precision, Psmi, PsmiError, PsmiFitter, PsmiModel, Scheme,
};

fn fixed(m: usize, seed: u64) -> Psmi {
    Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .seed(seed)
        .build()
        .unwrap()
}

#[test]
fn a_seeded_model_travels_without_its_directions_and_scores_alike() {
    let (n, d, m) = (173, 37, 301);
    let (x, labels) = mixture(31, n, d, 4, 2.0);
    let x = Features::new(&x, n, d).unwrap();
    let (model, scores) = fixed(m, 8).fit_transform(&x, &labels).unwrap();
    let bytes = model.to_bytes();
    // k × m means and stds, and no m × d directions.
    assert!(bytes.len() < 2 * 4 * m * 8 + 4096, "{}", bytes.len());
    let back = PsmiModel::from_bytes(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.directions(), model.directions());
    assert_eq!(back.transform(&x, &labels).unwrap().mean(), scores.mean());

    // Auto mode's report travels too.
    let auto = Psmi::builder()
        .min_n_estimators(50)
        .seed(2)
        .build()
        .unwrap();
    let model = auto.fit(&x, &labels).unwrap();
    let back = PsmiModel::from_bytes(&model.to_bytes()).unwrap();
    assert_eq!(back.auto_report(), model.auto_report());
}

#[test]
fn a_model_over_given_directions_keeps_them() {
    let (n, d) = (41, 3);
    let (x, labels) = mixture(5, n, d, 2, 2.0);
    let theta = [1.0f32, 0.0, 0.0, 0.0, 0.6, 0.8];
    let mut fitter = PsmiFitter::with_directions(&theta, d, None).unwrap();
    fitter
        .update(&Features::new(&x, n, d).unwrap(), &labels)
        .unwrap();
    let model = fitter.finish().unwrap();
    let back = PsmiModel::from_bytes(&model.to_bytes()).unwrap();
    assert_eq!(back.seed(), None);
    assert_eq!(back.directions(), &theta);
    assert_eq!(back, model);
}

#[test]
fn fitters_sent_as_bytes_merge_into_the_fit_of_all_the_rows() {
    let (n, d, m) = (389, 19, 517);
    let (x, labels) = mixture(77, n, d, 5, 1.5);
    let psmi = fixed(m, 12);
    let whole = psmi
        .fit(&Features::new(&x, n, d).unwrap(), &labels)
        .unwrap();
    // Three partial fits over uneven row ranges, each serialised, then merged.
    let cuts = [0, 100, 101, n];
    let mut merged = PsmiFitter::new(&psmi, d).unwrap();
    for w in cuts.windows(2) {
        let mut part = PsmiFitter::new(&psmi, d).unwrap();
        let rows = w[1] - w[0];
        part.update(
            &Features::new(&x[w[0] * d..w[1] * d], rows, d).unwrap(),
            &labels[w[0]..w[1]],
        )
        .unwrap();
        let bytes = part.to_bytes();
        let back = PsmiFitter::from_bytes(&bytes, Some(2)).unwrap();
        assert_eq!(back.samples(), rows as u64);
        merged.merge(&back).unwrap();
    }
    let model = merged.finish().unwrap();
    assert_eq!(model.labels(), whole.labels());
    assert_eq!(model.directions(), whole.directions());
    for (a, b) in model.mean().iter().zip(whole.mean()) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }
    for (a, b) in model.std().iter().zip(whole.std()) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
    }
    // An empty fitter round-trips too, and still refuses to finish.
    let empty = PsmiFitter::from_bytes(&PsmiFitter::new(&psmi, d).unwrap().to_bytes(), None);
    assert!(matches!(
        empty.unwrap().finish(),
        Err(PsmiError::Empty { .. })
    ));
}

#[test]
fn bad_bytes_are_refused_naming_what_is_wrong() {
    let err = PsmiModel::from_bytes(b"nothing").unwrap_err().to_string();
    assert!(
        err.contains("model") && err.contains("not a safetensors"),
        "{err}"
    );
    let (n, d) = (30, 4);
    let (x, labels) = mixture(1, n, d, 2, 2.0);
    let psmi = fixed(9, 3);
    let mut fitter = PsmiFitter::new(&psmi, d).unwrap();
    fitter
        .update(&Features::new(&x, n, d).unwrap(), &labels)
        .unwrap();
    // A fitter's bytes are not a model's, and the other way round.
    let err = PsmiModel::from_bytes(&fitter.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("psmi-model"), "{err}");
    let model = fitter.finish().unwrap();
    let err = PsmiFitter::from_bytes(&model.to_bytes(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fitter") && err.contains("psmi-fitter"),
        "{err}"
    );
    // A seeded model's bytes without the `dim` entry.
    let bytes = model.to_bytes();
    let patched = replace_in_header(&bytes, "\"dim\":\"4\"", "\"dix\":\"4\"");
    let err = PsmiModel::from_bytes(&patched).unwrap_err().to_string();
    assert!(err.contains("`dim`"), "{err}");
}

/// `bytes` with `from` replaced by `to` (of the same length) in the JSON header.
fn replace_in_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
    let patched = header.replacen(from, to, 1);
    assert_ne!(patched, header, "the header holds {from}");
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(patched.as_bytes());
    out.extend_from_slice(&bytes[8 + header_len..]);
    out
}

#[test]
fn models_and_fitters_of_orthonormal_frames_travel_with_their_scheme() {
    let (n, d, m, frame) = (211, 23, 97, 9);
    let (x, labels) = mixture(19, n, d, 3, 2.0);
    let x = Features::new(&x, n, d).unwrap();
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .directions(Directions::Orthogonal)
        .frame_size(frame)
        .seed(4)
        .build()
        .unwrap();
    let model = psmi.fit(&x, &labels).unwrap();
    assert_eq!(model.scheme(), Scheme::Orthogonal { frame });
    let back = PsmiModel::from_bytes(&model.to_bytes()).unwrap();
    assert_eq!(back.scheme(), model.scheme());
    // The frames are drawn again, not i.i.d. directions of the same seed.
    assert_eq!(back.directions(), model.directions());
    assert_eq!(
        back.transform(&x, &labels).unwrap(),
        model.transform(&x, &labels).unwrap()
    );

    let mut fitter = PsmiFitter::new(&psmi, d).unwrap();
    fitter.update(&x, &labels).unwrap();
    let back = PsmiFitter::from_bytes(&fitter.to_bytes(), None).unwrap();
    assert_eq!(back.scheme(), fitter.scheme());
    assert_eq!(back.finish().unwrap(), fitter.finish().unwrap());
}

#[test]
fn the_precision_travels_and_files_without_it_project_in_f32() {
    let (n, d) = (40, 5);
    let (x, labels) = mixture(23, n, d, 2, 2.0);
    let x = Features::new(&x, n, d).unwrap();
    let psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(12))
        .precision(Precision::Bf16)
        .seed(6)
        .build()
        .unwrap();
    let model = psmi.fit(&x, &labels).unwrap();
    let bytes = model.to_bytes();
    assert_eq!(
        PsmiModel::from_bytes(&bytes).unwrap().precision(),
        Precision::Bf16
    );
    // A file of before the entry: f32, and the same parameters otherwise.
    let old = replace_in_header(&bytes, "\"precision\":\"bf16\"", "\"precisiox\":\"bf16\"");
    let old = PsmiModel::from_bytes(&old).unwrap();
    assert_eq!(old.precision(), Precision::F32);
    assert_eq!(old.mean(), model.mean());
    // A bad value names the entry and the value, in models and in fitters.
    let bad = replace_in_header(&bytes, "\"precision\":\"bf16\"", "\"precision\":\"bf17\"");
    let err = PsmiModel::from_bytes(&bad).unwrap_err().to_string();
    assert!(err.contains("`precision`") && err.contains("bf17"), "{err}");
    let fitter = PsmiFitter::new(&psmi, d).unwrap();
    let bad = replace_in_header(
        &fitter.to_bytes(),
        "\"precision\":\"bf16\"",
        "\"precision\":\"fp16\"",
    );
    let err = PsmiFitter::from_bytes(&bad, None).unwrap_err().to_string();
    assert!(err.contains("`precision`") && err.contains("fp16"), "{err}");
}
