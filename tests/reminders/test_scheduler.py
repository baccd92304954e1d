from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.delivery import Deliverer
from bot.scheduler import (
    DIGEST_JOB,
    SWEEP_JOB,
    build_scheduler,
    digest_tick,
    run_scheduler,
    sweep_tick,
)
from bot.settings import ConfigurationError, Settings
from tests.reminders.conftest import Office, new_york


def test_scheduler_has_sweep_and_digest_jobs(office: Office) -> None:
    scheduler = build_scheduler(office.services, None, settings=office.services.settings)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {SWEEP_JOB, DIGEST_JOB}
    assert jobs[SWEEP_JOB].trigger.interval == dt.timedelta(seconds=300)
    assert jobs[DIGEST_JOB].trigger.interval == dt.timedelta(seconds=60)
    assert jobs[SWEEP_JOB].max_instances == 1


def test_invalid_digest_time_rejected(office: Office, settings: Settings) -> None:
    broken = settings.model_copy(update={"digest_time": "8am"})

    with pytest.raises(ConfigurationError, match="COSIGNER_DIGEST_TIME '8am' is invalid"):
        build_scheduler(office.services, None, settings=broken)


async def test_ticks_queue_and_wake_deliverer(office: Office) -> None:
    office.submit(office.riverbend, new_york(2026, 12, 2, 10, 0))
    deliverer = Deliverer(office.services.db, office.clock, {})

    office.clock.set(new_york(2026, 12, 3, 8, 30))
    await digest_tick(office.services, deliverer)
    assert deliverer.wake.is_set()
    assert len(office.outbox("digest")) == 1

    deliverer.wake.clear()
    office.clock.set(new_york(2026, 12, 3, 10, 0))
    await sweep_tick(office.services, deliverer)
    assert deliverer.wake.is_set()
    assert len(office.reminders()) == 2

    deliverer.wake.clear()
    await sweep_tick(office.services, deliverer)
    await digest_tick(office.services, deliverer)
    assert not deliverer.wake.is_set()


async def test_run_scheduler_stops_when_asked(office: Office) -> None:
    stop = asyncio.Event()
    stop.set()

    await asyncio.wait_for(run_scheduler(office.services, {}, stop=stop), timeout=10)
