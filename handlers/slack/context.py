"""What the Slack handlers share: the core services and a few helpers around them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.metrics import Metrics
from bot.records import PersonInfo
from bot.services import Services
from handlers.slack.identity import SlackIdentity, UnknownSlackUser

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fixed sentences shown to people when something outside their control failed.
DATABASE_UNAVAILABLE = (
    "Cosigner could not reach its database, so nothing was changed. Please try again in a minute."
)
SLACK_PROFILE_UNAVAILABLE = (
    "Cosigner could not read your Slack profile, so nothing was changed. Please try again."
)


class UserFacingError(Exception):
    """A failure with a fixed sentence to show the person who acted."""


@dataclass
class SlackContext:
    services: Services
    identity: SlackIdentity
    metrics: Metrics
    # Called after a change queues outbox rows, so delivery starts at once.
    wake_delivery: Callable[[], None] = field(default=lambda: None)

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking core call in a worker thread, turning database failures into a message."""
        try:
            return await asyncio.to_thread(func, *args, **kwargs)
        except OperationalError as error:
            log.error("database unavailable during %s: %s", getattr(func, "__name__", func), error)
            self.metrics.inc("cosigner_database_errors_total")
            raise UserFacingError(DATABASE_UNAVAILABLE) from error
        except SQLAlchemyError as error:
            log.exception("database error during %s", getattr(func, "__name__", func))
            self.metrics.inc("cosigner_database_errors_total")
            raise UserFacingError(DATABASE_UNAVAILABLE) from error

    async def person(
        self, client: AsyncWebClient, user_id: str, team_id: str | None = None
    ) -> PersonInfo:
        try:
            return await self.identity.resolve(client, user_id, team_id)
        except UnknownSlackUser as error:
            raise UserFacingError(SLACK_PROFILE_UNAVAILABLE) from error
        except OperationalError as error:
            log.error("database unavailable while resolving user=%s: %s", user_id, error)
            self.metrics.inc("cosigner_database_errors_total")
            raise UserFacingError(DATABASE_UNAVAILABLE) from error


async def post_private(
    client: AsyncWebClient,
    *,
    user_id: str,
    channel_id: str | None,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    respond: Callable[..., Any] | None = None,
) -> None:
    """Show a message only to one user: through the click's response_url, else ephemeral."""
    if respond is not None and getattr(respond, "response_url", None):
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        return
    if channel_id:
        try:
            await client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=text, blocks=blocks
            )
        except SlackApiError as error:
            log.warning(
                "chat.postEphemeral failed user=%s channel=%s error=%s",
                user_id,
                channel_id,
                error.response.get("error"),
            )
