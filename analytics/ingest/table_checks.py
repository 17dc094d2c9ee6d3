"""Checks of the whole cleaned table, run by :func:`analytics.ingest.cleaning.finish` after the row-level ones.

- :func:`merge_event_spellings`: event names that differ only in case become one event (a note says so).
- :func:`check_amounts`: amounts that look valid row by row but would make every spend figure wrong are
  kept and warned about in :attr:`~analytics.ingest.report.CleaningReport.warnings`, which the Data page,
  the HTML report and the command line show rather than tuck into the notes.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from analytics.ingest.report import CleaningReport
from analytics.sql import sql_literal
from analytics.wording import count

# An amount this many times the 99th percentile of all amounts is far more likely an error (an id or a
# price in cents in the amount column) than an order: 1e15 once came through as spend.
FAR_ABOVE = 10_000


def check_amounts(con: duckdb.DuckDBPyConnection, table: str, column: str, marks_currency: bool,
                  report: CleaningReport, line_of: Callable[[int], int]) -> None:
    """Add a warning for amounts in several currencies and for amounts far above the rest.

    Parameters
    ----------
    table : str
        The quoted cleaned table (``amount``, and ``_currency`` when ``marks_currency``: the currency
        mark of the row's amount, see :func:`~analytics.ingest.formats.currency_mark`).
    column : str
        The source column of the amounts, as the user knows it.
    line_of : callable
        A table rowid -> its line in the file.
    """
    if marks_currency:
        rows = con.execute(f"SELECT _currency, count(*) FROM {table} WHERE _currency IS NOT NULL "
                           "GROUP BY _currency").fetchall()
        if warning := several_currencies(column, rows):
            report.warnings.append(warning)
    p99, top = usual_amount(con, table)
    if far_above(p99, top):
        n, first = con.execute(f"SELECT count(*), min(rowid) FROM {table} WHERE abs(amount) > ?",
                               [FAR_ABOVE * p99]).fetchone()
        report.warnings.append(far_above_warning(column, n, p99, top, line_of(first)))


def several_currencies(column: str, marks: list[tuple[str, int]]) -> str | None:
    """The warning for amounts in more than one currency, from ``(mark, rows)`` counts; None for one.

    Marks are compared as written, except for case: 'kr' and 'KR' are one mark, shown as its commonest spelling.
    """
    spellings: dict[str, list[tuple[int, str]]] = {}
    for mark, n in marks:
        spellings.setdefault(mark.lower(), []).append((int(n), mark))
    found = sorted(((max(s)[1], sum(n for n, _ in s)) for s in spellings.values()), key=lambda f: (-f[1], f[0]))
    if len(found) < 2:
        return None
    shown = ", ".join(f"{mark} on {count(n, 'row')}" for mark, n in found[:6])
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    return (f"The amounts in '{column}' are in {len(found)} currencies ({shown}{more}). They are added up as one "
            "currency, so spend, order values and customer value mix them. Convert the amounts to one currency "
            "in the export, then import it again (if two marks are one currency, such as $ and USD, write it "
            "one way).")


def far_above(p99: float | None, top: float | None) -> bool:
    """Some amount is more than :data:`FAR_ABOVE` times the 99th percentile (see :func:`usual_amount`)."""
    return top is not None and bool(p99) and top > FAR_ABOVE * p99


def far_above_warning(column: str, n: int, p99: float, top: float, first_line: int | None = None) -> str:
    """The warning for ``n`` amounts far above the rest (the first one's line, where the engine knows it)."""
    kept = "It is kept and counts" if n == 1 else "They are kept and count"
    where = f", first on line {first_line:,}" if first_line is not None else ""
    return (f"{count(n, 'amount')} in '{column}' {'is' if n == 1 else 'are'} more than {FAR_ABOVE:,} times the usual "
            f"ones (99% of amounts are at most {p99:,.2f}; the largest is {top:,.0f}{where}). {kept} in every "
            "spend figure: if this is an id or a unit mistake, fix or remove it in the export, then import it again.")


def usual_amount(con: duckdb.DuckDBPyConnection, table: str) -> tuple[float | None, float | None]:
    """The 99th percentile and the largest of the absolute non-zero amounts of ``table`` (quoted)."""
    p99, top = con.execute(f"SELECT approx_quantile(abs(amount), 0.99), max(abs(amount)) FROM {table} "
                           "WHERE amount <> 0").fetchone()
    return (None if p99 is None else float(p99)), (None if top is None else float(top))


def merge_event_spellings(con: duckdb.DuckDBPyConnection, t: str, report: CleaningReport) -> None:
    """Event names that differ only in upper/lower case are one event: all take the most frequent spelling.

    Exports often mix ``purchase`` and ``PURCHASE``; kept apart, the purchases would be split in two
    and the purchase event guessed from half of them. Runs before duplicates are removed, so rows
    that become identical are removed too.
    """
    spellings: dict[str, list[tuple[int, str]]] = {}
    for name, n in con.execute(f"SELECT event, count(*) FROM {t} WHERE event IS NOT NULL GROUP BY event").fetchall():
        spellings.setdefault(name.casefold(), []).append((-int(n), name))
    merges = []  # (spelling, kept spelling, rows)
    for variants in spellings.values():
        if len(variants) > 1:
            (_, keep), *others = sorted(variants)
            merges += [(name, keep, -n) for n, name in others]
    if not merges:
        return
    cases = " ".join(f"WHEN {sql_literal(name)} THEN {sql_literal(keep)}" for name, keep, _ in merges)
    names = ", ".join(sql_literal(name) for name, _, _ in merges)
    con.execute(f"UPDATE {t} SET event = CASE event {cases} END WHERE event IN ({names})")
    shown = "; ".join(f"'{name}' ({count(n, 'row')}) into '{keep}'" for name, keep, n in merges[:5])
    more = f"; and {len(merges) - 5} more" if len(merges) > 5 else ""
    report.notes.append(f"Event names that differ only in upper/lower case were merged into the most frequent "
                        f"spelling: {shown}{more}.")
