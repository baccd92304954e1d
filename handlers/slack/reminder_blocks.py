"""Block Kit for reminders to approvers and escalations to the admin channel.

Each function returns the keyword arguments of chat.postMessage: `text` (the
notification fallback) and `blocks`. Slack rejects a message with more than 50 blocks
or, near 13,200 characters, with too much block text (msg_blocks_too_long), so a
reminder lists the requests that fit and points to the App Home for the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.calendar import calendar_for
from bot.digest import format_business_days, short_date
from bot.domain import DEFAULT_TIMEZONE
from bot.records import RequestInfo
from handlers.slack.ids import APPROVE_ACTION, REJECT_ACTION
from handlers.slack.text import cut, escape_cut, plain

MAX_BLOCKS = 50
# Kept below Slack's total of about 13,000 characters, for the intro and the footer.
MAX_BLOCK_TEXT = 12_000
SECTION_TEXT_LIMIT = 3_000
HEADER_TEXT_LIMIT = 150
# Names are cut well below the section limit, so one request never crowds out the rest.
NAME_LIMIT = 120


def block_text_length(blocks: Sequence[dict[str, Any]]) -> int:
    """Count the characters of every `text` string in `blocks`, as Slack's total limit does."""

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return sum(
                len(value) if key == "text" and isinstance(value, str) else count(value)
                for key, value in node.items()
            )
        if isinstance(node, list):
            return sum(count(item) for item in node)
        return 0

    return count(list(blocks))


def fit_section(mrkdwn: str) -> str:
    """Cut already-escaped mrkdwn to the section text limit, with a visible marker."""
    return cut(mrkdwn, SECTION_TEXT_LIMIT)


def mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": plain(text, HEADER_TEXT_LIMIT), "emoji": True},
    }


def _age(request: RequestInfo, now: dt.datetime) -> str:
    try:
        calendar = calendar_for(request.organization.timezone)
    except ValueError:
        calendar = calendar_for(DEFAULT_TIMEZONE)
    days = calendar.business_days_between(request.created_at, now)
    since = short_date(calendar.local_date(request.created_at))
    return f"{format_business_days(days)} (since {since})"


def _request_blocks(request: RequestInfo, now: dt.datetime) -> list[dict[str, Any]]:
    lines = [
        f"*{request.id}* · {escape_cut(request.kind_label, NAME_LIMIT)} request",
        f"*Organization:* {escape_cut(request.organization.legal_name, NAME_LIMIT)}",
        f"*Requester:* {escape_cut(request.requester.name, NAME_LIMIT)}",
        f"*Waiting:* {_age(request, now)}",
    ]
    buttons = {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": request.id,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": request.id,
            },
        ],
    }
    return [mrkdwn_section("\n".join(lines)), buttons]


def render_reminder(requests: list[RequestInfo], now: dt.datetime) -> dict[str, Any]:
    """Render one approver's reminder listing their pending requests, oldest first.

    Requests no longer pending are left out. When the rest do not fit in one message,
    the message lists the oldest that fit and sends the reader to the Home tab.
    The delivery should skip the message when no request is pending any more.
    """
    pending = sorted(
        (request for request in requests if request.is_pending),
        key=lambda request: (request.created_at, request.id),
    )
    total = len(pending)
    if total == 0:
        text = "All the requests in this reminder have been decided."
        return {"text": text, "blocks": [mrkdwn_section(text)]}

    noun = "request" if total == 1 else "requests"
    text = f"{total} access {noun} waiting for your decision"
    intro = mrkdwn_section(
        f"*{text}.* The oldest has waited {_age(pending[0], now)}. "
        "Please approve or reject each one."
    )
    blocks = [intro]
    listed = 0
    # Room kept for the footer that points to the Home tab.
    footer_room = 1
    footer_text = 200
    for request in pending:
        candidate = _request_blocks(request, now)
        over_blocks = len(blocks) + len(candidate) + footer_room > MAX_BLOCKS
        over_text = (
            block_text_length(blocks) + block_text_length(candidate) + footer_text > MAX_BLOCK_TEXT
        )
        if over_blocks or over_text:
            break
        blocks.extend(candidate)
        listed += 1
    if listed < total:
        blocks.append(
            context(
                f"Showing the {listed} oldest of {total} requests. "
                f"Open Cosigner's Home tab to see all {total}."
            )
        )
    return {"text": text, "blocks": blocks}


def render_escalation(payload: dict[str, Any], request: RequestInfo) -> dict[str, Any]:
    """Render the admin channel's alert about a request that waited too long.

    `payload` is the outbox row's payload from bot.reminders: business_days_pending,
    reminded ([{person_id, name, reminders}]) and unreachable ([names]).
    """
    days = int(payload.get("business_days_pending", 0))
    reminded = list(payload.get("reminded", []))
    unreachable = [str(name) for name in payload.get("unreachable", [])]
    text = f"Escalation: {request.id} has waited {format_business_days(days)} for a decision"

    details = [
        f"*Organization:* {escape_cut(request.organization.legal_name, NAME_LIMIT)}",
        f"*Requester:* {escape_cut(request.requester.name, NAME_LIMIT)}",
        f"*Request:* {escape_cut(request.kind_label, NAME_LIMIT)}",
        f"*Submitted:* {request.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if not request.is_pending:
        details.append(f"*Now:* {request.status}, no action needed")
    blocks = [header(f"Escalation: {request.id}"), mrkdwn_section("\n".join(details))]

    if reminded:
        names = ", ".join(
            f"{escape_cut(str(entry.get('name', '?')), NAME_LIMIT)} "
            f"({int(entry.get('reminders', 0))} reminder"
            f"{'s' if int(entry.get('reminders', 0)) != 1 else ''})"
            for entry in reminded
        )
        summary = f"*Reminded:* {names}"
    else:
        summary = "*Reminded:* nobody yet"
    blocks.append(mrkdwn_section(fit_section(summary)))
    if unreachable:
        names = ", ".join(escape_cut(name, NAME_LIMIT) for name in unreachable)
        blocks.append(
            mrkdwn_section(
                fit_section(
                    f"*Unreachable:* {names}. Their chat account is deactivated: "
                    "update the roster or ask another approver."
                )
            )
        )
    blocks.append(
        context(
            f"Pending for {format_business_days(days)}. Cosigner escalates a request once: "
            "after the escalation period, or at once when an approver is unreachable."
        )
    )
    return {"text": text, "blocks": blocks}
