"""The hash-chained audit log: verification after tampering, and export with filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import delete, select, update

from bot import audit
from bot.services import Services
from storage.models import AuditEntry, Person
from tests.conftest import START
from tests.core.conftest import SampleRoster
from tests.core.support import audit_count, submit

# Columns of an audit entry that tampering may swap between two entries.
ENTRY_COLUMNS = ("at", "actor_id", "actor", "action", "request_id", "organization_id", "details")
CHAIN_COLUMNS = ("prev_hash", "hash")


def _verify(services: Services) -> audit.VerifyResult:
    with services.db.transaction() as session:
        return audit.verify(session)


def _activity(sample: SampleRoster) -> None:
    """Add decisions in both organizations on top of the roster import."""
    services = sample.services
    workflow = services.workflow
    approved = submit(services, sample.nurse, sample.riverbend)
    workflow.approve(approved, sample.marcus)
    rejected = submit(services, sample.nurse, sample.lakeside)
    workflow.reject(rejected, sample.priya, "Not on staff")
    workflow.revoke(approved, sample.dana, "Left the clinic")


def _entry(services: Services, seq: int) -> AuditEntry:
    with services.db.transaction() as session:
        entry = session.get(AuditEntry, seq)
        assert entry is not None
        return entry


def test_verify_passes_after_activity(sample: SampleRoster) -> None:
    _activity(sample)

    result = _verify(sample.services)

    assert result.ok, result.problem
    assert result.checked == audit_count(sample.services)
    assert result.first_bad_seq is None


def test_verify_passes_on_empty_log(services: Services) -> None:
    result = _verify(services)

    assert result.ok
    assert result.checked == 0


def test_verify_detects_edited_details(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)
    edited = _entry(services, 5)
    with services.db.transaction() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.seq == 5)
            .values(details={**edited.details, "reason": "edited afterwards"})
        )

    result = _verify(services)

    assert not result.ok
    assert result.first_bad_seq == 5
    assert "edited" in result.problem
    assert result.checked == 4


def test_verify_detects_edited_actor(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)
    with services.db.transaction() as session:
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == 3).values(actor="someone@else.example")
        )

    result = _verify(services)

    assert result.first_bad_seq == 3


def test_verify_detects_edited_actor_id(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)
    with services.db.transaction() as session:
        decided = session.scalars(
            select(AuditEntry).where(AuditEntry.actor_id.is_not(None)).order_by(AuditEntry.seq)
        ).first()
        assert decided is not None
        seq = decided.seq
        # Another real person, so the foreign key still holds: only the chain can tell.
        other = session.scalar(select(Person.id).where(Person.id != decided.actor_id).limit(1))
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(actor_id=other))

    result = _verify(services)

    assert result.first_bad_seq == seq


def test_verify_detects_deleted_middle_entry(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)
    with services.db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))

    result = _verify(services)

    assert not result.ok
    assert result.first_bad_seq == 4
    assert "removed" in result.problem


def test_verify_detects_deleted_first_entry(sample: SampleRoster) -> None:
    services = sample.services
    with services.db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 1))

    result = _verify(services)

    assert result.first_bad_seq == 1


def test_verify_detects_deleted_last_entry(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)
    last = audit_count(services)
    with services.db.transaction() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == last))

    result = _verify(services)

    assert not result.ok
    assert result.first_bad_seq == last
    assert "at the end were removed" in result.problem


@pytest.mark.parametrize(("first", "second"), [(3, 4), (2, 7)])
def test_verify_detects_swapped_entries(sample: SampleRoster, first: int, second: int) -> None:
    """Swapping two entries' contents, hashes included, reorders the log."""
    services = sample.services
    _activity(sample)
    columns = ENTRY_COLUMNS + CHAIN_COLUMNS
    with services.db.transaction() as session:
        rows = {
            seq: session.execute(
                select(*(getattr(AuditEntry, c) for c in columns)).where(AuditEntry.seq == seq)
            ).one()
            for seq in (first, second)
        }
        for seq, other in ((first, second), (second, first)):
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.seq == seq)
                .values(dict(zip(columns, rows[other], strict=True)))
            )

    result = _verify(services)

    assert not result.ok
    assert result.first_bad_seq == first
    assert "reordered" in result.problem


# Export --------------------------------------------------------------------------


def _export(services: Services, fmt: str, **filters: object) -> str:
    out = io.StringIO()
    with services.db.transaction() as session:
        audit.write_export(audit.select_entries(session, **filters), out, fmt)  # type: ignore[arg-type]
    return out.getvalue()


def _later_activity(sample: SampleRoster) -> dt.datetime:
    """Decide requests three days after the roster import and return that time."""
    services = sample.services
    services.clock.advance(dt.timedelta(days=3))
    _activity(sample)
    return services.clock.now()


def test_export_jsonl_all_entries(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)

    lines = _export(services, "jsonl").splitlines()
    rows = [json.loads(line) for line in lines]

    assert [row["seq"] for row in rows] == list(range(1, audit_count(services) + 1))
    assert set(rows[0]) == set(audit.EXPORT_FIELDS)


def test_export_jsonl_by_organization(sample: SampleRoster) -> None:
    services = sample.services
    _activity(sample)

    rows = [
        json.loads(line)
        for line in _export(services, "jsonl", organization_id=sample.lakeside).splitlines()
    ]

    assert [row["action"] for row in rows] == [
        "grant.added",
        "grant.added",
        "request.submitted",
        "request.rejected",
    ]
    assert {row["organization_id"] for row in rows} == {sample.lakeside}


def test_export_csv_since(sample: SampleRoster) -> None:
    services = sample.services
    later = _later_activity(sample)

    text = _export(services, "csv", since=START + dt.timedelta(days=1))
    rows = list(csv.DictReader(io.StringIO(text)))

    assert len(rows) == 5
    assert {row["at"] for row in rows} == {later.isoformat(timespec="microseconds")}
    assert json.loads(rows[-1]["details"])["reason"] == "Left the clinic"


def test_export_csv_by_organization_since(sample: SampleRoster) -> None:
    services = sample.services
    _later_activity(sample)

    text = _export(
        services, "csv", organization_id=sample.riverbend, since=START + dt.timedelta(days=1)
    )
    rows = list(csv.DictReader(io.StringIO(text)))

    assert [row["action"] for row in rows] == [
        "request.submitted",
        "request.approved",
        "request.revoked",
    ]


def test_export_unknown_format(sample: SampleRoster) -> None:
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        _export(sample.services, "xml")
