"""Data: upload a behaviour log, map its columns, import it, and manage datasets."""

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.engines.spark import spark_master as spark_master_default
from analytics.errors import RaggedRowsError
from analytics.ingest.roles import ROLE_LABELS, ROLES, mapping_with
from ui import state, widgets
from ui.guard import user_errors

NONE = "(none)"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "sample_events.csv.gz"
DATE_ORDER_LABELS = {"auto": "Decide from the data", "dmy": "Day first (31/12/2025)",
                     "mdy": "Month first (12/31/2025)"}

widgets.page_start("Data")
ws = state.workspace()


def import_with_progress(run) -> None:
    """Run an import inside a status box; on success make it the active dataset."""
    with st.status("Importing...", expanded=True) as status:
        ds = run(lambda msg: status.write(msg))
        status.update(label=f"Imported '{ds.name}': {ds.rows:,} events of {ds.users:,} users", state="complete",
                      expanded=False)
    state.set_active_dataset(ds.id)
    st.session_state[state.LAST_IMPORT] = ds.id


# --- empty workspace ---------------------------------------------------------------------------------
if not ws.datasets():
    st.info("The workspace is empty. Upload a behaviour log below (one row per user event), "
            "or start with the sample shop log.", icon=":material/info:")
    if st.button("Load the sample shop log", icon=":material/storefront:", disabled=not SAMPLE.exists()):
        with user_errors("Loading the sample"):
            import_with_progress(lambda say: ws.import_file(SAMPLE, name="Sample shop", progress=say))
            st.rerun()

# --- upload and mapping -----------------------------------------------------------------------------------
st.subheader("Upload a behaviour log")
uploader_key = f"uploader_{st.session_state.get('uploader_round', 0)}"
uploaded = st.file_uploader(
    "CSV, TSV or TXT (optionally gzipped), Parquet or Excel .xlsx. The format is recognised from the content.",
    key=uploader_key)

staged_entry = st.session_state.get(state.STAGED)
if uploaded is None and staged_entry:
    ws.discard(staged_entry[1])
    st.session_state.pop(state.STAGED, None)
    staged_entry = None
if uploaded is not None and (staged_entry is None or staged_entry[0] != uploaded.file_id):
    if staged_entry:
        ws.discard(staged_entry[1])
        st.session_state.pop(state.STAGED, None)
    staged_entry = None
    with user_errors("Reading the upload"):
        staged = ws.stage(uploaded, uploaded.name)
        try:
            inspection = ws.inspect(staged)
        except BaseException:
            ws.discard(staged)
            raise
        staged_entry = (uploaded.file_id, staged, inspection)
        st.session_state[state.STAGED] = staged_entry
        st.session_state.pop("ragged", None)

if staged_entry:
    _, staged, insp = staged_entry
    src, guess = insp.source, insp.guess
    st.caption(f"{widgets.plain(staged.name)}: {src.describe()}, {staged.size / 1e6:,.1f} MB")
    for note in src.notes[1:]:
        st.caption(widgets.plain(note))
    duplicate = ws.find_by_content(staged.content_hash)
    again = True
    if duplicate:
        st.warning(f"This exact file was already imported as '{duplicate.name}' on "
                   f"{duplicate.created_at:%Y-%m-%d %H:%M} UTC.", icon=":material/content_copy:")
        again = st.checkbox("Import it again anyway", key="import_again")

    st.markdown("**First rows**")
    st.dataframe(insp.preview.head(20), hide_index=True, width="stretch")

    st.markdown("**Which column is which?** The guess is shown; change anything that is wrong.")
    columns = src.columns
    roles = {}
    cols = st.columns(len(ROLES))
    for box, role in zip(cols, ROLES):
        current = getattr(guess.mapping, role)
        options = [NONE, *columns]
        label = ROLE_LABELS[role] + (" (required)" if role in ("user_id", "timestamp") else "")
        choice = box.selectbox(label, options, index=options.index(current) if current in options else 0,
                               key=f"role_{role}")
        roles[role] = None if choice == NONE else choice
        if role in guess.reasons:
            box.caption(widgets.plain(guess.reasons[role]))
    event_name = "purchase"
    if roles["event"] is None:
        event_name = st.text_input("No event column: every row is this event", value="purchase", key="event_name")
    if guess.time_format is not None:
        st.caption(f"Times look like {guess.time_format.describe()}.")
    date_order = st.radio("Dates like 03/04/2025 mean", list(DATE_ORDER_LABELS), format_func=DATE_ORDER_LABELS.get,
                          horizontal=True, key="date_order")
    unmapped = [c for c in columns if c not in roles.values()]
    # The key follows the set of columns on offer, so changing a role refreshes the choice.
    options_key = hashlib.md5("|".join(unmapped).encode()).hexdigest()
    attributes = st.multiselect("Keep these other columns as attributes (channel, country, ...)", unmapped,
                                default=unmapped, key=f"attributes_{options_key}")
    name = st.text_input("Dataset name", value=Path(staged.name).name.split(".")[0] or "dataset", key="ds_name")

    ragged = st.session_state.get("ragged")
    allow_bad_rows = False
    if ragged:
        st.error(ragged["message"], icon=":material/warning:")
        st.dataframe(pd.DataFrame([{"line": e["line"], **e["values"]} for e in ragged["examples"]]),
                     hide_index=True, width="stretch")
        allow_bad_rows = st.checkbox(f"Import the other rows anyway (the {ragged['n_bad']:,} bad rows are "
                                     "left out and listed in the report)", key="allow_bad_rows")

    if st.button("Import", type="primary", icon=":material/download_done:", disabled=not again):
        with user_errors("The import"):
            mapping = mapping_with(columns, guess.mapping, attributes=attributes, event_name=event_name,
                                   date_order=date_order, **roles)
            try:
                import_with_progress(lambda say: ws.import_staged(
                    staged, mapping, name=name, allow_bad_rows=allow_bad_rows, inspection=insp, progress=say))
            except RaggedRowsError as exc:
                st.session_state["ragged"] = {"message": str(exc), "n_bad": exc.n_bad, "examples": exc.examples}
                st.rerun()
            st.session_state.pop(state.STAGED, None)
            st.session_state.pop("ragged", None)
            st.session_state["uploader_round"] = st.session_state.get("uploader_round", 0) + 1
            st.rerun()

with st.expander("Connect a large log (by path or URI, without uploading)"):
    st.caption("For logs too big to upload: DuckDB reads a file on this server in place; Spark reads a Parquet "
               "directory or CSV files (local, hdfs://, s3a://, ...) and only the per-user table comes back.")
    uri = st.text_input("Path or URI", placeholder="/data/events.parquet or s3a://bucket/events/", key="connect_uri")
    engine = st.radio("Engine", ["duckdb", "spark"], horizontal=True, key="connect_engine",
                      format_func={"duckdb": "DuckDB (this machine)", "spark": "Spark"}.get)
    master = None
    if engine == "spark":
        master = st.text_input("Spark master", value=spark_master_default(), key="connect_master",
                               help="local[*], spark://host:7077, or a Spark Connect URL sc://host:15002")
    connect_name = st.text_input("Name of the connected dataset", key="connect_name", placeholder="(from the path)")
    if st.button("Connect", icon=":material/cable:", disabled=not uri.strip()):
        with user_errors("Connecting the log"):
            import_with_progress(lambda say: ws.connect(uri.strip(), engine=engine, master=master,
                                                        name=connect_name or None, progress=say))
            st.rerun()

# --- datasets ------------------------------------------------------------------------------------------------
datasets = ws.datasets()
if datasets:
    st.subheader("Datasets")
    st.dataframe(pd.DataFrame([d.summary() for d in datasets]).drop(columns=["id"]), hide_index=True,
                 width="stretch", column_config={
                     "rows": st.column_config.NumberColumn("events", format="localized"),
                     "users": st.column_config.NumberColumn(format="localized"),
                     "from": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                     "to": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                     "uploaded": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                 })
    ds = state.active_dataset()
    if st.session_state.get(state.LAST_IMPORT) == ds.id:
        st.success(f"Imported '{ds.name}'. The per-user feature table is ready on the Features page.",
                   icon=":material/check_circle:")
    st.markdown(f"#### {widgets.plain(ds.name)}")
    st.caption(f"From {widgets.plain(ds.source_file)} ({widgets.plain(ds.source_format)}); "
               f"choose another dataset in the sidebar.")
    widgets.cleaning_report(ds.report)

    if ds.has_events:
        with st.expander("Cleaned events (first 1,000 rows)"):
            with user_errors("Reading the events"):
                st.dataframe(ws.events(ds.id, limit=1000), hide_index=True, width="stretch")
    if ds.source_uri:
        st.caption(f"Connected log: the events stay at {widgets.plain(ds.source_uri)}"
                   + (" (processed with Spark)." if ds.engine == "spark" else "."))

    left, mid, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    new_name = left.text_input("New name", value=ds.name, key=f"rename_{ds.id}")
    if mid.button("Rename", icon=":material/edit:", disabled=new_name.strip() in ("", ds.name)):
        with user_errors("Renaming"):
            ws.rename(ds.id, new_name)
            st.rerun()
    if right.button("Delete dataset", icon=":material/delete:"):
        st.session_state[state.CONFIRM_DELETE] = ds.id
    if st.session_state.get(state.CONFIRM_DELETE) == ds.id:
        st.warning(f"Delete '{ds.name}' with its feature tables and the kept upload? This cannot be undone.",
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
