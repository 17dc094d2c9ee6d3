"""JSON-safe values for stored results and ``--json`` output."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """Plain Python types only: numpy scalars and arrays unwrapped, NaN/inf as None, dates as ISO text."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    return obj


def rounded(value: float | None, digits: int = 6) -> float | None:
    """A metric for JSON: rounded, or None when it is missing or not finite."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)
