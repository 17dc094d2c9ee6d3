"""What a recognised file is: :class:`SourceFile`, and the limits every reader applies."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analytics.config import MB, Limits
from analytics.errors import (
    ParseError,
)
from analytics.ingest.encoding import EncodingGuess
from analytics.sql import quote_ident, sql_literal  # noqa: F401 - re-exported until callers move

SAMPLE_BYTES = 1 * MB

CHUNK = 8 * MB

DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "whitespace"}


@dataclass
class SourceFile:
    """A file recognised by content and ready to be read as a table.

    Attributes
    ----------
    path : Path
        What DuckDB reads: the original, or an unpacked/transcoded copy.
    kind : {"csv", "parquet", "excel", "json"}
    name : str
        The file name as the user gave it (for display only, never used as a path).
    size_bytes : int
        Size of the file as uploaded.
    encoding, delimiter, header
        What sniffing found (text files only); ``path`` is UTF-8 whatever ``encoding`` the upload was in.
    quote, escape, skip_rows
        Quoting, and the title lines before the header that reading skips (text files only).
    encoding_guess : EncodingGuess or None
        How the encoding was decided, with its confidence (text files only).
    columns : list of str
        Column names, made unique and non-empty.
    notes : list of str
        Plain sentences about what was detected or changed (shown in the report).
    frame : DataFrame or None
        The sheet, for Excel (small by Excel's own limits).
    fields, json_columns : list of str, str
        For JSON, the SQL of each column over the file's records (nested fields flattened) and the
        types they are read as (every value as text).
    """

    path: Path
    kind: str
    name: str
    size_bytes: int
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: bool = True
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    quote: str = '"'
    escape: str = '"'
    skip_rows: int = 0
    encoding_guess: EncodingGuess | None = None
    fields: list[str] = field(default_factory=list)
    json_columns: str | None = None
    # The separator as the file writes it, when DuckDB reads a converted copy (spaces become tabs).
    written_delimiter: str | None = None
    _temp_dir: Path | None = None

    def describe(self) -> str:
        """One line for the UI: 'CSV, UTF-8, semicolon-separated, with header, 8 columns'.

        A detected encoding comes with its confidence ('Windows-1251 (Cyrillic), detected
        with 97% confidence'), and title lines skipped before the header are counted.
        """
        if self.kind == "csv":
            encoding = self.encoding_guess.describe() if self.encoding_guess else self.encoding.upper()
            delimiter = self.written_delimiter or self.delimiter or ","
            parts = ["CSV", encoding, f"{DELIMITER_NAMES.get(delimiter, 'comma')}-separated",
                     "with header" if self.header else "no header"]
            if self.skip_rows:
                parts.append(f"{self.skip_rows} title line{'s' if self.skip_rows > 1 else ''} skipped")
        else:
            parts = [{"parquet": "Parquet", "excel": "Excel workbook", "json": "JSON events"}[self.kind]]
        parts.append(f"{len(self.columns)} columns")
        return ", ".join(parts)

    def detail_notes(self) -> list[str]:
        """The notes that :meth:`describe` does not already say (all but a text file's summary)."""
        return [n for n in self.notes if not n.startswith(TEXT_FILE_NOTE)]

    def cleanup(self) -> None:
        """Remove unpacked or transcoded copies (the original is never touched)."""
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# The start of the note that sums up a text file (kept for the cleaning report, shown by describe()).
TEXT_FILE_NOTE = "Text file: "


def unique_names(names: list[str], taken: set[str] | None = None) -> list[str]:
    seen = {n.lower() for n in (taken or set())}
    out = []
    for i, raw in enumerate(names):
        base = re.sub(r"\s+", " ", str(raw)).strip()[:64] or f"column_{i + 1}"
        cand, k = base, 2
        while cand.lower() in seen:
            cand, k = f"{base}_{k}", k + 1
        seen.add(cand.lower())
        out.append(cand)
    return out


def short_error(exc: BaseException) -> str:
    """The first line of an engine's error, for a message to the user."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def check_width(n: int, name: str, limits: Limits) -> None:
    if n > limits.max_columns:
        raise ParseError(
            f"'{name}' has {n:,} columns, more than the {limits.max_columns:,} MarketLens reads. "
            "Export only the columns you need (user, time, event, amount and a few attributes).")
