"""The attribution result: credit per touch value under each model, the path table, and what it means."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from analytics.jsonable import json_safe

_FRAMES = ("credits", "value_credits", "removal_effects", "paths")
MODELS = ("first_touch", "last_touch", "linear", "time_decay", "markov")
MODEL_LABELS = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "linear": "Linear",
    "time_decay": "Time decay",
    "markov": "Data-driven (Markov)",
}

ATTRIBUTION_NOTE = (
    "Attribution shares out the conversions that happened among the touches that came before them. It says which "
    "channels are on the way to conversions, not how many conversions a channel caused: people who were going to "
    "buy anyway also see and click posts, and a channel that reaches them (retargeting, brand search) gets credit "
    "without adding any sale. The models differ only in how they split each conversion: first touch rewards what "
    "starts journeys, last touch what closes them, linear spreads evenly, time decay favours recent touches, and "
    "the data-driven (Markov) model gives each channel the share of conversions that would be lost if its touches "
    "led nowhere, judged from converting and non-converting paths alike. Touches that are not in the log (offline, "
    "other devices, untracked views) cannot get credit. To measure causal lift, compare a randomly held-out group "
    "that was not exposed (a lift test or geo experiment)."
)


@dataclass
class AttributionResult:
    """Credit for conversions per touch value (channel, campaign, ...) under five models.

    Attributes
    ----------
    conversion, by : str
        The conversion event and the touch column.
    lookback_days, half_life_days : float
    max_touches : int
    collapse_repeats : bool
    touch_events : list of str or None
        Events counted as touches (None: every event but the conversion).
    conversions : int
        Conversion events in the log.
    attributed : int
        Conversions with at least one touch in the lookback window; credit sums to this.
    conversion_value : float
        Sum of the amounts of the attributed conversions (0 when the log has no amounts).
    credits : DataFrame
        One row per touch value: column ``by`` then one column per model in
        :data:`MODELS` (conversions credited), sorted by Markov credit.
    value_credits : DataFrame
        The same for conversion amounts.
    removal_effects : DataFrame
        ``by``, ``removal_effect`` (share of the chain's conversions lost when
        the value is removed) for the Markov model.
    conversion_probability : float
        The chain's probability of converting from the start.
    paths : DataFrame
        Top paths: ``path`` (list), ``touches``, ``journeys``, ``conversions``, ``conversion_rate``.
    distinct_paths, journeys, capped_paths : int
    notes : list of str
        What was handled and how (one channel only, conversions without a touch, capped paths, ...).
    """

    conversion: str
    by: str
    lookback_days: float
    half_life_days: float
    max_touches: int
    collapse_repeats: bool
    touch_events: list[str] | None
    conversions: int
    attributed: int
    conversion_value: float
    credits: pd.DataFrame
    value_credits: pd.DataFrame
    removal_effects: pd.DataFrame
    conversion_probability: float
    paths: pd.DataFrame
    distinct_paths: int
    journeys: int
    capped_paths: int
    notes: list[str] = field(default_factory=list)
    note: str = ATTRIBUTION_NOTE

    @property
    def unattributed(self) -> int:
        """Conversions with no touch in the lookback window (no model credits them)."""
        return self.conversions - self.attributed

    def shares(self) -> pd.DataFrame:
        """Credits as shares of the attributed conversions (each model's column sums to 1)."""
        out = self.credits.copy()
        for m in MODELS:
            total = out[m].sum(min_count=1)
            out[m] = out[m] / total if total > 0 else np.nan
        return out

    def path_text(self, sep: str = " > ") -> pd.DataFrame:
        """The path table with each path written as one text (``facebook > email``)."""
        out = self.paths.copy()
        out["path"] = out["path"].map(lambda p: sep.join(map(str, p)))
        return out

    def credit_table(self) -> pd.DataFrame:
        """One row per touch value: conversions credited and share under each model, the removal effect, and
        (when conversions carry amounts) the value credited: what the downloads and ``-o`` write."""
        out = self.credits[[self.by]].copy()
        shares = self.shares()
        for m in MODELS:
            out[m] = self.credits[m].to_numpy()
        for m in MODELS:
            out[f"{m}_share"] = shares[m].to_numpy()
        out["removal_effect"] = self.removal_effects["removal_effect"].to_numpy()
        if self.conversion_value:
            for m in MODELS:
                out[f"{m}_value"] = self.value_credits[m].to_numpy()
        return out

    def to_store(self) -> tuple[dict, dict[str, pd.DataFrame]]:
        """JSON metadata and tables for :meth:`analytics.workspace.Workspace.put_result`."""
        meta = json_safe({f.name: getattr(self, f.name) for f in fields(self)
                          if not isinstance(getattr(self, f.name), pd.DataFrame)})
        meta["conversion_probability"] = self.conversion_probability  # NaN stays NaN (json writes it)
        paths = self.paths.assign(path=self.paths["path"].map(lambda p: json.dumps(list(p))))
        frames = {"credits": self.credits, "value_credits": self.value_credits,
                  "removal_effects": self.removal_effects, "paths": paths}
        return meta, frames

    @classmethod
    def from_store(cls, meta: dict, frames: dict[str, pd.DataFrame]) -> AttributionResult:
        """The result again from :meth:`to_store`'s metadata and tables."""
        names = {f.name for f in fields(cls)}
        paths = frames["paths"].assign(path=frames["paths"]["path"].map(json.loads))
        scalars = {k: v for k, v in meta.items() if k in names and k not in _FRAMES}
        if scalars.get("conversion_probability") is None:
            scalars["conversion_probability"] = float("nan")
        return cls(**scalars, credits=frames["credits"], value_credits=frames["value_credits"],
                   removal_effects=frames["removal_effects"], paths=paths)

    def to_dict(self) -> dict:
        """What ``python -m analytics attribution ... --json`` prints."""
        shares = self.shares()
        credits = []
        for (_, row), (_, share), (_, value) in zip(self.credits.iterrows(), shares.iterrows(),
                                                    self.value_credits.iterrows()):
            item = {self.by: row[self.by]}
            for m in MODELS:
                item[m] = {"conversions": row[m], "share": share[m], "value": value[m]}
            credits.append(item)
        effects = dict(zip(self.removal_effects[self.by], self.removal_effects["removal_effect"]))
        return json_safe({
            "conversion": self.conversion,
            "by": self.by,
            "lookback_days": self.lookback_days,
            "half_life_days": self.half_life_days,
            "max_touches": self.max_touches,
            "collapse_repeats": self.collapse_repeats,
            "touch_events": self.touch_events,
            "conversions": self.conversions,
            "attributed_conversions": self.attributed,
            "unattributed_conversions": self.unattributed,
            "conversion_value": self.conversion_value,
            "journeys": self.journeys,
            "distinct_paths": self.distinct_paths,
            "capped_paths": self.capped_paths,
            "models": list(MODELS),
            "credits": credits,
            "markov": {"conversion_probability": self.conversion_probability, "removal_effects": effects},
            "top_paths": [
                {"path": list(r.path), "touches": r.touches, "journeys": r.journeys, "conversions": r.conversions,
                 "conversion_rate": r.conversion_rate}
                for r in self.paths.itertuples(index=False)
            ],
            "notes": self.notes,
            "note": self.note,
        })
