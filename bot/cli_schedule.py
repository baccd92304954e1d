"""CLI commands for reminders, the digest and the scheduler."""

from __future__ import annotations

import argparse
from typing import Any

from bot.services import Services


def add_schedule_commands(commands: Any) -> None:
    # TODO: reminders run, digest --print and scheduler arrive with the reminders work.
    return None


def run_schedule_command(args: argparse.Namespace, services: Services) -> int:
    raise SystemExit(f"unknown command {args.command!r}")
