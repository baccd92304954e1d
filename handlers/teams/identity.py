"""Find the Cosigner person behind a Teams user, and keep their chat's conversation reference.

An activity carries the sender's Teams id and display name, but no email. The Teams
member lookup (`GET {serviceUrl}/v3/conversations/{id}/members/{user id}`) returns
`email` and `userPrincipalName`, so an official known by email from the roster, or
from Slack, becomes the same person in Teams. The lookup runs once per account; later
activities only refresh the stored conversation reference.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity
from microsoft_agents.activity.teams import TeamsChannelAccount
from microsoft_agents.hosting.core import ConnectorClientBase, TurnContext

from bot.people import ChatProfile
from bot.records import PersonInfo
from handlers.teams.context import TEAMS_PROFILE_UNAVAILABLE, TeamsContext, UserFacingError

log = logging.getLogger(__name__)

PLATFORM = "teams"


def tenant_id(activity: Activity) -> str | None:
    """Return the Azure AD tenant of an activity, from the conversation or the channel data."""
    if activity.conversation is not None and activity.conversation.tenant_id:
        return str(activity.conversation.tenant_id)
    channel_data = activity.channel_data
    if isinstance(channel_data, dict):
        tenant = channel_data.get("tenant")
        if isinstance(tenant, dict) and tenant.get("id"):
            return str(tenant["id"])
    return None


def is_personal(activity: Activity) -> bool:
    """Return whether the activity comes from a one-to-one chat with the bot.

    Only a personal chat's reference is stored for a person: storing a team channel's
    would post their approval cards where the whole team reads them.
    """
    conversation = activity.conversation
    if conversation is None:
        return False
    return conversation.conversation_type in (None, "personal")


def conversation_reference(activity: Activity) -> dict[str, Any]:
    """Return the activity's conversation reference as JSON, without the activity id.

    The activity id names this one message, which a proactive message does not need.
    """
    reference = activity.get_conversation_reference().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    reference.pop("activityId", None)
    return reference


async def link_sender(ctx: TeamsContext, context: TurnContext) -> PersonInfo | None:
    """Return the person who sent this activity, linking or creating them as needed.

    Returns None for an activity with no sender. Raises UserFacingError when Teams
    could not tell who the sender is, or the database is down.
    """
    activity = context.activity
    account = activity.from_property
    if account is None or not account.id:
        return None
    reference = conversation_reference(activity) if is_personal(activity) else None
    known = await ctx.run(ctx.services.people.by_account, PLATFORM, account.id)
    if known is not None:
        stored = await ctx.run(ctx.store.account_conversation, PLATFORM, known.id)
        reachable = PLATFORM in known.accounts
        if reachable and (reference is None or reference == stored):
            return known
        profile = ChatProfile(
            platform=PLATFORM,
            user_id=account.id,
            workspace_id=tenant_id(activity),
            name=account.name or known.name,
            email=known.email,
        )
        return await ctx.run(ctx.services.people.link, profile, reference)

    member = await lookup_member(context, account.id)
    email = member.email or (
        member.user_principal_name if "@" in (member.user_principal_name or "") else None
    )
    profile = ChatProfile(
        platform=PLATFORM,
        user_id=account.id,
        workspace_id=tenant_id(activity) or member.tenant_id,
        name=member.name or account.name or account.id,
        email=email,
    )
    person = await ctx.run(ctx.services.people.link, profile, reference)
    log.info("Teams user linked user=%s person=%s by_email=%s", account.id, person.id, bool(email))
    return person


async def lookup_member(context: TurnContext, user_id: str) -> TeamsChannelAccount:
    """Look the user up among the conversation's members, for their email.

    A member the lookup does not know (404, as for anyone but the user in a one-to-one
    chat) comes back with no email. Other failures raise UserFacingError.
    """
    activity = context.activity
    connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    conversation_id = activity.conversation.id if activity.conversation else None
    fallback = TeamsChannelAccount(id=user_id, name=activity.from_property.name)
    if connector is None or not conversation_id:
        log.warning("no connector client for the member lookup user=%s", user_id)
        return fallback
    try:
        member = await connector.conversations.get_conversation_member(conversation_id, user_id)
    except aiohttp.ClientResponseError as error:
        if error.status == 404:
            log.warning(
                "member lookup found no member user=%s conversation=%s", user_id, conversation_id
            )
            return fallback
        log.warning(
            "member lookup failed user=%s conversation=%s status=%s",
            user_id,
            conversation_id,
            error.status,
        )
        raise UserFacingError(TEAMS_PROFILE_UNAVAILABLE) from error
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("member lookup failed user=%s error=%s", user_id, type(error).__name__)
        raise UserFacingError(TEAMS_PROFILE_UNAVAILABLE) from error
    return TeamsChannelAccount.model_validate(member.model_dump(by_alias=True, exclude_none=True))
