"""/healthz and /metrics on the real server."""

from __future__ import annotations

import aiohttp

from bot.localstack import LocalStack
from tests.slack.conftest import (
    DANA,
    NINA,
    card_for,
    submit_directly,
    wait_until_delivered,
)


async def get(stack: LocalStack, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(stack.url + path) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_healthz_ok(stack: LocalStack) -> None:
    status, _, body = await get(stack, "/healthz")
    assert status == 200
    assert '"database": "ok"' in body


async def test_healthz_database_unreachable(stack: LocalStack) -> None:
    def fail() -> None:
        raise ConnectionError("database is down")

    stack.services.db.ping = fail  # type: ignore[method-assign]
    status, _, body = await get(stack, "/healthz")
    assert status == 503
    assert '"database": "unreachable"' in body


async def test_metrics_is_prometheus_text(stack: LocalStack) -> None:
    status, content_type, body = await get(stack, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert "# TYPE cosigner_outbox_rows gauge" in body


async def test_metrics_count_commands(stack: LocalStack) -> None:
    await stack.sender.slash_command(NINA, "help")
    await stack.sender.slash_command(NINA, "status")
    _, _, body = await get(stack, "/metrics")
    assert "# TYPE cosigner_slack_commands_total counter" in body
    assert 'cosigner_slack_commands_total{subcommand="help"} 1' in body
    assert 'cosigner_slack_commands_total{subcommand="status"} 1' in body


async def test_metrics_count_decisions(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_approve")
    _, _, body = await get(stack, "/metrics")
    assert 'cosigner_slack_clicks_total{action="approve"} 1' in body
    assert 'cosigner_decisions_total{outcome="done"} 1' in body


async def test_metrics_count_deliveries(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    await wait_until_delivered(stack, request_id)
    _, _, body = await get(stack, "/metrics")
    assert 'cosigner_deliveries_total{result="sent"}' in body
    assert 'cosigner_outbox_rows{status="sent"} 2' in body


async def test_metrics_count_rejected_requests(stack: LocalStack) -> None:
    await stack.sender.with_options(team_id="T0OTHER").slash_command(NINA, "help")
    _, _, body = await get(stack, "/metrics")
    assert 'cosigner_slack_rejected_total{reason="team"} 1' in body
