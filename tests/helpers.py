"""Paths and small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOG = ROOT / "sample_data" / "sample_events.csv.gz"
SAMPLE_TRUTH = ROOT / "sample_data" / "sample_truth.csv.gz"


def write(path: Path, text: str, encoding: str = "utf-8", compress: bool = False) -> Path:
    """Write test text in a given encoding (optionally gzipped) and return the path."""
    data = text.encode(encoding)
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def csv_bytes(df: pd.DataFrame, **kwargs) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, **kwargs)
    return buf.getvalue().encode()
