"""Out of core (issue 20): memory and spill settings, running out of memory or disk, upload caps vs local files."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import xxhash

from analytics import config
from analytics.engines import limits
from analytics.errors import FileTooLargeError, InvalidParameterError, ResourceLimitError
from analytics.workspace import Workspace, close_all
from tests.helpers import ROOT, SAMPLE_LOG

GiB = 2**30


def small_log(rows: int = 60_000) -> bytes:
    """About 2 MB of events (over a 1 MB upload cap)."""
    start = datetime(2025, 1, 1)
    lines = [f"u{i % 500},{start + timedelta(seconds=37 * i):%Y-%m-%d %H:%M:%S},{'purchase' if i % 7 == 0 else 'view'}"
             for i in range(rows)]
    return ("user,time,event\n" + "\n".join(lines) + "\n").encode()


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


def setting(ws: Workspace, name: str) -> str:
    return str(ws.cursor().execute(f"SELECT current_setting('{name}')").fetchone()[0])


# --- the default memory limit and where DuckDB spills ------------------------------------------------------------

@pytest.mark.parametrize(("machine", "expected"), [(64 * GiB, "4096MiB"), (24 * GiB, "1536MiB"), (4 * GiB, "1024MiB")])
def test_default_memory_limit_is_a_share_of_the_machine(monkeypatch, machine, expected):
    monkeypatch.delenv("MARKETLENS_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(config, "machine_memory", lambda: machine)
    assert config.memory_limit() == expected


def test_memory_limit_setting_wins_and_reaches_duckdb(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETLENS_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("MARKETLENS_MAX_SPILL", "2GB")
    ws = Workspace(tmp_path / "ws")
    try:
        assert setting(ws, "memory_limit") == "286.1 MiB"  # DuckDB's MB are 10^6 bytes
        assert setting(ws, "max_temp_directory_size") == "1.8 GiB"
        assert setting(ws, "temp_directory") == str(ws.root / "tmp" / "spill")
    finally:
        ws.close()


def test_default_limit_reaches_duckdb(tmp_path, monkeypatch):
    monkeypatch.delenv("MARKETLENS_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(config, "machine_memory", lambda: 32 * GiB)
    ws = Workspace(tmp_path / "ws")
    try:
        assert setting(ws, "memory_limit") == "2.0 GiB"
    finally:
        ws.close()


def test_unreadable_memory_limit_names_the_setting(tmp_path, monkeypatch):
    from analytics.errors import WorkspaceError

    monkeypatch.setenv("MARKETLENS_MEMORY_LIMIT", "lots")
    with pytest.raises(WorkspaceError, match="MARKETLENS_MEMORY_LIMIT='lots'"):
        Workspace(tmp_path / "ws")


# --- running out of memory or disk: a message naming the setting, the workspace as it was ------------------------

def _state(ws: Workspace) -> tuple:
    tables = sorted(r[0] for r in ws.cursor().execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall())
    return [d.id for d in ws.datasets()], tables, sorted(p.name for p in (ws.root / "uploads").iterdir())


def test_out_of_memory_import_names_the_setting_and_keeps_the_workspace(workspace, sample_dataset, tmp_path,
                                                                       monkeypatch):
    before = _state(workspace)
    root = workspace.root
    workspace.close()
    monkeypatch.setenv("MARKETLENS_MEMORY_LIMIT", "4MB")
    log = tmp_path / "log.csv"
    log.write_bytes(small_log())
    ws = Workspace(root)
    with pytest.raises(ResourceLimitError, match="ran out of memory.*MARKETLENS_MEMORY_LIMIT") as err:
        ws.import_file(log, name="second")
    assert "4MB" in str(err.value)
    assert _state(ws) == before
    assert not [p for p in (root / "tmp").iterdir() if p.name != "spill"]  # no staged copy left
    ws.close()
    monkeypatch.delenv("MARKETLENS_MEMORY_LIMIT")
    ws = Workspace(root)
    assert _state(ws) == before
    assert len(ws.features(sample_dataset.id)) == sample_dataset.users


def test_running_out_of_spill_room_names_the_spill_setting():
    import duckdb

    con = duckdb.connect(config={"memory_limit": "20MB", "max_temp_directory_size": "1MB",
                                 "preserve_insertion_order": False})
    try:
        with pytest.raises(ResourceLimitError, match="MARKETLENS_MAX_SPILL"), limits.within_limits("Sorting"):
            con.execute("CREATE TABLE t AS SELECT md5(range::VARCHAR) AS s FROM range(2000000) ORDER BY s")
    finally:
        con.close()


def test_full_disk_is_named_as_such():
    err = limits.resource_error(OSError(28, "No space left on device"), "Exporting")
    assert err is not None and "disk is full" in str(err) and "MARKETLENS_WORKSPACE" in str(err)
    assert limits.resource_error(ValueError("no")) is None


def test_cli_out_of_memory_exits_2_naming_the_setting(tmp_path, sample_template):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(sample_template.root, root)
    log = tmp_path / "log.csv"
    log.write_bytes(small_log())
    env = {"MARKETLENS_WORKSPACE": str(root), "MARKETLENS_MEMORY_LIMIT": "4MB"}
    run = cli("import", str(log), "--name", "second", env=env)
    assert run.returncode == 2, run.stderr
    assert "MARKETLENS_MEMORY_LIMIT" in run.stderr and "unexpected" not in run.stderr
    run = cli("features", str(log), "-o", str(tmp_path / "f.parquet"), env=env)
    assert run.returncode == 2 and "MARKETLENS_MEMORY_LIMIT" in run.stderr, run.stderr
    ws = Workspace(root)
    try:
        assert [d.id for d in ws.datasets()] == [sample_template.dataset_id]
        assert len(ws.features(sample_template.dataset_id)) == len(sample_template.features)
    finally:
        ws.close()


def test_too_little_free_disk_refuses_before_starting(workspace, sample_dataset, tmp_path, monkeypatch):
    log = tmp_path / "log.csv"
    log.write_bytes(small_log())
    before = _state(workspace)
    seen = []
    monkeypatch.setattr(limits, "free_disk_bytes", lambda folder: seen.append(folder) or 100_000)
    with pytest.raises(ResourceLimitError, match="needs about .* of free disk .* only 98 kB|needs about") as err:
        workspace.import_file(log, name="second")
    assert str(workspace.root) in str(err.value) and "MARKETLENS_WORKSPACE" in str(err.value)
    assert seen == [workspace.root]
    assert _state(workspace) == before
    assert not [p for p in (workspace.root / "tmp").iterdir() if p.name != "spill"]
    # Without the copy (a connected log), the import itself still checks.
    with pytest.raises(ResourceLimitError, match="free disk"):
        workspace.connect(str(log))
    assert _state(workspace) == before
    # With room, the same import works.
    monkeypatch.setattr(limits, "free_disk_bytes", lambda folder: 10 * GiB)
    assert workspace.import_file(log, name="second", features=False).rows == 60_000


def test_disk_filling_up_while_the_log_is_copied_keeps_the_workspace(workspace, sample_dataset, tmp_path,
                                                                       monkeypatch):
    import shutil

    # The copy to keep runs beside the import; it fails after the rows are read.
    log = tmp_path / "log.csv"
    log.write_bytes(small_log())
    before = _state(workspace)

    def half_copy(src, dst, **_):
        Path(dst).write_bytes(Path(src).read_bytes()[:1000])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    with pytest.raises(ResourceLimitError, match="disk is full.*MARKETLENS_WORKSPACE"):
        workspace.import_file(log, name="second")
    assert _state(workspace) == before
    assert not [p for p in (workspace.root / "tmp").iterdir() if p.name != "spill"]
    monkeypatch.undo()
    ds = workspace.import_file(log, name="second", features=False)
    assert (workspace.root / "uploads" / ds.id / "original").read_bytes() == log.read_bytes()
    assert ds.content_hash == xxhash.xxh3_128(log.read_bytes()).hexdigest()


def test_cli_too_little_free_disk_exits_2(tmp_path, monkeypatch, capsys):
    from analytics.cli import main

    log = tmp_path / "log.csv"
    log.write_bytes(small_log())
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setattr(limits, "free_disk_bytes", lambda folder: 1000)
    assert main(["features", str(log), "-o", str(tmp_path / "f.parquet")]) == 2
    assert "free disk" in capsys.readouterr().err
    assert main(["import", str(log)]) == 2
    assert "free disk" in capsys.readouterr().err
    close_all()


# --- the upload cap is for browser uploads, not for files on this machine ----------------------------------------

def test_upload_cap_applies_to_uploads_only(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETLENS_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("MARKETLENS_MAX_UNPACKED_MB", "1")
    data = small_log()
    assert len(data) > 1.5 * config.MB
    with pytest.raises(FileTooLargeError, match="over the 1 MB limit"):
        workspace.stage(io.BytesIO(data), "big.csv")  # what a browser sends
    log = tmp_path / "big.csv"
    log.write_bytes(data)
    packed = tmp_path / "big.csv.gz"
    packed.write_bytes(gzip.compress(data))
    assert workspace.import_file(log, name="local", features=False).rows == 60_000
    assert workspace.import_file(packed, name="local gz", features=False).rows == 60_000  # unpacks past 1 MB
    monkeypatch.setenv("MARKETLENS_CONNECT_ROOTS", str(tmp_path))
    assert workspace.connect(str(log), name="connected", require_roots=True).rows == 60_000


def test_cli_reads_a_local_log_over_the_upload_cap(tmp_path):
    log = tmp_path / "big.csv"
    log.write_bytes(small_log())
    run = cli("features", str(log), "-o", str(tmp_path / "f.csv"), env={"MARKETLENS_MAX_UPLOAD_MB": "1"})
    assert run.returncode == 0, run.stderr
    assert "wrote 500 users" in run.stdout


def test_local_files_keep_the_decompression_ratio_guard(workspace, tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"u,t\n" + b"u1,2025-01-01\n" * 5_000_000))  # 70 MB from ~70 kB
    with pytest.raises(FileTooLargeError, match="decompression bomb"):
        workspace.import_file(bomb)
    assert workspace.datasets() == []


def test_connect_still_checks_the_roots(workspace, tmp_path, monkeypatch):
    inside, outside = tmp_path / "lake", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    (outside / "log.csv").write_bytes(small_log(100))
    monkeypatch.setenv("MARKETLENS_CONNECT_ROOTS", str(inside))
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        workspace.connect(str(outside / "log.csv"))
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        workspace.connect(str(inside / ".." / "elsewhere" / "log.csv"))


def test_sample_still_imports_with_the_default_settings(workspace):
    ds = workspace.import_file(SAMPLE_LOG, name="sample")
    assert ds.rows > 0 and len(workspace.features(ds.id)) == ds.users
