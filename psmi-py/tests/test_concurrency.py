"""Processes, threads and Ctrl-C."""

import _thread
import multiprocessing
import pickle
import signal
import threading
import time

import numpy as np
import pytest
from conftest import mixture

from psmi_rs import PSMI, PsmiFitter


def fit_part(blob, x, y):
    """Runs in another process: an (empty) fitter arrives pickled, leaves fitted."""
    fitter = pickle.loads(blob)
    fitter.update(x, y)
    return pickle.dumps(fitter)


def test_a_pickled_fitter_merged_from_other_processes_gives_the_one_process_fit(rng):
    n, d, m = 1009, 17, 263
    x, y = mixture(rng, n, d, 4)
    seed = int(rng.integers(2**63))
    one = PsmiFitter(d, m, random_state=seed).update(x, y).finish()
    # An empty fitter is sent to the workers; the merge order is fixed.
    empty = pickle.dumps(PsmiFitter(d, m, random_state=seed))
    cuts = [0, 300, 301, 777, n]
    parts = [(empty, x[a:b], y[a:b]) for a, b in zip(cuts, cuts[1:])]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        blobs = pool.starmap(fit_part, parts)
    merged = PsmiFitter(d, m, random_state=seed)
    for blob in blobs:
        merged.merge(pickle.loads(blob))
    assert merged.samples == n
    model = merged.finish()
    np.testing.assert_array_equal(model.labels, one.labels)
    np.testing.assert_array_equal(model.directions, one.directions)
    np.testing.assert_allclose(model.mean, one.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.std, one.std, rtol=1e-10)
    np.testing.assert_allclose(model.transform(x, y).mean, one.transform(x, y).mean, atol=1e-9)
    # And what the estimator fits in fixed mode.
    est = PSMI(n_estimators=m, random_state=seed).fit(x, y)
    np.testing.assert_allclose(est.model_.mean, one.mean, rtol=1e-9, atol=1e-12)


def test_fitters_over_different_directions_do_not_merge(rng):
    x, y = mixture(rng, 50, 4, 2)
    a = PsmiFitter(4, 10, random_state=1).update(x, y)
    for other in (PsmiFitter(4, 10, random_state=2), PsmiFitter(4, 11, random_state=1), PsmiFitter(5, 10, random_state=1)):
        with pytest.raises(ValueError, match="cannot merge"):
            a.merge(other)
    assert a.samples == 50
    with pytest.raises(ValueError, match="X: features have 3 columns"):
        a.update(x[:, :3], y)
    assert a.samples == 50


def test_two_threads_fit_at_once(rng):
    x, y = mixture(rng, 6007, 96, 5, separation=3.0)
    expected = [PSMI(n_estimators=1500, random_state=s, n_jobs=1).fit_transform(x, y) for s in (1, 2)]
    spans, results = {}, {}

    def work(seed):
        start = time.perf_counter()
        results[seed] = PSMI(n_estimators=1500, random_state=seed, n_jobs=1).fit_transform(x, y)
        spans[seed] = (start, time.perf_counter())

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, want in zip((1, 2), expected):
        for a, b in zip(results[seed], want):
            np.testing.assert_array_equal(a, b)
    (a0, a1), (b0, b1) = spans[1], spans[2]
    overlap = max(0.0, min(a1, b1) - max(a0, b0))
    # A measurement, not a claim: with the GIL held the runs could not overlap.
    print(f"thread runs {a1 - a0:.3f} s and {b1 - b0:.3f} s, overlapping {overlap:.3f} s")


def interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test. A process started in the
    background of a non-interactive shell inherits SIGINT ignored; Python
    then installs no handler, and `_thread.interrupt_main` does nothing."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("mode", ["auto fit_transform", "fixed fit"])
def test_ctrl_c_stops_a_long_run_and_leaves_the_estimator_unfitted(rng, mode, python_ctrl_c):
    if mode == "auto fit_transform":
        x, y = mixture(rng, 4001, 64, 3, separation=1.0)
        # A variation it never reaches: without Ctrl-C, 2·10^5 directions
        # (about 10 s and 3 GB here), so a Ctrl-C not seen fails the test
        # rather than filling the machine's memory.
        est = PSMI(max_variation_of_the_lowest=1e-12, max_n_estimators=2 * 10**5, random_state=1)
        run = est.fit_transform
    else:
        x, y = mixture(rng, 20000, 64, 3)
        est = PSMI(n_estimators=100_000, random_state=1)
        run = est.fit
    timer = interrupt_after(0.5)
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run(x, y)
        # If the run ended first, wait for the interrupt so it fails here, not later.
        time.sleep(5)
        pytest.fail("the run ended before Ctrl-C")
    timer.join()
    print(f"{mode}: stopped {time.perf_counter() - start - 0.5:.3f} s after Ctrl-C")
    assert not est.fitted and est.model_ is None and est.thetas is None
    assert est.n_estimators in (None, 100_000)
    # The estimator is still usable.
    small = PSMI(n_estimators=10, random_state=3).fit(x[:100], y[:100])
    assert small.fitted
