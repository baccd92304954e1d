"""Modal submissions: the access request form and the rejection reason."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import RequestKind, ValidationError, normalize_request_id
from bot.workflow import Outcome
from handlers.slack import blocks, ids
from handlers.slack.actions import ClickOrigin, confirm_decision, refresh_stale_card
from handlers.slack.context import SlackContext, UserFacingError

log = logging.getLogger(__name__)

# Which form field an error from the core belongs next to.
FIELD_BLOCKS = {
    "Organization": ids.ORGANIZATION_BLOCK,
    "Role requested": ids.ROLE_BLOCK,
    "kind": ids.ROLE_BLOCK,
    "Justification": ids.JUSTIFICATION_BLOCK,
    "Surrogate organization": ids.SURROGATE_ORG_BLOCK,
    "Products": ids.PRODUCTS_BLOCK,
    "products": ids.PRODUCTS_BLOCK,
    "End date": ids.END_DATE_BLOCK,
    "Reason": ids.REASON_BLOCK,
}


def _value(state: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    return (state.get(block_id) or {}).get(action_id) or {}


def parse_request_form(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the request form's values; return them and the errors by block id."""
    errors: dict[str, str] = {}
    organization = _value(state, ids.ORGANIZATION_BLOCK, ids.ORGANIZATION_ACTION)
    selected = (organization.get("selected_option") or {}).get("value")
    organization_id = None
    if not selected:
        errors[ids.ORGANIZATION_BLOCK] = "Choose the organization you need access to."
    else:
        try:
            organization_id = int(selected)
        except ValueError:
            errors[ids.ORGANIZATION_BLOCK] = "That organization is not valid. Choose it again."

    role = _value(state, ids.ROLE_BLOCK, ids.ROLE_ACTION)
    kind_value = (role.get("selected_option") or {}).get("value")
    kind = None
    try:
        kind = RequestKind(kind_value) if kind_value else None
    except ValueError:
        kind = None
    if kind is None:
        errors[ids.ROLE_BLOCK] = "Choose the role you are requesting."

    justification = _value(state, ids.JUSTIFICATION_BLOCK, ids.JUSTIFICATION_ACTION).get("value")
    surrogate_org = _value(state, ids.SURROGATE_ORG_BLOCK, ids.SURROGATE_ORG_ACTION).get("value")
    products = [
        option.get("value", "")
        for option in _value(state, ids.PRODUCTS_BLOCK, ids.PRODUCTS_ACTION).get("selected_options")
        or []
    ]
    end_date_text = _value(state, ids.END_DATE_BLOCK, ids.END_DATE_ACTION).get("selected_date")
    end_date = None
    if end_date_text:
        try:
            end_date = dt.date.fromisoformat(end_date_text)
        except ValueError:
            errors[ids.END_DATE_BLOCK] = "Pick the date from the calendar."
    if kind is RequestKind.SURROGACY:
        if not (surrogate_org or "").strip():
            errors[ids.SURROGATE_ORG_BLOCK] = (
                "A surrogate request needs the name of the surrogate firm or person."
            )
        if not products:
            errors[ids.PRODUCTS_BLOCK] = "Choose at least one product: PECOS, NPPES or EHR."
    return (
        {
            "organization_id": organization_id,
            "kind": kind,
            "justification": justification or "",
            "surrogate_org": surrogate_org or "",
            "products": products,
            "end_date": end_date,
        },
        errors,
    )


def register(app: AsyncApp, ctx: SlackContext) -> None:
    @app.view(ids.REQUEST_VIEW)
    async def submit_request(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = body["user"]["id"]
        team_id = (body.get("team") or {}).get("id")
        state = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        form, errors = parse_request_form(state)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            person = await ctx.person(client, user_id, team_id)
            result = await ctx.run(
                ctx.services.workflow.submit,
                requester_id=person.id,
                via="slack",
                **form,
            )
        except UserFacingError as error:
            await ack(response_action="errors", errors={ids.JUSTIFICATION_BLOCK: str(error)})
            return
        ctx.metrics.inc("cosigner_requests_submitted_total", outcome=str(result.outcome))
        if result.outcome is not Outcome.DONE or result.request is None:
            block = FIELD_BLOCKS.get(result.field or "", ids.ROLE_BLOCK)
            await ack(response_action="errors", errors={block: result.message[:2000]})
            return
        await ack(
            response_action="update",
            view=blocks.submitted_view(result.request, len(result.approvers)),
        )
        ctx.wake_delivery()

    @app.view(ids.REJECT_VIEW)
    async def submit_rejection(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = body["user"]["id"]
        team_id = (body.get("team") or {}).get("id")
        view = body.get("view") or {}
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
            request_id = normalize_request_id(str(metadata.get("request_id") or ""))
        except (ValueError, ValidationError):
            await ack(
                response_action="update",
                view=blocks.message_view("Not rejected", "This form is broken; nothing changed."),
            )
            return
        origin = ClickOrigin.from_metadata(metadata)

        state = (view.get("state") or {}).get("values") or {}
        reason = _value(state, ids.REASON_BLOCK, ids.REASON_ACTION).get("value") or ""
        if not reason.strip():
            await ack(
                response_action="errors",
                errors={ids.REASON_BLOCK: "Write the reason: the requester will see it."},
            )
            return

        try:
            person = await ctx.person(client, user_id, team_id)
            result = await ctx.run(
                ctx.services.workflow.reject, request_id, person.id, reason, via="slack"
            )
        except UserFacingError as error:
            await ack(response_action="errors", errors={ids.REASON_BLOCK: str(error)})
            return
        ctx.metrics.inc("cosigner_decisions_total", outcome=str(result.outcome))
        if result.outcome is Outcome.INVALID:
            await ack(response_action="errors", errors={ids.REASON_BLOCK: result.message})
            return
        if result.outcome is Outcome.DONE:
            await ack()
            ctx.wake_delivery()
            await confirm_decision(ctx, client, result, user_id, team_id, origin)
            return

        # Someone decided first, or the user lost the authority, while the form was open.
        # The updated form shows why, and a stale card is brought up to date.
        text = blocks.escape(result.message)
        if result.outcome is not Outcome.ALREADY_DECIDED:
            text += " Nothing was changed."
        await ack(response_action="update", view=blocks.message_view("Not rejected", text))
        if result.outcome is Outcome.ALREADY_DECIDED:
            await refresh_stale_card(ctx, origin.channel, origin.ts)
