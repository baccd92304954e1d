"""The scheduler: APScheduler 3 jobs that tick the reminder sweep and the daily digest.

Jobs only tick. Everything they decide is read from and claimed in the database
(see bot.reminders and bot.digest), so a restart loses nothing and any number of
processes may run a scheduler side by side. The jobs run the blocking database work
in a worker thread and wake the outbox deliverer when they queued something.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import Mapping

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.calendar import zone
from bot.delivery import Deliverer, Transport
from bot.digest import parse_digest_time, queue_daily_digest
from bot.reminders import run_sweep
from bot.services import Services
from bot.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

SWEEP_JOB = "reminder-sweep"
DIGEST_JOB = "daily-digest"
# How often the digest job checks whether today's digest is due, in seconds.
DIGEST_CHECK_SECONDS = 60


def check_schedule_settings(settings: Settings) -> None:
    """Raise ConfigurationError if the digest time or timezone cannot be used."""
    try:
        parse_digest_time(settings.digest_time)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    try:
        zone(settings.digest_timezone)
    except ValueError as error:
        raise ConfigurationError(f"COSIGNER_DIGEST_TIMEZONE: {error}") from None


async def sweep_tick(services: Services, deliverer: Deliverer | None) -> None:
    """Run one reminder sweep and wake the deliverer if it queued anything."""
    try:
        report = await asyncio.to_thread(run_sweep, services)
    except Exception:
        # For example a lost database connection. The next tick tries again.
        log.exception("reminder sweep failed")
        return
    if deliverer is not None and (report.queued_messages or report.expired):
        deliverer.wake.set()


async def digest_tick(services: Services, deliverer: Deliverer | None) -> None:
    """Queue today's digest if it is due and not queued yet, and wake the deliverer."""
    try:
        queued = await asyncio.to_thread(queue_daily_digest, services)
    except Exception:
        log.exception("daily digest failed")
        return
    if deliverer is not None and queued is not None:
        deliverer.wake.set()


def build_scheduler(
    services: Services,
    deliverer: Deliverer | None,
    *,
    settings: Settings | None = None,
) -> AsyncIOScheduler:
    """Build a scheduler with the sweep and digest jobs; the caller starts and stops it.

    Call `start()` from inside the running event loop. Both jobs run once right after
    the start and then at their intervals. A job still running when its next run is
    due makes APScheduler skip that run, so runs never pile up. Raises
    ConfigurationError if the digest settings are invalid.
    """
    settings = settings or services.settings
    check_schedule_settings(settings)
    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    job_options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    scheduler.add_job(
        sweep_tick,
        "interval",
        seconds=settings.sweep_interval_seconds,
        args=[services, deliverer],
        id=SWEEP_JOB,
        name="reminders, escalations and expiry",
        next_run_time=now,
        **job_options,
    )
    scheduler.add_job(
        digest_tick,
        "interval",
        seconds=DIGEST_CHECK_SECONDS,
        args=[services, deliverer],
        id=DIGEST_JOB,
        name="daily digest",
        next_run_time=now,
        **job_options,
    )
    return scheduler


async def run_scheduler(
    services: Services,
    transports: Mapping[str, Transport],
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the scheduler and the outbox deliverer until `stop` is set or SIGINT/SIGTERM.

    With no transports, nothing is delivered here and queued messages wait in the
    outbox for a process that delivers them (`cosigner serve`).
    """
    settings = services.settings
    stop = stop or asyncio.Event()
    deliverer = None
    if transports:
        deliverer = Deliverer(
            services.db,
            services.clock,
            transports,
            lease_seconds=settings.outbox_lease_seconds,
        )
    scheduler = build_scheduler(services, deliverer, settings=settings)

    loop = asyncio.get_running_loop()
    # Outside the main thread, or on a platform without signal handlers, only `stop` works.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, stop.set)

    scheduler.start()
    delivery = None
    if deliverer is not None:
        delivery = asyncio.create_task(deliverer.run_forever(settings.delivery_interval_seconds))
    log.info(
        "scheduler started sweep_interval=%ss digest_time=%s digest_timezone=%s delivery=%s",
        settings.sweep_interval_seconds,
        settings.digest_time,
        settings.digest_timezone,
        ",".join(transports) or "off",
    )
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        if deliverer is not None and delivery is not None:
            deliverer.stop()
            await delivery
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal_number)
        log.info("scheduler stopped")
