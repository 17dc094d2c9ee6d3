"""The scoring service: live events in, model scores out, over HTTP (``python -m analytics serve``).

- :mod:`~analytics.service.events`: request bodies (JSON/NDJSON) checked and converted, by the cleaning rules;
- :mod:`~analytics.service.store`: the durable, de-duplicated live event store (DuckDB in the workspace);
- :mod:`~analytics.service.features`: per-user features by the feature table's own query, kept until the next event;
- :mod:`~analytics.service.batching`: concurrent requests share one model call;
- :mod:`~analytics.service.core`: :class:`ScoringService` (model, store, features, scores, status);
- :mod:`~analytics.service.metrics`: events/s, latency percentiles, PSI drift;
- :mod:`~analytics.service.api`: the FastAPI app; :mod:`~analytics.service.run`: keys, uvicorn, shutdown;
- :mod:`~analytics.service.status`: reading a running service's status (for the app's page).
"""

from analytics.service.core import IngestResult, ScoringService, service_dir
from analytics.service.status import ServiceStatus, read_status

__all__ = ["IngestResult", "ScoringService", "ServiceStatus", "read_status", "service_dir"]
