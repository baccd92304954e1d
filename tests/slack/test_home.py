"""The App Home tab: what waits for a decision, the user's requests, counts for admins."""

from __future__ import annotations

from typing import Any

from bot.localstack import LocalStack
from handlers.slack.localslack import OpenedView
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OPS,
    OUTSIDER,
    blocks_text,
    card_for,
    submit_directly,
    wait_for_card_text,
)


async def open_home(stack: LocalStack, user_id: str) -> dict[str, Any]:
    calls_before = len(stack.slack.calls("views.publish"))
    response = await stack.sender.app_home_opened(user_id)
    assert response.status == 200
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) > calls_before)
    home = stack.slack.home_view(user_id)
    assert home is not None
    return home


def home_as_view(stack: LocalStack, user_id: str) -> OpenedView:
    home = stack.slack.home_view(user_id)
    assert home is not None
    return stack.slack.view(home["id"])


def status_of(stack: LocalStack, request_id: str) -> str:
    request = stack.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


async def test_home_lists_pending_decisions(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    home = await open_home(stack, DANA)
    assert "Waiting for your decision" in blocks_text(home)
    assert request_id in blocks_text(home)


async def test_home_pending_has_buttons(stack: LocalStack) -> None:
    submit_directly(stack, NINA)
    home = await open_home(stack, DANA)
    assert "request_approve" in blocks_text(home)
    assert "request_reject" in blocks_text(home)


async def test_home_lists_my_requests(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    home = await open_home(stack, NINA)
    assert "My requests" in blocks_text(home)
    assert request_id in blocks_text(home)
    assert "request_approve" not in blocks_text(home)


async def test_home_counts_for_admin(stack: LocalStack) -> None:
    submit_directly(stack, NINA)
    home = await open_home(stack, OPS)
    assert "Admin: requests by status" in blocks_text(home)
    assert "pending: 1" in blocks_text(home)


async def test_home_no_counts_for_others(stack: LocalStack) -> None:
    submit_directly(stack, NINA)
    home = await open_home(stack, DANA)
    assert "Admin: requests by status" not in blocks_text(home)


async def test_home_empty_for_newcomer(stack: LocalStack) -> None:
    home = await open_home(stack, OUTSIDER)
    assert "Nothing is waiting for your decision" in blocks_text(home)
    assert "You have no requests yet" in blocks_text(home)


async def test_home_ignores_messages_tab(stack: LocalStack) -> None:
    response = await stack.sender.app_home_opened(DANA, tab="messages")
    assert response.status == 200
    assert not stack.slack.calls("views.publish")


async def test_home_approve_decides(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await open_home(stack, DANA)
    clicked = await stack.sender.click(DANA, home_as_view(stack, DANA), "request_approve")
    assert clicked.status == 200
    assert status_of(stack, request_id) == "approved"


async def test_home_approve_republishes_with_notice(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await open_home(stack, DANA)
    publishes = len(stack.slack.calls("views.publish"))
    await stack.sender.click(DANA, home_as_view(stack, DANA), "request_approve")
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) > publishes)
    home = stack.slack.home_view(DANA)
    assert home is not None
    assert f"You approved {request_id}" in blocks_text(home)
    assert "request_approve" not in blocks_text(home)


async def test_home_approve_updates_cards(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, MARCUS, request_id)
    await open_home(stack, DANA)
    await stack.sender.click(DANA, home_as_view(stack, DANA), "request_approve")
    await wait_for_card_text(stack, card, "Approved")


async def test_home_late_click_publishes_once(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await open_home(stack, DANA)
    card = await card_for(stack, MARCUS, request_id)
    await stack.sender.click(MARCUS, card, "request_approve")
    publishes = len(stack.slack.calls("views.publish"))
    await stack.sender.click(DANA, home_as_view(stack, DANA), "request_approve")
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) > publishes)
    await stack.deliver()
    assert len(stack.slack.calls("views.publish")) == publishes + 1
    home = stack.slack.home_view(DANA)
    assert home is not None
    assert f"already approved by <@{MARCUS}>" in blocks_text(home)


async def test_home_reject_republishes_with_notice(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await open_home(stack, DANA)
    await stack.sender.click(DANA, home_as_view(stack, DANA), "request_reject")
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    publishes = len(stack.slack.calls("views.publish"))
    await stack.sender.submit_last_view(DANA, {"reason": {"reason_input": "Not staff here"}})
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) > publishes)
    home = stack.slack.home_view(DANA)
    assert home is not None
    assert f"You rejected {request_id}" in blocks_text(home)


async def test_home_refusal_shown_in_home(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await open_home(stack, DANA)
    await stack.deliver()
    posts_before = len(stack.slack.calls("chat.postMessage"))
    await stack.sender.click(OUTSIDER, home_as_view(stack, DANA), "request_approve")
    home = await stack.slack.wait_for(lambda: stack.slack.home_view(OUTSIDER))
    assert "Nothing was changed" in blocks_text(home)
    assert status_of(stack, request_id) == "pending"
    assert len(stack.slack.calls("chat.postMessage")) == posts_before
