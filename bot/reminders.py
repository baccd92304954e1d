"""The reminder sweep: expiry, daily reminders to approvers, and escalation to admins.

A sweep only reads the database and writes to it, so it can run from the scheduler,
from `cosigner reminders run` or from a test, and several processes may sweep at the
same moment. Each action is claimed with a unique key before it is queued:

- `reminder:{person_id}:{local date}` in sent_marks, with the ids of the requests the
  reminder lists, and the same key on the outbox row: an approver gets at most one
  reminder per business day. Escalations count reminders from these marks.
- `escalation:{request_id}` in sent_marks and on the outbox row, once per request.

Expiry goes through `Workflow.expire`, whose conditional update lets exactly one
process expire a request. A claim and its outbox rows commit in one transaction, so
a crash leaves either both or neither.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, case, exists, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.calendar import BUSINESS_DAY, BusinessCalendar, calendar_for
from bot.domain import DEFAULT_TIMEZONE, RequestKind, Role, Status
from bot.invitations import sweep_invitations
from bot.outbox import Kind
from bot.policy import ADMIN_DECIDES, APPROVER_ROLES
from bot.services import Services
from bot.workflow import Outcome
from storage.models import (
    AccessRequest,
    ChatAccount,
    Grant,
    Organization,
    OutboxMessage,
    Person,
    SentMark,
    UTCDateTime,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Defaults of the per-organization timing columns. NULL in a column means the default.
FIRST_REMINDER_BUSINESS_DAYS = 1
ESCALATION_BUSINESS_DAYS = 3
EXPIRY_DAYS = 30

APPROVER_ROLE_NAMES = (str(Role.AO), str(Role.DO))
# Rows per IN (...) list, well under SQLite's limit of 32,766 bound parameters.
CHUNK_SIZE = 900
# Approvers or requests claimed per transaction.
QUEUE_BATCH = 500


@dataclass(frozen=True)
class Timing:
    """When a pending request is reminded, escalated and expired.

    The field names match the organizations columns that override them.
    """

    first_reminder_business_days: int = FIRST_REMINDER_BUSINESS_DAYS
    escalation_business_days: int = ESCALATION_BUSINESS_DAYS
    expiry_days: int = EXPIRY_DAYS


DEFAULT_TIMING = Timing()
TIMING_FIELDS = ("first_reminder_business_days", "escalation_business_days", "expiry_days")


@dataclass(frozen=True)
class OrganizationTiming:
    id: int
    name: str
    # The organizations.timezone value as stored. `calendar` falls back to the default
    # timezone when that value is not a known IANA name.
    timezone: str
    calendar: BusinessCalendar
    timing: Timing


@dataclass(frozen=True)
class ReminderSent:
    person_id: int
    request_ids: tuple[str, ...]
    platforms: tuple[str, ...]


@dataclass
class SweepReport:
    """The outcome of one sweep: what it expired and queued."""

    as_of: dt.datetime
    expired: list[str] = field(default_factory=list)
    reminders: list[ReminderSent] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    # Organizations inside business hours at `as_of`. Reminders and escalations go only
    # to their requests.
    organizations_open: int = 0
    invitations_expired: list[str] = field(default_factory=list)
    invitations_reminded: list[str] = field(default_factory=list)

    @property
    def reminded_requests(self) -> int:
        return len({rid for reminder in self.reminders for rid in reminder.request_ids})

    @property
    def queued_messages(self) -> int:
        return (
            sum(len(r.platforms) for r in self.reminders)
            + len(self.escalations)
            + len(self.invitations_reminded)
        )


# Timing and reachability, shared with the digest -------------------------------------


def effective_days(value: int | None, default: int, *, organization_id: int, column: str) -> int:
    """Return an organization's override, or the default when it is NULL or negative."""
    if value is None:
        return default
    if value < 0:
        log.warning(
            "negative timing override ignored organization=%s column=%s value=%s",
            organization_id,
            column,
            value,
        )
        return default
    return value


def effective_days_sql(field_name: str) -> ColumnElement[int]:
    """Build the SQL twin of `effective_days` for one timing column of organizations."""
    column = getattr(Organization, field_name)
    default = getattr(DEFAULT_TIMING, field_name)
    return case((column >= 0, column), else_=default)


def load_organization_timings(session: Session) -> dict[int, OrganizationTiming]:
    """Return every organization's calendar and timing, by organization id."""
    rows = session.execute(
        select(
            Organization.id,
            Organization.legal_name,
            Organization.timezone,
            Organization.first_reminder_business_days,
            Organization.escalation_business_days,
            Organization.expiry_days,
        )
    )
    timings = {}
    for row in rows:
        try:
            calendar = calendar_for(row.timezone)
        except ValueError:
            log.warning(
                "unknown organization timezone, using the default "
                "organization=%s timezone=%r default=%s",
                row.id,
                row.timezone,
                DEFAULT_TIMEZONE,
            )
            calendar = calendar_for(DEFAULT_TIMEZONE)
        overrides = {
            name: effective_days(
                getattr(row, name),
                getattr(DEFAULT_TIMING, name),
                organization_id=row.id,
                column=name,
            )
            for name in TIMING_FIELDS
        }
        timings[row.id] = OrganizationTiming(
            row.id, row.legal_name, row.timezone, calendar, Timing(**overrides)
        )
    return timings


def at_least_business_days_old(
    organizations: Iterable[OrganizationTiming], at: dt.datetime, field_name: str
) -> ColumnElement[bool]:
    """Build a condition: the request is at least `field_name` business days old at `at`.

    `field_name` is a Timing field, read per organization. The condition needs
    `organizations` joined to `requests` and matches only the organizations given.
    It has one clause per distinct (timezone, days) pair, each a plain
    `created_at <= cutoff`, so it stays small however many organizations there are.
    """
    pairs: dict[tuple[str, int], BusinessCalendar] = {}
    for organization in organizations:
        days = getattr(organization.timing, field_name)
        pairs[(organization.timezone, days)] = organization.calendar
    days_sql = effective_days_sql(field_name)
    clauses = [
        and_(
            Organization.timezone == timezone,
            days_sql == days,
            AccessRequest.created_at <= literal(calendar.cutoff(at, days), UTCDateTime()),
        )
        for (timezone, days), calendar in pairs.items()
    ]
    return or_(*clauses) if clauses else false()


def has_account(person_id: Any) -> ColumnElement[bool]:
    return exists().where(ChatAccount.person_id == person_id)


def has_active_account(person_id: Any) -> ColumnElement[bool]:
    return exists().where(ChatAccount.person_id == person_id, ChatAccount.deactivated.is_(False))


def is_reachable(person_id: Any) -> ColumnElement[bool]:
    """Build a condition: the person has an active chat account, or none yet.

    A person with no account yet is looked up by email when a message is delivered,
    so only a person whose every account is deactivated is unreachable.
    """
    return or_(~has_account(person_id), has_active_account(person_id))


def is_unreachable(person_id: Any) -> ColumnElement[bool]:
    return and_(has_account(person_id), ~has_active_account(person_id))


def approver_grant_condition() -> ColumnElement[bool]:
    """Build a join condition: the grant lets its holder decide the request.

    It spells out bot.policy's approver roles per request kind, so that one query
    can count every approver's requests. Admin-decided kinds need no grant and never
    match.
    """
    clauses = []
    for role in (Role.AO, Role.DO):
        kinds = [str(kind) for kind, roles in APPROVER_ROLES.items() if role in roles]
        if kinds:
            clauses.append(and_(Grant.role == str(role), AccessRequest.kind.in_(kinds)))
    return and_(
        Grant.organization_id == AccessRequest.organization_id,
        Grant.revoked_at.is_(None),
        Grant.person_id != AccessRequest.requester_id,
        or_(*clauses),
    )


def insert_marks(
    session: Session, marks: Sequence[tuple[str, dict[str, Any]]], at: dt.datetime
) -> set[str]:
    """Insert sent marks, skipping keys that exist; return the keys this call inserted.

    On PostgreSQL an insert of a key that another open transaction inserted waits for
    that transaction to end and then skips the key, so of several processes claiming
    the same key exactly one gets it back. The keys are inserted in sorted order, so two
    processes claiming overlapping keys lock them in the same order and do not deadlock
    on them.
    """
    if not marks:
        return set()
    marks = sorted(marks, key=lambda mark: mark[0])
    table = SentMark.__table__
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=["key"])
    # One executemany: SQLAlchemy sends it as a few multi-row INSERTs and still
    # returns the inserted keys ("insertmanyvalues" in SQLAlchemy 2).
    inserted = session.execute(
        statement.returning(table.c.key),
        [{"key": key, "created_at": at, "details": details} for key, details in marks],
    )
    return set(inserted.scalars())


def insert_outbox_rows(session: Session, rows: Sequence[dict[str, Any]], at: dt.datetime) -> None:
    """Insert outbox rows in bulk, skipping rows whose dedupe_key exists.

    Each row gives platform, kind, dedupe_key and any of request_id, person_id,
    channel and payload. The other columns get the values OutboxWriter.add gives them.
    """
    if not rows:
        return
    values = [
        {
            "platform": row["platform"],
            "kind": str(row["kind"]),
            "request_id": row.get("request_id"),
            "invitation_id": None,
            "person_id": row.get("person_id"),
            "card_id": None,
            "channel": row.get("channel"),
            "payload": row.get("payload") or {},
            "dedupe_key": row["dedupe_key"],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for row in rows
    ]
    table = OutboxMessage.__table__
    statement = _insert(session, table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    session.execute(statement, values)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# The sweep ---------------------------------------------------------------------------


def run_sweep(services: Services, at: dt.datetime | None = None) -> SweepReport:
    """Run one sweep as of `at` (default: the services' clock) and report what it queued.

    Expiry runs at any hour. Reminders and escalations go out only for organizations
    inside business hours at `at`. What is owed outside them goes out at the next
    sweep inside them, once. Expiry stamps the time of `services.workflow.clock`, so
    pass an `at` that matches that clock.
    """
    at = at or services.clock.now()
    report = SweepReport(as_of=at)
    report.expired = expire_due_requests(services, at)
    invitations = sweep_invitations(services, at)
    report.invitations_expired = invitations.get("expired", [])
    report.invitations_reminded = invitations.get("reminded", [])

    with services.db.transaction() as session:
        organizations = load_organization_timings(session)
        open_organizations = {
            org_id: org
            for org_id, org in organizations.items()
            if org.calendar.in_business_hours(at)
        }
        report.organizations_open = len(open_organizations)
        if not open_organizations:
            log.info(
                "sweep done as_of=%s expired=%d organizations_open=0",
                at.isoformat(),
                len(report.expired),
            )
            return report
        plan = _plan(session, open_organizations, at)

    report.reminders = _queue_reminders(services, plan, at)
    report.escalations = _queue_escalations(services, plan, at)
    log.info(
        "sweep done as_of=%s expired=%d reminders=%d reminded_requests=%d escalations=%d",
        at.isoformat(),
        len(report.expired),
        len(report.reminders),
        report.reminded_requests,
        len(report.escalations),
    )
    return report


# Expiry ------------------------------------------------------------------------------


def expire_due_requests(services: Services, at: dt.datetime) -> list[str]:
    """Expire every pending request whose expiry day has come; return the ids expired here.

    A request expires `expiry_days` calendar days after it was made, at the same local
    wall-clock time in its organization's timezone, on any weekday and at any hour.
    A request that another process expired first is left out of the result.
    """
    with services.db.transaction() as session:
        organizations = load_organization_timings(session)
        days_sql = effective_days_sql("expiry_days")
        # One day of slack covers a daylight saving shift between this UTC filter and
        # the exact local check below.
        clauses = [
            and_(days_sql == days, AccessRequest.created_at <= at - dt.timedelta(days=days - 1))
            for days in {org.timing.expiry_days for org in organizations.values()}
        ]
        if not clauses:
            return []
        candidates = session.execute(
            select(AccessRequest.id, AccessRequest.organization_id, AccessRequest.created_at)
            .join(Organization, Organization.id == AccessRequest.organization_id)
            .where(AccessRequest.status == str(Status.PENDING), or_(*clauses))
            .order_by(AccessRequest.created_at, AccessRequest.id)
        ).all()

    expired = []
    for candidate in candidates:
        organization = organizations[candidate.organization_id]
        local_created = organization.calendar.local(candidate.created_at)
        expires_at = local_created + dt.timedelta(days=organization.timing.expiry_days)
        if expires_at > at:
            continue
        result = services.workflow.expire(candidate.id)
        if result.outcome is Outcome.DONE:
            expired.append(candidate.id)
        elif result.outcome is not Outcome.ALREADY_DECIDED:
            log.warning(
                "expiry failed request=%s outcome=%s message=%s",
                candidate.id,
                result.outcome,
                result.message,
            )
    return expired


# Planning reminders and escalations ---------------------------------------------------


@dataclass(frozen=True)
class DueRequest:
    """A pending request that is owed a reminder or an escalation."""

    id: str
    organization_id: int
    kind: RequestKind
    requester_id: int
    created_at: dt.datetime
    calendar: BusinessCalendar
    reachable_approvers: tuple[int, ...]
    unreachable_approvers: tuple[int, ...]


@dataclass(frozen=True)
class Recipient:
    """A person's name, email and chat accounts, as queuing needs them."""

    id: int
    name: str
    email: str | None
    # Platforms of the person's chat accounts, deactivated ones included.
    account_platforms: frozenset[str]
    reachable: bool

    def platforms(self, enabled: Sequence[str]) -> list[str]:
        """Return the platforms to message the person on.

        This is OutboxWriter.platforms_for's rule, computed from rows read in bulk: the
        platforms of linked accounts, or Slack by email when there is none.
        """
        linked = sorted(self.account_platforms & set(enabled))
        if linked:
            return linked
        if "slack" in enabled and self.email:
            return ["slack"]
        return []


@dataclass
class _Plan:
    # Overdue requests per reachable approver, oldest first.
    reminders: dict[int, list[DueRequest]] = field(default_factory=dict)
    escalations: list[DueRequest] = field(default_factory=list)
    people: dict[int, Recipient] = field(default_factory=dict)


def _plan(session: Session, organizations: dict[int, OrganizationTiming], at: dt.datetime) -> _Plan:
    """Read what is owed at `at` in the given organizations, which are in business hours.

    SQL decides which requests are old enough for a reminder or an escalation, so the
    loop below only groups them by approver.
    """
    orgs = organizations.values()
    reminder_due = at_least_business_days_old(orgs, at, "first_reminder_business_days")
    escalation_due = at_least_business_days_old(orgs, at, "escalation_business_days")
    escalated = exists().where(SentMark.key == literal("escalation:") + AccessRequest.id)
    pending = (
        select(
            AccessRequest.id,
            AccessRequest.organization_id,
            AccessRequest.kind,
            AccessRequest.requester_id,
            AccessRequest.created_at,
            case((reminder_due, 1), else_=0).label("reminder_due"),
            case((escalation_due, 1), else_=0).label("escalation_due"),
            escalated.label("escalated"),
        )
        .join(Organization, Organization.id == AccessRequest.organization_id)
        .where(AccessRequest.status == str(Status.PENDING))
    )
    rows = {
        row.id: row for row in session.execute(pending.where(or_(reminder_due, escalation_due)))
    }

    # Requests with an unreachable approver escalate at once, whatever their age.
    open_timezones = sorted({org.timezone for org in orgs})
    blocked_organizations = set(
        session.scalars(
            select(Grant.organization_id)
            .join(Organization, Organization.id == Grant.organization_id)
            .where(
                Grant.revoked_at.is_(None),
                Grant.role.in_(APPROVER_ROLE_NAMES),
                Organization.timezone.in_(open_timezones),
                is_unreachable(Grant.person_id),
            )
            .distinct()
        )
    )
    unreachable_admins = session.scalar(
        select(func.count()).select_from(Person).where(Person.is_admin, is_unreachable(Person.id))
    )
    blocked = []
    if blocked_organizations:
        blocked.append(AccessRequest.organization_id.in_(sorted(blocked_organizations)))
    if unreachable_admins:
        blocked.append(AccessRequest.kind.in_([str(kind) for kind in ADMIN_DECIDES]))
    if blocked:
        query = pending.where(Organization.timezone.in_(open_timezones), or_(*blocked), ~escalated)
        for row in session.execute(query):
            rows.setdefault(row.id, row)

    plan = _Plan()
    if not rows:
        return plan
    approvers = _approvers_by_organization(session, {row.organization_id for row in rows.values()})
    admins = list(session.scalars(select(Person.id).where(Person.is_admin).order_by(Person.id)))
    people_ids = {pid for holders in approvers.values() for _, pid in holders} | set(admins)
    plan.people = load_recipients(session, people_ids)

    # Approvers of each (organization, kind), split by reachability, before leaving
    # out the requester.
    candidates: dict[tuple[int, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def approvers_of(organization_id: int, kind: RequestKind) -> tuple[tuple[int, ...], ...]:
        found = candidates.get((organization_id, kind))
        if found is None:
            if kind in ADMIN_DECIDES:
                people = admins
            else:
                allowed = {str(role) for role in APPROVER_ROLES[kind]}
                holders = approvers.get(organization_id, [])
                people = sorted({pid for role, pid in holders if role in allowed})
            found = (
                tuple(pid for pid in people if plan.people[pid].reachable),
                tuple(pid for pid in people if not plan.people[pid].reachable),
            )
            candidates[(organization_id, kind)] = found
        return found

    for row in sorted(rows.values(), key=lambda r: (r.created_at, r.id)):
        organization = organizations.get(row.organization_id)
        if organization is None:
            continue
        kind = RequestKind(row.kind)
        reachable, unreachable = approvers_of(row.organization_id, kind)
        if row.requester_id in reachable or row.requester_id in unreachable:
            reachable = tuple(pid for pid in reachable if pid != row.requester_id)
            unreachable = tuple(pid for pid in unreachable if pid != row.requester_id)
        request = DueRequest(
            id=row.id,
            organization_id=row.organization_id,
            kind=kind,
            requester_id=row.requester_id,
            created_at=row.created_at,
            calendar=organization.calendar,
            reachable_approvers=reachable,
            unreachable_approvers=unreachable,
        )
        if row.reminder_due:
            for person_id in reachable:
                plan.reminders.setdefault(person_id, []).append(request)
        if not row.escalated and (row.escalation_due or unreachable):
            plan.escalations.append(request)
    return plan


def _approvers_by_organization(
    session: Session, organization_ids: set[int]
) -> dict[int, list[tuple[str, int]]]:
    """Return the (role, person id) of every active AO and DO grant, by organization."""
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for batch in chunks(sorted(organization_ids)):
        for row in session.execute(
            select(Grant.organization_id, Grant.role, Grant.person_id).where(
                Grant.organization_id.in_(batch),
                Grant.revoked_at.is_(None),
                Grant.role.in_(APPROVER_ROLE_NAMES),
            )
        ):
            found[row.organization_id].append((row.role, row.person_id))
    return found


def load_recipients(session: Session, person_ids: set[int]) -> dict[int, Recipient]:
    """Read names, emails and chat accounts of people in bulk.

    A person is reachable with an active account or with no account yet; one whose
    every account is deactivated is not.
    """
    accounts: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    people = {}
    for batch in chunks(sorted(person_ids)):
        for account in session.execute(
            select(ChatAccount.person_id, ChatAccount.platform, ChatAccount.deactivated).where(
                ChatAccount.person_id.in_(batch)
            )
        ):
            accounts[account.person_id].append((account.platform, account.deactivated))
        for person in session.execute(
            select(Person.id, Person.name, Person.email).where(Person.id.in_(batch))
        ):
            linked = accounts[person.id]
            people[person.id] = Recipient(
                id=person.id,
                name=person.name,
                email=person.email,
                account_platforms=frozenset(platform for platform, _ in linked),
                reachable=not linked or not all(deactivated for _, deactivated in linked),
            )
    return people


# Queuing -----------------------------------------------------------------------------


def reminder_key(person_id: int, day: dt.date) -> str:
    return f"reminder:{person_id}:{day.isoformat()}"


def escalation_key(request_id: str) -> str:
    return f"escalation:{request_id}"


@dataclass(frozen=True)
class _Reminder:
    person_id: int
    day: dt.date
    request_ids: tuple[str, ...]
    platforms: tuple[str, ...]

    @property
    def key(self) -> str:
        return reminder_key(self.person_id, self.day)


def _queue_reminders(services: Services, plan: _Plan, at: dt.datetime) -> list[ReminderSent]:
    """Claim and queue one reminder per approver, listing their overdue requests oldest first.

    The business date comes from the timezone of the oldest request's organization, so
    an approver in several timezones still gets one reminder per business day. Each
    transaction claims a batch of approvers and writes their outbox rows, so the
    number of statements grows with batches of approvers, not with requests.
    """
    enabled = services.workflow.config.platforms
    reminders = []
    for person_id, requests in plan.reminders.items():
        platforms = plan.people[person_id].platforms(enabled)
        if not platforms:
            log.warning("reminder not queued: no platform reaches person=%s", person_id)
            continue
        day = requests[0].calendar.local_date(at)
        reminders.append(_Reminder(person_id, day, tuple(r.id for r in requests), tuple(platforms)))
    reminders.sort(key=lambda reminder: reminder.key)

    sent = []
    for batch in chunks(reminders, QUEUE_BATCH):
        with services.db.transaction() as session:
            claims = [(r.key, {"request_ids": list(r.request_ids)}) for r in batch]
            won = insert_marks(session, claims, at)
            winners = [r for r in batch if r.key in won]
            rows = [
                {
                    "platform": platform,
                    "kind": Kind.REMINDER,
                    "person_id": r.person_id,
                    "payload": {"request_ids": list(r.request_ids), "as_of": at.isoformat()},
                    "dedupe_key": f"{r.key}:{platform}",
                }
                for r in winners
                for platform in r.platforms
            ]
            insert_outbox_rows(session, rows, at)
        for r in winners:
            log.debug(
                "reminder queued person=%s requests=%d oldest=%s platforms=%s",
                r.person_id,
                len(r.request_ids),
                r.request_ids[0],
                ",".join(r.platforms),
            )
            sent.append(ReminderSent(r.person_id, r.request_ids, r.platforms))
    return sent


def _queue_escalations(services: Services, plan: _Plan, at: dt.datetime) -> list[str]:
    """Claim and queue the admins' alert for each request owed one; return the ids queued."""
    config = services.workflow.config
    admin_platforms = [p for p in config.platforms if config.admin_channels.get(p)]
    requests = sorted(plan.escalations, key=lambda request: request.id)
    queued = []
    for batch in chunks(requests, QUEUE_BATCH):
        with services.db.transaction() as session:
            pending = _still_pending(session, [request.id for request in batch])
            claims = [
                (escalation_key(r.id), {"request_id": r.id}) for r in batch if r.id in pending
            ]
            won = insert_marks(session, claims, at)
            winners = [r for r in batch if escalation_key(r.id) in won]
            counts = _reminder_counts(session, winners, at)
            rows = []
            for request in winners:
                payload = _escalation_payload(request, counts.get(request.id, {}), plan.people, at)
                rows += [
                    {
                        "platform": platform,
                        "kind": Kind.ADMIN_ALERT,
                        "request_id": request.id,
                        "channel": config.admin_channels[platform],
                        "payload": payload,
                        "dedupe_key": f"{escalation_key(request.id)}:{platform}",
                    }
                    for platform in admin_platforms
                ]
            insert_outbox_rows(session, rows, at)
        for request in winners:
            log.info(
                "escalation queued request=%s organization=%s unreachable=%d platforms=%s",
                request.id,
                request.organization_id,
                len(request.unreachable_approvers),
                ",".join(admin_platforms) or "-",
            )
            queued.append(request.id)
    if queued and not admin_platforms:
        log.warning(
            "escalations recorded but not sent: no admin channel is configured "
            "(COSIGNER_ADMIN_CHANNEL) escalations=%d first=%s",
            len(queued),
            queued[0],
        )
    return queued


def _escalation_payload(
    request: DueRequest, counts: dict[int, int], people: dict[int, Recipient], at: dt.datetime
) -> dict[str, Any]:
    def name(person_id: int) -> str:
        found = people.get(person_id)
        return found.name if found else f"person {person_id}"

    return {
        "reason": "escalation",
        "reminded": [
            {"person_id": person_id, "name": name(person_id), "reminders": count}
            for person_id, count in sorted(counts.items())
        ],
        "unreachable": [name(person_id) for person_id in request.unreachable_approvers],
        "business_days_pending": int(
            request.calendar.business_age(request.created_at, at) / BUSINESS_DAY
        ),
    }


def _still_pending(session: Session, request_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for batch in chunks(request_ids):
        found.update(
            session.scalars(
                select(AccessRequest.id).where(
                    AccessRequest.id.in_(batch), AccessRequest.status == str(Status.PENDING)
                )
            )
        )
    return found


def _reminder_counts(
    session: Session, requests: Sequence[DueRequest], at: dt.datetime
) -> dict[str, dict[int, int]]:
    """Count the reminders that listed each request, per current approver.

    The approvers' daily marks are looked up by exact key, one per approver and
    calendar day since the request was made, so the lookup uses the primary key.
    A day's reminder may carry a neighbouring timezone's date, hence the extra day at
    each end.
    NOTE: reminders to someone who is no longer an approver are not counted.
    """
    keys: set[str] = set()
    request_ids = {request.id for request in requests}
    for request in requests:
        first = request.created_at.date() - dt.timedelta(days=1)
        days = (at.date() - first).days + 2
        for person_id in request.reachable_approvers + request.unreachable_approvers:
            keys.update(
                reminder_key(person_id, first + dt.timedelta(days=offset)) for offset in range(days)
            )
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for batch in chunks(sorted(keys)):
        for mark in session.execute(
            select(SentMark.key, SentMark.details).where(SentMark.key.in_(batch))
        ):
            person_id = int(mark.key.split(":")[1])
            for request_id in (mark.details or {}).get("request_ids", []):
                if request_id in request_ids:
                    counts[request_id][person_id] += 1
    return {request_id: dict(by_person) for request_id, by_person in counts.items()}
