"""Numbers in sentences a marketer reads: "1 user", "2 users", "1,234 events"."""

from __future__ import annotations


def count(n: int | float, noun: str, plural: str | None = None) -> str:
    """``n`` with the noun in the right number (thousands separated)."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
