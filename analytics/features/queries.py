"""Other engine-portable questions about an events table: its profile per event, attribute types, label windows."""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from analytics.features.profile import FEW_VALUES
from analytics.ingest.roles import CANONICAL, ID_ROLES


def event_profile(events: ir.Table) -> ir.Table:
    """Per event name: rows, rows with an amount, first and last time, rows with a session id."""
    return events.group_by("event").aggregate(
        n=events.count(), n_amount=events.amount.count(), ts_min=events.ts.min(), ts_max=events.ts.max(),
        n_session=events.session_id.count())


def attribute_types(events: ir.Table) -> dict[str, str]:
    """Attribute columns of a canonical events table and whether each is "number" or "text".

    The identifiers ``item_id``, ``content_id`` and ``campaign`` are not attributes: they have
    analyses of their own (recommendations, content and campaign views), not a ``top_`` feature.
    """
    return {name: "number" if dtype.is_numeric() else "text" for name, dtype in events.schema().items()
            if name not in CANONICAL and name not in ID_ROLES and not name.startswith("_")}


def attribute_cardinality(events: ir.Table, attributes: list[str]) -> ir.Table:
    """One row: approximate distinct values of each attribute."""
    if not attributes:
        return events.aggregate(_none=events.count())
    return events.aggregate(**{a: events[a].approx_nunique() for a in attributes})


def attribute_values(events: ir.Table, attribute: str) -> ir.Table:
    """Distinct values of a text attribute, column ``value`` (nulls left out), up to one more than
    :data:`~analytics.features.profile.FEW_VALUES`: enough to tell whether it has few."""
    present = events.filter(events[attribute].notnull())
    return present.select(value=present[attribute]).distinct().limit(FEW_VALUES + 1)


def window_users(events: ir.Table, start: datetime, end: datetime, event: str | None = None) -> ir.Table:
    """Users with an event (of one type, or any) in ``(start, end]``: the labels of a target, on any engine."""
    inside = events.filter((events.ts > ibis.literal(start.replace(tzinfo=None)))
                           & (events.ts <= ibis.literal(end.replace(tzinfo=None))) & events.user_id.notnull())
    if event is not None:
        inside = inside.filter(inside.event == event)
    return inside.select("user_id").distinct()
