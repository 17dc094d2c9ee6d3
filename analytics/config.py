"""Settings read from the environment, with defaults that suit one laptop.

| variable | default | meaning |
| --- | --- | --- |
| ``MARKETLENS_WORKSPACE`` | ``./data`` | folder holding the workspace database and kept uploads |
| ``MARKETLENS_MAX_UPLOAD_MB`` | ``1024`` | largest browser upload accepted, as stored (compressed or not) |
| ``MARKETLENS_MAX_UNPACKED_MB`` | ``4096`` | largest size a compressed upload may unpack to |
| ``MARKETLENS_MAX_RATIO`` | ``200`` | largest unpacked/packed ratio past 64 MB unpacked (also local files) |
| ``MARKETLENS_MAX_COLUMNS`` | ``500`` | widest file accepted |
| ``MARKETLENS_MEMORY_LIMIT`` | 1/16 of memory, >= 1 GiB | DuckDB memory limit, e.g. ``4GB``, ``25%`` (spills past it) |
| ``MARKETLENS_MAX_SPILL`` | 90% of free disk | most DuckDB may spill to ``<workspace>/tmp/spill``, e.g. ``50GB`` |
| ``MARKETLENS_MODEL_THREADS`` | (all cores) | forest, kNN (boosting on big data) threads; CV folds fitted at once |
| ``MARKETLENS_SPARK_MASTER`` | ``local[*]`` | Spark master for the Spark engine |
| ``MARKETLENS_SPARK_PARTITIONS`` | 8 local, 200 cluster | Spark shuffle partitions |
| ``MARKETLENS_CONNECT_ROOTS`` | (any; none with sign-in) | folders "Connect a large log" may read (``:``-separated) |
| ``MARKETLENS_CONNECT_SCHEMES`` | (none) | remote URI schemes "Connect a large log" may read, e.g. ``s3a,abfss,gs`` |
| ``MARKETLENS_SPARK_MASTERS`` | (none) | further Spark masters the app may offer (``,``-separated) |
| ``MARKETLENS_MAX_STAGED_MB`` | ``8192`` | uploads waiting to be imported, in total (unpacked copies included) |
| ``MARKETLENS_STAGED_HOURS`` | ``6`` | uploads never imported are removed after this many hours |
| ``MARKETLENS_MAX_EXCEL_CELLS`` | ``20000000`` | largest Excel sheet read (rows x columns) |
| ``NUMBA_CACHE_DIR`` | ``<workspace>/cache/numba`` | where UMAP's compiled code is cached |

This is the only module that reads environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may be; all sizes in bytes."""

    max_file_bytes: int
    max_unpacked_bytes: int
    max_ratio: int
    max_columns: int
    # Single fields longer than this are cut to it (and counted in the report).
    max_field_chars: int = 100_000

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_file_bytes=_int_env("MARKETLENS_MAX_UPLOAD_MB", 1024) * MB,
            max_unpacked_bytes=_int_env("MARKETLENS_MAX_UNPACKED_MB", 4096) * MB,
            max_ratio=_int_env("MARKETLENS_MAX_RATIO", 200),
            max_columns=_int_env("MARKETLENS_MAX_COLUMNS", 500),
        )

    @classmethod
    def for_local_file(cls) -> Limits:
        """Limits for a file the user named on this machine (CLI, "Connect a large log"), not uploaded.

        The size caps protect a server from what browsers send; a local file is
        read where it is, so only the width and the decompression-ratio guard apply.
        """
        limits = cls.from_env()
        return cls(max_file_bytes=NO_LIMIT, max_unpacked_bytes=NO_LIMIT, max_ratio=limits.max_ratio,
                   max_columns=limits.max_columns)


def workspace_dir() -> Path:
    """Folder of the workspace (created on first use by :mod:`analytics.workspace`)."""
    return Path(os.environ.get("MARKETLENS_WORKSPACE", "data")).expanduser()


NO_LIMIT = 2**62

# DuckDB's share of the machine's memory when MARKETLENS_MEMORY_LIMIT is not set. The rest is left to
# what does not spill (pandas frames, models, Streamlit, other users): DuckDB spills past its limit.
MEMORY_SHARE = 16
MIN_MEMORY_LIMIT = 1024 * MB


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's (cgroup) limit when lower."""
    import psutil

    total = psutil.virtual_memory().total
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and 0 < int(raw) < total:
            total = int(raw)
    return total


def memory_limit() -> str:
    """DuckDB's memory limit: ``MARKETLENS_MEMORY_LIMIT`` as given (``4GB``, ``512MB``, ``25%``), or
    a sixteenth of :func:`machine_memory`, at least 1 GiB, as ``<n>MiB``."""
    given = os.environ.get("MARKETLENS_MEMORY_LIMIT", "").strip()
    if given:
        return given
    return f"{max(MIN_MEMORY_LIMIT, machine_memory() // MEMORY_SHARE) // MB}MiB"


def max_spill() -> str | None:
    """``MARKETLENS_MAX_SPILL`` (DuckDB's ``max_temp_directory_size``, e.g. ``50GB``); None: DuckDB's default."""
    return os.environ.get("MARKETLENS_MAX_SPILL", "").strip() or None


def model_threads_setting() -> int:
    """``MARKETLENS_MODEL_THREADS`` as a number of threads; 0 when unset or unreadable."""
    return max(0, _int_env("MARKETLENS_MODEL_THREADS", 0))


def spark_master() -> str | None:
    """``MARKETLENS_SPARK_MASTER``, or None."""
    return os.environ.get("MARKETLENS_SPARK_MASTER") or None


def spark_partitions(local: bool) -> int:
    """Spark shuffle partitions: ``MARKETLENS_SPARK_PARTITIONS``, default 8 on one machine, 200 on a cluster."""
    return _int_env("MARKETLENS_SPARK_PARTITIONS", 8 if local else 200)


def connect_roots() -> list[Path]:
    """Folders "Connect a large log" may read (``MARKETLENS_CONNECT_ROOTS``, separated by ``:``); empty = any."""
    return [Path(r).expanduser().resolve() for r in os.environ.get("MARKETLENS_CONNECT_ROOTS", "").split(os.pathsep)
            if r]


def numba_cache_dir() -> Path:
    """Where numba caches UMAP's compiled code: ``NUMBA_CACHE_DIR`` or ``<workspace>/cache/numba``."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or workspace_dir() / "cache" / "numba")


def connect_schemes() -> set[str]:
    """Remote URI schemes "Connect a large log" may read (``MARKETLENS_CONNECT_SCHEMES``, e.g. ``s3a,gs``)."""
    return {part.strip().lower().removesuffix("://") for part in os.environ.get("MARKETLENS_CONNECT_SCHEMES", "")
            .split(",") if part.strip()}


def spark_masters() -> list[str]:
    """Spark masters the app may offer: the configured default first, then ``MARKETLENS_SPARK_MASTERS``."""
    default = spark_master() or "local[*]"
    extra = [m.strip() for m in os.environ.get("MARKETLENS_SPARK_MASTERS", "").split(",") if m.strip()]
    return list(dict.fromkeys([default, *extra]))


def max_staged_bytes() -> int:
    """Total size of uploads waiting to be imported (``MARKETLENS_MAX_STAGED_MB``, default 8 GB)."""
    return _int_env("MARKETLENS_MAX_STAGED_MB", 8192) * MB


def staged_max_age_seconds() -> int:
    """Uploads never imported are removed after ``MARKETLENS_STAGED_HOURS`` (default 6) hours."""
    return _int_env("MARKETLENS_STAGED_HOURS", 6) * 3600


def max_excel_cells() -> int:
    """Largest Excel sheet read, in cells (``MARKETLENS_MAX_EXCEL_CELLS``, default 20 million)."""
    return _int_env("MARKETLENS_MAX_EXCEL_CELLS", 20_000_000)


def java_home() -> str | None:
    """``JAVA_HOME``, which pyspark prefers to the java on the PATH."""
    return os.environ.get("JAVA_HOME") or None


def service_keys() -> set[str]:
    """API keys of the scoring service (``MARKETLENS_SERVICE_KEYS``, comma-separated); empty when unset."""
    return {k.strip() for k in os.environ.get("MARKETLENS_SERVICE_KEYS", "").split(",") if k.strip()}
