"""Fitted models, streaming fitters and their results."""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _inputs, _native


class PsmiScores(tuple):
    """PSMI of every sample: the tuple ``(mean, std, full)`` of ``psmi.PSMI``,
    with more attributes.

    Unpacks as ``mean, std, full = scores``, as the package's results do.

    Attributes
    ----------
    mean : numpy.ndarray of float64, shape (n_samples,)
        Mean PSMI of each sample over the directions.
    std : numpy.ndarray of float64, shape (n_samples,)
        Population standard deviation (ddof = 0) of each sample's PSMI over
        the directions.
    full : numpy.ndarray of float32, shape (n_samples, n_estimators), or None
        PSMI of every sample along every direction; None when it was not
        asked for (``full=False``).
    n_estimators : int
        Number of directions m.
    smi : float
        Sliced mutual information of the data set: the mean PSMI over
        samples (summed in sample order, so independent of threads).
    stderr : numpy.ndarray of float64, shape (n_samples,)
        Standard error of each sample's mean over the directions, right for
        the scheme they were drawn in (the library's ``PsmiScores::stderr``):
        ``std / sqrt(n_estimators)`` for i.i.d. directions, smaller for
        orthonormal frames by the design effect pooled over the samples.
        Nominal 95 % intervals are ``mean ± 1.96 * stderr``.
    smi_stderr : float
        Standard error of ``smi``: the samples' share and the directions'.

    Examples
    --------
    >>> import numpy as np
    >>> from psmi_rs import PSMI
    >>> X = np.array([[0.0, 0.1], [0.3, 0.2], [5.0, 5.2], [5.1, 4.9]])
    >>> scores = PSMI(n_estimators=50, random_state=0).fit_transform(X, [0, 0, 1, 1])
    >>> mean, std, full = scores
    >>> full.shape, scores.stderr.shape
    ((4, 50), (4,))
    >>> iid = PSMI(n_estimators=64, random_state=0, directions="iid").fit_transform(X, [0, 0, 1, 1])
    >>> bool(np.allclose(iid.stderr, iid.std / 8.0, rtol=1e-15))
    True
    >>> bool(scores.smi <= np.log(2) + 1e-6)
    True
    """

    n_estimators: int
    smi: float
    smi_stderr: float

    def __new__(
        cls,
        mean: np.ndarray,
        std: np.ndarray,
        full: Optional[np.ndarray],
        n_estimators: int,
        smi: float,
        stderr: np.ndarray,
        smi_stderr: float,
    ) -> "PsmiScores":
        scores = super().__new__(cls, (mean, std, full))
        scores.n_estimators = n_estimators
        scores.smi = smi
        scores._stderr = stderr
        scores.smi_stderr = smi_stderr
        return scores

    @property
    def mean(self) -> np.ndarray:  # type: ignore[override]
        """Mean PSMI of each sample over the directions."""
        return self[0]

    @property
    def std(self) -> np.ndarray:  # type: ignore[override]
        """Population std of each sample's PSMI over the directions."""
        return self[1]

    @property
    def full(self) -> Optional[np.ndarray]:  # type: ignore[override]
        """The n_samples × n_estimators matrix, or None."""
        return self[2]

    @property
    def stderr(self) -> np.ndarray:
        """Standard error of each sample's mean, right for the scheme of
        directions (the library's)."""
        return self._stderr

    def __getnewargs__(self) -> Tuple[Any, ...]:
        return (
            self[0], self[1], self[2], self.n_estimators, self.smi, self._stderr, self.smi_stderr
        )

    def __repr__(self) -> str:
        full = "None" if self[2] is None else f"array of shape {self[2].shape}"
        return (
            f"PsmiScores(n_samples={len(self[0])}, n_estimators={self.n_estimators}, "
            f"smi={self.smi:.6g}, full={full})"
        )


def _scores(
    native: Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], float, np.ndarray, float], m: int
) -> PsmiScores:
    mean, std, full, smi, stderr, smi_stderr = native
    return PsmiScores(mean, std, full, m, smi, stderr, smi_stderr)


class PsmiModel:
    """A fitted PSMI estimator: m directions and a Gaussian per class along each.

    Obtained from :attr:`PSMI.model_`, :meth:`PsmiFitter.finish` or
    :meth:`PsmiModel.load`. It pickles cheaply: a model drawn from a seed is
    sent as its seed and its k × m class parameters, and draws its
    directions again where it arrives.

    Attributes
    ----------
    n_estimators : int
        Number of directions m.
    dim : int
        Dimension d of the features.
    seed : int or None
        Seed of the directions; None when they were given explicitly.
    labels : numpy.ndarray of int64, shape (k,)
        The fitted labels, sorted.
    frequency : numpy.ndarray of float64, shape (k,)
        Frequency of each label, in the order of ``labels``.
    mean, std : numpy.ndarray of float64, shape (k, n_estimators)
        Mean and population std of each label's projections along each direction.
    directions : numpy.ndarray of float32, shape (n_estimators, dim)
        The unit directions (the package's ``thetas``).
    precision : str
        Arithmetic of the projection, ``"f32"`` or ``"bf16"`` (as fitted;
        :meth:`transform` and saved models project alike).
    auto_report : dict or None
        After auto mode: ``blocks`` drawn, last ``variation`` of the lowest
        samples, and whether it ``converged`` before ``max_n_estimators``.
    n_jobs : int or None
        Threads used by :meth:`transform` (scikit-learn's meaning; settable).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from psmi_rs import PSMI, PsmiModel
    >>> X = np.array([[0.0, 0.1], [0.3, 0.2], [5.0, 5.2], [5.1, 4.9]])
    >>> model = PSMI(n_estimators=20, random_state=1).fit(X, [0, 0, 1, 1]).model_
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model.save(path)
    >>> again = PsmiModel.load(path).transform(X, [0, 0, 1, 1])
    >>> bool(np.array_equal(again.mean, model.transform(X, [0, 0, 1, 1]).mean))
    True
    """

    def __init__(self, native: "_native.Model", n_jobs: Optional[int] = None) -> None:
        self._native = native
        self._n_jobs = n_jobs

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "PsmiModel":
        """Reads a model file written by :meth:`save` or by the ``psmi`` program.

        Parameters
        ----------
        path : str or path-like
            The safetensors file.

        Returns
        -------
        PsmiModel

        Raises
        ------
        OSError
            If the file cannot be read.
        ValueError
            If it is not a PSMI model; the message names the tensor at fault.
        """
        return cls(_native.Model.load(os.fspath(path)))

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the model as a safetensors file, whole or not at all.

        The file holds ``directions`` F32 [m, d], ``labels`` I64 [k],
        ``frequency`` F64 [k], ``mean`` and ``std`` F64 [k, m], and is the
        ``psmi`` program's ``--model`` file (readable with
        ``safetensors.numpy.load_file``).

        Parameters
        ----------
        path : str or path-like
        """
        self._native.save(os.fspath(path))

    def transform(self, X: Any, y: Any, full: bool = False) -> PsmiScores:
        """Scores samples along the model's directions.

        Parameters
        ----------
        X : array-like of shape (n_samples, dim)
            Features (see :class:`PSMI` for what is accepted).
        y : array-like of shape (n_samples,)
            Labels, each among the fitted ones.
        full : bool, default False
            Also return the n_samples × n_estimators matrix.

        Returns
        -------
        PsmiScores
            ``(mean, std, full)``, with ``stderr`` and ``smi``.

        Raises
        ------
        ValueError
            Naming the argument and the row or label at fault: wrong shapes,
            non-finite features, a label not seen at fit.

        Notes
        -----
        The mixture in the denominator sums over every fitted label; the
        package sums over the labels present in ``y``. The two agree whenever
        ``y`` holds every fitted label.
        """
        x = _inputs.features(X)
        labels, _ = _inputs.labels(y, x.shape[0])
        return _scores(self._native.transform(x, labels, bool(full)), self.n_estimators)

    def quantiles(self, X: Any, y: Any, levels: Sequence[float]) -> np.ndarray:
        """Each sample's exact quantiles of PSMI over the model's directions.

        As ``np.quantile(full, levels, axis=1).T`` (numpy's default linear
        method) of the n_samples × n_estimators matrix, without building
        that matrix: rows are scored in chunks along every direction, one
        more pass over the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, dim)
        y : array-like of shape (n_samples,)
            Labels, each among the fitted ones.
        levels : sequence of float
            Quantile levels, each in (0, 1).

        Returns
        -------
        numpy.ndarray of float64, shape (n_samples, len(levels))

        Raises
        ------
        ValueError
            For a level outside (0, 1), and as :meth:`transform`.

        Examples
        --------
        >>> import numpy as np
        >>> from psmi_rs import PSMI
        >>> X = np.array([[0.0, 0.1], [0.3, 0.2], [0.2, 0.0], [5.0, 5.2], [5.1, 4.9], [4.8, 5.0]])
        >>> y = [0, 0, 0, 1, 1, 1]
        >>> est = PSMI(n_estimators=101, random_state=0)
        >>> mean, std, full = est.fit_transform(X, y)
        >>> q = est.model_.quantiles(X, y, [0.01, 0.5, 0.99])
        >>> bool(np.allclose(q, np.quantile(full.astype(np.float64), [0.01, 0.5, 0.99], axis=1).T))
        True
        """
        x = _inputs.features(X)
        labels, _ = _inputs.labels(y, x.shape[0])
        return self._native.quantiles(x, labels, [float(level) for level in levels])

    @property
    def n_estimators(self) -> int:
        """Number of directions m."""
        return self._native.n_estimators

    @property
    def dim(self) -> int:
        """Dimension d of the features."""
        return self._native.dim

    @property
    def seed(self) -> Optional[int]:
        """Seed of the directions, or None for directions given explicitly."""
        return self._native.seed

    @property
    def precision(self) -> str:
        """Arithmetic of the projection: ``"f32"`` or ``"bf16"``."""
        return self._native.precision

    @property
    def directions_scheme(self) -> Tuple[str, Optional[int]]:
        """How the directions are drawn: ``("iid", None)`` or ``("orthogonal", frame_size)``."""
        return self._native.scheme

    @property
    def labels(self) -> np.ndarray:
        """The fitted labels, sorted (int64)."""
        return self._native.labels

    @property
    def frequency(self) -> np.ndarray:
        """Frequency of each label, in the order of :attr:`labels`."""
        return self._native.frequency

    @property
    def mean(self) -> np.ndarray:
        """Mean of each label along each direction, (k, n_estimators)."""
        return self._native.mean

    @property
    def std(self) -> np.ndarray:
        """Population std of each label along each direction, (k, n_estimators)."""
        return self._native.std

    @property
    def directions(self) -> np.ndarray:
        """The unit directions, float32 of shape (n_estimators, dim)."""
        return self._native.directions

    @property
    def auto_report(self) -> Optional[dict]:
        """How auto mode ended (``blocks``, ``variation``, ``converged``), or None."""
        report = self._native.auto_report
        if report is None:
            return None
        blocks, variation, converged = report
        return {"blocks": blocks, "variation": variation, "converged": converged}

    @property
    def n_jobs(self) -> Optional[int]:
        """Threads used by :meth:`transform` (None: all cores)."""
        return self._n_jobs

    @n_jobs.setter
    def n_jobs(self, n_jobs: Optional[int]) -> None:
        threads = _inputs.threads(n_jobs)
        self._native.set_threads(_inputs.cores() if threads is None else threads)
        self._n_jobs = n_jobs

    def __getstate__(self) -> dict:
        return {"model": self._native.to_bytes(), "n_jobs": self._n_jobs}

    def __setstate__(self, state: dict) -> None:
        self._native = _native.Model.from_bytes(state["model"])
        self._n_jobs = None
        self.n_jobs = state["n_jobs"]

    def __repr__(self) -> str:
        return (
            f"PsmiModel(n_estimators={self.n_estimators}, dim={self.dim}, "
            f"labels={len(self._native.labels)}, seed={self.seed})"
        )


class PsmiFitter:
    """Fits a PSMI model from data that arrives in chunks, or lives in
    several processes or machines.

    :meth:`update` adds a chunk of samples, :meth:`merge` adds another
    fitter's samples, :meth:`finish` gives the :class:`PsmiModel`. Memory is
    O(n_estimators × (dim + k)) whatever the number of samples. A fitter
    pickles: partial fits travel between processes and merge at the other
    end into the same model as one fit over all rows (up to rounding).
    Fitters merge only over the same directions: give them the same
    ``random_state``, or make one and send copies of it.

    Parameters
    ----------
    dim : int
        Dimension of the features.
    n_estimators : int, default 500
        Number of directions (a streaming fit cannot use auto mode).
    random_state : int or None, default None
        Seed of the directions; None draws a fresh one (see :attr:`seed`).
    n_jobs : int or None, default None
        Threads, as in scikit-learn: None or -1 all cores, -2 all but one.
    directions : {"orthogonal", "iid"}, default "orthogonal"
        As :class:`PSMI`'s. The number of samples is not known to a
        fitter: orthonormal frames span the whole dimension unless
        ``frame_size`` is given.
    frame_size : int or None, default None
        Rows per orthonormal frame, at most ``dim``.
    precision : {"f32", "bf16"}, default "f32"
        As :class:`PSMI`'s. Fitters merge only with the same precision.

    Examples
    --------
    >>> import numpy as np, pickle
    >>> from psmi_rs import PsmiFitter
    >>> X = np.array([[0.0, 0.1], [5.0, 5.2], [0.3, 0.2], [5.1, 4.9]])
    >>> a = PsmiFitter(2, n_estimators=32, random_state=7).update(X[:2], [0, 1])
    >>> b = PsmiFitter(2, n_estimators=32, random_state=7).update(X[2:], [0, 1])
    >>> model = a.merge(pickle.loads(pickle.dumps(b))).finish()  # b, sent elsewhere and back
    >>> a.samples, model.labels.tolist()
    (4, [0, 1])
    """

    def __init__(
        self,
        dim: int,
        n_estimators: int = 500,
        *,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = None,
        directions: str = _native.DEFAULT_DIRECTIONS,
        frame_size: Optional[int] = None,
        precision: str = "f32",
    ) -> None:
        threads = _inputs.threads(n_jobs)
        if isinstance(n_estimators, bool) or not isinstance(n_estimators, (int, np.integer)) or n_estimators < 1:
            raise ValueError(
                f"n_estimators = {n_estimators!r}: a streaming fit needs a whole number ≥ 1"
            )
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim = {dim!r}: expected a whole number ≥ 1")
        if frame_size is not None and (
            isinstance(frame_size, bool) or not isinstance(frame_size, (int, np.integer)) or frame_size < 1
        ):
            raise ValueError(f"frame_size = {frame_size!r}: expected a whole number ≥ 1")
        self._native = _native.Fitter(
            int(dim),
            int(n_estimators),
            _inputs.seed(random_state),
            threads,
            directions,
            None if frame_size is None else int(frame_size),
            precision,
        )
        self._n_jobs = n_jobs

    @classmethod
    def _wrap(cls, native: "_native.Fitter", n_jobs: Optional[int]) -> "PsmiFitter":
        """A fitter around a native one made elsewhere (the distributed drivers)."""
        fitter = cls.__new__(cls)
        fitter._native = native
        fitter._n_jobs = n_jobs
        return fitter

    def update(self, X: Any, y: Any) -> "PsmiFitter":
        """Adds a chunk of samples; on error the fitter is unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, dim)
        y : array-like of shape (n_samples,)

        Returns
        -------
        PsmiFitter
            ``self``.
        """
        x = _inputs.features(X)
        labels, _ = _inputs.labels(y, x.shape[0])
        self._native.update(x, labels)
        return self

    def merge(self, other: "PsmiFitter") -> "PsmiFitter":
        """Adds the samples of another fitter over the same directions.

        Returns
        -------
        PsmiFitter
            ``self``.

        Raises
        ------
        ValueError
            If the two fitters' directions differ (seed, number or dimension).
        """
        if not isinstance(other, PsmiFitter):
            raise TypeError(f"other: expected a PsmiFitter, got {type(other).__name__}")
        self._native.merge(other._native)
        return self

    def finish(self) -> PsmiModel:
        """The model of every sample seen so far; the fitter stays usable.

        Raises
        ------
        ValueError
            Before any sample, or if a label has fewer than two samples
            (:class:`TooFewSamplesError`) or no variance along a direction.
        """
        return PsmiModel(self._native.finish(), self._n_jobs)

    @property
    def samples(self) -> int:
        """Number of samples seen so far."""
        return self._native.samples

    @property
    def precision(self) -> str:
        """Arithmetic of the projection: ``"f32"`` or ``"bf16"``."""
        return self._native.precision

    @property
    def n_estimators(self) -> int:
        """Number of directions."""
        return self._native.n_estimators

    @property
    def dim(self) -> int:
        """Dimension of the features."""
        return self._native.dim

    @property
    def seed(self) -> Optional[int]:
        """Seed of the directions (the one drawn when ``random_state`` was None)."""
        return self._native.seed

    def __getstate__(self) -> dict:
        return {"fitter": self._native.to_bytes(), "n_jobs": self._n_jobs}

    def __setstate__(self, state: dict) -> None:
        self._n_jobs = state["n_jobs"]
        self._native = _native.Fitter.from_bytes(state["fitter"], _inputs.threads(self._n_jobs))

    def __repr__(self) -> str:
        return (
            f"PsmiFitter(dim={self.dim}, n_estimators={self.n_estimators}, "
            f"seed={self.seed}, samples={self.samples})"
        )
