"""Turn errors into messages: no user ever sees a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from analytics.engines.limits import path_error, resource_error
from analytics.errors import MarketLensError
from ui.escape import plain

log = logging.getLogger("marketlens")


@contextmanager
def user_errors(step: str = "This step") -> Iterator[None]:
    """Show library errors as ``st.error`` and unexpected ones as a short apology.

    Streamlit's own control flow (``st.rerun``, ``st.stop``) derives from
    BaseException and passes through untouched.
    """
    try:
        yield
    except MarketLensError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - the last line of defence for the UI
        if (limit := resource_error(exc, step) or path_error(exc, step)) is not None:  # the machine, not a bug
            log.warning("%s: %s", step, exc)
            st.error(plain(str(limit)), icon=":material/error:")
            return
        log.exception("%s failed", step)
        st.error(f"{step} failed unexpectedly. Nothing stored was changed; the details are in the server log. "
                 "Try again, or report the problem with the file you used.", icon=":material/error:")
