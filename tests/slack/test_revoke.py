"""Revoking an approved Delegated Official appointment updates that official's open cards."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    NINA,
    OUTSIDER,
    card_for,
    request_access,
    wait_for_card_text,
)


async def test_revoked_do_card_loses_buttons(stack: LocalStack) -> None:
    appointment = await request_access(stack, OUTSIDER, kind="delegated_official")
    dana_card = await card_for(stack, DANA, appointment)
    await stack.sender.click(DANA, dana_card, "request_approve")
    await wait_for_card_text(stack, dana_card, "Approved")

    staff_request = await request_access(stack, NINA)
    new_do_card = await card_for(stack, OUTSIDER, staff_request)
    assert "request_approve" in str(new_do_card.blocks)
    # The card is in Slack; let Cosigner record it too before the role goes.
    await stack.deliver()

    dana = stack.services.people.by_account("slack", DANA)
    assert dana is not None
    revoked = stack.services.workflow.revoke(appointment, dana.id, "Left the practice")
    assert revoked.ok, revoked.message
    stack.runtime.deliverer.wake.set()

    updated = await wait_for_card_text(stack, new_do_card, "no longer hold")
    assert "request_approve" not in str(updated.blocks)
