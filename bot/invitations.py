"""Invitations, removals and the people of an organization, as officials manage them from chat.

An official invites a person to a role, and the invitee accepts or declines. The
inviter's authority replaces an approval, so it is checked when the invitation is
sent and again when it is accepted. Leaving `open` is a conditional UPDATE on
`status = 'open'`, so one answer, expiry or cancellation wins however many clicks,
retries or replicas race for an invitation.

A removal revokes a person's grants of one role in one organization. Who may invite
or remove whom follows the approval table in bot.policy: the roles that may approve a
request for a role may also invite to it and remove it. Nobody removes an Authorized
Official from chat; an admin does it with `cosigner grant revoke`.

Each change writes its state, its audit entry and its outbox rows in one transaction.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bot import audit
from bot.calendar import BUSINESS_DAY, BusinessCalendar, calendar_for
from bot.clock import Clock
from bot.domain import (
    DEFAULT_TIMEZONE,
    GRANTED_ROLE,
    INVITATION_ID_PATTERN,
    MAX_REASON_LENGTH,
    ROLE_LABELS,
    RequestKind,
    Role,
    Status,
    ValidationError,
    new_invitation_id,
    validate_email,
    validate_free_text,
    validate_npi,
)
from bot.outbox import Kind, OutboxWriter
from bot.policy import APPROVER_ROLES, check_authority
from bot.records import OrganizationInfo, PersonInfo
from bot.workflow import Outcome, WorkflowConfig
from storage import repo
from storage.db import Database
from storage.models import (
    AccessRequest,
    Card,
    Grant,
    Invitation,
    Organization,
    Person,
    SentMark,
)

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Calendar days an invitation stays open unless organizations.invitation_expiry_days is set.
DEFAULT_EXPIRY_DAYS = 14
# Business days an invitation stays open before its one reminder to the invitee.
REMINDER_BUSINESS_DAYS = 1
# Attempts at drawing an invitation id that is not taken yet.
ID_ATTEMPTS = 8
REMINDER_KEY_PREFIX = "invitation_reminder:"

OFFICIAL_ROLES = frozenset({Role.AO, Role.DO})
ROLE_ORDER = list(Role)


class InvitationStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    # Closed at an accept because the inviter no longer held the authority to invite.
    CANCELLED = "cancelled"


# Who is sent a notice when an invitation leaves `open`. The invitee who accepts,
# declines or meets a cancellation gets the outcome in the reply to their click.
NOTICE_AUDIENCES = {
    InvitationStatus.ACCEPTED: ("inviter",),
    InvitationStatus.DECLINED: ("inviter",),
    InvitationStatus.EXPIRED: ("inviter", "invitee"),
    InvitationStatus.CANCELLED: ("inviter",),
}

# The role words `/access invite` accepts, lower-cased.
INVITE_ROLE_WORDS = {"do": Role.DO, "staff": Role.SEU, "seu": Role.SEU}
# The role words `/access remove` and `cosigner grant revoke` accept, lower-cased.
# "surrogate" covers both kinds of surrogacy connection.
REMOVE_ROLE_WORDS: dict[str, tuple[Role, ...]] = {
    "ao": (Role.AO,),
    "do": (Role.DO,),
    "staff": (Role.SEU,),
    "seu": (Role.SEU,),
    "surrogate": (Role.SURROGATE, Role.SURROGATE_STAFF),
}
# The request kind that grants each role. Its approvers in bot.policy may also
# invite a person to the role and remove it.
KIND_OF_ROLE: dict[Role, RequestKind] = {role: kind for kind, role in GRANTED_ROLE.items()}
ROLE_NOUNS = {
    Role.AO: "an Authorized Official",
    Role.DO: "a Delegated Official",
    Role.SEU: "staff",
    Role.SURROGATE: "a surrogacy connection",
    Role.SURROGATE_STAFF: "surrogate staff",
}

AO_REMOVAL_MESSAGE = (
    "Nobody removes an Authorized Official from chat: a Cosigner admin does it with "
    "`cosigner grant revoke EMAIL AO --organization NPI --reason TEXT`."
)
MISSING_REASON_MESSAGE = (
    "The reason is missing: write why after the role and organization. "
    "The person removed is told the reason."
)


# Parsing what people type -------------------------------------------------------------


def parse_invite_role(word: str) -> Role:
    """Return the role named by `/access invite`'s ROLE word, or raise ValidationError."""
    cleaned = word.strip().lower()
    role = INVITE_ROLE_WORDS.get(cleaned)
    if role is not None:
        return role
    if cleaned == "ao":
        raise ValidationError(
            "An Authorized Official cannot be invited: they ask with `/access request` "
            "and a Cosigner admin approves the designation.",
            field="role",
        )
    raise ValidationError(f"Role {word.strip()!r} is unknown: invite as DO or staff.", field="role")


def parse_removal_roles(word: str) -> tuple[Role, ...]:
    """Return the roles named by a removal's ROLE word, or raise ValidationError."""
    roles = REMOVE_ROLE_WORDS.get(word.strip().lower())
    if roles is None:
        raise ValidationError(
            f"Role {word.strip()!r} is unknown: use DO, staff or surrogate (AO for admins).",
            field="role",
        )
    return roles


def normalize_invitation_id(text: str) -> str:
    """Upper-case and trim a typed invitation id. Raise ValidationError unless it is well formed."""
    candidate = text.strip().upper()
    if not candidate.startswith("INV-"):
        candidate = "INV-" + candidate
    if not INVITATION_ID_PATTERN.match(candidate):
        raise ValidationError(
            f"{text.strip()!r} is not an invitation id: ids look like INV-7K3QX",
            field="invitation_id",
        )
    return candidate


def roles_label(roles: Sequence[Role]) -> str:
    return " or ".join(ROLE_LABELS[role] for role in roles)


# Records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationInfo:
    """A read-only snapshot of an invitation, for rendering."""

    id: str
    role: Role
    status: InvitationStatus
    organization: OrganizationInfo
    inviter: PersonInfo
    invitee: PersonInfo
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_at: dt.datetime | None
    grant_id: int | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def is_open(self) -> bool:
        return self.status is InvitationStatus.OPEN

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationInfo:
        return cls(
            id=invitation.id,
            role=Role(invitation.role),
            status=InvitationStatus(invitation.status),
            organization=OrganizationInfo.of(invitation.organization),
            inviter=PersonInfo.of(invitation.inviter),
            invitee=PersonInfo.of(invitation.invitee),
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            decided_at=invitation.decided_at,
            grant_id=invitation.grant_id,
        )


@dataclass(frozen=True)
class InvitationResult:
    """What an invitation call did, with the invitation's state afterwards."""

    outcome: Outcome
    message: str
    invitation: InvitationInfo | None = None
    # For DUPLICATE: the id of what already exists (an invitation, a request or the
    # source of a grant, such as REQ-7K3QX).
    existing_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass(frozen=True)
class RemovalResult:
    outcome: Outcome
    message: str
    person: PersonInfo | None = None
    organization: OrganizationInfo | None = None
    roles: tuple[Role, ...] = ()
    # Whether the admins were alerted that the organization has no reachable AO left.
    alerted_admins: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass(frozen=True)
class OrganizationChoice:
    """The organization a command acts on, or the reason none could be chosen."""

    organization: OrganizationInfo | None
    message: str = ""


@dataclass(frozen=True)
class Member:
    """One active grant in an organization's people list."""

    person: PersonInfo
    role: Role
    since: dt.datetime
    surrogate_org: str
    products: tuple[str, ...]


@dataclass(frozen=True)
class PeopleResult:
    outcome: Outcome
    message: str
    organization: OrganizationInfo | None = None
    members: tuple[Member, ...] = ()


class _LostRace(Exception):
    pass


# Queries shared by the service ------------------------------------------------------


def _load(session: Session, invitation_id: str) -> Invitation | None:
    return session.scalars(
        select(Invitation)
        .where(Invitation.id == invitation_id)
        .options(
            selectinload(Invitation.organization).selectinload(Organization.npis),
            selectinload(Invitation.inviter).selectinload(Person.accounts),
            selectinload(Invitation.invitee).selectinload(Person.accounts),
        )
    ).first()


def _cards_of(session: Session, invitation_id: str) -> list[Card]:
    return list(
        session.scalars(select(Card).where(Card.invitation_id == invitation_id).order_by(Card.id))
    )


def _roles_of(session: Session, person_id: int, organization_id: int) -> frozenset[Role]:
    return frozenset(Role(r) for r in repo.active_roles(session, person_id, organization_id))


def _open_invitation(
    session: Session, invitee_id: int, organization_id: int, role: Role
) -> Invitation | None:
    return session.scalars(
        select(Invitation).where(
            Invitation.invitee_id == invitee_id,
            Invitation.organization_id == organization_id,
            Invitation.role == str(role),
            Invitation.status == str(InvitationStatus.OPEN),
        )
    ).first()


def _active_grant(
    session: Session, person_id: int, organization_id: int, role: Role
) -> Grant | None:
    return session.scalars(
        select(Grant).where(
            Grant.person_id == person_id,
            Grant.organization_id == organization_id,
            Grant.role == str(role),
            Grant.surrogate_org == "",
            Grant.revoked_at.is_(None),
        )
    ).first()


def _official_organizations(session: Session, person_id: int) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .join(Grant, Grant.organization_id == Organization.id)
            .where(
                Grant.person_id == person_id,
                Grant.revoked_at.is_(None),
                Grant.role.in_([str(role) for role in OFFICIAL_ROLES]),
            )
            .options(selectinload(Organization.npis))
            .distinct()
            .order_by(Organization.legal_name, Organization.id)
        )
    )


def _has_reachable_ao(session: Session, organization_id: int) -> bool:
    """Tell whether an AO of the organization can be reached in chat.

    A person with no chat account yet is looked up by email at delivery, so only a
    person whose every account is deactivated, or who has no account and no email,
    is unreachable.
    """
    for person in repo.people_with_roles(session, organization_id, [str(Role.AO)]):
        accounts = repo.accounts_of(session, person.id)
        if any(not account.deactivated for account in accounts):
            return True
        if not accounts and person.email:
            return True
    return False


def _calendar(timezone: str) -> BusinessCalendar:
    try:
        return calendar_for(timezone)
    except ValueError:
        log.warning("unknown organization timezone %r; using %s", timezone, DEFAULT_TIMEZONE)
        return calendar_for(DEFAULT_TIMEZONE)


def expiry_for(organization: Organization, now: dt.datetime) -> dt.datetime:
    """Return when an invitation sent at `now` expires: its calendar day, same local time."""
    days = organization.invitation_expiry_days
    if days is None or days <= 0:
        if days is not None:
            log.warning("invitation_expiry_days %s ignored organization=%s", days, organization.id)
        days = DEFAULT_EXPIRY_DAYS
    local = now.astimezone(_calendar(organization.timezone).timezone)
    return (local + dt.timedelta(days=days)).astimezone(dt.UTC)


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _source_id(source: str) -> str | None:
    """Return the request or invitation id in a grant's source, such as request:REQ-7K3QX."""
    kind, _, identifier = source.partition(":")
    return identifier if kind in ("request", "invitation") and identifier else None


def describe_answer(invitation: InvitationInfo) -> str:
    """Say how an invitation was closed, for someone who clicked too late."""
    when = _when(invitation.decided_at)
    if invitation.status is InvitationStatus.EXPIRED:
        return (
            f"{invitation.id} expired at {when}. Ask {invitation.inviter.name} for a new "
            "invitation if you still need access."
        )
    if invitation.status is InvitationStatus.CANCELLED:
        return (
            f"{invitation.id} was closed at {when} because {invitation.inviter.name} no "
            "longer holds the authority to invite."
        )
    return f"{invitation.id} was already {invitation.status} at {when}."


def authority_message(verb: str, role: Role, organization: str, roles: frozenset[Role]) -> str:
    """Explain who may invite to or remove a role, for someone who may not."""
    allowed = APPROVER_ROLES[KIND_OF_ROLE[role]]
    if role is Role.DO and Role.DO in roles:
        return (
            f"A Delegated Official cannot {verb} another Delegated Official: ask an "
            f"Authorized Official of {organization}."
        )
    names = " or ".join(
        ROLE_NOUNS[allowed_role] for allowed_role in sorted(allowed, key=ROLE_ORDER.index)
    )
    return f"Only {names} of {organization} can {verb} {ROLE_NOUNS[role]}."


def load_invitation(db: Database, invitation_id: str) -> InvitationInfo | None:
    with db.transaction() as session:
        invitation = _load(session, invitation_id)
        return InvitationInfo.of(invitation) if invitation else None


def may_decide(db: Database, request_id: str, person_id: int) -> bool:
    """Tell whether a person may decide a pending request now, by their roles in the database."""
    with db.transaction() as session:
        request = session.get(AccessRequest, request_id)
        person = session.get(Person, person_id)
        if request is None or person is None:
            return False
        authority = check_authority(
            RequestKind(request.kind),
            _roles_of(session, person.id, request.organization_id),
            is_admin=person.is_admin,
            is_requester=person.id == request.requester_id,
        )
        return authority.allowed


def _insert_mark(session: Session, key: str, at: dt.datetime, details: dict[str, Any]) -> bool:
    """Insert a sent mark unless the key exists. Return whether this call inserted it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.execute(
        insert(SentMark)
        .values(key=key, created_at=at, details=details)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(SentMark.key)
    ).first()
    return inserted is not None


def find_organization(session: Session, text: str) -> tuple[Organization | None, str]:
    """Find one organization by NPI or by name. Otherwise return None and the reason."""
    query = text.strip().strip("\"'“”").strip()
    if query.isascii() and query.isdigit():
        try:
            npi = validate_npi(query)
        except ValidationError as error:
            return None, str(error)
        found = repo.organization_by_npi(session, npi)
        if found is None:
            return None, f"No organization in Cosigner has NPI {npi}."
        return found, ""
    matches = repo.organizations(session, search=query, limit=6)
    exact = [o for o in matches if o.legal_name.casefold() == query.casefold()]
    if len(exact) == 1:
        return exact[0], ""
    if len(matches) == 1:
        return matches[0], ""
    if not matches:
        return None, f"No organization in Cosigner matches {query!r}: give its NPI or legal name."
    names = "; ".join(
        f"{o.legal_name} (NPI {o.npis[0].npi if o.npis else 'none'})" for o in matches[:5]
    )
    return None, f"{query!r} matches several organizations ({names}): give the NPI."


# The service ----------------------------------------------------------------------------


class Invitations:
    def __init__(self, db: Database, clock: Clock, config: WorkflowConfig) -> None:
        self.db = db
        self.clock = clock
        self.config = config

    def _outbox(self, session: Session, now: dt.datetime) -> OutboxWriter:
        return OutboxWriter(session, now, self.config.platforms, self.config.admin_channels)

    # Choosing the organization --------------------------------------------------------

    def choose_organization(
        self, person_id: int, text: str | None, *, action: str
    ) -> OrganizationChoice:
        """Choose the organization a command names, or the caller's only one.

        With no text, the caller must be an AO or DO of exactly one organization.
        `action` completes the sentence "so you cannot ..." for a caller with none.
        """
        with self.db.transaction() as session:
            if text and text.strip():
                found, problem = find_organization(session, text)
                if found is None:
                    return OrganizationChoice(None, problem)
                return OrganizationChoice(OrganizationInfo.of(found))
            official = _official_organizations(session, person_id)
            if len(official) == 1:
                return OrganizationChoice(OrganizationInfo.of(official[0]))
            if not official:
                person = session.get(Person, person_id)
                if person is not None and person.is_admin:
                    return OrganizationChoice(
                        None, "Name the organization: add its NPI or legal name to the command."
                    )
                return OrganizationChoice(
                    None,
                    "You are not an Authorized or Delegated Official of any organization in "
                    f"Cosigner, so you cannot {action}.",
                )
            names = "; ".join(
                f"{o.legal_name} (NPI {o.npis[0].npi if o.npis else 'none'})" for o in official
            )
            return OrganizationChoice(
                None,
                f"You are an official of {len(official)} organizations ({names}): add the NPI "
                "of the one you mean to the command.",
            )

    def split_organization(self, text: str) -> tuple[str | None, str]:
        """Split "[organization] REST" into the organization's text and the rest.

        The organization is a 10-digit NPI, a quoted name, or the legal name of an
        organization in Cosigner at the start of the text (case-insensitive, the longest
        one that ends at a word boundary). Otherwise the organization is left out.
        """
        stripped = text.strip()
        if not stripped:
            return None, ""
        first, _, rest = stripped.partition(" ")
        if first.isascii() and first.isdigit() and len(first) == 10:
            return first, rest.strip()
        if stripped[0] in '"“':
            closing = stripped.find('"' if stripped[0] == '"' else "”", 1)
            if closing > 0:
                return stripped[1:closing].strip(), stripped[closing + 1 :].strip()
        lowered = stripped.casefold()
        with self.db.transaction() as session:
            names = session.scalars(
                select(Organization.legal_name).where(
                    literal(lowered, String).like(func.lower(Organization.legal_name).concat("%"))
                )
            ).all()
        fitting = [
            name
            for name in names
            if lowered.startswith(name.casefold())
            and (len(name) == len(stripped) or stripped[len(name)].isspace())
        ]
        if not fitting:
            return None, stripped
        longest = max(fitting, key=len)
        return stripped[: len(longest)], stripped[len(longest) :].strip()

    # Inviting ---------------------------------------------------------------------------

    def invite_refusal(self, inviter_id: int, role: Role, organization_id: int) -> str | None:
        """Return why the person may not invite to `role` here, or None when they may."""
        with self.db.transaction() as session:
            organization = session.get(Organization, organization_id)
            if organization is None:
                return "That organization is not in Cosigner."
            roles = _roles_of(session, inviter_id, organization_id)
            if roles & APPROVER_ROLES[KIND_OF_ROLE[role]]:
                return None
            return authority_message("invite", role, organization.legal_name, roles)

    def invite(
        self,
        *,
        inviter_id: int,
        invitee_id: int,
        role: Role,
        organization_id: int,
        via: str = "slack",
    ) -> InvitationResult:
        """Send an invitation to a role, unless the invitee has it or is on the way to it."""
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                return self._invite(
                    session, now, inviter_id, invitee_id, role, organization_id, via
                )
        except IntegrityError:
            # Two invitations raced past the duplicate check; the unique index let one in.
            with self.db.transaction() as session:
                existing = _open_invitation(session, invitee_id, organization_id, role)
                if existing is None:
                    raise
                return self._already_invited(session, existing)

    def _invite(
        self,
        session: Session,
        now: dt.datetime,
        inviter_id: int,
        invitee_id: int,
        role: Role,
        organization_id: int,
        via: str,
    ) -> InvitationResult:
        organization = session.get(Organization, organization_id)
        inviter = session.get(Person, inviter_id)
        invitee = session.get(Person, invitee_id)
        if organization is None:
            return InvitationResult(Outcome.INVALID, "That organization is not in Cosigner.")
        if inviter is None or invitee is None:
            return InvitationResult(Outcome.NOT_FOUND, "That person is not known to Cosigner.")
        if inviter.id == invitee.id:
            return InvitationResult(
                Outcome.NOT_ALLOWED,
                "You cannot invite yourself: ask another official, or make a request with "
                "`/access request`.",
            )
        roles = _roles_of(session, inviter.id, organization.id)
        if not roles & APPROVER_ROLES[KIND_OF_ROLE[role]]:
            return InvitationResult(
                Outcome.NOT_ALLOWED,
                authority_message("invite", role, organization.legal_name, roles),
            )

        label = ROLE_LABELS[role]
        grant = _active_grant(session, invitee.id, organization.id, role)
        if grant is not None:
            source = _source_id(grant.source)
            origin = f", from {source}" if source else f", from the {grant.source}"
            return InvitationResult(
                Outcome.DUPLICATE,
                f"{invitee.name} already is {label} of {organization.legal_name} "
                f"(since {grant.granted_at:%Y-%m-%d}{origin}).",
                existing_id=source,
            )
        existing = _open_invitation(session, invitee.id, organization.id, role)
        if existing is not None:
            return self._already_invited(session, existing)
        request = repo.open_request(session, invitee.id, organization.id, str(KIND_OF_ROLE[role]))
        if request is not None:
            return InvitationResult(
                Outcome.DUPLICATE,
                f"{invitee.name} already asked to be {label} of {organization.legal_name}: "
                f"request {request.id} is pending. Decide it instead "
                f"(`/access show {request.id}`).",
                existing_id=request.id,
            )

        invitation = Invitation(
            id=self._free_id(session),
            organization_id=organization.id,
            inviter_id=inviter.id,
            invitee_id=invitee.id,
            role=str(role),
            status=str(InvitationStatus.OPEN),
            created_at=now,
            expires_at=expiry_for(organization, now),
        )
        session.add(invitation)
        session.flush()
        audit.append(
            session,
            at=now,
            actor=inviter.email or f"person:{inviter.id}",
            actor_id=inviter.id,
            action="invitation.sent",
            organization_id=organization.id,
            details={
                "invitation_id": invitation.id,
                "invitee": invitee.email or f"person:{invitee.id}",
                "role": str(role),
                "expires_at": invitation.expires_at.isoformat(),
                "via": via,
            },
        )
        platforms = self._outbox(session, now).to_person(
            invitee, Kind.POST_INVITATION, invitation_id=invitation.id
        )
        session.flush()
        info = InvitationInfo.of(_load(session, invitation.id))  # type: ignore[arg-type]
        log.info(
            "invitation sent invitation=%s organization=%s role=%s inviter=%s invitee=%s",
            info.id,
            organization.id,
            role,
            inviter.id,
            invitee.id,
        )
        if not platforms:
            return InvitationResult(
                Outcome.DONE,
                f"Invitation {info.id} was recorded, but {invitee.name} cannot be reached in "
                "chat, so they were not sent it.",
                invitation=info,
            )
        return InvitationResult(
            Outcome.DONE, f"Invitation {info.id} was sent to {invitee.name}.", invitation=info
        )

    def _already_invited(self, session: Session, existing: Invitation) -> InvitationResult:
        info = InvitationInfo.of(_load(session, existing.id))  # type: ignore[arg-type]
        return InvitationResult(
            Outcome.DUPLICATE,
            f"{info.invitee.name} already has an open invitation to be {info.role_label} of "
            f"{info.organization.legal_name}: {info.id}, sent by {info.inviter.name}, "
            f"open until {_when(info.expires_at)}.",
            invitation=info,
            existing_id=info.id,
        )

    def _free_id(self, session: Session) -> str:
        for _ in range(ID_ATTEMPTS):
            candidate = new_invitation_id()
            if session.get(Invitation, candidate) is None:
                return candidate
        raise RuntimeError("could not draw a free invitation id; the id space is nearly full")

    # Answering -------------------------------------------------------------------------

    def accept(self, invitation_id: str, actor_id: int, *, via: str = "slack") -> InvitationResult:
        """Grant the invited role at once, if the inviter still holds the authority to invite."""
        return self._answer(invitation_id, actor_id, InvitationStatus.ACCEPTED, via)

    def decline(self, invitation_id: str, actor_id: int, *, via: str = "slack") -> InvitationResult:
        return self._answer(invitation_id, actor_id, InvitationStatus.DECLINED, via)

    def _answer(
        self, invitation_id: str, actor_id: int, status: InvitationStatus, via: str
    ) -> InvitationResult:
        # A second attempt covers an accept that raced a request approval for the same
        # grant: the unique index on active grants rejects one, and the retry reuses it.
        for attempt in range(2):
            try:
                with self.db.transaction() as session:
                    return self._answer_in(session, invitation_id, actor_id, status, via)
            except _LostRace:
                break
            except IntegrityError:
                if attempt == 1:
                    raise
        with self.db.transaction() as session:
            invitation = _load(session, invitation_id)
            assert invitation is not None
            info = InvitationInfo.of(invitation)
        log.info("invitation answer lost a race invitation=%s actor=%s", invitation_id, actor_id)
        return InvitationResult(Outcome.ALREADY_DECIDED, describe_answer(info), invitation=info)

    def _answer_in(
        self,
        session: Session,
        invitation_id: str,
        actor_id: int,
        status: InvitationStatus,
        via: str,
    ) -> InvitationResult:
        invitation = _load(session, invitation_id)
        if invitation is None:
            return InvitationResult(Outcome.NOT_FOUND, f"Invitation {invitation_id} was not found.")
        info = InvitationInfo.of(invitation)
        if actor_id != invitation.invitee_id:
            return InvitationResult(
                Outcome.NOT_ALLOWED,
                f"Only {info.invitee.name} can answer invitation {invitation_id}.",
                invitation=info,
            )
        if invitation.status != InvitationStatus.OPEN:
            return InvitationResult(Outcome.ALREADY_DECIDED, describe_answer(info), invitation=info)

        now = self.clock.now()
        if invitation.expires_at <= now:
            # The sweep has not expired it yet, so expire it now and every card shows it.
            if not self._close(
                session, invitation, InvitationStatus.EXPIRED, now, "scheduler", via
            ):
                raise _LostRace()
            return self._closed(session, invitation_id, Outcome.ALREADY_DECIDED)

        actor = invitation.invitee
        actor_label = actor.email or f"person:{actor.id}"
        if status is InvitationStatus.DECLINED:
            if not self._close(session, invitation, status, now, actor_label, via, actor=actor):
                raise _LostRace()
            return self._closed(session, invitation_id, Outcome.DONE)

        inviter_roles = _roles_of(session, invitation.inviter_id, invitation.organization_id)
        role = Role(invitation.role)
        if not inviter_roles & APPROVER_ROLES[KIND_OF_ROLE[role]]:
            closed = self._close(
                session,
                invitation,
                InvitationStatus.CANCELLED,
                now,
                actor_label,
                via,
                actor=actor,
                details={"reason": "inviter_lost_authority"},
            )
            if not closed:
                raise _LostRace()
            log.info(
                "invitation cancelled: inviter lost the authority invitation=%s inviter=%s",
                invitation_id,
                invitation.inviter_id,
            )
            closed_info = self._closed(session, invitation_id, Outcome.NOT_ALLOWED).invitation
            return InvitationResult(
                Outcome.NOT_ALLOWED,
                f"{info.inviter.name} no longer holds the authority to invite you as "
                f"{info.role_label} of {info.organization.legal_name}, so invitation "
                f"{invitation_id} is closed and nothing was granted. Ask another official "
                "to invite you, or make a request with `/access request`.",
                invitation=closed_info,
            )

        if not self._transition(session, invitation_id, status, now):
            raise _LostRace()
        grant = self._grant(session, invitation, now)
        session.execute(
            update(Invitation).where(Invitation.id == invitation_id).values(grant_id=grant.id)
        )
        self._record(
            session,
            invitation,
            status,
            now,
            actor_label,
            via,
            actor=actor,
            details={"grant_id": grant.id},
        )
        return self._closed(session, invitation_id, Outcome.DONE)

    def _closed(self, session: Session, invitation_id: str, outcome: Outcome) -> InvitationResult:
        session.flush()
        session.expire_all()
        info = InvitationInfo.of(_load(session, invitation_id))  # type: ignore[arg-type]
        log.info("invitation closed invitation=%s status=%s", invitation_id, info.status)
        if outcome is Outcome.DONE:
            message = f"{invitation_id} is now {info.status}."
        else:
            message = describe_answer(info)
        return InvitationResult(outcome, message, invitation=info)

    def _transition(
        self, session: Session, invitation_id: str, status: InvitationStatus, now: dt.datetime
    ) -> bool:
        """Move an open invitation to `status`. Return False if it had left `open` already."""
        won = session.execute(
            update(Invitation)
            .where(
                Invitation.id == invitation_id,
                Invitation.status == str(InvitationStatus.OPEN),
            )
            .values(status=str(status), decided_at=now)
            .returning(Invitation.id)
            .execution_options(synchronize_session=False)
        ).first()
        return won is not None

    def _close(
        self,
        session: Session,
        invitation: Invitation,
        status: InvitationStatus,
        now: dt.datetime,
        actor_label: str,
        via: str,
        *,
        actor: Person | None = None,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Close an open invitation without a grant. Return False if it was closed already."""
        if not self._transition(session, invitation.id, status, now):
            return False
        self._record(
            session, invitation, status, now, actor_label, via, actor=actor, details=details
        )
        return True

    def _record(
        self,
        session: Session,
        invitation: Invitation,
        status: InvitationStatus,
        now: dt.datetime,
        actor_label: str,
        via: str,
        *,
        actor: Person | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write the audit entry, the card updates and the notices of a closed invitation."""
        audit.append(
            session,
            at=now,
            actor=actor_label,
            actor_id=actor.id if actor else None,
            action=f"invitation.{status}",
            organization_id=invitation.organization_id,
            details={
                "invitation_id": invitation.id,
                "invitee": invitation.invitee.email or f"person:{invitation.invitee_id}",
                "role": invitation.role,
                "via": via,
                **(details or {}),
            },
        )
        outbox = self._outbox(session, now)
        outbox.update_cards(_cards_of(session, invitation.id))
        for audience in NOTICE_AUDIENCES[status]:
            person = invitation.inviter if audience == "inviter" else invitation.invitee
            outbox.to_person(
                person,
                Kind.INVITATION_NOTICE,
                invitation_id=invitation.id,
                payload={"event": str(status), "audience": audience},
            )

    def _grant(self, session: Session, invitation: Invitation, now: dt.datetime) -> Grant:
        role = Role(invitation.role)
        existing = _active_grant(session, invitation.invitee_id, invitation.organization_id, role)
        if existing is not None:
            return existing
        grant = Grant(
            organization_id=invitation.organization_id,
            person_id=invitation.invitee_id,
            role=str(role),
            surrogate_org="",
            products=[],
            granted_at=now,
            source=f"invitation:{invitation.id}",
        )
        session.add(grant)
        session.flush()
        return grant

    # Sweeping -----------------------------------------------------------------------------

    def expire_due(self, at: dt.datetime) -> list[str]:
        """Expire every open invitation whose expiry has come. Return the ids expired here."""
        with self.db.transaction() as session:
            due = list(
                session.scalars(
                    select(Invitation.id)
                    .where(
                        Invitation.status == str(InvitationStatus.OPEN),
                        Invitation.expires_at <= at,
                    )
                    .order_by(Invitation.expires_at, Invitation.id)
                )
            )
        expired = []
        for invitation_id in due:
            with self.db.transaction() as session:
                invitation = _load(session, invitation_id)
                if invitation is None:
                    continue
                if self._close(
                    session, invitation, InvitationStatus.EXPIRED, at, "scheduler", "scheduler"
                ):
                    expired.append(invitation_id)
        if expired:
            log.info("invitations expired count=%d ids=%s", len(expired), ",".join(expired))
        return expired

    def remind_due(self, at: dt.datetime) -> list[str]:
        """Queue the one reminder of each open invitation that is owed it. Return their ids.

        An invitation is owed its reminder once it is REMINDER_BUSINESS_DAYS business
        days old, at the first sweep inside its organization's business hours. The
        sent mark `invitation_reminder:{id}` makes the reminder go out once, however
        many processes sweep.
        """
        reminded_key = literal(REMINDER_KEY_PREFIX) + Invitation.id
        # Business time never runs faster than wall time, so this bound only skips
        # invitations that are too young anyway.
        youngest = at - BUSINESS_DAY * REMINDER_BUSINESS_DAYS
        with self.db.transaction() as session:
            candidates = session.execute(
                select(Invitation.id, Invitation.created_at, Organization.timezone)
                .join(Organization, Organization.id == Invitation.organization_id)
                .where(
                    Invitation.status == str(InvitationStatus.OPEN),
                    Invitation.expires_at > at,
                    Invitation.created_at <= youngest,
                    ~exists().where(SentMark.key == reminded_key),
                )
                .order_by(Invitation.created_at, Invitation.id)
            ).all()
        reminded = []
        for candidate in candidates:
            calendar = _calendar(candidate.timezone)
            if not calendar.in_business_hours(at):
                continue
            age = calendar.business_age(candidate.created_at, at)
            if age < BUSINESS_DAY * REMINDER_BUSINESS_DAYS:
                continue
            if self._send_reminder(candidate.id, at):
                reminded.append(candidate.id)
        if reminded:
            log.info(
                "invitation reminders queued count=%d ids=%s", len(reminded), ",".join(reminded)
            )
        return reminded

    def _send_reminder(self, invitation_id: str, at: dt.datetime) -> bool:
        key = REMINDER_KEY_PREFIX + invitation_id
        with self.db.transaction() as session:
            invitation = _load(session, invitation_id)
            if invitation is None or invitation.status != InvitationStatus.OPEN:
                return False
            if not _insert_mark(session, key, at, {"invitation_id": invitation_id}):
                return False
            platforms = self._outbox(session, at).to_person(
                invitation.invitee,
                Kind.POST_INVITATION,
                invitation_id=invitation_id,
                payload={"reminder": True},
                dedupe_key=key,
            )
        if not platforms:
            log.warning(
                "invitation reminder not sent: invitee unreachable invitation=%s", invitation_id
            )
        return bool(platforms)

    # Reading ------------------------------------------------------------------------------

    def get(self, invitation_id: str) -> InvitationInfo | None:
        return load_invitation(self.db, invitation_id)

    def open_for(self, invitee_id: int) -> list[InvitationInfo]:
        """Return the person's open invitations, oldest first."""
        with self.db.transaction() as session:
            ids = session.scalars(
                select(Invitation.id)
                .where(
                    Invitation.invitee_id == invitee_id,
                    Invitation.status == str(InvitationStatus.OPEN),
                )
                .order_by(Invitation.created_at, Invitation.id)
            ).all()
            found = [_load(session, invitation_id) for invitation_id in ids]
            return [InvitationInfo.of(invitation) for invitation in found if invitation]

    def people_of(self, viewer_id: int, organization_id: int) -> PeopleResult:
        """List an organization's active grants for its officials and for admins."""
        with self.db.transaction() as session:
            organization = session.get(Organization, organization_id)
            viewer = session.get(Person, viewer_id)
            if organization is None or viewer is None:
                return PeopleResult(Outcome.NOT_FOUND, "That organization is not in Cosigner.")
            info = OrganizationInfo.of(organization)
            roles = _roles_of(session, viewer.id, organization.id)
            if not roles & OFFICIAL_ROLES and not viewer.is_admin:
                return PeopleResult(
                    Outcome.NOT_ALLOWED,
                    f"Only the Authorized and Delegated Officials of {organization.legal_name} "
                    "and Cosigner admins can see its people.",
                    organization=info,
                )
            members = [
                Member(
                    person=PersonInfo.of(grant.person),
                    role=Role(grant.role),
                    since=grant.granted_at,
                    surrogate_org=grant.surrogate_org,
                    products=tuple(grant.products or ()),
                )
                for grant in repo.active_grants(session, organization.id)
            ]
            members.sort(key=lambda m: (ROLE_ORDER.index(m.role), m.since, m.person.name))
            return PeopleResult(Outcome.DONE, "", organization=info, members=tuple(members))

    # Removing -------------------------------------------------------------------------

    def remove(
        self,
        *,
        actor_id: int,
        person_id: int,
        roles: Sequence[Role],
        organization_id: int,
        reason: str,
        via: str = "slack",
    ) -> RemovalResult:
        """Revoke a person's grants of a role, if the actor may approve that role."""
        if Role.AO in roles:
            return RemovalResult(Outcome.NOT_ALLOWED, AO_REMOVAL_MESSAGE)
        try:
            reason = validate_free_text(reason, "Reason", max_length=MAX_REASON_LENGTH)
        except ValidationError as error:
            message = MISSING_REASON_MESSAGE if not reason.strip() else str(error)
            return RemovalResult(Outcome.INVALID, message)
        with self.db.transaction() as session:
            organization = session.get(Organization, organization_id)
            actor = session.get(Person, actor_id)
            person = session.get(Person, person_id)
            if organization is None:
                return RemovalResult(Outcome.INVALID, "That organization is not in Cosigner.")
            if actor is None or person is None:
                return RemovalResult(Outcome.NOT_FOUND, "That person is not known to Cosigner.")
            if actor.id == person.id:
                return RemovalResult(
                    Outcome.NOT_ALLOWED,
                    "You cannot remove your own role: ask another official of "
                    f"{organization.legal_name}.",
                )
            actor_roles = _roles_of(session, actor.id, organization.id)
            for role in roles:
                if not actor_roles & APPROVER_ROLES[KIND_OF_ROLE[role]]:
                    return RemovalResult(
                        Outcome.NOT_ALLOWED,
                        authority_message("remove", role, organization.legal_name, actor_roles),
                    )
            return self._revoke(
                session,
                organization,
                person,
                tuple(roles),
                reason,
                actor=actor,
                actor_label=actor.email or f"person:{actor.id}",
                via=via,
            )

    def revoke_as_admin(self, email: str, role_word: str, npi: str, reason: str) -> RemovalResult:
        """Revoke any role, AO included, for `cosigner grant revoke`. Raises ValidationError."""
        roles = parse_removal_roles(role_word)
        email = validate_email(email)
        npi = validate_npi(npi)
        reason = validate_free_text(reason, "--reason", max_length=MAX_REASON_LENGTH)
        with self.db.transaction() as session:
            organization = repo.organization_by_npi(session, npi)
            if organization is None:
                return RemovalResult(Outcome.NOT_FOUND, f"no organization has NPI {npi}")
            person = repo.person_by_email(session, email)
            if person is None:
                return RemovalResult(Outcome.NOT_FOUND, f"no person with email {email} is known")
            return self._revoke(
                session,
                organization,
                person,
                roles,
                reason,
                actor=None,
                actor_label="cli",
                via="cli",
            )

    def _revoke(
        self,
        session: Session,
        organization: Organization,
        person: Person,
        roles: tuple[Role, ...],
        reason: str,
        *,
        actor: Person | None,
        actor_label: str,
        via: str,
    ) -> RemovalResult:
        now = self.clock.now()
        organization_info = OrganizationInfo.of(organization)
        roles_before = _roles_of(session, person.id, organization.id)
        grant_ids = list(
            session.scalars(
                select(Grant.id).where(
                    Grant.person_id == person.id,
                    Grant.organization_id == organization.id,
                    Grant.role.in_([str(role) for role in roles]),
                    Grant.revoked_at.is_(None),
                )
            )
        )
        revoked: list[Any] = []
        if grant_ids:
            revoked = list(
                session.execute(
                    update(Grant)
                    .where(Grant.id.in_(grant_ids), Grant.revoked_at.is_(None))
                    .values(
                        revoked_at=now,
                        revoked_by_id=actor.id if actor else None,
                        revoke_reason=reason,
                    )
                    .returning(Grant.id, Grant.role, Grant.surrogate_org)
                    .execution_options(synchronize_session=False)
                )
            )
        if not revoked:
            return RemovalResult(
                Outcome.NOT_FOUND,
                f"{person.name} is not {roles_label(roles)} of {organization.legal_name}, "
                "so nothing was changed.",
                person=PersonInfo.of(person),
                organization=organization_info,
            )
        revoked_ids = [row.id for row in revoked]
        revoked_roles = tuple(sorted({Role(row.role) for row in revoked}, key=ROLE_ORDER.index))
        surrogate_orgs = sorted({row.surrogate_org for row in revoked if row.surrogate_org})

        # The approved requests behind these grants are revoked with them.
        request_ids = list(
            session.scalars(
                update(AccessRequest)
                .where(
                    AccessRequest.grant_id.in_(revoked_ids),
                    AccessRequest.status == str(Status.APPROVED),
                )
                .values(
                    status=str(Status.REVOKED),
                    revoked_at=now,
                    revoked_by_id=actor.id if actor else None,
                    revoke_reason=reason,
                )
                .returning(AccessRequest.id)
                .execution_options(synchronize_session=False)
            )
        )
        audit.append(
            session,
            at=now,
            actor=actor_label,
            actor_id=actor.id if actor else None,
            action="grant.revoked",
            organization_id=organization.id,
            details={
                "person": person.email or f"person:{person.id}",
                "roles": [str(role) for role in revoked_roles],
                "grant_ids": revoked_ids,
                "surrogate_orgs": surrogate_orgs,
                "request_ids": request_ids,
                "reason": reason,
                "via": via,
            },
        )

        outbox = self._outbox(session, now)
        for request_id in request_ids:
            outbox.update_cards(repo.cards_of(session, request_id))
        outbox.to_person(
            person,
            Kind.REMOVAL_NOTICE,
            payload={
                "organization": organization.legal_name,
                "roles": [str(role) for role in revoked_roles],
                "surrogate_orgs": surrogate_orgs,
                "reason": reason,
                "removed_by": actor.name if actor else None,
                "removed_by_id": actor.id if actor else None,
            },
        )
        outbox.update_cards_of_lost_authority(person, organization.id, roles_before)

        alerted = False
        if Role.AO in revoked_roles and not _has_reachable_ao(session, organization.id):
            alerted = self._alert_no_ao(outbox, organization)
        log.info(
            "grants revoked organization=%s person=%s roles=%s actor=%s via=%s",
            organization.id,
            person.id,
            ",".join(revoked_roles),
            actor.id if actor else actor_label,
            via,
        )
        return RemovalResult(
            Outcome.DONE,
            f"{person.name} is no longer {roles_label(revoked_roles)} of "
            f"{organization.legal_name}.",
            person=PersonInfo.of(person),
            organization=organization_info,
            roles=revoked_roles,
            alerted_admins=alerted,
        )

    def _alert_no_ao(self, outbox: OutboxWriter, organization: Organization) -> bool:
        platforms = outbox.to_admins(
            Kind.ADMIN_ALERT,
            payload={"reason": "organization_without_ao", "organization": organization.legal_name},
        )
        log.warning(
            "organization has no reachable AO organization=%s alerted=%s",
            organization.id,
            ",".join(platforms) or "nobody: no admin channel is configured",
        )
        return bool(platforms)

    def account_deactivated(self, platform: str, user_id: str, deactivated: bool) -> list[str]:
        """Record a chat account's deactivation or reactivation.

        A deactivation that leaves an organization without a reachable AO alerts the
        admins. Returns the names of the organizations they were alerted about.
        """
        with self.db.transaction() as session:
            account = repo.account(session, platform, user_id)
            # Slack sends user_change for every profile edit, and most change nothing here.
            if account is None or account.deactivated == deactivated:
                return []
            account.deactivated = deactivated
            account.updated_at = self.clock.now()
            session.flush()
            if not deactivated:
                log.info("chat account reactivated platform=%s user=%s", platform, user_id)
                return []
            log.info("chat account deactivated platform=%s user=%s", platform, user_id)
            outbox = self._outbox(session, self.clock.now())
            flagged = []
            for organization_id in session.scalars(
                select(Grant.organization_id).where(
                    Grant.person_id == account.person_id,
                    Grant.role == str(Role.AO),
                    Grant.revoked_at.is_(None),
                )
            ).all():
                if _has_reachable_ao(session, organization_id):
                    continue
                organization = session.get(Organization, organization_id)
                assert organization is not None
                self._alert_no_ao(outbox, organization)
                flagged.append(organization.legal_name)
            return flagged


def sweep_invitations(services: Services, at: dt.datetime) -> dict[str, list[str]]:
    """Expire due invitations and queue the one reminder each open invitation is owed.

    Expiry runs at any hour and sends the inviter and the invitee a notice. Reminders
    go out only inside the organization's business hours. Returns the invitation ids that
    this call expired ("expired") and reminded ("reminded").
    """
    expired = services.invitations.expire_due(at)
    reminded = services.invitations.remind_due(at)
    return {"expired": expired, "reminded": reminded}


# `cosigner grant` -------------------------------------------------------------------------


def add_grant_commands(commands: Any) -> None:
    grant = commands.add_parser("grant", help="manage the roles people hold")
    actions = grant.add_subparsers(dest="grant_command", metavar="ACTION", required=True)
    revoke = actions.add_parser(
        "revoke", help="revoke a person's role in an organization; the only way to remove an AO"
    )
    revoke.add_argument("email", help="the person's email")
    revoke.add_argument("role", help="AO, DO, staff or surrogate (every surrogacy connection)")
    revoke.add_argument(
        "--organization", metavar="NPI", required=True, help="an NPI of the organization"
    )
    revoke.add_argument(
        "--reason", required=True, help="why the role is revoked; the person is sent it"
    )


def run_grant_command(args: argparse.Namespace, services: Services) -> int:
    """Run `cosigner grant revoke`. ValidationError reaches the caller, which prints it."""
    result = services.invitations.revoke_as_admin(
        args.email, args.role, args.organization, args.reason
    )
    if not result.ok:
        print(f"error: {result.message}", file=sys.stderr)
        return 1
    print(result.message)
    if result.alerted_admins and result.organization is not None:
        print(
            f"warning: {result.organization.legal_name} has no reachable Authorized Official "
            "left; the admin channel was alerted",
            file=sys.stderr,
        )
    print(
        "The person is told, and their cards updated, when `cosigner serve` or "
        "`cosigner scheduler` next delivers the outbox."
    )
    return 0
