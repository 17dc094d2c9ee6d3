"""Concurrent requests share one model call: a call costs the same for 1 row or a few hundred.

The first request to arrive while no call runs makes the call for everything queued so
far; the others wait for it (and the next call takes whatever queued meanwhile). No
extra thread, no timer: a lone request is scored at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class SharedCalls:
    """Run ``fn(list_of_items) -> list_of_results`` for items submitted by several threads together."""

    def __init__(self, fn: Callable[[list], list]):
        self._fn = fn
        self._cv = threading.Condition()
        self._queue: list[dict] = []
        self._busy = False
        self.calls = 0

    def submit(self, item: Any) -> Any:
        """The result of ``item``; raises what the shared call raised."""
        slot: dict = {"item": item}
        with self._cv:
            self._queue.append(slot)
            while "result" not in slot and "error" not in slot:
                if self._busy:
                    self._cv.wait()
                    continue
                self._busy = True
                batch, self._queue = self._queue, []
                self._cv.release()
                try:
                    try:
                        results = self._fn([s["item"] for s in batch])
                        for s, r in zip(batch, results, strict=True):
                            s["result"] = r
                    except Exception as exc:  # noqa: BLE001 - handed to every caller of this batch
                        for s in batch:
                            s["error"] = exc
                finally:
                    self._cv.acquire()
                    self._busy = False
                    self.calls += 1
                    self._cv.notify_all()
        if "error" in slot:
            raise slot["error"]
        return slot["result"]
