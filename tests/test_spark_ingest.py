"""Awkward exports on Spark: column names with backticks, dots and braces, identifiers, encodings, title lines."""

from __future__ import annotations

import csv
import io

import pytest

from analytics.errors import ParseError
from analytics.features.spec import FeatureParams

pytestmark = [pytest.mark.spark, pytest.mark.slow]

NAMES = ["camp`aign", "a.b", "x {y}", "sku"]


@pytest.fixture(scope="module")
def spark():
    from analytics.engines import spark as sp

    return sp.session("local[2]")


def write_log(path, extra: list[str], encoding: str = "utf-8", title: str = "") -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["user_id", "event_time", "event", "amount", *extra])
    for i in range(40):
        w.writerow([f"u{i % 6}", f"2025-03-{1 + i % 28:02d} 10:00:00", "purchase" if i % 4 == 0 else "view",
                    f"{i}.5" if i % 4 == 0 else "", *[f"{name[:2]}-{i % 3}" for name in extra]])
    path.write_bytes((title + buf.getvalue()).encode(encoding))


def test_backticks_dots_and_braces_in_names_on_spark(spark, workspace, tmp_path):
    from analytics.engines import spark as sp

    path = tmp_path / "awkward.csv"
    write_log(path, NAMES)
    log = sp.load_log(spark, str(path))
    try:
        assert log.mapping.item_id == "sku"
        assert log.events.columns == ["user_id", "ts", "event", "amount", "session_id", "item_id", *NAMES[:3]]
        assert any("item / product id 'sku' as item_id" in n for n in log.report.notes)
        table, spec = sp.build_features(log, FeatureParams(purchase_event="purchase"))
        assert spec.text_attributes == NAMES[:3]
        on_spark = table.toPandas().set_index("user_id").sort_index()
    finally:
        log.release()
    ds = workspace.import_file(path)
    on_duckdb = workspace.features(ds.id, workspace.feature_params(ds.id, purchase_event="purchase"))
    on_duckdb = on_duckdb.set_index("user_id").sort_index()
    tops = [c for c in on_duckdb.columns if c.startswith("top_")]
    assert len(tops) == 3 and tops == [c for c in on_spark.columns if c.startswith("top_")]
    assert (on_spark[tops] == on_duckdb[tops]).all().all()


def test_encoding_on_spark_is_given_and_kept(spark, tmp_path):
    from analytics.engines import spark as sp

    path = tmp_path / "ru.csv"
    write_log(path, ["город"], encoding="cp1251")
    log = sp.load_log(spark, str(path), encoding="cp1251")
    try:
        assert "город" in log.events.columns and log.mapping.encoding == "cp1251"
    finally:
        log.release()
    assert sp.java_charset("cp1251") == "windows-1251" and sp.java_charset("cp932") == "windows-31j"


def test_title_lines_are_refused_on_spark_with_a_reason(spark, tmp_path):
    from analytics.engines import spark as sp

    path = tmp_path / "titled.csv"
    write_log(path, ["channel"], title="Sales export - Shop\n\n")
    with pytest.raises(ParseError, match="starts with 2 line"):
        sp.load_log(spark, str(path))


def test_json_events_are_refused_on_spark_with_where_to_import_them(spark, tmp_path):
    from analytics.engines import spark as sp
    from analytics.errors import UnsupportedFileError

    path = tmp_path / "events.csv"  # the name says CSV, the content is JSON lines
    path.write_text('{"user_id": "u1", "time": 1740823200, "event": "view"}\n' * 5)
    with pytest.raises(UnsupportedFileError, match="holds JSON events.*import it into the workspace"):
        sp.load_log(spark, str(path))


@pytest.mark.parametrize("amounts, expected", [
    ([f"€{10 + i}.50" for i in range(30)] + [f"$ {20 + i}.00" for i in range(12)] + ["15.00"],
     "2 currencies (€ on 30 rows, $ on 12 rows)"),
    ([f"{20 + i % 80}.99" for i in range(5)] + ["1000000000000000"] + [f"{20 + i % 80}.99" for i in range(194)],
     "1 amount in 'amount' is more than 10,000 times the usual ones"),
])
def test_amount_warnings_on_spark_are_those_of_duckdb(spark, workspace, tmp_path, amounts, expected):
    # Spark logs got no warning for amounts in several currencies or far above the rest: spend mixed
    # euros and dollars, or counted an id of 1e15, without a word.
    from analytics.engines import spark as sp

    path = tmp_path / "orders.csv"
    path.write_text("user,time,event,amount\n" + "".join(
        f"u{i % 40},2025-03-{1 + i % 28:02d} 10:{i % 60:02d},purchase,\"{a}\"\n" for i, a in enumerate(amounts)))
    log = sp.load_log(spark, str(path))
    try:
        on_spark = log.report.warnings
    finally:
        log.release()
    [on_duckdb] = workspace.import_file(path).report.warnings
    assert len(on_spark) == 1 and expected in on_spark[0] and expected in on_duckdb
    # The same words, less the line number Spark does not know.
    assert on_spark[0] == on_duckdb.replace(", first on line 7", "")
