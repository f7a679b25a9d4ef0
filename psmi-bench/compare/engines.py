"""Wall time of psmi_rs on one machine through Dask and Spark, next to the
plain Python call, on the same data and options.

    python psmi-bench/compare/engines.py --n 10000 --d 512 --classes 10 \\
        --n-estimators auto --partitions 8            # W1-auto
    python psmi-bench/compare/engines.py --n 1000000 --d 1024 --classes 10 \\
        --n-estimators 500 --partitions 32            # 1M × 1024

Needs psmi_rs with the dask and spark extras, and Java 17. The data (a
Gaussian mixture, float32) is written once under --work as .npy (for the
plain call and Dask, memory-mapped) and as Parquet (for Spark), in chunks.
Spark's DataFrame (--partitions partitions in the rows' order) is cached and
counted before its clock starts (an array<float> column, or with --column
binary packed float32).
Dask runs a LocalCluster of 2 single-threaded worker processes, Spark
local[2]; each task then uses one thread (n_jobs=1), the plain call all cores.
Prints one line per engine and run (--repeat runs in one session: Spark's
first in a fresh JVM, cold, the next ones warm): wall seconds (fit and scores of every sample),
CPU seconds of the process tree (this process, Spark's JVM and Python
workers, Dask's workers: the machines are shared, so the CPU is the
comparable figure), the largest difference of the means from the plain call's, and the load
average (the machines are shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def write_data(work: Path, n: int, d: int, classes: int, seed: int = 0) -> tuple:
    """The mixture as X.npy, y.npy and data.parquet, written in chunks of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stem = work / f"mixture_{n}x{d}_{classes}"
    x_path, y_path, parquet = (stem.with_suffix(s) for s in (".X.npy", ".y.npy", ".parquet"))
    if x_path.exists() and y_path.exists() and parquet.exists():
        return x_path, y_path, parquet
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (classes, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=(n, d))
    schema = pa.schema([("features", pa.list_(pa.float32())), ("label", pa.int64())])
    step = 50_000
    with pq.ParquetWriter(parquet, schema) as writer:
        for first in range(0, n, step):
            rows = slice(first, min(first + step, n))
            chunk = centres[y[rows]] + rng.normal(size=(rows.stop - first, d)).astype(np.float32)
            x[rows] = chunk
            features = pa.ListArray.from_arrays(
                pa.array(np.arange(0, chunk.size + 1, d, dtype=np.int32)), pa.array(chunk.ravel())
            )
            writer.write_batch(pa.record_batch([features, pa.array(y[rows])], schema=schema))
    x.flush()
    np.save(y_path, y)
    return x_path, y_path, parquet


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and every live
    descendant (Spark's JVM and its Python workers, Dask's worker
    processes), with the children each of them has reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parent[pid] = int(fields[1])
        cpu[pid] = sum(int(v) for v in fields[11:15]) / tick
    total, me = 0.0, os.getpid()
    for pid, seconds in cpu.items():
        p = pid
        while p not in (0, 1, me) and p in parent:
            p = parent[p]
        if p == me:
            total += seconds
    return total


def options(args) -> dict:
    m = args.n_estimators
    return dict(n_estimators="auto" if m == "auto" else int(m), random_state=7)


def run_plain(args, x_path, y_path, parquet):
    from psmi_rs import PSMI

    x, y = np.load(x_path, mmap_mode="r"), np.load(y_path)
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), tree_cpu()
        est = PSMI(**options(args), full=False)
        mean = est.fit_transform(x, y).mean
        yield time.perf_counter() - start, tree_cpu() - cpu, mean, est.n_estimators


def _rows(path: str, first: int, stop: int) -> np.ndarray:
    return np.load(path, mmap_mode="r")[first:stop]


def run_dask(args, x_path, y_path, parquet):
    import dask.array as da
    import distributed

    import psmi_rs.dask

    import dask

    y = np.load(y_path)
    n, d = np.load(x_path, mmap_mode="r").shape
    rows = -(-n // args.partitions)
    # Each chunk read by its worker from the file, not shipped in the graph.
    pieces = [
        da.from_delayed(
            dask.delayed(_rows)(str(x_path), first, min(first + rows, n)),
            shape=(min(first + rows, n) - first, d),
            dtype=np.float32,
        )
        for first in range(0, n, rows)
    ]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), tree_cpu()
            X = da.concatenate(pieces)
            model, mean, _ = psmi_rs.dask.fit_transform(X, y, n_jobs=1, **options(args))
            mean = mean.compute()
            yield time.perf_counter() - start, tree_cpu() - cpu, mean, model.n_estimators


def spark_session():
    """The local[2] session of these benchmarks."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "8g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_frame(spark, parquet, partitions: int, column: str = "array"):
    """The data as a DataFrame of exactly ``partitions`` partitions in the
    rows' order, cached and counted (as a pipeline holds it), with the
    features as array<float> or, for ``column="binary"``, packed float32."""
    from pyspark.sql import functions as F

    df = (
        spark.read.parquet(str(parquet))
        .withColumn("row", F.monotonically_increasing_id())
        .repartitionByRange(partitions, "row")
        .sortWithinPartitions("row")
        .drop("row")
    )
    if column == "binary":
        # Each row's features packed as little-endian float32.
        pack = F.udf(lambda v: bytearray(np.asarray(v, dtype="<f4").tobytes()), "binary")
        df = df.withColumn("features", pack("features"))
    df = df.cache()
    df.count()
    return df


def run_spark(args, x_path, y_path, parquet):
    import psmi_rs.spark

    spark = spark_session()
    try:
        # Cached and counted before the clock starts.
        df = spark_frame(spark, parquet, args.partitions, args.column)
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), tree_cpu()
            model, scored = psmi_rs.spark.fit_transform(df, n_jobs=1, **options(args))
            mean = scored.select("psmi_mean").toPandas()["psmi_mean"].to_numpy()
            yield time.perf_counter() - start, tree_cpu() - cpu, mean, model.n_estimators
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--n-estimators", default="auto")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--engines", default="plain,dask,spark")
    parser.add_argument(
        "--column", choices=["array", "binary"], default="array",
        help="Spark's features column: array<float>, or binary (packed float32)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="runs per engine in one session (Spark's first in a fresh JVM, the next ones warm)",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/psmi-dist-bench"))
    args = parser.parse_args()
    paths = write_data(args.work, args.n, args.d, args.classes)
    runners = {"plain": run_plain, "dask": run_dask, "spark": run_spark}
    reference = None
    for engine in args.engines.split(","):
        for run, (seconds, cpu, mean, m) in enumerate(runners[engine](args, *paths), 1):
            if reference is None:
                reference = mean
            diff = float(np.max(np.abs(mean - reference)))
            print(
                f"{engine:6s} #{run} n={args.n} d={args.d} m={m} partitions={args.partitions}: "
                f"{seconds:8.2f} s wall, {cpu:8.2f} s CPU, max |mean - first engine's| = {diff:.2e}, "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
