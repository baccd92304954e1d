"""`/access request`: the form, the organization type-ahead, and errors shown next to the field."""

from __future__ import annotations

from typing import Any

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    NINA,
    RIVERBEND_NPI,
    import_organizations,
    organization_id,
    request_access,
    submit_directly,
    suggest_organizations,
)


async def open_form(stack: LocalStack, user_id: str = NINA) -> dict[str, Any]:
    response = await stack.sender.slash_command(user_id, "request")
    assert response.status == 200
    views = await stack.slack.wait_for(lambda: stack.slack.open_views(user_id))
    return views[-1].view


def input_block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(block for block in view["blocks"] if block.get("block_id") == block_id)


def option_labels(element: dict[str, Any]) -> list[str]:
    return [option["text"]["text"] for option in element["options"]]


async def submit_form(stack: LocalStack, inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    await open_form(stack)
    response = await stack.sender.submit_last_view(NINA, inputs)
    assert response.status == 200, response.body
    return response.json()


def riverbend(stack: LocalStack) -> dict[str, str]:
    return {"organization_select": str(organization_id(stack, RIVERBEND_NPI))}


async def test_request_form_labels(stack: LocalStack) -> None:
    view = await open_form(stack)
    expected = {
        "organization": "Organization",
        "role": "Role requested",
        "justification": "Justification",
        "surrogate_org": "Surrogate organization",
        "products": "Products",
    }
    for block_id, label in expected.items():
        assert input_block(view, block_id)["label"]["text"].startswith(label), block_id


async def test_request_form_role_options(stack: LocalStack) -> None:
    view = await open_form(stack)
    element = input_block(view, "role")["element"]
    assert option_labels(element) == [
        "Staff End User",
        "Surrogate",
        "Delegated Official",
        "Authorized Official",
    ]


async def test_request_form_product_options(stack: LocalStack) -> None:
    view = await open_form(stack)
    element = input_block(view, "products")["element"]
    assert option_labels(element) == ["PECOS", "NPPES", "EHR"]


async def test_request_form_lists_few_organizations(stack: LocalStack) -> None:
    view = await open_form(stack)
    element = input_block(view, "organization")["element"]
    assert element["type"] == "static_select"
    assert len(element["options"]) == 2


async def test_request_form_many_organizations_type_ahead(stack: LocalStack) -> None:
    import_organizations(stack, 101)
    view = await open_form(stack)
    element = input_block(view, "organization")["element"]
    assert element["type"] == "external_select"
    assert element["action_id"] == "organization_select"


async def test_organization_suggestions_match_query(stack: LocalStack) -> None:
    import_organizations(stack, 101)
    view = await open_form(stack)
    response = await suggest_organizations(stack, NINA, "riverbend", view)
    assert response.status == 200
    labels = [option["text"]["text"] for option in response.json()["options"]]
    assert labels == [f"Riverbend Family Clinic LLC · NPI {RIVERBEND_NPI}"]


async def test_organization_suggestions_match_npi(stack: LocalStack) -> None:
    import_organizations(stack, 101)
    view = await open_form(stack)
    response = await suggest_organizations(stack, NINA, RIVERBEND_NPI[:6], view)
    values = [option["value"] for option in response.json()["options"]]
    assert values == [str(organization_id(stack, RIVERBEND_NPI))]


async def test_organization_suggestions_capped_at_100(stack: LocalStack) -> None:
    import_organizations(stack, 120)
    view = await open_form(stack)
    response = await suggest_organizations(stack, NINA, "clinic", view)
    assert len(response.json()["options"]) == 100


async def test_organization_suggestion_submits(stack: LocalStack) -> None:
    import_organizations(stack, 101)
    view = await open_form(stack)
    response = await suggest_organizations(stack, NINA, "riverbend", view)
    chosen = response.json()["options"][0]["value"]
    submitted = await stack.sender.submit_last_view(
        NINA,
        {
            "organization": {"organization_select": chosen},
            "role": {"role_select": "staff"},
            "justification": {"justification_input": "Eligibility checks"},
        },
    )
    assert submitted.json()["response_action"] == "update"


async def test_request_form_requires_organization(stack: LocalStack) -> None:
    body = await submit_form(
        stack,
        {"role": {"role_select": "staff"}, "justification": {"justification_input": "Checks"}},
    )
    assert body["response_action"] == "errors"
    assert "organization" in body["errors"]


async def test_request_form_error_stays_in_modal(stack: LocalStack) -> None:
    await submit_form(
        stack,
        {"role": {"role_select": "staff"}, "justification": {"justification_input": "Checks"}},
    )
    views = stack.slack.open_views(NINA)
    assert views
    assert "organization" in views[-1].errors


async def test_request_form_requires_role(stack: LocalStack) -> None:
    body = await submit_form(
        stack,
        {"organization": riverbend(stack), "justification": {"justification_input": "Checks"}},
    )
    assert list(body["errors"]) == ["role"]


async def test_request_form_requires_justification(stack: LocalStack) -> None:
    body = await submit_form(
        stack,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "staff"},
            "justification": {"justification_input": "   "},
        },
    )
    assert body["response_action"] == "errors"
    assert "justification" in body["errors"]


async def test_surrogate_request_needs_firm(stack: LocalStack) -> None:
    body = await submit_form(
        stack,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "surrogacy"},
            "justification": {"justification_input": "Billing"},
            "products": {"products_select": ["PECOS"]},
        },
    )
    assert list(body["errors"]) == ["surrogate_org"]


async def test_surrogate_request_needs_products(stack: LocalStack) -> None:
    body = await submit_form(
        stack,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "surrogacy"},
            "justification": {"justification_input": "Billing"},
            "surrogate_org": {"surrogate_org_input": "Acme Billing LLC"},
        },
    )
    assert list(body["errors"]) == ["products"]


async def test_duplicate_request_names_open_one(stack: LocalStack) -> None:
    first = submit_directly(stack, NINA)
    body = await submit_form(
        stack,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "staff"},
            "justification": {"justification_input": "Again"},
        },
    )
    assert body["response_action"] == "errors"
    assert first in body["errors"]["role"]


async def test_duplicate_request_creates_nothing(stack: LocalStack) -> None:
    submit_directly(stack, NINA)
    await submit_form(
        stack,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "staff"},
            "justification": {"justification_input": "Again"},
        },
    )
    person = stack.services.people.by_email("nina.alvarez@riverbend.example")
    assert person is not None
    assert len(stack.services.workflow.requests_of(person.id)) == 1


async def test_held_role_request_refused(stack: LocalStack) -> None:
    await open_form(stack, DANA)
    response = await stack.sender.submit_last_view(
        DANA,
        {
            "organization": riverbend(stack),
            "role": {"role_select": "authorized_official"},
            "justification": {"justification_input": "I am the AO"},
        },
    )
    body = response.json()
    assert body["response_action"] == "errors"
    assert "already" in body["errors"]["role"]


async def test_request_form_submits(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA)
    assert request_id.startswith("REQ-")
