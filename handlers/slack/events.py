"""Events: the App Home tab."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack import blocks
from handlers.slack.context import SlackContext, UserFacingError

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.event("app_home_opened")
    async def home_opened(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        await publish_home(ctx, client, event["user"], body.get("team_id"))


async def publish_home(
    ctx: SlackContext,
    client: AsyncWebClient,
    user_id: str,
    team_id: str | None,
    *,
    notice: str | None = None,
) -> None:
    """Publish a user's Home tab: what waits for them, their requests, and counts for admins."""
    # Imported here because handlers.slack.invitations imports this module.
    from handlers.slack.invitations import add_invitations_to_home

    try:
        person = await ctx.person(client, user_id, team_id)
        invitations = await ctx.run(ctx.services.invitations.open_for, person.id)
        pending = await ctx.run(ctx.services.workflow.decidable_by, person.id)
        mine = await ctx.run(ctx.services.workflow.requests_of, person.id, 15)
        counts = None
        if await ctx.run(ctx.services.people.is_admin, person.id):
            counts = await ctx.run(ctx.services.workflow.counts_by_status)
    except UserFacingError as error:
        view = {"type": "home", "blocks": [blocks.section(str(error))]}
    else:
        view = blocks.home_view(
            pending=pending, mine=mine, now=ctx.services.clock.now(), counts=counts, notice=notice
        )
        # The notice, when there is one, stays on top: a section and a divider.
        add_invitations_to_home(view, invitations, position=2 if notice else 0)
    try:
        await client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        log.warning("views.publish failed user=%s error=%s", user_id, error.response.get("error"))
