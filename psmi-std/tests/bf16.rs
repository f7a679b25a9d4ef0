//! `precision(Bf16)` through the estimator, the streaming fitter and saved
//! models: the same bits on any pool and in any shards, the f32 arithmetic
//! of bf16-rounded inputs on every kernel set, and close to the f32 path.

mod common;

use common::halves::{bf16_of, cuts, dataset, same_scores};
use common::{fresh_seed, mixture};
use psmi_core::projection::{bf16_to_f32, f32_to_bf16, pack_directions_as, packed_len, CacheSizes};
use psmi_std::stages;
use psmi_std::{Features, NEstimators, Precision, Psmi, PsmiFitter, PsmiModel, PsmiScores, Rows};
use psmi_std::{Isa, Kernels};

fn bf16(m: usize, seed: u64, threads: usize) -> Psmi {
    Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .precision(Precision::Bf16)
        .seed(seed)
        .threads(threads)
        .build()
        .unwrap()
}

fn round(values: &[f32]) -> Vec<f32> {
    values
        .iter()
        .map(|&v| bf16_to_f32(f32_to_bf16(v)))
        .collect()
}

#[test]
fn bf16_gives_the_same_bits_on_any_pool_in_any_shards_and_once_saved() {
    // Odd sizes: a partial row chunk, several row groups, two blocks of directions.
    let (n, d, m) = (1237, 45, 301);
    let (x, labels) = dataset(fresh_seed(), n, d);
    let bf16_bits: Vec<u16> = x.iter().map(|&v| bf16_of(v)).collect();
    let whole = Features::new(&x, n, d).unwrap();
    let (model, reference) = bf16(m, 5, 1).fit_transform(&whole, &labels).unwrap();
    assert_eq!(model.precision(), Precision::Bf16);

    let sharded = |sizes: &[usize]| {
        let parts = cuts(n, sizes).into_iter().enumerate().map(|(i, (a, b))| {
            match i % 2 {
                0 => Features::new(&x[a * d..b * d], b - a, d),
                _ => Features::from_rows(Rows::Bf16(&bf16_bits[a * d..b * d]), b - a, d),
            }
            .unwrap()
        });
        Features::concat(parts.collect::<Vec<_>>()).unwrap()
    };
    let inputs = [
        Features::from_rows(Rows::Bf16(&bf16_bits), n, d).unwrap(),
        sharded(&[1, 300, 299]),
        sharded(&[256, 1, 511]),
    ];
    for threads in [1, 2, 3] {
        let psmi = bf16(m, 5, threads);
        for (i, features) in std::iter::once(&whole).chain(&inputs).enumerate() {
            let (got, scores) = psmi.fit_transform(features, &labels).unwrap();
            assert!(got == model, "model of input {i} on {threads} threads");
            assert!(
                same_scores(&scores, &reference),
                "input {i}, {threads} threads"
            );
        }
    }

    // `transform` (which sums each sample's scores in another order than
    // `fit_transform`), by the model, its bytes and its file, projects in bf16 again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    model.save(&path).unwrap();
    let copies = [
        model.clone(),
        PsmiModel::from_bytes(&model.to_bytes()).unwrap(),
        PsmiModel::load(&path).unwrap(),
    ];
    let transformed = model.transform(&whole, &labels).unwrap();
    close(
        &transformed,
        &reference,
        1e-12,
        "transform against fit_transform",
    );
    for (i, copy) in copies.iter().enumerate() {
        assert_eq!(copy.precision(), Precision::Bf16, "copy {i}");
        let scores = copy.transform(&inputs[1], &labels).unwrap();
        assert!(same_scores(&scores, &transformed), "transform of copy {i}");
    }
}

#[test]
fn streaming_fitters_and_blocks_keep_the_precision() {
    let (n, d, m) = (211, 23, 97);
    let (x, labels) = mixture(fresh_seed(), n, d, 3, 2.0);
    let psmi = bf16(m, 8, 2);
    let (first, second) = (
        Features::new(&x[..100 * d], 100, d).unwrap(),
        Features::new(&x[100 * d..], n - 100, d).unwrap(),
    );
    // Sized for n rows, so that its frames are the batch fit's.
    let mut fitter = PsmiFitter::for_samples(&psmi, d, Some(n)).unwrap();
    assert_eq!(fitter.precision(), Precision::Bf16);
    fitter.update(&first, &labels[..100]).unwrap();
    // Sent elsewhere as bytes, fed the other rows there, and merged back.
    let mut other = PsmiFitter::from_bytes(
        &PsmiFitter::for_samples(&psmi, d, Some(n))
            .unwrap()
            .to_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(other.precision(), Precision::Bf16);
    other.update(&second, &labels[100..]).unwrap();
    fitter.merge(&other).unwrap();
    let model = fitter.finish().unwrap();
    assert_eq!(model.precision(), Precision::Bf16);
    let back = PsmiFitter::from_bytes(&fitter.to_bytes(), None).unwrap();
    assert_eq!(back.finish().unwrap(), model);

    // The class statistics are those of the bf16 projections: the batch fit's
    // up to the order of the f64 sums, and not the f32 fit's.
    let whole = Features::new(&x, n, d).unwrap();
    let batch = psmi.fit(&whole, &labels).unwrap();
    let f32_fit = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .seed(8)
        .build()
        .unwrap()
        .fit(&whole, &labels)
        .unwrap();
    let gap = |a: &PsmiModel, b: &PsmiModel| {
        a.mean()
            .iter()
            .zip(b.mean())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max)
    };
    assert!(gap(&model, &batch) < 1e-9, "{}", gap(&model, &batch));
    assert!(gap(&model, &f32_fit) > 1e-5, "{}", gap(&model, &f32_fit));

    // An f32 fitter does not merge into a bf16 one: the projections differ.
    let f32_psmi = Psmi::builder()
        .n_estimators(NEstimators::Fixed(m))
        .seed(8)
        .build()
        .unwrap();
    let mut plain = PsmiFitter::new(&f32_psmi, d).unwrap();
    plain.update(&first, &labels[..100]).unwrap();
    let err = fitter.merge(&plain).unwrap_err().to_string();
    assert!(
        err.contains("precision f32") && err.contains("precision bf16"),
        "{err}"
    );
    // Nor can a fitter change its precision once it holds samples.
    let err = plain
        .with_precision(Precision::Bf16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("precision"), "{err}");

    // Blocks of auto mode fitted apart join into a bf16 model, but not with an f32 block.
    let auto = Psmi::builder()
        .precision(Precision::Bf16)
        .seed(8)
        .build()
        .unwrap();
    let block = |psmi: &Psmi, first| {
        let mut fitter = PsmiFitter::for_block(psmi, d, Some(n), first, 40).unwrap();
        fitter.update(&whole, &labels).unwrap();
        fitter.finish().unwrap()
    };
    let scheme = auto.scheme(Some(n), d).unwrap();
    let joined = PsmiModel::concat(&[block(&auto, 0), block(&auto, 40)], 8, scheme, None).unwrap();
    assert_eq!(joined.precision(), Precision::Bf16);
    let f32_auto = Psmi::builder().seed(8).build().unwrap();
    let err = PsmiModel::concat(&[block(&auto, 0), block(&f32_auto, 40)], 8, scheme, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("precision"), "{err}");
}

/// Every kernel set of this CPU, with and without the bf16 dot product.
fn every_kernel_set() -> Vec<Kernels> {
    Isa::ALL
        .into_iter()
        .filter_map(Kernels::for_isa)
        .flat_map(|k| [k, k.without_bf16_dot()])
        .collect()
}

/// The bf16 projection is the exact product of the rounded values summed in
/// f32, on every kernel set (`vdpbf16ps` where the CPU has it, the f32
/// kernels elsewhere): within the f32 summation bound of an f64 reference
/// of the rounded values, |ẑ − z| ≤ 2·kc·2⁻²⁴·Σ|x_k θ_k|, kc ≤ d the
/// coordinates of one block (recursive summation, plus one addition per
/// block into Z). Then the whole estimator in bf16 is the f32 estimator on
/// rounded features and rounded directions (the f32 kernels multiplying
/// the same values), up to that rounding.
#[test]
fn bf16_is_the_f32_arithmetic_of_rounded_inputs_on_every_kernel_set() {
    let mut seed = fresh_seed();
    for (n, d, m, k) in [(301usize, 37usize, 45usize, 3usize), (97, 129, 33, 2)] {
        seed = seed.wrapping_add(1);
        let (x, labels) = mixture(seed, n, d, k, 2.0);
        let psmi = bf16(m, seed, 2);
        let mut theta = vec![0.0f32; m * d];
        let scheme = psmi.scheme(Some(n), d).unwrap();
        stages::draw_directions(seed, scheme, 0, d, &mut theta).unwrap();
        let (xr, tr) = (round(&x), round(&theta));
        let features = Features::new(&x, n, d).unwrap();
        for kernels in every_kernel_set() {
            let mut buffer = vec![0.0f32; packed_len(kernels, m, d)];
            let packed = pack_directions_as(
                kernels,
                Precision::Bf16,
                CacheSizes::detect(),
                &theta,
                d,
                &mut buffer,
            )
            .unwrap();
            let mut z = vec![0.0f32; n * m];
            stages::project(&features, &packed, &mut z).unwrap();
            for (i, row) in xr.chunks(d).enumerate() {
                for (j, t) in tr.chunks(d).enumerate() {
                    let exact: f64 = row.iter().zip(t).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let magnitude: f64 = row
                        .iter()
                        .zip(t)
                        .map(|(a, b)| (*a as f64 * *b as f64).abs())
                        .sum();
                    let bound = 2.0 * d as f64 * 2f64.powi(-24) * magnitude;
                    let got = z[i * m + j] as f64;
                    assert!(
                        (got - exact).abs() <= bound,
                        "{kernels:?}: z[{i}, {j}] = {got} vs {exact} (bound {bound:e})"
                    );
                }
            }
        }

        // The estimator (on this CPU's kernels) against the f32 fitter over
        // the rounded values, whose f32 kernels are the fallback's arithmetic.
        let model = psmi.fit(&features, &labels).unwrap();
        assert_eq!(model.directions(), &theta[..]);
        let mut f32_fitter = PsmiFitter::with_directions(&tr, d, Some(2)).unwrap();
        let rounded = Features::new(&xr, n, d).unwrap();
        f32_fitter.update(&rounded, &labels).unwrap();
        let reference = f32_fitter.finish().unwrap();
        let scores = model.transform(&features, &labels).unwrap();
        let want = reference.transform(&rounded, &labels).unwrap();
        close(&scores, &want, 1e-6, "bf16 against f32 of rounded inputs");
        // The same fitter, told to project in bf16, rounds nothing more.
        let mut given = PsmiFitter::with_directions(&theta, d, Some(2))
            .unwrap()
            .with_precision(Precision::Bf16)
            .unwrap();
        given.update(&features, &labels).unwrap();
        let given = given.finish().unwrap();
        close(
            &given.transform(&features, &labels).unwrap(),
            &scores,
            1e-9,
            "fitter over given directions in bf16",
        );
    }
}

/// Per sample, the largest |a − b| of the mean PSMI, against `tolerance`.
fn close(a: &PsmiScores, b: &PsmiScores, tolerance: f64, what: &str) {
    let worst = a
        .mean()
        .iter()
        .zip(b.mean())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(worst <= tolerance, "{what}: mean PSMI differs by {worst:e}");
}

/// bf16 against f32 on unrounded inputs: each feature and coordinate moves
/// by at most 2⁻⁹ of itself, so each projection by at most about 2⁻⁸ of
/// Σ|x_k θ_k|, randomly signed: far below the spread of PSMI over
/// directions. The per-sample mean then moves by less than a tenth of its
/// standard error over the m directions, so rounding costs less than the
/// 1 % more directions that would shrink that error by a tenth of itself
/// squared; and the ranking of the samples barely moves.
#[test]
fn bf16_is_close_to_f32_within_a_tenth_of_the_standard_error() {
    let mut seed = fresh_seed();
    for (n, d, m, k) in [(401usize, 61usize, 203usize, 4usize), (150, 257, 77, 3)] {
        seed = seed.wrapping_add(1);
        let (x, labels) = mixture(seed, n, d, k, 2.0);
        let features = Features::new(&x, n, d).unwrap();
        let (_, low) = bf16(m, seed, 2).fit_transform(&features, &labels).unwrap();
        let f32_psmi = Psmi::builder()
            .n_estimators(NEstimators::Fixed(m))
            .seed(seed)
            .build()
            .unwrap();
        let (_, high) = f32_psmi.fit_transform(&features, &labels).unwrap();
        let worst = low
            .mean()
            .iter()
            .zip(high.mean())
            .zip(high.stderr())
            .map(|((a, b), e)| (a - b).abs() / e)
            .fold(0.0, f64::max);
        assert!(
            worst < 0.1,
            "n {n} d {d}: worst |Δ mean| / stderr = {worst}"
        );
    }
}
