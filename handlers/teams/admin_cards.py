"""Adaptive Cards for the Cosigner admins: alerts, escalations and the daily digest.

The payloads come from outbox rows written by the core (bot.workflow, bot.reminders,
bot.digest). Every value is read defensively: a missing or oddly typed key is skipped,
never fatal, because the row would otherwise fail for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.records import RequestInfo
from handlers.teams.cards import (
    MAX_LIST_ITEMS,
    NAME_LIMIT,
    Card,
    Element,
    adaptive_card,
    add_within_budget,
    field,
    heading,
    justification,
    note,
    request_details,
    rich,
    run,
)
from handlers.teams.text import cut

# Characters of one digest value, and lines of one digest section.
DIGEST_VALUE_LIMIT = 500
DIGEST_SECTION_LINES = 25


def admin_alert(request: RequestInfo | None, payload: Mapping[str, Any]) -> Card:
    reason = str(payload.get("reason") or "alert")
    if request is None:
        body = [rich(run("⚠️ Cosigner alert: ", weight="Bolder"), cut(reason, DIGEST_VALUE_LIMIT))]
        return adaptive_card(body, summary="Cosigner alert")
    if reason == "escalation":
        return escalation_card(request, payload)
    if reason == "no_approver":
        explanation = "nobody in Cosigner may approve it"
    elif reason == "no_reachable_approver":
        explanation = "none of its approvers could be reached in chat"
    else:
        explanation = cut(reason, DIGEST_VALUE_LIMIT)
    name = cut(request.organization.legal_name, NAME_LIMIT)
    body = [
        rich(
            run(f"🚨 Request {request.id} needs an admin: ", weight="Bolder"),
            f"{explanation}. Check the roster of {name}.",
        ),
        *request_details(request),
        *justification(request),
    ]
    return adaptive_card(body, summary=f"Request {request.id} needs an admin", wide=True)


def escalation_card(request: RequestInfo, payload: Mapping[str, Any]) -> Card:
    """Build the escalation card: the request, who was reminded and who was unreachable."""
    days = payload.get("business_days_pending")
    waited = f"{days} business day(s)" if isinstance(days, int) else "too long"
    body: list[Element] = [
        heading(f"🚨 Request {request.id} has waited {waited} without a decision"),
        *request_details(request),
    ]
    reminded = [
        f"{cut(str(entry.get('name') or 'unknown'), NAME_LIMIT)} "
        f"({entry.get('reminders', 0)} reminder(s))"
        for entry in _dicts(payload.get("reminded"))
    ]
    if reminded:
        body.append(field("Reminded", "; ".join(reminded[:MAX_LIST_ITEMS])))
    unreachable = [cut(str(name), NAME_LIMIT) for name in _list(payload.get("unreachable"))]
    if unreachable:
        body.append(field("Not reachable in chat", "; ".join(unreachable[:MAX_LIST_ITEMS])))
    body.append(note("Follow up with the organization's officials, or decide it if you may."))
    return adaptive_card(body, summary=f"Request {request.id} was escalated", wide=True)


def digest_card(payload: Mapping[str, Any]) -> Card:
    """Render any JSON object key by key: scalars as fields, lists and mappings as lines.

    digest_card.render_digest falls back to this for a payload that is no valid Digest.
    """
    title = str(payload.get("title") or "Cosigner daily digest")
    sections: list[list[Element]] = []
    for key, value in payload.items():
        if key == "title":
            continue
        label = _label(str(key))
        if isinstance(value, Mapping):
            sections.append([_section_title(label), *_mapping_lines(value)])
        elif isinstance(value, list):
            sections.append([_section_title(f"{label} ({len(value)})"), *_list_lines(value)])
        else:
            sections.append([field(label, _scalar(value))])
    body: list[Element] = [heading(cut(title, 150))]
    sections_shown = add_within_budget(body, sections, len(sections))
    if sections_shown < len(sections):
        hidden = len(sections) - sections_shown
        body.append(note(f"{hidden} more part(s) cut to fit in a Teams message."))
    return adaptive_card(body, summary=cut(title, 150), wide=True)


def _section_title(text: str) -> Element:
    return rich(run(text, weight="Bolder"), spacing="Medium")


def _label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or "Value"


def _scalar(value: Any) -> str:
    return cut("—" if value is None else str(value), DIGEST_VALUE_LIMIT)


def _mapping_lines(mapping: Mapping[str, Any]) -> list[Element]:
    lines = [field(_label(str(k)), _scalar(v)) for k, v in mapping.items()]
    return _capped(lines, len(mapping))


def _list_lines(values: list[Any]) -> list[Element]:
    lines = []
    for value in values[:DIGEST_SECTION_LINES]:
        if isinstance(value, Mapping):
            text = ", ".join(f"{_label(str(k))}: {_scalar(v)}" for k, v in value.items())
        else:
            text = _scalar(value)
        lines.append(rich("• " + cut(text, DIGEST_VALUE_LIMIT)))
    return _capped(lines, len(values))


def _capped(lines: list[Element], total: int) -> list[Element]:
    shown = lines[:DIGEST_SECTION_LINES]
    if total > DIGEST_SECTION_LINES:
        shown.append(note(f"{total - DIGEST_SECTION_LINES} more not shown."))
    return shown


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [entry for entry in _list(value) if isinstance(entry, Mapping)]
