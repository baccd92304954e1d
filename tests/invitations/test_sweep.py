"""sweep_invitations: expiry after 14 days (or the organization's setting) and one reminder."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from bot.clock import FixedClock
from bot.invitations import sweep_invitations
from bot.localstack import LocalStack
from storage.models import Organization
from tests.invitations.conftest import (
    audit_details,
    invitation_status,
    invite,
    private_reply,
)
from tests.slack.conftest import (
    DANA,
    NINA,
    blocks_text,
    organization_id,
    wait_for_card_text,
    wait_for_dm,
)

NEW_YORK = dt.timezone(dt.timedelta(hours=-5))


async def test_sweep_reminds_invitee_once(stack: LocalStack, clock: FixedClock) -> None:
    invitation_id, _ = await invite(stack, DANA, NINA, "staff")
    clock.advance(dt.timedelta(days=1))
    first = sweep_invitations(stack.services, clock.now())
    await stack.deliver()
    clock.advance(dt.timedelta(days=1))
    second = sweep_invitations(stack.services, clock.now())
    await stack.deliver()
    assert first == {"expired": [], "reminded": [invitation_id]}
    assert second == {"expired": [], "reminded": []}
    reminders = [m for m in stack.slack.dm_messages(NINA) if "Reminder" in blocks_text(m)]
    assert len(reminders) == 1
    assert "invitation_accept" in blocks_text(reminders[0])


async def test_sweep_reminds_only_in_business_hours(stack: LocalStack, clock: FixedClock) -> None:
    # Invited on Wednesday at 10:00 in New York.
    invitation_id, _ = await invite(stack, DANA, NINA, "staff")
    clock.set(dt.datetime(2026, 12, 3, 20, 0, tzinfo=NEW_YORK))
    evening = sweep_invitations(stack.services, clock.now())
    clock.set(dt.datetime(2026, 12, 4, 9, 30, tzinfo=NEW_YORK))
    morning = sweep_invitations(stack.services, clock.now())
    assert evening["reminded"] == []
    assert morning["reminded"] == [invitation_id]


async def test_sweep_waits_one_business_day(stack: LocalStack, clock: FixedClock) -> None:
    invitation_id, _ = await invite(stack, DANA, NINA, "staff")
    clock.advance(dt.timedelta(hours=23))
    early = sweep_invitations(stack.services, clock.now())
    clock.advance(dt.timedelta(hours=1))
    due = sweep_invitations(stack.services, clock.now())
    assert early["reminded"] == []
    assert due["reminded"] == [invitation_id]


async def test_sweep_expires_after_fourteen_days(stack: LocalStack, clock: FixedClock) -> None:
    invitation_id, card = await invite(stack, DANA, NINA, "staff")
    clock.advance(dt.timedelta(days=14) - dt.timedelta(minutes=1))
    early = sweep_invitations(stack.services, clock.now())
    clock.advance(dt.timedelta(minutes=1))
    due = sweep_invitations(stack.services, clock.now())
    await stack.deliver()
    assert early["expired"] == []
    assert due["expired"] == [invitation_id]
    assert invitation_status(stack, invitation_id) == "expired"
    await wait_for_card_text(stack, card, "Expired")
    told_inviter = await wait_for_dm(stack, DANA, invitation_id)
    assert "expired unanswered" in told_inviter.text
    told_invitee = await wait_for_dm(stack, NINA, "expired at")
    assert invitation_id in told_invitee.text
    assert [e["invitation_id"] for e in audit_details(stack, "invitation.expired")] == [
        invitation_id
    ]


async def test_accept_after_expiry_rejected(stack: LocalStack, clock: FixedClock) -> None:
    invitation_id, card = await invite(stack, DANA, NINA, "staff")
    clock.advance(dt.timedelta(days=15))
    # The sweep has not run: the click itself finds the invitation past its expiry.
    await stack.sender.click(NINA, card, "invitation_accept")
    refusal = await private_reply(stack, NINA, f"{invitation_id} expired")
    assert "new invitation" in refusal
    assert invitation_status(stack, invitation_id) == "expired"


async def test_sweep_uses_organization_expiry_days(stack: LocalStack, clock: FixedClock) -> None:
    with stack.services.db.transaction() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == organization_id(stack))
            .values(invitation_expiry_days=3)
        )
    invitation_id, _ = await invite(stack, DANA, NINA, "staff")
    clock.advance(dt.timedelta(days=3))
    assert sweep_invitations(stack.services, clock.now())["expired"] == [invitation_id]
