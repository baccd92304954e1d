"""`/access status`, `pending`, `withdraw` and `show`: private replies about requests."""

from __future__ import annotations

from typing import Any

from bot.localstack import LocalStack
from handlers.slack.localslack import BotResponse
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    PRIYA,
    audit_actions,
    blocks_text,
    card_for,
    reply_text,
    submit_directly,
    wait_for_card_text,
)

LAKESIDE_NPI = "1555555550"


async def command(stack: LocalStack, user_id: str, text: str) -> str:
    return reply_text(await stack.sender.slash_command(user_id, text))


def status_of(stack: LocalStack, request_id: str) -> str:
    request = stack.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


async def click_in_reply(
    stack: LocalStack, user_id: str, reply: BotResponse, action_id: str, request_id: str
) -> BotResponse:
    """Click a button of a command's ephemeral reply, as Slack sends such a click."""
    body = reply.json()
    channel = stack.slack.dm_channel_id(user_id)
    message: dict[str, Any] = {
        "ts": "1700000000.000100",
        "channel": channel,
        "text": body["text"],
        "blocks": body["blocks"],
    }
    container = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": True,
    }
    return await stack.sender.block_action(
        user_id,
        action_id,
        request_id,
        block_id=f"decide:{request_id}",
        message=message,
        container=container,
    )


async def test_status_lists_own_requests(stack: LocalStack) -> None:
    first = submit_directly(stack, NINA)
    second = submit_directly(stack, NINA, npi=LAKESIDE_NPI)
    text = await command(stack, NINA, "status")
    assert first in text
    assert second in text
    assert "Pending" in text


async def test_status_shows_outcome(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, card, "request_approve")
    text = await command(stack, NINA, "status")
    assert f"Approved* by <@{MARCUS}>" in text


async def test_status_without_requests(stack: LocalStack) -> None:
    assert "You have no requests yet" in await command(stack, NINA, "status")


async def test_status_hides_others_requests(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    assert request_id not in await command(stack, OUTSIDER, "status")


async def test_pending_lists_decidable_requests(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    response = await stack.sender.slash_command(DANA, "pending")
    text = reply_text(response)
    assert "1 request(s) waiting for your decision" in text
    assert request_id in text
    assert "request_approve" in text
    assert "request_reject" in text


async def test_pending_empty_for_outsider(stack: LocalStack) -> None:
    submit_directly(stack, NINA)
    assert "Nothing is waiting for your decision" in await command(stack, OUTSIDER, "pending")


async def test_pending_omits_own_request(stack: LocalStack) -> None:
    request_id = submit_directly(stack, DANA)
    assert request_id not in await command(stack, DANA, "pending")


async def test_pending_approve_decides(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    reply = await stack.sender.slash_command(DANA, "pending")
    clicked = await click_in_reply(stack, DANA, reply, "request_approve", request_id)
    assert clicked.status == 200
    assert status_of(stack, request_id) == "approved"


async def test_pending_approve_confirms_privately(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    reply = await stack.sender.slash_command(DANA, "pending")
    await click_in_reply(stack, DANA, reply, "request_approve", request_id)
    replies = await stack.slack.wait_for(lambda: stack.slack.ephemerals(DANA))
    assert f"You approved {request_id}" in replies[-1].text
    assert "request_approve" not in str(replies[-1].blocks)


async def test_pending_approve_updates_cards(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    reply = await stack.sender.slash_command(DANA, "pending")
    await click_in_reply(stack, DANA, reply, "request_approve", request_id)
    updated = await wait_for_card_text(stack, card, "Approved")
    assert f"<@{DANA}>" in blocks_text(updated)


async def test_pending_reject_opens_modal(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    reply = await stack.sender.slash_command(DANA, "pending")
    await click_in_reply(stack, DANA, reply, "request_reject", request_id)
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    await stack.sender.submit_last_view(DANA, {"reason": {"reason_input": "Not staff here"}})
    assert status_of(stack, request_id) == "rejected"


async def test_pending_reject_confirms_privately(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    reply = await stack.sender.slash_command(DANA, "pending")
    await click_in_reply(stack, DANA, reply, "request_reject", request_id)
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    await stack.sender.submit_last_view(DANA, {"reason": {"reason_input": "Not staff here"}})
    replies = await stack.slack.wait_for(lambda: stack.slack.ephemerals(DANA))
    assert f"You rejected {request_id}" in replies[-1].text
    assert "Nothing is waiting for your decision" in str(replies[-1].blocks)


async def test_withdraw_own_request(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    text = await command(stack, NINA, f"withdraw {request_id}")
    assert f"You withdrew {request_id}" in text
    assert status_of(stack, request_id) == "withdrawn"


async def test_withdraw_updates_cards(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await command(stack, NINA, f"withdraw {request_id}")
    for card in (dana_card, marcus_card):
        updated = await wait_for_card_text(stack, card, "Withdrawn")
        assert "request_approve" not in blocks_text(updated)


async def test_withdraw_accepts_lowercase_id(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await command(stack, NINA, f"withdraw {request_id.lower()}")
    assert status_of(stack, request_id) == "withdrawn"


async def test_withdraw_others_request_refused(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    text = await command(stack, DANA, f"withdraw {request_id}")
    assert "was not found among your requests" in text
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]


async def test_withdraw_malformed_id(stack: LocalStack) -> None:
    text = await command(stack, NINA, "withdraw 12345678")
    assert "is not a request id" in text
    assert "REQ-" in text


async def test_withdraw_malformed_id_escaped(stack: LocalStack) -> None:
    text = await command(stack, NINA, "withdraw <!channel>")
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


async def test_withdraw_without_id(stack: LocalStack) -> None:
    assert "Give the request id" in await command(stack, NINA, "withdraw")


async def test_withdraw_unknown_id(stack: LocalStack) -> None:
    assert "REQ-ZZZZZ was not found" in await command(stack, NINA, "withdraw REQ-ZZZZZ")


async def test_withdraw_decided_request(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, card, "request_approve")
    text = await command(stack, NINA, f"withdraw {request_id}")
    assert "already approved" in text
    assert status_of(stack, request_id) == "approved"


async def test_show_to_requester(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, justification="Eligibility at the desk")
    text = await command(stack, NINA, f"show {request_id}")
    assert "Riverbend Family Clinic LLC" in text
    assert "Eligibility at the desk" in text
    assert "Pending" in text


async def test_show_to_approver(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    assert "Riverbend Family Clinic LLC" in await command(stack, MARCUS, f"show {request_id}")


async def test_show_hidden_from_outsider(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, justification="Eligibility at the desk")
    text = await command(stack, OUTSIDER, f"show {request_id}")
    assert "was not found among the requests you can see" in text
    assert "Eligibility" not in text


async def test_show_hidden_from_other_organization(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    text = await command(stack, PRIYA, f"show {request_id}")
    assert "was not found among the requests you can see" in text


async def test_show_malformed_id(stack: LocalStack) -> None:
    assert "is not a request id" in await command(stack, NINA, "show nonsense!")


async def test_command_replies_stay_private(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await card_for(stack, DANA, request_id)
    await card_for(stack, MARCUS, request_id)
    # A card shows in the local Slack a moment before its call is logged; let both finish.
    await stack.deliver()
    posts_before = len(stack.slack.calls("chat.postMessage"))
    for text in ("help", "status", "pending", f"show {request_id}", "withdraw REQ-ZZZZZ"):
        response = await stack.sender.slash_command(DANA, text)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            assert response.json().get("response_type", "ephemeral") == "ephemeral", text
    assert len(stack.slack.calls("chat.postMessage")) == posts_before
