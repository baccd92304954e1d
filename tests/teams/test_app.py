"""The /api/messages endpoint: authentication modes, tenants and malformed requests."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.settings import ConfigurationError, Settings
from handlers.teams.app import build_connections
from tests.teams.client import TENANT_ID
from tests.teams.conftest import DANA, TeamsWorld

OTHER_TENANT = "11111111-2222-3333-4444-555555555555"


def _settings(**values: object) -> Settings:
    fields: dict[str, object] = {
        "TEAMS_CLIENT_ID": "",
        "TEAMS_CLIENT_SECRET": "",
        "TEAMS_TENANT_ID": "",
        "COSIGNER_TEAMS_DEV": False,
        "_env_file": None,
    }
    fields.update(values)
    return Settings(**fields)  # type: ignore[arg-type]


async def _post(world: TeamsWorld, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{world.teams.bot_url}/api/messages", data=body, headers=headers) as response,
    ):
        return response.status


def test_dev_mode_allows_anonymous() -> None:
    configuration, connections = build_connections(_settings(COSIGNER_TEAMS_DEV=True))

    assert configuration.ANONYMOUS_ALLOWED is True
    assert connections.get_default_connection_configuration() is configuration


def test_azure_mode_uses_msal() -> None:
    settings = _settings(
        TEAMS_CLIENT_ID="b1f0c2d4-0000-4000-8000-000000000001",
        TEAMS_CLIENT_SECRET="test-secret",
        TEAMS_TENANT_ID=TENANT_ID,
        COSIGNER_TEAMS_DEV=True,
    )

    configuration, connections = build_connections(settings)

    assert configuration.ANONYMOUS_ALLOWED is False
    assert configuration.CLIENT_ID == "b1f0c2d4-0000-4000-8000-000000000001"
    assert configuration.TENANT_ID == TENANT_ID
    assert type(connections).__name__ == "MsalConnectionManager"


def test_client_id_without_secret_rejected() -> None:
    settings = _settings(TEAMS_CLIENT_ID="b1f0c2d4-0000-4000-8000-000000000001")

    with pytest.raises(ConfigurationError) as caught:
        build_connections(settings)

    assert "TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID missing" in str(caught.value)


def test_no_teams_settings_rejected() -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_connections(_settings())

    assert "TEAMS_CLIENT_ID is missing" in str(caught.value)


async def test_malformed_authorization_refused(world: TeamsWorld) -> None:
    activity = world.teams.activity(DANA, "message", text="help")
    body = json.dumps(activity).encode()

    status = await _post(
        world, body, {"Content-Type": "application/json", "Authorization": "Basic abc"}
    )

    assert status == 401
    assert world.connector.messages == []


async def test_invalid_json_refused(world: TeamsWorld) -> None:
    status = await _post(world, b"{not json", {"Content-Type": "application/json"})

    assert status == 400


async def test_other_routes_need_no_token(world: TeamsWorld) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.teams.bot_url}/healthz") as response,
    ):
        assert response.status == 200


async def test_other_tenant_ignored(world: TeamsWorld) -> None:
    world.services.settings.teams_tenant_id = OTHER_TENANT

    replies = await world.teams.say(DANA, "help")

    assert replies == []
    assert world.services.people.by_account("teams", DANA.id) is None


async def test_served_tenant_answered(world: TeamsWorld) -> None:
    world.services.settings.teams_tenant_id = TENANT_ID

    replies = await world.teams.say(DANA, "help")

    assert len(replies) == 1
