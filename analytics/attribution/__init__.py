"""Attribution: which channels (or campaigns, ...) the conversions of a log came through, under five models.

Generic over any behaviour log with a touch column (a shop log's ``channel``, a
social log's ``channel`` or ``campaign``), hence its own package next to
:mod:`analytics.social`. Paths and the rule-based models are SQL over the events
table; the Markov chain works on the aggregated transition counts.

Public entry points
-------------------
attribute(con, table, conversion, by=..., ...) -> AttributionResult
attribute_dataset(ws, dataset_id, AttributionSettings(...)) -> AttributionResult
    the same for a dataset in the workspace, computed once per (dataset, settings) and stored
markov_credit(counts) / counts_from_paths(paths, conversions, non_conversions)
    the data-driven model on aggregated paths (worked examples, other sources)
"""

from analytics.attribution.core import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    MAX_TOUCHES,
    attribute,
)
from analytics.attribution.markov import MAX_MARKOV_STATES, MarkovCredit, counts_from_paths, markov_credit
from analytics.attribution.paths import TransitionCounts
from analytics.attribution.result import ATTRIBUTION_NOTE, MODEL_LABELS, MODELS, AttributionResult
from analytics.attribution.stored import AttributionSettings, attribute_dataset, guess_conversion, stored_attribution

__all__ = [
    "ATTRIBUTION_NOTE",
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_LOOKBACK_DAYS",
    "MAX_MARKOV_STATES",
    "MAX_TOUCHES",
    "MODELS",
    "MODEL_LABELS",
    "AttributionResult",
    "AttributionSettings",
    "MarkovCredit",
    "TransitionCounts",
    "attribute",
    "attribute_dataset",
    "counts_from_paths",
    "guess_conversion",
    "markov_credit",
    "stored_attribution",
]
