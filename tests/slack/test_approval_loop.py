"""The approval loop through the real server: approve, reject with a reason, and the aftermath."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    audit_actions,
    blocks_text,
    card_for,
    request_access,
    submit_directly,
    wait_for_card_text,
    wait_for_dm,
)

# The time that the tests' FixedClock shows throughout.
NOW = "2026-12-02 15:00 UTC"
REASON = "Nina already has access through the clinic's billing firm."


async def reject(stack: LocalStack, user_id: str, request_id: str, reason: str = REASON) -> None:
    card = await card_for(stack, user_id, request_id)
    clicked = await stack.sender.click(user_id, card, "request_reject")
    assert clicked.status == 200
    await stack.slack.wait_for(lambda: stack.slack.open_views(user_id))
    submitted = await stack.sender.submit_last_view(user_id, {"reason": {"reason_input": reason}})
    assert submitted.status == 200


async def test_request_reaches_ao_and_do(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    assert "Approve" in blocks_text(dana_card)
    assert "Reject" in blocks_text(marcus_card)
    assert not [m for m in stack.slack.dm_messages(NINA) if request_id in m.text]


async def test_approve_decides_before_response(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    clicked = await stack.sender.click(MARCUS, card, "request_approve")
    assert clicked.status == 200
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "approved"
    assert audit_actions(stack, request_id)[-1] == "request.approved"


async def test_approve_updates_every_card(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, marcus_card, "request_approve")
    for card in (dana_card, marcus_card):
        updated = await wait_for_card_text(stack, card, "Approved")
        assert f"Approved* by <@{MARCUS}> at {NOW}" in blocks_text(updated)
        assert "request_approve" not in blocks_text(updated)


async def test_approve_tells_requester(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, card, "request_approve")
    notice = await wait_for_dm(stack, NINA, request_id)
    assert "was *approved*" in notice.text
    assert f"<@{MARCUS}>" in blocks_text(notice)


async def test_reject_opens_reason_modal(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_reject")
    views = await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    labels = [b["label"]["text"] for b in views[-1].view["blocks"] if b["type"] == "input"]
    assert len(labels) == 1
    assert labels[0].startswith("Reason")


async def test_reject_click_changes_nothing(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_reject")
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "pending"


async def test_reject_empty_reason_shown_in_modal(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_reject")
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    submitted = await stack.sender.submit_last_view(DANA, {"reason": {"reason_input": "  \n "}})
    body = submitted.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["reason"]
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "pending"


async def test_reject_closes_modal(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await reject(stack, DANA, request_id)
    assert not stack.slack.open_views(DANA)


async def test_reject_decides_before_response(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await reject(stack, DANA, request_id)
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "rejected"
    assert request.decision_reason == REASON


async def test_reject_updates_every_card(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await reject(stack, DANA, request_id)
    for card in (dana_card, marcus_card):
        updated = await wait_for_card_text(stack, card, "Rejected")
        assert f"Rejected* by <@{DANA}> at {NOW}" in blocks_text(updated)
        assert f"*Reason:* {REASON}" in blocks_text(updated)
        assert "request_reject" not in blocks_text(updated)


async def test_reject_tells_requester_why(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await reject(stack, DANA, request_id)
    notice = await wait_for_dm(stack, NINA, request_id)
    assert "was *rejected*" in notice.text
    assert REASON in blocks_text(notice)


async def test_requester_dm_holds_only_outcome(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_approve")
    await wait_for_dm(stack, NINA, request_id)
    await stack.deliver()
    assert len(stack.slack.dm_messages(NINA)) == 1
