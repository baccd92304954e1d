"""Block Kit messages and views of the Slack front end.

Limits come from Slack's Block Kit reference: 50 blocks a message and 100 a view,
section text 3,000 characters, a field 2,000, a header 150, button and option text
75, an option value 150, 100 options a select, view title, submit and close 24.
User text is escaped first and then cut to those limits with a visible marker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.domain import MAX_REASON_LENGTH, Product, RequestKind, Status
from bot.policy import PECOS_SIGNING
from bot.records import OrganizationInfo, PersonInfo, RequestInfo
from handlers.slack import ids
from handlers.slack.text import cut, escape, escape_cut, mention, plain, split_escaped, when

Block = dict[str, Any]

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
OPTION_TEXT_LIMIT = 75
MAX_OPTIONS = 100
MESSAGE_BLOCK_LIMIT = 50
# Slack rejects a message whose blocks hold more than about 13,000 characters of text
# (msg_blocks_too_long). Slack does not document the number, so this keeps a margin.
MESSAGE_TEXT_LIMIT = 12_000
VIEW_BLOCK_LIMIT = 100
# Justifications shown on a card are cut well below the section limit, so a card
# stays short in a DM; `/access show ID` prints the whole text.
CARD_JUSTIFICATION_LIMIT = 1500
# The Slack modal accepts this much; the core accepts more from other front ends.
MODAL_JUSTIFICATION_LIMIT = 3000

# The modal's "Role requested" options, in the order people expect them.
ROLE_OPTIONS = (
    (RequestKind.STAFF, "Staff End User"),
    (RequestKind.SURROGACY, "Surrogate"),
    (RequestKind.DELEGATED_OFFICIAL, "Delegated Official"),
    (RequestKind.AUTHORIZED_OFFICIAL, "Authorized Official"),
)

STATUS_BADGES = {
    Status.PENDING: ":hourglass_flowing_sand: Pending",
    Status.APPROVED: ":white_check_mark: Approved",
    Status.REJECTED: ":x: Rejected",
    Status.WITHDRAWN: ":leftwards_arrow_with_hook: Withdrawn",
    Status.EXPIRED: ":alarm_clock: Expired",
    Status.REVOKED: ":no_entry: Revoked",
}


def _text(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain(text, limit), "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "text": _text(cut(text, SECTION_LIMIT))}


def context(text: str) -> Block:
    return {"type": "context", "elements": [_text(cut(text, SECTION_LIMIT))]}


def header(text: str) -> Block:
    return {"type": "header", "text": _plain(text, HEADER_LIMIT)}


def divider() -> Block:
    return {"type": "divider"}


def organization_label(organization: OrganizationInfo) -> str:
    npis = ", ".join(organization.npis[:3]) + (" …" if len(organization.npis) > 3 else "")
    return f"{escape_cut(organization.legal_name, 400)} (NPI {npis})"


def person_label(person: PersonInfo) -> str:
    label = mention(person.accounts.get("slack"), person.name)
    if not person.accounts.get("slack") and person.email:
        label += f" ({escape(person.email)})"
    return label


def decision_buttons(request_id: str, *, block_id: str = ids.DECISION_BLOCK) -> Block:
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            {
                "type": "button",
                "action_id": ids.APPROVE_ACTION,
                "text": _plain("Approve", 75),
                "style": "primary",
                "value": request_id,
            },
            {
                "type": "button",
                "action_id": ids.REJECT_ACTION,
                "text": _plain("Reject", 75),
                "style": "danger",
                "value": request_id,
            },
        ],
    }


def request_fields(request: RequestInfo) -> Block:
    fields = [
        _text(cut(f"*Organization*\n{organization_label(request.organization)}", FIELD_LIMIT)),
        _text(f"*Role requested*\n{request.kind_label}"),
        _text(cut(f"*Requester*\n{person_label(request.requester)}", FIELD_LIMIT)),
        _text(f"*Request id*\n`{request.id}`"),
    ]
    if request.surrogate_org:
        fields.append(
            _text(cut(f"*Surrogate organization*\n{escape(request.surrogate_org)}", FIELD_LIMIT))
        )
    if request.products:
        fields.append(_text("*Products*\n" + ", ".join(request.products)))
    if request.end_date:
        fields.append(_text(f"*End date*\n{request.end_date.isoformat()}"))
    return {"type": "section", "fields": fields}


def justification_block(request: RequestInfo, limit: int = CARD_JUSTIFICATION_LIMIT) -> Block:
    marker = f"… (cut: run `/access show {request.id}` for the full text)"
    body = escape_cut(request.justification, limit, marker)
    return section("*Justification*\n" + _quote(body))


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def outcome_text(request: RequestInfo) -> str:
    """Say what happened to a request: the status, by whom, when and why."""
    badge = STATUS_BADGES[request.status]
    if request.status is Status.PENDING:
        return f"*{badge}* since {when(request.created_at)}"
    if request.status is Status.REVOKED:
        by = person_label(request.revoked_by) if request.revoked_by else "an official"
        text = f"*{badge}* by {by} at {when(request.revoked_at)}"
        if request.revoke_reason:
            text += "\n*Reason:* " + escape_cut(request.revoke_reason, 2000)
        return text
    if request.status is Status.EXPIRED:
        return f"*{badge}* at {when(request.decided_at)}: nobody decided it in time"
    if request.status is Status.WITHDRAWN:
        return f"*{badge}* by the requester at {when(request.decided_at)}"
    by = person_label(request.decided_by) if request.decided_by else "an approver"
    text = f"*{badge}* by {by} at {when(request.decided_at)}"
    if request.decision_reason:
        text += "\n*Reason:* " + escape_cut(request.decision_reason, MAX_REASON_LENGTH + 200)
    return text


def request_card(request: RequestInfo, *, approver_removed: bool = False) -> dict[str, Any]:
    """The approver's card: the request, and the buttons while it is pending.

    With `approver_removed`, a pending card shows that its approver lost the role to
    decide, and has no buttons.
    """
    blocks: list[Block] = [
        header(f"Access request {request.id}: {request.kind_label}"),
        request_fields(request),
        justification_block(request),
    ]
    if request.is_pending and approver_removed:
        blocks.append(
            section(
                ":no_entry: You no longer hold a role that lets you decide this request, "
                "so this card has no buttons. Another official of the organization decides it."
            )
        )
        blocks.append(context(f"Submitted {when(request.created_at)}"))
    elif request.is_pending:
        blocks.append(decision_buttons(request.id))
        blocks.append(context(f"Submitted {when(request.created_at)}"))
    else:
        blocks.append(section(outcome_text(request)))
        blocks.append(context(f"Submitted {when(request.created_at)}"))
    return {"text": card_fallback(request), "blocks": blocks}


def card_fallback(request: RequestInfo) -> str:
    name = escape_cut(request.organization.legal_name, 200)
    verdict = "" if request.is_pending else f" ({request.status})"
    return f"Access request {request.id}: {request.kind_label} at {name}{verdict}"


def requester_notice(request: RequestInfo, event: str) -> dict[str, Any]:
    name = escape_cut(request.organization.legal_name, 400)
    label = request.kind_label
    lines = {
        "approved": f":white_check_mark: Your request {request.id} ({label} at {name}) "
        "was *approved*.",
        "rejected": f":x: Your request {request.id} ({label} at {name}) was *rejected*.",
        "expired": f":alarm_clock: Your request {request.id} ({label} at {name}) *expired* "
        "because nobody decided it in time. Make a new request if you still need access.",
        "revoked": f":no_entry: The access granted by {request.id} ({label} at {name}) "
        "was *revoked*.",
    }
    text = lines.get(event, f"Your request {request.id} is now {request.status}.")
    blocks = [section(text), section(outcome_text(request))]
    return {"text": text, "blocks": blocks}


def approver_expiry_notice(request: RequestInfo) -> dict[str, Any]:
    text = (
        f":alarm_clock: Request {request.id} from {person_label(request.requester)} "
        f"({request.kind_label} at {escape_cut(request.organization.legal_name, 400)}) expired "
        "without a decision."
    )
    return {"text": text, "blocks": [section(text)]}


def admin_alert(
    request: RequestInfo | None, reason: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the admin channel's alert.

    `details` is the outbox payload. For organization_without_ao, which concerns no
    request, it names the organization.
    """
    if request is None and reason == "organization_without_ao":
        name = escape_cut(str((details or {}).get("organization") or "An organization"), 400)
        text = (
            f":rotating_light: *{name}* has no reachable Authorized Official left. Until it "
            "has one, nobody there can appoint a Delegated Official. Designate a new AO: they "
            "ask with `/access request`, and an admin approves the designation."
        )
        return {"text": text, "blocks": [section(text)]}
    if request is None:
        text = f":warning: Cosigner alert: {escape(reason)}"
        return {"text": text, "blocks": [section(text)]}
    if reason == "no_approver":
        why = "nobody in Cosigner may approve it"
    elif reason == "no_reachable_approver":
        why = "none of its approvers could be reached in chat"
    else:
        why = escape(reason)
    text = (
        f":rotating_light: Request {request.id} needs an admin: {why}. "
        f"Check the roster of {escape_cut(request.organization.legal_name, 400)}."
    )
    return {
        "text": text,
        "blocks": [section(text), request_fields(request), justification_block(request)],
    }


def help_blocks() -> list[Block]:
    signing = "\n".join(f"• *{what}*: {who}" for what, who in PECOS_SIGNING)
    commands = "\n".join(
        [
            "• `/access request`: ask for access to an organization (opens a form)",
            "• `/access status`: your requests and where they stand",
            "• `/access pending`: requests waiting for your decision, with buttons",
            "• `/access show REQ-XXXXX`: every detail of one request",
            "• `/access withdraw REQ-XXXXX`: withdraw your own pending request",
            "• `/access invite @person DO|staff [organization]`: invite someone "
            "(officials only: an AO invites DOs; an AO or DO invites staff)",
            "• `/access remove @person DO|staff|surrogate [organization] REASON`: remove "
            "someone's role (officials only; an admin removes an AO)",
            "• `/access people [organization]`: the organization's officials, staff and "
            "surrogates (officials and admins)",
            "• `/access digest`: the admins' digest (admins only)",
            "• `/access help`: this message",
        ]
    )
    return [
        section(
            "*Cosigner* routes access requests for your organization's Medicare enrollment "
            "accounts (PECOS, NPPES, EHR) to the officials who may approve them, following "
            "CMS's Identity & Access Management (I&A) roles, and keeps a tamper-evident audit "
            "log of every decision."
        ),
        section("*Commands*\n" + commands),
        section(
            "*Who approves what*\n"
            "• Staff End User and surrogate requests: an Authorized Official (AO) or a "
            "Delegated Official (DO)\n"
            "• Delegated Official appointments: an AO only\n"
            "• Authorized Official designations: a Cosigner admin\n"
            "Nobody decides their own request. I&A now calls the Delegated Official an "
            '"Access Manager"; Cosigner keeps the older name.'
        ),
        section("*Who signs what in PECOS*\n" + signing),
    ]


def organization_options(organizations: Sequence[OrganizationInfo]) -> list[dict[str, Any]]:
    options = []
    for organization in organizations[:MAX_OPTIONS]:
        npi = organization.npis[0] if organization.npis else "no NPI"
        suffix = f" · NPI {npi}"
        name = plain(organization.legal_name, OPTION_TEXT_LIMIT - len(suffix))
        options.append(
            {
                "text": {"type": "plain_text", "text": name + suffix},
                "value": str(organization.id),
            }
        )
    return options


def request_modal(
    organizations: Sequence[OrganizationInfo], *, use_external_select: bool, metadata: str = ""
) -> dict[str, Any]:
    """Build the `/access request` form. Past 100 organizations the select searches as you type."""
    if use_external_select:
        organization_element: dict[str, Any] = {
            "type": "external_select",
            "action_id": ids.ORGANIZATION_ACTION,
            "placeholder": _plain("Type a name or NPI", 150),
            "min_query_length": 0,
        }
    else:
        organization_element = {
            "type": "static_select",
            "action_id": ids.ORGANIZATION_ACTION,
            "placeholder": _plain("Choose an organization", 150),
            "options": organization_options(organizations),
        }
    role_options = [
        {"text": {"type": "plain_text", "text": label}, "value": str(kind)}
        for kind, label in ROLE_OPTIONS
    ]
    product_options = [
        {"text": {"type": "plain_text", "text": str(product)}, "value": str(product)}
        for product in Product
    ]
    blocks: list[Block] = [
        {
            "type": "input",
            "block_id": ids.ORGANIZATION_BLOCK,
            "label": _plain("Organization", 2000),
            "element": organization_element,
        },
        {
            "type": "input",
            "block_id": ids.ROLE_BLOCK,
            "label": _plain("Role requested", 2000),
            "element": {
                "type": "static_select",
                "action_id": ids.ROLE_ACTION,
                "placeholder": _plain("Choose a role", 150),
                "options": role_options,
            },
        },
        {
            "type": "input",
            "block_id": ids.JUSTIFICATION_BLOCK,
            "label": _plain("Justification", 2000),
            "hint": _plain("Why you need this access, for the officials who decide.", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": ids.JUSTIFICATION_ACTION,
                "multiline": True,
                "max_length": MODAL_JUSTIFICATION_LIMIT,
            },
        },
        {
            "type": "input",
            "block_id": ids.SURROGATE_ORG_BLOCK,
            "optional": True,
            "label": _plain("Surrogate organization (surrogates only)", 2000),
            "hint": _plain("The firm or person acting for the organization.", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": ids.SURROGATE_ORG_ACTION,
                "max_length": 200,
            },
        },
        {
            "type": "input",
            "block_id": ids.PRODUCTS_BLOCK,
            "optional": True,
            "label": _plain("Products (surrogates only)", 2000),
            "element": {
                "type": "checkboxes",
                "action_id": ids.PRODUCTS_ACTION,
                "options": product_options,
            },
        },
        {
            "type": "input",
            "block_id": ids.END_DATE_BLOCK,
            "optional": True,
            "label": _plain("End date (optional)", 2000),
            "element": {"type": "datepicker", "action_id": ids.END_DATE_ACTION},
        },
    ]
    return {
        "type": "modal",
        "callback_id": ids.REQUEST_VIEW,
        "title": _plain("Request access", 24),
        "submit": _plain("Submit", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def submitted_view(request: RequestInfo, approvers: int) -> dict[str, Any]:
    if approvers:
        who = f"It was sent to {approvers} approver(s); you will get a message when it is decided."
    else:
        who = "No approver could be reached, so the Cosigner admins were told and will follow up."
    return {
        "type": "modal",
        "title": _plain("Request submitted", 24),
        "close": _plain("Done", 24),
        "blocks": [
            section(f":white_check_mark: Your request *{request.id}* was submitted. {who}"),
            request_fields(request),
            context(
                f"See where it stands with `/access status`, or withdraw it with "
                f"`/access withdraw {request.id}`."
            ),
        ],
    }


def reject_modal(request: RequestInfo, metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.REJECT_VIEW,
        "title": _plain("Reject request", 24),
        "submit": _plain("Reject", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": metadata,
        "blocks": [
            section(
                f"Reject *{request.id}* ({request.kind_label}) from "
                f"{person_label(request.requester)}?"
            ),
            {
                "type": "input",
                "block_id": ids.REASON_BLOCK,
                "label": _plain("Reason for rejecting", 2000),
                "hint": _plain("The requester sees this reason.", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ids.REASON_ACTION,
                    "multiline": True,
                    "max_length": MAX_REASON_LENGTH,
                },
            },
        ],
    }


def message_view(title: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": [section(text)],
    }


def request_summary(request: RequestInfo) -> str:
    name = escape_cut(request.organization.legal_name, 200)
    return f"`{request.id}` {request.kind_label} at {name}: {STATUS_BADGES[request.status]}"


def status_blocks(requests: Sequence[RequestInfo], limit: int = 40) -> list[Block]:
    if not requests:
        return [section("You have no requests yet. Make one with `/access request`.")]
    blocks = [section("*Your requests*, newest first")]
    for request in requests[:limit]:
        line = request_summary(request)
        if not request.is_pending:
            line += "\n" + outcome_text(request)
        blocks.append(section(line))
    if len(requests) > limit:
        blocks.append(context(f"{len(requests) - limit} older request(s) not shown."))
    return blocks


def pending_item(request: RequestInfo, now: dt.datetime) -> list[Block]:
    age_days = (now - request.created_at).total_seconds() / 86400
    text = (
        f"*{request.id}* · {request.kind_label} · {organization_label(request.organization)}\n"
        f"From {person_label(request.requester)}, waiting {age_days:.1f} day(s)\n"
        + _quote(escape_cut(request.justification, 300))
    )
    return [section(text), decision_buttons(request.id, block_id=f"decide:{request.id}")]


def pending_blocks(
    requests: Sequence[RequestInfo], now: dt.datetime, *, max_blocks: int = MESSAGE_BLOCK_LIMIT
) -> list[Block]:
    if not requests:
        return [section("Nothing is waiting for your decision.")]
    blocks = [section(f"*{len(requests)} request(s) waiting for your decision*, oldest first")]
    shown = 0
    for request in requests:
        item = pending_item(request, now)
        if len(blocks) + len(item) + 1 > max_blocks:
            break
        blocks.extend(item)
        shown += 1
    if shown < len(requests):
        blocks.append(
            context(f"{len(requests) - shown} more not shown: decide these first, then look again.")
        )
    return blocks


def full_request_messages(request: RequestInfo) -> list[dict[str, Any]]:
    """Build the messages that show every detail of a request, the justification in sections.

    A justification that escaping made longer than one message's text limit continues
    in further messages, so nothing is cut. The status goes at the end of the last one.
    """
    outcome = section(outcome_text(request))
    room = MESSAGE_TEXT_LIMIT - text_length([outcome])
    messages: list[list[Block]] = [
        [header(f"{request.id}: {request.kind_label}"), request_fields(request)]
    ]
    pieces = split_escaped(escape(request.justification), SECTION_LIMIT - 100) or [""]
    for index, piece in enumerate(pieces):
        title = "*Justification*" if index == 0 else "*Justification (continued)*"
        block = section(f"{title}\n{piece}")
        current = messages[-1]
        too_long = text_length([*current, block]) > room
        if too_long or len(current) + 2 > MESSAGE_BLOCK_LIMIT:
            messages.append([])
        messages[-1].append(block)
    messages[-1].append(outcome)
    if len(messages) == 1:
        return [{"text": f"Request {request.id}", "blocks": messages[0]}]
    return [
        {"text": f"Request {request.id} (part {number} of {len(messages)})", "blocks": blocks}
        for number, blocks in enumerate(messages, start=1)
    ]


def text_length(blocks: Sequence[Block]) -> int:
    """Count the characters of every `text` string in the blocks, as Slack's total limit does."""
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return total


def home_view(
    *,
    pending: Sequence[RequestInfo],
    mine: Sequence[RequestInfo],
    now: dt.datetime,
    counts: dict[str, int] | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    blocks: list[Block] = []
    if notice:
        blocks.append(section(notice))
        blocks.append(divider())
    blocks.append(header("Waiting for your decision"))
    # Keep room in the 100-block view for the other sections.
    blocks.extend(pending_blocks(pending, now, max_blocks=60))
    blocks.append(divider())
    blocks.append(header("My requests"))
    blocks.extend(status_blocks(mine, limit=15))
    if counts is not None:
        blocks.append(divider())
        blocks.append(header("Admin: requests by status"))
        summary = ", ".join(f"{status}: {count}" for status, count in counts.items()) or "none"
        blocks.append(section(summary))
    blocks.append(context("Type `/access help` for every command."))
    return {"type": "home", "blocks": blocks[:VIEW_BLOCK_LIMIT]}
