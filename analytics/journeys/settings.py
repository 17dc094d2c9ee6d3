"""The settings of each journey view, as small JSON-able dataclasses (what a stored result was computed with).

A setting object names everything a view's result depends on, except the data:
the workspace stores each result under its dataset and a key derived from the
settings (:mod:`analytics.journeys.stored`), and the page, the CLI and a notebook
build the same objects. Values are checked when the view runs (by
:func:`analytics.journeys.funnel` and the others), so a bad value is reported
with the library's message, not here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from analytics.errors import InvalidParameterError

BREAKDOWN_KINDS = ("attribute", "segmentation", "audience")


@dataclass(frozen=True)
class Breakdown:
    """What splits users into groups: an attribute column, a saved segmentation or a saved audience (by key)."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in BREAKDOWN_KINDS:
            raise InvalidParameterError(
                f"A breakdown is by {', '.join(BREAKDOWN_KINDS)}; got {self.kind!r}.")
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(f"A breakdown needs the name of its {self.kind}, got {self.name!r}.")

    @classmethod
    def from_dict(cls, d: dict | None) -> Breakdown | None:
        return None if not d else cls(d["kind"], d["name"])


@dataclass(frozen=True)
class ViewSettings:
    """Base of the settings of one view; ``view`` names it."""

    view: ClassVar[str] = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ViewSettings:
        return cls(**d)


@dataclass(frozen=True)
class FunnelSettings(ViewSettings):
    """Parameters of :func:`analytics.journeys.funnel` (steps in order, window in days)."""

    view: ClassVar[str] = "funnel"
    steps: tuple[str, ...] = ()
    window_days: float = 7.0
    exclude: str | None = None
    any_order: bool = False
    breakdown: Breakdown | None = None
    top: int = 10

    def __post_init__(self) -> None:
        # Same settings, same key: 7 and 7.0 days, a list or a tuple of steps.
        if isinstance(self.steps, list):
            object.__setattr__(self, "steps", tuple(self.steps))
        if isinstance(self.window_days, int) and not isinstance(self.window_days, bool):
            object.__setattr__(self, "window_days", float(self.window_days))

    @classmethod
    def from_dict(cls, d: dict) -> FunnelSettings:
        return cls(tuple(d["steps"]), d["window_days"], d.get("exclude"), d.get("any_order", False),
                   Breakdown.from_dict(d.get("breakdown")), d.get("top", 10))


@dataclass(frozen=True)
class RetentionSettings(ViewSettings):
    """Parameters of :func:`analytics.journeys.retention`."""

    view: ClassVar[str] = "retention"
    period: str = "week"
    cohort_event: str | None = None
    return_event: str | None = None
    breakdown: Breakdown | None = None
    top: int = 10

    @classmethod
    def from_dict(cls, d: dict) -> RetentionSettings:
        return cls(d.get("period", "week"), d.get("cohort_event"), d.get("return_event"),
                   Breakdown.from_dict(d.get("breakdown")), d.get("top", 10))


@dataclass(frozen=True)
class PathsSettings(ViewSettings):
    """Parameters of :func:`analytics.journeys.paths`."""

    view: ClassVar[str] = "paths"
    event: str = ""
    steps: int = 3
    direction: str = "after"
    top: int = 8
    collapse_repeats: bool = True


@dataclass(frozen=True)
class LifecycleSettings(ViewSettings):
    """Parameters of :func:`analytics.journeys.lifecycle`."""

    view: ClassVar[str] = "lifecycle"
    period: str = "week"
    event: str | None = None


SETTINGS: dict[str, type[ViewSettings]] = {
    s.view: s for s in (FunnelSettings, RetentionSettings, PathsSettings, LifecycleSettings)}
