from __future__ import annotations

import datetime as dt
from typing import Any

from slack_sdk import WebClient

from bot.domain import RequestKind, Status
from bot.records import OrganizationInfo, PersonInfo, RequestInfo
from handlers.slack.ids import APPROVE_ACTION, REJECT_ACTION
from handlers.slack.localslack import (
    LocalSlack,
    LocalSlackThread,
    count_block_text,
    validate_message_blocks,
)
from handlers.slack.reminder_blocks import render_escalation, render_reminder
from tests.reminders.conftest import new_york
from tests.reminders.test_digest import HOSTILE, MAX_BLOCK_TEXT, MAX_BLOCKS

NOW = new_york(2026, 12, 9, 10, 0)


def request(number: int, *, name: str = "", status: Status = Status.PENDING) -> RequestInfo:
    return RequestInfo(
        id=f"REQ-{number:05d}",
        kind=RequestKind.STAFF,
        status=status,
        organization=OrganizationInfo(
            id=1,
            legal_name=name or "Riverbend Family Clinic LLC",
            masked_tin="***-**-6789",
            npis=("1234567893",),
            timezone="America/New_York",
        ),
        requester=PersonInfo(id=100 + number, name=name or f"Requester {number}", email=None),
        justification="Front desk",
        surrogate_org="",
        products=(),
        end_date=None,
        created_at=new_york(2026, 12, 1, 9, 0) + dt.timedelta(minutes=number),
    )


def assert_valid(message: dict[str, Any]) -> None:
    assert validate_message_blocks(message["blocks"]) == []
    assert len(message["blocks"]) <= MAX_BLOCKS
    assert count_block_text(message["blocks"]) <= MAX_BLOCK_TEXT
    assert message["text"]


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_reminder_lists_oldest_first() -> None:
    message = render_reminder([request(3), request(1), request(2)], NOW)

    assert_valid(message)
    assert message["text"] == "3 access requests waiting for your decision"
    assert buttons(message) == [
        (APPROVE_ACTION, "REQ-00001"),
        (REJECT_ACTION, "REQ-00001"),
        (APPROVE_ACTION, "REQ-00002"),
        (REJECT_ACTION, "REQ-00002"),
        (APPROVE_ACTION, "REQ-00003"),
        (REJECT_ACTION, "REQ-00003"),
    ]
    first = message["blocks"][1]["text"]["text"]
    assert "*REQ-00001*" in first
    assert "Riverbend Family Clinic LLC" in first
    assert "Requester 1" in first
    assert "6 business days (since Tue 1 Dec)" in first


def test_reminder_skips_decided_requests() -> None:
    message = render_reminder([request(1), request(2, status=Status.APPROVED)], NOW)

    assert [value for _, value in buttons(message)] == ["REQ-00001", "REQ-00001"]


def test_long_reminder_points_to_home_tab() -> None:
    message = render_reminder([request(number) for number in range(60)], NOW)

    assert_valid(message)
    listed = {value for _, value in buttons(message)}
    assert len(listed) == 24
    assert "REQ-00000" in listed
    footer = message["blocks"][-1]["elements"][0]["text"]
    assert "Home tab" in footer
    assert "all 60" in footer


def test_reminder_escapes_and_cuts_names() -> None:
    long_name = HOSTILE + " Medical Group" * 40
    message = render_reminder([request(number, name=long_name) for number in range(30)], NOW)

    assert_valid(message)
    text = message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in text
    assert "…" in text


def test_reminder_posts_to_local_slack() -> None:
    local = LocalSlack()
    local.add_user("U0DANA", "dana", "dana.whitfield@riverbend.example")
    message = render_reminder([request(number, name=HOSTILE) for number in range(40)], NOW)
    with LocalSlackThread(local):
        client = WebClient(token=local.bot_token, base_url=local.api_url)
        answer = client.chat_postMessage(channel="U0DANA", **message)
    assert answer["ok"]
    assert len(local.dm_messages("U0DANA")) == 1


def test_escalation_names_reminded_and_unreachable() -> None:
    payload = {
        "reason": "escalation",
        "reminded": [{"person_id": 1, "name": "Dana <Whitfield>", "reminders": 3}],
        "unreachable": ["Marcus & Lee"],
        "business_days_pending": 3,
    }

    message = render_escalation(payload, request(7))

    assert_valid(message)
    text = "\n".join(
        block["text"]["text"] for block in message["blocks"] if block["type"] == "section"
    )
    assert "Dana &lt;Whitfield&gt; (3 reminders)" in text
    assert "Marcus &amp; Lee" in text
    assert "REQ-00007" in message["text"]


def test_escalation_with_many_names_fits() -> None:
    payload = {
        "reason": "escalation",
        "reminded": [
            {"person_id": n, "name": f"{HOSTILE} {n}" * 3, "reminders": 1} for n in range(200)
        ],
        "unreachable": [f"{HOSTILE} {n}" for n in range(200)],
        "business_days_pending": 0,
    }

    message = render_escalation(payload, request(8, status=Status.APPROVED))

    assert_valid(message)
    assert "approved" in message["blocks"][1]["text"]["text"]
