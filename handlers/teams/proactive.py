"""Proactive turns: send or update a message in a stored Teams conversation.

Agents SDK 1.9 facts this relies on, checked against microsoft-agents-hosting-core 1.9.0:

- With an Azure app id, `continue_conversation(app_id, ...)` builds the claims and gets
  a token for https://api.botframework.com. In anonymous local mode an empty app id has
  no audience, so the turn runs through `continue_conversation_with_claims` with an
  empty ClaimsIdentity (which the SDK treats as anonymous) and that audience.
- The adapter runs the callback inside its pipeline and hands any exception to its
  `on_turn_error`, which does not re-raise. So the callback keeps the exception and it
  is raised again here, after the turn, for delivery to record.
- `TurnContext.update_activity` only reaches the turn's own conversation, which is why
  updating a card in someone else's chat needs a proactive turn in that chat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from microsoft_agents.activity import Activity, ConversationReference
from microsoft_agents.hosting.core import (
    AuthenticationConstants,
    ChannelServiceAdapter,
    ClaimsIdentity,
    ConnectorClientBase,
    TurnContext,
)

T = TypeVar("T")


class ProactiveMessenger:
    """Runs proactive turns through the adapter that serves /api/messages."""

    def __init__(self, adapter: ChannelServiceAdapter, app_id: str = "") -> None:
        self.adapter = adapter
        self.app_id = app_id

    async def run(
        self, reference: dict[str, Any], action: Callable[[TurnContext], Awaitable[T]]
    ) -> T:
        """Run `action` in a proactive turn in the referenced conversation and return its result."""
        continuation = ConversationReference.model_validate(reference).get_continuation_activity()
        results: list[T] = []
        errors: list[BaseException] = []

        async def callback(context: TurnContext) -> None:
            try:
                results.append(await action(context))
            except Exception as error:  # re-raised below, outside the adapter's pipeline
                errors.append(error)

        if self.app_id:
            await self.adapter.continue_conversation(self.app_id, continuation, callback)
        else:
            await self.adapter.continue_conversation_with_claims(
                ClaimsIdentity({}),
                continuation,
                callback,
                audience=AuthenticationConstants.AGENTS_SDK_SCOPE,
            )
        if errors:
            raise errors[0]
        if not results:
            raise RuntimeError("the proactive turn ended without running its callback")
        return results[0]

    async def send(self, reference: dict[str, Any], activity: Activity) -> str:
        """Post a new message to the conversation and return its activity id.

        The message goes out with the Bot Connector's "send to conversation" operation
        (POST /v3/conversations/{id}/activities), not as a reply: a continuation turn has
        no real activity to reply to.
        """

        async def post(context: TurnContext) -> str:
            # ServiceSet.get is typed for concrete classes, but the SDK stores the client
            # under its abstract base.
            connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
            if connector is None:
                raise RuntimeError("the proactive turn has no connector client")
            # Without the continuation's own activity id the message is no reply.
            address = context.activity.get_conversation_reference()
            address.activity_id = None
            outgoing = TurnContext.apply_conversation_reference(
                activity.model_copy(deep=True), address
            )
            response = await connector.conversations.send_to_conversation(
                outgoing.conversation.id, outgoing
            )
            return str(response.id or "")

        return await self.run(reference, post)

    async def update(self, reference: dict[str, Any], activity_id: str, activity: Activity) -> None:
        """Replace the message `activity_id` in the conversation with `activity`."""

        async def put(context: TurnContext) -> None:
            replacement = activity.model_copy(deep=True)
            replacement.id = activity_id
            await context.update_activity(replacement)

        await self.run(reference, put)
