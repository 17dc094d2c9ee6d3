"""The HTTP API of the scoring service (FastAPI): routes, API keys, body limits, errors, request logs.

Every answer that is not a success is JSON ``{"error": "...", ...}`` with a 4xx status
saying what was wrong; an unexpected failure is a 500 with a short message and no
traceback (the traceback goes to the log).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from analytics.errors import MarketLensError
from analytics.service.core import ScoringService
from analytics.service.events import EventFormatError, EventValidationError, parse_time
from analytics.service.features import WouldWait

log = logging.getLogger("marketlens.service")

DEFAULT_MAX_BODY = 10 * 1024 * 1024

OPEN_PATHS = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


class BodyTooLarge(Exception):
    pass


class ScoreRequest(BaseModel):
    user_ids: list[str] = Field(..., description="Users to score (at most 10,000).", max_length=10_000)
    as_of: datetime | None = Field(None, description="Score as of this time (ISO 8601; default: now, UTC).")
    features: bool = Field(False, description="Also return the features each score used.")
    fresh: bool = Field(True, description="Wait until each user's newest events are applied (else answer from "
                                          "the kept features at once; pending_events says which were behind).")


def create_app(service: ScoringService, keys: set[str], max_body: int = DEFAULT_MAX_BODY,
               on_shutdown: Callable[[], None] | None = None) -> FastAPI:
    """The FastAPI application of ``service``.

    Parameters
    ----------
    service : ScoringService
    keys : set of str
        Accepted API keys (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``); every route but
        ``/health`` and the docs needs one.
    max_body : int
        Largest request body in bytes (413 above it).
    on_shutdown : callable, optional
        Run when the server stops, after the last request (the store is closed there).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    app = FastAPI(title="MarketLens scoring service", version="1", lifespan=lifespan,
                  description=f"Scores of the model '{service.model.name}' for users of "
                              f"'{service.dataset['name']}', fed by live events.")
    app.state.service = service

    app.add_middleware(Guard, service=service, keys=keys, max_body=max_body)

    @app.exception_handler(MarketLensError)
    async def library_error(request: Request, exc: MarketLensError):
        if isinstance(exc, EventValidationError):
            return _error(422, str(exc), problems=exc.problems)
        return _error(400, str(exc))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge):
        return _error(413, f"The body is over the limit of {max_body:,} bytes. Send smaller batches.")

    @app.exception_handler(TimeoutError)
    async def timeout(request: Request, exc: TimeoutError):
        return _error(503, "The service is busy computing features; try again in a moment.")

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = {404: "There is no such route; see /docs for the API.",
                   405: "This route does not take that method; see /docs for the API."}.get(exc.status_code,
                                                                                            str(exc.detail))
        return _error(exc.status_code, message, headers=exc.headers)  # e.g. Allow on a 405

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        if any(e.get("type") == "json_invalid" for e in exc.errors()):  # as /v1/events answers it
            return _error(400, "The body is not valid JSON.")
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
                    for e in exc.errors()[:20]]
        return _error(422, "The request does not have the expected shape.", problems=problems)

    @app.get("/health", summary="Liveness: 200 while the service runs (no key needed)")
    def health():
        return {"status": "ok", "model": service.model.key, "dataset": service.dataset["id"]}

    app.head("/health", include_in_schema=False)(health)  # uptime monitors ask with HEAD

    @app.get("/metrics", summary="Counters, events/s over the last minute, latency percentiles per route")
    def metrics():
        return service.metrics.snapshot() | {"store": service.store.counts(), "drift": service.drift(),
                                             "users_pending_refresh": service.live.pending}

    @app.get("/v1/status", summary="What the app's Service page shows")
    def status():
        return service.status()

    @app.post("/v1/events", summary="Send events (JSON array, {\"events\": [...]}, one object, or NDJSON lines)")
    async def post_events(request: Request, skip_invalid: bool = Query(
            False, description="Store the valid events of a batch with invalid ones (else nothing is stored)")):
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            return _error(415, f"Content-Encoding '{encoding[:40]}' is not supported; send the events uncompressed "
                               "(JSON or NDJSON as UTF-8).")
        body = await _read_limited(request, max_body)
        result = await run_in_threadpool(service.ingest, body, request.headers.get("content-type"),
                                         skip_invalid=skip_invalid)
        return JSONResponse(result.to_dict())

    @app.get("/v1/users/{user_id:path}", summary="A user's current score, percentile and the features it used")
    async def get_user(user_id: str, as_of: str | None = Query(None, description="ISO 8601 time (default: now)"),
                       fresh: bool = Query(False, description="Wait until the user's newest events are applied (else "
                                                              "the kept features answer at once; see pending_events)")):
        when = _as_of(as_of)
        # A kept user is scored in under a millisecond, here in the event loop: a hop to a worker thread and
        # back costs more than that, and dozens of threads taking turns with the interpreter lock make the
        # tail latency. Anything that has to wait goes to a worker thread.
        try:
            rows, unknown = service.score_users([user_id], when, with_features=True, fresh=fresh, wait=False)
        except WouldWait:
            rows, unknown = await run_in_threadpool(service.score_users, [user_id], when, with_features=True,
                                                    fresh=fresh)
        if unknown:
            return _error(404, f"There are no events of user '{user_id[:100]}'"
                               + (f" at or before {when:%Y-%m-%d %H:%M:%S}." if when else "."))
        return JSONResponse(rows[0])

    @app.post("/v1/score", summary="Scores of several users")
    def post_score(req: ScoreRequest):
        rows, unknown = service.score_users(req.user_ids, req.as_of, with_features=req.features, fresh=req.fresh)
        return JSONResponse({"scores": rows, "unknown": unknown})

    return app


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:  # Unix seconds as in POST /v1/score's JSON, else ISO 8601
        return parse_time(float(text) if text.strip().replace(".", "", 1).isdigit() else text, "as_of")
    except ValueError as exc:
        raise EventFormatError(f"as_of: {exc}.") from None


class Guard:
    """Pure ASGI middleware (cheaper than ``@app.middleware``): API key, declared body size, timing,
    request log, and a JSON 500 without traceback for anything unexpected."""

    def __init__(self, app, service: ScoringService, keys: set[str], max_body: int):
        self.app, self.service, self.max_body = app, service, max_body
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:12]
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # /v1/events/ is /v1/events. Starlette would redirect instead, to an absolute http:// address
            # behind a TLS proxy, and a client that follows a 307 with its body or key may not.
            path = path.rstrip("/") or "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        headers = dict(scope.get("headers") or ())
        status = [0]

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        length = headers.get(b"content-length", b"")
        if path not in OPEN_PATHS and not self._key_ok(headers):
            await _error(401, "A valid API key is needed: send it as 'Authorization: Bearer KEY' or "
                              "'X-API-Key: KEY'.", headers={"WWW-Authenticate": 'Bearer realm="MarketLens"'},
                         )(scope, receive, send_with_id)
        elif length.isdigit() and int(length) > self.max_body:
            await _error(413, f"The body is {int(length):,} bytes; the limit is {self.max_body:,}. Send smaller "
                              "batches.")(scope, receive, send_with_id)
        else:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # noqa: BLE001 - never a traceback to the caller
                log.exception("unexpected error", extra={"request_id": request_id})
                if not status[0]:
                    await _error(500, f"Unexpected {type(exc).__name__}; see the service log (request "
                                      f"{request_id}).")(scope, receive, send_with_id)
        seconds = time.perf_counter() - started
        route = "/v1/users/{id}" if path.startswith("/v1/users/") else path
        self.service.metrics.request(route, status[0] or 500, seconds)
        log.info("request", extra={"request_id": request_id, "method": scope.get("method"), "path": path,
                                   "status": status[0], "ms": round(seconds * 1000, 2)})

    def _key_ok(self, headers: dict) -> bool:
        given = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        return bool(given) and any(hmac.compare_digest(given, k) for k in self.keys)


def _error(status: int, message: str, *, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the request fields."""

    FIELDS = ("request_id", "method", "path", "status", "ms", "events", "port", "model", "dataset")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "msg": record.getMessage()}
        out |= {f: getattr(record, f) for f in self.FIELDS if hasattr(record, f)}
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out)
