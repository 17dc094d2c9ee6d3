"""The layering of DESIGN.md holds: the library never imports Streamlit, pages hold no computation."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

COMPUTE = {"duckdb", "ibis", "sklearn", "umap", "openTSNE", "numpy", "scipy", "skops"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_analytics_never_imports_streamlit():
    files = sorted((ROOT / "analytics").rglob("*.py"))
    assert files
    offenders = [f.name for f in files if "streamlit" in imported_modules(f)]
    assert offenders == []


def test_pages_do_no_computation_themselves():
    offenders = {f.name: sorted(imported_modules(f) & COMPUTE) for f in (ROOT / "pages").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_ui_pages_and_app_import_streamlit():
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "bench") or "site-packages" in rel.parts:
            continue
        if "streamlit" in imported_modules(f):
            assert rel.parts[0] in ("ui", "pages") or rel.name == "app.py", rel
