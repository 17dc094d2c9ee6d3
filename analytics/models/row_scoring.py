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

Nothing is re-implemented, so the scores are the batch scores; the scorer still checks
that on example rows when it is built and refuses (``ValueError``) a model for which they
differ, so callers can fall back to ``score``.
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
        self._parts = [(_without_names(fitted), [position[c] for c in columns])
                       for name, fitted, columns in prep.transformers_
                       if name != "remainder" and fitted != "drop" and len(columns)]
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


def _without_names(estimator):
    """A copy of a fitted step that accepts arrays without warning about missing column names."""
    est = copy.deepcopy(estimator)
    for part in [est, *[s for _, s in getattr(est, "steps", [])]]:
        if "feature_names_in_" in vars(part):  # a Pipeline only passes its first step's on
            del part.feature_names_in_
    return est
