"""Turn a raw file into the canonical events table, and report every change.

Cleaning runs in two steps, each its own transaction (see
:meth:`analytics.workspace.Workspace.import_staged`):

1. :func:`load` reads the file (through :func:`analytics.ingest.relation.raw_relation`) and
   writes the converted rows into a new table in one pass, tagging every row
   with a bit set of what was wrong with it. Values are copied as they are
   wherever possible, because any per-value string work on tens of millions of
   rows costs seconds.
2. :func:`finish` fixes the rare values that need it (surrounding spaces, very
   long text), counts and samples every problem, deletes rows that cannot be
   used (no user, no readable time, ...), removes exact duplicates and returns a
   :class:`CleaningReport`.

The canonical columns are ``user_id, ts, event, amount, session_id``, then the
identifiers the mapping names (``item_id``, ``content_id``, ``campaign``, as text),
then the attribute columns; ``_flags`` and ``_raw`` (the original text of rows that
had a problem on load) stay in the table for auditing and are never shown as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

from analytics.engines.limits import resource_error
from analytics.errors import MappingError, NoDataError, ParseError, RaggedRowsError
from analytics.ingest.conversions import currency_sql, is_number, is_text, number_sql, time_sql
from analytics.ingest.formats import (
    TimeFormat,
    decide_date_order,
    detect_number_format,
    detect_time_format,
    separated_date_formats,
)
from analytics.ingest.relation import preview, raw_relation
from analytics.ingest.report import DROP_MASK, MAX_TEXT, REASON_TEXT, REASONS, CleaningReport
from analytics.ingest.roles import CANONICAL, ID_ROLES, ROLE_LABELS, ColumnMapping, stored_attribute_names
from analytics.ingest.source import SourceFile
from analytics.ingest.source import short_error as _short
from analytics.ingest.table_checks import check_amounts, merge_event_spellings
from analytics.progress import Progress, no_progress
from analytics.sql import quote_ident, sql_literal

MAX_ID = 256


@dataclass(frozen=True)
class _Plan:
    """SQL for the cleaning statement, derived from the mapping and the sample.

    ``convert`` builds the canonical columns from the raw row (and passes raw
    columns through as ``_r0, _r1, ...``); ``output`` is the final column list.
    """

    convert: list[str]
    raw: dict[str, str]  # source column -> pass-through alias
    suspect: list[str]  # cheap per-row tests: the row may have a problem
    flags: list[tuple[int, str]]  # exact tests on a suspect row, reading its _raw text
    output: list[str]
    notes: list[str]
    attributes: list[tuple[str, str]]  # (output name, "text" | "number")
    identifiers: list[str]  # the ID_ROLES columns the table has (item_id, content_id, campaign)
    amount_column: str | None = None  # the source column of amount
    marks_currency: bool = False  # amounts carried currency marks: _currency holds each row's (formats.currency_mark)


def load(con: duckdb.DuckDBPyConnection, src: SourceFile, mapping: ColumnMapping, table: str, *,
         sample: pd.DataFrame | None = None, allow_bad_rows: bool = False,
         now: datetime | None = None) -> tuple[_Plan, CleaningReport]:
    """Step 1: convert every row of ``src`` into the new table ``table``.

    Parameters
    ----------
    con : DuckDBPyConnection
        A cursor of its own (DuckDB's reject tables are per connection).
    src : SourceFile
    mapping : ColumnMapping
        Validated against the file's columns first.
    table : str
        Name of the table to create (must not exist).
    sample : DataFrame, optional
        The preview already read for the mapping screen (read again when absent).
    allow_bad_rows : bool
        Import even when some rows have the wrong number of fields; otherwise
        :class:`RaggedRowsError` says how many and shows some.
    now : datetime, optional
        Times after ``now`` + 1 day are implausible (default: the current time).

    Returns
    -------
    plan, report
        Pass both to :func:`finish`.

    Raises
    ------
    MappingError, ParseError, RaggedRowsError
    """
    mapping.validate(src.columns)
    now = now or datetime.now(UTC)
    con.execute("SET TimeZone='UTC'")
    con.execute("SET preserve_insertion_order=true")  # rowid order = file order, for line numbers
    rel = raw_relation(con, src)
    types = _column_types(con, src)
    sample = preview(con, src) if sample is None else sample
    plan = _plan(con, rel, mapping, types, sample, now)
    try:
        con.execute(_statement(plan, rel, table))
    except duckdb.Error as exc:
        if resource_error(exc) is not None:
            raise  # out of memory or disk, not a broken file: the caller names the setting
        raise ParseError(f"'{src.name}' could not be read: {_short(exc)}. Check that it is a complete export "
                         "with one event per row.") from exc
    report = CleaningReport(notes=list(src.notes) + plan.notes)
    report.rejected_rows, rejected = _rejected(con, src)
    if report.rejected_rows:
        report.examples["rejected"] = rejected
        if not allow_bad_rows:
            raise RaggedRowsError(_rejected_message(src, report.rejected_rows, rejected), report.rejected_rows,
                                  rejected)
    return plan, report


def finish(con: duckdb.DuckDBPyConnection, src: SourceFile, plan: _Plan, report: CleaningReport, table: str,
           progress: Progress | None = None) -> CleaningReport:
    """Step 2: fix, count, sample and drop problem rows; remove exact duplicates.

    Raises
    ------
    NoDataError
        When no row is left; the message says why rows were dropped.
    """
    say = progress or no_progress
    t = quote_ident(table)
    base = con.execute(f"SELECT min(rowid) FROM {t}").fetchone()[0] or 0
    say(0.0, "Checking problem rows")
    bits = " | ".join(f"(CASE WHEN {cond} THEN {bit} ELSE 0 END)" for bit, cond in plan.flags)
    con.execute(f"UPDATE {t} SET _flags = CAST({bits} AS UTINYINT) WHERE _raw IS NOT NULL")
    for sql in _fixes(t, plan):
        con.execute(sql)
    merge_event_spellings(con, t, report)
    say(0.3, "Counting and removing problem rows")
    _count_flags(con, table, src, report, base)
    con.execute(f"DELETE FROM {t} WHERE _flags & {DROP_MASK} <> 0")
    say(0.6, "Removing exact duplicates")
    _remove_duplicates(con, table, src, plan, report, base)
    report.rows_kept = int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
    if report.rows_kept == 0:
        why = "; ".join(f"{n:,} {REASON_TEXT[k]}" for k, n in report.dropped.items()) or "no rows"
        raise NoDataError(f"No usable rows in '{src.name}': {why}. Check the column mapping (user, time) and "
                          "the date order, then import again.")
    if plan.amount_column:
        check_amounts(con, t, plan.amount_column, plan.marks_currency, report,
                      line_of=lambda rowid: _line(rowid, base, src))
    return report


def canonical_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Columns of an events table that are data (canonical + attributes), in order."""
    cols = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]
    return [c for c in cols if not c.startswith("_")]


def _column_types(con: duckdb.DuckDBPyConnection, src: SourceFile) -> dict[str, str]:
    rel = raw_relation(con, src, reject_bad_rows=False, limit=1)
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}


def _statement(plan: _Plan, rel: str, table: str) -> str:
    keys = ", ".join(sql_literal(c) for c in plan.raw)
    values = ", ".join(f"left(CAST({alias} AS VARCHAR), 200)" for alias in plan.raw.values())
    # Only rows with a possible problem keep their original text (a MAP of column -> text),
    # one cheap test per row; finish() works out exactly what is wrong with them.
    suspect = " OR ".join(f"({cond})" for cond in plan.suspect)
    return f"""
        CREATE TABLE {quote_ident(table)} AS
        WITH c AS (SELECT {', '.join(plan.convert)} FROM {rel} AS raw)
        SELECT {', '.join(plan.output)}, CAST(0 AS UTINYINT) AS _flags,
               CASE WHEN {suspect} THEN map([{keys}], [{values}]) END AS _raw
        FROM c"""


def _plan(con: duckdb.DuckDBPyConnection, rel: str, m: ColumnMapping, types: dict[str, str],
          sample: pd.DataFrame, now: datetime) -> _Plan:
    notes: list[str] = []
    q = quote_ident
    source = [c for c in m.roles().values() if c] + list(m.attributes)
    # The original text of these columns is kept for problem rows (shown in the report).
    raw = {c: f"_r{i}" for i, c in enumerate(dict.fromkeys(source[:30] + [c for c in (m.timestamp, m.amount) if c]))}
    convert = [f"raw.{q(c)} AS {alias}" for c, alias in raw.items()]

    def text(c: str) -> str:
        # CSV columns are already text; Parquet/Excel ones may not be.
        return f"raw.{q(c)}" if is_text(types.get(c, "VARCHAR")) else f"CAST(raw.{q(c)} AS VARCHAR)"

    def present(c: str) -> str:
        """The original text of a suspect row was not empty."""
        return f"(nullif(trim(_raw[{sql_literal(c)}]), '') IS NOT NULL)"

    suspect = ["user_id IS NULL", "ts IS NULL", "event IS NULL"]
    flags: list[tuple[int, str]] = [(1, "user_id IS NULL")]
    convert.append(f"{text(m.user_id)} AS user_id")
    tf = _time_format(con, rel, m, types, sample)
    notes.append(f"Time column '{m.timestamp}': {tf.describe()}.")
    naive_native = tf.kind == "native" and "WITH TIME ZONE" not in types.get(m.timestamp, "").upper()
    if tf.kind in ("iso", "dmy", "mdy", "ymd", "yyyymmdd") or naive_native or (tf.kind == "named" and not tf.offsets):
        notes.append("Times without a time-zone offset are taken as UTC." if m.timezone == "UTC" else
                     f"Times without a time-zone offset are taken as {m.timezone} time and stored in UTC.")
    convert.append(f"{time_sql(m.timestamp, tf, types, m.timezone)} AS ts")
    latest = (now + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    implausible = f"ts < TIMESTAMP '1970-01-02' OR ts > TIMESTAMP '{latest}'"
    suspect.append(implausible)
    flags += [(2, f"ts IS NULL AND {present(m.timestamp)}"),
              (4, f"ts IS NULL AND NOT {present(m.timestamp)}"),
              (16, implausible)]
    if m.event:
        convert.append(f"{text(m.event)} AS event")
    else:
        name = m.event_name.strip()[:200]
        convert.append(f"{sql_literal(name)} AS event")
        notes.append(f"No event column: every row is a '{name}' event.")
    flags.append((8, "event IS NULL"))
    marks_currency = False
    if m.amount:
        if is_number(types.get(m.amount, "")):
            convert.append(f"CAST(raw.{q(m.amount)} AS DOUBLE) AS _amount")
        else:
            nf = detect_number_format(sample[m.amount])
            convert.append(f"{number_sql(text(m.amount), nf)} AS _amount")
            notes.append(f"Amount column '{m.amount}': {nf.describe()}.")
            if nf.strip_symbols:  # each row's currency mark, to tell one currency from several (finish)
                convert.append(f"{currency_sql(text(m.amount))} AS _currency")
                marks_currency = True
        suspect.append(f"(_amount IS NULL AND {raw[m.amount]} IS NOT NULL) OR NOT isfinite(_amount)")
        flags.append((32, f"amount IS NULL AND {present(m.amount)}"))
        amount = "CASE WHEN isfinite(_amount) THEN _amount END AS amount"
    else:
        amount = "CAST(NULL AS DOUBLE) AS amount"
    if m.session_id:
        convert.append(f"{text(m.session_id)} AS session_id")
    else:
        convert.append("CAST(NULL AS VARCHAR) AS session_id")
        notes.append("No session column: sessions are derived (a new session after 30 minutes without events).")
    identifiers = [role for role in ID_ROLES if getattr(m, role)]
    for role in identifiers:
        convert.append(f"{text(getattr(m, role))} AS {role}")
    if identifiers:
        notes.append("Identifiers kept as text: " + ", ".join(
            f"{ROLE_LABELS[r].lower()} '{getattr(m, r)}' as {r}" for r in identifiers) + ".")

    number_checks, attributes = [], []
    for col, out in stored_attribute_names(m.attributes).items():
        if is_number(types.get(col, "")):
            convert.append(f"CAST(raw.{q(col)} AS DOUBLE) AS {q(out)}")
            attributes.append((out, "number"))
        elif is_text(types.get(col, "VARCHAR")) and numeric_attribute(sample[col]):
            convert.append(f"{number_sql(text(col), detect_number_format(sample[col]))} AS {q(out)}")
            if col in raw:
                suspect.append(f"{q(out)} IS NULL AND {raw[col]} IS NOT NULL")
                number_checks.append(f"({q(out)} IS NULL AND {present(col)})")
            attributes.append((out, "number"))
        else:
            convert.append(f"{text(col)} AS {q(out)}")
            attributes.append((out, "text"))
    if renamed := [a for a, _ in attributes if a not in m.attributes]:
        notes.append(f"Attribute columns renamed to avoid clashes: {', '.join(renamed)}.")
    if number_checks:
        flags.append((128, " OR ".join(number_checks)))
    output = ["user_id", "ts", "event", amount, "session_id", *identifiers, *(q(a) for a, _ in attributes)]
    output += ["_currency"] if marks_currency else []
    return _Plan(convert, raw, suspect, flags, output, notes, attributes, identifiers, m.amount, marks_currency)


def _fixes(table: str, plan: _Plan) -> list[str]:
    """UPDATEs of ``table`` (quoted) for the few values that need work; each only touches the rows it fixes.

    Identifiers and event names lose surrounding spaces (an all-space user or event
    becomes empty, which drops the row); text longer than the caps is cut and flagged.
    """
    fixes = []
    keys = [("user_id", 1, MAX_ID), ("event", 8, 200), ("session_id", 0, MAX_ID)]
    for col, bit, cap in keys + [(role, 0, MAX_ID) for role in plan.identifiers]:
        trimmed = f"nullif(left(trim({col}), {cap}), '')"
        fixes.append(
            f"UPDATE {table} SET {col} = {trimmed}, "
            f"_flags = _flags | CASE WHEN {trimmed} IS NULL THEN {bit} ELSE 0 END "
            f"| CASE WHEN strlen({col}) > {cap} THEN 64 ELSE 0 END "
            f"WHERE starts_with({col}, ' ') OR ends_with({col}, ' ') OR {col} = '' OR strlen({col}) > {cap}")
    for name, kind in plan.attributes:
        if kind == "text":
            c = quote_ident(name)
            fixes.append(f"UPDATE {table} SET {c} = left({c}, {MAX_TEXT}), _flags = _flags | 64 "
                         f"WHERE strlen({c}) > {MAX_TEXT}")
    return fixes


def numeric_attribute(col) -> bool:
    """An attribute is numeric when almost all its values are numbers and it does not look like an id."""
    values = [str(v).strip() for v in col.tolist() if v is not None and str(v).strip() != ""]
    if not values:
        return False
    fmt = detect_number_format(values)
    if fmt.share < 0.98:
        return False
    if detect_time_format(values) is not None:
        return False  # dates such as GA4's event_date (20250301) or epoch times are not quantities to average
    # Zero-padded codes (postcodes, product ids) stay text.
    return not any(v.startswith("0") and len(v) > 1 and v[1].isdigit() for v in values[:500])


def _time_format(con: duckdb.DuckDBPyConnection, rel: str, m: ColumnMapping, types: dict[str, str],
                 sample) -> TimeFormat:
    t = types.get(m.timestamp, "VARCHAR").upper()
    if t.startswith("TIMESTAMP") or t == "DATE":
        return TimeFormat("native")
    tf = detect_time_format(sample[m.timestamp], m.date_order)
    if tf is None:
        shown = ", ".join(repr(str(v))[:30] for v in sample[m.timestamp].dropna().head(3).tolist())
        raise MappingError(
            f"Column '{m.timestamp}' does not look like a time (e.g. {shown or 'empty'}). Map the time to "
            "another column, or export times as ISO 8601 (2025-03-01 14:05:00), DD/MM/YYYY or epoch seconds.")
    if tf.kind in ("dmy", "mdy") and tf.ambiguous and m.date_order == "auto":
        # The sample could not tell: look at every row before deciding.
        col = f"CAST({quote_ident(m.timestamp)} AS VARCHAR)"
        first, second = con.execute(
            f"SELECT max(TRY_CAST(regexp_extract({col}, '^\\s*(\\d{{1,2}})[/.-]', 1) AS INTEGER)), "
            f"max(TRY_CAST(regexp_extract({col}, '^\\s*\\d{{1,2}}[/.-](\\d{{1,2}})[/.-]', 1) AS INTEGER)) "
            f"FROM {rel}").fetchone()
        sep = tf.formats[0][2]
        kind, ambiguous = decide_date_order(first or 0, second or 0, sep)
        two_digit = "%y" in tf.formats[0]
        tf = TimeFormat(kind, separated_date_formats(kind, sep, two_digit, tf.formats[0][len("%d/%m/%Y"):]),
                        ambiguous, tf.share)
    return tf


def _line(rowid: int, base: int, src: SourceFile) -> int:
    """1-based line in the file of a table row (exact unless quoted values span lines)."""
    return int(rowid) - int(base) + 1 + int(src.skip_rows) + (1 if src.header and src.kind != "parquet" else 0)


def _count_flags(con: duckdb.DuckDBPyConnection, table: str, src: SourceFile, report: CleaningReport,
                 base: int) -> None:
    t = quote_ident(table)
    data_cols = canonical_columns(con, table)[:8]
    shown = ", ".join(quote_ident(c) for c in data_cols)
    # A dropped row counts under its first (lowest-bit) drop reason only.
    exprs = []
    for bit, _key, _ in REASONS:
        if bit & DROP_MASK:
            drops = f"(CAST(_flags AS INTEGER) & {DROP_MASK})"
            first = f"{drops} & -{drops} = {bit}"  # lowest set bit
            exprs.append(f"count_if({first})")
        else:
            exprs.append(f"count_if(_flags & {bit} <> 0 AND _flags & {DROP_MASK} = 0)")
    total, *counts = con.execute(f"SELECT count(*), {', '.join(exprs)} FROM {t}").fetchone()
    report.rows_read = int(total) + report.rejected_rows
    for (bit, key, _), n in zip(REASONS, counts):
        if not n:
            continue
        (report.dropped if bit & DROP_MASK else report.coerced)[key] = int(n)
        rows = con.execute(f"SELECT rowid, _raw, {shown} FROM {t} WHERE _flags & {bit} <> 0 "
                           "ORDER BY rowid LIMIT 3").fetchall()
        report.examples[key] = [
            {"line": _line(r[0], base, src),
             "values": r[1] if r[1] else {c: (None if v is None else str(v)[:200]) for c, v in zip(data_cols, r[2:])}}
            for r in rows]


def _remove_duplicates(con: duckdb.DuckDBPyConnection, table: str, src: SourceFile, plan: _Plan,
                       report: CleaningReport, base: int) -> None:
    t = quote_ident(table)
    cols = [*CANONICAL, *plan.identifiers, *(a for a, _ in plan.attributes)]
    key = ", ".join(quote_ident(c) for c in cols)
    # Sorting one 64-bit hash per row finds candidates faster than grouping all
    # columns (or the hashes); the few candidates are then compared exactly.
    candidates = f"""SELECT DISTINCT h FROM (SELECT h, lag(h) OVER (ORDER BY h) AS prev
                     FROM (SELECT hash({key}) AS h FROM {t})) WHERE h = prev"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dup_hashes AS {candidates}")
    if not con.execute("SELECT count(*) FROM _dup_hashes").fetchone()[0]:
        return
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _dups AS
        SELECT rowid AS rid,
               row_number() OVER (PARTITION BY {key} ORDER BY rowid) AS copy_no,
               min(rowid) OVER (PARTITION BY {key}) AS first_rid
        FROM {t} WHERE hash({key}) IN (SELECT h FROM _dup_hashes)""")
    extra = con.execute("SELECT count(*) FROM _dups WHERE copy_no > 1").fetchone()[0]
    if extra:
        rows = con.execute(f"""SELECT d.rid, d.first_rid, {', '.join(f't.{quote_ident(c)}' for c in cols[:6])}
                               FROM _dups d JOIN {t} t ON t.rowid = d.rid
                               WHERE d.copy_no > 1 ORDER BY d.rid LIMIT 3""").fetchall()
        report.examples["duplicate"] = [
            {"line": _line(r[0], base, src),
             "values": {"copy of line": _line(r[1], base, src),
                        **{c: (None if v is None else str(v)) for c, v in zip(cols[:6], r[2:])}}}
            for r in rows]
        con.execute(f"DELETE FROM {t} WHERE rowid IN (SELECT rid FROM _dups WHERE copy_no > 1)")
    report.duplicates_removed = int(extra)
    con.execute("DROP TABLE IF EXISTS _dups")
    con.execute("DROP TABLE IF EXISTS _dup_hashes")


def _rejected_message(src: SourceFile, n: int, rejected: list[dict]) -> str:
    first = rejected[0]
    if first["values"]["problem"] == "invalid encoding":
        # The sample read as one encoding, a later row does not: a mixed or wrongly detected file.
        return (f"{n:,} row(s) of '{src.name}' are not valid {src.encoding.upper()} text (first at line "
                f"{first['line']}), although the start of the file is. Choose the file's encoding in the mapping "
                "step (or --encoding, e.g. cp1252), or import the other rows anyway.")
    return (f"{n:,} row(s) of '{src.name}' cannot be read as rows: the wrong number of fields or broken quotes "
            f"(first at line {first['line']}). Import the other rows anyway, or fix the file.")


def _rejected(con: duckdb.DuckDBPyConnection, src: SourceFile) -> tuple[int, list[dict]]:
    if src.kind != "csv":
        return 0, []
    try:
        n = con.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchone()[0]
    except duckdb.CatalogException:
        return 0, []
    if not n:
        return 0, []
    rows = con.execute("""SELECT line, any_value(error_type), any_value(csv_line) FROM reject_errors
                          GROUP BY line ORDER BY line LIMIT 3""").fetchall()
    examples = [{"line": int(line), "values": {"problem": str(kind).lower().replace("_", " "),
                                               "text": (text or "")[:200]}} for line, kind, text in rows]
    return int(n), examples
