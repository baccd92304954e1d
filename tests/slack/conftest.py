"""Fixtures for end-to-end tests: the real server, a local Slack, and the sample roster."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.domain import luhn_valid
from bot.localstack import SIGNING_SECRET, TEAM_ID, LocalStack
from bot.people import ChatProfile
from handlers.slack.localslack import BotResponse, PostedMessage, compute_signature
from storage.models import AuditEntry, OutboxMessage
from tests.conftest import SAMPLE_ROSTER

# Slack users of the sample roster's people, and two people the roster does not name.
USERS = {
    "U0DANA": ("dana", "Dana Whitfield", "dana.whitfield@riverbend.example"),
    "U0MARCUS": ("marcus", "Marcus Lee", "marcus.lee@riverbend.example"),
    "U0PRIYA": ("priya", "Priya Raman", "priya.raman@lakeside.example"),
    "U0TOM": ("tom", "Tom Becker", "tom.becker@lakeside.example"),
    "U0NINA": ("nina", "Nina Alvarez", "nina.alvarez@riverbend.example"),
    "U0OUT": ("omar", "Omar Outsider", "omar@elsewhere.example"),
    "U0OPS": ("ops", "Operations Admin", "ops@example.org"),
}
DANA, MARCUS, PRIYA, TOM, NINA, OUTSIDER, OPS = USERS
RIVERBEND_NPI = "1234567893"


@dataclass
class Stack:
    stack: LocalStack

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.stack, name)


@pytest.fixture
async def stack(database_url: str, clock: FixedClock) -> AsyncIterator[LocalStack]:
    running = LocalStack(database_url, clock=clock)
    await running.start()
    for user_id, (name, real_name, email) in USERS.items():
        running.slack.add_user(user_id, name, email, real_name=real_name)
    report = running.services.roster.import_file(SAMPLE_ROSTER)
    assert report.ok, report.errors
    running.services.people.add_admin("ops@example.org", "Operations Admin")
    yield running
    await running.stop()


def organization_id(stack: LocalStack, npi: str = RIVERBEND_NPI) -> int:
    from storage import repo

    with stack.services.db.transaction() as session:
        organization = repo.organization_by_npi(session, npi)
        assert organization is not None
        return organization.id


async def request_access(
    stack: LocalStack,
    user_id: str,
    *,
    kind: str = "staff",
    justification: str = "Front desk eligibility checks",
    surrogate_org: str | None = None,
    products: list[str] | None = None,
    npi: str = RIVERBEND_NPI,
) -> str:
    """Open the form with /access request, submit it, and return the new request id."""
    response = await stack.sender.slash_command(user_id, "request")
    assert response.status == 200
    await stack.slack.wait_for(lambda: stack.slack.open_views(user_id))
    inputs: dict[str, dict[str, object]] = {
        "organization": {"organization_select": str(organization_id(stack, npi))},
        "role": {"role_select": kind},
        "justification": {"justification_input": justification},
    }
    if surrogate_org is not None:
        inputs["surrogate_org"] = {"surrogate_org_input": surrogate_org}
    if products is not None:
        inputs["products"] = {"products_select": products}
    submitted = await stack.sender.submit_last_view(user_id, inputs)
    assert submitted.status == 200, submitted.body
    body = submitted.json()
    assert body["response_action"] == "update", body
    text = str(body["view"]["blocks"][0]["text"]["text"])
    return text.split("*")[1]


async def card_for(stack: LocalStack, user_id: str, request_id: str) -> PostedMessage:
    def find() -> PostedMessage | None:
        for message in stack.slack.dm_messages(user_id):
            if request_id in message.text:
                return message
        return None

    return await stack.slack.wait_for(find)


async def wait_for_card_text(
    stack: LocalStack, card: PostedMessage, expected: str
) -> PostedMessage:
    """Wait until a posted card shows `expected` somewhere in its blocks; return it."""

    def updated() -> PostedMessage | None:
        current = stack.slack.message(card.channel, card.ts)
        return current if expected in str(current.blocks) else None

    return await stack.slack.wait_for(updated)


async def wait_for_dm(stack: LocalStack, user_id: str, expected: str) -> PostedMessage:
    """Wait for a direct message to `user_id` whose text contains `expected`."""

    def find() -> PostedMessage | None:
        for message in stack.slack.dm_messages(user_id):
            if expected in message.text:
                return message
        return None

    return await stack.slack.wait_for(find)


def person_id(stack: LocalStack, user_id: str) -> int:
    """Return the Cosigner person of a Slack user, linking them as the bot does at first sight."""
    _, real_name, email = USERS[user_id]
    profile = ChatProfile("slack", user_id, TEAM_ID, real_name, email)
    return stack.services.people.link(profile).id


def submit_directly(
    stack: LocalStack,
    user_id: str,
    *,
    kind: str = "staff",
    justification: str = "Front desk eligibility checks",
    npi: str = RIVERBEND_NPI,
    **fields: Any,
) -> str:
    """Submit a request through the workflow, skipping the form, and start its delivery."""
    result = stack.services.workflow.submit(
        requester_id=person_id(stack, user_id),
        organization_id=organization_id(stack, npi),
        kind=kind,
        justification=justification,
        via="slack",
        **fields,
    )
    assert result.request is not None, result.message
    stack.runtime.deliverer.wake.set()
    return result.request.id


def blocks_text(target: PostedMessage | list[dict[str, Any]] | dict[str, Any]) -> str:
    """Return every block of a message or view as one string, for substring checks."""
    if isinstance(target, PostedMessage):
        return str(target.blocks)
    return str(target)


def audit_actions(stack: LocalStack, request_id: str) -> list[str]:
    with stack.services.db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.request_id == request_id).order_by(AuditEntry.seq)
        )
        return [entry.action for entry in entries]


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: Any
    card_id: int | None


def outbox_rows(stack: LocalStack, request_id: str, kind: str | None = None) -> list[OutboxRow]:
    with stack.services.db.transaction() as session:
        query = select(OutboxMessage).where(OutboxMessage.request_id == request_id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return [
            OutboxRow(
                row.id,
                row.kind,
                row.status,
                row.attempts,
                row.last_error,
                row.next_attempt_at,
                row.card_id,
            )
            for row in session.scalars(query.order_by(OutboxMessage.id))
        ]


def valid_npi(serial: int) -> str:
    """Return a 10-digit NPI whose check digit is valid, made from a 9-digit serial."""
    stem = f"{serial:09d}"
    for digit in "0123456789":
        if luhn_valid("80840" + stem + digit):
            return stem + digit
    raise AssertionError("no check digit fits")


def import_organizations(stack: LocalStack, count: int, name: str = "Clinic") -> None:
    """Import `count` organizations named "<name> 001", ..., each with one AO."""
    lines = ["organization,tin,npi,role,name,email"]
    for number in range(1, count + 1):
        lines.append(
            f"{name} {number:03d},{700000000 + number},{valid_npi(300000000 + number)},AO,"
            f"Official {number},official{number}@{name.lower()}.example"
        )
    report = stack.services.roster.import_bytes("\n".join(lines).encode())
    assert report.ok, report.errors


async def post_signed(stack: LocalStack, body: str, headers: dict[str, str]) -> BotResponse:
    """POST a body to the bot's Slack endpoint with exactly the given headers."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(stack.sender.target_url, data=body.encode(), headers=headers) as response,
    ):
        return BotResponse(response.status, await response.text(), dict(response.headers))


def signed_headers(body: str, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": compute_signature(SIGNING_SECRET, timestamp, body),
    }


async def suggest_organizations(
    stack: LocalStack, user_id: str, query: str, view: dict[str, Any]
) -> BotResponse:
    """Send the block_suggestion payload Slack sends while a user types in an external_select.

    SlackEventSender has no method for this payload, so it is signed here.
    """
    payload = {
        "type": "block_suggestion",
        "user": {"id": user_id, "username": USERS[user_id][0], "team_id": TEAM_ID},
        "container": {"type": "view", "view_id": view["id"]},
        "api_app_id": stack.sender.api_app_id,
        "token": stack.sender.verification_token,
        "action_id": "organization_select",
        "block_id": "organization",
        "value": query,
        "team": {"id": TEAM_ID, "domain": "local"},
        "view": view,
    }
    body = urlencode({"payload": json.dumps(payload)})
    return await post_signed(stack, body, signed_headers(body, "application/x-www-form-urlencoded"))


def reply_text(response: BotResponse) -> str:
    """Return the whole private reply in a command's HTTP response: its text and blocks.

    Bolt sends a reply with only text as a plain-text body, which Slack shows as is.
    """
    assert response.status == 200, response.body
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return str(response.json())
    return response.body


async def wait_until_delivered(stack: LocalStack, request_id: str) -> list[OutboxRow]:
    """Wait until no outbox row of the request is pending any more; return the rows."""

    def settled() -> list[OutboxRow]:
        rows = outbox_rows(stack, request_id)
        return rows if rows and all(row.status != "pending" for row in rows) else []

    return await stack.slack.wait_for(settled)
