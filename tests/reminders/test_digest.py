from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import insert

from bot.digest import Digest, build_digest, format_digest_text, queue_daily_digest
from bot.domain import ID_ALPHABET
from bot.services import Services
from handlers.slack.digest_blocks import render_digest
from handlers.slack.localslack import (
    LocalSlack,
    LocalSlackThread,
    count_block_text,
    validate_message_blocks,
)
from storage.models import (
    AccessRequest,
    ChatAccount,
    Grant,
    Organization,
    OutboxMessage,
    Person,
)
from tests.reminders.conftest import Office, new_york

# Slack's limits for one message: 50 blocks, and about 13,000 characters of block text.
MAX_BLOCKS = 50
MAX_BLOCK_TEXT = 13_000
HOSTILE = "<!channel> & <@U0BOSS> <https://evil.example|click>"


def assert_within_slack_limits(messages: list[dict[str, Any]]) -> None:
    assert messages, "render_digest returned no message"
    for index, message in enumerate(messages):
        blocks = message["blocks"]
        assert validate_message_blocks(blocks) == [], f"message {index}"
        assert len(blocks) <= MAX_BLOCKS, f"message {index}"
        assert count_block_text(blocks) <= MAX_BLOCK_TEXT, f"message {index}"
        assert message["text"], f"message {index}"


def block_texts(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        for block in message["blocks"]:
            if block["type"] in ("section", "header"):
                parts.append(block["text"]["text"])
            else:
                parts.extend(element["text"] for element in block.get("elements", []))
    return "\n".join(parts)


@pytest.fixture
def local_slack() -> Iterator[LocalSlack]:
    local = LocalSlack()
    local.add_channel("C0ADMINS", "cosigner-admins")
    with LocalSlackThread(local):
        yield local


def post_thread(local: LocalSlack, messages: list[dict[str, Any]]) -> None:
    """Post the first message to the admin channel and the others into its thread."""
    client = WebClient(token=local.bot_token, base_url=local.api_url)
    first = client.chat_postMessage(channel="C0ADMINS", **messages[0])
    assert first["ok"]
    for message in messages[1:]:
        reply = client.chat_postMessage(channel="C0ADMINS", thread_ts=first["ts"], **message)
        assert reply["ok"]


def test_digest_empty_database(services: Services) -> None:
    digest = build_digest(services)

    assert digest.pending_total == 0
    assert digest.organizations_with_pending == 0
    assert digest.backlog == []
    assert digest.oldest == []
    assert digest.median_decision_seconds is None
    assert digest.yesterday_counts == {"approved": 0, "rejected": 0, "withdrawn": 0, "expired": 0}
    assert digest.failed_total == 0
    assert digest.thin_organizations_total == 0
    messages = render_digest(digest)
    assert len(messages) == 1
    assert_within_slack_limits(messages)
    assert "No pending requests" in block_texts(messages)
    assert "Pending: 0 request(s)" in format_digest_text(digest)


def test_digest_one_request(office: Office, local_slack: LocalSlack) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    digest = build_digest(office.services, new_york(2026, 12, 3, 8, 0))

    assert digest.pending_total == 1
    assert digest.day == dt.date(2026, 12, 3)
    assert [(row.name, row.by_age) for row in digest.backlog] == [
        ("Riverbend Family Clinic LLC", (1, 0, 0, 0))
    ]
    assert [request.request_id for request in digest.oldest] == [request_id]
    assert digest.busiest_approvers == []
    messages = render_digest(digest)
    assert_within_slack_limits(messages)
    assert request_id in block_texts(messages)
    post_thread(local_slack, messages)
    assert len(local_slack.messages("C0ADMINS")) == 1


def test_digest_counts_yesterday_and_median(office: Office) -> None:
    approved = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    rejected = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    withdrawn = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    workflow = office.services.workflow
    office.clock.set(new_york(2026, 12, 2, 12, 0))
    assert workflow.approve(approved, office.dana).ok
    office.clock.set(new_york(2026, 12, 2, 14, 0))
    assert workflow.reject(rejected, office.marcus, "Not on staff").ok
    office.clock.set(new_york(2026, 12, 2, 15, 0))
    requester = workflow.get(withdrawn).requester.id  # type: ignore[union-attr]
    assert workflow.withdraw(withdrawn, requester).ok

    digest = build_digest(office.services, new_york(2026, 12, 3, 8, 0))

    assert digest.yesterday == dt.date(2026, 12, 2)
    assert digest.yesterday_counts == {"approved": 1, "rejected": 1, "withdrawn": 1, "expired": 0}
    assert digest.decisions_in_window == 2
    assert digest.median_decision_seconds == pytest.approx(3 * 3600)
    assert digest.pending_total == 0


def test_daily_digest_queued_once(office: Office) -> None:
    office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    assert queue_daily_digest(office.services, new_york(2026, 12, 3, 7, 59)) is None
    assert queue_daily_digest(office.services, new_york(2026, 12, 3, 8, 0)) == dt.date(2026, 12, 3)
    assert queue_daily_digest(office.services, new_york(2026, 12, 3, 8, 1)) is None
    assert queue_daily_digest(office.services, new_york(2026, 12, 3, 17, 0)) is None

    rows = office.outbox("digest")
    assert len(rows) == 1
    assert rows[0].channel == "C0ADMINS"
    assert rows[0].dedupe_key == "digest:2026-12-03:slack"
    assert Digest.from_payload(rows[0].payload).pending_total == 1

    assert queue_daily_digest(office.services, new_york(2026, 12, 4, 9, 0)) == dt.date(2026, 12, 4)
    assert len(office.outbox("digest")) == 2


def request_id(number: int) -> str:
    digits = []
    for _ in range(5):
        number, digit = divmod(number, len(ID_ALPHABET))
        digits.append(ID_ALPHABET[digit])
    return "REQ-" + "".join(reversed(digits))


def populate(
    services: Services, at: dt.datetime, organizations: int, per_organization: int
) -> None:
    """Insert organizations, approvers and pending requests in bulk, with hostile names.

    Every organization has an AO, every other one a DO as well; every seventh AO has a
    deactivated Slack account. Requests are spread over about 25 business days.
    """
    timezones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
    org_rows, people, grants, accounts, requests = [], [], [], [], []
    person_id = 10_000
    for index in range(organizations):
        org_id = 10_000 + index
        name = f"Clinic {index:04d} {HOSTILE}"
        if index % 50 == 0:
            name = f"{HOSTILE} " + "Very Long Medical Group Name " * 7
        org_rows.append(
            {
                "id": org_id,
                "legal_name": name[:200],
                "tin": f"{index:09d}",
                "timezone": timezones[index % len(timezones)],
                "created_at": at,
            }
        )
        roles = ["AO", "DO"] if index % 2 == 0 else ["AO"]
        for role in roles:
            person_id += 1
            people.append(
                {
                    "id": person_id,
                    "name": f"{role} {index} {HOSTILE}",
                    "email": f"{role.lower()}{index}@clinic.example",
                    "is_admin": False,
                    "created_at": at,
                }
            )
            grants.append(
                {
                    "organization_id": org_id,
                    "person_id": person_id,
                    "role": role,
                    "surrogate_org": "",
                    "products": [],
                    "granted_at": at,
                    "source": "test",
                }
            )
            if role == "AO" and index % 7 == 0:
                accounts.append(
                    {
                        "person_id": person_id,
                        "platform": "slack",
                        "user_id": f"UAO{index:05d}",
                        "deactivated": True,
                        "updated_at": at,
                    }
                )
        for number in range(per_organization):
            person_id += 1
            people.append(
                {
                    "id": person_id,
                    "name": f"Requester {person_id} {HOSTILE}",
                    "email": f"requester{person_id}@clinic.example",
                    "is_admin": False,
                    "created_at": at,
                }
            )
            serial = index * per_organization + number
            requests.append(
                {
                    "id": request_id(serial),
                    "kind": "staff",
                    "organization_id": org_id,
                    "requester_id": person_id,
                    "justification": "bulk",
                    "surrogate_org": "",
                    "products": [],
                    "status": "pending",
                    "created_at": at - dt.timedelta(hours=(serial * 7) % (24 * 35)),
                }
            )
    failed = [
        {
            "platform": "slack",
            "kind": "reminder",
            "person_id": 10_001,
            "payload": {},
            "status": "failed",
            "attempts": 10,
            "next_attempt_at": at,
            "last_error": f"user_not_found `{number}` {HOSTILE} " + "x" * 400,
            "created_at": at,
        }
        for number in range(30)
    ]
    with services.db.transaction() as session:
        session.execute(insert(Organization), org_rows)
        session.execute(insert(Person), people)
        session.execute(insert(Grant), grants)
        session.execute(insert(ChatAccount), accounts)
        session.execute(insert(AccessRequest), requests)
        session.execute(insert(OutboxMessage), failed)


def test_digest_500_organizations_fits_slack(services: Services, local_slack: LocalSlack) -> None:
    at = new_york(2026, 12, 3, 8, 0)
    populate(services, at, organizations=500, per_organization=10)

    digest = build_digest(services, at)

    assert digest.pending_total == 5_000
    assert digest.organizations_with_pending == 500
    assert len(digest.backlog) == 100
    assert digest.backlog_rest_organizations == 400
    assert sum(row.total for row in digest.backlog) + sum(digest.backlog_rest) == 5_000
    assert len(digest.oldest) == 10
    assert digest.failed_total == 30
    assert digest.unreachable_total == len(range(0, 500, 7))
    assert digest.thin_organizations_total == 250 + len(range(0, 500, 14))
    assert len(digest.busiest_approvers) == 10

    messages = render_digest(Digest.from_payload(digest.to_payload()))
    assert_within_slack_limits(messages)
    text = block_texts(messages)
    assert "<!channel>" not in text
    assert "<@U0BOSS>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in text
    assert "…" in text
    post_thread(local_slack, messages)
    posted = local_slack.messages("C0ADMINS")
    assert len(posted) == len(messages)
    assert all(message.thread_ts == posted[0].ts for message in posted[1:])


def test_complete_digest_renders_every_organization(services: Services) -> None:
    at = new_york(2026, 12, 3, 8, 0)
    populate(services, at, organizations=500, per_organization=10)

    digest = build_digest(services, at, organization_limit=None)

    assert len(digest.backlog) == 500
    messages = render_digest(digest)
    assert len(messages) > 1
    assert_within_slack_limits(messages)
    text = block_texts(messages)
    assert all(f"Clinic {index:04d}" in text for index in range(1, 500) if index % 50)
    printed = format_digest_text(digest)
    assert printed.count("Clinic ") >= 490
