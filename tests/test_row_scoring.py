"""The row scorer gives batch scores for feature rows given as dicts, messy values included, for every zoo model."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analytics import models as M
from analytics.models.row_scoring import RowScorer
from analytics.models.training_set import build_training_set


@pytest.fixture(scope="module")
def training(sample_template, tmp_path_factory):
    from analytics.workspace import Workspace

    root = tmp_path_factory.mktemp("rows") / "ws"
    shutil.copytree(sample_template.root, root)
    ws = Workspace(root)
    yield build_training_set(ws, sample_template.dataset_id)
    ws.close()


def _messy_rows(X: pd.DataFrame, kinds: dict) -> pd.DataFrame:
    """Rows as a live feed may give them: empty values, infinities, unseen and empty text, text in a number."""
    rows = X.iloc[:12].copy().astype(object)
    num = [c for c, k in kinds.items() if k == "number"]
    txt = [c for c, k in kinds.items() if k == "text"]
    rows.iloc[0, rows.columns.get_loc(num[0])] = None
    rows.iloc[1, rows.columns.get_loc(num[1])] = float("inf")
    rows.iloc[2, rows.columns.get_loc(num[2])] = -float("inf")
    rows.iloc[3, rows.columns.get_loc(num[0])] = "not a number"
    rows.iloc[4, rows.columns.get_loc(num[3])] = np.nan
    if txt:
        rows.iloc[5, rows.columns.get_loc(txt[0])] = "a value never seen in training"
        rows.iloc[6, rows.columns.get_loc(txt[0])] = None
    return rows


@pytest.mark.parametrize("key", ["lr", "hgb", "rf", "tree", "nb"])
def test_row_scores_equal_batch_scores(training, key):
    model = M.fit_model(training, key)
    scorer = RowScorer(model, training.X.iloc[:300])
    rows = _messy_rows(training.X, model.feature_kinds)
    want = M.score(model, rows.assign(user_id=[f"u{i}" for i in range(len(rows))]))["score"].to_numpy()
    got = scorer.scores(rows.to_dict("records"))
    assert np.abs(got - want).max() <= 1e-12
    assert len(set(np.round(got, 9))) > 1  # real scores, not one constant


def test_a_scorer_that_disagrees_with_batch_scoring_is_refused(training, monkeypatch):
    model = M.fit_model(training, "lr")
    # A pipeline whose classifier is not the one batch scoring uses: the self-check must catch it.
    monkeypatch.setattr(RowScorer, "_prepared", lambda self, rows: np.zeros((len(rows), len(self.kinds))))
    with pytest.raises(ValueError, match="differ from batch scores"):
        RowScorer(model, training.X.iloc[:200])


def test_the_fast_routes_are_taken_and_exact_when_rows_repeat_and_the_kept_rows_overflow(training):
    from analytics.models.row_scoring import _KeptRows

    model = M.fit_model(training, "lr")
    scorer = RowScorer(model, training.X.iloc[:300])
    # The zoo's logistic regression: one-hot text and imputed, scaled numbers, both on their fast route.
    assert sorted(type(part).__name__ for part, _ in scorer._parts) == ["_KeptRows", "_Route"]
    kept = next(part for part, _ in scorer._parts if isinstance(part, _KeptRows))
    kept.limit = 3  # overflow at once: outputs are computed again, never mixed up
    rows = _messy_rows(training.X, model.feature_kinds)
    want = M.score(model, rows.assign(user_id=[f"u{i}" for i in range(len(rows))]))["score"].to_numpy()
    for _ in range(2):  # the second time from the kept rows
        for i, row in enumerate(rows.to_dict("records")):
            assert abs(scorer.scores([row])[0] - want[i]) <= 1e-12
    assert len(kept._seen) <= 3


def test_a_fast_route_that_disagrees_with_the_fitted_step_is_not_taken(training, monkeypatch):
    from analytics.models import row_scoring

    model = M.fit_model(training, "lr")
    monkeypatch.setattr(row_scoring, "_numbers_route", lambda fitted: lambda X: np.zeros((len(X), 1)))
    scorer = RowScorer(model, training.X.iloc[:300])
    assert "_Route" not in [type(part).__name__ for part, _ in scorer._parts]
    rows = training.X.iloc[:20]
    want = M.score(model, rows.assign(user_id=[f"u{i}" for i in range(len(rows))]))["score"].to_numpy()
    assert np.abs(scorer.scores(rows.to_dict("records")) - want).max() <= 1e-12
