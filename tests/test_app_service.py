"""AppTest of the Service page: empty workspace, no service yet, a running service's status, after a bad upload."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from analytics.service import service_dir
from tests.apptest_helpers import app, errors, no_traceback, open_page, upload


def _status(workspace, ds, level: str, psi: float | None) -> None:
    folder = service_dir(workspace.root, ds.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "status.json").write_text(json.dumps({
        "updated_at": datetime.now(UTC).replace(tzinfo=None).isoformat(), "running": True,
        "model": {"name": "Logistic regression <b>x</b>"},
        "store": {"events": 1234, "users": 56}, "metrics": {"events_received": 1300, "events_duplicate": 66,
                                                           "events_per_second_1m": 12.5,
                                                           "latency_ms": {"/v1/users/{id}": {"p95": 7.5}}},
        "drift": {"psi": psi, "level": level, "live_scores": 400, "reference_scores": 949},
        "latest_scores": [{"user_id": "=cmd()", "score": 0.4, "percentile": 61.0, "as_of": "2025-05-01T00:00:00"}],
        "histogram": {"edges": [i / 20 for i in range(21)], "reference": [0.05] * 20, "live": [0.05] * 20}}))


def test_empty_workspace_points_to_the_data_page(workspace):
    at = open_page(app(), "pages/service.py")
    assert any("no dataset yet" in i.value for i in at.info)


def test_no_service_yet_says_how_to_start_one(sample_dataset):
    at = open_page(app(), "pages/service.py")
    no_traceback(at)
    assert any("No scoring service" in i.value for i in at.info)
    assert "analytics serve" in at.code[0].value


def test_status_of_a_running_service(sample_dataset, workspace):
    _status(workspace, sample_dataset, "warning", 0.31)
    at = open_page(app(), "pages/service.py")
    no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Events stored"] == "1,234" and metrics["Score p95 (ms)"] == "7.5"
    assert any("0.310" in w.value and "shifted" in w.value for w in at.warning)
    assert at.dataframe[0].value["user_id"].tolist() == ["=cmd()"]
    assert len(at.get("plotly_chart")) == 1 and "running" in at.caption[0].value


def test_page_still_works_after_a_bad_upload(sample_dataset, workspace):
    _status(workspace, sample_dataset, "stable", 0.02)
    at = open_page(app(), "pages/data.py")
    upload(at, "bad.csv", b"\x00\x01garbage")
    at.switch_page("pages/service.py").run()
    no_traceback(at)
    assert not errors(at) and any("stable" in i.value for i in at.info)
