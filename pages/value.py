"""Value: who is still active, how many purchases to expect, and what each customer is worth."""

import streamlit as st

from analytics.charts import value as value_charts
from ui import auth, valuing, widgets
from ui.escape import plain
from ui.guard import user_errors
from ui.stored_results import stored_or_compute

widgets.page_start("Value")
ds = widgets.require_dataset()
if not ds.has_events:
    st.info("Customer value reads every purchase of every customer, so it needs the events in the workspace; this "
            "log lives in the data lake (Spark). Upload the transactions (or a sample of customers) on the Data page.",
            icon=":material/info:")
    st.stop()
st.caption(f"How many purchases each customer of **{plain(ds.name)}** will make and what they are worth, "
           "from their purchase history alone: the buy-till-you-die models of the marketing literature (BG/NBD, "
           "Pareto/NBD, Gamma-Gamma), fitted by maximum likelihood and checked on a holdout against a "
           "gradient-boosting challenger.")

# --- stored fits --------------------------------------------------------------------------------------------------
fits = valuing.stored_fits(ds)
if len(fits):
    with st.expander(f"Stored fits ({len(fits)})"):
        widgets.table(fits.drop(columns="key"))
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        labels = dict(zip(fits["key"], fits.apply(valuing.fit_label, axis=1)))
        pick = c1.selectbox("Stored fit", list(labels), format_func=labels.get, key=valuing.widget_key("stored", ds))
        c2.button("Show", icon=":material/folder_open:", on_click=valuing.show_stored, args=(ds, pick))
        if c3.button("Delete", icon=":material/delete:", disabled=not auth.can_edit(),
                     help=None if auth.can_edit() else auth.READ_ONLY_HELP):
            with user_errors("Deleting the fit"):
                valuing.delete_fit(ds, pick)
                st.rerun()

# --- 1. settings --------------------------------------------------------------------------------------------------
st.subheader("1. Settings")
events, event_index = valuing.purchase_events(ds)
with st.container(border=True):
    c1, c2 = st.columns([2, 1])
    event = c1.selectbox("Purchase event", events, index=event_index, key=valuing.widget_key("event", ds),
                         placeholder="Pick the event that counts as a purchase",
                         help="Several purchases on one day count as one purchase occasion. Purchases with a "
                              "negative amount are refunds: counted and reported, not purchases.")
    unit = c2.radio("Time unit", list(valuing.TIME_UNITS), format_func=valuing.TIME_UNITS.get, horizontal=True,
                    key=valuing.widget_key("unit", ds),
                    help="Unit of recency, customer age and the models' time parameters. Horizons are in days.")
    c1, c2 = st.columns(2)
    holdout = int(c1.number_input("Holdout (days; 0 = no validation)", 0, max(int(valuing.data_days(ds)), 1),
                                  valuing.default_holdout_days(ds), key=valuing.widget_key("holdout", ds),
                                  help="The models are also fitted on the data before the calibration end only and "
                                       "predict these days after it, which they have not seen."))
    default_cal = valuing.default_calibration_end(ds, holdout) if holdout else None
    cal = c2.date_input("Calibration end (end of this day, UTC)", value=default_cal, min_value=ds.ts_min.date(),
                        max_value=ds.ts_max.date(), key=valuing.widget_key("cal", ds, holdout), disabled=not holdout,
                        help="Default: the last event minus the holdout.")
    c1, c2, c3 = st.columns(3)
    horizon = c1.number_input("Horizon (days)", 1, 3650, 365, key="value_horizon",
                              help="Expected purchases and customer value over the next this-many days.")
    discount = c2.number_input("Yearly discount rate (%)", 0.0, 100.0, 10.0, 1.0, key="value_discount",
                               help="Future purchases are worth less today: each month's are discounted at this "
                                    "yearly rate.")
    margin = c3.number_input("Margin (% of spend that is profit)", 1.0, 100.0, 100.0, 5.0, key="value_margin",
                             help="100% values revenue; your gross margin values profit.")
if event is None:
    st.info("No purchase event was recognised in this log. Pick the event that counts as a purchase (an order, a "
            "subscription payment, ...); a transaction log without an event column imports as 'purchase'.",
            icon=":material/info:")
    st.stop()
settings = valuing.ValueSettings(event, unit, holdout, None if cal == default_cal else cal)
st.caption("The models are fitted on every purchase up to the last event, so the predictions are about today's "
           "customers; with a holdout they are also fitted on the purchases up to the calibration end and scored on "
           "the days after it. Horizon, discount rate and margin apply at once, without fitting again.")

run = stored_or_compute(
    lambda: valuing.stored_run(ds, settings), lambda say: valuing.fit(ds, settings, progress=say),
    button="Fit the value models", icon=":material/monitoring:", key="value_fit", name="fitting the value models",
    working="Fitting the value models...", about="BG/NBD, Pareto/NBD and Gamma-Gamma, and the holdout check.",
    hint="Press **Fit the value models**: the result is stored in the workspace for these settings.")
if run is None:
    st.stop()

# --- 2. the models ------------------------------------------------------------------------------------------------
st.subheader("2. The models")
s = run.summary
m = st.columns(4)
m[0].metric("Customers", f"{s.n_customers:,}", help="Users with at least one purchase.")
m[1].metric("Bought on two days or more", f"{s.n_repeat_customers:,}",
            f"{s.n_repeat_customers / max(s.n_customers, 1):.0%} of customers", delta_color="off", delta_arrow="off")
m[2].metric("Data up to", f"{s.calibration_end:%Y-%m-%d}")
m[3].metric("Time unit", valuing.TIME_UNITS[s.time_unit], help="Of recency, age and the models' time parameters.")
for warning in valuing.data_warnings(run):
    st.warning(plain(warning), icon=":material/warning:")
cols = st.columns(len(valuing.MODEL_ORDER))
for col, key in zip(cols, valuing.MODEL_ORDER):
    with col.container(border=True):
        st.markdown(f"**{valuing.MODEL_LABELS[key]}**")
        st.caption(valuing.MODEL_ROLES[key])
        if key not in run.report.fits:
            st.info(plain(valuing.why_not_fitted(run, key)), icon=":material/block:")
            continue
        widgets.table(valuing.parameter_table(run.report, key))
        st.caption(plain(valuing.interpretation(run.report, key)))
for key, fit in run.report.fits.items():
    if fit.warnings:
        st.warning(valuing.warnings_markdown(key, fit.warnings), icon=":material/warning:")

# --- 3. validation ------------------------------------------------------------------------------------------------
st.subheader("3. Is the model any good?")
v = run.validation
if v is None:
    st.info("Set a holdout (days) above to fit the models on the data before a calibration end and check their "
            "predictions on the days after it, next to a gradient-boosting challenger.", icon=":material/info:")
else:
    st.caption(plain(valuing.split_text(v)))
    widgets.table(valuing.scores_table(v))
    st.caption("Predicted and actual: purchase occasions of the calibration customers in the holdout. Bias: predicted "
               "minus actual. MAE: mean absolute error per customer (it favours cautious predictions: read it with "
               "the bias). AUC: how well each model ranks who buys at all in the holdout (0.5 = chance).")
    weekly = st.toggle("Weekly tracking: purchases per week instead of cumulative", key="value_weekly")
    left, right = st.columns(2)
    left.plotly_chart(value_charts.frequency_chart(v), width="stretch")
    right.plotly_chart(value_charts.tracking_chart(v, cumulative=not weekly), width="stretch")
    for note in valuing.validation_notes(v):
        st.warning(plain(note), icon=":material/warning:")
    for why in v.report.skipped.values():  # why a model is missing from the scores
        st.warning(plain(f"On the calibration period: {why}"), icon=":material/warning:")
    troubled = [key for key, fit in v.report.fits.items() if fit.warnings]
    if troubled:  # the scores above come from these fits: their doubts must not hide in the expander
        st.warning("The fits on the calibration period have warnings ("
                   + ", ".join(valuing.MODEL_LABELS[k] for k in troubled) + "): read their holdout scores with "
                   "care. The details are under 'Parameters fitted on the calibration period'.",
                   icon=":material/warning:")
    with st.expander("Parameters fitted on the calibration period"):
        for key, fit in v.report.fits.items():
            st.markdown(f"**{valuing.MODEL_LABELS[key]}**")
            widgets.table(valuing.parameter_table(v.report, key))
            if fit.warnings:
                st.warning(valuing.warnings_markdown(key, fit.warnings), icon=":material/warning:")

# --- 4. predictions -----------------------------------------------------------------------------------------------
st.subheader("4. Who is still active, and what they are worth")
counts = [k for k in ("bgnbd", "paretonbd") if k in run.report.models]
count_model = st.radio("Purchase model for the predictions", counts, format_func=valuing.MODEL_LABELS.get,
                       horizontal=True, key=valuing.widget_key("model", ds),
                       help="Compare them on the holdout above; BG/NBD gives every one-time buyer P(alive) = 1.")
per_user = None
with user_errors("Predicting"):
    per_user = valuing.predictions(ds, settings, run, horizon, discount / 100.0, margin / 100.0, count_model)
if per_user is None:
    st.stop()
has_value = valuing.has_value(per_user)
m = st.columns(4)
m[0].metric("Customers", f"{len(per_user):,}")
m[1].metric(f"Expected purchases, next {horizon:g} days", f"{per_user['expected_purchases'].sum():,.0f}")
m[2].metric("Median P(alive)", f"{per_user['p_alive'].median():.2f}")
m[3].metric(f"Total value, next {horizon:g} days", f"{per_user['clv'].sum():,.0f}" if has_value else "not available")
if not has_value:
    st.info(plain(valuing.no_value_reason(per_user)), icon=":material/info:")
for note in valuing.prediction_warnings(per_user):
    st.warning(plain(note), icon=":material/warning:")
if has_value:
    left, right = st.columns(2)
    left.plotly_chart(value_charts.p_alive_chart(per_user), width="stretch")
    right.plotly_chart(value_charts.clv_chart(per_user), width="stretch")
else:
    st.plotly_chart(value_charts.p_alive_chart(per_user), width="stretch")
st.caption("P(alive): the probability a customer has not silently left. A low P(alive) after many purchases is a good "
           "customer you are losing: a win-back target. Value = expected purchases × expected spend per purchase × "
           "margin, discounted.")

# --- 5. per segment -----------------------------------------------------------------------------------------------
st.subheader("5. Per segment")
segmentations = valuing.saved_segmentations(ds)
if not segmentations:
    st.info("Save a segmentation on the Segments page to see customer value per segment here.",
            icon=":material/info:")
    st.page_link("pages/segments.py", label="Go to the Segments page", icon=":material/groups:")
else:
    seg_key = st.selectbox("Saved segmentation", segmentations, key=valuing.widget_key("seg", ds))
    with user_errors("Value per segment"):
        table = valuing.by_segment(ds, per_user, seg_key)
        if has_value:
            st.plotly_chart(value_charts.segment_value_chart(table), width="stretch")
        widgets.table(valuing.segment_display(table, has_value),
                     column_config=valuing.SEGMENT_COLUMNS)
        st.download_button("Download value per segment (CSV)", data=valuing.per_user_csv(table),
                           file_name=f"value_by_segment_{seg_key}.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:")

# --- 6. per customer ----------------------------------------------------------------------------------------------
st.subheader("6. Per customer")
shown = valuing.customer_display(per_user, has_value)
st.caption(f"The {min(len(shown), valuing.SHOWN_ROWS):,} customers of {len(shown):,} "
           + ("with the highest value" if has_value else "with the most expected purchases")
           + "; the download has all of them.")
widgets.table(shown.head(valuing.SHOWN_ROWS),
             column_config=valuing.customer_columns(run.time_unit))
st.download_button("Download per-customer values (CSV)", data=valuing.per_user_csv(shown),
                   file_name=f"customer_value_{settings.key}.csv", mime="text/csv", on_click="ignore",
                   icon=":material/download:")
