"""Text from users and files never becomes Markdown: no image, link or formatting it brings renders."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import app, button, no_traceback, open_page, text_box
from tests.helpers import write

IMAGE = "![x](http://evil.example/p.png)"
LINK = "[click](http://evil.example/phish)"


def rendered_markdown(at) -> list[str]:
    """The Markdown bodies and labels the app sent to the browser, on every kind of element that renders it."""
    out = []
    for kind in ("markdown", "caption", "success", "warning", "error", "info", "title", "subheader", "header"):
        out += [str(e.value) for e in at.get(kind)]
    out += [m.label for m in at.metric]
    out += [str(getattr(e, "label", "")) for e in at.get("expander")]
    return out


def assert_no_markup(at) -> None:
    no_traceback(at)
    for text in rendered_markdown(at):
        assert IMAGE not in text and LINK not in text and "](http" not in text, text


@pytest.fixture
def hostile_dataset(workspace, tmp_path):
    rows = ["user,time,event,amount"]
    for i in range(60):
        event = f"{LINK} buy" if i % 3 == 0 else "view"
        rows.append(f"u{i % 20},2025-0{1 + i % 6}-{1 + i % 27:02d} 10:00,{event},{10 + i if i % 3 == 0 else ''}")
    ds = workspace.import_file(write(tmp_path / "hostile.csv", "\n".join(rows) + "\n"), name=f"{IMAGE} shop")
    return workspace.rename(ds.id, f"{IMAGE} {LINK} shop")


@pytest.mark.parametrize("page", [None, "pages/features.py", "pages/segments.py", "pages/models.py",
                                  "pages/recommendations.py"])
def test_hostile_names_are_shown_as_text_on_every_page(hostile_dataset, page):
    at = app()
    if page:
        at = open_page(at, page)
    assert_no_markup(at)


def test_hostile_names_in_messages_after_actions(hostile_dataset, workspace):
    at = app()
    button(at, "Delete dataset").click().run()  # the confirmation names the dataset
    assert any("cannot be undone" in w.value for w in at.warning)
    assert_no_markup(at)
    at = open_page(at, "pages/segments.py")
    button(at, "Segment").click().run()
    text_box(at, "Segmentation name").set_value(f"{IMAGE} mine").run()
    button(at, "Save segmentation").click().run()
    assert any("Saved as" in s.value for s in at.success)
    assert_no_markup(at)
    at = open_page(at, "pages/models.py")
    at.multiselect(key="models_chosen").set_value(["lr"]).run()
    button(at, "Train").click().run()
    assert_no_markup(at)
