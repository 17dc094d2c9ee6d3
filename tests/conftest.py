"""Shared fixtures: a fresh workspace per test, the sample log, generated logs."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE_LOG = ROOT / "sample_data" / "sample_events.csv.gz"
SAMPLE_TRUTH = ROOT / "sample_data" / "sample_truth.csv.gz"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """An empty workspace in a temp folder, also set as MARKETLENS_WORKSPACE."""
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(root))
    ws = Workspace(root)
    yield ws
    close_all()


@pytest.fixture(scope="session")
def sample_log() -> Path:
    return SAMPLE_LOG


@pytest.fixture(scope="session")
def sample_truth() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_TRUTH)


@pytest.fixture
def sample_dataset(workspace, sample_log):
    """The committed sample imported into the test's workspace (with default features)."""
    return workspace.import_file(sample_log, name="Sample shop")


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
