"""Cosigner's real web server wired to a local Slack on loopback, for the demo and tests.

Everything here is the production path (Bolt over HTTP with signed requests, the
database, the outbox and the Slack transport); only Slack itself is the local one.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.clock import Clock
from bot.server import Runtime, build_runtime, create_web_app
from bot.services import Services
from bot.settings import Settings
from handlers.slack.localslack import LocalSlack, SlackEventSender
from storage.models import OutboxMessage

SIGNING_SECRET = "local-signing-secret"
BOT_TOKEN = "xoxb-local"
TEAM_ID = "T0LOCAL"
ADMIN_CHANNEL = "C0ADMINS"


@dataclass
class LocalStack:
    """A running Cosigner server and the local Slack it talks to."""

    database_url: str
    clock: Clock | None = None
    run_delivery: bool = True
    local_slack_options: dict[str, Any] = field(default_factory=dict)
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    # Seconds between posts to one channel; the tests shorten Slack's one second.
    post_interval: float | None = 0.0

    slack: LocalSlack = field(init=False)
    services: Services = field(init=False)
    runtime: Runtime = field(init=False)
    sender: SlackEventSender = field(init=False)
    url: str = field(init=False)
    _runner: web.AppRunner | None = field(init=False, default=None)

    async def start(self) -> LocalStack:
        self.slack = LocalSlack(bot_token=BOT_TOKEN, team_id=TEAM_ID, **self.local_slack_options)
        await self.slack.start()
        self.slack.add_channel(ADMIN_CHANNEL, "cosigner-admins")
        values: dict[str, Any] = {
            "DATABASE_URL": self.database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "COSIGNER_ADMIN_CHANNEL": ADMIN_CHANNEL,
            "COSIGNER_DELIVERY_INTERVAL": 0.2,
        }
        values.update(self.settings_overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        self.services = Services.build(settings, clock=self.clock)
        self.runtime = build_runtime(
            self.services, run_delivery=self.run_delivery, post_interval=self.post_interval
        )
        app = create_web_app(self.runtime)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.sender = SlackEventSender(f"{self.url}/slack/events", SIGNING_SECRET, self.slack)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self.services.close()
        await self.slack.stop()

    async def __aenter__(self) -> LocalStack:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def deliver(self, timeout: float = 10.0) -> int:
        """Deliver everything due in the outbox now; return the number of rows handled here.

        Also waits for rows that the background delivery loop has claimed and is still
        sending, so that a test which then moves the clock past their lease cannot make
        them look abandoned and send them twice.
        """
        handled = await self.runtime.deliverer.drain()
        deadline = asyncio.get_running_loop().time() + timeout
        while await asyncio.to_thread(self._rows_in_flight):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"outbox rows still in flight after {timeout} s")
            await asyncio.sleep(0.02)
            handled += await self.runtime.deliverer.drain()
        return handled

    def _rows_in_flight(self) -> int:
        now = self.services.clock.now()
        with self.services.db.read() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending", OutboxMessage.lease_until > now)
                )
                or 0
            )
