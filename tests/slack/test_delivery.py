"""Outbox delivery through the local Slack: rate limits, server errors and permanent errors.

The server's clock is the test's FixedClock, so a retry becomes due only when the test
moves that clock. The background delivery loop then sends it.
"""

from __future__ import annotations

import datetime as dt

from bot.clock import FixedClock
from bot.delivery import MAX_ATTEMPTS
from bot.localstack import ADMIN_CHANNEL, LocalStack
from handlers.slack.localslack import PostedMessage
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OutboxRow,
    audit_actions,
    blocks_text,
    card_for,
    outbox_rows,
    submit_directly,
    wait_for_card_text,
    wait_for_dm,
)

GHOST_ROSTER = (
    "organization,tin,npi,role,name,email\n"
    "Harbor Pediatrics PA,55-1234567,1245319599,AO,Gail Ghost,gail.ghost@harbor.example\n"
)
HARBOR_NPI = "1245319599"


async def approve_only_card(stack: LocalStack) -> tuple[str, PostedMessage]:
    """Submit a DO appointment, whose one card goes to Dana, and return it once posted."""
    request_id = submit_directly(stack, NINA, kind="delegated_official")
    card = await card_for(stack, DANA, request_id)
    return request_id, card


async def update_row(stack: LocalStack, request_id: str, attempts: int) -> OutboxRow:
    """Wait until the request's one card update has been tried `attempts` times."""

    def tried() -> OutboxRow | None:
        rows = outbox_rows(stack, request_id, "update_card")
        return rows[0] if rows and rows[0].attempts == attempts else None

    return await stack.slack.wait_for(tried)


def status_of(stack: LocalStack, request_id: str) -> str:
    request = stack.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


async def rate_limited_row(stack: LocalStack, request_id: str) -> OutboxRow:
    """Wait until the request's card update has met a 429; that uses up no attempt."""

    def deferred() -> OutboxRow | None:
        rows = outbox_rows(stack, request_id, "update_card")
        return rows[0] if rows and rows[0].last_error == "ratelimited" else None

    return await stack.slack.wait_for(deferred)


async def test_rate_limit_waits_retry_after(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=429, retry_after=30)
    await stack.sender.click(DANA, card, "request_approve")
    row = await rate_limited_row(stack, request_id)
    assert row.attempts == 0
    assert row.next_attempt_at == clock.now() + dt.timedelta(seconds=30)


async def test_rate_limit_holds_update_until_due(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=429, retry_after=30)
    await stack.sender.click(DANA, card, "request_approve")
    await rate_limited_row(stack, request_id)
    clock.advance(dt.timedelta(seconds=29))
    await stack.deliver()
    assert len(stack.slack.calls("chat.update")) == 1
    assert "request_approve" in blocks_text(stack.slack.message(card.channel, card.ts))


async def test_rate_limit_update_arrives(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=429, retry_after=30)
    await stack.sender.click(DANA, card, "request_approve")
    await rate_limited_row(stack, request_id)
    clock.advance(dt.timedelta(seconds=30))
    await stack.deliver()
    updated = await wait_for_card_text(stack, card, "Approved")
    assert "request_approve" not in blocks_text(updated)
    row = await update_row(stack, request_id, attempts=1)
    assert row.status == "sent"


async def test_server_error_backs_off(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=500, count=2)
    await stack.sender.click(DANA, card, "request_approve")
    first = await update_row(stack, request_id, attempts=1)
    assert first.last_error == "http_500"
    first_delay = first.next_attempt_at - clock.now()
    assert dt.timedelta(seconds=0.8) <= first_delay <= dt.timedelta(seconds=1.2)

    clock.advance(dt.timedelta(seconds=2))
    stack.runtime.deliverer.wake.set()
    second = await update_row(stack, request_id, attempts=2)
    second_delay = second.next_attempt_at - clock.now()
    assert dt.timedelta(seconds=1.6) <= second_delay <= dt.timedelta(seconds=2.4)


async def test_server_error_update_arrives(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=500, count=2)
    await stack.sender.click(DANA, card, "request_approve")
    await update_row(stack, request_id, attempts=1)
    clock.advance(dt.timedelta(seconds=2))
    stack.runtime.deliverer.wake.set()
    await update_row(stack, request_id, attempts=2)
    clock.advance(dt.timedelta(seconds=3))
    stack.runtime.deliverer.wake.set()
    await wait_for_card_text(stack, card, "Approved")
    row = await update_row(stack, request_id, attempts=3)
    assert row.status == "sent"


async def test_server_errors_give_up(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    stack.slack.fail_next("chat.update", status=503, count=MAX_ATTEMPTS + 5)
    await stack.sender.click(DANA, card, "request_approve")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        row = await update_row(stack, request_id, attempts=attempt)
        clock.advance(dt.timedelta(seconds=400))
        stack.runtime.deliverer.wake.set()
    assert row.status == "failed"
    await stack.deliver()
    assert len(stack.slack.calls("chat.update")) == MAX_ATTEMPTS


async def test_channel_not_found_fails_once(stack: LocalStack, clock: FixedClock) -> None:
    stack.slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    # Dana is Riverbend's only AO, so her DO appointment goes to the admin channel.
    request_id = submit_directly(stack, DANA, kind="delegated_official")

    def failed() -> list[OutboxRow]:
        rows = outbox_rows(stack, request_id, "admin_alert")
        return [row for row in rows if row.status == "failed"]

    rows = await stack.slack.wait_for(failed)
    assert rows[0].last_error == "channel_not_found"
    assert rows[0].attempts == 1
    clock.advance(dt.timedelta(hours=1))
    await stack.deliver()
    assert len(stack.slack.calls("chat.postMessage")) == 1
    assert not stack.slack.messages(ADMIN_CHANNEL)


async def test_approver_without_slack_fails_once(stack: LocalStack, clock: FixedClock) -> None:
    report = stack.services.roster.import_bytes(GHOST_ROSTER.encode())
    assert report.ok, report.errors
    request_id = submit_directly(stack, NINA, npi=HARBOR_NPI)

    def failed() -> list[OutboxRow]:
        rows = outbox_rows(stack, request_id, "post_card")
        return [row for row in rows if row.status == "failed"]

    rows = await stack.slack.wait_for(failed)
    assert rows[0].last_error == "users_not_found"
    assert rows[0].attempts == 1
    clock.advance(dt.timedelta(hours=1))
    await stack.deliver()
    assert len(stack.slack.calls("users.lookupByEmail")) == 1


async def test_deleted_card_update_fails_once(stack: LocalStack, clock: FixedClock) -> None:
    request_id, card = await approve_only_card(stack)
    await stack.runtime.slack_client.chat_delete(channel=card.channel, ts=card.ts)
    await stack.sender.click(DANA, card, "request_approve")
    row = await update_row(stack, request_id, attempts=1)
    assert row.status == "failed"
    assert row.last_error == "message_not_found"
    clock.advance(dt.timedelta(hours=1))
    await stack.deliver()
    assert len(stack.slack.calls("chat.update")) == 1


async def test_decision_stands_when_slack_down(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await card_for(stack, DANA, request_id)
    stack.slack.fail_for("chat.update", 3600, status=503)
    clicked = await stack.sender.click(MARCUS, card, "request_approve")
    assert clicked.status == 200
    assert status_of(stack, request_id) == "approved"
    assert audit_actions(stack, request_id)[-1] == "request.approved"


async def test_slack_down_leaves_updates_queued(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await card_for(stack, DANA, request_id)
    stack.slack.fail_for("chat.update", 3600, status=503)
    await stack.sender.click(MARCUS, card, "request_approve")

    def both_tried() -> list[OutboxRow]:
        rows = outbox_rows(stack, request_id, "update_card")
        return rows if len(rows) == 2 and all(row.attempts == 1 for row in rows) else []

    rows = await stack.slack.wait_for(both_tried)
    assert [row.status for row in rows] == ["pending", "pending"]
    assert [row.last_error for row in rows] == ["http_503", "http_503"]


async def test_slack_down_still_tells_requester(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    stack.slack.fail_for("chat.update", 3600, status=503)
    await stack.sender.click(MARCUS, card, "request_approve")
    notice = await wait_for_dm(stack, NINA, request_id)
    assert "approved" in notice.text
