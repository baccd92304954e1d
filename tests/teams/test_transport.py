"""TeamsTransport: connector errors, the admin conversation, reminders, escalations, digests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.delivery import DeliveryError, OutboxItem
from bot.outbox import Kind, OutboxWriter
from handlers.teams.transport import TeamsTransport
from storage.models import Card
from tests.core.support import add_organization
from tests.teams.conftest import ADMIN_CONVERSATION, DANA, MARCUS, NINA, PRIYA, TeamsWorld
from tests.teams.support import (
    card_text,
    field_value,
    link,
    outbox,
    submit_request,
    submit_staff_request,
    verbs,
)


def _transport(world: TeamsWorld) -> TeamsTransport:
    transport = world.runtime.deliverer.transports["teams"]
    assert isinstance(transport, TeamsTransport)
    return transport


def _item(kind: Kind, **fields: Any) -> OutboxItem:
    values: dict[str, Any] = {
        "id": 0,
        "platform": "teams",
        "kind": kind,
        "request_id": None,
        "invitation_id": None,
        "person_id": None,
        "card_id": None,
        "channel": None,
        "payload": {},
        "attempts": 0,
    }
    values.update(fields)
    return OutboxItem(**values)


def _queue(world: TeamsWorld, kind: Kind, **fields: Any) -> None:
    """Add one Teams outbox row, as the core's sweeps and digests do."""
    with world.services.db.transaction() as session:
        writer = OutboxWriter(
            session, world.services.clock.now(), ("slack", "teams"), {"teams": ADMIN_CONVERSATION}
        )
        writer.add("teams", kind, **fields)


async def test_connector_errors_map_to_delivery_errors(world: TeamsWorld) -> None:
    request_id = await submit_staff_request(world, NINA)
    nina = world.person_id(NINA.email)
    notice = _item(Kind.NOTIFY, request_id=request_id, person_id=nina, payload={"event": "x"})
    cases = [
        # status, Retry-After, code, permanent, retry_after
        (429, "7", "ratelimited", False, 7.0),
        (429, None, "ratelimited", False, 1.0),
        (500, None, "http_500", False, None),
        (503, None, "http_503", False, None),
        (400, None, "http_400", True, None),
        (403, None, "http_403", True, None),
        (404, None, "conversation_not_found", True, None),
    ]

    for status, retry_after, code, permanent, wait in cases:
        world.connector.fail_next("POST", status, retry_after=retry_after)
        with pytest.raises(DeliveryError) as caught:
            await _transport(world).deliver(notice)
        error = caught.value
        assert (status, error.code) == (status, code)
        assert (status, error.permanent) == (status, permanent)
        assert (status, error.retry_after) == (status, wait)


async def test_blocked_person_marked_unreachable(world: TeamsWorld) -> None:
    request_id = await submit_staff_request(world, NINA)
    nina = world.person_id(NINA.email)
    world.connector.fail_next("POST", 403)

    with pytest.raises(DeliveryError):
        await _transport(world).deliver(
            _item(Kind.NOTIFY, request_id=request_id, person_id=nina, payload={"event": "x"})
        )

    person = world.services.people.get(nina)
    assert person is not None
    assert "teams" not in person.accounts
    await world.teams.say(NINA, "hi")
    again = world.services.people.get(nina)
    assert again is not None
    assert "teams" in again.accounts


async def test_connection_error_retried(world: TeamsWorld) -> None:
    request_id = await submit_staff_request(world, NINA)
    nina = world.person_id(NINA.email)
    await world.connector.stop()

    with pytest.raises(DeliveryError) as caught:
        await _transport(world).deliver(
            _item(Kind.NOTIFY, request_id=request_id, person_id=nina, payload={"event": "x"})
        )

    assert caught.value.code.startswith("connection_error")
    assert caught.value.permanent is False


async def test_person_without_chat_fails_for_good(world: TeamsWorld) -> None:
    request_id = await submit_staff_request(world, NINA)
    priya = world.person_id(PRIYA.email)

    with pytest.raises(DeliveryError) as caught:
        await _transport(world).deliver(
            _item(Kind.POST_CARD, request_id=request_id, person_id=priya)
        )

    assert caught.value.code == "no_conversation_reference"
    assert caught.value.permanent is True


async def test_update_of_unknown_message_fails(world: TeamsWorld) -> None:
    await link(world, DANA)
    request_id = await submit_staff_request(world, NINA)
    now = world.services.clock.now()
    with world.services.db.transaction() as session:
        card = Card(
            request_id=request_id,
            platform="teams",
            person_id=world.person_id(DANA.email),
            channel=DANA.conversation_id,
            message_id="1760000000000",
            shown_status="pending",
            created_at=now,
            updated_at=now,
        )
        session.add(card)
        session.flush()
        card_id = card.id
    world.services.workflow.withdraw(request_id, world.person_id(NINA.email), via="teams")

    await world.deliver()

    [row] = [r for r in outbox(world, request_id) if r.card_id == card_id]
    assert row.status == "failed"
    assert row.last_error == "activity_not_found"


async def test_rate_limit_sets_next_attempt(world: TeamsWorld) -> None:
    await link(world, DANA, MARCUS)
    request_id = await submit_staff_request(world, NINA)
    world.connector.fail_next("POST", 429, retry_after="30")

    await world.deliver()

    rows = [r for r in outbox(world, request_id) if r.kind == "post_card"]
    waiting = [r for r in rows if r.status == "pending"]
    assert len(waiting) == 1
    assert waiting[0].last_error == "ratelimited"
    assert waiting[0].next_attempt_at == world.services.clock.now() + dt.timedelta(seconds=30)
    assert len([r for r in rows if r.status == "sent"]) == 1


async def test_admin_alert_reaches_admin_conversation(world: TeamsWorld) -> None:
    world.slack.add_channel("C0ADMINS", "cosigner-admins")
    lonely = add_organization(world.services, "Quiet Valley Clinic", "222222222", "1245319599")

    _, result = await submit_request(
        world, NINA, organization=str(lonely), kind="staff", justification="Front desk"
    )
    await world.deliver()

    assert "No approver could be reached" in card_text(result.card)
    [alert] = world.connector.card_messages(ADMIN_CONVERSATION)
    text = card_text(alert.card)
    assert "needs an admin: nobody in Cosigner may approve it" in text
    assert "Quiet Valley Clinic" in text
    assert alert.reply_to_id is None
    assert [m.channel for m in world.slack.messages()] == ["C0ADMINS"]


async def test_reminder_lists_requests_with_buttons(world: TeamsWorld) -> None:
    await link(world, DANA)
    first = await submit_staff_request(world, NINA)
    _, second_result = await submit_request(
        world,
        NINA,
        organization=str(world.riverbend),
        kind="surrogacy",
        justification="Billing firm",
        surrogate_org="Acme Billing",
        products="PECOS",
    )
    second = field_value(second_result.card, "Request id")
    await world.deliver()
    world.services.clock.advance(dt.timedelta(days=2))  # type: ignore[attr-defined]
    _queue(
        world,
        Kind.REMINDER,
        person_id=world.person_id(DANA.email),
        payload={"request_ids": [first, second], "as_of": "2026-12-04T15:00:00+00:00"},
    )

    await world.deliver()

    reminder = world.connector.card_messages(DANA.conversation_id)[-1]
    text = card_text(reminder.card)
    assert "2 request(s) still wait for your decision" in text
    assert "The oldest has waited 2.0 day(s)" in text
    assert verbs(reminder.card) == ["approve", "reject", "approve", "reject"]
    clicked = await world.teams.click(DANA, reminder, "approve", request_id=first)
    assert f"You approved {first}." in card_text(clicked.card)
    assert second in card_text(clicked.card)


async def test_escalation_and_digest_rendered(world: TeamsWorld) -> None:
    await link(world, DANA)
    request_id = await submit_staff_request(world, NINA)
    _queue(
        world,
        Kind.ADMIN_ALERT,
        request_id=request_id,
        channel=ADMIN_CONVERSATION,
        payload={
            "reason": "escalation",
            "reminded": [{"person_id": 1, "name": "Dana Whitfield", "reminders": 3}, "odd"],
            "unreachable": ["Marcus Lee"],
            "business_days_pending": 3,
        },
    )
    _queue(
        world,
        Kind.DIGEST,
        channel=ADMIN_CONVERSATION,
        payload={
            "title": "Cosigner digest for 2026-12-02",
            "pending": 4,
            "by_status": {"pending": 4, "approved": 2},
            "oldest": [{"id": request_id, "days": 3.5}],
            "failed_deliveries": [],
            "note": None,
        },
    )

    await world.deliver()

    posted = world.connector.card_messages(ADMIN_CONVERSATION)
    [escalation] = [m for m in posted if "escalated" in m.activity["summary"]]
    [digest] = [m for m in posted if "digest" in m.activity["summary"]]
    text = card_text(escalation.card)
    assert f"Request {request_id} has waited 3 business day(s) without a decision" in text
    assert field_value(escalation.card, "Reminded") == "Dana Whitfield (3 reminder(s))"
    assert field_value(escalation.card, "Not reachable in chat") == "Marcus Lee"
    digest_text = card_text(digest.card)
    assert "Cosigner digest for 2026-12-02" in digest_text
    assert field_value(digest.card, "Pending") == "4"
    assert field_value(digest.card, "Approved") == "2"
    assert f"• Id: {request_id}, Days: 3.5" in digest_text
    assert field_value(digest.card, "Note") == "—"


async def test_daily_digest_posted_as_card(world: TeamsWorld) -> None:
    from bot.digest import queue_daily_digest

    world.slack.add_channel("C0ADMINS", "cosigner-admins")
    await link(world, DANA)
    request_id = await submit_staff_request(world, NINA)
    await world.deliver()
    world.services.clock.advance(dt.timedelta(days=1))  # type: ignore[attr-defined]

    queued = queue_daily_digest(world.services)
    await world.deliver()

    assert queued is not None
    [digest] = world.connector.card_messages(ADMIN_CONVERSATION)
    text = card_text(digest.card)
    assert "Cosigner digest for Thursday 3 December 2026" in text
    assert field_value(digest.card, "Pending") == "1 request(s) in 1 organization(s)"
    assert "Oldest pending requests" in text
    assert request_id in text
