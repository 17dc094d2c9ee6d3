"""What to predict: a target definition, resolved against a dataset (event, horizon, cutoff).

Time discipline (the reason targets exist as a type):

- features come from :meth:`analytics.workspace.Workspace.features` with
  ``as_of=cutoff``, which only reads events with ``ts <= cutoff``;
- the label reads only events with ``cutoff < ts <= cutoff + horizon``;
- nothing reads events after ``cutoff + horizon``, and users who first appear
  after the cutoff are not in the training set.

Target kinds:

``"event"``
    1 if the user does ``target_event`` (default: the dataset's purchase event)
    in ``(cutoff, cutoff + horizon]``, else 0.
``"churn"``
    1 if the user has no event at all in ``(cutoff, cutoff + horizon]``.
``"column"``
    An existing per-user column: a column of the feature table as of the cutoff,
    or of a ``user_labels`` frame passed to
    :func:`analytics.models.training_set.build_training_set` (a CRM flag, a
    survey answer, ...). It must hold exactly two distinct values. The column is
    never also used as a feature.

The cutoff defaults to the last event minus the horizon (``"column"``: the last
event), so the most recent full window is the label window. The whole window must
lie inside the data: a window running past the last event would call people
non-buyers (or churners) merely because the data stops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np

from analytics.checks import to_naive_utc
from analytics.errors import InvalidParameterError, NoDataError

if TYPE_CHECKING:
    from analytics.workspace import Dataset


TargetKind = Literal["event", "churn", "column"]

KINDS: tuple[str, ...] = ("event", "churn", "column")

MAX_HORIZON_DAYS = 3660


@dataclass(frozen=True)
class TargetDefinition:
    """What to predict.

    Attributes
    ----------
    kind : {"event", "churn", "column"}
        See the module docstring.
    target_event : str or None
        ``"event"`` only: the event to predict; None means the dataset's
        purchase event.
    horizon_days : float
        Length of the label window after the cutoff, in days (``"event"`` and
        ``"churn"``).
    cutoff : datetime or None
        Last instant whose events feed the features (naive UTC or tz-aware).
        None: the last event minus the horizon (``"column"``: the last event).
    column : str or None
        ``"column"`` only: the label column.
    positive_value : str, int, float, bool or None
        ``"column"`` only: which of the two values is the positive class.
        None: ``True``/``1`` when the values are boolean or 0/1, otherwise the
        value that sorts last.
    active_within_days : float or None
        Only users with an event in the last this-many days before the cutoff
        (e.g. "churn among users active in the last 90 days"). None: every
        user seen up to the cutoff.
    """

    kind: TargetKind = "event"
    target_event: str | None = None
    horizon_days: float = 30.0
    cutoff: datetime | None = None
    column: str | None = None
    positive_value: str | int | float | bool | None = None
    active_within_days: float | None = None

    def __post_init__(self) -> None:
        if self.cutoff is not None:
            object.__setattr__(self, "cutoff", to_naive_utc(self.cutoff, "cutoff"))

    @property
    def window_end(self) -> datetime | None:
        """End of the label window (``cutoff + horizon``), None until the cutoff is known."""
        if self.cutoff is None or self.kind == "column":
            return None
        return self.cutoff + timedelta(days=float(self.horizon_days))

    def earlier(self, days: float | None = None) -> TargetDefinition:
        """The same target one window earlier (cutoff moved back by ``days``, default the horizon).

        Used for the out-of-time check: train where the label window ends at
        this definition's cutoff, test on this definition.
        """
        if self.cutoff is None:
            raise InvalidParameterError("Resolve the target first (resolve_target) to know its cutoff.")
        shift = float(self.horizon_days if days is None else days)
        if not shift > 0:
            raise InvalidParameterError(f"The shift for the earlier cutoff must be positive days, got {days}.")
        return replace(self, cutoff=self.cutoff - timedelta(days=shift))

    def describe(self) -> str:
        """The target in one plain sentence (for headers and saved-model cards)."""
        when = f"{self.cutoff:%Y-%m-%d %H:%M}" if self.cutoff else "the cutoff"
        days = f"{self.horizon_days:g}"
        pop = (f" among users active in the {self.active_within_days:g} days before it"
               if self.active_within_days else "")
        if self.kind == "event":
            what = f"'{self.target_event}'" if self.target_event else "the purchase event"
            return f"Does the user do {what} in the {days} days after {when}?{pop}"
        if self.kind == "churn":
            return f"Does the user have no event at all in the {days} days after {when}?{pop}"
        pos = "" if self.positive_value is None else f" = {self.positive_value!r}"
        return f"Is the user's '{self.column}'{pos} (features as of {when})?{pop}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        if isinstance(d["positive_value"], np.generic):
            d["positive_value"] = d["positive_value"].item()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TargetDefinition:
        d = dict(d)
        if d.get("cutoff"):
            d["cutoff"] = datetime.fromisoformat(d["cutoff"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def resolve_target(dataset: Dataset, target: TargetDefinition | None = None) -> TargetDefinition:
    """Fill in the defaults of ``target`` from the dataset and validate it.

    Parameters
    ----------
    dataset : Dataset
        The dataset (its profile gives the event names and time range).
    target : TargetDefinition, optional
        Default: the purchase event within 30 days of the last event minus 30 days.

    Returns
    -------
    TargetDefinition
        With a concrete ``target_event`` (kind ``"event"``) and ``cutoff``.

    Raises
    ------
    InvalidParameterError
        Unknown kind or event, a non-positive horizon, a cutoff outside the
        data, or a label window that runs past the end of the data.
    NoDataError
        The dataset has no events.
    """
    target = target or TargetDefinition()
    if target.kind not in KINDS:
        raise InvalidParameterError(f"The target kind must be one of {', '.join(KINDS)}; got {target.kind!r}.")
    if dataset.ts_min is None or dataset.ts_max is None:
        raise NoDataError(f"Dataset '{dataset.name}' has no events with a time, so there is nothing to predict.")
    ts_min, ts_max = to_naive_utc(dataset.ts_min), to_naive_utc(dataset.ts_max)
    horizon = check_horizon(target.horizon_days)
    if target.active_within_days is not None and not float(target.active_within_days) > 0:
        raise InvalidParameterError(
            f"active_within_days must be a positive number of days or empty, got {target.active_within_days!r}.")

    event = target.target_event
    if target.kind == "event":
        events = dataset.profile.event_counts
        event = event or dataset.purchase_event
        if not event:
            raise InvalidParameterError(
                f"Dataset '{dataset.name}' has no recognised purchase event; pick the target event yourself "
                f"(one of: {_listing(events)}).")
        if event not in events:
            raise InvalidParameterError(
                f"There is no event called '{event}' in '{dataset.name}'. Pick one of: {_listing(events)}.")
    elif target.kind == "column":
        if not target.column:
            raise InvalidParameterError("A 'column' target needs the name of the label column.")
    span = (ts_max - ts_min).total_seconds() / 86_400

    default_cutoff = ts_max if target.kind == "column" else ts_max - timedelta(days=horizon)
    cutoff = target.cutoff or default_cutoff
    if cutoff > ts_max and cutoff.date() == ts_max.date():  # "end of the last day" (a date picker's cutoff)
        cutoff = ts_max  # is the last event: then what is wrong is said below (no window left after it)
    if target.kind != "column" and horizon >= span:
        raise InvalidParameterError(
            f"A {horizon:g}-day horizon is longer than the data itself ({span:.1f} days from {ts_min:%Y-%m-%d} "
            f"to {ts_max:%Y-%m-%d}): no time would be left before the cutoff to learn from. "
            f"Use a horizon shorter than {max(1, int(span / 2))} days.")
    if cutoff < ts_min or cutoff > ts_max:
        raise InvalidParameterError(
            f"The cutoff {cutoff:%Y-%m-%d %H:%M} is outside the data, which runs from {ts_min:%Y-%m-%d %H:%M} "
            f"to {ts_max:%Y-%m-%d %H:%M} (UTC). Pick a cutoff inside that range"
            + (f", at the latest {default_cutoff:%Y-%m-%d} for a {horizon:g}-day horizon."
               if target.kind != "column" else "."))
    if cutoff <= ts_min:
        raise InvalidParameterError(
            f"The cutoff {cutoff:%Y-%m-%d %H:%M} is at the very first event, so there is no history to learn "
            "from. Pick a later cutoff.")
    if target.kind != "column":
        window_end = cutoff + timedelta(days=horizon)
        if window_end > ts_max:
            left = max(0.0, (ts_max - cutoff).total_seconds() / 86_400)
            raise InvalidParameterError(
                f"With the cutoff at {cutoff:%Y-%m-%d %H:%M} and a {horizon:g}-day horizon, the label window "
                f"ends {window_end:%Y-%m-%d %H:%M}, after the last event ({ts_max:%Y-%m-%d %H:%M}): only "
                f"{left:.1f} of its {horizon:g} days are in the data, so users would be counted as "
                f"{'churned' if target.kind == 'churn' else 'not converting'} just because the data stops. "
                f"Move the cutoff to {default_cutoff:%Y-%m-%d %H:%M} or earlier, or shorten the horizon "
                f"to at most {left:.0f} days.")
    return replace(target, target_event=event if target.kind == "event" else None, horizon_days=horizon,
                   cutoff=cutoff)


def class_names(target: TargetDefinition | None) -> tuple[str, str]:
    """Plain names of the negative and positive class (for tables and messages)."""
    if target is None:
        return ("negative", "positive")
    if target.kind == "event":
        ev = target.target_event or "the target event"
        return (f"no {ev}", f"{ev} within {target.horizon_days:g} days")
    if target.kind == "churn":
        return ("still active", f"no event within {target.horizon_days:g} days")
    pos = target.positive_value
    return (f"{target.column} other", f"{target.column} = {pos}" if pos is not None else f"{target.column}")


def check_horizon(horizon: float) -> float:
    try:
        h = float(horizon)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"The horizon must be a number of days, got {horizon!r}.") from exc
    if not np.isfinite(h) or h <= 0 or h > MAX_HORIZON_DAYS:
        raise InvalidParameterError(
            f"The horizon must be more than 0 and at most {MAX_HORIZON_DAYS} days, got {horizon!r}.")
    return h


def _listing(events: dict) -> str:
    names = sorted(events, key=lambda e: -events[e])[:15]
    return ", ".join(f"'{e}'" for e in names) or "(none)"
