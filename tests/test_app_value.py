"""AppTest of the Value page: empty workspace, the sample (fit, stored, shown again), bad inputs with clear messages."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.value.simulate import simulate_transaction_log
from tests.apptest_helpers import app, button, errors, no_traceback, open_page, read

FIT = "Fit the value models"


def key(name: str, ds, *extra) -> str:
    return "_".join(["value", name, ds.id, *map(str, extra)])


def unescaped(element) -> str:
    """The text of a Markdown element as read (the escapes of ``widgets.plain`` removed)."""
    return read(element.value)


def shown_text(at) -> str:
    """Everything the page shows as text: metrics, messages, and the cells of every table."""
    parts = [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.value for e in (*at.info, *at.warning, *at.error, *at.caption)]
    parts += [df.value.astype(str).to_csv() for df in at.dataframe]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """300 simulated customers (one row per order) and 20 visitors who never buy."""
    log = simulate_transaction_log(300, {"r": 0.8, "alpha": 20.0, "a": 0.6, "b": 3.0}, random_state=8)
    visits = log.head(20).assign(user_id=[f"v{i}" for i in range(20)], event="page_view", amount=np.nan)
    return pd.concat([log, visits], ignore_index=True)


def imported(workspace, tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / f"{name}.csv"
    frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(path, index=False)
    return workspace.import_file(path, name=name)


def fitted(ds, holdout: int | None = 0):
    """The page with a fit done (holdout 0: no validation, the quicker fit)."""
    at = open_page(app(), "pages/value.py")
    if holdout is not None:
        at.number_input(key=key("holdout", ds)).set_value(holdout).run()
    button(at, FIT).click().run()
    no_traceback(at)
    return at


def test_empty_workspace(workspace):
    at = open_page(app(), "pages/value.py")
    assert any("no dataset yet" in i.value for i in at.info)


def test_the_sample_is_fitted_validated_stored_and_shown_again(sample_dataset, workspace):
    at = fitted(sample_dataset, holdout=None)  # the default holdout: 60 days of the sample's 181
    assert errors(at) == []
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Customers"].replace(",", "")) > 300 and metrics["Time unit"] == "Days"
    assert float(metrics["Total value, next 365 days"].replace(",", "")) > 0
    scores = next(df.value for df in at.dataframe if "AUC (buys at all)" in df.value.columns)
    assert list(scores["model"]) == ["BG/NBD", "Pareto/NBD", "Gradient boosting"]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any("by past repeat purchases" in t for t in titles) and any("Cumulative repeat" in t for t in titles)
    assert any("still active" in t for t in titles) and any("Customer value over the next 365 days" in t
                                                            for t in titles)
    assert "Download per-customer values (CSV)" in [b.label for b in at.get("download_button")]
    assert "nan" not in shown_text(at).lower().replace("nan_", "")
    [stored] = workspace.results(sample_dataset.id, "value")
    assert stored.meta["page_settings"]["holdout_days"] == 60 and stored.meta["validation"]["time_unit"] == "days"

    # A new session (a reload) shows the stored fit at once; horizon and money never refit.
    again = open_page(app(), "pages/value.py")
    assert not any("Press" in i.value for i in again.info)
    assert button(again, FIT).disabled
    assert {m.label: m.value for m in again.metric}["Customers"] == metrics["Customers"]
    again.number_input(key="value_horizon").set_value(90).run()
    no_traceback(again)
    assert "Total value, next 90 days" in {m.label for m in again.metric}
    assert len(workspace.results(sample_dataset.id, "value")) == 1

    # Per saved segment: a saved segmentation appears with the value of each segment.
    users = workspace.events(sample_dataset.id, limit=None)["user_id"].drop_duplicates()
    labels = pd.DataFrame({"user_id": users, "segment": np.where(np.arange(len(users)) % 2, "Odd <b>", "Even"),
                           "segment_id": np.arange(len(users)) % 2})
    workspace.put_result(sample_dataset.id, "segmentation", "halves", {"brief": {}}, {"labels": labels})
    again.run()
    no_traceback(again)
    table = next(df.value for df in again.dataframe if "total_clv" in df.value.columns)
    assert set(table["segment"]) == {"Odd <b>", "Even"} and table["customers"].sum() == int(
        metrics["Customers"].replace(",", ""))
    assert "Download value per segment (CSV)" in [b.label for b in again.get("download_button")]


def test_a_calibration_end_that_leaves_no_room_for_the_holdout_is_explained(sample_dataset, workspace):
    at = open_page(app(), "pages/value.py")
    at.number_input(key=key("holdout", sample_dataset)).set_value(30).run()
    at.date_input(key=key("cal", sample_dataset, 30)).set_value(sample_dataset.ts_max.date()).run()
    button(at, FIT).click().run()
    no_traceback(at)
    assert any("30-day holdout would run past the end of the data" in e for e in errors(at)), errors(at)
    # A holdout as long as the data leaves no calibration period at all.
    at.number_input(key=key("holdout", sample_dataset)).set_value(181).run()
    button(at, FIT).click().run()
    no_traceback(at)
    assert any("Only 5 customers bought up to the calibration end 2024-12-30" in e for e in errors(at)), errors(at)
    assert workspace.results(sample_dataset.id, "value") == []


def test_one_purchase_per_customer_is_explained(workspace, tmp_path, orders):
    ds = imported(workspace, tmp_path, orders.drop_duplicates("user_id"), "once")
    at = fitted(ds)
    assert any("two different days" in e for e in errors(at)), errors(at)
    assert any("Press" in i.value for i in at.info)
    # The progress box says the fit stopped instead of spinning on above the message.
    assert [s.state for s in at.status] == ["error"] and "stopped" in at.status[0].label


def test_zero_spend_and_refunds_keep_counts_and_say_why_there_is_no_value(workspace, tmp_path, orders):
    zero = orders.assign(amount=np.where(orders["event"] == "purchase", 0.0, np.nan))
    refunds = zero.head(30).assign(amount=-5.0, ts=zero.head(30)["ts"] + timedelta(hours=1))
    ds = imported(workspace, tmp_path, pd.concat([zero, refunds], ignore_index=True), "zero")
    at = fitted(ds)
    assert errors(at) == []
    text = shown_text(at)
    assert "Every purchase amount is zero" in text and "30 refunds" in text and "no positive spend" in text
    assert {m.label: m.value for m in at.metric}["Total value, next 365 days"] == "not available"
    assert any("Expected spend and CLV cannot be computed" in i.value for i in at.info)
    per_customer = at.dataframe[-1].value
    assert "clv" not in per_customer.columns and per_customer["p_alive"].notna().all()
    assert "nan" not in "\n".join(f"{m.label} {m.value}" for m in at.metric).lower()


def test_a_log_without_a_purchase_event_asks_for_one(workspace, tmp_path, orders):
    browsing = orders.assign(event=np.where(orders.index % 2, "page_view", "search"), amount=np.nan)
    ds = imported(workspace, tmp_path, browsing, "browsing")
    at = open_page(app(), "pages/value.py")
    assert any("No purchase event was recognised" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == FIT]
    at.selectbox(key=key("event", ds)).set_value("page_view").run()
    no_traceback(at)
    assert [b for b in at.button if b.label == FIT]


def test_models_page_trains_with_and_without_customer_value_features(sample_dataset, workspace):
    at = open_page(app(), "pages/models.py")
    at.checkbox(key=f"value_feats_{sample_dataset.id}").check().run()
    no_traceback(at)
    assert any("Customer-value features added: P(alive) and expected purchases in the next 30 days" in unescaped(c)
               for c in at.caption)
    at.multiselect(key="models_chosen").set_value(["lr"]).run()
    button(at, "Train").click().run()
    no_traceback(at)
    assert any("With customer-value features." in unescaped(c) for c in at.caption)
    # The target list scores today's users with the model that used them: computed again as of the last event.
    button(at, "Score today's users and build the target list").click().run()
    no_traceback(at)
    assert errors(at) == [] and len(at.dataframe[-1].value) > 0
    at.checkbox(key=f"value_feats_{sample_dataset.id}").uncheck().run()
    button(at, "Train").click().run()
    no_traceback(at)
    runs = workspace.results(sample_dataset.id, "training")
    assert len(runs) == 2 and sum(bool(r.meta["training"]["value_features"]) for r in runs) == 1
    assert any(unescaped(c).startswith("Same target with customer-value features") and "best ROC AUC" in unescaped(c)
               for c in at.caption)
    # Back on the option, the latest run (without them) is not this training set's: its closer looks wait.
    at.checkbox(key=f"value_feats_{sample_dataset.id}").check().run()
    assert button(at, "Score today's users and build the target list").disabled


def test_hostile_names_are_shown_as_text(workspace, tmp_path, orders):
    from tests.test_app_hostile_text import IMAGE, LINK, assert_no_markup

    hostile = orders.assign(event=orders["event"].replace({"purchase": f"{LINK} buy"}))
    ds = imported(workspace, tmp_path, hostile, "hostile")
    workspace.rename(ds.id, f"{IMAGE} {LINK} shop")
    at = fitted(ds)
    assert errors(at) == [] and any("Customers" == m.label for m in at.metric)
    assert_no_markup(at)
    at = open_page(at, "pages/models.py")
    at.checkbox(key=f"value_feats_{ds.id}").check().run()
    assert any("Customer-value features added" in unescaped(c) for c in at.caption)
    assert_no_markup(at)


def test_a_log_of_a_few_days_leaves_bgnbd_out_with_the_reason_and_flags_the_long_horizon(workspace, tmp_path):
    """Five days of orders: BG/NBD's fit runs to extremes (its predictions were NaN, summed to 0, and the holdout
    check failed with 'unexpected'); now it is left out with the reason and Pareto/NBD predicts."""
    log = simulate_transaction_log(400, {"r": 0.8, "alpha": 20.0, "a": 0.8, "b": 3.0}, random_state=5)
    t0 = log["ts"].min()  # the log of test_value_errors' few-days case, where the fit is known to run away
    ds = imported(workspace, tmp_path, log.assign(ts=t0 + (log["ts"] - t0) * (5 / 364)), "five_days")
    at = fitted(ds)
    assert errors(at) == [], errors(at)
    text = shown_text(at)
    assert "BG/NBD gives no usable predictions" in text and "Use a longer log" in text
    assert "predictions that far ahead are extrapolation" in text
    assert [r.options for r in at.radio if r.label == "Purchase model for the predictions"] == [["Pareto/NBD"]]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Expected purchases, next 365 days"].replace(",", "")) > 0
    assert "nan" not in "\n".join(metrics.values()).lower()
