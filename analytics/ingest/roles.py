"""Column roles, guessed from names and values, overridable by the user.

The canonical events table needs a user, a time and an event per row, and can
use an amount and a session id, and the identifiers other analyses need: the
item (product, SKU) for recommendations, the content (post, creative, ad) and
the campaign for social channels. Every other column is kept as an attribute.
:func:`guess_mapping` proposes a :class:`ColumnMapping` from a preview of the
file, and the user may change any of it before import (:func:`mapping_with`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache

import pandas as pd

from analytics.errors import MappingError
from analytics.ingest.formats import DATE_ORDERS, NumberFormat, TimeFormat, detect_number_format, detect_time_format

CORE_ROLES = ("user_id", "timestamp", "event", "amount", "session_id")

# Optional identifiers, each stored under its own name in the events table (as text).
ID_ROLES = ("item_id", "content_id", "campaign")

ROLES = CORE_ROLES + ID_ROLES

# The canonical events table's own columns (the identifiers and attributes follow them).
CANONICAL = ("user_id", "ts", "event", "amount", "session_id")

ROLE_LABELS = {
    "user_id": "User id",
    "timestamp": "Time",
    "event": "Event",
    "amount": "Amount",
    "session_id": "Session id",
    "item_id": "Item / product id",
    "content_id": "Content / post id",
    "campaign": "Campaign",
}

_NAME_PATTERNS: dict[str, list[tuple[str, float]]] = {
    "user_id": [
        (r"(user|customer|client|visitor|member|account|buyer|shopper|subscriber|contact|person|player|cust|profile"
         r"|kunde|kunden|nutzer|benutzer|cliente|usuario|utilisateur|klant|klient|zákazník|zakaznik|uživatel"
         r"|użytkownik|uzytkownik|asiakas|kund|kunde|пользователь|клиент|покупатель"
         r"|ユーザー|顧客|会員|用户|客户|会员)"
         r"[ _-]?(id|key|no|nr|number|code|ref)?", 3.0),
        (r"(uid|cid|userid|customerid|clientid|anonymous[ _]?id|distinct[ _]?id|device[ _]?id|email)", 3.0),
        (r"(user|customer|client|visitor|member|account)", 2.0),
    ],
    "timestamp": [
        (r"(event[ _-]?)?(timestamp|datetime|date[ _-]?time|time[ _-]?stamp|ts|event[ _-]?time|occurred[ _-]?at|"
         r"created[ _-]?at|time|date|day|when|invoice[ _-]?date|order[ _-]?date|zeit|datum|fecha|heure|data"
         r"|время|дата|日時|日付|时间|日期)", 3.0),
        (r"(time|date|created|occurred)", 2.0),
    ],
    "event": [
        (r"(event|event[ _-]?(name|type)|metric[ _-]?name|action|activity|interaction|behaviou?r|event_action"
         r"|hit[ _-]?type"
         r"|aktion|ereignis|evento|accion|acción|événement|evenement|событие|действие|イベント|行動|事件|行为)", 3.0),
        (r"(type|action|event|activity|status)", 1.5),
    ],
    "amount": [
        (r"(amount|revenue|value|total|sales|spend|gmv|order[ _-]?value|paid|price|net|gross|turnover|"
         r"purchase[ _-]?value|sum|betrag|umsatz|wert|preis|montant|prix|importe|valor|precio|сумма|выручка"
         r"|金額|売上|金额|销售额)", 3.0),
        (r"(amount|revenue|value|total|price|sales|spend|eur|usd)", 2.0),
    ],
    "session_id": [
        (r"(session|visit)[ _-]?(id|key|no|number)?", 3.0),
        (r"(session|visit)", 2.0),
    ],
    # The identifier roles are read from names only (no looser second pattern): a column is
    # an item or a campaign because it says so, never because its values look like ids.
    "item_id": [
        # Shop exports prefix line items: Shopify's "Lineitem name", "Lineitem sku".
        (r"(line[ _-]?)?((item|product|sku|article|artikel|produkt|producto|produit|prodotto|articulo|artículo"
         r"|asin|ean|gtin|товар|артикул|商品|产品)([ _-]?(id|key|no|nr|number|code|ref|nummer|numero|número|код"
         r"|编号))?|(offer|variant|listing)[ _-]?(id|key|code)|(item|product|artikel|produkt|товар)[ _-]?(name"
         r"|title))", 3.0),
    ],
    "content_id": [
        (r"(content|post|creative|ad|media|tweet|video|reel|story|asset|pin|beitrag|publicacion|publicación"
         r"|contenu|contenido|пост|публикация|投稿|帖子)[ _-]?(id|key|code|no|nr|number|ид)|creative", 3.0),
    ],
    "campaign": [
        # GA4's per-event campaign is collected_traffic_source.manual_campaign_name (beside its id).
        (r"(utm[ _-]?)?campaign([ _-]?(id|name|key|code))?|manual[ _-]?campaign[ _-]?name|kampagne|campagne|campaña"
         r"|campana|campanha|campagna|кампания|キャンペーン|活动|营销活动", 3.0),
    ],
}


# Names that look like amounts but are not money.
# Words in a name that say a number is not money, as whole words ("id" in user_id or userId, not in "paid";
# "count" in item_count, not in "discount").
_NOT_MONEY = re.compile(r"(?<![a-z])(qty|quantity|count|units|items|number|num|no|id|rank|score|rating|age|year|time"
                        r"|duration|seconds|minutes|hours|position|version|lat|lng|lon|latitude|longitude|zip"
                        r"|postcode)(?![a-z])", re.I)


def _not_money(name: str) -> bool:
    return bool(_NOT_MONEY.search(re.sub(r"([a-z])([A-Z])", r"\1_\2", name)))


def _name_score(role: str, column: str) -> float:
    name = column.strip().lower()
    for pattern, score in _NAME_PATTERNS[role]:
        if re.fullmatch(pattern, name):
            return score
    for pattern, score in _NAME_PATTERNS[role][1:]:
        if re.search(pattern, name):
            return score - 0.5
    return 0.0


@dataclass
class ColumnMapping:
    """Which column plays which role, and how its values are read.

    Attributes
    ----------
    user_id, timestamp : str
        Required columns.
    event : str or None
        None for a transaction log: every row becomes ``event_name``.
    amount, session_id : str or None
    item_id, content_id, campaign : str or None
        Optional identifiers (product/SKU; post/creative/ad; campaign), stored as text
        under these names.
    attributes : list of str
        Other columns kept (channel, country, ...).
    event_name : str
        The event of every row when there is no event column.
    date_order : {"auto", "dmy", "mdy"}
    timezone : str
        The time zone of times written without an offset (an IANA name such as ``Europe/Berlin``;
        default UTC): shop back-ends often export local times. Times with an offset or ``Z``, and
        epoch numbers, are absolute and keep their instant.
    encoding : str or None
        Text encoding a connected log is read with on Spark (None: UTF-8), kept so that
        reading it again gives the same text; uploads are decoded once, at import.
    """

    user_id: str | None
    timestamp: str | None
    event: str | None = None
    amount: str | None = None
    session_id: str | None = None
    item_id: str | None = None
    content_id: str | None = None
    campaign: str | None = None
    attributes: list[str] = field(default_factory=list)
    event_name: str = "purchase"
    date_order: str = "auto"
    encoding: str | None = None
    timezone: str = "UTC"

    def roles(self) -> dict[str, str | None]:
        return {r: getattr(self, r) for r in ROLES}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ColumnMapping:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def validate(self, columns: Sequence[str]) -> None:
        """Check the mapping against the file's columns.

        Raises
        ------
        MappingError
            Naming the missing role or the unknown/reused column.
        """
        shown = ", ".join(f"'{c}'" for c in list(columns)[:12]) + (", ..." if len(columns) > 12 else "")
        missing = []  # both at once when both are missing: one round trip for the user, not two
        if not self.user_id:
            missing.append("No column is mapped to the user id. Pick the column that says who did the event "
                           "(customer id, visitor id, email, ...).")
        if not self.timestamp:
            missing.append("No column is mapped to the time, and none looks like dates or times. Pick the "
                           "column that says when the event happened.")
        if missing:
            raise MappingError(" ".join(missing) + f" The file's columns are {shown}.")
        used = [c for c in self.roles().values() if c]
        for c in used + list(self.attributes):
            if c not in columns:
                raise MappingError(f"Column '{c}' is not in the file; its columns are: {', '.join(columns[:20])}.")
        dupes = {c for c in used if used.count(c) > 1}
        if dupes:
            raise MappingError(f"Column '{sorted(dupes)[0]}' is mapped to two roles; give each role its own column.")
        if self.event is None and not (self.event_name or "").strip():
            raise MappingError("There is no event column, so name the event every row stands for (e.g. purchase).")
        if self.date_order not in DATE_ORDERS:
            raise MappingError(f"Date order must be one of {', '.join(DATE_ORDERS)}.")
        if self.timezone not in time_zones():
            raise MappingError(f"Time zone '{self.timezone[:60]}' is unknown: give a name such as Europe/Berlin, "
                               "America/New_York or Asia/Kolkata (or UTC).")


@cache
def time_zones() -> tuple[str, ...]:
    """The time zone names that both DuckDB (imports) and Python (the scoring service, through the tzdata
    package) know, UTC first."""
    import zoneinfo

    import duckdb

    names = {r[0] for r in duckdb.connect().execute("SELECT name FROM pg_timezone_names()").fetchall()}
    return ("UTC", *sorted(names & zoneinfo.available_timezones() - {"UTC"}))


@dataclass
class MappingGuess:
    """A proposed mapping with the reasons behind it, for the mapping screen."""

    mapping: ColumnMapping
    reasons: dict[str, str]
    time_format: TimeFormat | None
    amount_format: NumberFormat | None


def stored_attribute_names(attributes: Sequence[str]) -> dict[str, str]:
    """Attribute column -> its name in the events table (DuckDB and Spark alike).

    A name that clashes with a canonical column or identifier role, or starts with ``_`` (kept for
    internal columns), gets ``_attr``; names still equal up to case (DuckDB's column names ignore it)
    get a trailing ``_`` until they differ.
    """
    taken = set(CANONICAL) | set(ID_ROLES)
    names = {}
    for col in attributes:
        out = col if col.lower() not in taken and not col.startswith("_") else f"{col.lstrip('_') or 'column'}_attr"
        while out.lower() in taken:
            out += "_"
        taken.add(out.lower())
        names[col] = out
    return names


def guess_mapping(preview: pd.DataFrame) -> MappingGuess:
    """Propose column roles from a preview of the file.

    Each column is scored per role by its name (``customer_id`` reads as a user)
    and checked against its values (a time column must parse as time, an amount
    as numbers, an event column has few distinct values). Roles are filled in the
    order time, user, item, content, campaign (these three by name only: ``sku``,
    ``post_id``, ``utm_campaign``, ...), event, amount, session; the rest become attributes.

    Parameters
    ----------
    preview : DataFrame
        The first rows of the file, as read by :func:`analytics.ingest.relation.preview`.

    Returns
    -------
    MappingGuess
        ``mapping.user_id``/``timestamp`` may be None when nothing fits; the UI
        then asks, and :meth:`ColumnMapping.validate` explains.
    """
    columns = [str(c) for c in preview.columns]
    profiles = {c: _profile(preview[c]) for c in columns}
    chosen: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    taken: set[str] = set()

    def pick(role: str, value_score) -> None:
        # A required role takes the best column even with no evidence for it; the user checks.
        best, best_score = None, (-1.0 if role in ("user_id", "timestamp") else 0.0)
        for c in columns:
            if c in taken:
                continue
            v = value_score(profiles[c])
            if v is None:
                continue
            score = _name_score(role, c) + v
            if score > best_score:
                best, best_score = c, score
        chosen[role] = best
        if best is not None:
            taken.add(best)
            how = "its name and values" if _name_score(role, best) > 0 else "its values"
            reasons[role] = f"'{best}' chosen by {how}"

    # Of two time columns, the one with a time of day (GA4's event_timestamp beside its event_date).
    pick("timestamp", lambda p: None if p["time_share"] < 0.8 else 1.0 + p["time_share"] + 0.25 * p["time_of_day"])
    pick("user_id", _user_value_score)
    # Identifiers by name, before the event: a product column is not an event column with many values.
    for role in ID_ROLES:
        pick(role, _identifier_value_score)
    pick("event", _event_value_score)
    pick("amount", _amount_value_score)
    # Only a column named like a session is one: with no name score nothing is picked.
    pick("session_id", lambda p: None if p["distinct_ratio"] < 0.001 else 0.0)
    attributes = [c for c in columns if c not in taken]
    mapping = ColumnMapping(**{role: chosen.get(role) for role in ROLES}, attributes=attributes)
    if mapping.event is None:
        reasons["event"] = "no event column found: every row will be imported as a 'purchase' event"
    if mapping.amount is None:
        money = [c for c in attributes if _name_score("amount", c) >= 3 and not _not_money(c)]
        if money:
            # Named like money but not read as numbers (e.g. "USD 12.00"): say so rather than drop spend silently.
            shown = ", ".join(repr(str(v))[:20] for v in preview[money[0]].dropna().head(2).tolist())
            reasons["amount"] = (f"'{money[0]}' looks like money by its name, but its values are not plain numbers "
                                 f"(e.g. {shown or 'empty'}), so no amount is read and spend will be empty; pick "
                                 "it here to read what can be read (the rest is reported), or export plain numbers")
    tf = detect_time_format(preview[mapping.timestamp]) if mapping.timestamp else None
    nf = detect_number_format(preview[mapping.amount]) if mapping.amount else None
    return MappingGuess(mapping, reasons, tf, nf)


def _profile(col: pd.Series) -> dict:
    values = [v for v in col.tolist() if v is not None and str(v).strip() != ""]
    n_all = max(1, len(col))
    text = [str(v).strip() for v in values]
    n = max(1, len(text))
    distinct = len(set(text))
    tf = detect_time_format(values) if values else None
    nf = detect_number_format(values) if values else NumberFormat(share=0.0)
    return {
        "fill": len(text) / n_all,
        "rows": len(text),
        "distinct": distinct,
        "distinct_ratio": distinct / n,
        "time_share": tf.share if tf else 0.0,
        "time_kind": tf.kind if tf else None,
        # Epoch numbers and native timestamps carry a time of day; written values when they have a clock time.
        "time_of_day": bool(tf) and (tf.kind.startswith("epoch") or tf.kind == "native"
                                     or any(":" in v for v in text[:200])),
        "numeric_share": nf.share,
        "mean_len": sum(map(len, text)) / n,
        "has_decimals": any("." in v or "," in v for v in text[:500]),
        "name": col.name,
    }


def _user_value_score(p: dict) -> float | None:
    # Long numeric ids can look like epoch seconds, so only written dates rule a column out.
    written_date = p["time_share"] >= 0.8 and not str(p["time_kind"]).startswith("epoch")
    if p["fill"] < 0.5 or written_date or p["distinct"] < 1:
        return None
    if p["numeric_share"] > 0.9 and p["has_decimals"]:
        return None  # money, not ids
    name = str(p["name"])
    if _name_score("user_id", name) <= 0:
        if _too_few_users(p) or (p["distinct"] <= HANDFUL and p["rows"] >= UNNAMED_ROWS_FOR_HANDFUL):
            return None  # one value (or a handful) is a label (a channel, a country), not people: ask
        if any(_name_score(role, name) >= 3 for role in _OTHER_NAMED_ROLES) or _PROPERTY_NAME.search(name):
            return None  # named as something else (an amount, a product, a channel): never the people; ask
    score = 0.0
    if p["distinct"] > 1 and p["distinct_ratio"] < 0.95:
        score += 1.0  # users come back: ids repeat
    if p["distinct"] > 20:
        score += 0.5
    return score


# One value over this many rows, or a handful over that many, is a label, not people (a log of 3
# customers has fewer rows than that in its preview). A column named like a user is still taken:
# a log of one customer is a log.
ONE_VALUE_ROWS, HANDFUL, ROWS_FOR_HANDFUL = 20, 5, 500
# Without a name saying user, a handful of values over this many rows is a label already.
UNNAMED_ROWS_FOR_HANDFUL = 50


# A column named like one of these is not taken as the user column unless its name also says user.
_OTHER_NAMED_ROLES = ("timestamp", "event", "amount", "session_id", "item_id", "content_id", "campaign")
# Names of what events or users have (where, how, what kind), never who: neither is a user column.
_PROPERTY_NAME = re.compile(
    r"(channel|source|medium|platform|device|browser|\bos\b|country|region|city|state|language|locale|category"
    r"|status|type|segment|tier|plan|referr?er|page|url|currency|kanal|land|pays|pais|país|kategorie|categor)",
    re.I)


def _too_few_users(p: dict) -> bool:
    one_value = p["distinct"] == 1 and p["rows"] >= ONE_VALUE_ROWS
    return one_value or (p["distinct"] <= HANDFUL and p["rows"] >= ROWS_FOR_HANDFUL)


def _event_value_score(p: dict) -> float | None:
    if p["fill"] < 0.5 or p["time_share"] >= 0.8 or p["numeric_share"] > 0.5:
        return None
    if any(_name_score(role, str(p["name"])) >= 3 for role in _NOT_EVENT_ROLES):
        return None  # a second user column (an email beside the customer id) is people, not what they did
    if p["distinct"] > 500 or (p["distinct_ratio"] > 0.2 and p["distinct"] > 20):
        return None
    return 1.0 if p["distinct"] >= 2 else 0.2


_NOT_EVENT_ROLES = ("user_id", "amount", "session_id", *ID_ROLES)


def _identifier_value_score(p: dict) -> float | None:
    # Named like an item, post or campaign; ruled out only by values that are times or money.
    if p["fill"] == 0 or p["time_share"] >= 0.8 or (p["numeric_share"] > 0.9 and p["has_decimals"]):
        return None
    return 0.0


def _amount_value_score(p: dict) -> float | None:
    # A column named like money may hold some junk (cleaning reports it); others must be clean.
    needed = 0.5 if _name_score("amount", str(p["name"])) >= 3 else 0.9
    if p["numeric_share"] < needed or p["time_share"] >= 0.8 or p["fill"] == 0:
        return None
    if _not_money(str(p["name"])):
        return None
    return 0.5 + (0.5 if p["has_decimals"] else 0.0)


_PURCHASE = re.compile(r"(purchase|order|transaction|buy|bought|sale|paid|payment|conversion|checkout[ _-]?complete"
                       r"|complete[ _-]?checkout|invoice)", re.I)

_NOT_PURCHASE = re.compile(r"(begin|start|init|add|cart|view|cancel|refund|return|abandon|fail)", re.I)


def guess_purchase_event(event_counts: dict[str, int], amount_counts: dict[str, int] | None = None) -> str | None:
    """The event that means "bought": by name first, else the one carrying amounts.

    Parameters
    ----------
    event_counts : dict
        Event name -> number of rows.
    amount_counts : dict, optional
        Event name -> number of rows with an amount.
    """
    names = [e for e in event_counts if e is not None]
    exact = [e for e in names if str(e).strip().lower() in ("purchase", "order", "transaction")]
    if exact:
        return exact[0]
    named = [e for e in names if _PURCHASE.search(str(e)) and not _NOT_PURCHASE.search(str(e))]
    if named:
        return max(named, key=lambda e: event_counts[e])
    if amount_counts:
        with_amount = {e: c for e, c in amount_counts.items() if c > 0 and e is not None}
        if with_amount:
            return max(with_amount, key=with_amount.get)
    return None


def mapping_with(columns: Sequence[str], base: ColumnMapping, *, attributes: Sequence[str] | None = None,
                 **changes) -> ColumnMapping:
    """``base`` with some roles changed; a column moved to a role leaves its old one.

    Parameters
    ----------
    columns : sequence of str
        The file's columns, in order.
    base : ColumnMapping
        Usually the guess.
    attributes : sequence of str, optional
        Columns to keep as attributes; default: every column without a role.
    **changes
        Any of :data:`ROLES` (``user_id, timestamp, event, amount, session_id, item_id,
        content_id, campaign``; a column name, or None for no column), ``event_name`` and
        ``date_order``, ``timezone``.

    Returns
    -------
    ColumnMapping
        Not yet validated (call :meth:`ColumnMapping.validate`).
    """
    unknown = set(changes) - set(ROLES) - {"event_name", "date_order", "timezone"}
    if unknown:
        raise ValueError(f"unknown mapping fields: {sorted(unknown)}")
    roles = base.roles()
    for role in ROLES:
        if role in changes:
            col = changes[role]
            if col is not None:
                for other in ROLES:
                    if roles[other] == col:
                        roles[other] = None
            roles[role] = col
    used = {c for c in roles.values() if c}
    attrs = [c for c in (columns if attributes is None else attributes) if c not in used]
    return ColumnMapping(**roles, attributes=attrs,
                         event_name=changes.get("event_name") or base.event_name,
                         date_order=changes.get("date_order") or base.date_order,
                         timezone=changes.get("timezone") or base.timezone)
