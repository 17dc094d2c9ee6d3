"""Journeys: funnels, retention cohorts, paths and lifecycle, computed in SQL over the events table.

Every entry point takes ``(con, table, ...)``: a DuckDB connection and the name
of a canonical events table (``user_id, ts, event, ...``), validates its
parameters first (raising :mod:`analytics.errors` types with a readable message)
and returns a small result dataclass.

- :func:`funnel` -> :class:`FunnelResult`: users, conversion, drop-off and time
  to convert through 2-10 ordered steps within a conversion window.
- :func:`retention` -> :class:`RetentionResult`: weekly or monthly cohort matrix
  and the average retention curve.
- :func:`paths` -> :class:`PathsResult`: the N steps after (or before) an event,
  as Sankey nodes/links and a transition table.
- :func:`lifecycle` -> :class:`LifecycleResult`: new, returning, resurrected and
  dormant users per week.
- :func:`funnel_dropoff_users` and :func:`cohort_users` ->
  :class:`analytics.audiences.Audience`: the users behind a funnel step or a
  cohort cell, to store with ``Workspace.save_audience``.
- :mod:`analytics.journeys.stored`: the same views for a dataset of a
  workspace, computed once per (dataset, settings) and stored there.
"""

from analytics.journeys.audiences import cohort_users, funnel_dropoff_users
from analytics.journeys.funnel import FunnelGroup, FunnelResult, FunnelStep, TimeBucket, funnel
from analytics.journeys.lifecycle import LifecycleResult, lifecycle
from analytics.journeys.paths import PathLink, PathNode, PathsResult, paths
from analytics.journeys.retention import CohortMatrix, RetentionGroup, RetentionResult, retention

__all__ = [
    "CohortMatrix", "FunnelGroup", "FunnelResult", "FunnelStep", "LifecycleResult", "PathLink",
    "PathNode", "PathsResult", "RetentionGroup", "RetentionResult", "TimeBucket", "cohort_users", "funnel",
    "funnel_dropoff_users", "lifecycle", "paths", "retention",
]
