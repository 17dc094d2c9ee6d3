"""Widget groups and small display helpers used by more than one page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import streamlit as st

from analytics.features.spec import FEATURE_DOCS
from analytics.ingest.report import CleaningReport
from analytics.social import ENGAGEMENT_DOCS
from analytics.wording import count
from analytics.workspace import Dataset
from ui import auth, state
from ui.escape import plain


def page_start(title: str) -> None:
    """First lines of every page: the app's frame if the page runs on its own, the sign-in gate, the title."""
    from ui import shell

    if shell.running_outside_navigation():
        shell.frame()
    else:
        auth.require_login()  # already done by app.py's frame; cheap, and keeps the page safe alone
    st.title(title)


def dataset_picker(location=st.sidebar) -> Dataset | None:
    """Select box of datasets; the choice is this session's active dataset.

    The box follows the active dataset when the app changes it (a new import),
    and the user's pick changes it (through the callback, before the page runs).
    """
    ws = state.workspace()
    datasets = ws.datasets()
    if not datasets:
        location.caption("No datasets yet: upload a log on the Data page.")
        return None
    active = state.active_dataset()
    ids = [d.id for d in datasets]
    names = {d.id: f"{d.name} ({count(d.rows, 'event')})" for d in datasets}
    # A new widget key each time the app, not the user, changed the active dataset. After an
    # import the browser shows the old choice until the rerun reaches it; were the key the same,
    # a click in that moment (a page link) would send the old choice back as if the user had
    # picked it, and switch to the old dataset. Under a new key that stale value belongs to a
    # widget that no longer exists, and is dropped.
    key = PICKER if not (n := state.dataset_changes()) else f"{PICKER}_{n}"
    if st.session_state.get(key) != active.id:
        st.session_state[key] = active.id
    location.selectbox("Dataset", ids, format_func=names.get, key=key,
                       on_change=lambda: state.set_active_dataset(st.session_state[key], by_user=True))
    return active


PICKER = "dataset_picker"


def require_dataset() -> Dataset:
    """The active dataset, or a pointer to the Data page and a stop."""
    ds = state.active_dataset()
    if ds is None:
        st.info("There is no dataset yet. Upload a behaviour log on the Data page first.", icon=":material/info:")
        st.page_link("pages/data.py", label="Go to the Data page", icon=":material/upload:")
        st.stop()
    return ds


def cleaning_report(report: CleaningReport) -> None:
    """Warnings first, then metrics and a table of everything cleaning changed, with example lines."""
    for warning in report.warnings:
        st.warning(warning, icon=":material/warning:")
    c = st.columns(5)
    c[0].metric("Rows read", f"{report.rows_read:,}")
    c[1].metric("Rows kept", f"{report.rows_kept:,}")
    c[2].metric("Duplicates removed", f"{report.duplicates_removed:,}")
    c[3].metric("Rows dropped", f"{sum(report.dropped.values()) + report.rejected_rows:,}")
    c[4].metric("Values changed", f"{sum(report.coerced.values()):,}")
    rows = report.rows()
    if rows:
        table(pd.DataFrame(rows), column_config={
            "issue": st.column_config.TextColumn("What", width="medium"),
            "action": st.column_config.TextColumn("Done"),
            "count": st.column_config.NumberColumn("Rows / values", format="localized"),
            "examples": st.column_config.TextColumn("Examples (line in the file: values)", width="large"),
        })
    else:
        st.success("Nothing had to be fixed or dropped.", icon=":material/check_circle:")
    with st.expander("What was detected"):
        for note in report.notes:
            st.text(note)


def stored_name(text: str) -> str:
    """The name a save will store ``text`` under (letters, digits and _ only, lower case), or "" if none.

    Compare this with the saved names: "Best Model!" and "best_model" are one name to the workspace."""
    from analytics.errors import InvalidParameterError
    from analytics.workspace.store import safe_key

    try:
        return safe_key(text)
    except InvalidParameterError:
        return ""


def already_saved_caption(text: str, saved: set[str], what: str) -> None:
    """Say so when saving ``text`` would replace a saved ``what`` (compared as the workspace stores names)."""
    if (key := stored_name(text)) and key in saved:
        st.caption(f"A {what} saved as '{plain(key)}' exists already: saving replaces it.")


def table(data, *, where=None, **kwargs) -> None:
    """A table as every page shows one: full width, no index, and an empty cell as a dash.

    Streamlit writes "None" in an empty cell, which reads like a value (a product called None);
    a user without a purchase has no average order value, not the value "None". ``where``: a
    container or placeholder (``st.empty()``) to draw in instead of the page.
    """
    (where or st).dataframe(data, hide_index=True, width="stretch", placeholder="—", **kwargs)


def feature_column_config(columns: list[str], event_columns: dict[str, str] | None = None) -> dict:
    """Formats and help texts for a feature table in ``st.dataframe``.

    ``event_columns`` (the table's column -> event it counts) names the real event: 'page view',
    'page-view' and 'page_view' become n_page_view, n_page_view_2 and n_page_view_3.
    """
    config: dict = {"user_id": st.column_config.TextColumn("user_id", pinned=True)}
    docs = FEATURE_DOCS | ENGAGEMENT_DOCS | {f"social_{c}": d for c, d in ENGAGEMENT_DOCS.items()}
    counted = event_columns or {}
    for col in columns:
        help_text = docs.get(col)
        if col in counted:
            help_text = f"Number of '{counted[col]}' events"
        elif col.startswith("n_") and col not in docs:
            help_text = f"Number of '{col[2:]}' events"
        elif col.startswith("top_"):
            help_text = f"Most frequent {col[4:]} of the user"
        elif col.startswith("avg_"):
            help_text = f"Mean {col[4:]} over the user's events"
        if col in ("frequency", "n_events", "n_sessions", "active_days") or col.startswith("n_"):
            config[col] = st.column_config.NumberColumn(col, help=help_text, format="localized")
        elif col in ("monetary", "avg_order_value"):
            config[col] = st.column_config.NumberColumn(col, help=help_text, format="%.2f")
        elif col == "session_conversion_rate" or col.startswith("share_"):
            config[col] = st.column_config.NumberColumn(col, help=help_text, format="percent")
        elif col.endswith("engagement_rate"):
            config[col] = st.column_config.NumberColumn(col, help=help_text, format="%.3f")
        elif col.endswith("_days") or col.startswith("days_") or col.startswith("avg_") or "days" in col:
            config[col] = st.column_config.NumberColumn(col, help=help_text, format="%.1f")
        elif help_text:
            config[col] = st.column_config.Column(col, help=help_text)
    return config


@contextmanager
def progress_box(working: str, expanded: bool = True) -> Iterator[tuple[Any, Callable[[float, str], None]]]:
    """A status box for a step, with ``(box, say)``: ``say(fraction, message)`` moves its progress bar.

    When the step fails the box says it stopped, instead of keeping its running label ("Evaluating...")
    above the error message. On success the caller labels the box with what was done (``box.update``).
    """
    box = st.status(working, expanded=expanded)
    bar = []  # made at the first report: a step that only writes lines into the box shows no empty bar

    def say(fraction: float, message: str) -> None:
        if not bar:
            bar.append(box.progress(0.0))
        bar[0].progress(min(1.0, max(0.0, float(fraction))), text=message)

    try:
        with box:
            yield box, say
    except Exception:
        box.update(label=f"{working.rstrip('.')}: stopped", state="error", expanded=False)
        raise


def long_step(label: str, run: Callable[[Callable[[float, str], None]], Any], key: str) -> Any:
    """Run a long step with a bar saying what is being done, and a Stop button.

    Clicking Stop (or any other widget) asks Streamlit for a new run, which
    interrupts this one at its next progress report; nothing half-done is kept.
    """
    stop = st.empty()
    stop.button("Stop", key=f"stop_{key}", icon=":material/stop_circle:", help="Stop this step (nothing is kept)")
    bar = st.progress(0.0, text=label)
    try:
        return run(lambda fraction, message: bar.progress(min(1.0, max(0.0, float(fraction))),
                                                          text=f"{label}: {plain(message)}"))
    finally:
        bar.empty()
        stop.empty()
