"""The frame around every page: page config, sign-in gate, page links and the dataset picker.

app.py registers the pages with a hidden ``st.navigation`` and draws the frame,
then runs the page the URL asks for. A page draws the frame itself when it runs
*outside* app.py: Streamlit serves an app that has a ``pages/`` folder in its
old folder-based mode until ``st.navigation`` has run once, so the first
request of a fresh server for ``/models`` (and every AppTest run after the
first) runs the page file alone. The sidebar is the same in both cases, because
it is drawn here with page links rather than by either navigation mode (the
folder mode's own menu is switched off in ``.streamlit/config.toml``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from ui import auth, reporting, widgets

PAGES = (
    ("pages/data.py", "Data", ":material/upload_file:"),
    ("pages/features.py", "Features", ":material/table_chart:"),
    ("pages/segments.py", "Segments", ":material/groups:"),
    ("pages/value.py", "Value", ":material/savings:"),
    ("pages/journeys.py", "Journeys", ":material/route:"),
    ("pages/channels.py", "Channels", ":material/campaign:"),
    ("pages/models.py", "Models", ":material/model_training:"),
    ("pages/recommendations.py", "Recommendations", ":material/recommend:"),
    ("pages/service.py", "Service", ":material/sensors:"),
)
# Shipped with the app: a Material icon as page_icon makes the browser fetch it from Google's CDN (fails offline).
FAVICON = Path(__file__).with_name("favicon.png")


def navigation() -> StreamlitPage:
    """Register the pages, draw the frame, and return the page the URL asks for (app.py)."""
    page = st.navigation([st.Page(path, title=title, icon=icon, default=i == 0)
                          for i, (path, title, icon) in enumerate(PAGES)], position="hidden")
    frame()
    return page


def frame() -> None:
    """Page config, sign-in gate, and the sidebar: page links, dataset picker, report download, account."""
    st.set_page_config(page_title="MarketLens", page_icon=str(FAVICON), layout="wide")
    auth.require_login()
    with st.sidebar:
        st.markdown("### MarketLens")
        for path, title, icon in PAGES:
            st.page_link(path, label=title, icon=icon)
        st.divider()
        ds = widgets.dataset_picker(st.sidebar)
        if ds is not None:
            st.download_button("Download report", data=reporting.report_maker(ds), file_name=reporting.file_name(ds),
                               mime="text/html", on_click="ignore", icon=":material/summarize:", width="stretch",
                               help="One HTML file that opens without internet: the dataset and its cleaning, the "
                                    "features, the newest saved segmentation and training run, and the money "
                                    "section at the Models page's cost and value.")
    auth.account_box()


def running_outside_navigation() -> bool:
    """True when this page runs alone (the folder mode), not inside app.py's navigation."""
    from streamlit.runtime.pages_manager import PagesManager

    return bool(PagesManager.uses_pages_directory)
