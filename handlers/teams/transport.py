"""Delivery of outbox rows to Teams: cards, card updates, notices, reminders, alerts, digests.

Every message is a proactive turn in a stored conversation: a person's one-to-one chat
with the bot (stored when they first wrote to it), or the admin conversation named by
COSIGNER_TEAMS_ADMIN_CONVERSATION. Bot Connector errors come back from the SDK as
aiohttp.ClientResponseError. They become DeliveryError as Slack's errors do in
SlackTransport. A 429 waits for Retry-After, and 5xx and connection errors are retried.
Errors that retrying cannot fix (404, 403, 400) are recorded for good.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from sqlalchemy import select

from bot.delivery import DeliveryError, DeliveryStore, OutboxItem
from bot.outbox import Kind
from bot.records import RequestInfo
from handlers.teams import admin_cards, cards, digest_card
from handlers.teams.context import TeamsContext
from handlers.teams.identity import PLATFORM
from handlers.teams.proactive import ProactiveMessenger
from storage.models import ChatAccount

log = logging.getLogger(__name__)

T = TypeVar("T")

# Connector statuses that retrying cannot fix. 403 is what Teams returns when the user
# blocked the bot or an admin disabled it.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 413})
# Statuses that mean the person cannot be reached in this chat any more.
UNREACHABLE_STATUSES = frozenset({403, 404})
DEFAULT_RETRY_AFTER_SECONDS = 1.0


class TeamsTransport:
    """Renders outbox rows as Adaptive Cards and sends them with proactive turns."""

    platform = PLATFORM

    def __init__(
        self,
        messenger: ProactiveMessenger,
        store: DeliveryStore,
        ctx: TeamsContext,
    ) -> None:
        self.messenger = messenger
        self.store = store
        self.ctx = ctx

    async def deliver(self, item: OutboxItem) -> None:
        handler = {
            Kind.POST_CARD: self._post_card,
            Kind.UPDATE_CARD: self._update_card,
            Kind.NOTIFY: self._notify,
            Kind.ADMIN_ALERT: self._admin_alert,
            Kind.REMINDER: self._reminder,
            Kind.DIGEST: self._digest,
        }.get(item.kind)
        if handler is None:
            raise DeliveryError(f"unsupported_kind:{item.kind}", permanent=True)
        await handler(item)

    # Connector calls ------------------------------------------------------------

    async def _call(self, call: Awaitable[T], *, not_found: str) -> T:
        """Await a connector call, turning its failures into DeliveryError."""
        try:
            return await call
        except aiohttp.ClientResponseError as error:
            status = error.status
            if status == 429:
                retry_after = _retry_after(error.headers)
                raise DeliveryError("ratelimited", retry_after=retry_after) from error
            if status >= 500:
                raise DeliveryError(f"http_{status}") from error
            code = not_found if status == 404 else f"http_{status}"
            raise DeliveryError(code, permanent=status in PERMANENT_STATUSES) from error
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
            raise DeliveryError(f"connection_error: {type(error).__name__}") from error

    async def _send_to_person(self, item: OutboxItem, card: cards.Card) -> tuple[str, str]:
        """Post a card to the person's chat; return the conversation id and the message id."""
        if item.person_id is None:
            raise DeliveryError("no_recipient", permanent=True)
        reference = await asyncio.to_thread(
            self.store.account_conversation, PLATFORM, item.person_id
        )
        if not reference:
            raise DeliveryError("no_conversation_reference", permanent=True)
        try:
            message_id = await self._call(
                self.messenger.send(reference, cards.card_activity(card)),
                not_found="conversation_not_found",
            )
        except DeliveryError as error:
            if _status_of(error) in UNREACHABLE_STATUSES:
                await asyncio.to_thread(
                    self.store.mark_unreachable, item.person_id, PLATFORM, error.code
                )
            raise
        return str((reference.get("conversation") or {}).get("id") or ""), message_id

    async def _send_to_target(self, item: OutboxItem, card: cards.Card) -> None:
        """Post to the row's conversation (the admin conversation), else to its person."""
        if item.channel:
            reference = await self._conversation_reference(item.channel)
            await self._call(
                self.messenger.send(reference, cards.card_activity(card)),
                not_found="conversation_not_found",
            )
            return
        await self._send_to_person(item, card)

    async def _conversation_reference(
        self, conversation_id: str, person_id: int | None = None
    ) -> dict[str, Any]:
        """Build a reference to a conversation from a stored one of the same tenant.

        Proactive messages need the service URL and the bot's account besides the
        conversation id. Every conversation of a tenant shares those two, so the
        person's own reference serves, or else the latest one any Teams user left.
        """
        base = None
        if person_id is not None:
            base = await asyncio.to_thread(self.store.account_conversation, PLATFORM, person_id)
        if not base:
            base = await asyncio.to_thread(_latest_reference, self.store)
        if not base and not self.ctx.service_url:
            raise DeliveryError("no_conversation_reference")
        reference: dict[str, Any] = copy.deepcopy(base) if base else {"channelId": "msteams"}
        stored = reference.get("conversation")
        conversation: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
        if conversation.get("id") != conversation_id:
            tenant = conversation.get("tenantId")
            # Teams gives channels and group chats ids that start with "19:".
            conversation = {"id": conversation_id, "isGroup": conversation_id.startswith("19:")}
            if tenant:
                conversation["tenantId"] = tenant
            reference.pop("user", None)
        reference["conversation"] = conversation
        if not reference.get("serviceUrl"):
            reference["serviceUrl"] = self.ctx.service_url
        return reference

    # Kinds --------------------------------------------------------------------

    async def _request(self, request_id: str | None) -> RequestInfo:
        if request_id is None:
            raise DeliveryError("no_request", permanent=True)
        request = await asyncio.to_thread(self.store.request, request_id)
        if request is None:
            raise DeliveryError("request_not_found", permanent=True)
        return request

    async def _post_card(self, item: OutboxItem) -> None:
        request = await self._request(item.request_id)
        conversation_id, message_id = await self._send_to_person(item, cards.request_card(request))
        if not conversation_id or not message_id:
            # The card was posted but cannot be updated later, so record that for the digest.
            log.warning(
                "Teams returned no activity id for a card request=%s person=%s",
                request.id,
                item.person_id,
            )
            raise DeliveryError("missing_activity_id", permanent=True)
        await asyncio.to_thread(
            self.store.save_card,
            platform=PLATFORM,
            channel=conversation_id,
            message_id=message_id,
            shown_status=str(request.status),
            person_id=item.person_id,
            request_id=request.id,
        )

    async def _update_card(self, item: OutboxItem) -> None:
        if item.card_id is None:
            raise DeliveryError("no_card", permanent=True)
        card = await asyncio.to_thread(self.store.card, item.card_id)
        if card is None:
            raise DeliveryError("card_not_found", permanent=True)
        request = await self._request(card.request_id)
        if card.shown_status == str(request.status):
            # An earlier update already showed this state, and only the latest state matters.
            return
        reference = await self._conversation_reference(card.channel, card.person_id)
        await self._call(
            self.messenger.update(
                reference, card.message_id, cards.card_activity(cards.request_card(request))
            ),
            not_found="activity_not_found",
        )
        await asyncio.to_thread(self.store.mark_card_shown, card.id, str(request.status))

    async def _notify(self, item: OutboxItem) -> None:
        request = await self._request(item.request_id)
        event = str(item.payload.get("event", request.status))
        if item.payload.get("audience") == "approver":
            card = cards.approver_expiry_notice(request)
        else:
            card = cards.requester_notice(request, event)
        await self._send_to_person(item, card)

    async def _admin_alert(self, item: OutboxItem) -> None:
        request = await self._request(item.request_id) if item.request_id else None
        await self._send_to_target(item, admin_cards.admin_alert(request, item.payload))

    async def _reminder(self, item: OutboxItem) -> None:
        request_ids = [str(i) for i in item.payload.get("request_ids", [])]
        requests = await asyncio.to_thread(self.store.requests, request_ids)
        pending = [r for r in requests if r.is_pending]
        if not pending:
            return
        await self._send_to_target(item, cards.reminder_card(pending, self.store.clock.now()))

    async def _digest(self, item: OutboxItem) -> None:
        if not item.channel and item.person_id is None:
            raise DeliveryError("no_admin_conversation", permanent=True)
        await self._send_to_target(item, digest_card.render_digest(item.payload))


def _retry_after(headers: Any) -> float:
    value = (headers or {}).get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        # An HTTP date instead of seconds: wait the default, and the next attempt learns more.
        return DEFAULT_RETRY_AFTER_SECONDS


def _status_of(error: DeliveryError) -> int | None:
    cause = error.__cause__
    return cause.status if isinstance(cause, aiohttp.ClientResponseError) else None


def _latest_reference(store: DeliveryStore) -> dict[str, Any] | None:
    """Return the most recently stored Teams conversation reference, if any."""
    with store.db.transaction() as session:
        accounts = session.scalars(
            select(ChatAccount)
            .where(ChatAccount.platform == PLATFORM)
            .order_by(ChatAccount.updated_at.desc(), ChatAccount.id.desc())
            .limit(50)
        )
        for account in accounts:
            if isinstance(account.conversation, dict) and account.conversation.get("serviceUrl"):
                return dict(account.conversation)
    return None
