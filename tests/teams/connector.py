"""LocalConnector: a Bot Connector service on loopback, where the bot's Teams traffic lands.

Activities the tests send carry `serviceUrl` pointing here, so the Agents SDK's
connector client sends replies, proactive messages, card updates and member lookups to
this server. It answers like the Bot Connector does:

- POST /v3/conversations/{id}/activities[/{activity id}] stores the message and returns
  {"id": ...};
- PUT /v3/conversations/{id}/activities/{activity id} replaces a stored message, or
  returns 404 for one it never stored;
- GET /v3/conversations/{id}/members/{user id} returns the member, or 404
  MemberNotFoundInConversation when the user is not in that conversation.

Every Adaptive Card it receives is validated against the 1.5 schema; an invalid card is
refused with 400 and recorded in `invalid_cards`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from tests.teams.schema import activity_cards, card_errors

T = TypeVar("T")
JsonObject = dict[str, Any]


@dataclass
class Member:
    """A Teams user as the member lookup returns them."""

    id: str
    name: str
    email: str
    aad_object_id: str
    tenant_id: str

    def to_api(self) -> JsonObject:
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "givenName": self.name.split()[0],
            "surname": self.name.split()[-1],
            "email": self.email,
            "userPrincipalName": self.email,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }


@dataclass
class Message:
    """A message the bot sent, with its content after the latest update."""

    conversation_id: str
    id: str
    activity: JsonObject
    reply_to_id: str | None = None
    history: list[JsonObject] = field(default_factory=list)

    @property
    def cards(self) -> list[JsonObject]:
        return activity_cards(self.activity)

    @property
    def card(self) -> JsonObject:
        found = self.cards
        assert len(found) == 1, f"message {self.id} has {len(found)} cards, expected 1"
        return found[0]

    @property
    def text(self) -> str:
        return str(self.activity.get("text") or "")

    @property
    def update_count(self) -> int:
        return len(self.history)


@dataclass
class Call:
    method: str
    path: str
    status: int


@dataclass
class Fault:
    method: str
    status: int
    retry_after: str | None


class LocalConnector:
    def __init__(self) -> None:
        self.members: dict[str, dict[str, Member]] = {}
        self.messages: list[Message] = []
        self.calls: list[Call] = []
        self.invalid_cards: list[str] = []
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # Setup ------------------------------------------------------------------------

    def add_member(self, conversation_id: str, member: Member) -> None:
        self.members.setdefault(conversation_id, {})[member.id] = member

    def fail_next(self, method: str, status: int, *, retry_after: str | None = None) -> None:
        """Fail the next `method` call ("POST", "PUT" or "GET") with HTTP `status`."""
        self._faults.append(Fault(method, status, retry_after))

    # Records ----------------------------------------------------------------------

    def messages_in(self, conversation_id: str) -> list[Message]:
        return [m for m in self.messages if m.conversation_id == conversation_id]

    def card_messages(self, conversation_id: str) -> list[Message]:
        return [m for m in self.messages_in(conversation_id) if m.cards]

    def message(self, conversation_id: str, activity_id: str) -> Message:
        for message in self.messages:
            if message.conversation_id == conversation_id and message.id == activity_id:
                return message
        raise KeyError(f"no message {activity_id} in conversation {conversation_id}")

    def puts(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT"]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; calls: {self.calls[-5:]}"
                )
            await asyncio.sleep(0.01)

    # Handlers ---------------------------------------------------------------------

    def _fault(self, method: str) -> web.Response | None:
        for index, fault in enumerate(self._faults):
            if fault.method == method:
                del self._faults[index]
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                body = {"error": {"code": "InjectedFault", "message": f"HTTP {fault.status}"}}
                return web.json_response(body, status=fault.status, headers=headers)
        return None

    def _reject_invalid_cards(self, activity: JsonObject) -> web.Response | None:
        for card in activity_cards(activity):
            errors = card_errors(card)
            if errors:
                self.invalid_cards.append("\n".join(errors))
                body = {"error": {"code": "BadArgument", "message": "; ".join(errors)[:1000]}}
                return web.json_response(body, status=400)
        return None

    async def _post(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation"]
        response = self._fault("POST")
        if response is None:
            activity = await request.json()
            response = self._reject_invalid_cards(activity)
        if response is not None:
            self.calls.append(Call("POST", request.path, response.status))
            return response
        message_id = f"{1764864000000 + next(self._ids)}"
        self.messages.append(
            Message(
                conversation_id=conversation_id,
                id=message_id,
                activity=activity,
                reply_to_id=request.match_info.get("activity"),
            )
        )
        self.calls.append(Call("POST", request.path, 200))
        return web.json_response({"id": message_id})

    async def _put(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation"]
        activity_id = request.match_info["activity"]
        response = self._fault("PUT")
        if response is None:
            activity = await request.json()
            response = self._reject_invalid_cards(activity)
        if response is None:
            try:
                message = self.message(conversation_id, activity_id)
            except KeyError:
                body = {"error": {"code": "ActivityNotFoundInConversation", "message": "Unknown"}}
                response = web.json_response(body, status=404)
            else:
                message.history.append(copy.deepcopy(message.activity))
                message.activity = activity
                response = web.json_response({"id": activity_id})
        self.calls.append(Call("PUT", request.path, response.status))
        return response

    async def _member(self, request: web.Request) -> web.Response:
        conversation_id = request.match_info["conversation"]
        member_id = request.match_info["member"]
        response = self._fault("GET")
        if response is None:
            member = self.members.get(conversation_id, {}).get(member_id)
            if member is None:
                body = {
                    "error": {
                        "code": "MemberNotFoundInConversation",
                        "message": "The member is not part of the conversation.",
                    }
                }
                response = web.json_response(body, status=404)
            else:
                response = web.json_response(member.to_api())
        self.calls.append(Call("GET", request.path, response.status))
        return response
