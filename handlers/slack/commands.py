"""The `/access` slash command and its subcommands."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import ValidationError, normalize_request_id
from bot.records import OrganizationInfo
from bot.workflow import Outcome
from handlers.slack import blocks, ids, invitations
from handlers.slack.context import SlackContext, UserFacingError
from storage import repo

log = logging.getLogger(__name__)

USAGE = "Type `/access help` to see every command."


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.command(ids.COMMAND)
    async def access(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        text = (body.get("text") or "").strip()
        subcommand, _, argument = text.partition(" ")
        subcommand = subcommand.lower()
        user_id = body["user_id"]
        ctx.metrics.inc("cosigner_slack_commands_total", subcommand=subcommand or "help")
        try:
            if subcommand in ("", "help"):
                await ack(text="Cosigner help", blocks=blocks.help_blocks())
            elif subcommand == "request":
                await ack()
                await open_request_modal(ctx, client, respond, body)
            elif subcommand == "status":
                await ack(**await status_reply(ctx, client, user_id, body.get("team_id")))
            elif subcommand == "pending":
                await ack(**await pending_reply(ctx, client, user_id, body.get("team_id")))
            elif subcommand == "withdraw":
                await ack(**await withdraw_reply(ctx, client, body, argument))
            elif subcommand == "show":
                first, *rest = await show_reply(ctx, client, body, argument)
                await ack(**first)
                for message in rest:
                    await respond(**message, response_type="ephemeral", replace_original=False)
            elif subcommand == "invite":
                await ack(**await invitations.invite_reply(ctx, client, body, argument))
            elif subcommand == "remove":
                await ack(**await invitations.remove_reply(ctx, client, body, argument))
            elif subcommand == "people":
                await ack(**await invitations.people_reply(ctx, client, body, argument))
            elif subcommand == "digest":
                await digest_reply(ctx, ack, respond, client, body)
            else:
                await ack(
                    text=f"`{blocks.escape(subcommand[:40])}` is not a Cosigner command. {USAGE}"
                )
        except UserFacingError as error:
            await _reply_error(ack, respond, str(error))


async def _reply_error(ack: AsyncAck, respond: AsyncRespond, text: str) -> None:
    # The command may already have been acknowledged (before a modal opened, say).
    try:
        await ack(text=text)
    except Exception:  # Bolt refuses a second ack; reply through response_url instead
        await respond(text=text, response_type="ephemeral")


def load_organizations(ctx: SlackContext) -> tuple[list[OrganizationInfo], int]:
    with ctx.services.db.read() as session:
        total = repo.count_organizations(session)
        found = repo.organizations(session, limit=blocks.MAX_OPTIONS)
        return [OrganizationInfo.of(o) for o in found], total


async def open_request_modal(
    ctx: SlackContext, client: AsyncWebClient, respond: AsyncRespond, body: dict[str, Any]
) -> None:
    organizations, total = await ctx.run(load_organizations, ctx)
    if total == 0:
        await respond(
            text="No organizations are set up in Cosigner yet: ask an admin to import the "
            "roster (`cosigner roster import`).",
            response_type="ephemeral",
        )
        return
    view = blocks.request_modal(
        organizations,
        use_external_select=total > blocks.MAX_OPTIONS,
        metadata=body.get("channel_id") or "",
    )
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as error:
        code = error.response.get("error")
        log.warning("views.open failed user=%s error=%s", body.get("user_id"), code)
        if code in ("expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"):
            text = (
                "The request form could not open because Slack's 3-second window passed. "
                "Run `/access request` again."
            )
        else:
            text = "The request form could not open. Please run `/access request` again."
        await respond(text=text, response_type="ephemeral")


async def status_reply(
    ctx: SlackContext, client: AsyncWebClient, user_id: str, team_id: str | None
) -> dict[str, Any]:
    person = await ctx.person(client, user_id, team_id)
    requests = await ctx.run(ctx.services.workflow.requests_of, person.id)
    return {"text": "Your requests", "blocks": blocks.status_blocks(requests)}


async def pending_reply(
    ctx: SlackContext, client: AsyncWebClient, user_id: str, team_id: str | None
) -> dict[str, Any]:
    person = await ctx.person(client, user_id, team_id)
    requests = await ctx.run(ctx.services.workflow.decidable_by, person.id)
    now = ctx.services.clock.now()
    return {
        "text": f"{len(requests)} request(s) waiting for your decision",
        "blocks": blocks.pending_blocks(requests, now),
    }


def parse_request_id(argument: str) -> str:
    """Return the request id typed as a command's first word; raise ValidationError if invalid.

    The word is cut to 40 characters first, so the error never repeats a long paste.
    """
    return normalize_request_id(argument.split()[0][:40])


async def withdraw_reply(
    ctx: SlackContext, client: AsyncWebClient, body: dict[str, Any], argument: str
) -> dict[str, Any]:
    if not argument.strip():
        return {"text": "Give the request id: `/access withdraw REQ-XXXXX` (see `/access status`)."}
    try:
        request_id = parse_request_id(argument)
    except ValidationError as error:
        return {"text": blocks.escape(str(error))}
    person = await ctx.person(client, body["user_id"], body.get("team_id"))
    result = await ctx.run(ctx.services.workflow.withdraw, request_id, person.id, via="slack")
    if result.outcome is Outcome.DONE:
        ctx.wake_delivery()
        return {"text": f"You withdrew {request_id}. The approvers' cards now say so."}
    if result.outcome is Outcome.NOT_ALLOWED:
        # Say "not found" rather than "not yours", so the reply does not confirm the id exists.
        return {"text": f"Request {request_id} was not found among your requests."}
    # The core's message may name people, whose names are user text.
    return {"text": blocks.escape(result.message)}


async def show_reply(
    ctx: SlackContext, client: AsyncWebClient, body: dict[str, Any], argument: str
) -> list[dict[str, Any]]:
    """Return the private replies to `/access show`: usually one, more for long text."""
    if not argument.strip():
        return [{"text": "Give the request id: `/access show REQ-XXXXX`."}]
    try:
        request_id = parse_request_id(argument)
    except ValidationError as error:
        return [{"text": blocks.escape(str(error))}]
    person = await ctx.person(client, body["user_id"], body.get("team_id"))
    request = await ctx.run(ctx.services.workflow.get, request_id)
    allowed = request is not None and (
        request.requester.id == person.id
        or await ctx.run(ctx.services.workflow.may_view, request_id, person.id)
    )
    if request is None or not allowed:
        return [{"text": f"Request {request_id} was not found among the requests you can see."}]
    return blocks.full_request_messages(request)


async def digest_reply(
    ctx: SlackContext,
    ack: AsyncAck,
    respond: AsyncRespond,
    client: AsyncWebClient,
    body: dict[str, Any],
) -> None:
    person = await ctx.person(client, body["user_id"], body.get("team_id"))
    if not await ctx.run(ctx.services.people.is_admin, person.id):
        await ack(text="Only Cosigner admins can see the digest.")
        return
    await ack(text="Building the digest…")
    from bot.digest import build_digest
    from handlers.slack.digest_blocks import render_digest

    digest = await ctx.run(build_digest, ctx.services, ctx.services.clock.now())
    for message in render_digest(digest):
        await respond(
            text=message.get("text", "Cosigner digest"),
            blocks=message.get("blocks"),
            response_type="ephemeral",
            replace_original=False,
        )
