"""`/access people`: the organization's roles for its officials and admins, refused to others."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.invitations.conftest import command, grant_by_invitation
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OPS,
    OUTSIDER,
    RIVERBEND_NPI,
    person_id,
    submit_directly,
)


async def test_people_lists_roles_for_official(stack: LocalStack) -> None:
    person_id(stack, DANA)
    grant_by_invitation(stack, NINA)
    request_id = submit_directly(
        stack, OUTSIDER, kind="surrogacy", surrogate_org="Acme Billing", products=["PECOS", "NPPES"]
    )
    assert stack.services.workflow.approve(request_id, person_id(stack, DANA)).ok
    reply = await command(stack, MARCUS, "people")
    assert "People of Riverbend Family Clinic LLC" in reply
    assert "*Authorized Officials* (1)" in reply
    assert f"<@{DANA}>" in reply
    assert "*Delegated Officials* (1)" in reply
    assert "*Staff End Users* (1)" in reply
    assert f"<@{NINA}>" in reply
    assert "*Surrogacy connections* (1)" in reply
    assert "Acme Billing" in reply
    assert "PECOS, NPPES" in reply
    assert "since 2026-12-02" in reply


async def test_people_rejected_for_staff(stack: LocalStack) -> None:
    grant_by_invitation(stack, NINA)
    reply = await command(stack, NINA, f"people {RIVERBEND_NPI}")
    assert "Only the Authorized and Delegated Officials" in reply
    assert "Staff End Users" not in reply


async def test_people_rejected_for_outsider(stack: LocalStack) -> None:
    reply = await command(stack, OUTSIDER, "people")
    assert "cannot see an organization's people" in reply


async def test_people_for_admin_by_name(stack: LocalStack) -> None:
    reply = await command(stack, OPS, "people Lakeside Cardiology PC")
    assert "People of Lakeside Cardiology PC" in reply
    assert "Priya Raman" in reply
    assert "Tom Becker" in reply
