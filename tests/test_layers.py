"""The layering of DESIGN.md holds: the library never imports Streamlit, pages draw, ui/ glues, analytics computes."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from tests.helpers import ROOT

COMPUTE = {"duckdb", "ibis", "sklearn", "umap", "openTSNE", "numpy", "scipy", "skops", "torch"}
# Functions of the library a page may call because they only turn a value into words for a label.
DISPLAY_HELPERS = {
    "analytics.segments.features.feature_label",
    "analytics.models.targets.class_names",
    "analytics.wording.count",
}
SQL_CALLS = {"execute", "sql", "cursor", "query"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def analytics_functions_called(path: Path) -> list[str]:
    """Functions of ``analytics`` (outside its chart builders) that a file uses, as ``module.name``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    objects: dict[str, object] = {}  # local name -> analytics module or object
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analytics"):
            for a in node.names:
                try:
                    objects[a.asname or a.name] = importlib.import_module(f"{node.module}.{a.name}")
                except ImportError:
                    objects[a.asname or a.name] = getattr(importlib.import_module(node.module), a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("analytics") and a.asname:
                    objects[a.asname] = importlib.import_module(a.name)
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in objects:
            used.append(objects[node.id])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in objects:
            owner = objects[node.value.id]
            if inspect.ismodule(owner) and hasattr(owner, node.attr):
                used.append(getattr(owner, node.attr))
    offenders = []
    for obj in used:
        if inspect.isfunction(obj):
            where = f"{obj.__module__}.{obj.__name__}"
            if not obj.__module__.startswith("analytics.charts") and where not in DISPLAY_HELPERS:
                offenders.append(where)
    return sorted(set(offenders))


def test_analytics_never_imports_streamlit():
    files = sorted((ROOT / "analytics").rglob("*.py"))
    assert files
    offenders = [f.name for f in files if "streamlit" in imported_modules(f)]
    assert offenders == []


def test_pages_do_no_computation_themselves():
    offenders = {f.name: sorted(imported_modules(f) & COMPUTE) for f in (ROOT / "pages").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pages_call_ui_wrappers_not_library_functions():
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert pages
    offenders = {f.name: analytics_functions_called(f) for f in pages}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_layer_check_sees_a_library_call(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("from analytics import segments\nfrom analytics.models import iter_train\n"
                    "segments.segment(None, 3)\niter_train(None)\nsegments.feature_label('x')\n")
    assert analytics_functions_called(page) == ["analytics.models.training.iter_train",
                                                "analytics.segments.segment.segment"]


def test_ui_runs_no_sql():
    offenders = []
    for f in sorted((ROOT / "ui").glob("*.py")):
        tree = ast.parse(f.read_text(), filename=str(f))
        if imported_modules(f) & {"duckdb", "ibis"}:
            offenders.append(f"{f.name}: imports a database library")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
                offenders.append(f"{f.name}:{node.lineno} .{node.func.attr}()")
    assert offenders == []


def test_only_ui_pages_and_app_import_streamlit():
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "bench") or "site-packages" in rel.parts:
            continue
        if "streamlit" in imported_modules(f):
            assert rel.parts[0] in ("ui", "pages") or rel.name == "app.py", rel


def test_pages_draw_tables_through_the_one_table_widget():
    # ui.widgets.table shows an empty cell as a dash; a bare st.dataframe would write "None" in it.
    offenders = []
    for f in sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dataframe":
                offenders.append(f"{f.name}:{node.lineno}")
    assert offenders == ["widgets.py:" + str(_table_line())]


def _table_line() -> int:
    from ui import widgets

    source, start = inspect.getsourcelines(widgets.table)
    return start + next(i for i, line in enumerate(source) if ".dataframe(" in line)
