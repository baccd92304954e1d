"""A request made on one platform and decided on the other: the first decision wins and
every card on both platforms ends in the final state."""

from __future__ import annotations

import json

from bot.people import ChatProfile
from bot.workflow import Outcome
from handlers.slack import ids as slack_ids
from handlers.slack.localslack import PostedMessage
from tests.teams.conftest import DANA, MARCUS, NINA, TeamsWorld
from tests.teams.support import card_text, link, request_card, submit_staff_request, verbs

NINA_SLACK = "U0NINA"
MARCUS_SLACK = "U0MARCUS"


def _slack_text(message: PostedMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def _has_buttons(message: PostedMessage) -> bool:
    return any(block.get("type") == "actions" for block in message.blocks)


async def test_slack_request_decided_in_teams(world: TeamsWorld) -> None:
    world.slack.add_user(NINA_SLACK, "nina", NINA.email, real_name="Nina Ortiz")
    world.slack.add_user(MARCUS_SLACK, "marcus", MARCUS.email, real_name="Marcus Lee")
    nina = world.services.people.link(
        ChatProfile("slack", NINA_SLACK, "T0LOCAL", "Nina Ortiz", NINA.email)
    )
    await link(world, DANA)
    submitted = world.services.workflow.submit(
        requester_id=nina.id,
        organization_id=world.riverbend,
        kind="staff",
        justification="Front desk eligibility checks",
        via="slack",
    )
    assert submitted.outcome is Outcome.DONE
    assert submitted.request is not None
    request_id = submitted.request.id
    await world.deliver()
    dana_card = request_card(world, DANA, request_id)
    [marcus_card] = world.slack.dm_messages(MARCUS_SLACK)
    assert _has_buttons(marcus_card)

    result = await world.teams.click(DANA, dana_card, "approve")
    await world.deliver()

    assert "✅ Approved by Dana Whitfield" in card_text(result.card)
    updated = world.slack.message(marcus_card.channel, marcus_card.ts)
    assert updated.update_count == 1
    assert "Approved" in _slack_text(updated)
    assert "Dana Whitfield" in _slack_text(updated)
    assert not _has_buttons(updated)
    notices = world.slack.dm_messages(NINA_SLACK)
    assert any(f"Your request {request_id}" in n.text and "approved" in n.text for n in notices)
    assert world.connector.card_messages(NINA.conversation_id) == []


async def test_teams_request_decided_in_slack(world: TeamsWorld) -> None:
    world.slack.add_user(MARCUS_SLACK, "marcus", MARCUS.email, real_name="Marcus Lee")
    await link(world, DANA)
    request_id = await submit_staff_request(world, NINA)
    await world.deliver()
    dana_card = request_card(world, DANA, request_id)
    [marcus_card] = world.slack.dm_messages(MARCUS_SLACK)

    response = await world.slack_sender.click(MARCUS_SLACK, marcus_card, slack_ids.APPROVE_ACTION)
    await world.deliver()

    assert response.status == 200
    request = world.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "approved"
    assert request.decided_via == "slack"
    teams_card = request_card(world, DANA, request_id)
    assert teams_card.update_count == 1
    assert "✅ Approved by Marcus Lee (marcus.lee@riverbend.example)" in card_text(teams_card.card)
    assert verbs(teams_card.card) == []
    slack_card = world.slack.message(marcus_card.channel, marcus_card.ts)
    assert not _has_buttons(slack_card)
    notice = world.connector.card_messages(NINA.conversation_id)[-1]
    assert f"Your request {request_id}" in card_text(notice.card)
    assert "approved" in card_text(notice.card)

    late = await world.teams.click(
        DANA, dana_card, "approve", card=dana_card.history[0]["attachments"][0]["content"]
    )
    assert f"{request_id} was already approved by Marcus Lee" in card_text(late.card)
    assert world.services.workflow.get(request_id).status == "approved"  # type: ignore[union-attr]
