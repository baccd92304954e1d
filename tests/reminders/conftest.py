"""Helpers for the reminder, escalation, expiry and digest tests.

The sample roster has Riverbend Family Clinic LLC (America/New_York; AO Dana
Whitfield, DO Marcus Lee) and Lakeside Cardiology PC (America/Chicago; AO Priya
Raman, DO Tom Becker). The shared START is Wednesday 2 December 2026, 10:00 in New York.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.people import ChatProfile
from bot.services import Services
from storage import repo
from storage.models import OutboxMessage

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
RIVERBEND_NPI = "1234567893"
LAKESIDE_NPI = "1555555550"


def new_york(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(dt.UTC)


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(dt.UTC)


@dataclass
class Office:
    """The roster's services with the ids the tests need, and a clock to move."""

    services: Services
    clock: FixedClock
    riverbend: int
    lakeside: int
    dana: int
    marcus: int
    priya: int
    tom: int
    _requesters: int = 0

    def requester(self, name: str | None = None) -> int:
        """Create a staff member with a Slack account and return their person id."""
        self._requesters += 1
        number = self._requesters
        person = self.services.people.link(
            ChatProfile(
                platform="slack",
                user_id=f"UREQ{number:04d}",
                workspace_id="T0LOCAL",
                name=name or f"Requester {number}",
                email=f"requester{number}@staff.example",
            )
        )
        return person.id

    def submit(self, organization_id: int, at: dt.datetime, name: str | None = None) -> str:
        """Submit a staff request at `at` from a new requester and return its id."""
        self.clock.set(at)
        result = self.services.workflow.submit(
            requester_id=self.requester(name),
            organization_id=organization_id,
            kind="staff",
            justification="Eligibility checks at the front desk",
        )
        assert result.request is not None, result.message
        return result.request.id

    def deactivate(self, email: str, user_id: str) -> None:
        """Link a Slack account to the person with this email, marked deactivated."""
        self.services.people.link(
            ChatProfile(
                platform="slack",
                user_id=user_id,
                workspace_id="T0LOCAL",
                name=email.split("@")[0],
                email=email,
                deactivated=True,
            )
        )

    def outbox(self, kind: str) -> list[OutboxMessage]:
        with self.services.db.transaction() as session:
            return list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.kind == kind)
                    .order_by(OutboxMessage.id)
                )
            )

    def reminders(self) -> list[OutboxMessage]:
        return self.outbox("reminder")

    def reminders_to(self, person_id: int) -> list[OutboxMessage]:
        return [row for row in self.reminders() if row.person_id == person_id]

    def escalations(self) -> list[OutboxMessage]:
        return [row for row in self.outbox("admin_alert") if row.payload["reason"] == "escalation"]

    def payloads(self, rows: list[OutboxMessage]) -> list[dict[str, Any]]:
        return [row.payload for row in rows]


def _person_id(services: Services, email: str) -> int:
    found = services.people.by_email(email)
    assert found is not None, email
    return found.id


@pytest.fixture
def office(roster: Services, clock: FixedClock) -> Office:
    with roster.db.transaction() as session:
        riverbend = repo.organization_by_npi(session, RIVERBEND_NPI)
        lakeside = repo.organization_by_npi(session, LAKESIDE_NPI)
        assert riverbend is not None and lakeside is not None
        riverbend_id, lakeside_id = riverbend.id, lakeside.id
    return Office(
        services=roster,
        clock=clock,
        riverbend=riverbend_id,
        lakeside=lakeside_id,
        dana=_person_id(roster, "dana.whitfield@riverbend.example"),
        marcus=_person_id(roster, "marcus.lee@riverbend.example"),
        priya=_person_id(roster, "priya.raman@lakeside.example"),
        tom=_person_id(roster, "tom.becker@lakeside.example"),
    )
