"""Column names are data: braces, quotes, backticks, dots, keywords, unicode, empty or repeated names all import."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.ingest.roles import mapping_with
from analytics.sql import quote_spark_ident
from tests.helpers import write

CORE = ["user_id", "event_time", "event", "amount"]

AWKWARD = ["campaign {utm}", "{", "}", "{table}", "{0}", "{{x}}", "%s", "%(x)s", '"', "'", "`", "a`b", 'say "hi"',
           "it's", "a.b", ".", " ", "", "  padded  ", "select", "from", "order", "group by", "NULL", "true", "1",
           "user_id", "ts", "event", "amount", "session_id", "_raw", "_flags", "_", "item_id", "campaign",
           "Ünïcödé", "名前", "город", "a;b", "a,b", "\\", "--", "/*", "*/", "$1", "?", "ÅÄÖ", "emoji 🎉"]

name = st.one_of(st.sampled_from(AWKWARD),
                 st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc", "Co", "Cn")), max_size=10))


def log_bytes(extra: list[str], rows: int = 24) -> bytes:
    """A CSV log with the core columns and ``extra`` columns (text categories and numbers, alternating)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CORE + extra)
    for i in range(rows):
        values = [("abc"[i % 3] if k % 2 == 0 else str(i % 5)) for k in range(len(extra))]
        w.writerow([f"u{i % 6}", f"2025-03-{1 + i % 28:02d} 10:00:00", "purchase" if i % 4 == 0 else "view",
                    f"{i}.5" if i % 4 == 0 else ""] + values)
    return buf.getvalue().encode()


def import_upload(ws, data: bytes):
    """The browser path: stage the bytes, inspect, map the four core columns, import, build features."""
    staged = ws.stage(io.BytesIO(data), "awkward names.csv")
    insp = ws.inspect(staged)
    cols = insp.source.columns
    mapping = mapping_with(cols, insp.guess.mapping, user_id=cols[0], timestamp=cols[1], event=cols[2],
                           amount=cols[3], session_id=None)
    return ws.import_staged(staged, mapping, inspection=insp, features=True), mapping


def test_a_brace_in_a_column_name_imports(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "utm.csv", log_bytes(["campaign {utm}", "x}{y"]).decode()))
    events = workspace.events(ds.id)
    assert "campaign {utm}" in events.columns and "x}{y" in events.columns
    assert set(events["campaign {utm}"]) == {"a", "b", "c"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(name, min_size=1, max_size=5))
def test_any_column_names_go_through_upload_import_and_features(workspace, extra):
    ds, mapping = import_upload(workspace, log_bytes(extra))
    events = workspace.events(ds.id, limit=None)
    kept = [c for c in events.columns if c not in ("user_id", "ts", "event", "amount", "session_id")]
    assert len(kept) == len(extra)  # every extra column is kept, as an identifier or an attribute
    assert len(set(c.lower() for c in events.columns)) == len(events.columns)
    assert not any(c.startswith("_") for c in kept)
    assert len(events) == 24 and events["user_id"].nunique() == 6
    features = workspace.features(ds.id)
    assert len(features) == 6


def test_spark_quoting_doubles_backticks():
    assert quote_spark_ident("a`b.c") == "`a``b.c`"
