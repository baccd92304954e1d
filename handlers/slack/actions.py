"""Buttons on cards and lists (Approve, Reject) and the organization type-ahead."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
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
    with ctx.services.db.read() as session:
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


def private_replier(
    ctx: SlackContext,
    client: AsyncWebClient,
    respond: AsyncRespond,
    user_id: str,
    team_id: str | None,
    channel: str | None,
    in_home: bool,
) -> Callable[[str], Awaitable[None]]:
    """Return a function that shows the clicker a private message where they clicked.

    A click in the Home tab republishes the Home with the message as a notice; any
    other click gets an ephemeral message.
    """

    async def reply(text: str) -> None:
        if in_home:
            await publish_home(ctx, client, user_id, team_id, notice=text)
        else:
            await post_private(
                client, user_id=user_id, channel_id=channel, text=text, respond=respond
            )

    return reply


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

    reply = private_replier(ctx, client, respond, user_id, team_id, channel, in_home)

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
    origin = ClickOrigin(
        channel=channel,
        ts=ts,
        in_home=in_home,
        # A button in an ephemeral reply (`/access pending`) has no card to update,
        # so its response_url is the way to replace that reply.
        response_url=getattr(respond, "response_url", None) if ts is None else None,
    )
    if not approve and result.outcome is Outcome.DONE:
        await open_reject_modal(ctx, client, body, result, origin, reply)
        return
    await after_decision(ctx, result, channel, ts, reply)
    if result.outcome is Outcome.DONE:
        await confirm_decision(ctx, client, result, user_id, team_id, origin)


@dataclass(frozen=True)
class ClickOrigin:
    """The place of a clicked decision button: a card, an ephemeral reply or the Home tab."""

    channel: str | None
    ts: str | None
    in_home: bool
    response_url: str | None

    def to_metadata(self, request_id: str) -> str:
        return json.dumps(
            {
                "request_id": request_id,
                "channel": self.channel,
                "ts": self.ts,
                "home": self.in_home,
                "response_url": self.response_url,
            }
        )

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> ClickOrigin:
        return cls(
            channel=metadata.get("channel"),
            ts=metadata.get("ts"),
            in_home=bool(metadata.get("home")),
            response_url=metadata.get("response_url"),
        )


def decided_notice(result: Result) -> str:
    if result.outcome is Outcome.DONE and result.request is not None:
        return f":white_check_mark: You {result.request.status} {result.request.id}."
    return blocks.escape(result.message)


async def confirm_decision(
    ctx: SlackContext,
    client: AsyncWebClient,
    result: Result,
    user_id: str,
    team_id: str | None,
    origin: ClickOrigin,
) -> None:
    """Confirm a decision where the button was, unless it was on a card, which the outbox updates.

    The Home tab is republished with a notice. An ephemeral `/access pending` reply is
    replaced by the list as it is now, so its buttons for the decided request go away.
    """
    notice = decided_notice(result)
    if origin.in_home:
        await publish_home(ctx, client, user_id, team_id, notice=notice)
        return
    if origin.ts is not None or not origin.response_url:
        return
    try:
        person = await ctx.person(client, user_id, team_id)
        waiting = await ctx.run(ctx.services.workflow.decidable_by, person.id)
    except UserFacingError as error:
        waiting = None
        log.warning("could not list pending requests after a decision user=%s: %s", user_id, error)
    reply_blocks = [blocks.section(notice)]
    if waiting is not None:
        reply_blocks.append(blocks.divider())
        reply_blocks.extend(
            blocks.pending_blocks(
                waiting, ctx.services.clock.now(), max_blocks=blocks.MESSAGE_BLOCK_LIMIT - 2
            )
        )
    try:
        await AsyncRespond(response_url=origin.response_url)(
            text=notice, blocks=reply_blocks, response_type="ephemeral", replace_original=True
        )
    except (SlackApiError, aiohttp.ClientError) as error:
        log.warning("response_url post failed after a decision user=%s: %s", user_id, error)


async def refresh_stale_card(ctx: SlackContext, channel: str | None, ts: str | None) -> None:
    """Queue an update of the clicked card, which showed a request that is no longer pending."""
    if channel and ts:
        await ctx.run(ctx.services.workflow.refresh_card, "slack", channel, ts)
        ctx.wake_delivery()


async def after_decision(
    ctx: SlackContext,
    result: Result,
    channel: str | None,
    ts: str | None,
    reply: Any,
) -> None:
    """Tell the clicker why nothing changed, and bring a stale card up to date."""
    if result.outcome is Outcome.DONE:
        ctx.wake_delivery()
        return
    if result.outcome is Outcome.ALREADY_DECIDED and result.request is not None:
        await refresh_stale_card(ctx, channel, ts)
        await reply(already_decided_text(result))
        return
    if result.outcome is Outcome.NOT_ALLOWED:
        await reply(f"{blocks.escape(result.message)} Nothing was changed.")
        return
    await reply(blocks.escape(result.message))


def already_decided_text(result: Result) -> str:
    """Say who decided the request and when, with their reason, for a click that came too late."""
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
    return blocks.escape(result.message)


async def open_reject_modal(
    ctx: SlackContext,
    client: AsyncWebClient,
    body: dict[str, Any],
    result: Result,
    origin: ClickOrigin,
    reply: Any,
) -> None:
    assert result.request is not None
    metadata = origin.to_metadata(result.request.id)
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
