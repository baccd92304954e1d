"""Find the Cosigner person behind a Slack user id."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.people import ChatProfile, People
from bot.records import PersonInfo

log = logging.getLogger(__name__)


class UnknownSlackUser(Exception):
    """Slack could not tell who the user is; the caller asks them to try again."""


class SlackIdentity:
    def __init__(self, people: People) -> None:
        self.people = people

    async def resolve(
        self, client: AsyncWebClient, user_id: str, team_id: str | None = None
    ) -> PersonInfo:
        """Return the person for a Slack user, linking them by profile email at first sight."""
        known = await asyncio.to_thread(self.people.by_account, "slack", user_id)
        if known is not None:
            return known
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as error:
            log.warning("users.info failed user=%s error=%s", user_id, error.response.get("error"))
            raise UnknownSlackUser(user_id) from error
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("real_name")
            or user.get("real_name")
            or profile.get("display_name")
            or user.get("name")
            or user_id
        )
        chat_profile = ChatProfile(
            platform="slack",
            user_id=user_id,
            workspace_id=user.get("team_id") or team_id,
            name=name,
            email=profile.get("email"),
            deactivated=bool(user.get("deleted")),
        )
        return await asyncio.to_thread(self.people.link, chat_profile)
