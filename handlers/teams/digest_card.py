"""The admins' daily digest as one Adaptive Card.

The outbox row carries `Digest.to_payload()` from bot.digest. The card shows the same
parts as `cosigner digest --print`, each cut to the card's size budget. A payload that
does not validate as a Digest (from an older or newer version of bot.digest, say) is
still shown, key by key, by admin_cards.digest_card.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from handlers.teams import admin_cards
from handlers.teams.cards import (
    LIST_NAME_LIMIT,
    Card,
    Element,
    adaptive_card,
    add_within_budget,
    field,
    heading,
    note,
    rich,
    run,
)
from handlers.teams.text import cut

if TYPE_CHECKING:
    from bot.digest import Digest

log = logging.getLogger(__name__)

ERROR_LIMIT = 200


def render_digest(payload: Mapping[str, Any]) -> Card:
    """Render a digest payload, or a key-by-key card when it does not validate as a Digest."""
    # bot.digest is imported here, not at the top, so that a digest module that fails to
    # import costs only the digest card, never the whole Teams front end.
    try:
        from bot.digest import Digest

        digest = Digest.from_payload(payload)
    except (ImportError, ValidationError) as error:
        log.warning("digest payload shown key by key: %s", type(error).__name__)
        return admin_cards.digest_card(payload)
    return digest_card(digest)


def digest_card(digest: Digest) -> Card:
    from bot.calendar import zone
    from bot.digest import format_median, format_yesterday, long_date, short_date

    title = f"Cosigner digest for {long_date(digest.day)}"
    local = digest.as_of.astimezone(zone(digest.timezone))
    body: list[Element] = [
        heading(title),
        note(f"As of {local:%Y-%m-%d %H:%M %Z} ({digest.timezone})"),
        field(
            "Pending",
            f"{digest.pending_total:,} request(s) in "
            f"{digest.organizations_with_pending:,} organization(s)",
        ),
        field(f"Yesterday ({short_date(digest.yesterday)})", format_yesterday(digest)),
        field("Median time to decision", format_median(digest)),
        field("Undeliverable notifications", f"{digest.failed_total:,}"),
    ]
    sections = [
        _backlog(digest),
        _oldest(digest),
        _busiest(digest),
        _unreachable(digest),
        _thin(digest),
        _failed(digest),
    ]
    sections_shown = add_within_budget(body, sections, len(sections))
    if sections_shown < len(sections):
        hidden = len(sections) - sections_shown
        body.append(
            note(
                f"{hidden} more part(s) cut to fit in a Teams message: run "
                "`cosigner digest --print` for all of it."
            )
        )
    return adaptive_card(body, summary=title, wide=True)


def _title(text: str) -> Element:
    return rich(run(text, weight="Bolder"), spacing="Medium", separator=True)


def _line(text: str) -> Element:
    return rich("• " + text)


def _none_if_empty(lines: list[Element]) -> list[Element]:
    return lines or [rich(run("none", isSubtle=True))]


def _backlog(digest: Digest) -> list[Element]:
    from bot.digest import format_buckets

    lines = [
        _line(f"{cut(row.name, LIST_NAME_LIMIT)}: {row.total} ({format_buckets(row.by_age)})")
        for row in digest.backlog
    ]
    rest = digest.backlog_rest_organizations
    if rest > 0:
        lines.append(
            _line(
                f"{rest:,} more organization(s): {sum(digest.backlog_rest):,} "
                f"({format_buckets(digest.backlog_rest)})"
            )
        )
    return [_title("Pending by organization (age in business days)"), *_none_if_empty(lines)]


def _oldest(digest: Digest) -> list[Element]:
    from bot.digest import format_business_days

    lines = [
        _line(
            f"{request.request_id}  {cut(request.organization, LIST_NAME_LIMIT)}, "
            f"{cut(request.requester, LIST_NAME_LIMIT)} ({request.kind}), "
            f"{format_business_days(request.business_days)}, "
            f"since {request.created_at:%Y-%m-%d}"
        )
        for request in digest.oldest
    ]
    return [_title("Oldest pending requests"), *_none_if_empty(lines)]


def _busiest(digest: Digest) -> list[Element]:
    lines = []
    for approver in digest.busiest_approvers:
        unreachable = "" if approver.reachable else " (unreachable: chat account deactivated)"
        name = cut(approver.name, LIST_NAME_LIMIT)
        lines.append(_line(f"{name}: {approver.overdue} overdue{unreachable}"))
    return [_title("Approvers with the most overdue requests"), *_none_if_empty(lines)]


def _unreachable(digest: Digest) -> list[Element]:
    lines = [
        _line(
            f"{cut(person.name, LIST_NAME_LIMIT)}: "
            + ", ".join(cut(name, LIST_NAME_LIMIT) for name in person.organizations)
        )
        for person in digest.unreachable_approvers
    ]
    listed = len(digest.unreachable_approvers)
    if digest.unreachable_total > listed:
        lines.append(_line(f"and {digest.unreachable_total - listed:,} more approver(s)"))
    title = f"Unreachable approvers (chat account deactivated): {digest.unreachable_total}"
    return [_title(title), *lines]


def _thin(digest: Digest) -> list[Element]:
    lines = []
    for organization in digest.thin_organizations:
        approvers = ", ".join(organization.reachable_approvers) or "no reachable approver"
        lines.append(_line(f"{cut(organization.name, LIST_NAME_LIMIT)}: {approvers}"))
    listed = len(digest.thin_organizations)
    if digest.thin_organizations_total > listed:
        lines.append(
            _line(f"and {digest.thin_organizations_total - listed:,} more organization(s)")
        )
    title = (
        f"Organizations with a single reachable approver or none: {digest.thin_organizations_total}"
    )
    return [_title(title), *lines]


def _failed(digest: Digest) -> list[Element]:
    from bot.digest import describe_failed

    lines = [
        _line(f"{error.count} x {cut(error.error, ERROR_LIMIT)}") for error in digest.failed_errors
    ]
    if digest.failed:
        lines.append(rich(run("Latest:", isSubtle=True)))
    for failed in digest.failed:
        when = f"{failed.created_at:%Y-%m-%d %H:%M} UTC"
        lines.append(_line(f"{when}  {cut(describe_failed(failed), ERROR_LIMIT)}"))
    return [_title(f"Undeliverable notifications: {digest.failed_total}"), *lines]
