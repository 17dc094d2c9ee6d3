"""The cleaning rules of :mod:`analytics.ingest.cleaning`, as Spark column expressions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from analytics.errors import MappingError, NoDataError
from analytics.features.profile import DatasetProfile, distinct_in_sample, few_valued, profile_from
from analytics.features.queries import attribute_types, attribute_values, event_profile
from analytics.ingest.formats import (
    CURRENCY_MARKS,
    MARK_NOISE,
    SPACES_CLASS,
    NumberFormat,
    TimeFormat,
    detect_number_format,
    detect_time_format,
)
from analytics.ingest.report import CleaningReport
from analytics.ingest.roles import ID_ROLES, ROLE_LABELS, ColumnMapping, stored_attribute_names
from analytics.ingest.table_checks import FAR_ABOVE, far_above, far_above_warning, several_currencies
from analytics.sql import quote_spark_ident

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def clean_log(raw: DataFrame, m: ColumnMapping, preview: pd.DataFrame,
              now: datetime) -> tuple[DataFrame, CleaningReport]:
    from pyspark.sql import functions as F

    types = dict(raw.dtypes)

    def text(c: str) -> Column:
        return F.trim(_col(c).cast("string"))

    def nonempty(c: str) -> Column:
        t = text(c)
        return F.when(t == "", F.lit(None)).otherwise(t)

    ts = _time(m.timestamp, types, preview, m.date_order, m.timezone)
    cols = {
        "user_id": nonempty(m.user_id),
        "ts": ts,
        "event": nonempty(m.event) if m.event else F.lit(m.event_name.strip()),
        "amount": _amount(m.amount, types, preview) if m.amount else F.lit(None).cast("double"),
        "session_id": nonempty(m.session_id) if m.session_id else F.lit(None).cast("string"),
    }
    identifiers = [role for role in ID_ROLES if getattr(m, role)]
    cols |= {role: nonempty(getattr(m, role)) for role in identifiers}
    staged = raw.select(
        *(expr.alias(name) for name, expr in cols.items()),
        *(_attribute(a, types, preview).alias(name) for a, name in stored_attribute_names(m.attributes).items()),
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
    usable = staged.filter(~seen)
    valid = usable.drop("_src_ts", "_src_amount")
    events = valid.dropDuplicates()
    kept = events.count()
    n_valid = counts["rows"] - sum(int(counts[k] or 0) for k in checks)
    report = CleaningReport(
        rows_read=int(counts["rows"]), rows_kept=int(kept), duplicates_removed=int(n_valid - kept),
        dropped={k: int(counts[k]) for k in checks if counts[k]},
        coerced={"bad_amount": int(counts["bad_amount"])} if counts["bad_amount"] else {},
        notes=[f"Read with Spark; roles: {', '.join(f'{r}={c}' for r, c in m.roles().items() if c)}.",
               "Example lines are not collected on Spark; the counts are exact."])
    if identifiers:
        report.notes.append("Identifiers kept as text: " + ", ".join(
            f"{ROLE_LABELS[r].lower()} '{getattr(m, r)}' as {r}" for r in identifiers) + ".")
    if kept == 0:
        why = "; ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in report.dropped.items()) or "no rows"
        raise NoDataError(f"No usable rows: {why}. Check the column roles and the date order.")
    if m.amount and not _numeric(types.get(m.amount, "string")) and detect_number_format(
            preview[m.amount]).strip_symbols:
        # Each kept row's currency mark, as cleaning.finish counts them on DuckDB (one more pass, only then).
        marks = usable.select(_currency(F.col("_src_amount")).alias("mark")).where(F.col("mark").isNotNull())
        found = [(r["mark"], r["count"]) for r in marks.groupBy("mark").count().collect()]
        if warning := several_currencies(m.amount, found):
            report.warnings.append(warning)
    return events, report


def check_amounts(events: DataFrame, column: str, report: CleaningReport) -> None:
    """Warn about amounts far above the rest, as :func:`analytics.ingest.table_checks.check_amounts` does
    (run on the cached events; Spark knows no line numbers)."""
    from pyspark.sql import functions as F

    size = F.abs(F.col("amount"))
    p99, top = events.where(F.col("amount") != 0).agg(F.percentile_approx(size, 0.99), F.max(size)).first()
    p99, top = (None if p99 is None else float(p99)), (None if top is None else float(top))
    if far_above(p99, top):
        report.warnings.append(far_above_warning(column, events.where(size > FAR_ABOVE * p99).count(), p99, top))


def _currency(text: Column) -> Column:
    """The currency mark of an amount's text (the twin of analytics.ingest.conversions.currency_sql)."""
    from pyspark.sql import functions as F

    mark = F.regexp_replace(F.concat(F.regexp_extract(text, CURRENCY_MARKS, 2),
                                     F.regexp_extract(text, CURRENCY_MARKS, 4)), MARK_NOISE, "")
    return F.when(mark == "", F.lit(None)).otherwise(mark)


def _numeric(spark_type: str) -> bool:
    return spark_type in ("double", "float", "int", "bigint", "smallint", "tinyint") or spark_type.startswith("decimal")


def _col(name: str) -> Column:
    """A column of the raw log by its name, whatever characters it holds (dots, backticks, ...)."""
    from pyspark.sql import functions as F

    return F.col(quote_spark_ident(name))


def _time(col: str, types: dict[str, str], preview: pd.DataFrame, date_order: str, timezone: str = "UTC") -> Column:
    from pyspark.sql import functions as F

    def local(naive: Column) -> Column:
        """A time written without an offset, read in the log's time zone, as UTC (as on DuckDB)."""
        return naive if timezone == "UTC" else F.to_utc_timestamp(naive, timezone)

    c = _col(col)
    if types.get(col, "string").startswith(("timestamp", "date")):
        return c.cast("timestamp")
    tf = detect_time_format(preview[col], date_order)
    if tf is None:
        raise MappingError(f"Column '{col}' does not look like a time. Map the time to another column, or export "
                           "times as ISO 8601 (2025-03-01 14:05:00), DD/MM/YYYY or epoch seconds.")
    text = F.trim(c.cast("string"))
    if tf.kind == "iso":  # without the space before an offset, as on DuckDB ('10:00:00 +0100')
        parsed = F.to_timestamp(F.regexp_replace(text, r" ([+-]\d)", "$1"))
        absolute = text.rlike(r"[T ]\d{1,2}:\d{2}.*[+-]\d{2}:?\d{2}$") | text.rlike(r"(?i)(Z|UTC|GMT)$")
        return parsed if timezone == "UTC" else F.when(absolute, parsed).otherwise(local(parsed))
    if tf.kind == "epoch_s":
        return F.timestamp_seconds(text.cast("double"))
    if tf.kind == "epoch_ms":
        return F.timestamp_millis(text.cast("long"))
    if tf.kind == "epoch_us":
        return F.timestamp_micros(text.cast("long"))
    parsed = F.coalesce(*(_parsed(text, f) for f in _formats(tf)))
    return parsed if tf.offsets else local(parsed)


def _parsed(text: Column, strptime_format: str) -> Column:
    from pyspark.sql import functions as F

    # Spark parses no day names (EEE is for formatting only), so a leading one is cut from the text first.
    weekday = re.match(r"%[aA],? ", strptime_format)
    if weekday:
        text = F.regexp_replace(text, r"^[A-Za-z]+,?\s+", "")
        strptime_format = strptime_format[weekday.end():]
    return F.to_timestamp(text, java_pattern(strptime_format))


def _formats(tf: TimeFormat) -> tuple[str, ...]:
    return tf.formats or ("%Y%m%d",)


_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m", "%S": "s",
         "%f": "SSSSSS", "%p": "a", "%b": "MMM", "%B": "MMMM",
         "%z": "[XXX][XX]"}  # +02:00, +0200 or Z, as strptime's %z


def java_pattern(strptime_format: str) -> str:
    """A strptime format as a Spark (Java) datetime pattern; single letters accept one or two digits,
    and letters that are text (the T of ISO times, GMT) are quoted."""
    return re.sub(r"%[A-Za-z]|[A-Za-z]+", lambda mt: _JAVA.get(mt.group(0)) or f"'{mt.group(0)}'", strptime_format)


def _number(text: Column, nf: NumberFormat) -> Column:
    from pyspark.sql import functions as F

    s = text
    if nf.strip_symbols:  # the same expression as on DuckDB (see formats.CURRENCY_MARKS)
        s = F.regexp_replace(F.concat(F.regexp_extract(s, CURRENCY_MARKS, 1), F.regexp_extract(s, CURRENCY_MARKS, 3)),
                             SPACES_CLASS, "")
    if nf.thousands:
        s = F.regexp_replace(s, re.escape(nf.thousands), "")
    if nf.decimal == ",":
        s = F.regexp_replace(s, ",", ".")
    value = s.cast("double")
    return F.when(F.isnan(value) | (F.abs(value) == float("inf")), F.lit(None)).otherwise(value)


def _amount(col: str, types: dict[str, str], preview: pd.DataFrame) -> Column:
    from pyspark.sql import functions as F

    c = _col(col)
    if _numeric(types.get(col, "string")):
        return c.cast("double")
    return _number(F.trim(c.cast("string")), detect_number_format(preview[col]))


def _attribute(col: str, types: dict[str, str], preview: pd.DataFrame) -> Column:
    from pyspark.sql import functions as F

    from analytics.ingest.cleaning import numeric_attribute
    from analytics.ingest.report import MAX_TEXT

    c = _col(col)
    if _numeric(types.get(col, "string")):
        return c.cast("double")
    if numeric_attribute(preview[col]):
        return _number(F.trim(c.cast("string")), detect_number_format(preview[col]))
    return F.substring(c.cast("string"), 1, MAX_TEXT)


def spark_profile(spark: SparkSession, view: str, preview: pd.DataFrame, m: ColumnMapping) -> DatasetProfile:
    import ibis

    con = ibis.pyspark.connect(spark)
    events = con.table(view)
    by_event = con.execute(event_profile(events))
    users = int(con.execute(events.user_id.nunique()))
    attrs = attribute_types(events)
    # Categories vs identifiers from the preview, as for uploads.
    sample = distinct_in_sample(preview.rename(columns=stored_attribute_names(m.attributes)), list(attrs))
    values = {a: con.execute(attribute_values(events, a))["value"].tolist()
              for a in few_valued(attrs, sample)}
    return profile_from(by_event, users, attrs, sample, values)
