"""Column roles and value formats, guessed from names and values.

The canonical events table needs a user, a time and an event per row, and can
use an amount and a session id; every other column is kept as an attribute.
:func:`guess_mapping` proposes a :class:`ColumnMapping` from a preview of the
file, and the user may change any of it before import. :func:`detect_time_format`
and :func:`detect_number_format` decide how text becomes timestamps and numbers;
:mod:`analytics.cleaning` turns those decisions into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from analytics.errors import MappingError

ROLES = ("user_id", "timestamp", "event", "amount", "session_id")
ROLE_LABELS = {
    "user_id": "User id",
    "timestamp": "Time",
    "event": "Event",
    "amount": "Amount",
    "session_id": "Session id",
}
DATE_ORDERS = ("auto", "dmy", "mdy")

_NAME_PATTERNS: dict[str, list[tuple[str, float]]] = {
    "user_id": [
        (r"(user|customer|client|visitor|member|account|buyer|shopper|subscriber|contact|person|player|cust"
         r"|kunde|kunden|nutzer|benutzer|cliente|usuario|utilisateur|klant)"
         r"[ _-]?(id|key|no|nr|number|code|ref)?", 3.0),
        (r"(uid|cid|userid|customerid|clientid|anonymous[ _]?id|distinct[ _]?id|device[ _]?id|email)", 3.0),
        (r"(user|customer|client|visitor|member|account)", 2.0),
    ],
    "timestamp": [
        (r"(event[ _-]?)?(timestamp|datetime|date[ _-]?time|time[ _-]?stamp|ts|event[ _-]?time|occurred[ _-]?at|"
         r"created[ _-]?at|time|date|day|when|invoice[ _-]?date|order[ _-]?date|zeit|datum|fecha|heure|data)", 3.0),
        (r"(time|date|created|occurred)", 2.0),
    ],
    "event": [
        (r"(event|event[ _-]?(name|type)|action|activity|interaction|behaviou?r|event_action|hit[ _-]?type"
         r"|aktion|ereignis|evento|accion|événement|evenement)", 3.0),
        (r"(type|action|event|activity)", 1.5),
    ],
    "amount": [
        (r"(amount|revenue|value|total|sales|spend|gmv|order[ _-]?value|paid|price|net|gross|turnover|"
         r"purchase[ _-]?value|sum|betrag|umsatz|wert|preis|montant|prix|importe|valor|precio)", 3.0),
        (r"(amount|revenue|value|total|price|sales|spend|eur|usd)", 2.0),
    ],
    "session_id": [
        (r"(session|visit)[ _-]?(id|key|no|number)?", 3.0),
        (r"(session|visit)", 2.0),
    ],
}
# Names that look like amounts but are not money.
_NOT_MONEY = re.compile(r"(qty|quantity|count|units|items|number|num|id|rank|score|rating|age|year)", re.I)


def _name_score(role: str, column: str) -> float:
    name = column.strip().lower()
    for pattern, score in _NAME_PATTERNS[role]:
        if re.fullmatch(pattern, name):
            return score
    for pattern, score in _NAME_PATTERNS[role][1:]:
        if re.search(pattern, name):
            return score - 0.5
    return 0.0


# --- value formats --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimeFormat:
    """How a time column's text becomes a UTC timestamp.

    Attributes
    ----------
    kind : str
        ``native`` (already a timestamp), ``iso`` (ISO 8601, offsets honoured),
        ``epoch_s``/``epoch_ms``/``epoch_us``, ``yyyymmdd``, ``dmy``/``mdy``/``ymd``
        (separated dates with optional time).
    formats : tuple of str
        strptime formats tried in order (for the separated-date kinds).
    ambiguous : bool
        Day-first vs month-first could not be told from the sample.
    share : float
        Share of sample values this format parses.
    """

    kind: str
    formats: tuple[str, ...] = ()
    ambiguous: bool = False
    share: float = 1.0

    def describe(self) -> str:
        text = {
            "native": "timestamps",
            "iso": "ISO 8601 date/time (time-zone offsets converted to UTC)",
            "epoch_s": "Unix epoch seconds",
            "epoch_ms": "Unix epoch milliseconds",
            "epoch_us": "Unix epoch microseconds",
            "yyyymmdd": "dates written YYYYMMDD",
            "dmy": "day-first dates (DD/MM/YYYY)",
            "mdy": "month-first dates (MM/DD/YYYY)",
            "ymd": "year-first dates (YYYY/MM/DD)",
        }[self.kind]
        if self.ambiguous:
            text += "; every sampled date fits both day-first and month-first, so this was assumed: check it"
        return text


_SEP_DATE = re.compile(
    r"^(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})"
    r"(?:([ T])(\d{1,2}):(\d{2})(:\d{2}(?:\.\d+)?)?\s*([AaPp][Mm])?)?\s*$")
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?$", re.I)
_INT = re.compile(r"^\d+(?:\.\d+)?$")


def detect_time_format(values: Iterable[object], date_order: str = "auto") -> TimeFormat | None:
    """Find the format that parses most of ``values`` (at least 80% of non-empty ones).

    Parameters
    ----------
    values : iterable
        A sample of the column (text, numbers or datetimes).
    date_order : {"auto", "dmy", "mdy"}
        Force day-first or month-first for separated dates; ``auto`` decides from
        the values (a first number above 12 means day-first, a second above 12
        month-first) and flags the result ambiguous when neither occurs.

    Returns
    -------
    TimeFormat or None
        None when nothing parses well enough.
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, got {date_order!r}")
    sample = [v for v in values if v is not None and str(v).strip() != ""][:5000]
    if not sample:
        return None
    if all(isinstance(v, pd.Timestamp) or hasattr(v, "tzinfo") for v in sample):
        return TimeFormat("native")
    text = [str(v).strip() for v in sample]
    n = len(text)

    iso = sum(bool(_ISO.match(v)) for v in text) / n
    if iso >= 0.8:
        return TimeFormat("iso", share=iso)

    ints = [v for v in text if _INT.match(v)]
    if len(ints) >= 0.8 * n:
        digits = sorted(len(v.split(".")[0]) for v in ints)
        typical = digits[len(digits) // 2]
        if typical == 8 and all(_plausible_yyyymmdd(v) for v in ints[:500]):
            return TimeFormat("yyyymmdd", ("%Y%m%d",), share=len(ints) / n)
        epochs = {9: "epoch_s", 10: "epoch_s", 12: "epoch_ms", 13: "epoch_ms", 15: "epoch_us", 16: "epoch_us"}
        kind = epochs.get(typical)
        if kind:
            return TimeFormat(kind, share=len(ints) / n)
        return None

    matches = [m for m in (_SEP_DATE.match(v) for v in text) if m]
    if len(matches) < 0.8 * n:
        return None
    first = [int(m.group(1)) for m in matches]
    second = [int(m.group(3)) for m in matches]
    sep = max(set(m.group(2) for m in matches), key=[m.group(2) for m in matches].count)
    if max(len(m.group(1)) for m in matches) == 4:
        kind, ambiguous = "ymd", False
    elif date_order != "auto":
        kind, ambiguous = date_order, False
    else:
        kind, ambiguous = decide_date_order(max(first), max(second), sep)
    year_digits = max(len(m.group(1 if kind == "ymd" else 4)) for m in matches)
    fmts = separated_date_formats(kind, sep, two_digit_year=year_digits <= 2,
                                  time_first=_typical_time_part(matches))
    return TimeFormat(kind, fmts, ambiguous, share=len(matches) / n)


def decide_date_order(max_first: int, max_second: int, sep: str) -> tuple[str, bool]:
    """Day-first or month-first from the largest first and second numbers seen.

    Returns the order and whether it was a guess. With no evidence, dotted
    dates (31.12.2025) are taken as day-first and slashed ones as month-first,
    and the result is flagged ambiguous.
    """
    if max_first > 12 >= max_second:
        return "dmy", False
    if max_second > 12 >= max_first:
        return "mdy", False
    if max_first > 12 and max_second > 12:
        return "dmy", True  # inconsistent data; cleaning reports what fails to parse
    return ("dmy" if sep in ".-" else "mdy"), True


def separated_date_formats(kind: str, sep: str, two_digit_year: bool = False,
                           time_first: str = "") -> tuple[str, ...]:
    """strptime formats for a separated date with every common time part."""
    y = "%y" if two_digit_year else "%Y"
    date = {"dmy": f"%d{sep}%m{sep}{y}", "mdy": f"%m{sep}%d{sep}{y}", "ymd": f"{y}{sep}%m{sep}%d"}[kind]
    times = [" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "T%H:%M:%S", " %H:%M:%S.%f", ""]
    if time_first in times:
        times.remove(time_first)
        times.insert(0, time_first)
    return tuple(date + t for t in times)


def _typical_time_part(matches: list[re.Match]) -> str:
    parts = []
    for m in matches[:500]:
        if not m.group(5):
            parts.append("")
            continue
        sep = "T" if m.group(5) == "T" else " "
        secs = m.group(8)
        base = "%I:%M" if m.group(9) else "%H:%M"
        if secs:
            base += ":%S.%f" if "." in secs else ":%S"
        parts.append(sep + base + (" %p" if m.group(9) else ""))
    return max(set(parts), key=parts.count)


def _plausible_yyyymmdd(v: str) -> bool:
    y, m, d = int(v[:4]), int(v[4:6]), int(v[6:8])
    return 1970 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= 31


@dataclass(frozen=True)
class NumberFormat:
    """How an amount column's text becomes a number.

    Attributes
    ----------
    decimal : {".", ","}
    thousands : str or None
        Grouping character to remove (``,`` ``.`` or space).
    strip_symbols : bool
        Remove currency symbols and spaces first (``€ 12,50``).
    share : float
        Share of non-empty sample values that parse.
    """

    decimal: str = "."
    thousands: str | None = None
    strip_symbols: bool = False
    share: float = 1.0

    def describe(self) -> str:
        parts = ["decimal comma" if self.decimal == "," else "decimal point"]
        if self.thousands:
            parts.append(f"'{self.thousands}' as thousands separator")
        if self.strip_symbols:
            parts.append("currency symbols removed")
        return ", ".join(parts)

    def parse(self, text: str) -> float | None:
        """Python twin of the SQL conversion, used on samples."""
        s = text.strip()
        if self.strip_symbols:
            s = re.sub(r"[\s\u00a0$€£¥]", "", s)
        if self.thousands:
            s = s.replace(self.thousands, "")
        if self.decimal == ",":
            s = s.replace(",", ".")
        try:
            value = float(s)
        except ValueError:
            return None
        return value if value == value and abs(value) != float("inf") else None


_SYMBOLS = re.compile(r"[$€£¥\u00a0]|\d\s+\d|^\s*[$€£¥]|\s[$€£¥]?$")
_COMMA_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d{1,2}$|^[+-]?\d+,\d{4,}$|^[+-]?0,\d+$")
_POINT_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)\.\d{1,2}$|^[+-]?\d+\.\d{4,}$|^[+-]?0\.\d+$")
_COMMA_GROUPS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def detect_number_format(values: Iterable[object]) -> NumberFormat:
    """Decimal comma or point, grouping, currency symbols: decided from a sample."""
    text = [str(v).strip() for v in values if v is not None and str(v).strip() != ""][:5000]
    if not text:
        return NumberFormat(share=0.0)
    if all(isinstance(v, (int, float)) for v in values if v is not None):
        return NumberFormat()
    strip = any(_SYMBOLS.search(v) for v in text)
    cleaned = [re.sub(r"[\s\u00a0$€£¥]", "", v) for v in text] if strip else text
    comma_dec = sum(bool(_COMMA_DECIMAL.match(v)) for v in cleaned)
    point_dec = sum(bool(_POINT_DECIMAL.match(v)) for v in cleaned)
    if comma_dec > point_dec:
        fmt = NumberFormat(",", "." if any("." in v for v in cleaned) else None, strip)
    elif any(_COMMA_GROUPS.match(v) for v in cleaned):
        fmt = NumberFormat(".", ",", strip)
    else:
        fmt = NumberFormat(".", None, strip)
    share = sum(fmt.parse(v) is not None for v in text) / len(text)
    return replace(fmt, share=share)


# --- mapping ----------------------------------------------------------------------------------------

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
    attributes : list of str
        Other columns kept (channel, country, ...).
    event_name : str
        The event of every row when there is no event column.
    date_order : {"auto", "dmy", "mdy"}
    """

    user_id: str | None
    timestamp: str | None
    event: str | None = None
    amount: str | None = None
    session_id: str | None = None
    attributes: list[str] = field(default_factory=list)
    event_name: str = "purchase"
    date_order: str = "auto"

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
        if not self.user_id:
            raise MappingError("No column is mapped to the user id. Pick the column that says who did the event "
                               f"(customer id, visitor id, email, ...); the file's columns are {shown}.")
        if not self.timestamp:
            raise MappingError("No column is mapped to the time, and none looks like dates or times. Pick the "
                               f"column that says when the event happened; the file's columns are {shown}.")
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


@dataclass
class MappingGuess:
    """A proposed mapping with the reasons behind it, for the mapping screen."""

    mapping: ColumnMapping
    reasons: dict[str, str]
    time_format: TimeFormat | None
    amount_format: NumberFormat | None


def guess_mapping(preview: pd.DataFrame) -> MappingGuess:
    """Propose column roles from a preview of the file.

    Each column is scored per role by its name (``customer_id`` reads as a user)
    and checked against its values (a time column must parse as time, an amount
    as numbers, an event column has few distinct values). Roles are filled in the
    order time, user, event, amount, session; the rest become attributes.

    Parameters
    ----------
    preview : DataFrame
        The first rows of the file, as read by :func:`analytics.io.preview`.

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

    pick("timestamp", lambda p: None if p["time_share"] < 0.8 else 1.0 + p["time_share"])
    pick("user_id", _user_value_score)
    pick("event", _event_value_score)
    pick("amount", _amount_value_score)
    # Only a column named like a session is one: with no name score nothing is picked.
    pick("session_id", lambda p: None if p["distinct_ratio"] < 0.001 else 0.0)
    attributes = [c for c in columns if c not in taken]
    mapping = ColumnMapping(
        user_id=chosen["user_id"], timestamp=chosen["timestamp"], event=chosen["event"],
        amount=chosen["amount"], session_id=chosen["session_id"], attributes=attributes)
    if mapping.event is None:
        reasons["event"] = "no event column found: every row will be imported as a 'purchase' event"
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
        "distinct": distinct,
        "distinct_ratio": distinct / n,
        "time_share": tf.share if tf else 0.0,
        "time_kind": tf.kind if tf else None,
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
    score = 0.0
    if p["distinct"] > 1 and p["distinct_ratio"] < 0.95:
        score += 1.0  # users come back: ids repeat
    if p["distinct"] > 20:
        score += 0.5
    return score


def _event_value_score(p: dict) -> float | None:
    if p["fill"] < 0.5 or p["time_share"] >= 0.8 or p["numeric_share"] > 0.5:
        return None
    if p["distinct"] > 500 or (p["distinct_ratio"] > 0.2 and p["distinct"] > 20):
        return None
    return 1.0 if p["distinct"] >= 2 else 0.2


def _amount_value_score(p: dict) -> float | None:
    # A column named like money may hold some junk (cleaning reports it); others must be clean.
    needed = 0.5 if _name_score("amount", str(p["name"])) >= 3 else 0.9
    if p["numeric_share"] < needed or p["time_share"] >= 0.8 or p["fill"] == 0:
        return None
    if _NOT_MONEY.search(str(p["name"])):
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
        Any of ``user_id, timestamp, event, amount, session_id`` (a column name,
        or None for no column), ``event_name`` and ``date_order``.

    Returns
    -------
    ColumnMapping
        Not yet validated (call :meth:`ColumnMapping.validate`).
    """
    unknown = set(changes) - set(ROLES) - {"event_name", "date_order"}
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
                         date_order=changes.get("date_order") or base.date_order)
