//! Hidden states at scale: f16 / bf16 features read in place and shards of
//! rows, each against the same values given once as f32 — bit for bit. The
//! program's side (shard globs, `--max-memory`) is psmi-cli/tests/shards.rs.

mod common;

use common::halves::{bf16_of, cuts, dataset, f16_of, same_scores};
use psmi_std::{Features, NEstimators, Psmi, PsmiModel, PsmiScores, Rows};

fn psmi(m: usize) -> Psmi {
    Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .seed(5)
        .build()
        .unwrap()
}

#[test]
fn f16_bf16_and_f32_give_the_same_bits_with_and_without_shards() {
    // Odd sizes: a partial row chunk, several row groups (n > 64 chunks of
    // 256 rows would be slow here; groups still differ from shards).
    let (n, d) = (1237, 45);
    let (x, labels) = dataset(3, n, d);
    let f16: Vec<u16> = x.iter().map(|&v| f16_of(v)).collect();
    let bf16: Vec<u16> = x.iter().map(|&v| bf16_of(v)).collect();
    let psmi = psmi(70);
    let run = |features: &Features<'_>| -> (PsmiModel, PsmiScores) {
        let (model, _) = psmi.fit_transform(features, &labels).unwrap();
        let (_, scores) = psmi
            .fit_transform_with(features, &labels, true, |_| {
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        (model, scores)
    };
    let (model, reference) = run(&Features::new(&x, n, d).unwrap());
    let transformed = model
        .transform(&Features::new(&x, n, d).unwrap(), &labels)
        .unwrap();

    let whole = [
        Features::from_rows(Rows::F16(&f16), n, d).unwrap(),
        Features::from_rows(Rows::Bf16(&bf16), n, d).unwrap(),
    ];
    // Uneven shards, one of a single row, cutting row chunks anywhere, in
    // every type in turn.
    let sharded = |sizes: &[usize], offset: usize| {
        let parts = cuts(n, sizes)
            .into_iter()
            .enumerate()
            .map(|(i, (a, b))| {
                let rows = b - a;
                match (i + offset) % 3 {
                    0 => Features::new(&x[a * d..b * d], rows, d),
                    1 => Features::from_rows(Rows::F16(&f16[a * d..b * d]), rows, d),
                    _ => Features::from_rows(Rows::Bf16(&bf16[a * d..b * d]), rows, d),
                }
                .unwrap()
            })
            .collect::<Vec<_>>();
        Features::concat(parts).unwrap()
    };
    let shards = [
        sharded(&[1, 300, 299], 0),
        sharded(&[256, 1, 511], 1),
        sharded(&[700], 2),
    ];
    for (i, features) in whole.iter().chain(&shards).enumerate() {
        let (got_model, scores) = run(features);
        assert!(got_model == model, "model of input {i}");
        assert!(same_scores(&scores, &reference), "scores of input {i}");
        let t = model.transform(features, &labels).unwrap();
        assert!(same_scores(&t, &transformed), "transform of input {i}");
    }
}

#[test]
fn non_finite_halves_are_named_by_their_row_among_all_shards() {
    let f32s = [1.0f32; 6];
    let bf16 = [0x3F80u16, 0x3F80, 0x3F80, 0x7F80]; // 1, 1, 1, +inf
    let err = Features::from_rows(Rows::Bf16(&bf16), 2, 2).unwrap_err();
    assert!(matches!(
        err,
        psmi_std::PsmiError::NonFinite { row: 1, column: 1 }
    ));
    let good = Features::new(&f32s, 3, 2).unwrap();
    let mixed = Features::concat([good.clone(), Features::new(&f32s[..3], 1, 3).unwrap()]);
    assert!(matches!(
        mixed,
        Err(psmi_std::PsmiError::ShardDimension {
            shard: 1,
            cols: 3,
            expected: 2
        })
    ));
}
