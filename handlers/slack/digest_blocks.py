"""Block Kit for the admins' daily digest.

`render_digest` returns a list of chat.postMessage arguments (`text` and `blocks`).
The first message goes to the admin channel and the others are meant as replies in
its thread. Lines are grouped into sections of at most 3,000 characters, and the
sections are packed into messages of at most 50 blocks and 12,000 characters of
block text (Slack rejects about 13,200 with msg_blocks_too_long). The digest's lists
are already cut to fixed lengths, so the number of messages stays small for any
number of organizations and requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.calendar import zone
from bot.digest import (
    AGE_BUCKET_LABELS,
    Digest,
    format_business_days,
    format_median,
    format_yesterday,
    long_date,
    short_date,
)
from handlers.slack.reminder_blocks import (
    MAX_BLOCK_TEXT,
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    block_text_length,
    context,
    header,
    mrkdwn_section,
)
from handlers.slack.text import cut, escape_cut

NAME_LIMIT = 100
ERROR_LIMIT = 200
# Maximum length of one line, so that every section contains several lines.
LINE_LIMIT = 1_000
# Room kept in every message after the first for its "continued" context block.
CONTINUATION_TEXT = 200


def render_digest(digest: Digest | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Render the digest as one channel message followed by its thread replies.

    `digest` is a Digest or its outbox payload (`Digest.to_payload()`).
    """
    if not isinstance(digest, Digest):
        digest = Digest.from_payload(digest)
    title = f"Cosigner digest for {long_date(digest.day)}"
    blocks = [*_opening(digest, title)]
    for section_title, lines in _sections(digest):
        blocks.extend(_section_blocks(section_title, lines))
    groups = _pack(blocks)

    messages = []
    for index, group in enumerate(groups):
        if index == 0:
            pending = f"{digest.pending_total:,} pending request(s)"
            messages.append({"text": f"{title}: {pending}", "blocks": group})
            continue
        part = f"part {index + 1} of {len(groups)}"
        messages.append(
            {
                "text": f"{title}, continued ({part})",
                "blocks": [context(f"{title}, continued ({part})"), *group],
            }
        )
    return messages


def _opening(digest: Digest, title: str) -> list[dict[str, Any]]:
    local = digest.as_of.astimezone(zone(digest.timezone))
    if digest.pending_total:
        pending = (
            f"*{digest.pending_total:,} pending request(s)* in "
            f"{digest.organizations_with_pending:,} organization(s)"
        )
    else:
        pending = "*No pending requests.*"
    summary = [
        pending,
        f"*Yesterday ({short_date(digest.yesterday)}):* {format_yesterday(digest)}",
        f"*Median time to decision:* {format_median(digest)}",
        f"*Undeliverable notifications:* {digest.failed_total:,}",
    ]
    return [
        header(title),
        context(
            f"As of {local:%Y-%m-%d %H:%M %Z} ({digest.timezone}). Ages count business "
            "days, Monday to Friday, in each organization's timezone."
        ),
        mrkdwn_section("\n".join(summary)),
    ]


def _name(text: str) -> str:
    return escape_cut(text, NAME_LIMIT)


def _code(text: str) -> str:
    """Show an error code or message as inline code; backticks inside would end the span."""
    return "`" + escape_cut(text.replace("`", "'"), ERROR_LIMIT) + "`"


def _sections(digest: Digest) -> list[tuple[str, list[str]]]:
    sections = []
    if digest.oldest:
        sections.append(
            (
                "Oldest pending requests",
                [
                    f"• *{request.request_id}* {_name(request.organization)} · "
                    f"{_name(request.requester)} · {_name(request.kind)} · "
                    f"{format_business_days(request.business_days)} "
                    f"(since {short_date(request.created_at.date())})"
                    for request in digest.oldest
                ],
            )
        )
    if digest.busiest_approvers:
        sections.append(
            (
                "Approvers with the most overdue requests",
                [
                    f"• {_name(approver.name)}: {approver.overdue:,} overdue"
                    + ("" if approver.reachable else " _(unreachable: chat account deactivated)_")
                    for approver in digest.busiest_approvers
                ],
            )
        )
    if digest.unreachable_total:
        lines = [
            f"• {_name(person.name)}: "
            + escape_cut(", ".join(person.organizations), LINE_LIMIT // 2)
            for person in digest.unreachable_approvers
        ]
        _add_more(lines, digest.unreachable_total, len(digest.unreachable_approvers), "approver")
        sections.append(("Unreachable approvers (chat account deactivated)", lines))
    if digest.thin_organizations_total:
        lines = [
            f"• {_name(organization.name)}: "
            + (
                ", ".join(_name(name) for name in organization.reachable_approvers)
                or "_no reachable approver_"
            )
            for organization in digest.thin_organizations
        ]
        _add_more(
            lines,
            digest.thin_organizations_total,
            len(digest.thin_organizations),
            "organization",
        )
        sections.append(("Organizations with a single reachable approver or none", lines))
    if digest.failed_total:
        lines = [f"• {error.count:,} × {_code(error.error)}" for error in digest.failed_errors]
        lines += [
            f"• {failed.created_at:%Y-%m-%d %H:%M} UTC: {failed.kind} to "
            f"{_name(failed.recipient)}"
            + (f" about *{failed.request_id}*" if failed.request_id else "")
            + f" on {failed.platform}: {_code(failed.error)}"
            for failed in digest.failed
        ]
        sections.append((f"Undeliverable notifications ({digest.failed_total:,})", lines))
    if digest.backlog:
        legend = " · ".join(AGE_BUCKET_LABELS)
        lines = [
            f"• *{_name(row.name)}*: {row.total:,} ({_buckets(row.by_age)})"
            for row in digest.backlog
        ]
        rest = digest.backlog_rest_organizations
        if rest > 0:
            lines.append(
                f"• {rest:,} more organization(s): {sum(digest.backlog_rest):,} "
                f"({_buckets(digest.backlog_rest)}). Run `cosigner digest --print` for all."
            )
        sections.append((f"Pending by organization (business days: {legend})", lines))
    return sections


def _buckets(by_age: tuple[int, int, int, int]) -> str:
    return " · ".join(f"{count:,}" for count in by_age)


def _add_more(lines: list[str], total: int, listed: int, noun: str) -> None:
    if total > listed:
        lines.append(f"• and {total - listed:,} more {noun}(s)")


def _section_blocks(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """Group lines under a bold title into sections of at most 3,000 characters each."""
    blocks = []
    current = f"*{title}*"
    for line in lines:
        line = cut(line, LINE_LIMIT)
        if len(current) + 1 + len(line) > SECTION_TEXT_LIMIT:
            blocks.append(mrkdwn_section(current))
            current = f"*{title}* (continued)"
        current += "\n" + line
    blocks.append(mrkdwn_section(current))
    return blocks


def _pack(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split blocks into messages that respect Slack's block count and block text limits.

    Every message after the first keeps room for its "continued" context block.
    """
    groups: list[list[dict[str, Any]]] = [[]]
    text = 0
    for block in blocks:
        size = block_text_length([block])
        reserved_blocks = 1 if len(groups) > 1 else 0
        reserved_text = CONTINUATION_TEXT if len(groups) > 1 else 0
        current = groups[-1]
        full = len(current) + 1 + reserved_blocks > MAX_BLOCKS
        too_long = text + size + reserved_text > MAX_BLOCK_TEXT
        if current and (full or too_long):
            groups.append([])
            text = 0
        groups[-1].append(block)
        text += size
    return groups
