"""``python -m analytics serve``: bad input exits 2 with one line; a real server answers, then stops gracefully."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from analytics import models as M
from analytics.cli.service import _check_address
from analytics.errors import InvalidParameterError
from analytics.models.training_set import build_training_set
from tests.helpers import ROOT
from tests.test_cli import cli


def test_bad_model_exits_2_with_one_line(tmp_path):
    res = cli("serve", tmp_path / "nothing-here", "--workspace", tmp_path / "ws")
    assert res.returncode == 2 and "neither a model folder nor" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "empty-model").mkdir()
    res = cli("serve", tmp_path / "empty-model", "--workspace", tmp_path / "ws")
    assert res.returncode == 2 and "no saved MarketLens model" in res.stderr


def test_serves_then_stops_gracefully_on_sigterm(tmp_path, sample_template):
    from analytics.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(sample_template.root, root)
    ws = Workspace(root)
    M.save_model(M.fit_model(build_training_set(ws, sample_template.dataset_id), "lr"), tmp_path / "model")
    ws.close()
    (tmp_path / "keys").write_text("k1\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "serve", str(tmp_path / "model"), "--workspace",
                             str(root), "--port", str(port), "--key-file", str(tmp_path / "keys")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        event = {"user_id": "live-1", "event_time": "2025-05-01T10:00:00Z", "event": "purchase", "amount": 20}
        r = httpx.post(f"{base}/v1/events", json=[event], headers={"X-API-Key": "k1"})
        assert r.status_code == 200 and r.json()["stored"] == 1
        r = httpx.get(f"{base}/v1/users/live-1", headers={"X-API-Key": "k1"}, timeout=30)
        assert r.status_code == 200 and 0 <= r.json()["score"] <= 1
        assert httpx.get(f"{base}/docs").status_code == 200
        # What the service holds from its start (libraries, model) is frozen out of the garbage collector's
        # full passes, which otherwise paused every request for 100-240 ms several times a minute.
        gc = httpx.get(f"{base}/metrics", headers={"X-API-Key": "k1"}).json()["gc"]
        assert gc["frozen_objects"] > 100_000 and len(gc["collections_per_generation"]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err  # a graceful stop, though uvicorn re-raises the signal once it has shut down
    assert "serving" in out and "Traceback" not in err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(r["msg"] == "service stopped" for r in logs) and any(r.get("status") == 200 for r in logs)
    status = json.loads(next((root / "service").glob("*/status.json")).read_text())
    assert status["running"] is False and status["store"]["events"] == 1


def test_an_address_that_cannot_be_listened_on_is_refused_before_serving():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InvalidParameterError, match=f"Cannot listen on 127.0.0.1:{port}.*another --port"):
            _check_address("127.0.0.1", port)
    _check_address("127.0.0.1", port)  # free again: no complaint
    with pytest.raises(InvalidParameterError, match="Cannot listen on 999.1.1.1"):
        _check_address("999.1.1.1", port)
