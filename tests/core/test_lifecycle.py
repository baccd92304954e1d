"""The request lifecycle: submit, approve, reject, withdraw, expire and revoke."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

import bot.workflow
from bot.domain import MAX_REASON_LENGTH, REQUEST_ID_PATTERN, RequestKind, Role
from bot.services import Services
from bot.workflow import Outcome, Result, Workflow, WorkflowConfig
from storage.models import AccessRequest, AuditEntry, Grant
from tests.conftest import SAMPLE_ROSTER, START
from tests.core.conftest import SampleRoster
from tests.core.support import (
    RIVERBEND_NPI,
    active_roles,
    add_card,
    add_organization,
    add_person,
    audit_actions,
    audit_count,
    organization_id,
    outbox_rows,
    request_status,
    submit,
)

WINNER_TIME = START.strftime("%Y-%m-%d %H:%M UTC")


def _grant_of(services: Services, request_id: str) -> Grant:
    with services.db.transaction() as session:
        grant_id = session.scalar(
            select(AccessRequest.grant_id).where(AccessRequest.id == request_id)
        )
        assert grant_id is not None, f"{request_id} has no grant"
        grant = session.get(Grant, grant_id)
        assert grant is not None
        return grant


def _last_audit_entry(services: Services, request_id: str) -> AuditEntry:
    with services.db.transaction() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.request_id == request_id)
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None
        return entry


# Submitting --------------------------------------------------------------------


def test_submit_sends_card_to_approvers(sample: SampleRoster) -> None:
    services = sample.services

    result = services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.STAFF,
        justification="Front desk eligibility checks",
    )

    assert result.outcome is Outcome.DONE
    assert result.request is not None
    assert result.request.status == "pending"
    assert {a.id for a in result.approvers} == {sample.dana, sample.marcus}
    cards = outbox_rows(services, result.request.id, kind="post_card")
    assert {row.person_id for row in cards} == {sample.dana, sample.marcus}


def test_submit_ids_differ(sample: SampleRoster) -> None:
    services = sample.services
    ids = []
    for _ in range(20):
        request_id = submit(services, sample.nurse, sample.riverbend)
        services.workflow.withdraw(request_id, sample.nurse)
        ids.append(request_id)

    assert all(REQUEST_ID_PATTERN.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


def test_submit_redraws_taken_id(sample: SampleRoster, monkeypatch: pytest.MonkeyPatch) -> None:
    services = sample.services
    drawn = iter(["REQ-22222", "REQ-22222", "REQ-33333"])
    monkeypatch.setattr(bot.workflow, "new_request_id", lambda: next(drawn))

    first = submit(services, sample.nurse, sample.riverbend)
    second = submit(services, sample.nurse, sample.lakeside)

    assert first == "REQ-22222"
    assert second == "REQ-33333"


def test_submit_duplicate_names_open_request(sample: SampleRoster) -> None:
    services = sample.services
    first = submit(services, sample.nurse, sample.riverbend)

    again = services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.STAFF,
        justification="Asking again",
    )

    assert again.outcome is Outcome.DUPLICATE
    assert again.existing_id == first
    assert first in again.message


def test_submit_after_withdraw_allowed(sample: SampleRoster) -> None:
    services = sample.services
    first = submit(services, sample.nurse, sample.riverbend)
    services.workflow.withdraw(first, sample.nurse)

    second = submit(services, sample.nurse, sample.riverbend)

    assert second != first


def test_submit_other_organization_not_duplicate(sample: SampleRoster) -> None:
    services = sample.services
    submit(services, sample.nurse, sample.riverbend)

    other = submit(services, sample.nurse, sample.lakeside)

    assert request_status(services, other) == "pending"


def test_submit_held_role_invalid(sample: SampleRoster) -> None:
    services = sample.services
    before = audit_count(services)
    held_roles = [
        (sample.dana, RequestKind.AUTHORIZED_OFFICIAL),
        (sample.marcus, RequestKind.DELEGATED_OFFICIAL),
    ]

    for official, kind in held_roles:
        result = services.workflow.submit(
            requester_id=official,
            organization_id=sample.riverbend,
            kind=kind,
            justification="Already hold it",
        )

        assert result.outcome is Outcome.INVALID, kind
        assert result.field == "Role requested", kind
    assert audit_count(services) == before


def test_submit_role_held_elsewhere_allowed(sample: SampleRoster) -> None:
    """Priya is the AO of Lakeside, which grants her no role in Riverbend."""
    services = sample.services

    request_id = submit(services, sample.priya, sample.riverbend, RequestKind.DELEGATED_OFFICIAL)

    assert request_status(services, request_id) == "pending"


SURROGATE_KINDS = (RequestKind.SURROGACY, RequestKind.SURROGATE_STAFF)


def test_submit_surrogacy_needs_firm(sample: SampleRoster) -> None:
    for kind in SURROGATE_KINDS:
        result = sample.services.workflow.submit(
            requester_id=sample.nurse,
            organization_id=sample.riverbend,
            kind=kind,
            justification="Billing on behalf of the clinic",
            surrogate_org="  ",
            products=["PECOS"],
        )

        assert result.outcome is Outcome.INVALID, kind
        assert result.field == "Surrogate organization", kind


def test_submit_surrogacy_needs_product(sample: SampleRoster) -> None:
    for kind in SURROGATE_KINDS:
        result = sample.services.workflow.submit(
            requester_id=sample.nurse,
            organization_id=sample.riverbend,
            kind=kind,
            justification="Billing on behalf of the clinic",
            surrogate_org="Acme Billing",
            products=[],
        )

        assert result.outcome is Outcome.INVALID, kind
        assert result.field == "Products", kind


def test_submit_surrogacy_unknown_product(sample: SampleRoster) -> None:
    result = sample.services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.SURROGACY,
        justification="Billing on behalf of the clinic",
        surrogate_org="Acme Billing",
        products=["PECOS", "Medicaid"],
    )

    assert result.outcome is Outcome.INVALID
    assert result.field == "Products"
    assert "'Medicaid'" in result.message


def test_submit_surrogacy_keeps_products(sample: SampleRoster) -> None:
    services = sample.services

    request_id = submit(
        services,
        sample.nurse,
        sample.riverbend,
        RequestKind.SURROGACY,
        surrogate_org=" Acme   Billing ",
        products=["ehr", "PECOS", "EHR"],
    )

    request = services.workflow.get(request_id)
    assert request is not None
    assert request.surrogate_org == "Acme Billing"
    assert request.products == ("PECOS", "EHR")


def test_submit_without_officials_alerts_admins(sample: SampleRoster) -> None:
    services = sample.services
    organization = add_organization(services, "Hilltop Dialysis LLC", "111111111", "1245319599")

    result = services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=organization,
        kind=RequestKind.STAFF,
        justification="Scheduling",
    )

    assert result.outcome is Outcome.DONE
    assert result.approvers == ()
    assert result.request is not None
    alerts = outbox_rows(services, result.request.id, kind="admin_alert")
    assert [(row.channel, row.payload) for row in alerts] == [
        ("C0ADMINS", {"reason": "no_approver"})
    ]


def test_submit_without_admin_channel_says_so(sample: SampleRoster) -> None:
    services = sample.services
    organization = add_organization(services, "Hilltop Dialysis LLC", "111111111", "1245319599")
    workflow = Workflow(services.db, services.clock, WorkflowConfig(platforms=("slack",)))

    result = workflow.submit(
        requester_id=sample.nurse,
        organization_id=organization,
        kind=RequestKind.STAFF,
        justification="Scheduling",
    )

    assert result.outcome is Outcome.DONE
    assert "no admin channel is configured" in result.message
    assert outbox_rows(services, kind="admin_alert") == []


def test_submit_designation_without_admins_alerts(services: Services) -> None:
    assert services.roster.import_file(SAMPLE_ROSTER).ok
    requester = add_person(services, "new.owner@riverbend.example")
    riverbend = organization_id(services, RIVERBEND_NPI)

    request_id = submit(services, requester, riverbend, RequestKind.AUTHORIZED_OFFICIAL)

    alerts = outbox_rows(services, request_id, kind="admin_alert")
    assert [row.payload for row in alerts] == [{"reason": "no_approver"}]
    assert outbox_rows(services, request_id, kind="post_card") == []


def test_submit_designation_goes_to_admins(sample: SampleRoster) -> None:
    services = sample.services
    requester = add_person(services, "new.owner@riverbend.example")

    result = services.workflow.submit(
        requester_id=requester,
        organization_id=sample.riverbend,
        kind=RequestKind.AUTHORIZED_OFFICIAL,
        justification="New owner of the clinic",
    )

    assert [a.id for a in result.approvers] == [sample.admin]


def test_submit_past_end_date_invalid(sample: SampleRoster) -> None:
    result = sample.services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.STAFF,
        justification="Temporary cover",
        end_date=START.date(),
    )

    assert result.outcome is Outcome.INVALID
    assert result.field == "End date"


def test_submit_empty_justification_invalid(sample: SampleRoster) -> None:
    result = sample.services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.STAFF,
        justification=" \n ",
    )

    assert result.outcome is Outcome.INVALID
    assert result.field == "Justification"


# Approving ---------------------------------------------------------------------


def test_approve_creates_grant(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    result = services.workflow.approve(request_id, sample.marcus)

    assert result.outcome is Outcome.DONE
    assert result.request is not None
    assert result.request.status == "approved"
    assert result.request.decided_by is not None
    assert result.request.decided_by.id == sample.marcus
    grant = _grant_of(services, request_id)
    assert (grant.person_id, grant.role, grant.revoked_at) == (sample.nurse, "SEU", None)
    assert active_roles(services, sample.nurse, sample.riverbend) == {"SEU"}


def test_approve_surrogacy_grants_products(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(
        services, sample.nurse, sample.riverbend, RequestKind.SURROGACY, products=["NPPES"]
    )

    services.workflow.approve(request_id, sample.dana)

    grant = _grant_of(services, request_id)
    assert (grant.role, grant.surrogate_org, grant.products) == (
        "SURROGATE",
        "Acme Billing",
        ["NPPES"],
    )


def test_approve_notifies_requester(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    services.workflow.approve(request_id, sample.marcus)

    notices = outbox_rows(services, request_id, kind="notify")
    assert [(row.person_id, row.payload) for row in notices] == [
        (sample.nurse, {"event": "approved"})
    ]


def test_approve_queues_card_updates(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    cards = {
        add_card(services, request_id, sample.dana, "D0DANA"),
        add_card(services, request_id, sample.marcus, "D0MARCUS"),
    }

    services.workflow.approve(request_id, sample.marcus)

    updates = outbox_rows(services, request_id, kind="update_card")
    assert sorted(row.card_id for row in updates) == sorted(cards)


def test_approve_designation_by_admin(sample: SampleRoster) -> None:
    services = sample.services
    requester = add_person(services, "new.owner@riverbend.example")
    request_id = submit(services, requester, sample.riverbend, RequestKind.AUTHORIZED_OFFICIAL)

    by_ao = services.workflow.approve(request_id, sample.dana)
    by_admin = services.workflow.approve(request_id, sample.admin)

    assert by_ao.outcome is Outcome.NOT_ALLOWED
    assert by_admin.outcome is Outcome.DONE
    assert active_roles(services, requester, sample.riverbend) == {"AO"}


def test_approve_unknown_request(sample: SampleRoster) -> None:
    result = sample.services.workflow.approve("REQ-ZZZZZ", sample.dana)

    assert result.outcome is Outcome.NOT_FOUND


# Rejecting ---------------------------------------------------------------------


def test_reject_needs_reason(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    for reason in ("", "   \n\t"):
        result = services.workflow.reject(request_id, sample.dana, reason)

        assert result.outcome is Outcome.INVALID, repr(reason)
        assert result.field == "Reason", repr(reason)
    assert request_status(services, request_id) == "pending"


def test_reject_reason_over_limit(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    result = services.workflow.reject(request_id, sample.dana, "x" * (MAX_REASON_LENGTH + 1))

    assert MAX_REASON_LENGTH == 2000
    assert result.outcome is Outcome.INVALID
    assert result.field == "Reason"
    assert "2,001" in result.message
    assert request_status(services, request_id) == "pending"


def test_reject_reason_at_limit(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    reason = "x" * MAX_REASON_LENGTH

    result = services.workflow.reject(request_id, sample.dana, reason)

    assert result.outcome is Outcome.DONE
    assert result.request is not None
    assert result.request.decision_reason == reason


def test_reject_records_reason(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    services.workflow.reject(request_id, sample.dana, "  Not on staff  ")

    entry = _last_audit_entry(services, request_id)
    assert entry.action == "request.rejected"
    assert entry.details["reason"] == "Not on staff"
    assert entry.actor == "dana.whitfield@riverbend.example"
    notices = outbox_rows(services, request_id, kind="notify")
    assert [row.payload for row in notices] == [{"event": "rejected"}]
    assert active_roles(services, sample.nurse, sample.riverbend) == frozenset()


# Withdrawing and expiring ------------------------------------------------------


def test_withdraw_by_requester(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    card = add_card(services, request_id, sample.dana, "D0DANA")

    result = services.workflow.withdraw(request_id, sample.nurse)

    assert result.outcome is Outcome.DONE
    assert request_status(services, request_id) == "withdrawn"
    updates = outbox_rows(services, request_id, kind="update_card")
    assert [row.card_id for row in updates] == [card]


def test_withdraw_by_other_not_allowed(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    for clicker in ("dana", "marcus", "admin", "priya"):
        result = services.workflow.withdraw(request_id, getattr(sample, clicker))

        assert result.outcome is Outcome.NOT_ALLOWED, clicker
    assert request_status(services, request_id) == "pending"


def test_expire_pending_request(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    result = services.workflow.expire(request_id)

    assert result.outcome is Outcome.DONE
    assert request_status(services, request_id) == "expired"
    assert _last_audit_entry(services, request_id).actor == "scheduler"
    notices = outbox_rows(services, request_id, kind="notify")
    assert sorted(row.person_id for row in notices) == sorted(
        [sample.nurse, sample.dana, sample.marcus]
    )


# Revoking ----------------------------------------------------------------------


def _approved(sample: SampleRoster, kind: RequestKind = RequestKind.STAFF) -> str:
    request_id = submit(sample.services, sample.nurse, sample.riverbend, kind)
    result = sample.services.workflow.approve(request_id, sample.dana)
    assert result.outcome is Outcome.DONE, result.message
    return request_id


def test_revoke_approved_request(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample)
    services.clock.advance(dt.timedelta(days=3))

    result = services.workflow.revoke(request_id, sample.marcus, "Left the clinic")

    assert result.outcome is Outcome.DONE
    assert result.request is not None
    assert result.request.status == "revoked"
    assert result.request.revoke_reason == "Left the clinic"
    grant = _grant_of(services, request_id)
    assert grant.revoked_at == services.clock.now()
    assert grant.revoked_by_id == sample.marcus
    assert active_roles(services, sample.nurse, sample.riverbend) == frozenset()


def test_revoke_notifies_requester(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample)

    services.workflow.revoke(request_id, sample.marcus, "Left the clinic")

    notices = outbox_rows(services, request_id, kind="notify")
    assert [row.payload["event"] for row in notices] == ["approved", "revoked"]


def test_revoke_needs_valid_reason(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample)

    for reason in ("", " ", "x" * (MAX_REASON_LENGTH + 1)):
        result = services.workflow.revoke(request_id, sample.marcus, reason)

        assert result.outcome is Outcome.INVALID, len(reason)
        assert result.field == "Reason", len(reason)
    assert request_status(services, request_id) == "approved"


def test_revoke_only_approved(sample: SampleRoster) -> None:
    services = sample.services
    workflow = services.workflow
    leave_pending: dict[str, Callable[[str], object]] = {
        "pending": lambda request_id: None,
        "rejected": lambda request_id: workflow.reject(request_id, sample.dana, "Not on staff"),
        "withdrawn": lambda request_id: workflow.withdraw(request_id, sample.nurse),
        "expired": lambda request_id: workflow.expire(request_id),
    }
    for status, move in leave_pending.items():
        request_id = submit(services, sample.nurse, sample.riverbend)
        move(request_id)

        result = workflow.revoke(request_id, sample.dana, "Left the clinic")

        assert result.outcome is Outcome.INVALID, status
        assert request_status(services, request_id) == status
        workflow.withdraw(request_id, sample.nurse)


def test_revoke_do_appointment_needs_ao(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample, RequestKind.DELEGATED_OFFICIAL)

    by_do = services.workflow.revoke(request_id, sample.marcus, "Reorganization")
    by_ao = services.workflow.revoke(request_id, sample.dana, "Reorganization")

    assert by_do.outcome is Outcome.NOT_ALLOWED
    assert by_ao.outcome is Outcome.DONE


def test_revoke_designation_needs_admin(sample: SampleRoster) -> None:
    services = sample.services
    requester = add_person(services, "new.owner@riverbend.example")
    request_id = submit(services, requester, sample.riverbend, RequestKind.AUTHORIZED_OFFICIAL)
    services.workflow.approve(request_id, sample.admin)

    by_ao = services.workflow.revoke(request_id, sample.dana, "Sold the practice")
    by_admin = services.workflow.revoke(request_id, sample.admin, "Sold the practice")

    assert by_ao.outcome is Outcome.NOT_ALLOWED
    assert by_admin.outcome is Outcome.DONE
    assert active_roles(services, requester, sample.riverbend) == frozenset()


def test_revoke_outside_table_not_allowed(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample)

    # The nurse is the requester, and the admin and Priya have no role in Riverbend.
    for clicker in ("nurse", "admin", "priya"):
        result = services.workflow.revoke(request_id, getattr(sample, clicker), "Left the clinic")

        assert result.outcome is Outcome.NOT_ALLOWED, clicker
    assert request_status(services, request_id) == "approved"


def test_revoke_twice_names_winner(sample: SampleRoster) -> None:
    services = sample.services
    request_id = _approved(sample)
    services.clock.advance(dt.timedelta(days=1))
    services.workflow.revoke(request_id, sample.marcus, "Left the clinic")
    revoked_at = services.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    services.clock.advance(dt.timedelta(hours=2))

    again = services.workflow.revoke(request_id, sample.dana, "Left the clinic")

    assert again.outcome is Outcome.ALREADY_DECIDED
    assert "revoked by Marcus Lee" in again.message
    assert revoked_at in again.message


# One audit entry per transition ------------------------------------------------

Transition = Callable[[SampleRoster, str], Result]

TRANSITIONS: dict[str, tuple[Transition, list[str]]] = {
    "approve": (
        lambda s, r: s.services.workflow.approve(r, s.marcus),
        ["request.submitted", "request.approved"],
    ),
    "reject": (
        lambda s, r: s.services.workflow.reject(r, s.marcus, "Not on staff"),
        ["request.submitted", "request.rejected"],
    ),
    "withdraw": (
        lambda s, r: s.services.workflow.withdraw(r, s.nurse),
        ["request.submitted", "request.withdrawn"],
    ),
    "expire": (
        lambda s, r: s.services.workflow.expire(r),
        ["request.submitted", "request.expired"],
    ),
    "revoke": (
        lambda s, r: (
            s.services.workflow.approve(r, s.marcus),
            s.services.workflow.revoke(r, s.dana, "Left the clinic"),
        )[1],
        ["request.submitted", "request.approved", "request.revoked"],
    ),
}


@pytest.mark.parametrize("transition", list(TRANSITIONS))
def test_transition_writes_one_audit_entry(sample: SampleRoster, transition: str) -> None:
    services = sample.services
    run, expected_actions = TRANSITIONS[transition]
    request_id = submit(services, sample.nurse, sample.riverbend)
    before = audit_count(services)

    result = run(sample, request_id)

    assert result.outcome is Outcome.DONE, result.message
    assert audit_actions(services, request_id) == expected_actions
    assert audit_count(services) == before + len(expected_actions) - 1


def test_disallowed_click_writes_no_audit(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    before = audit_count(services)

    services.workflow.approve(request_id, sample.priya)
    services.workflow.withdraw(request_id, sample.dana)
    services.workflow.reject(request_id, sample.dana, "")

    assert audit_count(services) == before


# Clicks after the decision -----------------------------------------------------

LATE_CLICKS: dict[str, Transition] = {
    "approve": lambda s, r: s.services.workflow.approve(r, s.dana),
    "reject": lambda s, r: s.services.workflow.reject(r, s.dana, "Not on staff"),
    "withdraw": lambda s, r: s.services.workflow.withdraw(r, s.nurse),
    "expire": lambda s, r: s.services.workflow.expire(r),
}


@pytest.mark.parametrize("late_click", list(LATE_CLICKS))
def test_late_click_names_winner_and_time(sample: SampleRoster, late_click: str) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    services.workflow.approve(request_id, sample.marcus)
    services.clock.advance(dt.timedelta(hours=5))
    before = audit_count(services)

    result = LATE_CLICKS[late_click](sample, request_id)

    assert result.outcome is Outcome.ALREADY_DECIDED
    assert "Marcus Lee" in result.message
    assert WINNER_TIME in result.message
    assert request_status(services, request_id) == "approved"
    assert audit_count(services) == before


def test_late_click_on_expired_request(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    services.workflow.expire(request_id)

    result = services.workflow.approve(request_id, sample.dana)

    assert result.outcome is Outcome.ALREADY_DECIDED
    assert "expired" in result.message
    assert WINNER_TIME in result.message


def test_approved_role_blocks_new_request(sample: SampleRoster) -> None:
    services = sample.services
    _approved(sample)

    again = services.workflow.submit(
        requester_id=sample.nurse,
        organization_id=sample.riverbend,
        kind=RequestKind.STAFF,
        justification="Again",
    )

    assert again.outcome is Outcome.INVALID
    assert again.field == "Role requested"
    assert Role.SEU in active_roles(services, sample.nurse, sample.riverbend)
