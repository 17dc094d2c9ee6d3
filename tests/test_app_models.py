"""AppTest of the Models page: empty workspace, training with live ROC, deeper looks, money, save and score."""

from __future__ import annotations

import json
from datetime import date

from tests.apptest_helpers import app, button, errors, no_traceback, open_page


def curves(at, index: int = 0) -> list[str]:
    """Names of the model curves in a ROC chart (the chance line left out)."""
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return [t["name"] for t in spec["data"] if not t["name"].startswith("chance")]


def test_empty_workspace(workspace):
    at = open_page(app(), "pages/models.py")
    assert any("no dataset yet" in i.value for i in at.info)


def test_train_two_models_and_use_them(sample_dataset, workspace):
    at = open_page(app(), "pages/models.py")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Users"].replace(",", "")) > 500 and metrics["Positive rate"].endswith("%")
    at.multiselect(key="models_chosen").set_value(["lr", "nb"]).run()
    button(at, "Train").click().run()
    no_traceback(at)
    names = curves(at)
    assert len(names) == 2 and all("AUC" in n for n in names)
    assert len(workspace.results(sample_dataset.id, "training")) == 1
    # Money: a profit curve and a target list for the best depth.
    at.number_input(key="cost").set_value(2.0).run()
    button(at, "Score today's users and build the target list").click().run()
    no_traceback(at)
    targets = at.dataframe[-1].value
    assert list(targets.columns) == ["user_id", "score", "rank", "segment"] and len(targets) > 0
    assert any(b.label == "Download the target list (CSV)" for b in at.get("download_button"))
    # Save, then score another dataset with it.
    at.text_input(key="model_name").set_value("buyers").run()
    button(at, "Save model").click().run()
    no_traceback(at)
    assert [m.key for m in workspace.results(sample_dataset.id, "model")] == ["buyers"]
    button(at, "Score").click().run()
    no_traceback(at)
    assert errors(at) == []


def test_one_class_target_is_explained_not_trained(sample_dataset, workspace):
    at = open_page(app(), "pages/models.py")
    at.number_input(key=f"horizon_{sample_dataset.id}").set_value(1).run()
    at.date_input(key=f"cutoff_{sample_dataset.id}_1").set_value(date(2024, 12, 30)).run()
    assert {m.label: m.value for m in at.metric}["Positive rate"] == "0.0%"
    at.multiselect(key="models_chosen").set_value(["lr"]).run()
    button(at, "Train").click().run()
    no_traceback(at)
    assert any("one group" in e and "longer horizon" in e for e in errors(at))
    assert workspace.results(sample_dataset.id, "training") == []
