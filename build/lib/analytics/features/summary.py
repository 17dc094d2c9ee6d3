"""Summary statistics of a feature table, for display."""

from __future__ import annotations

import pandas as pd


def feature_summary(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summary statistics of a feature table: one frame for numbers, one for text columns.

    Numbers get count, empty share, mean, spread and quartiles; text columns
    (most frequent channel, ...) get the number of distinct values and the top one.
    ``user_id`` is skipped.
    """
    numbers, texts = [], []
    for col in df.columns:
        if col == "user_id":
            continue
        s = df[col]
        base = {"feature": col, "users with a value": int(s.notna().sum()),
                "empty %": round(100 * float(s.isna().mean()), 1) if len(s) else 0.0}
        if pd.api.types.is_numeric_dtype(s):
            d = pd.to_numeric(s, errors="coerce").describe()
            numbers.append(base | {"mean": d.get("mean"), "std": d.get("std"), "min": d.get("min"),
                                   "25%": d.get("25%"), "median": d.get("50%"), "75%": d.get("75%"),
                                   "max": d.get("max")})
        else:
            counts = s.value_counts()
            top = counts.index[0] if len(counts) else None
            share = round(100 * counts.iloc[0] / max(1, int(s.notna().sum())), 1) if len(counts) else None
            texts.append(base | {"distinct values": int(len(counts)), "most common": top, "its share %": share})
    return pd.DataFrame(numbers), pd.DataFrame(texts)
