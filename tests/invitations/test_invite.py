"""`/access invite`: who may invite whom, how the invitee is named, and what is refused."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.invitations.conftest import (
    audit_details,
    command,
    grant_by_invitation,
    invitation_card,
    invitation_count,
    invitation_id_in,
)
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    RIVERBEND_NPI,
    blocks_text,
    submit_directly,
)


async def test_invite_do_by_ao_sends_card(stack: LocalStack) -> None:
    reply = await command(stack, DANA, f"invite <@{NINA}|nina> DO")
    invitation_id = invitation_id_in(reply)
    assert "Delegated Official" in reply
    card = await invitation_card(stack, NINA, invitation_id)
    assert "invitation_accept" in blocks_text(card)
    assert "invitation_decline" in blocks_text(card)
    assert f"<@{DANA}>" in blocks_text(card)
    sent = audit_details(stack, "invitation.sent")
    assert [entry["invitation_id"] for entry in sent] == [invitation_id]
    assert sent[0]["role"] == "DO"


async def test_invite_staff_by_do(stack: LocalStack) -> None:
    reply = await command(stack, MARCUS, f"invite <@{NINA}> STAFF")
    card = await invitation_card(stack, NINA, invitation_id_in(reply))
    assert "Staff End User" in card.text
    assert f"<@{MARCUS}>" in blocks_text(card)


async def test_invite_by_email_finds_slack_account(stack: LocalStack) -> None:
    reply = await command(
        stack, DANA, f"invite nina.alvarez@riverbend.example staff {RIVERBEND_NPI}"
    )
    card = await invitation_card(stack, NINA, invitation_id_in(reply))
    assert "Riverbend Family Clinic LLC" in blocks_text(card)
    assert stack.slack.calls("users.lookupByEmail")


async def test_invite_email_without_slack_account_rejected(stack: LocalStack) -> None:
    reply = await command(stack, DANA, "invite ghost@riverbend.example staff")
    assert "No Slack account" in reply
    assert "ghost@riverbend.example" in reply
    assert stack.services.people.by_email("ghost@riverbend.example") is None
    assert invitation_count(stack) == 0


async def test_invite_plain_at_name_rejected(stack: LocalStack) -> None:
    reply = await command(stack, DANA, "invite @nina staff")
    assert "not as a mention" in reply
    assert invitation_count(stack) == 0


async def test_invite_do_by_do_rejected(stack: LocalStack) -> None:
    reply = await command(stack, MARCUS, f"invite <@{NINA}> DO")
    assert "A Delegated Official cannot invite another Delegated Official" in reply
    assert invitation_count(stack) == 0


async def test_invite_by_staff_rejected(stack: LocalStack) -> None:
    grant_by_invitation(stack, NINA)
    without_organization = await command(stack, NINA, f"invite <@{OUTSIDER}> staff")
    with_organization = await command(stack, NINA, f"invite <@{OUTSIDER}> staff {RIVERBEND_NPI}")
    assert "cannot invite anyone" in without_organization
    assert "Only an Authorized Official or a Delegated Official" in with_organization
    assert invitation_count(stack) == 1


async def test_invite_by_outsider_rejected(stack: LocalStack) -> None:
    reply = await command(stack, OUTSIDER, f"invite <@{NINA}> staff")
    assert "not an Authorized or Delegated Official of any organization" in reply
    assert invitation_count(stack) == 0


async def test_invite_ao_rejected(stack: LocalStack) -> None:
    reply = await command(stack, DANA, f"invite <@{NINA}> AO")
    assert "cannot be invited" in reply
    assert invitation_count(stack) == 0


async def test_invite_role_holder_names_grant(stack: LocalStack) -> None:
    earlier = grant_by_invitation(stack, NINA)
    reply = await command(stack, MARCUS, f"invite <@{NINA}> staff")
    assert "already is Staff End User" in reply
    assert earlier in reply
    assert invitation_count(stack) == 1


async def test_invite_open_invitation_names_it(stack: LocalStack) -> None:
    first = invitation_id_in(await command(stack, DANA, f"invite <@{NINA}> staff"))
    reply = await command(stack, MARCUS, f"invite <@{NINA}> staff")
    assert "already has an open invitation" in reply
    assert first in reply
    assert invitation_count(stack) == 1


async def test_invite_pending_request_names_it(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, kind="staff")
    reply = await command(stack, DANA, f"invite <@{NINA}> staff")
    assert request_id in reply
    assert invitation_count(stack) == 0


async def test_invite_official_of_two_names_organization(stack: LocalStack) -> None:
    row = (
        "organization,tin,npi,role,name,email,timezone\n"
        "Lakeside Cardiology PC,98-7654321,1555555550,DO,Dana Whitfield,"
        "dana.whitfield@riverbend.example,America/Chicago\n"
    )
    assert stack.services.roster.import_bytes(row.encode()).ok
    ambiguous = await command(stack, DANA, f"invite <@{NINA}> staff")
    named = await command(stack, DANA, f"invite <@{NINA}> staff Lakeside Cardiology PC")
    assert "official of 2 organizations" in ambiguous
    card = await invitation_card(stack, NINA, invitation_id_in(named))
    assert "Lakeside Cardiology PC" in blocks_text(card)
