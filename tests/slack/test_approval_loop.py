"""The approval loop through the real server: request, cards, approve, reject, refusals."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    card_for,
    request_access,
    wait_for_card_text,
    wait_for_dm,
)


def _text(message) -> str:  # type: ignore[no-untyped-def]
    return str(message.blocks)


async def test_request_reaches_ao_and_do(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    assert "Approve" in _text(dana_card)
    assert "Reject" in _text(marcus_card)
    assert not [m for m in stack.slack.dm_messages(NINA) if request_id in m.text]


async def test_approve_updates_every_card(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    clicked = await stack.sender.click(MARCUS, marcus_card, "request_approve")
    assert clicked.status == 200
    for card in (dana_card, marcus_card):
        updated = await wait_for_card_text(stack, card, "Approved")
        assert f"<@{MARCUS}>" in _text(updated)
        assert "request_approve" not in _text(updated)
    told = await wait_for_dm(stack, NINA, request_id)
    assert "approved" in told.text


async def test_outsider_click_is_refused(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    clicked = await stack.sender.click(OUTSIDER, dana_card, "request_approve")
    assert clicked.status == 200
    refusals = stack.slack.ephemerals(OUTSIDER)
    assert refusals
    assert "Nothing was changed" in refusals[-1].text
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "pending"
