"""Recognise an uploaded file by its content and make it readable as a table.

``open_source`` looks at the bytes, never at the file name: gzip is unpacked
(with caps on size and ratio), Excel and Parquet are recognised by their magic
bytes, text is decoded (UTF-8 with or without BOM, UTF-16, cp1252/latin-1), and
the delimiter and header are sniffed from a sample. What it finds is returned as
a :class:`SourceFile`, which :func:`raw_relation` turns into a DuckDB relation
with every column as text, ready for :mod:`analytics.cleaning`.

Big text files are never loaded into Python: UTF-8 CSV is read by DuckDB
straight from disk; only files that need transcoding are streamed once through
Python in fixed-size chunks.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from analytics.config import MB, Limits
from analytics.errors import (
    EmptyFileError,
    FileTooLargeError,
    ParseError,
    UnsupportedFileError,
)
from analytics.sql import quote_ident, sql_literal  # noqa: F401 - re-exported until callers move

SAMPLE_BYTES = 1 * MB
CHUNK = 8 * MB
# Python's csv module refuses fields over 128 kB by default; logs can have longer ones.
csv.field_size_limit(64 * MB)
DELIMITERS = [",", ";", "\t", "|"]
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "whitespace"}

# Magic bytes of formats people upload by mistake, with what to say about them.
_NOT_A_LOG = [
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel/Office file (.xls)"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"SQLite format 3", "an SQLite database"),
]


@dataclass
class SourceFile:
    """A file recognised by content and ready to be read as a table.

    Attributes
    ----------
    path : Path
        What DuckDB reads: the original, or an unpacked/transcoded copy.
    kind : {"csv", "parquet", "excel"}
    name : str
        The file name as the user gave it (for display only, never used as a path).
    size_bytes : int
        Size of the file as uploaded.
    encoding, delimiter, header
        What sniffing found (text files only).
    columns : list of str
        Column names, made unique and non-empty.
    notes : list of str
        Plain sentences about what was detected or changed (shown in the report).
    frame : DataFrame or None
        The sheet, for Excel (small by Excel's own limits).
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
    _temp_dir: Path | None = None

    def describe(self) -> str:
        """One line for the UI: 'CSV, UTF-8, semicolon-separated, with header, 8 columns'."""
        if self.kind == "csv":
            parts = ["CSV", self.encoding.upper(), f"{DELIMITER_NAMES.get(self.delimiter or ',', 'comma')}-separated",
                     "with header" if self.header else "no header"]
        else:
            parts = ["Parquet" if self.kind == "parquet" else "Excel workbook"]
        parts.append(f"{len(self.columns)} columns")
        return ", ".join(parts)

    def cleanup(self) -> None:
        """Remove unpacked or transcoded copies (the original is never touched)."""
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def open_source(path: str | Path, name: str | None = None, limits: Limits | None = None,
                temp_root: str | Path | None = None) -> SourceFile:
    """Recognise the file at ``path`` and prepare it for reading.

    Parameters
    ----------
    path : str or Path
        The file as uploaded.
    name : str, optional
        The user's name for it (defaults to the file name); only shown, never opened.
    limits : Limits, optional
        Size caps; defaults to :meth:`Limits.from_env`.
    temp_root : path, optional
        Where unpacked or transcoded copies go (default: the system temp folder).

    Returns
    -------
    SourceFile
        Call :meth:`SourceFile.cleanup` (or use it as a context manager) when done.

    Raises
    ------
    EmptyFileError, UnsupportedFileError, FileTooLargeError, ParseError
    """
    path = Path(path)
    limits = limits or Limits.from_env()
    name = name or path.name
    if not path.is_file():
        raise UnsupportedFileError(f"'{name}' is not a file that can be read.")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError(f"'{name}' is empty (0 bytes). Export the log again and upload the new file.")
    if size > limits.max_file_bytes:
        raise FileTooLargeError(
            f"'{name}' is {size / MB:,.0f} MB, over the {limits.max_file_bytes / MB:,.0f} MB limit. "
            "Compress it with gzip, upload it in parts, or use 'Connect a large log'.")
    temp_dir = Path(tempfile.mkdtemp(prefix="marketlens-", dir=temp_root))
    try:
        src = _recognise(path, name, size, limits, temp_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    src._temp_dir = temp_dir
    return src


def _recognise(path: Path, name: str, size: int, limits: Limits, temp_dir: Path) -> SourceFile:
    with open(path, "rb") as fh:
        head = fh.read(16)
    notes: list[str] = []
    if head.startswith(b"\x1f\x8b"):
        unpacked = temp_dir / "unpacked"
        _gunzip_capped(path, unpacked, name, size, limits)
        notes.append(f"Unpacked gzip: {size / MB:,.1f} MB became {unpacked.stat().st_size / MB:,.1f} MB.")
        with open(unpacked, "rb") as fh:
            inner = fh.read(16)
        if inner.startswith(b"\x1f\x8b") or inner.startswith(b"PK\x03\x04") or inner.startswith(b"PAR1"):
            raise UnsupportedFileError(
                f"'{name}' is a gzip file that holds another archive or a binary file. "
                "Upload the CSV inside it, or the Parquet/Excel file itself (not gzipped).")
        if unpacked.stat().st_size == 0:
            raise EmptyFileError(f"'{name}' unpacks to an empty file. Export the log again.")
        src = _text_source(unpacked, name, size, limits, temp_dir)
        src.notes[:0] = notes
        return src
    if head.startswith(b"PAR1"):
        return _parquet_source(path, name, size, limits)
    if head.startswith(b"PK\x03\x04"):
        return _excel_source(path, name, size, limits)
    for magic, what in _NOT_A_LOG:
        if head.startswith(magic):
            raise UnsupportedFileError(
                f"'{name}' is {what}, not a behaviour log. Upload a CSV/TSV (optionally .gz), "
                "Parquet or Excel .xlsx export of the events.")
    return _text_source(path, name, size, limits, temp_dir)


# --- compressed input ---------------------------------------------------------------------

def _gunzip_capped(path: Path, out: Path, name: str, packed: int, limits: Limits) -> None:
    """Unpack gzip (all members) into ``out``; stop as soon as a cap is passed."""
    written = 0
    decomp = zlib.decompressobj(wbits=31)
    try:
        with open(path, "rb") as src, open(out, "wb") as dst:
            while True:
                chunk = decomp.unconsumed_tail or src.read(1 * MB)
                if not chunk:
                    break
                data = decomp.decompress(chunk, CHUNK)
                written += len(data)
                _check_unpacked(written, packed, name, limits)
                dst.write(data)
                if decomp.eof:
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    if rest:
                        # Multi-member gzip: feed what followed the first member.
                        data = decomp.decompress(rest, CHUNK)
                        written += len(data)
                        _check_unpacked(written, packed, name, limits)
                        dst.write(data)
            tail = decomp.flush()
            written += len(tail)
            _check_unpacked(written, packed, name, limits)
            dst.write(tail)
    except zlib.error as exc:
        raise ParseError(
            f"'{name}' starts like a gzip file but is damaged ({exc}). Compress the log again and re-upload.") from exc


def _check_unpacked(written: int, packed: int, name: str, limits: Limits) -> None:
    if written > limits.max_unpacked_bytes:
        raise FileTooLargeError(
            f"'{name}' unpacks to more than {limits.max_unpacked_bytes / MB:,.0f} MB, over the limit. "
            "Split the log into smaller files or use 'Connect a large log'.")
    if written > 64 * MB and written > limits.max_ratio * packed:
        raise FileTooLargeError(
            f"'{name}' unpacks to over {limits.max_ratio} times its packed size, which looks like a "
            "decompression bomb, so it was not read.")


# --- Parquet and Excel ----------------------------------------------------------------------

def _parquet_source(path: Path, name: str, size: int, limits: Limits) -> SourceFile:
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(path).schema_arrow
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ParseError(f"'{name}' looks like Parquet but cannot be read ({exc}). Export it again.") from exc
    columns = unique_names([str(n) for n in schema.names])
    _check_width(len(columns), name, limits)
    src = SourceFile(path=path, kind="parquet", name=name, size_bytes=size, columns=columns)
    if columns != list(schema.names):
        src.notes.append("Some column names were empty or repeated; they were made unique.")
    return src


def _excel_source(path: Path, name: str, size: int, limits: Limits) -> SourceFile:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            unpacked = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise ParseError(f"'{name}' looks like a zip/Excel file but is damaged. Save it again.") from exc
    if not any(n.startswith("xl/") for n in names):
        raise UnsupportedFileError(
            f"'{name}' is a zip archive, not an Excel workbook. Unzip it and upload the CSV inside.")
    _check_unpacked(unpacked, size, name, limits)
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="calamine")
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise ParseError(f"'{name}' is an Excel workbook that cannot be read ({exc}). Save it again as .xlsx.") from exc
    sheets = {k: v.dropna(how="all").dropna(axis=1, how="all") for k, v in book.items()}
    sheets = {k: v for k, v in sheets.items() if not v.empty}
    if not sheets:
        raise EmptyFileError(f"'{name}' is an Excel workbook with no data in any sheet.")
    sheet, frame = max(sheets.items(), key=lambda kv: kv[1].size)
    frame = frame.apply(_excel_column_as_text)
    rows = frame.where(frame.notna(), None).values.tolist()
    header = len(rows) > 1 and looks_like_header(rows[0], rows[1:200])
    if header:
        columns = unique_names(["" if v is None else str(v) for v in rows[0]])
        frame = frame.iloc[1:]
    else:
        columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    _check_width(len(columns), name, limits)
    frame = frame.set_axis(columns, axis=1).reset_index(drop=True)
    if frame.empty:
        raise EmptyFileError(f"'{name}' has a header row but no data rows.")
    notes = [f"Read sheet '{sheet}' ({len(frame):,} rows)."]
    if len(sheets) > 1:
        notes.append(f"The workbook has {len(sheets)} sheets with data; the largest, '{sheet}', was used.")
    return SourceFile(path=path, kind="excel", name=name, size_bytes=size, header=header,
                      columns=columns, notes=notes, frame=frame)


def _excel_column_as_text(col: pd.Series) -> pd.Series:
    """Excel hands back floats for ids (123.0) and datetimes; turn every cell into text."""
    def fmt(v: object) -> str | None:
        if v is None or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)
    return col.map(fmt).astype(object)


# --- text --------------------------------------------------------------------------------------

def _read_sample(path: Path, min_lines: int = 4) -> tuple[bytes, bool]:
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
    sample, full = _read_sample(path)
    encoding = detect_encoding(sample, name)
    try:
        text = _decode_sample(sample, encoding, full)
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
    _check_width(len(columns), name, limits)
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
            text = _decode_sample(sample, enc, full=False)
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


def _decode_sample(sample: bytes, encoding: str, full: bool) -> str:
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


def _check_width(n: int, name: str, limits: Limits) -> None:
    if n > limits.max_columns:
        raise ParseError(
            f"'{name}' has {n:,} columns, more than the {limits.max_columns:,} MarketLens reads. "
            "Export only the columns you need (user, time, event, amount and a few attributes).")


# --- DuckDB relation ------------------------------------------------------------------------------

def raw_relation(con: duckdb.DuckDBPyConnection, src: SourceFile, *, reject_bad_rows: bool = True,
                 limit: int | None = None) -> str:
    """SQL FROM-clause reading ``src`` with the sniffed options.

    CSV columns all come back as VARCHAR so that cleaning decides, and reports,
    every conversion. With ``reject_bad_rows`` rows with the wrong number of
    fields are skipped and recorded in DuckDB's ``reject_errors`` table.
    Excel frames are registered on ``con`` as a view named ``_excel_sheet``.
    """
    if src.kind == "parquet":
        return f"read_parquet({sql_literal(str(src.path))})"
    if src.kind == "excel":
        assert src.frame is not None
        con.register("_excel_sheet", src.frame)
        return "_excel_sheet"
    cols = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in src.columns)
    opts = [
        f"columns={{{cols}}}",
        f"delim={sql_literal(src.delimiter or ',')}",
        "quote='\"'", "escape='\"'",
        f"header={'true' if src.header else 'false'}",
        "auto_detect=false",
        # Large buffers keep the parallel reader fast even with a 32 MB line limit.
        "buffer_size=67108864", "max_line_size=33554432",
    ]
    if reject_bad_rows:
        opts += ["store_rejects=true", "rejects_limit=0"]
    else:
        opts += ["null_padding=true", "ignore_errors=true"]
    rel = f"read_csv({sql_literal(str(src.path))}, {', '.join(opts)})"
    return f"(SELECT * FROM {rel} LIMIT {int(limit)})" if limit else rel


def preview(con: duckdb.DuckDBPyConnection, src: SourceFile, n: int = 2000) -> pd.DataFrame:
    """The first ``n`` rows as text, for role guessing and the mapping screen.

    Text files are parsed in Python from their first megabyte (DuckDB's parallel
    reader would scan far more than a preview needs); Parquet and Excel come
    from DuckDB and the sheet.
    """
    if src.kind == "csv":
        df = _csv_head(src, n)
    else:
        try:
            df = con.execute(f"SELECT * FROM {raw_relation(con, src, reject_bad_rows=False, limit=n)}").df()
        except duckdb.Error as exc:
            raise ParseError(f"'{src.name}' could not be read as a table: {_short(exc)}") from exc
    if df.empty:
        raise EmptyFileError(f"'{src.name}' has a header row but no data rows. Export the log again with its rows.")
    return df.astype(object).where(df.notna(), None)


def _csv_head(src: SourceFile, n: int) -> pd.DataFrame:
    raw, full = _read_sample(src.path)
    text = _decode_sample(raw, "utf-8-sig", full=full) if src.encoding.startswith("utf-8") else raw.decode(
        "utf-8", errors="replace")
    if not full:
        text = text[: text.rfind("\n") + 1]  # drop the partial last line
    width = len(src.columns)
    rows = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=src.delimiter or ","):
            if not any(c.strip() for c in row):
                continue
            rows.append([(c if c != "" else None) for c in (row + [None] * width)[:width]])
            if len(rows) > n:
                break
    except csv.Error as exc:
        raise ParseError(f"'{src.name}' could not be read as a table: {exc}") from exc
    if src.header:
        rows = rows[1:]
    return pd.DataFrame(rows[:n], columns=src.columns, dtype=object)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def copy_stream(fileobj: io.BufferedIOBase | io.BytesIO, dst: Path, limits: Limits | None = None,
                name: str = "upload") -> int:
    """Write an uploaded stream to ``dst`` in chunks; refuse past the size limit."""
    limits = limits or Limits.from_env()
    written = 0
    with open(dst, "wb") as out:
        while chunk := fileobj.read(CHUNK):
            written += len(chunk)
            if written > limits.max_file_bytes:
                raise FileTooLargeError(
                    f"'{name}' is over the {limits.max_file_bytes / MB:,.0f} MB limit. Compress it with gzip, "
                    "upload it in parts, or use 'Connect a large log'.")
            out.write(chunk)
    return written

