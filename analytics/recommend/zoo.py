"""The recommenders by short name (the names ``--models`` takes)."""

from __future__ import annotations

from typing import Any

from analytics.errors import InvalidParameterError
from analytics.recommend.base import Recommender
from analytics.recommend.factorization import ALS, BPR
from analytics.recommend.models import EASE, ItemKNN, Popularity, RecentPopularity
from analytics.recommend.sequential import SequenceGRU

MODELS: dict[str, type[Recommender]] = {
    cls.key: cls for cls in (Popularity, RecentPopularity, ItemKNN, EASE, ALS, BPR, SequenceGRU)}
DEFAULT_MODELS = ("pop", "itemknn", "ease", "als")
# Models that need PyTorch (requirements-deep.txt); offered only when it is installed.
DEEP_MODELS = ("gru4rec",)


def offered_models() -> list[str]:
    """The model names that can run here: all of them, less the PyTorch ones when PyTorch is missing."""
    from analytics.sequences import torch_available

    deep_ok = torch_available()
    return [key for key in MODELS if deep_ok or key not in DEEP_MODELS]


def make_model(key: str, **params: Any) -> Recommender:
    """A new, unfitted recommender by name (``pop``, ``pop_recent``, ``itemknn``, ``ease``, ``als``, ``bpr``,
    ``gru4rec``)."""
    cls = MODELS.get(str(key).strip().lower().replace("-", "_"))
    if cls is None:
        raise InvalidParameterError(f"Unknown recommender '{key}'. Choose from: {', '.join(MODELS)}.")
    return cls(**params)


def parse_models(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"pop,itemknn,ease"`` (or a list) -> checked, de-duplicated model names in order."""
    names = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if not key:
            continue
        if key not in MODELS:
            raise InvalidParameterError(f"Unknown recommender '{name}'. Choose from: {', '.join(MODELS)}.")
        if key not in out:
            out.append(key)
    if not out:
        raise InvalidParameterError(f"Pick at least one recommender ({', '.join(MODELS)}).")
    return out
