"""Features: the per-user table (RFM, sessions, event counts, ...), its distributions and downloads."""

import streamlit as st

from analytics.charts import features as feature_charts
from analytics.features.spec import FEATURE_DOCS
from analytics.wording import count
from ui import datasets, featuring, widgets
from ui.escape import plain
from ui.guard import user_errors

SHOWN_ROWS = 5_000

widgets.page_start("Features")
ds = widgets.require_dataset()
st.caption(f"One row per user of **{plain(ds.name)}** ({count(ds.users, 'user')}, {count(ds.rows, 'event')}), "
           "computed in the database engine.")

events = ds.profile.events_by_count
end = ds.ts_max
with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    options = [None, *events]
    purchase = c1.selectbox(
        "Purchase event", options, index=options.index(ds.purchase_event) if ds.purchase_event in options else 0,
        format_func=lambda e: "(none: nobody purchases)" if e is None else e, key=f"purchase_{ds.id}",
        help="The event that counts as an order for frequency, monetary and conversion. Guessed at import.")
    as_of_date = c2.date_input("Reference date", value=end.date(), min_value=ds.ts_min.date(), max_value=end.date(),
                               key=f"as_of_{ds.id}",
                               help="Recency and tenure are measured to this date, and only events up to it count.")
    top_events = c3.number_input("Event types with their own count", 1, 50, 10, key=f"top_{ds.id}")
    gap = c4.number_input("Session gap (minutes)", 1, 1440, 30, key=f"gap_{ds.id}",
                          disabled=ds.profile.has_sessions,
                          help="A new session starts after this long without events (when the log has no "
                               "session column).")
    social = featuring.social_kinds(ds)
    engagement = None
    if social:
        found = ", ".join(f"{kind} ({', '.join(names)})" for kind, names in social.items())
        engagement = st.checkbox(
            "Add the engagement features (engagement rate, share of each kind, net follows, first and last touch "
            "channel, ...)", value=True, key=f"engagement_{ds.id}",
            help="On by default because this log has social events; Segments and Models use them too. "
                 f"Read as: {plain(found)}.")
params = featuring.params(ds, purchase, as_of_date, top_events, gap, engagement)
table = featuring.stored(ds, params)
if table is None:
    st.info("The feature table for these settings has not been built yet.", icon=":material/info:")
    if st.button("Build the feature table", type="primary", icon=":material/play_arrow:"):
        with user_errors("Building features"):
            where = " on Spark (this reads the whole log again)" if ds.engine == "spark" else ""
            with widgets.progress_box(f"Building the per-user feature table{where}...", expanded=False) as (status, _):
                featuring.build(ds, params)
                status.update(label="Feature table ready", state="complete")
            st.rerun()  # drawn again from the stored table, without the "not built yet" notice above it
    st.stop()

with user_errors("Showing the features"):
    frame = featuring.table(table)
    meta = featuring.meta(ds, params)
    m1, m2, m3 = st.columns(3)
    m1.metric("Users", f"{len(frame):,}")
    m2.metric("Features", f"{frame.shape[1] - 1}")
    m3.metric("As of", meta["as_of"][:16].replace("T", " "))
    shown = frame.head(SHOWN_ROWS)
    widgets.table(shown, height=420,
                 column_config=widgets.feature_column_config(list(frame.columns), meta.get("event_columns")))
    if not meta.get("has_amounts", True):
        st.info("The purchase event has no amounts in this log (or no purchase event is set), so what users spent "
                "is unknown: monetary and average order value are left empty (not 0), and segments are made "
                "without them. Pick the event that carries the order value as the purchase event if there is one.",
                icon=":material/info:")
    if meta.get("skipped_attributes"):
        skipped = meta["skipped_attributes"]
        st.caption(f"Not summarised (identifiers, columns without a value, or too many columns): "
                   f"{plain(', '.join(skipped[:20]))}"
                   + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else ""))
    if len(frame) > SHOWN_ROWS:
        st.caption(f"Showing the first {SHOWN_ROWS:,} of {len(frame):,} users; the downloads hold all of them.")

    d1, d2, _ = st.columns([1, 1, 3])
    stem = "".join(ch if ch.isalnum() else "_" for ch in ds.name)[:60] or "dataset"
    d1.download_button("Download CSV", data=lambda: datasets.table_download(table, "csv"),
                       file_name=f"{stem}_features.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:")
    d2.download_button("Download Parquet", data=lambda: datasets.table_download(table, "parquet"),
                       file_name=f"{stem}_features.parquet", mime="application/octet-stream", on_click="ignore",
                       icon=":material/download:")

    st.subheader("Distributions")
    numeric = [c for c in frame.columns if c != "user_id" and frame[c].dtype.kind in "if"]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    feature = left.selectbox("Feature", numeric, key=f"hist_{ds.id}",
                             format_func=lambda c: f"{c}: {FEATURE_DOCS[c]}" if c in FEATURE_DOCS else c)
    log_scale = right.toggle("Log scale", value=True, key="log_scale",
                             help="Marketing metrics are skewed: a few users have most of the orders and revenue.")
    if feature:
        st.plotly_chart(feature_charts.histogram(frame[feature], feature, log_scale=log_scale), width="stretch")

    st.subheader("Summary statistics")
    numbers, texts = featuring.summary(frame)
    widgets.table(numbers, column_config={
        c: st.column_config.NumberColumn(format="%.3g") for c in ("mean", "std", "min", "25%", "median", "75%", "max")})
    if not texts.empty:
        widgets.table(texts)
