from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from handlers.slack.localslack import LocalSlack, LocalSlackThread
from tests.reminders.conftest import Office, new_york


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> pytest.MonkeyPatch:
    """Point the CLI at the test database, with no .env file and no Slack token."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COSIGNER_ADMIN_CHANNEL", "C0ADMINS")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    return monkeypatch


def test_digest_print_at_time(
    office: Office, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    code = main(["digest", "--print", "--at", "2026-12-03T08:00-05:00"])

    output = capsys.readouterr().out
    assert code == 0
    assert "Cosigner digest for Thursday 3 December 2026" in output
    assert "as of 2026-12-03 08:00 EST" in output
    assert "Pending: 1 request(s) in 1 organization(s)" in output
    assert request_id in output


def test_digest_print_reads_naive_time_in_digest_timezone(
    office: Office, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["digest", "--print", "--at", "2026-12-03T08:00"]) == 0

    assert "as of 2026-12-03 08:00 EST" in capsys.readouterr().out


def test_digest_needs_print(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["digest"]) == 2

    assert "--print" in capsys.readouterr().err


def test_invalid_at_rejected(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reminders", "run", "--at", "next tuesday"]) == 2

    assert "'next tuesday' is not an ISO 8601 time" in capsys.readouterr().err


def test_reminders_run_without_token(
    office: Office, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))

    code = main(["reminders", "run", "--at", "2026-12-03T10:00-05:00"])

    output = capsys.readouterr().out
    assert code == 0
    assert "2 reminder(s) queued covering 1 request(s)" in output
    assert "delivery skipped: SLACK_BOT_TOKEN is not set" in output
    reminded = {row.person_id: row.payload["request_ids"] for row in office.reminders()}
    assert reminded == {office.dana: [request_id], office.marcus: [request_id]}
    assert {row.status for row in office.reminders()} == {"pending"}


def test_reminders_run_delivers_to_slack(
    office: Office, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    local = LocalSlack()
    local.add_user("U0DANA", "dana", "dana.whitfield@riverbend.example")
    local.add_user("U0MARCUS", "marcus", "marcus.lee@riverbend.example")

    with LocalSlackThread(local) as running:
        cli_env.setenv("SLACK_BOT_TOKEN", local.bot_token)
        cli_env.setenv("SLACK_API_URL", running.api_url)
        first = main(["reminders", "run", "--at", "2026-12-03T10:00-05:00"])
        second = main(["reminders", "run", "--at", "2026-12-03T11:00-05:00"])

    output = capsys.readouterr().out
    assert first == 0
    assert second == 0
    assert "delivered" in output
    assert {row.status for row in office.reminders()} == {"sent"}
    for user_id in ("U0DANA", "U0MARCUS"):
        reminders = [
            message
            for message in local.dm_messages(user_id)
            if message.text == "1 access request waiting for your decision"
        ]
        assert len(reminders) == 1, user_id
        assert request_id in str(reminders[0].blocks)
