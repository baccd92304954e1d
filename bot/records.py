"""Plain, read-only snapshots of database rows, handed to the front ends for rendering."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.domain import KIND_LABELS, RequestKind, Status, mask_tin
from storage.models import AccessRequest, Organization, Person


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str
    email: str | None
    # Linked chat accounts by platform: {"slack": "U123", "teams": "29:1ab..."}.
    accounts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, person: Person) -> PersonInfo:
        return cls(
            id=person.id,
            name=person.name,
            email=person.email,
            accounts={a.platform: a.user_id for a in person.accounts if not a.deactivated},
        )


@dataclass(frozen=True)
class OrganizationInfo:
    id: int
    legal_name: str
    masked_tin: str
    npis: tuple[str, ...]
    timezone: str

    @classmethod
    def of(cls, organization: Organization) -> OrganizationInfo:
        return cls(
            id=organization.id,
            legal_name=organization.legal_name,
            masked_tin=mask_tin(organization.tin),
            npis=tuple(n.npi for n in organization.npis),
            timezone=organization.timezone,
        )


@dataclass(frozen=True)
class RequestInfo:
    id: str
    kind: RequestKind
    status: Status
    organization: OrganizationInfo
    requester: PersonInfo
    justification: str
    surrogate_org: str
    products: tuple[str, ...]
    end_date: dt.date | None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None
    decided_by: PersonInfo | None = None
    decision_reason: str | None = None
    decided_via: str | None = None
    revoked_at: dt.datetime | None = None
    revoked_by: PersonInfo | None = None
    revoke_reason: str | None = None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def is_pending(self) -> bool:
        return self.status is Status.PENDING

    @classmethod
    def of(cls, request: AccessRequest) -> RequestInfo:
        return cls(
            id=request.id,
            kind=RequestKind(request.kind),
            status=Status(request.status),
            organization=OrganizationInfo.of(request.organization),
            requester=PersonInfo.of(request.requester),
            justification=request.justification,
            surrogate_org=request.surrogate_org,
            products=tuple(request.products or ()),
            end_date=request.end_date,
            created_at=request.created_at,
            decided_at=request.decided_at,
            decided_by=PersonInfo.of(request.decided_by) if request.decided_by else None,
            decision_reason=request.decision_reason,
            decided_via=request.decided_via,
            revoked_at=request.revoked_at,
            revoked_by=PersonInfo.of(request.revoked_by) if request.revoked_by else None,
            revoke_reason=request.revoke_reason,
        )
