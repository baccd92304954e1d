"""Workspace objects and the records that tests read back from the local Slack.

Readers get deep copies, so a test can keep a record while the server changes its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0LOCAL"


@dataclass
class User:
    id: str
    name: str
    email: str
    team_id: str
    real_name: str = ""
    deleted: bool = False
    is_bot: bool = False
    tz: str = "America/New_York"

    def to_api(self) -> JsonObject:
        """Return the user object that users.info and users.lookupByEmail send."""
        real_name = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "tz": self.tz,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": real_name,
                "display_name": self.name,
                "email": self.email,
                "team": self.team_id,
            },
        }


@dataclass
class Channel:
    """A conversation: a public channel (C…) or a bot's direct message with a user (D…).

    `members` is None when every workspace user counts as a member.
    """

    id: str
    name: str
    is_im: bool = False
    user_id: str | None = None
    is_archived: bool = False
    bot_is_member: bool = True
    members: set[str] | None = None

    def has_member(self, user_id: str) -> bool:
        if self.is_im:
            return user_id == self.user_id
        return self.members is None or user_id in self.members


@dataclass
class PostedMessage:
    """A message that the bot posted, with its content after the latest chat.update.

    `history` contains each earlier version as {"text", "blocks"}, oldest first.
    """

    channel: str
    ts: str
    text: str
    blocks: list[JsonObject]
    team_id: str
    thread_ts: str | None = None
    attachments: list[JsonObject] | None = None
    metadata: JsonObject | None = None
    user: str = BOT_USER_ID
    update_count: int = 0
    history: list[JsonObject] = field(default_factory=list)
    deleted: bool = False

    def to_api(self) -> JsonObject:
        """Return the message object as Slack sends it in API responses and payloads."""
        message: JsonObject = {
            "type": "message",
            "user": self.user,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if self.attachments is not None:
            message["attachments"] = self.attachments
        if self.update_count:
            message["edited"] = {"user": self.user, "ts": self.ts}
        return message


@dataclass
class Ephemeral:
    """An ephemeral message shown to one user, from chat.postEphemeral or a response_url."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[JsonObject]
    source: str


@dataclass
class OpenedView:
    """A modal opened by views.open or views.push, with its content after updates.

    `errors` contains the last `response_action: errors` map that the bot sent for it.
    """

    id: str
    user_id: str | None
    view: JsonObject
    method: str
    root_view_id: str
    previous_view_id: str | None = None
    update_count: int = 0
    is_open: bool = True
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ResponsePost:
    """One POST that the bot sent to a response_url, and the HTTP status it got."""

    url: str
    body: JsonObject
    status: int
    user_id: str | None
    channel_id: str | None
    message_ts: str | None

    @property
    def text(self) -> str | None:
        text = self.body.get("text")
        return text if isinstance(text, str) else None

    @property
    def blocks(self) -> list[JsonObject] | None:
        blocks = self.body.get("blocks")
        return blocks if isinstance(blocks, list) else None

    @property
    def response_type(self) -> str:
        return str(self.body.get("response_type") or "ephemeral")

    @property
    def replace_original(self) -> bool:
        return _is_true(self.body.get("replace_original"))

    @property
    def delete_original(self) -> bool:
        return _is_true(self.body.get("delete_original"))


@dataclass
class ApiCall:
    """One Web API call: its parameters (token removed) and what the server sent back."""

    method: str
    params: JsonObject
    status: int
    response: JsonObject
    headers: dict[str, str]
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass
class Trigger:
    id: str
    user_id: str | None
    issued_at: float
    exchanged: bool = False


@dataclass
class ResponseUrl:
    """A response_url that the local Slack issued, and the interaction it belongs to."""

    token: str
    user_id: str | None
    channel_id: str | None
    message_ts: str | None
    issued_at: float
    uses: int = 0


def _is_true(value: object) -> bool:
    return value is True or value == "true"
