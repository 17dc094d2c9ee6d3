"""When DuckDB runs out of memory or disk: a message naming the setting to change, and a disk check before big work.

Also the other errors of the machine rather than the data: a path that cannot be used (an output
that is a folder, a folder without write permission, a workspace setting naming a file), see
:func:`path_error`.

DuckDB keeps to ``MARKETLENS_MEMORY_LIMIT`` by spilling to the workspace's
``tmp/spill`` folder (at most ``MARKETLENS_MAX_SPILL``). Should a step still run
out, :func:`within_limits` turns DuckDB's error into a
:class:`~analytics.errors.ResourceLimitError` that says which setting to change;
the steps that store something run in a transaction, so nothing is left behind.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psutil

from analytics import config
from analytics.errors import ResourceLimitError

# Free disk an import needs, as a multiple of the text it reads: the events table (a fifth of the
# CSV), DuckDB's spill files while sorting and de-duplicating, and a margin. Measured on the 103M-event
# benchmark log (bench/bench_scale.py).
DISK_PER_INPUT_BYTE = 1.0

_NO_SPACE = ("no space left on device", "disk is full", "not enough space")


def free_disk_bytes(folder: Path) -> int:
    """Free bytes on the disk holding ``folder``."""
    return psutil.disk_usage(str(folder)).free


def check_free_disk(folder: Path, needed: int, what: str) -> None:
    """Refuse to start work that needs ``needed`` bytes on the disk of ``folder`` when it has fewer free.

    Raises
    ------
    ResourceLimitError
        The message says how much is needed and free, and where.
    """
    free = free_disk_bytes(folder)
    if needed > free:
        raise ResourceLimitError(
            f"{what} needs about {_size(needed)} of free disk for its tables and temporary files in {folder}, "
            f"but only {_size(free)} is free there. Free some space, or move the workspace to a bigger disk "
            "(MARKETLENS_WORKSPACE).")


def resource_error(exc: BaseException, step: str = "This step") -> ResourceLimitError | None:
    """The user error for an exception that means memory or disk ran out, else None."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, duckdb.OutOfMemoryException):
        if "max_temp_directory_size" in low:
            spill = config.max_spill()
            limit = f"at most {spill} (MARKETLENS_MAX_SPILL)" if spill else "up to 90% of the free disk"
            return ResourceLimitError(
                f"{step} ran out of room for temporary files: DuckDB may write {limit} to the workspace's "
                "tmp/spill folder. Free disk space there, raise MARKETLENS_MAX_SPILL, or raise "
                "MARKETLENS_MEMORY_LIMIT so that less is spilled; nothing was stored.")
        return ResourceLimitError(
            f"{step} ran out of memory: DuckDB may use {config.memory_limit()} (MARKETLENS_MEMORY_LIMIT) and "
            "spills the rest to disk, but this step needed more. Raise MARKETLENS_MEMORY_LIMIT (e.g. 4GB or "
            "25%), or stop other work on this machine, and try again; nothing was stored.")
    no_space = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    if no_space or isinstance(exc, duckdb.IOException) and any(s in low for s in _NO_SPACE):
        return ResourceLimitError(
            f"{step} stopped because the disk is full. Free some space on the workspace's disk, or move the "
            "workspace to a bigger one (MARKETLENS_WORKSPACE), and try again; nothing was stored.")
    return None


# DuckDB reports file-system failures as IOException text; the phrases it uses for a path problem.
_PATH_PROBLEMS = ("permission denied", "file exists", "is a directory", "not a directory", "no such file",
                  "read-only file system")


def path_error(exc: BaseException, step: str = "This step") -> ResourceLimitError | None:
    """The user error for an exception that means a path cannot be read or written, else None."""
    if isinstance(exc, (IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError, FileNotFoundError)):
        where = f" '{exc.filename}'" if exc.filename else ""
        reason = (exc.strerror or str(exc)).rstrip(".").lower()
    elif isinstance(exc, duckdb.IOException) and any(s in str(exc).lower() for s in _PATH_PROBLEMS):
        where, reason = "", str(exc).split("\n")[0].rstrip(".")
    else:
        return None
    return ResourceLimitError(
        f"{step} could not use the path{where}: {reason}. An output must be a file name in a folder you can "
        "write to (not a folder), and MARKETLENS_WORKSPACE must name a folder.")


@contextmanager
def within_limits(step: str) -> Iterator[None]:
    """Raise :class:`ResourceLimitError` (naming the setting) when the block runs out of memory or disk."""
    try:
        yield
    except (duckdb.Error, OSError) as exc:
        err = resource_error(exc, step)
        if err is None:
            raise
        raise err from exc


def _size(n: float) -> str:
    return f"{n / 2**30:,.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"
