"""What each segment is: KPIs, profiles (z-scores against all users) and a name a marketer recognises."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.segments.features import DEFINED_FOR, feature_label
from analytics.segments.preprocessing import Prepared


def segment_profiles(prep: Prepared, labels: np.ndarray, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segment x feature z-scores (in the clustering's units: filled, capped, logged) and raw means.

    A column that is empty by design (:data:`DEFINED_FOR`: order value of users who never bought) is
    compared among the users who have a value, like its raw mean: a segment of cheap-basket buyers
    is below the buyers' average, not above an average pulled down by non-buyers' zeros. A segment
    without such users gets no z-score there (NaN).
    """
    T = prep.unscaled.copy()
    for j, col in enumerate(prep.columns):
        if col in DEFINED_FOR:
            T[~np.isfinite(prep.raw[:, j]), j] = np.nan
    # pandas skips the empty values without numpy's empty-slice warnings (an empty segment, or one
    # without buyers, gets NaN), so no catch_warnings, which is not thread-safe, in the app's threads.
    values = pd.DataFrame(T, columns=prep.columns)
    mu, sd = values.mean(), values.std(ddof=0)
    sd = sd.where(sd > 0, 1.0)
    seg_means = values.groupby(labels).mean().reindex(range(k))
    profile = ((seg_means - mu) / sd).reset_index(drop=True)
    raw = pd.DataFrame(prep.raw, columns=prep.columns)
    means = raw.groupby(labels).mean().reindex(range(k))
    profile.index.name = means.index.name = "segment"
    return profile, means


def segment_kpis(features: pd.DataFrame, labels: np.ndarray, k: int | None = None) -> pd.DataFrame:
    """Size and business KPIs of each segment from the (unscaled) feature table.

    Parameters
    ----------
    features : DataFrame
        The feature table, one row per user in the order of ``labels``.
    labels : array of int
        Segment of each user (0..k-1).
    k : int, optional
        Number of segments (default: max label + 1), so empty segments get a row.

    Returns
    -------
    DataFrame
        ``segment, users, share, revenue, revenue_share, buyer_share,
        session_conversion, median_recency_days, avg_order_value``; NaN when the
        source column (monetary, frequency, session_conversion_rate, recency_days)
        is missing.
    """
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise InvalidParameterError(
            f"labels has {len(labels):,} entries but the feature table has {len(features):,} users.")
    k = int(k if k is not None else labels.max() + 1)

    def col(name: str) -> pd.Series | None:
        if name not in features.columns:
            return None
        return pd.to_numeric(features[name], errors="coerce").replace([np.inf, -np.inf], np.nan)

    g = pd.Series(labels, index=features.index)
    users = g.value_counts().reindex(range(k), fill_value=0)
    out = pd.DataFrame({"segment": np.arange(k), "users": users.to_numpy()})
    out["share"] = out["users"] / max(len(labels), 1)
    nan = np.full(k, np.nan)
    monetary, frequency = col("monetary"), col("frequency")
    if monetary is not None:
        revenue = monetary.fillna(0).groupby(g).sum().reindex(range(k), fill_value=0).to_numpy()
        total = revenue.sum()
        out["revenue"] = revenue
        out["revenue_share"] = revenue / total if total > 0 else nan
    else:
        out["revenue"], out["revenue_share"] = nan, nan
    buyers = frequency if frequency is not None else monetary
    out["buyer_share"] = ((buyers.fillna(0) > 0).groupby(g).mean().reindex(range(k)).to_numpy()
                          if buyers is not None else nan)
    conv = col("session_conversion_rate")
    out["session_conversion"] = conv.groupby(g).mean().reindex(range(k)).to_numpy() if conv is not None else nan
    rec = col("recency_days")
    out["median_recency_days"] = rec.groupby(g).median().reindex(range(k)).to_numpy() if rec is not None else nan
    if monetary is not None and frequency is not None:
        orders = frequency.fillna(0).groupby(g).sum().reindex(range(k), fill_value=0).to_numpy()
        out["avg_order_value"] = np.divide(out["revenue"].to_numpy(), orders, out=np.full(k, np.nan),
                                           where=orders > 0)
    else:
        out["avg_order_value"] = nan
    return out


# Features that count things: "fewer visits", not "less visits".
COUNT_COLUMNS = frozenset({"frequency", "n_events", "n_sessions", "active_days"})

# Half a year without a visit: lapsed in any trade, whatever the other segments look like.
LAPSED_DAYS = 180

# "New" also in absolute terms: first seen within about three months (shorter tenure than the others
# alone once named segments last seen five months ago "New").
NEW_DAYS = 90


def name_segments(profile: pd.DataFrame, summary: pd.DataFrame | None = None,
                  means: pd.DataFrame | None = None) -> list[str]:
    """A short descriptive name per segment, unique and non-empty.

    The name is "<lifecycle> <value>". Lifecycle comes from the profile: "Lapsed"
    (long since last visit: a median recency of :data:`LAPSED_DAYS` days or more, or
    well above everyone's), "New" (short tenure), "Loyal" / "Engaged" (many
    purchases or visits), "Occasional" (few visits), else "Regular"; a lapsed
    segment that was loyal is "Lapsed loyal ...". Recency comes first because it
    is what tells customers apart on transaction data: a segment last seen 16
    months ago is never called "Regular". Value comes
    from the KPIs when they are there: "browsers" (under a quarter bought),
    "high spenders" (revenue per buyer at least 1.5x all buyers'), "bargain
    buyers" (average order under 0.7x everyone's), else "buyers"; without KPIs
    the profile's z-scores decide. Features that are missing are skipped; with
    none of the known ones the name lists the segment's two most distinctive
    features ("High visits, low tenure"). Duplicates get what best tells them
    apart ("Loyal buyers, more visits").

    Parameters
    ----------
    profile : DataFrame
        Segment x feature z-scores (as in :attr:`SegmentationResult.profile`).
    summary : DataFrame, optional
        KPIs per segment (:func:`segment_kpis`).
    means : DataFrame, optional
        Segment x feature means in the features' own units (:func:`segment_profiles`): "Loyal" then
        also needs two purchases or visits on average, "New" a tenure of at most :data:`NEW_DAYS`.
    """
    k = len(profile)
    value = value_ratios(summary, k)
    recency = (summary["median_recency_days"].to_numpy(dtype=float)
               if summary is not None and "median_recency_days" in summary.columns else np.full(k, np.nan))
    names = [segment_name(profile.iloc[i], *value[i], recency_days=recency[i],
                          means=None if means is None else means.iloc[i]) for i in range(k)]
    return unique_names(names, profile)


def value_ratios(summary: pd.DataFrame | None, k: int) -> list[tuple[float, float, float]]:
    """Per segment: (buyer share, revenue per buyer vs all buyers, order value vs all orders)."""
    nan = [(np.nan, np.nan, np.nan)] * k
    if summary is None or not {"users", "buyer_share", "revenue", "avg_order_value"} <= set(summary.columns):
        return nan
    users = summary["users"].to_numpy(dtype=float)
    share = summary["buyer_share"].to_numpy(dtype=float)
    revenue = summary["revenue"].to_numpy(dtype=float)
    aov = summary["avg_order_value"].to_numpy(dtype=float)
    buyers = users * share
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.where(aov > 0, revenue / aov, 0.0)
        per_buyer = (revenue / buyers) / (np.nansum(revenue) / np.nansum(buyers))
        basket = aov / (np.nansum(revenue) / np.nansum(orders))
    return list(zip(share, per_buyer, basket))


def z_of(row: pd.Series, *cols: str) -> float | None:
    vals = [row[c] for c in cols if c in row.index and np.isfinite(row[c])]
    return max(vals, key=abs) if vals else None


def segment_name(row: pd.Series, buyer_share: float = np.nan, spend_ratio: float = np.nan,
                 basket_ratio: float = np.nan, recency_days: float = np.nan, means: pd.Series | None = None) -> str:
    recency = z_of(row, "recency_days", "days_since_last_purchase")
    tenure = z_of(row, "tenure_days")
    visits = z_of(row, "n_sessions", "active_days", "n_events")
    buys = z_of(row, "frequency")
    spend = z_of(row, "monetary")
    basket = z_of(row, "avg_order_value")
    value_known = any(v is not None for v in (buys, spend, basket)) or np.isfinite(buyer_share)
    if not value_known and all(v is None for v in (recency, tenure, visits)):
        return generic_name(row)

    browsers = (buyer_share < 0.25) if np.isfinite(buyer_share) else (buys is not None and buys < -0.5)
    if not value_known:
        noun = "visitors"
    elif browsers:
        noun = "browsers"
    elif np.isfinite(spend_ratio) or np.isfinite(basket_ratio):
        noun = ("high spenders" if spend_ratio >= 1.5 else "bargain buyers" if basket_ratio <= 0.7 else "buyers")
    elif (spend is not None and spend >= 0.8) or (basket is not None and basket >= 0.8):
        noun = "high spenders"
    elif basket is not None and basket <= -0.5:
        noun = "bargain buyers"
    else:
        noun = "buyers"

    def mean_of(*cols: str) -> float:
        """The segment's own mean of the first of ``cols`` it has (NaN when unknown: the rule then holds)."""
        known = [float(means[c]) for c in cols if means is not None and c in means.index and np.isfinite(means[c])]
        return known[0] if known else np.nan

    # Relative to the others, and also in absolute terms: a segment whose users bought once is not loyal,
    # however far above the non-buyers that once puts it; NaN >= 2 is False, so test "not below".
    loyal = ((buys is not None and buys >= 0.6 and not mean_of("frequency") < 2)
             or (visits is not None and visits >= 0.8 and not mean_of("n_sessions", "active_days", "n_events") < 2))
    lapsed = (recency is not None and recency >= 0.8) or (np.isfinite(recency_days) and recency_days >= LAPSED_DAYS)
    if lapsed:
        adjective = "Lapsed loyal" if loyal and noun != "browsers" else "Lapsed"
    elif tenure is not None and tenure <= -0.8 and not mean_of("tenure_days") > NEW_DAYS:
        adjective = "New"
    elif loyal:
        adjective = "Loyal" if noun != "browsers" else "Engaged"
    elif visits is not None and visits <= -0.5:
        adjective = "Occasional"
    else:
        adjective = "Regular"
    return f"{adjective} {noun}"


def generic_name(row: pd.Series) -> str:
    finite = row[np.isfinite(row.to_numpy(dtype=float))]
    if finite.empty:
        return "Segment"
    top = finite.abs().sort_values(ascending=False).index[:2]
    parts = [f"{'high' if row[c] > 0 else 'low'} {feature_label(c)}" for c in top]
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def unique_names(names: list[str], profile: pd.DataFrame) -> list[str]:
    out = list(names)
    for name in sorted(set(names)):
        group = [i for i, n in enumerate(names) if n == name]
        if len(group) < 2:
            continue
        sub = profile.iloc[group]
        for i in group:
            others = sub.drop(index=profile.index[i]).mean(axis=0)
            diff = (profile.iloc[i] - others).replace([np.inf, -np.inf], np.nan).dropna()
            if diff.empty or diff.abs().max() < 1e-9:  # nothing tells it apart: numbered below instead
                continue
            col = diff.abs().idxmax()
            countable = col in COUNT_COLUMNS or str(col).startswith("n_")
            more, less = ("more", "fewer") if countable else ("higher", "lower")
            out[i] = f"{name}, {more if diff[col] > 0 else less} {feature_label(col)}"
    seen: dict[str, int] = {}
    final = list(out)
    for i, name in enumerate(out):  # counted on the names before numbering: a third copy is (3), not (2) again
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            final[i] = f"{name} ({seen[name]})"
    return final


def join_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
