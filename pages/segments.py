"""Segments: what kinds of customers there are, how many of each, who they are; maps; audience export."""

import pandas as pd
import streamlit as st

from analytics import segments
from analytics.charts import segments as segment_charts
from analytics.wording import count
from ui import auth, datasets, featuring, segmenting, widgets
from ui.escape import plain
from ui.guard import user_errors

widgets.page_start("Segments")
ds = widgets.require_dataset()
segmenting.warm_umap_in_background()

table = featuring.build(ds)
features = featuring.table(table)
st.caption(f"Segmenting the {count(len(features), 'user')} of **{plain(ds.name)}** on their feature table "
           "(as of the last event).")

# --- saved segmentations -------------------------------------------------------------------------------
saved = segmenting.saved(ds)
if len(saved):
    with st.expander(f"Saved segmentations ({len(saved)})"):
        widgets.table(saved)
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        pick = c1.selectbox("Saved segmentation", list(saved["name"]), key=f"saved_seg_{ds.id}")
        if c2.button("Open", icon=":material/folder_open:"):
            with user_errors("Opening the segmentation"):
                segmenting.open_saved(ds, pick)
                st.rerun()
        if c3.button("Delete", icon=":material/delete:", disabled=not auth.can_edit()):
            with user_errors("Deleting the segmentation"):
                segmenting.delete_saved(ds, pick)
                st.rerun()

# --- 1. how to segment ----------------------------------------------------------------------------------
st.subheader("1. How to segment")
METHOD_LABELS = {"kmeans": "K-means", "hierarchical": "Hierarchical (Ward)", "rfm": "RFM grid"}
method = st.radio("Method", list(METHOD_LABELS), horizontal=True, key="seg_method", format_func=METHOD_LABELS.get,
                  help="K-means and Ward find groups in the features you pick; the RFM grid puts buyers in the "
                       "named cells marketers know from their recency and frequency scores.")
choice = None
with user_errors("Choosing features"):
    choice = segmenting.choose_features(features)
if choice is None:
    st.stop()
if method == "rfm":
    st.caption("Each buyer gets R, F and M scores from 1 to 5 (fifths of the buyers: R 5 = bought most recently, "
               "F 5 = most purchases, M 5 = spent most); the R and F scores pick the cell.")
    widgets.table(segmenting.rfm_grid())
    columns, prep = choice.columns, segments.Preprocessing()
    space, blocked = "features", None
else:
    with st.container(border=True):
        space = st.radio("What to cluster", list(segmenting.SPACES), horizontal=True, key="seg_space",
                         format_func=segmenting.SPACES.get,
                         help="Aggregate features: counts, money, recency. Behaviour-sequence embedding: what a "
                              "recurrent network learned from the order of each user's events.")
        blocked = segmenting.sequence_unavailable(ds) if space == "sequence" else None
        if blocked:
            st.info(plain(blocked), icon=":material/info:")
        elif space == "sequence":
            settings = segmenting.PROFILE_SETTINGS
            st.caption(f"A recurrent network (GRU) learns to predict each user's next event (and product) from the "
                       f"events before it, on up to {settings.max_users:,} users for up to {settings.max_epochs} "
                       f"passes; each user's profile is its state averaged over their last {settings.max_len} events "
                       f"({settings.dim} numbers). It is learned once per dataset and kept. The features below "
                       "describe the segments.")
        columns = st.multiselect("Features" if space == "features" else "Features that describe the segments",
                                 choice.available, default=choice.columns, key=f"seg_cols_{ds.id}",
                                 format_func=segments.feature_label,
                                 help="RFM and behaviour by default. Counts and money are log-transformed.")
        c1, c2 = st.columns(2)
        scaling = c1.radio("Scaling", segments.SCALINGS, horizontal=True, key="seg_scaling",
                           help="Robust scaling is less pulled by extreme users.")
        capping = c2.toggle("Cap outliers at the 1st/99th percentile", value=True, key="seg_cap")
    prep = segments.Preprocessing(scaling=scaling, cap_quantiles=(0.01, 0.99) if capping else None)
    for notice in choice.notices:
        st.caption(plain(notice))

    # --- 2. how many segments ----------------------------------------------------------------------------------
    st.subheader("2. How many segments")
    if st.button("Help me choose k (2 to 12)", icon=":material/query_stats:", disabled=not columns or bool(blocked)):
        with user_errors("The k sweep"):
            found = widgets.long_step("Trying k = 2 to 12", lambda say: segmenting.sweep(
                ds, table, features, columns, prep, progress=say, space=space), key="sweep")
            st.session_state[f"k_{ds.id}"] = found.recommended_k
    sweep = segmenting.last_sweep(ds, table, columns, prep, space)
    if sweep is not None:
        st.plotly_chart(segment_charts.k_sweep_chart(sweep), width="stretch")
        st.info(plain(sweep.reason), icon=":material/lightbulb:")
        if sweep.silhouette_sampled:
            st.caption(f"Silhouette computed on a seeded sample of {sweep.silhouette_sample_size:,} users; the "
                       "other scores on all of them.")
    st.session_state.setdefault(f"k_{ds.id}", 4)  # the sweep sets it to its recommendation
    st.number_input("Number of segments", 2, 30, key=f"k_{ds.id}", help="The recommended k once you ask for help.")
k = st.session_state.get(f"k_{ds.id}", 4)
if st.button("Segment", type="primary", icon=":material/scatter_plot:", disabled=not columns or bool(blocked)):
    with user_errors("Segmenting"):
        result = widgets.long_step("Segmenting", lambda say: segmenting.segment(
            ds, table, features, int(k), method=method, columns=columns, prep=prep, progress=say, space=space),
            key="segment")

result = segmenting.current(ds, table)
if result is None:
    st.stop()
changed = segmenting.changed_since(result, method, k, columns, prep, space)
if changed:
    verb = "differs" if len(changed) == 1 else "differ"
    st.warning(f"The segments below ({METHOD_LABELS[result.method]}, k = {result.k}) were made with other settings "
               f"than those above: {' and '.join(changed)} {verb}. Press **Segment** for the segments of the "
               "settings on screen.", icon=":material/history:")

# --- 3. the segments --------------------------------------------------------------------------------------------
st.subheader("3. The segments")
for notice in result.notices:
    st.caption(plain(notice))
learned = segmenting.stored_profiles(ds, table) if result.space == "sequence" else None
if learned is not None:
    st.caption(plain(segmenting.profile_sentence(learned)))
cards = st.columns(min(result.k, 4))
for i, row in result.summary.iterrows():
    with cards[i % len(cards)].container(border=True):
        st.markdown(f"**{plain(row['name'])}**")
        st.metric("Users", f"{int(row['users']):,}", f"{row['share']:.0%} of all", delta_color="off",
                  delta_arrow="off")
        st.caption(" · ".join(part for part in (
            f"revenue share {row['revenue_share']:.0%}" if pd.notna(row.get("revenue_share")) else "",
            f"conversion {row['session_conversion']:.1%}" if pd.notna(row.get("session_conversion")) else "",
            f"median recency {row['median_recency_days']:.0f} days" if pd.notna(row.get("median_recency_days"))
            else "") if part))
st.write(plain(result.stability_text))
left, right = st.columns([1, 1.4])
left.plotly_chart(segment_charts.segment_sizes_chart(result), width="stretch")
right.plotly_chart(segment_charts.profile_heatmap(result), width="stretch")
if result.dendrogram is not None:
    st.plotly_chart(segment_charts.dendrogram_chart(result.dendrogram, result.names), width="stretch")

with st.expander("Rename segments"):
    edited = st.data_editor(pd.DataFrame({"segment": range(result.k), "name": result.names}), hide_index=True,
                            disabled=["segment"], key=f"names_{id(result)}", width="stretch")
    if st.button("Apply names", icon=":material/edit:"):
        with user_errors("Renaming"):
            segmenting.rename(ds, table, result, list(edited["name"]))
            st.rerun()

# --- 4. maps -----------------------------------------------------------------------------------------------------
st.subheader("4. Maps")
if result.space == "sequence":
    st.caption("Users are placed by their behaviour-sequence profiles: the space the segments were found in.")
c1, c2, c3, c4 = st.columns(4)
map_method = c1.radio("Map", segments.MAP_METHODS, horizontal=True, key="map_method",
                      format_func={"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}.get)
params: dict = {}
if map_method == "tsne":
    params["perplexity"] = c2.slider("Perplexity", 2, 100, 30, key="perplexity")
elif map_method == "umap":
    params["n_neighbors"] = c2.slider("Neighbours", 2, 200, 15, key="n_neighbors")
    params["min_dist"] = c3.slider("Minimum distance", 0.0, 1.0, 0.1, 0.05, key="min_dist")
params["max_points"] = int(c4.number_input("Users on the map (cap)", 100, 200_000,
                                           segments.DEFAULT_MAX_POINTS[map_method], step=1000,
                                           key=f"cap_{map_method}",
                                           help="Larger populations are sampled, every segment in proportion."))
color_options = ["segment", *[c for c in result.columns if c in features.columns]]
color_by = st.selectbox("Colour by", color_options, key="color_by", format_func=segments.feature_label)
emb = segmenting.map_for(ds, result, map_method, **params)
MAP_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}
if emb is None and st.button(f"Draw the {MAP_NAMES[map_method]} map", icon=":material/map:"):
    with user_errors("Drawing the map"):
        emb = widgets.long_step(f"Computing the {MAP_NAMES[map_method]} map", lambda say: segmenting.draw_map(
            ds, table, result, features, map_method, progress=say, **params), key="map")
if emb is not None:
    st.plotly_chart(segment_charts.embedding_chart(emb, user_ids=features["user_id"].to_numpy(),
                                                   labels=result.labels, names=result.names, features=features,
                                                   color_by=color_by), width="stretch")
    for notice in emb.notices:
        st.caption(plain(notice))

# --- 5. act on them -------------------------------------------------------------------------------------------------
st.subheader("5. Keep and export")
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
# Keyed by the result: a new segmentation starts from its own name, not the one typed for the last.
seg_name = c1.text_input("Segmentation name", value=result.method if result.method == "rfm" else
                         f"{result.method}_k{result.k}", key=f"seg_name_{ds.id}_{segmenting.result_id(result)}")
widgets.already_saved_caption(seg_name, set(saved["name"]) if len(saved) else set(), "segmentation")
if c2.button("Save segmentation", icon=":material/save:", disabled=not auth.can_edit()):
    with user_errors("Saving the segmentation"):
        key = segmenting.save(ds, table, result, seg_name)
        st.success(f"Saved as '{plain(key)}': the Models page can now compare models per segment.",
                   icon=":material/check_circle:")
st.download_button("Download user_id → segment (CSV)",
                   data=lambda: datasets.frame_download(segmenting.audience(result)),
                   file_name=f"segments_{result.method}_k{result.k}.csv", mime="text/csv", on_click="ignore",
                   icon=":material/download:")
