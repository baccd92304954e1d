"""Adaptive Cards (schema 1.5) of the Teams front end: request cards, notices and lists.

Text that a user or a roster controls (names, organization names, justifications,
reasons) goes into TextRun elements, which Adaptive Cards render without Markdown.
TextBlock, which renders Markdown, carries only Cosigner's own sentences, request ids
and labels. Teams refuses bot messages above a size limit, so long text is cut on
purpose and lists stop growing at CARD_BYTE_BUDGET.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, Attachment

from bot.domain import Status
from bot.policy import PECOS_SIGNING
from bot.records import OrganizationInfo, PersonInfo, RequestInfo
from handlers.teams import ids
from handlers.teams.text import cut, when

Element = dict[str, Any]
Card = dict[str, Any]

CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# A card shows this much of a justification; `show ID` prints all of it.
CARD_JUSTIFICATION_LIMIT = 1500
LIST_JUSTIFICATION_LIMIT = 300
REASON_LIMIT = 2200
LIST_REASON_LIMIT = 300
NAME_LIMIT = 300
LIST_NAME_LIMIT = 120
# Items per list card. A list also stops growing at CARD_BYTE_BUDGET bytes of card JSON
# (ASCII, as sent). Versions of Microsoft's "Format your bot messages" page give the bot
# message limit as 40 KB counted in UTF-16 and as 100 KB, with 413 MessageSizeTooBig
# above it; 18,000 bytes plus the activity around them stay within the smaller one.
MAX_LIST_ITEMS = 20
MAX_STATUS_ITEMS = 30
CARD_BYTE_BUDGET = 18_000

STATUS_BADGES = {
    Status.PENDING: "⏳ Pending",
    Status.APPROVED: "✅ Approved",
    Status.REJECTED: "❌ Rejected",
    Status.WITHDRAWN: "↩️ Withdrawn",
    Status.EXPIRED: "⏰ Expired",
    Status.REVOKED: "⛔ Revoked",
}


# Elements -----------------------------------------------------------------------


def adaptive_card(
    body: list[Element], actions: list[Element] | None = None, *, summary: str, wide: bool = False
) -> Card:
    """Wrap elements in an AdaptiveCard. `summary` is the fallback text of the card."""
    card: Card = {
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "fallbackText": summary,
    }
    if actions:
        card["actions"] = actions
    if wide:
        # Teams-only key: let the card use the full width of the chat.
        card["msteams"] = {"width": "Full"}
    return card


def card_activity(card: Card) -> Activity:
    """Return a message activity that carries one card."""
    return Activity(
        type=ActivityTypes.message,
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=card)],
        summary=str(card.get("fallbackText") or "Cosigner"),
    )


def plain_activity(text: str) -> Activity:
    """Return a message activity whose text Teams shows as it is, without Markdown."""
    return Activity(type=ActivityTypes.message, text=text, text_format="plain")


def text_block(text: str, **options: Any) -> Element:
    """Build a TextBlock for Cosigner's own text, which may use Markdown."""
    return {"type": "TextBlock", "text": text, "wrap": True, **options}


def heading(text: str) -> Element:
    return text_block(text, size="Medium", weight="Bolder")


def note(text: str) -> Element:
    return text_block(text, size="Small", isSubtle=True)


def run(text: str, **style: Any) -> Element:
    """Build a TextRun, which shows its text as it is, with no Markdown."""
    return {"type": "TextRun", "text": text, **style}


def rich(*parts: str | Element, **options: Any) -> Element:
    """Build a RichTextBlock of text runs, in which plain strings become unstyled runs."""
    inlines = [run(part) if isinstance(part, str) else part for part in parts]
    return {"type": "RichTextBlock", "inlines": inlines, **options}


def field(label: str, value: str) -> Element:
    return rich(run(f"{label}: ", weight="Bolder"), value)


def alert(text: str) -> Element:
    """Build a line in the attention colour, for a notice above a card."""
    return rich(run(text, color="Attention", weight="Bolder"))


def execute_action(
    title: str, verb: str, data: dict[str, Any], *, style: str | None = None
) -> Element:
    """Build an Action.Execute button with an Action.Submit fallback for clients before 1.4.

    The fallback sends the verb in its data, because Action.Submit has no verb.
    """
    fallback: Element = {
        "type": "Action.Submit",
        "title": title,
        "data": {**data, ids.VERB_KEY: verb},
    }
    action: Element = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": dict(data),
        "fallback": fallback,
    }
    if style:
        action["style"] = style
        fallback["style"] = style
    return action


def decision_actions(request_id: str, origin: str = ids.ORIGIN_CARD) -> list[Element]:
    data = {ids.REQUEST_ID_KEY: request_id, ids.ORIGIN_KEY: origin}
    return [
        execute_action("Approve", ids.APPROVE_VERB, data, style="positive"),
        execute_action("Reject", ids.REJECT_VERB, data, style="destructive"),
    ]


# Request details ----------------------------------------------------------------


def organization_label(organization: OrganizationInfo) -> str:
    npis = ", ".join(organization.npis[:3]) + (" …" if len(organization.npis) > 3 else "")
    return f"{cut(organization.legal_name, NAME_LIMIT)} (NPI {npis or 'none'})"


def person_label(person: PersonInfo) -> str:
    name = cut(person.name, NAME_LIMIT)
    return f"{name} ({person.email})" if person.email else name


def request_details(request: RequestInfo) -> list[Element]:
    details = [
        field("Organization", organization_label(request.organization)),
        field("Role requested", request.kind_label),
        field("Requester", person_label(request.requester)),
        field("Request id", request.id),
    ]
    if request.surrogate_org:
        details.append(field("Surrogate organization", cut(request.surrogate_org, NAME_LIMIT)))
    if request.products:
        details.append(field("Products", ", ".join(request.products)))
    if request.end_date:
        details.append(field("End date", request.end_date.isoformat()))
    return details


def justification(request: RequestInfo, limit: int = CARD_JUSTIFICATION_LIMIT) -> list[Element]:
    marker = f"… (cut: write show {request.id} for the full text)"
    return [
        text_block("**Justification**", spacing="Medium"),
        rich(cut(request.justification, limit, marker)),
    ]


def outcome(request: RequestInfo, reason_limit: int = REASON_LIMIT) -> list[Element]:
    """Describe the state of a request: the status, who decided it, when and why."""
    badge = STATUS_BADGES[request.status]
    if request.status is Status.PENDING:
        return [rich(run(badge, weight="Bolder"), f" since {when(request.created_at)}")]
    if request.status is Status.REVOKED:
        by = person_label(request.revoked_by) if request.revoked_by else "an official"
        elements = [rich(run(badge, weight="Bolder"), f" by {by} at {when(request.revoked_at)}")]
        if request.revoke_reason:
            elements.append(field("Reason", cut(request.revoke_reason, reason_limit)))
        return elements
    if request.status is Status.EXPIRED:
        text = f" at {when(request.decided_at)}: nobody decided it in time"
        return [rich(run(badge, weight="Bolder"), text)]
    if request.status is Status.WITHDRAWN:
        text = f" by the requester at {when(request.decided_at)}"
        return [rich(run(badge, weight="Bolder"), text)]
    by = person_label(request.decided_by) if request.decided_by else "an approver"
    elements = [rich(run(badge, weight="Bolder"), f" by {by} at {when(request.decided_at)}")]
    if request.decision_reason:
        elements.append(field("Reason", cut(request.decision_reason, reason_limit)))
    return elements


def summary_line(request: RequestInfo) -> str:
    name = cut(request.organization.legal_name, 200)
    verdict = "" if request.is_pending else f" ({request.status})"
    return f"Access request {request.id}: {request.kind_label} at {name}{verdict}"


# Cards --------------------------------------------------------------------------


def request_card(request: RequestInfo, notice: str | None = None) -> Card:
    """Build the approver's card: the request, and Approve and Reject while it is pending."""
    body: list[Element] = []
    if notice:
        body.append(alert(notice))
    body.append(heading(f"Access request {request.id}: {request.kind_label}"))
    body.extend(request_details(request))
    body.extend(justification(request))
    body.append(text_block("**Status**", spacing="Medium"))
    body.extend(outcome(request))
    body.append(note(f"Submitted {when(request.created_at)}"))
    actions = decision_actions(request.id) if request.is_pending else None
    return adaptive_card(body, actions, summary=summary_line(request), wide=True)


def requester_notice(request: RequestInfo, event: str) -> Card:
    name = cut(request.organization.legal_name, NAME_LIMIT)
    about = f"Your request {request.id} ({request.kind_label} at {name})"
    lines = {
        "approved": rich(f"{about} was ", run("approved", weight="Bolder"), "."),
        "rejected": rich(f"{about} was ", run("rejected", weight="Bolder"), "."),
        "expired": rich(
            f"{about} ",
            run("expired", weight="Bolder"),
            " because nobody decided it in time. Make a new request if you still need access.",
        ),
        "revoked": rich(
            f"The access granted by {request.id} ({request.kind_label} at {name}) was ",
            run("revoked", weight="Bolder"),
            ".",
        ),
    }
    line = lines.get(event, rich(f"Your request {request.id} is now {request.status}."))
    body = [line, *outcome(request)]
    return adaptive_card(body, summary=f"Your request {request.id} is now {request.status}")


def approver_expiry_notice(request: RequestInfo) -> Card:
    name = cut(request.organization.legal_name, NAME_LIMIT)
    text = (
        f"⏰ Request {request.id} from {person_label(request.requester)} "
        f"({request.kind_label} at {name}) expired without a decision."
    )
    return adaptive_card([rich(text)], summary=f"Request {request.id} expired")


def submitted_card(request: RequestInfo, approvers: int) -> Card:
    if approvers:
        recipients = (
            f"It was sent to {approvers} approver(s); you will get a message when it is decided."
        )
    else:
        recipients = (
            "No approver could be reached, so the Cosigner admins were told and will follow up."
        )
    body = [
        heading(f"✅ Request {request.id} submitted"),
        text_block(recipients),
        *request_details(request),
        note(
            f"See where it stands with **status**, or withdraw it with **withdraw {request.id}**."
        ),
    ]
    return adaptive_card(body, summary=f"Request {request.id} submitted")


def full_request_card(request: RequestInfo) -> Card:
    """Build a card with every detail of a request, the whole justification included."""
    body = [
        heading(f"{request.id}: {request.kind_label}"),
        *request_details(request),
        text_block("**Justification**", spacing="Medium"),
        rich(request.justification),
        text_block("**Status**", spacing="Medium"),
        *outcome(request),
        note(f"Submitted {when(request.created_at)}"),
    ]
    return adaptive_card(body, summary=f"Request {request.id}", wide=True)


def help_card() -> Card:
    commands = "\n".join(
        [
            "- **request**: ask for access to an organization (opens a form)",
            "- **status**: your requests and where they stand",
            "- **pending**: requests waiting for your decision, with buttons",
            "- **show REQ-XXXXX**: every detail of one request",
            "- **withdraw REQ-XXXXX**: withdraw your own pending request",
            "- **help**: this message",
        ]
    )
    signing = "\n".join(f"- **{what}**: {who}" for what, who in PECOS_SIGNING)
    body = [
        text_block(
            "**Cosigner** routes access requests for your organization's Medicare enrollment "
            "accounts (PECOS, NPPES, EHR) to the officials who may approve them, following "
            "CMS's Identity & Access Management (I&A) roles, and keeps a tamper-evident audit "
            "log of every decision."
        ),
        text_block("**Commands** (write them to Cosigner in a chat)"),
        text_block(commands),
        text_block("**Who approves what**"),
        text_block(
            "- Staff End User and surrogate requests: an Authorized Official (AO) or a "
            "Delegated Official (DO)\n"
            "- Delegated Official appointments: an AO only\n"
            "- Authorized Official designations: a Cosigner admin"
        ),
        text_block(
            'Nobody decides their own request. I&A now calls the Delegated Official an "Access '
            'Manager"; Cosigner keeps the older name.'
        ),
        text_block("**Who signs what in PECOS**"),
        text_block(signing),
    ]
    return adaptive_card(body, summary="Cosigner help")


def json_size(value: object) -> int:
    """Return the length of a value as JSON, non-ASCII escaped as the SDK sends it."""
    return len(json.dumps(value).encode())


def add_within_budget(body: list[Element], items: Iterable[list[Element]], limit: int) -> int:
    """Append items (groups of elements) while the body stays within CARD_BYTE_BUDGET.

    Returns the number of items added, which is at most `limit`.
    """
    size = json_size(body)
    added = 0
    for item in items:
        item_size = json_size(item)
        if added >= limit or size + item_size > CARD_BYTE_BUDGET:
            break
        body.extend(item)
        size += item_size
        added += 1
    return added


def status_item(request: RequestInfo) -> list[Element]:
    name = cut(request.organization.legal_name, LIST_NAME_LIMIT)
    item = [
        rich(
            run(request.id, weight="Bolder"),
            f" {request.kind_label} at {name}: ",
            run(STATUS_BADGES[request.status], weight="Bolder"),
            spacing="Medium",
            separator=True,
        )
    ]
    if not request.is_pending:
        item.extend(outcome(request, LIST_REASON_LIMIT))
    return item


def status_card(requests: Sequence[RequestInfo]) -> Card:
    if not requests:
        body = [text_block("You have no requests yet. Make one with **request**.")]
        return adaptive_card(body, summary="You have no requests")
    body = [heading("Your requests"), note("Newest first")]
    items_shown = add_within_budget(body, map(status_item, requests), MAX_STATUS_ITEMS)
    if items_shown < len(requests):
        body.append(note(f"{len(requests) - items_shown} older request(s) not shown."))
    return adaptive_card(body, summary=f"Your requests ({len(requests)})")


def pending_item(request: RequestInfo, now: dt.datetime) -> list[Element]:
    age_days = (now - request.created_at).total_seconds() / 86400
    organization = list_organization_label(request.organization)
    requester = cut(request.requester.name, LIST_NAME_LIMIT)
    if request.requester.email:
        requester += f" ({request.requester.email})"
    return [
        rich(
            run(request.id, weight="Bolder"),
            f" · {request.kind_label} · {organization}",
            spacing="Medium",
            separator=True,
        ),
        rich(f"From {requester}, waiting {age_days:.1f} day(s)"),
        rich(run(cut(request.justification, LIST_JUSTIFICATION_LIMIT), isSubtle=True)),
        {"type": "ActionSet", "actions": decision_actions(request.id, ids.ORIGIN_LIST)},
    ]


def list_organization_label(organization: OrganizationInfo) -> str:
    """Return the organization's label with its name cut for a list line."""
    npi = organization.npis[0] if organization.npis else "none"
    return f"{cut(organization.legal_name, LIST_NAME_LIMIT)} (NPI {npi})"


def pending_card(
    requests: Sequence[RequestInfo], now: dt.datetime, notice: str | None = None
) -> Card:
    """List the requests waiting for a person's decision, oldest first, with buttons."""
    body: list[Element] = []
    if notice:
        body.append(alert(notice))
    if not requests:
        body.append(text_block("Nothing is waiting for your decision."))
        return adaptive_card(body, summary="Nothing is waiting for your decision")
    body.append(heading(f"{len(requests)} request(s) waiting for your decision"))
    body.append(note("Oldest first"))
    items = (pending_item(request, now) for request in requests)
    items_shown = add_within_budget(body, items, MAX_LIST_ITEMS)
    if items_shown < len(requests):
        hidden = len(requests) - items_shown
        body.append(note(f"{hidden} more not shown: decide these first, then look again."))
    return adaptive_card(
        body, summary=f"{len(requests)} request(s) waiting for your decision", wide=True
    )


def reminder_card(requests: Sequence[RequestInfo], now: dt.datetime) -> Card:
    """Build one reminder that lists an approver's overdue requests, with buttons."""
    oldest = min(request.created_at for request in requests)
    days = (now - oldest).total_seconds() / 86400
    body: list[Element] = [
        heading(f"⏰ {len(requests)} request(s) still wait for your decision"),
        text_block(f"The oldest has waited {days:.1f} day(s). Please decide them."),
    ]
    items = (pending_item(request, now) for request in requests)
    items_shown = add_within_budget(body, items, MAX_LIST_ITEMS)
    if items_shown < len(requests):
        body.append(note(f"{len(requests) - items_shown} more: write **pending** to see all."))
    return adaptive_card(body, summary=f"{len(requests)} request(s) wait for you", wide=True)
