"""Text files: encoding, delimiter and header, decided from a sample of the bytes."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from pathlib import Path

from analytics.config import MB, Limits
from analytics.errors import (
    EmptyFileError,
    UnsupportedFileError,
)
from analytics.ingest.source import CHUNK, DELIMITER_NAMES, SAMPLE_BYTES, SourceFile, check_width, unique_names
from analytics.sql import quote_ident, sql_literal  # noqa: F401 - re-exported until callers move

# Python's csv module refuses fields over 128 kB by default; logs can have longer ones.
csv.field_size_limit(64 * MB)

DELIMITERS = [",", ";", "\t", "|"]


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


def _text_source(path: Path, name: str, size: int, limits: Limits, temp_dir: Path) -> SourceFile:
    sample, full = read_sample(path)
    encoding = detect_encoding(sample, name)
    try:
        text = decode_sample(sample, encoding, full)
    except UnicodeDecodeError as exc:
        raise _not_text(name) from exc
    if not text.strip():
        raise EmptyFileError(f"'{name}' contains only blank space, no rows. Export the log again.")
    notes: list[str] = []
    read_path = path
    if encoding not in ("utf-8", "utf-8-sig"):
        read_path = temp_dir / "utf8.csv"
        _transcode(path, read_path, encoding, name)
        notes.append(f"Converted text from {encoding.upper()} to UTF-8.")
    lines = _sample_lines(text, full)
    delimiter = sniff_delimiter(lines)
    if delimiter == " ":
        tsv = temp_dir / "whitespace.tsv"
        _whitespace_to_tsv(read_path, tsv)
        read_path, delimiter = tsv, "\t"
        notes.append("Columns are separated by spaces; runs of spaces were treated as one separator.")
    if read_path.name == "whitespace.tsv":
        rows = [ln.split() for ln in lines[:201]]
    else:
        rows = list(csv.reader(io.StringIO("\n".join(lines[:201])), delimiter=delimiter))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise EmptyFileError(f"'{name}' has no rows.")
    if len(rows) == 1 and full:
        raise EmptyFileError(
            f"'{name}' has a single line ({', '.join(c[:30] for c in rows[0][:6])}): a header with no data rows, "
            "or one event without a header. Export the log again with its rows.")
    header = looks_like_header(rows[0], rows[1:])
    width = max(Counter(len(r) for r in rows).most_common(1)[0][0], len(rows[0]))
    if header:
        columns = unique_names([c.strip().lstrip("\ufeff") for c in rows[0]])
        if len(columns) < width:
            columns += unique_names([""] * (width - len(columns)), taken=set(columns))
        if len(set(c.lower() for c in rows[0])) < len(rows[0]):
            notes.append("Some column names were repeated; the copies got a number suffix (e.g. amount_2).")
    else:
        columns = [f"column_{i + 1}" for i in range(width)]
        notes.append("No header row found; columns are named column_1, column_2, ...")
    check_width(len(columns), name, limits)
    pretty = "UTF-8 with BOM" if encoding == "utf-8-sig" else encoding.upper()
    notes.insert(0, f"Text file: {pretty}, {DELIMITER_NAMES[delimiter]}-separated, "
                    f"{'with' if header else 'no'} header, {len(columns)} columns.")
    return SourceFile(path=read_path, kind="csv", name=name, size_bytes=size,
                      encoding="utf-8" if encoding == "utf-8-sig" else encoding,
                      delimiter=delimiter, header=header, columns=columns, notes=notes)


def detect_encoding(sample: bytes, name: str = "file") -> str:
    """Name of the codec that decodes ``sample``: utf-8-sig, utf-16, utf-8 or cp1252/latin-1.

    Raises
    ------
    UnsupportedFileError
        When the bytes are not text at all.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    if head and head.count(0) > len(head) // 4:
        # UTF-16 without BOM: ASCII text has a NUL in every other byte.
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if odd > 0.8 * len(head) // 2:
            return "utf-16-le"
        if even > 0.8 * len(head) // 2:
            return "utf-16-be"
        raise _not_text(name)
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            text = decode_sample(sample, enc, full=False)
        except UnicodeDecodeError:
            continue
        if _binary_share(text) > 0.01:
            raise _not_text(name)
        return enc
    raise _not_text(name)  # pragma: no cover - latin-1 decodes any byte


def _not_text(name: str) -> UnsupportedFileError:
    return UnsupportedFileError(
        f"'{name}' is not a text table (it looks like binary data). Upload a CSV/TSV (optionally .gz), "
        "Parquet or Excel .xlsx export of the events.")


def _binary_share(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f\v")
    return bad / len(text)


def decode_sample(sample: bytes, encoding: str, full: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    # final=False lets a multi-byte character cut at the sample's end pass.
    return decoder.decode(sample, final=full)


def _transcode(src: Path, dst: Path, encoding: str, name: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(decoder.decode(chunk).encode("utf-8"))
        fout.write(decoder.decode(b"", final=True).encode("utf-8"))


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
    """Pick the delimiter that splits the sample lines into the most, most consistent fields.

    Quotes are respected, so commas inside quoted values (or decimal commas in
    a semicolon file) do not mislead it. Returns ``" "`` for whitespace-separated
    text and ``","`` when nothing splits the lines (a one-column file).
    """
    sample = lines[:200]
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("\n".join(sample)), delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        width, hits = Counter(counts).most_common(1)[0]
        consistency = hits / len(counts)
        if width > 1 and consistency >= 0.6:
            score = (round(consistency, 1), width)
            if score > best_score:
                best, best_score = delim, score
    if best_score[1] > 1:
        return best
    counts = [len(ln.split()) for ln in sample]
    width, hits = Counter(counts).most_common(1)[0]
    if width > 1 and hits / len(counts) >= 0.8:
        return " "
    return ","


_NUMBERISH = re.compile(r"^[\s$€£+-]*[\d.,]+\s*%?$")

_DATEISH = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")

_KNOWN_NAMES = re.compile(
    r"(user|customer|client|visitor|member|account|id|time|date|ts|event|action|type|amount|revenue|"
    r"value|price|total|session|channel|source|platform|country|product|category|quantity|qty)", re.I)


def looks_like_header(first: list, rest: list[list]) -> bool:
    """Whether ``first`` is a header row, judged against the rows after it.

    A row is a header when its cells are distinct non-empty labels and at least
    one of them is text where the rest of its column is numbers or dates, or
    when the labels read like column names (user_id, date, amount, ...).
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
