"""AppTest of the Models page: empty workspace, training with live ROC, deeper looks, money, save and score."""

from __future__ import annotations

import json
from datetime import date

from tests.apptest_helpers import app, app_with_url, button, errors, no_traceback, open_page, read, text_box
from tests.helpers import write


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
    text_box(at, "Model name").set_value("buyers").run()
    button(at, "Save model").click().run()
    no_traceback(at)
    assert [m.key for m in workspace.results(sample_dataset.id, "model")] == ["buyers"]
    button(at, "Score").click().run()
    no_traceback(at)
    assert errors(at) == []
    # Another target: the run on screen is said to be the last one, not passed off as the new target's.
    assert not [w for w in at.warning if "another target" in w.value]
    at.radio(key=f"kind_{sample_dataset.id}").set_value("churn").run()
    [note] = [w.value for w in at.warning if "another target" in w.value]
    assert "purchase" in note and "press **Train**" in note
    assert button(at, "Save model").disabled


def test_one_class_target_is_explained_not_trained(sample_dataset, workspace):
    at = open_page(app(), "pages/models.py")
    at.number_input(key=f"horizon_{sample_dataset.id}").set_value(1).run()
    at.date_input(key=f"cutoff_{sample_dataset.id}").set_value(date(2024, 12, 30)).run()
    assert {m.label: m.value for m in at.metric}["Positive rate"] == "0.0%"
    at.multiselect(key="models_chosen").set_value(["lr"]).run()
    button(at, "Train").click().run()
    no_traceback(at)
    assert any("one group" in e and "longer horizon" in e for e in errors(at))
    assert workspace.results(sample_dataset.id, "training") == []


def train(at, models=("lr",)):
    at.multiselect(key="models_chosen").set_value(list(models)).run()
    button(at, "Train").click().run()
    no_traceback(at)
    return at


def target_list_shown(at) -> bool:
    return any(b.label == "Download the target list (CSV)" for b in at.get("download_button"))


def test_results_never_show_next_to_another_dataset(sample_dataset, workspace, tmp_path, sample_log):
    import shutil

    other = tmp_path / "other.csv.gz"
    shutil.copy(sample_log, other)
    b = workspace.import_file(other, name="Second shop")
    at = app()
    at.sidebar.selectbox(key="dataset_picker").set_value(sample_dataset.id).run()
    at = train(open_page(at, "pages/models.py"))
    button(at, "Score today's users and build the target list").click().run()
    assert target_list_shown(at)
    at.sidebar.selectbox(key="dataset_picker").set_value(b.id).run()
    at = train(at)
    assert not target_list_shown(at)  # B's page never shows A's list
    at.sidebar.selectbox(key="dataset_picker").set_value(sample_dataset.id).run()
    assert target_list_shown(at)  # and A's list is still A's when coming back


def test_depth_follows_the_best_until_moved(sample_dataset):
    at = train(open_page(app(), "pages/models.py"))
    [depth] = [s for s in at.slider if s.key.startswith("depth_")]
    at.number_input(key="cost").set_value(5.0).run()
    [depth] = [s for s in at.slider if s.key.startswith("depth_")]
    best = next(c.value for c in at.caption if c.value.startswith("Best: contact the top"))
    assert best.startswith(f"Best: contact the top {depth.value:.1f}%")
    depth.set_value(50.0).run()
    at.number_input(key="cost").set_value(1.0).run()
    assert [s for s in at.slider if s.key.startswith("depth_")][0].value == 50.0  # the user's choice stays
    button(at, "Score today's users and build the target list").click().run()
    targets = at.dataframe[-1].value
    assert abs(len(targets) - 0.5 * sample_dataset.users) <= 1  # the list holds the chosen depth


def test_near_chance_model_gets_a_warning_before_money(sample_dataset):
    from dataclasses import replace

    from analytics.models import ModelResult

    assert ModelResult("x", "X", auc_mean=0.54, auc_std=0.05).near_chance
    assert ModelResult("x", "X", auc_mean=0.58, auc_std=0.05).near_chance
    assert not replace(ModelResult("x", "X", auc_mean=0.86, auc_std=0.02)).near_chance
    at = train(open_page(app(), "pages/models.py"))
    assert not any("barely better than chance" in w.value for w in at.warning)  # the sample is predictable


def test_settings_survive_page_switches_and_reloads(sample_dataset):
    at = open_page(app(), "pages/models.py")
    at.number_input(key=f"horizon_{sample_dataset.id}").set_value(14).run()
    at.date_input(key=f"cutoff_{sample_dataset.id}").set_value(date(2025, 5, 1)).run()
    at = open_page(at, "pages/features.py")
    at = open_page(at, "pages/models.py")
    assert at.number_input(key=f"horizon_{sample_dataset.id}").value == 14
    assert at.date_input(key=f"cutoff_{sample_dataset.id}").value == date(2025, 5, 1)
    # Changing the horizon keeps a cutoff the user typed.
    at.number_input(key=f"horizon_{sample_dataset.id}").set_value(21).run()
    assert at.date_input(key=f"cutoff_{sample_dataset.id}").value == date(2025, 5, 1)
    # A reload (a new session with the same URL) opens the same view.
    params = dict(at.query_params)
    assert params["dataset"] == sample_dataset.id and params["horizon"] == "21" and params["cutoff"] == "2025-05-01"
    again = app_with_url(params, "pages/models.py")
    assert again.number_input(key=f"horizon_{sample_dataset.id}").value == 21
    assert again.date_input(key=f"cutoff_{sample_dataset.id}").value == date(2025, 5, 1)


def test_expensive_results_come_back_after_a_restart(sample_dataset):
    at = train(open_page(app(), "pages/models.py"))
    button(at, "Compute the learning curve").click().run()
    no_traceback(at)
    charts = len(at.get("plotly_chart"))
    fresh = open_page(app(), "pages/models.py")  # a new session: nothing in memory
    assert len(fresh.get("plotly_chart")) == charts  # the stored learning curve is drawn again


def test_per_segment_performance_places_users_as_of_the_cutoff(sample_dataset, workspace):
    at = open_page(app(), "pages/segments.py")
    button(at, "Segment").click().run()
    button(at, "Save segmentation").click().run()
    at = train(open_page(at, "pages/models.py"))
    table = next(d.value for d in at.dataframe if "segment" in d.value.columns and "ROC AUC" in d.value.columns)
    assert table["users"].sum() == int(at.metric[0].value.replace(",", ""))  # every training user is placed
    assert set(table["segment"]) <= set(workspace.result(sample_dataset.id, "segmentation",
                                                         "kmeans_k4").frames["labels"]["segment"]) | {
        "(no segment)"}
    assert any("as of the cutoff" in c.value for c in at.caption)


def test_each_dataset_keeps_its_own_settings_when_switching(sample_dataset, workspace, tmp_path):
    other = workspace.import_file(write(tmp_path / "newsletter.csv", "user,time,event\n" + "".join(
        f"n{i % 40},2025-0{1 + i % 3}-{1 + i % 28:02d} 10:00,{'buy' if i % 7 == 0 else 'open'}\n" for i in range(800))))
    at = open_page(app(), "pages/models.py")
    at.selectbox(key="dataset_picker").set_value(sample_dataset.id).run()
    at.number_input(key=f"horizon_{sample_dataset.id}").set_value(21).run()
    at.selectbox(key="dataset_picker").set_value(other.id).run()
    assert at.number_input(key=f"horizon_{other.id}").value == 30  # not the other dataset's 21
    at.selectbox(key="dataset_picker").set_value(sample_dataset.id).run()
    assert at.number_input(key=f"horizon_{sample_dataset.id}").value == 21  # not the URL's 30, written for the other
    # A dataset opened for the first time starts from the defaults, not from the URL written for another one.
    at.radio(key=f"kind_{sample_dataset.id}").set_value("churn").run()
    third = workspace.import_file(write(tmp_path / "third.csv", (tmp_path / "newsletter.csv").read_text()),
                                  name="Third")
    at.run()  # the picker lists it
    at.selectbox(key="dataset_picker").set_value(third.id).run()
    assert at.radio(key=f"kind_{third.id}").value == "event" and at.number_input(key=f"horizon_{third.id}").value == 30
    assert dict(at.query_params).get("target") in (None, "event")


def test_the_out_of_time_check_is_shown_on_the_page(sample_dataset):
    """It was computed and printed in the report, but the page showed nothing of it."""
    at = open_page(app(), "pages/models.py")
    at.checkbox(key="oot").check().run()
    at = train(at)
    [shown] = [m.value for m in at.markdown if "Out-of-time check" in m.value]
    assert "Logistic regression: trained up to" in read(shown) and "ROC AUC 0." in read(shown)


def test_money_settings_reach_the_report_and_survive_other_pages(sample_dataset):
    """The money section redraws on its own: the report kept the values of the sidebar's last draw, and a visit
    to another page reset the inputs (and the report) to 1 / 40."""
    at = train(open_page(app(), "pages/models.py"))
    at.number_input(key="cost").set_value(7.0).run()
    assert at.session_state["report_money"] == {"cost": 7.0, "value": 40.0}
    at = open_page(at, "pages/features.py")
    at = open_page(at, "pages/models.py")
    assert at.number_input(key="cost").value == 7.0
    assert at.session_state["report_money"]["cost"] == 7.0


def test_a_column_target_shows_the_date_it_uses_not_a_cutoff_box(sample_dataset):
    """Audit: a Cutoff box showed the last event minus the horizon, while the run used the last event."""
    at = open_page(app(), "pages/models.py")
    at.radio(key=f"kind_{sample_dataset.id}").set_value("column").run()
    no_traceback(at)
    assert [d for d in at.date_input if d.key == f"cutoff_{sample_dataset.id}"] == []
    assert [n for n in at.number_input if n.key == f"horizon_{sample_dataset.id}"] == []
    assert any(f"Features as of the last event ({sample_dataset.ts_max:%Y-%m-%d %H:%M} UTC)" in c.value
               for c in at.caption)
    at.radio(key=f"kind_{sample_dataset.id}").set_value("event").run()  # and back: the boxes return
    assert at.number_input(key=f"horizon_{sample_dataset.id}").value == 30
