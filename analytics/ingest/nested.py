"""Nested records as flat columns: JSON event exports (JSON lines, or one array of objects) and Parquet
files with struct columns (GA4's BigQuery export: ``device``, ``geo``, ``traffic_source``), read by DuckDB.

Product-analytics tools export events as JSON: Mixpanel one object per line with the time, user and
attributes inside ``properties``; Amplitude with ``event_properties`` and ``user_properties``; Segment
with ``context`` and ``properties``. Each event becomes one row: the top-level fields as columns, and
the fields of nested objects (up to :data:`MAX_DEPTH` levels) as columns of their own, named by their
key (``properties.time`` becomes ``time``) unless keys repeat (then ``properties_time``, see
:func:`column_names`). Every
value is read as text, as CSV columns are (lists and deeper objects as their JSON text), so cleaning
decides each conversion the same way for both formats.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb

from analytics.config import Limits
from analytics.errors import EmptyFileError, ParseError
from analytics.ingest.source import SourceFile, check_width, short_error, unique_names
from analytics.sql import quote_ident, sql_literal

MAX_DEPTH = 3


def looks_like_json(head: bytes) -> bool:
    """The file starts (after a byte-order mark and blank space) with an object or an array.

    A CSV header may start with a bracket too (``[Date],[User]``), but not with one followed by an
    object, an array, a string, a number or the end of the array.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    after = text[1:].lstrip()[:1]
    return text[:1] == b"{" or (text[:1] == b"[" and (after in (b"{", b"[", b"]", b'"', b"-", b"") or after.isdigit()))


def json_reader(path: str | Path, columns: str | None = None) -> str:
    """SQL reading the file as records (JSON lines or one array, detected from the content).

    With ``columns`` (a SourceFile's ``json_columns``) every value is read as text, nested objects as
    structs of text, as CSV columns are: cleaning decides every conversion, and a value of another
    type far down the file (a time written as text after 20,000 numbers) cannot stop the import.
    """
    typed = f", columns={columns}" if columns else ""
    return f"read_json({sql_literal(str(path))}, format='auto', records=true{typed})"


def json_source(path: Path, name: str, size: int, limits: Limits,
                con: duckdb.DuckDBPyConnection | None = None) -> SourceFile:
    """A :class:`SourceFile` of kind ``json``: ``fields`` hold the SQL of the flattened columns."""
    con = con or duckdb.connect()
    try:
        rel = con.sql(f"SELECT * FROM {json_reader(path)} LIMIT 0")  # keys and nesting from DuckDB's sample
        columns, types = rel.columns, rel.dtypes
    except duckdb.Error as exc:
        if "non-record JSON" in str(exc):
            if _empty_array(con, path):
                raise EmptyFileError(f"'{name}' is an empty JSON array: no events. Export the log again.") from None
            raise ParseError(f"'{name}' is JSON, but its values are not objects. Export one JSON object per "
                             'event ({"user_id": ..., "time": ..., "event": ...}): JSON lines, or an array of '
                             "objects.") from None
        raise ParseError(f"'{name}' looks like JSON but cannot be read as events "
                         f"({short_error(exc).replace(str(path), name)}). Export one JSON object per event: "
                         "JSON lines, or an array of objects.") from exc
    # Every leaf is text in the file's declared columns, so the flattened fields need no conversion here.
    fields, names, notes = flatten(columns, types, as_text=True)
    check_width(len(names), name, limits)
    declared = ", ".join(f"{sql_literal(c)}: {sql_literal(_as_text(t, 1))}" for c, t in zip(columns, types))
    return SourceFile(path=path, kind="json", name=name, size_bytes=size, header=False, columns=names,
                      fields=fields, json_columns="{" + declared + "}", notes=notes)


def flatten(columns: list[str], types: list[duckdb.typing.DuckDBPyType], *, as_text: bool = False,
            keys: dict[str, list[str]] | None = None) -> tuple[list[str], list[str], list[str]]:
    """SQL of each flat column, its name, and a note naming the nested fields that became columns.

    Struct fields (up to :data:`MAX_DEPTH` levels) become columns named by :func:`column_names`;
    lists, maps and deeper structs become their JSON text (unless ``as_text``: already text). A list
    of key/value pairs with its ``keys`` given (see :func:`pair_keys`) becomes one text column per key.
    """
    flat: list[tuple[str, tuple[str, ...]]] = []  # (SQL, path of keys)
    for column, sql_type in zip(columns, types, strict=True):
        if column in (keys or {}):
            flat += [(_pair_value(quote_ident(column), key, sql_type), (column, key)) for key in keys[column]]
        else:
            _flatten(quote_ident(column), (column,), sql_type, 1, flat, as_text)
    names = unique_names(column_names([path for _, path in flat]))
    nested = [".".join(path) for _, path in flat if len(path) > 1]
    shown = ", ".join(f"'{d}'" for d in nested[:4]) + (f" and {len(nested) - 4} more" if len(nested) > 4 else "")
    return [sql for sql, _ in flat], names, [f"Nested fields became columns: {shown}."] if nested else []


def _nested(sql_type: duckdb.typing.DuckDBPyType, depth: int) -> bool:
    return sql_type.id == "struct" and depth <= MAX_DEPTH and bool(sql_type.children)


def _as_text(sql_type: duckdb.typing.DuckDBPyType, depth: int) -> str:
    """The type to read a field as: its struct kept (with text leaves) where it is flattened, else text."""
    if not _nested(sql_type, depth):
        return "VARCHAR"  # a list or a deeper object reads as its JSON text
    fields = ", ".join(f"{quote_ident(k)} {_as_text(t, depth + 1)}" for k, t in sql_type.children)
    return f"STRUCT({fields})"


# Keys that say little on their own: a field so named keeps its parent's name, unless the parent only holds
# an event's fields (GA4's device.category is device_category, not a product category; traffic_source.name
# is traffic_source_name; Mixpanel's properties.category stays category).
VAGUE_KEYS = frozenset({"name", "id", "type", "category", "value", "version", "key", "code"})
CONTAINERS = frozenset({"properties", "event_properties", "user_properties", "params", "event_params", "context",
                        "traits", "data", "attributes", "payload", "fields"})


def column_names(paths: list[tuple[str, ...]]) -> list[str]:
    """Each field by its key, or where keys repeat by as many of its parents as tell it apart, joined by
    ``_``: ``properties.time`` is ``time``, but beside a top-level ``time`` it is ``properties_time``;
    ``context.campaign.name`` is ``campaign_name`` (a campaign by its name: see :data:`VAGUE_KEYS`).
    """
    depth = [2 if len(p) > 1 and p[-1].lower() in VAGUE_KEYS and p[-2].lower() not in CONTAINERS else 1
             for p in paths]
    while True:
        names = ["_".join(p[-d:]) for p, d in zip(paths, depth, strict=True)]
        counts = Counter(n.lower() for n in names)
        longer = [i for i, n in enumerate(names) if counts[n.lower()] > 1 and depth[i] < len(paths[i])]
        if not longer:
            return names
        for i in longer:
            depth[i] += 1


# A list of key/value pairs with more keys than this in the sample stays one column (its JSON text).
MAX_PAIR_KEYS = 50


def pairs(sql_type: duckdb.typing.DuckDBPyType) -> bool:
    """A list of ``{key, value}`` structs: GA4's ``event_params`` and ``user_properties``."""
    if sql_type.id != "list" or sql_type.child.id != "struct":
        return False
    return {name.lower() for name, _ in sql_type.child.children} == {"key", "value"}


def pair_keys(con: duckdb.DuckDBPyConnection, reader: str, column: str, sample: int = 10_000) -> list[str]:
    """The keys of a :func:`pairs` column in the first ``sample`` rows, sorted; none above :data:`MAX_PAIR_KEYS`."""
    c = quote_ident(column)
    found = [r[0] for r in con.execute(
        f"SELECT DISTINCT k FROM (SELECT unnest(list_transform({c}, lambda p: p.key)) AS k FROM (SELECT {c} "
        f"FROM {reader} LIMIT {int(sample)})) WHERE k IS NOT NULL LIMIT {MAX_PAIR_KEYS + 1}").fetchall()]
    return [] if len(found) > MAX_PAIR_KEYS else sorted(str(k) for k in found)


def _pair_value(sql: str, key: str, sql_type: duckdb.typing.DuckDBPyType) -> str:
    """The value of ``key`` in each row's pairs, as text: GA4 keeps it in one of several typed fields."""
    # The first pair with the key, by its position among the keys (DuckDB computes the keys once per row):
    # 3.4 s for 8 keys over 10.3M rows, against 5.1 s with list_filter and 17.7 s through a map.
    value = f"{sql}[list_position(list_transform({sql}, lambda p: p.key), {sql_literal(key)})].value"
    value_type = next(t for n, t in sql_type.child.children if n.lower() == "value")
    if value_type.id == "struct":
        return "coalesce(" + ", ".join(f"CAST({value}.{quote_ident(n)} AS VARCHAR)"
                                       for n, _ in value_type.children) + ")"
    return f"CAST({value} AS VARCHAR)"


def _flatten(sql: str, path: tuple[str, ...], sql_type: duckdb.typing.DuckDBPyType, depth: int,
             out: list[tuple[str, tuple[str, ...]]], as_text: bool) -> None:
    if _nested(sql_type, depth):
        for child, child_type in sql_type.children:
            _flatten(f"{sql}.{quote_ident(child)}", (*path, child), child_type, depth + 1, out, as_text)
    elif not as_text and sql_type.id in ("list", "array", "map", "struct", "union"):
        out.append((f"CAST(to_json({sql}) AS VARCHAR)", path))  # GA4's event_params: a list of key/value structs
    else:
        out.append((sql, path))


def _empty_array(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """The file is an array without elements (``[]``)."""
    try:
        return con.execute(f"SELECT 1 FROM read_json_objects({sql_literal(str(path))}, format='array') "
                           "LIMIT 1").fetchone() is None
    except duckdb.Error:
        return False
