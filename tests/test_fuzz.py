"""Property tests on ingestion: any bytes in, either a table or one of the project's own errors out."""

from __future__ import annotations

import gzip
import string

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.errors import MarketLensError
from analytics.ingest.recognise import open_source
from analytics.ingest.relation import preview
from analytics.ingest.roles import guess_mapping

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def ingest_or_clear_error(path) -> None:
    try:
        with open_source(path) as src:
            guess_mapping(preview(duckdb.connect(), src))
    except MarketLensError as exc:
        assert str(exc)  # a message for the user, never empty


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "upload.csv"
    path.write_bytes(data)
    ingest_or_clear_error(path)


csv_cell = st.text(alphabet=string.printable + "éü€;|\"'", max_size=12)
csv_text = st.lists(st.lists(csv_cell, min_size=1, max_size=6), min_size=0, max_size=30).map(
    lambda rows: "\n".join(",".join(r) for r in rows))


@SETTINGS
@given(text=csv_text, compress=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_random_csv_like_text(tmp_path_factory, text, compress, encoding):
    data = text.encode(encoding, errors="replace")
    path = tmp_path_factory.mktemp("fuzz") / "upload.txt"
    path.write_bytes(gzip.compress(data) if compress else data)
    ingest_or_clear_error(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_text)
def test_full_import_of_random_text(workspace, tmp_path_factory, text):
    """Through cleaning into the workspace: stored as a dataset, or refused with our error and nothing stored."""
    path = tmp_path_factory.mktemp("fuzz") / "upload.csv"
    path.write_text("user,time,event\n" + text, encoding="utf-8")
    before = len(workspace.datasets())
    try:
        workspace.import_file(path, allow_bad_rows=True)
    except MarketLensError:
        assert len(workspace.datasets()) == before
