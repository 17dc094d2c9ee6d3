"""The Models page with the sequence models: in the catalogue, trained live on the chart, or said to be unavailable."""

from __future__ import annotations

import json

from tests.apptest_helpers import app, button, no_traceback, open_page, read
from tests.sequence_data import without_torch


def curve_names(at) -> list[str]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [t["name"] for t in spec["data"] if not t["name"].startswith("chance")]


def test_the_sequence_network_trains_on_the_page_beside_boosting(sample_dataset, workspace, monkeypatch):
    from dataclasses import replace

    from analytics.sequences import propensity

    settings = propensity.network_settings
    # The page's wiring is under test here, not learning (tests/test_sequences_models.py): one epoch.
    monkeypatch.setattr(propensity, "network_settings",
                        lambda *a: (lambda enc, train: (enc, replace(train, max_epochs=1)))(*settings(*a)))
    at = open_page(app(), "pages/models.py")
    options = at.multiselect(key="models_chosen").options
    assert "Sequence network" in options and "Aggregates + sequence" in options
    at.multiselect(key="models_chosen").set_value(["hgb", "seq"]).run()
    assert any("last 200 events" in read(c.value) for c in at.caption)
    at.number_input(key="folds").set_value(2).run()
    button(at, "Train").click().run()
    no_traceback(at)
    names = curve_names(at)
    assert any(n.startswith("Sequence network (AUC") for n in names) and len(names) == 2
    stored = workspace.results(sample_dataset.id, "training")[0].meta["results"]
    assert {r["model"] for r in stored} == {"hgb", "seq"} and all(r["error"] is None for r in stored)


def test_without_torch_the_page_names_them_and_the_install_command(sample_dataset, workspace, monkeypatch):
    without_torch(monkeypatch)
    at = open_page(app(), "pages/models.py")
    options = at.multiselect(key="models_chosen").options
    assert "Sequence network" not in options and "Gradient boosting" in options
    notes = [read(c.value) for c in at.caption]
    assert any("Not available here: Sequence network, Aggregates + sequence" in n
               and "pip install -r requirements-deep.txt" in n for n in notes)
