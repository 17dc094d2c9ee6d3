"""Recognising files by content: formats, encodings, delimiters, headers, limits."""

from __future__ import annotations

import gzip
import io
import zipfile

import duckdb
import pandas as pd
import pytest

from analytics.config import MB, Limits
from analytics.errors import EmptyFileError, FileTooLargeError, ParseError, UnsupportedFileError
from analytics.ingest.dialect import sniff_dialect
from analytics.ingest.recognise import open_source
from analytics.ingest.relation import preview
from analytics.ingest.text import looks_like_header, sniff_delimiter
from tests.helpers import write

LOG = "user_id,event_time,event,amount\nu1,2025-03-01 10:00:00,page_view,\nu1,2025-03-01 10:05:00,purchase,12.5\n" \
      "u2,2025-03-02 11:00:00,page_view,\n"


def rows(path, **kw):
    with open_source(path, **kw) as src:
        return src, preview(duckdb.connect(), src)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_text_encodings_are_decoded(tmp_path, encoding):
    text = LOG.replace("page_view", "café_vïew €")
    src, df = rows(write(tmp_path / "log.csv", text, encoding))
    assert list(df.columns) == ["user_id", "event_time", "event", "amount"]
    assert df.loc[0, "event"] == "café_vïew €"
    assert len(df) == 3


def test_utf16_without_bom_is_detected(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(LOG.encode("utf-16-le"))
    src, df = rows(path)
    assert src.encoding == "utf-16-le" and df.loc[1, "event"] == "purchase"


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(tmp_path, delim):
    src, df = rows(write(tmp_path / "log.txt", LOG.replace(",", delim)))
    assert src.delimiter == delim and df.shape == (3, 4)


def test_whitespace_separated_columns(tmp_path):
    text = "user  time        event\nu1    1740823200  view\nu2    1740826800  buy\n"
    src, df = rows(write(tmp_path / "log.txt", text))
    assert list(df.columns) == ["user", "time", "event"]
    assert df.loc[1, "event"] == "buy"
    assert any("spaces" in n for n in src.notes)
    assert "whitespace-separated" in src.describe() and "tab" not in src.describe()  # not called tab-separated


def test_semicolon_file_with_decimal_commas_is_not_split_on_commas(tmp_path):
    text = "customer;date;value\nc1;01.03.2025;12,50\nc2;02.03.2025;3,99\nc3;03.03.2025;100,00\n"
    src, df = rows(write(tmp_path / "t.csv", text))
    assert src.delimiter == ";" and df.loc[0, "value"] == "12,50"


def test_quoted_newlines_and_crlf(tmp_path):
    text = 'user_id,ts,event,note\r\nu1,2025-01-01,view,"two\r\nlines"\r\nu2,2025-01-02,buy,"a, b"\r\n'
    src, df = rows(write(tmp_path / "q.csv", text))
    assert df.shape == (2, 4)
    assert df.loc[0, "note"] == "two\r\nlines" and df.loc[1, "note"] == "a, b"


def test_no_header_gets_generated_names(tmp_path):
    text = "u1,2025-03-01 10:00:00,view\nu2,2025-03-01 11:00:00,buy\nu1,2025-03-02 09:00:00,view\n"
    src, df = rows(write(tmp_path / "nh.csv", text))
    assert not src.header
    assert list(df.columns) == ["column_1", "column_2", "column_3"]
    assert df.loc[0, "column_1"] == "u1"


def test_duplicate_column_names_get_suffixes(tmp_path):
    src, df = rows(write(tmp_path / "d.csv", "user,time,amount,amount\nu1,2025-01-01,1,2\nu2,2025-01-02,3,4\n"))
    assert list(df.columns) == ["user", "time", "amount", "amount_2"]
    assert any("repeated" in n for n in src.notes)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    path = tmp_path / "log.csv"  # no .gz suffix
    path.write_bytes(gzip.compress(LOG.encode()))
    src, df = rows(path)
    assert len(df) == 3 and any("gzip" in n for n in src.notes)


def test_multi_member_gzip(tmp_path):
    head, tail = LOG.split("u2,")
    path = tmp_path / "m.gz"
    path.write_bytes(gzip.compress(head.encode()) + gzip.compress(("u2," + tail).encode()))
    _, df = rows(path)
    assert df["user_id"].tolist() == ["u1", "u1", "u2"]


def test_cut_off_gzip_is_refused_not_imported_in_part(tmp_path):
    data = gzip.compress(("user,time,event\n" + "".join(f"u{i},2025-01-01,view\n" for i in range(5000))).encode())
    for name, cut in (("trailer.csv.gz", data[:-8]), ("half.csv.gz", data[: len(data) // 2]),
                      ("second_member.csv.gz", data + data[: len(data) // 2])):
        path = tmp_path / name
        path.write_bytes(cut)
        with pytest.raises(ParseError, match="ends early"):
            open_source(path)
    whole = tmp_path / "whole.csv.gz"
    whole.write_bytes(data + data)  # two complete members are fine
    assert len(rows(whole)[1]) > 0


def test_gzip_bomb_stops_early(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"user,time\n" + b"u1,2025-01-01\n" * (8 * MB // 14))
    limits = Limits(max_file_bytes=MB * 100, max_unpacked_bytes=2 * MB, max_ratio=200, max_columns=500)
    with pytest.raises(FileTooLargeError, match="unpacks to more than"):
        open_source(path, limits=limits)


def test_ratio_cap_catches_high_compression(tmp_path):
    path = tmp_path / "zeros.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"0" * (80 * MB)))
    limits = Limits(max_file_bytes=MB * 100, max_unpacked_bytes=1000 * MB, max_ratio=50, max_columns=500)
    with pytest.raises(FileTooLargeError, match="decompression bomb"):
        open_source(path, limits=limits)


def test_upload_over_size_limit(tmp_path):
    path = write(tmp_path / "big.csv", LOG * 100)
    with pytest.raises(FileTooLargeError, match="over the"):
        open_source(path, limits=Limits(max_file_bytes=1000, max_unpacked_bytes=MB, max_ratio=200, max_columns=9))


def test_parquet(tmp_path):
    df = pd.DataFrame({"user": ["a", "b"], "ts": pd.to_datetime(["2025-01-01", "2025-01-02"]), "amount": [1.0, 2.0]})
    df.to_parquet(tmp_path / "x.bin")
    src, out = rows(tmp_path / "x.bin")
    assert src.kind == "parquet" and list(out.columns) == ["user", "ts", "amount"]


def test_xlsx_renamed_to_csv_is_read_as_excel(tmp_path):
    df = pd.DataFrame({"customer_id": [101, 102], "date": ["2025-01-01", "2025-01-02"], "value": [9.5, 3.0]})
    path = tmp_path / "export.csv"
    df.to_excel(path, index=False, engine="openpyxl")
    src, out = rows(path)
    assert src.kind == "excel" and src.header
    # Excel hands back floats for integer ids: they must read as "101", not "101.0".
    assert out["customer_id"].tolist() == ["101", "102"]


def test_zip_that_is_not_excel(tmp_path):
    path = tmp_path / "logs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", LOG)
    with pytest.raises(UnsupportedFileError, match="zip archive"):
        open_source(path)


@pytest.mark.parametrize("content, words", [
    (b"%PDF-1.7\n%binary", "PDF"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
    (bytes(range(256)) * 40, "binary"),
])
def test_not_a_log(tmp_path, content, words):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFileError, match=words):
        open_source(path)


@pytest.mark.parametrize("content", [b"", b"   \n\n  ", b"user_id,event_time,event\n"])
def test_empty_and_header_only(tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError):
        open_source(path)


def test_too_many_columns(tmp_path):
    header = ",".join(f"c{i}" for i in range(600))
    path = write(tmp_path / "wide.csv", header + "\n" + ",".join("1" * 600) + "\n")
    with pytest.raises(ParseError, match="600 columns"):
        open_source(path)


def test_two_hundred_columns_are_fine(tmp_path):
    header = "user_id,event_time," + ",".join(f"attr_{i}" for i in range(210))
    line = "u1,2025-01-01," + ",".join("x" * 210)
    src, df = rows(write(tmp_path / "w.csv", f"{header}\n{line}\n{line}\n"))
    assert len(src.columns) == 212


def test_long_single_field(tmp_path):
    big = "x" * (2 * MB)
    src, df = rows(write(tmp_path / "long.csv", f"user_id,event_time,note\nu1,2025-01-01,{big}\nu2,2025-01-02,y\n"))
    assert src.columns == ["user_id", "event_time", "note"]


def test_a_line_over_duckdbs_default_limit_still_gets_its_delimiter_sniffed(tmp_path):
    # The sniffer first runs with DuckDB's 2 MB line limit and retries with ours (32 MB).
    note = "x" * (3 * MB)
    body = "".join(f"u{i};2025-01-0{1 + i % 9};view;{note if i == 2 else 'n'}\n" for i in range(20))
    dialect = sniff_dialect(write(tmp_path / "semi.csv", "user_id;event_time;event;note\n" + body))
    assert (dialect.delimiter, dialect.header, dialect.sniffed) == (";", True, True)


def test_sniffer_unit():
    assert sniff_delimiter(["a;b;c", "1;2,5;3", "4;5,1;6"]) == ";"
    assert sniff_delimiter(["a\tb", "1\t2"]) == "\t"
    assert sniff_delimiter(["one", "two"]) == ","


def test_header_detection_unit():
    assert looks_like_header(["user", "date", "amount"], [["u1", "2025-01-01", "3.5"]])
    assert not looks_like_header(["u1", "2025-01-01", "3.5"], [["u2", "2025-01-02", "4"]])
    assert not looks_like_header(["a", "a"], [["1", "2"]])


def test_original_file_is_never_modified(tmp_path):
    path = write(tmp_path / "log.csv", LOG, "cp1252")
    before = path.read_bytes()
    with open_source(path) as src:
        preview(duckdb.connect(), src)
    assert path.read_bytes() == before
    assert io.BytesIO(before).read(3) != b"\xef\xbb\xbf"


def test_excel_zip_bomb_is_caught_while_unpacking(tmp_path):
    import zipfile

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (80 * MB))  # packs to about 80 kB
    with pytest.raises(FileTooLargeError, match="decompression bomb|unpacks to more than"):
        open_source(path, "bomb.xlsx", limits=Limits(max_file_bytes=10 * MB, max_unpacked_bytes=4096 * MB,
                                                      max_ratio=200, max_columns=500))


def test_excel_reads_one_sheet_within_the_cell_cap(tmp_path, monkeypatch):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame().to_excel(xw, sheet_name="cover", index=False)
        pd.DataFrame({"user": ["a", "b"], "time": ["2025-01-01", "2025-01-02"]}).to_excel(xw, sheet_name="log",
                                                                                        index=False)
        pd.DataFrame({"other": range(50)}).to_excel(xw, sheet_name="big", index=False)
    src = open_source(path, "book.xlsx")
    assert src.columns == ["user", "time"] and "only the first with data, 'log'" in " ".join(src.notes)
    monkeypatch.setenv("MARKETLENS_MAX_EXCEL_CELLS", "5")  # the log sheet has 3 x 2 cells
    with pytest.raises(FileTooLargeError, match="MARKETLENS_MAX_EXCEL_CELLS"):
        open_source(path, "book.xlsx")
