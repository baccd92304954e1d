"""Card buttons and forms: Approve, Reject with a reason, and the request form's Submit.

Each button is an Action.Execute. The bot responds to its invoke with an
AdaptiveCardInvokeResponse whose card replaces the clicked one for the clicker at once.
Clients older than Adaptive Cards 1.4 run the Action.Submit fallback instead, which
arrives as a message activity. Then the bot updates the message the button was on.
Both paths share the handlers below, which return a Reply.

The button's data only names the request: authority is checked in the core, against
the database, when the click arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from microsoft_agents.activity import AdaptiveCardInvokeResponse, ContentTypes
from microsoft_agents.hosting.core import TurnContext

from bot.domain import Status, ValidationError, normalize_request_id
from bot.records import OrganizationInfo, RequestInfo
from bot.workflow import Outcome, Result
from handlers.teams import cards, forms, ids
from handlers.teams.context import TeamsContext, UserFacingError, sender
from handlers.teams.identity import PLATFORM
from handlers.teams.text import cut, when
from storage import repo

log = logging.getLogger(__name__)

BROKEN_BUTTON = "That button does not name a valid request. Nothing was changed."


@dataclass(frozen=True)
class Reply:
    """A response to a click: a card that replaces the clicked one, or a short text."""

    card: cards.Card | None = None
    text: str | None = None

    def invoke_response(self) -> AdaptiveCardInvokeResponse:
        if self.card is not None:
            return AdaptiveCardInvokeResponse(
                status_code=HTTPStatus.OK, type=ContentTypes.adaptive_card, value=self.card
            )
        return AdaptiveCardInvokeResponse(
            status_code=HTTPStatus.OK, type=ContentTypes.message, value=self.text or ""
        )


ActionHandler = Callable[[TeamsContext, TurnContext, Mapping[str, Any]], Awaitable[Reply]]


async def run_action(
    ctx: TeamsContext, context: TurnContext, handler: ActionHandler, data: Mapping[str, Any]
) -> Reply:
    """Run one button's handler, turning a failure the person cannot fix into a sentence."""
    try:
        return await handler(ctx, context, data)
    except UserFacingError as error:
        return Reply(text=str(error))


def _request_id(data: Mapping[str, Any]) -> str | None:
    try:
        return normalize_request_id(str(data.get(ids.REQUEST_ID_KEY) or ""))
    except ValidationError:
        return None


def _origin(data: Mapping[str, Any]) -> str:
    return ids.ORIGIN_LIST if data.get(ids.ORIGIN_KEY) == ids.ORIGIN_LIST else ids.ORIGIN_CARD


# Deciding -------------------------------------------------------------------------


async def approve(ctx: TeamsContext, context: TurnContext, data: Mapping[str, Any]) -> Reply:
    request_id = _request_id(data)
    if request_id is None:
        log.warning("Approve clicked with an invalid request id user=%s", _user_id(context))
        return Reply(text=BROKEN_BUTTON)
    person = sender(context)
    result = await ctx.run(ctx.services.workflow.approve, request_id, person.id, via=PLATFORM)
    ctx.metrics.inc("cosigner_decisions_total", outcome=str(result.outcome))
    return await after_decision(ctx, context, result, _origin(data))


async def reject(ctx: TeamsContext, context: TurnContext, data: Mapping[str, Any]) -> Reply:
    """Check that the clicker may decide, then ask for the reason. Nothing changes yet."""
    request_id = _request_id(data)
    if request_id is None:
        log.warning("Reject clicked with an invalid request id user=%s", _user_id(context))
        return Reply(text=BROKEN_BUTTON)
    person = sender(context)
    result = await ctx.run(ctx.services.workflow.check_decision, request_id, person.id)
    if result.outcome is Outcome.DONE and result.request is not None:
        return Reply(card=forms.reject_form(result.request, _origin(data)))
    return await after_decision(ctx, context, result, _origin(data))


async def confirm_rejection(
    ctx: TeamsContext, context: TurnContext, data: Mapping[str, Any]
) -> Reply:
    request_id = _request_id(data)
    if request_id is None:
        return Reply(text=BROKEN_BUTTON)
    origin = _origin(data)
    reason = str(data.get(ids.REASON_INPUT) or "")
    person = sender(context)
    if not reason.strip():
        request = await ctx.run(ctx.services.workflow.get, request_id)
        if request is None:
            return Reply(text=f"Request {request_id} was not found.")
        error = "Write the reason: the requester will see it."
        return Reply(card=forms.reject_form(request, origin, error=error))
    result = await ctx.run(
        ctx.services.workflow.reject, request_id, person.id, reason, via=PLATFORM
    )
    ctx.metrics.inc("cosigner_decisions_total", outcome=str(result.outcome))
    if result.outcome is Outcome.INVALID:
        request = await ctx.run(ctx.services.workflow.get, request_id)
        if request is None:
            return Reply(text=result.message)
        return Reply(card=forms.reject_form(request, origin, error=result.message, reason=reason))
    return await after_decision(ctx, context, result, origin)


async def cancel_rejection(
    ctx: TeamsContext, context: TurnContext, data: Mapping[str, Any]
) -> Reply:
    """Put the card (or list) back as it was before Reject was clicked."""
    request_id = _request_id(data)
    if request_id is None:
        return Reply(text=BROKEN_BUTTON)
    if _origin(data) == ids.ORIGIN_LIST:
        return Reply(card=await pending_list(ctx, context))
    request = await ctx.run(ctx.services.workflow.get, request_id)
    if request is None:
        return Reply(text=f"Request {request_id} was not found.")
    return Reply(card=cards.request_card(request))


async def after_decision(
    ctx: TeamsContext, context: TurnContext, result: Result, origin: str
) -> Reply:
    """Show the clicker the outcome, and bring a stale card up to date."""
    if result.outcome is Outcome.DONE and result.request is not None:
        ctx.wake_delivery()
        if origin == ids.ORIGIN_LIST:
            notice = f"You {result.request.status} {result.request.id}."
            return Reply(card=await pending_list(ctx, context, notice))
        return Reply(card=cards.request_card(result.request))
    if result.outcome is Outcome.ALREADY_DECIDED and result.request is not None:
        notice = already_decided_text(result.request, result.message)
        if origin == ids.ORIGIN_LIST:
            return Reply(card=await pending_list(ctx, context, notice))
        await _refresh_clicked_card(ctx, context)
        return Reply(card=cards.request_card(result.request, notice))
    if result.outcome is Outcome.NOT_ALLOWED:
        return Reply(text=f"{result.message} Nothing was changed.")
    return Reply(text=result.message)


def already_decided_text(request: RequestInfo, fallback: str) -> str:
    """Name who decided a request and when; `fallback` covers revoked and expired ones."""
    if request.decided_by is None or request.status is Status.REVOKED:
        return fallback
    text = (
        f"{request.id} was already {request.status} by {cards.person_label(request.decided_by)} "
        f"at {when(request.decided_at)}."
    )
    if request.decision_reason:
        text += f" Reason: {cut(request.decision_reason, 500)}"
    return text


async def _refresh_clicked_card(ctx: TeamsContext, context: TurnContext) -> None:
    """Queue an update of the card the click came from, if Cosigner recorded it."""
    activity = context.activity
    if activity.conversation is None or not activity.reply_to_id:
        return
    queued = await ctx.run(
        ctx.services.workflow.refresh_card,
        PLATFORM,
        activity.conversation.id,
        activity.reply_to_id,
    )
    if queued:
        ctx.wake_delivery()


async def pending_list(
    ctx: TeamsContext, context: TurnContext, notice: str | None = None
) -> cards.Card:
    person = sender(context)
    requests = await ctx.run(ctx.services.workflow.decidable_by, person.id)
    return cards.pending_card(requests, ctx.services.clock.now(), notice)


# Requesting -----------------------------------------------------------------------


def load_organizations(ctx: TeamsContext) -> tuple[list[OrganizationInfo], int]:
    """Return the organizations a choice set can list, and how many there are in all."""
    with ctx.services.db.transaction() as session:
        total = repo.count_organizations(session)
        found = repo.organizations(session, limit=forms.MAX_CHOICES)
        return [OrganizationInfo.of(o) for o in found], total


def search_organizations(ctx: TeamsContext, query: str) -> list[OrganizationInfo]:
    """Find organizations by an NPI, or by a part of the legal name."""
    with ctx.services.db.transaction() as session:
        by_npi = repo.organization_by_npi(session, query) if query.isdigit() else None
        if by_npi is not None:
            return [OrganizationInfo.of(by_npi)]
        found = repo.organizations(session, search=query, limit=forms.MAX_CHOICES)
        return [OrganizationInfo.of(o) for o in found]


async def request_form_card(
    ctx: TeamsContext,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> cards.Card | None:
    """Build the request form, or return None when no organization is set up yet."""
    organizations, total = await ctx.run(load_organizations, ctx)
    if total == 0:
        return None
    return forms.request_form(
        organizations,
        use_text_search=total > forms.MAX_CHOICES,
        values=values,
        errors=errors,
    )


NO_ORGANIZATIONS = (
    "No organizations are set up in Cosigner yet: ask an admin to import the roster "
    "(cosigner roster import)."
)


async def submit_request(ctx: TeamsContext, context: TurnContext, data: Mapping[str, Any]) -> Reply:
    """Submit the request form, or show it again with the errors under their fields."""
    form, errors = forms.parse_request_form(data)
    if not errors and form.organization_id is None and form.organization_query:
        matches = await ctx.run(search_organizations, ctx, form.organization_query)
        chosen, problem = forms.choose_organization(form.organization_query, matches)
        if chosen is None:
            errors[ids.ORGANIZATION_QUERY_INPUT] = problem or "Choose the organization again."
        else:
            form.organization_id = chosen.id
    if errors:
        return await _form_with_errors(ctx, form, errors)

    person = sender(context)
    result = await ctx.run(
        ctx.services.workflow.submit,
        requester_id=person.id,
        via=PLATFORM,
        **form.submit_arguments(),
    )
    ctx.metrics.inc("cosigner_requests_submitted_total", outcome=str(result.outcome))
    if result.outcome is not Outcome.DONE or result.request is None:
        input_id = forms.CORE_FIELD_INPUTS.get(result.field or "", ids.KIND_INPUT)
        if input_id == ids.ORGANIZATION_INPUT and form.organization_query:
            input_id = ids.ORGANIZATION_QUERY_INPUT
        return await _form_with_errors(ctx, form, {input_id: result.message})
    ctx.wake_delivery()
    return Reply(card=cards.submitted_card(result.request, len(result.approvers)))


async def _form_with_errors(
    ctx: TeamsContext, form: forms.RequestFormInput, errors: Mapping[str, str]
) -> Reply:
    card = await request_form_card(ctx, values=form.raw, errors=errors)
    if card is None:
        return Reply(text=NO_ORGANIZATIONS)
    return Reply(card=card)


def _user_id(context: TurnContext) -> str | None:
    account = context.activity.from_property
    return account.id if account else None


# Handlers by verb, for Action.Execute and for its Action.Submit fallback.
HANDLERS: dict[str, ActionHandler] = {
    ids.APPROVE_VERB: approve,
    ids.REJECT_VERB: reject,
    ids.REJECT_CONFIRM_VERB: confirm_rejection,
    ids.REJECT_CANCEL_VERB: cancel_rejection,
    ids.SUBMIT_REQUEST_VERB: submit_request,
}
