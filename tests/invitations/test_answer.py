"""Accept and Decline: the grant, the inviter's notice, the cards, and who may answer."""

from __future__ import annotations

import asyncio

from bot.localstack import LocalStack
from tests.invitations.conftest import (
    audit_details,
    command,
    invitation_status,
    invite,
    open_home_tab,
    private_reply,
    roles_of,
)
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    blocks_text,
    wait_for_card_text,
    wait_for_dm,
)


async def test_accept_grants_role_and_tells_inviter(stack: LocalStack) -> None:
    invitation_id, card = await invite(stack, DANA, NINA, "staff")
    clicked = await stack.sender.click(NINA, card, "invitation_accept")
    assert clicked.status == 200
    updated = await wait_for_card_text(stack, card, "Accepted")
    assert "invitation_accept" not in blocks_text(updated)
    told = await wait_for_dm(stack, DANA, invitation_id)
    assert "accepted" in told.text
    assert roles_of(stack, NINA) == {"SEU"}
    accepted = audit_details(stack, "invitation.accepted")
    assert [entry["invitation_id"] for entry in accepted] == [invitation_id]


async def test_accept_twice_at_once_grants_once(stack: LocalStack) -> None:
    invitation_id, card = await invite(stack, DANA, NINA, "DO")
    first, second = await asyncio.gather(
        stack.sender.click(NINA, card, "invitation_accept"),
        stack.sender.click(NINA, card, "invitation_accept"),
    )
    assert first.status == 200
    assert second.status == 200
    assert roles_of(stack, NINA) == {"DO"}
    assert len(audit_details(stack, "invitation.accepted")) == 1
    await private_reply(stack, NINA, f"{invitation_id} was already accepted")


async def test_decline_closes_invitation(stack: LocalStack) -> None:
    invitation_id, card = await invite(stack, MARCUS, NINA, "staff")
    await stack.sender.click(NINA, card, "invitation_decline")
    updated = await wait_for_card_text(stack, card, "Declined")
    assert "invitation_accept" not in blocks_text(updated)
    told = await wait_for_dm(stack, MARCUS, invitation_id)
    assert "declined" in told.text
    assert invitation_status(stack, invitation_id) == "declined"
    assert roles_of(stack, NINA) == set()
    assert len(audit_details(stack, "invitation.declined")) == 1


async def test_accept_by_someone_else_rejected(stack: LocalStack) -> None:
    invitation_id, card = await invite(stack, DANA, NINA, "staff")
    await stack.sender.click(OUTSIDER, card, "invitation_accept")
    refusal = await private_reply(stack, OUTSIDER, invitation_id)
    assert "Only Nina Alvarez can answer" in refusal
    assert "Nothing was changed" in refusal
    assert invitation_status(stack, invitation_id) == "open"
    assert roles_of(stack, OUTSIDER) == set()


async def test_accept_after_inviter_lost_role_rejected(stack: LocalStack) -> None:
    invitation_id, card = await invite(stack, MARCUS, NINA, "staff")
    removed = await command(stack, DANA, f"remove <@{MARCUS}> DO Left the practice")
    assert "You removed" in removed
    await stack.sender.click(NINA, card, "invitation_accept")
    refusal = await private_reply(stack, NINA, "no longer holds the authority")
    assert "nothing was granted" in refusal
    assert roles_of(stack, NINA) == set()
    assert invitation_status(stack, invitation_id) == "cancelled"
    await wait_for_card_text(stack, card, "Closed")
    told = await wait_for_dm(stack, MARCUS, invitation_id)
    assert "no longer hold the authority" in told.text
    assert len(audit_details(stack, "invitation.cancelled")) == 1


async def test_home_lists_and_accepts_invitation(stack: LocalStack) -> None:
    invitation_id, _ = await invite(stack, DANA, NINA, "staff")
    home = await open_home_tab(stack, NINA)
    assert "Invitations for you" in blocks_text(home.view)
    assert invitation_id in blocks_text(home.view)
    await stack.sender.click(NINA, home, "invitation_accept")
    await stack.slack.wait_for(lambda: "You accepted" in blocks_text(stack.slack.home_view(NINA)))
    assert roles_of(stack, NINA) == {"SEU"}
