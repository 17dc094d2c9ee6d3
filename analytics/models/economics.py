"""Deciding with money: profit over targeting depth, and the ranked target list."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.models.curves import check_scores, cumulative_positives
from analytics.wording import count

# What a positive user reached is worth money as, per kind of target (singular, plural): reaching a
# future churner is a chance to keep them, not a conversion.
OUTCOMES = {"event": ("conversion", "conversions"), "churn": ("churner reached", "churners reached"),
            "column": ("positive user reached", "positive users reached")}


@dataclass
class ProfitCurve:
    """Campaign profit when contacting the top share of users by score.

    ``profit = value_per_conversion * positives reached - cost_per_contact * contacted``.
    It counts every positive reached as earned by the campaign (no uplift
    model: people who would have bought anyway count too), so read it as an
    upper bound of the campaign's effect.
    """

    depth_pct: np.ndarray  # share of users contacted, 0..100
    contacted: np.ndarray
    conversions: np.ndarray
    profit: np.ndarray
    best_depth_pct: float
    best_contacted: int
    best_conversions: int
    best_profit: float
    cost_per_contact: float
    value_per_conversion: float
    n_users: int
    note: str
    target_kind: str = "event"

    @property
    def outcome(self) -> tuple[str, str]:
        """What a positive user reached is called, singular and plural (:data:`OUTCOMES`)."""
        return OUTCOMES.get(self.target_kind, OUTCOMES["event"])


def profit_curve(y: np.ndarray, scores: np.ndarray, cost_per_contact: float, value_per_conversion: float,
                 max_points: int = 201, target_kind: str = "event") -> ProfitCurve:
    """Profit over targeting depth (top x % by score) and the most profitable depth.

    The best depth is found exactly over every possible cut (users with equal
    scores are contacted together); the returned curve is thinned to
    ``max_points`` for drawing. Contacting nobody (depth 0, profit 0) is a
    candidate: when no depth makes money, the best depth is 0.

    Parameters
    ----------
    y : array of 0/1
        Who converted (e.g. the training labels).
    scores : array
        Scores of the same users (e.g. out-of-fold scores).
    cost_per_contact, value_per_conversion : float
        Money per contacted user and per conversion (>= 0, same currency).
    target_kind : {"event", "churn", "column"}
        What the positives are, for the wording (:data:`OUTCOMES`): for churn, the value is
        that of reaching a future churner (keeping one, times the share an offer keeps).
    """
    for name, v in (("cost_per_contact", cost_per_contact), ("value_per_conversion", value_per_conversion)):
        if not (isinstance(v, (int, float, np.number)) and np.isfinite(v) and v >= 0):
            raise InvalidParameterError(f"{name} must be a number of 0 or more, got {v!r}.")
    y, scores = check_scores(y, scores, need_both=False)
    n_at, pos_at = cumulative_positives(y, scores)
    profit = value_per_conversion * pos_at - cost_per_contact * n_at
    best = int(np.argmax(profit))  # first maximum: the smallest depth reaching the best profit
    keep = np.unique(np.r_[np.round(np.linspace(0, len(n_at) - 1, max_points)).astype(int), best])
    depth = 100.0 * n_at / len(y)
    one, many = OUTCOMES.get(target_kind, OUTCOMES["event"])
    note = (f"Best: contact the top {depth[best]:.1f}% ({count(n_at[best], 'user')}), expected "
            f"{count(int(pos_at[best]), one, many)}, profit {profit[best]:,.2f}." if n_at[best] > 0 else
            "No targeting depth makes a profit at these costs: contacting nobody is best.")
    return ProfitCurve(depth_pct=depth[keep], contacted=n_at[keep].astype(int), conversions=pos_at[keep].astype(int),
                       profit=profit[keep], best_depth_pct=float(depth[best]), best_contacted=int(n_at[best]),
                       best_conversions=int(pos_at[best]), best_profit=float(profit[best]),
                       cost_per_contact=float(cost_per_contact), value_per_conversion=float(value_per_conversion),
                       n_users=len(y), note=note, target_kind=target_kind)


def target_list(scored: pd.DataFrame, segments: pd.Series | pd.DataFrame | dict | None = None, *,
                top_pct: float | None = None) -> pd.DataFrame:
    """Users ranked by score: ``user_id, score, rank, segment``.

    Parameters
    ----------
    scored : DataFrame
        ``user_id`` and ``score`` (the output of :func:`score`).
    segments : Series, DataFrame or dict, optional
        user_id -> segment (see :func:`segment_performance`); empty text when absent.
    top_pct : float, optional
        Keep only the top share, in percent (e.g. ``ProfitCurve.best_depth_pct``).

    Returns
    -------
    DataFrame
        Rank 1 is the highest score; equal scores are ordered by user_id.
        Write it with :func:`target_list_csv`.
    """
    if not {"user_id", "score"} <= set(scored.columns):
        raise InvalidParameterError(f"The scored table needs 'user_id' and 'score'; it has "
                                    f"{', '.join(map(str, scored.columns))}.")
    if top_pct is not None and not 0 <= float(top_pct) <= 100:
        raise InvalidParameterError(f"top_pct must be between 0 and 100, got {top_pct}.")
    out = pd.DataFrame({"user_id": scored["user_id"].astype(str).to_numpy(dtype=object),
                        "score": pd.to_numeric(scored["score"], errors="coerce").to_numpy(dtype=float)})
    out = out.sort_values(["score", "user_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["segment"] = (segment_lookup(segments, out["user_id"].to_numpy(), missing="") if segments is not None
                      else "")
    if top_pct is not None:
        out = out.head(int(np.ceil(len(out) * float(top_pct) / 100 - 1e-9)))
    return out


def target_list_csv(targets: pd.DataFrame) -> bytes:
    """The ranked target list as formula-safe CSV bytes (see :mod:`analytics.exports`)."""
    from analytics.exports import frame_bytes

    return frame_bytes(targets, "csv")


def segment_lookup(segments: pd.Series | pd.DataFrame | dict, user_ids: np.ndarray,
                    missing: str = "(no segment)") -> np.ndarray:
    if isinstance(segments, pd.DataFrame):
        if "user_id" not in segments.columns:
            raise InvalidParameterError("The segment table needs a 'user_id' column.")
        others = [c for c in segments.columns if c != "user_id"]
        col = "segment" if "segment" in others else (others[0] if len(others) == 1 else None)
        if col is None:
            raise InvalidParameterError(f"The segment table needs a 'segment' column; it has "
                                        f"{', '.join(map(str, segments.columns))}.")
        mapping = pd.Series(segments[col].to_numpy(), index=segments["user_id"].astype(str))
    elif isinstance(segments, dict):
        mapping = pd.Series(segments)
        mapping.index = mapping.index.astype(str)
    elif isinstance(segments, pd.Series):
        mapping = segments.copy()
        mapping.index = mapping.index.astype(str)
    else:
        raise InvalidParameterError(f"Segments must be a Series, a dict or a table, got {type(segments).__name__}.")
    mapping = mapping[~mapping.index.duplicated()]
    out = mapping.reindex(pd.Index(np.asarray(user_ids).astype(str)))
    return out.astype(object).where(out.notna(), missing).astype(str).to_numpy(dtype=object)
