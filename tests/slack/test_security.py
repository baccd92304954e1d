"""Request verification: signatures, the 5-minute window, the served team, redelivered events."""

from __future__ import annotations

import json

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    NINA,
    audit_actions,
    card_for,
    post_signed,
    signed_headers,
    submit_directly,
)

OTHER_TEAM = "T0OTHER"


def status_of(stack: LocalStack, request_id: str) -> str:
    request = stack.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


def home_event(user_id: str) -> dict[str, str]:
    return {"type": "app_home_opened", "user": user_id, "tab": "home"}


async def test_bad_signature_rejected(stack: LocalStack) -> None:
    response = await stack.sender.with_options(bad_signature=True).slash_command(NINA, "help")
    assert response.status == 401


async def test_missing_signature_rejected(stack: LocalStack) -> None:
    body = "command=%2Faccess&text=help&user_id=U0NINA&team_id=T0LOCAL"
    headers = signed_headers(body, "application/x-www-form-urlencoded")
    del headers["X-Slack-Signature"]
    response = await post_signed(stack, body, headers)
    assert response.status == 401


async def test_missing_timestamp_rejected(stack: LocalStack) -> None:
    body = "command=%2Faccess&text=help&user_id=U0NINA&team_id=T0LOCAL"
    headers = signed_headers(body, "application/x-www-form-urlencoded")
    del headers["X-Slack-Request-Timestamp"]
    response = await post_signed(stack, body, headers)
    assert response.status == 401


async def test_stale_timestamp_rejected(stack: LocalStack) -> None:
    response = await stack.sender.with_options(stale_timestamp=True).slash_command(NINA, "help")
    assert response.status == 401


async def test_bad_signature_click_changes_nothing(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    forged = stack.sender.with_options(bad_signature=True)
    response = await forged.click(DANA, card, "request_approve")
    assert response.status == 401
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]


async def test_other_team_command_rejected(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    other = stack.sender.with_options(team_id=OTHER_TEAM)
    response = await other.slash_command(NINA, f"withdraw {request_id}")
    assert response.status in (401, 403)
    assert status_of(stack, request_id) == "pending"


async def test_other_team_click_rejected(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    other = stack.sender.with_options(team_id=OTHER_TEAM)
    response = await other.click(DANA, card, "request_approve")
    assert response.status in (401, 403)
    assert status_of(stack, request_id) == "pending"
    assert audit_actions(stack, request_id) == ["request.submitted"]


async def test_other_team_event_ignored(stack: LocalStack) -> None:
    other = stack.sender.with_options(team_id=OTHER_TEAM)
    response = await other.event(home_event(DANA))
    assert response.status in (401, 403)
    assert not stack.slack.calls("views.publish")


async def test_redelivered_event_has_one_effect(stack: LocalStack) -> None:
    first = await stack.sender.event(home_event(DANA), event_id="Ev0SAME")
    assert first.status == 200
    await stack.slack.wait_for(lambda: stack.slack.calls("views.publish"))
    again = await stack.sender.event(home_event(DANA), event_id="Ev0SAME", retry_num=1)
    assert again.status == 200
    await stack.sender.event(home_event(DANA), event_id="Ev0SAME", retry_num=2)
    assert len(stack.slack.calls("views.publish")) == 1


async def test_new_event_is_handled(stack: LocalStack) -> None:
    await stack.sender.event(home_event(DANA), event_id="Ev0FIRST")
    await stack.sender.event(home_event(DANA), event_id="Ev0SECOND")
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) == 2)


async def test_url_verification_echoes_challenge(stack: LocalStack) -> None:
    response = await stack.sender.url_verification("challenge-token-123")
    assert response.status == 200
    assert "challenge-token-123" in response.body


async def test_unsigned_json_rejected(stack: LocalStack) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0LOCAL", "event": home_event(DANA)})
    response = await post_signed(stack, body, {"Content-Type": "application/json"})
    assert response.status == 401
    assert not stack.slack.calls("views.publish")
