"""Messages people write to the bot: help, request, status, pending, show ID, withdraw ID.

A message with no text but a `value` is an Action.Submit from a card, which older
clients send in place of an Action.Execute. It goes to the same handlers as the
buttons, and their reply replaces the card the button was on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import TurnContext

from bot.domain import ValidationError, normalize_request_id
from bot.workflow import Outcome
from handlers.teams import actions, cards, ids
from handlers.teams.context import TeamsContext, UserFacingError, sender
from handlers.teams.identity import PLATFORM, is_personal
from handlers.teams.text import cut

log = logging.getLogger(__name__)

USAGE = "Write help to see every command."


async def on_message(ctx: TeamsContext, context: TurnContext) -> None:
    activity = context.activity
    if not (activity.text or "").strip() and isinstance(activity.value, Mapping):
        await on_card_submit(ctx, context, activity.value)
        return
    text = " ".join((activity.text or "").split())
    command, _, argument = text.partition(" ")
    command = command.lower().lstrip("/")
    ctx.metrics.inc("cosigner_teams_commands_total", command=command or "help")
    try:
        reply = await run_command(ctx, context, command, argument)
    except UserFacingError as error:
        reply = cards.plain_activity(str(error))
    await context.send_activity(reply)


async def run_command(
    ctx: TeamsContext, context: TurnContext, command: str, argument: str
) -> Activity:
    if command in ("", "help", "hi", "hello"):
        return cards.card_activity(cards.help_card())
    if command == "request":
        form = await actions.request_form_card(ctx)
        if form is None:
            return cards.plain_activity(actions.NO_ORGANIZATIONS)
        return cards.card_activity(form)
    if command == "status":
        requests = await ctx.run(ctx.services.workflow.requests_of, sender(context).id)
        return cards.card_activity(cards.status_card(requests))
    if command == "pending":
        return cards.card_activity(await actions.pending_list(ctx, context))
    if command == "show":
        return await show(ctx, context, argument)
    if command == "withdraw":
        return await withdraw(ctx, context, argument)
    return cards.plain_activity(f"“{cut(command, 40)}” is not a Cosigner command. {USAGE}")


def _parse_request_id(argument: str, command: str) -> tuple[str | None, str | None]:
    """Return the request id in a command's argument, or the message to send instead."""
    if not argument.strip():
        return None, f"Give the request id: {command} REQ-XXXXX (write status to see yours)."
    typed = argument.split()[0]
    try:
        return normalize_request_id(typed), None
    except ValidationError:
        return None, (
            f"“{cut(typed, 40)}” is not a request id: ids look like REQ-7K3QX "
            "(write status to see yours)."
        )


async def show(ctx: TeamsContext, context: TurnContext, argument: str) -> Activity:
    request_id, problem = _parse_request_id(argument, "show")
    if request_id is None:
        return cards.plain_activity(problem or USAGE)
    person = sender(context)
    request = await ctx.run(ctx.services.workflow.get, request_id)
    allowed = request is not None and (
        request.requester.id == person.id
        or await ctx.run(ctx.services.workflow.may_view, request_id, person.id)
    )
    if request is None or not allowed:
        return cards.plain_activity(
            f"Request {request_id} was not found among the requests you can see."
        )
    return cards.card_activity(cards.full_request_card(request))


async def withdraw(ctx: TeamsContext, context: TurnContext, argument: str) -> Activity:
    request_id, problem = _parse_request_id(argument, "withdraw")
    if request_id is None:
        return cards.plain_activity(problem or USAGE)
    person = sender(context)
    result = await ctx.run(ctx.services.workflow.withdraw, request_id, person.id, via=PLATFORM)
    if result.outcome is Outcome.DONE:
        ctx.wake_delivery()
        return cards.plain_activity(f"You withdrew {request_id}. The approvers' cards now say so.")
    if result.outcome is Outcome.NOT_ALLOWED:
        # Say "not found" rather than "not yours", so the reply does not confirm the id exists.
        return cards.plain_activity(f"Request {request_id} was not found among your requests.")
    return cards.plain_activity(result.message)


async def on_card_submit(ctx: TeamsContext, context: TurnContext, value: Mapping[str, Any]) -> None:
    """Handle an Action.Submit: run the verb's handler and put its reply in place."""
    verb = str(value.get(ids.VERB_KEY) or "")
    handler = actions.HANDLERS.get(verb)
    ctx.metrics.inc("cosigner_teams_card_actions_total", verb=verb or "none", kind="submit")
    if handler is None:
        log.warning("card submit with an unknown verb=%s", cut(verb, 40))
        await context.send_activity(
            cards.plain_activity("That button is no longer supported. Nothing was changed.")
        )
        return
    reply = await actions.run_action(ctx, context, handler, value)
    if reply.card is None:
        await context.send_activity(cards.plain_activity(reply.text or ""))
        return
    replacement = cards.card_activity(reply.card)
    card_id = context.activity.reply_to_id
    if card_id:
        replacement.id = card_id
        await context.update_activity(replacement)
    else:
        await context.send_activity(replacement)


async def on_conversation_update(ctx: TeamsContext, context: TurnContext) -> None:
    """Greet a person who added the bot, and log the id of a team that added it.

    The before-turn hook has already stored the personal chat's reference. A team's
    conversation id is what COSIGNER_TEAMS_ADMIN_CONVERSATION takes.
    """
    activity = context.activity
    bot_id = activity.recipient.id if activity.recipient else None
    added = [m.id for m in activity.members_added or []]
    if bot_id is None or bot_id not in added or activity.conversation is None:
        return
    conversation = activity.conversation
    if conversation.conversation_type in (None, "personal"):
        await context.send_activity(
            Activity(
                type=ActivityTypes.message,
                text="Hi, I am Cosigner: I route access requests to the officials who approve "
                "them. Write **help** to see what I can do, or **request** to ask for access.",
            )
        )
        return
    log.info(
        "Cosigner was added to a Teams conversation id=%s type=%s; set "
        "COSIGNER_TEAMS_ADMIN_CONVERSATION to this id to send admin alerts there",
        conversation.id,
        conversation.conversation_type,
    )


async def on_installation_update(ctx: TeamsContext, context: TurnContext) -> None:
    """Mark a person unreachable in Teams when they remove the bot from their chat.

    The before-turn hook has already linked the sender (and stored the chat of an
    installation). A person who adds the bot again is reachable from their next activity.
    """
    activity = context.activity
    account = activity.from_property
    removed = str(activity.action or "").startswith("remove")
    if not removed or account is None or not account.id or not is_personal(activity):
        return
    await ctx.run(ctx.services.people.mark_deactivated, PLATFORM, account.id)
    log.info("Teams user removed the bot user=%s", account.id)
