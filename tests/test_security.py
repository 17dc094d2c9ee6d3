"""Serving a team safely: what a user of a shared server can reach, and what text can do."""

from __future__ import annotations

import os
import subprocess
import time
import types

import pytest

from analytics.errors import FileTooLargeError, InvalidParameterError
from analytics.workspace import Workspace, close_all
from analytics.workspace.importing import check_connect_location
from tests.helpers import ROOT, write

LOG = "user,time,event\nu1,2025-01-01,view\nu2,2025-01-02,buy\n"


@pytest.fixture
def lake(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("MARKETLENS_CONNECT_ROOTS", str(root))
    return root


@pytest.mark.parametrize("uri", ["/etc/passwd", "file:///etc/passwd", "file:/etc/passwd", "../../etc/passwd"])
def test_local_paths_outside_the_roots_are_refused(lake, uri):
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        check_connect_location(uri)


def test_a_link_inside_the_roots_pointing_out_is_refused(lake):
    (lake / "escape").symlink_to("/etc")
    with pytest.raises(InvalidParameterError, match="outside the folders"):
        check_connect_location(str(lake / "escape" / "passwd"))
    check_connect_location(str(lake / "events.csv"))  # inside: fine
    check_connect_location(f"file://{lake}/events.csv")


def test_remote_schemes_need_to_be_listed(lake, monkeypatch):
    for uri in ("hdfs:///data/x", "s3a://bucket/events/", "http://169.254.169.254/latest"):
        with pytest.raises(InvalidParameterError, match="MARKETLENS_CONNECT_SCHEMES"):
            check_connect_location(uri)
    monkeypatch.setenv("MARKETLENS_CONNECT_SCHEMES", "s3a, gs")
    check_connect_location("s3a://bucket/events/")
    with pytest.raises(InvalidParameterError):
        check_connect_location("hdfs:///data/x")


def test_with_sign_in_and_no_roots_connecting_is_off(monkeypatch):
    monkeypatch.delenv("MARKETLENS_CONNECT_ROOTS", raising=False)
    check_connect_location("/data/events.csv")  # a laptop: the user's own files
    with pytest.raises(InvalidParameterError, match="off on this server"):
        check_connect_location("/data/events.csv", require_roots=True)


def test_refusal_never_reads_the_file(lake, tmp_path):
    secret = write(tmp_path / "secret.csv", "root:x:0:0:root:/root:/bin/bash\n")
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(InvalidParameterError) as err:
        ws.connect(str(secret))
    assert "root:x" not in str(err.value)
    assert ws.datasets() == []
    close_all()


def test_a_sandboxed_workspace_reads_only_itself_and_the_roots(lake, tmp_path):
    inside = write(lake / "events.csv", LOG)
    outside = write(tmp_path / "outside.csv", LOG)
    ws = Workspace(tmp_path / "ws", sandbox=True)
    ds = ws.connect(str(inside))  # the connect roots are readable
    assert ds.rows == 2 and ws.table_bytes(ws.features_table(ds.id), "csv").startswith(b"user_id")
    up = write(tmp_path / "upload.csv", LOG)
    with open(up, "rb") as fh:  # an upload is staged inside the workspace, then read from there
        staged = ws.stage(fh, "upload.csv")
    assert ws.import_staged(staged).rows == 2
    cur = ws.cursor()
    for sql in (f"SELECT * FROM read_csv('{outside}')", "SELECT * FROM read_text('/etc/hostname')",
                "SELECT * FROM sniff_csv('/etc/passwd')", f"COPY (SELECT 1) TO '{tmp_path}/x.csv'"):
        with pytest.raises(Exception, match="Permission|disabled"):
            cur.execute(sql)
    with pytest.raises(Exception, match="external access"):
        cur.execute("SET enable_external_access = true")
    close_all()


def test_staged_uploads_are_swept_and_capped(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    path = write(tmp_path / "a.csv", LOG * 1000)
    with open(path, "rb") as fh:
        old = ws.stage(fh, "a.csv")
    assert ws.staged_bytes() >= path.stat().st_size
    past = time.time() - 7 * 3600
    os.utime(old.folder, (past, past))
    with open(path, "rb") as fh:
        new = ws.stage(fh, "b.csv")  # staging sweeps what waited longer than 6 hours
    assert not old.folder.exists() and new.folder.exists()
    monkeypatch.setenv("MARKETLENS_MAX_STAGED_MB", "0")
    with open(path, "rb") as fh, pytest.raises(FileTooLargeError, match="MARKETLENS_MAX_STAGED_MB"):
        ws.stage(types.SimpleNamespace(read=fh.read, size=path.stat().st_size), "c.csv")
    close_all()


def test_a_running_spark_session_on_another_master_is_stopped():
    from analytics.engines.spark import _stop_if_other_master

    stopped = []
    running = types.SimpleNamespace(sparkContext=types.SimpleNamespace(master="local[*]"),
                                    stop=lambda: stopped.append(True))
    session_class = types.SimpleNamespace(getActiveSession=lambda: running)
    _stop_if_other_master(session_class, "local[*]")
    assert stopped == []
    _stop_if_other_master(session_class, "spark://cluster:7077")
    assert stopped == [True]


def test_secrets_file_is_never_committed():
    res = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT)
    assert res.returncode == 0


def test_streamlit_table_export_is_off():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
