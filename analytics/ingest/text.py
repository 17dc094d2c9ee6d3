"""Text files: encoding (:mod:`analytics.ingest.encoding`), layout (:mod:`analytics.ingest.dialect`), column names."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb

from analytics.config import MB, Limits
from analytics.errors import EmptyFileError
from analytics.ingest.dialect import Dialect, sniff_dialect, sniff_lines, spaces_if_aligned
from analytics.ingest.encoding import decode_sample, detect_encoding, forced_encoding
from analytics.ingest.source import (
    CHUNK,
    DELIMITER_NAMES,
    SAMPLE_BYTES,
    TEXT_FILE_NOTE,
    SourceFile,
    check_width,
    unique_names,
)

# Python's csv module refuses fields over 128 kB by default; logs can have longer ones.
csv.field_size_limit(64 * MB)

_LINE_END = re.compile(r"\r\n|\r|\n")


def read_sample(path: Path, min_lines: int = 4) -> tuple[bytes, bool]:
    """The first megabyte, or more when that holds fewer than ``min_lines`` lines (very long fields).

    Returns the bytes and whether they are the whole file.
    """
    size = SAMPLE_BYTES
    with open(path, "rb") as fh:
        while True:
            fh.seek(0)
            sample = fh.read(size)
            full = len(sample) < size
            if full or sample.count(b"\n") >= min_lines or size >= 64 * SAMPLE_BYTES:
                return sample, full
            size *= 4


def _text_source(path: Path, name: str, size: int, limits: Limits, temp_dir: Path,
                 encoding: str | None = None, con: duckdb.DuckDBPyConnection | None = None) -> SourceFile:
    sample, full = read_sample(path)
    if encoding and encoding != "auto":
        guess = forced_encoding(sample, encoding, name, full)
    else:
        guess = detect_encoding(sample, name, full)
    text = decode_sample(sample, guess.encoding, full)
    if not text.strip():
        raise EmptyFileError(f"'{name}' contains only blank space, no rows. Export the log again.")
    notes: list[str] = []
    read_path = path
    if guess.encoding not in ("utf-8", "utf-8-sig"):
        read_path = temp_dir / "utf8.csv"
        replaced = _transcode(path, read_path, guess.encoding)
        notes.append(f"Converted text from {guess.label} to UTF-8."
                     + (f" {replaced:,} character(s) could not be decoded and became '\ufffd'." if replaced else ""))
    if guess.uncertain:
        notes.append("The encoding is uncertain: if names in the first rows look garbled, choose the file's "
                     "encoding (in the mapping step, or with --encoding on the command line).")
    dialect = sniff_dialect(read_path, con)
    body = skip_lines(text, dialect.skip_rows)
    lines = _sample_lines(body, full)
    dialect = spaces_if_aligned(dialect, lines)
    written = dialect.delimiter
    if dialect.delimiter == " ":
        tsv = temp_dir / "whitespace.tsv"
        _whitespace_to_tsv(read_path, tsv)
        read_path = tsv
        found = sniff_dialect(tsv, con)
        dialect = Dialect("\t", '"', '"', found.skip_rows, found.header)
        notes.append("Columns are separated by spaces; runs of spaces were treated as one separator.")
        lines = _sample_lines(skip_lines(text, dialect.skip_rows), full)
        rows = [ln.split() for ln in lines[:201]]
    else:
        rows = list(parse_rows("\n".join(lines[:201]), dialect))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise EmptyFileError(f"'{name}' has no rows.")
    if len(rows) == 1 and full:
        raise EmptyFileError(
            f"'{name}' has a single line ({', '.join(c[:30] for c in rows[0][:6])}): a header with no data rows, "
            "or one event without a header. Export the log again with its rows.")
    width = max(Counter(len(r) for r in rows).most_common(1)[0][0], len(rows[0]))
    if dialect.header:
        columns = unique_names([c.strip().lstrip("\ufeff") for c in rows[0]])
        if len(columns) < width:
            columns += unique_names([""] * (width - len(columns)), taken=set(columns))
        if len(set(c.lower() for c in rows[0])) < len(rows[0]):
            notes.append("Some column names were repeated; the copies got a number suffix (e.g. amount_2).")
    else:
        columns = [f"column_{i + 1}" for i in range(width)]
        notes.append("No header row found; columns are named column_1, column_2, ...")
    if dialect.skip_rows:
        title = next((ln.strip().strip(dialect.quote + dialect.delimiter).strip()
                      for ln in _LINE_END.split(text)[: dialect.skip_rows] if ln.strip()), "")
        notes.append(f"Skipped {dialect.skip_rows} line(s) before the {'header' if dialect.header else 'first row'}"
                     + (f" (a title: '{title[:80]}')." if title else "."))
    check_width(len(columns), name, limits)
    notes.insert(0, f"{TEXT_FILE_NOTE}{guess.describe()}, {DELIMITER_NAMES[written]}-separated, "
                    f"{'with' if dialect.header else 'no'} header, {len(columns)} columns.")
    return SourceFile(path=read_path, kind="csv", name=name, size_bytes=size,
                      encoding="utf-8" if guess.encoding == "utf-8-sig" else guess.encoding,
                      delimiter=dialect.delimiter, header=dialect.header, columns=columns, notes=notes,
                      quote=dialect.quote, escape=dialect.escape, skip_rows=dialect.skip_rows, encoding_guess=guess,
                      written_delimiter=written)


def parse_rows(text: str, dialect: Dialect) -> Iterator[list[str]]:
    """Rows of ``text`` split with the sniffed delimiter and quoting (Python's csv, for samples only)."""
    doubled = dialect.escape == dialect.quote
    return iter(csv.reader(io.StringIO(text), delimiter=dialect.delimiter, quotechar=dialect.quote,
                           doublequote=doubled, escapechar=None if doubled else dialect.escape))


def skip_lines(text: str, n: int) -> str:
    """``text`` without its first ``n`` lines (the title lines DuckDB skips, counted as it does)."""
    pos = 0
    for _ in range(n):
        m = _LINE_END.search(text, pos)
        if m is None:
            return ""
        pos = m.end()
    return text[pos:]


def _transcode(src: Path, dst: Path, encoding: str) -> int:
    """Copy ``src`` as UTF-8; returns how many characters could not be decoded (replaced by U+FFFD)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    replaced = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            text = decoder.decode(chunk)
            replaced += text.count("\ufffd")
            fout.write(text.encode("utf-8"))
        text = decoder.decode(b"", final=True)
        replaced += text.count("\ufffd")
        fout.write(text.encode("utf-8"))
    return replaced


def _whitespace_to_tsv(src: Path, dst: Path) -> None:
    with open(src, encoding="utf-8", errors="replace", newline="") as fin, \
            open(dst, "w", encoding="utf-8", newline="") as fout:
        for line in fin:
            fout.write("\t".join(line.split()) + "\n")


def _sample_lines(text: str, full: bool) -> list[str]:
    lines = text.splitlines()
    if not full and len(lines) > 1:
        lines = lines[:-1]  # the last line of a partial sample is cut off
    return [ln for ln in lines if ln.strip()]


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter DuckDB's sniffer finds in some lines: ``,`` ``;`` tab ``|``, or ``" "`` for aligned columns."""
    return sniff_lines(lines).delimiter


_NUMBERISH = re.compile(r"^[\s$€£+-]*[\d.,]+\s*%?$")

_DATEISH = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")

_KNOWN_NAMES = re.compile(
    r"(user|customer|client|visitor|member|account|id|time|date|ts|event|action|type|amount|revenue|"
    r"value|price|total|session|channel|source|platform|country|product|category|quantity|qty)", re.I)


def looks_like_header(first: list, rest: list[list]) -> bool:
    """Whether the first row of an Excel sheet is a header, judged against the rows after it.

    Text files are judged by DuckDB's sniffer (:func:`analytics.ingest.dialect.sniff_dialect`);
    a sheet has cells, not text, so it is judged here. A row is a header when its
    cells are distinct non-empty labels and at least one of them is text where the
    rest of its column is numbers or dates, or when the labels read like column
    names (user_id, date, amount, ...).
    """
    cells = ["" if c is None else str(c).strip() for c in first]
    if not cells or any(c == "" for c in cells):
        return False
    if any(_NUMBERISH.match(c) or _DATEISH.match(c) for c in cells):
        return False
    if sum(bool(_KNOWN_NAMES.search(c)) for c in cells) >= max(1, len(cells) // 2):
        return True  # even with a repeated name, which gets a suffix
    if len(set(cells)) < len(cells):
        return False
    for i in range(len(cells)):
        column = [str(r[i]).strip() for r in rest if i < len(r) and r[i] not in (None, "")]
        if column and sum(bool(_NUMBERISH.match(v) or _DATEISH.match(v)) for v in column) > 0.8 * len(column):
            return True
    # All text everywhere: a header if its cells never occur again in their column.
    return bool(rest) and all(c not in {str(r[i]).strip() for r in rest if i < len(r)} for i, c in enumerate(cells))
