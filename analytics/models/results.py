"""Cross-validated results of models, as small dataclasses that round-trip through JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.jsonable import json_safe, rounded
from analytics.models.training_set import TrainingSet

# A model whose AUC minus its fold spread is at or below this ranks within noise of a coin toss.
NEAR_CHANCE_AUC = 0.55


@dataclass
class Curve:
    """Points of a curve, at most a few hundred (enough to draw, small to store)."""

    x: np.ndarray
    y: np.ndarray

    def to_dict(self) -> dict:
        return {"x": [round(float(v), 6) for v in self.x], "y": [round(float(v), 6) for v in self.y]}


@dataclass
class OutOfTimeResult:
    """Fitted on the earlier cutoff, tested on the later one."""

    train_cutoff: datetime
    test_cutoff: datetime
    n_train: int
    n_test: int
    auc: float | None
    average_precision: float | None
    note: str = ""


@dataclass
class ModelResult:
    """Cross-validated performance of one model.

    Attributes
    ----------
    key, name : str
    auc_mean, auc_std : float or None
        ROC AUC over the folds (None, with a note, if no fold had both classes).
    auc_folds : list of float
    average_precision, ap_std : float or None
        Average precision (area under the precision-recall curve) over folds;
        compare it with ``base_rate``, its value for random scores.
    log_loss : float or None
    auc_pooled : float or None
        AUC of all out-of-fold scores together: the AUC of the drawn curve.
    base_rate : float
        Share of positives.
    fit_seconds, seconds : float
        Time spent fitting (all folds) and in total.
    n_users, n_folds : int
    train_rows : int
        Users each fold was fitted on (less than the fold when sampled).
    sample_note : str or None
        Set when the model trained on a sample (slow models on large data).
    oof_scores : ndarray or None
        Out-of-fold score of every user, aligned with the training set.
    roc, pr : Curve or None
        ROC (x = false positive rate, y = true positive rate) and precision-
        recall (x = recall, y = precision) of the out-of-fold scores.
    params : dict
        The classifier's hyperparameters that were set explicitly.
    out_of_time : OutOfTimeResult or None
    notes : list of str
    error : str or None
        Why the model failed; then the metrics are None.
    """

    key: str
    name: str
    auc_mean: float | None = None
    auc_std: float | None = None
    auc_folds: list[float] = field(default_factory=list)
    average_precision: float | None = None
    ap_std: float | None = None
    log_loss: float | None = None
    auc_pooled: float | None = None
    base_rate: float = 0.0
    fit_seconds: float = 0.0
    seconds: float = 0.0
    n_users: int = 0
    n_folds: int = 0
    train_rows: int = 0
    sample_note: str | None = None
    oof_scores: np.ndarray | None = None
    roc: Curve | None = None
    pr: Curve | None = None
    params: dict = field(default_factory=dict)
    out_of_time: OutOfTimeResult | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.auc_mean is not None

    @property
    def near_chance(self) -> bool:
        """Its ranking is within noise of random: the fold spread reaches down to AUC 0.55 (or AUC is undefined).

        Advice built on such scores (whom to contact, how many) would mostly pick people at random.
        """
        return self.auc_mean is None or self.auc_mean - (self.auc_std or 0.0) <= NEAR_CHANCE_AUC

    def chance_note(self) -> str | None:
        """How its ranking compares with chance, when that is the story (:attr:`near_chance`), else None."""
        if self.auc_mean is None or not self.near_chance:
            return None
        auc = f"ROC AUC {self.auc_mean:.3f} ± {self.auc_std or 0:.3f}"
        if self.auc_mean + (self.auc_std or 0.0) < 0.5:  # below chance even at the top of its fold spread
            return (f"{self.name} ranks users worse than chance ({auc}): its ranking is inverted, those it scores "
                    "highest are the least likely")
        return f"{self.name} ranks users {'barely better than' if self.auc_mean >= 0.5 else 'no better than'} " \
               f"chance ({auc})"

    def out_of_time_line(self) -> str | None:
        """The out-of-time check in one line (trained one horizon earlier, tested on this cutoff), or None."""
        o = self.out_of_time
        if o is None:
            return None
        num = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        return (f"{self.name}: trained up to {o.train_cutoff:%Y-%m-%d}, tested on {o.test_cutoff:%Y-%m-%d}: ROC AUC "
                f"{num(o.auc)}, average precision {num(o.average_precision)}" + (f" ({o.note})" if o.note else ""))

    @property
    def label(self) -> str:
        """Legend text: name and AUC mean +- std."""
        if self.error:
            return f"{self.name} (failed)"
        if self.auc_mean is None:
            return f"{self.name} (AUC not defined)"
        return f"{self.name} (AUC {self.auc_mean:.3f} ± {self.auc_std or 0:.3f})"

    def metrics(self) -> dict:
        """The numbers of this result as plain JSON values (no curves, no scores)."""
        d = {"model": self.key, "name": self.name, "roc_auc_mean": rounded(self.auc_mean),
             "roc_auc_std": rounded(self.auc_std), "roc_auc_folds": [rounded(v) for v in self.auc_folds],
             "average_precision": rounded(self.average_precision), "average_precision_std": rounded(self.ap_std),
             "base_rate": rounded(self.base_rate), "log_loss": rounded(self.log_loss),
             "roc_auc_pooled": rounded(self.auc_pooled),
             "fit_seconds": round(self.fit_seconds, 3), "seconds": round(self.seconds, 3),
             "n_users": self.n_users, "n_folds": self.n_folds, "train_rows": self.train_rows,
             "sample_note": self.sample_note, "params": json_safe(self.params), "notes": list(self.notes),
             "error": self.error}
        if self.out_of_time:
            o = self.out_of_time
            d["out_of_time"] = {"train_cutoff": o.train_cutoff.isoformat(), "test_cutoff": o.test_cutoff.isoformat(),
                                "roc_auc": rounded(o.auc), "average_precision": rounded(o.average_precision),
                                "n_train": o.n_train, "n_test": o.n_test, "note": o.note}
        return d


    def to_dict(self) -> dict:
        """:meth:`metrics` plus the ROC and PR curve points: all a page needs to redraw it, as JSON.

        The out-of-fold scores are left out (one float per user); store them as
        a table (:meth:`ModelReport.scores_frame`) and pass them back to
        :meth:`from_dict`.
        """
        return self.metrics() | {"roc": self.roc.to_dict() if self.roc else None,
                                 "pr": self.pr.to_dict() if self.pr else None}

    @classmethod
    def from_dict(cls, d: dict, oof_scores: np.ndarray | None = None) -> ModelResult:
        """The inverse of :meth:`to_dict` (scores optional)."""
        def curve(c: dict | None) -> Curve | None:
            return Curve(np.asarray(c["x"], dtype=float), np.asarray(c["y"], dtype=float)) if c else None

        o = d.get("out_of_time")
        oot = OutOfTimeResult(train_cutoff=datetime.fromisoformat(o["train_cutoff"]),
                              test_cutoff=datetime.fromisoformat(o["test_cutoff"]), n_train=o["n_train"],
                              n_test=o["n_test"], auc=o["roc_auc"], average_precision=o["average_precision"],
                              note=o.get("note", "")) if o else None
        return cls(key=d["model"], name=d["name"], auc_mean=d["roc_auc_mean"], auc_std=d["roc_auc_std"],
                   auc_folds=list(d.get("roc_auc_folds") or []), average_precision=d["average_precision"],
                   ap_std=d["average_precision_std"], log_loss=d["log_loss"], auc_pooled=d["roc_auc_pooled"],
                   base_rate=d["base_rate"] or 0.0, fit_seconds=d["fit_seconds"], seconds=d["seconds"],
                   n_users=d["n_users"], n_folds=d["n_folds"], train_rows=d["train_rows"],
                   sample_note=d.get("sample_note"), oof_scores=oof_scores, roc=curve(d.get("roc")),
                   pr=curve(d.get("pr")), params=dict(d.get("params") or {}), out_of_time=oot,
                   notes=list(d.get("notes") or []), error=d.get("error"))


@dataclass
class ModelReport:
    """All models of one training run."""

    results: list[ModelResult]
    training: dict
    n_folds: int
    random_state: int

    @property
    def best(self) -> ModelResult | None:
        """The model with the highest mean ROC AUC (ties: the faster one)."""
        ok = [r for r in self.results if r.ok]
        return max(ok, key=lambda r: (r.auc_mean, -r.seconds)) if ok else None

    def get(self, key: str) -> ModelResult:
        for r in self.results:
            if r.key == key:
                return r
        raise InvalidParameterError(f"Model '{key}' is not in this report; it has: "
                                    f"{', '.join(r.key for r in self.results)}.")

    def table(self) -> pd.DataFrame:
        return metrics_table(self.results)

    def scores_frame(self, training: TrainingSet) -> pd.DataFrame:
        """Out-of-fold scores as a table: ``user_id``, ``label`` and one column per model key.

        Models without scores (failed) have no column. Store it next to
        :meth:`to_dict`/``ModelResult.to_dict`` to redraw gain, calibration and
        profit without retraining.
        """
        out = pd.DataFrame({"user_id": training.user_ids, "label": training.y})
        for r in self.results:
            if r.oof_scores is not None:
                if len(r.oof_scores) != len(out):
                    raise InvalidParameterError("These results were computed on another training set.")
                out[r.key] = r.oof_scores
        return out

    def to_dict(self) -> dict:
        """JSON for ``analytics train --json``: counts, per-model metrics, best model."""
        best = self.best
        return {"n_users": self.training.get("users"), "positives": self.training.get("positives"),
                "positive_rate": self.training.get("positive_rate"), "target": self.training.get("target"),
                "n_folds": self.n_folds, "models": [r.metrics() for r in self.results],
                "best_model": best.key if best else None}


def metrics_table(results: Sequence[ModelResult]) -> pd.DataFrame:
    """One row per model for display: metrics rounded, empty text instead of undefined numbers.

    Numbers are kept as text so an undefined metric shows as "—", never as NaN.
    """
    rows = []
    for r in results:
        rows.append({
            "model": r.name,
            "ROC AUC": "—" if r.auc_mean is None else f"{r.auc_mean:.3f} ± {r.auc_std or 0:.3f}",
            "avg precision": "—" if r.average_precision is None else f"{r.average_precision:.3f}",
            "base rate": f"{r.base_rate:.3f}",
            "log loss": "—" if r.log_loss is None else f"{r.log_loss:.3f}",
            "fit time (s)": f"{r.fit_seconds:.1f}",
            "note": "; ".join([*([r.error] if r.error else []), *([r.sample_note] if r.sample_note else []),
                               *r.notes]),
        })
    return pd.DataFrame(rows, columns=["model", "ROC AUC", "avg precision", "base rate", "log loss",
                                       "fit time (s)", "note"])
