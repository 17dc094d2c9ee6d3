"""How a text table is laid out (delimiter, quotes, title lines before the header, header or not): DuckDB's sniffer.

DuckDB's ``sniff_csv`` tries every delimiter, quote and escape it knows on
the first rows, skips title lines that do not fit the table (``Sales export -
Shop``, a blank line, then the header) and decides whether the first row is a
header from the column types below it. Its decision is then used to read every
column as text, so that cleaning decides, and counts, every conversion.
"""

from __future__ import annotations

import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

SNIFF_ROWS = 20_480  # DuckDB's default sample; a few milliseconds even on a 10M-row file

MAX_LINE = 32 * 1024 * 1024  # bytes of one line DuckDB accepts (exports carry long JSON/HTML fields)

_EMPTY = ("", "(empty)")

# sniff_csv options tried in turn until one finds two or more columns (see sniff_dialect).
_ATTEMPTS = ("", ", strict_mode=false", ", ignore_errors=true")

_ENGINE: duckdb.DuckDBPyConnection | None = None  # opening DuckDB costs ~80 ms; a cursor of one kept open ~0

_ENGINE_LOCK = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A cursor of a private in-memory DuckDB, used only to sniff files."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = duckdb.connect(":memory:")
        return _ENGINE.cursor()


@dataclass(frozen=True)
class Dialect:
    """What the sniffer found.

    Attributes
    ----------
    delimiter : str
        ``,`` ``;`` tab ``|``, or ``" "`` for columns aligned with runs of spaces.
    quote, escape : str
        Quote character and the character that escapes a quote inside a quoted value.
    skip_rows : int
        Lines before the header (or the first row) that are not part of the table.
    header : bool
        The first row of the table holds the column names.
    sniffed : bool
        False when the sniffer found nothing and these are the defaults.
    """

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    skip_rows: int = 0
    header: bool = True
    sniffed: bool = True


def sniff_dialect(path: Path | str, con: duckdb.DuckDBPyConnection | None = None) -> Dialect:
    """Delimiter, quoting, title lines and header of a UTF-8 text file, from its first rows.

    The strict sniff (every row the same width) is what recognises title lines;
    when it finds a single column, a non-strict one (which also reads a quoted
    title in a CRLF file) and then a lenient one (rows of the wrong width
    ignored) get another chance, so a few malformed rows do not hide the
    delimiter. A file the sniffer cannot read at all gets the defaults
    (comma, double quotes, header), and its rows then tell the rest.

    ``con`` is the connection to sniff with (the workspace's, so that its sandbox
    applies); default: a private in-memory DuckDB.
    """
    own = con is None
    con = _cursor() if own else con
    found: tuple[Dialect, int] | None = None
    try:
        for options in _ATTEMPTS:
            attempt = _sniff(con, Path(path), options)
            if attempt is not None and (found is None or attempt[1] > found[1]):
                found = attempt
            if found is not None and found[1] >= 2:
                break
    finally:
        if own:
            con.close()
    return found[0] if found else Dialect(sniffed=False)


def sniff_lines(lines: list[str]) -> Dialect:
    """The dialect of some text lines (the first lines of a file read elsewhere, e.g. by Spark)."""
    with tempfile.TemporaryDirectory(prefix="marketlens-sniff-") as tmp:
        path = Path(tmp) / "sample.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
        dialect = sniff_dialect(path)
    return spaces_if_aligned(dialect, lines[dialect.skip_rows:])


def spaces_if_aligned(dialect: Dialect, body: list[str]) -> Dialect:
    """``dialect`` with a space delimiter when its delimiter never occurs in the table's lines (``body``,
    title lines left out) and runs of spaces split them alike."""
    if any(dialect.delimiter in ln for ln in body) or not whitespace_separated(body):
        return dialect
    return Dialect(" ", dialect.quote, dialect.escape, dialect.skip_rows, dialect.header, dialect.sniffed)


def whitespace_separated(lines: list[str]) -> bool:
    """Columns aligned with runs of spaces (DuckDB's sniffer has no such delimiter): most lines split alike."""
    sample = [ln for ln in lines[:200] if ln.strip()]
    if not sample:
        return False
    width, hits = Counter(len(ln.split()) for ln in sample).most_common(1)[0]
    return width > 1 and hits / len(sample) >= 0.8


def _sniff(con: duckdb.DuckDBPyConnection, path: Path, extra: str) -> tuple[Dialect, int] | None:
    lenient = "ignore_errors" in extra
    query = ("SELECT Delimiter, Quote, Escape, SkipRows, HasHeader, len(Columns) "
             f"FROM sniff_csv(?, sample_size=?{extra}")
    try:
        # DuckDB's own line limit first: a 32 MB limit costs 0.3-1.4 s of buffers on every sniff.
        row = con.execute(query + ")", [str(path), SNIFF_ROWS]).fetchone()
    except duckdb.Error:
        try:  # a line longer than that (exports carry long JSON/HTML fields), or no table at all
            row = con.execute(query + ", max_line_size=?)", [str(path), SNIFF_ROWS, MAX_LINE]).fetchone()
        except duckdb.Error:
            return None  # not a table the sniffer can read; the caller falls back to defaults
    if row is None:
        return None
    delimiter, quote, escape, skip, header, width = row
    quote = '"' if quote in _EMPTY else quote
    escape = quote if escape in _EMPTY else escape
    # A lenient sniff does not look for title lines.
    return Dialect(delimiter or ",", quote, escape, 0 if lenient else int(skip or 0), bool(header)), int(width or 0)
