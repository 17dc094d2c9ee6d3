"""Recognise an uploaded file by its content: what it is, and where its readable bytes are.

``open_source`` looks at the bytes, never at the file name: gzip is unpacked
(with caps on size and ratio), Excel and Parquet are recognised by their magic
bytes, and text goes to :mod:`analytics.ingest.text` for its encoding, delimiter
and header. What it finds is returned as a :class:`~analytics.ingest.source.SourceFile`,
which :mod:`analytics.ingest.relation` reads with DuckDB.

Big text files are never loaded into Python: UTF-8 CSV is read by DuckDB
straight from disk; only files that need transcoding are streamed once through
Python in fixed-size chunks.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

import duckdb
import pandas as pd
from python_calamine import CalamineWorkbook

from analytics.config import MB, Limits, max_excel_cells
from analytics.errors import (
    EmptyFileError,
    FileTooLargeError,
    ParseError,
    UnsupportedFileError,
)
from analytics.ingest.nested import flatten, json_source, looks_like_json, pair_keys, pairs
from analytics.ingest.source import CHUNK, SourceFile, check_width, unique_names
from analytics.ingest.text import _text_source, looks_like_header
from analytics.sql import sql_literal

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


def open_source(path: str | Path, name: str | None = None, limits: Limits | None = None,
                temp_root: str | Path | None = None, encoding: str | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> SourceFile:
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
    encoding : str, optional
        Text encoding to read a text file with (any Python codec name, e.g. ``cp1251``);
        default (or ``"auto"``): detected from the bytes. Ignored for Parquet and Excel.
    con : DuckDBPyConnection, optional
        The connection DuckDB's CSV sniffer runs on (the workspace's, whose sandbox then
        applies); default: a private in-memory one.

    Returns
    -------
    SourceFile
        Call :meth:`SourceFile.cleanup` (or use it as a context manager) when done.

    Raises
    ------
    EmptyFileError, UnsupportedFileError, FileTooLargeError, ParseError
    InvalidParameterError
        An unknown ``encoding``, or one that cannot decode the start of the file.
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
        src = _recognise(path, name, size, limits, temp_dir, encoding, con)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    src._temp_dir = temp_dir
    return src


def _recognise(path: Path, name: str, size: int, limits: Limits, temp_dir: Path, encoding: str | None,
               con: duckdb.DuckDBPyConnection | None) -> SourceFile:
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
        src = (json_source(unpacked, name, size, limits, con) if looks_like_json(_head(unpacked))
               else _text_source(unpacked, name, size, limits, temp_dir, encoding, con))
        src.notes[:0] = notes
        return src
    if head.startswith(b"PAR1"):
        return _parquet_source(path, name, size, limits, con)
    if head.startswith(b"PK\x03\x04"):
        return _excel_source(path, name, size, limits)
    for magic, what in _NOT_A_LOG:
        if head.startswith(magic):
            raise UnsupportedFileError(
                f"'{name}' is {what}, not a behaviour log. Upload a CSV/TSV or JSON lines file "
                "(optionally .gz), Parquet or Excel .xlsx export of the events.")
    if looks_like_json(_head(path)):
        return json_source(path, name, size, limits, con)
    return _text_source(path, name, size, limits, temp_dir, encoding, con)


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4096)


def _gunzip_capped(path: Path, out: Path, name: str, packed: int, limits: Limits) -> None:
    """Unpack gzip (all members) into ``out``; stop as soon as a cap is passed."""
    written = 0
    decomp = zlib.decompressobj(wbits=31)
    started = False  # the current member has been fed: it must reach its end marker
    try:
        with open(path, "rb") as src, open(out, "wb") as dst:
            while True:
                chunk = decomp.unconsumed_tail or src.read(1 * MB)
                if not chunk:
                    break
                data = decomp.decompress(chunk, CHUNK)
                started = True
                written += len(data)
                _check_unpacked(written, packed, name, limits)
                dst.write(data)
                if decomp.eof:
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    started = bool(rest)
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
    if started and not decomp.eof:
        # zlib hands over what it could unpack without complaint; a cut-off file would import in part.
        raise ParseError(f"'{name}' is a gzip file that ends early (cut off after {written / MB:,.1f} MB unpacked: "
                         "an incomplete download or copy?). Nothing was imported; copy or compress the log again.")


def _check_unpacked(written: int, packed: int, name: str, limits: Limits) -> None:
    if written > limits.max_unpacked_bytes:
        raise FileTooLargeError(
            f"'{name}' unpacks to more than {limits.max_unpacked_bytes / MB:,.0f} MB, over the limit. "
            "Split the log into smaller files or use 'Connect a large log'.")
    if written > 64 * MB and written > limits.max_ratio * packed:
        raise FileTooLargeError(
            f"'{name}' unpacks to over {limits.max_ratio} times its packed size, which looks like a "
            "decompression bomb, so it was not read.")


def _parquet_source(path: Path, name: str, size: int, limits: Limits,
                    con: duckdb.DuckDBPyConnection | None = None) -> SourceFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(path).schema_arrow
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise ParseError(f"'{name}' looks like Parquet but cannot be read ({exc}). Export it again.") from exc
    columns = unique_names([str(n) for n in schema.names])
    check_width(len(columns), name, limits)
    src = SourceFile(path=path, kind="parquet", name=name, size_bytes=size, columns=columns)
    if columns != list(schema.names):
        src.notes.append("Some column names were empty or repeated; they were made unique.")
    if any(pa.types.is_nested(f.type) for f in schema):  # structs become columns, lists their JSON text
        con = con or duckdb.connect()
        reader = f"read_parquet({sql_literal(str(path))})"
        rel = con.sql(f"SELECT * FROM {reader} LIMIT 0")
        keys = {c: pair_keys(con, reader, c) for c, t in zip(rel.columns, rel.dtypes) if pairs(t)}
        src.fields, src.columns, notes = flatten(rel.columns, rel.dtypes, keys={c: k for c, k in keys.items() if k})
        check_width(len(src.columns), name, limits)
        src.notes += notes
    return src


def _excel_source(path: Path, name: str, size: int, limits: Limits) -> SourceFile:
    """The first sheet with data of a workbook, every cell as text.

    The archive is checked by unpacking it (the sizes a zip declares can lie), and
    only one sheet is read, up to :func:`analytics.config.max_excel_cells` cells.
    """
    _check_workbook_archive(path, name, size, limits)
    try:
        book = CalamineWorkbook.from_path(str(path))
        frame = None
        for sheet_name in book.sheet_names:  # stop at the first sheet with data: later ones are never loaded
            sheet = book.get_sheet_by_name(sheet_name)
            if sheet.height * sheet.width > max_excel_cells():
                raise FileTooLargeError(
                    f"Sheet '{sheet_name}' of '{name}' has {sheet.height:,} rows x {sheet.width:,} "
                    f"columns, over the {max_excel_cells():,} cells MarketLens reads from Excel "
                    "(MARKETLENS_MAX_EXCEL_CELLS). Export the log as CSV instead.")
            candidate = pd.DataFrame(sheet.to_python(skip_empty_area=True), dtype=object).replace("", None)
            candidate = candidate.dropna(how="all").dropna(axis=1, how="all")
            if not candidate.empty:
                frame, chosen = candidate, sheet_name
                break
    except (FileTooLargeError, EmptyFileError):
        raise
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise ParseError(f"'{name}' is an Excel workbook that cannot be read ({exc}). Save it again as .xlsx.") from exc
    if frame is None:
        raise EmptyFileError(f"'{name}' is an Excel workbook with no data in any sheet.")
    frame = frame.apply(_excel_column_as_text)
    rows = frame.where(frame.notna(), None).values.tolist()
    header = len(rows) > 1 and looks_like_header(rows[0], rows[1:200])
    if header:
        columns = unique_names(["" if v is None else str(v) for v in rows[0]])
        frame = frame.iloc[1:]
    else:
        columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    check_width(len(columns), name, limits)
    frame = frame.set_axis(columns, axis=1).reset_index(drop=True)
    if frame.empty:
        raise EmptyFileError(f"'{name}' has a header row but no data rows.")
    notes = [f"Read sheet '{chosen}' ({len(frame):,} rows)."]
    if len(book.sheet_names) > 1:
        notes.append(f"The workbook has {len(book.sheet_names)} sheets; only the first with data, '{chosen}', was "
                     "read. Move the sheet you want first, or save it as CSV.")
    return SourceFile(path=path, kind="excel", name=name, size_bytes=size, header=header,
                      columns=columns, notes=notes, frame=frame)


def _check_workbook_archive(path: Path, name: str, size: int, limits: Limits) -> None:
    """An .xlsx is a zip: unpack every member once, counting the bytes it really yields, within the caps."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if not any(m.filename.startswith("xl/") for m in members):
                raise UnsupportedFileError(
                    f"'{name}' is a zip archive, not an Excel workbook. Unzip it and upload the CSV inside.")
            unpacked = 0
            for member in members:
                with zf.open(member) as fh:
                    while chunk := fh.read(CHUNK):
                        unpacked += len(chunk)
                        _check_unpacked(unpacked, size, name, limits)
    except zipfile.BadZipFile as exc:
        raise ParseError(f"'{name}' looks like a zip/Excel file but is damaged. Save it again.") from exc


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
