"""The study's sweep in memory: :func:`sweep` over runs × layers."""

from __future__ import annotations

from typing import Any, Dict, Hashable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _inputs, _native
from ._estimator import PSMI

#: Columns of the evaluation in the per-layer table, as in the program's layers.csv.
_EVALUATION = ("auroc", "fpr_at_tpr")


class SweepResult(NamedTuple):
    """What :func:`sweep` returns: two tables, pandas DataFrames when pandas
    is installed, else dicts of numpy columns.

    Attributes
    ----------
    scores
        One row per run × layer × sample: the columns of the program's
        ``scores.csv``.
    layers
        One row per run × layer: the columns of the program's ``layers.csv``.
    """

    scores: Any
    layers: Any


def _holds_layers(value: Any) -> bool:
    """Whether a value of ``states`` is a run (layers) rather than one layer."""
    return isinstance(value, (Mapping, list, tuple)) or getattr(value, "ndim", None) == 3


def _layers(states: Any, where: str) -> List[Tuple[Hashable, Any]]:
    """``(layer name, 2-D features)`` of one run, in order."""
    if isinstance(states, Mapping):
        layers = list(states.items())
    elif isinstance(states, (list, tuple)):
        layers = list(enumerate(states))
    elif getattr(states, "ndim", None) == 3:
        layers = [(i, states[i]) for i in range(states.shape[0])]
    elif hasattr(states, "ndim"):
        raise ValueError(
            f"{where}: an array of shape {tuple(states.shape)}; layers are a 3-D array "
            "[layers, samples, dim], a sequence or a mapping of 2-D arrays"
        )
    else:
        raise ValueError(
            f"{where}: a {type(states).__name__}; expected a 3-D array [layers, samples, dim], "
            "a sequence or a mapping of 2-D arrays, or a mapping of runs to any of those"
        )
    if not layers:
        raise ValueError(f"{where}: no layers")
    return layers


def _runs(states: Any) -> List[Tuple[Optional[Hashable], List[Tuple[Hashable, Any]]]]:
    """``(run name or None, its layers)``: a mapping whose values hold layers
    is a mapping of runs; anything else is one run."""
    if isinstance(states, Mapping) and any(_holds_layers(v) for v in states.values()):
        for run, value in states.items():
            if not _holds_layers(value):
                raise ValueError(
                    f"states[{run!r}]: a mapping of runs needs layers in every run "
                    "(a 3-D array, a sequence or a mapping of 2-D arrays); this is one "
                    f"array of {getattr(value, 'ndim', '?')} dimensions"
                )
        return [(run, _layers(value, f"states[{run!r}]")) for run, value in states.items()]
    return [(None, _layers(states, "states"))]


def _name(run: Optional[Hashable], layer: Hashable) -> str:
    return f"layer {layer!r}" if run is None else f"run {run!r}, layer {layer!r}"


def _labels(y: Any, runs: Sequence[Optional[Hashable]]) -> List[np.ndarray]:
    """Each run's labels: ``y`` for all, or ``y[run]`` when ``y`` maps runs."""
    if isinstance(y, Mapping):
        missing = [run for run in runs if run not in y]
        if missing:
            raise ValueError(f"y: no labels for run {missing[0]!r}")
        return [_inputs.labels(y[run], None, name=f"y[{run!r}]")[0] for run in runs]
    labels = _inputs.labels(y, None)[0]
    return [labels] * len(runs)


def _table(columns: Dict[str, np.ndarray]) -> Any:
    try:
        import pandas
    except ImportError:
        return columns
    return pandas.DataFrame(columns)


def _column(name: str, parts: List[np.ndarray]) -> Tuple[str, np.ndarray]:
    return name, np.concatenate(parts)


def sweep(
    states: Any,
    y: Any,
    *,
    quantiles: Sequence[float] = (),
    against: Any = None,
    tpr: float = 0.75,
    **options: Any,
) -> SweepResult:
    """PSMI of every sample at every layer of every run (checkpoint), with
    the statistics the ``psmi`` program's sweep keeps, and how well low PSMI
    picks out the samples ``against`` marks.

    Every layer is fitted and scored as :meth:`PSMI.fit_transform` would
    with the same options, and with one seed for the whole sweep: layers of
    one dimension are projected on the same directions in every run, and
    the numbers equal the program's ``psmi fit-transform --runs ...`` with
    ``--seed`` the same ``random_state``.

    Parameters
    ----------
    states
        A 3-D array or tensor [layers, samples, dim] (layers named 0, 1, ...);
        a sequence of 2-D arrays or tensors (a model's hidden states, once a
        token is picked); a mapping from layer name to 2-D array; or a mapping
        from run name to any of those. Arrays as :class:`PSMI` takes them:
        float16/32/64 and ``ml_dtypes`` bfloat16 arrays, torch tensors of any
        float type (those that require grad are read without autograd). In a
        mapping of layers, give each layer as an array or tensor (a list there
        is read as a run's sequence of layers). Runs keep the mapping's
        order; the first is the reference of ``delta_mean``.
    y : array-like of shape (n_samples,), or a mapping from run to one
        Integer labels, the same for every run (checked row by row).
    quantiles : sequence of float, default ()
        Levels in (0, 1) of each sample's quantiles over the directions
        (numpy's linear interpolation), one column ``q<level>`` each.
    against : array-like of shape (n_samples,), or None
        Samples expected to score low (memorised, relabelled): 1 or True,
        others 0 or False. Adds each layer's AUROC of −mean and false-positive
        rate at ``tpr``, with 95 % Wilson intervals.
    tpr : float, default 0.75
        The true-positive rate of ``fpr_at_tpr``, in (0, 1].
    **options
        :class:`PSMI`'s options (``n_estimators``, ``random_state``,
        ``n_jobs``, ``directions``...), except ``full``. ``random_state``
        None draws one seed for the whole sweep.

    Returns
    -------
    SweepResult
        ``(scores, layers)``: pandas DataFrames when pandas is installed
        (``pip install psmi_rs[pandas]``), else dicts of numpy columns.

        ``scores``, one row per run × layer × sample: ``run`` (None without
        runs), ``layer``, ``index`` (the sample's row in ``y``), ``file`` and
        ``row`` (where the program reads the sample; in memory ``file`` is
        ``""`` and ``row`` is ``index``), ``label``, ``mean``, ``std``
        (population, over the directions), ``stderr`` (the mean's standard
        error, right for the direction scheme: see ``PsmiScores.stderr``),
        one ``q<level>`` per quantile, and ``delta_mean`` (this run's mean
        minus the first run's, same layer and sample).

        ``layers``, one row per run × layer: ``run``, ``layer``, ``dim``,
        ``n_estimators``, ``converged`` (None in fixed mode), ``smi`` (the
        mean PSMI over samples), ``smi_stderr``, and with ``against``:
        ``auroc``, ``auroc_low``, ``auroc_high``, ``fpr_at_tpr``,
        ``fpr_at_tpr_low``, ``fpr_at_tpr_high``.

    Raises
    ------
    ValueError
        Before any work, naming the run and layer: a run lacking a layer
        another has, runs with different samples or labels, a layer whose
        rows are not one per label, an array of the wrong dimensions,
        ``against`` of the wrong length or not 0/1, a bad option; then, as
        :meth:`PSMI.fit_transform` does, bad values, named with their run and
        layer.

    Examples
    --------
    >>> import numpy as np
    >>> import psmi_rs
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> memorised = (np.arange(100) < 10).astype(int)
    >>> label_sign = np.where(y == 1, 1.0, -1.0) * np.where(memorised == 1, -1.0, 1.0)
    >>> def checkpoint(shift):
    ...     signal = (shift * label_sign)[None, :, None]
    ...     return (signal + rng.normal(size=(3, 100, 8))).astype(np.float32)  # 3 layers
    >>> states = {"ckpt-100": checkpoint(1.0), "ckpt-200": checkpoint(2.0)}
    >>> scores, layers = psmi_rs.sweep(states, y, quantiles=(0.01, 0.99), against=memorised,
    ...                                n_estimators=200, random_state=0)
    >>> list(scores.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['run', 'layer', 'index', 'file', 'row', 'label', 'mean', 'std', 'stderr',
     'q0.01', 'q0.99', 'delta_mean']
    >>> len(scores), len(layers)
    (600, 6)
    >>> best = layers.loc[layers.auroc.idxmax()]
    >>> bool(best.auroc > 0.9)
    True
    """
    if "full" in options:
        raise ValueError("invalid option `full`: a sweep keeps no n × m matrix")
    estimator = PSMI(**options)
    seed = _inputs.seed(estimator.random_state)
    native = estimator._native_estimator(seed)
    levels = [float(q) for q in quantiles]
    runs = _runs(states)
    _native.sweep_check_layers(
        [(str(run), [str(layer) for layer, _ in layers]) for run, layers in runs]
    )
    labels = _labels(y, [run for run, _ in runs])
    first_run = str(runs[0][0])
    for (run, layers), run_labels in zip(runs, labels):
        _native.sweep_check_samples((first_run, labels[0]), (str(run), run_labels))
        for layer, x in layers:
            shape = getattr(x, "shape", None)
            if shape is not None and len(shape) != 2:
                raise ValueError(
                    f"{_name(run, layer)}: X: incompatible shape {tuple(shape)}; "
                    "a layer should be (n_samples, dim)"
                )
            rows = len(x)
            if rows != len(run_labels):
                raise ValueError(
                    f"{_name(run, layer)}: {rows} samples for {len(run_labels)} labels in y"
                )
    n = len(labels[0])
    target = None
    if against is not None:
        values = _inputs.labels(against, None, name="against")[0]
        target = _native.evaluation_target(values, n, float(tpr))

    scores: Dict[str, List[np.ndarray]] = {}
    table: Dict[str, List[Any]] = {}
    first_means: Dict[Hashable, np.ndarray] = {}
    for (run, layers), run_labels in zip(runs, labels):
        for layer, raw in layers:
            name = _name(run, layer)
            x = _inputs.features(raw, name=f"{name}: X")
            try:
                model, (mean, std, stderr, q, smi, smi_stderr) = native.score_layer(
                    x, run_labels, levels
                )
            except ValueError as e:
                raise type(e)(f"{name}: {e}") from None
            del x
            first = first_means.setdefault(layer, mean)
            delta = _native.sweep_delta_mean(mean, first)
            report = model.auto_report
            row = {
                "run": run,
                "layer": layer,
                "dim": model.dim,
                "n_estimators": model.n_estimators,
                "converged": None if report is None else report[2],
                "smi": smi,
                "smi_stderr": smi_stderr,
            }
            if target is not None:
                auroc, fpr, _, _ = _native.evaluation(mean, target, float(tpr))
                for column, (value, low, high) in zip(_EVALUATION, (auroc, fpr)):
                    row.update({column: value, f"{column}_low": low, f"{column}_high": high})
            for column, value in row.items():
                table.setdefault(column, []).append(value)
            samples = {
                "run": np.full(n, run, dtype=object),
                "layer": np.full(n, layer, dtype=object),
                "index": np.arange(n),
                "file": np.full(n, "", dtype=object),
                "row": np.arange(n),
                "label": run_labels,
                "mean": mean,
                "std": std,
                "stderr": stderr,
            }
            for j, level in enumerate(levels):
                samples[f"q{np.format_float_positional(level)}"] = q[:, j]
            samples["delta_mean"] = delta
            for column, values in samples.items():
                scores.setdefault(column, []).append(values)
    return SweepResult(
        _table(dict(_column(c, parts) for c, parts in scores.items())),
        _table({c: np.array(values, dtype=object if c in ("run", "layer", "converged") else None)
                for c, values in table.items()}),
    )
