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

import functools
import pickle
from typing import Any, Callable, List, Sequence, Tuple, TypeVar

import numpy as np

from . import _inputs
from ._estimator import PSMI
from ._model import PsmiFitter, PsmiModel
from ._native import RunningErrors

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

    def running_errors(self, dim: int, n: int) -> bytes:
        """A partition's running errors before the first block (auto mode
        with a target error), as bytes."""
        return self.native.running_errors(dim, n).to_bytes()

    @property
    def target_error(self) -> bool:
        """Whether auto mode stops at a target error."""
        return self.auto and self.psmi.target_error is not None


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


def update_keeping(fitter: PsmiFitter, x: Any, y: Any, first_row: int) -> np.ndarray:
    """``fitter`` updated in place with rows starting at global row
    ``first_row``; returns their projections on its directions (n × m
    float32), from which :func:`score_kept` scores them once the merged
    model is known, without projecting them again."""
    features = _inputs.features(x)
    labels, _ = _inputs.labels(y, features.shape[0])
    return fitter._native.update_keeping(features, labels, int(first_row))


def fit_part_keeping(template: PsmiFitter, x: Any, y: Any, first_row: int) -> Tuple[PsmiFitter, np.ndarray]:
    """As :func:`fit_part`, with the partition's projections (see
    :func:`update_keeping`)."""
    fitter = pickle.loads(pickle.dumps(template))
    return fitter, update_keeping(fitter, x, y, first_row)


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


def score_kept(model: PsmiModel, kept: np.ndarray, y: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sample mean and std of rows from their projections ``kept`` on
    the directions of ``model`` (see :func:`update_keeping`)."""
    labels, _ = _inputs.labels(y, kept.shape[0])
    return model._native.transform_kept(_kept(kept), labels)


def _kept(kept: np.ndarray) -> np.ndarray:
    """Kept projections as the native layer reads them: C-contiguous and
    aligned (a deserialised array may start anywhere in its buffer)."""
    return np.require(kept, np.float32, ["C_CONTIGUOUS", "ALIGNED"])


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


def score_errors(
    model: PsmiModel, errors: RunningErrors, x: Any, y: Any, first_direction: int, row: int, first_row: int
) -> None:
    """Scores rows ``row ..`` of a partition (global row ``first_row``) along
    the block ``model`` of auto mode, whose first direction is
    ``first_direction``, into the partition's ``errors``."""
    features = _inputs.features(x)
    labels, _ = _inputs.labels(y, features.shape[0])
    model._native.score_running(features, labels, errors, int(first_direction), int(row), int(first_row))


def score_errors_kept(
    model: PsmiModel, errors: RunningErrors, kept: np.ndarray, y: Any, first_direction: int, row: int
) -> None:
    """As :func:`score_errors`, from the rows' projections ``kept`` on the
    block ``model`` (see :func:`update_keeping`)."""
    labels, _ = _inputs.labels(y, kept.shape[0])
    model._native.score_running_kept(_kept(kept), labels, errors, int(first_direction), int(row))


def errors_part(errors: bytes, model: PsmiModel, kept: np.ndarray, y: Any, first_direction: int) -> bytes:
    """A partition's ``errors`` (as bytes) after one more block, scored
    along ``model`` from the partition's projections ``kept`` on it; the
    input is never changed, so a retried task starts again from it."""
    state = RunningErrors.from_bytes(errors)
    score_errors_kept(model, state, kept, y, first_direction, 0)
    return state.to_bytes()


def error_sums(errors: bytes) -> Tuple[float, float]:
    """A partition's share of the sums the design effect pools."""
    return RunningErrors.from_bytes(errors).sums()


def lowest_errors(errors: bytes, watched: int, pooled: Tuple[float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """A partition's ``watched`` samples with the lowest mean, in row order:
    their means and standard errors for the ``pooled`` sums."""
    return RunningErrors.from_bytes(errors).lowest(watched, pooled)


def run_auto(
    plan: Plan,
    dim: int,
    n: int,
    fit_block: Callable[[PsmiFitter], PsmiModel],
    add_block: Callable[[PsmiModel], None],
    candidates: Callable[[int, int, int], Sequence[Tuple[np.ndarray, np.ndarray]]],
    spread: Callable[[Callable[[bytes], T]], Sequence[T]],
) -> PsmiModel:
    """Auto mode, block by block, as ``PSMI`` runs it on one machine: the
    native rule (``psmi_std::AutoRule``) says which block comes next, what
    to gather, and when to stop.

    ``fit_block(fitter)``: the model of an empty block fitter updated with
    every partition. ``add_block(model)``: score every partition with the
    block's model and add each sample's mean to its running sum, kept where
    the partitions are; with a target error, fold the block into each
    partition's running errors instead (:func:`errors_part`, starting from
    :meth:`Plan.running_errors`). ``candidates(blocks, half_blocks,
    watched)``: each partition's :func:`lowest`, in partition order.
    ``spread(f)``, for a target error: ``f`` of each partition's running
    errors, where they are, in partition order. The driver adds every
    partition's :func:`error_sums` (the design effect of orthonormal frames
    is pooled over all samples), then gathers each partition's
    :func:`lowest_errors`: the numbers the one-machine run observes.
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
            else:
                sums = spread(error_sums)
                pooled = (sum(s[0] for s in sums), sum(s[1] for s in sums))
                parts = spread(functools.partial(lowest_errors, watched=watched, pooled=pooled))
            rule.observe(
                np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
            )
        else:
            _, report = step
            joined = plan.native.join([m._native for m in models], n, report)
            return PsmiModel(joined, plan.n_jobs)
