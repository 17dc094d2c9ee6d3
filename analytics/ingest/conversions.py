"""The SQL that turns a column's text into times, numbers and currency marks, as :mod:`.formats` decided.

Used by :mod:`analytics.ingest.cleaning` in its one statement over the raw rows (``raw.<column>``).
"""

from __future__ import annotations

from analytics.ingest.formats import CURRENCY_MARKS, MARK_NOISE, SPACES_CLASS, NumberFormat, TimeFormat
from analytics.sql import quote_ident, sql_literal


def is_text(sql_type: str) -> bool:
    """A column DuckDB reads as text (every CSV column is)."""
    return sql_type.upper() in ("VARCHAR", "TEXT", "STRING") or sql_type.upper().startswith("VARCHAR")


def is_number(sql_type: str) -> bool:
    """A column DuckDB reads as a number (Parquet, Excel and JSON can hold them)."""
    t = sql_type.upper()
    return any(t.startswith(p) for p in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                         "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"))


def time_sql(col: str, tf: TimeFormat, types: dict[str, str], timezone: str = "UTC") -> str:
    """The raw column ``col`` as a naive UTC timestamp (NULL where it does not read as ``tf``)."""
    c = f"raw.{quote_ident(col)}"
    text = f"trim(CAST({c} AS VARCHAR))"
    number = c if is_number(types.get(col, "")) else f"TRY_CAST({text} AS DOUBLE)"

    def local(naive: str) -> str:
        """A time written without an offset, read in the log's time zone, as UTC."""
        return naive if timezone == "UTC" else f"CAST(timezone({sql_literal(timezone)}, {naive}) AS TIMESTAMP)"

    if tf.kind == "native":
        absolute = "WITH TIME ZONE" in types.get(col, "").upper()
        return f"CAST({c} AS TIMESTAMP)" if absolute else local(f"CAST({c} AS TIMESTAMP)")
    if tf.kind == "iso" and timezone != "UTC":
        # Only values with neither an offset nor Z/UTC/GMT are local times (the UTC case below keeps its
        # faster test by length).
        offset = f"replace(replace({c}, ' +', '+'), ' -', '-')"
        return (f"CASE WHEN regexp_matches({c}, '[T ]\\d{{1,2}}:\\d{{2}}.*[+-]\\d{{2}}:?\\d{{2}}$') "
                f"THEN CAST(TRY_CAST({offset} AS TIMESTAMPTZ) AS TIMESTAMP) "
                f"WHEN regexp_matches({c}, '(Z|UTC|GMT)$', 'i') THEN TRY_CAST({c} AS TIMESTAMP) "
                f"ELSE {local(f'TRY_CAST({c} AS TIMESTAMP)')} END")
    if tf.kind == "iso":
        # Parsing with time zones is slower, and a plain TIMESTAMP cast would silently
        # drop an offset, so only values long enough to carry one (over 20 characters,
        # '2025-03-01T10:00:00Z' is 20) with a + or - after the date take the slow path.
        tail = f"substr({c}, 11)"
        # DuckDB reads '+0100' after the time but not ' +0100' (Shopify's exports): the space goes.
        offset = f"replace(replace({c}, ' +', '+'), ' -', '-')"
        return (f"CASE WHEN strlen({c}) <= 20 THEN TRY_CAST({c} AS TIMESTAMP) "
                f"WHEN contains({tail}, '+') OR contains({tail}, '-') "
                f"THEN CAST(TRY_CAST({offset} AS TIMESTAMPTZ) AS TIMESTAMP) ELSE TRY_CAST({c} AS TIMESTAMP) END")
    if tf.kind == "epoch_s":
        return f"CAST(to_timestamp({number}) AS TIMESTAMP)"
    if tf.kind == "epoch_ms":
        return f"epoch_ms(CAST({number} AS BIGINT))"
    if tf.kind == "epoch_us":
        return f"make_timestamp(CAST({number} AS BIGINT))"
    fmts = ", ".join(sql_literal(f) for f in tf.formats)
    # With an offset (%z) strptime gives a time with zone; the session's zone is UTC, so the cast gives UTC.
    parsed = f"try_strptime({text}, [{fmts}])"
    return f"CAST({parsed} AS TIMESTAMP)" if tf.offsets else local(parsed)


def number_sql(text: str, nf: NumberFormat) -> str:
    """The text expression ``text`` as a DOUBLE read as ``nf`` says (NULL where it is not a number)."""
    if not (nf.strip_symbols or nf.thousands or nf.decimal == ","):
        return f"TRY_CAST({text} AS DOUBLE)"  # the cast itself ignores surrounding spaces
    s = f"trim({text})"
    if nf.strip_symbols:
        marks = sql_literal(CURRENCY_MARKS)
        s = f"regexp_replace(concat(regexp_extract({s}, {marks}, 1), regexp_extract({s}, {marks}, 3)), " \
            f"{sql_literal(SPACES_CLASS)}, '', 'g')"
    if nf.thousands:
        s = f"replace({s}, {sql_literal(nf.thousands)}, '')"
    if nf.decimal == ",":
        s = f"replace({s}, ',', '.')"
    return f"TRY_CAST({s} AS DOUBLE)"


def currency_sql(text: str) -> str:
    """SQL twin of :func:`~analytics.ingest.formats.currency_mark` (NULL when the amount has no mark)."""
    s, marks = f"trim({text})", sql_literal(CURRENCY_MARKS)
    mark = f"concat(regexp_extract({s}, {marks}, 2), regexp_extract({s}, {marks}, 4))"
    return f"nullif(regexp_replace({mark}, {sql_literal(MARK_NOISE)}, '', 'g'), '')"
