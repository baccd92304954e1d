"""Invitations, removals and people lists in Slack.

`/access invite`, `/access remove` and `/access people` reply privately, in the
command's acknowledgement. The invitee's card carries Accept and Decline, and only
the invitee may answer. This module also renders the invitation cards and notices that
the transport delivers from the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.calendar import zone
from bot.delivery import CardInfo, DeliveryError, OutboxItem
from bot.domain import DEFAULT_TIMEZONE, Role, ValidationError, validate_email
from bot.invitations import (
    AO_REMOVAL_MESSAGE,
    MISSING_REASON_MESSAGE,
    InvitationInfo,
    InvitationResult,
    InvitationStatus,
    Member,
    PeopleResult,
    load_invitation,
    may_decide,
    normalize_invitation_id,
    parse_invite_role,
    parse_removal_roles,
    roles_label,
)
from bot.records import PersonInfo, RequestInfo
from bot.workflow import Outcome
from handlers.slack import blocks, ids
from handlers.slack.actions import click_origin, private_replier
from handlers.slack.context import SlackContext, UserFacingError
from handlers.slack.events import publish_home
from handlers.slack.identity import UnknownSlackUser
from handlers.slack.text import cut, escape, escape_cut, when

if TYPE_CHECKING:
    from handlers.slack.transport import SlackTransport

log = logging.getLogger(__name__)

Block = dict[str, Any]

INVITE_USAGE = "Usage: `/access invite @person DO|staff [organization NPI or name]`."
REMOVE_USAGE = (
    "Usage: `/access remove @person DO|staff|surrogate [organization NPI or name] REASON`."
)
PEOPLE_USAGE = "Usage: `/access people [organization NPI or name]`."

# A user mention as Slack escapes it in a slash command's text: <@U123|name> or <@U123>.
MENTION_PATTERN = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# The first word of a command's argument (a whole mention, which may contain spaces) and the rest.
FIRST_WORD_PATTERN = re.compile(r"^\s*(<@[^>]*>|\S+)\s*(.*)$", re.DOTALL)

# The card status recorded when an approver's card lost its buttons with their role.
NO_AUTHORITY_STATUS = "no_authority"

ROLE_DUTIES = {
    Role.DO: "A Delegated Official approves staff and surrogate requests and signs changes, "
    "updates and revalidations in PECOS. I&A now calls this role Access Manager.",
    Role.SEU: "A Staff End User works in PECOS, NPPES and the EHR programs for the "
    "organization and approves nothing.",
}

PEOPLE_GROUPS: tuple[tuple[str, tuple[Role, ...]], ...] = (
    ("Authorized Officials", (Role.AO,)),
    ("Delegated Officials", (Role.DO,)),
    ("Staff End Users", (Role.SEU,)),
    ("Surrogacy connections", (Role.SURROGATE, Role.SURROGATE_STAFF)),
)
# Slack accepts about 13,000 characters of block text per message. The people list
# stops below that and reports how many it left out.
PEOPLE_TEXT_BUDGET = 11_000
# Open invitations shown with buttons at the top of the Home tab.
HOME_INVITATION_LIMIT = 10


class TargetError(Exception):
    """The person a command names could not be found. The message explains why, as mrkdwn."""


# Finding the person a command names ---------------------------------------------------


async def resolve_target(
    ctx: SlackContext,
    client: AsyncWebClient,
    token: str,
    team_id: str | None,
    *,
    for_invitation: bool,
) -> PersonInfo:
    """Return the person named by a mention or an email. Raise TargetError if there is none.

    An invitee needs a working Slack account for their card. A person being removed
    need not have one: a roster official known only by email can still be removed.
    """
    mention = MENTION_PATTERN.match(token)
    if mention:
        try:
            person = await ctx.identity.resolve(client, mention.group(1), team_id)
        except UnknownSlackUser:
            raise TargetError(
                f"Slack could not find the user {escape(token)}: mention someone in this "
                "workspace, or give their email."
            ) from None
        except SQLAlchemyError as error:
            log.error("database error while resolving a mention: %s", error)
            raise UserFacingError(
                "Cosigner could not reach its database, so nothing was changed. "
                "Please try again in a minute."
            ) from error
        if for_invitation and "slack" not in person.accounts:
            raise TargetError(
                f"The Slack account of {escape(person.name)} is deactivated, so they cannot "
                "be invited."
            )
        return person
    if token.startswith("@"):
        raise TargetError(
            f"{escape(token[:80])} reached Cosigner as plain text, not as a mention: pick the "
            "person from Slack's @ menu, or give their email instead."
        )
    if "@" not in token:
        usage = INVITE_USAGE if for_invitation else REMOVE_USAGE
        raise TargetError(f"Name the person with an @mention or their email. {usage}")
    try:
        email = validate_email(token)
    except ValidationError as error:
        raise TargetError(escape(str(error))) from None
    if for_invitation:
        return await _invitee_by_email(ctx, client, email, team_id)
    known = await ctx.run(ctx.services.people.by_email, email)
    if known is None:
        raise TargetError(
            f"Nobody with the email {escape(email)} is known to Cosigner, so they hold no "
            "role to remove."
        )
    return known


async def _invitee_by_email(
    ctx: SlackContext, client: AsyncWebClient, email: str, team_id: str | None
) -> PersonInfo:
    """Return the person with this email, linking their Slack account.

    Nothing is stored when Slack has no account with that email.
    """
    known = await ctx.run(ctx.services.people.by_email, email)
    if known is not None and "slack" in known.accounts:
        return known
    try:
        response = await client.users_lookupByEmail(email=email)
    except SlackApiError as error:
        code = error.response.get("error")
        if code == "users_not_found":
            raise TargetError(
                f"No Slack account in this workspace uses {escape(email)}, so nobody was "
                "invited. Check the address, or invite them once they have joined Slack."
            ) from None
        log.warning("users.lookupByEmail failed error=%s", code)
        raise TargetError(
            f"Slack could not look up {escape(email)} ({escape(str(code))}), so nobody was "
            "invited. Please try again."
        ) from None
    user = response.get("user") or {}
    if user.get("deleted"):
        raise TargetError(
            f"The Slack account of {escape(email)} is deactivated, so they cannot be invited."
        )
    try:
        return await ctx.identity.resolve(client, str(user["id"]), team_id)
    except UnknownSlackUser:
        raise TargetError(
            f"Slack could not read the profile of {escape(email)}. Please try again."
        ) from None


def split_first_word(argument: str) -> tuple[str, str]:
    parsed = FIRST_WORD_PATTERN.match(argument or "")
    if parsed is None:
        return "", ""
    return parsed.group(1), parsed.group(2).strip()


# Commands ---------------------------------------------------------------------------


async def invite_reply(
    ctx: SlackContext, client: AsyncWebClient, body: dict[str, Any], argument: str
) -> dict[str, Any]:
    """Run `/access invite @person ROLE [organization]` and return the private reply."""
    target, rest = split_first_word(argument)
    role_word, _, organization_text = rest.partition(" ")
    if not target or not role_word:
        return {"text": f"Name the person and the role. {INVITE_USAGE}"}
    try:
        role = parse_invite_role(role_word)
    except ValidationError as error:
        return {"text": f"{escape(str(error))} {INVITE_USAGE}"}

    team_id = body.get("team_id")
    caller = await ctx.person(client, body["user_id"], team_id)
    invitations = ctx.services.invitations
    choice = await ctx.run(
        invitations.choose_organization, caller.id, organization_text, action="invite anyone"
    )
    if choice.organization is None:
        return {"text": escape(choice.message)}
    # Check the caller's authority before looking the invitee up, so a refused command
    # stores nobody.
    refusal = await ctx.run(invitations.invite_refusal, caller.id, role, choice.organization.id)
    if refusal is not None:
        return {"text": f"{escape(refusal)} Nothing was sent."}
    try:
        invitee = await resolve_target(ctx, client, target, team_id, for_invitation=True)
    except TargetError as error:
        return {"text": str(error)}

    result = await ctx.run(
        invitations.invite,
        inviter_id=caller.id,
        invitee_id=invitee.id,
        role=role,
        organization_id=choice.organization.id,
        via="slack",
    )
    if result.outcome is not Outcome.DONE or result.invitation is None:
        return {"text": escape(result.message)}
    ctx.wake_delivery()
    invitation = result.invitation
    return {
        "text": (
            f"You invited {blocks.person_label(invitation.invitee)} to be "
            f"*{invitation.role_label}* of {escape_cut(invitation.organization.legal_name, 400)} "
            f"({invitation.id}). They have until {when(invitation.expires_at)} to accept; you "
            "will get a message when they answer."
        )
    }


async def remove_reply(
    ctx: SlackContext, client: AsyncWebClient, body: dict[str, Any], argument: str
) -> dict[str, Any]:
    """Run `/access remove @person ROLE [organization] REASON` and return the private reply."""
    target, rest = split_first_word(argument)
    role_word, _, remainder = rest.partition(" ")
    if not target or not role_word:
        return {"text": f"Name the person, the role and the reason. {REMOVE_USAGE}"}
    try:
        roles = parse_removal_roles(role_word)
    except ValidationError as error:
        return {"text": f"{escape(str(error))} {REMOVE_USAGE}"}
    if Role.AO in roles:
        return {"text": AO_REMOVAL_MESSAGE}

    invitations = ctx.services.invitations
    organization_text, reason = await ctx.run(invitations.split_organization, remainder)
    # Slack sends &, < and > in a command's text as entities; store the reason as typed.
    reason = reason.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    if not reason:
        return {"text": f"{MISSING_REASON_MESSAGE} {REMOVE_USAGE}"}
    team_id = body.get("team_id")
    caller = await ctx.person(client, body["user_id"], team_id)
    choice = await ctx.run(
        invitations.choose_organization, caller.id, organization_text, action="remove anyone"
    )
    if choice.organization is None:
        return {"text": escape(choice.message)}
    try:
        person = await resolve_target(ctx, client, target, team_id, for_invitation=False)
    except TargetError as error:
        return {"text": str(error)}

    result = await ctx.run(
        invitations.remove,
        actor_id=caller.id,
        person_id=person.id,
        roles=roles,
        organization_id=choice.organization.id,
        reason=reason,
        via="slack",
    )
    if result.outcome is not Outcome.DONE:
        return {"text": escape(result.message)}
    ctx.wake_delivery()
    return {
        "text": (
            f"You removed {blocks.person_label(person)} as *{roles_label(result.roles)}* of "
            f"{escape_cut(choice.organization.legal_name, 400)}. They were told, with your "
            "reason."
        )
    }


async def people_reply(
    ctx: SlackContext, client: AsyncWebClient, body: dict[str, Any], argument: str
) -> dict[str, Any]:
    """Run `/access people [organization]` and return the private reply."""
    caller = await ctx.person(client, body["user_id"], body.get("team_id"))
    invitations = ctx.services.invitations
    choice = await ctx.run(
        invitations.choose_organization,
        caller.id,
        argument,
        action="see an organization's people",
    )
    if choice.organization is None:
        return {"text": f"{escape(choice.message)} {PEOPLE_USAGE}"}
    result = await ctx.run(invitations.people_of, caller.id, choice.organization.id)
    if result.outcome is not Outcome.DONE or result.organization is None:
        return {"text": escape(result.message)}
    return {
        "text": f"People of {escape_cut(result.organization.legal_name, 200)}",
        "blocks": people_blocks(result),
    }


# Accept and Decline -----------------------------------------------------------------


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.action(ids.INVITATION_ACCEPT_ACTION)
    async def accept(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await handle_answer(ctx, ack, body, client, respond, accept=True)

    @app.action(ids.INVITATION_DECLINE_ACTION)
    async def decline(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await handle_answer(ctx, ack, body, client, respond, accept=False)

    @app.event("user_change")
    async def user_changed(event: dict[str, Any]) -> None:
        # Needs the user_change event subscription (scope users:read) in the app manifest.
        user = event.get("user") or {}
        user_id = user.get("id")
        if not user_id:
            return
        try:
            flagged = await ctx.run(
                ctx.services.invitations.account_deactivated,
                "slack",
                str(user_id),
                bool(user.get("deleted")),
            )
        except UserFacingError:
            log.error("user_change not recorded user=%s: the database is unavailable", user_id)
            return
        if flagged:
            ctx.wake_delivery()


async def handle_answer(
    ctx: SlackContext,
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    *,
    accept: bool,
) -> None:
    """Record Accept or Decline before acking, so an acknowledged click is never lost.

    The button's value only names the invitation; who may answer is checked in the database.
    """
    user_id = body["user"]["id"]
    team_id = (body.get("team") or {}).get("id")
    action = (body.get("actions") or [{}])[0]
    channel, ts, in_home = click_origin(body)
    ctx.metrics.inc("cosigner_slack_clicks_total", action="accept" if accept else "decline")

    reply = private_replier(ctx, client, respond, user_id, team_id, channel, in_home)

    try:
        invitation_id = normalize_invitation_id(str(action.get("value") or "")[:40])
    except ValidationError:
        await ack()
        log.warning("click with a malformed invitation id user=%s", user_id)
        await reply("That button does not name a valid invitation. Nothing was changed.")
        return

    invitations = ctx.services.invitations
    answer = invitations.accept if accept else invitations.decline
    try:
        person = await ctx.person(client, user_id, team_id)
        result = await ctx.run(answer, invitation_id, person.id, via="slack")
    except UserFacingError as error:
        await ack()
        await reply(str(error))
        return
    await ack()
    ctx.metrics.inc("cosigner_invitation_answers_total", outcome=str(result.outcome))
    await after_answer(ctx, client, user_id, team_id, result, channel, ts, in_home, reply)


async def after_answer(
    ctx: SlackContext,
    client: AsyncWebClient,
    user_id: str,
    team_id: str | None,
    result: InvitationResult,
    channel: str | None,
    ts: str | None,
    in_home: bool,
    reply: Any,
) -> None:
    """Tell the clicker what happened, and bring a stale card up to date."""
    invitation = result.invitation
    if result.outcome is Outcome.DONE:
        ctx.wake_delivery()
        if in_home and invitation is not None:
            await publish_home(ctx, client, user_id, team_id, notice=answered_text(invitation))
        return
    if result.outcome is Outcome.NOT_ALLOWED and invitation is not None and invitation.is_open:
        # Someone other than the invitee clicked; the invitation is unchanged.
        await reply(f"{escape(result.message)} Nothing was changed.")
        return
    if invitation is not None and not invitation.is_open:
        if channel and ts:
            await ctx.run(ctx.services.workflow.refresh_card, "slack", channel, ts)
        ctx.wake_delivery()
    await reply(escape(result.message))


def answered_text(invitation: InvitationInfo) -> str:
    organization = escape_cut(invitation.organization.legal_name, 400)
    if invitation.status is InvitationStatus.ACCEPTED:
        return (
            f":white_check_mark: You accepted {invitation.id}: you are now "
            f"*{invitation.role_label}* of {organization}."
        )
    return f"You declined {invitation.id}."


# Rendering ----------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def answer_buttons(invitation_id: str, *, block_id: str = ids.INVITATION_BLOCK) -> Block:
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            {
                "type": "button",
                "action_id": ids.INVITATION_ACCEPT_ACTION,
                "text": {"type": "plain_text", "text": "Accept", "emoji": True},
                "style": "primary",
                "value": invitation_id,
            },
            {
                "type": "button",
                "action_id": ids.INVITATION_DECLINE_ACTION,
                "text": {"type": "plain_text", "text": "Decline", "emoji": True},
                "value": invitation_id,
            },
        ],
    }


def invitation_outcome(invitation: InvitationInfo) -> str:
    """Say how an invitation was closed: the status, when and why."""
    closed_at = when(invitation.decided_at)
    organization = escape_cut(invitation.organization.legal_name, 400)
    if invitation.status is InvitationStatus.ACCEPTED:
        return (
            f"*:white_check_mark: Accepted* at {closed_at}: you are "
            f"*{invitation.role_label}* of {organization}."
        )
    if invitation.status is InvitationStatus.DECLINED:
        return f"*:x: Declined* at {closed_at}."
    if invitation.status is InvitationStatus.EXPIRED:
        return f"*:alarm_clock: Expired* at {closed_at}: nobody answered in time."
    return (
        f"*:no_entry: Closed* at {closed_at}: {blocks.person_label(invitation.inviter)} no "
        "longer holds the authority to invite, so nothing was granted."
    )


def invitation_card(invitation: InvitationInfo, *, reminder: bool = False) -> dict[str, Any]:
    """Build the invitee's card: the invitation, and Accept and Decline while it is open."""
    organization = blocks.organization_label(invitation.organization)
    card: list[Block] = [blocks.header(f"Invitation {invitation.id}: {invitation.role_label}")]
    if reminder and invitation.is_open:
        card.append(
            blocks.section(":bell: *Reminder:* this invitation is still waiting for your answer.")
        )
    card.append(
        blocks.section(
            f"{blocks.person_label(invitation.inviter)} invites you to be "
            f"*{invitation.role_label}* of {organization}.\n{ROLE_DUTIES.get(invitation.role, '')}"
        )
    )
    card.append(
        {
            "type": "section",
            "fields": [
                _mrkdwn(cut(f"*Organization*\n{organization}", blocks.FIELD_LIMIT)),
                _mrkdwn(f"*Role*\n{invitation.role_label}"),
                _mrkdwn(
                    cut(
                        f"*Invited by*\n{blocks.person_label(invitation.inviter)}",
                        blocks.FIELD_LIMIT,
                    )
                ),
                _mrkdwn(f"*Invitation id*\n`{invitation.id}`"),
            ],
        }
    )
    if invitation.is_open:
        card.append(answer_buttons(invitation.id))
        card.append(
            blocks.context(
                f"Open until {when(invitation.expires_at)}. Accepting grants the role at once."
            )
        )
    else:
        card.append(blocks.section(invitation_outcome(invitation)))
    name = escape_cut(invitation.organization.legal_name, 200)
    verdict = "" if invitation.is_open else f" ({invitation.status})"
    fallback = f"Invitation {invitation.id}: {invitation.role_label} at {name}{verdict}"
    return {"text": fallback, "blocks": card}


def invitation_notice(invitation: InvitationInfo, event: str, audience: str) -> dict[str, Any]:
    """Build the notice of an invitation's outcome for the inviter, or of its expiry for the
    invitee."""
    organization = escape_cut(invitation.organization.legal_name, 400)
    invitee = blocks.person_label(invitation.invitee)
    role = invitation.role_label
    closed_at = when(invitation.decided_at)
    if audience == "invitee":
        text = (
            f":alarm_clock: The invitation {invitation.id} from "
            f"{blocks.person_label(invitation.inviter)} to be *{role}* of {organization} "
            f"expired at {closed_at}. Ask them for a new one if you still need access."
        )
        return {"text": text, "blocks": [blocks.section(text)]}
    lines = {
        "accepted": f":white_check_mark: {invitee} accepted your invitation {invitation.id} "
        f"and is now *{role}* of {organization}.",
        "declined": f":x: {invitee} declined your invitation {invitation.id} to be *{role}* "
        f"of {organization}.",
        "expired": f":alarm_clock: Your invitation {invitation.id} to {invitee} ({role} of "
        f"{organization}) expired unanswered at {closed_at}.",
        "cancelled": f":no_entry: {invitee} tried to accept your invitation {invitation.id}, "
        f"but you no longer hold the authority to invite a {role} at {organization}, so it "
        "was closed and nothing was granted.",
    }
    text = lines.get(event, f"Your invitation {invitation.id} is now {invitation.status}.")
    return {"text": text, "blocks": [blocks.section(text)]}


def removal_notice(payload: dict[str, Any], removed_by: PersonInfo | None) -> dict[str, Any]:
    """Build the notice of a removal: the role, the organization, who removed it and why."""
    roles = roles_label([Role(role) for role in payload.get("roles", [])]) or "a role"
    organization = escape_cut(str(payload.get("organization", "an organization")), 400)
    who = blocks.person_label(removed_by) if removed_by else "A Cosigner admin"
    text = f":no_entry: {who} removed you as *{roles}* of {organization}."
    surrogate_orgs = [str(name) for name in payload.get("surrogate_orgs", [])]
    if surrogate_orgs:
        text += " Surrogacy for: " + ", ".join(escape_cut(name, 200) for name in surrogate_orgs)
    reason = escape_cut(str(payload.get("reason", "")), 2000)
    quoted = "\n".join("> " + line if line else ">" for line in reason.split("\n"))
    return {
        "text": text,
        "blocks": [blocks.section(text), blocks.section("*Reason*\n" + quoted)],
    }


def member_line(member: Member, timezone: str) -> str:
    try:
        local_zone = zone(timezone)
    except ValueError:
        local_zone = zone(DEFAULT_TIMEZONE)
    line = f"• {blocks.person_label(member.person)}"
    if member.role is Role.SURROGATE_STAFF:
        line += " (surrogate staff)"
    if member.surrogate_org:
        line += f" for *{escape_cut(member.surrogate_org, 200)}*"
    if member.products:
        line += ": " + ", ".join(member.products)
    return line + f", since {member.since.astimezone(local_zone):%Y-%m-%d}"


def people_blocks(result: PeopleResult) -> list[Block]:
    """Build the list of an organization's AOs, DOs, staff and surrogacy connections.

    The list stays within Slack's limits on blocks and text, and counts what it left out.
    """
    organization = result.organization
    assert organization is not None
    listing: list[Block] = [
        blocks.header(f"People of {organization.legal_name}"),
        blocks.context(
            f"NPI {', '.join(organization.npis) or 'none'} · dates in "
            f"{escape(organization.timezone)}"
        ),
    ]
    budget = PEOPLE_TEXT_BUDGET
    # Room for the last group's section and the "more not shown" line.
    max_sections = blocks.MESSAGE_BLOCK_LIMIT - 2
    left_out = 0
    for title, roles in PEOPLE_GROUPS:
        members = [m for m in result.members if m.role in roles]
        text = f"*{title}* ({len(members)})" + ("" if members else "\nnone")
        for index, member in enumerate(members):
            line = member_line(member, organization.timezone)
            if len(text) + 1 + len(line) > blocks.SECTION_LIMIT:
                listing.append(blocks.section(text))
                budget -= len(text)
                text = ""
            if len(text) + len(line) > budget or len(listing) >= max_sections:
                left_out += len(members) - index
                break
            text = f"{text}\n{line}" if text else line
        if text and len(listing) <= max_sections:
            listing.append(blocks.section(text))
            budget -= len(text)
    if left_out:
        listing.append(blocks.context(f"{left_out} more not shown: Slack limits message size."))
    return listing


def home_invitation_blocks(invitations: Sequence[InvitationInfo]) -> list[Block]:
    """Build the Home tab's "Invitations for you" section, or nothing when there are none."""
    if not invitations:
        return []
    section: list[Block] = [blocks.header("Invitations for you")]
    for invitation in invitations[:HOME_INVITATION_LIMIT]:
        section.append(
            blocks.section(
                f"*{invitation.id}* · {invitation.role_label} of "
                f"{blocks.organization_label(invitation.organization)}\n"
                f"From {blocks.person_label(invitation.inviter)}, open until "
                f"{when(invitation.expires_at)}"
            )
        )
        section.append(answer_buttons(invitation.id, block_id=f"invitation:{invitation.id}"))
    if len(invitations) > HOME_INVITATION_LIMIT:
        more = len(invitations) - HOME_INVITATION_LIMIT
        section.append(blocks.context(f"{more} more: answer these first, then look again."))
    section.append(blocks.divider())
    return section


def add_invitations_to_home(
    view: dict[str, Any], invitations: Sequence[InvitationInfo], *, position: int
) -> dict[str, Any]:
    """Insert the open invitations into a Home view at `position`, keeping Slack's 100 blocks."""
    extra = home_invitation_blocks(invitations)
    if extra:
        existing = view["blocks"]
        view["blocks"] = (existing[:position] + extra + existing[position:])[
            : blocks.VIEW_BLOCK_LIMIT
        ]
    return view


# Delivery (called by the Slack transport) ---------------------------------------------


async def _invitation(transport: SlackTransport, invitation_id: str | None) -> InvitationInfo:
    if invitation_id is None:
        raise DeliveryError("no_invitation", permanent=True)
    invitation = await asyncio.to_thread(load_invitation, transport.store.db, invitation_id)
    if invitation is None:
        raise DeliveryError("invitation_not_found", permanent=True)
    return invitation


async def post_invitation(transport: SlackTransport, item: OutboxItem) -> None:
    """Post the invitee's card, or its reminder copy, and save it so it is updated later."""
    invitation = await _invitation(transport, item.invitation_id)
    reminder = bool(item.payload.get("reminder"))
    if reminder and not invitation.is_open:
        # Answered or expired after the sweep queued the reminder.
        return
    response = await transport._dm(item, invitation_card(invitation, reminder=reminder))
    await asyncio.to_thread(
        transport.store.save_card,
        platform="slack",
        channel=str(response.get("channel")),
        message_id=str(response.get("ts")),
        shown_status=str(invitation.status),
        person_id=item.person_id,
        invitation_id=invitation.id,
    )


async def update_invitation_card(transport: SlackTransport, card: CardInfo) -> None:
    invitation = await _invitation(transport, card.invitation_id)
    if card.shown_status == str(invitation.status):
        # An earlier update already showed this state; only the latest state matters.
        return
    message = invitation_card(invitation)
    await transport._call("chat.update", channel=card.channel, ts=card.message_id, **message)
    await asyncio.to_thread(transport.store.mark_card_shown, card.id, str(invitation.status))


async def notify_invitation(transport: SlackTransport, item: OutboxItem) -> None:
    invitation = await _invitation(transport, item.invitation_id)
    event = str(item.payload.get("event", invitation.status))
    audience = str(item.payload.get("audience", "inviter"))
    await transport._dm(item, invitation_notice(invitation, event, audience))


async def notify_removal(transport: SlackTransport, item: OutboxItem) -> None:
    removed_by_id = item.payload.get("removed_by_id")
    removed_by = None
    if removed_by_id is not None:
        removed_by = await asyncio.to_thread(transport.store.person, int(removed_by_id))
    await transport._dm(item, removal_notice(item.payload, removed_by))


async def request_card_state(
    transport: SlackTransport, card: CardInfo, request: RequestInfo
) -> tuple[dict[str, Any], str]:
    """Render an approver's request card and the status it shows.

    A pending card whose approver may no longer decide loses its buttons and explains why.
    """
    if request.is_pending and card.person_id is not None:
        allowed = await asyncio.to_thread(
            may_decide, transport.store.db, request.id, card.person_id
        )
        if not allowed:
            return blocks.request_card(request, approver_removed=True), NO_AUTHORITY_STATUS
    return blocks.request_card(request), str(request.status)
