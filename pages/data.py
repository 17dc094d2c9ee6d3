"""Data: upload a behaviour log, map its columns, import it, and manage datasets."""

import hashlib

import pandas as pd
import streamlit as st

from analytics.ingest.roles import CORE_ROLES, ID_ROLES, ROLE_LABELS, time_zones
from analytics.wording import count
from ui import auth, datasets, state, uploads, widgets
from ui.escape import plain
from ui.guard import user_errors

NONE = "(none)"
DATE_ORDER_LABELS = {"auto": "Decide from the data", "dmy": "Day first (31/12/2025)",
                     "mdy": "Month first (12/31/2025)"}
TIMEZONE_LABEL = "Time zone of times without an offset"
TIMEZONE_HELP = ("Shop back-ends often export local times such as 2025-03-01 10:00. They are read in this zone and "
                 "stored in UTC; times with an offset or Z, and epoch numbers, keep their instant.")

widgets.page_start("Data")
ws = state.workspace()
editor = auth.can_edit()


def with_status(run) -> None:
    """Run an import inside a status box that shows each step."""
    with widgets.progress_box("Importing...") as (status, _):
        ds = run(lambda _fraction, message: status.write(message))
        if ds is None:
            status.update(label="The import needs your decision", state="error", expanded=False)
            return
        status.update(label=f"Imported '{plain(ds.name)}': {count(ds.rows, 'event')} of "
                             f"{count(ds.users, 'user')}", state="complete",
                      expanded=False)


# --- empty workspace ---------------------------------------------------------------------------------
if not ws.datasets():
    st.info("The workspace is empty. Upload a behaviour log below (one row per user event), or start with a "
            "sample: a web shop's log (visits, carts, purchases), or a social log (impressions, clicks, likes, "
            "shares and follows on five channels, then sign-ups and purchases).", icon=":material/info:")
    shop, social, _ = st.columns([1, 1, 2])
    if shop.button("Load the sample shop log", icon=":material/storefront:",
                   disabled=not (editor and uploads.SAMPLE.exists())):
        with user_errors("Loading the sample"):
            with_status(uploads.import_sample)
            st.rerun()
    if social.button("Load the sample social log", icon=":material/campaign:",
                     disabled=not (editor and uploads.SOCIAL_SAMPLE.exists())):
        with user_errors("Loading the sample"):
            with_status(lambda say: uploads.import_sample(say, "social"))
            st.rerun()

# --- upload and mapping -----------------------------------------------------------------------------------
st.subheader("Upload a behaviour log")
uploaded = st.file_uploader(
    "CSV, TSV, TXT or JSON (optionally gzipped), Parquet or Excel .xlsx. The format is recognised from the content.",
    key=uploads.uploader_key(), disabled=not editor, help=None if editor else auth.READ_ONLY_HELP)
upload = None
with user_errors("Reading the upload"):
    upload = uploads.current(uploaded)

if upload:
    if upload.is_text:
        encoding = st.columns([2, 3])[0].selectbox(
            "Text encoding", uploads.ENCODINGS, format_func=upload.encoding_option, key=f"encoding_{upload.file_id}",
            help="Names that look garbled (Ìîñêâà, ÐœÐ¾ÑÐºÐ²Ð°, ???) mean another encoding: choose it here.")
        with user_errors("Reading the file in that encoding"):
            upload = uploads.with_encoding(upload, encoding)
    src, guess = upload.inspection.source, upload.inspection.guess
    st.caption(f"{plain(upload.staged.name)}: {plain(src.describe())}, {upload.staged.size / 1e6:,.1f} MB")
    for note in src.detail_notes():
        st.caption(plain(note))
    duplicate = uploads.duplicate_of(upload)
    again = True
    if duplicate:
        st.warning(f"This exact file was already imported as '{plain(duplicate.name)}' on "
                   f"{duplicate.created_at:%Y-%m-%d %H:%M} UTC.", icon=":material/content_copy:")
        again = st.checkbox("Import it again anyway", key="import_again")

    st.markdown("**First rows**")
    widgets.table(upload.inspection.preview.head(20))

    st.markdown("**Which column is which?** The guess is shown; change anything that is wrong.")
    columns = src.columns
    roles = {}
    for group in (CORE_ROLES, ID_ROLES):
        if group is ID_ROLES:
            st.caption("Optional identifiers: products for recommendations, posts and campaigns for social channels.")
        for box, role in zip(st.columns(len(CORE_ROLES)), group):
            current = getattr(guess.mapping, role)
            options = [NONE, *columns]
            label = ROLE_LABELS[role] + (" (required)" if role in ("user_id", "timestamp") else "")
            choice = box.selectbox(label, options, index=options.index(current) if current in options else 0,
                                   key=f"role_{role}")
            roles[role] = None if choice == NONE else choice
            if role in guess.reasons:
                box.caption(plain(guess.reasons[role]))
    event_name = "purchase"
    if roles["event"] is None:
        event_name = st.text_input("No event column: every row is this event", value="purchase", key="event_name")
    if guess.time_format is not None:
        st.caption(f"Times look like {guess.time_format.describe()}.")
    c1, c2 = st.columns([3, 2])
    date_order = c1.radio("Dates like 03/04/2025 mean", list(DATE_ORDER_LABELS), format_func=DATE_ORDER_LABELS.get,
                          horizontal=True, key="date_order")
    # Kept for the next upload (not a per-file field): a shop's exports share their time zone.
    timezone = c2.selectbox(TIMEZONE_LABEL, time_zones(), key="timezone", help=TIMEZONE_HELP)
    unmapped = [c for c in columns if c not in roles.values()]
    # The key follows the set of columns on offer, so changing a role refreshes the choice.
    options_key = hashlib.md5("|".join(unmapped).encode()).hexdigest()
    attributes = st.multiselect("Keep these other columns as attributes (channel, country, ...)", unmapped,
                                default=unmapped, key=f"attributes_{options_key}")
    name = st.text_input("Dataset name", value=upload.default_name, key="ds_name")

    ragged = uploads.ragged_rows()
    allow_bad_rows = False
    if ragged:
        st.error(plain(ragged.message), icon=":material/warning:")
        widgets.table(pd.DataFrame([{"line": e["line"], **e["values"]} for e in ragged.examples]))
        allow_bad_rows = st.checkbox(f"Import the other rows anyway (the {ragged.n_bad:,} bad rows are "
                                     "left out and listed in the report)", key="allow_bad_rows")

    if st.button("Import", type="primary", icon=":material/download_done:", disabled=not (again and editor)):
        with user_errors("The import"):
            with_status(lambda say: uploads.import_upload(
                upload, roles, attributes=attributes, event_name=event_name, date_order=date_order,
                timezone=timezone, name=name, allow_bad_rows=allow_bad_rows, progress=say))
            st.rerun()

with st.expander("Connect a large log (by path or URI, without uploading)"):
    st.caption("For logs too big to upload: DuckDB reads a file on this server in place; Spark reads a Parquet "
               "directory or CSV files (local, hdfs://, s3a://, ...) and only the per-user table comes back.")
    uri = st.text_input("Path or URI", placeholder="/data/events.parquet or s3a://bucket/events/", key="connect_uri")
    engine = st.radio("Engine", ["duckdb", "spark"], horizontal=True, key="connect_engine",
                      format_func={"duckdb": "DuckDB (this machine)", "spark": "Spark"}.get)
    master = None
    if engine == "spark":
        master = st.selectbox("Spark master", uploads.spark_masters(), key="connect_master",
                              help="The masters this server is configured for (MARKETLENS_SPARK_MASTER, "
                                   "MARKETLENS_SPARK_MASTERS).")
    c1, c2 = st.columns(2)
    connect_name = c1.text_input("Name of the connected dataset", key="connect_name", placeholder="(from the path)")
    connect_zone = c2.selectbox(TIMEZONE_LABEL, time_zones(), key="connect_timezone", help=TIMEZONE_HELP)
    if st.button("Connect", icon=":material/cable:", disabled=not (uri.strip() and editor)):
        with user_errors("Connecting the log"):
            with_status(lambda say: uploads.connect(uri.strip(), engine, master, connect_name or None, say,
                                                    timezone=connect_zone))
            st.rerun()

# --- datasets ------------------------------------------------------------------------------------------------
if ws.datasets():
    st.subheader("Datasets")
    widgets.table(datasets.listing(), column_config={
        "rows": st.column_config.NumberColumn("events", format="localized"),
        "users": st.column_config.NumberColumn(format="localized"),
        # Events are stored in UTC whatever zone the log was read in (see the mapping screen).
        "from": st.column_config.DatetimeColumn("from (UTC)", format="YYYY-MM-DD HH:mm"),
        "to": st.column_config.DatetimeColumn("to (UTC)", format="YYYY-MM-DD HH:mm"),
        "uploaded": st.column_config.DatetimeColumn("uploaded (UTC)", format="YYYY-MM-DD HH:mm"),
    })
    ds = state.active_dataset()
    if st.session_state.get(state.LAST_IMPORT) == ds.id:
        st.success(f"Imported '{plain(ds.name)}'. The per-user feature table is ready on the Features page.",
                   icon=":material/check_circle:")
    st.markdown(f"#### {plain(ds.name)}")
    st.caption(f"From {plain(ds.source_file)} ({plain(ds.source_format)}); "
               f"choose another dataset in the sidebar.")
    widgets.cleaning_report(ds.report)

    if ds.has_events:
        with st.expander("Cleaned events (first 1,000 rows)"):
            with user_errors("Reading the events"):
                widgets.table(datasets.events_head(ds))
    if ds.source_uri:
        st.caption(f"Connected log: the events stay at {plain(ds.source_uri)}"
                   + (" (processed with Spark)." if ds.engine == "spark" else "."))

    left, mid, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    new_name = left.text_input("New name", value=ds.name, key=f"rename_{ds.id}")
    if mid.button("Rename", icon=":material/edit:", disabled=not editor or new_name.strip() in ("", ds.name)):
        with user_errors("Renaming"):
            ws.rename(ds.id, new_name)
            st.rerun()
    if right.button("Delete dataset", icon=":material/delete:", disabled=not editor):
        st.session_state[state.CONFIRM_DELETE] = ds.id
    if st.session_state.get(state.CONFIRM_DELETE) == ds.id:
        st.warning(f"Delete '{plain(ds.name)}' with its feature tables and the kept upload? This cannot be undone.",
                   icon=":material/warning:")
        yes, no = st.columns(2)
        if yes.button("Yes, delete it", type="primary", key="confirm_delete"):
            with user_errors("Deleting"):
                ws.delete(ds.id)
                st.session_state.pop(state.CONFIRM_DELETE, None)
                state.set_active_dataset(None)
                st.rerun()
        if no.button("Cancel", key="cancel_delete"):
            st.session_state.pop(state.CONFIRM_DELETE, None)
            st.rerun()
    original = ws.original_path(ds.id)
    if original is not None:
        st.download_button("Download the original upload", data=original.read_bytes, file_name=ds.source_file,
                           on_click="ignore", icon=":material/download:")
