"""Fixtures for end-to-end tests: the real server, a local Slack, and the sample roster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.clock import FixedClock
from bot.localstack import LocalStack
from handlers.slack.localslack import PostedMessage
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
