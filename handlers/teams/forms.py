"""The request form and the rejection form, and reading what people typed into them.

When input is invalid, the bot returns the form with the typed values filled in and
the error under the field at fault. Adaptive Cards 1.5 has no type-ahead choice set
(`Data.Query` needs 1.6), so past MAX_CHOICES organizations the form asks for a name
or an NPI as text and the bot finds the organization.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain import (
    MAX_JUSTIFICATION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REASON_LENGTH,
    Product,
    RequestKind,
)
from bot.records import OrganizationInfo, RequestInfo
from handlers.teams import ids
from handlers.teams.cards import (
    Card,
    Element,
    adaptive_card,
    execute_action,
    heading,
    person_label,
    rich,
    run,
)
from handlers.teams.text import cut

# Maximum number of organizations in a choice set, the same as Slack's select limit.
MAX_CHOICES = 100
CHOICE_TITLE_LIMIT = 100

# The "Role requested" choices, in the order people expect them.
ROLE_CHOICES = (
    (RequestKind.STAFF, "Staff End User"),
    (RequestKind.SURROGACY, "Surrogate"),
    (RequestKind.DELEGATED_OFFICIAL, "Delegated Official"),
    (RequestKind.AUTHORIZED_OFFICIAL, "Authorized Official"),
)

# Input ids that show the core's errors, by the field name the core reports.
CORE_FIELD_INPUTS = {
    "Organization": ids.ORGANIZATION_INPUT,
    "Role requested": ids.KIND_INPUT,
    "kind": ids.KIND_INPUT,
    "Justification": ids.JUSTIFICATION_INPUT,
    "Surrogate organization": ids.SURROGATE_ORG_INPUT,
    "Products": ids.PRODUCTS_INPUT,
    "products": ids.PRODUCTS_INPUT,
    "End date": ids.END_DATE_INPUT,
}

FORM_INPUTS = (
    ids.ORGANIZATION_INPUT,
    ids.ORGANIZATION_QUERY_INPUT,
    ids.KIND_INPUT,
    ids.JUSTIFICATION_INPUT,
    ids.SURROGATE_ORG_INPUT,
    ids.PRODUCTS_INPUT,
    ids.END_DATE_INPUT,
)


@dataclass
class RequestFormInput:
    """The request form as submitted: parsed values, and the raw text to fill it in again."""

    organization_id: int | None = None
    organization_query: str = ""
    kind: RequestKind | None = None
    justification: str = ""
    surrogate_org: str = ""
    products: list[str] = field(default_factory=list)
    end_date: dt.date | None = None
    raw: dict[str, str] = field(default_factory=dict)

    def submit_arguments(self) -> dict[str, Any]:
        """Return the keyword arguments of Workflow.submit, once the organization is known."""
        return {
            "organization_id": self.organization_id,
            "kind": self.kind,
            "justification": self.justification,
            "surrogate_org": self.surrogate_org,
            "products": self.products,
            "end_date": self.end_date,
        }


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def parse_request_form(data: Mapping[str, Any]) -> tuple[RequestFormInput, dict[str, str]]:
    """Read the request form's values, and return them with the errors by input id.

    The organization's text search is left to the caller, which has the database.
    """
    form = RequestFormInput(raw={key: _text(data, key) for key in FORM_INPUTS if key in data})
    errors: dict[str, str] = {}

    organization = _text(data, ids.ORGANIZATION_INPUT).strip()
    query = _text(data, ids.ORGANIZATION_QUERY_INPUT).strip()
    if organization:
        try:
            form.organization_id = int(organization)
        except ValueError:
            errors[ids.ORGANIZATION_INPUT] = "That organization is not valid. Choose it again."
    elif query:
        form.organization_query = query
    elif ids.ORGANIZATION_QUERY_INPUT in data:
        errors[ids.ORGANIZATION_QUERY_INPUT] = "Type the organization's name or its NPI."
    else:
        errors[ids.ORGANIZATION_INPUT] = "Choose the organization you need access to."

    kind_value = _text(data, ids.KIND_INPUT).strip()
    try:
        form.kind = RequestKind(kind_value) if kind_value else None
    except ValueError:
        form.kind = None
    if form.kind is None:
        errors[ids.KIND_INPUT] = "Choose the role you are requesting."

    form.justification = _text(data, ids.JUSTIFICATION_INPUT)
    form.surrogate_org = _text(data, ids.SURROGATE_ORG_INPUT)
    form.products = [p.strip() for p in _text(data, ids.PRODUCTS_INPUT).split(",") if p.strip()]

    end_date_text = _text(data, ids.END_DATE_INPUT).strip()
    if end_date_text:
        try:
            form.end_date = dt.date.fromisoformat(end_date_text)
        except ValueError:
            errors[ids.END_DATE_INPUT] = "Pick the date from the calendar (YYYY-MM-DD)."

    if form.kind is RequestKind.SURROGACY:
        if not form.surrogate_org.strip():
            errors[ids.SURROGATE_ORG_INPUT] = (
                "A surrogate request needs the name of the surrogate firm or person."
            )
        if not form.products:
            errors[ids.PRODUCTS_INPUT] = "Choose at least one product: PECOS, NPPES or EHR."
    return form, errors


def choose_organization(
    query: str, matches: Sequence[OrganizationInfo]
) -> tuple[OrganizationInfo | None, str | None]:
    """Return the organization that a typed name or NPI names, or else the error to show."""
    if not matches:
        return None, (
            f"No organization matches “{cut(query, 80)}”. Check the spelling, or type the "
            "10-digit NPI."
        )
    if len(matches) == 1:
        return matches[0], None
    exact = [m for m in matches if m.legal_name.casefold() == query.casefold() or query in m.npis]
    if len(exact) == 1:
        return exact[0], None
    names = "; ".join(cut(m.legal_name, 60) for m in matches[:5])
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    return None, (
        f"“{cut(query, 80)}” matches {len(matches)} organizations ({names}{more}). "
        "Type more of the name, or the NPI."
    )


def _error(errors: Mapping[str, str], input_id: str) -> list[Element]:
    message = errors.get(input_id)
    if not message:
        return []
    return [rich(run(message, color="Attention", size="Small"), id=f"{input_id}_error")]


def _with_value(element: Element, values: Mapping[str, str], input_id: str) -> Element:
    value = values.get(input_id)
    if value:
        element["value"] = value
    return element


def _organization_input(
    organizations: Sequence[OrganizationInfo], use_text_search: bool, values: Mapping[str, str]
) -> Element:
    if use_text_search:
        element: Element = {
            "type": "Input.Text",
            "id": ids.ORGANIZATION_QUERY_INPUT,
            "label": "Organization (name or NPI)",
            "placeholder": "Type the organization's name or its 10-digit NPI",
            "isRequired": True,
            "errorMessage": "Type the organization's name or its NPI.",
            "maxLength": MAX_NAME_LENGTH,
        }
        return _with_value(element, values, ids.ORGANIZATION_QUERY_INPUT)
    choices = []
    for organization in organizations[:MAX_CHOICES]:
        npi = organization.npis[0] if organization.npis else "no NPI"
        suffix = f" · NPI {npi}"
        title = cut(organization.legal_name, CHOICE_TITLE_LIMIT - len(suffix), "…") + suffix
        choices.append({"title": title, "value": str(organization.id)})
    element = {
        "type": "Input.ChoiceSet",
        "id": ids.ORGANIZATION_INPUT,
        "label": "Organization",
        "style": "compact",
        "placeholder": "Choose an organization",
        "isRequired": True,
        "errorMessage": "Choose the organization you need access to.",
        "choices": choices,
    }
    return _with_value(element, values, ids.ORGANIZATION_INPUT)


def request_form(
    organizations: Sequence[OrganizationInfo],
    *,
    use_text_search: bool,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> Card:
    """Build the `request` form, filled with `values` and with `errors` under their inputs."""
    values = values or {}
    errors = errors or {}
    organization_input = ids.ORGANIZATION_QUERY_INPUT if use_text_search else ids.ORGANIZATION_INPUT

    body: list[Element] = [heading("Request access")]
    body.append(_organization_input(organizations, use_text_search, values))
    body.extend(_error(errors, organization_input))

    role: Element = {
        "type": "Input.ChoiceSet",
        "id": ids.KIND_INPUT,
        "label": "Role requested",
        "style": "compact",
        "placeholder": "Choose a role",
        "isRequired": True,
        "errorMessage": "Choose the role you are requesting.",
        "choices": [{"title": label, "value": str(kind)} for kind, label in ROLE_CHOICES],
    }
    body.append(_with_value(role, values, ids.KIND_INPUT))
    body.extend(_error(errors, ids.KIND_INPUT))

    reason: Element = {
        "type": "Input.Text",
        "id": ids.JUSTIFICATION_INPUT,
        "label": "Justification",
        "placeholder": "Why you need this access, for the officials who decide.",
        "isMultiline": True,
        "isRequired": True,
        "errorMessage": "Write why you need this access.",
        "maxLength": MAX_JUSTIFICATION_LENGTH,
    }
    body.append(_with_value(reason, values, ids.JUSTIFICATION_INPUT))
    body.extend(_error(errors, ids.JUSTIFICATION_INPUT))

    surrogate: Element = {
        "type": "Input.Text",
        "id": ids.SURROGATE_ORG_INPUT,
        "label": "Surrogate organization (surrogates only)",
        "placeholder": "The firm or person acting for the organization.",
        "maxLength": MAX_NAME_LENGTH,
    }
    body.append(_with_value(surrogate, values, ids.SURROGATE_ORG_INPUT))
    body.extend(_error(errors, ids.SURROGATE_ORG_INPUT))

    products: Element = {
        "type": "Input.ChoiceSet",
        "id": ids.PRODUCTS_INPUT,
        "label": "Products (surrogates only)",
        "style": "expanded",
        "isMultiSelect": True,
        "choices": [{"title": str(p), "value": str(p)} for p in Product],
    }
    body.append(_with_value(products, values, ids.PRODUCTS_INPUT))
    body.extend(_error(errors, ids.PRODUCTS_INPUT))

    end_date: Element = {
        "type": "Input.Date",
        "id": ids.END_DATE_INPUT,
        "label": "End date (optional)",
    }
    body.append(_with_value(end_date, values, ids.END_DATE_INPUT))
    body.extend(_error(errors, ids.END_DATE_INPUT))

    submit = execute_action("Submit", ids.SUBMIT_REQUEST_VERB, {}, style="positive")
    return adaptive_card(body, [submit], summary="Request access")


def reject_form(
    request: RequestInfo, origin: str, *, error: str | None = None, reason: str = ""
) -> Card:
    """Build the form that asks for the reason of a rejection, which the requester will read."""
    data = {ids.REQUEST_ID_KEY: request.id, ids.ORIGIN_KEY: origin}
    body: list[Element] = [
        heading(f"Reject {request.id}?"),
        rich(f"{request.kind_label} request from {person_label(request.requester)}"),
    ]
    text_input: Element = {
        "type": "Input.Text",
        "id": ids.REASON_INPUT,
        "label": "Reason for rejecting",
        "placeholder": "The requester sees this reason.",
        "isMultiline": True,
        "isRequired": True,
        "errorMessage": "Write the reason: the requester will see it.",
        "maxLength": MAX_REASON_LENGTH,
    }
    if reason:
        text_input["value"] = reason
    body.append(text_input)
    if error:
        body.append(rich(run(error, color="Attention", size="Small"), id="reason_error"))
    confirm = execute_action("Reject", ids.REJECT_CONFIRM_VERB, data, style="destructive")
    cancel = execute_action("Cancel", ids.REJECT_CANCEL_VERB, data)
    # Cancel must work with the reason empty, so it sends no inputs and skips their checks.
    cancel["associatedInputs"] = "None"
    cancel["fallback"]["associatedInputs"] = "None"
    return adaptive_card(body, [confirm, cancel], summary=f"Reject {request.id}")
