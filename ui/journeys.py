"""Session-side glue for the Journeys page: settings from widgets, stored views, audiences and downloads.

Every view (funnel, retention, paths, lifecycle) is computed behind a button and
stored in the workspace under the dataset and its settings
(:mod:`analytics.journeys.stored`), so a rerun, a reload or a restart finds it
again, and a result of another dataset or other settings is never shown. The
widgets start from the settings of the view's newest stored result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from analytics.audiences import Audience
from analytics.features.profile import IDENTIFIER_DISTINCT
from analytics.journeys import FunnelResult, stored
from analytics.journeys.audiences import cohort_name, dropoff_name
from analytics.journeys.settings import Breakdown, FunnelSettings, RetentionSettings, ViewSettings
from analytics.workspace import Dataset
from ui import datasets, state
from ui.stored_results import stored_or_compute

SHOP_FUNNEL = ("page_view", "view_item", "add_to_cart", "begin_checkout", "purchase")
TOP_GROUPS = 10
_SAVED = "journeys_last_saved_audience"


# --- what the dataset offers ------------------------------------------------------------------------------------


def events(ds: Dataset) -> list[str]:
    """The dataset's events, most frequent first."""
    return ds.profile.events_by_count


def default_steps(ds: Dataset) -> list[str]:
    """A first funnel to show: the shop funnel when the log has those events, else its three commonest events."""
    names = events(ds)
    shop = [e for e in SHOP_FUNNEL if e in names]
    return shop if len(shop) >= 2 else names[:3]


def breakdowns(ds: Dataset) -> list[Breakdown]:
    """Attributes, saved segmentations and saved audiences of the dataset."""
    return stored.breakdowns(state.workspace(), ds.id)


def breakdown_ids(ds: Dataset) -> dict[str, Breakdown | None]:
    """The breakdowns by a text id for a select box ("" first: no breakdown)."""
    return {"": None} | {breakdown_id(b): b for b in breakdowns(ds)}


def breakdown_id(breakdown: Breakdown | None) -> str:
    return "" if breakdown is None else f"{breakdown.kind}:{breakdown.name}"


def breakdown_label(ds: Dataset, breakdown: Breakdown | None) -> str:
    if breakdown is None:
        return "nothing (all users)"
    if breakdown.kind == "attribute":
        return f"attribute: {breakdown.name}"
    if breakdown.kind == "audience":
        return f"saved audience: {audience_name(ds, breakdown.name)}"
    return f"saved segmentation: {breakdown.name}"


def breakdown_note(ds: Dataset, breakdown: Breakdown | None) -> str | None:
    """What the user should know about a breakdown before computing it (many values, two groups)."""
    if breakdown is None:
        return None
    if breakdown.kind == "audience":
        name = audience_name(ds, breakdown.name)
        return f"Two groups: users in the audience '{name}' and everyone else ('not in {name}')."
    if breakdown.kind == "attribute":
        info = ds.profile.attributes.get(breakdown.name)
        if info is not None and info.distinct > TOP_GROUPS:
            many = ("looks like an identifier (almost every row has its own value)"
                    if info.distinct >= IDENTIFIER_DISTINCT else f"has about {info.distinct:,} distinct values")
            return (f"'{breakdown.name}' {many}: the {TOP_GROUPS} largest groups are shown, the rest are grouped "
                    "as '(other)'.")
    return None


def breakdown_title(ds: Dataset, breakdown: Breakdown | None) -> str | None:
    """How the groups are named on a chart legend or a table column."""
    if breakdown is None:
        return None
    if breakdown.kind == "audience":
        return f"audience {audience_name(ds, breakdown.name)}"
    return breakdown.name


# --- stored views ---------------------------------------------------------------------------------------------------


def initial(ds: Dataset, view: str) -> ViewSettings | None:
    """The settings of the view's newest stored result (the widgets start from them), or None."""
    return stored.latest_settings(state.workspace(), ds.id, view)


def view_section(ds: Dataset, settings: ViewSettings, *, button: str, icon: str, key: str, name: str,
                 working: str, hint: str) -> stored.StoredView | None:
    """One tab's Compute button and the stored view for exactly these settings (see :func:`stored_or_compute`)."""
    ws = state.workspace()
    return stored_or_compute(lambda: stored.find(ws, ds.id, settings),
                             lambda progress: stored.compute(ws, ds.id, settings, progress=progress),
                             button=button, icon=icon, key=key, name=name, working=working, hint=hint)


# --- audiences --------------------------------------------------------------------------------------------------------


def funnel_audience_name(settings: FunnelSettings, reached: int, group: str | None) -> str:
    return dropoff_name(settings.steps, reached, group)


def cohort_audience_name(settings: RetentionSettings, cohort_start: date, offset: int | None, retained: bool,
                         group: str | None) -> str:
    return cohort_name(settings.period, cohort_start, offset, retained, group)


def funnel_audience(ds: Dataset, settings: FunnelSettings, reached: int, group: str | None) -> Audience:
    return stored.funnel_audience(state.workspace(), ds.id, settings, reached, group)


def cohort_audience(ds: Dataset, settings: RetentionSettings, cohort_start: date, offset: int | None,
                    retained: bool, group: str | None) -> Audience:
    return stored.cohort_audience(state.workspace(), ds.id, settings, cohort_start, offset, retained, group)


@dataclass(frozen=True)
class SavedAudience:
    """What the page says after a save: the name given and how many users."""

    key: str
    name: str
    size: int


def save_audience(ds: Dataset, audience: Audience, name: str, view: str) -> str:
    """Store the audience under the user's name; the view that saved it says so once after the rerun."""
    key = stored.save_audience(state.workspace(), ds.id, audience, name)
    st.session_state[_SAVED] = (ds.id, view, SavedAudience(key, name.strip(), audience.size))
    return key


def just_saved(ds: Dataset, view: str) -> SavedAudience | None:
    """The audience this view saved right before this run (reported once), or None."""
    entry = st.session_state.get(_SAVED)
    if entry and entry[0] == ds.id and entry[1] == view:
        st.session_state.pop(_SAVED)
        return entry[2]
    return None


def saved_audiences(ds: Dataset) -> pd.DataFrame:
    """The dataset's saved audiences (newest first): key, name, users, how they were picked, when."""
    return pd.DataFrame([{"key": s.key, "name": s.meta.get("name", s.key), "users": s.meta.get("users"),
                          "description": s.meta.get("description", ""), "saved": s.created_at}
                         for s in state.workspace().results(ds.id, "audience")],
                        columns=["key", "name", "users", "description", "saved"])


def audience_name(ds: Dataset, key: str) -> str:
    for s in state.workspace().results(ds.id, "audience"):
        if s.key == key:
            return s.meta.get("name", key)
    return key


def audience_csv(ds: Dataset, key: str) -> Callable[[], bytes]:
    """A saved audience's users as formula-safe CSV, read when the download is clicked."""
    return lambda: datasets.frame_download(state.workspace().audience(ds.id, key).users)


def funnel_audience_csv(ds: Dataset, settings: FunnelSettings, reached: int,
                        group: str | None) -> Callable[[], bytes]:
    """The users behind a funnel step as formula-safe CSV, computed when the download is clicked."""
    return lambda: datasets.frame_download(funnel_audience(ds, settings, reached, group).users)


def cohort_audience_csv(ds: Dataset, settings: RetentionSettings, cohort_start: date, offset: int | None,
                        retained: bool, group: str | None) -> Callable[[], bytes]:
    """The users of a cohort cell as formula-safe CSV, computed when the download is clicked."""
    return lambda: datasets.frame_download(cohort_audience(ds, settings, cohort_start, offset, retained, group).users)


def delete_audience(ds: Dataset, key: str) -> None:
    state.workspace().drop_result(ds.id, "audience", key)


# --- display helpers ------------------------------------------------------------------------------------------------


def csv(frame: pd.DataFrame) -> bytes:
    """A table on screen as formula-safe CSV."""
    return datasets.frame_download(frame)


def duration(seconds: float | None) -> str:
    """A time span in words: "42 s", "3.5 min", "2.1 h", "1.5 d"."""
    if seconds is None or pd.isna(seconds):
        return ""
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def reached_label(result: FunnelResult, step: int) -> str:
    """ "reached step 2 (view_item) but not step 3 (add_to_cart)", or "completed the funnel"."""
    if step >= len(result.steps):
        return "completed the funnel"
    return (f"reached step {step} ({result.steps[step - 1].event}) but not step {step + 1} "
            f"({result.steps[step].event})")


def steps_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A funnel step table for the screen: rates in percent, median times in words (downloads keep the raw table)."""
    out = pd.DataFrame({"step": frame["step"], "event": frame["event"], "users": frame["users"],
                        "% of start": 100 * frame["conversion_from_start"],
                        "% of previous": 100 * frame["conversion_from_previous"],
                        "dropped": frame["drop_off"], "% dropped": 100 * frame["drop_off_rate"],
                        "median time from previous": frame["median_seconds_from_previous"].map(duration),
                        "median time from start": frame["median_seconds_from_start"].map(duration)})
    if "group" in frame.columns:
        out.insert(0, "group", frame["group"])
    return out


def cohort_table(frame: pd.DataFrame, period: str, rates: bool) -> pd.DataFrame:
    """A cohort matrix for the screen: ``week 0``, ``week 1``, ... columns as text ("38.1%" or "1,234"; empty
    where the data does not reach yet), dates as dates. The downloads keep the numbers."""
    out = pd.DataFrame({"cohort": pd.to_datetime(frame["cohort"]).dt.date, "users": frame["users"]})
    for c in frame.columns:
        if isinstance(c, int):
            out[f"{period} {c}"] = [("" if pd.isna(v) else f"{100 * v:.1f}%" if rates else f"{int(v):,}")
                                    for v in frame[c]]
    return out


def share_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A paths table for the screen: ``share`` in percent."""
    return frame.assign(share=100 * frame["share"])


def percent_columns(frame: pd.DataFrame) -> dict:
    """Column formats for ``st.dataframe``: percent columns (``% ...``, ``share``) shown with one decimal."""
    return {c: st.column_config.NumberColumn(str(c), format="%.1f%%") for c in frame.columns
            if str(c).startswith("%") or str(c) == "share"}
