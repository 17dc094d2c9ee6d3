"""Plotly figure builders: data in, ``go.Figure`` out, nothing else (one module per capability).

Text that comes from the data (feature names, event names, segment names) is
escaped with :func:`safe` before it reaches a title or label, so HTML in a log
shows as text.
"""

from __future__ import annotations

import html

TEMPLATE = "plotly_white"
# A legend drawn over the plot: translucent grey reads in the app's light and dark themes alike
# (white, as before, hid the dark theme's light text).
LEGEND_BACKGROUND = "rgba(128,128,128,0.15)"


def safe(text: object) -> str:
    """Escape text for Plotly titles and labels (they accept a subset of HTML)."""
    return html.escape(str(text), quote=False)
