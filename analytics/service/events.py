"""Live events in: the request body (JSON or NDJSON) checked and turned into canonical rows.

The rules are the batch cleaning rules of :mod:`analytics.ingest.cleaning` where they
apply to one event: identifiers and event names lose surrounding spaces (empty means
missing), long text is cut, a missing user, time or event is refused, an amount that
is not a finite number is refused, times without an offset are UTC. One rule is
stricter: an event more than :data:`FUTURE_TOLERANCE` ahead of the service's clock is
refused (a live event cannot come from tomorrow; batch cleaning allows one day).
Exact duplicates are removed where the events are stored (:mod:`analytics.service.store`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from analytics.errors import InvalidParameterError
from analytics.ingest.cleaning import MAX_ID
from analytics.ingest.report import MAX_TEXT
from analytics.ingest.roles import stored_attribute_names
from analytics.ingest.table_checks import FAR_ABOVE

FUTURE_TOLERANCE = timedelta(minutes=5)

EARLIEST = datetime(1970, 1, 2)

MAX_EVENT_NAME = 200

# Fields every event may carry under its canonical name, whatever the log called them.
CANONICAL_FIELDS = ("user_id", "ts", "event", "amount", "session_id")


class EventFormatError(InvalidParameterError):
    """The body is not JSON / NDJSON at all (HTTP 400)."""


class EventValidationError(InvalidParameterError):
    """Some events break the rules (HTTP 422); ``problems`` says which and why."""

    def __init__(self, message: str, problems: list[dict]):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class EventSchema:
    """The columns of a dataset's events table and the names an incoming event may use for them.

    Attributes
    ----------
    columns : dict
        Data column of the events table -> ``"text"``, ``"number"`` or ``"time"`` (in table order).
    aliases : dict
        Accepted field name -> column (canonical names, and the log's own column names from the mapping).
    timezone : str
        The dataset's zone for times without an offset (as the import read them).
    usual_amount : float or None
        The 99th percentile of the training log's amounts: an event whose amount is more than
        :data:`~analytics.ingest.table_checks.FAR_ABOVE` times it is refused (an id or a price in
        cents sent as the amount would otherwise become that user's spend and score).
    """

    columns: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)
    usual_amount: float | None = None
    timezone: str = "UTC"

    @classmethod
    def from_table(cls, column_types: dict[str, str], mapping=None, usual_amount: float | None = None) -> EventSchema:
        """From ``DESCRIBE`` types of the events table (``_`` audit columns left out) and the dataset's mapping."""
        columns = {}
        for name, sql_type in column_types.items():
            if name.startswith("_"):
                continue
            t = str(sql_type).upper()
            columns[name] = "time" if t.startswith("TIMESTAMP") else (
                "number" if t in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "DECIMAL") else "text")
        aliases = {c: c for c in columns}
        if mapping is not None:
            for role, source in mapping.roles().items():
                target = "ts" if role == "timestamp" else role
                if source and target in columns:
                    aliases.setdefault(source, target)
            lowered = {c.lower(): c for c in columns}  # DuckDB's names ignore case
            for source, out in stored_attribute_names(mapping.attributes).items():
                if out.lower() in lowered:
                    aliases.setdefault(source, lowered[out.lower()])
        return cls(columns, aliases, usual_amount, getattr(mapping, "timezone", "UTC"))


@dataclass
class ParsedEvents:
    """Valid events as columns (ready for the store) and the problems of the others."""

    columns: dict[str, list]
    rows: int
    problems: list[dict]
    users: set[str]
    ignored: list[str] = field(default_factory=list)  # fields no column takes (a typo such as "amout")


def parse_body(body: bytes, content_type: str | None) -> list:
    """The events of a request body: a JSON array, ``{"events": [...]}``, one object, or NDJSON lines.

    Raises
    ------
    EventFormatError
        Empty body, bytes that are not UTF-8, or text that is not JSON (with the line).
    """
    if not body.strip():
        raise EventFormatError("The request body is empty; send events as a JSON array or as NDJSON lines.")
    try:
        text = body.decode("utf-8-sig")  # a byte-order mark some Windows tools write is not part of the JSON
    except UnicodeDecodeError as exc:
        raise EventFormatError(f"The body is not UTF-8 text (byte {exc.start}); send JSON encoded as UTF-8.") from exc
    ndjson = "ndjson" in (content_type or "") or "jsonl" in (content_type or "")
    if not ndjson:
        try:
            doc = _loads(text)
        except ValueError as exc:
            if text.lstrip().startswith("{") and "\n" in text.strip():
                ndjson = True  # several objects, one per line, sent as application/json
            else:
                raise EventFormatError(f"The body is not valid JSON: {exc}.") from exc
        else:
            if isinstance(doc, dict) and "events" in doc:
                if not isinstance(doc["events"], list):
                    got = json_type(doc["events"])
                    raise EventFormatError(f"\"events\" must be a JSON array of events, got {got}.")
                return doc["events"]
            return doc if isinstance(doc, list) else [doc]
    # NDJSON lines end at "\n" only: str.splitlines() also splits inside strings at U+2028, U+0085, ...
    numbered = [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]
    try:  # one decoder call for the whole batch; a line that is not one JSON value breaks it
        out = _loads("[" + ",".join(line for _, line in numbered) + "]")
        if len(out) == len(numbered):
            return out
    except ValueError:
        pass
    out = []
    for i, line in numbered:
        try:
            out.append(_loads(line))
        except ValueError as exc:
            raise EventFormatError(f"Line {i} of the NDJSON body is not valid JSON: {exc}.") from exc
    return out


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON value (send null, or leave the field out)")


def _loads(text: str):
    """``json.loads`` without Python's extensions NaN, Infinity and -Infinity (not JSON: they were stored as text)."""
    return json.loads(text, parse_constant=_not_json)


def json_type(value) -> str:
    """The JSON name of a decoded value's type, for messages (not Python's: 'dict', 'NoneType')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {dict: "an object", list: "an array", str: "text"}.get(type(value), "a number")


def validate_events(items: list, schema: EventSchema, now: datetime, max_problems: int = 20) -> ParsedEvents:
    """Check each event and convert it to the events table's columns.

    Parameters
    ----------
    items : list
        Decoded JSON values (objects expected).
    schema : EventSchema
    now : datetime
        The service's clock (naive UTC): events later than ``now + FUTURE_TOLERANCE`` are refused.

    Returns
    -------
    ParsedEvents
        Every valid event in ``columns``; ``problems`` lists ``{"index", "problem"}`` of the others
        (the first ``max_problems``, and the total in the last one when more).
    """
    converters = _converters(schema)
    names = list(schema.columns)
    cols: dict[str, list] = {c: [] for c in names}
    appenders = [(c, cols[c].append) for c in names]
    problems: list[dict] = []
    bad = 0
    users: set[str] = set()
    ignored: set[str] = set()
    latest = now + FUTURE_TOLERANCE
    for i, item in enumerate(items):
        try:
            row = _convert(item, converters, latest, schema, ignored)
        except ValueError as exc:
            bad += 1
            if len(problems) < max_problems:
                problems.append({"index": i, "problem": str(exc)})
            continue
        get = row.get
        for c, append in appenders:
            append(get(c))
        users.add(row["user_id"])
    if bad > len(problems):
        problems.append({"index": None, "problem": f"{bad - len(problems)} more events with problems"})
    return ParsedEvents(cols, len(items) - bad, problems, users, sorted(ignored)[:20])


_IDS = ("user_id", "session_id", "item_id", "content_id", "campaign")


def _converters(schema: EventSchema) -> dict:
    """Accepted field name -> (column, function(value, field name, latest time))."""
    out = {}
    for alias, col in schema.aliases.items():
        kind = schema.columns[col]
        if kind == "time":
            fn = partial(parse_time, zone=schema.timezone)
        elif col == "amount" or kind == "number":
            fn = _number
        elif col == "event":
            fn = _event
        elif col in _IDS:
            fn = _identifier
        else:
            fn = _attribute
        out[alias] = (col, fn)
    return out


def _convert(item, converters: dict, latest: datetime, schema: EventSchema, ignored: set[str]) -> dict:
    if type(item) is not dict:
        raise ValueError(f"an event must be a JSON object, got {json_type(item)}")
    row: dict = {}
    for key, value in item.items():
        conv = converters.get(key)
        if conv is None:
            ignored.add(str(key)[:100])
            continue
        if value is None:
            continue
        row[conv[0]] = conv[1](value, key, latest)
    for required in ("user_id", "ts", "event"):
        if row.get(required) is None:
            names = [k for k, v in schema.aliases.items() if v == required]
            raise ValueError(f"missing {required} (field {' or '.join(repr(n) for n in names)})")
    usual, amount = schema.usual_amount, row.get("amount")
    if usual and amount is not None and abs(amount) > FAR_ABOVE * usual:
        raise ValueError(f"amount {amount:,.0f} is more than {FAR_ABOVE:,} times the usual ones (99% of the training "
                         f"log's amounts are at most {usual:,.2f}): an id or a price in cents? Send amounts in the "
                         "log's unit")
    return row


def _text(value, key: str) -> str:
    if type(value) is str:
        if not value.isascii():
            checked_text(value, key)
        return value
    if isinstance(value, (dict, list, bool)):
        raise ValueError(f"{key} must be text or a number, got {json_type(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key} must be text or a finite number, got {value}")
        if value.is_integer():
            return str(int(value))  # 1.0 is the id 1, as a CSV export would write it
    return str(value)


def checked_text(value: str, key: str) -> str:
    """Text that can be stored: a lone surrogate (a \\ud800 escape without its pair) cannot be encoded."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{key} contains an invalid \\u escape (a lone UTF-16 surrogate); send valid "
                         "Unicode text") from None
    return value


def _identifier(value, key: str, latest=None) -> str | None:
    return _text(value, key).strip()[:MAX_ID] or None


def _event(value, key: str, latest=None) -> str | None:
    return _text(value, key).strip()[:MAX_EVENT_NAME] or None


def _attribute(value, key: str, latest=None) -> str | None:
    if isinstance(value, bool):  # a flag attribute (is_mobile: true), spelled as JSON does
        return "true" if value else "false"
    text = _text(value, key)
    return text[:MAX_TEXT] if text != "" else None


def _number(value, key: str, latest=None) -> float | None:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value}")
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{key} must be a number, got {value[:40]!r}") from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {json_type(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {str(value)[:40]}")
    return float(value)


def parse_time(value, key: str = "time", latest: datetime | None = None, zone: str = "UTC") -> datetime:
    """An ISO 8601 time (an offset or ``Z`` converted to UTC; none means ``zone``) or Unix seconds, as naive UTC."""
    if type(value) is str and value.endswith("Z"):  # the common case, fast
        try:
            ts = datetime.fromisoformat(value[:-1])
        except ValueError:
            ts = None
        if ts is not None and ts.tzinfo is None and EARLIEST <= ts and (latest is None or ts <= latest):
            return ts
    if isinstance(value, bool):
        raise ValueError(f"time must be ISO 8601 text or Unix seconds, got {value}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 <= value < 32503680000:
            raise ValueError(f"time {value} is not a plausible Unix time in seconds")
        ts = datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
            if ts.tzinfo is None and zone != "UTC":
                ts = ts.replace(tzinfo=ZoneInfo(zone))  # the dataset's local time, as the import read its log
            if ts.tzinfo is not None:
                ts = ts.astimezone(UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):  # overflow: an offset that moves year 1 or 9999 out of range
            raise ValueError(f"time {value[:40]!r} is not an ISO 8601 time from 1970-01-02 on "
                             "(e.g. 2025-01-31T12:00:00Z)") from None
    else:
        raise ValueError(f"time must be ISO 8601 text or Unix seconds, got {json_type(value)}")
    if ts < EARLIEST:
        raise ValueError(f"time {ts:%Y-%m-%d %H:%M:%S} is before 1970-01-02")
    if latest is not None and ts > latest:
        raise ValueError(f"time {ts:%Y-%m-%d %H:%M:%S} is in the future (the service's clock says "
                         f"{latest - FUTURE_TOLERANCE:%Y-%m-%d %H:%M:%S} UTC)")
    return ts
