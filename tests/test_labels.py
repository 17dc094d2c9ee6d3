"""Targets without leakage: defaults, validation, time discipline, leakage warning."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError, LeakageWarning, NoDataError
from analytics.models.leakage import LEAKAGE_AUC, check_leakage
from analytics.models.targets import TargetDefinition, resolve_target, to_naive_utc
from analytics.models.training_set import build_out_of_time_set, build_training_set, check_classes

CUTOFF = datetime(2025, 5, 1)


def _log(tmp_path, rows: list[tuple], name: str = "log.csv"):
    df = pd.DataFrame(rows, columns=["user_id", "event_time", "event", "amount", "channel"])
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _tiny_rows(buyers_after_cutoff: int, n_users: int = 10) -> list[tuple]:
    """Users active in January-April; ``buyers_after_cutoff`` of them buy in May; one late event ends the log."""
    rows = []
    for i in range(n_users):
        u = f"u{i}"
        rows.append((u, f"2025-01-{1 + i:02d}T10:00:00Z", "page_view", None, "email" if i % 2 else "direct"))
        rows.append((u, f"2025-03-{1 + i:02d}T10:00:00Z", "purchase", 20.0 + i, "direct"))
        rows.append((u, f"2025-04-{1 + i:02d}T10:00:00Z", "page_view", None, "direct"))
    for i in range(buyers_after_cutoff):
        rows.append((f"u{i}", f"2025-05-{2 + i:02d}T10:00:00Z", "purchase", 30.0, "direct"))
    rows.append(("u0", "2025-06-30T10:00:00Z", "page_view", None, "direct"))
    return rows


# --- defaults and kinds -------------------------------------------------------------------------


def test_default_target_is_purchase_in_the_last_full_window(workspace, sample_dataset):
    ts = build_training_set(workspace, sample_dataset.id)
    t = ts.target
    assert t.kind == "event" and t.target_event == sample_dataset.purchase_event == "purchase"
    assert t.cutoff == sample_dataset.ts_max - timedelta(days=30)
    assert ts.n_users == len(ts.X) == len(ts.user_ids) > 500
    assert "user_id" not in ts.X.columns
    assert 0 < ts.positives < ts.n_users
    counts = ts.class_counts()
    assert counts["users"].sum() == ts.n_users
    assert ts.leakage == []  # honest behavioural features: no false alarm
    # Only users seen up to the cutoff.
    first_seen = workspace.cursor().execute(
        f"SELECT user_id, min(ts) FROM {sample_dataset.events_table} GROUP BY user_id").df()
    first_seen = dict(zip(first_seen.iloc[:, 0], first_seen.iloc[:, 1]))
    assert all(first_seen[u] <= t.cutoff for u in ts.user_ids)
    assert len(first_seen) > ts.n_users  # some users only appear after the cutoff


def test_churn_and_active_filter(workspace, sample_dataset):
    churn = build_training_set(workspace, sample_dataset.id, TargetDefinition(kind="churn"))
    buy = build_training_set(workspace, sample_dataset.id, TargetDefinition())
    assert churn.n_users == buy.n_users
    # A buyer in the window had an event in it, so is never a churner.
    assert not np.any((churn.y == 1) & (buy.y == 1))
    active = build_training_set(workspace, sample_dataset.id, TargetDefinition(kind="churn", active_within_days=30))
    assert active.n_users < churn.n_users
    assert (active.X["recency_days"] <= 30).all()


def test_column_target_from_user_labels(workspace, sample_dataset):
    users = build_training_set(workspace, sample_dataset.id).user_ids
    labels = pd.DataFrame({"user_id": users[::2], "vip": np.where(np.arange(len(users[::2])) % 3 == 0, "yes", "no")})
    ts = build_training_set(workspace, sample_dataset.id, TargetDefinition(kind="column", column="vip"),
                            user_labels=labels)
    assert ts.n_users == len(labels)  # users without a label are left out, and said so
    assert any("no value" in w for w in ts.warnings)
    assert ts.target.positive_value == "yes"
    assert ts.positives == int((labels["vip"] == "yes").sum())
    assert "vip" not in ts.X.columns
    with pytest.raises(InvalidParameterError, match="exactly two"):
        build_training_set(workspace, sample_dataset.id, TargetDefinition(kind="column", column="vip"),
                           user_labels=labels.assign(vip=np.arange(len(labels)) % 3))
    with pytest.raises(InvalidParameterError, match="'vip' is empty for every user, so there is nothing to learn"):
        build_training_set(workspace, sample_dataset.id, TargetDefinition(kind="column", column="vip"),
                           user_labels=labels.assign(vip=None))


def test_target_round_trip_and_timezones():
    t = TargetDefinition(kind="event", target_event="purchase", horizon_days=14,
                         cutoff=datetime(2025, 5, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    assert t.cutoff == datetime(2025, 5, 1, 0, 0)  # stored as naive UTC
    assert TargetDefinition.from_dict(t.to_dict()) == t
    assert t.window_end == datetime(2025, 5, 15)
    assert "14 days" in t.describe()
    assert to_naive_utc("2025-05-01") == datetime(2025, 5, 1)
    with pytest.raises(InvalidParameterError, match="cutoff"):
        to_naive_utc("not a date")


# --- validation --------------------------------------------------------------------------------


def test_cutoff_outside_the_data(workspace, sample_dataset):
    for cutoff in (sample_dataset.ts_min - timedelta(days=1), sample_dataset.ts_max + timedelta(days=3)):
        with pytest.raises(InvalidParameterError, match="outside the data"):
            resolve_target(sample_dataset, TargetDefinition(cutoff=cutoff))


def test_horizon_leaving_no_time_after_the_cutoff(workspace, sample_dataset):
    end = sample_dataset.ts_max
    with pytest.raises(InvalidParameterError, match="after the last event"):
        resolve_target(sample_dataset, TargetDefinition(cutoff=end - timedelta(days=5), horizon_days=30))
    with pytest.raises(InvalidParameterError, match="only 0.0 of its 30 days"):
        resolve_target(sample_dataset, TargetDefinition(cutoff=end, horizon_days=30))
    # The end of the last day (what the page's date box sends) is the last event, not "outside the data".
    last_day = datetime.combine(end.date(), datetime.max.time())
    with pytest.raises(InvalidParameterError, match="only 0.0 of its 30 days"):
        resolve_target(sample_dataset, TargetDefinition(cutoff=last_day, horizon_days=30))
    with pytest.raises(InvalidParameterError, match="longer than the data"):
        resolve_target(sample_dataset, TargetDefinition(horizon_days=400))
    for bad in (0, -3, float("nan"), "soon"):
        with pytest.raises(InvalidParameterError, match="horizon"):
            resolve_target(sample_dataset, TargetDefinition(horizon_days=bad))


def test_unknown_event_and_kind(workspace, sample_dataset):
    with pytest.raises(InvalidParameterError, match="no event called 'refund'.*'page_view'"):
        resolve_target(sample_dataset, TargetDefinition(target_event="refund"))
    with pytest.raises(InvalidParameterError, match="kind"):
        resolve_target(sample_dataset, TargetDefinition(kind="upsell"))


def test_only_one_class_is_a_clear_error(workspace, tmp_path):
    ds = workspace.import_file(_log(tmp_path, _tiny_rows(buyers_after_cutoff=0)))
    with pytest.raises(InvalidParameterError, match="Nobody did 'purchase'.*longer horizon"):
        build_training_set(workspace, ds.id, TargetDefinition(cutoff=CUTOFF, horizon_days=30))
    # Without the class check the counts can still be shown.
    ts = build_training_set(workspace, ds.id, TargetDefinition(cutoff=CUTOFF, horizon_days=30), n_folds=None)
    assert ts.positives == 0 and ts.n_users == 10
    with pytest.raises(InvalidParameterError, match="one group"):
        ts.validate(5)


def test_class_smaller_than_folds(workspace, tmp_path):
    ds = workspace.import_file(_log(tmp_path, _tiny_rows(buyers_after_cutoff=2)))
    target = TargetDefinition(cutoff=CUTOFF, horizon_days=30)
    with pytest.raises(InvalidParameterError, match="Only 2 users.*5-fold.*Use 2 folds"):
        build_training_set(workspace, ds.id, target, n_folds=5)
    ts = build_training_set(workspace, ds.id, target, n_folds=2)  # tiny data, valid
    assert (ts.positives, ts.n_users) == (2, 10)
    with pytest.raises(InvalidParameterError, match="folds"):
        check_classes(ts.y, 1)


def test_no_user_before_cutoff(workspace, tmp_path):
    ds = workspace.import_file(_log(tmp_path, _tiny_rows(2)))
    with pytest.raises(InvalidParameterError, match="very first event"):
        resolve_target(ds, TargetDefinition(cutoff=ds.ts_min, horizon_days=10))


# --- time discipline ---------------------------------------------------------------------------


def test_label_builder_never_reads_past_cutoff_or_window(workspace, sample_log, tmp_path):
    """Plant events after the cutoff and after the window: features and labels must not move."""
    log = pd.read_csv(sample_log)
    cutoff = datetime(2025, 5, 15)
    horizon = 30
    window_end = cutoff + timedelta(days=horizon)
    base_users = sorted(log.loc[pd.to_datetime(log["event_time"]).dt.tz_localize(None) <= cutoff, "user_id"].unique())
    victims = base_users[:40]

    def plant(when: datetime, users: list[str], event: str = "purchase") -> pd.DataFrame:
        return pd.DataFrame({"user_id": users, "event_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "event": event,
                             "amount": 999.0, "channel": "email", "platform": "web", "country": "DE",
                             "category": "books"})

    # Inside the window: big purchases, plus a brand-new user (must not enter the training set).
    in_window = pd.concat([plant(cutoff + timedelta(hours=1), victims), plant(cutoff + timedelta(days=2), ["new9"])])
    # After the window: a flood of purchases by everyone (must change nothing at all).
    after = plant(window_end + timedelta(hours=1), base_users)
    paths = {}
    for name, extra in (("base", None), ("window", in_window), ("after", after)):
        df = log if extra is None else pd.concat([log, extra], ignore_index=True)
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    target = TargetDefinition(cutoff=cutoff, horizon_days=horizon)
    sets = {name: build_training_set(workspace, workspace.import_file(p, name=name).id, target, check_leaks=False)
            for name, p in paths.items()}

    def frame(ts):
        return ts.X.assign(user_id=ts.user_ids).sort_values("user_id").reset_index(drop=True).sort_index(axis=1)

    base = frame(sets["base"])
    for name in ("window", "after"):
        pd.testing.assert_frame_equal(frame(sets[name]), base)  # features: nothing after the cutoff
    assert "new9" not in set(sets["window"].user_ids)
    labels = {name: dict(zip(ts.user_ids, ts.y)) for name, ts in sets.items()}
    assert labels["after"] == labels["base"]  # labels: nothing after cutoff + horizon
    assert all(labels["window"][u] == 1 for u in victims)  # ...but the window itself is read
    assert sum(labels["window"].values()) > sum(labels["base"].values())


def test_out_of_time_set_ends_at_the_cutoff(workspace, sample_dataset):
    target = resolve_target(sample_dataset, TargetDefinition(horizon_days=30))
    early = build_out_of_time_set(workspace, sample_dataset.id, target)
    assert early.target.cutoff == target.cutoff - timedelta(days=30)
    assert early.target.window_end == target.cutoff
    with pytest.raises(InvalidParameterError, match="column"):
        build_out_of_time_set(workspace, sample_dataset.id, TargetDefinition(kind="column", column="frequency"))


# --- leakage -----------------------------------------------------------------------------------


def test_leaking_label_column_triggers_the_warning(workspace, sample_dataset):
    """A 'has bought' flag computed from the same history is what frequency already says: leakage."""
    feats = build_training_set(workspace, sample_dataset.id, check_leaks=False)
    labels = pd.DataFrame({"user_id": feats.user_ids, "is_customer": feats.X["frequency"].to_numpy() > 0})
    with pytest.warns(LeakageWarning, match="separates the two groups"):
        ts = build_training_set(workspace, sample_dataset.id, TargetDefinition(
            kind="column", column="is_customer", cutoff=feats.target.cutoff), user_labels=labels)
    leaked = {f.feature for f in ts.leakage}
    assert {"frequency", "n_purchase"} <= leaked
    assert max(f.auc for f in ts.leakage) == 1.0
    assert all(f.auc >= LEAKAGE_AUC for f in ts.leakage)
    assert any("leakage" in w or "computed from the target" in w for w in ts.warnings)
    cleaned = ts.drop(sorted(leaked))
    assert cleaned.leakage == [] and not set(leaked) & set(cleaned.X.columns)


def test_check_leakage_on_planted_feature_with_nan_and_inf():
    rng = np.random.default_rng(0)
    n = 2_000
    y = (rng.random(n) < 0.2).astype(int)
    X = pd.DataFrame({"honest": y * 0.5 + rng.normal(size=n),
                      "leak": np.where(y == 1, 10.0, 1.0) + rng.normal(scale=0.1, size=n),
                      "channel": np.where(y == 1, "email", rng.choice(["web", "ads"], size=n)),
                      "constant": 1.0})
    X.loc[:5, "leak"] = np.nan
    X.loc[60:70, "honest"] = np.inf
    found = check_leakage(X, y)
    assert {f.feature for f in found} == {"leak", "channel"}
    assert "honest" not in {f.feature for f in found}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_leakage(X.iloc[:30], y[:30]) == []  # too few positives to call it leakage


def test_no_events_at_all_is_no_data_error(workspace, sample_dataset):
    from dataclasses import replace

    empty = replace(sample_dataset, ts_min=None, ts_max=None)
    with pytest.raises(NoDataError):
        resolve_target(empty, TargetDefinition())
