"""The one shape of progress callbacks: ``progress(fraction_done, message)``, fraction in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]
"""``progress(fraction_done, message)``; fraction in [0, 1]."""


def no_progress(_fraction: float, _message: str) -> None:
    """The callback used when the caller gave none."""


def within(progress: Progress | None, start: float, end: float) -> Progress:
    """A callback for one stage that reports into ``[start, end]`` of the caller's callback."""
    report = progress or no_progress
    return lambda fraction, message: report(start + (end - start) * min(1.0, max(0.0, fraction)), message)
