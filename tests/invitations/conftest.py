"""Helpers for the invitation and removal tests, on the real server and the local Slack.

The `stack` fixture of tests/slack is re-exported here, so each test gets a running
Cosigner with the sample roster. Dana (AO) and Marcus (DO) are officials of Riverbend,
Priya (AO) and Tom (DO) of Lakeside. Nina, Omar and the admin Ops hold no role.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from bot.domain import Role
from bot.localstack import LocalStack
from handlers.slack.localslack import OpenedView, PostedMessage
from storage.models import AuditEntry, Grant, Invitation
from tests.slack.conftest import (
    DANA,
    RIVERBEND_NPI,
    organization_id,
    person_id,
    reply_text,
    stack,
)

__all__ = ["stack"]

INVITATION_ID = re.compile(r"INV-[23456789A-HJ-NP-TV-Z]{5}")


async def command(stack: LocalStack, user_id: str, text: str) -> str:
    """Send `/access TEXT` as the user and return the private reply."""
    return reply_text(await stack.sender.slash_command(user_id, text))


def invitation_id_in(text: str) -> str:
    found = INVITATION_ID.search(text)
    assert found is not None, f"no invitation id in {text!r}"
    return found.group(0)


async def invitation_card(stack: LocalStack, user_id: str, invitation_id: str) -> PostedMessage:
    """Wait for the user's first direct message about the invitation: its card."""

    def find() -> PostedMessage | None:
        for message in stack.slack.dm_messages(user_id):
            if invitation_id in message.text:
                return message
        return None

    return await stack.slack.wait_for(find)


async def invite(
    stack: LocalStack, inviter: str, invitee: str, role: str, organization: str = ""
) -> tuple[str, PostedMessage]:
    """Invite through `/access invite`. Return the invitation id and the invitee's card."""
    reply = await command(stack, inviter, f"invite <@{invitee}> {role} {organization}".strip())
    invitation_id = invitation_id_in(reply)
    return invitation_id, await invitation_card(stack, invitee, invitation_id)


def grant_by_invitation(
    stack: LocalStack, user_id: str, role: str = "SEU", inviter: str = DANA
) -> str:
    """Give a user a role at Riverbend through an accepted invitation. Return its id."""
    invitations = stack.services.invitations
    invitee = person_id(stack, user_id)
    sent = invitations.invite(
        inviter_id=person_id(stack, inviter),
        invitee_id=invitee,
        role=Role(role),
        organization_id=organization_id(stack),
    )
    assert sent.invitation is not None, sent.message
    accepted = invitations.accept(sent.invitation.id, invitee)
    assert accepted.ok, accepted.message
    return sent.invitation.id


def roles_of(stack: LocalStack, user_id: str, npi: str = RIVERBEND_NPI) -> set[str]:
    with stack.services.db.transaction() as session:
        rows = session.scalars(
            select(Grant.role).where(
                Grant.person_id == person_id(stack, user_id),
                Grant.organization_id == organization_id(stack, npi),
                Grant.revoked_at.is_(None),
            )
        )
        return set(rows)


def audit_details(stack: LocalStack, action: str) -> list[dict[str, Any]]:
    """Return the details of every audit entry with this action, oldest first."""
    with stack.services.db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
        return [dict(entry.details) for entry in entries]


def invitation_count(stack: LocalStack) -> int:
    with stack.services.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Invitation)) or 0


def invitation_status(stack: LocalStack, invitation_id: str) -> str:
    invitation = stack.services.invitations.get(invitation_id)
    assert invitation is not None
    return str(invitation.status)


async def private_reply(stack: LocalStack, user_id: str, expected: str) -> str:
    """Wait for an ephemeral message to the user that contains `expected`. Return its text."""

    def find() -> str | None:
        for ephemeral in stack.slack.ephemerals(user_id):
            if expected in ephemeral.text:
                return ephemeral.text
        return None

    return await stack.slack.wait_for(find)


async def open_home_tab(stack: LocalStack, user_id: str) -> OpenedView:
    """Open the user's Home tab and return the view the bot published there."""
    published = len(stack.slack.calls("views.publish"))
    response = await stack.sender.app_home_opened(user_id)
    assert response.status == 200
    await stack.slack.wait_for(lambda: len(stack.slack.calls("views.publish")) > published)
    home = stack.slack.home_view(user_id)
    assert home is not None
    return stack.slack.view(home["id"])
