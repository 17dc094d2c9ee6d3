"""Recommendations: what to show each customer next, which recommender finds it best, and lists to export."""

from datetime import timedelta

import streamlit as st

from analytics.charts import recommend as rec_charts
from ui import auth, recommending, state, widgets
from ui.escape import plain
from ui.guard import user_errors

widgets.page_start("Recommendations")
ws = state.workspace()
ds = widgets.require_dataset()
if not ds.has_events:
    st.info("This dataset lives in the data lake (Spark): only its features are in the workspace. Recommendations "
            "need the events with their products; import the log (or an extract with the product column) on the "
            "Data page.", icon=":material/info:")
    st.stop()

NEEDS_ITEMS = ("Recommendations need an **item column**: the product, SKU or content id each event is about "
               "(`item_id` in the sample). Export the log again with the product of each view, add-to-cart and "
               "purchase, and upload it on the Data page. Every other page works without it.")
previous = recommending.latest_settings(ds)  # reopen the page where the last evaluation left it

# --- 1. products and weights ---------------------------------------------------------------------------------
st.subheader("1. Products and how much each event counts")
columns = recommending.item_columns(ds)
if not columns:
    st.info(NEEDS_ITEMS + " This log has no column besides user, time, event, amount and session.",
            icon=":material/info:")
    st.stop()
guess = recommending.default_item_column(ds)
start = previous.item_col if previous and previous.item_col in columns else guess
with st.container(border=True):
    c1, c2 = st.columns([1, 2])
    item_col = c1.selectbox("Item column", columns, index=columns.index(start) if start else None,
                            key=f"rec_item_{ds.id}", placeholder="Choose the product column",
                            help="The column naming the product of each event (SKU, product or content id).")
    if guess is None:
        c2.info(NEEDS_ITEMS + " No column of this log is named like one; if one of them holds the product, "
                "choose it.", icon=":material/info:")
    if item_col is None:
        st.stop()
    weights_table = None
    with user_errors("Reading the item column"):
        weights_table = recommending.event_weights(ds, item_col)
    if weights_table is None:
        st.stop()
    carrying = weights_table[weights_table["with_item"] > 0]
    if carrying.empty:
        st.error(f"The column '{plain(item_col)}' is empty in every event: there are no products to recommend. "
                 "Choose the column that names the product of each event.", icon=":material/error:")
        st.stop()
    if previous and previous.item_col == item_col:
        carrying = carrying.assign(weight=[previous.weights.get(e, 0.0) for e in carrying["event"]])
    edited = c2.data_editor(
        carrying[["event", "with_item", "weight"]], hide_index=True, width="stretch", disabled=["event", "with_item"],
        key=f"rec_weights_{ds.id}_{item_col}",
        column_config={"event": st.column_config.TextColumn("Event"),
                       "with_item": st.column_config.NumberColumn("Events with a product", format="localized"),
                       "weight": st.column_config.NumberColumn("Weight", min_value=0.0, max_value=1000.0, step=0.5,
                                                               help="0 ignores the event")})
    unused = weights_table[weights_table["with_item"] == 0]
    if len(unused):
        c2.caption("Events without a product are not used: " + ", ".join(
            f"{plain(e)} ({n:,})" for e, n in zip(unused["event"], unused["events"])) + ".")
weights = {str(e): float(w) for e, w in zip(edited["event"], edited["weight"].fillna(0.0)) if w and w > 0}
if not weights:
    st.warning("Every weight is 0: give at least one event a weight above 0 (a purchase 5, a view 1).",
               icon=":material/warning:")
    st.stop()
st.caption("A user's weight for a product is the sum over their events (a purchase counts more than a view), used "
           "as log(1 + weight) so thirty views do not drown one purchase.")

data = None
with user_errors("Building the interactions"), st.spinner("Collecting who had which product..."):
    data = recommending.interactions(ds, item_col, weights)
if data is None:
    st.stop()
info = recommending.summary(data)
m = st.columns(5)
m[0].metric("Users with products", f"{info['users']:,}")
m[1].metric("Products", f"{info['items']:,}")
m[2].metric("User-product pairs", f"{info['user_item_pairs']:,}")
m[3].metric("Density", f"{info['density']:.2%}", help="Share of all user x product cells that are filled")
m[4].metric("Users with one product", f"{info['users_with_one_item']:,}")
for note in data.notes:
    st.info(plain(note), icon=":material/info:")
with st.expander("How concentrated the catalogue is"):
    st.plotly_chart(rec_charts.popularity_curve(data), width="stretch")

# --- 2. compare recommenders ---------------------------------------------------------------------------------
st.subheader("2. Which recommender finds what users come to next")
names = recommending.model_names()
PROTOCOLS = {"last-n": "Hide each user's last N products", "time-split": "Hide everything after a date"}
with st.container(border=True):
    chosen = st.multiselect("Models to compare", list(names), format_func=names.get, key=f"rec_models_{ds.id}",
                            default=[m for m in previous.models if m in names] if previous
                            else ["pop", "itemknn", "ease", "als"],
                            help="EASE models the 5,000 most frequent products; BPR is usually at popularity level. "
                                 "Sequence (GRU4Rec-style) reads the order in which each user came to products: "
                                 "a recurrent network learns what comes next (slower to fit).")
    not_offered = recommending.missing_models_note()
    if not_offered:
        st.caption(plain(not_offered))
    c1, c2 = st.columns(2)
    protocol = c1.radio("Protocol", list(PROTOCOLS), format_func=PROTOCOLS.get, horizontal=True,
                        index=list(PROTOCOLS).index(previous.protocol) if previous else 0, key=f"rec_proto_{ds.id}")
    n, split_date = 5, None
    if protocol == "last-n":
        n = c2.number_input("N (products hidden per user)", 1, 20, previous.n if previous else 5,
                            key=f"rec_n_{ds.id}")
    else:
        first, last = recommending.day_range(data)  # the split needs a day of learning before it
        split_default = recommending.default_split_date(data)
        if previous and previous.split_date:
            split_default = min(max(recommending.parse_date(previous.split_date), first + timedelta(days=1)), last)
        split = c2.date_input("Split date (first day of the test period)", value=split_default,
                              min_value=first + timedelta(days=1), max_value=last, key=f"rec_split_{ds.id}",
                              help="Default: the day that leaves about 20% of the interactions after it.")
        split_date = split.isoformat()
settings = recommending.Settings(item_col, weights, chosen, protocol, int(n), split_date)
st.caption(settings.describe())
if st.button("Evaluate", type="primary", icon=":material/leaderboard:", disabled=not chosen or not weights):
    with user_errors("Evaluating"):
        with widgets.progress_box("Evaluating...") as (status, say):
            done = recommending.evaluate(ds, data, settings, progress=say)
            status.update(label=f"Evaluated {len(done.metrics)} model(s) on {done.users_evaluated:,} users",
                          state="complete", expanded=False)
result = recommending.stored_evaluation(ds, settings)
best = None
if result is None:
    st.info("Press Evaluate to compare the models on these settings.", icon=":material/info:")
else:
    best = result.best()
    st.info(plain(result.description), icon=":material/rule:")
    tabs = st.tabs([f"K = {k}" for k in result.ks])
    for tab, k in zip(tabs, result.ks):
        tab.plotly_chart(rec_charts.metrics_chart(result, k), width="stretch", key=f"rec_chart_{k}")
    table = recommending.metrics_table(result)
    widgets.table(table, column_config={
        "model": st.column_config.TextColumn("model", pinned=True),
        **{c: st.column_config.NumberColumn(c, format="%.3f") for c in table.columns if "@" in c}})
    st.caption("Seconds to fit on the training part + to rank the catalogue for the test users: "
               + plain(recommending.timings(result)) + ".")
    st.download_button("Download the comparison (CSV)", data=recommending.table_csv(recommending.full_table(result)),
                       file_name="recommenders_compared.csv", mime="text/csv", icon=":material/download:",
                       on_click="ignore")
    if best:
        st.caption(f"Best by NDCG@{max(result.ks)}: {plain(names.get(best, best))}.")
    for model, why in result.skipped.items():
        st.warning(plain(f"{names.get(model, model)} was not evaluated: {why}"), icon=":material/warning:")
    for note in dict.fromkeys(result.notes):
        if note not in data.notes:
            st.caption(plain(note))

# --- 3. lists per user ---------------------------------------------------------------------------------------------
st.subheader("3. Recommendations for each user")
options = list(result.metrics.index) if result is not None and len(result.metrics) else chosen or list(names)
c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
model = c1.selectbox("Model", options, format_func=names.get, key=f"rec_model_{ds.id}_{best}",
                     index=options.index(best) if best in options else 0,
                     help="Fitted on all interactions (the evaluation fitted it on the training part only).")
k = c2.number_input("Products per user (K)", 1, 100, 20, key="rec_k")
if c3.button("Recommend for every user", icon=":material/recommend:"):
    with user_errors("Recommending"):
        with widgets.progress_box("Recommending...") as (status, say):
            listed = recommending.recommend_all(ds, data, model, int(k), progress=say)
            status.update(label=f"Top {int(k)} for {listed['user_id'].nunique():,} users", state="complete",
                          expanded=False)
recs = None
with user_errors("Loading the recommendations"):
    recs = recommending.stored_list(ds, data, model, int(k))
if recs is not None:
    if note := recommending.flat_scores_note(recs, model):
        st.warning(plain(note), icon=":material/warning:")
    who = st.text_input("Show one user", key=f"rec_user_{ds.id}", placeholder="a user id, e.g. "
                        + str(recs["user_id"].iloc[0]) if len(recs) else "")
    shown = recommending.for_user(recs, who) if who.strip() else recs.head(2000)
    if who.strip() and shown.empty:
        st.caption(f"No recommendations for '{plain(who.strip())}': that user has no products in these data.")
    else:
        widgets.table(shown,
                     column_config={"score": st.column_config.NumberColumn(format="%.3f")})
    if not who.strip() and len(recs) > len(shown):
        st.caption(f"The first {len(shown):,} of {len(recs):,} rows ({recs['user_id'].nunique():,} users); the "
                   "download has them all.")
    st.download_button("Download recommendations (CSV: user_id, rank, item_id, score)",
                       data=recommending.export_csv(recs), file_name=f"recommendations_{model}.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    model_name = c1.text_input("Model name", value=f"{model}_recommender", key=f"rec_model_name_{ds.id}_{model}")
    if c2.button("Save model", icon=":material/save:", disabled=not auth.can_edit(),
                 help=None if auth.can_edit() else auth.READ_ONLY_HELP):
        with user_errors("Saving the model"):
            recommending.save_model(ds, data, model, model_name, result)
            st.success(f"Saved as '{plain(widgets.stored_name(model_name))}'.", icon=":material/check_circle:")

# --- 4. segments ---------------------------------------------------------------------------------------------------
st.subheader("4. Products that characterise each segment")
sources = recommending.segment_sources(ds)
if not sources:
    st.info("Save a segmentation on the Segments page (or an audience) to see which products each segment has "
            "far more often than everyone else.", icon=":material/info:")
else:
    source = st.selectbox("Segments", list(sources), format_func=sources.get, key=f"rec_segments_{ds.id}")
    per_segment, all_segments = None, []
    with user_errors("Products per segment"):
        per_segment, all_segments = recommending.segment_items(ds, data, source)
        per_segment = recommending.labelled(ds, item_col, per_segment)
    quiet = [s for s in all_segments if per_segment is not None and s not in set(per_segment["segment"].astype(str))]
    if quiet:
        st.caption("Nothing stands out in " + ", ".join(plain(s) for s in quiet) + ": no product with at "
                   "least 5 of their users is more common among them than among all users.")
    if per_segment is not None and len(per_segment):
        segment_names = list(dict.fromkeys(per_segment["segment"]))
        seg = st.selectbox("Segment", segment_names, key=f"rec_segment_{ds.id}_{source}")
        st.plotly_chart(rec_charts.segment_items_chart(per_segment, seg, label_col="product"), width="stretch")
        st.caption("Lift: the share of the segment's users who had the product divided by the share of all users "
                   "(at least 5 users of the segment).")
        widgets.table(per_segment, column_config={
            "share": st.column_config.NumberColumn(format="percent"),
            "overall_share": st.column_config.NumberColumn(format="percent"),
            "lift": st.column_config.NumberColumn(format="%.2f")})
        st.download_button("Download products per segment (CSV)", data=recommending.table_csv(per_segment),
                           file_name="segment_products.csv", mime="text/csv", icon=":material/download:",
                           on_click="ignore")

# --- 5. also bought ------------------------------------------------------------------------------------------------
st.subheader("5. Users who bought X also bought")
bought = None
with user_errors("Reading the purchases"):
    bought = recommending.purchase_interactions(ds, item_col)
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
only_buys = c2.toggle("Purchases only", value=bought is not None, disabled=bought is None, key="rec_only_buys",
                      help="Off: users who had X (any weighted event) also had Y.")
basis = bought if only_buys and bought is not None else data
labels = recommending.item_labels(ds, item_col)
item = c1.selectbox("Product X", recommending.popular_items(basis), key=f"rec_item_x_{ds.id}",
                    format_func=lambda i: labels.get(i, i), accept_new_options=True,
                    help="The 1,000 most frequent products, most frequent first; type any product id.")
if item:
    with user_errors("Also bought"):
        also = recommending.labelled(ds, item_col, recommending.also_bought(ds, basis, item))
        if also.empty:
            st.info(f"No other product was had by at least {recommending.ALSO_MIN_USERS} of this product's users.",
                    icon=":material/info:")
        else:
            st.plotly_chart(rec_charts.also_bought_chart(also, labels.get(item, item), label_col="product",
                                                         verb="bought" if basis is bought else "had"),
                            width="stretch")
            st.caption(f"Ordered by lift: how much more often X's users had the product than all users (at least "
                       f"{recommending.ALSO_MIN_USERS} of them).")
            widgets.table(also, column_config={
                "confidence": st.column_config.NumberColumn("share of X's users", format="percent"),
                "lift": st.column_config.NumberColumn(format="%.2f")})
            st.download_button("Download also-bought (CSV)", data=recommending.table_csv(also),
                               file_name="also_bought.csv", mime="text/csv", icon=":material/download:",
                               on_click="ignore")

# --- 6. saved recommenders -------------------------------------------------------------------------------------------
st.subheader("6. Saved recommenders")
saved = recommending.saved_models(ds)
if not len(saved):
    st.caption("Save a model in section 3 to recommend with it later, on this or a newer dataset.")
else:
    widgets.table(saved,
                 column_config={"NDCG": st.column_config.NumberColumn("NDCG@K", format="%.3f")})
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    use = c1.selectbox("Recommend with", list(saved["name"]), key="rec_use_model")
    others = ws.datasets()
    ids = [d.id for d in others]
    on = c2.selectbox("For the latest data of", ids, index=ids.index(ds.id), key=f"rec_on_dataset_{ds.id}",
                      format_func=lambda i: next(d.name for d in others if d.id == i),
                      help="Any dataset with the same product ids, e.g. a log uploaded this week.")
    k_saved = c3.number_input("K", 1, 100, 20, key="rec_k_saved")
    if st.button("Recommend for the latest data", icon=":material/update:"):
        with user_errors("Recommending with the saved model"), st.spinner("Loading the model and the latest data..."):
            recommending.recommend_with_saved(ds, use, on, int(k_saved))
    latest = recommending.last_saved_list(ds, use, on, int(k_saved))
    if latest is not None:
        widgets.table(latest.head(2000),
                     column_config={"score": st.column_config.NumberColumn(format="%.3f")})
        st.download_button("Download these recommendations (CSV)", data=recommending.export_csv(latest),
                           file_name=f"recommendations_{use}.csv", mime="text/csv", icon=":material/download:",
                           on_click="ignore")
