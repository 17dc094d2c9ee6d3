"""The workspace: persistence across restarts, rename/delete, duplicate uploads, crash leftovers."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from analytics.errors import DatasetNotFoundError, InvalidParameterError, UnsupportedFileError, WorkspaceError
from analytics.sql import quote_ident
from analytics.workspace import Workspace, close_all
from tests.helpers import ROOT, write

LOG = "user,time,event,amount\nu1,2025-01-01 10:00,view,\nu1,2025-01-02 10:00,purchase,9.5\nu2,2025-01-03,view,\n"


def test_datasets_survive_a_restart(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "log.csv", LOG), name="Shop A")
    root = workspace.root
    close_all()
    again = Workspace(root)
    [listed] = again.datasets()
    assert (listed.id, listed.name, listed.rows, listed.users) == (ds.id, "Shop A", 3, 2)
    assert listed.report.rows_read == 3 and listed.mapping.user_id == "user"
    assert len(again.features(ds.id)) == 2
    assert again.original_path(ds.id).read_bytes() == LOG.encode()


def test_summary_row_has_what_the_list_shows(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "log.csv", LOG))
    row = ds.summary()
    assert {"name", "source file", "rows", "users", "from", "to", "uploaded"} <= set(row)
    assert row["source file"] == "log.csv" and str(row["from"]).startswith("2025-01-01")


def test_rename_and_delete(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "log.csv", LOG))
    assert workspace.rename(ds.id, "  New   name ").name == "New name"
    with pytest.raises(InvalidParameterError):
        workspace.rename(ds.id, "   ")
    tables = [ds.events_table, workspace.features_table(ds.id)]
    workspace.delete(ds.id)
    assert workspace.datasets() == []
    with pytest.raises(DatasetNotFoundError):
        workspace.get(ds.id)
    existing = {r[0] for r in workspace.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not set(tables) & existing
    assert not (workspace.root / "uploads" / ds.id).exists()


def test_same_content_is_recognised(workspace, tmp_path):
    first = workspace.import_file(write(tmp_path / "a.csv", LOG))
    staged = workspace.stage(io.BytesIO(LOG.encode()), "renamed.csv")
    assert workspace.find_by_content(staged.content_hash).id == first.id
    other = workspace.stage(io.BytesIO(LOG.encode() + b"u3,2025-01-04,view,\n"), "b.csv")
    assert workspace.find_by_content(other.content_hash) is None
    workspace.discard(staged)
    workspace.discard(other)
    assert not staged.folder.exists()


def test_upload_names_are_never_paths(workspace):
    staged = workspace.stage(io.BytesIO(LOG.encode()), "../../etc/passwd")
    assert staged.name == "passwd" and staged.path.parent.parent == workspace.root / "tmp"
    ds = workspace.import_staged(staged)
    assert ds.source_file == "passwd"
    assert (workspace.root / "uploads" / ds.id / "original").exists()


def test_failed_import_keeps_existing_data(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "good.csv", LOG))
    with pytest.raises(UnsupportedFileError):
        workspace.import_file(write(tmp_path / "bad.csv", "%PDF-1.5 garbage"))
    assert [d.id for d in workspace.datasets()] == [ds.id]
    assert len(workspace.features(ds.id)) == 2


def test_leftovers_of_a_crash_are_swept(workspace, tmp_path):
    cur = workspace.cursor()
    cur.execute("CREATE TABLE ev_deadbeef0000 AS SELECT 1 AS x")  # loaded, never registered
    cur.execute("CREATE TABLE ft_deadbeef0000_abc AS SELECT 1 AS x")
    (workspace.root / "uploads" / "deadbeef0000").mkdir()
    keep = workspace.import_file(write(tmp_path / "log.csv", LOG))
    root = workspace.root
    close_all()
    again = Workspace(root)
    tables = {r[0] for r in again.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "ev_deadbeef0000" not in tables and "ft_deadbeef0000_abc" not in tables
    assert keep.events_table in tables
    assert not (root / "uploads" / "deadbeef0000").exists()


def test_a_second_process_gets_a_clear_message(workspace):
    code = ("import sys; from analytics.workspace import Workspace\n"
            "from analytics.errors import WorkspaceError\n"
            f"try:\n    Workspace({str(workspace.root)!r})\nexcept WorkspaceError as e:\n    print(e); sys.exit(7)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 7, out.stderr
    assert "open in another MarketLens process" in out.stdout
    assert WorkspaceError  # the type the message comes with


def test_workspace_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(tmp_path / "elsewhere"))
    ws = Workspace()
    assert ws.root == (tmp_path / "elsewhere").resolve() and (ws.root / "workspace.duckdb").exists()
    close_all()


def test_events_table_has_canonical_types(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "log.csv", LOG))
    rows = workspace.cursor().execute(f"DESCRIBE {quote_ident(ds.events_table)}").fetchall()
    types = {name: typ for name, typ, *_ in rows}
    assert types["user_id"] == "VARCHAR" and types["ts"] == "TIMESTAMP" and types["amount"] == "DOUBLE"


def test_connect_reads_in_place_without_copying(workspace, tmp_path):
    log = write(tmp_path / "big.csv", LOG)
    ds = workspace.connect(str(log), engine="duckdb", name="Connected")
    assert ds.source_uri == str(log) and ds.has_events and workspace.original_path(ds.id) is None
    assert not list((workspace.root / "uploads").iterdir())
    assert len(workspace.features(ds.id)) == 2


def test_connect_roots_restrict_local_paths(workspace, tmp_path, monkeypatch):
    allowed = tmp_path / "lake"
    allowed.mkdir()
    inside = write(allowed / "log.csv", LOG)
    outside = write(tmp_path / "elsewhere.csv", LOG)
    monkeypatch.setenv("MARKETLENS_CONNECT_ROOTS", str(allowed))
    assert workspace.connect(str(inside)).rows == 3
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        workspace.connect(str(outside))
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        workspace.connect(str(allowed / ".." / "elsewhere.csv"))


def test_results_store_metadata_and_tables_atomically(workspace, tmp_path):
    import pandas as pd

    ds = workspace.import_file(write(tmp_path / "log.csv", LOG))
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "segment": ["A <b>", "B"]})
    key = workspace.put_result(ds.id, "segmentation", "My K=2 run!", {"k": 2}, {"labels": frame})
    assert key == "my_k_2_run"
    stored = workspace.result(ds.id, "segmentation", key)
    meta, frames = stored.meta, stored.frames
    assert meta == {"k": 2} and frames["labels"].equals(frame)  # what was stored, nothing of the store's own
    assert [(r.key, r.meta) for r in workspace.results(ds.id, "segmentation")] == [(key, {"k": 2})]
    # Replacing drops the old tables; deleting the dataset drops everything.
    workspace.put_result(ds.id, "segmentation", key, {"k": 3}, {"other": frame})
    tables = {r[0] for r in workspace.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not any(t.endswith("_labels") for t in tables)
    workspace.drop_result(ds.id, "segmentation", key)
    assert workspace.results(ds.id, "segmentation") == []
    with pytest.raises(DatasetNotFoundError):
        workspace.result(ds.id, "segmentation", key)


def test_model_files_are_all_or_nothing(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "log.csv", LOG))

    def broken(folder):
        folder.mkdir()
        (folder / "model.skops").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        workspace.save_model_files(ds.id, "m1", broken, {"auc": 0.8})
    assert workspace.results(ds.id, "model") == []
    assert not any((workspace.root / "models" / ds.id).iterdir())

    def good(folder):
        folder.mkdir()
        (folder / "model.skops").write_bytes(b"ok")

    path = workspace.save_model_files(ds.id, "m1", good, {"auc": 0.8})
    assert (path / "model.skops").read_bytes() == b"ok" and workspace.model_path(ds.id, "m1") == path
    # A model folder nobody registered (a crash between rename and commit) is swept at start.
    stray = workspace.root / "models" / ds.id / "stray"
    stray.mkdir()
    root = workspace.root
    close_all()
    Workspace(root)
    assert not stray.exists() and path.exists()
