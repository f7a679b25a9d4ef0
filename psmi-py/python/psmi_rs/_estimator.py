"""The estimator: :class:`PSMI`, a drop-in for ``psmi.PSMI``."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np

from . import _inputs, _native
from ._model import PsmiModel, PsmiScores, _scores


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"invalid option `{name}` = {value!r}: must be a whole number ≥ {minimum}")
    return int(value)


class PSMI:
    """Pointwise Sliced Mutual Information of every sample of a labelled data set.

    A drop-in replacement for ``psmi.PSMI`` (PyPI ``psmi`` 0.2.0): the same
    constructor, methods, attributes and errors, computed in Rust on all
    cores, in log space, with memory that grows with one block of
    directions. For directions θ_1..θ_m uniform on the unit sphere, each
    label's projections along θ_j are fitted with a Gaussian, and a sample's
    PSMI along θ_j is log p(⟨x, θ_j⟩ | y) − log p(⟨x, θ_j⟩); its mean over
    the directions is low for samples that their label explains badly
    (mislabelled, atypical). Wongso et al., ISIT 2023,
    DOI 10.1109/ISIT54713.2023.10207010.

    Parameters
    ----------
    n_estimators : int or "auto", default "auto"
        Number of directions, or "auto": add blocks of ``min_n_estimators``
        directions until the lowest PSMI values settle.
    min_n_estimators : int, default 500
        Block size in auto mode.
    lowest_psmi_quantile : float, default 0.05
        Fraction of samples with the lowest PSMI that auto mode watches.
    max_variation_of_the_lowest : float, default 0.05
        Auto mode stops when those samples' PSMI varies by at most this
        (relative) between all the blocks and the first ``milestone`` of them.
    milestone : float, default 0.5
        The fraction of blocks auto mode compares against.
    random_state : int or None, default None
        Seed of the directions. None draws a fresh seed at each fit and
        records it in ``seed_``; an int fixes the results bit for bit, for
        any ``n_jobs``.
    n_jobs : int or None, default None
        Threads, as in scikit-learn: None or -1 all cores, k > 0 k threads,
        -2 all cores but one, and so on; 0 is an error.
    max_n_estimators : int, default 50000
        Auto mode stops there, unconverged (``model_.auto_report``); the
        package has no bound.
    directions : {"orthogonal", "iid"}, default "orthogonal"
        How the directions are drawn: in orthonormal frames (rows of
        Haar-random orthogonal matrices), which reach the same accuracy with
        fewer directions on many data sets (see the README's "Directions in
        orthonormal frames"), or independently, as the package draws them.
        The default is the Rust library's (``psmi_rs._native.DEFAULT_DIRECTIONS``).
    frame_size : int or None, default None
        Rows per orthonormal frame, at most the dimension; None sizes frames
        from the number of samples and the dimension. Ignored for "iid".
    target_error : float or None, default None
        In auto mode, stop adding blocks of directions once the standard
        error of every watched sample (the ``lowest_psmi_quantile`` fraction
        with the lowest PSMI; as ``PsmiScores.stderr`` gives it, right for
        the scheme of directions) is at most this, instead of the package's rule
        on their relative variation; bounded by ``max_n_estimators``. None:
        the package's rule.
    precision : {"f32", "bf16"}, default "f32"
        Arithmetic of the projection. "bf16" rounds every direction to
        bfloat16 once and every feature as it is packed (bf16 features are
        used as stored; f32 and f16 ones cost one rounding per value), and
        sums the exact products in f32: about twice as fast on CPUs with
        AVX512-BF16, at a per-sample error close to the f32 path's (README,
        "Performance"). The model keeps it (``model_.precision``), so
        :meth:`transform` and saved models project alike.
    full : bool, default True
        Whether :meth:`transform` and :meth:`fit_transform` return the
        n_samples × n_estimators matrix; if False they return None in its
        place and never build it.

    Attributes
    ----------
    fitted : bool
        Whether the estimator has been fitted.
    thetas : numpy.ndarray of float32, shape (n_estimators, dim), or None
        The unit directions.
    frequency_per_label : dict or None
        ``{label: frequency}``.
    mean_per_label, std_per_label : dict or None
        ``{label: array of shape (n_estimators,)}``: the mean and population
        std of each label's projections along each direction.
    n_estimators : int or None
        Number of directions; None in auto mode until fitted, then the
        number drawn.
    model_ : PsmiModel or None
        The fitted model (save it, load it, transform with it, pickle it).
    seed_ : int or None
        The seed actually used.

    Notes
    -----
    Differences from the package, all documented beyond it:

    * Far-away points: the package divides densities and gives NaN (0/0)
      where both underflow; these scores are computed in log space and are
      finite.
    * ``full`` is float32 (the package's is float64); ``thetas`` are float32.
    * The package loops forever in auto mode when
      ``lowest_psmi_quantile × n_samples < 1``; here at least one sample is
      watched, and ``max_n_estimators`` bounds the run.
    * Labels given as a list are kept as integers (the package turns lists
      into floats); dictionary keys are of the labels' dtype.
    * ``fit(..., save_projected_features=True)`` and
      ``transform(..., use_projected_features=True)`` are accepted and change
      nothing: projections are recomputed (that is cheaper than keeping them).

    Features: numpy arrays of float16/32/64 in any layout (C-contiguous
    float32 is used without a copy, anything else is converted once), nested
    lists, objects with ``__array__`` (CPU torch tensors, pandas frames), and
    ``__dlpack__`` objects (torch tensors, bfloat16 included). Labels: any
    integer dtype, or floats holding whole numbers.

    The computation releases the GIL (other Python threads run, two fits can
    run at once) and stops on Ctrl-C within one pass of directions, raising
    ``KeyboardInterrupt`` and leaving the estimator unfitted.

    Examples
    --------
    >>> import numpy as np
    >>> from psmi_rs import PSMI
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (50, 8)), rng.normal(3, 1, (50, 8))])
    >>> y = np.repeat([0, 1], 50)
    >>> y[0] = 1                                   # one mislabelled sample
    >>> mean, std, full = PSMI(n_estimators=200, random_state=0).fit_transform(X, y)
    >>> int(np.argmin(mean)), full.shape
    (0, (100, 200))
    """

    def __init__(
        self,
        n_estimators: Union[str, int] = "auto",
        min_n_estimators: int = 500,
        lowest_psmi_quantile: float = 0.05,
        max_variation_of_the_lowest: float = 0.05,
        milestone: float = 0.5,
        *,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = None,
        max_n_estimators: int = 50000,
        directions: str = _native.DEFAULT_DIRECTIONS,
        frame_size: Optional[int] = None,
        full: bool = True,
        target_error: Optional[float] = None,
        precision: str = "f32",
    ) -> None:
        # The arguments as given, for get_params (scikit-learn's clone wants
        # the very objects back); the attributes hold them parsed.
        params = {name: value for name, value in locals().items() if name != "self"}
        self._params: Dict[str, Any] = {}
        self._set_hyperparameters(params)
        self._fitted = False
        self.model_: Optional[PsmiModel] = None
        self.seed_: Optional[int] = None
        self._label_type: type = np.int64
        self._per_label: Optional[tuple] = None
        self._thetas: Optional[np.ndarray] = None

    def _set_hyperparameters(self, params: Dict[str, Any]) -> None:
        """Parses ``params`` as the package parses them, then sets them all
        (none when one is refused)."""
        n_estimators = params["n_estimators"]
        parsed = {
            "n_estimators": None if n_estimators == "auto" else int(n_estimators),
            "min_n_estimators": int(params["min_n_estimators"]),
            "lowest_psmi_quantile": float(params["lowest_psmi_quantile"]),
            "max_variation_of_the_lowest": float(params["max_variation_of_the_lowest"]),
            "milestone": float(params["milestone"]),
            "full": bool(params["full"]),
        }
        self._params = dict(params)
        for name, value in params.items():
            setattr(self, name, parsed.get(name, value))

    # -------------------------------------------------- scikit-learn's contract

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's arguments, as given (scikit-learn's contract).

        ``sklearn.base.clone(est)`` and grid searches use it; scikit-learn
        is not needed. ``n_estimators`` is ``"auto"`` after an auto fit too
        (the attribute then holds the number drawn).

        Parameters
        ----------
        deep : bool, default True
            Accepted for scikit-learn; PSMI holds no sub-estimators.

        Returns
        -------
        dict
            ``{parameter name: value}``.

        Examples
        --------
        >>> from psmi_rs import PSMI
        >>> est = PSMI(n_estimators=200, random_state=0)
        >>> again = PSMI(**est.get_params())
        >>> again.get_params() == est.get_params()
        True
        """
        return dict(self._params)

    def set_params(self, **params: Any) -> "PSMI":
        """Sets constructor arguments (scikit-learn's contract).

        A fitted estimator stays fitted with its model; the new values take
        effect at the next fit of a clone.

        Parameters
        ----------
        **params
            Constructor arguments by name.

        Returns
        -------
        PSMI
            ``self``.

        Raises
        ------
        ValueError
            For a name that is not a constructor argument, or a value that
            cannot be parsed; the estimator is then unchanged.

        Examples
        --------
        >>> from psmi_rs import PSMI
        >>> PSMI().set_params(n_estimators=64, random_state=3).n_estimators
        64
        """
        unknown = sorted(set(params) - set(self._params))
        if unknown:
            raise ValueError(
                f"invalid parameter {unknown[0]!r} for PSMI; valid parameters are: "
                f"{sorted(self._params)}"
            )
        try:
            self._set_hyperparameters({**self._params, **params})
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid parameters {params}: {e}") from None
        return self

    # ---------------------------------------------------------------- fitting

    def fit(self, features: Any, labels: Any, save_projected_features: bool = False) -> "PSMI":
        """Fits the estimator: draws the directions and fits a Gaussian to
        every label along each (in auto mode, scoring the samples to decide
        how many directions to draw).

        Parameters
        ----------
        features : array-like of shape (n_samples, dim)
        labels : array-like of shape (n_samples,)
        save_projected_features : bool, default False
            Accepted for compatibility with ``psmi``; has no effect.

        Returns
        -------
        PSMI
            ``self``, fitted.

        Raises
        ------
        RuntimeError
            If the estimator is already fitted.
        ValueError
            Naming the argument and the row, column, label or option at
            fault. A label with fewer than two samples raises
            :class:`TooFewSamplesError`, also a ``RuntimeError`` as in the package.
        KeyboardInterrupt
            On Ctrl-C; the estimator stays unfitted.
        """
        self._check_unfitted()
        self._fit(features, labels, transform=False)
        return self

    def fit_transform(self, features: Any, labels: Any) -> PsmiScores:
        """Fits the estimator and scores the samples, projecting them once.

        Parameters
        ----------
        features : array-like of shape (n_samples, dim)
        labels : array-like of shape (n_samples,)

        Returns
        -------
        PsmiScores
            ``(mean, std, full)`` of shapes (n_samples,), (n_samples,) and
            (n_samples, n_estimators) (None if ``full=False``), with
            ``stderr`` and ``smi``.

        Raises
        ------
        As :meth:`fit`.
        """
        self._check_unfitted()
        return self._fit(features, labels, transform=True)

    def transform(
        self, features: Any, labels: Any, use_projected_features: bool = False
    ) -> PsmiScores:
        """Scores samples with the fitted estimator.

        Parameters
        ----------
        features : array-like of shape (n_samples, dim)
        labels : array-like of shape (n_samples,)
            Each among the fitted labels.
        use_projected_features : bool, default False
            Accepted for compatibility with ``psmi``; has no effect.

        Returns
        -------
        PsmiScores
            As :meth:`fit_transform`.

        Raises
        ------
        RuntimeError
            If the estimator is not fitted.
        ValueError
            Naming the argument and the row or label at fault (a label not
            seen at fit, a wrong number of columns, a NaN...).
        """
        if not self._fitted:
            raise RuntimeError(
                "You are trying to transform from a PSMI estimator which is not fitted."
            )
        assert self.model_ is not None
        return self.model_.transform(features, labels, full=self.full)

    def _native_estimator(self, seed: int) -> "_native.Estimator":
        """The validated options, with the seed drawn for this fit (shared
        with the distributed drivers ``psmi_rs.dask`` and ``psmi_rs.spark``)."""
        return _native.Estimator(
            None if self.n_estimators is None else _whole("n_estimators", self.n_estimators, 1),
            _whole("min_n_estimators", self.min_n_estimators, 1),
            self.lowest_psmi_quantile,
            self.max_variation_of_the_lowest,
            self.milestone,
            _whole("max_n_estimators", self.max_n_estimators, 1),
            seed,
            _inputs.threads(self.n_jobs),
            self.directions,
            None if self.frame_size is None else _whole("frame_size", self.frame_size, 1),
            None if self.target_error is None else float(self.target_error),
            self.precision,
        )

    def _check_unfitted(self) -> None:
        if self._fitted:
            raise RuntimeError("You are trying to fit a PSMI estimator which is already fitted.")

    def _fit(self, features: Any, labels: Any, transform: bool) -> Any:
        auto = self.n_estimators is None
        seed = _inputs.seed(self.random_state)
        estimator = self._native_estimator(seed)
        x = _inputs.features(features)
        y, label_type = _inputs.labels(labels, x.shape[0])
        if transform:
            native, scores = estimator.fit_transform(x, y, self.full)
        else:
            native, scores = estimator.fit(x, y), None
        self.model_ = PsmiModel(native, self.n_jobs)
        self.seed_ = seed
        self._label_type = label_type
        if auto:
            self.n_estimators = native.n_estimators
        self._fitted = True
        return None if scores is None else _scores(scores, native.n_estimators)

    # ------------------------------------------------------ fitted attributes

    @property
    def fitted(self) -> bool:
        """Whether the estimator has been fitted."""
        return self._fitted

    @property
    def thetas(self) -> Optional[np.ndarray]:
        """The directions, of shape (n_estimators, dim); None before fit."""
        if self.model_ is None:
            return None
        if self._thetas is None:
            self._thetas = self.model_.directions
        return self._thetas

    def _labels_and_parameters(self) -> Optional[tuple]:
        if self.model_ is None:
            return None
        if self._per_label is None:
            model = self.model_
            keys = [self._label_type(label) for label in model.labels]
            self._per_label = (
                {k: float(f) for k, f in zip(keys, model.frequency)},
                dict(zip(keys, model.mean)),
                dict(zip(keys, model.std)),
            )
        return self._per_label

    @property
    def frequency_per_label(self) -> Optional[Dict[Any, float]]:
        """``{label: frequency}``; None before fit."""
        per_label = self._labels_and_parameters()
        return None if per_label is None else per_label[0]

    @property
    def mean_per_label(self) -> Optional[Dict[Any, np.ndarray]]:
        """``{label: mean along each direction, shape (n_estimators,)}``; None before fit."""
        per_label = self._labels_and_parameters()
        return None if per_label is None else per_label[1]

    @property
    def std_per_label(self) -> Optional[Dict[Any, np.ndarray]]:
        """``{label: population std along each direction, shape (n_estimators,)}``; None before fit."""
        per_label = self._labels_and_parameters()
        return None if per_label is None else per_label[2]

    @property
    def saved_projected_features(self) -> None:
        """Always None: projections are not kept (compatibility with ``psmi``)."""
        return None

    def __repr__(self) -> str:
        n = "auto" if self.n_estimators is None else self.n_estimators
        return (
            f"PSMI(n_estimators={n!r}, min_n_estimators={self.min_n_estimators}, "
            f"random_state={self.random_state!r}, n_jobs={self.n_jobs!r}, full={self.full})"
        )
