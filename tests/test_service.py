"""The scoring service: replayed events score like batch scoring, and bad requests get clear 4xx answers."""

from __future__ import annotations

import csv
import gzip
import json
import random
import shutil
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from analytics import models as M
from analytics.models.training_set import build_training_set
from analytics.service.api import create_app
from analytics.service.core import ScoringService
from analytics.service.events import EventSchema, EventValidationError, validate_events
from analytics.service.metrics import drift_level, psi
from analytics.service.status import read_status
from tests.helpers import SAMPLE_LOG

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
T = datetime(2025, 2, 1)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def served(sample_template, tmp_path_factory):
    """A model trained on the sample, served from an empty live store (clock fixed after the sample's end)."""
    from analytics.workspace import Workspace

    root = tmp_path_factory.mktemp("service") / "ws"
    shutil.copytree(sample_template.root, root)
    ws = Workspace(root)
    model_dir = M.save_model(M.fit_model(build_training_set(ws, sample_template.dataset_id), "lr"),
                             root.parent / "model")
    clock = Clock(datetime(2025, 6, 1))
    users = sorted(sample_template.features["user_id"].astype(str))
    labels = pd.DataFrame({"user_id": users, "segment_id": [i % 3 for i in range(len(users))],
                           "segment": [f"Group {i % 3}" for i in range(len(users))]})
    ws.put_result(sample_template.dataset_id, "segmentation", "my_seg", {}, {"labels": labels})
    service = ScoringService.open(model_dir, ws, clock=clock, segmentation="My seg")
    client = TestClient(create_app(service, {KEY}, max_body=2_000_000))
    yield ws, service, client, clock, model_dir
    service.close()
    ws.close()


def _raw_rows() -> list[dict]:
    with gzip.open(SAMPLE_LOG, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def _ndjson(rows: list[dict]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def _batch_scores(ws, ds_id, model_dir, as_of, users):
    batch = M.score_dataset(ws, ds_id, model_dir, as_of=as_of).set_index("user_id")["score"]
    return batch.reindex(users)


def test_replayed_events_score_like_batch_scoring(served):
    ws, service, client, clock, model_dir = served
    assert service.rows is not None  # kept rows go through the row scorer, checked against batch scores below
    ds_id = service.dataset["id"]
    rows = _raw_rows()
    users = sorted({r["user_id"] for r in rows})[::25]
    mine = [r for r in rows if r["user_id"] in set(users)]
    early = [r for r in mine if r["event_time"] <= T.strftime("%Y-%m-%dT%H:%M:%SZ")]
    late = [r for r in mine if r not in early]
    rng = random.Random(0)
    replay = early + rng.sample(early, 30)  # duplicates are stored once
    rng.shuffle(replay)  # out of order
    for i in range(0, len(replay), 400):
        r = client.post("/v1/events?skip_invalid=true", content=_ndjson(replay[i:i + 400]),
                        headers=AUTH | {"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
    assert service.store.counts()["events"] <= len(early)
    assert service.metrics.counters["events_duplicate"] >= 30

    def check(as_of: datetime, sent_until: datetime | None = None) -> None:
        r = client.post("/v1/score", json={"user_ids": users, "as_of": as_of.isoformat()}, headers=AUTH)
        assert r.status_code == 200, r.text
        got = {s["user_id"]: s["score"] for s in r.json()["scores"]}
        want = _batch_scores(ws, ds_id, model_dir, as_of, users).dropna()
        if sent_until:  # batch scoring sees the events after what was sent: compare the users without any
            window = (sent_until.strftime("%Y-%m-%dT%H:%M:%SZ"), as_of.strftime("%Y-%m-%dT%H:%M:%SZ"))
            busy = {r["user_id"] for r in late if window[0] < r["event_time"] <= window[1]}
            want = want.drop([u for u in busy if u in want.index])
            got = {u: v for u, v in got.items() if u not in busy}
        assert set(got) == set(want.index) and len(got) > 10
        if not sent_until:
            assert set(r.json()["unknown"]) == set(users) - set(want.index)
        diff = np.abs(np.array([got[u] for u in want.index]) - want.to_numpy())
        assert diff.max() < 1e-9

    check(T)  # kept features, as of the replay's end
    check(T + timedelta(days=3, hours=5), sent_until=T)  # the same rows moved to a later date
    r = client.post("/v1/events", json=late, headers=AUTH)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:  # dirty rows of the raw log: store the valid ones, as batch cleaning keeps them
        r = client.post("/v1/events?skip_invalid=true", json=late, headers=AUTH)
    check(T)  # a date before some users' new events: computed for that date
    check(datetime(2025, 4, 1))

    one = client.post("/v1/score", json={"user_ids": users, "as_of": "2025-04-01"}, headers=AUTH).json()[
        "scores"][0]["user_id"]
    r = client.get(f"/v1/users/{one}", params={"as_of": "2025-04-01T00:00:00"}, headers=AUTH)
    body = r.json()
    assert r.status_code == 200 and set(body["features"]) == set(service.model.feature_kinds)
    assert body["segment"] == f"Group {sorted(service.segments).index(one) % 3}"
    assert 0 <= body["percentile"] <= 100 and abs(body["score"] - _batch_scores(
        ws, ds_id, model_dir, datetime(2025, 4, 1), [one]).iloc[0]) < 1e-9


def test_kept_users_are_answered_at_once_and_the_others_after_waiting(served, monkeypatch):
    from analytics.service.features import WouldWait

    ws, service, client, clock, _ = served
    pending = dict(service.live._dirty)
    with pytest.raises(WouldWait):  # never seen: the event loop must not wait for it, nor mark anything
        service.score_users(["never-seen-1"], wait=False)
    assert service.live._dirty == pending
    event = {"user_id": "wait1", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
    assert client.post("/v1/events", json=[event], headers=AUTH).status_code == 200
    got = client.get("/v1/users/wait1?fresh=true", headers=AUTH)  # handed to a worker thread, which waits
    assert got.status_code == 200 and got.json()["features"]["n_events"] == 1
    waited, _ = service.score_users(["wait1"], fresh=True)
    at_once, _ = service.score_users(["wait1"], fresh=False, wait=False)
    assert at_once[0]["score"] == waited[0]["score"] == got.json()["score"]
    with pytest.raises(WouldWait):  # a date before the user's event needs an exact query
        service.score_users(["wait1"], datetime(2025, 4, 1), wait=False)
    monkeypatch.setattr(service, "rows", None)  # a model without a row scorer: the table path, in a worker
    with pytest.raises(WouldWait):
        service.score_users(["wait1"], wait=False)
    again = client.get("/v1/users/wait1", headers=AUTH)
    assert again.status_code == 200 and abs(again.json()["score"] - waited[0]["score"]) < 1e-12


def test_a_channel_the_training_log_never_had_is_a_live_users_top_channel(served):
    # The training profile lists the sample's channels; a live user mostly on a new one has it as
    # top_channel, as batch features of a log with that channel would.
    ws, service, client, clock, _ = served
    assert "tiktok" not in service.live.profile.attributes["channel"].values
    events = [{"user_id": "newch1", "event_time": f"2025-05-02T10:0{i}:00Z", "event": "page_view", "channel": ch}
              for i, ch in enumerate(["tiktok", "email", "tiktok"])]
    assert client.post("/v1/events", json=events, headers=AUTH).status_code == 200
    frame, _ = service.live.rows(["newch1"], datetime(2025, 5, 3))
    assert frame.set_index("user_id").loc["newch1", "top_channel"] == "tiktok"


def test_bad_requests_get_clear_4xx(served):
    ws, service, client, clock, _ = served
    ok = {"user_id": "zz1", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
    cases = [
        (client.post("/v1/events", json=[ok]), 401, "API key"),
        (client.post("/v1/events", json=[ok], headers={"X-API-Key": "wrong"}), 401, "API key"),
        (client.post("/v1/events", content=b"{not json", headers=AUTH), 400, "not valid JSON"),
        (client.post("/v1/events", content=b"", headers=AUTH), 400, "empty"),
        (client.post("/v1/events", content=b"\xff\xfe", headers=AUTH), 400, "UTF-8"),
        (client.post("/v1/events", json=[ok | {"event_time": "2030-01-01T00:00:00Z"}], headers=AUTH), 422,
         "refused"),
        (client.post("/v1/events", json=[{"event": "x"}], headers=AUTH), 422, "refused"),
        (client.post("/v1/events", json=[ok | {"amount": "lots"}], headers=AUTH), 422, "refused"),
        (client.post("/v1/events", json=[ok | {"event_time": "yesterday"}], headers=AUTH), 422, "refused"),
        (client.post("/v1/events", json=[[1, 2]], headers=AUTH), 422, "refused"),
        (client.post("/v1/events", content=b"x" * 2_000_001, headers=AUTH), 413, "limit"),
        (client.get("/v1/users/nobody-at-all", headers=AUTH), 404, "no events"),
        (client.get("/v1/users/zz1?as_of=tomorrow", headers=AUTH), 400, "ISO 8601"),
        (client.post("/v1/score", json={"user_ids": "abc"}, headers=AUTH), 422, "shape"),
        (client.post("/v1/score", json={"user_ids": []}, headers=AUTH), 400, "at least one"),
        (client.post("/v1/score", content=b"{not json", headers=AUTH | {"content-type": "application/json"}), 400,
         "not valid JSON"),
        (client.get("/metrics"), 401, "API key"),
        (client.get("/v1/nothing", headers=AUTH), 404, "no such route"),
        (client.get("/v1/events", headers=AUTH), 405, "method"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, response.text)
        assert words in response.json()["error"], response.json()
    # What HTTP asks of these answers: how to authenticate (401), which methods the route takes (405).
    assert cases[0][0].headers["www-authenticate"].startswith("Bearer")
    assert cases[-1][0].headers["allow"] == "POST"
    assert service.store.counts()["users"] == 0 or "zz1" not in service.live._cache
    r = client.post("/v1/events", json=[ok], headers=AUTH)
    assert r.status_code == 200 and r.json()["stored"] == 1
    future = client.post("/v1/events", json=[ok, ok | {"event_time": "2031-01-01T00:00:00Z"}], headers=AUTH)
    assert future.status_code == 422 and "future" in future.json()["problems"][0]["problem"]


def test_operations_endpoints_and_status_file(served, monkeypatch):
    ws, service, client, clock, _ = served
    event = {"user_id": "ops-1", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
    assert client.post("/v1/events", json=[event], headers=AUTH).status_code == 200  # this test's own traffic
    assert client.get("/v1/users/ops-1", headers=AUTH).status_code == 200
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/openapi.json").json()["paths"]["/v1/events"]
    m = client.get("/metrics", headers=AUTH).json()
    assert m["events_received"] > 0 and "p95" in next(iter(m["latency_ms"].values()))
    service.write_status({"running": True})
    monkeypatch.setattr("analytics.service.status.STALE_AFTER", timedelta(days=10_000))
    status = read_status(ws.root, service.dataset["id"])
    assert status.running and status.raw["store"]["events"] > 0
    assert len(status.latest_scores()) > 0 and len(status.histogram()) == 20
    assert "Population stability" in status.drift_message or "Not enough" in status.drift_message


def test_schema_accepts_log_names_and_canonical_names():
    class Mapping:
        attributes = ["Channel"]

        def roles(self):
            return {"user_id": "customer", "timestamp": "when", "event": "what", "amount": None,
                    "session_id": None, "item_id": None, "content_id": None, "campaign": None}

    schema = EventSchema.from_table({"user_id": "VARCHAR", "ts": "TIMESTAMP", "event": "VARCHAR",
                                     "amount": "DOUBLE", "session_id": "VARCHAR", "channel": "VARCHAR",
                                     "_flags": "UTINYINT"}, Mapping())
    now = datetime(2025, 1, 1)
    parsed = validate_events([{"customer": " u1 ", "when": "2024-12-31T23:00:00+01:00", "what": "buy",
                               "Channel": "ads", "amount": "12.5"},
                              {"user_id": "u2", "ts": 1735600000, "event": "view"}], schema, now)
    assert parsed.problems == [] and parsed.columns["user_id"] == ["u1", "u2"]
    assert parsed.columns["ts"][0] == datetime(2024, 12, 31, 22, 0) and parsed.columns["channel"] == ["ads", None]
    assert parsed.columns["amount"] == [12.5, None]
    bad = validate_events([{"customer": "", "when": "2024-01-01", "what": "x"},
                           {"customer": "u", "when": "2024-01-01", "what": "x", "amount": float("inf")}], schema, now)
    assert bad.rows == 0 and "missing user_id" in bad.problems[0]["problem"]
    assert "finite" in bad.problems[1]["problem"]
    with pytest.raises(EventValidationError):
        raise EventValidationError("x", [])


def test_psi_levels():
    rng = np.random.default_rng(0)
    ref = rng.beta(2, 5, 5000)
    assert psi(ref, rng.beta(2, 5, 5000)) < 0.1 and drift_level(psi(ref, rng.beta(2, 5, 5000))) == "stable"
    assert drift_level(psi(ref, rng.beta(5, 2, 5000))) == "warning"
    assert psi(ref, ref[:10]) is None and drift_level(None) == "unknown"


def test_concurrent_requests_share_model_calls_and_get_their_own_results():
    import threading
    import time

    from analytics.service.batching import SharedCalls

    def slow_double(items):
        time.sleep(0.02)
        if "boom" in items:
            raise ValueError("boom")
        return [i * 2 for i in items]

    calls = SharedCalls(slow_double)
    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, calls.submit(i))) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: 2 * i for i in range(40)} and calls.calls < 40
    with pytest.raises(ValueError, match="boom"):
        calls.submit("boom")
    assert calls.submit(5) == 10


def test_new_users_are_placed_in_the_nearest_saved_segment(served):
    from analytics import segments

    ws, service, _, clock, model_dir = served
    ds_id = service.dataset["id"]
    table = ws.features_table(ds_id)
    features = ws.read_table(table)
    result = segments.segment(features, 3, random_state=0, stability_resamples=2)
    labels = pd.DataFrame({"user_id": result.assignments["user_id"].astype(str),
                           "segment": result.assignments["segment_name"].astype(str),
                           "segment_id": result.assignments["segment"].astype(int)})
    ws.put_result(ds_id, "segmentation", "kmeans_3", {"result": result.to_dict(), "features_table": table},
                  {"labels": labels})
    placed_service = ScoringService.open(model_dir, ws, clock=clock, segmentation="kmeans_3")
    try:
        client = TestClient(create_app(placed_service, {KEY}, max_body=2_000_000))
        known = labels["user_id"].iloc[0]
        newcomer = [{"user_id": "brand-new", "event_time": f"2025-05-{d:02d}T10:00:00Z", "event": e,
                     "amount": 40.0 if e == "purchase" else None}
                    for d, e in [(1, "page_view"), (2, "view_item"), (2, "purchase"), (9, "page_view")]]
        assert client.post("/v1/events", json=newcomer, headers=AUTH).status_code == 200
        assert client.post("/v1/events", json=[{"user_id": known, "event_time": "2025-05-03T10:00:00Z",
                                                "event": "page_view"}], headers=AUTH).status_code == 200
        got = {s["user_id"]: s for s in client.post("/v1/score", json={"user_ids": ["brand-new", known]},
                                                     headers=AUTH).json()["scores"]}
        # A user of the saved segmentation keeps the segment saved for them.
        assert got[known]["segment"] == labels.set_index("user_id").loc[known, "segment"]
        assert got[known]["segment_placed"] is False
        # A new user goes where the Segments page's own rule would put them, by their features now.
        rows, _ = placed_service.live.rows(["brand-new"], clock())
        want = segments.assign_segments(result, features, rows)["brand-new"]
        assert got["brand-new"]["segment"] == want and got["brand-new"]["segment_placed"] is True
        assert want in set(result.names)
    finally:
        placed_service.close()


def test_hostile_values_are_refused_per_event_and_the_valid_ones_kept(served):
    """Found by an audit: each of these was a 500 that lost the whole batch, or was stored as Python's text."""
    ws, service, client, clock, _ = served
    ok = {"user_id": "hv-ok", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
    bad = [ok | {"user_id": "hv-1", "channel": "c\udc80"},  # a lone surrogate: cannot be stored as UTF-8
           ok | {"user_id": "hv-2", "event_time": "0001-01-01T00:00:00+01:00"},  # overflows when moved to UTC
           ok | {"user_id": "hv-3", "event_time": "9999-12-31T23:30:00-01:00"},
           ok | {"user_id": True}, ok | {"user_id": "hv-5", "event": False}]
    body = json.dumps([ok, *bad]).encode()  # json.dumps writes the lone surrogate as its \\udc80 escape
    r = client.post("/v1/events?skip_invalid=true", content=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["rejected"]) == (1, 5)
    problems = [p["problem"] for p in r.json()["problems"]]
    assert "lone UTF-16 surrogate" in problems[0] and "ISO 8601 time from 1970-01-02" in problems[1]
    assert problems[3] == "user_id must be text or a number, got true" and problems[4].endswith("got false")
    # NaN and Infinity are not JSON (Python's decoder takes them and they were stored as "nan", "inf").
    nan = client.post("/v1/events", content=b'[{"user_id": NaN, "event_time": "2025-05-01T10:00:00Z", '
                                            b'"event": "x"}]', headers=AUTH)
    assert nan.status_code == 400 and "NaN is not a JSON value" in nan.json()["error"]
    # A field no column takes is not stored, and said so (a typo such as "amout" was dropped without a word).
    typo = client.post("/v1/events", json=[ok | {"user_id": "hv-typo", "amout": 42, "order_id": "A1"}], headers=AUTH)
    assert typo.json()["stored"] == 1 and typo.json()["ignored_fields"] == ["amout", "order_id"]
    assert r.json()["ignored_fields"] == []
    # An id written as 7.0 is the id 7, as a CSV export writes it; a flag attribute keeps JSON's spelling.
    assert client.post("/v1/events", json=[ok | {"user_id": 7.0}], headers=AUTH).json()["stored"] == 1
    assert client.get("/v1/users/7", headers=AUTH).status_code == 200
    # NDJSON lines end at \n only: U+2028 inside a string is text, not a line break.
    line = json.dumps(ok | {"user_id": "hv-\u2028x"}, ensure_ascii=False).encode()
    assert client.post("/v1/events", content=line, headers=AUTH | {"content-type": "application/x-ndjson"}
                       ).json()["stored"] == 1
    # Ids with a slash are read back (the route took "a/b" as another path).
    assert client.post("/v1/events", json=[ok | {"user_id": "a/b"}], headers=AUTH).json()["stored"] == 1
    assert client.get("/v1/users/a/b", headers=AUTH).json()["user_id"] == "a/b"
    for as_of in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        assert client.get("/v1/users/hv-ok", params={"as_of": as_of}, headers=AUTH).status_code == 400
    assert client.post("/v1/score", json={"user_ids": ["hv-ok"], "as_of": "9999-12-31T23:59:59-01:00"},
                       headers=AUTH).status_code == 400


def test_a_user_id_that_breaks_the_feature_query_does_not_stall_the_others(served):
    """A lone surrogate sent to /v1/score once made every later refresh fail and retry forever (503s)."""
    ws, service, client, clock, _ = served
    r = client.post("/v1/score", content=b'{"user_ids": ["evil\\ud800"]}',
                    headers=AUTH | {"content-type": "application/json"})
    assert r.status_code == 400 and "lone UTF-16 surrogate" in r.json()["error"]
    # Should a user still break the query, the batch is retried in halves and only that user is given up.
    live = service.live
    real = live._query

    def breaks_on_poison(users, sql):
        if "poison" in users:
            raise RuntimeError("cannot compute")
        return real(users, sql)

    live._query = breaks_on_poison
    try:
        event = {"user_id": "after-poison", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
        assert client.post("/v1/events", json=[event, event | {"user_id": "poison"}], headers=AUTH).status_code == 200
        rows, unknown = service.score_users(["after-poison", "poison"], fresh=True)
        assert [r["user_id"] for r in rows] == ["after-poison"] and unknown == ["poison"]
    finally:
        live._query = real


def test_a_user_asked_for_before_their_first_event_is_found_right_after_it(served):
    ws, service, client, clock, _ = served
    assert client.get("/v1/users/newbie-1", headers=AUTH).status_code == 404
    event = {"user_id": "newbie-1", "event_time": "2025-05-01T10:00:00Z", "event": "purchase", "amount": 9}
    assert client.post("/v1/events", json=[event], headers=AUTH).json()["stored"] == 1
    assert client.get("/v1/users/newbie-1", headers=AUTH).status_code == 200  # was 404 for about a second


def test_unknown_ids_do_not_grow_memory_without_limit(served, monkeypatch):
    from analytics.service import features

    ws, service, client, clock, _ = served
    monkeypatch.setattr(features, "MAX_ABSENT", 50)
    ids = [f"nobody-{i}" for i in range(120)] + ["x" * 5000]  # cut to 256 characters, as ingestion stores ids
    rows, unknown = service.score_users(ids)
    assert rows == [] and len(unknown) == 121 and unknown[-1] == "x" * 256
    assert len(service.live._absent) <= 50
    assert not any(u.startswith("nobody-") for u in service.live._cache)


def test_lookups_find_ids_as_ingestion_stored_them_and_http_details(served):
    ws, service, client, clock, _ = served
    event = {"user_id": "  padded-1  ", "event_time": "2025-05-01T10:00:00Z", "event": "page_view"}
    long_id = "L" * 300
    assert client.post("/v1/events", json=[event, event | {"user_id": long_id}], headers=AUTH).json()["stored"] == 2
    assert client.get("/v1/users/%20padded-1%20", headers=AUTH).json()["user_id"] == "padded-1"
    assert client.get(f"/v1/users/{long_id}", headers=AUTH).json()["user_id"] == long_id[:256]
    # A byte-order mark is not part of the JSON; a compressed body is named as such; "events" must be a list.
    bom = b"\xef\xbb\xbf" + json.dumps([event]).encode()
    assert client.post("/v1/events", content=bom, headers=AUTH).status_code == 200
    zipped = client.post("/v1/events", content=gzip.compress(json.dumps([event]).encode()),
                         headers=AUTH | {"content-encoding": "gzip"})
    assert zipped.status_code == 415 and "Content-Encoding 'gzip'" in zipped.json()["error"]
    wrapped = client.post("/v1/events", json={"events": event}, headers=AUTH)
    assert wrapped.status_code == 400
    assert '"events" must be a JSON array of events, got an object' in wrapped.json()["error"]
    assert client.head("/health").status_code == 200  # uptime monitors ask with HEAD
    # A trailing slash is the same route, answered there (no redirect to an http:// address behind TLS).
    later = event | {"event_time": "2025-05-01T11:00:00Z"}
    slashed = client.post("/v1/events/", json=[later], headers=AUTH, follow_redirects=False)
    assert slashed.status_code == 200 and slashed.json()["stored"] == 1
    assert client.get("/v1/users/padded-1/", headers=AUTH, follow_redirects=False).json()["user_id"] == "padded-1"
    assert client.get("/redoc").status_code == 200 and client.get("/health/").status_code == 200
    seconds = int(datetime(2025, 5, 2, tzinfo=UTC).timestamp())
    by_seconds = client.get(f"/v1/users/padded-1?as_of={seconds}", headers=AUTH)
    assert by_seconds.status_code == 200 and by_seconds.json()["as_of"].startswith("2025-05-02T00:00")


def test_a_store_held_by_another_process_is_named_not_an_unexpected_error(tmp_path):
    """A second `serve` on the same dataset failed with 'unexpected IOException ... Could not set lock'."""
    import subprocess
    import sys

    from analytics.errors import InvalidParameterError
    from analytics.service.store import EventStore

    path = tmp_path / "live.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        schema = EventSchema({"user_id": "text", "ts": "time", "event": "text"})
        with pytest.raises(InvalidParameterError, match="Another process holds the live event store"):
            EventStore(path, schema)
    finally:
        holder.kill()
        holder.wait()


def test_an_amount_far_above_the_training_logs_is_refused_and_a_big_order_kept(served):
    ws, service, client, clock, _ = served
    usual = service.schema.usual_amount
    assert usual and usual > 1  # the training log's 99th percentile of amounts
    buy = {"user_id": "amt-1", "event_time": "2025-05-01T10:00:00Z", "event": "purchase"}
    huge = client.post("/v1/events", json=[buy | {"amount": 1e15}], headers=AUTH)
    assert huge.status_code == 422 and "more than 10,000 times the usual ones" in huge.json()["problems"][0]["problem"]
    big = client.post("/v1/events", json=[buy | {"amount": round(500 * usual, 2)}], headers=AUTH)
    assert big.status_code == 200 and big.json()["stored"] == 1  # a large order is not an error
    assert client.get("/v1/users/amt-1", headers=AUTH).json()["features"]["monetary"] == round(500 * usual, 2)


def test_live_times_without_an_offset_are_read_in_the_datasets_time_zone():
    class Mapping:
        attributes: list = []
        timezone = "Europe/Berlin"

        def roles(self):
            return {"user_id": "user_id", "timestamp": "ts", "event": "event", "amount": None, "session_id": None,
                    "item_id": None, "content_id": None, "campaign": None}

    schema = EventSchema.from_table({"user_id": "VARCHAR", "ts": "TIMESTAMP", "event": "VARCHAR"}, Mapping())
    parsed = validate_events([{"user_id": "u1", "ts": "2025-07-01T10:00:00", "event": "view"},
                              {"user_id": "u1", "ts": "2025-07-01T10:00:00Z", "event": "view"},
                              {"user_id": "u1", "ts": 1751364000, "event": "view"}], schema, datetime(2026, 1, 1))
    assert parsed.columns["ts"] == [datetime(2025, 7, 1, 8), datetime(2025, 7, 1, 10), datetime(2025, 7, 1, 10)]
