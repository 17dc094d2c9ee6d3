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

# The Models page's money inputs (pages/models.py, section "Decide with money").
_MONEY_KEYS = ("cost", "value")


def file_name(ds: Dataset) -> str:
    """``<dataset name>_report.html`` with anything but letters and digits made ``_``."""
    stem = "".join(ch if ch.isalnum() else "_" for ch in ds.name).strip("_")[:60] or "dataset"
    return f"{stem}_report.html"


def money_settings() -> tuple[float, float]:
    """Cost per contact and value per conversion as last entered on the Models page (else its defaults)."""
    cost, value = (st.session_state.get(k) for k in _MONEY_KEYS)
    return (float(cost) if isinstance(cost, (int, float)) else DEFAULT_COST_PER_CONTACT,
            float(value) if isinstance(value, (int, float)) else DEFAULT_VALUE_PER_CONVERSION)


def report_maker(ds: Dataset) -> Callable[[], bytes]:
    """A callable returning the report of ``ds`` as UTF-8 HTML bytes (for ``st.download_button(data=...)``)."""
    ws = state.workspace()
    cost, value = money_settings()
    dataset_id = ds.id

    def make() -> bytes:
        try:
            text = build_report(ws, dataset_id, cost_per_contact=cost, value_per_conversion=value)
        except MarketLensError as exc:  # e.g. the dataset was deleted in another tab since the page was drawn
            text = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>MarketLens report</title>"
                    f"</head><body><h1>The report could not be made</h1><p>{html.escape(str(exc))}</p></body></html>")
        return text.encode("utf-8")

    return make
