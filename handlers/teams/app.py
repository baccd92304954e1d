"""Mount the Teams front end: POST /api/messages served by the Microsoft 365 Agents SDK.

The JWT check guards /api/messages alone, so /slack/events and /healthz keep their own
checks. Requests without a token are accepted only in local development
(COSIGNER_TEAMS_DEV=1 with no TEAMS_CLIENT_ID); with TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET
and TEAMS_TENANT_ID the SDK validates Azure Bot Service tokens and gets its own from
Microsoft Entra ID through MSAL. Cosigner keeps its state in its own database, so the
SDK's turn state lives in memory.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityEventNames,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    InvokeResponse,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    ApplicationOptions,
    AuthTypes,
    ConnectionManager,
    Connections,
    MemoryStorage,
    RouteRank,
    TurnContext,
    TurnState,
)

from bot.delivery import DeliveryStore
from bot.settings import ConfigurationError, Settings
from handlers.teams import actions, commands
from handlers.teams.actions import ActionHandler, Reply
from handlers.teams.context import (
    PERSON_KEY,
    UNEXPECTED_ERROR,
    TeamsContext,
    UserFacingError,
)
from handlers.teams.identity import PLATFORM, link_sender, tenant_id
from handlers.teams.proactive import ProactiveMessenger
from handlers.teams.transport import TeamsTransport

if TYPE_CHECKING:
    from bot.server import Runtime

log = logging.getLogger(__name__)

SERVICE_CONNECTION = "SERVICE_CONNECTION"
# The aiohttp app key under which the SDK's JWT decorator looks for its configuration.
AGENT_CONFIGURATION_KEY = "agent_configuration"
ADAPTIVE_CARD_ACTION = "adaptiveCard/action"
# Activities whose sender is linked to a Cosigner person before the turn runs.
LINKED_ACTIVITY_TYPES = frozenset(
    {
        ActivityTypes.message,
        ActivityTypes.invoke,
        ActivityTypes.conversation_update,
        ActivityTypes.installation_update,
    }
)


def mount_teams(app: web.Application, runtime: Runtime) -> None:
    """Add POST /api/messages to the web app and register the Teams delivery transport.

    Raises ConfigurationError when the Teams settings are incomplete.
    """
    services = runtime.services
    settings = services.settings
    auth_configuration, connections = build_connections(settings)
    adapter = CloudAdapter(connection_manager=connections)
    store = DeliveryStore(services.db, services.clock, tuple(services.workflow.config.platforms))
    ctx = TeamsContext(
        services=services,
        store=store,
        metrics=runtime.metrics,
        wake_delivery=runtime.deliverer.wake.set,
    )
    agent = build_agent_application(ctx, connections, settings)
    # The SDK's default handler sends the exception text to the user.
    adapter.on_turn_error = error_handler(ctx)

    messenger = ProactiveMessenger(adapter, app_id=settings.teams_client_id)
    runtime.deliverer.transports[PLATFORM] = TeamsTransport(messenger, store, ctx)

    @jwt_authorization_decorator
    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, agent)
        return response if response is not None else web.Response(status=202)

    # The SDK's JWT decorator reads its configuration, and stores the caller's claims,
    # under plain string keys, which aiohttp 3.9+ warns about on every request.
    for module in (r"handlers\.teams\.app", r"microsoft_agents\.hosting\.aiohttp"):
        warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=module)
    app[AGENT_CONFIGURATION_KEY] = auth_configuration
    app.router.add_post("/api/messages", messages)
    log.info(
        "Teams mounted at /api/messages auth=%s admin_conversation=%s",
        "anonymous" if auth_configuration.ANONYMOUS_ALLOWED else "azure",
        "set" if settings.teams_admin_conversation else "unset",
    )


def build_connections(settings: Settings) -> tuple[AgentAuthConfiguration, Connections]:
    """Return the JWT configuration and the connection manager for the Teams settings."""
    if settings.teams_client_id:
        missing = [
            name
            for name, value in (
                ("TEAMS_CLIENT_SECRET", settings.teams_client_secret),
                ("TEAMS_TENANT_ID", settings.teams_tenant_id),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} missing: TEAMS_CLIENT_ID is set, so Teams needs the "
                "client secret and the tenant id of the same Azure bot registration"
            )
        configuration = AgentAuthConfiguration(
            auth_type=AuthTypes.client_secret,
            client_id=settings.teams_client_id,
            tenant_id=settings.teams_tenant_id,
            client_secret=settings.teams_client_secret,
            connection_name=SERVICE_CONNECTION,
        )
        manager = MsalConnectionManager(
            connections_configurations={SERVICE_CONNECTION: configuration}
        )
        return configuration, manager
    if settings.teams_dev:
        log.warning(
            "Teams runs in anonymous development mode: /api/messages accepts requests "
            "without a token (COSIGNER_TEAMS_DEV=1); never expose it beyond this machine"
        )
        configuration = AgentAuthConfiguration(anonymous_allowed=True)
        anonymous = ConnectionManager(
            provider_factory=lambda _configuration: AnonymousTokenProvider(),
            connections_configurations={SERVICE_CONNECTION: configuration},
        )
        return configuration, anonymous
    raise ConfigurationError(
        "TEAMS_CLIENT_ID is missing: set it with TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID from "
        "the Azure bot registration, or COSIGNER_TEAMS_DEV=1 for local testing only"
    )


def build_agent_application(
    ctx: TeamsContext, connections: Connections, settings: Settings
) -> AgentApplication[TurnState]:
    options = ApplicationOptions(
        storage=MemoryStorage(),
        bot_app_id=settings.teams_client_id,
        # The typing timer would post "typing" activities while a turn runs.
        start_typing_timer=False,
    )
    agent: AgentApplication[TurnState] = AgentApplication(options, connection_manager=connections)
    on_error = error_handler(ctx)
    agent.error(on_error)

    async def link_before_turn(context: TurnContext, state: TurnState) -> bool:
        return await before_turn(ctx, settings, context)

    agent.before_turn(link_before_turn)

    async def message(context: TurnContext, state: TurnState) -> None:
        await commands.on_message(ctx, context)

    async def conversation_update(context: TurnContext, state: TurnState) -> None:
        await commands.on_conversation_update(ctx, context)

    async def installation_update(context: TurnContext, state: TurnState) -> None:
        await commands.on_installation_update(ctx, context)

    async def unknown_card_action(context: TurnContext, state: TurnState) -> None:
        value = context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        verb = action.get("verb") if isinstance(action, dict) else None
        log.warning("card action with an unknown verb=%s", str(verb)[:40])
        reply = Reply(text="That button is no longer supported. Nothing was changed.")
        await send_invoke_response(context, reply.invoke_response())

    agent.activity(ActivityTypes.message)(message)
    agent.activity(ActivityTypes.conversation_update)(conversation_update)
    agent.activity(ActivityTypes.installation_update)(installation_update)
    for verb, handler in actions.HANDLERS.items():
        agent.adaptive_card.action_execute(verb)(execute_route(ctx, verb, handler))
    agent.invoke(ADAPTIVE_CARD_ACTION, rank=RouteRank.LAST)(unknown_card_action)
    return agent


def execute_route(ctx: TeamsContext, verb: str, handler: ActionHandler) -> Any:
    """Wrap an action handler as the SDK's Action.Execute route for one verb."""

    async def route(
        context: TurnContext, state: TurnState, data: dict[str, Any]
    ) -> AdaptiveCardInvokeResponse:
        ctx.metrics.inc("cosigner_teams_card_actions_total", verb=verb, kind="execute")
        reply = await actions.run_action(ctx, context, handler, data)
        return reply.invoke_response()

    return route


async def before_turn(ctx: TeamsContext, settings: Settings, context: TurnContext) -> bool:
    """Serve only the configured tenant, and link the sender to a Cosigner person.

    Returns False to end the turn for an activity from another tenant.
    """
    activity = context.activity
    ctx.metrics.inc("cosigner_teams_activities_total", type=str(activity.type))
    tenant = tenant_id(activity)
    if settings.teams_tenant_id and tenant != settings.teams_tenant_id:
        log.warning("activity from a tenant this bot does not serve tenant=%s", tenant)
        ctx.metrics.inc("cosigner_teams_rejected_total", reason="tenant")
        return False
    if activity.service_url:
        ctx.service_url = activity.service_url
    if activity.type not in LINKED_ACTIVITY_TYPES:
        return True
    person = await link_sender(ctx, context)
    if person is not None:
        context.turn_state[PERSON_KEY] = person
    return True


def error_handler(ctx: TeamsContext) -> Any:
    """Return a turn error handler that logs the error and sends a fixed sentence.

    It never sends the exception's text. Proactive turns get no message, because
    delivery records their failures itself.
    """

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        activity = context.activity
        ctx.metrics.inc("cosigner_teams_errors_total")
        account = activity.from_property
        if isinstance(error, UserFacingError):
            text = str(error)
            log.warning(
                "Teams turn stopped type=%s user=%s: %s",
                activity.type,
                account.id if account else None,
                text,
            )
        else:
            text = UNEXPECTED_ERROR
            log.error(
                "Teams turn failed type=%s name=%s user=%s conversation=%s",
                activity.type,
                activity.name,
                account.id if account else None,
                activity.conversation.id if activity.conversation else None,
                exc_info=error,
            )
        if activity.type == ActivityTypes.event and (
            activity.name == ActivityEventNames.continue_conversation
        ):
            return
        try:
            if activity.type == ActivityTypes.invoke and activity.name == ADAPTIVE_CARD_ACTION:
                await send_invoke_response(context, Reply(text=text).invoke_response())
            elif activity.type == ActivityTypes.invoke:
                await context.send_activity(
                    Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=500))
                )
            elif activity.type == ActivityTypes.message:
                await context.send_activity(
                    Activity(type=ActivityTypes.message, text=text, text_format="plain")
                )
        except Exception:  # the first failure is logged, and this one must not hide it
            log.exception("could not tell the user about a failed turn")

    return on_turn_error


async def send_invoke_response(context: TurnContext, response: AdaptiveCardInvokeResponse) -> None:
    body = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    await context.send_activity(
        Activity(
            type=ActivityTypes.invoke_response,
            value=InvokeResponse(status=200, body=body),
        )
    )
