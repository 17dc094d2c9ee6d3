"""Attribution: hand-computed credits, an independent implementation, the social sample's truth, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.attribution import ATTRIBUTION_NOTE, MODELS, attribute, counts_from_paths, markov_credit
from analytics.errors import DatasetNotFoundError, InvalidParameterError, MappingError, NoDataError
from tests.social_helpers import events_table, social_sample
from tests.social_reference import journeys, markov, path_counts, rule_credits

T0 = pd.Timestamp("2025-03-01")


def day(d: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def path_log(paths: list[tuple[list[str], bool]]) -> list[tuple]:
    """One user per path: a touch a day, then a purchase the next day when it converts."""
    rows = []
    for u, (path, converts) in enumerate(paths):
        for i, ch in enumerate(path):
            rows.append((f"u{u}", day(i), "visit", ch))
        if converts:
            rows.append((f"u{u}", day(len(path)), "purchase", None, 10.0))
    return rows


def credit_of(result, model: str) -> dict[str, float]:
    return dict(zip(result.credits[result.by], result.credits[model]))


# --- the data-driven model against hand computation --------------------------------------------

def test_markov_three_channels_by_hand_through_sql():
    # Paths: C1 > C2 > C3 converts; C1 does not; C2 > C3 does not.
    # Transitions: start->C1 2/3, start->C2 1/3; C1->C2 1/2, C1->null 1/2; C2->C3 1; C3->conv 1/2, C3->null 1/2.
    # P(conv) = 2/3 * 1/2 * 1 * 1/2 + 1/3 * 1 * 1/2 = 1/6 + 1/6 = 1/3.
    # Without C1 only start->C2->C3 remains: 1/6, removal effect 1 - (1/6)/(1/3) = 1/2.
    # Without C2 or C3 nothing converts: removal effects 1 and 1.
    # Normalised to the 1 conversion: C1 0.5/2.5 = 0.2, C2 0.4, C3 0.4.
    con, t = events_table(path_log([(["C1", "C2", "C3"], True), (["C1"], False), (["C2", "C3"], False)]))
    r = attribute(con, t, "purchase")
    assert credit_of(r, "markov") == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4}, abs=1e-12)
    effects = dict(zip(r.removal_effects["channel"], r.removal_effects["removal_effect"]))
    assert effects == pytest.approx({"C1": 0.5, "C2": 1.0, "C3": 1.0}, abs=1e-12)
    assert r.conversion_probability == pytest.approx(1 / 3)
    # The rule-based models on the same single conversion.
    assert credit_of(r, "first_touch") == {"C1": 1.0, "C2": 0.0, "C3": 0.0}
    assert credit_of(r, "last_touch") == {"C1": 0.0, "C2": 0.0, "C3": 1.0}
    assert credit_of(r, "linear") == pytest.approx({"C1": 1 / 3, "C2": 1 / 3, "C3": 1 / 3})


def test_markov_normalises_to_conversions_by_hand():
    # Paths (conversions, non-conversions): A (1, 1); A > C (1, 0); B > C (0, 1); B (1, 0).
    # From A: conv 1/3, null 1/3, C 1/3. From B: C 1/2, conv 1/2. From C: conv 1/2, null 1/2.
    # x_C = 1/2, x_A = 1/3 + 1/3 * 1/2 = 1/2, x_B = 1/2 + 1/2 * 1/2 = 3/4; start: A 3/5, B 2/5.
    # P = 3/5 * 1/2 + 2/5 * 3/4 = 3/5.
    # Without A: 2/5 * 3/4 = 3/10, effect 1/2. Without B: 3/5 * 1/2 = 3/10, effect 1/2.
    # Without C: x_A = 1/3, x_B = 1/2: P = 1/5 + 1/5 = 2/5, effect 1/3.
    # Effects sum to 4/3; 3 conversions: A = B = (1/2)/(4/3)*3 = 9/8, C = (1/3)/(4/3)*3 = 3/4.
    expected = {"A": 9 / 8, "B": 9 / 8, "C": 3 / 4}
    chain = markov_credit(counts_from_paths([["A"], ["A", "C"], ["B", "C"], ["B"]], [1, 1, 0, 1], [1, 0, 1, 0]))
    assert dict(zip(chain.states, chain.credit)) == pytest.approx(expected, abs=1e-12)
    assert chain.conversion_probability == pytest.approx(3 / 5)
    con, t = events_table(path_log([(["A"], True), (["A"], False), (["A", "C"], True), (["B", "C"], False),
                                    (["B"], True)]))
    r = attribute(con, t, "purchase")
    assert credit_of(r, "markov") == pytest.approx(expected, abs=1e-12)
    assert r.credits[list(MODELS)].sum().to_numpy() == pytest.approx([3.0] * 5)


def test_markov_with_a_loop_by_hand():
    # A > B > A converts, B does not. From A: B 1/2, conv 1/2. From B: A 1/2, null 1/2. Start: A 1/2, B 1/2.
    # x_A = 1/2 + 1/2 x_B, x_B = 1/2 x_A  =>  x_A = 2/3, x_B = 1/3; P = 1/2 * 2/3 + 1/2 * 1/3 = 1/2.
    # Without A: 0, effect 1. Without B: x_A = 1/2, P = 1/4, effect 1/2. Credit: A 2/3, B 1/3.
    chain = markov_credit(counts_from_paths([["A", "B", "A"], ["B"]], [1, 0], [0, 1]))
    assert chain.conversion_probability == pytest.approx(0.5)
    assert dict(zip(chain.states, chain.removal_effects)) == pytest.approx({"A": 1.0, "B": 0.5})
    assert dict(zip(chain.states, chain.credit)) == pytest.approx({"A": 2 / 3, "B": 1 / 3})


# --- the rule-based models against hand computation ---------------------------------------------

def rules_log() -> list[tuple]:
    return [
        # a: display is 40 days before (outside 30); then email -14 d, social -7 d, search at the conversion's second.
        ("a", day(-40), "visit", "display"), ("a", day(-14), "visit", "email"), ("a", day(-7), "visit", "social"),
        ("a", day(0), "visit", "search"), ("a", day(0), "purchase", None, 70.0),
        # b: social then a purchase; later search twice (one run), email, a second purchase.
        ("b", day(-30), "visit", "social"), ("b", day(-29), "purchase", None, 100.0),
        ("b", day(-14) - pd.Timedelta(hours=2), "visit", "search"), ("b", day(-14), "visit", "search"),
        ("b", day(-7), "visit", "email"), ("b", day(0), "purchase", None, 50.0),
        # c: the only touch is 31 days before the purchase: unattributed.
        ("c", day(-31), "visit", "email"), ("c", day(0), "purchase", None, 20.0),
        # d: never converts.
        ("d", day(-3), "visit", "social"), ("d", day(-2), "visit", "email"),
    ]


def test_rule_models_by_hand():
    con, t = events_table(rules_log())
    r = attribute(con, t, "purchase", lookback_days=30, half_life_days=7)
    assert (r.conversions, r.attributed, r.unattributed) == (4, 3, 1)
    # a: [email, social, search]; b: [social] and [search, email] (the two searches are one run).
    assert credit_of(r, "first_touch") == {"email": 1, "social": 1, "search": 1}
    assert credit_of(r, "last_touch") == {"search": 1, "social": 1, "email": 1}
    assert credit_of(r, "linear") == pytest.approx({"email": 1 / 3 + 1 / 2, "social": 1 / 3 + 1,
                                                    "search": 1 / 3 + 1 / 2})
    # Time decay, half-life 7 days. a: ages 14, 7, 0 days -> weights 1/4, 1/2, 1 -> 1/7, 2/7, 4/7.
    # b's second journey: search 14 days (its run's last time), email 7 days -> 1/4, 1/2 -> 1/3, 2/3.
    assert credit_of(r, "time_decay") == pytest.approx({"email": 1 / 7 + 2 / 3, "social": 2 / 7 + 1,
                                                        "search": 4 / 7 + 1 / 3})
    value = dict(zip(r.value_credits["channel"], r.value_credits["linear"]))
    assert value == pytest.approx({"email": 70 / 3 + 25, "social": 70 / 3 + 100, "search": 70 / 3 + 25})
    assert r.conversion_value == pytest.approx(220.0)
    assert "display" not in set(r.credits["channel"])
    assert any("1 of 4 conversions" in n for n in r.notes)
    # Path table: each path once, d's non-converting one too.
    paths = {tuple(p): (j, c) for p, j, c in zip(r.paths["path"], r.paths["journeys"], r.paths["conversions"])}
    assert paths == {("email", "social", "search"): (1, 1), ("social",): (1, 1), ("search", "email"): (1, 1),
                     ("social", "email"): (1, 0)}


def test_repeats_kept_and_paths_capped_by_hand():
    con, t = events_table(rules_log())
    r = attribute(con, t, "purchase", collapse_repeats=False)
    # b's second journey is [search, search, email]: linear 1/3 each.
    assert credit_of(r, "linear")["search"] == pytest.approx(1 / 3 + 2 / 3)
    r = attribute(con, t, "purchase", max_touches=2)
    # a keeps its last two touches [social, search]; the capped path is counted and noted.
    assert credit_of(r, "first_touch") == {"social": 2, "search": 1, "email": 0}
    assert r.capped_paths == 1 and any("more than 2 touches" in n for n in r.notes)


def test_path_longer_than_fifty_touches_keeps_its_last_fifty():
    rows = [("u", T0 + pd.Timedelta(hours=i), "visit", "x" if i % 2 else "y") for i in range(60)]
    rows.append(("u", T0 + pd.Timedelta(hours=61), "purchase", None, 5.0))
    con, t = events_table(rows)
    r = attribute(con, t, "purchase")
    assert r.capped_paths == 1
    assert r.paths["touches"].tolist() == [50]
    # Touches 10..59 are kept: the first kept one (hour 10) is a "y".
    assert credit_of(r, "first_touch") == {"y": 1.0, "x": 0.0}
    assert any("more than 50 touches" in n for n in r.notes)


def test_touch_events_and_same_second_conversions():
    rows = [("u", day(0), "impression", "a"), ("u", day(1), "click", "b"),
            ("u", day(2), "purchase", None, 10.0), ("u", day(2), "purchase", None, 30.0)]
    con, t = events_table(rows)
    r = attribute(con, t, "purchase", touch_events=["click"])
    # Both conversions at the same second close the same journey: each gets the click.
    assert credit_of(r, "last_touch") == {"b": 2.0}
    assert (r.conversions, r.attributed) == (2, 2)
    assert r.conversion_value == pytest.approx(40.0)


# --- an independent implementation on the social sample -----------------------------------------

@pytest.fixture(scope="module")
def social(tmp_path_factory):
    with social_sample(tmp_path_factory.mktemp("ws")) as sample:
        yield sample


@pytest.mark.parametrize("by, touch_events, collapse", [("channel", None, True), ("campaign", None, False),
                                                        ("channel", ["click", "like"], True)])
def test_matches_an_independent_implementation_on_the_social_sample(social, by, touch_events, collapse):
    con, table, events, _ = social
    r = attribute(con, table, "purchase", by=by, touch_events=touch_events, collapse_repeats=collapse, top_paths=1000)
    js = journeys(events, "purchase", by, collapse=collapse, touch_events=touch_events)
    ref_rules = rule_credits(js, half_life_days=7)
    for model in ("first_touch", "last_touch", "linear", "time_decay"):
        got = {k: v for k, v in credit_of(r, model).items() if v}
        assert got == pytest.approx(ref_rules[model], rel=1e-9, abs=1e-9), model
    paths = path_counts(js)
    assert r.distinct_paths == len(paths)
    assert r.journeys == sum(j for j, _ in paths.values())
    assert r.attributed == sum(c for _, c in paths.values())
    for p, j, c in zip(r.paths["path"], r.paths["journeys"], r.paths["conversions"]):
        assert paths[tuple(p)] == (j, c)
    assert credit_of(r, "markov") == pytest.approx(markov(paths), rel=1e-7, abs=1e-9)


def test_the_channel_whose_clicks_convert_gets_the_credit_the_truth_gives_it(social):
    con, table, events, truth = social
    ch = truth[truth["kind"] == "channel"].pivot(index="key", columns="field", values="value")
    clicker = ch.index[ch["click_converts"] == "true"].item()
    caused_share = float(ch.loc[clicker, "caused_share"])
    r = attribute(con, table, "purchase", touch_events=["click"])
    shares = r.shares().set_index("channel")
    for model in MODELS:
        assert shares[model].idxmax() == clicker, model
    assert shares.loc[clicker, "markov"] == pytest.approx(caused_share, abs=0.12)
    assert shares.loc[clicker, "last_touch"] == pytest.approx(caused_share, abs=0.12)
    # It earns more credit than its share of clicks: its clicks convert better than other channels'.
    clicks = events[events["event"] == "click"]["channel"].value_counts(normalize=True)
    assert shares.loc[clicker, "markov"] > clicks[clicker] + 0.05


def test_result_to_dict_is_what_the_cli_prints(social):
    con, table, _, _ = social
    d = attribute(con, table, "purchase", by="channel", top_paths=5).to_dict()
    assert d["conversion"] == "purchase" and d["by"] == "channel" and d["lookback_days"] == 30
    assert d["models"] == list(MODELS) and len(d["top_paths"]) == 5
    assert sum(c["markov"]["conversions"] for c in d["credits"]) == pytest.approx(d["attributed_conversions"])
    assert sum(c["linear"]["share"] for c in d["credits"]) == pytest.approx(1.0)
    assert d["note"] == ATTRIBUTION_NOTE and "not how many conversions a channel caused" in d["note"]
    import json
    json.dumps(d)


# --- bad input ------------------------------------------------------------------------------------

def test_no_conversion_events():
    con, t = events_table([("u", day(0), "visit", "a")])
    with pytest.raises(NoDataError, match="no 'purchase' events.*'visit'"):
        attribute(con, t, "purchase")


def test_unknown_touch_column_names_the_usable_ones():
    con, t = events_table(path_log([(["a"], True)]))
    with pytest.raises(MappingError, match="no column 'campaign'.*'channel'"):
        attribute(con, t, "purchase", by="campaign")
    with pytest.raises(MappingError, match="core column"):
        attribute(con, t, "purchase", by="event")


def test_no_touches_at_all():
    con, t = events_table([("u", day(0), "visit", None), ("u", day(1), "purchase", None, 1.0)])
    with pytest.raises(NoDataError, match="No touches.*'channel'"):
        attribute(con, t, "purchase")


def test_conversions_without_any_touch_in_the_window():
    con, t = events_table([("u", day(0), "visit", "a"), ("u", day(45), "purchase", None, 1.0)])
    with pytest.raises(NoDataError, match="None of the 1 'purchase' conversions has a touch.*30 days"):
        attribute(con, t, "purchase")


def test_one_channel_only_gets_everything_with_a_note():
    con, t = events_table(path_log([(["a", "a"], True), (["a"], False)]))
    r = attribute(con, t, "purchase")
    assert r.credits[list(MODELS)].to_numpy().tolist() == [[1.0] * 5]
    assert any("Only one channel" in n for n in r.notes)


@pytest.mark.parametrize("kwargs, match", [
    ({"lookback_days": 0}, "lookback_days"), ({"half_life_days": -1}, "half_life_days"),
    ({"lookback_days": float("nan")}, "lookback_days"), ({"max_touches": 0}, "max_touches"),
    ({"max_touches": 201}, "max_touches"), ({"top_paths": 0}, "top_paths"),
    ({"touch_events": ["purchase"]}, "cannot also be a touch"), ({"touch_events": []}, "touch_events is empty"),
])
def test_parameters_out_of_range(kwargs, match):
    con, t = events_table(path_log([(["a", "b"], True)]))
    with pytest.raises(InvalidParameterError, match=match):
        attribute(con, t, "purchase", **kwargs)


def test_unknown_touch_event_and_missing_table():
    con, t = events_table(path_log([(["a", "b"], True)]))
    with pytest.raises(NoDataError, match="no 'click' events"):
        attribute(con, t, "purchase", touch_events=["click"])
    with pytest.raises(DatasetNotFoundError):
        attribute(con, "nope", "purchase")


def test_temp_tables_are_dropped():
    con, t = events_table(path_log([(["a", "b"], True), (["b"], False)]))
    attribute(con, t, "purchase")
    left = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_ml_%'").fetchall()
    assert left == []
    assert np.isfinite(attribute(con, t, "purchase").conversion_probability)


def test_collapsing_repeats_changes_only_linear_and_time_decay(social):
    con, table, _, _ = social
    # Uncollapsed paths are longer: raise the cap so that both keep every touch.
    merged = attribute(con, table, "purchase", by="campaign", max_touches=200)
    every = attribute(con, table, "purchase", by="campaign", max_touches=200, collapse_repeats=False)
    assert merged.capped_paths == every.capped_paths == 0
    merged, every = merged.credits.set_index("campaign"), every.credits.set_index("campaign")
    for model in ("first_touch", "last_touch", "markov"):
        assert merged[model].to_dict() == pytest.approx(every[model].to_dict(), rel=1e-9), model
    assert merged["linear"].to_dict() != pytest.approx(every["linear"].to_dict(), rel=1e-3)


def test_too_many_values_for_the_markov_chain(monkeypatch):
    import analytics.attribution.core as core

    monkeypatch.setattr(core, "MAX_MARKOV_STATES", 2)
    con, t = events_table(path_log([(["a", "b", "c"], True), (["b"], False)]))
    r = attribute(con, t, "purchase")
    assert r.credits["markov"].isna().all() and r.shares()["markov"].isna().all()
    assert r.credits["linear"].sum() == pytest.approx(1.0)
    assert any("3 distinct values" in n and "at most 2" in n for n in r.notes)
    assert r.to_dict()["credits"][0]["markov"]["conversions"] is None
