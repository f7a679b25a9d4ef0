"""Where psmi_rs.spark's time goes: each part of a fixed-m run timed alone,
in one Spark session, on the cached DataFrame engines.py builds.

    python psmi-bench/compare/spark_parts.py --n 400000 --d 1024 --classes 20 \\
        --n-estimators 500 --partitions 8 --repeat 2

Each line: a part, its wall seconds and the CPU seconds of the process tree
(driver, JVM, Python workers), and the load average. The parts:

- ``empty job``: a job over the cached rows reading no column (scheduling);
- ``JVM scan``: the JVM reads the features of every row (their largest
  value, no Python);
- ``JVM xxhash64``: the JVM hashes every row's features;
- ``to Python``: the features and labels sent to Python by mapInArrow and
  dropped there (the JVM's ArrowWriter, the transfer, pyarrow's reading);
- ``keys to Python``: the same with each row's xxhash64 key instead of its
  features;
- ``fit pass``: psmi_rs.spark's fit pass (transfer, fit, projections kept);
- ``fit_transform + collect``: the whole call, as engines.py times it.

``--repeat`` runs the list again in the same JVM (the first is cold).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

sys.path.insert(0, os.path.dirname(__file__))
from engines import spark_frame, spark_session, tree_cpu, write_data  # noqa: E402


def timed(label: str, f: Callable[[], object]) -> None:
    start, cpu = time.perf_counter(), tree_cpu()
    f()
    print(
        f"{label:26s} {time.perf_counter() - start:7.2f} s wall, {tree_cpu() - cpu:7.2f} s CPU, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def drop(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    rows = 0
    for batch in batches:
        rows += batch.num_rows
    yield pa.RecordBatch.from_pylist([{"rows": rows}], schema=pa.schema([("rows", pa.int64())]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--n-estimators", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/psmi-dist-bench"))
    args = parser.parse_args()
    _, _, parquet = write_data(args.work, args.n, args.d, args.classes)

    from pyspark.sql import functions as F

    import psmi_rs.spark
    from psmi_rs.spark import _Columns, _distributed, _Passes

    spark = spark_session()
    df = spark_frame(spark, parquet, args.partitions)
    options = dict(n_estimators=args.n_estimators, random_state=7, n_jobs=1)
    for run in range(1, args.repeat + 1):
        print(f"-- run {run}", flush=True)
        timed("empty job", lambda: df.select(F.spark_partition_id()).mapInArrow(drop, "rows long").collect())
        timed("JVM scan", lambda: df.select(F.max(F.array_max("features"))).collect())
        timed("JVM xxhash64", lambda: df.select(F.max(F.xxhash64("features"))).collect())
        timed("to Python", lambda: df.select("features", "label").mapInArrow(drop, "rows long").collect())
        timed(
            "keys to Python",
            lambda: df.select(F.xxhash64("features"), "label").mapInArrow(drop, "rows long").collect(),
        )

        def fit_pass() -> None:
            plan = _distributed.Plan(options)
            columns = _Columns(df, "features", "label")
            passes = _Passes(columns.inputs(df), columns.names, args.d)
            fitter = plan.fitter(args.d, args.n)
            passes.fit(fitter, (0, fitter.n_estimators))

        timed("fit pass", fit_pass)

        def whole() -> None:
            _, scored = psmi_rs.spark.fit_transform(df, **options)
            scored.select("psmi_mean").toPandas()

        timed("fit_transform + collect", whole)
    spark.stop()


if __name__ == "__main__":
    main()
