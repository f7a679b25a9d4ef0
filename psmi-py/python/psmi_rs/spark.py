"""PSMI of a Spark DataFrame: ``psmi_rs.spark.fit_transform``.

Needs the ``spark`` extra (``pip install './psmi-py[spark]'``: Spark ≥ 4.1,
for Arrow UDFs) and Java 17. Rows reach Rust as Arrow buffers, a batch at a
time: a batch's features are its column's values buffer viewed as a
rows × dim matrix, with no work per row in Python.

Passes over the features (each one sends them from the JVM to Python once,
in Arrow batches of about 8 MB; nothing of their size comes back):

- fixed m: one fit pass (a fitter per partition back to the driver), and the
  scores, an Arrow UDF of the features and label columns computed when the
  returned DataFrame is evaluated;
- auto mode: one pass per block, which scores the block just fitted and fits
  the next one (its directions follow on, with the same count; fitted again
  if the rule asks for another block), plus the first fit and the scores.
  Each partition's per-row block means come back to the driver (8 bytes a
  row and block), which keeps the running sums and applies the stopping rule.

Fitting and scoring cannot share one pass: a Spark task runs to its end
without waiting for the driver, so a partition's fitter cannot wait in its
task for the merged model, except in barrier mode, which needs every
partition running at once (no more partitions than task slots) and would
return a new, materialised DataFrame rather than columns of the caller's.

Projected once: a task that fits a partition writes the partition's
projections on the directions it fits (4·m bytes a row) to a file of the
executor's per-application directory (``SparkFiles.getRootDirectory()``,
removed when the application ends), and the task that scores the partition
along the same directions reads them rather than projecting the features
again, then deletes the file. Where the file is not there (the scoring task
runs on another executor, or the result is evaluated a second time) or its
rows are not those scored (told by a hash of each row's features: rows
filtered out before the scores), the task projects the features, which it
receives in any case: the numbers are the same either way, the features
projected once or twice. Files of a result never evaluated stay until the
application ends.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import uuid
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, TypeVar

import numpy as np
import pyarrow as pa
from pyspark import SparkFiles, TaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import _distributed
from ._model import PsmiFitter, PsmiModel
from ._native import RunningErrors

__all__ = ["fit_transform"]

R = TypeVar("R")

_PASS_DDL = "part int, state binary, means binary, errors binary, error string"
_PASS_SCHEMA = pa.schema(
    [
        ("part", pa.int32()),
        ("state", pa.binary()),
        ("means", pa.binary()),
        ("errors", pa.binary()),
        ("error", pa.string()),
    ]
)
# Features a batch of a pass (about 2000 rows of 1024 float32).
_BATCH_BYTES = 8 << 20
_SCORES_DDL = "psmi_mean double, psmi_std double"


def _matrix(column: pa.Array, name: str) -> np.ndarray:
    """A batch's features as an n × dim matrix viewing the Arrow buffers.

    ``column`` is a list of float32 or float64 (Spark's ``array<float>``,
    ``array<double>``, or a vector turned into one by the JVM), or a binary
    column of packed little-endian float32, one value per row.
    """
    n = len(column)
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{name}: null at row {row} of a batch")
    packed = pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
    if packed:
        # pyarrow's binary arrays have no `offsets`: read them from their buffer.
        kind = np.int64 if pa.types.is_large_binary(column.type) else np.int32
        offsets = np.frombuffer(column.buffers()[1], dtype=kind)[column.offset : column.offset + n + 1]
    else:
        offsets = column.offsets.to_numpy()
    widths = np.diff(offsets)
    if packed:
        if np.any(widths % 4):
            row = int(np.flatnonzero(widths % 4)[0])
            raise ValueError(
                f"{name}: row {row} of a batch has {widths[row]} bytes, not a whole number of float32"
            )
        # Offsets count bytes of the data buffer; an unaligned start is
        # copied once by _inputs.features.
        dtype, widths = np.dtype("<f4"), widths // 4
        buffer, first = column.buffers()[2], int(offsets[0])
    else:
        values = column.values
        if values.null_count:
            raise ValueError(f"{name}: null inside a row's values")
        dtype = np.dtype(values.type.to_pandas_dtype())
        buffer, first = values.buffers()[1], (values.offset + int(offsets[0])) * dtype.itemsize
    dim = int(widths[0]) if n else 0
    if np.any(widths != dim):
        row = int(np.flatnonzero(widths != dim)[0])
        raise ValueError(f"{name}: row {row} of a batch has {widths[row]} values, not {dim}")
    return np.frombuffer(buffer, dtype=dtype, count=n * dim, offset=first).reshape(n, dim)


def _labels(column: pa.Array, name: str) -> np.ndarray:
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{name}: null at row {row} of a batch")
    return column.to_numpy()


class _Columns:
    """The features and label columns of the caller's DataFrame, as the
    expressions handed to Python: vectors become ``array<float>`` in the JVM,
    arrays of floats and packed binary go as they are."""

    def __init__(self, df: DataFrame, features: str, label: str) -> None:
        for name in (features, label):
            if name not in df.columns:
                raise ValueError(f"no column {name!r} in the DataFrame (columns: {df.columns})")
        kind = df.schema[features].dataType
        self.features = F.col(features)
        if isinstance(kind, T.BinaryType):
            self.width = F.octet_length(self.features) / 4
        elif isinstance(kind, T.ArrayType) and isinstance(kind.elementType, (T.FloatType, T.DoubleType)):
            self.width = F.size(self.features)
        elif kind.simpleString() == "vector":
            from pyspark.ml.functions import vector_to_array

            self.features = vector_to_array(self.features, "float32")
            self.width = F.size(self.features)
        else:
            raise ValueError(
                f"{features}: {kind.simpleString()}; expected array<float>, array<double>, "
                "an ML vector, or binary (packed little-endian float32)"
            )
        if not isinstance(df.schema[label].dataType, T.IntegralType):
            raise ValueError(f"{label}: {df.schema[label].dataType.simpleString()}; expected integers")
        self.label = F.col(label)
        self.names = (features, label)

    def inputs(self, df: DataFrame) -> DataFrame:
        """``df`` reduced to the two columns the passes read, as ``x`` and ``y``."""
        return df.select(self.features.alias("x"), self.label.alias("y"))


def _fingerprints(x: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's float32 bits (a random linear function
    modulo 2⁶⁴ with odd weights, the same on every executor): tells the
    rows a file of projections was made from from any others, as their
    labels cannot. Rows of an even width are read as 64-bit words of two
    values each, without a copy (half the products, a tenth of the time)."""
    values = np.ascontiguousarray(x, dtype=np.float32)
    if values.shape[1] % 2 == 0:
        words = values.view(np.uint64)
    else:
        words = values.view(np.uint32).astype(np.uint64)
    weights = np.random.default_rng(0x5051).integers(1, 2**63, size=words.shape[1], dtype=np.uint64) * 2 + 1
    # uint64 products and sums wrap modulo 2⁶⁴.
    return words @ weights


class _Kept:
    """Where the tasks of one ``fit_transform`` call keep each partition's
    projections on a block of directions: one file per (partition, block)
    on the executor that fitted it, the block named by its first direction
    and count. A file holds the rows' float32 projections, their
    :func:`_fingerprints`, and the numbers of rows and directions (int64)."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex

    def path(self, part: int, block: Tuple[int, int]) -> str:
        return os.path.join(SparkFiles.getRootDirectory(), "psmi_rs", self.run, f"{block[0]}-{block[1]}.{part}")

    def writer(self, part: int, block: Tuple[int, int]) -> "_KeptWriter":
        return _KeptWriter(self.path(part, block))

    def reader(self, part: int, block: Tuple[int, int]) -> "_KeptReader":
        return _KeptReader(self.path(part, block))


class _KeptWriter:
    """Writes one partition's projections batch by batch, under a name of
    its own until :meth:`close` renames it: a reader never sees half a
    file, and a retried or speculative task replaces it whole."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.temporary = path, f"{path}.{uuid.uuid4().hex}"
        self.file = open(self.temporary, "wb")
        self.fingerprints: List[np.ndarray] = []
        self.width = 0

    def add(self, kept: np.ndarray, x: np.ndarray) -> None:
        """Adds the projections ``kept`` of the rows ``x``."""
        self.file.write(memoryview(np.ascontiguousarray(kept, dtype=np.float32)).cast("B"))
        self.fingerprints.append(_fingerprints(x))
        self.width = kept.shape[1]

    def close(self) -> None:
        rows = np.concatenate(self.fingerprints) if self.fingerprints else np.zeros(0, np.uint64)
        self.file.write(rows.tobytes())
        self.file.write(np.array([len(rows), self.width], dtype=np.int64).tobytes())
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.file.close()
        os.remove(self.temporary)


class _KeptReader:
    """One partition's kept projections, read batch by batch; the file is
    deleted once every row of it has been read."""

    def __init__(self, path: str) -> None:
        self.path, self.read = path, 0
        self.values: Optional[np.ndarray] = None
        try:
            tail = np.fromfile(path, dtype=np.int64, count=2, offset=os.path.getsize(path) - 16)
            rows, width = int(tail[0]), int(tail[1])
            self.values = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, width))
            self.fingerprints = np.memmap(path, dtype=np.uint64, mode="r", shape=(rows,), offset=rows * width * 4)
        except (OSError, ValueError):
            # Not on this executor: the features are projected.
            self.values = None

    def rows(self, row: int, x: np.ndarray) -> Optional[np.ndarray]:
        """The projections of the partition's rows ``row ..``, whose
        features are ``x``, or None if they are not those kept (another
        executor's partition, or rows filtered out before the scores)."""
        if self.values is None:
            return None
        end = row + len(x)
        if end > len(self.fingerprints) or not np.array_equal(self.fingerprints[row:end], _fingerprints(x)):
            return None
        self.read += len(x)
        return self.values[row:end]

    def done(self) -> None:
        """Deletes the file if every row of it was read."""
        if self.values is not None and self.read == len(self.fingerprints):
            self.values = None
            try:
                os.remove(self.path)
            except OSError:
                pass


def _part_batches(batches: Iterator[pa.RecordBatch], names: Tuple[str, str]):
    """The (features, labels) of each non-empty batch of one partition, with
    its first row within the partition."""
    row = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        yield row, _matrix(batch.column(0), names[0]), _labels(batch.column(1), names[1])
        row += batch.num_rows


class _Blocks(NamedTuple):
    """The blocks of directions whose projections a pass keeps (the one it
    fits) and reads (the one it scores), as (first direction, count)."""

    kept: _Kept
    fit: Optional[Tuple[int, int]] = None
    score: Optional[Tuple[int, int]] = None


def _pass(
    fitter: Optional[bytes],
    scorer: Optional[bytes],
    errors: Optional["_Errors"],
    offsets: Dict[int, int],
    names: Tuple[str, str],
    blocks: _Blocks,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow over (features, label): one row per non-empty partition,
    with the ``fitter`` (pickled, empty) updated with the partition's rows,
    and each row's mean PSMI along the ``scorer`` model's directions (packed
    float64, in row order), or with ``errors``, the partition's running
    errors after the ``scorer`` block; or the error met, carried back so that
    the driver raises it as it was. Rows are numbered from ``offsets[partition]``.
    The fitted rows' projections are kept for the block ``blocks.fit``, and
    the scored ones read where kept for ``blocks.score``."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        part = TaskContext.get().partitionId()
        first = offsets.get(part, 0)
        # A fresh copy per attempt: a retried task starts again from nothing.
        fit = None if fitter is None else pickle.loads(fitter)
        score = None if scorer is None else pickle.loads(scorer)
        means: List[np.ndarray] = []
        running = None if errors is None else RunningErrors.from_bytes(errors.states.get(part, errors.empty))
        reader = None if score is None or blocks.score is None else blocks.kept.reader(part, blocks.score)
        writer: Optional[_KeptWriter] = None
        seen = 0
        out: Dict[str, Any] = {"part": part, "state": None, "means": None, "errors": None, "error": None}
        try:
            for row, x, y in _part_batches(batches, names):
                kept = None if reader is None else reader.rows(row, x)
                if fit is not None and blocks.fit is not None:
                    writer = writer or blocks.kept.writer(part, blocks.fit)
                    writer.add(_distributed.update_keeping(fit, x, y, first + row), x)
                elif fit is not None:
                    _distributed.update(fit, x, y, first + row)
                if running is not None and errors is not None:
                    if kept is not None:
                        _distributed.score_errors_kept(score, running, kept, y, errors.first_direction, row)
                    else:
                        _distributed.score_errors(score, running, x, y, errors.first_direction, row, first + row)
                elif kept is not None:
                    means.append(_distributed.score_kept(score, kept, y)[0])
                elif score is not None:
                    means.append(_distributed.score_part(score, x, y, first + row)[0])
                seen += len(y)
            if fit is not None:
                out["state"] = pickle.dumps(fit)
            if means:
                out["means"] = np.concatenate(means).tobytes()
            if running is not None:
                out["errors"] = running.to_bytes()
            if writer is not None:
                writer.close()
                writer = None
            if reader is not None:
                reader.done()
        except ValueError as e:
            out["error"] = str(e)
        finally:
            if writer is not None:
                writer.discard()
        if seen or out["error"] is not None:
            yield pa.RecordBatch.from_pylist([out], schema=_PASS_SCHEMA)

    return run


class _Errors(NamedTuple):
    """What a pass folds a block into, with a target error: each
    partition's running errors by partition index, those of a partition
    not seen yet, and the block's first direction."""

    states: Dict[int, bytes]
    empty: bytes
    first_direction: int


class _Passes:
    """Passes over the features and labels of one DataFrame."""

    def __init__(self, inputs: DataFrame, names: Tuple[str, str], dim: int) -> None:
        self.inputs = inputs
        self.names = names
        self.kept = _Kept()
        # Rows a batch, for about _BATCH_BYTES of features.
        self.batch_rows = max(64, _BATCH_BYTES // (4 * dim))

    def run(
        self,
        fitter: Optional[PsmiFitter],
        scorer: Optional[PsmiModel],
        errors: Optional[_Errors] = None,
        blocks: Tuple[Optional[Tuple[int, int]], Optional[Tuple[int, int]]] = (None, None),
    ) -> List[Any]:
        """The rows of one pass (see :func:`_pass`) by partition index,
        raising the first error met; ``blocks``: the (first direction,
        count) of the fitter's block, whose projections are kept, and of the
        scorer's, whose kept projections are read."""
        state = None if fitter is None else pickle.dumps(fitter)
        model = None if scorer is None else pickle.dumps(scorer)
        kept = _Blocks(self.kept, *blocks)
        rows = self._collect(state, model, errors, {}, kept)
        if any(r["error"] is not None for r in rows):
            # Again with each partition's first row, so that the error names
            # the row in the whole DataFrame (a pass over the labels, only
            # when there is an error).
            rows = self._collect(state, model, errors, self._offsets(), kept)
        for r in rows:
            if r["error"] is not None:
                raise ValueError(r["error"])
        return rows

    def fit(self, fitter: PsmiFitter, block: Tuple[int, int]) -> PsmiModel:
        """The merged model of one fit pass of ``fitter``, over the
        directions ``block`` (first direction, count), whose projections
        are kept."""
        return _merged(self.run(fitter, None, blocks=(block, None)))

    def _collect(
        self,
        fitter: Optional[bytes],
        scorer: Optional[bytes],
        errors: Optional[_Errors],
        offsets: Dict[int, int],
        blocks: _Blocks,
    ) -> List[Any]:
        run = _pass(fitter, scorer, errors, offsets, self.names, blocks)
        with _batches_of(self.inputs.sparkSession, self.batch_rows):
            rows = self.inputs.mapInArrow(run, _PASS_DDL).collect()
        return sorted(rows, key=lambda r: r["part"])

    def _offsets(self) -> Dict[int, int]:
        counts = self.inputs.select(F.spark_partition_id().alias("part")).groupBy("part").count().collect()
        offsets, total = {}, 0
        for r in sorted(counts, key=lambda r: r["part"]):
            offsets[r["part"]], total = total, total + r["count"]
        return offsets


@contextlib.contextmanager
def _batches_of(spark: SparkSession, rows: int) -> Iterator[None]:
    """Arrow batches of at most ``rows`` rows for the jobs run inside: the
    session's setting is lowered while they run (never raised), then
    restored (other jobs of the session running meanwhile see it too).
    The JVM writes an ``array<float>`` column value by value: at 1024
    values a row, batches of 2000 rows rather than Spark's 10000 cost
    less CPU to send and to fit (psmi-bench/NOTES.md)."""
    setting = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(setting)
    if before is not None and 0 < int(before) <= rows:
        yield
        return
    spark.conf.set(setting, str(rows))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(setting)
        else:
            spark.conf.set(setting, before)


def _merged(rows: List[Any]) -> PsmiModel:
    """The model of the partitions' fitters in ``rows``, merged in the fixed tree."""
    parts = [pickle.loads(r["state"]) for r in rows]
    return _distributed.tree(parts, _distributed.merged).finish()


class _Plan(_distributed.Plan):
    """A plan that remembers the last block of directions asked of it."""

    block = (0, 0)

    def block_fitter(self, dim: int, n: int, first: int, count: int) -> PsmiFitter:
        self.block = (first, count)
        return super().block_fitter(dim, n, first, count)


class _Auto:
    """Auto mode's callbacks for :func:`_distributed.run_auto`. One pass per
    block scores it and fits the block that follows on with the same count
    (the rule's next block unless it stops there); the running sums of each
    partition's block means, or with a target error its running errors (64
    bytes a row, sent back to the partitions with each pass), are kept here,
    on the driver."""

    def __init__(self, plan: _Plan, dim: int, n: int, passes: _Passes) -> None:
        self.plan, self.dim, self.n, self.passes = plan, dim, n, passes
        self.block = (0, 0)
        # The block fitted ahead (first direction, count), with its pass's rows.
        self.ahead: Optional[Tuple[Tuple[int, int], List[Any]]] = None
        # Per partition index: the running sums of block means after each block.
        self.sums: Dict[int, List[Optional[np.ndarray]]] = {}
        self.errors = _Errors({}, plan.running_errors(dim, n), 0) if plan.target_error else None

    def fit_block(self, template: PsmiFitter) -> PsmiModel:
        self.block = self.plan.block
        if self.ahead is not None and self.ahead[0] == self.block:
            return _merged(self.ahead[1])
        return self.passes.fit(template, self.block)

    def add_block(self, block: PsmiModel) -> None:
        first = self.block[0] + self.block[1]
        count = min(self.block[1], self.plan.psmi.max_n_estimators - first)
        following = self.plan.block_fitter(self.dim, self.n, first, count) if count > 0 else None
        errors = None if self.errors is None else self.errors._replace(first_direction=self.block[0])
        ahead = None if following is None else (first, count)
        rows = self.passes.run(following, block, errors, (ahead, self.block))
        self.ahead = None if following is None else ((first, count), rows)
        if errors is not None:
            self.errors = errors._replace(states={r["part"]: r["errors"] for r in rows})
            return
        for r in rows:
            means = np.frombuffer(r["means"], dtype=np.float64)
            sums = self.sums.setdefault(r["part"], [])
            sums.append(means if not sums else sums[-1] + means)

    def candidates(self, blocks: int, half_blocks: int, watched: int) -> List[Tuple[np.ndarray, np.ndarray]]:
        found = []
        for part in sorted(self.sums):
            sums = self.sums[part]
            found.append(_distributed.lowest(sums[blocks - 1], sums[half_blocks - 1], blocks, half_blocks, watched))
            # Sums before the milestone are not read again.
            sums[: half_blocks - 1] = [None] * (half_blocks - 1)
        return found


    def spread(self, f: Callable[[bytes], R]) -> List[R]:
        states = self.errors.states if self.errors is not None else {}
        return [f(states[part]) for part in sorted(states)]


def _scores_udf(model: bytes, names: Tuple[str, str], kept: Optional[_Blocks]):
    """An Arrow UDF of (features, label) giving each row's ``psmi_mean`` and
    ``psmi_std``, from the projections on ``kept.score`` where kept."""
    from pyspark.sql.functions import arrow_udf

    def score(batches: Iterator[Tuple[pa.Array, pa.Array]]) -> Iterator[pa.Array]:
        psmi = pickle.loads(model)
        reader = None
        if kept is not None and kept.score is not None:
            reader = kept.kept.reader(TaskContext.get().partitionId(), kept.score)
        row = 0
        for x, y in batches:
            if len(x):
                features, labels = _matrix(x, names[0]), _labels(y, names[1])
                projections = None if reader is None else reader.rows(row, features)
                if projections is not None:
                    mean, std = _distributed.score_kept(psmi, projections, labels)
                else:
                    mean, std = _distributed.score_part(psmi, features, labels, 0)
                row += len(x)
            else:
                mean = std = np.zeros(0)
            yield pa.StructArray.from_arrays([pa.array(mean), pa.array(std)], names=["psmi_mean", "psmi_std"])
        if reader is not None:
            reader.done()

    return arrow_udf(score, _SCORES_DDL)


def fit_transform(
    df: DataFrame, features: str = "features", label: str = "label", **options: Any
) -> Tuple[PsmiModel, DataFrame]:
    """Fits PSMI on a DataFrame and scores every row.

    Each partition is fitted into a :class:`~psmi_rs.PsmiFitter` on the
    executors; the fitters come back to the driver (k × m statistics each)
    and merge there in a fixed tree by partition index; the model is sent to
    every partition to score it. In auto mode this runs once per block of
    ``min_n_estimators`` directions, each block's scoring sharing its pass
    with the next block's fit; each row's mean along the block comes back to
    the driver, which applies the stopping rule.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per sample; its partitions, in order, are the rows' order
        (errors name rows by it). Read once per pass (fixed m: a fit pass;
        auto mode: one per block and one more), and once more when the
        result is evaluated: cache it if it is costly to compute, and keep
        it deterministic.
    features : str, default "features"
        The features, of equal lengths, as one of:

        * ``array<float>`` or ``array<double>`` (doubles are rounded to
          float32, as on one machine);
        * a Spark ML vector (``pyspark.ml.linalg.VectorUDT``), turned into
          ``array<float>`` in the JVM;
        * ``binary``: each row's features packed as little-endian float32
          (``x.astype("<f4").tobytes()``).
    label : str, default "label"
        An integer column.
    **options
        :class:`~psmi_rs.PSMI`'s options, except ``full``.

    Returns
    -------
    model : PsmiModel
    df : pyspark.sql.DataFrame
        ``df`` with the columns ``psmi_mean`` and ``psmi_std`` (double) added,
        computed when it is evaluated, by an Arrow UDF of the features and
        label columns alone.

    Raises
    ------
    ValueError
        As ``PSMI.fit_transform``, naming the label, option or global row;
        and for a column of another type, a null, or rows of unequal lengths.

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
    >>> import numpy as np
    >>> from pyspark.sql import SparkSession
    >>> from psmi_rs import PSMI
    >>> import psmi_rs.spark
    >>> spark = SparkSession.builder.master("local[2]").getOrCreate()
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(500, 8)).astype(np.float32), np.arange(500) % 3
    >>> df = spark.createDataFrame(
    ...     [(v.tolist(), int(c)) for v, c in zip(X, y)], "features array<float>, label long")
    >>> model, scored = psmi_rs.spark.fit_transform(df, n_estimators=64, random_state=1)
    >>> scored.columns
    ['features', 'label', 'psmi_mean', 'psmi_std']
    >>> mean = np.array([r["psmi_mean"] for r in scored.collect()])
    >>> one = PSMI(n_estimators=64, random_state=1).fit_transform(X, y)
    >>> bool(np.allclose(mean, one.mean, rtol=1e-6, atol=1e-6))
    True
    """
    plan = _Plan(options)
    columns = _Columns(df, features, label)
    inputs = columns.inputs(df)
    # The rows and the dimension in one job (each batch checks its rows' widths).
    sizes = df.select(F.count(F.lit(1)).alias("rows"), F.first(columns.width).alias("dim")).first()
    total = int(sizes["rows"])
    if total == 0:
        raise ValueError("X: no rows")
    dim = sizes["dim"]
    if dim is None or dim < 1:
        raise ValueError(f"{features}: a row has no values")
    dim = int(dim)
    passes = _Passes(inputs, columns.names, dim)
    if not plan.auto:
        fitter = plan.fitter(dim, total)
        model = passes.fit(fitter, (0, fitter.n_estimators))
        kept: Optional[_Blocks] = _Blocks(passes.kept, score=(0, fitter.n_estimators))
    else:
        auto = _Auto(plan, dim, total, passes)
        model = _distributed.run_auto(
            plan, dim, total, auto.fit_block, auto.add_block, auto.candidates, auto.spread
        )
        # The joined model spans every block: its scores project the features.
        kept = None
    scores = _scores_udf(pickle.dumps(model), columns.names, kept)(columns.features, columns.label)
    scored = df.withColumn("__psmi", scores)
    return model, scored.select(
        *[scored[c] for c in df.columns],
        F.col("__psmi.psmi_mean").alias("psmi_mean"),
        F.col("__psmi.psmi_std").alias("psmi_std"),
    )
