"""Checks of parameters that come from users (pages, CLI flags, notebooks), with the message they get.

One wording for the same mistake everywhere: "max_len must be a whole number from 2 to
1,000, got 5000."
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    """A whole number (not a bool, not 2.0) in ``[lo, hi]``, else :class:`InvalidParameterError`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise InvalidParameterError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {value!r}.")


def check_float(name: str, value: Any, lo: float, hi: float) -> None:
    """A number (not a bool) in ``[lo, hi]``, else :class:`InvalidParameterError`."""
    try:
        ok = lo <= float(value) <= hi and not isinstance(value, bool)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidParameterError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}.")


def to_naive_utc(value: datetime | date | str | pd.Timestamp, name: str = "cutoff") -> datetime:
    """A date/time (naive = UTC, tz-aware, ISO text or a date) as a naive UTC datetime."""
    wrong = f"{name} must be a date or date-time like 2025-05-01, got {value!r}."
    if not isinstance(value, (str, date, datetime, pd.Timestamp, np.datetime64)):
        raise InvalidParameterError(wrong)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(wrong) from exc
    if pd.isna(ts):
        raise InvalidParameterError(wrong)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts.to_pydatetime()
