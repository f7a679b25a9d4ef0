"""psmi_rs.sweep: runs × layers in memory, against PSMI layer by layer, the
``psmi`` program's sweep over the same states written to files, direct
computations of the deltas, quantiles and evaluation, and every bad input
named by its run and layer."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import psmi_rs
from psmi_rs import PSMI

from conftest import mixture

ROOT = Path(__file__).resolve().parents[2]
# The tables are DataFrames with pandas (the `pandas` extra), dicts without.
needs_pandas = pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None, reason="pandas is not installed"
)
Z95 = 1.959963984540054


def checkpoints(rng, runs, layers, n, d, k):
    """``{run: [L, n, d] float32}`` with shared labels, and a 0/1 target
    marking a fifth of the samples, whose labels are then changed (so they
    score low)."""
    x, y = mixture(rng, n, d, k)
    states = {}
    for r, run in enumerate(runs):
        noise = rng.normal(0.0, 0.3 + 0.2 * r, (layers, n, d))
        scale = np.linspace(0.5, 1.5, layers)[:, None, None]
        states[run] = (scale * x[None] + noise).astype(np.float32)
    marked = np.zeros(n, dtype=np.int64)
    marked[rng.choice(n, n // 5, replace=False)] = 1
    y = y.copy()
    y[marked == 1] = (y[marked == 1] + 1) % k
    return states, y, marked


def direct_evaluation(mean, marked, tpr):
    """AUROC of −mean over every (marked, unmarked) pair, ties half, and the
    FPR at the first threshold from the lowest mean up whose TPR reaches tpr."""
    pos, neg = mean[marked == 1], mean[marked == 0]
    auroc = ((pos[:, None] < neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    for t in np.unique(mean):
        if (pos <= t).sum() >= tpr * len(pos):
            return auroc, (neg <= t).sum() / len(neg)
    raise AssertionError("tpr never reached")


def wilson(p, n):
    """Wilson's 95 % interval of a proportion p over n trials."""
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return centre - half, centre + half


@needs_pandas
def test_every_layer_of_every_run_is_what_psmi_gives_it_with_the_same_seed(rng):
    runs, n, d, m = ("early", "middle", "late"), 157, 11, 96
    states, y, marked = checkpoints(rng, runs, 4, n, d, 3)
    levels = (0.01, 0.37, 0.99)
    seed = int(rng.integers(2**63))
    scores, layers = psmi_rs.sweep(
        states, y, quantiles=levels, against=marked, tpr=0.75, n_estimators=m, random_state=seed
    )
    assert list(scores.columns) == [
        "run", "layer", "index", "file", "row", "label", "mean", "std", "stderr",
        "q0.01", "q0.37", "q0.99", "delta_mean",
    ]
    assert list(layers.columns) == [
        "run", "layer", "dim", "n_estimators", "converged", "smi", "smi_stderr",
        "auroc", "auroc_low", "auroc_high", "fpr_at_tpr", "fpr_at_tpr_low", "fpr_at_tpr_high",
    ]
    assert len(scores) == 3 * 4 * n and len(layers) == 3 * 4
    first_means = {}
    for (run, layer), got in scores.groupby(["run", "layer"], sort=False):
        est = PSMI(n_estimators=m, random_state=seed)
        result = est.fit_transform(states[run][layer], y)
        mean, std, full = result
        # Bit for bit: the same directions and the same code path.
        assert np.array_equal(got["mean"].to_numpy(), mean), (run, layer)
        assert np.array_equal(got["std"].to_numpy(), std)
        # The scheme's standard error (frames by default), as PSMI gives it.
        np.testing.assert_allclose(got["stderr"], result.stderr, rtol=1e-15)
        # Quantiles of each sample's row of the full matrix.
        want = np.quantile(full.astype(np.float64), levels, axis=1).T
        np.testing.assert_allclose(got[["q0.01", "q0.37", "q0.99"]], want, rtol=0, atol=1e-12)
        first_means.setdefault(layer, mean)
        assert np.array_equal(got["delta_mean"].to_numpy(), mean - first_means[layer])
        assert list(got["index"]) == list(range(n)) and list(got["row"]) == list(range(n))
        assert set(got["file"]) == {""} and np.array_equal(got["label"].to_numpy(), y)

        row = layers[(layers.run == run) & (layers.layer == layer)].iloc[0]
        assert (row.dim, row.n_estimators, row.converged) == (d, m, None)
        assert row.smi == pytest.approx(mean.mean(), rel=1e-12)
        assert row.smi_stderr == pytest.approx(result.smi_stderr, rel=1e-12)
        assert row.smi_stderr >= mean.std(ddof=1) / np.sqrt(n)
        auroc, fpr = direct_evaluation(mean, marked, 0.75)
        assert row.auroc == pytest.approx(auroc, abs=1e-12)
        assert row.fpr_at_tpr == pytest.approx(fpr, abs=1e-12)
        low, high = wilson(fpr, (marked == 0).sum())
        assert (row.fpr_at_tpr_low, row.fpr_at_tpr_high) == (
            pytest.approx(max(low, 0.0), abs=1e-12),
            pytest.approx(min(high, 1.0), abs=1e-12),
        )
        assert row.auroc_low <= row.auroc <= row.auroc_high
    # The relabelled samples are what low PSMI finds.
    assert layers.auroc.max() > 0.8


class _Grad:
    """A stand-in for a torch tensor that requires grad: refuses to be read
    until detached."""

    def __init__(self, a):
        self._a, self.ndim, self.shape = a, a.ndim, a.shape

    def __len__(self):
        return len(self._a)

    def __getitem__(self, i):
        return _Grad(self._a[i])

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad")

    def detach(self):
        return self._a


@needs_pandas
def test_every_form_of_states_gives_the_same_numbers(rng):
    n, d, m, seed = 83, 7, 40, 5
    stack, y, _ = checkpoints(rng, ["a"], 3, n, d, 2)
    stack = stack["a"]
    options = dict(n_estimators=m, random_state=seed)
    want, _ = psmi_rs.sweep(stack, y, **options)
    assert set(want["run"]) == {None} and list(want["layer"].unique()) == [0, 1, 2]
    forms = {
        "sequence": list(stack),
        "tuple": tuple(stack),
        "mapping": {i: stack[i] for i in range(3)},
        "float64": stack.astype(np.float64),
        "requires grad": _Grad(stack),
        "sequence requiring grad": [_Grad(layer) for layer in stack],
    }
    for form, states in forms.items():
        got, _ = psmi_rs.sweep(states, y, **options)
        assert np.array_equal(got["mean"], want["mean"]), form
    # A mapping of runs to each form: every run the same numbers.
    runs, _ = psmi_rs.sweep(
        {"x": stack, "y": list(stack), "z": {0: stack[0], 1: stack[1], 2: stack[2]}}, y, **options
    )
    for run in "xyz":
        assert np.array_equal(runs[runs.run == run]["mean"], want["mean"]), run
    assert not runs["delta_mean"].any()


@needs_pandas
def test_half_precision_layers_are_read_as_psmi_reads_them(rng):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    n, d, m = 64, 9, 32
    stack, y, _ = checkpoints(rng, ["a"], 2, n, d, 2)
    for dtype in (np.float16, ml_dtypes.bfloat16):
        half = stack["a"].astype(dtype)
        scores, _ = psmi_rs.sweep(half, y, n_estimators=m, random_state=1)
        for layer in range(2):
            mean, _, _ = PSMI(n_estimators=m, random_state=1, full=False).fit_transform(
                half[layer], y
            )
            assert np.array_equal(scores[scores.layer == layer]["mean"], mean), dtype


@needs_pandas
def test_torch_tensors_are_read_as_psmi_reads_them(rng):
    torch = pytest.importorskip("torch")
    n, d, m = 70, 8, 24
    stack, y, _ = checkpoints(rng, ["a"], 3, n, d, 2)
    hidden = torch.from_numpy(stack["a"]).to(torch.bfloat16).requires_grad_(True)
    # As a model returns them: a tuple of [n, d] tensors, and the stack itself.
    for states in (tuple(hidden), hidden, {"ckpt": hidden, "again": list(hidden)}):
        scores, _ = psmi_rs.sweep(states, torch.from_numpy(y), n_estimators=m, random_state=4)
        for layer in range(3):
            mean, _, _ = PSMI(n_estimators=m, random_state=4).fit_transform(hidden[layer], y)
            got = scores[scores.layer == layer]["mean"].to_numpy()
            assert np.array_equal(got, np.tile(mean, len(got) // n))


@needs_pandas
def test_auto_mode_reports_convergence_per_layer(rng):
    stack, y, _ = checkpoints(rng, ["a"], 2, 120, 6, 2)
    _, layers = psmi_rs.sweep(stack["a"], y, n_estimators="auto", min_n_estimators=50,
                              random_state=2)
    assert all(isinstance(c, (bool, np.bool_)) for c in layers.converged)
    assert all(m % 50 == 0 for m in layers.n_estimators)


@needs_pandas
def test_without_pandas_the_tables_are_dicts_of_numpy_columns(rng, monkeypatch):
    stack, y, marked = checkpoints(rng, ["a"], 2, 50, 4, 2)
    with_pandas = psmi_rs.sweep(stack["a"], y, against=marked, n_estimators=20, random_state=3)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    scores, layers = psmi_rs.sweep(stack["a"], y, against=marked, n_estimators=20,
                                   random_state=3)
    assert isinstance(scores, dict) and isinstance(layers, dict)
    assert list(scores) == list(with_pandas.scores.columns)
    assert list(layers) == list(with_pandas.layers.columns)
    assert all(isinstance(v, np.ndarray) and len(v) == 100 for v in scores.values())
    assert np.array_equal(scores["mean"], with_pandas.scores["mean"])
    assert np.array_equal(layers["auroc"], with_pandas.layers["auroc"])


# ------------------------------------------------------------- bad input


@pytest.fixture
def two_runs(rng):
    states, y, marked = checkpoints(rng, ["c1", "c2"], 2, 40, 5, 2)
    return states, y, marked


def _raises(match, states, y, **kw):
    kw.setdefault("n_estimators", 16)
    with pytest.raises(ValueError, match=match):
        psmi_rs.sweep(states, y, **kw)


def test_a_run_lacking_a_layer_is_named(two_runs):
    states, y, _ = two_runs
    runs = {"c1": {"l8": states["c1"][0], "l16": states["c1"][1]}, "c2": {"l8": states["c2"][0]}}
    _raises("run c2 has no layer l16, which run c1 has", runs, y)


def test_runs_of_other_samples_or_labels_are_named(two_runs):
    states, y, _ = two_runs
    short = {"c1": states["c1"], "c2": states["c2"][:, :-1]}
    _raises(r"run 'c2', layer 0: 39 samples for 40 labels", short, y)
    relabelled = y.copy()
    relabelled[7] = 1 - relabelled[7]
    _raises(r"run c2 labels row 7 .*run c1 labels it", states, {"c1": y, "c2": relabelled})
    _raises(r"run c2 has 39 samples, run c1 has 40", states, {"c1": y, "c2": y[:-1]})
    _raises(r"y: no labels for run 'c2'", states, {"c1": y})


def test_a_target_of_the_wrong_length_or_values_is_refused(two_runs):
    states, y, marked = two_runs
    _raises("against: the target has 39 values for 40 samples", states, y, against=marked[:-1])
    bad = marked.copy()
    bad[3] = 2
    _raises("against: the target at row 3 is 2; it must be 0 or 1", states, y, against=bad)
    _raises("tpr: the true-positive rate 1.5", states, y, against=marked, tpr=1.5)
    _raises("against: the target marks 0 of 40", states, y, against=np.zeros(40, int))


def test_arrays_of_the_wrong_dimensions_are_named(two_runs):
    states, y, _ = two_runs
    a, b = states["c1"], states["c2"]
    # A 3-D array among a run's 2-D layers.
    _raises(r"layer 1: X: incompatible shape \(2, 40, 5\)", [a[0], b], y)
    # A mapping of runs with a plain 2-D layer among them.
    _raises(r"states\['c2'\]: a mapping of runs needs layers in every run", {"c1": a, "c2": b[0]}, y)
    _raises(r"states: an array of shape \(1, 2, 40, 5\)", a[None], y)
    _raises(r"states: an array of shape \(40, 5\)", a[0], y)
    _raises("states: no layers", [], y)


def test_bad_values_and_options_are_named_with_their_run_and_layer(two_runs):
    states, y, _ = two_runs
    states["c2"][1, 12, 3] = np.nan
    _raises(r"run 'c2', layer 1: X: .*row 12.*column 3", states, y)
    _raises("full", states, y, full=True)
    _raises("quantiles", states, y, quantiles=(0.5, 1.0))


# ------------------------------------------------- against the program


def _psmi_binary():
    """The `psmi` program of this checkout: built by cargo if cargo is there."""
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.skip("cargo is not installed: no `psmi` program to compare with")
    subprocess.run([cargo, "build", "-q", "-p", "psmi-cli", "--bin", "psmi"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "psmi"


@needs_pandas
def test_the_sweep_gives_the_programs_numbers_for_the_same_seed(rng, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    # Natural order: ckpt-2 before ckpt-10, as the program walks them.
    runs, n, d, m, seed = ("ckpt-2", "ckpt-10"), 71, 6, 48, 11
    states, y, marked = checkpoints(rng, runs, 3, n, d, 3)
    layers = {run: {f"h.{i}": states[run][i] for i in range(3)} for run in runs}
    for run in runs:
        (tmp_path / "ckpts" / run).mkdir(parents=True)
        safetensors_numpy.save_file(layers[run], str(tmp_path / "ckpts" / run / "states.safetensors"))
        np.save(tmp_path / "ckpts" / run / "labels.npy", y)
    np.save(tmp_path / "memorised.npy", marked.astype(bool))
    subprocess.run(
        [str(_psmi_binary()), "fit-transform", "--runs", str(tmp_path / "ckpts" / "ckpt-*"),
         "--features", "{run}/states.safetensors:h.*", "--labels", "{run}/labels.npy",
         "--out", str(tmp_path / "out"), "--n-estimators", str(m), "--seed", str(seed),
         "--quantiles", "0.05,0.5", "--against", str(tmp_path / "memorised.npy"),
         "--tpr", "0.6", "--quiet"],
        check=True,
    )
    scores, table = psmi_rs.sweep(layers, y, quantiles=(0.05, 0.5), against=marked.astype(bool),
                                  tpr=0.6, n_estimators=m, random_state=seed)

    def rows(name):
        with open(tmp_path / "out" / name, newline="") as f:
            return list(csv.DictReader(f))

    program = rows("scores.csv")
    assert list(program[0]) == [c for c in scores.columns]
    assert len(program) == len(scores)
    for want, (_, got) in zip(program, scores.iterrows()):
        assert (want["run"], want["layer"], int(want["index"]), int(want["label"])) == (
            got.run, got.layer, got["index"], got.label
        )
        # The CSV holds the shortest decimal of each f64: equal means same bits.
        for column in ("mean", "std", "stderr", "q0.05", "q0.5", "delta_mean"):
            assert float(want[column]) == got[column], (want["run"], want["layer"], column)
    program = rows("layers.csv")
    assert list(program[0]) == list(table.columns)
    for want, (_, got) in zip(program, table.iterrows()):
        assert (want["run"], want["layer"], int(want["dim"]), int(want["n_estimators"])) == (
            got.run, got.layer, got.dim, got.n_estimators
        )
        for column in table.columns[5:]:
            assert float(want[column]) == got[column], (want["run"], want["layer"], column)
