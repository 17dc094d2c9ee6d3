"""The per-user feature table in plain pandas: a reference for speed and for correctness.

It implements the definitions of :mod:`analytics.features` independently (no
shared code), on a clean canonical log (``user_id, ts, event, amount`` plus
attribute columns). ``bench/`` times it against the engine; the tests compare
the two on the sample log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400.0


def read_log(path: str) -> pd.DataFrame:
    """Read a generated log the way a pandas user would (pyarrow engine, then parse)."""
    df = pd.read_csv(path, engine="pyarrow")
    df = df.rename(columns={"event_time": "ts"})
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_localize(None)
    return df.drop_duplicates()


def features(events: pd.DataFrame, purchase_event: str, as_of: pd.Timestamp | None = None,
             top_events: int = 10, gap_minutes: int = 30, text_attributes: list[str] = ()) -> pd.DataFrame:
    """Same columns and meaning as ``analytics.features.feature_table``.

    ``text_attributes`` are the attributes summarised as ``top_<name>``: the engine's choice, which
    leaves out identifiers (the sample's ``item_id`` has ~300 repeating values but names a product).
    """
    ev = events if as_of is None else events[events["ts"] <= as_of]
    as_of = ev["ts"].max() if as_of is None else as_of
    ref = np.datetime64(as_of, "us").astype("int64") / 1e6
    ev = ev.assign(_t=ev["ts"].values.astype("datetime64[us]").astype("int64") / 1e6,
                   _p=ev["event"] == purchase_event)
    g = ev.groupby("user_id", sort=True)
    out = pd.DataFrame({"n_events": g.size(), "_first": g["_t"].min(), "_last": g["_t"].max()})
    buys = ev[ev["_p"]]
    gb = buys.groupby("user_id")
    out["frequency"] = gb.size().reindex(out.index, fill_value=0)
    out["monetary"] = gb["amount"].sum().reindex(out.index, fill_value=0.0)
    first_p, last_p = gb["_t"].min().reindex(out.index), gb["_t"].max().reindex(out.index)

    # Sessions: sort by user and time, a new session after the gap.
    s = ev[["user_id", "_t", "_p"]].sort_values(["user_id", "_t"], kind="stable")
    same_user = s["user_id"].eq(s["user_id"].shift())
    gap = s["_t"] - s["_t"].shift()
    new_session = ~same_user | (gap > gap_minutes * 60)
    session_no = new_session.cumsum()
    day = np.floor(s["_t"] / DAY)
    new_day = ~same_user | (day != day.shift())
    out["n_sessions"] = new_session.groupby(s["user_id"]).sum()
    out["active_days"] = new_day.groupby(s["user_id"]).sum()
    converting = s[s["_p"]].assign(_s=session_no[s["_p"]]).groupby("user_id")["_s"].nunique()
    converting = converting.reindex(out.index, fill_value=0)

    out["recency_days"] = (ref - out["_last"]) / DAY
    out["tenure_days"] = (ref - out["_first"]) / DAY
    out["avg_order_value"] = (out["monetary"] / out["frequency"]).where(out["frequency"] > 0)
    out["session_conversion_rate"] = converting / out["n_sessions"]
    out["mean_days_between_purchases"] = ((last_p - first_p) / DAY / (out["frequency"] - 1)).where(
        out["frequency"] > 1)
    out["days_since_last_purchase"] = (ref - last_p) / DAY

    top = ev["event"].value_counts()
    top = sorted(top.index, key=lambda e: (-top[e], e))[:top_events]
    counts = pd.crosstab(ev["user_id"], ev["event"])
    for e in top:
        out[f"n_{e}"] = counts[e].reindex(out.index, fill_value=0)
    out["n_other_events"] = out["n_events"] - sum(out[f"n_{e}"] for e in top)
    for attr in text_attributes:
        present = ev[["user_id", attr]].dropna()
        n = present.groupby(["user_id", attr]).size().rename("n").reset_index()
        n = n.sort_values(["user_id", "n", attr], ascending=[True, False, True])
        out[f"top_{attr}"] = n.drop_duplicates("user_id").set_index("user_id")[attr].reindex(out.index)
    core = ["recency_days", "frequency", "monetary", "n_events", "n_sessions", "active_days", "tenure_days",
            "avg_order_value", "session_conversion_rate", "mean_days_between_purchases",
            "days_since_last_purchase"]
    cols = core + [f"n_{e}" for e in top] + ["n_other_events"] + [f"top_{a}" for a in text_attributes]
    return out[cols].reset_index()
