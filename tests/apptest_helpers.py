"""Helpers to drive the app with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT


def app() -> AppTest:
    """The whole app (navigation + sidebar), run once; the workspace comes from MARKETLENS_WORKSPACE."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def read(markdown: str) -> str:
    """Markdown as a reader sees it: the escapes and word joiners of ``ui.escape.plain`` removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def errors(at: AppTest) -> list[str]:
    return [read(e.value) for e in at.error]


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader[0].set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def text_box(at: AppTest, label: str):
    matches = [t for t in at.text_input if t.label == label]
    assert matches, f"no text input {label!r}; text inputs: {[t.label for t in at.text_input]}"
    return matches[0]


def no_traceback(at: AppTest) -> None:
    assert not at.exception, at.exception
    for e in at.error:
        assert "Traceback" not in e.value


def open_page(at: AppTest, path: str) -> AppTest:
    """Switch to a page (e.g. ``pages/models.py``), run it, and check it raised nothing."""
    at.switch_page(path).run()
    no_traceback(at)
    return at


def app_with_url(query_params: dict, page: str | None = None) -> AppTest:
    """A new session opened on a URL with these query parameters (a reload, or a shared link)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in query_params.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at
