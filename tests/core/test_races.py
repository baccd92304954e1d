"""Concurrent clicks and submissions: exactly one of them changes a request.

Each test runs on SQLite and on PostgreSQL. The threads wait at a barrier and then
call the workflow at the same moment, each on its own connection from the pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy import select

from bot import audit
from bot.domain import RequestKind, Role
from bot.workflow import Outcome, Result
from storage.models import AuditEntry
from tests.core.conftest import SampleRoster
from tests.core.support import add_person, grant_role, submit

THREADS = 16
ROUNDS = 3


def _run_together(calls: list[Callable[[], Result]]) -> list[Result]:
    """Run every call in its own thread, released at once by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Result]) -> Result:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=120) for future in futures]


def _decision_actions(sample: SampleRoster, request_id: str) -> list[str]:
    with sample.services.db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.request_id == request_id,
                    AuditEntry.action.in_(["request.approved", "request.rejected"]),
                )
            )
        )


def _approvers(sample: SampleRoster, count: int) -> dict[int, str]:
    """Return `count` officials of Riverbend by id, with their names.

    They are Dana, Marcus and new Delegated Officials.
    """
    people = {sample.dana: "Dana Whitfield", sample.marcus: "Marcus Lee"}
    for index in range(count - len(people)):
        name = f"Officer {index}"
        person = add_person(sample.services, f"officer{index}@riverbend.example", name)
        grant_role(sample.services, person, sample.riverbend, Role.DO)
        people[person] = name
    return people


def test_decide_race_has_one_winner(sample: SampleRoster) -> None:
    services = sample.services
    approvers = _approvers(sample, THREADS)

    for round_number in range(ROUNDS):
        requester = add_person(services, f"racer{round_number}@riverbend.example")
        request_id = submit(services, requester, sample.riverbend)
        calls: list[Callable[[], Result]] = []
        for index, approver in enumerate(approvers):
            if index % 2:
                calls.append(partial(services.workflow.approve, request_id, approver))
            else:
                calls.append(partial(services.workflow.reject, request_id, approver, "No"))

        results = _run_together(calls)

        winners = [r for r in results if r.outcome is Outcome.DONE]
        losers = [r for r in results if r.outcome is not Outcome.DONE]
        assert len(winners) == 1, [r.message for r in results]
        final = services.workflow.get(request_id)
        assert final is not None
        assert final.decided_by is not None
        winner = f"by {approvers[final.decided_by.id]} at"
        assert all(r.outcome is Outcome.ALREADY_DECIDED for r in losers), [
            r.message for r in losers
        ]
        assert all(winner in r.message for r in losers), [r.message for r in losers]
        assert _decision_actions(sample, request_id) == [f"request.{final.status}"]

    with services.db.transaction() as session:
        assert audit.verify(session).ok


def test_submit_race_one_duplicate(sample: SampleRoster) -> None:
    services = sample.services

    for round_number in range(ROUNDS * 2):
        requester = add_person(services, f"twin{round_number}@riverbend.example")

        def call(requester: int = requester) -> Result:
            return services.workflow.submit(
                requester_id=requester,
                organization_id=sample.riverbend,
                kind=RequestKind.STAFF,
                justification="Clicked Submit twice",
            )

        results = _run_together([call, call])

        done = [r for r in results if r.outcome is Outcome.DONE]
        duplicates = [r for r in results if r.outcome is Outcome.DUPLICATE]
        assert len(done) == 1, [r.message for r in results]
        assert len(duplicates) == 1, [r.message for r in results]
        assert done[0].request is not None
        assert duplicates[0].existing_id == done[0].request.id


def test_parallel_decisions_keep_audit_chain(sample: SampleRoster) -> None:
    """Decisions on different requests at once each append to one unbroken chain."""
    services = sample.services
    request_ids = []
    for index in range(THREADS):
        requester = add_person(services, f"parallel{index}@riverbend.example")
        request_ids.append(submit(services, requester, sample.riverbend))
    calls: list[Callable[[], Result]] = [
        partial(services.workflow.approve, request_id, sample.marcus) for request_id in request_ids
    ]

    results = _run_together(calls)

    assert [r.outcome for r in results] == [Outcome.DONE] * THREADS
    with services.db.transaction() as session:
        verified = audit.verify(session)
    assert verified.ok, verified.problem
