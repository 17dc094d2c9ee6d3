"""The shareable report: one self-contained HTML file of a dataset's analyses (no internet needed to open it).

::

    from analytics.report import build_report
    html = build_report(ws, dataset_id)                      # newest segmentation and training run
    Path("report.html").write_text(html, encoding="utf-8")

``content`` gathers what the report shows from the workspace (:func:`gather`,
:class:`ReportContent`); ``html`` renders it (:func:`render`) with the template
in ``templates/``. The names below load on first use, so the CLI can read the
defaults without importing scikit-learn and Plotly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.workspace import Workspace

# Money settings of the Models page, the defaults of the report's money section.
DEFAULT_COST_PER_CONTACT = 1.0
DEFAULT_VALUE_PER_CONVERSION = 40.0

_LAZY = {"gather": "content", "ReportContent": "content", "FeaturePart": "content", "SegmentPart": "content",
         "ModelPart": "content", "render": "html"}


def build_report(ws: Workspace, dataset_id: str, *, segmentation: str | None = None, run: str | None = None,
                 cost_per_contact: float = DEFAULT_COST_PER_CONTACT,
                 value_per_conversion: float = DEFAULT_VALUE_PER_CONVERSION) -> str:
    """The report of a dataset as one self-contained HTML document.

    Parameters
    ----------
    ws : Workspace
    dataset_id : str
    segmentation : str, optional
        A saved segmentation's name; default the newest one.
    run : str, optional
        A stored training run's key; default the newest one.
    cost_per_contact, value_per_conversion : float
        Money settings of the profit section (defaults as on the Models page).

    Returns
    -------
    str
        HTML text (write it as UTF-8); plotly.js is inlined once, so it is about 5 MB.

    Raises
    ------
    DatasetNotFoundError, InvalidParameterError
        See :func:`analytics.report.content.gather`.
    """
    from analytics.report.content import gather
    from analytics.report.html import render

    return render(gather(ws, dataset_id, segmentation=segmentation, run=run, cost_per_contact=cost_per_contact,
                         value_per_conversion=value_per_conversion))


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"analytics.report.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'analytics.report' has no attribute {name!r}")


__all__ = ["DEFAULT_COST_PER_CONTACT", "DEFAULT_VALUE_PER_CONVERSION", "FeaturePart", "ModelPart", "ReportContent",
           "SegmentPart", "build_report", "gather", "render"]
