"""Roster import: the officials an organization's enrollment records name.

The file is CSV with a header row: organization,tin,npi,role,name,email and an
optional timezone column. The import is all or nothing: every row is checked first,
and one invalid row imports nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import Clock
from bot.domain import (
    DEFAULT_TIMEZONE,
    Role,
    ValidationError,
    mask_tin,
    validate_email,
    validate_name,
    validate_npi,
    validate_timezone,
    validate_tin,
)
from storage import repo
from storage.db import Database
from storage.models import Grant, Organization, OrganizationNpi, Person

REQUIRED_COLUMNS = ("organization", "tin", "npi", "role", "name", "email")
OPTIONAL_COLUMNS = ("timezone",)
IMPORTABLE_ROLES = {"AO": Role.AO, "DO": Role.DO}
# A roster larger than this is almost certainly the wrong file.
MAX_ROWS = 100_000


@dataclass(frozen=True)
class RosterRow:
    line: int
    organization: str
    tin: str
    npi: str
    role: Role
    name: str
    email: str
    # None when the row leaves the timezone out: an existing organization keeps its own.
    timezone: str | None


@dataclass
class ImportReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    organizations_created: int = 0
    organizations_updated: int = 0
    people_created: int = 0
    grants_created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return bool(
            self.organizations_created
            or self.organizations_updated
            or self.people_created
            or self.grants_created
        )


def parse(data: bytes, report: ImportReport) -> list[RosterRow]:
    """Check every row; append each problem to report.errors with its line number and fix."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # error.object is the data after any byte order mark, and error.start indexes it.
        decoded: bytes = error.object
        offset = len(data) - len(decoded) + error.start
        bad_line = decoded[: error.start].count(b"\n") + 1
        report.errors.append(
            f"line {bad_line}: the file is not UTF-8 (invalid byte 0x{decoded[error.start]:02x} "
            f"at offset {offset}): save it as 'CSV UTF-8' and import again"
        )
        return []
    if not text.strip():
        report.errors.append(
            "line 1: the file is empty: it needs a header row " + ",".join(REQUIRED_COLUMNS)
        )
        return []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        report.errors.append(f"line 1: the header is not valid CSV ({error})")
        return []
    columns = [c.strip().lower() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        if missing:
            report.errors.append(
                f"line 1: the header lacks column(s) {', '.join(missing)}: the header must be "
                + ",".join(REQUIRED_COLUMNS)
                + " (timezone is optional)"
            )
        if unknown:
            report.errors.append(
                f"line 1: unknown column(s) {', '.join(repr(c) for c in unknown)}: remove them "
                "or fix their spelling"
            )
        return []
    if len(set(columns)) != len(columns):
        report.errors.append("line 1: a column appears twice in the header")
        return []

    rows: list[RosterRow] = []
    # The last line of the last record read; the header can span lines when quoted.
    line = reader.line_num
    try:
        for line_index, record in enumerate(reader, start=2):
            line = reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                report.errors.append(
                    f"line {line}: {len(record)} fields but the header has {len(columns)}: "
                    "quote any value that contains a comma"
                )
                continue
            if line_index - 1 > MAX_ROWS:
                report.errors.append(f"the file has more than {MAX_ROWS:,} rows: split it")
                break
            values = dict(zip(columns, record, strict=True))
            row = _parse_row(line, values, report)
            if row is not None:
                rows.append(row)
    except csv.Error as error:
        # The reader has consumed the broken record, up to the end of the file for a quote
        # that is never closed, so name the line where that record starts.
        report.errors.append(
            f"line {line + 1}: malformed CSV ({error}): check the quotes on that line"
        )
    report.rows = len(rows)
    _check_consistency(rows, report)
    report.errors.sort(key=_line_number)
    return rows


def _line_number(message: str) -> int:
    """Return the line number a message starts with, so errors print in file order."""
    if message.startswith("line "):
        number = message[5:].split(":", 1)[0]
        if number.isdigit():
            return int(number)
    return 0


def _parse_row(line: int, values: dict[str, str], report: ImportReport) -> RosterRow | None:
    problems: list[str] = []

    def check(func: Callable[..., object], value: str, *args: str) -> str:
        try:
            return str(func(value, *args))
        except ValidationError as error:
            problems.append(str(error))
            return ""

    organization = check(
        validate_name, values["organization"], "organization (legal business name)"
    )
    tin = check(validate_tin, values["tin"])
    npi = check(validate_npi, values["npi"])
    if values["name"].strip():
        name = check(validate_name, values["name"], "name")
    else:
        name = ""
        problems.append("name is missing: give the official's full name as in PECOS")
    email = check(validate_email, values["email"]) if values["email"].strip() else ""
    if not values["email"].strip():
        problems.append("email is missing: every official needs an email so the bot can find them")
    role_text = values["role"].strip().upper()
    role = IMPORTABLE_ROLES.get(role_text)
    if role is None:
        problems.append(
            f"role {values['role'].strip()!r} is unknown: use AO (Authorized Official) "
            "or DO (Delegated Official)"
        )
    timezone_text = (values.get("timezone") or "").strip()
    timezone = check(validate_timezone, timezone_text) if timezone_text else None
    if problems:
        report.errors.extend(f"line {line}: {problem}" for problem in problems)
        return None
    assert role is not None
    return RosterRow(line, organization, tin, npi, role, name, email, timezone)


def _check_consistency(rows: list[RosterRow], report: ImportReport) -> None:
    by_npi: dict[str, RosterRow] = {}
    by_email: dict[str, RosterRow] = {}
    for row in rows:
        first = by_npi.setdefault(row.npi, row)
        if (first.organization, first.tin) != (row.organization, row.tin):
            report.errors.append(
                f"line {row.line}: NPI {row.npi} is also given to another organization on line "
                f"{first.line} ({first.organization}, TIN {mask_tin(first.tin)}): "
                "an NPI belongs to one organization only"
            )
        elif first.timezone and row.timezone and first.timezone != row.timezone:
            report.errors.append(
                f"line {row.line}: timezone {row.timezone} differs from {first.timezone} on line "
                f"{first.line} for the same organization: use one timezone"
            )
        named = by_email.setdefault(row.email, row)
        if named.name != row.name:
            report.errors.append(
                f"line {row.line}: {row.email} is named {row.name!r} here but {named.name!r} on "
                f"line {named.line}: use one name per email"
            )


def _revoked_grant(
    session: Session, person_id: int, organization_id: int, role: str
) -> Grant | None:
    return session.scalars(
        select(Grant)
        .where(
            Grant.person_id == person_id,
            Grant.organization_id == organization_id,
            Grant.role == role,
            Grant.revoked_at.is_not(None),
        )
        .order_by(Grant.revoked_at.desc())
        .limit(1)
    ).first()


class RosterImporter:
    def __init__(self, db: Database, clock: Clock, *, restore_revoked: bool = False) -> None:
        self.db = db
        self.clock = clock
        # Grant again a role that was revoked since an earlier import named it.
        self.restore_revoked = restore_revoked

    def import_file(self, path: Path) -> ImportReport:
        report = ImportReport()
        try:
            data = path.read_bytes()
        except OSError as error:
            report.errors.append(f"cannot read {path}: {error.strerror}")
            return report
        return self.import_bytes(data, report, source=path.name)

    def import_bytes(
        self, data: bytes, report: ImportReport | None = None, source: str = "roster"
    ) -> ImportReport:
        report = report or ImportReport()
        rows = parse(data, report)
        if not report.ok:
            return report
        with self.db.transaction() as session:
            self._write(session, rows, report)
            if report.ok and report.changed:
                audit.append(
                    session,
                    at=self.clock.now(),
                    actor="cli",
                    action="roster.imported",
                    details={
                        "source": source,
                        "rows": report.rows,
                        "organizations_created": report.organizations_created,
                        "people_created": report.people_created,
                        "grants_created": report.grants_created,
                    },
                )
            if not report.ok:
                session.rollback()
        return report

    def _write(self, session: Session, rows: list[RosterRow], report: ImportReport) -> None:
        now = self.clock.now()
        organizations: dict[str, Organization] = {}
        # Group the file's NPIs by organization (legal name and TIN).
        groups: dict[tuple[str, str], list[RosterRow]] = {}
        for row in rows:
            groups.setdefault((row.organization, row.tin), []).append(row)

        for (legal_name, tin), group in groups.items():
            npis = sorted({r.npi for r in group})
            existing = {
                n.npi: n.organization_id
                for n in session.scalars(
                    select(OrganizationNpi).where(OrganizationNpi.npi.in_(npis))
                )
            }
            matched_ids = set(existing.values())
            if len(matched_ids) > 1:
                report.errors.append(
                    f"line {group[0].line}: NPIs {', '.join(npis)} belong to different "
                    "organizations already in Cosigner: give each organization its own rows"
                )
                continue
            organization = session.get(Organization, matched_ids.pop()) if matched_ids else None
            if organization is not None and organization.tin != tin:
                report.errors.append(
                    f"line {group[0].line}: NPI {npis[0]} belongs to {organization.legal_name} "
                    f"(TIN {mask_tin(organization.tin)}) in Cosigner, not TIN {mask_tin(tin)}: "
                    "check the NPI and TIN"
                )
                continue
            timezone = next((r.timezone for r in group if r.timezone), None)
            if organization is None:
                organization = Organization(
                    legal_name=legal_name,
                    tin=tin,
                    timezone=timezone or DEFAULT_TIMEZONE,
                    created_at=now,
                )
                session.add(organization)
                session.flush()
                report.organizations_created += 1
            elif organization.legal_name != legal_name or (
                timezone is not None and organization.timezone != timezone
            ):
                organization.legal_name = legal_name
                organization.timezone = timezone or organization.timezone
                report.organizations_updated += 1
            for npi in npis:
                if npi not in existing:
                    session.add(OrganizationNpi(npi=npi, organization_id=organization.id))
            for row in group:
                organizations[row.npi] = organization
        if not report.ok:
            return
        session.flush()

        people: dict[str, Person] = {}
        for row in rows:
            person = people.get(row.email) or repo.person_by_email(session, row.email)
            if person is None:
                person = Person(name=row.name, email=row.email, is_admin=False, created_at=now)
                session.add(person)
                session.flush()
                report.people_created += 1
            people[row.email] = person
            organization = organizations[row.npi]
            roles = repo.active_roles(session, person.id, organization.id)
            if str(row.role) in roles:
                continue
            revoked = _revoked_grant(session, person.id, organization.id, str(row.role))
            if revoked is not None and not self.restore_revoked:
                assert revoked.revoked_at is not None
                report.warnings.append(
                    f"line {row.line}: {row.email} was removed as {row.role} of "
                    f"{organization.legal_name} on {revoked.revoked_at:%Y-%m-%d} and was not "
                    "granted the role again: delete the row, or import with --restore-revoked "
                    "to grant it again"
                )
                continue
            grant = Grant(
                organization_id=organization.id,
                person_id=person.id,
                role=str(row.role),
                surrogate_org="",
                products=[],
                granted_at=now,
                source="roster",
            )
            session.add(grant)
            session.flush()
            report.grants_created += 1
            audit.append(
                session,
                at=now,
                actor="cli",
                action="grant.added",
                organization_id=organization.id,
                details={"email": row.email, "role": str(row.role), "source": "roster"},
            )

        seen: set[int] = set()
        for row in rows:
            organization = organizations[row.npi]
            if organization.id in seen:
                continue
            seen.add(organization.id)
            if not repo.active_grants(session, organization.id, [str(Role.AO)]):
                report.warnings.append(
                    f"line {row.line}: {organization.legal_name} has no Authorized Official, "
                    "so it cannot appoint new Delegated Officials until an AO is added"
                )
