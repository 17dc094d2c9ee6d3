"""The sample workspace with a saved segmentation (and its map) and a training run, stored as the app stores them.

``save_segmentation`` and ``store_run`` do what ``ui/segmenting.py`` ``save`` and
``ui/modeling.py`` ``store_run`` do, through the library. The dataset and two
segments carry hostile names, so every report test also checks escaping.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

HOSTILE_DATASET = "<img src=x onerror=alert(1)> ![x](http://evil)"
HOSTILE_SEGMENTS = ("<img src=x onerror=alert(1)>", "![x](http://evil)")
_BUILT: dict[str, tuple[Path, str]] = {}


def save_segmentation(ws, dataset_id: str, table: str, result, maps: dict, name: str) -> str:
    """Store a segmentation and its maps (method -> Embedding) as the Segments page's Save does."""
    labels = pd.DataFrame({"user_id": result.assignments["user_id"].astype(str),
                           "segment": result.assignments["segment_name"].astype(str),
                           "segment_id": result.assignments["segment"].astype(int)})
    frames = {"labels": labels} | {f"map_{m}": emb.frame()[["row", "x", "y"]] for m, emb in maps.items()}
    meta = {"result": result.to_dict(), "features_table": table, "maps": {m: e.meta() for m, e in maps.items()},
            "brief": result.brief()}
    return ws.put_result(dataset_id, "segmentation", name, meta, frames)


def store_run(ws, dataset_id: str, training, report, n_folds: int, key: str | None = None) -> str:
    """Store a training run as the Models page's Train does."""
    key = key or datetime.now(UTC).strftime("run_%Y%m%d_%H%M%S")
    meta = {"target": training.target.to_dict(), "results": [r.to_dict() for r in report.results],
            "training": training.summary(), "n_folds": n_folds, "best": report.best.key if report.best else None}
    return ws.put_result(dataset_id, "training", key, meta, {"scores": report.scores_frame(training)})


def build_report_workspace(root: Path, sample_root: Path, dataset_id: str) -> None:
    """Copy the sample workspace to ``root`` and add a segmentation with a PCA map and a two-model run."""
    from analytics import models, segments
    from analytics.workspace import Workspace

    shutil.copytree(sample_root, root)
    ws = Workspace(root)
    try:
        ws.rename(dataset_id, HOSTILE_DATASET)
        table = ws.features_table(dataset_id)
        features = ws.read_table(table)
        result = segments.segment(features, 4, stability_resamples=2)
        result = segments.rename_segments(result, {0: HOSTILE_SEGMENTS[0], 1: HOSTILE_SEGMENTS[1]})
        emb = segments.embed(features, "pca", labels=result.labels, columns=result.columns,
                             preprocessing=segments.Preprocessing.from_dict(result.preprocessing))
        save_segmentation(ws, dataset_id, table, result, {"pca": emb}, "kmeans_k4")
        training = models.build_training_set(ws, dataset_id, models.TargetDefinition())
        store_run(ws, dataset_id, training, models.train_models(training, ["lr", "nb"], n_folds=3), 3,
                  key="run_20250701_120000")
    finally:
        ws.close()


@pytest.fixture(scope="session")
def report_template(tmp_path_factory, sample_template) -> tuple[Path, str]:
    """(folder, dataset id) of the closed report workspace, built once per test session."""
    if "root" not in _BUILT:
        root = tmp_path_factory.mktemp("report_template") / "ws"
        build_report_workspace(root, sample_template.root, sample_template.dataset_id)
        _BUILT["root"] = (root, sample_template.dataset_id)
    return _BUILT["root"]


@pytest.fixture
def report_workspace(tmp_path, monkeypatch, report_template):
    """A copy of the report workspace (set as MARKETLENS_WORKSPACE) and its dataset id."""
    from analytics.workspace import Workspace, close_all

    root = tmp_path / "ws"
    shutil.copytree(report_template[0], root)
    monkeypatch.setenv("MARKETLENS_WORKSPACE", str(root))
    yield Workspace(root), report_template[1]
    close_all()
