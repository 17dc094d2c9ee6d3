"""AppTest of the Channels page (and the social sample on the Data and Features pages): empty workspace, the
social sample, the shop sample (attribution only), results found again after a reload, bad inputs."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from tests.apptest_helpers import app, button, errors, no_traceback, open_page, read
from tests.helpers import csv_bytes
from tests.social_helpers import SOCIAL_LOG

PAGE = "pages/channels.py"


@pytest.fixture(scope="session")
def social_template(tmp_path_factory):
    """A workspace folder with the social sample imported (once per session)."""
    from analytics.workspace import Workspace

    root = tmp_path_factory.mktemp("social_template") / "ws"
    ws = Workspace(root)
    ds = ws.import_file(SOCIAL_LOG, name="Sample social")
    ws.close()
    return root, ds.id


@pytest.fixture
def social(tmp_path, monkeypatch, social_template):
    """(workspace, dataset): a copy of the social sample workspace, set as MARKETLENS_WORKSPACE."""
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    shutil.copytree(social_template[0], root)
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(root))
    ws = Workspace(root)
    yield ws, ws.get(social_template[1])
    close_all()


def import_rows(workspace, tmp_path, rows, columns=("user", "time", "event", "channel")):
    path = tmp_path / "log.csv"
    path.write_bytes(csv_bytes(pd.DataFrame(rows, columns=list(columns))))
    return workspace.import_file(path, features=False)


def texts(elements) -> str:
    return " ".join(read(e.value) for e in elements)


def test_empty_workspace_and_the_data_page_offers_both_samples(workspace):
    at = open_page(app(), PAGE)
    assert "no dataset yet" in texts(at.info)
    at = open_page(at, "pages/data.py")
    labels = [b.label for b in at.button]
    assert "Load the sample shop log" in labels and "Load the sample social log" in labels
    button(at, "Load the sample social log").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert ds.name == "Sample social" and ds.users == 1588


def test_social_sample_attribution_content_engagement_and_a_reload(social):
    ws, ds = social
    at = open_page(app(), PAGE)
    assert "Social events: click, comment, follow, impression" in at.caption[0].value
    at.multiselect(key=f"attr_events_{ds.id}").set_value(["click"]).run()
    button(at, "Compute attribution").click().run()
    no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversions (purchase)"] == "277" and int(metrics["With a touch in the window"]) > 150
    credits = at.dataframe[0].value
    assert credits["channel"].iloc[0] == "facebook" and credits["Data-driven (Markov)"].iloc[0] > 50  # percent
    assert "What attribution can and cannot say" in texts(at.info)
    assert len(ws.results(ds.id, "attribution")) == 1

    # A reload (a new session) finds the stored result for the same settings without recomputing.
    again = open_page(app(), PAGE)
    again.multiselect(key=f"attr_events_{ds.id}").set_value(["click"]).run()
    assert {m.label: m.value for m in again.metric} == metrics
    assert button(again, "Compute attribution").disabled

    button(at, "Compute content performance").click().run()
    no_traceback(at)
    assert "73 values of content_id" in texts(at.caption)
    ranking = at.dataframe[2].value  # credits, paths, then the ranking by engagement
    assert ranking["content_id"].iloc[0].startswith("give-")  # the giveaway engages most
    assert {"Download the ranking by engagement (CSV)", "Download the ranking by conversion (CSV)"} <= {
        b.label for b in at.get("download_button")}
    button(at, "Find these users").click().run()
    no_traceback(at)
    size = int({m.label: m.value for m in at.metric}["Users in the audience"].replace(",", ""))
    assert size > 0 and "Users who clicked, liked" in texts(at.text) and "(from" not in texts(at.text)
    at.text_input(key="aud_name").set_value("Giveaway <b>fans</b>").run()
    button(at, "Save audience").click().run()
    no_traceback(at)
    [saved] = ws.results(ds.id, "audience")
    audience = ws.audience(ds.id, saved.key)
    assert len(audience.users) == size and audience.rule["column"] == "content_id"

    button(at, "Compute engagement").click().run()
    no_traceback(at)
    tables = [d.value for d in at.dataframe]
    per_user = next(t for t in tables if "engagement_rate" in t.columns)
    assert len(per_user) == ds.users
    per_channel = next(t for t in tables if "Kind" in t.columns)
    rate = per_channel.set_index(["channel", "Kind"])["Conversion rate %"]
    assert rate["facebook", "click"] > 3 * rate["facebook", "like"]  # clicks convert there, likes do not
    assert len(at.get("plotly_chart")) == 6  # 3 attribution, 2 rankings, 1 engagement


def test_shop_sample_gets_attribution_by_channel_only(sample_dataset):
    at = open_page(app(), PAGE)
    assert "No social events" in at.caption[0].value
    button(at, "Compute attribution").click().run()
    no_traceback(at)
    assert {m.label: m.value for m in at.metric}["Conversions (purchase)"] == "1,899"
    assert set(at.dataframe[0].value["channel"]) >= {"email", "direct", "paid_search"}
    needs = [i.value for i in at.info if "needs social events" in i.value]
    assert len(needs) == 2 and "page\\_view" in needs[0]  # the log's events, escaped for Markdown
    labels = [b.label for b in at.button]
    assert "Compute content performance" not in labels and "Compute engagement" not in labels


def test_features_page_adds_the_engagement_features(social):
    ws, ds = social
    at = open_page(app(), "pages/features.py")
    assert at.checkbox(key=f"engagement_{ds.id}").value is True
    assert {"engagement_rate", "share_clicks", "first_touch_channel"} <= set(at.dataframe[0].value.columns)
    at.checkbox(key=f"engagement_{ds.id}").uncheck().run()
    button(at, "Build the feature table").click().run()
    no_traceback(at)
    assert "engagement_rate" not in at.dataframe[0].value.columns


def test_no_conversion_event(workspace, tmp_path):
    import_rows(workspace, tmp_path, [("a", "2025-01-01", "view", "email"), ("b", "2025-01-02", "view", "search")])
    at = open_page(app(), PAGE)
    assert "No event looks like a conversion" in texts(at.warning)
    assert "Compute attribution" not in [b.label for b in at.button]  # nothing to compute until one is picked
    at.selectbox(key=f"attr_conv_{workspace.datasets()[0].id}").set_value("view").run()
    button(at, "Compute attribution").click().run()
    no_traceback(at)
    assert "No touches" in texts(at.error)


def test_no_touch_column(workspace, tmp_path):
    import_rows(workspace, tmp_path, [("a", "2025-01-01", "view"), ("a", "2025-01-02", "purchase")],
                ("user", "time", "event"))
    at = open_page(app(), PAGE)
    assert "Attribution needs a column" in texts(at.info)


def test_conversions_without_a_touch_in_the_window(workspace, tmp_path):
    import_rows(workspace, tmp_path, [("a", "2025-01-01", "view", "email"), ("a", "2025-03-01", "purchase", None),
                                      ("b", "2025-01-05", "view", "search")])
    at = open_page(app(), PAGE)
    button(at, "Compute attribution").click().run()
    no_traceback(at)
    assert "has a touch" in texts(at.error) and "Lengthen the lookback window" in texts(at.error)
    assert not at.metric


def test_one_channel_and_paths_longer_than_fifty_touches(workspace, tmp_path):
    rows = [("a", f"2025-01-01 10:{m:02d}", "view", "email") for m in range(60)]
    ds = import_rows(workspace, tmp_path, rows + [("a", "2025-01-01 11:30", "purchase", None)])
    at = open_page(app(), PAGE)
    at.checkbox(key=f"attr_repeats_{ds.id}").check().run()
    button(at, "Compute attribution").click().run()
    no_traceback(at)
    warnings = texts(at.warning)
    assert "Only one channel has touches" in warnings and "more than 50 touches" in warnings
    assert {m.label: m.value for m in at.metric}["With a touch in the window"] == "1"
    assert not errors(at)


def test_text_from_the_log_is_never_markup(workspace, tmp_path):
    from tests.test_app_hostile_text import IMAGE, LINK, assert_no_markup

    rows = []
    for u in range(40):
        for d, (event, channel) in enumerate([(f"{LINK} view", f"{IMAGE} ch"), ("like", "plain"),
                                              ("click", f"{IMAGE} ch")]):
            rows.append((f"u{u}", f"2025-01-{1 + d + u % 5:02d}", event, channel, f"{LINK} post"))
        if u % 3 == 0:
            rows.append((f"u{u}", "2025-01-09", f"{IMAGE} buy", None, None))
    ds = import_rows(workspace, tmp_path, rows, ("user", "time", "event", f"{LINK} source", "content_id"))
    workspace.rename(ds.id, f"{IMAGE} {LINK} social")
    at = open_page(app(), PAGE)
    at.selectbox(key=f"attr_conv_{ds.id}").set_value(f"{IMAGE} buy").run()
    button(at, "Compute attribution").click().run()
    assert at.metric and not errors(at)
    assert_no_markup(at)
    at.selectbox(key=f"content_conv_{ds.id}").set_value(f"{IMAGE} buy").run()
    button(at, "Compute content performance").click().run()
    button(at, "Find these users").click().run()
    button(at, "Save audience").click().run()
    at.selectbox(key=f"eng_conv_{ds.id}").set_value(f"{IMAGE} buy").run()
    button(at, "Compute engagement").click().run()
    assert len(at.get("plotly_chart")) == 6 and not errors(at)
    assert_no_markup(at)


def test_viewers_compute_but_do_not_save_audiences(social):
    from tests.test_app_auth import run

    ws, ds = social
    at = run({"is_logged_in": True, "email": "eve@agency.example"}, PAGE)
    button(at, "Compute content performance").click().run()  # analyses still run for viewers
    button(at, "Find these users").click().run()
    no_traceback(at)
    assert button(at, "Save audience").disabled and not ws.results(ds.id, "audience")
