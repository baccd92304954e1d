"""The web server: Slack at /slack/events, Teams at /api/messages, /healthz and /metrics.

This module is a composition root: it is one of the two places in bot/ that import
the front ends in handlers/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.delivery import Deliverer, DeliveryStore, Transport
from bot.metrics import Metrics
from bot.services import Services
from bot.settings import Settings
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

RUNTIME_KEY: web.AppKey[Runtime] = web.AppKey("cosigner_runtime")


@dataclass
class Runtime:
    """Everything one server process runs."""

    services: Services
    metrics: Metrics
    slack_client: AsyncWebClient
    bolt: AsyncApp
    deliverer: Deliverer
    run_delivery: bool = True
    run_scheduler: bool = False
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    scheduler: Any = None


def slack_client_for(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)


def build_runtime(
    services: Services,
    *,
    slack_client: AsyncWebClient | None = None,
    run_delivery: bool = True,
    run_scheduler: bool = False,
    worker_id: str | None = None,
    post_interval: float | None = None,
) -> Runtime:
    from handlers.slack.app import build_slack_app
    from handlers.slack.transport import SlackTransport

    settings = services.settings
    metrics = Metrics()
    client = slack_client or slack_client_for(settings)
    store = DeliveryStore(services.db, services.clock, tuple(services.workflow.config.platforms))
    slack = (
        SlackTransport(client, store)
        if post_interval is None
        else SlackTransport(client, store, post_interval=post_interval)
    )
    transports: dict[str, Transport] = {"slack": slack}
    deliverer = Deliverer(
        services.db,
        services.clock,
        transports,
        worker_id=worker_id,
        lease_seconds=settings.outbox_lease_seconds,
    )
    bolt = build_slack_app(services, client, metrics=metrics, wake_delivery=deliverer.wake.set)
    _register_gauges(metrics, services, deliverer)
    return Runtime(
        services=services,
        metrics=metrics,
        slack_client=client,
        bolt=bolt,
        deliverer=deliverer,
        run_delivery=run_delivery,
        run_scheduler=run_scheduler,
    )


def _register_gauges(metrics: Metrics, services: Services, deliverer: Deliverer) -> None:
    def outbox_rows() -> dict[tuple[tuple[str, str], ...], float]:
        counts: dict[tuple[tuple[str, str], ...], float] = {
            (("status", status),): 0.0 for status in ("pending", "sent", "failed")
        }
        with services.db.read() as session:
            rows = session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            for status, count in rows:
                counts[(("status", str(status)),)] = float(count)
        return counts

    def delivered() -> dict[tuple[tuple[str, str], ...], float]:
        stats = deliverer.stats
        return {
            (("result", "sent"),): float(stats.sent),
            (("result", "retried"),): float(stats.retried),
            (("result", "failed"),): float(stats.failed),
        }

    metrics.gauge("cosigner_outbox_rows", outbox_rows, "Outbox rows by status.")
    # Counters that alerts watch exist from the start, at zero.
    metrics.inc("cosigner_database_errors_total", 0)
    metrics.describe(
        "cosigner_database_errors_total", "Clicks and commands that failed on the database."
    )
    metrics.inc("cosigner_slack_errors_total", 0)
    metrics.describe("cosigner_slack_errors_total", "Slack listeners that raised.")
    metrics.gauge(
        "cosigner_deliveries_total",
        delivered,
        "Deliveries by result since this process started.",
        metric_type="counter",
    )


def create_web_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[RUNTIME_KEY] = runtime
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    _mount_teams(app, runtime)
    app.on_startup.append(_start_background)
    app.on_cleanup.append(_stop_background)
    return app


def _mount_teams(app: web.Application, runtime: Runtime) -> None:
    if not runtime.services.settings.teams_enabled:
        return
    try:
        from handlers.teams.app import mount_teams
    except ImportError:
        log.warning("Teams settings are present but the Teams front end is not installed")
        return
    mount_teams(app, runtime)


async def slack_events(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    started = time.perf_counter()
    bolt_request = await to_bolt_request(request)
    bolt_response = await runtime.bolt.async_dispatch(bolt_request)
    runtime.metrics.inc("cosigner_slack_requests_total", status=str(bolt_response.status))
    runtime.metrics.inc("cosigner_slack_request_seconds_sum", time.perf_counter() - started)
    return await to_aiohttp_response(bolt_response)


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    try:
        await asyncio.wait_for(asyncio.to_thread(runtime.services.db.ping), timeout=5)
    except Exception as error:  # any failure means not healthy; say which
        log.warning("health check failed: %s", error)
        return web.json_response({"status": "unhealthy", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME_KEY]
    text = await asyncio.to_thread(runtime.metrics.render)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def _start_background(app: web.Application) -> None:
    runtime = app[RUNTIME_KEY]
    if runtime.run_delivery:
        interval = runtime.services.settings.delivery_interval_seconds
        runtime.tasks.append(asyncio.create_task(runtime.deliverer.run_forever(interval)))
    if runtime.run_scheduler:
        from bot.scheduler import build_scheduler

        runtime.scheduler = build_scheduler(
            runtime.services, runtime.deliverer, settings=runtime.services.settings
        )
        runtime.scheduler.start()


async def _stop_background(app: web.Application) -> None:
    runtime = app[RUNTIME_KEY]
    if runtime.scheduler is not None:
        runtime.scheduler.shutdown(wait=False)
    runtime.deliverer.stop()
    for task in runtime.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve(settings: Settings, *, scheduler: bool = True) -> int:
    """Run `cosigner serve` until SIGINT or SIGTERM."""
    settings.require_slack()
    if not settings.admin_channel:
        log.warning(
            "COSIGNER_ADMIN_CHANNEL is not set: escalations, alerts and the daily digest "
            "have nowhere to go until it is"
        )
    services = Services.build(settings)
    runtime = build_runtime(services, run_scheduler=scheduler)
    try:
        asyncio.run(_serve(runtime, settings))
    finally:
        services.close()
    return 0


async def _serve(runtime: Runtime, settings: Settings) -> None:
    app = create_web_app(runtime)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_handler = None
    if settings.slack_app_token:
        # NOTE: Socket Mode needs Slack's servers and is not exercised by the tests here.
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(runtime.bolt, settings.slack_app_token)
        await socket_handler.connect_async()
        log.info("Slack connected in Socket Mode")
    log.info(
        "cosigner serving on http://%s:%d (Slack at /slack/events, scheduler %s)",
        settings.host,
        settings.port,
        "on" if runtime.run_scheduler else "off",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("cosigner stopping")
    if socket_handler is not None:
        await socket_handler.close_async()
    await runner.cleanup()
