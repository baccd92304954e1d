"""Helpers for the core tests: people, grants, cards and row counts in the test database."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot.domain import RequestKind, Role
from bot.people import ChatProfile
from bot.services import Services
from bot.workflow import Outcome
from storage import repo
from storage.models import (
    AccessRequest,
    AuditEntry,
    Base,
    Card,
    Grant,
    Organization,
    OrganizationNpi,
    OutboxMessage,
)

RIVERBEND_NPI = "1234567893"
LAKESIDE_NPI = "1555555550"
ADMIN_EMAIL = "ops@example.org"


def organization_id(services: Services, npi: str) -> int:
    with services.db.transaction() as session:
        organization = repo.organization_by_npi(session, npi)
        assert organization is not None, f"no organization has NPI {npi}"
        return organization.id


def person_id(services: Services, email: str) -> int:
    found = services.people.by_email(email)
    assert found is not None, f"no person has email {email}"
    return found.id


def add_person(services: Services, email: str, name: str | None = None) -> int:
    """Create a person with a linked Slack account, as their first click in Slack would."""
    local_part = email.split("@")[0]
    profile = ChatProfile(
        platform="slack",
        user_id="U" + local_part.upper().replace(".", ""),
        workspace_id="T0TEST",
        name=name or local_part.replace(".", " ").title(),
        email=email,
    )
    return services.people.link(profile).id


def grant_role(services: Services, person: int, organization: int, role: Role) -> int:
    with services.db.transaction() as session:
        grant = Grant(
            organization_id=organization,
            person_id=person,
            role=str(role),
            surrogate_org="Acme Billing" if role in (Role.SURROGATE, Role.SURROGATE_STAFF) else "",
            products=[],
            granted_at=services.clock.now(),
            source="test",
        )
        session.add(grant)
        session.flush()
        return grant.id


def revoke_grants(services: Services, person: int, organization: int) -> None:
    """Set revoked_at on every active grant of a person in an organization."""
    with services.db.transaction() as session:
        session.execute(
            update(Grant)
            .where(
                Grant.person_id == person,
                Grant.organization_id == organization,
                Grant.revoked_at.is_(None),
            )
            .values(revoked_at=services.clock.now(), revoke_reason="left the organization")
        )


def add_organization(services: Services, legal_name: str, tin: str, npi: str) -> int:
    """Create an organization with no officials, which no roster import can do."""
    with services.db.transaction() as session:
        organization = Organization(
            legal_name=legal_name,
            tin=tin,
            timezone="America/New_York",
            created_at=services.clock.now(),
        )
        session.add(organization)
        session.flush()
        session.add(OrganizationNpi(npi=npi, organization_id=organization.id))
        return organization.id


def add_card(services: Services, request_id: str, person: int, channel: str) -> int:
    """Record a posted card, as delivery does after Slack accepts the message."""
    now = services.clock.now()
    with services.db.transaction() as session:
        card = Card(
            request_id=request_id,
            platform="slack",
            person_id=person,
            channel=channel,
            message_id=f"{now.timestamp():.6f}-{channel}",
            shown_status="pending",
            created_at=now,
            updated_at=now,
        )
        session.add(card)
        session.flush()
        return card.id


def submit(
    services: Services,
    requester: int,
    organization: int,
    kind: RequestKind = RequestKind.STAFF,
    **fields: object,
) -> str:
    """Submit a request that must succeed and return its id."""
    fields.setdefault("justification", "Needs PECOS access for enrollment updates")
    if kind in (RequestKind.SURROGACY, RequestKind.SURROGATE_STAFF):
        fields.setdefault("surrogate_org", "Acme Billing")
        fields.setdefault("products", ["PECOS"])
    result = services.workflow.submit(
        requester_id=requester,
        organization_id=organization,
        kind=kind,
        **fields,  # type: ignore[arg-type]
    )
    assert result.outcome is Outcome.DONE, result.message
    assert result.request is not None
    return result.request.id


def audit_actions(services: Services, request_id: str) -> list[str]:
    with services.db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.request_id == request_id)
                .order_by(AuditEntry.seq)
            )
        )


def audit_count(services: Services) -> int:
    with services.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def outbox_rows(
    services: Services, request_id: str | None = None, kind: str | None = None
) -> list[OutboxMessage]:
    with services.db.transaction() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if request_id is not None:
            query = query.where(OutboxMessage.request_id == request_id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


def request_status(services: Services, request_id: str) -> str:
    with services.db.transaction() as session:
        status = session.scalar(select(AccessRequest.status).where(AccessRequest.id == request_id))
        assert status is not None
        return status


def active_roles(services: Services, person: int, organization: int) -> frozenset[str]:
    with services.db.transaction() as session:
        return repo.active_roles(session, person, organization)


def row_counts(services: Services) -> dict[str, int]:
    """Count the rows of every table, to show that a failed operation changed nothing."""
    counts = {}
    with services.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = session.scalar(select(func.count()).select_from(table)) or 0
    return counts
