"""The shareable report: one self-contained HTML file of a dataset's analyses (no internet needed to open it).

::

    from analytics.report import build_report
    html = build_report(ws, dataset_id)                      # newest segmentation and training run
    Path("report.html").write_text(html, encoding="utf-8")

``content`` gathers what the report shows from the workspace (:func:`gather`,
:class:`ReportContent`); ``html`` renders it (:func:`render`) with the template
in ``templates/``.
"""

from __future__ import annotations

from analytics.report.content import (
    DEFAULT_COST_PER_CONTACT,
    DEFAULT_VALUE_PER_CONVERSION,
    FeaturePart,
    ModelPart,
    ReportContent,
    SegmentPart,
    gather,
)
from analytics.report.html import render
from analytics.workspace import Workspace


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
        HTML text (UTF-8 when written); plotly.js is inlined once, so it is about 5 MB.

    Raises
    ------
    DatasetNotFoundError, InvalidParameterError
        See :func:`gather`.
    """
    return render(gather(ws, dataset_id, segmentation=segmentation, run=run, cost_per_contact=cost_per_contact,
                         value_per_conversion=value_per_conversion))


__all__ = ["DEFAULT_COST_PER_CONTACT", "DEFAULT_VALUE_PER_CONVERSION", "FeaturePart", "ModelPart", "ReportContent",
           "SegmentPart", "build_report", "gather", "render"]
