"""Clicks that may not decide, and clicks on requests that someone already decided."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    audit_actions,
    blocks_text,
    card_for,
    person_id,
    submit_directly,
    wait_for_card_text,
)

NOW = "2026-12-02 15:00 UTC"


async def private_reply(stack: LocalStack, user_id: str) -> str:
    replies = await stack.slack.wait_for(lambda: stack.slack.ephemerals(user_id))
    return replies[-1].text


def status_of(stack: LocalStack, request_id: str) -> str:
    request = stack.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


async def test_outsider_approve_refused(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    clicked = await stack.sender.click(OUTSIDER, card, "request_approve")
    assert clicked.status == 200
    text = await private_reply(stack, OUTSIDER)
    assert "Only an Authorized Official or a Delegated Official" in text
    assert "Nothing was changed" in text


async def test_outsider_approve_changes_nothing(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(OUTSIDER, card, "request_approve")
    await private_reply(stack, OUTSIDER)
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]
    assert "request_approve" in blocks_text(stack.slack.message(card.channel, card.ts))


async def test_outsider_reject_refused_without_modal(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(OUTSIDER, card, "request_reject")
    assert "Nothing was changed" in await private_reply(stack, OUTSIDER)
    assert not stack.slack.views_opened(OUTSIDER)


async def test_requester_click_refused(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(NINA, card, "request_approve")
    assert "You cannot decide your own request" in await private_reply(stack, NINA)
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]


async def test_do_click_on_do_appointment_refused(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, kind="delegated_official")
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(MARCUS, card, "request_approve")
    text = await private_reply(stack, MARCUS)
    assert "cannot appoint another Delegated Official" in text
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]


async def test_refusal_is_private(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await card_for(stack, MARCUS, request_id)
    # A card shows in the local Slack a moment before its call is logged; let both finish.
    await stack.deliver()
    posts_before = len(stack.slack.calls("chat.postMessage"))
    await stack.sender.click(OUTSIDER, card, "request_approve")
    await private_reply(stack, OUTSIDER)
    assert len(stack.slack.calls("chat.postMessage")) == posts_before


async def test_late_click_names_decider(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, marcus_card, "request_approve")
    await stack.sender.click(DANA, dana_card, "request_approve")
    text = await private_reply(stack, DANA)
    assert f"already approved by <@{MARCUS}> at {NOW}" in text


async def test_late_click_changes_nothing(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, marcus_card, "request_approve")
    await stack.sender.click(DANA, dana_card, "request_reject")
    await private_reply(stack, DANA)
    assert not stack.slack.views_opened(DANA)
    assert audit_actions(stack, request_id) == ["request.submitted", "request.approved"]


async def test_late_click_updates_stale_card(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    # Both updates of the first round fail with a 500. Their retry waits for the clock,
    # which this test never moves, so the card stays stale until the click.
    stack.slack.fail_next("chat.update", status=500, count=2)
    result = stack.services.workflow.approve(request_id, person_id(stack, MARCUS))
    assert result.ok
    stack.runtime.deliverer.wake.set()
    await stack.slack.wait_for(lambda: len(stack.slack.calls("chat.update")) == 2)
    assert "request_approve" in blocks_text(stack.slack.message(card.channel, card.ts))
    await stack.sender.click(DANA, card, "request_approve")
    updated = await wait_for_card_text(stack, card, "Approved")
    assert "request_approve" not in blocks_text(updated)
    assert f"<@{MARCUS}>" in await private_reply(stack, DANA)


async def test_reject_submitted_after_approval(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(DANA, dana_card, "request_reject")
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    await stack.sender.click(MARCUS, marcus_card, "request_approve")
    submitted = await stack.sender.submit_last_view(
        DANA, {"reason": {"reason_input": "Not needed"}}
    )
    body = submitted.json()
    assert body["response_action"] == "update"
    assert f"already approved by Marcus Lee at {NOW}" in blocks_text(body["view"])
    assert status_of(stack, request_id) == "approved"
