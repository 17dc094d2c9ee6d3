"""Service: what the live scoring service of this dataset is doing (events received, latest scores, drift)."""

import streamlit as st

from analytics.charts import service as service_charts
from ui import datasets, serving, widgets
from ui.escape import plain

widgets.page_start("Service")
ds = widgets.require_dataset()
status = serving.service_status(ds)
if status is None:
    st.info("No scoring service has run for this dataset yet. Start one from a terminal with a saved model "
            "(see README, 'Scores in real time'):")
    st.code(serving.serve_command(ds), language="bash")
    st.stop()

raw = status.raw
model, store, metrics = raw.get("model") or {}, raw.get("store") or {}, raw.get("metrics") or {}
state_text = "running" if status.running else "not running (last status below)"
st.caption(f"Model **{plain(str(model.get('name', '?')))}** for **{plain(ds.name)}**: {state_text}; "
           f"status of {plain(str(raw.get('updated_at', '?'))[:19])} UTC.")
if st.button("Refresh"):
    st.rerun()
c1, c2, c3, c4 = st.columns(4)
c1.metric("Events stored", f"{store.get('events', 0):,}")
c2.metric("Users", f"{store.get('users', 0):,}")
c3.metric("Events/s (last minute)", f"{metrics.get('events_per_second_1m', 0):,.1f}")
p95 = (metrics.get("latency_ms") or {}).get("/v1/users/{id}", {}).get("p95")
c4.metric("Score p95 (ms)", "-" if p95 is None else f"{p95:,.1f}")
st.caption(f"Received {metrics.get('events_received', 0):,} events, {metrics.get('events_duplicate', 0):,} "
           f"duplicates, {metrics.get('events_rejected', 0):,} refused; {metrics.get('scores', 0):,} scores given.")

(st.warning if status.warning else st.info)(status.drift_message)
hist = status.histogram()
if len(hist):
    st.plotly_chart(service_charts.score_drift_chart(hist), width="stretch")

st.subheader("Latest scores")
latest = status.latest_scores()
widgets.table(latest)
st.download_button("Download CSV", datasets.frame_download(latest), "latest_scores.csv", "text/csv")
