"""The feature pipeline on Apache Spark, for logs that outgrow one machine.

A log in a data lake (a Parquet directory, or CSV files, by path or any
Hadoop-compatible URI) is read by Spark, mapped to the canonical events with
the same role guessing as an upload (:mod:`analytics.ingest.roles`), cleaned with the
same rules (rows without a user, readable time or event are dropped; exact
duplicates removed), and turned into the per-user feature table by the *same*
Ibis expressions as on DuckDB (:mod:`analytics.features`), here compiled for
Spark. Only the per-user table comes back.

The Spark engine is optional: ``pip install -r requirements-spark.txt`` (pyspark
and a Java 17 runtime). Masters: ``local[*]`` (default), ``spark://host:7077``,
or a Spark Connect URL ``sc://host:15002`` (needs pyspark's connect extras);
set ``MARKETLENS_SPARK_MASTER`` or pass it explicitly.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analytics.engine import resolve_spec
from analytics.errors import MappingError, MarketLensError, NoDataError, ParseError
from analytics.features import (
    CANONICAL,
    FeatureParams,
    FeatureSpec,
    attribute_types,
    distinct_in_sample,
    event_profile,
    feature_table,
    profile_from,
)
from analytics.features import window_users as features_window_users
from analytics.ingest.formats import NumberFormat, TimeFormat, detect_number_format, detect_time_format
from analytics.ingest.report import CleaningReport
from analytics.ingest.roles import ColumnMapping, guess_mapping, mapping_with
from analytics.ingest.source import unique_names
from analytics.ingest.text import looks_like_header, sniff_delimiter

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

DEFAULT_MASTER = "local[*]"
PREVIEW_ROWS = 2000


class SparkUnavailableError(MarketLensError):
    """pyspark or Java is missing, or the master cannot be reached."""


def spark_master(master: str | None = None) -> str:
    """The master to use: the argument, ``MARKETLENS_SPARK_MASTER``, or ``local[*]``."""
    return master or os.environ.get("MARKETLENS_SPARK_MASTER") or DEFAULT_MASTER


def session(master: str | None = None) -> SparkSession:
    """A Spark session in UTC with lenient (non-ANSI) casts, so bad values become empty, as on DuckDB."""
    master = spark_master(master)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError("The Spark engine is not installed here. Install it with "
                                    "`pip install -r requirements-spark.txt` (it also needs Java 17).") from exc
    builder = SparkSession.builder.appName("MarketLens")
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    log_config = Path(__file__).with_name("spark-log4j2.properties")
    builder = (builder.config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # Few shuffle partitions on one machine; a cluster sets its own.
               .config("spark.sql.shuffle.partitions",
                       os.environ.get("MARKETLENS_SPARK_PARTITIONS", "8" if master.startswith("local") else "200")))
    try:
        with _jvm_output_to(Path(tempfile.gettempdir()) / "marketlens-spark.log"):
            return builder.getOrCreate()
    except Exception as exc:  # py4j/JVM failures have no common type
        raise SparkUnavailableError(f"Spark could not start with master '{master}': {str(exc).splitlines()[0]}. "
                                    "Check the master URL, that Java 17 is installed, and the Spark logs.") from exc


@contextmanager
def _jvm_output_to(path: Path) -> Iterator[None]:
    """Start the JVM with its stderr in a log file, so users see our messages, not Java's start-up chatter.

    The JVM is a child process: it keeps the file descriptor it was started with,
    while Python's own stderr is restored right after.
    """
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass
class SparkLog:
    """A log read and cleaned by Spark: canonical events (a cached DataFrame) and what was done.

    Attributes
    ----------
    events : pyspark DataFrame
        ``user_id, ts, event, amount, session_id`` + attributes, registered as ``view``.
    view : str
        Temporary view name of ``events`` (what the Ibis expressions read).
    mapping : ColumnMapping
    report : CleaningReport
        Counts as on DuckDB; Spark reports no example lines.
    profile : dict
        As :func:`analytics.features.profile_from`.
    """

    spark: SparkSession
    events: DataFrame
    view: str
    mapping: ColumnMapping
    report: CleaningReport
    profile: dict

    def release(self) -> None:
        self.events.unpersist()
        self.spark.catalog.dropTempView(self.view)


def load_log(spark: SparkSession, uri: str, *, fmt: str | None = None, changes: dict | None = None,
             now: datetime | None = None, progress: Callable[[str], None] | None = None) -> SparkLog:
    """Read, map and clean a log on Spark.

    Parameters
    ----------
    spark : SparkSession
    uri : str
        A Parquet file or directory, or CSV file(s) (a directory or glob; ``.gz`` is read as such).
    fmt : {"parquet", "csv"}, optional
        Default: from the name (``.parquet`` or a directory of Parquet parts), else CSV.
    changes : dict, optional
        Role overrides as for :func:`analytics.ingest.roles.mapping_with` (``user_id``, ``timestamp``,
        ``event``, ``amount``, ``session_id``, ``event_name``, ``date_order``).
    now : datetime, optional
        Times after now + 1 day are implausible and dropped.

    Raises
    ------
    ParseError, MappingError, NoDataError
    """
    say = progress or (lambda _m: None)
    say("Reading the log with Spark")
    raw = _read(spark, uri, fmt)
    preview = raw.limit(PREVIEW_ROWS).toPandas().astype(object)
    preview = preview.where(preview.notna(), None)
    if preview.empty:
        raise ParseError(f"'{uri}' has no rows.")
    guess = guess_mapping(preview)
    mapping = mapping_with(list(raw.columns), guess.mapping, **(changes or {}))
    mapping.validate(list(raw.columns))
    say("Converting and cleaning rows")
    events, report = _clean(raw, mapping, preview, now or datetime.now(UTC))
    view = f"ev_spark_{uuid.uuid4().hex[:10]}"
    events = events.persist()
    events.createOrReplaceTempView(view)
    say("Profiling events")
    profile = _profile(spark, view, preview, mapping)
    report.users, report.ts_min, report.ts_max = profile["users"], profile["ts_min"], profile["ts_max"]
    return SparkLog(spark, events, view, mapping, report, profile)


def window_users(log: SparkLog, start: datetime, end: datetime, event: str | None = None) -> pd.Series:
    """Users with an event in ``(start, end]`` (see :func:`analytics.features.window_users`), computed on Spark."""
    import ibis

    con = ibis.pyspark.connect(log.spark)
    return con.execute(features_window_users(con.table(log.view), start, end, event))["user_id"].astype(str)


def to_arrow(frame: DataFrame):
    """Collect a (small) Spark DataFrame to the driver as an Arrow table."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    import pyarrow as pa

    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


def build_features(log: SparkLog, params: FeatureParams) -> tuple[DataFrame, FeatureSpec]:
    """The per-user feature table as a Spark DataFrame, from the engine-portable Ibis expressions."""
    import ibis

    spec = resolve_spec(params, log.profile)
    con = ibis.pyspark.connect(log.spark)
    expr = feature_table(con.table(log.view), params, spec)
    return log.spark.sql(str(con.compile(expr))), spec


# --- reading ------------------------------------------------------------------------------------

def _read(spark: SparkSession, uri: str, fmt: str | None) -> DataFrame:
    fmt = fmt or _guess_format(uri)
    try:
        if fmt == "parquet":
            df = spark.read.parquet(uri)
        else:
            lines = [r.value for r in spark.read.text(uri).limit(200).collect() if r.value and r.value.strip()]
            if not lines:
                raise ParseError(f"'{uri}' is empty.")
            delim = sniff_delimiter(lines)
            if delim == " ":
                raise ParseError(f"'{uri}' is separated by spaces, which the Spark engine does not read; "
                                 "export it as CSV (comma, semicolon, tab or pipe) or Parquet.")
            first = next(csv.reader([lines[0]], delimiter=delim))
            rest = list(csv.reader(lines[1:], delimiter=delim))
            header = looks_like_header(first, rest)
            df = spark.read.csv(uri, sep=delim, header=header, quote='"', escape='"', mode="PERMISSIVE",
                                encoding="UTF-8")
    except MarketLensError:
        raise
    except Exception as exc:  # AnalysisException (missing path, bad Parquet) and py4j errors
        raise ParseError(f"Spark could not read '{uri}': {str(exc).splitlines()[0][:300]}") from exc
    names = list(df.columns)
    if fmt != "parquet" and all(re.fullmatch(r"_c\d+", n) for n in names):
        names = [f"column_{i + 1}" for i in range(len(names))]
    unique = unique_names(names)
    return df.toDF(*unique) if unique != list(df.columns) else df


def _guess_format(uri: str) -> str:
    path = uri.rstrip("/")
    if path.lower().endswith(".parquet"):
        return "parquet"
    if os.path.isdir(path):
        files = [f for f in os.listdir(path) if not f.startswith((".", "_"))]
        if files and all(f.endswith(".parquet") for f in files):
            return "parquet"
    return "csv"


# --- cleaning -----------------------------------------------------------------------------------

def _clean(raw: DataFrame, m: ColumnMapping, preview: pd.DataFrame, now: datetime) -> tuple[DataFrame, CleaningReport]:
    from pyspark.sql import functions as F

    types = dict(raw.dtypes)

    def text(c: str) -> Column:
        return F.trim(F.col(f"`{c}`").cast("string"))

    def nonempty(c: str) -> Column:
        t = text(c)
        return F.when(t == "", F.lit(None)).otherwise(t)

    ts = _time(m.timestamp, types, preview, m.date_order)
    cols = {
        "user_id": nonempty(m.user_id),
        "ts": ts,
        "event": nonempty(m.event) if m.event else F.lit(m.event_name.strip()),
        "amount": _amount(m.amount, types, preview) if m.amount else F.lit(None).cast("double"),
        "session_id": nonempty(m.session_id) if m.session_id else F.lit(None).cast("string"),
    }
    staged = raw.select(
        *(expr.alias(name) for name, expr in cols.items()),
        *(_attribute(a, types, preview).alias(_attr_name(a)) for a in m.attributes),
        nonempty(m.timestamp).alias("_src_ts"),
        (nonempty(m.amount) if m.amount else F.lit(None).cast("string")).alias("_src_amount"),
    )
    latest = (now + timedelta(days=1)).replace(tzinfo=None)
    implausible = (F.col("ts") < F.lit("1970-01-02").cast("timestamp")) | (F.col("ts") > F.lit(latest))
    checks = {
        "no_user": F.col("user_id").isNull(),
        "bad_time": F.col("ts").isNull() & F.col("_src_ts").isNotNull(),
        "no_time": F.col("_src_ts").isNull(),
        "no_event": F.col("event").isNull(),
        "implausible_time": F.col("ts").isNotNull() & implausible,
    }
    # A dropped row counts under its first reason, as on DuckDB.
    first, seen = {}, F.lit(False)
    for key, cond in checks.items():
        first[key] = cond & ~seen
        seen = seen | cond
    aggs = [F.count(F.lit(1)).alias("rows")]
    aggs += [F.sum(F.when(c, 1).otherwise(0)).alias(k) for k, c in first.items()]
    aggs.append(F.sum(F.when(~seen & F.col("amount").isNull() & F.col("_src_amount").isNotNull(), 1)
                      .otherwise(0)).alias("bad_amount"))
    counts = staged.agg(*aggs).collect()[0].asDict()
    valid = staged.filter(~seen).drop("_src_ts", "_src_amount")
    events = valid.dropDuplicates()
    kept = events.count()
    n_valid = counts["rows"] - sum(int(counts[k] or 0) for k in checks)
    report = CleaningReport(
        rows_read=int(counts["rows"]), rows_kept=int(kept), duplicates_removed=int(n_valid - kept),
        dropped={k: int(counts[k]) for k in checks if counts[k]},
        coerced={"bad_amount": int(counts["bad_amount"])} if counts["bad_amount"] else {},
        notes=[f"Read with Spark; roles: {', '.join(f'{r}={c}' for r, c in m.roles().items() if c)}.",
               "Example lines are not collected on Spark; the counts are exact."])
    if kept == 0:
        why = "; ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in report.dropped.items()) or "no rows"
        raise NoDataError(f"No usable rows: {why}. Check the column roles and the date order.")
    return events, report


def _attr_name(name: str) -> str:
    return f"{name}_attr" if name.lower() in CANONICAL or name.startswith("_") else name


def _time(col: str, types: dict[str, str], preview: pd.DataFrame, date_order: str) -> Column:
    from pyspark.sql import functions as F

    c = F.col(f"`{col}`")
    if types.get(col, "string").startswith(("timestamp", "date")):
        return c.cast("timestamp")
    tf = detect_time_format(preview[col], date_order)
    if tf is None:
        raise MappingError(f"Column '{col}' does not look like a time. Map the time to another column, or export "
                           "times as ISO 8601 (2025-03-01 14:05:00), DD/MM/YYYY or epoch seconds.")
    text = F.trim(c.cast("string"))
    if tf.kind == "iso":
        return F.to_timestamp(text)
    if tf.kind == "epoch_s":
        return F.timestamp_seconds(text.cast("double"))
    if tf.kind == "epoch_ms":
        return F.timestamp_millis(text.cast("long"))
    if tf.kind == "epoch_us":
        return F.timestamp_micros(text.cast("long"))
    return F.coalesce(*(F.to_timestamp(text, java_pattern(f)) for f in _formats(tf)))


def _formats(tf: TimeFormat) -> tuple[str, ...]:
    return tf.formats or ("%Y%m%d",)


_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m", "%S": "s",
         "%f": "SSSSSS", "%p": "a", "T": "'T'"}


def java_pattern(strptime_format: str) -> str:
    """A strptime format as a Spark (Java) datetime pattern; single letters accept one or two digits."""
    return re.sub(r"%[YymdHIMSfp]|T", lambda mt: _JAVA[mt.group(0)], strptime_format)


def _number(text: Column, nf: NumberFormat) -> Column:
    from pyspark.sql import functions as F

    s = text
    if nf.strip_symbols:
        s = F.regexp_replace(s, r"[\s\u00a0$€£¥]", "")
    if nf.thousands:
        s = F.regexp_replace(s, re.escape(nf.thousands), "")
    if nf.decimal == ",":
        s = F.regexp_replace(s, ",", ".")
    value = s.cast("double")
    return F.when(F.isnan(value) | (F.abs(value) == float("inf")), F.lit(None)).otherwise(value)


def _amount(col: str, types: dict[str, str], preview: pd.DataFrame) -> Column:
    from pyspark.sql import functions as F

    c = F.col(f"`{col}`")
    if types.get(col, "string") in ("double", "float", "int", "bigint", "smallint", "tinyint") or \
            types.get(col, "").startswith("decimal"):
        return c.cast("double")
    return _number(F.trim(c.cast("string")), detect_number_format(preview[col]))


def _attribute(col: str, types: dict[str, str], preview: pd.DataFrame) -> Column:
    from pyspark.sql import functions as F

    from analytics.ingest.cleaning import numeric_attribute
    from analytics.ingest.report import MAX_TEXT

    c = F.col(f"`{col}`")
    t = types.get(col, "string")
    if t in ("double", "float", "int", "bigint", "smallint", "tinyint") or t.startswith("decimal"):
        return c.cast("double")
    if numeric_attribute(preview[col]):
        return _number(F.trim(c.cast("string")), detect_number_format(preview[col]))
    return F.substring(c.cast("string"), 1, MAX_TEXT)


def _profile(spark: SparkSession, view: str, preview: pd.DataFrame, m: ColumnMapping) -> dict:
    import ibis

    con = ibis.pyspark.connect(spark)
    events = con.table(view)
    by_event = con.execute(event_profile(events))
    users = int(con.execute(events.user_id.nunique()))
    attrs = attribute_types(events)
    # Categories vs identifiers from the preview, as for uploads.
    sample = distinct_in_sample(preview.rename(columns={a: _attr_name(a) for a in m.attributes}), list(attrs))
    return profile_from(by_event, users, attrs, sample)
