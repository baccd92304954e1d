"""Approve and Reject on Teams cards: Action.Execute, its Action.Submit fallback, and refusals."""

from __future__ import annotations

import pytest

from bot.workflow import Workflow
from handlers.teams.context import UNEXPECTED_ERROR
from tests.core.support import revoke_grants
from tests.teams.conftest import DANA, MARCUS, NINA, TeamsWorld
from tests.teams.support import (
    card_text,
    error_under,
    field_value,
    inputs,
    link,
    markdown_texts,
    outbox,
    plain_texts,
    request_card,
    submit_staff_request,
    verbs,
)

DECIDED_AT = "2026-12-02 15:00 UTC"


async def _pending_request(world: TeamsWorld, justification: str | None = None) -> str:
    """Link both Riverbend officials, have Nina submit a staff request, deliver its cards."""
    await link(world, DANA, MARCUS)
    if justification is None:
        request_id = await submit_staff_request(world, NINA)
    else:
        request_id = await submit_staff_request(world, NINA, justification)
    await world.deliver()
    return request_id


def _status(world: TeamsWorld, request_id: str) -> str:
    request = world.services.workflow.get(request_id)
    assert request is not None
    return str(request.status)


async def test_approve_updates_every_card(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    dana_card = request_card(world, DANA, request_id)

    result = await world.teams.click(DANA, dana_card, "approve")

    assert result.status == 200
    card = result.card
    assert "✅ Approved by Dana Whitfield (dana.whitfield@riverbend.example)" in card_text(card)
    assert verbs(card) == []
    assert _status(world, request_id) == "approved"
    request = world.services.workflow.get(request_id)
    assert request is not None
    assert request.decided_via == "teams"

    await world.deliver()

    marcus_card = request_card(world, MARCUS, request_id)
    assert marcus_card.update_count == 1
    assert "✅ Approved by Dana Whitfield" in card_text(marcus_card.card)
    assert verbs(marcus_card.card) == []
    assert f"/v3/conversations/{MARCUS.conversation_id}/activities/{marcus_card.id}" in [
        call.path for call in world.connector.puts()
    ]
    notices = world.connector.card_messages(NINA.conversation_id)
    notice = card_text(notices[-1].card)
    assert f"Your request {request_id} (Staff End User at Riverbend Family Clinic LLC)" in notice
    assert "approved" in notice


async def test_reject_asks_for_reason(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    dana_card = request_card(world, DANA, request_id)

    form = await world.teams.click(DANA, dana_card, "reject")

    assert _status(world, request_id) == "pending"
    assert inputs(form.card)["reason"]["isRequired"] is True
    assert verbs(form.card) == ["reject_confirm", "reject_cancel"]
    cancel = form.card["actions"][1]
    assert cancel["associatedInputs"] == "None"

    empty = await world.teams.click(
        DANA, dana_card, "reject_confirm", inputs={"reason": "  "}, card=form.card
    )
    assert error_under(empty.card, "reason") == "Write the reason: the requester will see it."
    assert _status(world, request_id) == "pending"

    rejected = await world.teams.click(
        DANA,
        dana_card,
        "reject_confirm",
        inputs={"reason": "Nina has no front desk shifts"},
        card=form.card,
    )
    assert "❌ Rejected by Dana Whitfield" in card_text(rejected.card)
    assert field_value(rejected.card, "Reason") == "Nina has no front desk shifts"
    assert _status(world, request_id) == "rejected"

    await world.deliver()
    marcus_card = request_card(world, MARCUS, request_id).card
    assert field_value(marcus_card, "Reason") == "Nina has no front desk shifts"
    notice = world.connector.card_messages(NINA.conversation_id)[-1].card
    assert "rejected" in card_text(notice)
    assert field_value(notice, "Reason") == "Nina has no front desk shifts"


async def test_reject_cancel_restores_card(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    dana_card = request_card(world, DANA, request_id)
    form = await world.teams.click(DANA, dana_card, "reject")

    restored = await world.teams.click(DANA, dana_card, "reject_cancel", card=form.card)

    assert verbs(restored.card) == ["approve", "reject"]
    assert _status(world, request_id) == "pending"


async def test_click_without_authority_changes_nothing(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    marcus_card = request_card(world, MARCUS, request_id)
    revoke_grants(world.services, world.person_id(MARCUS.email), world.riverbend)
    rows_before = len(outbox(world, request_id))
    puts_before = len(world.connector.puts())

    result = await world.teams.click(MARCUS, marcus_card, "approve")
    rejected = await world.teams.click(MARCUS, marcus_card, "reject")

    assert result.status == 200
    assert result.message == (
        "Only an Authorized Official or a Delegated Official of this organization can decide "
        "a Staff End User request. Nothing was changed."
    )
    assert rejected.message == result.message
    assert _status(world, request_id) == "pending"
    await world.deliver()
    assert len(outbox(world, request_id)) == rows_before
    assert len(world.connector.puts()) == puts_before


async def test_click_on_decided_request_names_winner(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    await world.teams.click(DANA, request_card(world, DANA, request_id), "approve")
    marcus_card = request_card(world, MARCUS, request_id)

    late = await world.teams.click(MARCUS, marcus_card, "reject")

    text = card_text(late.card)
    assert (
        f"{request_id} was already approved by Dana Whitfield "
        f"(dana.whitfield@riverbend.example) at {DECIDED_AT}." in text
    )
    assert verbs(late.card) == []
    assert _status(world, request_id) == "approved"
    await world.deliver()
    updated = request_card(world, MARCUS, request_id)
    assert updated.update_count >= 1
    assert "✅ Approved by Dana Whitfield" in card_text(updated.card)


async def test_submit_fallback_decides_and_updates(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    marcus_card = request_card(world, MARCUS, request_id)

    status = await world.teams.submit(MARCUS, marcus_card, "approve")

    assert status == 202
    assert _status(world, request_id) == "approved"
    updated = request_card(world, MARCUS, request_id)
    assert updated.update_count == 1
    assert "✅ Approved by Marcus Lee" in card_text(updated.card)


async def test_submit_fallback_reject_needs_reason(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)
    dana_card = request_card(world, DANA, request_id)

    await world.teams.submit(DANA, dana_card, "reject")
    form = world.connector.message(DANA.conversation_id, dana_card.id)
    assert "reason" in inputs(form.card)
    await world.teams.submit(
        DANA, form, "reject_confirm", inputs={"reason": "Not on the staff list"}
    )

    assert _status(world, request_id) == "rejected"
    final = world.connector.message(DANA.conversation_id, dana_card.id)
    assert field_value(final.card, "Reason") == "Not on the staff list"


async def test_broken_button_changes_nothing(world: TeamsWorld) -> None:
    request_id = await _pending_request(world)

    result = await world.teams.execute(DANA, "approve", {"request_id": "not-an-id"})
    unknown = await world.teams.execute(DANA, "escalate", {"request_id": request_id})

    assert result.message == "That button does not name a valid request. Nothing was changed."
    assert unknown.status == 200
    assert unknown.message == "That button is no longer supported. Nothing was changed."
    assert _status(world, request_id) == "pending"


async def test_user_text_never_markdown(world: TeamsWorld) -> None:
    sneaky = "See [the policy](https://evil.example/x) and **act now** <at>Everyone</at>"
    request_id = await _pending_request(world, justification=sneaky)

    card = request_card(world, DANA, request_id).card

    assert sneaky in plain_texts(card)
    assert all("evil.example" not in text for text in markdown_texts(card))


async def test_unexpected_error_sends_fixed_sentence(
    world: TeamsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = await _pending_request(world)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail that users must not see")

    monkeypatch.setattr(Workflow, "requests_of", broken)
    monkeypatch.setattr(Workflow, "approve", broken)
    [reply] = await world.teams.say(NINA, "status")
    result = await world.teams.click(DANA, request_card(world, DANA, request_id), "approve")

    assert reply.text == UNEXPECTED_ERROR
    assert result.status == 200
    assert result.message == UNEXPECTED_ERROR
    assert all("internal detail" not in str(m.activity) for m in world.connector.messages)
    assert _status(world, request_id) == "pending"
