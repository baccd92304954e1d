"""Injected failures and Slack-like rate limits for the local Slack.

Rate limit tiers per method follow Slack's rate limit page (docs.slack.dev/apis/web-api/
rate-limits) and the tier table in slackapi/java-slack-sdk (MethodsRateLimits.java).
chat.postMessage has Slack's special limit of about one message per second per channel,
with short bursts allowed. auth.test has a special limit that Slack does not publish, so
it is never limited here.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from handlers.slack.localslack.clock import Clock
from handlers.slack.localslack.records import JsonObject

ALL_METHODS = "*"

DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}

TIER_REQUESTS_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIERS = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.open": 3,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
}


@dataclass(frozen=True)
class FaultResponse:
    """The HTTP response that replaces a Web API call's real result."""

    status: int
    body: JsonObject
    headers: dict[str, str]


@dataclass
class _Fault:
    method: str
    response: FaultResponse
    remaining: int | None
    until: float | None


class FaultInjector:
    """Failures that tests schedule for a method, by count or for a time window."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        response = build_fault_response(status, retry_after, error)
        with self._lock:
            self._faults.append(_Fault(method, response, remaining=count, until=None))

    def fail_for(
        self,
        method: str,
        seconds: float,
        *,
        status: int = 503,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        response = build_fault_response(status, retry_after, error)
        until = self._clock() + seconds
        with self._lock:
            self._faults.append(_Fault(method, response, remaining=None, until=until))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> FaultResponse | None:
        """Return the response of the oldest fault that applies to `method`, and use it up."""
        now = self._clock()
        with self._lock:
            self._faults = [f for f in self._faults if f.until is None or f.until > now]
            for fault in self._faults:
                if fault.method not in (method, ALL_METHODS):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                return fault.response
        return None


def build_fault_response(status: int, retry_after: int | None, error: str | None) -> FaultResponse:
    """Build the response for an injected failure.

    A 429 response always carries Retry-After, 1 second unless `retry_after` is given.
    Other statuses carry it only when `retry_after` is given. Status 200 needs `error`,
    which lets a test return any Slack error code, such as user_not_found.
    """
    if status == 200 and error is None:
        raise ValueError("status 200 needs an error code, for example error='user_not_found'")
    if status == 429 and retry_after is None:
        retry_after = 1

    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    error_code = error or DEFAULT_ERRORS.get(status, "fatal_error")
    return FaultResponse(status, {"ok": False, "error": error_code}, headers)


class _TokenBucket:
    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self.updated_at = now

    def take(self, now: float) -> float | None:
        """Take one token, or return the seconds until one is available."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.per_second


class RateLimiter:
    """Slack-like rate limits: token buckets per method tier and per channel for posts."""

    def __init__(
        self,
        clock: Clock,
        *,
        post_message_per_channel_per_second: float,
        post_message_burst: int,
    ) -> None:
        if post_message_per_channel_per_second <= 0:
            raise ValueError("post_message_per_channel_per_second must be positive")
        if post_message_burst < 1:
            raise ValueError(f"post_message_burst must be at least 1, got {post_message_burst}")
        self._clock = clock
        self._post_rate = post_message_per_channel_per_second
        self._post_burst = post_message_burst
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _TokenBucket] = {}

    def check(self, method: str, params: JsonObject) -> int | None:
        """Count one call, and return its Retry-After in whole seconds if it is over a limit."""
        key, capacity, per_second = self._limit_for(method, params)
        if key is None:
            return None

        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _TokenBucket(capacity, per_second, now)
                self._buckets[key] = bucket
            wait_seconds = bucket.take(now)
        if wait_seconds is None:
            return None
        return max(1, math.ceil(wait_seconds))

    def _limit_for(
        self, method: str, params: JsonObject
    ) -> tuple[tuple[str, str] | None, float, float]:
        if method == "chat.postMessage":
            channel = str(params.get("channel", ""))
            return (method, channel), float(self._post_burst), self._post_rate
        tier = METHOD_TIERS.get(method)
        if tier is None:
            return None, 0.0, 0.0
        per_minute = TIER_REQUESTS_PER_MINUTE[tier]
        return (method, ""), float(per_minute), per_minute / 60
