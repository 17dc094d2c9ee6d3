"""Run the scoring service: API keys, uvicorn, the status file, graceful shutdown."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import sys
import threading
from pathlib import Path

from analytics import config
from analytics.errors import InvalidParameterError
from analytics.models.row_scoring import one_thread
from analytics.service.api import DEFAULT_MAX_BODY, JsonLogFormatter, create_app
from analytics.service.core import ScoringService

KEY_FILE = "api_keys.txt"

STATUS_EVERY_SECONDS = 2.0


def load_keys(folder: Path, key_file: Path | None = None) -> tuple[set[str], str | None]:
    """API keys: ``key_file`` (one per line), else ``MARKETLENS_SERVICE_KEYS``, else the service folder's key
    file, created with one random key (readable by the owner only) the first time.

    Returns
    -------
    (keys, created)
        ``created`` is the path of a key file made now (to tell the user), else None.
    """
    if key_file is not None:
        try:
            keys = {line.strip() for line in Path(key_file).read_text().splitlines() if line.strip()}
        except OSError as exc:
            raise InvalidParameterError(f"The key file '{key_file}' cannot be read ({exc.strerror}).") from exc
        if not keys:
            raise InvalidParameterError(f"The key file '{key_file}' holds no key (one key per line).")
        return keys, None
    if keys := config.service_keys():
        return keys, None
    path = folder / KEY_FILE
    if path.is_file():
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}, None
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(24) + "\n")
    return {path.read_text().strip()}, str(path)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("marketlens.service")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def serve(service: ScoringService, keys: set[str], *, host: str = "127.0.0.1", port: int = 8600,
          max_body: int = DEFAULT_MAX_BODY) -> None:
    """Serve until SIGINT/SIGTERM: requests in flight finish (up to 10 s), then the store is checkpointed and closed."""
    import uvicorn

    configure_logging()
    log = logging.getLogger("marketlens.service")
    one_thread()  # requests score a few users each: a pool of threads per call only costs (row_scoring)
    stop = threading.Event()
    closed = threading.Lock()

    def shut_down() -> None:
        """Once, whether the server stops on a signal (uvicorn re-raises it afterwards) or returns."""
        if not closed.acquire(blocking=False):
            return
        stop.set()
        writer.join(timeout=5)
        service.write_status({"running": False, "port": port, "host": host})
        service.close()
        log.info("service stopped", extra={"port": port})

    def write_status() -> None:
        while not stop.wait(STATUS_EVERY_SECONDS):
            try:
                service.write_status({"running": True, "port": port, "host": host})
            except Exception:  # noqa: BLE001 - the status file is a convenience, never a reason to stop
                log.exception("status file not written")

    app = create_app(service, keys, max_body, on_shutdown=shut_down)
    writer = threading.Thread(target=write_status, name="status-writer", daemon=True)
    service.write_status({"running": True, "port": port, "host": host})
    writer.start()
    log.info("service started", extra={"port": port, "model": service.model.key, "dataset": service.dataset["id"]})
    # The model, pandas, scikit-learn and Ibis leave ~350k long-lived objects that every full collection of the
    # cyclic garbage collector walked again: 110-240 ms with the whole process paused, several times a minute
    # while events stream in, which made most of the slow answers. Frozen objects are never walked again.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=10, limit_concurrency=512)
    finally:
        shut_down()
