"""scikit-learn's estimator contract (get_params / set_params, so that
``sklearn.base.clone`` works without scikit-learn being a dependency), and
tensors that require grad read without autograd."""

import inspect

import numpy as np
import pytest
from conftest import mixture

from psmi_rs import PSMI


def constructor_arguments(rng):
    return dict(
        n_estimators="auto",
        min_n_estimators=int(rng.integers(20, 60)),
        lowest_psmi_quantile=float(rng.uniform(0.02, 0.2)),
        max_variation_of_the_lowest=0.03,
        milestone=0.5,
        random_state=int(rng.integers(2**63)),
        n_jobs=1,
        max_n_estimators=400,
        directions="orthogonal",
        frame_size=None,
        full=False,
    )


def test_get_params_returns_every_constructor_argument_as_given(rng):
    arguments = constructor_arguments(rng)
    est = PSMI(**arguments)
    params = est.get_params()
    names = [p for p in inspect.signature(PSMI).parameters]
    assert sorted(params) == sorted(names)
    for name, value in arguments.items():
        assert params[name] is value, name
    # What scikit-learn's clone does, by hand: the same objects come back.
    again = PSMI(**params)
    assert all(again.get_params()[k] is v for k, v in params.items())
    assert PSMI().get_params(deep=False) == dict(
        (name, p.default) for name, p in inspect.signature(PSMI).parameters.items()
    )


def test_an_auto_fit_keeps_auto_in_its_params_and_a_rebuilt_estimator_gives_the_same_numbers(rng):
    x, y = mixture(rng, 300, 7, 3)
    est = PSMI(**constructor_arguments(rng))
    first = est.fit_transform(x, y)
    assert est.n_estimators == first.n_estimators and est.get_params()["n_estimators"] == "auto"
    rebuilt = PSMI(**est.get_params())
    assert not rebuilt.fitted and rebuilt.n_estimators is None
    assert np.array_equal(rebuilt.fit_transform(x, y).mean, first.mean)


def test_set_params_sets_parses_and_refuses_unknown_names(rng):
    est = PSMI()
    assert est.set_params(n_estimators=33, milestone=0.25, random_state=5) is est
    assert (est.n_estimators, est.milestone, est.random_state) == (33, 0.25, 5)
    assert est.get_params()["n_estimators"] == 33
    before = est.get_params()
    with pytest.raises(ValueError, match="invalid parameter 'n_estimator'.*valid parameters"):
        est.set_params(n_estimator=3)
    with pytest.raises(ValueError, match="n_estimators"):
        est.set_params(n_estimators="many", milestone=0.75)
    assert est.get_params() == before and est.milestone == 0.25
    x, y = mixture(rng, 120, 4, 2)
    fixed = est.fit_transform(x, y)
    assert fixed.n_estimators == 33
    assert np.array_equal(PSMI(n_estimators=33, milestone=0.25, random_state=5).fit_transform(x, y).mean, fixed.mean)


def test_sklearn_clone_and_grid_search(rng):
    base = pytest.importorskip("sklearn.base")
    x, y = mixture(rng, 200, 5, 2)
    est = PSMI(n_estimators=50, random_state=int(rng.integers(2**63)), full=False)
    est.fit(x, y)
    copy = base.clone(est)
    assert not copy.fitted and copy.get_params() == est.get_params()
    assert np.array_equal(copy.fit_transform(x, y).mean, est.transform(x, y).mean)
    auto = base.clone(PSMI(min_n_estimators=40, max_n_estimators=200))
    assert auto.get_params()["n_estimators"] == "auto" and auto.n_estimators is None


class RequiresGrad:
    """A stand-in for a torch tensor that requires grad: it refuses to be
    read until detached, as torch does."""

    def __init__(self, values, detached=False):
        self.values, self.detached = values, detached

    def detach(self):
        return RequiresGrad(self.values, detached=True)

    def __array__(self, dtype=None, copy=None):
        if not self.detached:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad.")
        return self.values if dtype is None else self.values.astype(dtype)


def test_tensors_that_require_grad_are_read_without_autograd(rng):
    x, y = mixture(rng, 150, 6, 3)
    options = dict(n_estimators=40, random_state=int(rng.integers(2**63)))
    expected = PSMI(**options).fit_transform(x, y)
    got = PSMI(**options).fit_transform(RequiresGrad(x), RequiresGrad(y))
    assert np.array_equal(got.mean, expected.mean) and np.array_equal(got.full, expected.full)


def test_torch_tensors_that_require_grad(rng):
    torch = pytest.importorskip("torch")
    x, y = mixture(rng, 150, 6, 3)
    options = dict(n_estimators=40, random_state=int(rng.integers(2**63)))
    tensor = torch.tensor(x, requires_grad=True)
    got = PSMI(**options).fit_transform(tensor, torch.tensor(y))
    assert np.array_equal(got.mean, PSMI(**options).fit_transform(x, y).mean)
