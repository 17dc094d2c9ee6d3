"""The feature pipeline on Apache Spark, for logs that outgrow one machine.

A log in a data lake (a Parquet directory, or CSV files, by path or any
Hadoop-compatible URI) is read by Spark, mapped to the canonical events with
the same role guessing as an upload (:mod:`analytics.ingest.roles`), cleaned with the
same rules (rows without a user, readable time or event are dropped; exact
duplicates removed), and turned into the per-user feature table by the *same*
Ibis expressions as on DuckDB (:mod:`analytics.features.table`), here compiled for
Spark. Only the per-user table comes back.

The Spark engine is optional: ``pip install -r requirements-spark.txt`` (pyspark
and a Java 17 runtime). Masters: ``local[*]`` (default), ``spark://host:7077``,
or a Spark Connect URL ``sc://host:15002`` (needs pyspark's connect extras);
set ``MARKETLENS_SPARK_MASTER`` or pass it explicitly.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analytics import config
from analytics.engines.spark_cleaning import check_amounts, clean_log, spark_profile
from analytics.errors import MarketLensError, ParseError, SparkUnavailableError, UnsupportedFileError
from analytics.features.profile import DatasetProfile
from analytics.features.queries import window_users as features_window_users
from analytics.features.spec import FeatureParams, FeatureSpec, resolve_spec
from analytics.features.table import feature_table
from analytics.ingest.dialect import sniff_lines
from analytics.ingest.encoding import canonical_encoding
from analytics.ingest.nested import looks_like_json
from analytics.ingest.report import CleaningReport
from analytics.ingest.roles import ColumnMapping, guess_mapping, mapping_with
from analytics.ingest.source import unique_names
from analytics.progress import Progress, no_progress

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
DEFAULT_MASTER = "local[*]"

PREVIEW_ROWS = 2000


def spark_master(master: str | None = None) -> str:
    """The master to use: the argument, ``MARKETLENS_SPARK_MASTER``, or ``local[*]``."""
    return master or config.spark_master() or DEFAULT_MASTER


def session(master: str | None = None) -> SparkSession:
    """A Spark session in UTC with lenient (non-ANSI) casts, so bad values become empty, as on DuckDB."""
    master = spark_master(master)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError("The Spark engine is not installed here. Install it with "
                                    "`pip install -r requirements-spark.txt` (it also needs Java 17).") from exc
    if not master.startswith("sc://"):  # a Spark Connect client needs no local Java
        check_java()
    builder = SparkSession.builder.appName("MarketLens")
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    log_config = Path(__file__).with_name("spark-log4j2.properties")
    builder = (builder.config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               # Few shuffle partitions on one machine; a cluster sets its own.
               .config("spark.sql.shuffle.partitions", str(config.spark_partitions(master.startswith("local")))))
    _stop_if_other_master(SparkSession, master)
    try:
        with _jvm_output_to(Path(tempfile.gettempdir()) / "marketlens-spark.log"):
            return builder.getOrCreate()
    except Exception as exc:  # py4j/JVM failures have no common type
        raise SparkUnavailableError(f"Spark could not start with master '{master}': {str(exc).splitlines()[0]}. "
                                    "Check the master URL, that Java 17 is installed, and the Spark logs.") from exc


def check_java() -> Path:
    """The Java the local Spark driver will start, or a clear :class:`SparkUnavailableError`.

    pyspark uses ``JAVA_HOME`` when it is set and the ``java`` on the PATH
    otherwise; it needs Java 17 or newer.
    """
    java_home = config.java_home()
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not java.exists():
            raise SparkUnavailableError(
                f"JAVA_HOME is set to {java_home}, which has no bin/java, so Spark cannot start. Point JAVA_HOME at "
                "a Java 17 installation, or unset it to use the java on the PATH.")
        return java
    found = shutil.which("java")
    if not found:
        raise SparkUnavailableError(
            "The Spark engine needs Java 17, which is not installed here (no java on the PATH). Install it, e.g. "
            "`sudo apt-get install openjdk-17-jre-headless` (`make test` does this), or use the DuckDB engine.")
    return Path(found)


def _stop_if_other_master(session_class, master: str) -> None:
    """Stop a running local session that uses another master.

    ``getOrCreate`` would otherwise hand back the running session and silently
    ignore the master asked for: a dataset meant for the cluster would run on
    ``local[*]``, or the other way round.
    """
    active = session_class.getActiveSession()
    if active is None:
        return
    try:
        current = active.sparkContext.master
    except Exception:  # noqa: BLE001 - a Spark Connect session has no local context to ask
        return
    if current != master:
        log.info("Stopping the Spark session on %s to start one on %s", current, master)
        active.stop()


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
    profile : DatasetProfile
    """

    spark: SparkSession
    events: DataFrame
    view: str
    mapping: ColumnMapping
    report: CleaningReport
    profile: DatasetProfile

    def release(self) -> None:
        self.events.unpersist()
        self.spark.catalog.dropTempView(self.view)


def load_log(spark: SparkSession, uri: str, *, fmt: str | None = None, changes: dict | None = None,
             now: datetime | None = None, progress: Progress | None = None, encoding: str | None = None) -> SparkLog:
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
        ``event``, ``amount``, ``session_id``, ``item_id``, ``content_id``, ``campaign``, ``event_name``,
        ``date_order``).
    now : datetime, optional
        Times after now + 1 day are implausible and dropped.
    encoding : str, optional
        Text encoding of CSV files (a Python codec name such as ``cp1251``); default UTF-8.
        Spark reads files where they are, so the encoding is not detected as for uploads.

    Raises
    ------
    ParseError, MappingError, NoDataError
    """
    say = progress or no_progress
    say(0.0, "Reading the log with Spark")
    raw = _read(spark, uri, fmt, encoding)
    preview = raw.limit(PREVIEW_ROWS).toPandas().astype(object)
    preview = preview.where(preview.notna(), None)
    if preview.empty:
        raise ParseError(f"'{uri}' has no rows.")
    guess = guess_mapping(preview)
    mapping = mapping_with(list(raw.columns), guess.mapping, **(changes or {}))
    mapping.validate(list(raw.columns))
    mapping.encoding = None if java_charset(encoding) == "UTF-8" else canonical_encoding(encoding)
    say(0.4, "Converting and cleaning rows")
    events, report = clean_log(raw, mapping, preview, now or datetime.now(UTC))
    view = f"ev_spark_{uuid.uuid4().hex[:10]}"
    events = events.persist()
    events.createOrReplaceTempView(view)
    if mapping.amount:
        check_amounts(events, mapping.amount, report)
    say(0.8, "Profiling events")
    profile = spark_profile(spark, view, preview, mapping)
    report.users, report.ts_min, report.ts_max = profile.users, profile.ts_min, profile.ts_max
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


def _read(spark: SparkSession, uri: str, fmt: str | None, encoding: str | None = None) -> DataFrame:
    fmt = fmt or _guess_format(uri)
    charset = java_charset(encoding)
    try:
        if fmt == "parquet":
            df = spark.read.parquet(uri)
        else:
            # The same sniffer as uploads (DuckDB's), on the first lines as Spark reads them.
            lines = [r.value for r in spark.read.text(uri).limit(200).collect() if r.value is not None]
            if not any(ln.strip() for ln in lines):
                raise ParseError(f"'{uri}' is empty.")
            if looks_like_json("\n".join(lines[:5]).encode()):
                raise UnsupportedFileError(f"'{uri}' holds JSON events, which the Spark engine does not read; "
                                           "import it into the workspace (it reads JSON lines), or export the "
                                           "log as CSV or Parquet.")
            dialect = sniff_lines(lines)
            if dialect.delimiter == " ":
                raise ParseError(f"'{uri}' is separated by spaces, which the Spark engine does not read; "
                                 "export it as CSV (comma, semicolon, tab or pipe) or Parquet.")
            if dialect.skip_rows:
                raise ParseError(f"'{uri}' starts with {dialect.skip_rows} line(s) before its header (a title "
                                 "block), which the Spark engine cannot skip in every file; export the log without "
                                 "the title, or upload it.")
            if charset not in _SPARK_CHARSETS:
                # Spark 4 accepts only the Unicode encodings and Latin-1 unless Java's charsets are allowed.
                spark.conf.set("spark.sql.legacy.javaCharsets", "true")
            df = spark.read.csv(uri, sep=dialect.delimiter, header=dialect.header, quote=dialect.quote,
                                escape=dialect.escape, mode="PERMISSIVE", encoding=charset)
    except MarketLensError:
        raise
    except Exception as exc:  # AnalysisException (missing path, bad Parquet) and py4j errors
        raise ParseError(f"Spark could not read '{uri}': {str(exc).splitlines()[0][:300]}") from exc
    names = [n.lstrip("\ufeff") for n in df.columns]
    if fmt != "parquet" and all(re.fullmatch(r"_c\d+", n) for n in names):
        names = [f"column_{i + 1}" for i in range(len(names))]
    unique = unique_names(names)
    return df.toDF(*unique) if unique != list(df.columns) else df


_SPARK_CHARSETS = {"UTF-8", "UTF-16", "UTF-16LE", "UTF-16BE", "ISO-8859-1"}

# Python codec names -> Java charset names where they differ (Spark decodes with Java).
_JAVA_CHARSETS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16LE",
                  "utf-16-be": "UTF-16BE", "cp932": "windows-31j", "shift_jis": "Shift_JIS", "euc_jp": "EUC-JP",
                  "gb18030": "GB18030", "big5": "Big5", "cp949": "x-windows-949", "cp874": "x-windows-874",
                  "koi8-r": "KOI8-R", "koi8-u": "KOI8-U"}


def java_charset(encoding: str | None) -> str:
    """The Java name of a text encoding for Spark's CSV reader (``cp1251`` -> ``windows-1251``); UTF-8 by default."""
    if not encoding or encoding == "auto":
        return "UTF-8"
    name = canonical_encoding(encoding)
    if name in _JAVA_CHARSETS:
        return _JAVA_CHARSETS[name]
    if re.fullmatch(r"cp125\d", name):
        return "windows-" + name[2:]
    if name.startswith("iso8859-"):
        return "ISO-8859-" + name.split("-", 1)[1]
    return name


def _guess_format(uri: str) -> str:
    path = uri.rstrip("/")
    if path.lower().endswith(".parquet"):
        return "parquet"
    if os.path.isdir(path):
        files = [f for f in os.listdir(path) if not f.startswith((".", "_"))]
        if files and all(f.endswith(".parquet") for f in files):
            return "parquet"
    return "csv"
