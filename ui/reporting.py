"""Session-side glue for the report: the active dataset's HTML report, built when the user downloads it.

The report holds what the workspace has stored for the dataset (the default
feature table, the newest saved segmentation and training run), with the money
settings the user last entered on the Models page. It is built by the download
button's callable, i.e. only when someone clicks, outside the page script: so
everything it needs from the session is read now, and the callable only calls
the library.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import streamlit as st

from analytics.errors import MarketLensError
from analytics.report import DEFAULT_COST_PER_CONTACT, DEFAULT_VALUE_PER_CONVERSION, build_report
from analytics.workspace import Dataset
from ui import state

# The money settings last entered on the Models page (pages/models.py, "Decide with money"): one dict per
# session, updated in place by that section, so a report made later reads the current values. (The money
# section redraws on its own, as a fragment: the sidebar's download button keeps the values of its last draw.)
_MONEY = "report_money"


def file_name(ds: Dataset) -> str:
    """``<dataset name>_report.html`` with anything but letters and digits made ``_``."""
    stem = "".join(ch if ch.isalnum() else "_" for ch in ds.name).strip("_")[:60] or "dataset"
    return f"{stem}_report.html"


def money_settings() -> dict[str, float]:
    """``{"cost", "value"}`` as last entered on the Models page (else its defaults); the Models page keeps it
    current (:func:`remember_money`) and starts its inputs from it, so the values survive other pages."""
    return st.session_state.setdefault(_MONEY, {"cost": DEFAULT_COST_PER_CONTACT,
                                                "value": DEFAULT_VALUE_PER_CONVERSION})


def remember_money(cost: float, value: float) -> None:
    money_settings().update(cost=float(cost), value=float(value))


def report_maker(ds: Dataset) -> Callable[[], bytes]:
    """A callable returning the report of ``ds`` as UTF-8 HTML bytes (for ``st.download_button(data=...)``)."""
    ws = state.workspace()
    money = money_settings()  # the dict itself: read when the report is made, not when the button was drawn
    dataset_id = ds.id

    def make() -> bytes:
        try:
            text = build_report(ws, dataset_id, cost_per_contact=money["cost"], value_per_conversion=money["value"])
        except MarketLensError as exc:  # e.g. the dataset was deleted in another tab since the page was drawn
            text = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>MarketLens report</title>"
                    f"</head><body><h1>The report could not be made</h1><p>{html.escape(str(exc))}</p></body></html>")
        return text.encode("utf-8")

    return make
