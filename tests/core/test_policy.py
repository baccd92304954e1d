"""The approval-authority table, checked cell by cell and through the workflow."""

from __future__ import annotations

import itertools

import pytest

from bot.domain import RequestKind, Role
from bot.policy import check_authority
from bot.workflow import Outcome
from tests.core.conftest import SampleRoster
from tests.core.support import (
    add_person,
    grant_role,
    request_status,
    revoke_grants,
    submit,
)

# A clicker is a person holding one role in the request's organization, a Cosigner
# admin with no role there, or a person with neither. Each maps to (roles, is_admin).
CLICKERS: dict[str, tuple[frozenset[Role], bool]] = {
    "AO": (frozenset({Role.AO}), False),
    "DO": (frozenset({Role.DO}), False),
    "SEU": (frozenset({Role.SEU}), False),
    "SURROGATE": (frozenset({Role.SURROGATE}), False),
    "SURROGATE_STAFF": (frozenset({Role.SURROGATE_STAFF}), False),
    "admin": (frozenset(), True),
    "none": (frozenset(), False),
}

# The clickers who may approve or reject each kind of request, copied from the
# product's authority table. Every other clicker, and the requester, may not.
EXPECTED: dict[RequestKind, frozenset[str]] = {
    RequestKind.STAFF: frozenset({"AO", "DO"}),
    RequestKind.SURROGACY: frozenset({"AO", "DO"}),
    RequestKind.SURROGATE_STAFF: frozenset({"AO", "DO"}),
    RequestKind.DELEGATED_OFFICIAL: frozenset({"AO"}),
    RequestKind.AUTHORIZED_OFFICIAL: frozenset({"admin"}),
}

TABLE_CELLS = [(kind, clicker) for kind in RequestKind for clicker in CLICKERS]
NOT_ALLOWED_CELLS = [
    (kind, clicker) for kind, clicker in TABLE_CELLS if clicker not in EXPECTED[kind]
]


def test_table_covers_every_kind_and_role() -> None:
    clicker_roles = set().union(*(roles for roles, _ in CLICKERS.values()))

    assert set(EXPECTED) == set(RequestKind)
    assert clicker_roles == set(Role)


@pytest.mark.parametrize(("kind", "clicker"), TABLE_CELLS)
def test_check_authority_matches_table(kind: RequestKind, clicker: str) -> None:
    roles, is_admin = CLICKERS[clicker]

    authority = check_authority(kind, roles, is_admin=is_admin, is_requester=False)

    assert authority.allowed is (clicker in EXPECTED[kind])


@pytest.mark.parametrize(("kind", "clicker"), TABLE_CELLS)
def test_check_authority_own_request_not_allowed(kind: RequestKind, clicker: str) -> None:
    roles, is_admin = CLICKERS[clicker]

    authority = check_authority(kind, roles, is_admin=is_admin, is_requester=True)

    assert authority.allowed is False
    assert authority.reason == "You cannot decide your own request."


@pytest.mark.parametrize("kind", list(RequestKind))
def test_check_authority_combined_roles(kind: RequestKind) -> None:
    """A person holding several roles may decide when any one of them may."""
    for size in range(len(Role) + 1):
        for combination in itertools.combinations(list(Role), size):
            for is_admin in (False, True):
                clicker_kinds = {str(role) for role in combination} | (
                    {"admin"} if is_admin else set()
                )
                authority = check_authority(
                    kind, frozenset(combination), is_admin=is_admin, is_requester=False
                )
                assert authority.allowed is bool(clicker_kinds & EXPECTED[kind]), (
                    sorted(clicker_kinds),
                    kind,
                )


@pytest.mark.parametrize(("kind", "clicker"), NOT_ALLOWED_CELLS)
def test_check_authority_gives_reason(kind: RequestKind, clicker: str) -> None:
    roles, is_admin = CLICKERS[clicker]

    authority = check_authority(kind, roles, is_admin=is_admin, is_requester=False)

    assert authority.reason.startswith(("Only", "A Delegated Official cannot"))


def test_check_authority_do_appointing_do() -> None:
    authority = check_authority(
        RequestKind.DELEGATED_OFFICIAL, frozenset({Role.DO}), is_admin=False, is_requester=False
    )

    assert "cannot appoint another Delegated Official" in authority.reason


def _clickers_in(sample: SampleRoster) -> dict[str, int]:
    """Give every clicker kind a person in Riverbend, holding that role there only."""
    services = sample.services
    people = {"AO": sample.dana, "DO": sample.marcus, "admin": sample.admin, "none": sample.nurse}
    for role in (Role.SEU, Role.SURROGATE, Role.SURROGATE_STAFF):
        person = add_person(services, f"{role.lower()}.clicker@riverbend.example")
        grant_role(services, person, sample.riverbend, role)
        people[str(role)] = person
    return people


def test_workflow_disallows_clickers_outside_table(sample: SampleRoster) -> None:
    services = sample.services
    people = _clickers_in(sample)
    for kind in RequestKind:
        requester = add_person(services, f"applicant.{kind}@riverbend.example")
        request_id = submit(services, requester, sample.riverbend, kind)
        for clicker in CLICKERS:
            if clicker in EXPECTED[kind]:
                continue
            approved = services.workflow.approve(request_id, people[clicker])
            rejected = services.workflow.reject(request_id, people[clicker], "Not needed")
            assert approved.outcome is Outcome.NOT_ALLOWED, (kind, clicker)
            assert rejected.outcome is Outcome.NOT_ALLOWED, (kind, clicker)
        assert request_status(services, request_id) == "pending", kind


def test_workflow_lets_table_clickers_decide(sample: SampleRoster) -> None:
    services = sample.services
    people = _clickers_in(sample)
    for kind in RequestKind:
        for clicker in sorted(EXPECTED[kind]):
            requester = add_person(services, f"applicant.{kind}.{clicker}@riverbend.example")
            request_id = submit(services, requester, sample.riverbend, kind)

            result = services.workflow.approve(request_id, people[clicker])

            assert result.outcome is Outcome.DONE, (kind, clicker, result.message)


def test_workflow_own_request_not_allowed(sample: SampleRoster) -> None:
    services = sample.services
    # Dana is an AO of Riverbend and requests staff access there too.
    request_id = submit(services, sample.dana, sample.riverbend)

    result = services.workflow.approve(request_id, sample.dana)

    assert result.outcome is Outcome.NOT_ALLOWED
    assert result.message == "You cannot decide your own request."


def test_workflow_admin_own_designation_not_allowed(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.admin, sample.riverbend, RequestKind.AUTHORIZED_OFFICIAL)

    result = services.workflow.approve(request_id, sample.admin)

    assert result.outcome is Outcome.NOT_ALLOWED


def test_approve_after_grant_revoked(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    revoke_grants(services, sample.marcus, sample.riverbend)

    result = services.workflow.approve(request_id, sample.marcus)

    assert result.outcome is Outcome.NOT_ALLOWED
    assert request_status(services, request_id) == "pending"


def test_reject_after_grant_revoked(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)
    revoke_grants(services, sample.dana, sample.riverbend)

    result = services.workflow.reject(request_id, sample.dana, "Not needed")

    assert result.outcome is Outcome.NOT_ALLOWED
    assert request_status(services, request_id) == "pending"


def test_approve_other_organization(sample: SampleRoster) -> None:
    services = sample.services
    request_id = submit(services, sample.nurse, sample.riverbend)

    # Priya and Tom are the AO and DO of Lakeside.
    for official in (sample.priya, sample.tom):
        result = services.workflow.approve(request_id, official)

        assert result.outcome is Outcome.NOT_ALLOWED, official
    assert request_status(services, request_id) == "pending"


def test_approve_uses_role_in_request_organization(sample: SampleRoster) -> None:
    services = sample.services
    # Priya is the AO of Lakeside but only a Staff End User of Riverbend.
    grant_role(services, sample.priya, sample.riverbend, Role.SEU)
    riverbend_request = submit(services, sample.nurse, sample.riverbend)
    lakeside_request = submit(services, sample.nurse, sample.lakeside)

    refused = services.workflow.approve(riverbend_request, sample.priya)
    approved = services.workflow.approve(lakeside_request, sample.priya)

    assert refused.outcome is Outcome.NOT_ALLOWED
    assert approved.outcome is Outcome.DONE
