"""Classifiers: who will buy or leave next, which model answers best, and whom to target.

One module per job: ``targets`` (what to predict), ``training_set`` (features as
of the cutoff, labels after it), ``customer_value`` (P(alive) and expected
purchases as optional features), ``leakage``, ``zoo`` (the models), ``fitting``
(the one fit recipe), ``training`` (cross-validation), ``results``, ``curves``,
``diagnostics`` (importance, per segment, learning curve), ``tuning``,
``economics`` (profit, target list), ``persistence`` (skops files) and
``scoring``. The sequence models (``seq``, ``agg+seq``) live in
:mod:`analytics.sequences` and join the catalogue here. The names below are the public API.
"""

from __future__ import annotations

from analytics.models.curves import (
    CalibrationCurve,
    ConfusionResult,
    GainLift,
    calibration,
    confusion_at,
    gain_lift,
    pr_points,
    roc_points,
)
from analytics.models.customer_value import ValueFeatures
from analytics.models.diagnostics import (
    ImportanceResult,
    LearningCurveResult,
    learning_curve_report,
    permutation_importance_report,
    segment_performance,
)
from analytics.models.economics import OUTCOMES, ProfitCurve, profit_curve, target_list, target_list_csv
from analytics.models.leakage import LEAKAGE_AUC, LeakageFinding, check_leakage
from analytics.models.persistence import (
    TRUSTED_TYPES,
    TrainedModel,
    fit_model,
    library_versions,
    load_model,
    read_metadata,
    save_model,
)
from analytics.models.results import Curve, ModelReport, ModelResult, OutOfTimeResult, metrics_table
from analytics.models.scoring import score, score_dataset
from analytics.models.targets import KINDS, TargetDefinition, class_names, resolve_target, to_naive_utc
from analytics.models.training import iter_train, train_models
from analytics.models.training_set import TrainingSet, build_out_of_time_set, build_training_set, check_classes
from analytics.models.tuning import TuningResult, search_space, tune_model
from analytics.models.zoo import (
    AGGREGATE_MODELS,
    DEFAULT_MODELS,
    MODELS,
    SAMPLE_CAPS,
    SEQUENCE_MODELS,
    available_models,
    feature_kinds,
    make_pipeline,
    prepare_features,
)

__all__ = ["AGGREGATE_MODELS", "DEFAULT_MODELS", "KINDS", "LEAKAGE_AUC", "MODELS", "OUTCOMES", "SAMPLE_CAPS",
           "SEQUENCE_MODELS", "TRUSTED_TYPES", "CalibrationCurve",
           "ConfusionResult", "Curve", "GainLift", "ImportanceResult", "LeakageFinding", "LearningCurveResult",
           "ModelReport", "ModelResult", "OutOfTimeResult", "ProfitCurve", "TargetDefinition", "TrainedModel",
           "TrainingSet", "TuningResult", "ValueFeatures", "available_models", "build_out_of_time_set",
           "build_training_set", "calibration", "check_classes", "check_leakage", "class_names", "confusion_at",
           "feature_kinds", "fit_model", "gain_lift", "iter_train", "learning_curve_report", "library_versions",
           "load_model", "make_pipeline", "metrics_table", "permutation_importance_report", "pr_points",
           "prepare_features", "profit_curve", "read_metadata", "resolve_target", "roc_points", "save_model", "score",
           "score_dataset", "search_space", "segment_performance", "target_list", "target_list_csv", "to_naive_utc",
           "train_models", "tune_model"]
