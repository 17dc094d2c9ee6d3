"""How many threads torch uses, and seeding that other threads cannot interleave with.

Torch runs on :func:`torch_threads` intra-op threads: one unless
``MARKETLENS_MODEL_THREADS`` says more, because OpenMP threads busy-wait and on
a shared machine two of them made a training step 25 times slower (5.9 s instead
of 0.23 s for 256 users x 60 events at load 4 on 2 cores); parallelism comes from
training two folds at once instead (:mod:`analytics.sequences.propensity`), or
from scoring batches on one Python thread per core (:func:`scoring_workers`).

Torch's random generator is process-wide: :func:`seeded` makes seeding and
initialising a network one step for other threads, so folds trained at once get
the weights a lone fold would.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from analytics import config
from analytics.sequences import require_torch

torch = require_torch()

DEFAULT_THREADS = 1

_LOCK = threading.RLock()
_DEPTH = 0
_BEFORE = 1

T = TypeVar("T")


def torch_thread_count() -> int:
    """Intra-op threads for torch: ``MARKETLENS_MODEL_THREADS`` if set, else :data:`DEFAULT_THREADS` (1)."""
    return config.model_threads_setting() or max(1, min(DEFAULT_THREADS, os.cpu_count() or 1))


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run torch on ``n`` threads (default :func:`torch_thread_count`) inside the block, then restore the setting.

    Nested or concurrent blocks (folds trained on several Python threads) keep the
    count the outermost block set; the setting is restored when the last one ends.
    """
    global _DEPTH, _BEFORE
    with _LOCK:
        if _DEPTH == 0:
            _BEFORE = torch.get_num_threads()
            torch.set_num_threads(n or torch_thread_count())
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                torch.set_num_threads(_BEFORE)


def inside_torch_threads() -> bool:
    """Whether some thread is inside :func:`torch_threads` (training folds, which already use every core)."""
    with _LOCK:
        return _DEPTH > 0


def scoring_workers() -> int:
    """Python threads that apply a network to many users at once (one per core, at most 2 unless configured)."""
    return config.model_threads_setting() or max(1, min(2, os.cpu_count() or 1))


def seeded(seed: int, make: Callable[[], T]) -> T:
    """``make()`` right after ``torch.manual_seed(seed)``, with no other thread's seeding in between."""
    with _LOCK:
        torch.manual_seed(seed)
        return make()
