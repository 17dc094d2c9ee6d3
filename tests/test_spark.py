"""The same feature pipeline on Apache Spark (local mode): equal to DuckDB's, from CSV and Parquet."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analytics.errors import MarketLensError
from analytics.features.spec import FeatureParams
from sample_data.generate import generate, write_csv
from tests.helpers import ROOT

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark():
    from analytics.engines import spark as sp

    return sp.session("local[2]")


@pytest.fixture(scope="module")
def log_files(tmp_path_factory):
    """A generated log as one CSV file and as a directory of Parquet parts."""
    root = tmp_path_factory.mktemp("spark_logs")
    events, _ = generate(25_000, seed=5)
    csv_path = root / "events.csv"
    write_csv(events, csv_path)
    parquet_dir = root / "events_parquet"
    parquet_dir.mkdir()
    half = events.num_rows // 2
    pq.write_table(events.slice(0, half), parquet_dir / "part-0.parquet")
    pq.write_table(events.slice(half), parquet_dir / "part-1.parquet")
    return csv_path, parquet_dir


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.set_index("user_id").sort_index(), b.set_index("user_id").sort_index()
    assert list(a.index) == list(b.index), "same users"
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if a[col].dtype.kind in "if" or b[col].dtype.kind in "if":
            np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), rtol=1e-9, atol=1e-6,
                                       err_msg=col)
        else:
            assert (a[col].fillna("") == b[col].fillna("")).all(), col


@pytest.mark.parametrize("which", ["csv", "parquet"])
def test_spark_features_equal_duckdb(spark, workspace, log_files, which):
    from analytics.engines import spark as sp

    csv_path, parquet_dir = log_files
    duck = workspace.import_file(csv_path)
    log = sp.load_log(spark, str(csv_path if which == "csv" else parquet_dir))
    try:
        assert log.report.rows_kept == duck.rows and log.report.users == duck.users
        assert log.profile.event_counts == duck.profile.event_counts
        # Both engines keep every value of the few-valued attributes (their top value is counted).
        assert log.profile.attributes["channel"].values == duck.profile.attributes["channel"].values != ()
        frame, _ = sp.build_features(log, FeatureParams("purchase"))
        same_table(frame.toPandas(), workspace.features(duck.id))
    finally:
        log.release()


def test_connected_spark_dataset_rebuilds_with_other_parameters(workspace, log_files, spark):
    csv_path, parquet_dir = log_files
    ds = workspace.connect(str(parquet_dir), engine="spark", master="local[2]", name="Lake")
    assert ds.engine == "spark" and not ds.has_events and ds.source_uri == str(parquet_dir)
    duck = workspace.import_file(csv_path)
    same_table(workspace.features(ds.id), workspace.features(duck.id))
    params = {"as_of": datetime(2025, 4, 1), "top_events": 3}
    same_table(workspace.features(ds.id, workspace.feature_params(ds.id, **params)),
               workspace.features(duck.id, workspace.feature_params(duck.id, **params)))


def test_cli_engine_spark(tmp_path, log_files):
    csv_path, _ = log_files
    out = tmp_path / "f.parquet"
    res = subprocess.run([sys.executable, "-m", "analytics", "features", str(csv_path), "--engine", "spark",
                          "--spark-master", "local[2]", "-o", str(out), "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["engine"] == "spark" and summary["feature_users"] == len(pd.read_parquet(out))


def test_bad_path_is_a_clear_error(spark):
    from analytics.engines import spark as sp

    with pytest.raises(MarketLensError, match="could not read"):
        sp.load_log(spark, "/no/such/log.parquet")


def test_java_pattern():
    from analytics.engines.spark_cleaning import java_pattern

    assert java_pattern("%d/%m/%Y %H:%M:%S") == "d/M/yyyy H:m:s"
    assert java_pattern("%m/%d/%yT%I:%M %p") == "M/d/yy'T'h:m a"


def test_classifier_labels_on_spark_equal_duckdb(workspace, log_files, spark):
    from analytics.models.targets import TargetDefinition
    from analytics.models.training_set import build_training_set

    csv_path, parquet_dir = log_files
    lake = workspace.connect(str(parquet_dir), engine="spark", master="local[2]")
    local = workspace.import_file(csv_path)
    target = TargetDefinition(kind="event", target_event="purchase", horizon_days=21)
    on_spark = build_training_set(workspace, lake.id, target)
    on_duckdb = build_training_set(workspace, local.id, target)
    assert on_spark.target.cutoff == on_duckdb.target.cutoff
    assert list(on_spark.user_ids) == list(on_duckdb.user_ids)
    assert (on_spark.y == on_duckdb.y).all() and 0 < on_spark.positives < on_spark.n_users
    churn = TargetDefinition(kind="churn", horizon_days=21)
    assert (build_training_set(workspace, lake.id, churn).y == build_training_set(workspace, local.id, churn).y).all()


def test_missing_java_is_explained_before_spark_starts(monkeypatch, tmp_path):
    from analytics.engines import spark as sp
    from analytics.errors import SparkUnavailableError

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java anywhere
    with pytest.raises(SparkUnavailableError, match="needs Java 17"):
        sp.session("local[1]")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(SparkUnavailableError, match="has no bin/java"):
        sp.session("local[1]")


def test_cli_says_java_is_missing(tmp_path, sample_log):
    import os

    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("JAVA_HOME", None)
    res = subprocess.run([sys.executable, "-m", "analytics", "features", str(sample_log), "--engine", "spark",
                          "-o", str(tmp_path / "f.parquet")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and "needs Java 17" in res.stderr and "Traceback" not in res.stderr


def test_currency_marks_are_removed_on_spark_as_on_duckdb(spark):
    from pyspark.sql import functions as F

    from analytics.engines.spark_cleaning import _number
    from analytics.ingest.formats import NumberFormat

    written = ["₹1,200.00", "Rs. 1,200", "USD 12.50", "-$12.50", "HK$3", "12.00 CHF", "CHF 1'200.50", "u0004429",
               "SKU123"]
    nf = NumberFormat(".", ",", strip_symbols=True)
    frame = spark.createDataFrame([(w,) for w in written], ["a"])
    got = [r[0] for r in frame.select(_number(F.trim(F.col("a")), nf)).collect()]
    assert got == [1200.0, 1200.0, 12.5, -12.5, 3.0, 12.0, 1200.5, None, None] == [nf.parse(w) for w in written]


def test_times_with_month_names_are_read_on_spark_as_on_duckdb(spark):
    from pyspark.sql import functions as F

    from analytics.engines.spark_cleaning import _time
    from tests.test_cleaning import NAMED_TIMES

    for written, offset in NAMED_TIMES.items():
        values = [written.format(d=1 + i % 27) for i in range(60)]
        frame = spark.createDataFrame([(v,) for v in values], ["t"])
        # As text in the session's time zone (UTC), whatever the zone of the machine running the test.
        parsed = F.date_format(_time("t", {}, pd.DataFrame({"t": values}), "auto"), "yyyy-MM-dd HH:mm:ss")
        got = sorted({r[0] for r in frame.select(parsed).collect()})
        at = (lambda d: datetime(2025, 3, d)) if offset is None else (lambda d, o=offset: datetime(2025, 3, d, 10 - o))
        assert got == [f"{at(d):%Y-%m-%d %H:%M:%S}" for d in range(1, 28)], written


def test_an_offset_after_a_space_is_read_on_spark_as_on_duckdb(spark):
    from pyspark.sql import functions as F

    from analytics.engines.spark_cleaning import _time

    values = ["2025-03-01 10:00:00 +0100", "2025-03-01T10:00:00-05:00", "2025-03-01 10:00:00"]
    frame = spark.createDataFrame([(v,) for v in values], ["t"])
    parsed = F.date_format(_time("t", {}, pd.DataFrame({"t": values}), "auto"), "yyyy-MM-dd HH:mm:ss")
    assert [r[0] for r in frame.select(parsed).collect()] == [
        "2025-03-01 09:00:00", "2025-03-01 15:00:00", "2025-03-01 10:00:00"]


def test_local_times_are_read_in_the_logs_time_zone_on_spark_as_on_duckdb(spark):
    from pyspark.sql import functions as F

    from analytics.engines.spark_cleaning import _time

    for values, expected in [
            (["2025-03-01 10:00:00", "2025-07-01 10:00:00", "2025-07-01T10:00:00Z", "2025-07-01T10:00:00+02:00"],
             ["2025-03-01 09:00:00", "2025-07-01 08:00:00", "2025-07-01 10:00:00", "2025-07-01 08:00:00"]),
            (["01/03/2025 10:00", "13/07/2025 10:00"], ["2025-03-01 09:00:00", "2025-07-13 08:00:00"])]:
        frame = spark.createDataFrame([(v,) for v in values], ["t"])
        parsed = _time("t", {}, pd.DataFrame({"t": values}), "auto", "Europe/Berlin")
        assert [r[0] for r in frame.select(F.date_format(parsed, "yyyy-MM-dd HH:mm:ss")).collect()] == expected
