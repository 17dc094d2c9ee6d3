"""In a real browser: the Service page shows what a scoring service wrote (events, latest scores, drift)."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from analytics import models as M
from analytics.models.training_set import build_training_set

pytestmark = pytest.mark.e2e


@pytest.fixture
def served_workspace(tmp_path, sample_template):
    """The sample workspace after a scoring service took 60 events and scored their users (then stopped)."""
    from analytics.service import ScoringService
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    shutil.copytree(sample_template.root, root)
    ws = Workspace(root)
    model = M.save_model(M.fit_model(build_training_set(ws, sample_template.dataset_id), "lr"), tmp_path / "m")
    service = ScoringService.open(model, ws, clock=lambda: datetime(2025, 6, 1))
    events = [{"user_id": f"live{i % 20}", "event_time": f"2025-05-{1 + i % 28:02d}T10:00:00Z",
               "event": "purchase" if i % 7 == 0 else "page_view", "amount": 30 if i % 7 == 0 else None}
              for i in range(60)]
    import json

    service.ingest(json.dumps(events).encode(), "application/json")
    service.score_users([f"live{i}" for i in range(20)])
    service.write_status({"running": True})
    service.close()
    ws.close()
    close_all()
    return root


def test_service_page_shows_the_status(served_workspace, app_server, page, tmp_path):
    page.goto(app_server + "/service")
    page.get_by_text("Events stored").wait_for()
    page.get_by_text("Latest scores").wait_for()
    assert "60" in page.locator("[data-testid='stMetric']").first.inner_text()
    page.get_by_text("Not enough live scores yet").wait_for()
    page.locator(".js-plotly-plot .main-svg").first.wait_for()
    page.screenshot(path=str(tmp_path / "service.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
