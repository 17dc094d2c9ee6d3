"""Run the atheris fuzz harness for a bounded time: no input may crash ingestion."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

SECONDS = 30


def test_fuzz_ingestion_for_a_bounded_time(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    res = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz" / "fuzz_ingest.py"), f"-max_total_time={SECONDS}",
         "-rss_limit_mb=4000", f"-artifact_prefix={tmp_path}/", str(corpus), str(ROOT / "tests" / "fuzz" / "corpus")],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS * 4,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    tail = res.stderr[-3000:]
    assert res.returncode == 0, tail
    runs = int(re.search(r"Done (\d+) runs", res.stderr).group(1))
    print(f"atheris: {runs} inputs in {SECONDS} s, no crash")
    assert runs > 100
