"""What the Dask and Spark drivers share: the plan of a distributed fit, the
work done on one partition, the fixed merge tree and auto mode's loop.

An engine supplies three operations (fit a block over all partitions, score
the partitions with a model, gather each partition's candidates for the
stopping rule); everything that decides the numbers is here, so both engines
give the same ones.

Numbers: the directions, labels and frequencies are those of the
one-machine run bit for bit. The class means and stds are within 1e-12
(relative) of them, and equal only with one partition: partition statistics merge exactly in real
arithmetic (Chan et al.) but a different grouping of rows than one machine's
(chunks of 256 rows in at most 64 groups of the whole data set, which no
partitioning can reproduce unless it falls on those groups) changes the last
bits of float64 sums. The scores are float32 computed from a float32 table
of those statistics, so where one of them rounds to the neighbouring
float32, that direction's scores move by about one float32 ulp: per-sample
means and stds agree within 1e-6 (seen: 2e-8), most of them bit for bit.
For a given partitioning, the result is bit for bit the same whatever the
number of workers or the order in which partitions finish: partitions are
merged in a fixed tree by partition index.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

import numpy as np

from . import _inputs
from ._estimator import PSMI
from ._model import PsmiFitter, PsmiModel

T = TypeVar("T")


class Plan:
    """The validated options of a distributed fit, and the seed drawn for it."""

    def __init__(self, options: dict) -> None:
        if options.get("full"):
            raise ValueError(
                "invalid option `full` = True: a distributed fit returns the mean and std only"
            )
        options = {k: v for k, v in options.items() if k != "full"}
        try:
            self.psmi = PSMI(**options, full=False)
        except TypeError as e:
            raise ValueError(f"invalid options: {e}") from None
        self.seed = _inputs.seed(self.psmi.random_state)
        self.native = self.psmi._native_estimator(self.seed)
        self.n_jobs = self.psmi.n_jobs
        self.auto = self.psmi.n_estimators is None

    def fitter(self, dim: int, n: int) -> PsmiFitter:
        """An empty fitter over all the directions (fixed mode), for ``n`` rows
        in all (which size orthonormal frames as on one machine)."""
        return PsmiFitter._wrap(self.native.fitter(dim, n), self.n_jobs)

    def block_fitter(self, dim: int, n: int, first: int, count: int) -> PsmiFitter:
        """An empty fitter over directions ``first .. first + count`` (auto mode)."""
        return PsmiFitter._wrap(self.native.block_fitter(dim, n, first, count), self.n_jobs)


def fit_part(template: PsmiFitter, x: Any, y: Any, first_row: int) -> PsmiFitter:
    """A copy of ``template`` updated with one partition starting at global
    row ``first_row``. The template is never changed, so a retried task
    starts again from nothing."""
    return update(pickle.loads(pickle.dumps(template)), x, y, first_row)


def update(fitter: PsmiFitter, x: Any, y: Any, first_row: int) -> PsmiFitter:
    """``fitter`` updated in place with rows starting at global row ``first_row``."""
    features = _inputs.features(x)
    labels, _ = _inputs.labels(y, features.shape[0])
    fitter._native.update(features, labels, int(first_row))
    return fitter


def merged(a: PsmiFitter, b: PsmiFitter) -> PsmiFitter:
    """A new fitter holding the samples of ``a`` then ``b`` (inputs unchanged)."""
    out = pickle.loads(pickle.dumps(a))
    return out.merge(b)


def score_part(model: PsmiModel, x: Any, y: Any, first_row: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sample mean and std of one partition starting at global row ``first_row``."""
    features = _inputs.features(x)
    labels, _ = _inputs.labels(y, features.shape[0])
    mean, std, *_ = model._native.transform(features, labels, False, int(first_row))
    return mean, std


def tree(items: Sequence[T], merge: Callable[[T, T], T]) -> T:
    """Merges ``items`` pairwise, level by level, in index order: the same
    tree for the same number of items, whoever computes it and when."""
    level: List[T] = list(items)
    if not level:
        raise ValueError("X: no rows")
    while len(level) > 1:
        pairs = [merge(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def lowest(
    full_sums: np.ndarray, half_sums: np.ndarray, blocks: int, half_blocks: int, watched: int
) -> Tuple[np.ndarray, np.ndarray]:
    """One partition's candidates for the stopping rule: its ``watched``
    samples with the lowest running mean (ties to the earlier sample), in
    row order, with their mean over all ``blocks`` and the first ``half_blocks``.
    The lowest ``watched`` samples overall are among the union of these."""
    full = np.asarray(full_sums, dtype=np.float64) / blocks
    half = np.asarray(half_sums, dtype=np.float64) / half_blocks
    keep = np.sort(np.argsort(full, kind="stable")[: min(watched, len(full))])
    return full[keep], half[keep]


def run_auto(
    plan: Plan,
    dim: int,
    n: int,
    fit_block: Callable[[PsmiFitter], PsmiModel],
    add_block: Callable[[PsmiModel], None],
    candidates: Callable[[int, int, int], Sequence[Tuple[np.ndarray, np.ndarray]]],
    spread: Optional[Callable[[int], Sequence[Tuple[np.ndarray, np.ndarray]]]] = None,
) -> PsmiModel:
    """Auto mode, block by block, as ``PSMI`` runs it on one machine: the
    native rule (``psmi_std::AutoRule``) says which block comes next, what
    to gather, and when to stop.

    ``fit_block(fitter)``: the model of an empty block fitter updated with
    every partition. ``add_block(model)``: score every partition with the
    block's model and add each sample's mean to its running sum, kept where
    the partitions are. ``candidates(blocks, half_blocks, watched)``: each
    partition's :func:`lowest`, in partition order. ``spread(watched)``, for
    a target error: each partition's ``watched`` samples with the lowest mean
    over all directions so far, in row order, with that mean and their
    standard error over the same directions as ``PsmiScores.stderr`` gives
    it (for orthonormal frames it needs the design effect pooled over all
    partitions: see ``psmi_std::AutoRule``).
    """
    rule = plan.native.auto_rule(n)
    models: List[PsmiModel] = []
    while True:
        step = rule.step()
        if step[0] == "block":
            _, first, count = step
            model = fit_block(plan.block_fitter(dim, n, first, count))
            models.append(model)
            add_block(model)
            rule.block_scored()
        elif step[0] == "gather":
            _, check, blocks, half_blocks, watched = step
            if check == "variation":
                parts = candidates(blocks, half_blocks, watched)
            elif spread is not None:
                parts = spread(watched)
            else:
                raise ValueError(
                    "invalid option `target_error`: this engine does not gather "
                    "each sample's standard error"
                )
            rule.observe(
                np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            )
        else:
            _, report = step
            joined = plan.native.join([m._native for m in models], n, report)
            return PsmiModel(joined, plan.n_jobs)
