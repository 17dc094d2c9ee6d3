"""Settings that survive: page switches, reloads and shared links.

Streamlit forgets a widget's value when a run does not draw the widget (the
user went to another page), and a reload starts a new session. A setting drawn
with a key goes through :func:`restore` before the widget and :func:`keep`
after it: its value is kept under a shadow key that survives page switches and,
for settings named in the URL, written to ``st.query_params`` so a reload or a
shared link opens the same view. Widgets drawn this way take their value from
session state only (no ``value=`` argument).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

_SHADOW = "kept_setting_"


def restore(key: str, default: Any, *, url: str | None = None, parse: Callable[[str], Any] = str,
            valid: Callable[[Any], bool] = lambda _v: True) -> None:
    """Give the widget ``key`` its last value (this session's, else the URL's), or ``default``.

    The session's value comes first: the URL holds one value per setting name for the whole page, and
    it may have been written for another dataset. A new session (a reload, a shared link) has only the URL.
    """
    if key in st.session_state:
        return
    shadow = st.session_state.get(_SHADOW + key)
    if shadow is not None and valid(shadow):
        st.session_state[key] = shadow
        return
    if url and url in st.query_params:
        try:
            value = parse(st.query_params[url])
            if valid(value):
                st.session_state[key] = value
                return
        except (TypeError, ValueError):
            pass  # a hand-edited URL: fall back to the default
    st.session_state[key] = default


def keep(key: str, *, url: str | None = None, show: Callable[[Any], str] = str) -> Any:
    """Remember the widget's current value (and put it in the URL); returns the value."""
    value = st.session_state.get(key)
    st.session_state[_SHADOW + key] = value
    if url:
        text = show(value)
        if st.query_params.get(url) != text:
            st.query_params[url] = text
    return value


def touched(key: str) -> bool:
    """Whether the user moved a widget drawn with :func:`mark_touched` as its ``on_change``."""
    return bool(st.session_state.get(_SHADOW + key + "_touched"))


def mark_touched(key: str) -> Callable[[], None]:
    """An ``on_change`` callback recording that the user moved the widget ``key``."""
    return lambda: st.session_state.__setitem__(_SHADOW + key + "_touched", True)


def untouch(key: str) -> None:
    st.session_state.pop(_SHADOW + key + "_touched", None)
