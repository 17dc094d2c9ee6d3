"""What cleaning did to a file: counts and example lines for every row dropped or value changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_TEXT = 1000  # characters kept of any text value; longer ones are cut and counted


# Bit, key, plain-English description. Dropping reasons first.
REASONS: tuple[tuple[int, str, str], ...] = (
    (1, "no_user", "no user id"),
    (2, "bad_time", "time could not be read"),
    (4, "no_time", "no time"),
    (8, "no_event", "no event name"),
    (16, "implausible_time", "time before 1970 or in the future"),
    (32, "bad_amount", "amount was not a number (left empty)"),
    (64, "long_text", f"text longer than {MAX_TEXT:,} characters (cut)"),
    (128, "bad_number", "attribute was not a number (left empty)"),
)

DROP_MASK = 1 | 2 | 4 | 8 | 16

REASON_TEXT = {key: text for _, key, text in REASONS}


@dataclass
class CleaningReport:
    """What cleaning did, with counts and example lines.

    Attributes
    ----------
    rows_read : int
        Data rows in the file (including rejected ones).
    rows_kept : int
        Rows in the cleaned table.
    duplicates_removed : int
        Exact copies of an earlier row (after conversion) that were dropped.
    rejected_rows : int
        Rows skipped because they had the wrong number of fields.
    dropped : dict
        Reason key -> rows dropped for it (a row counts under its first reason).
    coerced : dict
        Reason key -> values changed (emptied or cut) in rows that were kept.
    examples : dict
        Reason key (plus ``duplicate`` and ``rejected``) -> up to 3 examples,
        each ``{"line": int, "values": {column: text}}``.
    notes : list of str
        What was detected (format, time format, date order, ...).
    warnings : list of str
        What was kept but makes figures wrong unless the user acts (amounts in
        several currencies, amounts far above the rest); shown, not hidden.
    users, ts_min, ts_max
        Summary of the kept rows.
    """

    rows_read: int = 0
    rows_kept: int = 0
    duplicates_removed: int = 0
    rejected_rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    coerced: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    users: int = 0
    ts_min: str | None = None
    ts_max: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CleaningReport:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def rows(self) -> list[dict]:
        """One row per reason, for a table: what, rows dropped or values changed, example lines."""
        out = []
        if self.rejected_rows:
            out.append(self._row("rejected", "malformed row (wrong number of fields, broken quotes)", "dropped",
                                 self.rejected_rows))
        if self.duplicates_removed:
            out.append(self._row("duplicate", "exact duplicate of an earlier row", "dropped",
                                 self.duplicates_removed))
        for key, n in self.dropped.items():
            out.append(self._row(key, REASON_TEXT[key], "dropped", n))
        for key, n in self.coerced.items():
            out.append(self._row(key, REASON_TEXT[key], "value changed", n))
        return out

    def _row(self, key: str, text: str, action: str, n: int) -> dict:
        ex = self.examples.get(key, [])
        shown = "; ".join(f"line {e['line']}: " + ", ".join(f"{k}={v!s:.40}" for k, v in list(e["values"].items())[:5])
                          for e in ex)
        return {"issue": text, "action": action, "count": n, "examples": shown}
