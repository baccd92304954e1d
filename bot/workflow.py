"""The request workflow: submit, approve, reject, withdraw, expire and revoke.

Each function checks authority against the database as it is now, then writes the
state change, its audit entry and its outbox rows in one transaction. Leaving
`pending` is a conditional UPDATE on `status = 'pending'`, so however many clicks,
retries or replicas race for a request, exactly one decision wins and every other
call gets a result that names the winner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import Clock
from bot.domain import (
    GRANTED_ROLE,
    KIND_LABELS,
    MAX_JUSTIFICATION_LENGTH,
    MAX_REASON_LENGTH,
    ROLE_LABELS,
    SURROGATE_KINDS,
    RequestKind,
    Role,
    Status,
    ValidationError,
    new_request_id,
    validate_free_text,
    validate_name,
    validate_products,
)
from bot.outbox import Kind, OutboxWriter
from bot.policy import ADMIN_DECIDES, Authority, approver_roles, check_authority
from bot.records import PersonInfo, RequestInfo
from storage import repo
from storage.db import Database
from storage.models import AccessRequest, Grant, Organization, Person

log = logging.getLogger(__name__)

# Attempts at drawing a request id that is not taken yet.
ID_ATTEMPTS = 8


class Outcome(StrEnum):
    DONE = "done"
    ALREADY_DECIDED = "already_decided"
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Result:
    """The outcome of a workflow call, with the request's state after it."""

    outcome: Outcome
    message: str
    request: RequestInfo | None = None
    # For INVALID: the field at fault, so a form can show the error next to it.
    field: str | None = None
    # For DUPLICATE: the id of the open request.
    existing_id: str | None = None
    # For a new request: the approvers who were sent a card.
    approvers: tuple[PersonInfo, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass
class WorkflowConfig:
    # Platforms with a working front end; cards and notices go only to these.
    platforms: Sequence[str] = ("slack",)
    # Admin channel per platform: {"slack": "C0ADMINS"}.
    admin_channels: dict[str, str] = field(default_factory=dict)


class _LostRace(Exception):
    pass


def describe_decision(request: RequestInfo) -> str:
    """Say who decided a request and when, for people who clicked too late."""
    status = request.status
    when = request.decided_at.strftime("%Y-%m-%d %H:%M UTC") if request.decided_at else "earlier"
    if status is Status.REVOKED and request.revoked_by and request.revoked_at:
        revoked_when = request.revoked_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{request.id} was revoked by {request.revoked_by.name} at {revoked_when}."
    if request.decided_by is not None:
        return f"{request.id} was already {status} by {request.decided_by.name} at {when}."
    return f"{request.id} is already {status} (at {when})."


class Workflow:
    def __init__(self, db: Database, clock: Clock, config: WorkflowConfig | None = None) -> None:
        self.db = db
        self.clock = clock
        self.config = config or WorkflowConfig()

    def _outbox(self, session: Session, now: dt.datetime) -> OutboxWriter:
        return OutboxWriter(session, now, self.config.platforms, self.config.admin_channels)

    # Submitting -----------------------------------------------------------------

    def submit(
        self,
        *,
        requester_id: int,
        organization_id: int,
        kind: RequestKind | str,
        justification: str,
        surrogate_org: str = "",
        products: Sequence[str] = (),
        end_date: dt.date | None = None,
        via: str = "slack",
    ) -> Result:
        """Create a pending request and send a card to every approver the policy names."""
        try:
            kind = RequestKind(kind)
        except ValueError:
            return Result(Outcome.INVALID, f"Unknown request kind {kind!r}.", field="kind")
        try:
            justification = validate_free_text(
                justification, "Justification", max_length=MAX_JUSTIFICATION_LENGTH
            )
            if kind in SURROGATE_KINDS:
                surrogate_org = validate_name(surrogate_org, "Surrogate organization")
                products = validate_products(list(products))
                if not products:
                    raise ValidationError("Choose at least one product.", field="Products")
            else:
                surrogate_org, products = "", []
        except ValidationError as error:
            return Result(Outcome.INVALID, str(error), field=error.field)

        now = self.clock.now()
        if end_date is not None and end_date <= now.date():
            return Result(Outcome.INVALID, "The end date must be in the future.", field="End date")
        try:
            with self.db.transaction() as session:
                return self._submit(
                    session,
                    now=now,
                    requester_id=requester_id,
                    organization_id=organization_id,
                    kind=kind,
                    justification=justification,
                    surrogate_org=surrogate_org,
                    products=list(products),
                    end_date=end_date,
                    via=via,
                )
        except IntegrityError:
            # Two submissions raced past the duplicate check; the unique index let one in.
            with self.db.transaction() as session:
                existing = repo.open_request(session, requester_id, organization_id, str(kind))
                if existing is None:
                    raise
                return self._duplicate(existing)

    def _submit(
        self,
        session: Session,
        *,
        now: dt.datetime,
        requester_id: int,
        organization_id: int,
        kind: RequestKind,
        justification: str,
        surrogate_org: str,
        products: list[str],
        end_date: dt.date | None,
        via: str,
    ) -> Result:
        organization = session.get(Organization, organization_id)
        if organization is None:
            return Result(
                Outcome.INVALID, "That organization is not in Cosigner.", field="Organization"
            )
        requester = session.get(Person, requester_id)
        if requester is None:
            return Result(Outcome.NOT_FOUND, "Your account is not known to Cosigner yet.")

        existing = repo.open_request(session, requester_id, organization_id, str(kind))
        if existing is not None:
            return self._duplicate(existing)
        role = GRANTED_ROLE[kind]
        if kind not in SURROGATE_KINDS and str(role) in repo.active_roles(
            session, requester_id, organization_id
        ):
            return Result(
                Outcome.INVALID,
                f"You already hold the {ROLE_LABELS[role]} role at {organization.legal_name}.",
                field="Role requested",
            )

        request_id = self._free_request_id(session)
        request = AccessRequest(
            id=request_id,
            kind=str(kind),
            organization_id=organization_id,
            requester_id=requester_id,
            justification=justification,
            surrogate_org=surrogate_org,
            products=products,
            end_date=end_date,
            status=str(Status.PENDING),
            created_at=now,
        )
        session.add(request)
        session.flush()
        audit.append(
            session,
            at=now,
            actor=requester.email or requester.name,
            actor_id=requester.id,
            action="request.submitted",
            request_id=request_id,
            organization_id=organization_id,
            details={
                "kind": str(kind),
                "via": via,
                "surrogate_org": surrogate_org,
                "products": products,
            },
        )

        approvers = self.approvers_for(session, organization_id, kind, exclude=requester_id)
        outbox = self._outbox(session, now)
        reached = []
        for approver in approvers:
            if outbox.to_person(approver, Kind.POST_CARD, request_id=request_id):
                reached.append(approver)
        admins_alerted = True
        if not reached:
            reason = "no_approver" if not approvers else "no_reachable_approver"
            admins_alerted = bool(
                outbox.to_admins(
                    Kind.ADMIN_ALERT, request_id=request_id, payload={"reason": reason}
                )
            )
            log.warning(
                "request has no reachable approver request=%s organization=%s reason=%s "
                "admin_alert=%s",
                request_id,
                organization_id,
                reason,
                "queued" if admins_alerted else "no admin channel configured",
            )
        session.flush()
        info = RequestInfo.of(repo.load_request(session, request_id))  # type: ignore[arg-type]
        log.info(
            "request submitted request=%s organization=%s kind=%s approvers=%d",
            request_id,
            organization_id,
            kind,
            len(reached),
        )
        if reached:
            message = f"Request {request_id} was sent to {len(reached)} approver(s)."
        elif admins_alerted:
            message = (
                f"Request {request_id} was recorded, but no approver could be reached; "
                "the Cosigner admins were told."
            )
        else:
            message = (
                f"Request {request_id} was recorded, but no approver could be reached and no "
                "admin channel is configured: ask a Cosigner admin to look at it."
            )
        return Result(
            Outcome.DONE,
            message,
            request=info,
            approvers=tuple(PersonInfo.of(p) for p in reached),
        )

    def _duplicate(self, existing: AccessRequest) -> Result:
        return Result(
            Outcome.DUPLICATE,
            f"You already have a pending {KIND_LABELS[RequestKind(existing.kind)]} request "
            f"for this organization: {existing.id}. Withdraw it first "
            f"(`/access withdraw {existing.id}` in Slack, `withdraw {existing.id}` in Teams) "
            "to make a new one.",
            existing_id=existing.id,
            field="Role requested",
        )

    def _free_request_id(self, session: Session) -> str:
        for _ in range(ID_ATTEMPTS):
            candidate = new_request_id()
            if session.get(AccessRequest, candidate) is None:
                return candidate
        raise RuntimeError("could not draw a free request id; the id space is nearly full")

    def approvers_for(
        self, session: Session, organization_id: int, kind: RequestKind, *, exclude: int | None
    ) -> list[Person]:
        """Return the people the policy lets decide a request, never the requester."""
        if kind in ADMIN_DECIDES:
            people = repo.admins(session)
        else:
            people = repo.people_with_roles(
                session, organization_id, [str(r) for r in approver_roles(kind)]
            )
        return [p for p in people if p.id != exclude]

    # Deciding -------------------------------------------------------------------

    def approve(self, request_id: str, actor_id: int, *, via: str = "slack") -> Result:
        return self._decide(request_id, actor_id, Status.APPROVED, None, via)

    def reject(self, request_id: str, actor_id: int, reason: str, *, via: str = "slack") -> Result:
        try:
            reason = validate_free_text(reason, "Reason", max_length=MAX_REASON_LENGTH)
        except ValidationError as error:
            return Result(Outcome.INVALID, str(error), field="Reason")
        return self._decide(request_id, actor_id, Status.REJECTED, reason, via)

    def withdraw(self, request_id: str, actor_id: int, *, via: str = "slack") -> Result:
        return self._decide(request_id, actor_id, Status.WITHDRAWN, None, via)

    def expire(self, request_id: str, *, via: str = "scheduler") -> Result:
        return self._decide(request_id, None, Status.EXPIRED, None, via)

    def _decide(
        self,
        request_id: str,
        actor_id: int | None,
        status: Status,
        reason: str | None,
        via: str,
    ) -> Result:
        try:
            with self.db.transaction() as session:
                return self._decide_in(session, request_id, actor_id, status, reason, via)
        except _LostRace:
            with self.db.transaction() as session:
                request = repo.load_request(session, request_id)
                assert request is not None
                info = RequestInfo.of(request)
            log.info("decision lost a race request=%s actor=%s", request_id, actor_id)
            return Result(Outcome.ALREADY_DECIDED, describe_decision(info), request=info)

    def _decide_in(
        self,
        session: Session,
        request_id: str,
        actor_id: int | None,
        status: Status,
        reason: str | None,
        via: str,
    ) -> Result:
        request = repo.load_request(session, request_id)
        if request is None:
            return Result(Outcome.NOT_FOUND, f"Request {request_id} was not found.")
        actor = session.get(Person, actor_id) if actor_id is not None else None
        if actor_id is not None and actor is None:
            return Result(Outcome.NOT_FOUND, "Your account is not known to Cosigner yet.")
        info = RequestInfo.of(request)
        if request.status != Status.PENDING:
            return Result(Outcome.ALREADY_DECIDED, describe_decision(info), request=info)

        if status is Status.WITHDRAWN:
            if actor is None or actor.id != request.requester_id:
                return Result(
                    Outcome.NOT_ALLOWED,
                    f"Only the requester can withdraw {request_id}.",
                    request=info,
                )
        elif status in (Status.APPROVED, Status.REJECTED):
            assert actor is not None
            authority = authority_over(session, actor, request)
            if not authority.allowed:
                log.info(
                    "decision rejected for lack of authority request=%s actor=%s reason=%s",
                    request_id,
                    actor.id,
                    authority.reason,
                )
                return Result(Outcome.NOT_ALLOWED, authority.reason, request=info)

        now = self.clock.now()
        won = session.execute(
            update(AccessRequest)
            .where(AccessRequest.id == request_id, AccessRequest.status == str(Status.PENDING))
            .values(
                status=str(status),
                decided_at=now,
                decided_by_id=actor.id if actor else None,
                decision_reason=reason,
                decided_via=via,
            )
            .returning(AccessRequest.id)
            .execution_options(synchronize_session=False)
        ).first()
        if won is None:
            raise _LostRace()
        # The loaded `request` still shows `pending`; only its unchanging columns are read
        # below, so it is not reloaded.

        details: dict[str, object] = {"via": via}
        if reason:
            details["reason"] = reason
        if status is Status.APPROVED:
            grant = self._grant(session, request, now)
            request.grant_id = grant.id
            details["grant_id"] = grant.id
        audit.append(
            session,
            at=now,
            actor=_actor_label(actor, via),
            actor_id=actor.id if actor else None,
            action=f"request.{status}",
            request_id=request_id,
            organization_id=request.organization_id,
            details=details,
        )

        outbox = self._outbox(session, now)
        outbox.update_cards(repo.cards_of(session, request_id))
        if status is not Status.WITHDRAWN:
            outbox.to_person(
                request.requester,
                Kind.NOTIFY,
                request_id=request_id,
                payload={"event": str(status)},
            )
        if status is Status.EXPIRED:
            for approver in self.approvers_for(
                session,
                request.organization_id,
                RequestKind(request.kind),
                exclude=request.requester_id,
            ):
                outbox.to_person(
                    approver,
                    Kind.NOTIFY,
                    request_id=request_id,
                    payload={"event": "expired", "audience": "approver"},
                )
        session.flush()
        info = dataclasses.replace(
            info,
            status=status,
            decided_at=now,
            decided_by=PersonInfo.of(actor) if actor else None,
            decision_reason=reason,
            decided_via=via,
        )
        log.info(
            "request decided request=%s status=%s actor=%s via=%s",
            request_id,
            status,
            actor.id if actor else "-",
            via,
        )
        return Result(Outcome.DONE, f"{request_id} is now {status}.", request=info)

    def _grant(self, session: Session, request: AccessRequest, now: dt.datetime) -> Grant:
        role = str(GRANTED_ROLE[RequestKind(request.kind)])
        existing = session.scalars(
            select(Grant).where(
                Grant.organization_id == request.organization_id,
                Grant.person_id == request.requester_id,
                Grant.role == role,
                Grant.surrogate_org == request.surrogate_org,
                Grant.revoked_at.is_(None),
            )
        ).first()
        if existing is not None:
            merged = sorted(set(existing.products or []) | set(request.products or []))
            existing.products = merged
            return existing
        grant = Grant(
            organization_id=request.organization_id,
            person_id=request.requester_id,
            role=role,
            surrogate_org=request.surrogate_org,
            products=list(request.products or []),
            granted_at=now,
            source=f"request:{request.id}",
        )
        session.add(grant)
        session.flush()
        return grant

    # Revoking -------------------------------------------------------------------

    def revoke(self, request_id: str, actor_id: int, reason: str, *, via: str = "slack") -> Result:
        """Revoke the grant an approved request made. AO or DO, by the same authority table."""
        try:
            reason = validate_free_text(reason, "Reason", max_length=MAX_REASON_LENGTH)
        except ValidationError as error:
            return Result(Outcome.INVALID, str(error), field="Reason")
        with self.db.transaction() as session:
            request = repo.load_request(session, request_id)
            if request is None:
                return Result(Outcome.NOT_FOUND, f"Request {request_id} was not found.")
            actor = session.get(Person, actor_id)
            if actor is None:
                return Result(Outcome.NOT_FOUND, "Your account is not known to Cosigner yet.")
            info = RequestInfo.of(request)
            if request.status == Status.REVOKED:
                return Result(Outcome.ALREADY_DECIDED, describe_decision(info), request=info)
            if request.status != Status.APPROVED:
                return Result(
                    Outcome.INVALID,
                    f"Only an approved request can be revoked; {request_id} is {request.status}.",
                    request=info,
                )
            authority = authority_over(session, actor, request)
            if not authority.allowed:
                return Result(Outcome.NOT_ALLOWED, authority.reason, request=info)
            now = self.clock.now()
            won = session.execute(
                update(AccessRequest)
                .where(AccessRequest.id == request_id, AccessRequest.status == str(Status.APPROVED))
                .values(
                    status=str(Status.REVOKED),
                    revoked_at=now,
                    revoked_by_id=actor.id,
                    revoke_reason=reason,
                )
                .returning(AccessRequest.grant_id)
                .execution_options(synchronize_session=False)
            ).first()
            if won is None:
                session.expire_all()
                current = RequestInfo.of(repo.load_request(session, request_id))  # type: ignore[arg-type]
                return Result(Outcome.ALREADY_DECIDED, describe_decision(current), request=current)
            roles_before = frozenset(
                Role(r)
                for r in repo.active_roles(session, request.requester_id, request.organization_id)
            )
            if won.grant_id is not None:
                session.execute(
                    update(Grant)
                    .where(Grant.id == won.grant_id, Grant.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_by_id=actor.id, revoke_reason=reason)
                )
            audit.append(
                session,
                at=now,
                actor=_actor_label(actor, via),
                actor_id=actor.id,
                action="request.revoked",
                request_id=request_id,
                organization_id=request.organization_id,
                details={"via": via, "reason": reason, "grant_id": won.grant_id},
            )
            outbox = self._outbox(session, now)
            outbox.update_cards(repo.cards_of(session, request_id))
            outbox.to_person(
                request.requester, Kind.NOTIFY, request_id=request_id, payload={"event": "revoked"}
            )
            # A revoked AO or DO can no longer decide, so their open cards are updated to show it.
            outbox.update_cards_of_lost_authority(
                request.requester, request.organization_id, roles_before
            )
            session.flush()
            session.expire_all()
            info = RequestInfo.of(repo.load_request(session, request_id))  # type: ignore[arg-type]
            log.info("grant revoked request=%s actor=%s", request_id, actor.id)
            return Result(Outcome.DONE, f"{request_id} was revoked.", request=info)

    # Reading --------------------------------------------------------------------

    def get(self, request_id: str) -> RequestInfo | None:
        with self.db.read() as session:
            request = repo.load_request(session, request_id)
            return RequestInfo.of(request) if request else None

    def requests_of(self, person_id: int, limit: int = 50) -> list[RequestInfo]:
        with self.db.read() as session:
            return [RequestInfo.of(r) for r in repo.requests_of(session, person_id, limit)]

    def decidable_by(self, person_id: int) -> list[RequestInfo]:
        """Return the pending requests a person may decide, oldest first."""
        with self.db.read() as session:
            person = session.get(Person, person_id)
            if person is None:
                return []
            results = []
            for request in self._candidates(session, person):
                authority = authority_over(session, person, request)
                if authority.allowed:
                    results.append(RequestInfo.of(request))
            return results

    def _candidates(self, session: Session, person: Person) -> list[AccessRequest]:
        organization_ids = list(
            session.scalars(
                select(Grant.organization_id)
                .where(
                    Grant.person_id == person.id,
                    Grant.revoked_at.is_(None),
                    Grant.role.in_([str(Role.AO), str(Role.DO)]),
                )
                .distinct()
            )
        )
        requests = repo.pending_requests(session, organization_ids) if organization_ids else []
        if person.is_admin:
            seen = {r.id for r in requests}
            requests += [
                r
                for r in repo.pending_requests(session, kinds=[str(k) for k in ADMIN_DECIDES])
                if r.id not in seen
            ]
            requests.sort(key=lambda r: (r.created_at, r.id))
        return requests

    def may_view(self, request_id: str, person_id: int) -> bool:
        """Return whether a person may read a request: its requester, an approver or an admin."""
        with self.db.read() as session:
            request = repo.load_request(session, request_id)
            person = session.get(Person, person_id)
            if request is None or person is None:
                return False
            if person.is_admin or person.id == request.requester_id:
                return True
            roles = frozenset(
                Role(r) for r in repo.active_roles(session, person.id, request.organization_id)
            )
            return bool(roles & {Role.AO, Role.DO})

    def check_decision(self, request_id: str, person_id: int) -> Result:
        """Check whether a person may decide a request now, without changing anything.

        The outcome is DONE when they may. Otherwise it is the outcome a decision would get.
        """
        with self.db.read() as session:
            request = repo.load_request(session, request_id)
            if request is None:
                return Result(Outcome.NOT_FOUND, f"Request {request_id} was not found.")
            person = session.get(Person, person_id)
            if person is None:
                return Result(Outcome.NOT_FOUND, "Your account is not known to Cosigner yet.")
            info = RequestInfo.of(request)
            if request.status != Status.PENDING:
                return Result(Outcome.ALREADY_DECIDED, describe_decision(info), request=info)
            authority = authority_over(session, person, request)
            if not authority.allowed:
                return Result(Outcome.NOT_ALLOWED, authority.reason, request=info)
            return Result(Outcome.DONE, "allowed", request=info)

    def counts_by_status(self) -> dict[str, int]:
        with self.db.read() as session:
            rows = session.execute(
                select(AccessRequest.status, func.count()).group_by(AccessRequest.status)
            )
            counts = {str(status): int(count) for status, count in rows}
        return {str(s): counts.get(str(s), 0) for s in Status if counts.get(str(s))}

    def refresh_card(self, platform: str, channel: str, message_id: str) -> bool:
        """Queue an update of one posted card, say after a click on a stale one."""
        with self.db.transaction() as session:
            card = repo.card_by_message(session, platform, channel, message_id)
            if card is None:
                return False
            self._outbox(session, self.clock.now()).update_cards([card])
            return True


def authority_over(session: Session, person: Person, request: AccessRequest) -> Authority:
    """Check, against the roles the person has now, whether they may decide the request."""
    roles = frozenset(
        Role(r) for r in repo.active_roles(session, person.id, request.organization_id)
    )
    return check_authority(
        RequestKind(request.kind),
        roles,
        is_admin=person.is_admin,
        is_requester=person.id == request.requester_id,
    )


def _actor_label(actor: Person | None, via: str) -> str:
    if actor is None:
        return via
    return actor.email or f"person:{actor.id}"
