"""The scoring service without HTTP: a saved model, the live event store and per-user features.

:meth:`ScoringService.open` loads the model through :func:`analytics.models.load_model`
(the checks of batch scoring), finds the dataset whose events and settings the model
was trained on, and computes the reference score distribution (batch scores of that
dataset at the model's training date) for rank percentiles and drift.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.errors import DatasetNotFoundError, InvalidParameterError, ModelCompatibilityError, NoDataError
from analytics.ingest.cleaning import MAX_ID
from analytics.ingest.table_checks import usual_amount
from analytics.jsonable import json_safe
from analytics.models.persistence import TrainedModel, load_model
from analytics.models.row_scoring import RowScorer
from analytics.models.scoring import score, score_dataset
from analytics.segments import SegmentationResult, SegmentPlacer
from analytics.service.batching import SharedCalls
from analytics.service.events import EventSchema, EventValidationError, checked_text, parse_body, validate_events
from analytics.service.features import LiveFeatures, WouldWait
from analytics.service.metrics import Metrics, drift_level, psi
from analytics.service.store import EventStore
from analytics.sql import quote_ident

log = logging.getLogger("marketlens.service")

LATEST_KEPT = 10_000

STATUS_FILE = "status.json"


def service_dir(workspace_root: Path, dataset_id: str) -> Path:
    """Where the service of a dataset keeps its events, status and key: ``<workspace>/service/<dataset id>``."""
    return Path(workspace_root) / "service" / dataset_id


@dataclass
class IngestResult:
    """What ``POST /v1/events`` did: events received, newly stored, duplicates, refused (with reasons)."""

    received: int
    stored: int
    duplicates: int
    rejected: int
    users: int
    problems: list[dict]
    ignored_fields: list[str]  # fields of the events that no column of the dataset takes (not stored)

    def to_dict(self) -> dict:
        return json_safe(self.__dict__)


class ScoringService:
    """Live events in, scores out (thread-safe).

    Use :meth:`open`; ``clock`` returns the current time as naive UTC (tests fix it).
    """

    def __init__(self, model: TrainedModel, dataset: dict, schema: EventSchema, live: LiveFeatures,
                 store: EventStore, reference: np.ndarray, folder: Path,
                 clock: Callable[[], datetime] | None = None):
        self.model, self.dataset, self.schema = model, dataset, schema
        self.live, self.store, self.folder = live, store, folder
        self.reference = np.sort(np.asarray(reference, float))
        self.clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self.metrics = Metrics()
        self.latest: OrderedDict[str, dict] = OrderedDict()
        self._latest_lock = threading.Lock()
        self._model_calls = SharedCalls(self._score_together)
        self.rows: RowScorer | None = None  # the fast path for kept rows, when the model allows it
        self.segments: dict[str, str] = {}  # user -> segment in the attached saved segmentation
        self.placer: SegmentPlacer | None = None  # places the users it does not contain

    @classmethod
    def open(cls, model_dir: str | Path, ws, dataset: str | None = None, *, history: bool = False,
             segmentation: str | None = None, clock: Callable[[], datetime] | None = None) -> ScoringService:
        """Load the model and its dataset's settings from workspace ``ws`` and open the live store.

        Parameters
        ----------
        model_dir : path
            A saved model folder (checked like batch scoring does).
        ws : Workspace
            Holds the dataset the model was trained on (its mapping, events profile and settings).
        dataset : str, optional
            Dataset id or name; default the model's training dataset, or the workspace's only dataset.
        history : bool
            Copy the dataset's events into the live store first (once; duplicates are skipped).
        segmentation : str, optional
            A segmentation saved for the dataset (Segments page): each answer names the user's
            segment in it (users it does not contain, e.g. new ones, are placed in the nearest segment).
        """
        model = load_model(model_dir)
        if model.value_features:
            raise ModelCompatibilityError("This model uses customer-value features (P(alive), expected purchases); "
                                          "the scoring service does not compute those yet. Serve a model trained "
                                          "without them.")
        if model.network is not None:
            raise ModelCompatibilityError(f"{model.name} scores users from their event sequences; the scoring service "
                                          "does not build those yet. Serve a model trained on the features alone, or "
                                          "score in batches (python -m analytics score).")
        ds = _find_dataset(ws, dataset, model)
        if not ds.has_events:
            raise InvalidParameterError(f"'{ds.name}' keeps its events in a data lake (Spark); the service needs a "
                                        "dataset imported into the workspace.")
        params = ws.feature_params(ds.id, **model.feature_overrides())
        if params.engagement:
            raise ModelCompatibilityError("This model uses social engagement features; the scoring service does not "
                                          "compute those yet. Serve a model trained without them.")
        cur = ws.cursor()
        types = {r[0]: r[1] for r in cur.execute(f"DESCRIBE {quote_ident(ds.events_table)}").fetchall()}
        schema = EventSchema.from_table(types, ds.mapping, usual_amount(cur, quote_ident(ds.events_table))[0])
        as_of = model.feature_params.get("as_of")
        reference = score_dataset(ws, ds.id, model, as_of=datetime.fromisoformat(as_of) if as_of else None)["score"]
        folder = service_dir(ws.root, ds.id)
        store = EventStore(folder / "events.duckdb", schema)
        if history:
            cols = ", ".join(quote_ident(c) for c in schema.columns)
            frame = cur.execute(f"SELECT {cols} FROM {quote_ident(ds.events_table)}").df()
            store.insert_frame(frame, datetime.now(UTC).replace(tzinfo=None))
        live = LiveFeatures(store, params, ds.profile)
        missing = [c for c in model.feature_kinds if c not in live.columns]
        if missing:
            live.close()
            store.close()
            raise ModelCompatibilityError(f"The model needs features that '{ds.name}' does not give: "
                                          f"{', '.join(missing[:10])}. Serve it with the dataset it was trained on.")
        meta = {"id": ds.id, "name": ds.name, "purchase_event": params.purchase_event, "segmentation": segmentation}
        service = cls(model, meta, schema, live, store, reference.to_numpy(dtype=float), folder, clock)
        service.rows = _row_scorer(model, ws.features(ds.id, params))
        if segmentation:
            service.segments, service.placer = _saved_segments(ws, ds, segmentation, live.columns)
        return service

    # events in

    def ingest(self, body: bytes, content_type: str | None = None, *, skip_invalid: bool = False) -> IngestResult:
        """Check and store the events of a request body; with ``skip_invalid`` the valid ones of a mixed batch.

        Raises
        ------
        EventFormatError
            Not JSON/NDJSON (HTTP 400).
        EventValidationError
            Some events break the rules and ``skip_invalid`` is off: nothing is stored (HTTP 422).
        """
        items = parse_body(body, content_type)
        parsed = validate_events(items, self.schema, self.clock())
        rejected = len(items) - parsed.rows
        self.metrics.count("events_received", len(items))
        if rejected and not skip_invalid:
            self.metrics.count("events_rejected", len(items))
            raise EventValidationError(f"{rejected} of {len(items)} events were refused, so none was stored; fix "
                                       "them or send ?skip_invalid=true to store the valid ones.", parsed.problems)
        stored = self.store.insert(parsed.columns, self.clock()) if parsed.rows else 0
        self.live.changed(parsed.users)
        self.metrics.count("events_rejected", rejected)
        self.metrics.count("events_stored", stored)
        self.metrics.count("events_duplicate", parsed.rows - stored)
        self.metrics.events(parsed.rows)
        return IngestResult(len(items), stored, parsed.rows - stored, rejected, len(parsed.users), parsed.problems,
                            parsed.ignored)

    # scores out

    def score_users(self, users: list[str], as_of: datetime | None = None, *, with_features: bool = False,
                    fresh: bool = True, wait: bool = True) -> tuple[list[dict], list[str]]:
        """Scores of ``users`` as of ``as_of`` (default now): ``([{user_id, score, percentile, ...}], unknown)``.

        ``percentile`` is the share of the reference users (the training dataset scored at its
        training date) with a lower score, in percent. Users without events at or before
        ``as_of`` are returned in ``unknown``. With ``fresh=False`` the answer does not wait for
        the newest events of a user to be applied (``pending_events`` is then true for them).

        With ``wait=False`` the answer comes at once from kept features through the row scorer,
        or :class:`~analytics.service.features.WouldWait` is raised (features to load or wait
        for, an exact query, or a model without a row scorer): the HTTP layer answers in its
        event loop when it can and hands the request to a worker thread otherwise.
        """
        if not users:
            raise InvalidParameterError("Give at least one user id.")
        if len(users) > 10_000:
            raise InvalidParameterError(f"At most 10,000 users per request, got {len(users):,}.")
        # Ids as ingestion stores them (spaces trimmed, cut to MAX_ID characters), so " u1 " finds u1.
        users = list(dict.fromkeys(str(u).strip()[:MAX_ID] for u in users))
        for u in users:
            if not u.isascii():
                try:
                    checked_text(u, "user_id")
                except ValueError as exc:
                    raise InvalidParameterError(f"{exc}.") from None
        try:
            when = (as_of or self.clock()).replace(tzinfo=None) if as_of is None or as_of.tzinfo is None \
                else as_of.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # an offset that moves year 1 or 9999 out of range
            raise InvalidParameterError(f"as_of {as_of.isoformat()} is out of range; give a time from 1970 "
                                        "on.") from None
        if not wait and self.rows is None:
            raise WouldWait("the model is scored through the table path")
        kept, late, stale = self.live.kept([u for u in users if u], when, fresh=fresh, wait=wait)
        if late and not wait:
            raise WouldWait("features for a date before some events need an exact query")
        parts = []
        if kept and not wait:  # under a millisecond through the row scorer: no reason to queue behind others
            parts.append(self._score_together([(kept, when)])[0])
        elif kept:
            parts.append(self._model_calls.submit((kept, when)))
        if late:  # a date before some of their events: computed for that date (rare, slow)
            exact = self.live.exact(late, when)
            if len(exact):
                parts.append(self._score_frame(exact))
        ids = [u for part in parts for u in part[0]]
        known = set(ids)
        unknown = [u for u in users if u not in known]
        if not ids:
            return [], unknown
        scores = np.concatenate([part[1] for part in parts])
        records = [r for part in parts for r in part[2]]
        pct = 100.0 * np.searchsorted(self.reference, scores, side="left") / max(1, len(self.reference))
        segments = self._segments(ids, records)
        out = []
        for u, s, p, rec in zip(ids, scores, pct, records, strict=True):
            row = {"user_id": u, "score": float(s), "percentile": round(float(p), 2), "as_of": when.isoformat(),
                   "pending_events": u in stale, "segment": segments.get(u),
                   "segment_placed": u in segments and u not in self.segments}
            if with_features:
                row["features"] = json_safe({c: rec[c] for c in self.model.feature_kinds})
            out.append(row)
        self._remember(out)
        self.metrics.count("scores", len(out))
        return out, unknown

    def _score_frame(self, frame) -> tuple[list[str], np.ndarray, list[dict]]:
        scored = score(self.model, frame)
        return scored["user_id"].tolist(), scored["score"].to_numpy(dtype=float), frame.to_dict("records")

    def _segments(self, ids: list[str], records: list[dict]) -> dict[str, str]:
        """Segment of each user: as saved, or (users the segmentation does not contain) the nearest one now."""
        found = {u: self.segments[u] for u in ids if u in self.segments}
        new = [rec for u, rec in zip(ids, records, strict=True) if u not in found]
        if new and self.placer is not None:
            try:
                found.update(self.placer.place(pd.DataFrame(new)).to_dict())
            except (InvalidParameterError, ValueError) as exc:  # a user's features the segments cannot use
                log.warning("users not placed in segments: %s", exc)
        return found

    def _score_together(self, items: list[tuple[list[dict], datetime]]) -> list:
        """One model call for the kept rows of several requests, each moved to its own date; split again."""
        rows = [r for kept, _ in items for r in kept]
        dates = [when for kept, when in items for _ in kept]
        if self.rows is None:
            ids, scores, records = self._score_frame(self.live.frame(rows, dates))
        else:
            moved = self.live.moved(rows, dates)
            ids, scores, records = [r["user_id"] for r in moved], self.rows.scores(moved), moved
        out, start = [], 0
        for kept, _ in items:
            end = start + len(kept)
            out.append((ids[start:end], scores[start:end], records[start:end]))
            start = end
        return out

    def _remember(self, rows: list[dict]) -> None:
        with self._latest_lock:
            for r in rows:
                self.latest.pop(r["user_id"], None)
                self.latest[r["user_id"]] = {k: r[k] for k in ("user_id", "score", "percentile", "as_of")}
            while len(self.latest) > LATEST_KEPT:
                self.latest.popitem(last=False)

    # operating it

    def drift(self) -> dict:
        """PSI of the latest live score of each scored user against the reference scores."""
        with self._latest_lock:
            live = np.array([r["score"] for r in self.latest.values()])
        value = psi(self.reference, live)
        return {"psi": None if value is None else round(value, 4), "level": drift_level(value),
                "live_scores": len(live), "reference_scores": len(self.reference)}

    def status(self) -> dict:
        """Everything the status page and ``/v1/status`` show."""
        with self._latest_lock:
            latest = list(self.latest.values())[-20:][::-1]
            live = [r["score"] for r in self.latest.values()]
        return json_safe({
            "updated_at": self.clock().isoformat(), "pid": os.getpid(),
            "model": {"key": self.model.key, "name": self.model.name, "target": self.model.target,
                      "features": list(self.model.feature_kinds), "created_at": self.model.created_at},
            "dataset": self.dataset, "store": self.store.counts(), "metrics": self.metrics.snapshot(),
            "drift": self.drift(), "latest_scores": latest,
            "histogram": _histogram(self.reference, np.array(live)),
        })

    def write_status(self, extra: dict | None = None) -> Path:
        """Write :meth:`status` to ``status.json`` in the service folder (atomically), for the app's page."""
        path = self.folder / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status() | (extra or {})))
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self.live.close()
        self.store.close()


def _row_scorer(model: TrainedModel, examples) -> RowScorer | None:
    """The fast scorer of single users, checked on (a sample of) the dataset's users; None when refused."""
    if len(examples) > 2000:
        examples = examples.sample(2000, random_state=0)
    try:
        return RowScorer(model, examples)
    except (ValueError, KeyError) as exc:
        log.warning("scoring single users through the table path: %s", exc)
        return None


def _histogram(reference: np.ndarray, live: np.ndarray, bins: int = 20) -> dict:
    edges = np.linspace(0.0, 1.0, bins + 1)
    ref = np.histogram(reference, edges)[0] / max(1, len(reference))
    cur = np.histogram(live, edges)[0] / max(1, len(live)) if len(live) else np.zeros(bins)
    return {"edges": edges.round(3).tolist(), "reference": ref.round(5).tolist(), "live": cur.round(5).tolist()}


def _saved_segments(ws, ds, name: str, live_columns: list[str]) -> tuple[dict[str, str], SegmentPlacer | None]:
    """user_id -> segment name of a saved segmentation (by its name as saved or as typed), and what places
    other users in it (None when the live features lack what the segments were made from)."""
    from analytics.workspace.store import safe_key

    saved = {r.key for r in ws.results(ds.id, "segmentation")}
    key = name if name in saved else safe_key(name)
    if key not in saved:
        raise InvalidParameterError(f"There is no saved segmentation '{name}' for '{ds.name}'; saved: "
                                    f"{', '.join(sorted(saved)) or 'none (Segments page, Save segmentation)'}.")
    stored = ws.result(ds.id, "segmentation", key)
    labels = stored.frames["labels"]
    names = dict(zip(labels["user_id"].astype(str), labels["segment"].astype(str), strict=True))
    placer = None
    if "result" in stored.meta:
        result = SegmentationResult.from_dict(stored.meta["result"], labels.rename(
            columns={"segment": "segment_name", "segment_id": "segment"}))
        if set(result.columns) - {"events_per_session"} <= set(live_columns):
            try:
                placer = SegmentPlacer(result, ws.read_table(stored.meta["features_table"]))
            except InvalidParameterError as exc:  # e.g. segments found in behaviour-sequence embeddings
                log.warning("new users get no segment: %s", exc)
        else:
            log.warning("new users get no segment: the segments use features the model's settings do not give")
    return names, placer


def _find_dataset(ws, name_or_id: str | None, model: TrainedModel):
    datasets = ws.datasets()
    if name_or_id:
        for matches in ([d for d in datasets if d.id == name_or_id], [d for d in datasets if d.name == name_or_id]):
            if len(matches) == 1:
                return matches[0]
        known = "; ".join(f"'{d.name}' (id {d.id})" for d in datasets[:10]) or "none"
        raise DatasetNotFoundError(f"There is no dataset '{name_or_id}' in the workspace at {ws.root} "
                                   f"(or several have that name). Datasets: {known}.")
    trained_on = (model.training or {}).get("dataset_id")
    for d in datasets:
        if d.id == trained_on:
            return d
    if len(datasets) == 1:
        return datasets[0]
    if not datasets:
        raise NoDataError(f"The workspace at {ws.root} has no dataset; import the log the model was trained on "
                          "(python -m analytics import LOG) so the service knows its columns and settings.")
    raise InvalidParameterError(f"The workspace has {len(datasets)} datasets and none is the one this model was "
                                "trained on; name one with --dataset.")
