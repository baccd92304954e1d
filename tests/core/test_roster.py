"""Roster import: all or nothing, with each problem reported by line and with its fix."""

from __future__ import annotations

import pytest

from bot.services import Services
from storage import repo
from tests.conftest import SAMPLE_ROSTER
from tests.core.support import (
    RIVERBEND_NPI,
    active_roles,
    audit_count,
    organization_id,
    person_id,
    row_counts,
)

HEADER = "organization,tin,npi,role,name,email"
GRACE = "Hilltop Dialysis LLC,11-1111111,1245319599,AO,Grace Kim,grace.kim@hilltop.example"
LENA = "Hilltop Dialysis LLC,11-1111111,1245319599,DO,Lena Park,lena.park@hilltop.example"
OMAR = "Hilltop Dialysis LLC,11-1111111,1000000004,DO,Omar Haddad,omar.haddad@hilltop.example"


def _roster(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _with_line_3(line: str) -> bytes:
    """Return a roster of a new organization whose third line is `line`."""
    return _roster(HEADER, GRACE, line, OMAR)


# Each case: the file, the line the error must name, and a phrase of its fix.
INVALID_FILES: dict[str, tuple[bytes, int, str]] = {
    "bad NPI check digit": (
        _with_line_3(LENA.replace("1245319599", "1245319598")),
        3,
        "wrong check digit: check it against the NPPES registry",
    ),
    "unknown role": (
        _with_line_3(LENA.replace(",DO,", ",XO,")),
        3,
        "role 'XO' is unknown: use AO (Authorized Official) or DO (Delegated Official)",
    ),
    "missing email": (
        _with_line_3(LENA.replace("lena.park@hilltop.example", " ")),
        3,
        "email is missing: every official needs an email",
    ),
    "unbalanced quote": (
        _with_line_3(LENA.replace("Hilltop Dialysis LLC", '"Hilltop Dialysis LLC')),
        3,
        "malformed CSV",
    ),
    "wrong field count": (
        _with_line_3(LENA.replace("Hilltop Dialysis LLC", "Hilltop Dialysis, LLC")),
        3,
        "7 fields but the header has 6: quote any value that contains a comma",
    ),
    "NPI of two organizations": (
        _with_line_3(LENA.replace("Hilltop Dialysis LLC,11-1111111", "Ridge Labs Inc,22-2222222")),
        3,
        "is also given to another organization on line 2",
    ),
    "non-UTF-8 bytes": (
        _with_line_3(LENA).replace(b"Lena Park", "Léna Park".encode("latin-1")),
        3,
        "the file is not UTF-8",
    ),
    "missing header column": (
        _roster("organization,tin,npi,role,name", GRACE.rsplit(",", 1)[0]),
        1,
        "the header lacks column(s) email: the header must be",
    ),
    "empty file": (b"", 1, "the file is empty: it needs a header row"),
}


def test_import_sample_roster(services: Services) -> None:
    report = services.roster.import_file(SAMPLE_ROSTER)

    assert report.ok, report.errors
    assert report.warnings == []
    assert (report.rows, report.organizations_created, report.people_created) == (4, 2, 4)
    assert report.grants_created == 4
    riverbend = organization_id(services, RIVERBEND_NPI)
    dana = person_id(services, "dana.whitfield@riverbend.example")
    assert active_roles(services, dana, riverbend) == {"AO"}


def test_import_stores_organization(services: Services) -> None:
    services.roster.import_file(SAMPLE_ROSTER)

    with services.db.transaction() as session:
        lakeside = repo.organization_by_npi(session, "1666666668")
        assert lakeside is not None
        assert lakeside.legal_name == "Lakeside Cardiology PC"
        assert lakeside.tin == "987654321"
        assert lakeside.timezone == "America/Chicago"
        assert [n.npi for n in lakeside.npis] == ["1555555550", "1666666668"]


def test_import_again_changes_nothing(roster: Services) -> None:
    counts = row_counts(roster)

    report = roster.roster.import_file(SAMPLE_ROSTER)

    assert report.ok, report.errors
    assert not report.changed
    assert row_counts(roster) == counts


@pytest.mark.parametrize("case", list(INVALID_FILES))
def test_import_invalid_changes_nothing(roster: Services, case: str) -> None:
    data, line, fix = INVALID_FILES[case]
    counts = row_counts(roster)

    report = roster.roster.import_bytes(data)

    assert not report.ok
    assert any(error.startswith(f"line {line}: ") for error in report.errors), report.errors
    assert any(fix in error for error in report.errors), report.errors
    assert row_counts(roster) == counts


def test_import_tin_conflict_with_database(roster: Services) -> None:
    """A conflict found only while writing undoes the rows written before it."""
    counts = row_counts(roster)
    data = _roster(
        HEADER,
        GRACE,
        OMAR,
        f"Riverbend Clinic,99-9999999,{RIVERBEND_NPI},DO,Ivy Chen,ivy.chen@riverbend.example",
    )

    report = roster.roster.import_bytes(data)

    assert not report.ok
    assert any("belongs to Riverbend Family Clinic LLC" in e for e in report.errors), report.errors
    assert row_counts(roster) == counts


def test_import_role_case_insensitive(services: Services) -> None:
    data = _roster(HEADER, GRACE.replace(",AO,", ",ao,"), OMAR.replace(",DO,", ",Do,"))

    report = services.roster.import_bytes(data)

    assert report.ok, report.errors
    hilltop = organization_id(services, "1245319599")
    grace = person_id(services, "grace.kim@hilltop.example")
    omar = person_id(services, "omar.haddad@hilltop.example")
    assert active_roles(services, grace, hilltop) == {"AO"}
    assert active_roles(services, omar, hilltop) == {"DO"}


def test_import_email_lowercased(services: Services) -> None:
    data = _roster(HEADER, GRACE.replace("grace.kim@", "Grace.Kim@"))

    services.roster.import_bytes(data)

    assert services.people.by_email("grace.kim@hilltop.example") is not None


def test_import_do_without_ao_warns(services: Services) -> None:
    report = services.roster.import_bytes(_roster(HEADER, OMAR))

    assert report.ok, report.errors
    assert report.grants_created == 1
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("line 2: Hilltop Dialysis LLC has no Authorized Official")


def test_import_writes_audit_entries(services: Services) -> None:
    before = audit_count(services)

    services.roster.import_bytes(_roster(HEADER, GRACE, LENA))

    # One entry per role granted, then one for the import.
    assert audit_count(services) == before + 3


def test_roster_without_timezone_keeps_existing(services: Services) -> None:
    with_zone = _roster(HEADER + ",timezone", GRACE + ",America/Denver")
    assert services.roster.import_bytes(with_zone).ok

    report = services.roster.import_bytes(_roster(HEADER, GRACE, LENA))

    assert report.ok, report.errors
    with services.db.transaction() as session:
        organization = repo.organization_by_npi(session, "1245319599")
        assert organization is not None
        assert organization.timezone == "America/Denver"


def test_roster_empty_timezone_cell_is_no_conflict(services: Services) -> None:
    report = services.roster.import_bytes(
        _roster(HEADER + ",timezone", GRACE + ",America/Phoenix", LENA + ",")
    )

    assert report.ok, report.errors


def test_roster_reimport_keeps_revoked_role(services: Services) -> None:
    assert services.roster.import_bytes(_roster(HEADER, GRACE, LENA)).ok
    grace = person_id(services, "grace.kim@hilltop.example")
    organization = organization_id(services, "1245319599")
    _revoke(services, "lena.park")

    report = services.roster.import_bytes(_roster(HEADER, GRACE, LENA))

    assert report.ok
    assert report.grants_created == 0
    assert any("--restore-revoked" in warning for warning in report.warnings)
    assert "AO" in active_roles(services, grace, organization)
    lena = person_id(services, "lena.park@hilltop.example")
    assert "DO" not in active_roles(services, lena, organization)


def test_roster_restore_revoked_grants_again(services: Services) -> None:
    assert services.roster.import_bytes(_roster(HEADER, GRACE, LENA)).ok
    organization = organization_id(services, "1245319599")
    _revoke(services, "lena.park")
    services.roster.restore_revoked = True

    report = services.roster.import_bytes(_roster(HEADER, GRACE, LENA))

    assert report.grants_created == 1
    lena = person_id(services, "lena.park@hilltop.example")
    assert "DO" in active_roles(services, lena, organization)


def _revoke(services: Services, local_part: str) -> None:
    """Revoke a person's active grants directly, as an admin's removal does."""
    import datetime as dt

    from sqlalchemy import update

    from storage.models import Grant

    person = person_id(services, f"{local_part}@hilltop.example")
    with services.db.transaction() as session:
        session.execute(
            update(Grant)
            .where(Grant.person_id == person, Grant.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC), revoke_reason="Left the practice")
        )
