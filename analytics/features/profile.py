"""The dataset profile: what the events hold (events, amounts, attributes, time range), whatever engine read them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

# Distinct values recorded for an attribute that looks like an identifier (see distinct_in_sample).
IDENTIFIER_DISTINCT = 10**9
# Names of id columns (product_id, SKU, content id, ...). With more distinct values than
# IDENTIFIER_NAMED_DISTINCT in the preview such a column is an identifier even when values repeat
# (a product id repeats a lot), so no "most frequent value" feature is made of it.
_ID_NOUNS = "item|product|article|content|offer|variant|listing|user|customer|session|order"
_IDENTIFIER_NAME = re.compile(
    r"(.*[ _.-])?(id|ids|key|sku|ean|gtin|upc|asin|isbn|uuid|guid)"  # order_id, user key, SKU
    rf"|({_ID_NOUNS}|sku)[ _.-]?(no|nr|number|code|ref)?"  # product, sku_no, article number
    rf"|.*({_ID_NOUNS})id", re.I)  # productId, ProductID
IDENTIFIER_NAMED_DISTINCT = 50
# A text attribute with at most this many values is profiled with all of them, so the feature
# table finds each user's most frequent one by counting every value in its one pass over the
# events, instead of a grouped pass of its own (22 values: +4.9 s against 4 x 3.5 s at 103M events).
FEW_VALUES = 16


@dataclass(frozen=True)
class AttributeInfo:
    """One attribute column: ``"number"`` or ``"text"``, (about) how many distinct values it has,
    and for a text attribute with at most :data:`FEW_VALUES` values, all of them (sorted).
    ``empty``: a text attribute without a single value in the whole log (GA4's ``user_id`` when
    nobody logs in), which gets no feature."""

    type: str
    distinct: int
    values: tuple[str, ...] = ()
    empty: bool = False


@dataclass(frozen=True)
class DatasetProfile:
    """What a dataset's events hold; stored with the dataset, the same whatever engine computed it.

    Attributes
    ----------
    event_counts, amount_counts : dict
        Per event name: rows, and rows with an amount.
    attributes : dict of AttributeInfo
        Attribute column -> type and distinct values.
    ts_min, ts_max : str or None
        First and last event time (ISO text, UTC).
    has_sessions : bool
        The log has a session id column with values.
    users : int
    """

    event_counts: dict[str, int] = field(default_factory=dict)
    amount_counts: dict[str, int] = field(default_factory=dict)
    attributes: dict[str, AttributeInfo] = field(default_factory=dict)
    ts_min: str | None = None
    ts_max: str | None = None
    has_sessions: bool = False
    users: int = 0

    @property
    def events_by_count(self) -> list[str]:
        """Event names, most frequent first (ties by name)."""
        return [e for e, _ in sorted(self.event_counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def to_dict(self) -> dict:
        return {"event_counts": dict(self.event_counts), "amount_counts": dict(self.amount_counts),
                "attributes": {a: {"type": i.type, "distinct": i.distinct}
                               | ({"values": list(i.values)} if i.values else {}) | ({"empty": True} if i.empty else {})
                               for a, i in self.attributes.items()},
                "ts_min": self.ts_min, "ts_max": self.ts_max, "has_sessions": self.has_sessions, "users": self.users}

    @classmethod
    def from_dict(cls, d: dict) -> DatasetProfile:
        return cls(event_counts={str(k): int(v) for k, v in (d.get("event_counts") or {}).items()},
                   amount_counts={str(k): int(v) for k, v in (d.get("amount_counts") or {}).items()},
                   attributes={a: AttributeInfo(i["type"], int(i.get("distinct") or 0),
                                                tuple(str(v) for v in i.get("values") or ()), bool(i.get("empty")))
                               for a, i in (d.get("attributes") or {}).items()},
                   ts_min=d.get("ts_min"), ts_max=d.get("ts_max"), has_sessions=bool(d.get("has_sessions")),
                   users=int(d.get("users") or 0))


def distinct_in_sample(sample: pd.DataFrame, attributes: list[str]) -> dict[str, int]:
    """Distinct values per attribute in a preview; identifiers count as "very many".

    Many values that are mostly different (URLs, order ids) mark an identifier,
    whatever the file size, and so does a column named like one (``item_id``,
    ``SKU``, ``product``) with more than :data:`IDENTIFIER_NAMED_DISTINCT` values:
    its "most frequent value" is not computed.
    """
    out = {}
    for col in attributes:
        if col in sample.columns:
            values = sample[col].dropna()
            distinct = int(values.nunique())
            mostly_different = distinct > 100 and distinct >= 0.5 * len(values)
            named_id = distinct > IDENTIFIER_NAMED_DISTINCT and looks_like_identifier(col)
            out[col] = IDENTIFIER_DISTINCT if mostly_different or named_id else distinct
    return out


def looks_like_identifier(name: str) -> bool:
    """True for column names of identifiers: ``item_id``, ``productId``, ``SKU``, ``content id``, ``product``."""
    return bool(_IDENTIFIER_NAME.fullmatch(str(name).strip()))


def few_valued(attributes: dict[str, str], distinct: dict) -> list[str]:
    """Text attributes whose values :func:`profile_from` should be given: few distinct values in the sample,
    or none there (the whole log then says whether it has any)."""
    return [a for a, kind in attributes.items() if kind == "text" and int(distinct.get(a) or 0) <= FEW_VALUES]


def profile_from(by_event: pd.DataFrame, users: int, attributes: dict[str, str], distinct: dict,
                 values: dict[str, list[str]] | None = None) -> DatasetProfile:
    """The profile from per-event counts (:func:`analytics.features.queries.event_profile`) and attribute facts.

    ``values`` holds the distinct values of the :func:`few_valued` attributes as
    :func:`analytics.features.queries.attribute_values` finds them; those with more than
    :data:`FEW_VALUES` are not kept.
    """
    kept = {a: tuple(sorted(str(v) for v in vs)) for a, vs in (values or {}).items() if 0 < len(vs) <= FEW_VALUES}
    empty = {a for a, vs in (values or {}).items() if not len(vs)}
    mins = [pd.Timestamp(v) for v in by_event["ts_min"] if pd.notna(v)]
    maxs = [pd.Timestamp(v) for v in by_event["ts_max"] if pd.notna(v)]
    return DatasetProfile(
        event_counts={str(e): int(n) for e, n in zip(by_event["event"], by_event["n"])},
        amount_counts={str(e): int(n) for e, n in zip(by_event["event"], by_event["n_amount"])},
        attributes={a: AttributeInfo(kind, len(kept[a]), kept[a]) if a in kept
                    else AttributeInfo(kind, 0, empty=True) if a in empty
                    else AttributeInfo(kind, int(distinct.get(a) or 0)) for a, kind in attributes.items()},
        ts_min=min(mins).isoformat() if mins else None,
        ts_max=max(maxs).isoformat() if maxs else None,
        has_sessions=bool((by_event["n_session"] > 0).any()),
        users=int(users),
    )
