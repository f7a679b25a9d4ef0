"""Shared helpers: fresh random data, and the package `psmi` 0.2.0 run on our directions."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

DIGITS = Path(__file__).resolve().parents[2] / "psmi-std" / "tests" / "fixtures" / "digits"


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fresh seed, printed so that a failure can be replayed."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"data seed: {seed}")
    return np.random.default_rng(seed)


def mixture(rng, n, d, k, separation=2.0):
    """A Gaussian mixture: k classes with random centres, unit noise, as float32.

    Labels are random, with at least two samples per class.
    """
    centres = rng.normal(0.0, separation / np.sqrt(2.0), (k, d))
    y = rng.integers(0, k, n)
    y[: 2 * k] = np.repeat(np.arange(k), 2)
    rng.shuffle(y)
    x = centres[y] + rng.normal(size=(n, d))
    return x.astype(np.float32), y


def digits():
    """The digits fixture (1797 × 64, 10 classes), features as float32."""
    x = np.load(DIGITS / "features.npy").astype(np.float32)
    y = np.load(DIGITS / "labels.npy")
    return x, y


def run_package(x, y, thetas, **options):
    """``psmi.PSMI(**options).fit_transform`` with ``np.random.normal``
    patched to hand the package ``thetas`` (ours), block after block."""
    import psmi

    thetas = np.asarray(thetas, dtype=np.float64)
    dim = thetas.shape[1]
    taken = 0

    def normal(loc, scale, size):
        nonlocal taken
        assert (loc, scale) == (0, 1) and size % dim == 0
        rows = size // dim
        assert taken + rows <= len(thetas), "the package drew more directions than ours"
        block = thetas[taken : taken + rows]
        taken += rows
        return block.ravel().copy()

    estimator = psmi.PSMI(**options)
    with mock.patch.object(np.random, "normal", normal):
        result = estimator.fit_transform(x.astype(np.float64), y)
    return estimator, result


def max_rel_diff(a, b, floor=1e-3):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def max_abs_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)))


# The distributed engines against one machine.
# Class statistics merged over other groups of rows than one machine's differ
# in their last float64 bits. Scores are float32, from a float32 table of those
# statistics: where one rounds to the neighbouring float32, that direction's
# scores move by a float32 ulp or so (about 1e-7 relative), and a sample's mean
# by as much at most (seen: up to 2e-8).
TOLERANCE = 1e-12
SCORES = 1e-6


def close(a, b, tolerance=TOLERANCE):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(b), 1.0)
    assert float(np.max(np.abs(a - b) / scale)) < tolerance


def chunked(rng, n, parts):
    """Uneven row chunks: ``parts`` of them, summing to n."""
    if parts == 1:
        return (n,)
    cuts = np.sort(rng.choice(np.arange(1, n), parts - 1, replace=False))
    return tuple(np.diff(np.concatenate([[0], cuts, [n]])).tolist())


def target_after(x, y, blocks, **options):
    """A target error that auto mode (blocks of ``min_n_estimators``) meets
    after at most ``blocks`` blocks: 1 % above the largest standard error of
    the watched samples over that many blocks' directions, from a fixed-m
    run on the same seed (the same directions)."""
    from psmi_rs import PSMI

    fixed = {k: v for k, v in options.items() if k not in ("min_n_estimators", "max_n_estimators")}
    m = options["min_n_estimators"] * blocks
    scores = PSMI(n_estimators=m, full=False, **fixed).fit_transform(x, y)
    watched = max(int(0.05 * len(y)), 1)
    lowest = np.argsort(scores.mean, kind="stable")[:watched]
    return 1.01 * float(np.max(scores.stderr[lowest]))


def sorted_mixture(rng, n, d, k):
    """Rows sorted by label, so that most chunks lack some labels."""
    x, y = mixture(rng, n, d, k)
    order = np.argsort(y, kind="stable")
    return x[order], y[order]
