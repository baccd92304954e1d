"""Fixtures of the core tests: the sample roster's organizations and people, by id."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.services import Services
from storage.models import OrganizationNpi, Person
from tests.core.support import ADMIN_EMAIL, LAKESIDE_NPI, RIVERBEND_NPI, add_person

NPIS = {"riverbend": RIVERBEND_NPI, "lakeside": LAKESIDE_NPI}
EMAILS = {
    "dana": "dana.whitfield@riverbend.example",
    "marcus": "marcus.lee@riverbend.example",
    "priya": "priya.raman@lakeside.example",
    "tom": "tom.becker@lakeside.example",
    "admin": ADMIN_EMAIL,
}


@dataclass(frozen=True)
class SampleRoster:
    services: Services
    riverbend: int
    lakeside: int
    # Authorized Official and Delegated Official of Riverbend.
    dana: int
    marcus: int
    # Authorized Official and Delegated Official of Lakeside.
    priya: int
    tom: int
    # A Cosigner admin with no role in any organization.
    admin: int
    # A Slack user with no role in any organization.
    nurse: int


@pytest.fixture
def sample(roster: Services) -> SampleRoster:
    with roster.db.transaction() as session:
        organizations = {
            row.npi: row.organization_id
            for row in session.scalars(
                select(OrganizationNpi).where(OrganizationNpi.npi.in_(NPIS.values()))
            )
        }
        people = {
            person.email: person.id
            for person in session.scalars(select(Person).where(Person.email.in_(EMAILS.values())))
        }
    return SampleRoster(
        services=roster,
        **{name: organizations[npi] for name, npi in NPIS.items()},
        **{name: people[email] for name, email in EMAILS.items()},
        nurse=add_person(roster, "nina.ortiz@riverbend.example", "Nina Ortiz"),
    )
