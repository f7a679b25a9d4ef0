"""The package's documented behaviours one by one, the options beyond it,
and bad input: the right exception, naming its culprit, and a fitted
estimator left usable."""

import inspect
import pickle

import numpy as np
import psmi
import pytest
from conftest import mixture

import psmi_rs
from psmi_rs import PSMI, TooFewSamplesError


@pytest.fixture
def data(rng):
    return mixture(rng, 157, 9, 3)


def test_target_error_stops_with_the_watched_samples_that_precise(data):
    X, y = data
    target = 0.05
    est = PSMI(min_n_estimators=40, target_error=target, random_state=3, directions="iid")
    mean, std, _ = est.fit_transform(X, y)
    m = est.n_estimators
    watched = np.argsort(mean, kind="stable")[: max(1, int(0.05 * len(mean)))]
    assert np.all(std[watched] / np.sqrt(m) <= target)
    assert est.model_.auto_report["converged"]
    # Frames: the rule reads the scheme's own standard error, the one the
    # scores give, and stops no later than the i.i.d. formula would.
    frames = PSMI(min_n_estimators=40, target_error=target, random_state=3, frame_size=8)
    scores = frames.fit_transform(X, y)
    watched = np.argsort(scores.mean, kind="stable")[: max(1, int(0.05 * len(y)))]
    assert frames.model_.directions_scheme == ("orthogonal", 8)
    assert np.all(scores.stderr[watched] <= target)
    assert frames.model_.auto_report["converged"]
    if frames.n_estimators > 40:
        earlier = PSMI(n_estimators=frames.n_estimators - 40, random_state=3, frame_size=8)
        before = earlier.fit_transform(X, y)
        watched = np.argsort(before.mean, kind="stable")[: max(1, int(0.05 * len(y)))]
        assert before.stderr[watched].max() > target
    with pytest.raises(ValueError, match="target_error"):
        PSMI(target_error=-1.0).fit(X, y)


def test_constructor_matches_the_package():
    ours = inspect.signature(PSMI).parameters
    theirs = inspect.signature(psmi.PSMI).parameters
    positional = [p for p in ours.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in positional] == [
        (p.name, p.default) for p in theirs.values()
    ]
    assert [p.name for p in ours.values() if p.kind is p.KEYWORD_ONLY] == [
        "random_state",
        "n_jobs",
        "max_n_estimators",
        "directions",
        "frame_size",
        "full",
        "target_error",
        "precision",
    ]
    for args in [(), (300, "7", 0.1, "0.2", 0.25)]:
        a, b = PSMI(*args), psmi.PSMI(*args)
        for name in ["n_estimators", "min_n_estimators", "lowest_psmi_quantile",
                     "max_variation_of_the_lowest", "milestone", "fitted", "thetas",
                     "frequency_per_label", "mean_per_label", "std_per_label",
                     "saved_projected_features"]:
            assert getattr(a, name) == getattr(b, name), name
            assert type(getattr(a, name)) is type(getattr(b, name)), name


def test_unfitted_estimator_refuses_to_transform_like_the_package(data):
    x, y = data
    for cls in (PSMI, psmi.PSMI):
        with pytest.raises(RuntimeError, match="not fitted"):
            cls(n_estimators=10).transform(x, y)


@pytest.mark.parametrize("n_estimators", [23, "auto"])
def test_fit_returns_the_estimator_and_a_second_fit_is_refused(data, n_estimators):
    x, y = data
    est = PSMI(n_estimators=n_estimators, min_n_estimators=50, random_state=1)
    assert est.fit(x, y) is est
    assert est.fitted
    m = est.n_estimators
    assert isinstance(m, int) and (m == 23 if n_estimators == 23 else m % 50 == 0)
    assert est.thetas.shape == (m, x.shape[1])
    np.testing.assert_allclose(np.linalg.norm(est.thetas, axis=1), 1.0, rtol=1e-6)
    for method in (est.fit, est.fit_transform):
        with pytest.raises(RuntimeError, match="already fitted"):
            method(x, y)
    # The package refuses the same way.
    theirs = psmi.PSMI(n_estimators=5).fit(x, y)
    with pytest.raises(RuntimeError, match="already fitted"):
        theirs.fit(x, y)


def test_shapes_and_per_label_attributes(data):
    x, y = data
    est = PSMI(n_estimators=31, random_state=2)
    mean, std, full = est.fit_transform(x, y)
    n = len(y)
    assert mean.shape == (n,) and std.shape == (n,) and full.shape == (n, 31)
    assert mean.dtype == np.float64 and std.dtype == np.float64
    labels, counts = np.unique(y, return_counts=True)
    assert list(est.frequency_per_label) == list(labels)
    for label, count in zip(labels, counts):
        assert est.frequency_per_label[label] == count / n
        assert est.mean_per_label[label].shape == (31,)
        assert est.std_per_label[label].shape == (31,)
    # The per-sample summaries are those of the full matrix.
    np.testing.assert_allclose(mean, full.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(std, full.std(axis=1), atol=1e-5)
    # Keywords of the package accepted.
    again = est.transform(x, y, use_projected_features=True)
    np.testing.assert_allclose(again.mean, mean, atol=1e-9)
    assert PSMI(n_estimators=5).fit(x, y, save_projected_features=True).saved_projected_features is None


def test_full_false_never_returns_the_matrix(data):
    x, y = data
    est = PSMI(n_estimators=40, random_state=4, full=False)
    mean, std, full = est.fit_transform(x, y)
    assert full is None
    ref_mean, ref_std, _ = PSMI(n_estimators=40, random_state=4).fit_transform(x, y)
    np.testing.assert_array_equal(mean, ref_mean)
    np.testing.assert_array_equal(std, ref_std)
    assert est.transform(x, y)[2] is None
    assert est.model_.transform(x, y, full=True).full.shape == (len(y), 40)


def test_scores_carry_stderr_and_smi(data):
    x, y = data
    scores = PSMI(n_estimators=64, random_state=3, directions="iid").fit_transform(x, y)
    np.testing.assert_allclose(scores.stderr, scores.std / 8.0, rtol=1e-15)
    assert scores.smi == pytest.approx(scores.mean.mean(), rel=1e-12)
    assert scores.n_estimators == 64
    back = pickle.loads(pickle.dumps(scores))
    assert back.smi == scores.smi and np.array_equal(back.full, scores.full)
    assert np.array_equal(back.stderr, scores.stderr) and back.smi_stderr == scores.smi_stderr


def frames_stderr(full, frame):
    """Each sample's standard error under orthonormal frames, from the full
    matrix alone: the two pooled moment equations (spread between frame
    means, spread of all scores) solved for the variance and the covariance
    within a frame, then std * sqrt(D / m)."""
    full = full.astype(np.float64)
    m = full.shape[1]
    sizes = [min(frame, m - start) for start in range(0, m, frame)]
    b, pairs = len(sizes), sum(g * (g - 1) for g in sizes)
    row_mean = full.mean(axis=1, keepdims=True)
    within = ((full - row_mean) ** 2).sum()
    between = sum(
        g * ((full[:, s : s + g].mean(axis=1) - row_mean[:, 0]) ** 2).sum()
        for s, g in zip(range(0, m, frame), sizes)
    )
    equations = np.array([[b - 1, m - b - pairs / m], [m - 1, -pairs / m]])
    variance, covariance = np.linalg.solve(equations, [between, within])
    design_effect = 1 + covariance / variance * pairs / m
    return full.std(axis=1) * np.sqrt(design_effect / m)


def test_stderr_of_frames_is_the_libraries_design_effect_formula(data):
    x, y = data
    est = PSMI(n_estimators=150, random_state=5, directions="orthogonal", frame_size=8)
    scores = est.fit_transform(x, y)
    assert est.model_.directions_scheme == ("orthogonal", 8)
    expected = frames_stderr(scores.full, 8)
    np.testing.assert_allclose(scores.stderr, expected, rtol=1e-4)
    # The same from transform, with and without the full matrix.
    np.testing.assert_allclose(est.model_.transform(x, y).stderr, scores.stderr, rtol=1e-12)
    # The SMI's standard error holds the samples' share at least.
    samples_share = scores.mean.std(ddof=1) / np.sqrt(len(y))
    assert scores.smi_stderr >= samples_share * (1 - 1e-12)


def test_random_state_none_draws_a_seed_and_records_it(data):
    x, y = data
    a, b = PSMI(n_estimators=20), PSMI(n_estimators=20)
    ma, _, _ = a.fit_transform(x, y)
    mb, _, _ = b.fit_transform(x, y)
    assert a.seed_ != b.seed_
    assert not np.array_equal(ma, mb)
    replay = PSMI(n_estimators=20, random_state=a.seed_).fit_transform(x, y)
    np.testing.assert_array_equal(replay.mean, ma)


@pytest.mark.parametrize("n_estimators", [300, "auto"])
def test_a_seed_fixes_the_result_bit_for_bit_on_any_n_jobs(rng, n_estimators):
    x, y = mixture(rng, 1203, 33, 4, separation=4.0)
    results = [
        PSMI(n_estimators=n_estimators, random_state=9, n_jobs=n_jobs).fit_transform(x, y)
        for n_jobs in (1, 2, 3, None, -1, -2)
    ]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_max_n_estimators_bounds_auto_mode(data):
    x, y = data
    est = PSMI(min_n_estimators=10, max_variation_of_the_lowest=1e-12, max_n_estimators=55).fit(x, y)
    assert est.n_estimators == 50
    assert est.model_.auto_report == {"blocks": 5, "variation": pytest.approx(est.model_.auto_report["variation"]), "converged": False}


def assert_still_usable(est, x, y, expected):
    np.testing.assert_array_equal(est.transform(x, y).mean, expected)


def test_bad_features_are_refused_naming_the_culprit(data):
    x, y = data
    est = PSMI(n_estimators=12, random_state=0)
    expected = est.fit_transform(x, y).mean
    bad = x.copy()
    bad[17, 4] = np.nan
    cases = [
        (x[0], y, "X: incompatible shape"),
        (x[None], y, "X: incompatible shape"),
        (x, y[:-1], "y: incompatible shape"),
        (x, y[:, None], "y: incompatible shape"),
        (bad, y, "X: non-finite feature value at row 17, column 4"),
        (x[:, :-1], y, "X: features have 8 columns, the model was fitted on 9"),
        (np.array([["a"] * 9] * len(y)), y, "X: features have dtype <U1"),
        (np.zeros((0, 9), dtype=np.float32), y[:0], "X: features \\(no rows\\) is empty"),
    ]
    for features, labels, message in cases:
        with pytest.raises(ValueError, match=message):
            est.transform(features, labels)
        assert_still_usable(est, x, y, expected)
    with pytest.raises(ValueError, match="row 17, column 4"):
        PSMI(n_estimators=5).fit(bad, y)
    far = x.astype(np.float64)
    far[3, 0] = 1e39  # finite in float64, beyond float32
    with pytest.raises(ValueError, match="row 3, column 0"):
        PSMI(n_estimators=5).fit(far, y)


def test_bad_labels_are_refused_naming_the_culprit(data):
    x, y = data
    est = PSMI(n_estimators=12, random_state=0)
    expected = est.fit_transform(x, y).mean
    unseen = y.copy()
    unseen[29] = 77
    with pytest.raises(ValueError, match="y: label 77 at row 29 was not seen at fit"):
        est.transform(x, unseen)
    assert_still_usable(est, x, y, expected)
    half = y.astype(float)
    half[5] = 1.5
    for labels, message in [
        (half, "y: label 1.5 at row 5 is not a whole number"),
        (np.where(np.arange(len(y)) == 8, np.nan, y), "y: label nan at row 8"),
        (y.astype(str), "y: labels have dtype <U"),
        (np.array([None] * len(y)), "y: labels have dtype object"),
    ]:
        for call in (est.transform, PSMI(n_estimators=5).fit):
            with pytest.raises(ValueError, match=message):
                call(x, labels)
        assert_still_usable(est, x, y, expected)


def test_a_label_with_one_sample_is_refused_like_the_package(data):
    x, y = data
    lonely = y.copy()
    lonely[11] = 5
    est = PSMI(n_estimators=12)
    with pytest.raises(TooFewSamplesError, match="y: label 5 has 1 sample"):
        est.fit(x, lonely)
    assert not est.fitted and est.model_ is None and est.thetas is None
    # The package raises RuntimeError; ours is also one (and a ValueError).
    with pytest.raises(RuntimeError, match="5"):
        psmi.PSMI(n_estimators=12).fit(x.astype(np.float64), lonely)
    assert issubclass(TooFewSamplesError, RuntimeError) and issubclass(TooFewSamplesError, ValueError)
    # Failed fits leave the estimator fittable.
    assert est.fit(x, y).fitted


@pytest.mark.parametrize(
    "options, culprit",
    [
        (dict(n_estimators=0), "n_estimators"),
        (dict(n_estimators=-3), "n_estimators"),
        (dict(min_n_estimators=0), "min_n_estimators"),
        (dict(lowest_psmi_quantile=0.0), "lowest_psmi_quantile"),
        (dict(max_variation_of_the_lowest=-1.0), "max_variation_of_the_lowest"),
        (dict(milestone=1.0), "milestone"),
        (dict(max_n_estimators=100), "max_n_estimators"),
        (dict(n_jobs=0), "n_jobs"),
        (dict(n_jobs=1.5), "n_jobs"),
        (dict(random_state=-1), "random_state"),
        (dict(random_state="seven"), "random_state"),
    ],
)
def test_options_out_of_range_are_named(data, options, culprit):
    x, y = data
    est = PSMI(**options)
    with pytest.raises(ValueError, match=culprit):
        est.fit(x, y)
    assert not est.fitted


def test_models_save_load_and_pickle(data, tmp_path):
    x, y = data
    est = PSMI(n_estimators=300, random_state=8)
    scores = est.fit_transform(x, y)
    path = tmp_path / "model.safetensors"
    est.model_.save(path)
    loaded = psmi_rs.PsmiModel.load(path)
    np.testing.assert_array_equal(loaded.directions, est.thetas)
    np.testing.assert_array_equal(loaded.transform(x, y).mean, est.transform(x, y).mean)
    np.testing.assert_allclose(loaded.transform(x, y).mean, scores.mean, atol=1e-9)
    for n_jobs in (1, -1, None):
        loaded.n_jobs = n_jobs
        np.testing.assert_array_equal(loaded.transform(x, y).mean, est.transform(x, y).mean)
    with pytest.raises(ValueError, match="n_jobs"):
        loaded.n_jobs = 0
    # The file is the documented safetensors layout.
    safetensors = pytest.importorskip("safetensors.numpy")
    tensors = safetensors.load_file(str(path))
    assert tensors["directions"].shape == (300, x.shape[1])
    np.testing.assert_array_equal(tensors["labels"], np.unique(y))
    np.testing.assert_array_equal(tensors["mean"], est.model_.mean)
    # A pickled model carries its seed, not its directions.
    blob = pickle.dumps(est.model_)
    assert len(blob) < path.stat().st_size - 300 * x.shape[1] * 4 + 1024
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.directions, est.thetas)
    np.testing.assert_array_equal(back.transform(x, y, full=True).full, scores.full)
    # So does a fitted estimator.
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.transform(x, y).mean, est.transform(x, y).mean)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        psmi_rs.PsmiModel.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.safetensors: not a safetensors file"):
        psmi_rs.PsmiModel.load(tmp_path / "junk.safetensors")


def test_far_away_points_are_finite_where_the_package_gives_nan(rng):
    x, y = mixture(rng, 100, 3, 2, separation=3.0)
    x[0] += 1000.0
    mean, std, full = PSMI(n_estimators=50, random_state=1).fit_transform(x, y)
    assert np.isfinite(mean).all() and np.isfinite(full).all()


def test_directions_default_is_the_rust_librarys_and_frames_are_orthonormal(data):
    x, y = data
    assert PSMI().directions == psmi_rs._native.DEFAULT_DIRECTIONS
    iid = PSMI(n_estimators=40, random_state=3, directions="iid").fit(x, y)
    assert iid.model_.directions_scheme == ("iid", None)
    est = PSMI(n_estimators=40, random_state=3, directions="orthogonal", frame_size=9).fit(x, y)
    assert est.model_.directions_scheme == ("orthogonal", 9)
    thetas = est.thetas.astype(np.float64)
    # Frames of 9 rows in dimension 9: each block of 9 rows is an orthonormal basis.
    for first in range(0, 36, 9):
        frame = thetas[first : first + 9]
        assert np.allclose(frame @ frame.T, np.eye(9), atol=1e-6)
    assert not np.allclose(thetas, iid.thetas)
    # A pickled or saved model draws the same frames again, and scores alike.
    back = pickle.loads(pickle.dumps(est.model_))
    assert back.directions_scheme == ("orthogonal", 9)
    assert np.array_equal(back.directions, est.thetas)
    assert np.array_equal(back.transform(x, y).mean, est.model_.transform(x, y).mean)


def test_fitters_with_frames_merge_into_the_fit_of_all_rows(data):
    x, y = data
    options = dict(n_estimators=30, random_state=5, directions="orthogonal", frame_size=4)
    a = psmi_rs.PsmiFitter(x.shape[1], **options).update(x[:70], y[:70])
    b = psmi_rs.PsmiFitter(x.shape[1], **options).update(x[70:], y[70:])
    merged = a.merge(pickle.loads(pickle.dumps(b))).finish()
    whole = psmi_rs.PsmiFitter(x.shape[1], **options).update(x, y).finish()
    assert merged.directions_scheme == ("orthogonal", 4)
    assert np.allclose(merged.mean, whole.mean, rtol=1e-12, atol=1e-12)
    assert np.array_equal(merged.directions, whole.directions)


@pytest.mark.parametrize(
    "options, culprit",
    [(dict(directions="sobol"), "directions"), (dict(directions="orthogonal", frame_size=10), "frame_size"),
     (dict(frame_size=0), "frame_size")],
)
def test_bad_direction_options_are_named(data, options, culprit):
    x, y = data
    with pytest.raises(ValueError, match=culprit):
        PSMI(n_estimators=10, **options).fit(x, y)


def test_bf16_precision_is_kept_by_models_fitters_and_params(data, tmp_path):
    x, y = data
    assert PSMI().precision == "f32" and PSMI().get_params()["precision"] == "f32"
    est = PSMI(n_estimators=60, random_state=4, precision="bf16")
    mean, _, _ = est.fit_transform(x, y)
    assert est.model_.precision == "bf16" and est.get_params()["precision"] == "bf16"
    plain = PSMI(n_estimators=60, random_state=4).fit(x, y)
    assert plain.model_.precision == "f32"
    # Rounded to bf16: close to the f32 path, not equal to it.
    f32_mean = plain.model_.transform(x, y).mean
    assert not np.array_equal(mean, f32_mean) and np.allclose(mean, f32_mean, atol=0.05)
    # Pickled and saved models project in bf16 again, bit for bit.
    scores = est.model_.transform(x, y).mean
    est.model_.save(tmp_path / "model.safetensors")
    for copy in (pickle.loads(pickle.dumps(est.model_)), psmi_rs.PsmiModel.load(tmp_path / "model.safetensors")):
        assert copy.precision == "bf16"
        assert np.array_equal(copy.transform(x, y).mean, scores)
    fitter = psmi_rs.PsmiFitter(x.shape[1], n_estimators=60, random_state=4, precision="bf16")
    assert fitter.precision == "bf16"
    fitted = pickle.loads(pickle.dumps(fitter.update(x, y))).finish()
    assert fitted.precision == "bf16" and np.allclose(fitted.mean, est.model_.mean, rtol=1e-9)
    with pytest.raises(ValueError, match="precision"):
        fitter.merge(psmi_rs.PsmiFitter(x.shape[1], n_estimators=60, random_state=4))


@pytest.mark.parametrize("value", ["fp8", "BF16", ""])
def test_a_bad_precision_is_named(data, value):
    x, y = data
    with pytest.raises(ValueError, match=f"precision.*{value}"):
        PSMI(n_estimators=10, precision=value).fit(x, y)
    with pytest.raises(ValueError, match="precision"):
        psmi_rs.PsmiFitter(x.shape[1], n_estimators=10, precision=value)


@pytest.mark.parametrize("n_estimators", [37, "auto"])
def test_quantiles_equal_numpys_over_the_full_matrix(rng, n_estimators):
    x, y = mixture(rng, 203, 7, 3)
    est = PSMI(n_estimators=n_estimators, min_n_estimators=51, random_state=11)
    mean, std, full = est.fit_transform(x, y)
    levels = [0.01, 0.25, 0.5, 0.77, 0.99]
    q = est.model_.quantiles(x, y, levels)
    assert q.shape == (203, 5) and q.dtype == np.float64
    expected = np.quantile(full.astype(np.float64), levels, axis=1).T
    assert np.allclose(q, expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="quantiles"):
        est.model_.quantiles(x, y, [0.5, 1.0])
