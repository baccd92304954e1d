"""Cutting text and formatting times for Teams messages and Adaptive Cards.

User text (names, justifications, reasons) goes into TextRun elements, which Adaptive
Cards render without Markdown, or into messages sent with textFormat "plain". So
nothing a user typed can become a link or formatting; it only has to be cut to size.
"""

from __future__ import annotations

import datetime as dt

CUT_MARKER = "… (cut)"


def cut(text: str, limit: int, marker: str = CUT_MARKER) -> str:
    """Cut text to `limit` characters, ending with `marker` when anything was dropped."""
    if len(text) <= limit:
        return text
    end = max(0, limit - len(marker))
    return text[:end].rstrip() + marker


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "unknown time"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
