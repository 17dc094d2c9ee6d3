"""Shared fixtures: a fresh workspace per test, the sample log imported once per session, generated logs."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import SAMPLE_LOG, SAMPLE_TRUTH


@dataclass(frozen=True)
class SampleTemplate:
    """A workspace folder holding the committed sample (imported once per test session), and its features."""

    root: Path
    dataset_id: str
    features: pd.DataFrame


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory) -> SampleTemplate:
    from analytics.workspace import Workspace

    root = tmp_path_factory.mktemp("sample_template") / "ws"
    ws = Workspace(root)
    ds = ws.import_file(SAMPLE_LOG, name="Sample shop")
    features = ws.features(ds.id)
    ws.close()  # a closed DuckDB file can be copied
    return SampleTemplate(root, ds.id, features)


@pytest.fixture
def workspace(tmp_path, monkeypatch, request):
    """An empty workspace in a temp folder, also set as MARKETLENS_WORKSPACE.

    With ``sample_dataset`` it starts as a copy of the session's sample workspace.
    """
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    if "sample_dataset" in request.fixturenames:
        shutil.copytree(request.getfixturevalue("sample_template").root, root)
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(root))
    ws = Workspace(root)
    yield ws
    close_all()


@pytest.fixture
def sample_dataset(workspace, sample_template):
    """The committed sample in the test's workspace (with its default feature table)."""
    return workspace.get(sample_template.dataset_id)


@pytest.fixture(scope="session")
def sample_features(sample_template) -> pd.DataFrame:
    """Feature table of the committed sample (949 users of 5 hidden types); do not modify it."""
    return sample_template.features


@pytest.fixture(scope="session")
def sample_log() -> Path:
    return SAMPLE_LOG


@pytest.fixture(scope="session")
def sample_truth() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_TRUTH)


@pytest.fixture(scope="session", autouse=True)
def no_background_umap_warm_up():
    """AppTests run app.py in this process, which would start UMAP's warm-up in a thread beside later tests.
    Python's warning filters are process-wide and catch_warnings is not thread-safe (scikit-learn enters it
    inside the fit), so that thread could swap a test's pytest.warns recorder away: a test then saw no
    warning once in a while. Maps in AppTests load UMAP when they need it."""
    from ui import segmenting

    segmenting._WARM.set()
