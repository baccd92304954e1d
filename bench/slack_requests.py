"""Signed Slack requests (slash command, button click, view submission) and a load runner.

The bodies follow the shapes that Slack sends and that Bolt parses. Each request is
signed as Slack signs it, with X-Slack-Signature over "v0:{timestamp}:{body}".
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp

from bench.common import percentile
from bench.slack_process import TEAM_ID
from handlers.slack.localslack import compute_signature

APP_ID = "A0BENCH"


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]


def sign(body: str, content_type: str, signing_secret: str) -> SignedRequest:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": compute_signature(signing_secret, timestamp, body),
    }
    return SignedRequest(body.encode(), headers)


def slash_command(
    signing_secret: str,
    *,
    user_id: str,
    text: str,
    trigger_id: str,
    response_url: str,
    channel_id: str = "C0BENCH",
) -> SignedRequest:
    fields = {
        "token": "bench-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "bench",
        "channel_id": channel_id,
        "channel_name": "bench",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": "/access",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return sign(urlencode(fields), "application/x-www-form-urlencoded", signing_secret)


def _interaction(payload_type: str, user_id: str, trigger_id: str) -> dict[str, object]:
    return {
        "type": payload_type,
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "bench-verification-token",
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": "bench"},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def button_click(
    signing_secret: str,
    *,
    user_id: str,
    action_id: str,
    value: str,
    channel: str,
    message_ts: str,
    trigger_id: str,
    response_url: str,
) -> SignedRequest:
    """Build a block_actions payload for a button on a message in `channel`."""
    payload = _interaction("block_actions", user_id, trigger_id)
    payload["container"] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    payload["channel"] = {"id": channel, "name": "directmessage"}
    payload["message"] = {"type": "message", "ts": message_ts, "text": value, "blocks": []}
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url
    payload["actions"] = [
        {
            "type": "button",
            "action_id": action_id,
            "block_id": "request_decision",
            "value": value,
            "text": {"type": "plain_text", "text": "Approve"},
            "action_ts": f"{time.time():.6f}",
        }
    ]
    body = urlencode({"payload": json.dumps(payload)})
    return sign(body, "application/x-www-form-urlencoded", signing_secret)


def reject_submission(
    signing_secret: str, *, user_id: str, request_id: str, reason: str, trigger_id: str
) -> SignedRequest:
    """Build the view_submission of the reject modal (callback id access_reject)."""
    payload = _interaction("view_submission", user_id, trigger_id)
    payload["view"] = {
        "id": "V0BENCH",
        "team_id": TEAM_ID,
        "type": "modal",
        "callback_id": "access_reject",
        "private_metadata": json.dumps({"request_id": request_id}),
        "blocks": [],
        "state": {
            "values": {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}}
        },
        "hash": "bench",
        "app_id": APP_ID,
        "bot_id": "BBENCH",
    }
    payload["response_urls"] = []
    body = urlencode({"payload": json.dumps(payload)})
    return sign(body, "application/x-www-form-urlencoded", signing_secret)


# Load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Latencies in milliseconds of the requests that got a response, and the failures."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    # Responses received, warm-up included.
    completed: int = 0
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def failures(self) -> int:
        bad_statuses = sum(n for status, n in self.statuses.items() if status != 200)
        return bad_statuses + sum(self.errors.values())

    def quantile(self, fraction: float) -> float:
        return percentile(sorted(self.latencies_ms), fraction)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else math.nan


# Builds the signed request for item number `index`; may await the local Slack for a trigger.
RequestFactory = Callable[[int], Awaitable[SignedRequest]]


async def run_closed_loop(
    url: str,
    make_request: RequestFactory,
    *,
    total: int,
    concurrency: int,
    time_limit: float,
    record_from: int = 0,
) -> LoadResult:
    """Send `total` requests from `concurrency` clients, each waiting for its response.

    Only the time between sending a request and reading its whole response is
    measured; building a request (and fetching its trigger id) is not. Requests
    numbered below `record_from` warm the server up and are not recorded. The run
    stops early, with `timed_out` set, after `time_limit` seconds.
    """
    result = LoadResult()
    next_index = 0
    deadline = time.monotonic() + time_limit
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < total:
            if time.monotonic() > deadline:
                result.timed_out = True
                return
            index = next_index
            next_index += 1
            request = await make_request(index)
            started = time.perf_counter()
            try:
                async with session.post(
                    url, data=request.body, headers=request.headers
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                result.errors[type(error).__name__] = result.errors.get(type(error).__name__, 0) + 1
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            result.completed += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if index >= record_from:
                result.latencies_ms.append(elapsed_ms)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        result.seconds = time.monotonic() - started
    return result
