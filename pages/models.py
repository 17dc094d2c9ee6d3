"""Models: who will buy or leave next, which classifier answers best, and whom to target."""

from datetime import date, datetime, time, timedelta

import streamlit as st

from analytics.charts import models as model_charts
from analytics.models import TargetDefinition, class_names
from ui import auth, featuring, modeling, reporting, settings, state, widgets
from ui.escape import plain
from ui.guard import user_errors

widgets.page_start("Models")
ws = state.workspace()
ds = widgets.require_dataset()
if not ds.has_events:
    st.caption("This log lives in the data lake: features and labels for each target are computed on Spark "
               "(each new target reads the log again).")

# --- 1. the target ----------------------------------------------------------------------------------
st.subheader("1. What to predict")
events = ds.profile.events_by_count
KINDS = {"event": "Will do an event (e.g. buy) in the next days", "churn": "Will stop coming back (churn)",
         "column": "An existing per-user column"}
k_kind, k_event, k_horizon, k_cutoff = (f"{name}_{ds.id}" for name in ("kind", "target_event", "horizon", "cutoff"))
settings.restore(k_kind, "event", url="target", valid=lambda v: v in KINDS)
settings.restore(k_event, ds.purchase_event if ds.purchase_event in events else events[0], url="event",
                 valid=lambda v: v in events)
settings.restore(k_horizon, 30, url="horizon", parse=int, valid=lambda v: 1 <= v <= 365)
with st.container(border=True):
    st.radio("Target", list(KINDS), format_func=KINDS.get, horizontal=True, key=k_kind)
    kind = settings.keep(k_kind, url="target")
    c1, c2, c3 = st.columns(3)
    target_event = None
    if kind == "event":
        c1.selectbox("Target event", events, key=k_event)
        target_event = settings.keep(k_event, url="event")
    if kind == "column":  # a column describes users as they are: features as of the last event, no window
        horizon, cutoff_date = st.session_state.get(k_horizon, 30), None
        default_cutoff = None
        c2.caption(f"Features as of the last event ({ds.ts_max:%Y-%m-%d %H:%M} UTC): a column's values describe "
                   "users as they are now, so there is no horizon or cutoff.")
    else:
        c2.number_input("Horizon (days)", 1, 365, key=k_horizon,
                        help="The label looks at the days right after the cutoff.")
        horizon = settings.keep(k_horizon, url="horizon")
        default_cutoff = max((ds.ts_max - timedelta(days=int(horizon))).date(), ds.ts_min.date())
        # The cutoff follows the horizon (the last full window) until the user picks a date of their own.
        settings.restore(k_cutoff, default_cutoff, url="cutoff", parse=date.fromisoformat,
                         valid=lambda v: ds.ts_min.date() <= v <= ds.ts_max.date())
        if "cutoff" in st.query_params and st.session_state[k_cutoff] != default_cutoff:
            settings.mark_touched(k_cutoff)()
        if not settings.touched(k_cutoff):
            st.session_state[k_cutoff] = default_cutoff
        c3.date_input("Cutoff", min_value=ds.ts_min.date(), max_value=ds.ts_max.date(), key=k_cutoff,
                      on_change=settings.mark_touched(k_cutoff),
                      help="Features use only events up to the cutoff; the label only the horizon after it. "
                           "Default: the last full horizon of the data, following the horizon until you pick a date.")
        cutoff_date = settings.keep(k_cutoff, url="cutoff" if settings.touched(k_cutoff) else None,
                                    show=lambda d: d.isoformat())
    column = None
    if kind == "column":
        feature_cols = [c for c in featuring.table(featuring.build(ds)).columns if c != "user_id"]
        column = c1.selectbox("Column", feature_cols, key=f"column_{ds.id}")
    use_value = st.checkbox("Add customer-value features (P(alive), expected purchases)", key=f"value_feats_{ds.id}",
                            disabled=not ds.has_events,
                            help="A BG/NBD model fitted on the purchases up to the cutoff (never after it) gives each "
                                 "buyer the probability they are still a customer and their expected purchases over "
                                 "the horizon. Train with and without them: the ROC curves show whether they help. "
                                 "Saved models compute them again as of the scoring date.")
cutoff = None if cutoff_date == default_cutoff else datetime.combine(cutoff_date, time(23, 59, 59))
target = TargetDefinition(kind=kind, target_event=target_event, horizon_days=float(horizon), cutoff=cutoff,
                          column=column)

training = None
with user_errors("Building the target"):
    with st.spinner("Computing features as of the cutoff and labels after it..."):
        training = modeling.training_set(ds, target, value_features=use_value)
if training is None:
    st.stop()
neg_name, pos_name = class_names(training.target)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Users", f"{training.n_users:,}")
# First letter up, the rest as in the data (str.capitalize made 'Order_iOS' 'Order_ios' and 'VIP' 'vip').
m2.metric(plain(pos_name[:1].upper() + pos_name[1:]), f"{training.positives:,}")
m3.metric(plain(neg_name[:1].upper() + neg_name[1:]), f"{training.negatives:,}")
m4.metric("Positive rate", f"{training.positive_rate:.1%}")
st.caption(plain(training.target.describe()))
value_note = modeling.value_features_used(training)
if value_note:
    st.caption(plain(value_note))
for warning in training.warnings:
    st.warning(plain(warning), icon=":material/warning:")

# --- 2. train and compare ---------------------------------------------------------------------------------
st.subheader("2. Train and compare")
names = modeling.catalogue()
c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
chosen = c1.multiselect("Models", list(names), default=["lr", "rf", "hgb"], format_func=names.get,
                        key="models_chosen",
                        help="SVM, k-nearest neighbours and the neural network train on a sample of large data. "
                             "The sequence models read each user's events in order instead of the feature table.")
for note in modeling.model_notes(chosen):
    st.caption(plain(note))
if unavailable := modeling.unavailable_note():
    st.caption(plain(unavailable))
folds = c2.number_input("Folds", 2, 10, 5, key="folds")
out_of_time = c3.checkbox("Out-of-time check", key="oot",
                          help="Also train one horizon earlier and test on this cutoff: does it hold over time?")
if st.button("Train", type="primary", icon=":material/model_training:", disabled=not chosen):
    with user_errors("Training"):
        chart_slot, table_slot = st.empty(), st.empty()
        finished = []
        with widgets.progress_box("Training...") as (status, say):
            st.button("Stop", key="stop_training", icon=":material/stop_circle:",
                      help="Stop training (the models finished so far are not kept)")

            def draw_partial(partial) -> None:
                chart_slot.plotly_chart(model_charts.roc_chart([*finished, partial]), width="stretch")

            for result in modeling.train(ds, training, chosen, int(folds), out_of_time, progress=say,
                                         on_fold=draw_partial):
                finished.append(result)
                chart_slot.plotly_chart(model_charts.roc_chart(finished), width="stretch")
                widgets.table(modeling.results_table(finished), where=table_slot)
            status.update(label=f"Trained {len(finished)} model(s)", state="complete", expanded=False)
        modeling.store_run(ds, training, finished, int(folds))
        st.rerun()

run = None
with user_errors("Loading the last training run"):
    run = modeling.current_run(ds)
if run is None:
    st.info("Pick models and press Train: each ROC curve appears as soon as its model is done.",
            icon=":material/info:")
    st.stop()
st.caption(f"Run {run.key}: {plain(run.target.describe())}"
           + (" With customer-value features." if run.value_features else ""))
same_target = modeling.same_setup(run, training)
if not same_target:
    st.warning(f"The results below are those of the last run, trained for another target: "
               f"{plain(run.target.describe())} The target above differs (or the customer-value option): press "
               "**Train** for models of the target on screen.", icon=":material/history:")
compared = modeling.compared_run(ds, run)
if compared:
    st.caption(plain(compared))
st.plotly_chart(model_charts.roc_chart(run.results), width="stretch")
widgets.table(modeling.results_table(run.results))
if checked := [line for r in run.results if (line := r.out_of_time_line())]:
    st.markdown("**Out-of-time check** (does it hold over time? each model trained one horizon earlier and "
                "tested on this cutoff):\n" + "\n".join(f"- {plain(line)}" for line in checked))
ok = run.usable
if not ok:
    st.error("No model produced scores for this target; see the notes in the table.", icon=":material/error:")
    st.stop()

# --- 3. a closer look ----------------------------------------------------------------------------------------
st.subheader("3. A closer look")
best = max(ok, key=lambda r: r.auc_mean)
pick = st.selectbox("Model", [r.key for r in ok], index=ok.index(best), key="deep_model",
                    format_func=lambda k: next(r.label for r in ok if r.key == k))
result = next(r for r in ok if r.key == pick)
tabs = st.tabs(["Precision-recall", "Gain and lift", "Calibration", "Threshold", "Importance", "Per segment",
                "Learning curve", "Tuning"])
with tabs[0]:
    st.plotly_chart(model_charts.pr_chart(ok), width="stretch")
    st.caption(f"Base rate {result.base_rate:.1%}: a model that guesses at random has this precision at every "
               "recall; the higher the curve above it, the better the model finds positives.")
with tabs[1]:
    curves = modeling.gain_curves(run)
    left, right = st.columns(2)
    left.plotly_chart(model_charts.gain_chart(curves), width="stretch")
    right.plotly_chart(model_charts.lift_chart(curves), width="stretch")
with tabs[2]:
    st.plotly_chart(model_charts.calibration_chart(modeling.calibration(run, result), result.name), width="stretch")


@st.fragment
def threshold_view() -> None:
    """Moving the threshold redraws only this chart."""
    threshold = st.slider("Threshold", 0.0, 1.0, 0.5, 0.01, key="threshold")
    st.plotly_chart(model_charts.confusion_chart(modeling.confusion(run, result, threshold), class_names(run.target)),
                    width="stretch")


with tabs[3]:
    threshold_view()
needs_training = ("Change the target (and the customer-value option) back to this run's to compute this (it needs "
                  "the training data).")
with tabs[4]:
    if st.button("Compute permutation importance", key="importance", disabled=not same_target, help=needs_training):
        with user_errors("Importance"):
            widgets.long_step("Permutation importance",
                              lambda say: modeling.importance(training, run, result, progress=say), key="importance")
    found = modeling.last_importance(run, result)
    if found is not None:
        st.plotly_chart(model_charts.importance_chart(found, name=result.name), width="stretch")
with tabs[5]:
    segmentations = modeling.segment_choices(ds)
    if not segmentations:
        st.info("Save a segmentation on the Segments page, or an audience on the Journeys page, to compare the "
                "model across segments.")
    elif not same_target:
        st.info(needs_training)
    else:
        seg_choice = st.selectbox("Segmentation", segmentations, key="perf_seg",
                                  format_func=lambda c: modeling.segment_choice_label(ds, c))
        with user_errors("Per-segment performance"):
            widgets.table(modeling.segment_performance(ds, training, result, seg_choice))
            st.caption("A saved segmentation's users are placed again by their features as of the cutoff, not "
                       "by their latest ones, which include the days the label looks at. An audience is used as "
                       "saved: if it was picked with later events, its numbers can look better than they are.")
with tabs[6]:
    if st.button("Compute the learning curve", key="learning", disabled=not same_target, help=needs_training):
        with user_errors("Learning curve"):
            widgets.long_step("Learning curve",
                              lambda say: modeling.learning_curve(training, run, result, progress=say), key="learning")
    lc = modeling.last_learning_curve(run, result)
    if lc is not None:
        st.plotly_chart(model_charts.learning_curve_chart(lc, result.name), width="stretch")
        st.write(plain(lc.verdict))
with tabs[7]:
    budget = st.slider("Time budget (seconds)", 10, 600, 60, 10, key="tune_budget")
    if st.button("Tune hyperparameters", key="tune", disabled=not same_target, help=needs_training):
        with user_errors("Tuning"):
            widgets.long_step(f"Randomized search for up to {budget} s",
                              lambda say: modeling.tune(training, run, result, budget, progress=say), key="tune")
    tuned = modeling.last_tuning(run, result)
    if tuned is not None:
        a, b = st.columns(2)
        a.metric("ROC AUC before", f"{tuned.auc_before:.3f} ± {tuned.auc_before_std:.3f}")
        b.metric("ROC AUC after", f"{tuned.auc_after:.3f} ± {tuned.auc_after_std:.3f}",
                 f"{tuned.auc_after - tuned.auc_before:+.3f}")
        st.json(tuned.best_params)
        st.caption(plain(tuned.note))

# --- 4. decide with money -------------------------------------------------------------------------------------
st.subheader("4. Decide with money")
if note := result.chance_note():
    st.warning(plain(note) + ": its scores carry little signal, so the advice below would mostly contact people at "
               "random. The features may not carry the signal for this target: try another target or horizon, "
               "more history, or other attributes.", icon=":material/warning:")


@st.fragment
def money_view() -> None:
    """Cost, value, depth and the target list: moving them redraws only this section."""
    c1, c2 = st.columns(2)
    money = reporting.money_settings()  # starts from the last values: Streamlit drops a widget's state off its page
    cost = c1.number_input("Cost per contact", 0.0, 1e6, money["cost"], 0.1, key="cost")
    value = c2.number_input(f"Value per {modeling.outcome(run)}", 0.0, 1e9, money["value"], 1.0, key="value",
                            help="What one positive user reached is worth; for churn, what keeping a customer is "
                                 "worth times the share of the reached churners an offer keeps.")
    reporting.remember_money(cost, value)  # the sidebar's report reads them when it is made
    with user_errors("The profit curve"):
        pc = modeling.profit(run, result, cost, value)
        best_depth = round(pc.best_depth_pct, 1)  # on the slider's 0.1 steps, as the caption says it
        st.plotly_chart(model_charts.profit_chart(pc, result.name), width="stretch")
        st.caption(pc.note)
        k_depth = f"depth_{ds.id}_{run.key}_{pick}"
        # The depth follows the best one (as costs change) until the user moves it.
        if not settings.touched(k_depth):
            st.session_state[k_depth] = best_depth
        left, right = st.columns([4, 1], vertical_alignment="bottom")
        depth = left.slider("Contact the top % of users", 0.0, 100.0, step=0.1, format="%.1f%%", key=k_depth,
                            on_change=settings.mark_touched(k_depth))
        if settings.touched(k_depth) and depth != best_depth and right.button(
                f"Back to the best ({best_depth:g}%)", key=f"best_{k_depth}"):
            settings.untouch(k_depth)
            st.rerun(scope="fragment")
        if st.button("Score today's users and build the target list", icon=":material/checklist:",
                     disabled=not same_target, help=needs_training):
            with st.spinner("Fitting on all labelled users and scoring the latest data..."):
                modeling.build_target_list(ds, training, run, result, depth)
        targets = modeling.last_target_list(run, result, depth)
        if targets is not None:
            st.caption(f"The top {depth:g}% of today's users: {len(targets):,} users, best first.")
            widgets.table(targets.head(1000))
            st.download_button("Download the target list (CSV)", data=modeling.targets_csv(targets),
                               file_name=f"targets_{run.key}_{pick}_top{depth:g}.csv", mime="text/csv",
                               icon=":material/download:", on_click="ignore")


money_view()

# --- 5. keep and reuse -------------------------------------------------------------------------------------------
st.subheader("5. Keep and reuse")
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
# Keyed by the run and model: another model or target starts from its own name, not the last one typed.
model_name = c1.text_input("Model name", value=f"{result.key}_{run.key}",
                           key=f"model_name_{ds.id}_{run.key}_{result.key}")
saved = modeling.saved_models(ds)
widgets.already_saved_caption(model_name, set(saved["name"]) if len(saved) else set(), "model")
if c2.button("Save model", icon=":material/save:", disabled=not (same_target and auth.can_edit()),
             help=needs_training if auth.can_edit() else auth.READ_ONLY_HELP):
    with user_errors("Saving the model"):
        modeling.save_model(ds, training, run, result, model_name)
        st.success(f"Saved as '{plain(widgets.stored_name(model_name))}'.", icon=":material/check_circle:")
        saved = modeling.saved_models(ds)
if len(saved):
    widgets.table(saved, column_config={
        "ROC AUC": st.column_config.NumberColumn(format="%.3f")})
    c1, c2 = st.columns(2)
    use = c1.selectbox("Score with saved model", list(saved["name"]), key="use_model")
    others = ws.datasets()
    on = c2.selectbox("On dataset", [d.id for d in others], format_func=lambda i: next(d.name for d in others
                                                                                        if d.id == i),
                      key="score_on", help="The latest data of any dataset, e.g. a log uploaded this week.")
    if st.button("Score", icon=":material/calculate:"):
        with user_errors("Scoring"), st.spinner("Loading the model and computing features..."):
            modeling.score_with_saved(ds, use, on)
    scored = modeling.last_scores(ds, use, on)
    if scored is not None:
        widgets.table(scored.head(1000))
        st.download_button("Download scores (CSV)", data=modeling.targets_csv(scored),
                           file_name=f"scores_{use}.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:")
