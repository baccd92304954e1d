"""The local Slack's workspace state: users, conversations, messages, views and records.

The server's event loop and test threads share one Workspace, so every access to its
fields must hold `lock`. Web API methods raise ApiError, which the server sends back as
{"ok": false, "error": ...} with HTTP 200, as Slack does.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from collections.abc import Iterable
from typing import Any

from handlers.slack.localslack.clock import (
    Clock,
    IdSequence,
    SlackTimestamps,
    new_trigger_id,
)
from handlers.slack.localslack.records import (
    ApiCall,
    Channel,
    Ephemeral,
    JsonObject,
    OpenedView,
    PostedMessage,
    ResponsePost,
    ResponseUrl,
    Trigger,
    User,
)

TRIGGER_LIFETIME_SECONDS = 3.0
# Slack documents that a response_url accepts up to 5 posts within 30 minutes.
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60


class ApiError(Exception):
    """A Slack error code, with any extra fields that Slack sends along with it."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def to_body(self) -> JsonObject:
        return {"ok": False, "error": self.error, **self.extra}


def parse_json_param(params: JsonObject, name: str, error: str) -> Any:
    """Return a JSON argument, which form bodies send as a JSON string, or None if absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error) from exc
    return value


def with_block_ids(blocks: list[JsonObject]) -> list[JsonObject]:
    """Return a copy of the blocks in which each block has a block_id, as Slack stores them.

    Slack generates a short random block_id for each block that has none.
    """
    used = {block.get("block_id") for block in blocks}
    stored: list[JsonObject] = []
    for block in blocks:
        block = dict(block)
        if not block.get("block_id"):
            block_id = _random_block_id()
            while block_id in used:
                block_id = _random_block_id()
            used.add(block_id)
            block["block_id"] = block_id
        stored.append(block)
    return stored


def _random_block_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


class Workspace:
    def __init__(self, team_id: str, clock: Clock) -> None:
        self.team_id = team_id
        self.clock = clock
        # The server's root URL, which auth.test returns. LocalSlack sets it on start.
        self.base_url = ""
        self.lock = threading.RLock()
        self.timestamps = SlackTimestamps()
        self.view_ids = IdSequence("V")
        self.dm_ids = IdSequence("D")

        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.dm_by_user: dict[str, str] = {}
        self.messages: dict[tuple[str, str], PostedMessage] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, OpenedView] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.view_external_ids: dict[str, str] = {}
        self.home_views: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.responses: list[ResponsePost] = []
        self.calls: list[ApiCall] = []

    # Setup

    def add_user(
        self,
        user_id: str,
        name: str,
        email: str,
        *,
        deleted: bool = False,
        is_bot: bool = False,
        real_name: str = "",
    ) -> User:
        user = User(user_id, name, email, self.team_id, real_name, deleted, is_bot)
        with self.lock:
            self.users[user_id] = user
        return user

    def set_user_deleted(self, user_id: str, deleted: bool) -> None:
        with self.lock:
            self.require_user(user_id).deleted = deleted

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_archived: bool = False,
        bot_is_member: bool = True,
        members: Iterable[str] | None = None,
    ) -> Channel:
        member_set = None if members is None else set(members)
        channel = Channel(
            channel_id,
            name,
            is_archived=is_archived,
            bot_is_member=bot_is_member,
            members=member_set,
        )
        with self.lock:
            self.channels[channel_id] = channel
        return channel

    def set_channel_archived(self, channel_id: str, archived: bool) -> None:
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise KeyError(f"channel {channel_id} not found; add it with add_channel first")
            channel.is_archived = archived

    # Lookups

    def require_user(self, user_id: str) -> User:
        with self.lock:
            user = self.users.get(user_id)
        if user is None:
            raise KeyError(f"user {user_id} not found; add it with add_user first")
        return user

    def open_dm(self, user_id: str) -> tuple[Channel, bool]:
        """Return the bot's DM channel with the user, and whether it already existed."""
        with self.lock:
            channel_id = self.dm_by_user.get(user_id)
            if channel_id is not None:
                return self.channels[channel_id], True
            channel_id = self.dm_ids.next()
            channel = Channel(channel_id, channel_id, is_im=True, user_id=user_id)
            self.channels[channel_id] = channel
            self.dm_by_user[user_id] = channel_id
            return channel, False

    def resolve_channel(self, channel_param: object, *, allow_user_id: bool) -> Channel:
        """Find the conversation that a `channel` argument names.

        Like chat.postMessage, a user id (U… or W…) means the bot's DM with that user
        when `allow_user_id` is set.
        """
        channel_id = str(channel_param or "")
        with self.lock:
            if channel_id in self.channels:
                return self.channels[channel_id]
            if allow_user_id and channel_id in self.users:
                return self.open_dm(channel_id)[0]
        raise ApiError("channel_not_found")

    def find_message(self, channel_id: str, ts: object) -> PostedMessage:
        with self.lock:
            message = self.messages.get((channel_id, str(ts or "")))
        if message is None or message.deleted:
            raise ApiError("message_not_found")
        return message

    # Triggers and response URLs

    def issue_trigger(self, user_id: str | None) -> str:
        trigger_id = new_trigger_id()
        with self.lock:
            self.triggers[trigger_id] = Trigger(trigger_id, user_id, self.clock())
        return trigger_id

    def exchange_trigger(self, trigger_id: object) -> Trigger:
        """Use up a trigger id, as views.open and views.push do.

        Slack accepts a trigger id once, within 3 seconds of the interaction.
        """
        with self.lock:
            trigger = self.triggers.get(str(trigger_id or ""))
            if trigger is None:
                raise ApiError("invalid_trigger_id")
            if trigger.exchanged:
                raise ApiError("exchanged_trigger_id")
            if self.clock() - trigger.issued_at >= TRIGGER_LIFETIME_SECONDS:
                raise ApiError("expired_trigger_id")
            trigger.exchanged = True
            return trigger

    def issue_response_url(
        self, user_id: str | None, channel_id: str | None, message_ts: str | None
    ) -> str:
        token = secrets.token_urlsafe(16)
        response_url = ResponseUrl(token, user_id, channel_id, message_ts, self.clock())
        with self.lock:
            self.response_urls[token] = response_url
        return token

    # Posting

    def post_message(
        self,
        channel: Channel,
        text: str,
        blocks: list[JsonObject],
        **fields: Any,
    ) -> PostedMessage:
        message = PostedMessage(
            channel=channel.id,
            ts=self.timestamps.next(),
            text=text,
            blocks=with_block_ids(blocks),
            team_id=self.team_id,
            **fields,
        )
        with self.lock:
            self.messages[(channel.id, message.ts)] = message
        return message

    def update_message(
        self, message: PostedMessage, text: str | None, blocks: list[JsonObject] | None
    ) -> None:
        """Replace a message's content and keep the old version in its history.

        Like chat.update, a field that is not given keeps its old value.
        """
        with self.lock:
            message.history.append({"text": message.text, "blocks": message.blocks})
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = with_block_ids(blocks)
            message.update_count += 1

    def add_ephemeral(
        self, channel_id: str, user_id: str, text: str, blocks: list[JsonObject], source: str
    ) -> Ephemeral:
        ts = self.timestamps.next()
        ephemeral = Ephemeral(channel_id, user_id, ts, text, with_block_ids(blocks), source)
        with self.lock:
            self.ephemerals.append(ephemeral)
        return ephemeral
