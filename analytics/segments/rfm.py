"""The RFM grid marketers know: recency, frequency and monetary scores (quintiles) and named cells.

Every buyer gets three scores from 1 to 5: R from how recently they bought or
visited (5 = the most recent fifth), F from how many purchases (5 = the most
frequent fifth) and M from how much they spent. The segment comes from R and F
(the classic grid; M is shown per segment):

================  =======  =======  ==============================================
segment           R        F        in words
================  =======  =======  ==============================================
Champions         5        4-5      bought recently and often
Loyal customers   3-4      4-5      buy often; not the very latest
Potential loyal.  4-5      2-3      recent, a few purchases: could become loyal
New customers     5        1        bought recently, for the first time
Promising         4        1        recent, one purchase
Need attention    3        3        average on both: could slip either way
About to sleep    3        1-2      slipping, few purchases
At risk           1-2      3-4      bought often, but long ago
Can't lose them   1-2      5        were among the best, now long gone
Hibernating       1-2      1-2      few purchases, long ago
Lost              1        1        one purchase, the longest ago
================  =======  =======  ==============================================

Users who never bought are one more segment, "No purchase yet". Ties share a
score by rank order, so every fifth holds a fifth of the buyers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.errors import NoDataError
from analytics.segments.describe import segment_kpis, segment_profiles
from analytics.segments.features import check_table
from analytics.segments.preprocessing import Preprocessing, prepare
from analytics.segments.segment import SegmentationResult

COLUMNS = ("recency_days", "frequency", "monetary")
NO_PURCHASE = "No purchase yet"


@dataclass(frozen=True)
class RfmCell:
    """One named cell of the grid: R and F score ranges (inclusive) and what they mean."""

    name: str
    r: tuple[int, int]
    f: tuple[int, int]
    meaning: str


# First match wins; together the cells cover every (R, F) pair.
GRID: tuple[RfmCell, ...] = (
    RfmCell("Champions", (5, 5), (4, 5), "bought recently and often"),
    RfmCell("Loyal customers", (3, 4), (4, 5), "buy often; not the very latest"),
    RfmCell("Potential loyalists", (4, 5), (2, 3), "recent, a few purchases: could become loyal"),
    RfmCell("New customers", (5, 5), (1, 1), "bought recently, for the first time"),
    RfmCell("Promising", (4, 4), (1, 1), "recent, one purchase"),
    RfmCell("Need attention", (3, 3), (3, 3), "average on both: could slip either way"),
    RfmCell("About to sleep", (3, 3), (1, 2), "slipping, few purchases"),
    RfmCell("Can't lose them", (1, 2), (5, 5), "were among the best, now long gone"),
    RfmCell("At risk", (1, 2), (3, 4), "bought often, but long ago"),
    RfmCell("Lost", (1, 1), (1, 1), "one purchase, the longest ago"),
    RfmCell("Hibernating", (1, 2), (1, 2), "few purchases, long ago"),
)


def grid_table() -> pd.DataFrame:
    """The grid's definitions, to show beside the result."""
    return pd.DataFrame([{"segment": c.name, "R score": _range(c.r), "F score": _range(c.f), "meaning": c.meaning}
                         for c in GRID] + [{"segment": NO_PURCHASE, "R score": "any", "F score": "no purchase",
                                            "meaning": "visited, never bought"}])


def cell_name(r: int, f: int) -> str:
    for cell in GRID:
        if cell.r[0] <= r <= cell.r[1] and cell.f[0] <= f <= cell.f[1]:
            return cell.name
    raise AssertionError((r, f))  # the grid covers every pair


def rfm_scores(features: pd.DataFrame, edges: dict | None = None) -> pd.DataFrame:
    """R, F and M scores (1-5) per buyer; non-buyers get none.

    Parameters
    ----------
    features : DataFrame
        ``user_id, recency_days, frequency`` and optionally ``monetary``.
    edges : dict, optional
        Score boundaries from an earlier call (``{"r": [...], "f": [...], "m": [...]}``);
        by default the quintiles of these buyers.

    Returns
    -------
    DataFrame
        ``user_id, r, f, m, segment_name`` and the score boundaries in ``.attrs["edges"]``.
    """
    check_table(features)
    missing = [c for c in COLUMNS[:2] if c not in features.columns]
    if missing:
        raise NoDataError(f"The RFM grid needs {', '.join(missing)} in the feature table.")
    freq = pd.to_numeric(features["frequency"], errors="coerce").fillna(0).to_numpy(dtype=float)
    buyer = freq > 0
    if edges is None and buyer.sum() < 5:
        raise NoDataError(f"The RFM grid needs at least 5 buyers to form fifths; this table has {int(buyer.sum())}.")
    # R is the time since the last purchase when the table has it (the classic definition), else since any event.
    rec_col = "days_since_last_purchase" if "days_since_last_purchase" in features.columns else "recency_days"
    rec = pd.to_numeric(features[rec_col], errors="coerce").to_numpy(dtype=float)
    money = (pd.to_numeric(features["monetary"], errors="coerce").to_numpy(dtype=float)
             if "monetary" in features.columns else np.full(len(features), np.nan))
    edges = edges or {"r": _quintile_edges(-rec[buyer]), "f": _quintile_edges(freq[buyer]),
                      "m": _quintile_edges(money[buyer])}
    out = pd.DataFrame({"user_id": features["user_id"].astype(str).to_numpy()})
    out["r"] = np.where(buyer, _score(-rec, edges["r"]), 0)
    out["f"] = np.where(buyer, _score(freq, edges["f"]), 0)
    out["m"] = np.where(buyer, _score(money, edges["m"]), 0)
    out["segment_name"] = [cell_name(r, f) if f else NO_PURCHASE for r, f in zip(out["r"], out["f"])]
    out.attrs["edges"] = edges
    return out


def rfm_segment(features: pd.DataFrame) -> SegmentationResult:
    """Segment users by the RFM grid; the result works like a K-means one (cards, profiles, save, export)."""
    scores = rfm_scores(features)
    order = [c.name for c in GRID] + [NO_PURCHASE]
    present = [n for n in order if (scores["segment_name"] == n).any()]
    labels = scores["segment_name"].map({n: i for i, n in enumerate(present)}).to_numpy(dtype=np.int64)
    columns = [c for c in COLUMNS if c in features.columns]
    prep = prepare(features, columns, Preprocessing())
    k = len(present)
    profile, means = segment_profiles(prep, labels, k)
    summary = segment_kpis(features, labels, k)
    summary.insert(1, "name", present)
    for letter in ("r", "f", "m"):
        summary[f"mean_{letter}_score"] = scores[letter].groupby(labels).mean().reindex(range(k)).to_numpy()
    summary["stability"] = np.nan
    centres = np.vstack([prep.X[labels == i].mean(axis=0) for i in range(k)])
    return SegmentationResult(
        method="rfm", k=k, columns=columns, preprocessing=Preprocessing().to_dict(), random_state=0, names=present,
        summary=summary, profile=profile, profile_means=means, centers=centres.tolist(), silhouette=float("nan"),
        silhouette_sample_size=0, stability=None,
        stability_text="RFM cells are rules on score fifths, not a clustering: stability does not apply.",
        stability_resamples=0, assignments=pd.DataFrame({"user_id": scores["user_id"], "segment": labels,
                                                          "segment_name": scores["segment_name"]}),
        notices=[f"Scores are fifths of the {int((scores['f'] > 0).sum()):,} buyers; R 5 = the most recent, "
                 "F 5 = the most purchases."], rules={"edges": scores.attrs["edges"]})


def _quintile_edges(values: np.ndarray) -> list[float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return []
    return [float(v) for v in np.quantile(values, [0.2, 0.4, 0.6, 0.8])]


def _score(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """1..5 by the quintile boundaries (a value on a boundary takes the lower score); empty values score 1."""
    if not edges:
        return np.ones(len(values), dtype=np.int64)
    scores = np.searchsorted(np.asarray(edges), values, side="left") + 1
    return np.where(np.isfinite(values), scores, 1).astype(np.int64)


def _range(bounds: tuple[int, int]) -> str:
    return str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}-{bounds[1]}"
