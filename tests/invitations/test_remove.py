"""`/access remove` and `cosigner grant revoke`: who may remove whom, the notice, the cards."""

from __future__ import annotations

from bot.cli import build_parser, dispatch
from bot.localstack import ADMIN_CHANNEL, LocalStack
from tests.invitations.conftest import (
    audit_details,
    command,
    grant_by_invitation,
    roles_of,
)
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OUTSIDER,
    PRIYA,
    RIVERBEND_NPI,
    blocks_text,
    card_for,
    person_id,
    submit_directly,
    wait_for_card_text,
    wait_for_dm,
)


async def admin_alert(stack: LocalStack, expected: str) -> str:
    def find() -> str | None:
        for message in stack.slack.messages(ADMIN_CHANNEL):
            if expected in message.text:
                return message.text
        return None

    return await stack.slack.wait_for(find)


async def test_remove_do_by_ao_tells_person(stack: LocalStack) -> None:
    reply = await command(stack, DANA, f"remove <@{MARCUS}> DO Left the practice in November")
    assert "You removed" in reply
    told = await wait_for_dm(stack, MARCUS, "removed you")
    assert "Delegated Official" in told.text
    assert "Left the practice in November" in blocks_text(told)
    assert roles_of(stack, MARCUS) == set()
    revoked = audit_details(stack, "grant.revoked")
    assert len(revoked) == 1
    assert revoked[0]["roles"] == ["DO"]
    assert revoked[0]["reason"] == "Left the practice in November"


async def test_remove_staff_by_do_names_organization(stack: LocalStack) -> None:
    grant_by_invitation(stack, NINA)
    reply = await command(
        stack, MARCUS, f"remove <@{NINA}> staff Riverbend Family Clinic LLC Moved to billing"
    )
    assert "You removed" in reply
    assert roles_of(stack, NINA) == set()
    assert audit_details(stack, "grant.revoked")[0]["reason"] == "Moved to billing"


async def test_remove_surrogate_by_do_revokes_request(stack: LocalStack) -> None:
    request_id = submit_directly(
        stack, OUTSIDER, kind="surrogacy", surrogate_org="Acme Billing", products=["PECOS"]
    )
    assert stack.services.workflow.approve(request_id, person_id(stack, DANA)).ok
    reply = await command(
        stack, MARCUS, f"remove <@{OUTSIDER}> surrogate {RIVERBEND_NPI} Contract ended"
    )
    assert "You removed" in reply
    told = await wait_for_dm(stack, OUTSIDER, "removed you")
    assert "Acme Billing" in told.text
    request = stack.services.workflow.get(request_id)
    assert request is not None
    assert request.status == "revoked"
    assert roles_of(stack, OUTSIDER) == set()


async def test_remove_ao_rejected(stack: LocalStack) -> None:
    reply = await command(stack, DANA, f"remove <@{PRIYA}> AO 1555555550 Retired")
    assert "cosigner grant revoke" in reply
    assert roles_of(stack, PRIYA, "1555555550") == {"AO"}


async def test_remove_without_reason_rejected(stack: LocalStack) -> None:
    bare = await command(stack, DANA, f"remove <@{MARCUS}> DO")
    with_organization = await command(stack, DANA, f"remove <@{MARCUS}> DO {RIVERBEND_NPI}")
    assert "reason is missing" in bare
    assert "reason is missing" in with_organization
    assert roles_of(stack, MARCUS) == {"DO"}


async def test_remove_do_by_do_rejected(stack: LocalStack) -> None:
    grant_by_invitation(stack, NINA, role="DO")
    reply = await command(stack, MARCUS, f"remove <@{NINA}> DO Not needed")
    assert "A Delegated Official cannot remove another Delegated Official" in reply
    assert roles_of(stack, NINA) == {"DO"}


async def test_remove_by_staff_rejected(stack: LocalStack) -> None:
    grant_by_invitation(stack, NINA)
    reply = await command(stack, NINA, f"remove <@{MARCUS}> DO {RIVERBEND_NPI} Not needed")
    assert "Only an Authorized Official of Riverbend Family Clinic LLC" in reply
    assert roles_of(stack, MARCUS) == {"DO"}


async def test_remove_do_updates_open_cards(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, kind="staff")
    dana_card = await card_for(stack, DANA, request_id)
    marcus_card = await card_for(stack, MARCUS, request_id)
    await command(stack, DANA, f"remove <@{MARCUS}> DO Left the practice")
    updated = await wait_for_card_text(stack, marcus_card, "no longer hold a role")
    assert "request_approve" not in blocks_text(updated)
    assert "request_approve" in blocks_text(stack.slack.message(dana_card.channel, dana_card.ts))


async def test_grant_revoke_last_ao_alerts_admins(stack: LocalStack) -> None:
    arguments = [
        "grant",
        "revoke",
        "dana.whitfield@riverbend.example",
        "AO",
        "--organization",
        RIVERBEND_NPI,
        "--reason",
        "Retired",
    ]
    assert dispatch(build_parser().parse_args(arguments), stack.services) == 0
    await stack.deliver()
    alert = await admin_alert(stack, "Riverbend Family Clinic LLC")
    assert "no reachable Authorized Official" in alert
    told = await wait_for_dm(stack, DANA, "removed you")
    assert "A Cosigner admin" in told.text
    assert roles_of(stack, DANA) == set()
    assert audit_details(stack, "grant.revoked")[0]["via"] == "cli"


async def test_deactivated_last_ao_alerts_admins(stack: LocalStack) -> None:
    person_id(stack, DANA)
    stack.slack.deactivate_user(DANA)
    response = await stack.sender.event(
        {"type": "user_change", "user": {"id": DANA, "deleted": True}}
    )
    assert response.status == 200
    alert = await admin_alert(stack, "Riverbend Family Clinic LLC")
    assert "no reachable Authorized Official" in alert
