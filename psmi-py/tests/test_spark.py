"""psmi_rs.spark on a local[2] session: the same numbers as PSMI on one
machine, whatever the partitions, with the same errors."""

import os
import sys

import numpy as np
import pytest
from conftest import SCORES, chunked, close, mixture, sorted_mixture, target_after

pyspark = pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")

from pyspark.sql import SparkSession  # noqa: E402

import psmi_rs.spark  # noqa: E402
from psmi_rs import PSMI, TooFewSamplesError  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    # The executors' Python must have psmi_rs: this one.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        # Two task slots; a failed task is tried twice (a retry is tested).
        SparkSession.builder.master("local[2, 2]")
        .appName("psmi_rs tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def frame(spark, x, y, chunks, column="array"):
    """A DataFrame whose partitions are the row ranges of ``chunks``, in order,
    with features as ``column``: "array" (array<float>), "double"
    (array<double>), "vector" (ML vectors) or "binary" (packed float32)."""
    pieces, first = [], 0
    for rows in chunks:
        part = [(x[i], int(y[i])) for i in range(first, first + rows)]
        rdd = spark.sparkContext.parallelize(part, 1)
        if column == "vector":
            from pyspark.ml.linalg import Vectors

            rdd = rdd.map(lambda r: (Vectors.dense(r[0].tolist()), r[1]))
            pieces.append(spark.createDataFrame(rdd, ["features", "label"]))
        elif column == "binary":
            rdd = rdd.map(lambda r: (bytearray(r[0].astype("<f4").tobytes()), r[1]))
            pieces.append(spark.createDataFrame(rdd, "features binary, label long"))
        else:
            kind = "float" if column == "array" else "double"
            rdd = rdd.map(lambda r: (r[0].tolist(), r[1]))
            pieces.append(spark.createDataFrame(rdd, f"features array<{kind}>, label long"))
        first += rows
    df = pieces[0]
    for piece in pieces[1:]:
        df = df.union(piece)
    assert df.rdd.getNumPartitions() == len(chunks)
    return df


def assert_same(model, scored, x, y, **options):
    one = PSMI(**options, full=False)
    scores = one.fit_transform(x, y)
    assert model.n_estimators == one.model_.n_estimators
    assert np.array_equal(model.labels, one.model_.labels)
    assert np.array_equal(model.frequency, one.model_.frequency)
    assert np.array_equal(model.directions, one.model_.directions)
    assert model.directions_scheme == one.model_.directions_scheme
    close(model.mean, one.model_.mean)
    close(model.std, one.model_.std)
    if one.model_.auto_report is not None:
        assert model.auto_report["blocks"] == one.model_.auto_report["blocks"]
    rows = scored.collect()
    assert [r["label"] for r in rows] == y.tolist()
    close([r["psmi_mean"] for r in rows], scores.mean, SCORES)
    close([r["psmi_std"] for r in rows], scores.std, SCORES)


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_fixed_mode_equals_one_machine(spark, rng, parts):
    x, y = sorted_mixture(rng, 613, 17, 4)
    options = dict(n_estimators=301, random_state=int(rng.integers(2**63)))
    df = frame(spark, x, y, chunked(rng, len(x), parts))
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert scored.columns == ["features", "label", "psmi_mean", "psmi_std"]
    assert_same(model, scored, x, y, **options)


@pytest.mark.parametrize("parts, directions", [(1, "iid"), (3, "iid"), (7, "iid"), (3, "orthogonal")])
def test_auto_mode_equals_one_machine(spark, rng, parts, directions):
    x, y = sorted_mixture(rng, 457, 9, 3)
    options = dict(
        min_n_estimators=41,
        max_n_estimators=41 * 12,
        random_state=int(rng.integers(2**63)),
        directions=directions,
    )
    # And an empty partition.
    df = frame(spark, x, y, chunked(rng, len(x), parts) + (0,))
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert model.auto_report["blocks"] >= 2
    assert_same(model, scored, x, y, **options)


@pytest.mark.parametrize("parts, directions", [(3, "iid"), (4, "orthogonal")])
def test_target_error_equals_one_machine(spark, rng, parts, directions):
    # Frames of 9 (from the shape) and blocks of 41: blocks start inside frames.
    x, y = sorted_mixture(rng, 457, 9, 3)
    options = dict(
        min_n_estimators=41,
        max_n_estimators=41 * 12,
        random_state=int(rng.integers(2**63)),
        directions=directions,
    )
    options["target_error"] = target_after(x, y, 4, **options)
    # And an empty partition.
    df = frame(spark, x, y, chunked(rng, len(x), parts) + (0,))
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert model.auto_report["converged"] and model.auto_report["blocks"] >= 2
    one = PSMI(**options).fit(x, y).model_.auto_report
    assert model.auto_report["converged"] == one["converged"]
    assert abs(model.auto_report["variation"] - one["variation"]) < SCORES
    assert_same(model, scored, x, y, **options)


def test_a_label_in_one_partition_a_one_row_partition_and_vectors(spark, rng):
    x, y = mixture(rng, 400, 7, 3)
    y[150:155] = 9
    options = dict(n_estimators=77, random_state=int(rng.integers(2**63)))
    df = frame(spark, x, y, (1, 99, 100, 200), column="vector")
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert 9 in model.labels.tolist()
    assert_same(model, scored, x, y, **options)


@pytest.mark.parametrize("column", ["binary", "double"])
def test_binary_and_double_columns_with_an_empty_partition(spark, rng, column):
    x, y = mixture(rng, 331, 13, 3)
    options = dict(n_estimators=97, random_state=int(rng.integers(2**63)))
    df = frame(spark, x, y, (150, 0, 181), column=column)
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert scored.columns == ["features", "label", "psmi_mean", "psmi_std"]
    assert_same(model, scored, x, y, **options)


@pytest.mark.parametrize("auto", [False, True])
def test_a_retried_task_gives_the_same_numbers(spark, rng, auto):
    from pyspark.sql import functions as F

    x, y = mixture(rng, 250, 6, 2)
    options = dict(min_n_estimators=33, max_n_estimators=33 * 6) if auto else dict(n_estimators=65)
    options["random_state"] = int(rng.integers(2**63))
    def label_failing_first_attempt(label):
        # Defined here so that Spark sends it by value to its workers.
        from pyspark import TaskContext

        task = TaskContext.get()
        if task.partitionId() == 1 and task.attemptNumber() == 0:
            raise RuntimeError("a task that fails once")
        return label

    flaky = F.udf(label_failing_first_attempt, "long")
    df = frame(spark, x, y, (90, 100, 60))
    df = df.withColumn("label", flaky("label"))
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    assert_same(model, scored, x, y, **options)


def test_bad_feature_values_are_named(spark, rng):
    x, y = mixture(rng, 30, 3, 2)
    df = frame(spark, x, y, (30,), column="binary")
    from pyspark.sql import functions as F

    short = df.withColumn("features", F.expr("substring(features, 1, 10)"))
    with pytest.raises(ValueError, match="features: row 0 of a batch has 10 bytes"):
        psmi_rs.spark.fit_transform(short, n_estimators=8)
    ragged = frame(spark, x, y, (30,)).withColumn(
        "features", F.expr("if(label = 1, slice(features, 1, 2), features)")
    )
    with pytest.raises(ValueError, match="features: row .* has 2 values, not 3|has 3 values, not 2"):
        psmi_rs.spark.fit_transform(ragged, n_estimators=8)


def same_error(spark, x, y, chunks, error=ValueError, **options):
    with pytest.raises(error) as one:
        PSMI(**options).fit_transform(x, y)
    with pytest.raises(error) as ours:
        psmi_rs.spark.fit_transform(frame(spark, x, y, chunks), **options)
    assert str(ours.value) == str(one.value)
    return str(ours.value)


def test_nan_in_one_partition_names_the_global_row(spark, rng):
    x, y = mixture(rng, 300, 6, 2)
    row = int(rng.integers(201, 300))
    x[row, 2] = np.nan
    message = same_error(spark, x, y, (120, 80, 100), n_estimators=16, random_state=3)
    assert f"row {row}" in message


def test_a_label_with_one_sample_overall_is_named(spark, rng):
    x, y = mixture(rng, 200, 4, 2)
    y[77] = 5
    message = same_error(spark, x, y, (100, 100), TooFewSamplesError, n_estimators=16, random_state=4)
    assert "label 5" in message


def test_bad_columns_are_named(spark, rng):
    x, y = mixture(rng, 20, 3, 2)
    df = frame(spark, x, y, (20,))
    with pytest.raises(ValueError, match="'feats'"):
        psmi_rs.spark.fit_transform(df, features="feats")
    with pytest.raises(ValueError, match="label"):
        psmi_rs.spark.fit_transform(df.withColumn("label", df["label"].cast("double")))


def test_the_docstring_example_runs(spark):
    import doctest

    result = doctest.testmod(psmi_rs.spark, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("width", [6, 7])
def test_kept_projections_are_read_for_the_rows_they_were_made_from_only(tmp_path, rng, width):
    from psmi_rs.spark import _KeptReader, _KeptWriter

    x = rng.normal(size=(50, width)).astype(np.float32)
    # Rows that differ from their neighbours in one bit of one value only
    # (the last value: the low half of a 64-bit word at an even width).
    x[20:30] = x[20]
    x[21:30, -1] = np.nextafter(x[21:30, -1], np.inf)
    x[25, 0] = np.nextafter(x[25, 0], np.inf)
    kept = rng.normal(size=(50, 4)).astype(np.float32)
    path = str(tmp_path / "kept")
    writer = _KeptWriter(path)
    writer.add(kept[:35], x[:35])
    writer.add(kept[35:], x[35:])
    assert not os.path.exists(path), "a half-written file is not where readers look"
    writer.close()
    reader = _KeptReader(path)
    assert reader.rows(21, x[20:30]) is None, "rows shifted by one are not those kept"
    assert reader.rows(46, x[45:]) is None, "rows past the end"
    assert np.array_equal(reader.rows(0, x[:40]), kept[:40])
    reader.done()
    assert os.path.exists(path), "kept until every row is read"
    assert np.array_equal(reader.rows(40, x[40:]), kept[40:])
    reader.done()
    assert not os.path.exists(path)
    assert _KeptReader(path).rows(0, x) is None, "no file: the features are projected"


def test_scores_come_from_the_kept_projections_then_from_the_features(spark, rng):
    from pyspark import SparkFiles

    root = os.path.join(SparkFiles.getRootDirectory(), "psmi_rs")
    runs = set(os.listdir(root)) if os.path.isdir(root) else set()
    x, y = sorted_mixture(rng, 500, 11, 3)
    options = dict(n_estimators=300, random_state=int(rng.integers(2**63)))
    df = frame(spark, x, y, (120, 0, 200, 180))
    model, scored = psmi_rs.spark.fit_transform(df, **options)
    (run,) = set(os.listdir(root)) - runs
    # One file per non-empty partition, for the model's 300 directions.
    assert sorted(os.listdir(os.path.join(root, run))) == ["0-300.0", "0-300.2", "0-300.3"]
    # Rows filtered out before the scores are not those kept: their
    # partitions score the features (labels are sorted: they cannot tell).
    kept = y != 1
    rows = scored.where("label != 1").collect()
    one = PSMI(**options, full=False).fit_transform(x, y)
    close([r["psmi_mean"] for r in rows], one.mean[kept], SCORES)
    assert_same(model, scored, x, y, **options)
    assert os.listdir(os.path.join(root, run)) == [], "read whole, then deleted"
    # Evaluated again: from the features.
    assert_same(model, scored, x, y, **options)


def test_passes_lower_the_arrow_batch_rows_while_they_run(spark, rng):
    from pyspark.sql import functions as F

    from psmi_rs.spark import _batches_of

    def batch_sizes(batches):
        # Defined here so that Spark sends it by value to its workers.
        import pyarrow as pa

        for batch in batches:
            yield pa.RecordBatch.from_pydict({"n": [batch.num_rows]})

    setting = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(setting)
    try:
        spark.conf.set(setting, "10000")
        df = spark.range(0, 1000, numPartitions=1).select(F.col("id"))
        with _batches_of(spark, 300):
            assert spark.conf.get(setting) == "300"
            sizes = df.mapInArrow(batch_sizes, "n long").collect()
        assert spark.conf.get(setting) == "10000", "restored"
        assert sorted(r["n"] for r in sizes) == [100, 300, 300, 300]
        spark.conf.set(setting, "200")
        with _batches_of(spark, 300):
            assert spark.conf.get(setting) == "200", "never raised"
        assert spark.conf.get(setting) == "200"
    finally:
        spark.conf.set(setting, before)
    # Partitions of many batches, uneven, for the passes and the scores.
    x, y = mixture(rng, 403, 9, 3)
    options = dict(n_estimators=40, random_state=int(rng.integers(2**63)))
    spark.conf.set(setting, "7")
    try:
        model, scored = psmi_rs.spark.fit_transform(frame(spark, x, y, (200, 203)), **options)
        assert_same(model, scored, x, y, **options)
    finally:
        spark.conf.set(setting, before)


@pytest.mark.parametrize("width", [1, 6, 7, 64])
def test_fingerprints_are_a_linear_function_of_the_bits_modulo_2_64(rng, width):
    from psmi_rs.spark import _fingerprints

    x = rng.normal(size=(40, width)).astype(np.float32)
    halves = x.view("<u4").tolist()
    # Python integers: 64-bit words of two values at an even width (the
    # first value the low half), one value a word otherwise.
    if width % 2 == 0:
        words = [[r[i] | (r[i + 1] << 32) for i in range(0, width, 2)] for r in halves]
    else:
        words = halves
    weights = np.random.default_rng(0x5051).integers(1, 2**63, size=len(words[0]), dtype=np.uint64) * 2 + 1
    expected = [sum(w * int(c) for w, c in zip(r, weights)) % 2**64 for r in words]
    assert _fingerprints(x).tolist() == expected
