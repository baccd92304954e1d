from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from bot.digest import build_digest, format_digest_text
from bot.domain import Status
from bot.outbox import OutboxWriter
from bot.people import ChatProfile
from bot.reminders import load_recipients, run_sweep
from storage.models import AuditEntry, Organization, Person, SentMark
from tests.reminders.conftest import Office, chicago, new_york


def sweep(office: Office, at: dt.datetime) -> None:
    office.clock.set(at)
    run_sweep(office.services)


def test_no_reminder_before_one_business_day(office: Office) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    sweep(office, new_york(2026, 12, 2, 16, 0))
    sweep(office, new_york(2026, 12, 3, 9, 59))
    assert office.reminders() == []

    sweep(office, new_york(2026, 12, 3, 10, 0))
    reminded = {row.person_id: row.payload["request_ids"] for row in office.reminders()}
    assert reminded == {office.dana: [request_id], office.marcus: [request_id]}


def test_friday_request_waits_for_monday(office: Office) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 4, 15, 0))

    for moment in (
        new_york(2026, 12, 5, 10, 0),
        new_york(2026, 12, 6, 12, 0),
        new_york(2026, 12, 7, 9, 0),
        new_york(2026, 12, 7, 14, 59),
    ):
        sweep(office, moment)
        assert office.reminders() == [], moment

    sweep(office, new_york(2026, 12, 7, 15, 0))
    rows = office.reminders_to(office.dana)
    assert [row.payload["request_ids"] for row in rows] == [[request_id]]
    assert rows[0].dedupe_key == f"reminder:{office.dana}:2026-12-07:slack"


def test_night_sweep_sends_nothing(office: Office) -> None:
    office.submit(office.riverbend, new_york(2026, 12, 1, 10, 0))
    sweep(office, new_york(2026, 12, 2, 10, 0))
    assert len(office.reminders_to(office.dana)) == 1

    sweep(office, new_york(2026, 12, 3, 2, 0))
    assert len(office.reminders_to(office.dana)) == 1

    sweep(office, new_york(2026, 12, 3, 9, 0))
    sweep(office, new_york(2026, 12, 3, 9, 5))
    rows = office.reminders_to(office.dana)
    assert len(rows) == 2
    assert rows[1].dedupe_key == f"reminder:{office.dana}:2026-12-03:slack"


def test_one_batched_reminder_per_approver(office: Office) -> None:
    first = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    second = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 1))
    third = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 2))

    office.clock.set(new_york(2026, 12, 3, 11, 0))
    report = run_sweep(office.services)

    rows = office.reminders_to(office.dana)
    assert len(rows) == 1
    assert rows[0].payload["request_ids"] == [first, second, third]
    assert rows[0].payload["as_of"] == new_york(2026, 12, 3, 11, 0).isoformat()
    assert rows[0].platform == "slack"
    assert len(report.reminders) == 2
    assert report.reminded_requests == 3


def test_second_sweep_same_day_sends_nothing(office: Office) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    sweep(office, new_york(2026, 12, 3, 10, 0))
    before = len(office.reminders())

    office.clock.set(new_york(2026, 12, 3, 16, 30))
    report = run_sweep(office.services)

    assert report.reminders == []
    assert len(office.reminders()) == before
    with office.services.db.transaction() as session:
        mark = session.get(SentMark, f"reminder:{office.dana}:2026-12-03")
        assert mark is not None
        assert mark.details == {"request_ids": [request_id]}


def test_escalation_after_three_business_days(office: Office) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    sweep(office, new_york(2026, 12, 3, 10, 0))
    sweep(office, new_york(2026, 12, 4, 10, 0))
    sweep(office, new_york(2026, 12, 7, 9, 59))
    assert office.escalations() == []

    sweep(office, new_york(2026, 12, 7, 10, 0))
    sweep(office, new_york(2026, 12, 7, 14, 0))
    sweep(office, new_york(2026, 12, 8, 10, 0))

    escalations = office.escalations()
    assert len(escalations) == 1
    row = escalations[0]
    assert row.request_id == request_id
    assert row.channel == "C0ADMINS"
    assert row.dedupe_key == f"escalation:{request_id}:slack"
    assert row.payload == {
        "reason": "escalation",
        "reminded": [
            {"person_id": office.dana, "name": "Dana Whitfield", "reminders": 3},
            {"person_id": office.marcus, "name": "Marcus Lee", "reminders": 3},
        ],
        "unreachable": [],
        "business_days_pending": 3,
    }


def test_unreachable_approver_escalates_at_once(office: Office) -> None:
    office.deactivate("marcus.lee@riverbend.example", "U0MARCUS")
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    sweep(office, new_york(2026, 12, 2, 10, 5))
    escalations = office.escalations()
    assert len(escalations) == 1
    assert escalations[0].request_id == request_id
    assert escalations[0].payload["unreachable"] == ["Marcus Lee"]
    assert escalations[0].payload["reminded"] == []
    assert escalations[0].payload["business_days_pending"] == 0

    sweep(office, new_york(2026, 12, 3, 10, 0))
    assert len(office.escalations()) == 1
    assert [row.person_id for row in office.reminders()] == [office.dana]

    digest = build_digest(office.services)
    assert [person.name for person in digest.unreachable_approvers] == ["Marcus Lee"]
    assert digest.unreachable_approvers[0].organizations == ["Riverbend Family Clinic LLC"]
    thin = {o.name: o.reachable_approvers for o in digest.thin_organizations}
    assert thin == {"Riverbend Family Clinic LLC": ["Dana Whitfield"]}
    assert "Marcus Lee" in format_digest_text(digest)


def test_unreachable_escalation_waits_for_business_hours(office: Office) -> None:
    office.deactivate("marcus.lee@riverbend.example", "U0MARCUS")
    office.submit(office.riverbend, new_york(2026, 12, 2, 18, 0))

    sweep(office, new_york(2026, 12, 2, 18, 5))
    sweep(office, new_york(2026, 12, 3, 8, 55))
    assert office.escalations() == []

    sweep(office, new_york(2026, 12, 3, 9, 0))
    assert len(office.escalations()) == 1


def test_expiry_after_thirty_calendar_days(office: Office) -> None:
    # Friday 4 December, 23:30: day 30 is Sunday 3 January, at night.
    request_id = office.submit(office.riverbend, new_york(2026, 12, 4, 23, 30))

    sweep(office, new_york(2027, 1, 3, 23, 29))
    assert office.services.workflow.get(request_id).status is Status.PENDING  # type: ignore[union-attr]

    office.clock.set(new_york(2027, 1, 3, 23, 31))
    report = run_sweep(office.services)
    assert report.expired == [request_id]
    request = office.services.workflow.get(request_id)
    assert request is not None
    assert request.status is Status.EXPIRED
    assert request.decided_via == "scheduler"

    with office.services.db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.request_id == request_id, AuditEntry.action == "request.expired"
            )
        ).all()
        assert [entry.actor for entry in entries] == ["scheduler"]
    notices = [row for row in office.outbox("notify") if row.request_id == request_id]
    assert {row.payload["event"] for row in notices} == {"expired"}
    assert len(notices) == 3

    again = run_sweep(office.services)
    assert again.expired == []


def test_organization_override_changes_timing(office: Office) -> None:
    with office.services.db.transaction() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == office.lakeside)
            .values(first_reminder_business_days=2, escalation_business_days=4, expiry_days=10)
        )
    lakeside = office.submit(office.lakeside, chicago(2026, 12, 2, 9, 0))
    riverbend = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    sweep(office, chicago(2026, 12, 3, 10, 0))
    assert office.reminders_to(office.priya) == []
    assert [row.payload["request_ids"] for row in office.reminders_to(office.dana)] == [[riverbend]]

    sweep(office, chicago(2026, 12, 4, 9, 0))
    assert [row.payload["request_ids"] for row in office.reminders_to(office.priya)] == [[lakeside]]

    sweep(office, chicago(2026, 12, 7, 10, 0))
    assert [row.request_id for row in office.escalations()] == [riverbend]
    sweep(office, chicago(2026, 12, 8, 9, 0))
    assert [row.request_id for row in office.escalations()] == [riverbend, lakeside]

    sweep(office, chicago(2026, 12, 12, 8, 59))
    assert office.services.workflow.get(lakeside).status is Status.PENDING  # type: ignore[union-attr]
    office.clock.set(chicago(2026, 12, 12, 9, 0))
    assert run_sweep(office.services).expired == [lakeside]


def test_decided_request_leaves_reminders(office: Office) -> None:
    decided = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    waiting = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 1))
    office.clock.set(new_york(2026, 12, 2, 11, 0))
    assert office.services.workflow.approve(decided, office.dana).ok

    sweep(office, new_york(2026, 12, 3, 11, 0))
    rows = office.reminders_to(office.marcus)
    assert [row.payload["request_ids"] for row in rows] == [[waiting]]


def test_platforms_match_outbox_writer(office: Office) -> None:
    office.deactivate("marcus.lee@riverbend.example", "U0MARCUS")
    teams_only = office.services.people.link(
        ChatProfile(
            platform="teams",
            user_id="29:teams-user",
            workspace_id="tenant",
            name="Teams User",
            email="teams.user@riverbend.example",
        )
    )
    no_email = office.services.people.link(
        ChatProfile(
            platform="teams", user_id="29:no-email", workspace_id="t", name="No Email", email=None
        )
    )
    people = [office.dana, office.marcus, office.requester(), teams_only.id, no_email.id]

    for enabled in (("slack",), ("slack", "teams"), ("teams",)):
        with office.services.db.transaction() as session:
            recipients = load_recipients(session, set(people))
            writer = OutboxWriter(session, office.clock.now(), enabled, {})
            for person_id in people:
                person = session.get(Person, person_id)
                assert person is not None
                expected = writer.platforms_for(person)
                assert recipients[person_id].platforms(enabled) == expected, (person_id, enabled)
