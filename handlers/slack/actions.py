"""Buttons on cards and lists (Approve, Reject) and the organization type-ahead."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import ValidationError, normalize_request_id
from bot.records import OrganizationInfo
from bot.workflow import Outcome, Result
from handlers.slack import blocks, ids
from handlers.slack.context import SlackContext, UserFacingError, post_private
from handlers.slack.events import publish_home
from storage import repo

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.action(ids.APPROVE_ACTION)
    async def approve(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await handle_click(ctx, ack, body, client, respond, approve=True)

    @app.action(ids.REJECT_ACTION)
    async def reject(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await handle_click(ctx, ack, body, client, respond, approve=False)

    @app.options(ids.ORGANIZATION_ACTION)
    async def organization_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        query = (body.get("value") or "").strip()[:100]
        try:
            found = await ctx.run(search_organizations, ctx, query)
        except UserFacingError:
            found = []
        await ack(options=blocks.organization_options(found))


def search_organizations(ctx: SlackContext, query: str) -> list[OrganizationInfo]:
    with ctx.services.db.transaction() as session:
        found = repo.organizations(session, search=query, limit=blocks.MAX_OPTIONS)
        return [OrganizationInfo.of(o) for o in found]


def click_origin(body: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """Return the channel and message ts of a clicked card, and whether it was in the Home tab."""
    container = body.get("container") or {}
    in_home = container.get("type") == "view"
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message = body.get("message") or {}
    ts = message.get("ts") or container.get("message_ts")
    if container.get("is_ephemeral"):
        ts = None
    return channel, ts, in_home


async def handle_click(
    ctx: SlackContext,
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    *,
    approve: bool,
) -> None:
    """Decide on Approve before acking, so an acknowledged click is never lost.

    The button's value only names the request; authority is checked in the database.
    """
    user_id = body["user"]["id"]
    team_id = (body.get("team") or {}).get("id")
    action = (body.get("actions") or [{}])[0]
    channel, ts, in_home = click_origin(body)
    ctx.metrics.inc("cosigner_slack_clicks_total", action="approve" if approve else "reject")

    async def reply(text: str) -> None:
        if in_home:
            await publish_home(ctx, client, user_id, team_id, notice=text)
        else:
            await post_private(
                client, user_id=user_id, channel_id=channel, text=text, respond=respond
            )

    try:
        request_id = normalize_request_id(str(action.get("value") or ""))
    except ValidationError:
        await ack()
        log.warning("click with a malformed request id user=%s", user_id)
        await reply("That button does not name a valid request. Nothing was changed.")
        return

    try:
        person = await ctx.person(client, user_id, team_id)
        if approve:
            result = await ctx.run(
                ctx.services.workflow.approve, request_id, person.id, via="slack"
            )
        else:
            result = await ctx.run(ctx.services.workflow.check_decision, request_id, person.id)
    except UserFacingError as error:
        await ack()
        await reply(str(error))
        return

    await ack()
    ctx.metrics.inc("cosigner_decisions_total", outcome=str(result.outcome))
    if not approve and result.outcome is Outcome.DONE:
        await open_reject_modal(ctx, client, body, result, channel, ts, reply)
        return
    await after_decision(ctx, client, result, channel, ts, reply)
    if in_home:
        notice = _notice(result)
        await publish_home(ctx, client, user_id, team_id, notice=notice)


def _notice(result: Result) -> str:
    if result.outcome is Outcome.DONE and result.request is not None:
        return f":white_check_mark: You {result.request.status} {result.request.id}."
    return result.message


async def after_decision(
    ctx: SlackContext,
    client: AsyncWebClient,
    result: Result,
    channel: str | None,
    ts: str | None,
    reply: Any,
) -> None:
    """Tell the clicker what happened, and bring a stale card up to date."""
    if result.outcome is Outcome.DONE:
        ctx.wake_delivery()
        return
    if result.outcome is Outcome.ALREADY_DECIDED and result.request is not None:
        if channel and ts:
            await ctx.run(ctx.services.workflow.refresh_card, "slack", channel, ts)
            ctx.wake_delivery()
        await reply(_already_decided_text(result))
        return
    if result.outcome is Outcome.NOT_ALLOWED:
        await reply(f"{result.message} Nothing was changed.")
        return
    await reply(result.message)


def _already_decided_text(result: Result) -> str:
    request = result.request
    assert request is not None
    if request.decided_by is not None:
        by = blocks.person_label(request.decided_by)
        text = (
            f"{request.id} was already {request.status} by {by} at "
            f"{blocks.when(request.decided_at)}."
        )
        if request.decision_reason:
            text += f" Reason: {blocks.escape_cut(request.decision_reason, 500)}"
        return text
    return result.message


async def open_reject_modal(
    ctx: SlackContext,
    client: AsyncWebClient,
    body: dict[str, Any],
    result: Result,
    channel: str | None,
    ts: str | None,
    reply: Any,
) -> None:
    assert result.request is not None
    metadata = json.dumps({"request_id": result.request.id, "channel": channel, "ts": ts})
    try:
        await client.views_open(
            trigger_id=body["trigger_id"], view=blocks.reject_modal(result.request, metadata)
        )
    except SlackApiError as error:
        code = error.response.get("error")
        log.warning(
            "views.open failed for reject request=%s user=%s error=%s",
            result.request.id,
            body["user"]["id"],
            code,
        )
        await reply(
            "The rejection form could not open in time. Click Reject again; nothing was changed."
        )
