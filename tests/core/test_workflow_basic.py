from bot.domain import RequestKind, Status
from bot.services import Services
from bot.workflow import Outcome
from storage import repo


def _person(services: Services, email: str) -> int:
    found = services.people.by_email(email)
    assert found is not None
    return found.id


def test_submit_then_approve_by_do(roster: Services) -> None:
    staff = roster.people.add_admin("nurse@riverbend.example")[0]
    roster.people.remove_admin("nurse@riverbend.example")
    with roster.db.transaction() as session:
        organization = repo.organization_by_npi(session, "1234567893")
        assert organization is not None
        organization_id = organization.id
    submitted = roster.workflow.submit(
        requester_id=staff.id,
        organization_id=organization_id,
        kind=RequestKind.STAFF,
        justification="Front desk eligibility checks",
    )
    assert submitted.outcome is Outcome.DONE
    assert submitted.request is not None
    assert {a.email for a in submitted.approvers} == {
        "dana.whitfield@riverbend.example",
        "marcus.lee@riverbend.example",
    }
    decided = roster.workflow.approve(
        submitted.request.id, _person(roster, "marcus.lee@riverbend.example")
    )
    assert decided.outcome is Outcome.DONE
    assert decided.request is not None
    assert decided.request.status is Status.APPROVED
    again = roster.workflow.approve(
        submitted.request.id, _person(roster, "dana.whitfield@riverbend.example")
    )
    assert again.outcome is Outcome.ALREADY_DECIDED
    assert "Marcus Lee" in again.message
