"""Engagement features in the workspace's per-user feature table (so Segments and Models can use them)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError
from analytics.social import engagement_features
from analytics.social.features import STORE_COLUMNS
from tests.helpers import csv_bytes
from tests.social_helpers import SOCIAL_LOG


@pytest.fixture
def social_ds(workspace):
    return workspace.import_file(SOCIAL_LOG, name="Sample social", features=False)


def test_on_by_default_for_a_social_log_and_equal_to_the_engagement_table(workspace, social_ds):
    params = workspace.feature_params(social_ds.id)
    assert params.engagement and params.to_dict()["engagement"] is True
    table = workspace.features(social_ds.id)
    added = [c for c in STORE_COLUMNS if c in table.columns]
    assert added == list(STORE_COLUMNS[:3]) + ["share_clicks", "share_likes", "share_comments", "share_shares",
                                               "net_follows", "social_days_active", "first_touch_channel",
                                               "last_touch_channel", "posts_seen", "posts_engaged"]
    alone = engagement_features(workspace.cursor(), social_ds.events_table, content="content_id").table
    merged = table[["user_id", *added]].merge(alone[["user_id", *added]], on="user_id", suffixes=("", "_ref"))
    assert len(merged) == len(table) == social_ds.users
    for c in added:
        pd.testing.assert_series_equal(merged[c], merged[f"{c}_ref"], check_names=False, check_dtype=False)
    meta = workspace.feature_meta(social_ds.id, params)
    assert set(meta["engagement_columns"]) == set(added) and meta["social_kinds"]["click"] == ["click"]
    # Without them: the same table minus the added columns.
    plain = workspace.features(social_ds.id, workspace.feature_params(social_ds.id, engagement=False))
    pd.testing.assert_frame_equal(table[list(plain.columns)], plain)


def test_cut_at_the_reference_date_like_the_rest_of_the_table(workspace, social_ds):
    as_of = datetime(2025, 5, 1)
    table = workspace.features(social_ds.id, workspace.feature_params(social_ds.id, as_of=as_of))
    alone = engagement_features(workspace.cursor(), social_ds.events_table, as_of=as_of).table.set_index("user_id")
    got = table.set_index("user_id")
    assert set(got.index) == set(alone.index)  # users with an event up to the date, on both sides
    np.testing.assert_array_equal(got["n_impressions"], alone.loc[got.index, "n_impressions"])
    assert got["n_impressions"].sum() == got["n_impression"].sum() < workspace.features(social_ds.id)[
        "n_impressions"].sum()


def test_a_shop_log_keeps_its_table_and_refuses_engagement(sample_dataset, workspace):
    params = workspace.feature_params(sample_dataset.id)
    assert not params.engagement and "engagement" not in params.to_dict()  # same key as before
    assert workspace.stored_features_table(sample_dataset.id, params)  # the sample's table is found, not rebuilt
    with pytest.raises(InvalidParameterError, match="need social events.*has none"):
        workspace.feature_params(sample_dataset.id, engagement=True)
    assert "engagement_rate" not in workspace.features(sample_dataset.id).columns


def test_a_clashing_name_gets_a_prefix(workspace, tmp_path):
    rows = [("a", "2025-01-01 10:00", "impressions", "fb"), ("a", "2025-01-01 10:01", "likes", "fb"),
            ("b", "2025-01-02 10:00", "impressions", "ig"), ("b", "2025-01-03 10:00", "purchase", None)]
    log = tmp_path / "clash.csv"
    log.write_bytes(csv_bytes(pd.DataFrame(rows, columns=["user", "time", "event", "channel"])))
    ds = workspace.import_file(log)
    table = workspace.features(ds.id).set_index("user_id")
    assert table.loc["a", "n_impressions"] == 1 and table.loc["a", "social_n_impressions"] == 1
    assert table.loc["a", "engagement_rate"] == 1.0 and table.loc["b", "first_touch_channel"] == "ig"
    assert "posts_seen" not in table.columns  # no post column in this log


def test_models_see_engagement_features_as_of_the_cutoff(workspace, social_ds):
    from analytics.models import TargetDefinition, build_training_set

    ts = build_training_set(workspace, social_ds.id, TargetDefinition(kind="event", target_event="purchase",
                                                                     horizon_days=14), n_folds=None,
                            check_leaks=False)
    assert ts.feature_params.engagement and "engagement_rate" in ts.X.columns
    cutoff = ts.target.cutoff
    alone = engagement_features(workspace.cursor(), social_ds.events_table, as_of=cutoff).table.set_index("user_id")
    np.testing.assert_array_equal(ts.X["n_engagements"].to_numpy(), alone.loc[ts.user_ids, "n_engagements"])
