"""AppTest of the Journeys page: empty workspace, the sample's four views, audiences reused on the Models page,
results shown again after a reload, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.apptest_helpers import app, button, errors, no_traceback, open_page
from tests.helpers import write
from tests.test_app_auth import run
from tests.test_app_hostile_text import IMAGE, LINK, assert_no_markup

PAGE = "pages/journeys.py"


def infos(at) -> list[str]:
    return [i.value for i in at.info]


def chart_types(at) -> list[str]:
    return [json.loads(c.proto.spec)["data"][0]["type"] for c in at.get("plotly_chart")]


def test_empty_workspace(workspace):
    at = open_page(app(), PAGE)
    assert any("no dataset yet" in i for i in infos(at))


def test_sample_views_audiences_and_the_models_page(sample_dataset, workspace):
    ds = sample_dataset
    at = open_page(app(), PAGE)
    assert sum("press **compute" in i.lower() for i in infos(at)) == 4
    f, r = f"jf_{ds.id}_", f"jr_{ds.id}_"
    assert [at.selectbox(key=f"{f}step{i}").value for i in range(5)] == [
        "page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]

    # Funnel: computed behind the button, stored for these settings.
    button(at, "Compute the funnel").click().run()
    no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users entering"] == "949" and metrics["Completed"] == "157" and metrics["Conversion"] == "16.5%"
    assert chart_types(at)[:2] == ["bar", "bar"]  # funnel, time to convert
    steps = at.dataframe[0].value
    assert list(steps["users"]) == [949, 801, 364, 226, 157]
    assert len(workspace.results(ds.id, "journey")) == 1

    # Users who reached the cart but not the checkout, saved under the user's name.
    at.selectbox(key=f + "aud_step").set_value(3).run()
    assert at.text_input(key=f"{f}aud_name_3_None").value == "Stopped after add_to_cart (step 3)"
    at.text_input(key=f"{f}aud_name_3_None").set_value("Cart quitters").run()
    at.button(key="j_save_funnel_audience").click().run()
    no_traceback(at)
    assert any("Saved 'Cart quitters' (138 users)" in s.value for s in at.success)
    assert workspace.audience(ds.id, "cart_quitters").size == 138

    # Retention, paths and lifecycle.
    button(at, "Compute retention").click().run()
    button(at, "Compute the paths").click().run()
    button(at, "Compute the lifecycle").click().run()
    no_traceback(at)
    assert errors(at) == []
    assert {"heatmap", "scatter", "sankey"} <= set(chart_types(at))
    # The users of the first weekly cohort who did not come back in week 1.
    at.selectbox(key=f"{r}aud_offset_0").set_value(1).run()
    at.radio(key=r + "aud_retained").set_value(False).run()
    at.button(key="j_save_cohort_audience").click().run()
    no_traceback(at)
    key = next(a.key for a in workspace.results(ds.id, "audience") if a.key != "cart_quitters")
    lost = workspace.audience(ds.id, key)
    assert lost.name == "Week 2024-12-30 cohort, not back in week 1" and lost.size == 305 - 115
    assert len(workspace.results(ds.id, "journey")) == 4

    # A reload (a new session) shows every stored view again without pressing anything.
    again = open_page(app(), PAGE)
    assert not any("press **compute" in i.lower() for i in infos(again))
    assert {m.label: m.value for m in again.metric}["Users entering"] == "949"
    assert len(again.get("plotly_chart")) == len(at.get("plotly_chart"))

    # The saved audience is a segment on the Models page ("in" / "not in").
    models = open_page(app(), "pages/models.py")
    models.multiselect(key="models_chosen").set_value(["lr"]).run()
    button(models, "Train").click().run()
    no_traceback(models)
    choice = models.selectbox(key="perf_seg")
    assert "audience: Cart quitters (in it / not in it)" in choice.options
    choice.set_value(("audience", "cart_quitters")).run()
    no_traceback(models)
    per_segment = next(d.value for d in models.dataframe if "segment" in d.value.columns)
    assert set(per_segment["segment"]) == {"in Cart quitters", "not in Cart quitters"}


def test_bad_input_gives_messages(sample_dataset, workspace):
    ds = sample_dataset
    f = f"jf_{ds.id}_"
    at = open_page(app(), PAGE)
    # A window of 0 days.
    at.number_input(key=f + "window").set_value(0.0).run()
    button(at, "Compute the funnel").click().run()
    no_traceback(at)
    assert any("more than 0 and at most 366 days" in e for e in errors(at))
    # A repeated step is explained; an exclusion that is also a step is refused.
    at.number_input(key=f + "window").set_value(7.0).run()
    at.selectbox(key=f + "step2").set_value("page_view").run()
    assert any("Step 3 repeats step 1 (page\\_view)" in c.value for c in at.caption)
    at.selectbox(key=f + "exclude").set_value("view_item").run()
    button(at, "Compute the funnel").click().run()
    assert any("is also a step" in e for e in errors(at))
    # Steps that never happen in this order within the window: computed, and explained.
    at.selectbox(key=f + "exclude").set_value("").run()
    at.number_input(key=f + "n").set_value(2).run()
    at.selectbox(key=f + "step0").set_value("purchase").run()
    at.selectbox(key=f + "step1").set_value("begin_checkout").run()
    at.number_input(key=f + "window").set_value(0.0001).run()
    button(at, "Compute the funnel").click().run()
    no_traceback(at)
    assert any("Nobody reached step 2 (begin\\_checkout)" in i for i in infos(at))
    assert errors(at) == []


def test_one_user_and_an_attribute_with_100k_values(workspace, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("user_id,event_time,event\nu1,2025-01-06T10:00:00Z,page_view\nu1,2025-01-06T10:05:00Z,purchase\n"
                   "u1,2025-02-03T09:00:00Z,page_view\n")
    workspace.import_file(one, name="One user", features=False)
    at = open_page(app(), PAGE)
    assert any("has 1 user" in w.value for w in at.warning)
    for label in ("Compute the funnel", "Compute retention", "Compute the paths", "Compute the lifecycle"):
        button(at, label).click().run()
        no_traceback(at)
    assert errors(at) == []
    assert {m.label: m.value for m in at.metric}["Completed"] == "1"

    n = 100_000
    rng = np.random.default_rng(3)
    ts = pd.Timestamp("2025-01-06") + pd.to_timedelta(rng.integers(0, 30 * 86_400, n), unit="s")
    big = pd.DataFrame({"user_id": [f"u{i % 3000}" for i in range(n)], "event_time": ts.strftime("%Y-%m-%dT%H:%M:%S"),
                        "event": rng.choice(["view", "cart", "buy"], n, p=[0.7, 0.2, 0.1]),
                        "coupon_code": [f"c{i:06d}" for i in range(n)]})
    path = tmp_path / "coupons.csv"
    big.to_csv(path, index=False)
    ds = workspace.import_file(path, name="Coupons", features=False)
    assert "coupon_code" in ds.profile.attributes
    at = open_page(app(), PAGE)
    f = f"jf_{ds.id}_"
    at.selectbox(key=f + "by").set_value("attribute:coupon_code").run()
    assert any("the 10 largest groups are shown" in c.value for c in at.caption)
    button(at, "Compute the funnel").click().run()
    no_traceback(at)
    groups = next(d.value for d in at.dataframe if "group" in d.value.columns)
    assert groups["group"].nunique() == 11 and "(other)" in set(groups["group"])


def test_hostile_event_and_audience_names_stay_text(workspace, tmp_path):
    rows = ["user,time,event"] + [f"u{i % 20},2025-0{1 + i % 6}-{1 + i % 27:02d} 10:00,"
                                  f"{LINK + ' buy' if i % 3 else 'view'}" for i in range(90)]
    ds = workspace.import_file(write(tmp_path / "hostile.csv", "\n".join(rows) + "\n"), name=f"{IMAGE} shop",
                               features=False)
    f = f"jf_{ds.id}_"
    at = open_page(app(), PAGE)
    assert_no_markup(at)
    hostile = next(e for e in ds.profile.event_counts if LINK in e)
    at.number_input(key=f + "n").set_value(3).run()
    for i, event in enumerate([hostile, "view", hostile]):  # the repeated step is named in a caption
        at.selectbox(key=f"{f}step{i}").set_value(event).run()
    for label in ("Compute the funnel", "Compute retention", "Compute the paths", "Compute the lifecycle"):
        button(at, label).click().run()
    at.text_input(key=f"{f}aud_name_1_None").set_value(f"{IMAGE} mine").run()
    at.button(key="j_save_funnel_audience").click().run()
    assert any("Saved" in s.value for s in at.success) and any("repeats step 1" in c.value for c in at.caption)
    assert errors(at) == []
    assert_no_markup(at)


def test_viewers_compute_but_do_not_save_audiences(sample_dataset, workspace):
    at = run({"is_logged_in": True, "email": "eve@agency.example"}, PAGE)
    button(at, "Compute the funnel").click().run()
    no_traceback(at)
    assert {m.label: m.value for m in at.metric}["Users entering"] == "949"
    assert at.button(key="j_save_funnel_audience").disabled
    assert workspace.results(sample_dataset.id, "audience") == []
