"""Models: who will buy or leave next, which classifier answers best, and whom to target."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from analytics import models
from analytics.charts import models as model_charts
from analytics.labels import TargetDefinition, build_out_of_time_set, class_names
from analytics.models import metrics_table
from ui import modeling, state, widgets
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
with st.container(border=True):
    kind = st.radio("Target", list(KINDS), format_func=KINDS.get, horizontal=True, key=f"kind_{ds.id}")
    c1, c2, c3 = st.columns(3)
    target_event = None
    if kind == "event":
        target_event = c1.selectbox("Target event", events, key=f"target_event_{ds.id}",
                                    index=events.index(ds.purchase_event) if ds.purchase_event in events else 0)
    horizon = c2.number_input("Horizon (days)", 1, 365, 30, key=f"horizon_{ds.id}",
                              help="The label looks at the days right after the cutoff.")
    default_cutoff = (ds.ts_max - timedelta(days=int(horizon))).date()
    cutoff_date = c3.date_input("Cutoff", value=max(default_cutoff, ds.ts_min.date()), min_value=ds.ts_min.date(),
                                max_value=ds.ts_max.date(), key=f"cutoff_{ds.id}_{horizon}",
                                help="Features use only events up to the cutoff; the label only the horizon "
                                     "after it. Default: the last full horizon of the data.")
    column, positive = None, None
    if kind == "column":
        feature_cols = [c for c in widgets.stored_table(ws, ws.features_table(ds.id), limit=1).columns
                        if c != "user_id"]
        column = c1.selectbox("Column", feature_cols, key=f"column_{ds.id}")
cutoff = None if cutoff_date == default_cutoff else datetime.combine(cutoff_date, time(23, 59, 59))
target = TargetDefinition(kind=kind, target_event=target_event, horizon_days=float(horizon), cutoff=cutoff,
                          column=column)

training = None
with user_errors("Building the target"):
    with st.spinner("Computing features as of the cutoff and labels after it..."):
        training = modeling.training_set(ws, ds, target)
if training is None:
    st.stop()
neg_name, pos_name = class_names(training.target)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Users", f"{training.n_users:,}")
m2.metric(pos_name.capitalize(), f"{training.positives:,}")
m3.metric(neg_name.capitalize(), f"{training.negatives:,}")
m4.metric("Positive rate", f"{training.positive_rate:.1%}")
st.caption(widgets.plain(training.target.describe()))
for warning in training.warnings:
    st.warning(warning, icon=":material/warning:")

# --- 2. train and compare ---------------------------------------------------------------------------------
st.subheader("2. Train and compare")
catalogue = models.available_models()
names = dict(zip(catalogue["key"], catalogue["model"]))
c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
chosen = c1.multiselect("Models", list(names), default=["lr", "rf", "hgb"], format_func=names.get,
                        key="models_chosen",
                        help="SVM, k-nearest neighbours and the neural network train on a sample of large data.")
folds = c2.number_input("Folds", 2, 10, 5, key="folds")
out_of_time = c3.checkbox("Out-of-time check", key="oot",
                          help="Also train one horizon earlier and test on this cutoff: does it hold over time?")
if st.button("Train", type="primary", icon=":material/model_training:", disabled=not chosen):
    with user_errors("Training"):
        oot = build_out_of_time_set(ws, ds.id, training.target) if out_of_time else None
        chart_slot, table_slot = st.empty(), st.empty()
        finished: list[models.ModelResult] = []
        with st.status("Training...", expanded=True) as status:
            for result in models.iter_train(training, chosen, n_folds=int(folds), out_of_time=oot,
                                            progress=lambda msg, *_: status.write(msg)):
                finished.append(result)
                chart_slot.plotly_chart(model_charts.roc_chart(finished), width="stretch")
                table_slot.dataframe(metrics_table(finished), hide_index=True, width="stretch")
            status.update(label=f"Trained {len(finished)} model(s)", state="complete", expanded=False)
        modeling.store_run(ws, ds, training, finished, int(folds))
        st.rerun()

run = None
with user_errors("Loading the last training run"):
    run = modeling.current_run(ws, ds)
if run is None:
    st.info("Pick models and press Train: each ROC curve appears as soon as its model is done.",
            icon=":material/info:")
    st.stop()
run_key, meta, results, scores = run
run_target = TargetDefinition.from_dict(meta["target"])
st.caption(f"Run {run_key}: {widgets.plain(run_target.describe())}")
st.plotly_chart(model_charts.roc_chart(results), width="stretch")
st.dataframe(metrics_table(results), hide_index=True, width="stretch")
ok = [r for r in results if r.ok and r.oof_scores is not None]
if not ok:
    st.error("No model produced scores for this target; see the notes in the table.", icon=":material/error:")
    st.stop()
y = scores["label"].to_numpy()

# --- 3. a closer look ----------------------------------------------------------------------------------------
st.subheader("3. A closer look")
best = max(ok, key=lambda r: r.auc_mean)
pick = st.selectbox("Model", [r.key for r in ok], index=ok.index(best), key="deep_model",
                    format_func=lambda k: next(r.label for r in ok if r.key == k))
result = next(r for r in ok if r.key == pick)
same_target = run_target.to_dict() == training.target.to_dict()
tabs = st.tabs(["Precision-recall", "Gain and lift", "Calibration", "Threshold", "Importance", "Per segment",
                "Learning curve", "Tuning"])
with tabs[0]:
    st.plotly_chart(model_charts.pr_chart(ok), width="stretch")
    st.caption(f"Base rate {result.base_rate:.1%}: with rare positives, precision-recall says more than ROC.")
with tabs[1]:
    curves = {r.name: models.gain_lift(y, r.oof_scores) for r in ok}
    left, right = st.columns(2)
    left.plotly_chart(model_charts.gain_chart(curves), width="stretch")
    right.plotly_chart(model_charts.lift_chart(curves), width="stretch")
with tabs[2]:
    st.plotly_chart(model_charts.calibration_chart(models.calibration(y, result.oof_scores), result.name),
                    width="stretch")
with tabs[3]:
    threshold = st.slider("Threshold", 0.0, 1.0, 0.5, 0.01, key="threshold")
    cm = models.confusion_at(y, result.oof_scores, threshold)
    st.plotly_chart(model_charts.confusion_chart(cm, class_names(run_target)), width="stretch")
needs_training = "Change the target back to this run's to compute this (it needs the training data)."
with tabs[4]:
    if st.button("Compute permutation importance", key="importance", disabled=not same_target, help=needs_training):
        with user_errors("Importance"), st.spinner("Shuffling each feature in turn..."):
            st.plotly_chart(model_charts.importance_chart(
                models.permutation_importance_report(training, pick, params=result.params), name=result.name),
                width="stretch")
with tabs[5]:
    segmentations = ws.results(ds.id, "segmentation")
    if not segmentations:
        st.info("Save a segmentation on the Segments page to compare the model across segments.")
    else:
        seg_key = st.selectbox("Segmentation", [s["key"] for s in segmentations], key="perf_seg")
        with user_errors("Per-segment performance"):
            _, seg_frames = ws.result(ds.id, "segmentation", seg_key)
            labels_frame = seg_frames["labels"]
            per = models.segment_performance(training, result.oof_scores,
                                             labels_frame.set_index("user_id")["segment"]) if same_target else None
            if per is None:
                st.info(needs_training)
            else:
                st.dataframe(per, hide_index=True, width="stretch")
with tabs[6]:
    if st.button("Compute the learning curve", key="learning", disabled=not same_target, help=needs_training):
        with user_errors("Learning curve"), st.spinner("Training on growing shares of the data..."):
            lc = models.learning_curve_report(training, pick, params=result.params)
            st.plotly_chart(model_charts.learning_curve_chart(lc, result.name), width="stretch")
            st.write(lc.verdict)
with tabs[7]:
    budget = st.slider("Time budget (seconds)", 10, 600, 60, 10, key="tune_budget")
    if st.button("Tune hyperparameters", key="tune", disabled=not same_target, help=needs_training):
        with user_errors("Tuning"), st.spinner(f"Randomized search for up to {budget} s..."):
            tuned = models.tune_model(training, pick, time_budget_s=float(budget))
            a, b = st.columns(2)
            a.metric("ROC AUC before", f"{tuned.auc_before:.3f} ± {tuned.auc_before_std:.3f}")
            b.metric("ROC AUC after", f"{tuned.auc_after:.3f} ± {tuned.auc_after_std:.3f}",
                     f"{tuned.auc_after - tuned.auc_before:+.3f}")
            st.json(tuned.best_params)
            st.caption(widgets.plain(tuned.note))

# --- 4. decide with money -------------------------------------------------------------------------------------
st.subheader("4. Decide with money")
c1, c2 = st.columns(2)
cost = c1.number_input("Cost per contact", 0.0, 1e6, 1.0, 0.1, key="cost")
value = c2.number_input("Value per conversion", 0.0, 1e9, 40.0, 1.0, key="value")
with user_errors("The profit curve"):
    pc = models.profit_curve(y, result.oof_scores, cost, value)
    st.plotly_chart(model_charts.profit_chart(pc, result.name), width="stretch")
    st.caption(pc.note)
    depth = st.slider("Contact the top % of users", 0.0, 100.0, float(round(pc.best_depth_pct, 1)), 0.5,
                      key=f"depth_{run_key}_{pick}")
    if st.button("Score today's users and build the target list", icon=":material/checklist:",
                 disabled=not same_target, help=needs_training):
        with st.spinner("Fitting on all labelled users and scoring the latest data..."):
            model = modeling.fitted(training, result)
            latest = ws.features(ds.id, ws.feature_params(ds.id, **model.feature_overrides()))
            seg = ws.results(ds.id, "segmentation")
            segments = (ws.result(ds.id, "segmentation", seg[0]["key"])[1]["labels"].set_index("user_id")["segment"]
                        if seg else None)
            targets = models.target_list(models.score(model, latest), segments, top_pct=depth)
        st.session_state["target_list"] = targets
    targets = st.session_state.get("target_list")
    if targets is not None:
        st.dataframe(targets.head(1000), hide_index=True, width="stretch")
        st.download_button("Download the target list (CSV)", data=models.target_list_csv(targets),
                           file_name=f"targets_{run_key}.csv", mime="text/csv", icon=":material/download:",
                           on_click="ignore")

# --- 5. keep and reuse -------------------------------------------------------------------------------------------
st.subheader("5. Keep and reuse")
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
model_name = c1.text_input("Model name", value=f"{result.key}_{run_key}", key="model_name")
if c2.button("Save model", icon=":material/save:", disabled=not same_target, help=needs_training):
    with user_errors("Saving the model"):
        model = modeling.fitted(training, result)
        ws.save_model_files(ds.id, model_name, lambda folder: models.save_model(model, folder),
                            {"model": result.name, "target": run_target.describe(), "auc": result.auc_mean})
        st.success(f"Saved '{model_name}'.", icon=":material/check_circle:")
saved = ws.results(ds.id, "model")
if saved:
    st.dataframe(pd.DataFrame([{"name": s["key"], "model": s["meta"].get("model"), "target": s["meta"].get("target"),
                                "ROC AUC": s["meta"].get("auc"), "saved": s["created_at"]} for s in saved]),
                 hide_index=True, width="stretch", column_config={
                     "ROC AUC": st.column_config.NumberColumn(format="%.3f")})
    c1, c2 = st.columns(2)
    use = c1.selectbox("Score with saved model", [s["key"] for s in saved], key="use_model")
    others = ws.datasets()
    on = c2.selectbox("On dataset", [d.id for d in others], format_func=lambda i: next(d.name for d in others
                                                                                        if d.id == i),
                      key="score_on", help="The latest data of any dataset, e.g. a log uploaded this week.")
    if st.button("Score", icon=":material/calculate:"):
        with user_errors("Scoring"), st.spinner("Loading the model and computing features..."):
            model = models.load_model(ws.model_path(ds.id, use))
            target_ds = ws.get(on)
            feats = ws.features(target_ds.id, ws.feature_params(target_ds.id, **model.feature_overrides()))
            scored = models.target_list(models.score(model, feats))
            st.dataframe(scored.head(1000), hide_index=True, width="stretch")
            st.download_button("Download scores (CSV)", data=models.target_list_csv(scored),
                               file_name=f"scores_{use}.csv", mime="text/csv", on_click="ignore",
                               icon=":material/download:")
