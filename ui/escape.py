"""Text from users and files shown in Streamlit's Markdown (messages, captions, labels) as plain text.

Streamlit renders the text of ``st.success``/``st.error``/``st.caption``/metric
labels and the like as Markdown: a dataset named ``![](https://evil/p.png)``
would load an image in every colleague's browser, and a bare URL would become a
link. Every piece of text that comes from a user or a file goes through
:func:`plain` before it reaches such an element.
"""

from __future__ import annotations

_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$:"
# GitHub-flavoured Markdown turns bare URLs and e-mail addresses into links even when their
# characters are escaped; an invisible word joiner inside them keeps them text.
_JOINER = "\u2060"
_AUTOLINK_STARTS = ("://", "www.", "@")


def plain(text: object) -> str:
    """Escape Markdown (and break bare URLs, e-mail links and emoji shortcodes) so the text shows as it is."""
    text = str(text)
    for start in _AUTOLINK_STARTS:
        text = text.replace(start, start[0] + _JOINER + start[1:])
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)
