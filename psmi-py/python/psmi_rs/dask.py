"""PSMI of a data set held as a Dask array: ``psmi_rs.dask.fit_transform``.

Needs the ``dask`` extra (``pip install './psmi-py[dask]'``). Runs on
whatever scheduler is active: a ``distributed.Client`` (``LocalCluster``,
dask-jobqueue's ``SLURMCluster``...) or Dask's local threads.
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple, TypeVar

import dask
import dask.array as da
import numpy as np

from . import _distributed
from ._model import PsmiFitter, PsmiModel

__all__ = ["fit_transform"]

T = TypeVar("T")


def fit_transform(X: Any, y: Any, **options: Any) -> Tuple[PsmiModel, "da.Array", "da.Array"]:
    """Fits PSMI on a Dask array and scores every sample, partition by partition.

    Each row chunk of ``X`` is fitted into a :class:`~psmi_rs.PsmiFitter` on
    the workers, which keep the chunk's projections on the directions (4·m
    bytes a row); the fitters are merged in a fixed tree by chunk index and
    the model (a seed and k × m parameters) goes back to every chunk to score
    it from those projections, so that the features are projected once. In
    fixed mode the projections stay on the workers as long as the returned
    ``mean`` and ``std`` are referenced. In auto mode this runs once per block
    of ``min_n_estimators`` directions (each block projected once), and the
    scores of the joined model project the features again; only each
    chunk's candidates for the stopping rule (at most its lowest
    ``lowest_psmi_quantile · n`` samples: two floats each) come back to the
    client. With ``target_error``, each chunk keeps its
    samples' moments and frame means on the cluster (64 bytes a sample) and
    sends two sums per block, then its candidates with their standard
    errors, so that the run stops where ``PSMI(target_error=...)`` does.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, dim)
        Chunked by rows (any number of row chunks; columns are joined into
        one chunk if they are split). Numpy arrays are accepted as one chunk.
    y : dask.array.Array or array-like of shape (n_samples,)
        Integer labels; rechunked like the rows of ``X``.
    **options
        :class:`~psmi_rs.PSMI`'s options (``n_estimators``, auto mode's
        options, ``random_state``, ``n_jobs`` for the threads of each task...),
        except ``full``: the n × m matrix is not computed.

    Returns
    -------
    model : PsmiModel
        The fitted model, on the client; ``model.seed`` is the seed used.
    mean, std : dask.array.Array of float64, shape (n_samples,)
        Each sample's mean and std of PSMI over the directions, chunked like
        the rows of ``X``, not computed yet: they stay on the cluster until
        asked for.

    Raises
    ------
    ValueError
        As ``PSMI.fit_transform``, naming the label, option or global row at
        fault (a NaN in any chunk names its row in the whole of ``X``).

    Notes
    -----
    For a given ``random_state`` the numbers do not depend on the number of
    workers or the order in which partitions finish (the merge tree is fixed
    by partition index). Compared with ``PSMI(...).fit_transform`` on one
    machine: the same directions, labels and frequencies; class means and
    stds within 1e-12 (relative), as partition statistics are merged over
    other groups of rows, which changes the last bits of float64 sums; and
    per-sample mean and std within 1e-6, as the float32 scores may see a
    statistic round to the neighbouring float32. See ``psmi_rs._distributed``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from psmi_rs import PSMI
    >>> import psmi_rs.dask
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(1000, 8)), np.arange(1000) % 3
    >>> model, mean, std = psmi_rs.dask.fit_transform(
    ...     da.from_array(X, chunks=(300, 8)), y, n_estimators=64, random_state=1)
    >>> one = PSMI(n_estimators=64, random_state=1).fit_transform(X, y)
    >>> bool(np.allclose(mean.compute(), one.mean, rtol=1e-6, atol=1e-6))
    True
    """
    plan = _distributed.Plan(options)
    x = da.asarray(X)
    if x.ndim != 2:
        raise ValueError(
            f"X: incompatible shape {x.shape}; features should be (n_samples, dim)"
        )
    if x.numblocks[1] != 1:
        x = x.rechunk({1: -1})
    rows = x.chunks[0]
    n, dim = x.shape
    labels = y if isinstance(y, da.Array) else da.from_array(np.asarray(y), chunks=-1)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"y: {labels.shape} labels for {n} rows of X; expected ({n},)")
    labels = labels.rechunk((rows,))
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).tolist()
    # Chunks of no rows hold nothing to fit or score.
    parts = [
        (xp, yp, int(first), r)
        for xp, yp, first, r in zip(x.to_delayed().ravel(), labels.to_delayed().ravel(), offsets, rows)
        if r > 0
    ]
    if not parts:
        raise ValueError("X: no rows")

    # Each chunk's fitter and projections on the directions of the last
    # fit, kept on the workers until the chunk is scored from them.
    kept: List[Any] = []

    def fit(template: PsmiFitter) -> PsmiModel:
        fitted = dask.persist(
            *[dask.delayed(_distributed.fit_part_keeping)(template, xp, yp, first) for xp, yp, first, _ in parts]
        )
        kept[:] = [f[1] for f in fitted]
        root = _distributed.tree([f[0] for f in fitted], dask.delayed(_distributed.merged))
        return root.compute().finish()

    def scores(model: PsmiModel) -> Tuple[da.Array, da.Array]:
        shared = dask.delayed(model)
        means: List[da.Array] = []
        stds: List[da.Array] = []
        for i, (xp, yp, first, r) in enumerate(parts):
            if kept:
                task = dask.delayed(_distributed.score_kept, nout=2)(shared, kept[i], yp)
            else:
                task = dask.delayed(_distributed.score_part, nout=2)(shared, xp, yp, first)
            means.append(da.from_delayed(task[0], shape=(r,), dtype=np.float64))
            stds.append(da.from_delayed(task[1], shape=(r,), dtype=np.float64))
        return da.concatenate(means), da.concatenate(stds)

    if not plan.auto:
        model = fit(plan.fitter(dim, n))
    else:
        sums: List[da.Array] = []
        # With a target error: each chunk's running errors, kept on the cluster.
        errors = [dask.delayed(plan.running_errors(dim, n)) for _ in parts] if plan.target_error else []
        scored = 0

        def add_block(block: PsmiModel) -> None:
            nonlocal scored
            if plan.target_error:
                shared, first_direction = dask.delayed(block), scored
                scored += block.n_estimators
                errors[:] = dask.persist(
                    *[
                        dask.delayed(_distributed.errors_part)(e, shared, z, yp, first_direction)
                        for e, z, (_, yp, _, _) in zip(errors, kept, parts)
                    ]
                )
                return
            mean, _ = scores(block)
            sums.append((mean if not sums else sums[-1] + mean).persist())

        def candidates(blocks: int, half_blocks: int, watched: int) -> List[Tuple[np.ndarray, np.ndarray]]:
            full, half = sums[blocks - 1].to_delayed(), sums[half_blocks - 1].to_delayed()
            lowest = dask.delayed(_distributed.lowest)
            return list(dask.compute(*[lowest(f, h, blocks, half_blocks, watched) for f, h in zip(full, half)]))

        def spread(f: Callable[[bytes], T]) -> List[T]:
            return list(dask.compute(*[dask.delayed(f)(e) for e in errors]))

        model = _distributed.run_auto(plan, dim, n, fit, add_block, candidates, spread)
        # The joined model's directions are those of every block, of which
        # only the last one's projections are kept: score the features.
        kept[:] = []
    mean, std = scores(model)
    return model, mean, std
