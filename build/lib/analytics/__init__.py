"""MarketLens: marketing analytics on behaviour logs, as a library.

The facade below covers a notebook session; each capability has its own
sub-package with the full API (``analytics.ingest``, ``analytics.workspace``,
``analytics.features``, ``analytics.segments``, ``analytics.models``, ...)::

    import analytics as ml
    features = ml.features_from_events(events)        # events: a DataFrame, one row per user event
    segments = ml.segment(features, k="auto")
    trained = ml.train(events, horizon_days=30)
    scores = ml.score(trained.model, features)
"""

from __future__ import annotations

import importlib

# Facade name -> module that defines it. Loaded on first use, so that `import analytics`
# (and every CLI command) does not pay for scikit-learn and UMAP before it needs them.
_FACADE = {
    "features_from_events": "analytics.notebook", "train": "analytics.notebook", "Trained": "analytics.notebook",
    "segment": "analytics.segments", "k_sweep": "analytics.segments", "embed": "analytics.segments",
    "score": "analytics.models", "Workspace": "analytics.workspace", "temporary_workspace": "analytics.workspace",
}
__all__ = sorted(_FACADE)


def __getattr__(name: str):
    if name in _FACADE:
        return getattr(importlib.import_module(_FACADE[name]), name)
    raise AttributeError(f"module 'analytics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACADE))
