"""Rule-based attribution in SQL: first-touch, last-touch, linear and time-decay credit per touch value.

Each converting journey hands out exactly one conversion of credit:

- first touch: all of it to the first touch of the path;
- last touch: all of it to the last touch before the conversion;
- linear: ``1 / n`` to each of the ``n`` touches;
- time decay: in proportion to ``2 ** (-age / half_life)``, ``age`` being the
  time from the touch to the conversion: a touch one half-life older than
  another gets half its credit.

The same shares of the conversion's amount give the value credit.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analytics.sql import quote_ident

RULE_MODELS = ("first_touch", "last_touch", "linear", "time_decay")


def rule_credits(con: duckdb.DuckDBPyConnection, touches: str, half_life_seconds: float) -> pd.DataFrame:
    """Credit (in conversions) and value credit per touch value under the four rule-based models.

    Returns
    -------
    DataFrame
        ``touch`` then, per model, ``<model>`` (conversions) and
        ``<model>_value`` (conversion amounts; 0 when the log has none).
    """
    t = quote_ident(touches)
    # Ages are measured from the journey's last touch rather than from the conversion: the
    # normalised weights are the same and the largest weight is 1, so nothing underflows.
    return con.execute(f"""
        WITH a AS (
            SELECT touch, pos, from_end, n, weight, coalesce(value, 0) AS value,
                   date_diff('second', ts, max(ts) OVER (PARTITION BY user_id, journey)) AS age, user_id, journey
            FROM {t} WHERE converted = 1
        ), c AS (
            SELECT *, pow(0.5, age / $half) AS w,
                   sum(pow(0.5, age / $half)) OVER (PARTITION BY user_id, journey) AS w_sum
            FROM a
        ), s AS (
            SELECT touch, CAST(pos = 1 AS DOUBLE) AS first_touch, CAST(from_end = 1 AS DOUBLE) AS last_touch,
                   1.0 / n AS linear, w / w_sum AS time_decay, weight, value FROM c
        )
        SELECT touch,
               sum(weight * first_touch) AS first_touch, sum(first_touch * value) AS first_touch_value,
               sum(weight * last_touch) AS last_touch, sum(last_touch * value) AS last_touch_value,
               sum(weight * linear) AS linear, sum(linear * value) AS linear_value,
               sum(weight * time_decay) AS time_decay, sum(time_decay * value) AS time_decay_value
        FROM s GROUP BY touch ORDER BY touch
    """, {"half": float(half_life_seconds)}).df()
