"""Agreement with the package `psmi` 0.2.0 on the same directions.

Tolerances: our projections are float32 (the package's float64), which moves
class statistics by ~1e-6 relative and PSMI values by ~1e-5 absolute.
"""

import numpy as np
import pytest
from conftest import digits, max_abs_diff, max_rel_diff, mixture, run_package

from psmi_rs import PSMI


def assert_agree(ours, ours_scores, package, package_scores):
    mean, std, full = ours_scores
    p_mean, p_std, p_full = package_scores
    assert full.shape == p_full.shape
    assert ours.n_estimators == package.n_estimators
    assert ours.thetas.shape == package.thetas.shape
    # The package normalises our unit directions again: equal to float32 rounding.
    assert max_abs_diff(ours.thetas, package.thetas) < 1e-6
    assert max_abs_diff(mean, p_mean) < 1e-4
    assert max_abs_diff(std, p_std) < 1e-4
    assert max_abs_diff(full, p_full) < 1e-3
    assert list(ours.frequency_per_label) == list(package.frequency_per_label)
    for label, frequency in package.frequency_per_label.items():
        assert ours.frequency_per_label[label] == pytest.approx(frequency, rel=1e-15)
        assert ours.mean_per_label[label].shape == (package.n_estimators,)
        assert max_rel_diff(ours.mean_per_label[label], package.mean_per_label[label]) < 1e-4
        assert max_rel_diff(ours.std_per_label[label], package.std_per_label[label]) < 1e-4


@pytest.mark.parametrize("n, d, k, m", [(457, 23, 3, 301), (1001, 7, 5, 77), (263, 61, 2, 513)])
def test_fixed_mode_agrees_on_random_mixtures(rng, n, d, k, m):
    x, y = mixture(rng, n, d, k)
    ours = PSMI(n_estimators=m, random_state=int(rng.integers(2**63)))
    scores = ours.fit_transform(x, y)
    package, package_scores = run_package(x, y, ours.thetas, n_estimators=m)
    assert_agree(ours, scores, package, package_scores)
    # transform of other samples agrees with the package's transform too.
    x_new = (x + rng.normal(0.0, 0.5, x.shape)).astype(np.float32)
    mean, std, full = ours.transform(x_new, y)
    p_mean, p_std, p_full = package.transform(x_new.astype(np.float64), y)
    assert max_abs_diff(mean, p_mean) < 1e-4
    assert max_abs_diff(std, p_std) < 1e-4
    assert max_abs_diff(full, p_full) < 1e-3


def test_auto_mode_agrees_and_draws_as_many_blocks(rng):
    # Well separated classes: auto mode stops within a few blocks, with a
    # variation far from the threshold compared with float32 rounding.
    x, y = mixture(rng, 613, 19, 4, separation=5.0)
    ours = PSMI(random_state=int(rng.integers(2**63)))
    scores = ours.fit_transform(x, y)
    assert ours.n_estimators % 500 == 0
    package, package_scores = run_package(x, y, ours.thetas)
    assert_agree(ours, scores, package, package_scores)


def test_auto_mode_with_small_blocks_agrees(rng):
    x, y = mixture(rng, 389, 11, 3, separation=5.0)
    options = dict(min_n_estimators=37, lowest_psmi_quantile=0.1, milestone=0.3)
    ours = PSMI(**options, random_state=int(rng.integers(2**63)))
    scores = ours.fit_transform(x, y)
    package, package_scores = run_package(x, y, ours.thetas, **options)
    assert ours.model_.auto_report["converged"]
    assert_agree(ours, scores, package, package_scores)


def test_fit_then_transform_agrees_on_digits():
    x, y = digits()
    ours = PSMI(n_estimators=257, random_state=11).fit(x, y)
    scores = ours.transform(x, y)
    package, package_scores = run_package(x, y, ours.thetas, n_estimators=257)
    assert_agree(ours, scores, package, package_scores)
