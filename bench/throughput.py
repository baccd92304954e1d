"""Decision throughput: Approve clicks per second to completion, against the raw update rate.

A decision is complete when it is committed and every card of its request (one for
the organization's AO, one for its DO) shows the final state in the local Slack, that
is, after the chat.update calls. Clients click Approve on pending requests through
`cosigner serve --no-scheduler`. The run's time goes from the first click to the
last chat.update of a card, as stamped by the local Slack.

The baseline is the same database's rate for the conditional update alone, through
the driver (sqlite3 or psycopg) with no ORM: `UPDATE requests SET status='approved'
WHERE id=? AND status='pending' RETURNING id` and a commit, on one connection, and on
PostgreSQL also on 16 connections from 16 threads.

Afterwards, `Workflow.approve` and the delivery of one card update run in this process
with a statement counter, to show where a decision's time goes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from bench.common import (
    BenchmarkError,
    Result,
    ResultTable,
    Target,
    check_postgres,
    database,
    load_average,
)
from bench.population import PendingRequest, load_population, post_cards
from bench.servers import ADMIN_CHANNEL, cosigner_server
from bench.slack_process import BOT_TOKEN, SIGNING_SECRET, SlackProcess, monotonic
from bench.slack_requests import SignedRequest, button_click, run_closed_loop
from bot.clock import SystemClock
from bot.delivery import Deliverer, DeliveryStore
from bot.services import Services
from bot.settings import Settings
from storage.db import Database
from storage.models import Card, OutboxMessage

RATIO_TARGET = 0.5
POSTGRES_THREADS = 16
COMPLETION_TIMEOUT_SECONDS = 300.0
RAW_UPDATE = (
    "UPDATE requests SET status = 'approved' WHERE id = {mark} AND status = 'pending' RETURNING id"
)


@dataclass(frozen=True)
class Sizes:
    decisions: int
    clients: int
    warmup: int
    diagnosed: int
    raw_sqlite: int
    raw_postgres: int


FULL = Sizes(
    decisions=1000, clients=16, warmup=20, diagnosed=100, raw_sqlite=20_000, raw_postgres=4_000
)
SMOKE = Sizes(decisions=10, clients=4, warmup=2, diagnosed=3, raw_sqlite=300, raw_postgres=100)


async def run(smoke: bool, databases: list[str]) -> Result:
    sizes = SMOKE if smoke else FULL
    result = Result("throughput", smoke)
    table = ResultTable(
        f"Approve clicks to completion, {sizes.clients} clients, against the raw update",
        [
            "database",
            "decisions",
            "acked/s",
            "complete/s",
            "raw 1 conn/s",
            f"raw {POSTGRES_THREADS} conn/s",
            "complete / raw",
            "load 1/5/15",
        ],
    )
    table.notes.append(
        "complete/s: decisions divided by the time from the first click to the last card's "
        "chat.update; acked/s: decisions divided by the time until the last click's response."
    )
    table.notes.append(
        "complete / raw: complete/s over the raw rate on one connection "
        f"(on PostgreSQL also over {POSTGRES_THREADS} connections, after the slash)."
    )
    diagnosis = ResultTable(
        "Where a decision's time goes, in this process (no HTTP server)",
        ["database", "step", "calls", "ms per call", "statements per call"],
    )
    diagnosis.notes.append(
        "Statements are counted with a before_cursor_execute listener; BEGIN counts on "
        "SQLite (BEGIN IMMEDIATE is a statement there) and COMMIT counts on neither."
    )
    for kind in databases:
        if kind == "postgresql" and not check_postgres(result):
            continue
        row = await measure_database(kind, sizes, diagnosis, result)
        table.add(*row)
    result.tables += [table, diagnosis]
    return result


async def measure_database(
    kind: str, sizes: Sizes, diagnosis: ResultTable, result: Result
) -> list[Any]:
    now = dt.datetime.now(dt.UTC)
    raw_count = sizes.raw_sqlite if kind == "sqlite" else sizes.raw_postgres
    threaded = kind == "postgresql"
    clicked = sizes.warmup + sizes.decisions
    with database(kind, "throughput") as url:
        population = await asyncio.to_thread(
            load_population,
            url,
            organizations=50,
            requests=clicked + sizes.diagnosed + raw_count * (2 if threaded else 1),
            now=now,
        )
        requests = population.requests
        warmup = requests[: sizes.warmup]
        measured = requests[sizes.warmup : clicked]
        diagnosed = requests[clicked : clicked + sizes.diagnosed]
        raw_ids = [r.request_id for r in requests[clicked + sizes.diagnosed :]]

        load = load_average()
        raw_one = await asyncio.to_thread(raw_update_rate, url, raw_ids[:raw_count], 1)
        raw_many = None
        if threaded:
            raw_many = await asyncio.to_thread(
                raw_update_rate, url, raw_ids[raw_count:], POSTGRES_THREADS
            )

        async with SlackProcess() as slack:
            await slack.add_users(population.users)
            await slack.add_channel(ADMIN_CHANNEL, "cosigner-admins")
            await post_cards(url, slack, requests[: clicked + sizes.diagnosed], now)
            server = cosigner_server(url, slack.api_url)
            async with server:
                await click_and_wait(server.events_url, slack, url, warmup)
                acked, complete = await click_and_wait(
                    server.events_url, slack, url, measured, clients=sizes.clients
                )
                # The requester notices are not part of completion, but a server stopped
                # while delivering one leaves a leased row that the diagnosis cannot take.
                db = Database(url, pool_size=1)
                try:
                    await wait_until(
                        lambda: _pending_outbox(db) == 0,
                        COMPLETION_TIMEOUT_SECONDS,
                        "the server's outbox to empty",
                    )
                finally:
                    db.dispose()
                errors = server.errors_in_log()
                if errors:
                    raise BenchmarkError(
                        f"the Cosigner log has {len(errors)} error lines, first: {errors[0]}"
                    )
            await asyncio.to_thread(diagnose, kind, url, slack.api_url, diagnosed, diagnosis)

    complete_rate = len(measured) / complete
    ratio = f"{complete_rate / raw_one:.4f}"
    if raw_many:
        ratio += f" / {complete_rate / raw_many:.4f}"
    result.targets.append(
        Target(
            f"{kind}: decision throughput at least {RATIO_TARGET} of the raw update rate",
            f"{complete_rate:.0f} decisions/s to completion against {raw_one:,.0f} raw updates/s "
            f"on one connection ({complete_rate / raw_one:.4f})",
            complete_rate / raw_one >= RATIO_TARGET,
        )
    )
    return [
        kind,
        len(measured),
        len(measured) / acked,
        complete_rate,
        raw_one,
        raw_many,
        ratio,
        load,
    ]


async def click_and_wait(
    events_url: str,
    slack: SlackProcess,
    url: str,
    requests: list[PendingRequest],
    *,
    clients: int = 1,
) -> tuple[float, float]:
    """Approve every request; return the seconds until the last ack and until completion."""

    async def make(index: int) -> SignedRequest:
        request = requests[index]
        return button_click(
            SIGNING_SECRET,
            user_id=request.approver_user,
            action_id="request_approve",
            value=request.request_id,
            channel=f"D{request.approver_user}",
            message_ts=f"1700000000.{index:06d}",
            trigger_id=f"{index}.{index}.benchtrigger",
            response_url=f"{slack.api_url.removesuffix('api/')}response/unused-{index}",
        )

    started = monotonic()
    outcome = await run_closed_loop(
        events_url,
        make,
        total=len(requests),
        concurrency=clients,
        time_limit=COMPLETION_TIMEOUT_SECONDS,
    )
    acked = monotonic() - started
    if outcome.failures or outcome.timed_out or outcome.completed != len(requests):
        raise BenchmarkError(
            f"{outcome.completed} of {len(requests)} clicks got a response, "
            f"statuses {outcome.statuses}, errors {outcome.errors}"
        )
    ids = [r.request_id for r in requests]
    db = Database(url, pool_size=1)
    try:
        await wait_until(
            lambda: cards_shown(db, ids) >= 2 * len(ids),
            COMPLETION_TIMEOUT_SECONDS,
            "every card to show its decision",
        )
        cards = await asyncio.to_thread(card_messages, db, ids)
    finally:
        db.dispose()
    updates: dict[tuple[str, str], float] = {}
    for call in await slack.calls("chat.update"):
        key = (str(call["channel"]), str(call["ts"]))
        if call["ok"] and key in cards:
            updates[key] = min(updates.get(key, call["at"]), call["at"])
    missing = cards - set(updates)
    if missing:
        raise BenchmarkError(f"{len(missing)} cards were never updated in the local Slack")
    return acked, max(updates.values()) - started


def cards_shown(db: Database, request_ids: list[str]) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Card)
                .where(Card.request_id.in_(request_ids), Card.shown_status == "approved")
            )
            or 0
        )


def card_messages(db: Database, request_ids: list[str]) -> set[tuple[str, str]]:
    with db.transaction() as session:
        rows = session.execute(
            select(Card.channel, Card.message_id).where(Card.request_id.in_(request_ids))
        )
        return {(row.channel, row.message_id) for row in rows}


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


# The raw conditional update -----------------------------------------------------------


def raw_update_rate(url: str, request_ids: list[str], threads: int) -> float:
    """Return conditional updates per second over `threads` connections, one per transaction."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if threads != 1:
            raise ValueError("the SQLite baseline uses one connection")
        return _sqlite_rate(str(parsed.database), request_ids)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return _postgres_rate(conninfo, request_ids, threads)


def _sqlite_rate(path: str, request_ids: list[str]) -> float:
    # The same settings as storage.db gives Cosigner's connections.
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=30000")
    statement = RAW_UPDATE.format(mark="?")
    try:
        started = time.perf_counter()
        for request_id in request_ids:
            connection.execute("BEGIN IMMEDIATE")
            if connection.execute(statement, (request_id,)).fetchone() is None:
                raise BenchmarkError(f"raw update found {request_id} not pending")
            connection.execute("COMMIT")
        return len(request_ids) / (time.perf_counter() - started)
    finally:
        connection.close()


def _postgres_rate(conninfo: str, request_ids: list[str], threads: int) -> float:
    statement = RAW_UPDATE.format(mark="%s")
    shares = [request_ids[index::threads] for index in range(threads)]
    connections = [psycopg.connect(conninfo) for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    failures: list[str] = []

    def work(connection: psycopg.Connection[Any], ids: list[str]) -> None:
        barrier.wait()
        for request_id in ids:
            if connection.execute(statement, (request_id,)).fetchone() is None:
                failures.append(request_id)
            connection.commit()

    workers = [
        threading.Thread(target=work, args=(connection, share))
        for connection, share in zip(connections, shares, strict=True)
    ]
    try:
        for worker in workers:
            worker.start()
        barrier.wait()
        started = time.perf_counter()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - started
    finally:
        for connection in connections:
            connection.close()
    if failures:
        raise BenchmarkError(f"raw update found {len(failures)} requests not pending")
    return len(request_ids) / seconds


# Diagnosis ----------------------------------------------------------------------------


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.count += 1


def diagnose(
    kind: str, url: str, api_url: str, requests: list[PendingRequest], table: ResultTable
) -> None:
    """Time Workflow.approve and the delivery of its outbox rows in this process."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        COSIGNER_ADMIN_CHANNEL=ADMIN_CHANNEL,
    )
    services = Services.build(settings, clock=SystemClock())
    counter = StatementCounter(services.db.engine)
    try:
        started, before = time.perf_counter(), counter.count
        for request in requests:
            outcome = services.workflow.approve(
                request.request_id, request.approver_person_id, via="slack"
            )
            if not outcome.ok:
                raise BenchmarkError(
                    f"in-process approve of {request.request_id}: {outcome.message}"
                )
        seconds, statements = time.perf_counter() - started, counter.count - before
        table.add(
            kind,
            "Workflow.approve",
            len(requests),
            seconds * 1000 / len(requests),
            statements / len(requests),
        )

        rows = _pending_outbox(services.db)
        started, before = time.perf_counter(), counter.count
        handled = asyncio.run(_deliver_all(services, api_url))
        seconds, statements = time.perf_counter() - started, counter.count - before
        if handled != rows:
            raise BenchmarkError(f"delivered {handled} of {rows} outbox rows in the diagnosis")
        table.add(
            kind,
            "deliver one outbox row (2 card updates + 1 notice per decision)",
            handled,
            seconds * 1000 / handled,
            statements / handled,
        )
    finally:
        services.close()


def _pending_outbox(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
            or 0
        )


async def _deliver_all(services: Services, api_url: str) -> int:
    from slack_sdk.web.async_client import AsyncWebClient

    from handlers.slack.transport import SlackTransport

    client = AsyncWebClient(token=BOT_TOKEN, base_url=api_url)
    store = DeliveryStore(services.db, services.clock)
    transport = SlackTransport(client, store, post_interval=0.0)
    deliverer = Deliverer(services.db, services.clock, {"slack": transport}, worker_id="bench")
    try:
        return await deliverer.drain()
    finally:
        if client.session is not None:
            await client.session.close()
