"""CLI commands for reminders, the digest and the scheduler.

`cosigner reminders run` and `cosigner digest --print` take `--at` to act as of
another time, which moves the clock of everything they call, so a sweep as of a
past or future moment behaves as the scheduler would at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import sys
from typing import Any

from sqlalchemy import func, select

from bot.calendar import zone
from bot.clock import Clock, FixedClock
from bot.delivery import Deliverer, DeliveryStore, Transport
from bot.digest import build_digest, format_digest_text, queue_daily_digest
from bot.reminders import SweepReport, run_sweep
from bot.services import Services
from bot.settings import ConfigurationError
from bot.workflow import Workflow
from storage.models import OutboxMessage

AT_HELP = (
    "act as of this time instead of now, as ISO 8601 (2026-12-03T10:00-05:00); "
    "a time without an offset is read in COSIGNER_DIGEST_TIMEZONE"
)


def add_schedule_commands(commands: Any) -> None:
    reminders = commands.add_parser(
        "reminders", help="run the reminder sweep: expiry, reminders and escalations"
    )
    actions = reminders.add_subparsers(dest="reminders_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run", help="run one sweep and deliver what it queued (Slack, with SLACK_BOT_TOKEN)"
    )
    run.add_argument("--at", metavar="ISO-TIME", help=AT_HELP)

    digest = commands.add_parser("digest", help="show the admins' daily digest")
    digest.add_argument(
        "--print", dest="print_digest", action="store_true", help="print the digest as text"
    )
    digest.add_argument(
        "--send",
        action="store_true",
        help="queue today's digest for the admin channel unless it was already queued today "
        "or it is before COSIGNER_DIGEST_TIME, then deliver it (Slack, with SLACK_BOT_TOKEN)",
    )
    digest.add_argument("--at", metavar="ISO-TIME", help=AT_HELP)

    commands.add_parser(
        "scheduler",
        help="run reminders, the daily digest and Slack delivery without the web server",
    )


def run_schedule_command(args: argparse.Namespace, services: Services) -> int:
    if args.command == "reminders":
        return run_reminders(args, services)
    if args.command == "digest":
        return run_digest(args, services)
    if args.command == "scheduler":
        return run_scheduler_command(services)
    print(f"error: unknown command {args.command!r}: see `cosigner --help`", file=sys.stderr)
    return 2


def parse_at(text: str | None, timezone: str) -> dt.datetime | None:
    """Parse --at; raise ValueError with the fix if it is not an ISO 8601 time."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--at {text!r} is not an ISO 8601 time: use a time such as 2026-12-03T10:00-05:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment.astimezone(dt.UTC)


def services_at(services: Services, at: dt.datetime | None) -> Services:
    """Return services whose clock shows `at`, or the services themselves for None."""
    if at is None:
        return services
    clock = FixedClock(at)
    workflow = Workflow(services.db, clock, services.workflow.config)
    return dataclasses.replace(services, clock=clock, workflow=workflow)


def _parse_at_or_report(args: argparse.Namespace, services: Services) -> tuple[bool, Services]:
    try:
        at = parse_at(args.at, services.settings.digest_timezone)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return False, services
    return True, services_at(services, at)


def run_reminders(args: argparse.Namespace, services: Services) -> int:
    ok, services = _parse_at_or_report(args, services)
    if not ok:
        return 2
    report = run_sweep(services)
    print(describe_sweep(report, services.settings.digest_timezone))
    return deliver_queued(services)


def describe_sweep(report: SweepReport, timezone: str) -> str:
    local = report.as_of.astimezone(zone(timezone))
    return (
        f"sweep as of {local:%Y-%m-%d %H:%M %Z}: "
        f"{len(report.reminders)} reminder(s) queued covering {report.reminded_requests} "
        f"request(s), {len(report.escalations)} escalation(s), "
        f"{len(report.expired)} request(s) expired, "
        f"{len(report.invitations_reminded)} invitation reminder(s), "
        f"{len(report.invitations_expired)} invitation(s) expired; "
        f"{report.organizations_open} organization(s) in business hours"
    )


def _waiting(services: Services, platform: str | None = None) -> int:
    with services.db.transaction() as session:
        query = select(func.count()).select_from(OutboxMessage)
        query = query.where(OutboxMessage.status == "pending")
        if platform is not None:
            query = query.where(OutboxMessage.platform == platform)
        return session.scalar(query) or 0


def build_slack_transport(
    services: Services, clock: Clock, *, defer_busy_channels: bool = True
) -> Transport:
    """Build the Slack transport from the settings. Raises ImportError if it is missing."""
    from slack_sdk.web.async_client import AsyncWebClient

    from handlers.slack.transport import SlackTransport

    settings = services.settings
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    store = DeliveryStore(services.db, clock, tuple(services.workflow.config.platforms))
    transport: Transport = SlackTransport(client, store, defer_busy_channels=defer_busy_channels)
    return transport


def deliver_queued(services: Services) -> int:
    """Deliver the outbox rows due now through Slack, or print why delivery was skipped.

    The deliverer uses the services' clock, so rows queued by a sweep `--at` a future
    time are due for it too.
    """
    if not services.settings.slack_bot_token:
        print(
            f"delivery skipped: SLACK_BOT_TOKEN is not set, so {_waiting(services)} "
            "message(s) wait in the outbox for `cosigner serve` or `cosigner scheduler`"
        )
        return 0

    async def deliver() -> Deliverer:
        transport = build_slack_transport(services, services.clock, defer_busy_channels=False)
        deliverer = Deliverer(
            services.db,
            services.clock,
            {"slack": transport},
            lease_seconds=services.settings.outbox_lease_seconds,
        )
        await deliverer.drain()
        return deliverer

    try:
        deliverer = asyncio.run(deliver())
    except ImportError as error:
        print(
            f"error: Slack delivery is unavailable ({error}); "
            f"{_waiting(services)} message(s) wait in the outbox",
            file=sys.stderr,
        )
        return 1
    stats = deliverer.stats
    print(
        f"delivered {stats.sent} message(s) to Slack; {stats.retried} will be retried "
        f"and {stats.failed} failed for good (see `cosigner digest --print`)"
    )
    others = _waiting(services) - _waiting(services, "slack")
    if others:
        print(f"{others} message(s) for other platforms wait for `cosigner serve`")
    return 1 if stats.failed else 0


def run_digest(args: argparse.Namespace, services: Services) -> int:
    if not args.print_digest and not args.send:
        print(
            "error: nothing to do: `cosigner digest --print` prints the digest and "
            "`cosigner digest --send` posts today's to the admin channel",
            file=sys.stderr,
        )
        return 2
    ok, services = _parse_at_or_report(args, services)
    if not ok:
        return 2
    if args.send:
        config = services.workflow.config
        if not any(config.admin_channels.get(p) for p in config.platforms):
            print(
                "error: no admin channel is configured: set COSIGNER_ADMIN_CHANNEL to the "
                "Slack channel id (C…) that should receive the digest",
                file=sys.stderr,
            )
            return 2
        day = queue_daily_digest(services)
        if day is None:
            print(
                "no digest queued: today's was already queued, or it is before "
                f"{services.settings.digest_time} {services.settings.digest_timezone}"
            )
        else:
            print(f"digest for {day.isoformat()} queued")
        status = deliver_queued(services)
        if not args.print_digest:
            return status
    digest = build_digest(services, organization_limit=None)
    sys.stdout.write(format_digest_text(digest))
    return 0


def run_scheduler_command(services: Services) -> int:
    from bot.scheduler import run_scheduler

    transports: dict[str, Transport] = {}
    if services.settings.slack_bot_token:
        try:
            transports["slack"] = build_slack_transport(services, services.clock)
        except ImportError as error:
            print(f"error: Slack delivery is unavailable ({error})", file=sys.stderr)
            return 1
    else:
        print(
            "warning: SLACK_BOT_TOKEN is not set, so nothing is delivered here; queued "
            "messages wait in the outbox for `cosigner serve`",
            file=sys.stderr,
        )
    try:
        asyncio.run(run_scheduler(services, transports))
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The first SIGINT stops the scheduler cleanly. A second one during shutdown
        # ends it at once.
        print("scheduler interrupted during shutdown", file=sys.stderr)
        return 130
    return 0
