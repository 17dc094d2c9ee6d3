"""AppTest of the Features page: empty workspace, sample data, parameters, after a bad upload."""

from __future__ import annotations

from datetime import date

from tests.apptest_helpers import app, button, errors, no_traceback, open_page, upload


def test_empty_workspace_points_to_the_data_page(workspace):
    at = open_page(app(), "pages/features.py")
    assert any("no dataset yet" in i.value for i in at.info)
    assert len(at.dataframe) == 0


def test_sample_features_table_chart_and_summary(sample_dataset):
    at = open_page(app(), "pages/features.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users"] == f"{sample_dataset.users:,}"
    table = at.dataframe[0].value
    assert len(table) == sample_dataset.users and "recency_days" in table
    # Users without a purchase have no average order value: a dash on screen, not "None".
    assert table["avg_order_value"].isna().any() and at.dataframe[0].proto.placeholder == "—"
    assert len(at.get("plotly_chart")) == 1
    assert {b.label for b in at.main.get("download_button")} == {"Download CSV", "Download Parquet"}
    summary = at.dataframe[1].value
    assert "monetary" in set(summary["feature"])


def test_changing_parameters_builds_a_new_table(sample_dataset, workspace):
    at = open_page(app(), "pages/features.py")
    at.date_input(key=f"as_of_{sample_dataset.id}").set_value(date(2025, 3, 31)).run()
    assert any("not been built yet" in i.value for i in at.info)
    button(at, "Build the feature table").click().run()
    no_traceback(at)
    assert not any("not been built yet" in i.value for i in at.info)  # not left above the new table
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["As of"].startswith("2025-03-31")
    assert int(metrics["Users"].replace(",", "")) < sample_dataset.users  # newer users are not there yet


def test_histogram_feature_and_log_toggle(sample_dataset):
    at = open_page(app(), "pages/features.py")
    at.selectbox(key=f"hist_{sample_dataset.id}").set_value("monetary").run()
    at.toggle(key="log_scale").set_value(False).run()
    no_traceback(at)
    assert len(at.get("plotly_chart")) == 1


def test_page_still_works_after_a_bad_upload(sample_dataset):
    at = upload(app(), "bad.csv", b"%PDF-1.3 nope")
    assert errors(at)
    at = open_page(at, "pages/features.py")
    assert {m.label: m.value for m in at.metric}["Users"] == f"{sample_dataset.users:,}"


def test_event_count_columns_name_the_event_they_count(workspace, tmp_path):
    """'page view', 'page-view' and 'page_view' share a column name stem: each tooltip names its own event."""
    import json

    rows = [f"u{i % 9},2025-01-{1 + i % 27:02d} 10:{i % 60:02d},{name}\n"
            for i, name in enumerate(["page view"] * 40 + ["page-view"] * 30 + ["page_view"] * 20 + ["buy"] * 10)]
    (tmp_path / "collide.csv").write_text("user,time,event\n" + "".join(rows))
    workspace.import_file(tmp_path / "collide.csv")
    at = open_page(app(), "pages/features.py")
    no_traceback(at)
    config = json.loads(at.dataframe[0].proto.columns)
    helps = {col: config[col].get("help") for col in ("n_page_view", "n_page_view_2", "n_page_view_3")}
    assert helps == {"n_page_view": "Number of 'page view' events", "n_page_view_2": "Number of 'page-view' events",
                     "n_page_view_3": "Number of 'page_view' events"}
