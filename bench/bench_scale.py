"""Benchmark: a 100M-event log from file to feature table on one machine, with the default settings.

Usage::

    python bench/bench_scale.py [--copies 10] [--base 10000000] [--keep] [--from-disk]

The log is ``--copies`` copies of the ``--base``-event benchmark log of
``bench/bench_features.py`` (generated with ``sample_data/generate.py`` and cached
in ``bench/out/``), each copy with its own user ids (``u0157912`` becomes
``u30157912`` in copy 3), so users and events grow together: ten copies of the
10M log make 103M events of 1.58M users, 6.85 GB of CSV.

It then runs what a user with a big export would run, in a fresh process so
peak memory is its own::

    python -m analytics features big.csv -o features.parquet

with the default settings (memory limit, spill folder) and prints seconds, peak
RSS of the process, the memory limit it ran with, the spill folder's peak size,
and the load average of the machine (shared machines make times vary).
``--keep`` keeps the big CSV in ``bench/out/`` (it is removed otherwise); ``--from-disk`` drops it from
the OS file cache first, so the run reads it from disk as a user's first import after a reboot would.

Figures are printed, never asserted: the test suite does not time anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_features import OUT, drop_from_os_cache, log_for  # noqa: E402

CHUNK = 64 * 1024 * 1024


def repeated_log(base: Path, copies: int) -> Path:
    """``copies`` copies of ``base`` (a log whose lines start with a ``u<digits>`` user id), user ids made distinct."""
    out = OUT / f"{base.stem}_x{copies}.csv"
    if out.exists():
        return out
    part = out.with_suffix(".part")
    with open(part, "wb") as dst:
        for k in range(copies):
            with open(base, "rb") as src:
                header = src.readline()
                if k == 0:
                    dst.write(header)
                tail = b"\n"  # the previous chunk ended a line
                while chunk := src.read(CHUNK):
                    chunk = tail + chunk
                    cut = chunk.rfind(b"\n") + 1
                    body, tail = chunk[:cut], chunk[cut - 1:]
                    # Every line starts with the user id: 'u' + digits; the copy number goes after the 'u'.
                    dst.write(body.replace(b"\nu", b"\nu%d" % k)[1:])
                if tail.strip():
                    dst.write(tail.replace(b"\nu", b"\nu%d" % k)[1:] + b"\n")
    part.rename(out)
    return out


def watch_features(log: Path, output: Path, workspace_tmp: Path) -> dict:
    """Run ``python -m analytics features`` on ``log``; its time, peak RSS and the spill folder's peak size."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(workspace_tmp)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "features", str(log), "-o", str(output), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak_rss = peak_spill = 0
    while proc.poll() is None:
        try:
            peak_rss = max(peak_rss, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        peak_spill = max(peak_spill, _folder_bytes(workspace_tmp, "spill"))
        time.sleep(0.5)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"features failed (exit {proc.returncode}): {err.strip()[-2000:]}")
    summary = json.loads(out)
    return {"seconds": seconds, "peak_rss_mb": peak_rss / 2**20, "peak_spill_mb": peak_spill / 2**20,
            "rows": summary["rows_kept"], "users": summary["feature_users"]}


def _folder_bytes(root: Path, name: str) -> int:
    """Bytes under ``root/marketlens-*/tmp/name``; files and folders may vanish while we count (DuckDB cleans up)."""
    total = 0
    for dirpath, _, files in os.walk(root):
        if Path(dirpath).name != name and f"/tmp/{name}" not in dirpath:
            continue
        for f in files:
            try:
                total += os.stat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--base", type=int, default=10_000_000, help="events of the log that is repeated")
    parser.add_argument("--keep", action="store_true", help="keep the big CSV in bench/out/")
    parser.add_argument("--from-disk", action="store_true",
                        help="drop the log from the OS file cache first, so it is read from disk (as after a reboot)")
    args = parser.parse_args()
    from analytics import config

    base = log_for(args.base)
    t0 = time.perf_counter()
    log = repeated_log(base, args.copies) if args.copies > 1 else base
    built = time.perf_counter() - t0
    print(f"log: {log.name}, {log.stat().st_size / 1e9:.2f} GB (built in {built:.0f} s); memory limit "
          f"{config.memory_limit()} of {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
          f"{psutil.cpu_count()} cores", flush=True)
    print(f"{'events':>12} {'users':>10} {'file GB':>8} | {'seconds':>8} {'peak RSS MB':>11} {'peak spill MB':>13} "
          f"| {'load avg (1, 5, 15 min) before / after':>40}")
    try:
        with tempfile.TemporaryDirectory(prefix="marketlens-bench-scale-") as tmp:
            if args.from_disk:
                drop_from_os_cache(log)
            before = os.getloadavg()
            r = watch_features(log, Path(tmp) / "features.parquet", Path(tmp))
            after = os.getloadavg()
        load = " ".join(f"{x:.1f}" for x in before) + " / " + " ".join(f"{x:.1f}" for x in after)
        print(f"{r['rows']:>12,} {r['users']:>10,} {log.stat().st_size / 1e9:>8.2f} | {r['seconds']:>8.1f} "
              f"{r['peak_rss_mb']:>11,.0f} {r['peak_spill_mb']:>13,.0f} | {load:>40}", flush=True)
    finally:
        if not args.keep and log != base:
            log.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
