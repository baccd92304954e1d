"""Escaping and cutting text for Slack's mrkdwn.

Slack parses `<...>` in mrkdwn as mentions (`<@U123>`, `<!channel>`) and links
(`<https://example.org|label>`). Replacing `&`, `<` and `>` with entities, as
Slack's "Formatting text for app surfaces" page asks, turns whatever a user typed
into plain text that notifies no one.
"""

from __future__ import annotations

import datetime as dt

CUT_MARKER = "… (cut)"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int, marker: str = CUT_MARKER) -> str:
    """Cut already-escaped text to `limit` characters, ending with a marker.

    The cut never splits an entity such as `&amp;`, which would show as stray text.
    """
    if len(text) <= limit:
        return text
    end = max(0, limit - len(marker))
    ampersand = text.rfind("&", max(0, end - 5), end)
    if ampersand != -1 and ";" not in text[ampersand:end]:
        end = ampersand
    return text[:end].rstrip() + marker


def split_escaped(text: str, size: int) -> list[str]:
    """Split already-escaped text into pieces of at most `size` characters.

    Like `cut`, a split never falls inside an entity such as `&amp;`.
    """
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            ampersand = text.rfind("&", max(start + 1, end - 5), end)
            if ampersand != -1 and ";" not in text[ampersand:end]:
                end = ampersand
        pieces.append(text[start:end])
        start = end
    return pieces


def escape_cut(text: str, limit: int, marker: str = CUT_MARKER) -> str:
    return cut(escape(text), limit, marker)


def plain(text: str, limit: int) -> str:
    """Cut text for a plain_text field, where Slack shows characters as they are."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def mention(slack_user_id: str | None, fallback_name: str) -> str:
    if slack_user_id:
        return f"<@{slack_user_id}>"
    return escape(fallback_name)


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "unknown time"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
