//! Portable scoring kernel.

use super::ScoringTable;

pub(super) fn score_rows(table: &ScoringTable<'_>, labels: &[u32], values: &mut [f32]) {
    let m = table.directions();
    for (row, &label) in values.chunks_exact_mut(m).zip(labels) {
        for (j, value) in row.iter_mut().enumerate() {
            let z = *value;
            let log_term = |class: usize| {
                let (mu, inv_sigma, offset) = table.class_rows(class);
                let u = (z - mu[j]) * inv_sigma[j];
                offset[j] - 0.5 * u * u
            };
            let max = (0..table.classes())
                .map(log_term)
                .fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = (0..table.classes())
                .map(|c| libm::expf(log_term(c) - max))
                .sum();
            let own = label as usize;
            // ln N(z; μ_y, σ_y) is the own class's term without its ln π_y.
            *value = log_term(own) - table.log_weight(own) - max - libm::logf(sum);
        }
    }
}
