"""Clocks and identifiers for the local Slack.

The local Slack measures trigger expiry, fault windows and rate limits with an injected
clock that returns seconds as a float, like time.monotonic, so tests move time instead
of sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class ManualClock:
    """A clock that only moves when a test calls `advance`."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        self.now += seconds


class SlackTimestamps:
    """Issue unique, increasing Slack message timestamps such as "1733350000.000100".

    Timestamps follow the wall clock in microseconds but never repeat, so two messages
    posted in the same microsecond still get distinct `ts` values, as in Slack.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_microseconds = 0

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000
            self._last_microseconds = max(now, self._last_microseconds + 1)
            seconds, micros = divmod(self._last_microseconds, 1_000_000)
        return f"{seconds}.{micros:06d}"


class IdSequence:
    """Issue Slack-style ids with a fixed prefix, such as "V0000001" for views."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._count = 0

    def next(self) -> str:
        with self._lock:
            self._count += 1
            return f"{self._prefix}{self._count:07d}"


def new_trigger_id() -> str:
    """Return a trigger id in Slack's documented form "132456.7890123.abcdef"."""
    return f"{secrets.randbelow(10**6)}.{secrets.randbelow(10**7)}.{secrets.token_hex(16)}"
