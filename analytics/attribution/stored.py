"""Attribution of a dataset in the workspace: computed once per (dataset, settings), stored, found again.

The app and ``python -m analytics attribution --dataset`` go through
:func:`attribute_dataset`; :func:`stored_attribution` only looks (for a page that
shows the last result for the settings on screen without recomputing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from analytics.attribution.core import DEFAULT_HALF_LIFE_DAYS, DEFAULT_LOOKBACK_DAYS, MAX_TOUCHES, attribute
from analytics.attribution.result import AttributionResult
from analytics.errors import DatasetNotFoundError, InvalidParameterError
from analytics.progress import Progress

if TYPE_CHECKING:
    from analytics.workspace import Dataset, Workspace

KIND = "attribution"
# Event names that usually mark a conversion, most telling first (after the purchase event guessed at import).
CONVERSION_NAMES = ("purchase", "order", "transaction", "checkout_complete", "conversion", "sign_up", "signup",
                    "register", "registration", "lead", "subscription", "install")


@dataclass(frozen=True)
class AttributionSettings:
    """Everything an attribution depends on besides the data (see :func:`analytics.attribution.attribute`)."""

    conversion: str = "purchase"
    by: str = "channel"
    lookback_days: float = DEFAULT_LOOKBACK_DAYS
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    touch_events: tuple[str, ...] | None = None
    max_touches: int = MAX_TOUCHES
    collapse_repeats: bool = True
    top_paths: int = 20

    def to_dict(self) -> dict:
        d = asdict(self)
        d["touch_events"] = sorted(self.touch_events) if self.touch_events is not None else None
        d["lookback_days"], d["half_life_days"] = float(self.lookback_days), float(self.half_life_days)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AttributionSettings:
        events = d.get("touch_events")
        return cls(**{**d, "touch_events": tuple(events) if events is not None else None})

    def key(self) -> str:
        """The stored result's key: a short hash of the settings."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return "a" + hashlib.sha1(text.encode()).hexdigest()[:12]


def attribute_dataset(ws: Workspace, dataset_id: str, settings: AttributionSettings, *,
                      progress: Progress | None = None) -> AttributionResult:
    """The attribution of a stored dataset: the stored result for these settings, or computed and stored.

    Parameters
    ----------
    ws : Workspace
    dataset_id : str
    settings : AttributionSettings
    progress : callable, optional
        ``progress(fraction_done, message)``.

    Returns
    -------
    AttributionResult

    Raises
    ------
    MappingError, NoDataError, InvalidParameterError
        As :func:`analytics.attribution.attribute`; also when the dataset's events
        are not in the workspace (a log processed on Spark).
    """
    found = stored_attribution(ws, dataset_id, settings)
    if found is not None:
        if progress:
            progress(1.0, "Found the stored result for these settings")
        return found
    ds = ws.get(dataset_id)
    require_events_in_workspace(ds, "Attribution")
    s = settings
    result = attribute(ws.cursor(), ds.events_table, s.conversion, by=s.by, lookback_days=s.lookback_days,
                       half_life_days=s.half_life_days, touch_events=s.touch_events, max_touches=s.max_touches,
                       collapse_repeats=s.collapse_repeats, top_paths=s.top_paths, progress=progress)
    meta, frames = result.to_store()
    ws.put_result(dataset_id, KIND, settings.key(), meta | {"settings": settings.to_dict()}, frames)
    return result


def stored_attribution(ws: Workspace, dataset_id: str, settings: AttributionSettings) -> AttributionResult | None:
    """The stored attribution of a dataset for exactly these settings, or None."""
    key = settings.key()
    if not any(r.key == key for r in ws.results(dataset_id, KIND)):
        return None
    try:
        stored = ws.result(dataset_id, KIND, key)
    except DatasetNotFoundError:  # deleted in between (another tab)
        return None
    return AttributionResult.from_store(stored.meta, stored.frames)


def guess_conversion(ds: Dataset) -> str | None:
    """The dataset's conversion event: the purchase event guessed at import, else the first event named like a
    conversion (:data:`CONVERSION_NAMES`, any case), else None."""
    events = ds.profile.event_counts
    if ds.purchase_event in events:
        return ds.purchase_event
    lowered = {e.lower().replace(" ", "_").replace("-", "_"): e for e in events}
    return next((lowered[n] for n in CONVERSION_NAMES if n in lowered), None)


def require_events_in_workspace(ds: Dataset, what: str) -> None:
    """Refuse a dataset whose events stay in the data lake (Spark): these analyses read the events table."""
    if not ds.has_events:
        raise InvalidParameterError(f"{what} reads the events in the workspace; '{ds.name}' is processed on Spark "
                                    "and only its per-user table is here. Import the log (or connect it with "
                                    "DuckDB) to use it.")
