"""PSMI of a Spark DataFrame: ``psmi_rs.spark.fit_transform``.

Needs the ``spark`` extra (``pip install './psmi-py[spark]'``) and Java 17.
Rows reach Rust as Arrow buffers (``mapInArrow``), a batch at a time, with no
loop over rows in Python.
"""

from __future__ import annotations

import pickle
from typing import Callable, Dict, Iterator, List, Tuple, Any

import numpy as np
import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import _distributed
from ._model import PsmiFitter, PsmiModel

__all__ = ["fit_transform"]

_X, _Y = "__psmi_x", "__psmi_y"


def _batch_arrays(batch: pa.RecordBatch, features: str, label: str) -> Tuple[np.ndarray, np.ndarray]:
    """The features (rows × dim, float32, no copy for array<float>) and
    labels of one Arrow batch."""
    column = batch.column(batch.schema.get_field_index(features))
    y = batch.column(batch.schema.get_field_index(label))
    n = len(column)
    if column.null_count or y.null_count:
        raise ValueError(f"{features if column.null_count else label}: null in the data")
    values = column.flatten().to_numpy(zero_copy_only=False)
    lengths = np.diff(column.offsets.to_numpy(zero_copy_only=False))
    dim = int(lengths[0]) if n else 0
    if n and np.any(lengths != dim):
        row = int(np.flatnonzero(lengths != dim)[0])
        raise ValueError(f"{features}: row {row} of a batch has {lengths[row]} values, not {dim}")
    return values.reshape(n, dim), y.to_numpy(zero_copy_only=False)


def _fit_partitions(
    template: bytes, offsets: Dict[int, int]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: each partition's fitter (pickled), or the error it met,
    carried back so that the driver raises it as it was."""

    def fit(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        part = TaskContext.get().partitionId()
        row = offsets.get(part, 0)
        fitter = pickle.loads(template)
        seen = 0
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                x, y = _batch_arrays(batch, _X, _Y)
                _distributed.update(fitter, x, y, row)
                row += batch.num_rows
                seen += batch.num_rows
            out = {"part": part, "state": pickle.dumps(fitter), "error": None}
        except ValueError as e:
            out = {"part": part, "state": None, "error": str(e)}
        if seen or out["error"] is not None:
            yield pa.RecordBatch.from_pylist([out], schema=_FIT_SCHEMA)

    return fit


_FIT_SCHEMA = pa.schema([("part", pa.int32()), ("state", pa.binary()), ("error", pa.string())])
_FIT_DDL = "part int, state binary, error string"
_CANDIDATES_SCHEMA = pa.schema(
    [("part", pa.int32()), ("full", pa.list_(pa.float64())), ("half", pa.list_(pa.float64()))]
)


def _collect_by_part(df: DataFrame) -> List[Any]:
    """The rows of ``df`` sorted by partition, raising the first error met."""
    rows = sorted(df.collect(), key=lambda r: r["part"])
    for r in rows:
        if r["error"] is not None:
            raise ValueError(r["error"])
    return rows


def _scored(model: bytes, columns: List[Tuple[str, str]]):
    """mapInArrow: adds ``columns`` (name, what) to each batch: 'mean', 'std'
    or 'sum:<column>' (the running sum of block means, <column> + mean)."""

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        psmi = pickle.loads(model)
        for batch in batches:
            if batch.num_rows == 0:
                mean = std = np.zeros(0)
            else:
                x, y = _batch_arrays(batch, _X, _Y)
                mean, std = _distributed.score_part(psmi, x, y, 0)
            added = []
            for name, what in columns:
                if what == "mean":
                    added.append(pa.array(mean))
                elif what == "std":
                    added.append(pa.array(std))
                else:
                    previous = batch.column(batch.schema.get_field_index(what[4:]))
                    added.append(pa.array(previous.to_numpy(zero_copy_only=False) + mean))
            yield pa.RecordBatch.from_arrays(
                batch.columns + added, names=batch.schema.names + [c for c, _ in columns]
            )

    return score


def _with_columns(df: DataFrame, fn, names: List[str]) -> DataFrame:
    schema = T.StructType(df.schema.fields + [T.StructField(c, T.DoubleType(), False) for c in names])
    return df.mapInArrow(fn, schema)


def fit_transform(
    df: DataFrame, features: str = "features", label: str = "label", **options: Any
) -> Tuple[PsmiModel, DataFrame]:
    """Fits PSMI on a DataFrame and scores every row.

    Each partition is fitted into a :class:`~psmi_rs.PsmiFitter` on the
    executors; the fitters come back to the driver (k × m statistics each)
    and merge there in a fixed tree by partition index; the model is sent to
    every partition to score it. In auto mode this runs once per block of
    ``min_n_estimators`` directions, the running per-row means kept in a
    cached DataFrame, and only each partition's candidates for the stopping
    rule come back to the driver.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per sample; its partitions, in order, are the rows' order
        (errors name rows by it). It is read several times: cache it if it
        is costly to compute, and keep it deterministic.
    features : str, default "features"
        An array<float> or array<double> column (or a Spark ML vector, turned
        into an array<float> column of the same name), of equal lengths.
    label : str, default "label"
        An integer column.
    **options
        :class:`~psmi_rs.PSMI`'s options, except ``full``.

    Returns
    -------
    model : PsmiModel
    df : pyspark.sql.DataFrame
        ``df`` with the columns ``psmi_mean`` and ``psmi_std`` (double) added,
        computed when it is evaluated.

    Raises
    ------
    ValueError
        As ``PSMI.fit_transform``, naming the label, option or global row.

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
    """
    plan = _distributed.Plan(options)
    for name in (features, label):
        if name not in df.columns:
            raise ValueError(f"no column {name!r} in the DataFrame (columns: {df.columns})")
    kind = df.schema[features].dataType
    if not isinstance(kind, T.ArrayType):
        from pyspark.ml.functions import vector_to_array

        df = df.withColumn(features, vector_to_array(F.col(features), "float32"))
    elif not isinstance(kind.elementType, (T.FloatType, T.DoubleType)):
        raise ValueError(f"{features}: {kind.simpleString()}; expected array<float> or a vector")
    if not isinstance(df.schema[label].dataType, T.IntegralType):
        raise ValueError(f"{label}: {df.schema[label].dataType.simpleString()}; expected integers")
    data = df.withColumn(_X, F.col(features).cast("array<float>")).withColumn(_Y, F.col(label))

    # Rows per partition, for the global row of an error (a pass over the
    # labels only), and the dimension (from one row; each batch checks its rows).
    counts = (
        data.select(F.spark_partition_id().alias("part"))
        .groupBy("part")
        .count()
        .collect()
    )
    rows = {r["part"]: r["count"] for r in counts}
    if not rows:
        raise ValueError("X: no rows")
    offsets, total = {}, 0
    for part in sorted(rows):
        offsets[part], total = total, total + rows[part]
    dim = data.select(F.size(_X)).first()[0]
    if dim is None or dim < 1:
        raise ValueError(f"{features}: the first row has no values")

    def fit(state: DataFrame, template: PsmiFitter) -> PsmiModel:
        fitted = state.mapInArrow(_fit_partitions(pickle.dumps(template), offsets), _FIT_DDL)
        parts = [pickle.loads(r["state"]) for r in _collect_by_part(fitted)]
        return _distributed.tree(parts, _distributed.merged).finish()

    inputs = data.select(_X, _Y)
    if not plan.auto:
        model = fit(inputs, plan.fitter(dim, total))
    else:
        sums: List[str] = []
        state = [inputs]

        def add_block(block: PsmiModel) -> None:
            name = f"__psmi_sum{len(sums)}"
            what = f"sum:{sums[-1]}" if sums else "mean"
            added = _with_columns(state[-1], _scored(pickle.dumps(block), [(name, what)]), [name])
            added = added.cache()
            added.count()
            state[-1].unpersist()
            state.append(added)
            sums.append(name)

        def candidates(blocks: int, half_blocks: int, watched: int):
            def lowest(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
                batches = list(batches)
                table = pa.Table.from_batches(batches) if batches else None
                if table is None or table.num_rows == 0:
                    return
                full, half = _distributed.lowest(
                    table.column(sums[blocks - 1]).to_numpy(),
                    table.column(sums[half_blocks - 1]).to_numpy(),
                    blocks,
                    half_blocks,
                    watched,
                )
                out = {"part": TaskContext.get().partitionId(), "full": full.tolist(), "half": half.tolist()}
                yield pa.RecordBatch.from_pylist([out], schema=_CANDIDATES_SCHEMA)

            picked = state[-1].select(sums[blocks - 1], sums[half_blocks - 1]).mapInArrow(
                lowest, "part int, full array<double>, half array<double>"
            )
            rows_ = sorted(picked.collect(), key=lambda r: r["part"])
            return [(np.asarray(r["full"]), np.asarray(r["half"])) for r in rows_]

        model = _distributed.run_auto(plan, dim, total, lambda t: fit(state[-1], t), add_block, candidates)
        state[-1].unpersist()
    scored = _with_columns(
        data, _scored(pickle.dumps(model), [("psmi_mean", "mean"), ("psmi_std", "std")]), ["psmi_mean", "psmi_std"]
    )
    return model, scored.drop(_X, _Y)
