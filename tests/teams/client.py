"""TeamsClient: act as Teams toward the bot, posting Activity JSON to /api/messages.

Activities have the shape Teams sends in a one-to-one chat: channelId msteams, a
personal conversation with the tenant id, the user's 29: id and AAD object id, and a
serviceUrl that points at the LocalConnector. A button click is an `invoke` named
adaptiveCard/action whose `action.data` contains the button's data merged with the
card's inputs, as Teams merges them.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.teams.connector import LocalConnector, Member, Message
from tests.teams.schema import assert_valid_card

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ID = "28:cosigner-bot"
JsonObject = dict[str, Any]


@dataclass(frozen=True)
class TeamsUser:
    key: str
    name: str
    email: str

    @property
    def id(self) -> str:
        return f"29:1{self.key}"

    @property
    def aad_object_id(self) -> str:
        return f"00000000-0000-0000-0000-{zlib.crc32(self.key.encode()):012d}"

    @property
    def conversation_id(self) -> str:
        return f"a:1{self.key}-personal"

    def member(self) -> Member:
        return Member(self.id, self.name, self.email, self.aad_object_id, TENANT_ID)


@dataclass(frozen=True)
class InvokeResult:
    status: int
    body: JsonObject | None

    @property
    def card(self) -> JsonObject:
        """The card of an AdaptiveCardInvokeResponse, validated against the 1.5 schema."""
        assert self.body is not None, "the invoke response has no body"
        assert self.body.get("type") == "application/vnd.microsoft.card.adaptive", self.body
        card = self.body["value"]
        assert_valid_card(card)
        return dict(card)

    @property
    def message(self) -> str:
        assert self.body is not None, "the invoke response has no body"
        assert self.body.get("type") == "application/vnd.microsoft.activity.message", self.body
        return str(self.body["value"])


def iter_actions(card: JsonObject) -> Iterator[JsonObject]:
    """Yield every action of a card: the card's own, then those of ActionSets in its body."""
    yield from card.get("actions") or []

    def walk(elements: list[JsonObject]) -> Iterator[JsonObject]:
        for element in elements:
            if element.get("type") == "ActionSet":
                yield from element.get("actions") or []
            for key in ("items", "columns"):
                yield from walk(element.get(key) or [])

    yield from walk(card.get("body") or [])


def find_action(card: JsonObject, verb: str, request_id: str | None = None) -> JsonObject:
    for action in iter_actions(card):
        data = action.get("data") or {}
        if action.get("verb") == verb and request_id in (None, data.get("request_id")):
            return action
    found = [(a.get("verb"), (a.get("data") or {}).get("request_id")) for a in iter_actions(card)]
    raise LookupError(f"no button with verb {verb!r} for {request_id!r}; the card has {found}")


class TeamsClient:
    def __init__(self, bot_url: str, connector: LocalConnector) -> None:
        self.bot_url = bot_url
        self.connector = connector
        self._ids = itertools.count(1)

    def join(self, user: TeamsUser) -> None:
        """Make the user a member of their personal chat with the bot, for the member lookup."""
        self.connector.add_member(user.conversation_id, user.member())

    def activity(self, user: TeamsUser, activity_type: str, **fields: Any) -> JsonObject:
        activity: JsonObject = {
            "type": activity_type,
            "id": f"f:{next(self._ids)}",
            "timestamp": "2026-12-02T15:00:00.000Z",
            "serviceUrl": self.connector.url,
            "channelId": "msteams",
            "from": {"id": user.id, "name": user.name, "aadObjectId": user.aad_object_id},
            "conversation": {
                "conversationType": "personal",
                "tenantId": TENANT_ID,
                "id": user.conversation_id,
            },
            "recipient": {"id": BOT_ID, "name": "Cosigner"},
            "locale": "en-US",
            "channelData": {"tenant": {"id": TENANT_ID}},
        }
        activity.update(fields)
        return activity

    async def post(self, activity: JsonObject) -> tuple[int, JsonObject | None]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
            session.post(f"{self.bot_url}/api/messages", json=activity) as response,
        ):
            text = await response.text()
            return response.status, json.loads(text) if text.strip() else None

    async def say(self, user: TeamsUser, text: str) -> list[Message]:
        """Send a message; return what the bot posted in the chat in reply."""
        before = len(self.connector.messages_in(user.conversation_id))
        status, _ = await self.post(self.activity(user, "message", text=text, textFormat="plain"))
        assert status == 202, f"message {text!r} was answered {status}"
        return self.connector.messages_in(user.conversation_id)[before:]

    async def install(self, user: TeamsUser) -> int:
        """Send the conversationUpdate that Teams sends when a user adds the bot."""
        activity = self.activity(
            user, "conversationUpdate", membersAdded=[{"id": BOT_ID}, {"id": user.id}]
        )
        status, _ = await self.post(activity)
        return status

    async def execute(
        self,
        user: TeamsUser,
        verb: str,
        data: JsonObject,
        *,
        card_message: Message | None = None,
    ) -> InvokeResult:
        """Send the invoke of an Action.Execute with `data`, from `card_message` if given."""
        fields: JsonObject = {
            "name": "adaptiveCard/action",
            "value": {
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
        }
        if card_message is not None:
            fields["replyToId"] = card_message.id
        status, body = await self.post(self.activity(user, "invoke", **fields))
        return InvokeResult(status, body)

    async def click(
        self,
        user: TeamsUser,
        card_message: Message,
        verb: str,
        *,
        request_id: str | None = None,
        inputs: JsonObject | None = None,
        card: JsonObject | None = None,
    ) -> InvokeResult:
        """Click the Action.Execute button `verb` on a card, with the card's inputs filled in.

        `card` overrides the message's card, for a card that an invoke response replaced.
        """
        displayed = card if card is not None else card_message.card
        action = find_action(displayed, verb, request_id)
        assert action["type"] == "Action.Execute", action
        data = {**(action.get("data") or {}), **(inputs or {})}
        return await self.execute(user, verb, data, card_message=card_message)

    async def submit(
        self,
        user: TeamsUser,
        card_message: Message,
        verb: str,
        *,
        request_id: str | None = None,
        inputs: JsonObject | None = None,
    ) -> int:
        """Click a button's Action.Submit fallback, as a client without Action.Execute does."""
        action = find_action(card_message.card, verb, request_id)
        fallback = action["fallback"]
        assert fallback["type"] == "Action.Submit", fallback
        value = {**(fallback.get("data") or {}), **(inputs or {})}
        activity = self.activity(user, "message", value=value, replyToId=card_message.id)
        status, _ = await self.post(activity)
        return status
