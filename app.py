"""MarketLens: marketing analytics on behaviour logs. Run with ``streamlit run app.py``."""

import logging

import streamlit as st

from ui import auth, widgets
from ui.guard import user_errors

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="MarketLens", page_icon=":material/insights:", layout="wide")
auth.require_login()

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:", default=True),
    st.Page("pages/features.py", title="Features", icon=":material/table_chart:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/groups:"),
    st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
]
navigation = st.navigation(pages)
with st.sidebar:
    st.markdown("### MarketLens")
    widgets.dataset_picker(st.sidebar)
auth.account_box()
# The last line of defence: whatever a page did not foresee becomes a message, never a traceback.
with user_errors("This page"):
    navigation.run()
