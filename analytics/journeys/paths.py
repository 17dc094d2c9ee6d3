"""Paths: what users do in the N steps after (or before) an event, as a Sankey and a transition table.

One public entry point, :func:`paths`, computed in DuckDB SQL over the canonical
events table; the result is a :class:`PathsResult` (nodes and links a Sankey
draws, the step-by-step transition table, the most common whole paths).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.journeys._common import (
    OTHER,
    Progress,
    check_event_name,
    check_not_empty,
    check_top,
    report,
    table_columns,
)
from analytics.journeys._paths_sql import path_counts
from analytics.jsonable import json_safe
from analytics.sql import sql_literal

END = "(end)"  # the user has no further event
START = "(start)"  # the user has no earlier event (paths before the anchor)
MAX_STEPS = 10
TOP_PATHS = 20


@dataclass(frozen=True)
class PathNode:
    """A box of the Sankey: an event (or "(other)", "(end)", "(start)") at a step from the anchor (step 0)."""

    step: int  # negative before the anchor
    label: str
    users: int


@dataclass(frozen=True)
class PathLink:
    """Users going from node ``source`` to node ``target`` (indexes into :attr:`PathsResult.nodes`)."""

    source: int
    target: int
    users: int


@dataclass(frozen=True)
class PathsResult:
    """The paths after (or before) each user's first ``event``.

    ``nodes`` and ``links`` are what a Sankey draws (the top events per step,
    the rest as "(other)"); ``transitions`` is the step-by-step table of every
    event pair (``step, from_event, to_event, users, share``; ``step`` is the
    step away from the anchor, negative before it, and ``share`` the fraction of the
    users at the event nearer the anchor); ``top_paths`` the most
    common whole paths (``path`` as a list of events, ``users``, ``share``).
    """

    event: str
    direction: str
    steps: int
    users: int
    collapse_repeats: bool
    nodes: list[PathNode]
    links: list[PathLink]
    transitions: pd.DataFrame
    top_paths: pd.DataFrame

    def to_dict(self) -> dict:
        return json_safe({
            "event": self.event, "direction": self.direction, "steps": self.steps, "users": self.users,
            "collapse_repeats": self.collapse_repeats,
            "nodes": [{"step": n.step, "label": n.label, "users": n.users} for n in self.nodes],
            "links": [{"source": k.source, "target": k.target, "users": k.users} for k in self.links],
            "transitions": self.transitions.to_dict(orient="records"),
            "top_paths": self.top_paths.to_dict(orient="records"),
        })

    def paths_table(self) -> pd.DataFrame:
        """The most common whole paths with the path as text (``a > b > c``), for display and download."""
        return self.top_paths.assign(path=[" > ".join(p) for p in self.top_paths["path"]])

    @classmethod
    def from_dict(cls, d: dict) -> PathsResult:
        """The result back from :meth:`to_dict` (as stored in the workspace)."""
        transitions = pd.DataFrame(d["transitions"], columns=["step", "from_event", "to_event", "users", "share"])
        top_paths = pd.DataFrame(d["top_paths"], columns=["path", "users", "share"])
        return cls(d["event"], d["direction"], int(d["steps"]), int(d["users"]), bool(d["collapse_repeats"]),
                   [PathNode(int(n["step"]), n["label"], int(n["users"])) for n in d["nodes"]],
                   [PathLink(int(k["source"]), int(k["target"]), int(k["users"])) for k in d["links"]],
                   transitions.astype({"step": "int64", "users": "int64", "share": "float64"}),
                   top_paths.astype({"users": "int64", "share": "float64"}))


def paths(con: duckdb.DuckDBPyConnection, table: str, event: str, steps: int = 3, *, direction: str = "after",
          top: int = 8, collapse_repeats: bool = True, progress: Progress | None = None) -> PathsResult:
    """The ``steps`` events each user did right after (or before) their first ``event``.

    A user's events are ordered by time, ties broken by event name; rows with
    the same user, time and event are one step. The anchor is the user's first
    occurrence of ``event`` (step 0). With ``collapse_repeats`` (default) a run of
    the same event counts as one step (page_view, page_view, view_item is
    page_view, view_item), including a run of the anchor event itself. A path
    that runs out of events ends in "(end)" (after) or starts from "(start)"
    (before).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The canonical events table.
    event : str
        The anchor event.
    steps : int
        How many steps to follow, 1 to 10.
    direction : {"after", "before"}
    top : int
        Events kept per step in the Sankey (most users first); the others are
        drawn as one "(other)" node. The transition table keeps every event.
    collapse_repeats : bool
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    PathsResult
    """
    check_event_name(event, "anchor event")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidParameterError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {steps!r}.")
    if direction not in ("after", "before"):
        raise InvalidParameterError(f"direction must be 'after' or 'before', got {direction!r}.")
    top = check_top(top)
    report(progress, 0.0, "Checking the event")
    table_columns(con, table)
    check_not_empty(con, table)
    report(progress, 0.1, f"Following users {direction} their first {event}")
    ends = END if direction == "after" else START
    agg = path_counts(con, table, event, steps, direction, collapse_repeats)
    report(progress, 0.8, "Drawing the branches")
    name = f"_ml_paths_{uuid.uuid4().hex}"
    con.register(name, agg)
    try:
        return _result(con, name, event, direction, steps, collapse_repeats, top, ends)
    finally:
        con.unregister(name)


def _result(con: duckdb.DuckDBPyConnection, agg: str, event: str, direction: str, steps: int, collapse: bool,
            top: int, ends: str) -> PathsResult:
    """Nodes, links and tables from ``agg``: the distinct paths and their users (small: one row per path)."""
    cols = [f"e{k}" for k in range(steps + 1)]
    transitions = _transitions(con, agg, steps, direction, ends)
    labelled = _labelled_paths(con, agg, steps, top, ends)
    nodes, links = _sankey(labelled, steps, direction)
    paths_df = con.execute(
        f"SELECT {', '.join(cols)}, sum(n) AS users FROM {agg} GROUP BY ALL ORDER BY users DESC, "
        f"{', '.join(c + ' NULLS FIRST' for c in cols)} LIMIT {TOP_PATHS}").df()
    users = int(con.execute(f"SELECT coalesce(sum(n), 0) FROM {agg}").fetchall()[0][0])
    top_paths = pd.DataFrame({
        "path": [_path_list(row, direction, ends) for row in paths_df[cols].itertuples(index=False)],
        "users": paths_df["users"].astype(int), "share": paths_df["users"] / users if users else 0.0})
    return PathsResult(event, direction, steps, users, collapse, nodes, links, transitions, top_paths)


def _path_list(row: tuple, direction: str, ends: str) -> list[str]:
    events = [e for e in row if e is not None and not pd.isna(e)]
    if len(events) < len(row):
        events.append(ends)
    return events if direction == "after" else events[::-1]


def _transitions(con: duckdb.DuckDBPyConnection, agg: str, steps: int, direction: str, ends: str) -> pd.DataFrame:
    """Every event pair per step in reading order (earlier event first); ``step`` is the far end's step.

    ``share`` is the fraction of the users at the end nearer the anchor: of those
    at ``from_event`` for paths after, of those at ``to_event`` for paths before.
    """
    parts = []
    for k in range(steps):
        near, far = f"e{k}", f"coalesce(e{k + 1}, {sql_literal(ends)})"
        if direction == "after":
            frm, to, step = near, far, k + 1
        else:
            frm, to, step = far, near, -(k + 1)
        parts.append(f"SELECT {step} AS step, {frm} AS from_event, {to} AS to_event, sum(n) AS users "
                     f"FROM {agg} WHERE {near} IS NOT NULL GROUP BY ALL")
    near_col = "from_event" if direction == "after" else "to_event"
    out = con.execute(
        f"SELECT *, users / sum(users) OVER (PARTITION BY step, {near_col}) AS share "
        f"FROM ({' UNION ALL '.join(parts)}) ORDER BY abs(step), users DESC, from_event, to_event").df()
    out["users"] = out["users"].astype(int)
    out["step"] = out["step"].astype(int)
    return out


def _labelled_paths(con: duckdb.DuckDBPyConnection, agg: str, steps: int, top: int, ends: str) -> pd.DataFrame:
    """Paths with each step's event replaced by "(other)" outside that step's top events; "(end)" after the last."""
    tops = " UNION ALL ".join(
        f"SELECT {k} AS k, v FROM (SELECT e{k} AS v FROM {agg} WHERE e{k} IS NOT NULL GROUP BY e{k} "
        f"ORDER BY sum(n) DESC, e{k} LIMIT {top})" for k in range(1, steps + 1))
    labels = ["e0 AS l0"]
    for k in range(1, steps + 1):
        labels.append(f"CASE WHEN e{k} IS NULL THEN (CASE WHEN e{k - 1} IS NOT NULL THEN {sql_literal(ends)} END) "
                      f"WHEN e{k} IN (SELECT v FROM tops WHERE k = {k}) THEN e{k} ELSE {sql_literal(OTHER)} END "
                      f"AS l{k}")
    return con.execute(f"WITH tops AS ({tops}) SELECT {', '.join(labels)}, sum(n) AS n FROM {agg} GROUP BY ALL").df()


def _sankey(labelled: pd.DataFrame, steps: int, direction: str) -> tuple[list[PathNode], list[PathLink]]:
    """Node per (step, label) with its users; link per consecutive pair, in reading order."""
    sign = 1 if direction == "after" else -1
    order = range(steps + 1) if direction == "after" else range(steps, -1, -1)
    index: dict[tuple[int, str], int] = {}
    nodes: list[PathNode] = []
    for k in order:
        counts = labelled.dropna(subset=[f"l{k}"]).groupby(f"l{k}")["n"].sum()
        for label in sorted(counts.index, key=lambda v: (v in (OTHER, END, START), -counts[v], v)):
            index[(k, label)] = len(nodes)
            nodes.append(PathNode(sign * k, label, int(counts[label])))
    links = []
    for k in range(steps):
        pair = labelled.dropna(subset=[f"l{k}", f"l{k + 1}"])
        pair = pair[~pair[f"l{k}"].isin([END, START])]
        sums = pair.groupby([f"l{k}", f"l{k + 1}"])["n"].sum()
        for (a, b), n in sums.items():
            src, dst = (index[(k, a)], index[(k + 1, b)])
            if direction == "before":
                src, dst = dst, src
            links.append(PathLink(src, dst, int(n)))
    links.sort(key=lambda x: (x.source, -x.users, x.target))
    return nodes, links
