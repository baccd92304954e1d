"""Repository functions: the queries the workflow, reminders and front ends share."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from storage.models import (
    AccessRequest,
    Card,
    ChatAccount,
    Grant,
    Organization,
    OrganizationNpi,
    Person,
)


def person_by_email(session: Session, email: str) -> Person | None:
    return session.scalars(select(Person).where(Person.email == email.lower())).first()


def account(session: Session, platform: str, user_id: str) -> ChatAccount | None:
    return session.scalars(
        select(ChatAccount)
        .where(ChatAccount.platform == platform, ChatAccount.user_id == user_id)
        .options(selectinload(ChatAccount.person))
    ).first()


def accounts_of(session: Session, person_id: int) -> list[ChatAccount]:
    return list(
        session.scalars(
            select(ChatAccount)
            .where(ChatAccount.person_id == person_id)
            .order_by(ChatAccount.platform)
        )
    )


def organization_by_npi(session: Session, npi: str) -> Organization | None:
    row = session.get(OrganizationNpi, npi)
    return row.organization if row else None


def organizations(
    session: Session, search: str = "", limit: int | None = None
) -> list[Organization]:
    query = select(Organization).options(selectinload(Organization.npis))
    if search:
        pattern = f"%{search.lower()}%"
        npi_match = select(OrganizationNpi.organization_id).where(OrganizationNpi.npi.like(pattern))
        query = query.where(
            func.lower(Organization.legal_name).like(pattern) | Organization.id.in_(npi_match)
        )
    query = query.order_by(Organization.legal_name, Organization.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_organizations(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Organization)) or 0


def active_roles(session: Session, person_id: int, organization_id: int) -> frozenset[str]:
    rows = session.scalars(
        select(Grant.role).where(
            Grant.person_id == person_id,
            Grant.organization_id == organization_id,
            Grant.revoked_at.is_(None),
        )
    )
    return frozenset(rows)


def active_grants(
    session: Session, organization_id: int, roles: Sequence[str] | None = None
) -> list[Grant]:
    query = (
        select(Grant)
        .where(Grant.organization_id == organization_id, Grant.revoked_at.is_(None))
        .options(selectinload(Grant.person))
        .order_by(Grant.role, Grant.granted_at, Grant.id)
    )
    if roles is not None:
        query = query.where(Grant.role.in_(list(roles)))
    return list(session.scalars(query))


def people_with_roles(session: Session, organization_id: int, roles: Sequence[str]) -> list[Person]:
    if not roles:
        return []
    return list(
        session.scalars(
            select(Person)
            .join(Grant, Grant.person_id == Person.id)
            .where(
                Grant.organization_id == organization_id,
                Grant.role.in_(list(roles)),
                Grant.revoked_at.is_(None),
            )
            .distinct()
            .order_by(Person.id)
        )
    )


def admins(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.is_admin).order_by(Person.email)))


def load_request(session: Session, request_id: str) -> AccessRequest | None:
    """Load a request with everything its snapshot shows, in a few statements."""
    return session.scalars(
        select(AccessRequest)
        .where(AccessRequest.id == request_id)
        .options(
            joinedload(AccessRequest.organization).selectinload(Organization.npis),
            joinedload(AccessRequest.requester).selectinload(Person.accounts),
            joinedload(AccessRequest.decided_by).selectinload(Person.accounts),
            joinedload(AccessRequest.revoked_by).selectinload(Person.accounts),
        )
    ).first()


def open_request(
    session: Session, requester_id: int, organization_id: int, kind: str
) -> AccessRequest | None:
    return session.scalars(
        select(AccessRequest).where(
            AccessRequest.requester_id == requester_id,
            AccessRequest.organization_id == organization_id,
            AccessRequest.kind == kind,
            AccessRequest.status == "pending",
        )
    ).first()


def requests_of(session: Session, requester_id: int, limit: int = 50) -> list[AccessRequest]:
    return list(
        session.scalars(
            select(AccessRequest)
            .where(AccessRequest.requester_id == requester_id)
            .options(
                selectinload(AccessRequest.organization),
                selectinload(AccessRequest.decided_by),
            )
            .order_by(AccessRequest.created_at.desc())
            .limit(limit)
        )
    )


def pending_requests(
    session: Session,
    organization_ids: Sequence[int] | None = None,
    *,
    kinds: Sequence[str] | None = None,
) -> list[AccessRequest]:
    query = (
        select(AccessRequest)
        .where(AccessRequest.status == "pending")
        .options(selectinload(AccessRequest.organization), selectinload(AccessRequest.requester))
        .order_by(AccessRequest.created_at, AccessRequest.id)
    )
    if organization_ids is not None:
        query = query.where(AccessRequest.organization_id.in_(list(organization_ids)))
    if kinds is not None:
        query = query.where(AccessRequest.kind.in_(list(kinds)))
    return list(session.scalars(query))


def cards_of(session: Session, request_id: str) -> list[Card]:
    return list(
        session.scalars(select(Card).where(Card.request_id == request_id).order_by(Card.id))
    )


def card_by_message(session: Session, platform: str, channel: str, message_id: str) -> Card | None:
    return session.scalars(
        select(Card).where(
            Card.platform == platform, Card.channel == channel, Card.message_id == message_id
        )
    ).first()
