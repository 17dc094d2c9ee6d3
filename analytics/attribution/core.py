"""The public entry point: credit for the conversions of a stored events table under five models."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from analytics.attribution.markov import MAX_MARKOV_STATES, markov_credit
from analytics.attribution.paths import PathSpec, build_touches, journey_counts, path_table, transition_counts
from analytics.attribution.result import MODELS, AttributionResult
from analytics.attribution.rules import RULE_MODELS, rule_credits
from analytics.attribution.table import data_columns, event_counts, require_attribute, require_events
from analytics.errors import InvalidParameterError, NoDataError
from analytics.progress import Progress
from analytics.sql import quote_ident

DAY = 86_400
DEFAULT_LOOKBACK_DAYS = 30.0
# GA4's former time-decay model used a 7-day half-life; a common default.
DEFAULT_HALF_LIFE_DAYS = 7.0
MAX_TOUCHES = 50
MAX_TOUCHES_LIMIT = 200



def attribute(con: duckdb.DuckDBPyConnection, table: str, conversion: str = "purchase", *, by: str = "channel",
              lookback_days: float = DEFAULT_LOOKBACK_DAYS, half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
              touch_events: Sequence[str] | None = None, max_touches: int = MAX_TOUCHES,
              collapse_repeats: bool = True, top_paths: int = 20,
              progress: Progress | None = None) -> AttributionResult:
    """Share out each conversion among the touches before it, under five attribution models.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        A canonical events table (``user_id, ts, event, amount, ...``).
    conversion : str
        The event that is a conversion (``purchase``, ``sign_up``, ...).
    by : str
        The touch column: ``channel``, ``campaign``, or any attribute column.
    lookback_days : float
        Touches count when at most this long before the conversion (0 < days <= 3650).
    half_life_days : float
        Time decay: a touch this much older than another gets half its credit (0 < days <= 3650).
    touch_events : sequence of str, optional
        Events that are touches (for example only ``click``); default every event
        but the conversion that has a value in ``by``.
    max_touches : int
        Paths keep their last this-many touches (1..200, default 50); longer
        paths are counted in ``capped_paths`` and noted.
    collapse_repeats : bool
        Count consecutive touches on the same value once (see :mod:`analytics.attribution.paths`).
    top_paths : int
        Rows of the path table (1..1000).
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    AttributionResult
        Credits per model sum to the attributed conversions; the path table;
        notes on what was handled.

    Raises
    ------
    MappingError
        ``by`` is not an attribute column of the table.
    NoDataError
        No conversion events, no touches, or no conversion with a touch in the window.
    InvalidParameterError
        A parameter out of range (named in the message with its valid range).
    """
    say = progress or (lambda _f, _m: None)
    _check_numbers(lookback_days, half_life_days, max_touches, top_paths)
    columns = data_columns(con, table)
    require_attribute(columns, by, "touch column")
    counts = event_counts(con, table)
    if not isinstance(conversion, str) or not conversion.strip():
        raise InvalidParameterError("Name the conversion event (for example purchase or sign_up).")
    require_events(counts, [conversion], "conversion event")
    if touch_events is not None:
        touch_events = list(dict.fromkeys(str(e) for e in touch_events))
        if not touch_events:
            raise InvalidParameterError("touch_events is empty: name at least one event that is a touch, "
                                        "or leave it out to count every event but the conversion.")
        if conversion in touch_events:
            raise InvalidParameterError(f"'{conversion}' is the conversion and cannot also be a touch event.")
        require_events(counts, touch_events, "touch event")
    spec = PathSpec(conversion, by, tuple(touch_events) if touch_events is not None else None,
                    int(round(lookback_days * DAY)), int(max_touches), bool(collapse_repeats))
    touches = f"_ml_touch_{uuid.uuid4().hex[:12]}"
    try:
        say(0.05, "Building touch paths")
        build_touches(con, table, spec, touches)
        jc = journey_counts(con, touches)
        n_conv = counts[conversion]
        _check_touches(con, table, jc.converting, n_conv, spec)
        say(0.45, "Rule-based credit (first, last, linear, time decay)")
        rules = rule_credits(con, touches, half_life_days * DAY)
        say(0.65, "Markov chain removal effects")
        notes = _notes(jc, n_conv, spec)
        if jc.values <= MAX_MARKOV_STATES:
            chain = markov_credit(transition_counts(con, touches))
            markov = pd.DataFrame({"touch": chain.states, "markov": chain.credit,
                                   "removal_effect": chain.removal_effects})
            p_conv = chain.conversion_probability
        else:
            markov = pd.DataFrame({"touch": rules["touch"], "markov": np.nan, "removal_effect": np.nan})
            p_conv = float("nan")
            notes.append(f"'{by}' has {jc.values:,} distinct values: the data-driven (Markov) model is computed for "
                         f"at most {MAX_MARKOV_STATES:,}; attribute by a coarser column (channel, campaign).")
        say(0.85, "Path table")
        paths, n_paths = path_table(con, touches, top_paths)
        value = float(con.execute(
            f"SELECT coalesce(sum(value), 0) FROM {quote_ident(touches)} WHERE converted = 1 AND from_end = 1"
        ).fetchone()[0])
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(touches)}")
    credits, value_credits, effects = _assemble(rules, markov, by, value)
    say(1.0, "Done")
    return AttributionResult(
        conversion=conversion, by=by, lookback_days=float(lookback_days), half_life_days=float(half_life_days),
        max_touches=int(max_touches), collapse_repeats=bool(collapse_repeats),
        touch_events=list(touch_events) if touch_events is not None else None, conversions=int(n_conv),
        attributed=jc.converting, conversion_value=value, credits=credits, value_credits=value_credits,
        removal_effects=effects, conversion_probability=p_conv, paths=paths, distinct_paths=n_paths,
        journeys=jc.journeys, capped_paths=jc.capped, notes=notes)


def _check_numbers(lookback_days: float, half_life_days: float, max_touches: int, top_paths: int) -> None:
    for name, v in (("lookback_days", lookback_days), ("half_life_days", half_life_days)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= 3650:
            raise InvalidParameterError(f"{name} must be a number of days above 0 and at most 3650, got {v!r}.")
    if isinstance(max_touches, bool) or not isinstance(max_touches, (int, np.integer)) \
            or not 1 <= max_touches <= MAX_TOUCHES_LIMIT:
        raise InvalidParameterError(f"max_touches must be a whole number from 1 to {MAX_TOUCHES_LIMIT}, "
                                    f"got {max_touches!r}.")
    if isinstance(top_paths, bool) or not isinstance(top_paths, (int, np.integer)) or not 1 <= top_paths <= 1000:
        raise InvalidParameterError(f"top_paths must be a whole number from 1 to 1000, got {top_paths!r}.")


def _check_touches(con: duckdb.DuckDBPyConnection, table: str, converting: int, conversions: int,
                   spec: PathSpec) -> None:
    if converting:
        return
    which = "events" if spec.touch_events is None else ", ".join(f"'{e}'" for e in spec.touch_events) + " events"
    only = "" if spec.touch_events is None else " AND list_contains($events, event)"
    any_touch = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM {quote_ident(table)} WHERE {quote_ident(spec.by)} IS NOT NULL "
        f"AND event <> $conv{only})",
        {"conv": spec.conversion, **({"events": list(spec.touch_events)} if spec.touch_events else {})}).fetchone()[0]
    if not any_touch:
        raise NoDataError(f"No touches: none of the {which} has a value in '{spec.by}'. Attribution needs rows "
                          f"that say which {spec.by} a person came through; pick another touch column.")
    days = spec.lookback_seconds / DAY
    raise NoDataError(f"None of the {conversions:,} '{spec.conversion}' conversions has a touch (a row with a "
                      f"'{spec.by}') in the {days:g} days before it, so there is nothing to attribute. "
                      "Lengthen the lookback window or check the touch column and events.")


def _notes(jc, conversions: int, spec: PathSpec) -> list[str]:
    notes = []
    lost = conversions - jc.converting
    days = spec.lookback_seconds / DAY
    if lost:
        notes.append(f"{lost:,} of {conversions:,} conversions ({lost / conversions:.0%}) had no touch in the "
                     f"{days:g} days before them; no model credits them (they are shown as unattributed).")
    if jc.values == 1:
        notes.append(f"Only one {spec.by} has touches, so every model gives it all the credit; attribution compares "
                     f"at least two.")
    if jc.capped:
        notes.append(f"{jc.capped:,} paths had more than {spec.max_touches} touches; they keep their last "
                     f"{spec.max_touches} (the ones nearest the conversion or the end of the journey).")
    return notes


def _assemble(rules: pd.DataFrame, markov: pd.DataFrame, by: str,
              value: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    merged = rules.merge(markov, on="touch", how="outer").fillna({m: 0.0 for m in RULE_MODELS})
    merged = merged.sort_values(["markov", "last_touch", "touch"], ascending=[False, False, True], na_position="last")
    merged = merged.reset_index(drop=True).rename(columns={"touch": by})
    credits = merged[[by, *MODELS]].copy()
    value_credits = merged[[by]].copy()
    for m in RULE_MODELS:
        value_credits[m] = merged[f"{m}_value"].fillna(0.0)
    total = merged["markov"].sum()
    value_credits["markov"] = merged["markov"] / total * value if total else 0.0
    effects = merged[[by, "removal_effect"]].copy()
    return credits, value_credits, effects
