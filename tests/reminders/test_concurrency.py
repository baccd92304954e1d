"""Two processes sweeping at the same instant, each with its own engine and connections."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.digest import queue_daily_digest
from bot.reminders import SweepReport, run_sweep
from bot.services import Services
from bot.settings import Settings
from storage.models import AuditEntry
from tests.reminders.conftest import Office, chicago, new_york


def race(settings: Settings, at: dt.datetime) -> list[tuple[SweepReport, dt.date | None]]:
    """Run a sweep and the digest check in two threads released at the same moment."""
    barrier = threading.Barrier(2)
    results: list[tuple[SweepReport, dt.date | None]] = []
    errors: list[BaseException] = []

    def tick() -> None:
        services = Services.build(settings, clock=FixedClock(at), migrate=False)
        try:
            barrier.wait(timeout=30)
            results.append((run_sweep(services), queue_daily_digest(services)))
        except BaseException as error:
            errors.append(error)
        finally:
            services.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 2
    return results


def test_two_processes_act_once(office: Office, settings: Settings) -> None:
    requests = [
        office.submit(office.riverbend, new_york(2026, 12, 2, 10, minute)) for minute in range(3)
    ]
    stale = office.submit(office.lakeside, chicago(2026, 11, 2, 9, 0))
    days = [
        new_york(2026, 12, 3, 10, 5),
        new_york(2026, 12, 4, 10, 5),
        new_york(2026, 12, 7, 10, 5),
    ]

    reports: list[Any] = []
    for at in days:
        reports += race(settings, at)

    keys = Counter((row.person_id, row.dedupe_key) for row in office.reminders())
    assert all(count == 1 for count in keys.values())
    for person_id in (office.dana, office.marcus):
        rows = office.reminders_to(person_id)
        assert [row.payload["request_ids"] for row in rows] == [requests] * 3
    assert sum(len(report.reminders) for report, _ in reports) == len(office.reminders())

    escalations = office.escalations()
    assert sorted(row.request_id for row in escalations) == sorted(requests)
    for row in escalations:
        assert [entry["reminders"] for entry in row.payload["reminded"]] == [3, 3]

    digests = office.outbox("digest")
    assert sorted(row.dedupe_key for row in digests) == [
        "digest:2026-12-03:slack",
        "digest:2026-12-04:slack",
        "digest:2026-12-07:slack",
    ]
    assert sum(1 for _, queued in reports if queued is not None) == 3

    assert [rid for report, _ in reports for rid in report.expired] == [stale]
    with office.services.db.transaction() as session:
        expired_entries = session.scalar(
            select(func.count()).where(
                AuditEntry.request_id == stale, AuditEntry.action == "request.expired"
            )
        )
    assert expired_entries == 1


def _start_tick(settings: Settings, slack_api_url: str, *arguments: str) -> Any:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "COSIGNER_", "DATABASE_"))
    }
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "SLACK_BOT_TOKEN": "xoxb-local",
            "SLACK_SIGNING_SECRET": "local-signing-secret",
            "SLACK_API_URL": slack_api_url,
            "COSIGNER_ADMIN_CHANNEL": "C0ADMINS",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *arguments],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_real_processes_send_once(
    office: Office, settings: Settings, database_url: str
) -> None:
    """Two `cosigner` processes tick at once on PostgreSQL: each message goes out once."""
    import pytest

    from handlers.slack.localslack import LocalSlack, LocalSlackThread

    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share one database only on PostgreSQL")
    requests = [
        office.submit(office.riverbend, new_york(2026, 12, 2, 10, minute)) for minute in range(3)
    ]
    local = LocalSlack(bot_token="xoxb-local")
    local.add_channel("C0ADMINS", "cosigner-admins")
    local.add_user("U0DANA", "dana", "dana.whitfield@riverbend.example")
    local.add_user("U0MARCUS", "marcus", "marcus.lee@riverbend.example")
    with LocalSlackThread(local) as running:
        at = "2026-12-03T10:05:00-05:00"
        for arguments in (("reminders", "run", "--at", at), ("digest", "--send", "--at", at)):
            processes = [_start_tick(settings, running.api_url, *arguments) for _ in range(2)]
            outputs = [process.communicate(timeout=120)[0] for process in processes]
            assert [process.returncode for process in processes] == [0, 0], outputs

        reminders = Counter(
            message.channel
            for message in local.messages()
            if message.channel != "C0ADMINS"
            and all(request_id in str(message.blocks) for request_id in requests)
        )
        digests = [m for m in local.messages("C0ADMINS") if m.thread_ts is None]

    assert sorted(reminders) == sorted(
        [local.dm_channel_id("U0DANA"), local.dm_channel_id("U0MARCUS")]
    )
    assert set(reminders.values()) == {1}
    assert len(digests) == 1
    assert len(office.reminders()) == 2
    assert len(office.outbox("digest")) == 1
