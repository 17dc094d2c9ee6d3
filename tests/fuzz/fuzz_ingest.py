"""Coverage-guided fuzzing of ingestion with atheris (libFuzzer for Python).

Any bytes go through the whole upload path: content sniffing, unpacking,
decoding, delimiter/header detection, preview, role guessing and, when a
mapping is possible, cleaning into a workspace. The only exceptions allowed to
escape are the project's own (``analytics.errors``); anything else is a crash
that libFuzzer reports with the input that caused it.

Run::

    python tests/fuzz/fuzz_ingest.py -max_total_time=60 [corpus_dir]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["analytics"]):
    from analytics.errors import MarketLensError
    from analytics.workspace import Workspace

WORKDIR = Path(tempfile.mkdtemp(prefix="marketlens-fuzz-"))
WS = Workspace(WORKDIR / "ws")
UPLOAD = WORKDIR / "upload.bin"


def one_input(data: bytes) -> None:
    UPLOAD.write_bytes(data)
    staged = WS.stage_path(UPLOAD, "upload.csv", copy=False)
    try:
        insp = WS.inspect(staged)
        try:
            WS.import_staged(staged, inspection=insp, allow_bad_rows=True, keep_original=False)
        finally:
            insp.source.cleanup()
    except MarketLensError:
        pass
    finally:
        WS.discard(staged)
        for ds in WS.datasets():
            WS.delete(ds.id)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
