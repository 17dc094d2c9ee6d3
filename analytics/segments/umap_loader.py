"""UMAP's compiled code: loaded once per process, cached on disk by numba, warmed up ahead of time."""

from __future__ import annotations

import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from analytics import config

_UMAP_LOCK = threading.Lock()

_UMAP_READY = False


def configure_numba_cache(cache_dir: str | Path | None = None) -> Path:
    """Point numba's on-disk cache at a folder we own, and return it.

    Order: ``cache_dir``, else the ``NUMBA_CACHE_DIR`` environment variable, else
    ``<workspace>/cache/numba`` (see :func:`analytics.config.workspace_dir`); if that
    cannot be created, ``<temp>/marketlens-numba``.
    Call it before the first UMAP map (:func:`load_umap` does) to take effect.
    """
    import numba

    path = Path(cache_dir or config.numba_cache_dir())
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        # A read-only workspace must not stop maps; the cache just lives in the temp folder.
        path = Path(tempfile.gettempdir()) / "marketlens-numba"
        path.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(path)
    return path


def load_umap(cache_dir: str | Path | None = None) -> Any:
    """Import umap-learn with its numba functions cached on disk; returns the ``umap`` module.

    umap-learn compiles most of its numba functions without ``cache=True``, so every
    new process paid 10-20 s of compilation for them. Turning caching on for those
    functions before their first call stores the machine code under
    :func:`configure_numba_cache`'s folder; later processes load it in about a second.
    """
    global _UMAP_READY
    with _UMAP_LOCK:
        if not _UMAP_READY:
            configure_numba_cache(cache_dir)
            # UMAP's expected warnings are filtered for good, here, rather than by catch_warnings around
            # its import and fits: that is not thread-safe, and the app loads UMAP and draws a first map
            # in a background thread. We never call transform (no search index), the seed is chosen
            # (no parallel layout), and ParametricUMAP (TensorFlow) is not used.
            for message in (r"precomputed_knn\[2\]", r"n_jobs value .* overridden"):
                warnings.filterwarnings("ignore", message=message, category=UserWarning, module="umap")
            warnings.filterwarnings("ignore", message="Tensorflow not installed", category=ImportWarning)
            import umap
            import umap.distances
            import umap.layouts
            import umap.spectral
            import umap.umap_
            import umap.utils
            _enable_caching(umap.umap_, umap.layouts, umap.spectral, umap.utils, umap.distances)
            _UMAP_READY = True
    import umap

    return umap


def _enable_caching(*modules: Any) -> int:
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    enabled = 0
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                try:
                    obj.enable_caching()
                    enabled += 1
                except Exception:  # noqa: BLE001 - a function numba cannot cache just compiles as before
                    pass
    return enabled
