"""Outbox delivery through a rate-limited local Slack, with injected 429 responses.

1,000 requester notices (outbox `notify` rows) go to 200 people, five each, so that
Slack's limit of about one message per second per channel matters. The local Slack
enforces its limits (a burst of 3 posts per channel, then 1 per second, and the
method tiers), and it responds to the first chat.postMessage calls with injected HTTP
429s.
Cosigner's Deliverer and SlackTransport run in this process with their production
settings: batches of 50 rows, 8 deliveries at a time, 1 second between posts to one
channel, and a 2-second poll interval. The local Slack runs in its own process.

Two orders of the rows are measured: interleaved (each batch reaches 50 different
people, as when many requests are decided at once) and grouped (each person's five
notices are next to each other). Every notice must arrive exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import re
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bench.common import (
    BenchmarkError,
    Result,
    ResultTable,
    Target,
    bulk_insert,
    check_postgres,
    database,
    fix_postgres_sequences,
    load_average,
    request_id,
)
from bench.slack_process import BOT_TOKEN, TEAM_ID, SlackProcess, monotonic
from bot.clock import SystemClock
from bot.delivery import Deliverer, DeliveryStore
from bot.settings import Settings
from handlers.slack.transport import SlackTransport
from storage.db import Database
from storage.models import OutboxMessage

REQUEST_ID = re.compile(r"REQ-[0-9A-Z]{5}")


@dataclass(frozen=True)
class Sizes:
    notifications: int
    people: int
    injected_429s: int
    time_limit: float


FULL = Sizes(notifications=1000, people=200, injected_429s=20, time_limit=600.0)
SMOKE = Sizes(notifications=20, people=10, injected_429s=3, time_limit=60.0)


async def run(smoke: bool, databases: list[str]) -> Result:
    sizes = SMOKE if smoke else FULL
    result = Result("delivery", smoke)
    table = ResultTable(
        f"Delivering {sizes.notifications:,} notices to {sizes.people} people through a "
        "rate-limited local Slack",
        [
            "database",
            "order",
            "delivered",
            "seconds",
            "messages/s",
            "429s met",
            "of them injected",
            "deferred",
            "duplicates",
            "load 1/5/15",
        ],
    )
    per_person = sizes.notifications // sizes.people
    table.notes.append(
        f"The floor is about {per_person - 1} s: each person gets {per_person} notices and "
        "Cosigner leaves 1 s between posts to one channel."
    )
    table.notes.append(
        "deferred: deliveries put back for later without using up an attempt, because a "
        "429's Retry-After was still running or the person's channel had a post in the last "
        "second."
    )
    cases = [(kind, "interleaved") for kind in databases]
    if "sqlite" in databases and not smoke:
        cases.append(("sqlite", "grouped"))
    for kind, order in cases:
        if kind == "postgresql" and not check_postgres(result):
            continue
        row = await measure(kind, order, sizes)
        table.add(*row)
        seconds, duplicates = row[3], row[8]
        if duplicates:
            raise BenchmarkError(f"{duplicates} notices were delivered more than once")
        if kind == "sqlite" and order == "interleaved":
            result.targets.append(
                Target(
                    f"every one of {sizes.notifications:,} notices delivered exactly once "
                    "(SQLite, interleaved)",
                    f"{row[2]:,} delivered, {duplicates} duplicates, in {seconds:.1f} s",
                    row[2] == sizes.notifications and duplicates == 0,
                )
            )
    result.tables.append(table)
    return result


async def measure(kind: str, order: str, sizes: Sizes) -> list[Any]:
    with database(kind, "delivery") as url:
        users = await asyncio.to_thread(load_notices, url, sizes, order)
        async with SlackProcess(rate_limits=True) as slack:
            await slack.add_users(users)
            await slack.fail_next("chat.postMessage", status=429, count=sizes.injected_429s)
            load = load_average()
            started = monotonic()
            stats = await deliver_everything(url, slack.api_url, sizes)
            calls = await slack.calls("chat.postMessage")
            messages = await slack.messages()
    delivered_calls = [call for call in calls if call["ok"]]
    if not delivered_calls:
        raise BenchmarkError("no notice was delivered")
    seconds = max(call["at"] for call in delivered_calls) - started
    met_429 = sum(1 for call in calls if call["status"] == 429)
    copies = collections.Counter(
        identifier for message in messages for identifier in _request_ids_in(message["text"])
    )
    missing = [request_id(n) for n in range(sizes.notifications) if copies[request_id(n)] == 0]
    if missing:
        raise BenchmarkError(f"{len(missing)} notices never arrived, first {missing[0]}")
    duplicates = sum(count - 1 for count in copies.values() if count > 1)
    return [
        kind,
        order,
        len(copies),
        seconds,
        len(copies) / seconds,
        met_429,
        min(met_429, sizes.injected_429s),
        stats.deferred,
        duplicates,
        load,
    ]


def _request_ids_in(text: str) -> list[str]:
    return REQUEST_ID.findall(text)


def load_notices(url: str, sizes: Sizes, order: str) -> list[tuple[str, str, str]]:
    """Load approved requests and one `notify` outbox row each; return the Slack users."""
    now = dt.datetime.now(dt.UTC)
    people, accounts, users = [], [], []
    for number in range(sizes.people):
        person_id = number + 1
        user_id = f"UN{number:06d}"
        email = f"{user_id.lower()}@bench.example"
        people.append(
            {"id": person_id, "name": f"Requester {number}", "email": email, "created_at": now}
        )
        accounts.append(
            {
                "id": person_id,
                "person_id": person_id,
                "platform": "slack",
                "user_id": user_id,
                "workspace_id": TEAM_ID,
                "deactivated": False,
                "updated_at": now,
            }
        )
        users.append((user_id, f"Requester {number}", email))
    organization = {
        "id": 1,
        "legal_name": "Bench Clinic",
        "tin": "123456789",
        "timezone": "America/New_York",
        "created_at": now,
    }
    per_person = sizes.notifications // sizes.people
    requests, outbox = [], []
    for number in range(sizes.notifications):
        if order == "interleaved":
            person_id = number % sizes.people + 1
        else:
            person_id = number // per_person + 1
        identifier = request_id(number)
        requests.append(
            {
                "id": identifier,
                "kind": "surrogacy",
                "organization_id": 1,
                "requester_id": person_id,
                "justification": "Billing service for the clinic",
                "surrogate_org": f"Billing Firm {number}",
                "products": ["PECOS"],
                "status": "approved",
                "created_at": now - dt.timedelta(hours=2),
                "decided_at": now - dt.timedelta(minutes=1),
                "decided_via": "slack",
            }
        )
        outbox.append(
            {
                "platform": "slack",
                "kind": "notify",
                "request_id": identifier,
                "person_id": person_id,
                "payload": {"event": "approved"},
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            bulk_insert(connection, "organizations", [organization])
            bulk_insert(connection, "people", people)
            bulk_insert(connection, "chat_accounts", accounts)
            bulk_insert(connection, "requests", requests)
            bulk_insert(connection, "outbox", outbox)
    finally:
        db.dispose()
    fix_postgres_sequences(url)
    return users


async def deliver_everything(url: str, api_url: str, sizes: Sizes) -> Any:
    """Run the Deliverer until no row is pending; return its stats."""
    interval = Settings(_env_file=None).delivery_interval_seconds  # type: ignore[call-arg]
    db = Database(url)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=api_url)
    clock = SystemClock()
    transport = SlackTransport(client, DeliveryStore(db, clock))
    deliverer = Deliverer(db, clock, {"slack": transport}, worker_id="bench")
    task = asyncio.create_task(deliverer.run_forever(interval))
    deadline = time.monotonic() + sizes.time_limit
    try:
        while True:
            left = await asyncio.to_thread(_count_unfinished, db)
            if left == 0:
                break
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{left} notices were still pending after {sizes.time_limit:.0f} s"
                )
            if task.done():
                task.result()
                raise BenchmarkError("the deliverer stopped before the outbox was empty")
            await asyncio.sleep(0.2)
        failed = await asyncio.to_thread(_count_failed, db)
        if failed:
            raise BenchmarkError(f"{failed} notices failed for good: {deliverer.stats.by_error}")
        return deliverer.stats
    finally:
        deliverer.stop()
        await asyncio.wait_for(task, timeout=30)
        if client.session is not None:
            await client.session.close()
        db.dispose()


def _count_unfinished(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
            or 0
        )


def _count_failed(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "failed")
            )
            or 0
        )
