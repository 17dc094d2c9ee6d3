"""Bad input to every journey view: a readable analytics.errors message (naming the value), never a traceback."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.errors import DatasetNotFoundError, InvalidParameterError, MarketLensError, NoDataError
from analytics.journeys import cohort_users, funnel, funnel_dropoff_users, lifecycle, paths, retention
from tests.journeys_support import log_con


@pytest.fixture(scope="module")
def con():
    c, _ = log_con([("a", "2025-01-06 00:00:00", "view", "email"), ("a", "2025-01-06 00:01:00", "cart", "email"),
                    ("b", "2025-01-07 00:00:00", "view", "direct")])
    return c


@pytest.mark.parametrize("steps,match", [
    (["view"], "2 to 10 steps, got 1"),
    ([], "2 to 10 steps, got 0"),
    ([f"e{i}" for i in range(11)], "2 to 10 steps, got 11"),
    (["view", ""], "step 2 must be an event name"),
    (["view", None], "list of event names"),
    (42, "list of event names"),
    (["view", "purchse"], "Never occurs in this dataset: step 2 'purchse'.*'view'"),
    (["nope", "cart", "zip"], "step 1 'nope'; step 3 'zip'"),
])
def test_bad_steps(con, steps, match):
    with pytest.raises(InvalidParameterError, match=match):
        funnel(con, "ev", steps)


@pytest.mark.parametrize("window", [0, -1, 366.5, 1000, "7", None, True, float("nan")])
def test_bad_window(con, window):
    with pytest.raises(InvalidParameterError, match="more than 0 and at most 366 days"):
        funnel(con, "ev", ["view", "cart"], window)


def test_window_limits_are_accepted(con):
    assert funnel(con, "ev", ["view", "cart"], 366).steps[1].users == 1
    assert funnel(con, "ev", ["view", "cart"], 1 / 86_400).steps[1].users == 0  # one second: the cart is 60 s later


def test_bad_funnel_options(con):
    with pytest.raises(InvalidParameterError, match="exclusion event 'cart' is also a step"):
        funnel(con, "ev", ["view", "cart"], exclude="cart")
    with pytest.raises(InvalidParameterError, match="exclusion event 'refund'"):
        funnel(con, "ev", ["view", "cart"], exclude="refund")
    with pytest.raises(InvalidParameterError, match="Cannot break down by 'colour'.*'channel'"):
        funnel(con, "ev", ["view", "cart"], by="colour")
    with pytest.raises(InvalidParameterError, match="Cannot break down by 'user_id'"):
        funnel(con, "ev", ["view", "cart"], by="user_id")
    with pytest.raises(InvalidParameterError, match="top must be a whole number from 1 to 100"):
        funnel(con, "ev", ["view", "cart"], by="channel", top=0)
    with pytest.raises(InvalidParameterError, match="not both"):
        funnel(con, "ev", ["view", "cart"], by="channel", segments=pd.DataFrame({"user_id": ["a"], "segment": [1]}))
    with pytest.raises(InvalidParameterError, match="needs a user_id column"):
        funnel(con, "ev", ["view", "cart"], segments=pd.DataFrame({"id": ["a"], "segment": [1]}))
    with pytest.raises(InvalidParameterError, match="a 'segment' column"):
        funnel(con, "ev", ["view", "cart"], segments=pd.DataFrame({"user_id": ["a"], "x": [1], "y": [2]}))
    with pytest.raises(InvalidParameterError, match="DataFrame"):
        funnel(con, "ev", ["view", "cart"], segments={"a": "x"})
    with pytest.raises(InvalidParameterError, match="any_order must be True or False"):
        funnel(con, "ev", ["view", "cart"], any_order="yes")


def test_a_segment_table_with_any_second_column_name_works(con):
    seg = pd.DataFrame({"user_id": ["a", "b"], "cluster": [0, 1]})
    result = funnel(con, "ev", ["view", "cart"], segments=seg)
    assert {g.value: g.steps[1].users for g in result.groups} == {"0": 1, "1": 0}


def test_missing_or_empty_table():
    c, _ = log_con([("a", "2025-01-06 00:00:00", "view")])
    with pytest.raises(DatasetNotFoundError, match="no events table named 'nope'"):
        funnel(c, "nope", ["view", "cart"])
    c.execute("CREATE TABLE other AS SELECT 1 AS x")
    with pytest.raises(DatasetNotFoundError, match="not an events table"):
        retention(c, "other")
    c.execute("DELETE FROM ev")
    for call in (lambda: funnel(c, "ev", ["view", "cart"]), lambda: retention(c, "ev"),
                 lambda: paths(c, "ev", "view"), lambda: lifecycle(c, "ev")):
        with pytest.raises(NoDataError, match="no events"):
            call()


def test_bad_retention_and_lifecycle_options(con):
    with pytest.raises(InvalidParameterError, match="period must be 'week' or 'month', got 'day'"):
        retention(con, "ev", "day")
    with pytest.raises(InvalidParameterError, match="period must be"):
        lifecycle(con, "ev", "year")
    with pytest.raises(InvalidParameterError, match="starting event 'signup'"):
        retention(con, "ev", cohort_event="signup")
    with pytest.raises(InvalidParameterError, match="returning event 'buy'"):
        retention(con, "ev", return_event="buy")
    with pytest.raises(InvalidParameterError, match="max_periods"):
        retention(con, "ev", max_periods=0)
    with pytest.raises(InvalidParameterError, match="activity event 'buy'"):
        lifecycle(con, "ev", event="buy")


def test_bad_paths_options(con):
    with pytest.raises(InvalidParameterError, match="anchor event 'buy'"):
        paths(con, "ev", "buy")
    with pytest.raises(InvalidParameterError, match="steps must be a whole number from 1 to 10, got 0"):
        paths(con, "ev", "view", 0)
    with pytest.raises(InvalidParameterError, match="steps must be"):
        paths(con, "ev", "view", 11)
    with pytest.raises(InvalidParameterError, match="direction must be 'after' or 'before', got 'sideways'"):
        paths(con, "ev", "view", direction="sideways")


def test_bad_audience_options(con):
    with pytest.raises(InvalidParameterError, match="reached must be a step number from 1 to 2, got 3"):
        funnel_dropoff_users(con, "ev", ["view", "cart"], 3)
    with pytest.raises(InvalidParameterError, match="without a breakdown"):
        funnel_dropoff_users(con, "ev", ["view", "cart"], 1, group="email")
    with pytest.raises(InvalidParameterError, match="offset must be"):
        cohort_users(con, "ev", "2025-01-06", -1)
    with pytest.raises(InvalidParameterError, match="cohort_start must be a date, got 'soon'"):
        cohort_users(con, "ev", "soon", 0)
    with pytest.raises(InvalidParameterError, match="2025-01-07 is not the start of a week cohort: use a Monday"):
        cohort_users(con, "ev", "2025-01-07", 0)
    with pytest.raises(InvalidParameterError, match="use the first day of a month"):
        cohort_users(con, "ev", "2025-01-06", 0, "month")
    assert cohort_users(con, "ev", "2025-01-06", 0).size == 2


def test_every_error_is_a_marketlens_error(con):
    """The UI shows str(error) for MarketLensError; nothing else may escape on bad parameters."""
    bad_calls = [
        lambda: funnel(con, "ev", "view"), lambda: funnel(con, "ev", ["view", "cart"], window_days=[7]),
        lambda: funnel(con, "ev", ["view", "cart"], top="10"), lambda: retention(con, "ev", period=None),
        lambda: paths(con, "ev", None), lambda: paths(con, "ev", "view", top=1000),
        lambda: lifecycle(con, "ev", event=""),
    ]
    for call in bad_calls:
        with pytest.raises(MarketLensError):
            call()


def test_unmatched_steps_give_zero_not_an_error(con):
    result = funnel(con, "ev", ["cart", "view"])  # both occur, never in this order
    assert [s.users for s in result.steps] == [1, 0]
    assert result.steps[1].conversion_from_start == 0.0 and result.steps[1].median_seconds_from_previous is None
    assert all(b.users == 0 for b in result.steps[1].time_to_convert)
