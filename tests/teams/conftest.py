"""Fixtures of the Teams tests: the real web app on loopback, a local Bot Connector and Slack.

The bot runs as `cosigner serve` builds it (build_runtime and create_web_app) with
COSIGNER_TEAMS_DEV=1, so /api/messages accepts activities without a token and the SDK
requests no token from Microsoft Entra ID. Delivery does not run in the background: tests
call `deliver()` to send what the outbox holds.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import DeliveryStore
from bot.server import Runtime, build_runtime, create_web_app
from bot.services import Services
from bot.settings import Settings
from handlers.slack.localslack import LocalSlack, SlackEventSender
from tests.core.support import LAKESIDE_NPI, RIVERBEND_NPI, organization_id
from tests.teams.client import TeamsClient, TeamsUser
from tests.teams.connector import LocalConnector

SLACK_TOKEN = "xoxb-test"
SIGNING_SECRET = "test-signing-secret"
ADMIN_CONVERSATION = "19:cosigner-admins@thread.tacv2"

# People of the sample roster as Teams users, and a nurse with no role anywhere.
DANA = TeamsUser("dana", "Dana Whitfield", "dana.whitfield@riverbend.example")
MARCUS = TeamsUser("marcus", "Marcus Lee", "marcus.lee@riverbend.example")
PRIYA = TeamsUser("priya", "Priya Raman", "priya.raman@lakeside.example")
NINA = TeamsUser("nina", "Nina Ortiz", "nina.ortiz@riverbend.example")
OPS = TeamsUser("ops", "Operations Admin", "ops@example.org")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and fail the test on, any name lookup of a host other than loopback.

    In anonymous mode the Agents SDK must not call Microsoft Entra ID or the Bot
    Framework. Every call goes to a server that these tests start on 127.0.0.1.
    """
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name) not in LOOPBACK_HOSTS:
            attempts.append(str(name))
            raise OSError(f"the Teams tests stay on loopback; a lookup of {name} was refused")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield attempts
    assert attempts == [], f"the tests tried to reach {sorted(set(attempts))}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        COSIGNER_ADMIN_CHANNEL="C0ADMINS",
        COSIGNER_TEAMS_DEV=True,
        COSIGNER_TEAMS_ADMIN_CONVERSATION=ADMIN_CONVERSATION,
        # Empty values override anything the machine's environment sets.
        TEAMS_CLIENT_ID="",
        TEAMS_CLIENT_SECRET="",
        TEAMS_TENANT_ID="",
        _env_file=None,  # type: ignore[call-arg]
    )


@dataclass
class TeamsWorld:
    services: Services
    runtime: Runtime
    connector: LocalConnector
    teams: TeamsClient
    slack: LocalSlack
    slack_sender: SlackEventSender
    riverbend: int
    lakeside: int

    async def deliver(self) -> int:
        """Deliver every outbox row that is due now, on both platforms."""
        return await self.runtime.deliverer.drain()

    def stored_conversation(self, person_id: int) -> dict[str, Any] | None:
        """Return the Teams conversation reference stored for a person."""
        store = DeliveryStore(self.services.db, self.services.clock)
        return store.account_conversation("teams", person_id)

    def person_id(self, email: str) -> int:
        person = self.services.people.by_email(email)
        assert person is not None, f"no person has email {email}"
        return person.id


@pytest.fixture
async def world(roster: Services) -> AsyncIterator[TeamsWorld]:
    slack = LocalSlack(bot_token=SLACK_TOKEN)
    await slack.start()
    connector = LocalConnector()
    await connector.start()

    client = AsyncWebClient(token=SLACK_TOKEN, base_url=slack.api_url)
    runtime = build_runtime(roster, slack_client=client, run_delivery=False, post_interval=0.0)
    runner = web.AppRunner(create_web_app(runtime), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    teams = TeamsClient(bot_url, connector)
    for user in (DANA, MARCUS, PRIYA, NINA, OPS):
        teams.join(user)
    try:
        yield TeamsWorld(
            services=roster,
            runtime=runtime,
            connector=connector,
            teams=teams,
            slack=slack,
            slack_sender=SlackEventSender(f"{bot_url}/slack/events", SIGNING_SECRET, slack),
            riverbend=organization_id(roster, RIVERBEND_NPI),
            lakeside=organization_id(roster, LAKESIDE_NPI),
        )
        assert not connector.invalid_cards, "the bot sent invalid cards:\n" + "\n\n".join(
            connector.invalid_cards
        )
    finally:
        await runner.cleanup()
        await connector.stop()
        await slack.stop()
