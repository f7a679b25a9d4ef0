//! Direct computations of how scores rank marked samples, for the tests of
//! `psmi_std::evaluation` and of the program's `--against`.

/// The AUROC of −mean: pairs where the marked sample's mean is lower, ties half.
pub fn pairs_auroc(mean: &[f64], target: &[bool]) -> f64 {
    let (mut won, mut pairs) = (0.0, 0.0);
    for (i, &ti) in target.iter().enumerate() {
        for (j, &tj) in target.iter().enumerate() {
            if ti && !tj {
                pairs += 1.0;
                if mean[i] < mean[j] {
                    won += 1.0;
                } else if mean[i] == mean[j] {
                    won += 0.5;
                }
            }
        }
    }
    won / pairs
}
