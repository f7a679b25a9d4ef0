//! Stage 1: random directions θ_j, uniform on the unit sphere S^{d-1}.
//!
//! θ_j is a deterministic function of `(seed, j)`: its own xoshiro256++
//! generator, seeded from the SplitMix64 stream of `seed` at offset `4 j`, draws
//! `d` standard normals (the ziggurat method of Marsaglia and Tsang 2000, in
//! the form of Doornik 2005, in f64) that are then normalised (Marsaglia 1972). Any block of directions can therefore be drawn
//! alone, in any order, on any thread, and equals the same rows drawn at once.

use crate::error::{ensure_shape, Error};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// SplitMix64's increment: the seeds of consecutive directions are four
/// SplitMix64 steps apart, so their xoshiro256++ states never share a word.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Fills `out` (row-major, `count × dim`) with directions `first .. first + count`.
///
/// Each row has unit Euclidean norm (computed in f64, rounded to f32).
///
/// ```
/// use psmi_core::directions::fill_directions;
/// let (dim, count) = (5, 3);
/// let mut all = [0.0f32; 5 * 3];
/// fill_directions(42, 0, dim, &mut all).unwrap();
/// // Direction 2 alone equals the third row of the block.
/// let mut third = [0.0f32; 5];
/// fill_directions(42, 2, dim, &mut third).unwrap();
/// assert_eq!(&all[2 * dim..], &third[..]);
/// let norm: f32 = third.iter().map(|v| v * v).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-6);
/// ```
///
/// # Errors
///
/// [`Error::EmptyInput`] if `dim` is 0, [`Error::ShapeMismatch`] if
/// `out.len()` is not a multiple of `dim`.
pub fn fill_directions(seed: u64, first: usize, dim: usize, out: &mut [f32]) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::EmptyInput { what: "dim" });
    }
    let count = out.len() / dim;
    ensure_shape("directions buffer", out, count * dim)?;
    for (offset, row) in out.chunks_exact_mut(dim).enumerate() {
        fill_direction(seed, (first + offset) as u64, row);
    }
    Ok(())
}

/// The generator of direction `index`.
fn direction_rng(seed: u64, index: u64) -> Xoshiro256PlusPlus {
    let stream_offset = index.wrapping_mul(4).wrapping_mul(SPLITMIX_GAMMA);
    Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(stream_offset))
}

fn fill_direction(seed: u64, index: u64, row: &mut [f32]) {
    let mut rng = direction_rng(seed, index);
    let mut sum_sq = 0.0f64;
    for value in row.iter_mut() {
        let v = standard_normal(&mut rng);
        sum_sq += v * v;
        *value = v as f32;
    }
    // The norm is taken of the f64 draws; scaling the stored values in f64
    // keeps each row's norm within an f32 rounding of 1.
    let inv_norm = 1.0 / libm::sqrt(sum_sq);
    for value in row.iter_mut() {
        *value = (*value as f64 * inv_norm) as f32;
    }
}

/// Right edge of the base layer's tail.
const ZIGGURAT_R: f64 = 3.442619855899;
/// Layer edges of the ziggurat, 128 layers of equal area V = 9.91256303526217e-3
/// under the density: `ZIGGURAT_X[0] = V / f(R)` (the base layer's virtual width),
/// `[1] = R`, `[i + 1] = sqrt(-2 ln(V / [i] + f([i])))`, `[128] = 0`, with
/// f(x) = exp(-x²/2). Generated in f64 by that recursion; the test
/// `ziggurat_table_follows_its_recursion` recomputes it.
const ZIGGURAT_X: [f64; 129] = [
    3.7130862467425505,
    3.442619855899,
    3.2230849845811416,
    3.0832288582168683,
    2.9786962526477803,
    2.894344007021529,
    2.8231253505489105,
    2.761169372387177,
    2.7061135731218195,
    2.6564064112613597,
    2.6109722484318474,
    2.569033625924938,
    2.5300096723888275,
    2.493454522095372,
    2.4590181774118305,
    2.42642064553375,
    2.3954342780110625,
    2.3658713701176386,
    2.3375752413392368,
    2.310413683698763,
    2.2842740596774718,
    2.2590595738691985,
    2.2346863955909795,
    2.2110814088787034,
    2.188180432076049,
    2.165926793748922,
    2.1442701823603953,
    2.1231657086739766,
    2.1025731351892385,
    2.082456237992017,
    2.0627822745083084,
    2.0435215366550676,
    2.0246469733773855,
    2.006133869963472,
    1.98795957412762,
    1.9701032608543265,
    1.9525457295535567,
    1.9352692282966228,
    1.9182573008645099,
    1.901494653105151,
    1.884967035707759,
    1.8686611409944887,
    1.8525645117280911,
    1.836665460258446,
    1.8209529965961255,
    1.8054167642192285,
    1.7900469825998586,
    1.7748343955860695,
    1.7597702248995934,
    1.7448461281138004,
    1.7300541605637305,
    1.7153867407136676,
    1.7008366185699169,
    1.6863968467791681,
    1.672060754097601,
    1.6578219209540241,
    1.6436741568628686,
    1.6296114794706347,
    1.615628095043161,
    1.6017183802213781,
    1.5878768648905761,
    1.5740982160230008,
    1.560377222366169,
    1.5467087798599104,
    1.5330878776740433,
    1.5195095847659401,
    1.5059690368632033,
    1.492461423781354,
    1.4789819769899242,
    1.4655259573427108,
    1.4520886428892246,
    1.4386653166845635,
    1.42525125451406,
    1.4118417124470577,
    1.3984319141310053,
    1.3850170377326518,
    1.3715922024273426,
    1.3581524543301435,
    1.344692751753547,
    1.3312079496656273,
    1.317692783209414,
    1.3041418501286168,
    1.2905495919261964,
    1.2769102735601556,
    1.263217961454621,
    1.2494664995730682,
    1.2356494832633627,
    1.2217602305399964,
    1.2077917504159497,
    1.1937367078331287,
    1.1795873846639882,
    1.1653356361647524,
    1.1509728421488674,
    1.1364898520131608,
    1.1218769225825422,
    1.107123647534036,
    1.0922188769072774,
    1.0771506248928957,
    1.0619059636948243,
    1.0464709007640454,
    1.0308302360681956,
    1.0149673952513305,
    0.9988642334929836,
    0.982500803515429,
    0.9658550794011499,
    0.9489026255113064,
    0.9316161966151508,
    0.9139652510230323,
    0.8959153525809377,
    0.8774274291129234,
    0.8584568431938132,
    0.8389522142975774,
    0.8188539067003573,
    0.7980920606440569,
    0.7765839878947599,
    0.7542306644540556,
    0.7309119106424888,
    0.7064796113354365,
    0.6807479186691546,
    0.6534786387399752,
    0.6243585973360507,
    0.5929629424714483,
    0.5586921784081852,
    0.5206560387620606,
    0.4774378372966898,
    0.4265479863554235,
    0.36287143109703196,
    0.27232086481396467,
    0.0,
];

/// A standard normal variate by the ziggurat method; most samples take one
/// 64-bit draw.
fn standard_normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    loop {
        let bits = rng.next_u64();
        // Top 53 bits: u uniform in [-1, 1); low 7 bits: the layer.
        let u = 2.0 * unit_f64(bits) - 1.0;
        let layer = (bits & 0x7f) as usize;
        let x = u * ZIGGURAT_X[layer];
        // Inside the layer's rectangle that lies wholly under the density.
        if x.abs() < ZIGGURAT_X[layer + 1] {
            return x;
        }
        if layer == 0 {
            return normal_tail(rng, u < 0.0);
        }
        // In the wedge: accept under the density, between f at the
        // layer's two edges.
        let (outer, inner) = (ZIGGURAT_X[layer], ZIGGURAT_X[layer + 1]);
        let f_outer = libm::exp(-0.5 * (outer * outer - x * x));
        let f_inner = libm::exp(-0.5 * (inner * inner - x * x));
        if f_inner + unit_f64(rng.next_u64()) * (f_outer - f_inner) < 1.0 {
            return x;
        }
    }
}

/// A sample of the normal tail beyond R (Marsaglia 1964), with the sign asked for.
fn normal_tail(rng: &mut Xoshiro256PlusPlus, negative: bool) -> f64 {
    loop {
        // 1 - unit is in (0, 1], so the logarithms are finite.
        let x = libm::log(1.0 - unit_f64(rng.next_u64())) / ZIGGURAT_R;
        let y = libm::log(1.0 - unit_f64(rng.next_u64()));
        if -2.0 * y >= x * x {
            return if negative {
                x - ZIGGURAT_R
            } else {
                ZIGGURAT_R - x
            };
        }
    }
}

/// The top 53 bits of `bits` as a uniform f64 in [0, 1).
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;

    #[test]
    fn rows_have_unit_norm() {
        for dim in [1usize, 2, 7, 63, 65, 513] {
            let mut out = vec![0.0f32; dim * 9];
            fill_directions(7, 11, dim, &mut out).unwrap();
            for row in out.chunks_exact(dim) {
                let norm: f64 = row
                    .iter()
                    .map(|&v| (v as f64) * (v as f64))
                    .sum::<f64>()
                    .sqrt();
                assert!((norm - 1.0).abs() < 1e-6, "dim {dim}: norm {norm}");
            }
        }
    }

    #[test]
    fn blocks_equal_rows_drawn_at_once() {
        let dim = 33;
        let mut all = vec![0.0f32; dim * 40];
        fill_directions(123, 0, dim, &mut all).unwrap();
        // Drawn in uneven blocks, out of order.
        for (first, count) in [(30usize, 10usize), (0, 7), (7, 23)] {
            let mut block = vec![0.0f32; dim * count];
            fill_directions(123, first, dim, &mut block).unwrap();
            assert_eq!(block, all[first * dim..(first + count) * dim]);
        }
    }

    #[test]
    fn seeds_give_different_directions() {
        let mut a = [0.0f32; 16];
        let mut b = [0.0f32; 16];
        fill_directions(1, 0, 16, &mut a).unwrap();
        fill_directions(2, 0, 16, &mut b).unwrap();
        assert_ne!(a, b);
    }

    /// Uniform on the sphere: E[θ] = 0 and E[θθᵀ] = I/d. With m draws, each
    /// entry of the sample mean has standard deviation sqrt(1/(d m)), and each
    /// entry of the sample second moment about sqrt(2/(d² m)) on the diagonal
    /// and sqrt(1/(d² m)) off it; 5 standard deviations is the bound.
    #[test]
    fn directions_are_isotropic() {
        let (dim, m) = (8usize, 40_000usize);
        let mut theta = vec![0.0f32; dim * m];
        fill_directions(2024, 0, dim, &mut theta).unwrap();
        let mut mean = vec![0.0f64; dim];
        let mut second = vec![0.0f64; dim * dim];
        for row in theta.chunks_exact(dim) {
            for a in 0..dim {
                mean[a] += row[a] as f64;
                for b in 0..dim {
                    second[a * dim + b] += row[a] as f64 * row[b] as f64;
                }
            }
        }
        let (d, mf) = (dim as f64, m as f64);
        for value in &mean {
            assert!((value / mf).abs() < 5.0 * (1.0 / (d * mf)).sqrt());
        }
        for a in 0..dim {
            for b in 0..dim {
                let expected = if a == b { 1.0 / d } else { 0.0 };
                let sd = if a == b {
                    (2.0 / (d * d * mf)).sqrt()
                } else {
                    (1.0 / (d * d * mf)).sqrt()
                };
                let got = second[a * dim + b] / mf;
                assert!((got - expected).abs() < 5.0 * sd, "E[θθᵀ][{a},{b}] = {got}");
            }
        }
    }

    #[test]
    fn ziggurat_table_follows_its_recursion() {
        const ZIGGURAT_V: f64 = 9.91256303526217e-3;
        let f = |x: f64| libm::exp(-0.5 * x * x);
        assert_eq!(ZIGGURAT_X[1], ZIGGURAT_R);
        assert_eq!(ZIGGURAT_X[128], 0.0);
        assert!((ZIGGURAT_X[0] - ZIGGURAT_V / f(ZIGGURAT_R)).abs() < 1e-14);
        for i in 1..127 {
            let next = libm::sqrt(-2.0 * libm::log(ZIGGURAT_V / ZIGGURAT_X[i] + f(ZIGGURAT_X[i])));
            assert!(
                (ZIGGURAT_X[i + 1] - next).abs() < 1e-12 * next,
                "x[{}]",
                i + 1
            );
        }
        // Every layer has area V: the top one, x[127] (1 - f(x[127])), too.
        let top = ZIGGURAT_X[127] * (1.0 - f(ZIGGURAT_X[127]));
        assert!((top - ZIGGURAT_V).abs() < 1e-9, "top layer area {top}");
    }

    /// The sampler's moments and tail frequencies match N(0, 1) within five
    /// standard errors over a million draws.
    #[test]
    fn samples_are_standard_normal() {
        let count = 1_000_000usize;
        let mut rng = direction_rng(5, 0);
        let (mut sum, mut sum_sq, mut sum_4) = (0.0f64, 0.0f64, 0.0f64);
        let mut beyond = [0usize; 4]; // |z| > 1, 2, 3, R
        for _ in 0..count {
            let z = standard_normal(&mut rng);
            sum += z;
            sum_sq += z * z;
            sum_4 += z * z * z * z;
            for (k, edge) in [1.0, 2.0, 3.0, ZIGGURAT_R].iter().enumerate() {
                beyond[k] += (z.abs() > *edge) as usize;
            }
        }
        let n = count as f64;
        assert!((sum / n).abs() < 5.0 / n.sqrt());
        assert!((sum_sq / n - 1.0).abs() < 5.0 * (2.0 / n).sqrt());
        assert!((sum_4 / n - 3.0).abs() < 5.0 * (96.0 / n).sqrt());
        // P(|z| > t) = erfc(t / √2).
        for (k, t) in [1.0, 2.0, 3.0, ZIGGURAT_R].iter().enumerate() {
            let p = libm::erfc(t / core::f64::consts::SQRT_2);
            let observed = beyond[k] as f64 / n;
            assert!(
                (observed - p).abs() < 5.0 * (p * (1.0 - p) / n).sqrt(),
                "P(|z| > {t}): {observed} vs {p}"
            );
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut out = [0.0f32; 10];
        assert_eq!(
            fill_directions(0, 0, 0, &mut out),
            Err(Error::EmptyInput { what: "dim" })
        );
        assert!(matches!(
            fill_directions(0, 0, 3, &mut out),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
