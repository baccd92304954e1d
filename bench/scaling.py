"""Reminder sweep and digest at 1,000 to 1,000,000 requests: time, SQL statements, peak memory.

Each size is bulk-loaded into a new database with Core `insert()` executemany. It has
1,000 organizations in four US timezones, each with an AO and a DO, and 1 % of the DOs
have a deactivated Slack account. A pool of 5,000 requesters made the requests: 10 %
are pending, made in the last 25 days so that none is due to expire, and 90 % were
decided over the past year. The state is that of the first sweep of a business day: yesterday's
sweep left its sent marks (a reminder per approver and per request, and an escalation
for every request that was already 3 business days old then).

Three measurements run per size, each in a fresh subprocess (bench.scaling_worker):
the digest, the day's first sweep (it queues today's reminders and the escalations
that came due since yesterday), and a repeat sweep five minutes later that finds
everything claimed, as the scheduler's next tick does.

A second series, on SQLite, keeps 1,000 pending requests and grows only the decided
ones, to tell whether memory grows with decided requests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from bench.common import (
    BenchmarkError,
    Result,
    ResultTable,
    Target,
    analyze,
    check_postgres,
    database,
    fix_postgres_sequences,
    load_average,
    request_id,
    run_json_subprocess,
)
from bot.calendar import calendar_for
from storage.db import Database
from storage.models import Base

# A Wednesday, 18:00 UTC: between 10:00 and 13:00 in every timezone below.
SWEEP_AT = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)
PREVIOUS_SWEEP_AT = SWEEP_AT - dt.timedelta(days=1)
REPEAT_AT = SWEEP_AT + dt.timedelta(minutes=5)
TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
PENDING_WINDOW_SECONDS = 25 * 86_400
DECIDED_STATUSES = ("approved",) * 6 + ("rejected",) * 2 + ("withdrawn", "expired")
LOAD_BATCH = 10_000

FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SMOKE_SIZES = (1_000, 2_000)
# PostgreSQL stops here unless --scaling-sizes is given, because the 1,000,000 size takes
# many minutes to load and sweep there.
POSTGRES_DEFAULT_MAX = 100_000
FIXED_PENDING = 1_000
SWEEP_TARGET_SECONDS = 2.0
SWEEP_TARGET_PENDING = 100_000
WORKER_TIMEOUT_SECONDS = 1_800.0


@dataclass(frozen=True)
class Shape:
    organizations: int
    requesters: int


FULL_SHAPE = Shape(organizations=1_000, requesters=5_000)
SMOKE_SHAPE = Shape(organizations=50, requesters=200)


def run(smoke: bool, databases: list[str], sizes: list[int] | None = None) -> Result:
    result = Result("scaling", smoke)
    shape = SMOKE_SHAPE if smoke else FULL_SHAPE
    chosen = list(sizes or (SMOKE_SIZES if smoke else FULL_SIZES))
    sweep_table, digest_table, memory_table = _tables()

    for kind in databases:
        if kind == "postgresql" and not check_postgres(result):
            continue
        for size in chosen:
            if kind == "postgresql" and sizes is None and size > POSTGRES_DEFAULT_MAX:
                continue
            measure_size(kind, size, size // 10, shape, sweep_table, digest_table)

    if "sqlite" in databases:
        for size in [size for size in chosen if size > FIXED_PENDING]:
            measure_memory(size, shape, memory_table)

    result.tables += [sweep_table, digest_table, memory_table]
    _targets(result, sweep_table, memory_table, smoke)
    return result


def _tables() -> tuple[ResultTable, ResultTable, ResultTable]:
    sweep_table = ResultTable(
        "Reminder sweep, 10 % pending (each measurement in a fresh process)",
        [
            "database",
            "requests",
            "pending",
            "load s",
            "first sweep s",
            "statements",
            "reminders",
            "escalations",
            "peak MiB",
            "repeat sweep s",
            "statements",
            "peak MiB",
            "load 1/5/15",
        ],
    )
    sweep_table.notes.append(
        "first sweep: the day's first, which queues a reminder per approver and the "
        "escalations due since yesterday; repeat sweep: five minutes later, nothing new is due."
    )
    digest_table = ResultTable(
        "Digest, 10 % pending (each measurement in a fresh process)",
        ["database", "requests", "pending", "digest s", "statements", "peak MiB", "load 1/5/15"],
    )
    memory_table = ResultTable(
        f"Memory with {FIXED_PENDING:,} pending requests and more and more decided ones (SQLite)",
        [
            "requests",
            "decided",
            "first sweep s",
            "peak MiB",
            "repeat sweep s",
            "peak MiB",
            "digest s",
            "peak MiB",
        ],
    )
    for table in (sweep_table, digest_table, memory_table):
        table.notes.append(
            "peak MiB: the worker process's peak resident set size during the task "
            "(VmHWM after resetting it), with its resident size before the task in brackets."
        )
    return sweep_table, digest_table, memory_table


def measure_size(
    kind: str,
    size: int,
    pending: int,
    shape: Shape,
    sweep_table: ResultTable,
    digest_table: ResultTable,
) -> None:
    with database(kind, f"scaling_{size}") as url:
        load_seconds = load_requests(url, size, pending, shape)
        load = load_average()
        digest = run_worker(url, "digest", SWEEP_AT)
        first = run_worker(url, "sweep", SWEEP_AT)
        repeat = run_worker(url, "sweep", REPEAT_AT)
    sweep_table.add(
        kind,
        size,
        pending,
        load_seconds,
        first["seconds"],
        first["statements"],
        first["details"]["reminders"],
        first["details"]["escalations"],
        _memory(first),
        repeat["seconds"],
        repeat["statements"],
        _memory(repeat),
        load,
    )
    digest_table.add(
        kind, size, pending, digest["seconds"], digest["statements"], _memory(digest), load
    )
    if digest["details"]["pending_total"] != pending:
        raise BenchmarkError(
            f"the digest counted {digest['details']['pending_total']} pending requests, "
            f"expected {pending}"
        )


def measure_memory(size: int, shape: Shape, table: ResultTable) -> None:
    with database("sqlite", f"memory_{size}") as url:
        load_requests(url, size, FIXED_PENDING, shape)
        digest = run_worker(url, "digest", SWEEP_AT)
        first = run_worker(url, "sweep", SWEEP_AT)
        repeat = run_worker(url, "sweep", REPEAT_AT)
    table.add(
        size,
        size - FIXED_PENDING,
        first["seconds"],
        _memory(first),
        repeat["seconds"],
        _memory(repeat),
        digest["seconds"],
        _memory(digest),
    )


def _memory(measured: dict[str, Any]) -> str:
    return f"{measured['peak_rss_mib']:.0f} ({measured['baseline_rss_mib']:.0f})"


def run_worker(url: str, task: str, at: dt.datetime) -> dict[str, Any]:
    return run_json_subprocess(
        [
            "-m",
            "bench.scaling_worker",
            "--database-url",
            url,
            "--task",
            task,
            "--at",
            at.isoformat(),
        ],
        timeout=WORKER_TIMEOUT_SECONDS,
    )


# Loading ------------------------------------------------------------------------------


def load_requests(url: str, size: int, pending: int, shape: Shape) -> float:
    """Bulk-load one dataset and return the seconds it took, ANALYZE included."""
    started = time.perf_counter()
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            for table_name, rows in _people_and_organizations(shape):
                connection.execute(insert(Base.metadata.tables[table_name]), rows)
            requests = Base.metadata.tables["requests"]
            for batch in _batches(_pending_requests(pending, shape)):
                connection.execute(insert(requests), batch)
            for batch in _batches(_decided_requests(size - pending, pending, shape)):
                connection.execute(insert(requests), batch)
            marks = Base.metadata.tables["sent_marks"]
            for batch in _batches(_yesterdays_marks(pending, shape)):
                connection.execute(insert(marks), batch)
    finally:
        db.dispose()
    fix_postgres_sequences(url)
    analyze(url)
    return time.perf_counter() - started


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= LOAD_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ao_person(organization_id: int) -> int:
    return 1 + 2 * organization_id - 1


def do_person(organization_id: int) -> int:
    return 1 + 2 * organization_id


def requester_person(shape: Shape, number: int) -> int:
    return 2 + 2 * shape.organizations + number


def organization_timezone(organization_id: int) -> str:
    return TIMEZONES[organization_id % len(TIMEZONES)]


def _people_and_organizations(shape: Shape) -> list[tuple[str, list[dict[str, Any]]]]:
    created = SWEEP_AT - dt.timedelta(days=400)
    people = [
        {
            "id": 1,
            "name": "Bench Admin",
            "email": "admin@bench.example",
            "is_admin": True,
            "created_at": created,
        }
    ]
    accounts = [_account(1, 1, "U0ADMIN", deactivated=False, at=created)]
    organizations, grants = [], []
    for organization_id in range(1, shape.organizations + 1):
        organizations.append(
            {
                "id": organization_id,
                "legal_name": f"Bench Clinic {organization_id:05d}",
                "tin": f"{100000000 + organization_id}",
                "timezone": organization_timezone(organization_id),
                "created_at": created,
            }
        )
        for person_id, role in (
            (ao_person(organization_id), "AO"),
            (do_person(organization_id), "DO"),
        ):
            people.append(
                {
                    "id": person_id,
                    "name": f"{role} of clinic {organization_id}",
                    "email": f"{role.lower()}{organization_id}@bench.example",
                    "is_admin": False,
                    "created_at": created,
                }
            )
            # One DO in a hundred left the company: their Slack account is deactivated.
            deactivated = role == "DO" and organization_id % 100 == 0
            accounts.append(
                _account(person_id, person_id, f"U{person_id:07d}", deactivated, created)
            )
            grants.append(
                {
                    "organization_id": organization_id,
                    "person_id": person_id,
                    "role": role,
                    "surrogate_org": "",
                    "products": [],
                    "granted_at": created,
                    "source": "roster",
                }
            )
    for number in range(shape.requesters):
        person_id = requester_person(shape, number)
        people.append(
            {
                "id": person_id,
                "name": f"Requester {number}",
                "email": f"requester{number}@bench.example",
                "is_admin": False,
                "created_at": created,
            }
        )
    return [
        ("organizations", organizations),
        ("people", people),
        ("chat_accounts", accounts),
        ("grants", grants),
    ]


def _account(
    account_id: int, person_id: int, user_id: str, deactivated: bool, at: dt.datetime
) -> dict[str, Any]:
    return {
        "id": account_id,
        "person_id": person_id,
        "platform": "slack",
        "user_id": user_id,
        "workspace_id": "T0BENCH",
        "deactivated": deactivated,
        "updated_at": at,
    }


def _kind(number: int) -> str:
    if number % 200 == 7:
        return "authorized_official"
    if number % 50 == 3:
        return "delegated_official"
    if number % 20 == 1:
        return "surrogacy"
    return "staff"


def _request_row(number: int, organization_id: int, requester_id: int, kind: str) -> dict[str, Any]:
    surrogate = kind == "surrogacy"
    return {
        "id": request_id(number),
        "kind": kind,
        "organization_id": organization_id,
        "requester_id": requester_id,
        "justification": "Eligibility checks and claim status for the front desk",
        "surrogate_org": "Acme Billing LLC" if surrogate else "",
        "products": ["PECOS", "NPPES"] if surrogate else [],
    }


def _pending_created_at(number: int) -> dt.datetime:
    return SWEEP_AT - dt.timedelta(seconds=(number * 7_919) % PENDING_WINDOW_SECONDS + 60)


def _pending_requests(pending: int, shape: Shape) -> Iterator[dict[str, Any]]:
    """Yield pending requests; (requester, organization) pairs are distinct up to 5,000,000."""
    for number in range(pending):
        organization_id = number % shape.organizations + 1
        requester = (number // shape.organizations) % shape.requesters
        row = _request_row(
            number, organization_id, requester_person(shape, requester), _kind(number)
        )
        row.update(status="pending", created_at=_pending_created_at(number))
        yield row


def _decided_requests(decided: int, first_number: int, shape: Shape) -> Iterator[dict[str, Any]]:
    for offset in range(decided):
        number = first_number + offset
        organization_id = number % shape.organizations + 1
        requester = requester_person(shape, (number * 31) % shape.requesters)
        row = _request_row(number, organization_id, requester, _kind(number))
        created = SWEEP_AT - dt.timedelta(seconds=(number * 104_729) % (365 * 86_400) + 86_400)
        decided_at = min(
            created + dt.timedelta(hours=number % 96 + 1), SWEEP_AT - dt.timedelta(minutes=1)
        )
        status = DECIDED_STATUSES[number % len(DECIDED_STATUSES)]
        by_approver = status in ("approved", "rejected")
        row.update(
            status=status,
            created_at=created,
            decided_at=decided_at,
            decided_by_id=ao_person(organization_id) if by_approver else None,
            decision_reason="Not on the staff list" if status == "rejected" else None,
            decided_via="slack" if by_approver else "scheduler",
        )
        yield row


def _approvers(number: int, organization_id: int) -> tuple[int, ...]:
    kind = _kind(number)
    if kind == "authorized_official":
        return (1,)
    if kind == "delegated_official":
        return (ao_person(organization_id),)
    return (ao_person(organization_id), do_person(organization_id))


def _yesterdays_marks(pending: int, shape: Shape) -> Iterator[dict[str, Any]]:
    """Yield the sent marks that yesterday's sweep left: reminders and escalations."""
    reminded_people: set[int] = set()
    for number in range(pending):
        organization_id = number % shape.organizations + 1
        calendar = calendar_for(organization_timezone(organization_id))
        created = _pending_created_at(number)
        day = calendar.local_date(PREVIOUS_SWEEP_AT).isoformat()
        identifier = request_id(number)
        if created <= calendar.cutoff(PREVIOUS_SWEEP_AT, 1):
            for person_id in _approvers(number, organization_id):
                reminded_people.add(person_id)
                yield {
                    "key": f"reminder:{identifier}:{person_id}:{day}",
                    "created_at": PREVIOUS_SWEEP_AT,
                    "details": {"request_id": identifier, "person_id": person_id},
                }
        if created <= calendar.cutoff(PREVIOUS_SWEEP_AT, 3):
            yield {
                "key": f"escalation:{identifier}",
                "created_at": PREVIOUS_SWEEP_AT,
                "details": {"request_id": identifier},
            }
    day = PREVIOUS_SWEEP_AT.date().isoformat()
    for person_id in sorted(reminded_people):
        yield {"key": f"reminder:{person_id}:{day}", "created_at": PREVIOUS_SWEEP_AT, "details": {}}


# Targets ------------------------------------------------------------------------------


def _targets(result: Result, sweeps: ResultTable, memory: ResultTable, smoke: bool) -> None:
    columns = sweeps.columns
    pending_index = columns.index("pending")
    for kind in ("sqlite", "postgresql"):
        rows = [row for row in sweeps.rows if row[0] == kind]
        if not rows:
            continue
        at_target = [row for row in rows if row[pending_index] >= SWEEP_TARGET_PENDING]
        for label, seconds_index in (("first", 4), ("repeat", 9)):
            if at_target:
                row = at_target[0]
                result.targets.append(
                    Target(
                        f"{kind}: {label} sweep over {SWEEP_TARGET_PENDING:,} pending requests "
                        f"under {SWEEP_TARGET_SECONDS:.0f} s",
                        f"{row[seconds_index]:.2f} s with {row[pending_index]:,} pending",
                        row[seconds_index] < SWEEP_TARGET_SECONDS,
                    )
                )
            else:
                largest = rows[-1]
                result.targets.append(
                    Target(
                        f"{kind}: {label} sweep over {SWEEP_TARGET_PENDING:,} pending requests "
                        f"under {SWEEP_TARGET_SECONDS:.0f} s",
                        f"not run at that size; {largest[seconds_index]:.2f} s with "
                        f"{largest[pending_index]:,} pending",
                        None,
                    )
                )
        for label, statements_index in (("first", 5), ("repeat", 10)):
            counts = [row[statements_index] for row in rows]
            sizes = [row[1] for row in rows]
            # Judged on the two largest sizes: at small sizes the count still rises while
            # more organizations and approvers have a pending request.
            grows = len(counts) > 1 and counts[-1] > 1.2 * counts[-2]
            result.targets.append(
                Target(
                    f"{kind}: statements per {label} sweep do not grow with the number of "
                    "requests (at most 20 % more at the largest size than at the one before)",
                    ", ".join(
                        f"{count:,} at {size:,}" for count, size in zip(counts, sizes, strict=True)
                    ),
                    None if len(counts) < 2 else not grows,
                )
            )
    if len(memory.rows) >= 2:
        for label, index in (("first sweep", 3), ("repeat sweep", 5), ("digest", 7)):
            peaks = [float(str(row[index]).split()[0]) for row in memory.rows]
            grows = peaks[-1] > peaks[0] * 1.2 + 10
            result.targets.append(
                Target(
                    f"{label}: memory does not grow with the number of decided requests",
                    ", ".join(
                        f"{peak:.0f} MiB at {row[1]:,} decided"
                        for peak, row in zip(peaks, memory.rows, strict=True)
                    ),
                    not grows,
                )
            )
    elif not smoke:
        result.targets.append(
            Target("memory does not grow with the number of decided requests", "not measured", None)
        )
