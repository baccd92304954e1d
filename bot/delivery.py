"""Outbox delivery: claim due rows, hand them to the platform transport, record the result.

Rows are claimed with a lease (on PostgreSQL with FOR UPDATE SKIP LOCKED), so several
replicas deliver side by side and a replica killed mid-delivery leaves its rows to be
taken again once the lease runs out. Delivery is at least once: a replica killed after
Slack accepted a call but before the row was marked sent sends that row again. A
repeated card update is harmless because it renders the same final state; a repeated
new message is possible only in that small window.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import or_, select, update

from bot.clock import Clock
from bot.outbox import Kind, OutboxWriter
from bot.records import PersonInfo, RequestInfo
from storage import repo
from storage.db import Database
from storage.models import Card, ChatAccount, OutboxMessage, Person

log = logging.getLogger(__name__)

# After this many failed attempts a row is marked failed and shown in the digest.
MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row."""

    id: int
    platform: str
    kind: Kind
    request_id: str | None
    invitation_id: str | None
    person_id: int | None
    card_id: int | None
    channel: str | None
    payload: dict[str, Any]
    attempts: int


class DeliveryError(Exception):
    """A failed delivery. Permanent errors are recorded and not retried."""

    def __init__(
        self,
        code: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        counts_as_attempt: bool = True,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after
        # A rate-limit wait is not a failure of the row, so it does not use up its attempts.
        self.counts_as_attempt = counts_as_attempt


class Transport(Protocol):
    """A chat platform's side of delivery, implemented in handlers/."""

    platform: str

    async def deliver(self, item: OutboxItem) -> None:
        """Send one outbox item, or raise DeliveryError."""
        ...


@dataclass(frozen=True)
class CardInfo:
    id: int
    request_id: str | None
    invitation_id: str | None
    platform: str
    person_id: int | None
    channel: str
    message_id: str
    shown_status: str


class DeliveryStore:
    """The database reads and writes a transport needs, as plain synchronous calls."""

    def __init__(self, db: Database, clock: Clock, outbox_platforms: tuple[str, ...] = ("slack",)):
        self.db = db
        self.clock = clock
        self.outbox_platforms = outbox_platforms

    def request(self, request_id: str) -> RequestInfo | None:
        with self.db.read() as session:
            request = repo.load_request(session, request_id)
            return RequestInfo.of(request) if request else None

    def requests(self, request_ids: list[str]) -> list[RequestInfo]:
        with self.db.read() as session:
            found = [repo.load_request(session, rid) for rid in request_ids]
            return [RequestInfo.of(r) for r in found if r is not None]

    def person(self, person_id: int) -> PersonInfo | None:
        with self.db.read() as session:
            person = session.get(Person, person_id)
            return PersonInfo.of(person) if person else None

    def account_conversation(self, platform: str, person_id: int) -> dict[str, Any] | None:
        with self.db.read() as session:
            account = session.scalars(
                select(ChatAccount).where(
                    ChatAccount.person_id == person_id, ChatAccount.platform == platform
                )
            ).first()
            return dict(account.conversation) if account and account.conversation else None

    def card(self, card_id: int) -> CardInfo | None:
        with self.db.read() as session:
            card = session.get(Card, card_id)
            return _card_info(card) if card else None

    def save_card(
        self,
        *,
        platform: str,
        channel: str,
        message_id: str,
        shown_status: str,
        person_id: int | None,
        request_id: str | None = None,
        invitation_id: str | None = None,
    ) -> CardInfo:
        """Record a posted card. If the request moved on while it was posted, queue an update."""
        with self.db.transaction() as session:
            now = self.clock.now()
            card = Card(
                request_id=request_id,
                invitation_id=invitation_id,
                platform=platform,
                person_id=person_id,
                channel=channel,
                message_id=message_id,
                shown_status=shown_status,
                created_at=now,
                updated_at=now,
            )
            session.add(card)
            session.flush()
            current = _current_status(session, request_id, invitation_id)
            if current is not None and current != shown_status:
                OutboxWriter(session, now, self.outbox_platforms, {}).update_cards([card])
            elif _lost_authority(session, request_id, person_id):
                # The approver lost the role while the card was on its way.
                OutboxWriter(session, now, self.outbox_platforms, {}).update_cards([card])
            return _card_info(card)

    def mark_card_shown(self, card_id: int, status: str) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(Card)
                .where(Card.id == card_id)
                .values(shown_status=status, updated_at=self.clock.now())
            )

    def link_account(
        self, person_id: int, platform: str, user_id: str, *, deactivated: bool = False
    ) -> None:
        """Cache the chat account found for a person by email lookup."""
        with self.db.transaction() as session:
            existing = repo.account(session, platform, user_id)
            now = self.clock.now()
            if existing is not None:
                existing.deactivated = deactivated
                existing.updated_at = now
                return
            session.add(
                ChatAccount(
                    person_id=person_id,
                    platform=platform,
                    user_id=user_id,
                    deactivated=deactivated,
                    updated_at=now,
                )
            )

    def mark_unreachable(self, person_id: int, platform: str, code: str) -> None:
        with self.db.transaction() as session:
            for account in repo.accounts_of(session, person_id):
                if account.platform == platform:
                    account.deactivated = True
                    account.updated_at = self.clock.now()
            log.warning(
                "person unreachable person=%s platform=%s error=%s", person_id, platform, code
            )


def _card_info(card: Card) -> CardInfo:
    return CardInfo(
        id=card.id,
        request_id=card.request_id,
        invitation_id=card.invitation_id,
        platform=card.platform,
        person_id=card.person_id,
        channel=card.channel,
        message_id=card.message_id,
        shown_status=card.shown_status,
    )


def _lost_authority(session: Any, request_id: str | None, person_id: int | None) -> bool:
    """Return whether a pending request's approver may no longer decide it."""
    from bot.workflow import authority_over
    from storage.models import AccessRequest

    if request_id is None or person_id is None:
        return False
    request = session.get(AccessRequest, request_id)
    person = session.get(Person, person_id)
    if request is None or person is None or request.status != "pending":
        return False
    return not authority_over(session, person, request).allowed


def _current_status(session: Any, request_id: str | None, invitation_id: str | None) -> str | None:
    from storage.models import AccessRequest, Invitation

    if request_id is not None:
        request = session.get(AccessRequest, request_id)
        return request.status if request else None
    if invitation_id is not None:
        invitation = session.get(Invitation, invitation_id)
        return invitation.status if invitation else None
    return None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DeliveryStats:
    sent: int = 0
    # Rows put back for a rate limit, without using up an attempt.
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


class Deliverer:
    """Claims due outbox rows and delivers them through the platform transports."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        transports: Mapping[str, Transport],
        *,
        worker_id: str | None = None,
        lease_seconds: int = 60,
        batch_size: int = 50,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.clock = clock
        self.transports = dict(transports)
        self.worker_id = worker_id or default_worker_id()
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.stats = DeliveryStats()
        self.wake = asyncio.Event()
        self._stopping = False

    def claim(self, limit: int | None = None) -> list[OutboxItem]:
        """Take up to `limit` due rows for this worker, with a lease."""
        limit = limit or self.batch_size
        now = self.clock.now()
        with self.db.transaction() as session:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    OutboxMessage.platform.in_(list(self.transports)),
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            items = []
            for row in rows:
                row.lease_until = now + self.lease
                row.claimed_by = self.worker_id
                items.append(
                    OutboxItem(
                        id=row.id,
                        platform=row.platform,
                        kind=Kind(row.kind),
                        request_id=row.request_id,
                        invitation_id=row.invitation_id,
                        person_id=row.person_id,
                        card_id=row.card_id,
                        channel=row.channel,
                        payload=dict(row.payload or {}),
                        attempts=row.attempts,
                    )
                )
            return items

    def seconds_until_due(self, longest: float) -> float:
        """Return how long until the next pending row is due, at most `longest` seconds."""
        with self.db.read() as session:
            due = session.scalar(
                select(OutboxMessage.next_attempt_at)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.platform.in_(list(self.transports)),
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(1)
            )
        if due is None:
            return longest
        seconds = (due - self.clock.now()).total_seconds()
        return min(longest, max(0.05, seconds))

    def _finish(self, item: OutboxItem, error: DeliveryError | None) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            owned = (OutboxMessage.id == item.id) & (OutboxMessage.claimed_by == self.worker_id)
            if error is None:
                session.execute(
                    update(OutboxMessage)
                    .where(owned)
                    .values(
                        status="sent", sent_at=now, lease_until=None, attempts=item.attempts + 1
                    )
                )
                return
            attempts = item.attempts + (1 if error.counts_as_attempt else 0)
            if error.permanent or attempts >= MAX_ATTEMPTS:
                session.execute(
                    update(OutboxMessage)
                    .where(owned)
                    .values(
                        status="failed", attempts=attempts, lease_until=None, last_error=error.code
                    )
                )
                return
            if error.retry_after is not None:
                delay = error.retry_after
            else:
                delay = min(MAX_BACKOFF_SECONDS, 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
            session.execute(
                update(OutboxMessage)
                .where(owned)
                .values(
                    attempts=attempts,
                    lease_until=None,
                    last_error=error.code,
                    next_attempt_at=now + dt.timedelta(seconds=delay),
                )
            )

    async def deliver_one(self, item: OutboxItem) -> None:
        transport = self.transports[item.platform]
        error: DeliveryError | None = None
        try:
            await transport.deliver(item)
        except DeliveryError as caught:
            error = caught
        except Exception as caught:  # a bug or an unexpected client error: retry, and log it
            log.exception("delivery raised outbox=%s kind=%s", item.id, item.kind)
            error = DeliveryError(f"internal_error: {type(caught).__name__}")
        if error is None:
            self.stats.sent += 1
        else:
            self.stats.by_error[error.code] = self.stats.by_error.get(error.code, 0) + 1
            final = error.permanent or (
                error.counts_as_attempt and item.attempts + 1 >= MAX_ATTEMPTS
            )
            if not error.counts_as_attempt and not final:
                self.stats.deferred += 1
                log.debug(
                    "delivery deferred outbox=%s kind=%s error=%s retry_after=%s",
                    item.id,
                    item.kind,
                    error.code,
                    error.retry_after,
                )
            elif final:
                self.stats.failed += 1
                log.warning(
                    "delivery failed for good outbox=%s kind=%s request=%s person=%s error=%s",
                    item.id,
                    item.kind,
                    item.request_id,
                    item.person_id,
                    error.code,
                )
            else:
                self.stats.retried += 1
                log.info(
                    "delivery will be retried outbox=%s kind=%s attempt=%d error=%s",
                    item.id,
                    item.kind,
                    item.attempts + 1,
                    error.code,
                )
        await asyncio.to_thread(self._finish, item, error)

    async def run_once(self) -> int:
        """Claim one batch and deliver it; return the number of rows handled."""
        items = await asyncio.to_thread(self.claim)
        if not items:
            return 0
        semaphore = asyncio.Semaphore(self.concurrency)

        async def guarded(item: OutboxItem) -> None:
            async with semaphore:
                await self.deliver_one(item)

        await asyncio.gather(*(guarded(item) for item in items))
        return len(items)

    async def drain(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due now; return the number of rows handled."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            if handled == 0:
                break
            total += handled
        return total

    async def run_forever(self, interval: float) -> None:
        log.info("delivery started worker=%s", self.worker_id)
        while not self._stopping:
            try:
                await self.drain()
            except Exception:
                # A lost database connection, say: log it and try again next round.
                log.exception("delivery round failed worker=%s", self.worker_id)
            try:
                wait = await asyncio.to_thread(self.seconds_until_due, interval)
            except Exception:
                wait = interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)
            self.wake.clear()
        log.info("delivery stopped worker=%s", self.worker_id)

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()
