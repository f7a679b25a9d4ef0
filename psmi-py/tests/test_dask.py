"""psmi_rs.dask on a LocalCluster of two worker processes: the same numbers
as PSMI on one machine, whatever the chunks, with the same errors."""

import os

import numpy as np
import pytest
from conftest import SCORES, chunked, close, mixture, sorted_mixture, target_after

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

import psmi_rs.dask  # noqa: E402
from psmi_rs import PSMI, TooFewSamplesError  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def assert_same(model, mean, std, x, y, **options):
    one = PSMI(**options, full=False)
    scores = one.fit_transform(x, y)
    assert isinstance(mean, da.Array) and isinstance(std, da.Array)
    assert model.n_estimators == one.model_.n_estimators
    assert model.seed == one.model_.seed
    assert np.array_equal(model.labels, one.model_.labels)
    assert np.array_equal(model.frequency, one.model_.frequency)
    assert np.array_equal(model.directions, one.model_.directions)
    assert model.directions_scheme == one.model_.directions_scheme
    close(model.mean, one.model_.mean)
    close(model.std, one.model_.std)
    assert model.auto_report == one.model_.auto_report or (
        model.auto_report["blocks"] == one.model_.auto_report["blocks"]
        and model.auto_report["converged"] == one.model_.auto_report["converged"]
        and abs(model.auto_report["variation"] - one.model_.auto_report["variation"]) < SCORES
    )
    computed_mean, computed_std = dask.compute(mean, std)
    close(computed_mean, scores.mean, SCORES)
    close(computed_std, scores.std, SCORES)


@pytest.mark.parametrize("directions", ["iid", "orthogonal"])
@pytest.mark.parametrize("parts", [1, 3, 7])
def test_fixed_mode_equals_one_machine(client, rng, parts, directions):
    x, y = sorted_mixture(rng, 913, 19, 4)
    options = dict(
        n_estimators=301, random_state=int(rng.integers(2**63)), directions=directions
    )
    X = da.from_array(x, chunks=(chunked(rng, len(x), parts), x.shape[1]))
    model, mean, std = psmi_rs.dask.fit_transform(X, y, **options)
    assert mean.chunks == (X.chunks[0],)
    assert_same(model, mean, std, x, y, **options)


@pytest.mark.parametrize("directions", ["iid", "orthogonal"])
@pytest.mark.parametrize("parts", [1, 3, 7])
def test_auto_mode_equals_one_machine(client, rng, parts, directions):
    # Frames of 11 (from the shape) and blocks of 37: blocks start inside frames.
    x, y = sorted_mixture(rng, 657, 11, 3)
    options = dict(
        min_n_estimators=37,
        max_n_estimators=37 * 40,
        max_variation_of_the_lowest=0.02,
        random_state=int(rng.integers(2**63)),
        directions=directions,
    )
    X = da.from_array(x, chunks=(chunked(rng, len(x), parts), x.shape[1]))
    labels = da.from_array(y, chunks=5 * len(y))  # rechunked like X
    model, mean, std = psmi_rs.dask.fit_transform(X, labels, **options)
    assert model.auto_report["blocks"] >= 2
    assert_same(model, mean, std, x, y, **options)


@pytest.mark.parametrize("parts, directions", [(1, "orthogonal"), (3, "iid"), (7, "orthogonal")])
def test_target_error_equals_one_machine(client, rng, parts, directions):
    # Frames of 11 (from the shape) and blocks of 37: blocks start inside frames.
    x, y = sorted_mixture(rng, 657, 11, 3)
    options = dict(
        min_n_estimators=37,
        max_n_estimators=37 * 40,
        random_state=int(rng.integers(2**63)),
        directions=directions,
    )
    options["target_error"] = target_after(x, y, 4, **options)
    X = da.from_array(x, chunks=(chunked(rng, len(x), parts), x.shape[1]))
    model, mean, std = psmi_rs.dask.fit_transform(X, y, **options)
    assert model.auto_report["converged"] and model.auto_report["blocks"] >= 2
    assert_same(model, mean, std, x, y, **options)


def test_a_label_in_one_chunk_only_and_a_chunk_of_one_row(client, rng):
    x, y = mixture(rng, 500, 9, 3)
    y[200:206] = 7  # only in the second chunk
    chunks = ((1, 199, 150, 150), (9,))
    options = dict(n_estimators=129, random_state=int(rng.integers(2**63)))
    model, mean, std = psmi_rs.dask.fit_transform(da.from_array(x, chunks=chunks), y, **options)
    assert 7 in model.labels.tolist()
    assert_same(model, mean, std, x, y, **options)


def test_columns_in_several_chunks_and_threads_give_the_same_numbers(client, rng):
    x, y = mixture(rng, 300, 12, 2)
    options = dict(n_estimators=64, random_state=int(rng.integers(2**63)))
    _, mean, _ = psmi_rs.dask.fit_transform(da.from_array(x, chunks=(100, 5)), y, **options)
    with dask.config.set(scheduler="threads"):
        _, threaded, _ = psmi_rs.dask.fit_transform(da.from_array(x, chunks=(100, 12)), y, **options)
        threaded = threaded.compute()
    assert np.array_equal(mean.compute(), threaded)


def _rows_that_kill_their_worker_once(x, marker):
    """The rows ``x``; on the first attempt the worker process dies instead."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x


def test_a_worker_killed_mid_fit_is_retried_with_the_right_result(client, rng, tmp_path):
    x, y = mixture(rng, 600, 10, 3)
    marker = str(tmp_path / "killed")
    pieces = [da.from_array(x[:250], chunks=(125, 10))]
    doomed = dask.delayed(_rows_that_kill_their_worker_once, pure=False)(x[250:400], marker)
    pieces.append(da.from_delayed(doomed, shape=(150, 10), dtype=x.dtype))
    pieces.append(da.from_array(x[400:], chunks=(200, 10)))
    options = dict(n_estimators=97, random_state=int(rng.integers(2**63)))
    model, mean, std = psmi_rs.dask.fit_transform(da.concatenate(pieces), y, **options)
    assert os.path.exists(marker)
    assert_same(model, mean, std, x, y, **options)


def same_error(x, y, chunks, **options):
    with pytest.raises(ValueError) as one:
        PSMI(**options).fit_transform(x, y)
    with pytest.raises(ValueError) as ours:
        model, mean, std = psmi_rs.dask.fit_transform(da.from_array(x, chunks=chunks), y, **options)
        dask.compute(mean, std)
    assert type(ours.value) is type(one.value)
    assert str(ours.value) == str(one.value)
    return str(ours.value)


@pytest.mark.parametrize("auto", [False, True])
def test_nan_in_one_chunk_names_the_global_row(client, rng, auto):
    x, y = mixture(rng, 400, 6, 2)
    row = int(rng.integers(301, 400))
    x[row, 4] = np.nan
    options = dict(min_n_estimators=20) if auto else dict(n_estimators=20)
    message = same_error(x, y, ((150, 150, 100), (6,)), random_state=1, **options)
    assert f"row {row}" in message


def test_a_label_with_one_sample_overall_is_named(client, rng):
    x, y = mixture(rng, 300, 5, 2)
    y[123] = 42
    message = same_error(x, y, ((100, 100, 100), (5,)), n_estimators=16, random_state=2)
    assert "label 42" in message
    with pytest.raises(TooFewSamplesError):
        psmi_rs.dask.fit_transform(da.from_array(x, chunks=(100, 5)), y, n_estimators=16)


def test_bad_options_and_shapes_are_refused(client, rng):
    x, y = mixture(rng, 50, 3, 2)
    X = da.from_array(x, chunks=(25, 3))
    with pytest.raises(ValueError, match="full"):
        psmi_rs.dask.fit_transform(X, y, full=True)
    with pytest.raises(ValueError, match="n_estimators"):
        psmi_rs.dask.fit_transform(X, y, n_estimators=0)
    with pytest.raises(ValueError, match="y"):
        psmi_rs.dask.fit_transform(X, y[:-1], n_estimators=4)
    with pytest.raises(ValueError, match="invalid options"):
        psmi_rs.dask.fit_transform(X, y, n_estimator=4)


def test_docstring_example_runs(client):
    import doctest

    result = doctest.testmod(psmi_rs.dask, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0
