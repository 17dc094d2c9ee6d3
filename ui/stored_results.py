"""The Compute button of a result the workspace keeps per dataset and settings (journeys, channels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from analytics.progress import Progress
from ui.guard import user_errors
from ui.widgets import progress_box

T = TypeVar("T")


def stored_or_compute(find: Callable[[], T | None], compute: Callable[[Progress], object], *, button: str, icon: str,
                      key: str, name: str, working: str, hint: str, about: str | None = None) -> T | None:
    """The stored result for the settings on screen, with the button that computes it.

    What is shown always belongs to the settings on screen: after a change the section shows
    ``hint`` until the user computes again, never the previous result under the new settings.
    Once a result is stored the button is disabled ("already computed"), so nobody waits for the
    same work twice. ``name`` ("the funnel") names the step in error messages; ``working`` is the
    label of the progress box while it runs; ``about`` is the button's tooltip before a result exists.
    """
    result = None
    with user_errors(f"Looking up {name}"):
        result = find()
    if st.button(button, type="primary", icon=icon, key=key, disabled=result is not None,
                 help="Already computed for these settings: shown below." if result is not None else about):
        with user_errors(name[:1].upper() + name[1:]):
            with progress_box(working) as (_, say):
                compute(say)
            st.rerun()  # drawn again from the stored result, the button now shown as done
    if result is None:
        st.info(hint, icon=":material/info:")
    return result
