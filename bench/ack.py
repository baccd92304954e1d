"""Ack latency through the real HTTP server, against a bare Bolt app on the same machine.

Three requests are measured at 1, 10 and 50 concurrent clients:

- `/access request`: the handler reads the organizations and opens the request modal
  with views.open on the local Slack before it responds;
- an Approve click on a pending request, which decides it before the response;
- a Reject submission (the reject modal's view_submission), which decides too.

Each click and submission names a request that is still pending, so every one of them
really decides. The servers are subprocesses: `cosigner serve --no-scheduler` on SQLite
(the default deployment), and the bare Bolt app of bench.bare_bolt with and without
process_before_response. The local Slack runs in its own process, and the load
generator runs here. Clients are closed loops: each sends its next request when the
previous response has arrived.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    Result,
    ResultTable,
    Target,
    load_average,
    sqlite_database,
)
from bench.population import PendingRequest, load_population
from bench.servers import ADMIN_CHANNEL, ServerProcess, bare_bolt_server, cosigner_server
from bench.slack_process import SIGNING_SECRET, SlackProcess
from bench.slack_requests import (
    LoadResult,
    RequestFactory,
    SignedRequest,
    button_click,
    reject_submission,
    run_closed_loop,
    slash_command,
)
from storage.db import Database
from storage.models import AccessRequest, OutboxMessage

CONCURRENCY_LEVELS = (1, 10, 50)
OPERATIONS = ("/access request", "Approve click", "Reject submission")
P99_TARGET_MS = 100.0
RATIO_TARGET = 1.5
OUTBOX_DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Sizes:
    requests_per_run: int
    warmup: int
    organizations: int
    time_limit: float


FULL = Sizes(requests_per_run=1000, warmup=50, organizations=50, time_limit=180.0)
SMOKE = Sizes(requests_per_run=10, warmup=2, organizations=5, time_limit=20.0)


def request_factory(
    operation: str, slack: SlackProcess, pool: list[PendingRequest]
) -> RequestFactory:
    """Return a builder of the signed request number `index` of one run.

    Clicks and submissions take request `index` of `pool`, which contains requests
    that no run has decided yet. The command fetches a fresh trigger id from the local
    Slack for each request, because views.open accepts a trigger only once.
    """

    async def command(index: int) -> SignedRequest:
        user_id = pool[index % len(pool)].requester_user
        trigger_id, response_url = await slack.interaction(user_id)
        return slash_command(
            SIGNING_SECRET,
            user_id=user_id,
            text="request",
            trigger_id=trigger_id,
            response_url=response_url,
        )

    async def approve(index: int) -> SignedRequest:
        request = pool[index]
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

    async def reject(index: int) -> SignedRequest:
        request = pool[index]
        return reject_submission(
            SIGNING_SECRET,
            user_id=request.approver_user,
            request_id=request.request_id,
            reason="Not on the staff list for this clinic.",
            trigger_id=f"{index}.{index}.benchtrigger",
        )

    return {OPERATIONS[0]: command, OPERATIONS[1]: approve, OPERATIONS[2]: reject}[operation]


def count_status(db: Database, status: str) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AccessRequest)
                .where(AccessRequest.status == status)
            )
            or 0
        )


async def wait_for_outbox(db: Database, timeout: float) -> int:
    """Wait until no outbox row is pending, and return how many still are at the timeout."""
    deadline = time.monotonic() + timeout

    def pending() -> int:
        with db.transaction() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                )
                or 0
            )

    while True:
        left = await asyncio.to_thread(pending)
        if left == 0 or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


async def run(smoke: bool = False) -> Result:
    sizes = SMOKE if smoke else FULL
    result = Result("ack", smoke)
    per_run = sizes.requests_per_run + sizes.warmup
    decisions_needed = per_run * len(CONCURRENCY_LEVELS)
    now = dt.datetime.now(dt.UTC)
    with sqlite_database("ack") as url:
        population = await asyncio.to_thread(
            load_population,
            url,
            organizations=sizes.organizations,
            requests=2 * decisions_needed,
            now=now,
        )
        approve_pool = population.requests[:decisions_needed]
        reject_pool = population.requests[decisions_needed:]
        async with SlackProcess() as slack:
            await slack.add_users(population.users)
            await slack.add_channel(ADMIN_CHANNEL, "cosigner-admins")
            servers = [
                cosigner_server(url, slack.api_url),
                bare_bolt_server(slack.api_url, process_before_response=True),
                bare_bolt_server(slack.api_url, process_before_response=False),
            ]
            try:
                for server in servers:
                    await server.start()
                await measure(result, sizes, slack, servers, approve_pool, reject_pool, url)
            finally:
                for server in servers:
                    await server.stop()
    return result


def latency_table(sizes: Sizes) -> ResultTable:
    table = ResultTable(
        "Ack latency (ms), closed-loop clients, SQLite",
        [
            "request",
            "clients",
            "server",
            "n",
            "p50",
            "p95",
            "p99",
            "max",
            "req/s",
            "failed",
            "p99 / bare",
            "load 1/5/15",
        ],
    )
    table.notes.append(
        f"{sizes.requests_per_run} recorded requests per row after {sizes.warmup} warm-up "
        "requests. Latency runs from sending the request to reading the whole response."
    )
    table.notes.append(
        "p99 / bare: the row's p99 over the bare Bolt app's (process_before_response=True) "
        "p99 at the same request and clients."
    )
    return table


async def measure(
    result: Result,
    sizes: Sizes,
    slack: SlackProcess,
    servers: list[ServerProcess],
    approve_pool: list[PendingRequest],
    reject_pool: list[PendingRequest],
    url: str,
) -> None:
    cosigner, bare_pbr, bare_default = servers
    labels = {
        cosigner.name: "cosigner",
        bare_pbr.name: "bare Bolt, process_before_response=True",
        bare_default.name: "bare Bolt, default (False)",
    }
    table = latency_table(sizes)
    per_run = sizes.requests_per_run + sizes.warmup
    pools = {
        OPERATIONS[0]: iter([approve_pool] * len(CONCURRENCY_LEVELS)),
        OPERATIONS[1]: iter(_slices(approve_pool, per_run)),
        OPERATIONS[2]: iter(_slices(reject_pool, per_run)),
    }
    db = Database(url)
    p99s: dict[tuple[str, int, str], float] = {}
    views_before = len(await slack.calls("views.open"))
    commands_sent = 0
    try:
        for operation, clients in itertools.product(OPERATIONS, CONCURRENCY_LEVELS):
            pool = next(pools[operation])
            for server in servers:
                load = load_average()
                outcome = await run_closed_loop(
                    server.events_url,
                    request_factory(operation, slack, pool),
                    total=per_run,
                    concurrency=clients,
                    time_limit=sizes.time_limit,
                    record_from=sizes.warmup,
                )
                label = labels[server.name]
                if server is cosigner:
                    if operation == OPERATIONS[0]:
                        commands_sent += outcome.completed
                    # Let the deliveries this run queued finish before the next run starts.
                    left = await wait_for_outbox(db, OUTBOX_DRAIN_TIMEOUT_SECONDS)
                    if left:
                        table.notes.append(
                            f"{left} outbox rows were still pending "
                            f"{OUTBOX_DRAIN_TIMEOUT_SECONDS:.0f} s after {operation} "
                            f"at {clients} clients."
                        )

                p99s[(operation, clients, server.name)] = outcome.quantile(0.99)
                table.add(*_row(operation, clients, label, outcome, load))
                if outcome.timed_out:
                    table.notes.append(
                        f"{operation} at {clients} clients on {label} stopped at the "
                        f"{sizes.time_limit:.0f} s limit after {outcome.completed} requests."
                    )

        _fill_ratios(table, labels, bare_pbr.name)
        result.errors += await _check(
            db, cosigner, expected_decisions=per_run * len(CONCURRENCY_LEVELS)
        )
        await _report_modals(result, table, slack, views_before, commands_sent)
    finally:
        db.dispose()
    result.tables.append(table)
    _targets(result, p99s, cosigner.name, bare_pbr.name)


def _row(operation: str, clients: int, label: str, outcome: LoadResult, load: str) -> list[Any]:
    return [
        operation,
        clients,
        label,
        outcome.count,
        outcome.quantile(0.50),
        outcome.quantile(0.95),
        outcome.quantile(0.99),
        max(outcome.latencies_ms, default=math.nan),
        outcome.rate,
        outcome.failures,
        None,
        load,
    ]


def _slices(pool: list[PendingRequest], size: int) -> list[list[PendingRequest]]:
    return [pool[start : start + size] for start in range(0, len(pool), size)]


def _fill_ratios(table: ResultTable, labels: dict[str, str], bare_name: str) -> None:
    """Fill each row's p99 ratio to the bare Bolt row of the same request and clients."""
    bare_label = labels[bare_name]
    for operation, clients in itertools.product(OPERATIONS, CONCURRENCY_LEVELS):
        rows = [r for r in table.rows if r[0] == operation and r[1] == clients]
        bare = [r for r in rows if r[2] == bare_label]
        if not bare or not bare[0][6]:
            continue
        for row in rows:
            row[10] = row[6] / bare[0][6]


async def _check(db: Database, cosigner: ServerProcess, *, expected_decisions: int) -> list[str]:
    """Return what went wrong: decisions that did not happen, or errors in Cosigner's log."""
    approved = await asyncio.to_thread(count_status, db, "approved")
    rejected = await asyncio.to_thread(count_status, db, "rejected")
    problems = []
    if approved != expected_decisions:
        problems.append(f"{approved} requests approved, expected {expected_decisions}")
    if rejected != expected_decisions:
        problems.append(f"{rejected} requests rejected, expected {expected_decisions}")
    errors = cosigner.errors_in_log()
    if errors:
        problems.append(f"the Cosigner log has {len(errors)} error lines, first: {errors[0]}")
    return problems


async def _report_modals(
    result: Result, table: ResultTable, slack: SlackProcess, views_before: int, commands: int
) -> None:
    """Add a target: every /access request opened its modal within the trigger's 3 seconds.

    A command whose handler reaches views.open after the trigger expired gets an error
    from Slack, and the user is told to run the command again.
    """
    calls = (await slack.calls("views.open"))[views_before:]
    opened = sum(1 for call in calls if call["ok"])
    failures = collections.Counter(str(call["error"]) for call in calls if not call["ok"])
    described = ", ".join(f"{count} {error}" for error, count in failures.most_common())
    table.notes.append(
        f"/access request opened {opened} modals for {commands} commands"
        + (f"; views.open failed with {described}." if failures else ".")
    )
    result.targets.append(
        Target(
            "every /access request opens its modal within the trigger id's 3 seconds",
            f"{opened} of {commands} opened" + (f" ({described})" if failures else ""),
            opened == commands,
        )
    )


def _targets(
    result: Result, p99s: dict[tuple[str, int, str], float], cosigner: str, bare: str
) -> None:
    clients = CONCURRENCY_LEVELS[-1]
    for operation in OPERATIONS:
        p99 = p99s[(operation, clients, cosigner)]
        bare_p99 = p99s[(operation, clients, bare)]
        result.targets.append(
            Target(
                f"{operation}: ack p99 under {P99_TARGET_MS:.0f} ms at {clients} clients",
                f"p99 {p99:.1f} ms",
                p99 < P99_TARGET_MS,
            )
        )
        ratio = p99 / bare_p99 if bare_p99 else math.inf
        result.targets.append(
            Target(
                f"{operation}: p99 within {RATIO_TARGET} times the bare Bolt app "
                f"at {clients} clients",
                f"{ratio:.1f} times ({p99:.1f} ms against {bare_p99:.1f} ms)",
                ratio <= RATIO_TARGET,
            )
        )
