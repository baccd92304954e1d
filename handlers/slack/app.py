"""Assemble the Bolt app: listeners, the team check and event de-duplication."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.metrics import Metrics
from bot.services import Services
from handlers.slack import actions, commands, events, invitations, views
from handlers.slack.context import SlackContext
from handlers.slack.identity import SlackIdentity
from storage.models import ProcessedEvent

log = logging.getLogger(__name__)


class _IgnoreTokenWithClientWarning(logging.Filter):
    """Drop Bolt's warning that SLACK_BOT_TOKEN is unused when a client is given.

    Bolt reads SLACK_BOT_TOKEN from the environment by itself; Cosigner passes a client
    built from the same token, so the warning says nothing useful.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be unused" not in record.getMessage()


def build_slack_app(
    services: Services,
    client: AsyncWebClient,
    *,
    metrics: Metrics,
    wake_delivery: Callable[[], None] = lambda: None,
) -> AsyncApp:
    """Build the Bolt app. The Web API client decides where every call goes (SLACK_API_URL)."""
    settings = services.settings
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _IgnoreTokenWithClientWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_IgnoreTokenWithClientWarning())
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # The response leaves when the listener returns, so a decision is committed
        # before Slack hears the ack; deliveries run afterwards from the outbox.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    ctx = SlackContext(
        services=services,
        identity=SlackIdentity(services.people),
        metrics=metrics,
        wake_delivery=wake_delivery,
    )
    allowed_teams = set(settings.team_ids)

    @app.middleware
    async def check_team(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        team_id = req.context.team_id
        enterprise_only = team_id is None and req.context.enterprise_id is not None
        authorized = req.context.authorize_result
        allowed: set[str | None] = set(allowed_teams) or {
            authorized.team_id if authorized else None
        }
        if (team_id is not None and team_id not in allowed) or enterprise_only:
            log.warning("request from a workspace this bot does not serve team=%s", team_id)
            metrics.inc("cosigner_slack_rejected_total", reason="team")
            return BoltResponse(status=403, body="This workspace is not served by this bot.")
        return await next()

    @app.middleware
    async def skip_redelivered_events(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await asyncio.to_thread(_first_sight, services, f"slack:{event_id}"):
            log.info("skipping a redelivered event event=%s", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.exception("Slack listener failed type=%s", body.get("type"), exc_info=error)
        metrics.inc("cosigner_slack_errors_total")

    commands.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    events.register(app, ctx)
    invitations.register(app, ctx)
    return app


def _first_sight(services: Services, key: str) -> bool:
    """Record an event id; return False when it was recorded before."""
    with services.db.transaction() as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        # RETURNING shows whether the row was inserted. Through the ORM session, rowcount
        # is -1 on PostgreSQL (psycopg 3) both when the row is inserted and on a conflict.
        inserted = session.execute(
            insert(ProcessedEvent)
            .values(event_key=key, created_at=dt.datetime.now(dt.UTC))
            .on_conflict_do_nothing(index_elements=["event_key"])
            .returning(ProcessedEvent.event_key)
        ).first()
        return inserted is not None
