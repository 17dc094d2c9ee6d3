"""What the service counts: events per second, request latencies, and score drift (PSI)."""

from __future__ import annotations

import gc
import threading
import time
from collections import deque

import numpy as np

# Population stability index levels (the usual credit-scoring reading): below 0.1 the score
# distribution is stable, 0.1-0.2 worth watching, above 0.2 it has shifted: retrain or check the feed.
PSI_WATCH = 0.1
PSI_WARNING = 0.2

# Fewer live scores than this say nothing about drift.
PSI_MIN_SCORES = 50


class Metrics:
    """Counters, events/s over the last minute and latency percentiles of the last requests per route."""

    def __init__(self, window: int = 2000):
        self.started = time.time()
        self._lock = threading.Lock()
        self._per_second: deque[tuple[int, int]] = deque(maxlen=120)
        self._latency: dict[str, deque[float]] = {}
        self._window = window
        self.counters: dict[str, int] = {"events_received": 0, "events_stored": 0, "events_duplicate": 0,
                                         "events_rejected": 0, "requests": 0, "errors_4xx": 0, "errors_5xx": 0,
                                         "scores": 0}

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def events(self, n: int) -> None:
        now = int(time.time())
        with self._lock:
            if self._per_second and self._per_second[-1][0] == now:
                self._per_second[-1] = (now, self._per_second[-1][1] + n)
            else:
                self._per_second.append((now, n))

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.counters["requests"] += 1
            if 400 <= status < 500:
                self.counters["errors_4xx"] += 1
            elif status >= 500:
                self.counters["errors_5xx"] += 1
            self._latency.setdefault(route, deque(maxlen=self._window)).append(seconds * 1000.0)

    def events_per_second(self, span: int = 60) -> float:
        now = int(time.time())
        with self._lock:
            n = sum(c for t, c in self._per_second if now - span <= t < now)
        return n / min(span, max(1.0, time.time() - self.started))

    def snapshot(self) -> dict:
        with self._lock:
            lat = {route: _percentiles(list(v)) for route, v in self._latency.items() if v}
            counters = dict(self.counters)
        return {"uptime_seconds": round(time.time() - self.started, 1), **counters,
                "events_per_second_1m": round(self.events_per_second(), 1), "latency_ms": lat,
                # Full collections pause every thread; objects frozen at start are not walked (see run.serve).
                "gc": {"frozen_objects": gc.get_freeze_count(),
                       "collections_per_generation": [g["collections"] for g in gc.get_stats()]}}


def _percentiles(values: list[float]) -> dict:
    a = np.asarray(values)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": len(a), "p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2),
            "max": round(float(a.max()), 2)}


def psi(reference: np.ndarray, live: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of ``live`` scores against ``reference`` (decile bins of the reference).

    ``sum((live% - ref%) * ln(live% / ref%))`` over the bins, empty bins counted as 0.01%.
    None when either side has fewer than :data:`PSI_MIN_SCORES` scores.
    """
    reference, live = np.asarray(reference, float), np.asarray(live, float)
    if len(reference) < PSI_MIN_SCORES or len(live) < PSI_MIN_SCORES:
        return None
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    cur = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1) / len(live)
    ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def drift_level(value: float | None) -> str:
    """``"unknown"``, ``"stable"``, ``"watch"`` or ``"warning"`` for a PSI value."""
    if value is None:
        return "unknown"
    return "warning" if value > PSI_WARNING else ("watch" if value > PSI_WATCH else "stable")
