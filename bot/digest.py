"""The admins' daily digest: the backlog, yesterday's decisions and what needs attention.

`build_digest` reads everything with aggregate queries (GROUP BY, LIMIT), so its cost
grows with the number of organizations and pending requests, never with a query per
request. `queue_daily_digest` posts it once a day to the admin channels, and
`format_digest_text` prints it for `cosigner digest --print`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Select, and_, case, desc, false, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.calendar import BusinessCalendar, zone
from bot.domain import KIND_LABELS, RequestKind, Status
from bot.outbox import Kind, OutboxWriter
from bot.policy import ADMIN_DECIDES
from bot.reminders import (
    APPROVER_ROLE_NAMES,
    OrganizationTiming,
    approver_grant_condition,
    at_least_business_days_old,
    insert_marks,
    is_reachable,
    is_unreachable,
    load_organization_timings,
)
from bot.services import Services
from storage.models import (
    AccessRequest,
    Grant,
    Organization,
    OutboxMessage,
    Person,
    SentMark,
    UTCDateTime,
)

log = logging.getLogger(__name__)

# Age buckets of pending requests, in business days: [0, 1), [1, 3), [3, 7), [7, ...).
AGE_BUCKET_BOUNDS = (1, 3, 7)
AGE_BUCKET_LABELS = ("under 1", "1–3", "3–7", "over 7")

# Maximum rows per list. Totals count everything, but the lists are cut so that the
# digest fits a few Slack messages however large the deployment is.
ORGANIZATION_LIMIT = 100
OLDEST_LIMIT = 10
FAILED_LIMIT = 20
FAILED_ERRORS_LIMIT = 10
THIN_ORGANIZATIONS_LIMIT = 50
BUSIEST_APPROVERS_LIMIT = 10
UNREACHABLE_LIMIT = 50
DECISION_WINDOW = dt.timedelta(days=30)

# Statuses whose decided_at is an approver's decision. A revoked request was approved
# first, and decided_at keeps the time of that approval.
DECIDED_BY_APPROVER = (str(Status.APPROVED), str(Status.REJECTED), str(Status.REVOKED))


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class OrganizationBacklog(_Record):
    organization_id: int
    name: str
    # Pending requests per age bucket, in the order of AGE_BUCKET_LABELS.
    by_age: tuple[int, int, int, int]

    @property
    def total(self) -> int:
        return sum(self.by_age)


class PendingRequest(_Record):
    request_id: str
    organization: str
    requester: str
    kind: str
    created_at: dt.datetime
    business_days: float


class ErrorCount(_Record):
    error: str
    count: int


class FailedDelivery(_Record):
    outbox_id: int
    kind: str
    platform: str
    # The person's name, or the channel id for a channel post.
    recipient: str
    request_id: str | None
    error: str
    created_at: dt.datetime


class ThinOrganization(_Record):
    """An organization with one reachable approver or none."""

    organization_id: int
    name: str
    reachable_approvers: list[str]


class ApproverLoad(_Record):
    person_id: int
    name: str
    overdue: int
    reachable: bool


class UnreachableApprover(_Record):
    person_id: int
    name: str
    organizations: list[str]


class Digest(_Record):
    """The digest as of one moment. `to_payload` gives the JSON stored in the outbox."""

    as_of: dt.datetime
    timezone: str
    day: dt.date
    pending_total: int
    organizations_with_pending: int
    # The organizations with the most pending requests first, cut to a limit.
    backlog: list[OrganizationBacklog]
    # Pending requests per age bucket in the organizations that `backlog` leaves out.
    backlog_rest: tuple[int, int, int, int]
    yesterday: dt.date
    # Decisions made on `yesterday` in the digest timezone, by outcome.
    yesterday_counts: dict[str, int]
    decisions_in_window: int
    median_decision_seconds: float | None
    oldest: list[PendingRequest]
    failed_total: int
    failed_errors: list[ErrorCount]
    failed: list[FailedDelivery]
    thin_organizations_total: int
    thin_organizations: list[ThinOrganization]
    busiest_approvers: list[ApproverLoad]
    unreachable_total: int
    unreachable_approvers: list[UnreachableApprover]

    @property
    def backlog_rest_organizations(self) -> int:
        return self.organizations_with_pending - len(self.backlog)

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Digest:
        return cls.model_validate(dict(payload))


# Building ----------------------------------------------------------------------------


def build_digest(
    services: Services,
    at: dt.datetime | None = None,
    *,
    organization_limit: int | None = ORGANIZATION_LIMIT,
) -> Digest:
    """Build the digest as of `at` (default: the services' clock).

    `organization_limit` cuts the per-organization backlog list; None lists every
    organization with pending requests, as `cosigner digest --print` does.
    """
    at = at or services.clock.now()
    timezone = services.settings.digest_timezone
    local = at.astimezone(zone(timezone))
    today = local.date()
    yesterday = today - dt.timedelta(days=1)
    day_start = dt.datetime.combine(yesterday, dt.time(), tzinfo=zone(timezone))
    day_end = dt.datetime.combine(today, dt.time(), tzinfo=zone(timezone))

    with services.db.transaction() as session:
        organizations = load_organization_timings(session)
        backlog = _backlog(session, organizations, at, organization_limit)
        median, decisions = _median_decision(session, at - DECISION_WINDOW, at)
        failed_total, failed_errors, failed = _failed_deliveries(session)
        thin_total, thin = _thin_organizations(session)
        unreachable_total, unreachable = _unreachable_approvers(session)
        return Digest(
            as_of=at,
            timezone=timezone,
            day=today,
            pending_total=backlog.pending_total,
            organizations_with_pending=len(backlog.listed) + backlog.rest_organizations,
            backlog=backlog.listed,
            backlog_rest=backlog.rest,
            yesterday=yesterday,
            yesterday_counts=_decision_counts(session, day_start, day_end),
            decisions_in_window=decisions,
            median_decision_seconds=median,
            oldest=_oldest(session, organizations, at),
            failed_total=failed_total,
            failed_errors=failed_errors,
            failed=failed,
            thin_organizations_total=thin_total,
            thin_organizations=thin,
            busiest_approvers=_busiest_approvers(session, organizations, at),
            unreachable_total=unreachable_total,
            unreachable_approvers=unreachable,
        )


def _older_than(
    organizations: Iterable[OrganizationTiming], at: dt.datetime, days: int
) -> ColumnElement[bool]:
    """Build a condition: the request is at least `days` business days old at `at`."""
    calendars: dict[str, BusinessCalendar] = {o.timezone: o.calendar for o in organizations}
    clauses = [
        and_(
            Organization.timezone == timezone,
            AccessRequest.created_at <= literal(calendar.cutoff(at, days), UTCDateTime()),
        )
        for timezone, calendar in calendars.items()
    ]
    return or_(*clauses) if clauses else false()


def _pending(*columns: Any) -> Select[Any]:
    """Select `columns` from pending requests joined to their organizations."""
    return (
        select(*columns)
        .select_from(AccessRequest)
        .join(Organization, Organization.id == AccessRequest.organization_id)
        .where(AccessRequest.status == str(Status.PENDING))
    )


@dataclass(frozen=True)
class _Backlog:
    listed: list[OrganizationBacklog]
    # Bucket sums and count of the organizations left out of `listed`.
    rest: tuple[int, int, int, int]
    rest_organizations: int
    pending_total: int


def _backlog(
    session: Session,
    organizations: dict[int, OrganizationTiming],
    at: dt.datetime,
    limit: int | None,
) -> _Backlog:
    """Count pending requests per organization and age bucket, the largest backlogs first."""
    whens = [
        (_older_than(organizations.values(), at, days), index + 1)
        for index, days in reversed(list(enumerate(AGE_BUCKET_BOUNDS)))
    ]
    bucket = case(*whens, else_=0)
    # Grouping on a subquery keeps PostgreSQL from seeing the bucket expression in
    # SELECT and GROUP BY as two different expressions (their parameters differ).
    rows = _pending(AccessRequest.organization_id, bucket.label("bucket")).subquery()
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in session.execute(
        select(rows.c.organization_id, rows.c.bucket, func.count().label("n")).group_by(
            rows.c.organization_id, rows.c.bucket
        )
    ):
        counts[row.organization_id][row.bucket] = row.n

    def name_of(organization_id: int) -> str:
        found = organizations.get(organization_id)
        return found.name if found else f"organization {organization_id}"

    ranked = sorted(
        counts.items(), key=lambda item: (-sum(item[1]), name_of(item[0]).lower(), item[0])
    )
    listed = ranked if limit is None else ranked[:limit]
    backlog = [
        OrganizationBacklog(
            organization_id=organization_id,
            name=name_of(organization_id),
            by_age=(by_age[0], by_age[1], by_age[2], by_age[3]),
        )
        for organization_id, by_age in listed
    ]
    rest = [0, 0, 0, 0]
    for _, by_age in ranked[len(listed) :]:
        for index, count in enumerate(by_age):
            rest[index] += count
    return _Backlog(
        listed=backlog,
        rest=(rest[0], rest[1], rest[2], rest[3]),
        rest_organizations=len(ranked) - len(listed),
        pending_total=sum(sum(by_age) for by_age in counts.values()),
    )


def _decision_counts(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Count the requests decided in [start, end) by outcome.

    A revoked request counts as approved, at the time of its approval.
    """
    counts = {"approved": 0, "rejected": 0, "withdrawn": 0, "expired": 0}
    for row in session.execute(
        select(AccessRequest.status, func.count().label("n"))
        .where(AccessRequest.decided_at >= start, AccessRequest.decided_at < end)
        .group_by(AccessRequest.status)
    ):
        outcome = "approved" if row.status == Status.REVOKED else row.status
        if outcome in counts:
            counts[outcome] += row.n
    return counts


def _median_decision(
    session: Session, start: dt.datetime, end: dt.datetime
) -> tuple[float | None, int]:
    """Return the median seconds from request to decision in [start, end], and the count."""
    window = and_(
        AccessRequest.status.in_(DECIDED_BY_APPROVER),
        AccessRequest.decided_at >= start,
        AccessRequest.decided_at <= end,
    )
    count = session.scalar(select(func.count()).select_from(AccessRequest).where(window)) or 0
    if count == 0:
        return None, 0
    if session.get_bind().dialect.name == "postgresql":
        interval = AccessRequest.decided_at - AccessRequest.created_at
        median = session.scalar(
            select(func.percentile_cont(0.5).within_group(func.extract("epoch", interval))).where(
                window
            )
        )
        return (float(median) if median is not None else None), count
    # SQLite has no percentile function: sort the window and read the middle one or two.
    days = func.julianday(AccessRequest.decided_at) - func.julianday(AccessRequest.created_at)
    middle = list(
        session.scalars(
            select(days * 86400.0)
            .where(window)
            .order_by(days)
            .limit(2 - count % 2)
            .offset((count - 1) // 2)
        )
    )
    return sum(middle) / len(middle), count


def _oldest(
    session: Session, organizations: dict[int, OrganizationTiming], at: dt.datetime
) -> list[PendingRequest]:
    rows = session.execute(
        select(
            AccessRequest.id,
            AccessRequest.kind,
            AccessRequest.created_at,
            AccessRequest.organization_id,
            Organization.legal_name,
            Person.name.label("requester"),
        )
        .join(Organization, Organization.id == AccessRequest.organization_id)
        .join(Person, Person.id == AccessRequest.requester_id)
        .where(AccessRequest.status == str(Status.PENDING))
        .order_by(AccessRequest.created_at, AccessRequest.id)
        .limit(OLDEST_LIMIT)
    )
    oldest = []
    for row in rows:
        organization = organizations.get(row.organization_id)
        business_days = (
            organization.calendar.business_days_between(row.created_at, at) if organization else 0.0
        )
        oldest.append(
            PendingRequest(
                request_id=row.id,
                organization=row.legal_name,
                requester=row.requester,
                kind=KIND_LABELS[RequestKind(row.kind)],
                created_at=row.created_at,
                business_days=business_days,
            )
        )
    return oldest


def _failed_deliveries(session: Session) -> tuple[int, list[ErrorCount], list[FailedDelivery]]:
    failed = OutboxMessage.status == "failed"
    total = session.scalar(select(func.count()).select_from(OutboxMessage).where(failed)) or 0
    if total == 0:
        return 0, [], []
    error = func.coalesce(OutboxMessage.last_error, "unknown error")
    errors = [
        ErrorCount(error=row.error, count=row.n)
        for row in session.execute(
            select(error.label("error"), func.count().label("n"))
            .where(failed)
            .group_by(error)
            .order_by(desc("n"), error)
            .limit(FAILED_ERRORS_LIMIT)
        )
    ]
    rows = session.execute(
        select(OutboxMessage, Person.name)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .where(failed)
        .order_by(OutboxMessage.id.desc())
        .limit(FAILED_LIMIT)
    )
    listed = [
        FailedDelivery(
            outbox_id=message.id,
            kind=message.kind,
            platform=message.platform,
            recipient=name or message.channel or "unknown recipient",
            request_id=message.request_id,
            error=message.last_error or "unknown error",
            created_at=message.created_at,
        )
        for message, name in rows
    ]
    return total, errors, listed


def _thin_organizations(session: Session) -> tuple[int, list[ThinOrganization]]:
    """List the organizations with at most one reachable AO or DO, those with none first."""
    reachable_grants = (
        select(Grant.organization_id, Grant.person_id)
        .where(
            Grant.revoked_at.is_(None),
            Grant.role.in_(APPROVER_ROLE_NAMES),
            is_reachable(Grant.person_id),
        )
        .distinct()
        .subquery()
    )
    reachable_count = func.count(reachable_grants.c.person_id)
    thin = (
        select(Organization.id, Organization.legal_name, reachable_count.label("reachable"))
        .outerjoin(reachable_grants, reachable_grants.c.organization_id == Organization.id)
        .group_by(Organization.id, Organization.legal_name)
        .having(reachable_count <= 1)
    )
    total = session.scalar(select(func.count()).select_from(thin.subquery())) or 0
    if total == 0:
        return 0, []
    rows = session.execute(
        thin.order_by(reachable_count, Organization.legal_name, Organization.id).limit(
            THIN_ORGANIZATIONS_LIMIT
        )
    ).all()
    names: dict[int, list[str]] = defaultdict(list)
    for row in session.execute(
        select(reachable_grants.c.organization_id, Person.name)
        .join(Person, Person.id == reachable_grants.c.person_id)
        .where(reachable_grants.c.organization_id.in_([row.id for row in rows]))
    ):
        names[row.organization_id].append(row.name)
    return total, [
        ThinOrganization(
            organization_id=row.id, name=row.legal_name, reachable_approvers=names[row.id]
        )
        for row in rows
    ]


def _busiest_approvers(
    session: Session, organizations: dict[int, OrganizationTiming], at: dt.datetime
) -> list[ApproverLoad]:
    """Return the approvers with the most overdue requests (due a reminder), most first."""
    overdue = at_least_business_days_old(organizations.values(), at, "first_reminder_business_days")
    admin_count = session.scalar(select(func.count()).select_from(Person).where(Person.is_admin))
    counts: dict[int, int] = defaultdict(int)
    by_grant = (
        _pending(Grant.person_id, func.count(AccessRequest.id.distinct()).label("n"))
        .join(Grant, approver_grant_condition())
        .where(overdue)
        .group_by(Grant.person_id)
        .order_by(desc("n"), Grant.person_id)
        .limit(BUSIEST_APPROVERS_LIMIT + (admin_count or 0))
    )
    for row in session.execute(by_grant):
        counts[row.person_id] += row.n
    if admin_count:
        by_admin = (
            _pending(Person.id.label("person_id"), func.count(AccessRequest.id).label("n"))
            .join(
                Person,
                and_(
                    Person.is_admin,
                    Person.id != AccessRequest.requester_id,
                    AccessRequest.kind.in_([str(kind) for kind in ADMIN_DECIDES]),
                ),
            )
            .where(overdue)
            .group_by(Person.id)
        )
        for row in session.execute(by_admin):
            counts[row.person_id] += row.n
    if not counts:
        return []
    people = {
        row.id: row
        for row in session.execute(
            select(Person.id, Person.name, is_reachable(Person.id).label("reachable")).where(
                Person.id.in_(list(counts))
            )
        )
    }
    ranked = sorted(counts.items(), key=lambda item: (-item[1], people[item[0]].name, item[0]))
    return [
        ApproverLoad(
            person_id=person_id,
            name=people[person_id].name,
            overdue=count,
            reachable=bool(people[person_id].reachable),
        )
        for person_id, count in ranked[:BUSIEST_APPROVERS_LIMIT]
    ]


def _unreachable_approvers(session: Session) -> tuple[int, list[UnreachableApprover]]:
    """List the AOs and DOs whose every chat account is deactivated, with their organizations."""
    holders = select(Grant.person_id).where(
        Grant.revoked_at.is_(None),
        Grant.role.in_(APPROVER_ROLE_NAMES),
        is_unreachable(Grant.person_id),
    )
    total = (
        session.scalar(
            select(func.count(Grant.person_id.distinct())).where(Grant.person_id.in_(holders))
        )
        or 0
    )
    if total == 0:
        return 0, []
    people = session.execute(
        select(Person.id, Person.name)
        .where(Person.id.in_(holders))
        .order_by(Person.name, Person.id)
        .limit(UNREACHABLE_LIMIT)
    ).all()
    organizations: dict[int, list[str]] = defaultdict(list)
    for row in session.execute(
        select(Grant.person_id, Organization.legal_name)
        .join(Organization, Organization.id == Grant.organization_id)
        .where(
            Grant.person_id.in_([person.id for person in people]),
            Grant.revoked_at.is_(None),
            Grant.role.in_(APPROVER_ROLE_NAMES),
        )
        .distinct()
        .order_by(Grant.person_id, Organization.legal_name)
    ):
        organizations[row.person_id].append(row.legal_name)
    return total, [
        UnreachableApprover(person_id=p.id, name=p.name, organizations=organizations[p.id])
        for p in people
    ]


# Posting -----------------------------------------------------------------------------


def parse_digest_time(text: str) -> dt.time:
    """Parse COSIGNER_DIGEST_TIME ("HH:MM", 24-hour), or raise ValueError naming the value."""
    try:
        hours, minutes = text.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(
            f"COSIGNER_DIGEST_TIME {text!r} is invalid: use a 24-hour time such as 08:00"
        ) from None


def digest_key(day: dt.date) -> str:
    return f"digest:{day.isoformat()}"


# Whether this process already logged that no admin channel is configured.
_warned_no_channel: list[bool] = []


def queue_daily_digest(services: Services, at: dt.datetime | None = None) -> dt.date | None:
    """Queue today's digest for the admin channels once it is due, and return its date if queued.

    The digest is due from COSIGNER_DIGEST_TIME in COSIGNER_DIGEST_TIMEZONE on, so a
    scheduler that was down at that time posts it when it comes back, the same day.
    The sent mark `digest:{date}` and the outbox dedupe key make it once a day,
    however many processes call this at once.
    """
    at = at or services.clock.now()
    settings = services.settings
    config = services.workflow.config
    if not any(config.admin_channels.get(p) for p in config.platforms):
        # Nothing is marked, so the day's digest goes out once a channel is configured.
        # The scheduler asks every minute; say it once a process.
        if not _warned_no_channel:
            log.warning(
                "digest not queued: no admin channel is configured (COSIGNER_ADMIN_CHANNEL)"
            )
            _warned_no_channel.append(True)
        return None
    local = at.astimezone(zone(settings.digest_timezone))
    if local.time() < parse_digest_time(settings.digest_time):
        return None
    day = local.date()
    key = digest_key(day)
    with services.db.transaction() as session:
        if session.get(SentMark, key) is not None:
            return None
    # Built outside the claiming transaction, so that a slow build holds no lock. Two
    # processes may both build it, and the claim below lets only one of them queue it.
    digest = build_digest(services, at)
    with services.db.transaction() as session:
        if not insert_marks(session, [(key, {"pending": digest.pending_total})], at):
            return None
        writer = OutboxWriter(session, at, config.platforms, config.admin_channels)
        platforms = writer.to_admins(Kind.DIGEST, payload=digest.to_payload(), dedupe_key=key)
    log.info("digest queued day=%s platforms=%s", day, ",".join(platforms))
    return day


# Text --------------------------------------------------------------------------------


def long_date(day: dt.date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def format_duration(seconds: float) -> str:
    """Format a duration for people: "2 d 4 h", "3 h 20 min" or "12 min"."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_business_days(days: float) -> str:
    if days < 1:
        return "under 1 business day"
    whole = int(days)
    return f"{whole} business day{'s' if whole != 1 else ''}"


def format_yesterday(digest: Digest) -> str:
    counts = digest.yesterday_counts
    return ", ".join(
        f"{counts.get(name, 0)} {name}" for name in ("approved", "rejected", "withdrawn", "expired")
    )


def format_median(digest: Digest) -> str:
    if digest.median_decision_seconds is None:
        return "no decisions in the last 30 days"
    return (
        f"{format_duration(digest.median_decision_seconds)} "
        f"over {digest.decisions_in_window:,} decision(s) in the last 30 days"
    )


def format_buckets(by_age: tuple[int, int, int, int]) -> str:
    return ", ".join(
        f"{label}: {count}" for label, count in zip(AGE_BUCKET_LABELS, by_age, strict=True)
    )


def describe_failed(failed: FailedDelivery) -> str:
    about = f" about {failed.request_id}" if failed.request_id else ""
    return f"{failed.kind} to {failed.recipient}{about} on {failed.platform}: {failed.error}"


def format_digest_text(digest: Digest) -> str:
    """Render the digest as plain text for a terminal."""
    local = digest.as_of.astimezone(zone(digest.timezone))
    lines = [
        f"Cosigner digest for {long_date(digest.day)}",
        f"as of {local:%Y-%m-%d %H:%M %Z} ({digest.timezone})",
        "",
        f"Pending: {digest.pending_total:,} request(s) in "
        f"{digest.organizations_with_pending:,} organization(s)",
        f"Yesterday ({short_date(digest.yesterday)}): {format_yesterday(digest)}",
        f"Median time to decision: {format_median(digest)}",
        f"Undeliverable notifications: {digest.failed_total:,}",
    ]

    lines += ["", "Pending by organization (age in business days)"]
    if not digest.backlog:
        lines.append("  none")
    for row in digest.backlog:
        lines.append(f"  {row.name}: {row.total} ({format_buckets(row.by_age)})")
    if digest.backlog_rest_organizations > 0:
        lines.append(
            f"  {digest.backlog_rest_organizations:,} more organization(s): "
            f"{sum(digest.backlog_rest):,} ({format_buckets(digest.backlog_rest)})"
        )

    lines += ["", f"Oldest pending requests (up to {OLDEST_LIMIT})"]
    if not digest.oldest:
        lines.append("  none")
    for request in digest.oldest:
        lines.append(
            f"  {request.request_id}  {request.organization}, {request.requester} "
            f"({request.kind}), {format_business_days(request.business_days)}, "
            f"since {request.created_at:%Y-%m-%d}"
        )

    lines += ["", "Approvers with the most overdue requests"]
    if not digest.busiest_approvers:
        lines.append("  none")
    for approver in digest.busiest_approvers:
        note = "" if approver.reachable else " (unreachable: chat account deactivated)"
        lines.append(f"  {approver.name}: {approver.overdue} overdue{note}")

    lines += ["", f"Unreachable approvers (chat account deactivated): {digest.unreachable_total}"]
    for person in digest.unreachable_approvers:
        lines.append(f"  {person.name}: {', '.join(person.organizations)}")
    _more(lines, digest.unreachable_total, len(digest.unreachable_approvers), "approver(s)")

    lines += [
        "",
        "Organizations with a single reachable approver or none: "
        f"{digest.thin_organizations_total}",
    ]
    for organization in digest.thin_organizations:
        approvers = ", ".join(organization.reachable_approvers) or "no reachable approver"
        lines.append(f"  {organization.name}: {approvers}")
    _more(lines, digest.thin_organizations_total, len(digest.thin_organizations), "organization(s)")

    lines += ["", f"Undeliverable notifications: {digest.failed_total}"]
    for error in digest.failed_errors:
        lines.append(f"  {error.count} x {error.error}")
    if digest.failed:
        lines.append("  latest:")
    for failed in digest.failed:
        lines.append(f"  {failed.created_at:%Y-%m-%d %H:%M} UTC  {describe_failed(failed)}")
    return "\n".join(lines) + "\n"


def _more(lines: list[str], total: int, listed: int, noun: str) -> None:
    if total > listed:
        lines.append(f"  and {total - listed:,} more {noun}")
