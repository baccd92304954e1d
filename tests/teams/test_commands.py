"""Messages to the bot in Teams: help, linking, the request form, status, show, withdraw."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.domain import MAX_JUSTIFICATION_LENGTH
from storage.models import AccessRequest, Card
from tests.core.support import add_organization
from tests.teams.client import BOT_ID, TENANT_ID
from tests.teams.conftest import ADMIN_CONVERSATION, DANA, MARCUS, NINA, PRIYA, TeamsWorld
from tests.teams.schema import assert_valid_card
from tests.teams.support import (
    card_text,
    cards_of,
    error_under,
    field_value,
    inputs,
    link,
    request_card,
    request_form,
    submit_request,
    submit_staff_request,
    verbs,
)


def _request_count(world: TeamsWorld) -> int:
    with world.services.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AccessRequest)) or 0


# Help and linking ---------------------------------------------------------------


async def test_help_replies_with_card(world: TeamsWorld) -> None:
    replies = await world.teams.say(DANA, "help")

    assert len(replies) == 1
    card = replies[0].card
    assert_valid_card(card)
    text = card_text(card)
    assert "**request**" in text
    assert "**withdraw REQ-XXXXX**" in text
    assert "Access Manager" in text
    assert replies[0].activity["type"] == "message"


async def test_help_sends_no_typing(world: TeamsWorld) -> None:
    await world.teams.say(DANA, "help")
    await world.teams.say(DANA, "status")

    types = [m.activity.get("type") for m in world.connector.messages]
    assert types == ["message", "message"]


async def test_unknown_command_named(world: TeamsWorld) -> None:
    [reply] = await world.teams.say(DANA, "frobnicate now")

    assert reply.activity["textFormat"] == "plain"
    assert "“frobnicate” is not a Cosigner command" in reply.text
    assert "help" in reply.text


async def test_first_message_links_roster_person(world: TeamsWorld) -> None:
    dana = world.person_id(DANA.email)

    await world.teams.say(DANA, "hi")
    await world.teams.say(DANA, "help")

    linked = world.services.people.by_account("teams", DANA.id)
    assert linked is not None
    assert linked.id == dana
    assert linked.accounts["teams"] == DANA.id
    lookups = [c for c in world.connector.calls if c.method == "GET"]
    assert len(lookups) == 1
    reference = world.stored_conversation(dana)
    assert reference is not None
    assert reference["conversation"]["id"] == DANA.conversation_id
    assert reference["serviceUrl"] == world.connector.url
    assert reference["user"]["id"] == DANA.id
    assert "activityId" not in reference


async def test_unknown_email_makes_new_person(world: TeamsWorld) -> None:
    stranger = DANA.__class__("kim", "Kim Novak", "kim.novak@elsewhere.example")
    world.teams.join(stranger)

    await world.teams.say(stranger, "hi")

    person = world.services.people.by_account("teams", stranger.id)
    assert person is not None
    assert person.email == "kim.novak@elsewhere.example"
    assert person.name == "Kim Novak"


async def test_install_stores_chat_and_greets(world: TeamsWorld) -> None:
    status = await world.teams.install(MARCUS)

    assert status == 202
    marcus = world.person_id(MARCUS.email)
    reference = world.stored_conversation(marcus)
    assert reference is not None
    assert reference["conversation"]["id"] == MARCUS.conversation_id
    [greeting] = world.connector.messages_in(MARCUS.conversation_id)
    assert "Write **help**" in greeting.text


async def test_uninstall_marks_unreachable(world: TeamsWorld) -> None:
    await world.teams.install(MARCUS)
    removal = world.teams.activity(MARCUS, "installationUpdate", action="remove")

    status, _ = await world.teams.post(removal)

    assert status == 202
    person = world.services.people.by_account("teams", MARCUS.id)
    assert person is not None
    assert "teams" not in person.accounts


async def test_team_install_logs_conversation(
    world: TeamsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.teams.commands")
    world.connector.add_member(ADMIN_CONVERSATION, DANA.member())
    channel = {"conversationType": "channel", "tenantId": TENANT_ID, "id": ADMIN_CONVERSATION}
    activity = world.teams.activity(
        DANA, "conversationUpdate", membersAdded=[{"id": BOT_ID}], conversation=channel
    )

    status, _ = await world.teams.post(activity)

    assert status == 202
    assert f"Cosigner was added to a Teams conversation id={ADMIN_CONVERSATION}" in caplog.text
    assert world.connector.messages == []
    dana = world.services.people.by_account("teams", DANA.id)
    assert dana is not None
    assert dana.email == DANA.email
    assert world.stored_conversation(dana.id) is None


# The request form -----------------------------------------------------------------


async def test_request_form_lists_choices(world: TeamsWorld) -> None:
    form = await request_form(world, NINA)

    card = form.card
    assert_valid_card(card)
    fields = inputs(card)
    organizations = fields["organization"]
    assert organizations["type"] == "Input.ChoiceSet"
    assert [c["value"] for c in organizations["choices"]] == [
        str(world.lakeside),
        str(world.riverbend),
    ]
    assert organizations["choices"][1]["title"] == "Riverbend Family Clinic LLC · NPI 1234567893"
    roles = [c["title"] for c in fields["kind"]["choices"]]
    assert roles == ["Staff End User", "Surrogate", "Delegated Official", "Authorized Official"]
    assert fields["products"]["isMultiSelect"] is True
    assert [c["value"] for c in fields["products"]["choices"]] == ["PECOS", "NPPES", "EHR"]
    assert fields["justification"]["isMultiline"] is True
    [submit] = card["actions"]
    assert submit["type"] == "Action.Execute"
    assert submit["verb"] == "submit_request"
    assert submit["fallback"]["type"] == "Action.Submit"
    assert submit["fallback"]["data"] == {"verb": "submit_request"}


async def test_request_form_empty_shows_errors(world: TeamsWorld) -> None:
    _, result = await submit_request(world, NINA, justification="Billing questions")

    card = result.card
    assert error_under(card, "organization") == "Choose the organization you need access to."
    assert error_under(card, "kind") == "Choose the role you are requesting."
    assert error_under(card, "justification") is None
    assert inputs(card)["justification"]["value"] == "Billing questions"
    assert _request_count(world) == 0


async def test_request_form_surrogate_needs_firm(world: TeamsWorld) -> None:
    _, result = await submit_request(
        world,
        NINA,
        organization=str(world.riverbend),
        kind="surrogacy",
        justification="Billing firm",
    )

    card = result.card
    assert "surrogate firm or person" in (error_under(card, "surrogate_org") or "")
    assert "at least one product" in (error_under(card, "products") or "")
    assert error_under(card, "organization") is None
    assert inputs(card)["organization"]["value"] == str(world.riverbend)
    assert inputs(card)["kind"]["value"] == "surrogacy"
    assert _request_count(world) == 0


async def test_request_form_core_error_on_field(world: TeamsWorld) -> None:
    long_text = "x" * (MAX_JUSTIFICATION_LENGTH + 1)

    _, result = await submit_request(
        world, NINA, organization=str(world.riverbend), kind="staff", justification=long_text
    )

    error = error_under(result.card, "justification") or ""
    assert f"Justification is {MAX_JUSTIFICATION_LENGTH + 1:,} characters long" in error
    assert _request_count(world) == 0


async def test_request_form_duplicate_names_open_one(world: TeamsWorld) -> None:
    first = await submit_staff_request(world, NINA)

    _, again = await submit_request(
        world, NINA, organization=str(world.riverbend), kind="staff", justification="Again"
    )

    error = error_under(again.card, "kind") or ""
    assert first in error
    assert "already have a pending" in error
    assert _request_count(world) == 1


async def test_surrogate_request_submitted(world: TeamsWorld) -> None:
    _, result = await submit_request(
        world,
        NINA,
        organization=str(world.riverbend),
        kind="surrogacy",
        justification="Billing firm for claims",
        surrogate_org="Acme Billing LLC",
        products="PECOS,EHR",
        end_date="2027-06-30",
    )

    card = result.card
    assert field_value(card, "Surrogate organization") == "Acme Billing LLC"
    assert field_value(card, "Products") == "PECOS, EHR"
    assert field_value(card, "End date") == "2027-06-30"


async def test_submit_posts_cards_to_approvers(world: TeamsWorld) -> None:
    await link(world, DANA, MARCUS)

    _, result = await submit_request(
        world,
        NINA,
        organization=str(world.riverbend),
        kind="staff",
        justification="Front desk eligibility checks",
    )
    request_id = field_value(result.card, "Request id")
    assert "sent to 2 approver(s)" in card_text(result.card)
    delivered = await world.deliver()

    assert delivered == 2
    for user in (DANA, MARCUS):
        message = request_card(world, user, request_id)
        card = message.card
        assert field_value(card, "Requester") == "Nina Ortiz (nina.ortiz@riverbend.example)"
        assert field_value(card, "Organization") == "Riverbend Family Clinic LLC (NPI 1234567893)"
        assert "Front desk eligibility checks" in card_text(card)
        assert verbs(card) == ["approve", "reject"]
        for action in card["actions"]:
            assert action["data"]["request_id"] == request_id
            assert action["fallback"]["type"] == "Action.Submit"
            assert action["fallback"]["data"]["verb"] == action["verb"]
    rows = cards_of(world, request_id)
    assert sorted((c.platform, c.channel) for c in rows) == [
        ("teams", DANA.conversation_id),
        ("teams", MARCUS.conversation_id),
    ]
    assert all(isinstance(c, Card) and c.shown_status == "pending" for c in rows)
    assert world.slack.calls("chat.postMessage") == []


async def test_many_organizations_use_text_search(world: TeamsWorld) -> None:
    for number in range(100):
        add_organization(world.services, f"Clinic {number:03d} PC", "111111111", f"9{number:09d}")
    await link(world, DANA)

    form = await request_form(world, NINA)
    fields = inputs(form.card)
    assert "organization" not in fields
    assert fields["organization_query"]["type"] == "Input.Text"

    ambiguous = await world.teams.click(
        NINA,
        form,
        "submit_request",
        inputs={"organization_query": "Clinic", "kind": "staff", "justification": "Eligibility"},
    )
    error = error_under(ambiguous.card, "organization_query") or ""
    assert "matches" in error
    assert "Type more of the name, or the NPI" in error

    unknown = await world.teams.click(
        NINA,
        form,
        "submit_request",
        inputs={"organization_query": "Nowhere", "kind": "staff", "justification": "Eligibility"},
    )
    assert "No organization matches “Nowhere”" in (
        error_under(unknown.card, "organization_query") or ""
    )

    by_npi = await world.teams.click(
        NINA,
        form,
        "submit_request",
        inputs={"organization_query": "1234567893", "kind": "staff", "justification": "Desk"},
    )
    assert "Riverbend Family Clinic LLC" in field_value(by_npi.card, "Organization")

    by_name = await world.teams.click(
        NINA,
        form,
        "submit_request",
        inputs={"organization_query": "lakeside", "kind": "staff", "justification": "Desk"},
    )
    assert "Lakeside Cardiology PC" in field_value(by_name.card, "Organization")


# Status, show and withdraw ---------------------------------------------------------


async def test_status_lists_own_requests(world: TeamsWorld) -> None:
    request_id = await submit_staff_request(world, NINA)

    [reply] = await world.teams.say(NINA, "status")

    text = card_text(reply.card)
    assert request_id in text
    assert "⏳ Pending" in text


async def test_status_without_requests(world: TeamsWorld) -> None:
    [reply] = await world.teams.say(PRIYA, "status")

    assert "You have no requests yet" in card_text(reply.card)


async def test_show_prints_whole_justification(world: TeamsWorld) -> None:
    justification = "Eligibility checks. " * 100
    request_id = await submit_staff_request(world, NINA, justification=justification)

    [own] = await world.teams.say(NINA, f"show {request_id.lower()}")
    [approver] = await world.teams.say(DANA, f"show {request_id}")
    [stranger] = await world.teams.say(PRIYA, f"show {request_id}")
    [malformed] = await world.teams.say(NINA, "show 12")

    assert justification.strip() in card_text(own.card)
    assert justification.strip() in card_text(approver.card)
    assert stranger.text == f"Request {request_id} was not found among the requests you can see."
    assert "“12” is not a request id" in malformed.text


async def test_withdraw_updates_approver_cards(world: TeamsWorld) -> None:
    await link(world, DANA, MARCUS)
    request_id = await submit_staff_request(world, NINA)
    await world.deliver()

    [not_yours] = await world.teams.say(DANA, f"withdraw {request_id}")
    [done] = await world.teams.say(NINA, f"withdraw {request_id}")
    await world.deliver()

    assert not_yours.text == f"Request {request_id} was not found among your requests."
    assert done.text == f"You withdrew {request_id}. The approvers' cards now say so."
    for user in (DANA, MARCUS):
        card = request_card(world, user, request_id).card
        assert "↩️ Withdrawn by the requester" in card_text(card)
        assert verbs(card) == []


async def test_withdraw_without_id_explains(world: TeamsWorld) -> None:
    [reply] = await world.teams.say(NINA, "withdraw")

    assert reply.text == "Give the request id: withdraw REQ-XXXXX (write status to see yours)."


async def test_pending_lists_with_buttons(world: TeamsWorld) -> None:
    await link(world, DANA)
    request_id = await submit_staff_request(world, NINA)

    [reply] = await world.teams.say(DANA, "pending")
    card = reply.card
    assert "1 request(s) waiting for your decision" in card_text(card)
    assert verbs(card) == ["approve", "reject"]
    result = await world.teams.click(DANA, reply, "approve", request_id=request_id)

    text = card_text(result.card)
    assert f"You approved {request_id}." in text
    assert "Nothing is waiting for your decision." in text
    assert world.services.workflow.get(request_id).status == "approved"  # type: ignore[union-attr]


async def test_pending_empty_for_nurse(world: TeamsWorld) -> None:
    [reply] = await world.teams.say(NINA, "pending")

    assert "Nothing is waiting for your decision." in card_text(reply.card)
