"""Delivery of outbox rows to Slack: cards, card updates, notices, reminders and digests."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import DeliveryError, DeliveryStore, OutboxItem
from bot.outbox import Kind
from bot.records import PersonInfo, RequestInfo
from handlers.slack import blocks, invitations

log = logging.getLogger(__name__)

# Slack errors that retrying cannot fix. The row is marked failed and the digest lists it.
PERMANENT_ERRORS = frozenset(
    {
        "user_not_found",
        "users_not_found",
        "channel_not_found",
        "is_archived",
        "account_inactive",
        "user_disabled",
        "message_not_found",
        "cant_update_message",
        "not_in_channel",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "cannot_dm_bot",
    }
)
# Errors that mean the person cannot be reached in Slack any more.
UNREACHABLE_ERRORS = frozenset(
    {"user_not_found", "users_not_found", "account_inactive", "user_disabled"}
)

# chat.postMessage allows about one message per second per channel.
POST_INTERVAL_SECONDS = 1.0
# The longest a worker sleeps for a channel to become free. A longer wait puts the row
# back in the outbox, so one busy channel does not hold up the rest of a batch.
PACING_SLEEP_LIMIT = 0.25
# Tries for each continuation of a digest thread before the digest is marked failed.
DIGEST_PART_ATTEMPTS = 5


class SlackTransport:
    """Renders outbox rows as Block Kit and sends them with the Web API."""

    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        store: DeliveryStore,
        *,
        post_interval: float = POST_INTERVAL_SECONDS,
        defer_busy_channels: bool = True,
    ) -> None:
        self.client = client
        self.store = store
        self.post_interval = post_interval
        # A one-shot command on a fixed clock sleeps for a busy channel instead, because
        # a row put back for later would never come due while the clock does not move.
        self.defer_busy_channels = defer_busy_channels
        self._channel_next_post: dict[str, float] = {}
        # The time on the store's clock when each rate-limited method may be called again.
        # The outbox schedules retries on that clock, so this must use it too.
        self._method_blocked_until: dict[str, dt.datetime] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}

    async def deliver(self, item: OutboxItem) -> None:
        handlers: dict[Kind, Callable[[OutboxItem], Awaitable[None]]] = {
            Kind.POST_CARD: self._post_card,
            Kind.UPDATE_CARD: self._update_card,
            Kind.NOTIFY: self._notify,
            Kind.ADMIN_ALERT: self._admin_alert,
            Kind.REMINDER: self._reminder,
            Kind.DIGEST: self._digest,
            Kind.POST_INVITATION: functools.partial(invitations.post_invitation, self),
            Kind.INVITATION_NOTICE: functools.partial(invitations.notify_invitation, self),
            Kind.REMOVAL_NOTICE: functools.partial(invitations.notify_removal, self),
        }
        handler = handlers.get(item.kind)
        if handler is None:
            raise DeliveryError(f"unsupported_kind:{item.kind}", permanent=True)
        await handler(item)

    # Web API calls ------------------------------------------------------------

    async def _call(
        self, method: str, *, defer_when_busy: bool = True, **params: Any
    ) -> dict[str, Any]:
        """Call a Web API method, pacing posts per channel and honouring Retry-After.

        A post to a channel that is not free yet is put back in the outbox when
        `defer_when_busy`, so the worker moves on to other rows instead of waiting.
        """
        channel = params.get("channel") if method == "chat.postMessage" else None
        blocked_until = self._method_blocked_until.get(method)
        if blocked_until is not None:
            blocked = (blocked_until - self.store.clock.now()).total_seconds()
            if blocked > 0:
                raise DeliveryError("ratelimited", retry_after=blocked, counts_as_attempt=False)
        if method == "chat.postMessage" and channel:
            lock = self._channel_locks.setdefault(channel, asyncio.Lock())
            async with lock:
                wait = self._channel_next_post.get(channel, 0.0) - time.monotonic()
                if wait > PACING_SLEEP_LIMIT and defer_when_busy and self.defer_busy_channels:
                    raise DeliveryError("paced", retry_after=wait, counts_as_attempt=False)
                if wait > 0:
                    await asyncio.sleep(wait)
                self._channel_next_post[channel] = time.monotonic() + self.post_interval
                return await self._send(method, **params)
        return await self._send(method, **params)

    async def _send(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            response = await self.client.api_call(method, json=params)
            return dict(response.data) if isinstance(response.data, dict) else {}
        except SlackApiError as error:
            status = error.response.status_code
            code = str(error.response.get("error") or f"http_{status}")
            if status == 429:
                retry_after = float(error.response.headers.get("Retry-After", "1") or 1)
                self._method_blocked_until[method] = self.store.clock.now() + dt.timedelta(
                    seconds=retry_after
                )
                raise DeliveryError(
                    "ratelimited", retry_after=retry_after, counts_as_attempt=False
                ) from error
            if status >= 500:
                raise DeliveryError(f"http_{status}") from error
            raise DeliveryError(code, permanent=code in PERMANENT_ERRORS) from error
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
            raise DeliveryError(f"connection_error: {type(error).__name__}") from error

    async def _user_id(self, person: PersonInfo) -> str:
        """Return the person's Slack user id, looking them up by email the first time."""
        known = person.accounts.get("slack")
        if known:
            return known
        if not person.email:
            raise DeliveryError("no_email", permanent=True)
        try:
            found = await self._send("users.lookupByEmail", email=person.email)
        except DeliveryError as error:
            if error.code in UNREACHABLE_ERRORS:
                log.warning("no Slack account for person=%s", person.id)
            raise
        user = found.get("user") or {}
        user_id = str(user["id"])
        deactivated = bool(user.get("deleted"))
        await asyncio.to_thread(
            self.store.link_account, person.id, "slack", user_id, deactivated=deactivated
        )
        if deactivated:
            raise DeliveryError("account_inactive", permanent=True)
        return user_id

    async def _person(self, item: OutboxItem) -> PersonInfo:
        if item.person_id is None:
            raise DeliveryError("no_recipient", permanent=True)
        person = await asyncio.to_thread(self.store.person, item.person_id)
        if person is None:
            raise DeliveryError("person_not_found", permanent=True)
        return person

    async def _dm(self, item: OutboxItem, message: dict[str, Any]) -> dict[str, Any]:
        person = await self._person(item)
        user_id = await self._user_id(person)
        try:
            return await self._call("chat.postMessage", channel=user_id, **message)
        except DeliveryError as error:
            if error.code in UNREACHABLE_ERRORS:
                await asyncio.to_thread(self.store.mark_unreachable, person.id, "slack", error.code)
            raise

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
        response = await self._dm(item, blocks.request_card(request))
        await asyncio.to_thread(
            self.store.save_card,
            platform="slack",
            channel=str(response.get("channel")),
            message_id=str(response.get("ts")),
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
        if card.invitation_id is not None:
            await invitations.update_invitation_card(self, card)
            return
        request = await self._request(card.request_id)
        message, shown_status = await invitations.request_card_state(self, card, request)
        if card.shown_status == shown_status:
            # An earlier update already showed this state; only the latest state matters.
            return
        await self._call("chat.update", channel=card.channel, ts=card.message_id, **message)
        await asyncio.to_thread(self.store.mark_card_shown, card.id, shown_status)

    async def _notify(self, item: OutboxItem) -> None:
        request = await self._request(item.request_id)
        event = str(item.payload.get("event", request.status))
        if item.payload.get("audience") == "approver":
            message = blocks.approver_expiry_notice(request)
        else:
            message = blocks.requester_notice(request, event)
        await self._dm(item, message)

    async def _admin_alert(self, item: OutboxItem) -> None:
        if not item.channel:
            raise DeliveryError("no_admin_channel", permanent=True)
        request = await self._request(item.request_id) if item.request_id else None
        reason = str(item.payload.get("reason", "alert"))
        if reason == "escalation" and request is not None:
            from handlers.slack.reminder_blocks import render_escalation

            message = render_escalation(item.payload, request)
        else:
            message = blocks.admin_alert(request, reason, item.payload)
        await self._call("chat.postMessage", channel=item.channel, **message)

    async def _reminder(self, item: OutboxItem) -> None:
        from handlers.slack.reminder_blocks import render_reminder

        ids_ = [str(i) for i in item.payload.get("request_ids", [])]
        requests = await asyncio.to_thread(self.store.requests, ids_)
        pending = [r for r in requests if r.is_pending]
        if not pending:
            return
        await self._dm(item, render_reminder(pending, self.store.clock.now()))

    async def _digest(self, item: OutboxItem) -> None:
        from handlers.slack.digest_blocks import render_digest

        if not item.channel:
            raise DeliveryError("no_admin_channel", permanent=True)
        messages = render_digest(item.payload)
        thread_ts: str | None = None
        for index, message in enumerate(messages):
            params = dict(message)
            if thread_ts:
                params["thread_ts"] = thread_ts
            if index == 0:
                # A failure here leaves nothing posted, so the whole row can be retried.
                response = await self._call("chat.postMessage", channel=item.channel, **params)
                thread_ts = str(response.get("ts"))
            else:
                await self._post_thread_part(item, params)

    async def _post_thread_part(self, item: OutboxItem, params: dict[str, Any]) -> None:
        """Post one continuation of the digest, retrying in place.

        Retrying the outbox row would post the digest's first message a second time, so
        a continuation waits out rate limits and server errors here, a few times.
        """
        for attempt in range(DIGEST_PART_ATTEMPTS):
            try:
                await self._call(
                    "chat.postMessage", channel=item.channel, defer_when_busy=False, **params
                )
                return
            except DeliveryError as error:
                if error.permanent or attempt == DIGEST_PART_ATTEMPTS - 1:
                    log.warning(
                        "digest continuation failed outbox=%s error=%s", item.id, error.code
                    )
                    raise DeliveryError(
                        f"digest_incomplete: {error.code}", permanent=True
                    ) from error
                await asyncio.sleep(min(30.0, error.retry_after or 2.0**attempt))
