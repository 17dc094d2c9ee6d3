"""The status a running service writes every few seconds (``<workspace>/service/<dataset>/status.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from analytics.service.core import STATUS_FILE, service_dir
from analytics.service.metrics import PSI_WARNING, PSI_WATCH

# A status file older than this comes from a service that is no longer running (it writes every 2 s).
STALE_AFTER = timedelta(seconds=15)


@dataclass
class ServiceStatus:
    """What the Service page shows.

    Attributes
    ----------
    running : bool
        The service wrote its status in the last :data:`STALE_AFTER` and did not say it stopped.
    raw : dict
        The status file (model, dataset, store counts, metrics, drift, latest scores, histogram).
    """

    running: bool
    raw: dict

    @property
    def drift_message(self) -> str:
        d = self.raw.get("drift") or {}
        if d.get("psi") is None:
            return (f"Not enough live scores yet to measure drift ({d.get('live_scores', 0)} scored users; "
                    "50 needed).")
        level = {"stable": "stable", "watch": "worth watching", "warning": "shifted"}[d["level"]]
        return (f"Population stability index {d['psi']:.3f} over {d['live_scores']:,} users: {level} "
                f"(below {PSI_WATCH} stable, above {PSI_WARNING} shifted: check the event feed or retrain).")

    @property
    def warning(self) -> bool:
        return (self.raw.get("drift") or {}).get("level") == "warning"

    def latest_scores(self) -> pd.DataFrame:
        return pd.DataFrame(self.raw.get("latest_scores") or [], columns=["user_id", "score", "percentile", "as_of"])

    def histogram(self) -> pd.DataFrame:
        h = self.raw.get("histogram") or {}
        edges = h.get("edges") or []
        return pd.DataFrame({"score_from": edges[:-1], "training": h.get("reference") or [],
                             "live": h.get("live") or []})


def read_status(workspace_root: str | Path, dataset_id: str) -> ServiceStatus | None:
    """The status of the dataset's service, or None when no service ever ran for it (or the file is unreadable)."""
    path = service_dir(Path(workspace_root), dataset_id) / STATUS_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    try:
        updated = datetime.fromisoformat(str(raw.get("updated_at")))
    except ValueError:
        return ServiceStatus(False, raw)
    fresh = datetime.now(UTC).replace(tzinfo=None) - updated < STALE_AFTER
    return ServiceStatus(bool(raw.get("running")) and fresh, raw)
