"""Every Adaptive Card the Teams front end builds, in every state, against the 1.5 schema."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from importlib import resources

import pytest

from bot.domain import MAX_JUSTIFICATION_LENGTH, RequestKind, Status
from bot.records import OrganizationInfo, PersonInfo, RequestInfo
from handlers.teams import admin_cards, cards, forms
from tests.teams.schema import SCHEMA_PATH, assert_valid_card
from tests.teams.support import card_text, error_under, inputs, markdown_texts, verbs

NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
# One version of Microsoft's "Format your bot messages" page sets the bot message limit
# at 40 KB counted in UTF-16. A card of this much ASCII JSON stays within it.
MAX_CARD_BYTES = 19_000

RIVERBEND = OrganizationInfo(1, "Riverbend Family Clinic LLC", "***-**-6789", ("1234567893",), "")
NINA = PersonInfo(5, "Nina Ortiz", "nina.ortiz@riverbend.example", {"teams": "29:1nina"})
DANA = PersonInfo(1, "Dana Whitfield", "dana.whitfield@riverbend.example")
PENDING = RequestInfo(
    id="REQ-7K3QX",
    kind=RequestKind.STAFF,
    status=Status.PENDING,
    organization=RIVERBEND,
    requester=NINA,
    justification="Front desk eligibility checks",
    surrogate_org="",
    products=(),
    end_date=None,
    created_at=NOW - dt.timedelta(days=2),
)
DECIDED = {
    Status.APPROVED: replace(PENDING, status=Status.APPROVED, decided_at=NOW, decided_by=DANA),
    Status.REJECTED: replace(
        PENDING,
        status=Status.REJECTED,
        decided_at=NOW,
        decided_by=DANA,
        decision_reason="Not on the staff list",
    ),
    Status.WITHDRAWN: replace(PENDING, status=Status.WITHDRAWN, decided_at=NOW),
    Status.EXPIRED: replace(PENDING, status=Status.EXPIRED, decided_at=NOW),
    Status.REVOKED: replace(
        PENDING,
        status=Status.REVOKED,
        decided_at=NOW,
        decided_by=DANA,
        revoked_at=NOW,
        revoked_by=DANA,
        revoke_reason="Left the clinic",
    ),
}
LONGEST = replace(
    PENDING,
    kind=RequestKind.SURROGACY,
    organization=replace(RIVERBEND, legal_name="R" * 200, npis=("1234567893",) * 5),
    requester=replace(NINA, name="N" * 200),
    justification="J" * MAX_JUSTIFICATION_LENGTH,
    surrogate_org="S" * 200,
    products=("PECOS", "NPPES", "EHR"),
    end_date=dt.date(2027, 6, 30),
)


def _size(card: cards.Card) -> int:
    return len(json.dumps(card, ensure_ascii=False).encode())


def test_request_card_pending_has_buttons() -> None:
    card = cards.request_card(PENDING)

    assert_valid_card(card)
    assert verbs(card) == ["approve", "reject"]
    assert card["msteams"] == {"width": "Full"}
    assert card["fallbackText"] == (
        "Access request REQ-7K3QX: Staff End User at Riverbend Family Clinic LLC"
    )


@pytest.mark.parametrize("status", list(DECIDED))
def test_request_card_decided_has_no_buttons(status: Status) -> None:
    card = cards.request_card(DECIDED[status])

    assert_valid_card(card)
    assert verbs(card) == []
    assert cards.STATUS_BADGES[status] in card_text(card)


def test_request_card_reason_shown() -> None:
    text = card_text(cards.request_card(DECIDED[Status.REJECTED]))

    assert "Reason: Not on the staff list" in text
    assert "❌ Rejected by Dana Whitfield (dana.whitfield@riverbend.example)" in text


def test_longest_request_card_fits() -> None:
    card = cards.request_card(LONGEST)

    assert_valid_card(card)
    assert _size(card) < MAX_CARD_BYTES
    assert "(cut: write show REQ-7K3QX for the full text)" in card_text(card)
    full = cards.full_request_card(LONGEST)
    assert_valid_card(full)
    assert "J" * MAX_JUSTIFICATION_LENGTH in card_text(full)


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("approved", Status.APPROVED),
        ("rejected", Status.REJECTED),
        ("expired", Status.EXPIRED),
        ("revoked", Status.REVOKED),
        ("unknown event", Status.APPROVED),
    ],
)
def test_requester_notice_valid(event: str, status: Status) -> None:
    card = cards.requester_notice(DECIDED[status], event)

    assert_valid_card(card)
    assert "REQ-7K3QX" in card_text(card)


def test_other_notices_valid() -> None:
    for card in (
        cards.approver_expiry_notice(DECIDED[Status.EXPIRED]),
        cards.submitted_card(PENDING, 0),
        cards.submitted_card(LONGEST, 2),
        cards.help_card(),
        cards.status_card([]),
        cards.pending_card([], NOW),
    ):
        assert_valid_card(card)


def test_lists_capped_with_note() -> None:
    many = [replace(PENDING, id=f"REQ-{n:05d}") for n in range(35)]

    pending = cards.pending_card(many, NOW)
    reminder = cards.reminder_card(many, NOW)
    status = cards.status_card(many)

    items_shown = len(verbs(pending)) // 2
    assert 12 <= items_shown <= cards.MAX_LIST_ITEMS
    assert f"{35 - items_shown} more not shown: decide these first" in card_text(pending)
    assert f"{35 - items_shown} more: write **pending** to see all." in card_text(reminder)
    assert "5 older request(s) not shown." in card_text(status)
    for card in (pending, reminder, status):
        assert _size(card) < MAX_CARD_BYTES


def test_lists_of_long_requests_fit() -> None:
    many = [replace(LONGEST, id=f"REQ-{n:05d}") for n in range(35)]
    rejected = [replace(DECIDED[Status.REJECTED], decision_reason="R" * 2000)] * 35

    built = [
        cards.pending_card(many, NOW, notice="You approved REQ-00000."),
        cards.reminder_card(many, NOW),
        cards.status_card(rejected),
    ]

    for card in built:
        assert_valid_card(card)
        assert _size(card) < MAX_CARD_BYTES
    items_shown = len(verbs(built[0])) // 2
    assert items_shown >= 10
    assert f"{35 - items_shown} more not shown" in card_text(built[0])


def test_admin_alerts_valid() -> None:
    odd_payload = {"reason": "escalation", "reminded": "none", "unreachable": [3, None]}
    for card in (
        admin_cards.admin_alert(None, {"reason": "roster import failed"}),
        admin_cards.admin_alert(PENDING, {"reason": "no_approver"}),
        admin_cards.admin_alert(PENDING, {"reason": "no_reachable_approver"}),
        admin_cards.admin_alert(PENDING, {}),
        admin_cards.admin_alert(PENDING, odd_payload),
    ):
        assert_valid_card(card)


def test_digest_any_shape_valid() -> None:
    payload = {
        "counts": {"pending": 3},
        "rows": [{"id": f"REQ-{n:05d}", "age": n} for n in range(40)],
        "empty": [],
        "flag": True,
        "missing": None,
    }

    card = admin_cards.digest_card(payload)

    assert_valid_card(card)
    text = card_text(card)
    assert "Cosigner daily digest" in text
    assert "15 more not shown." in text
    assert "Flag: True" in text


def test_request_form_errors_and_values() -> None:
    organizations = [RIVERBEND]
    values = {"organization": "1", "kind": "surrogacy", "justification": "Billing"}
    errors = {
        "surrogate_org": "A surrogate request needs the name of the surrogate firm or person."
    }

    choice = forms.request_form(organizations, use_text_search=False, values=values, errors=errors)
    search = forms.request_form(
        organizations,
        use_text_search=True,
        values={"organization_query": "river"},
        errors={"organization_query": "No organization matches “river”."},
    )

    assert_valid_card(choice)
    assert_valid_card(search)
    assert inputs(choice)["kind"]["value"] == "surrogacy"
    assert error_under(choice, "surrogate_org") == errors["surrogate_org"]
    assert error_under(choice, "kind") is None
    assert inputs(search)["organization_query"]["value"] == "river"
    assert all("river" not in text for text in markdown_texts(search))


def test_reject_form_valid() -> None:
    card = forms.reject_form(PENDING, "card", error="Write the reason.", reason="Partial")

    assert_valid_card(card)
    assert inputs(card)["reason"]["value"] == "Partial"
    assert verbs(card) == ["reject_confirm", "reject_cancel"]


def test_parse_form_reads_multi_select() -> None:
    form, errors = forms.parse_request_form(
        {
            "organization": "1",
            "kind": "surrogacy",
            "justification": "Billing",
            "surrogate_org": "Acme",
            "products": "PECOS,EHR",
            "end_date": "2027-01-31",
        }
    )

    assert errors == {}
    assert form.products == ["PECOS", "EHR"]
    assert form.end_date == dt.date(2027, 1, 31)


def test_parse_form_rejects_bad_values() -> None:
    _, errors = forms.parse_request_form(
        {"organization": "abc", "kind": "owner", "end_date": "tomorrow"}
    )

    assert errors == {
        "organization": "That organization is not valid. Choose it again.",
        "kind": "Choose the role you are requesting.",
        "end_date": "Pick the date from the calendar (YYYY-MM-DD).",
    }


def test_choose_organization_prefers_exact_name() -> None:
    lakeside = OrganizationInfo(2, "Riverbend Family Clinic LLC East", "***-**-1111", (), "")

    chosen, problem = forms.choose_organization(
        "riverbend family clinic llc", [RIVERBEND, lakeside]
    )
    none, ambiguous = forms.choose_organization("riverbend", [RIVERBEND, lakeside])

    assert chosen == RIVERBEND
    assert problem is None
    assert none is None
    assert ambiguous is not None
    assert "matches 2 organizations" in ambiguous


def test_huge_digest_cut_to_fit() -> None:
    payload = {f"section_{n}": [f"line {i} " + "x" * 400 for i in range(30)] for n in range(20)}

    card = admin_cards.digest_card(payload)

    assert_valid_card(card)
    assert _size(card) < MAX_CARD_BYTES
    assert "more part(s) cut to fit in a Teams message." in card_text(card)


def test_schema_copy_matches_package() -> None:
    packaged = resources.files("adaptive_cards") / "schemas" / "schema-1.5.json"

    assert json.loads(packaged.read_text(encoding="utf-8")) == json.loads(
        SCHEMA_PATH.read_text(encoding="utf-8")
    )
