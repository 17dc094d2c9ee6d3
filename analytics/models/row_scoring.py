"""Scores of a few users at a time in milliseconds: the fitted pipeline's own steps on numpy rows.

:func:`~analytics.models.scoring.score` is built for tables. For one user its fixed costs
dominate (about 30-45 ms on the 2-core reference machine): a pandas frame per request,
:func:`~analytics.models.zoo.prepare_features` column by column, thread limits, and
scikit-learn validating the input at every step of the pipeline. A live service answers
single users, so :class:`RowScorer` runs the *same fitted objects* on plain arrays:

- features come as dicts (one per user) and are prepared like ``prepare_features`` does
  (:func:`~analytics.models.zoo.signed_log`, :func:`~analytics.models.zoo.text_code`);
- the column transformer's fitted parts transform their columns and are stacked in the
  transformer's own order, then the fitted classifier gives the probability;
- scikit-learn's per-call checks are off (``assume_finite``: the preparation already made
  every number finite or empty, which the imputer handles), and the copies of the fitted
  steps forget the column names they were fitted with, since arrays carry none.

Two parts still cost milliseconds per call in scikit-learn's own machinery, so they get
a faster route, each checked against the fitted step on the example rows (the step is
used as it is when they differ):

- the text part (one-hot or ordinal codes) maps each row of codes on its own, and rows
  of text repeat (a channel, a country), so its output is kept per distinct input row
  (:class:`_KeptRows`): the fitted encoder's own output, computed once per row seen;
- the number part (mean imputation with missing indicators, then optional scaling) is
  done with the fitted statistics in numpy, in the operations scikit-learn performs
  (:func:`_numbers_route`).

The scores are therefore the batch scores; the scorer checks that on example rows when it
is built and refuses (``ValueError``) a model for which they differ, so callers can fall
back to ``score``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics.models.persistence import TrainedModel
from analytics.models.zoo import MISSING_TEXT, prepare_features, signed_log, text_code

# Largest difference to batch scoring accepted by the self-check.
TOLERANCE = 1e-12


class RowScorer:
    """Score feature rows (dicts) with a fitted model, like :func:`~analytics.models.scoring.score`.

    Parameters
    ----------
    model : TrainedModel
    examples : DataFrame
        Feature rows (the model's columns) to check the scorer against ``score`` on; a few
        hundred real rows cover the categories and empty values that matter.

    Raises
    ------
    ValueError
        The model's pipeline is not a column transformer followed by a classifier, or the
        scores of ``examples`` differ from batch scoring by more than :data:`TOLERANCE`.
    """

    def __init__(self, model: TrainedModel, examples: pd.DataFrame):
        pipe = model.pipeline
        steps = dict(getattr(pipe, "named_steps", {}))
        prep, clf = steps.get("prep"), steps.get("clf")
        if prep is None or clf is None or not hasattr(prep, "transformers_"):
            raise ValueError(f"{model.name}: not a column transformer followed by a classifier")
        self.kinds = dict(model.feature_kinds)
        position = {c: i for i, c in enumerate(self.kinds)}
        X = self._prepared(examples[list(self.kinds)].to_dict("records")) if len(examples) else None
        self._parts = []
        for name, fitted, columns in prep.transformers_:
            if name == "remainder" or fitted == "drop" or not len(columns):
                continue
            cols = [position[c] for c in columns]
            plain = _without_names(fitted)
            texts = all(self.kinds[c] != "number" for c in columns)
            self._parts.append((_faster(plain, texts, None if X is None else X[:, cols]), cols))
        self._clf = _without_names(clf)
        if "n_jobs" in self._clf.get_params():
            # A few rows: dispatching them to a pool of threads costs more than scoring them.
            self._clf.set_params(n_jobs=1)
        self._check(model, examples)

    def scores(self, rows: Sequence[dict]) -> np.ndarray:
        """Probability of the positive class for each row (the model's feature columns; others ignored).

        Call it where OpenMP runs on one thread (:func:`one_thread`): gradient boosting's
        threads busy-wait, and for a few rows two of them are ten times slower than one.
        """
        from sklearn import config_context

        X = self._prepared(rows)
        with config_context(assume_finite=True, skip_parameter_validation=True):
            parts = [fitted.transform(X[:, cols]) for fitted, cols in self._parts]
            p = self._clf.predict_proba(np.hstack(parts).astype(float))[:, 1].astype(float)
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{int((~np.isfinite(p)).sum())} empty scores")
        return np.clip(p, 0.0, 1.0)

    def _prepared(self, rows: Sequence[dict]) -> np.ndarray:
        """The rows after ``prepare_features``, as one object array (numbers as floats, text as codes)."""
        X = np.empty((len(rows), len(self.kinds)), dtype=object)
        for j, (col, kind) in enumerate(self.kinds.items()):
            values = [r.get(col) for r in rows]
            if kind == "number":
                X[:, j] = signed_log(_floats(values))
            else:
                X[:, j] = [text_code(MISSING_TEXT if _empty(v) else str(v)) for v in values]
        # Every transformer was fitted on float64 columns (codes included), so give it those.
        return X.astype(float)

    def _check(self, model: TrainedModel, examples: pd.DataFrame) -> None:
        from analytics.models.fitting import positive_scores

        if examples.empty:
            raise ValueError("no example rows to check the scorer on")
        X = examples[list(self.kinds)]
        expected = positive_scores(model.pipeline, prepare_features(X, self.kinds), model.name)
        got = self.scores(X.to_dict("records"))
        worst = float(np.max(np.abs(got - expected)))
        if not worst <= TOLERANCE:
            raise ValueError(f"{model.name}: row scores differ from batch scores by {worst:.2e}")


def one_thread() -> None:
    """Run OpenMP and BLAS on one thread in this process from now on (a scoring service's setting)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _floats(values: list) -> np.ndarray:
    try:
        return np.array([np.nan if _empty(v) else v for v in values], dtype=float)
    except (TypeError, ValueError):  # text in a number column: empty, as pd.to_numeric(errors="coerce") makes it
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float,
                                                                                         na_value=np.nan)


def _empty(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


class _KeptRows:
    """A fitted row-by-row transformer with its output kept per distinct input row (at most ``limit`` rows)."""

    def __init__(self, fitted, limit: int = 100_000):
        self.fitted, self.limit = fitted, limit
        self._seen: dict[bytes, np.ndarray] = {}

    def transform(self, X: np.ndarray) -> np.ndarray:
        keys = [row.tobytes() for row in X]
        got = [self._seen.get(k) for k in keys]
        missing = [i for i, row in enumerate(got) if row is None]
        if missing:
            new = np.asarray(self.fitted.transform(X[missing]), dtype=float)
            if len(self._seen) + len(missing) > self.limit:
                self._seen = {}  # a new dict, not clear(): other threads may be reading the old one
            for i, row in zip(missing, new, strict=True):
                got[i] = self._seen[keys[i]] = row
        return np.vstack(got)


class _Route:
    """A function standing in for a fitted step's ``transform``."""

    def __init__(self, fn):
        self.transform = fn


def _numbers_route(fitted):
    """``fitted.transform`` in numpy for SimpleImputer (NaN as missing, with or without indicators) optionally
    followed by StandardScaler, with the fitted statistics; None for anything else."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in fitted.steps] if isinstance(fitted, Pipeline) else [fitted]
    imputer, scaler = steps[0], steps[1] if len(steps) == 2 else None
    if (not isinstance(imputer, SimpleImputer) or len(steps) > 2 or not np.isnan(imputer.missing_values)
            or (scaler is not None and not isinstance(scaler, StandardScaler))):
        return None
    fill = np.asarray(imputer.statistics_, dtype=float)
    flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else None

    def transform(X: np.ndarray) -> np.ndarray:
        out = np.where(np.isnan(X), fill, X)
        if flagged is not None:
            out = np.hstack([out, np.isnan(X[:, flagged]).astype(float)])
        if scaler is not None:
            if scaler.with_mean:
                out -= scaler.mean_
            if scaler.with_std:
                out /= scaler.scale_
        return out

    return transform


def _faster(fitted, texts: bool, examples: np.ndarray | None):
    """The faster route for a fitted part (see the module's notes) when it gives the fitted step's output
    on ``examples`` exactly; else the step itself."""
    from sklearn import config_context

    route = _KeptRows(fitted) if texts else (_Route(fn) if (fn := _numbers_route(fitted)) else None)
    if route is None or examples is None:
        return fitted
    with config_context(assume_finite=True, skip_parameter_validation=True):
        try:
            same = np.array_equal(np.asarray(fitted.transform(examples), dtype=float), route.transform(examples),
                                  equal_nan=True)
        except (ValueError, TypeError, AttributeError, IndexError):
            same = False
    return route if same else fitted


def _without_names(estimator):
    """A copy of a fitted step that accepts arrays without warning about missing column names."""
    est = copy.deepcopy(estimator)
    for part in [est, *[s for _, s in getattr(est, "steps", [])]]:
        if "feature_names_in_" in vars(part):  # a Pipeline only passes its first step's on
            del part.feature_names_in_
    return est
