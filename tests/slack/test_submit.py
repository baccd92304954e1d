"""What a submitted request does: the confirmation, the approvers' cards, the admin alert."""

from __future__ import annotations

from bot.clock import FixedClock
from bot.localstack import ADMIN_CHANNEL, LocalStack
from storage.models import Organization, OrganizationNpi
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    OPS,
    PRIYA,
    TOM,
    blocks_text,
    card_for,
    request_access,
    valid_npi,
    wait_until_delivered,
)

LAKESIDE_NPI = "1555555550"
# An organization added without a roster, so it has no AO and no DO.
QUIET_VALLEY_NPI = valid_npi(400000001)


async def test_submit_confirms_in_modal(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    views = stack.slack.open_views(NINA)
    assert request_id in blocks_text(views[-1].view)
    assert "submitted" in blocks_text(views[-1].view)


async def test_card_names_organization(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    assert "Riverbend Family Clinic LLC" in blocks_text(card)


async def test_card_names_role_requested(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    assert "*Role requested*\\nStaff End User" in blocks_text(card)


async def test_card_names_requester(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    assert f"*Requester*\\n<@{NINA}>" in blocks_text(card)


async def test_card_quotes_justification(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, justification="Verify patient eligibility")
    card = await card_for(stack, DANA, request_id)
    assert "> Verify patient eligibility" in blocks_text(card)


async def test_card_shows_request_id(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    assert f"*Request id*\\n`{request_id}`" in blocks_text(card)


async def test_card_has_decision_buttons(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    actions = next(block for block in card.blocks if block["type"] == "actions")
    labels = [element["text"]["text"] for element in actions["elements"]]
    assert labels == ["Approve", "Reject"]


async def test_surrogate_card_lists_products(stack: LocalStack) -> None:
    request_id = await request_access(
        stack,
        NINA,
        kind="surrogacy",
        surrogate_org="Acme Billing Services LLC",
        products=["PECOS", "EHR"],
    )
    card = await card_for(stack, MARCUS, request_id)
    assert "*Products*\\nPECOS, EHR" in blocks_text(card)
    assert "Acme Billing Services LLC" in blocks_text(card)


async def test_card_reaches_every_official(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, npi=LAKESIDE_NPI)
    assert await card_for(stack, PRIYA, request_id)
    assert await card_for(stack, TOM, request_id)


async def test_card_skips_other_organizations(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, npi=LAKESIDE_NPI)
    await card_for(stack, PRIYA, request_id)
    await card_for(stack, TOM, request_id)
    await wait_until_delivered(stack, request_id)
    assert not [m for m in stack.slack.dm_messages(DANA) if request_id in m.text]


async def test_ao_own_request_skips_ao(stack: LocalStack) -> None:
    request_id = await request_access(stack, DANA)
    await card_for(stack, MARCUS, request_id)
    await wait_until_delivered(stack, request_id)
    assert not [m for m in stack.slack.dm_messages(DANA) if request_id in m.text]


async def test_do_appointment_skips_do(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, kind="delegated_official")
    await card_for(stack, DANA, request_id)
    await wait_until_delivered(stack, request_id)
    assert not [m for m in stack.slack.dm_messages(MARCUS) if request_id in m.text]


async def test_ao_designation_goes_to_admin(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, kind="authorized_official")
    card = await card_for(stack, OPS, request_id)
    assert "Authorized Official" in blocks_text(card)


async def test_no_approver_alerts_admin_channel(stack: LocalStack) -> None:
    # Dana is Riverbend's only AO, and only an AO may appoint a DO.
    request_id = await request_access(stack, DANA, kind="delegated_official")
    alerts = await stack.slack.wait_for(lambda: stack.slack.messages(ADMIN_CHANNEL))
    assert request_id in alerts[0].text
    assert "nobody in Cosigner may approve it" in alerts[0].text


async def test_no_approver_says_so_in_modal(stack: LocalStack) -> None:
    await request_access(stack, DANA, kind="delegated_official")
    views = stack.slack.open_views(DANA)
    assert "admins were told" in blocks_text(views[-1].view)


async def test_ao_designation_without_admin_alerts(stack: LocalStack) -> None:
    stack.services.people.remove_admin("ops@example.org")
    request_id = await request_access(stack, NINA, kind="authorized_official")
    alerts = await stack.slack.wait_for(lambda: stack.slack.messages(ADMIN_CHANNEL))
    assert request_id in alerts[0].text


async def test_request_with_approvers_alerts_nobody(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    await card_for(stack, DANA, request_id)
    await wait_until_delivered(stack, request_id)
    assert not stack.slack.messages(ADMIN_CHANNEL)


async def test_organization_without_officials_alerts(stack: LocalStack, clock: FixedClock) -> None:
    with stack.services.db.transaction() as session:
        organization = Organization(
            legal_name="Quiet Valley Clinic", tin="111223333", created_at=clock.now()
        )
        session.add(organization)
        session.flush()
        session.add(OrganizationNpi(npi=QUIET_VALLEY_NPI, organization_id=organization.id))
    request_id = await request_access(stack, NINA, npi=QUIET_VALLEY_NPI)
    alerts = await stack.slack.wait_for(lambda: stack.slack.messages(ADMIN_CHANNEL))
    assert request_id in alerts[0].text
