"""A LocalSlack in its own process, with a small control API for the benchmarks.

Running the local Slack apart from the load generator keeps the two from sharing one
GIL, so the time the server under test waits for views.open or chat.update is the
local Slack's, not the load generator's. The control API, on its own loopback port,
adds users and channels, issues trigger ids and response URLs, injects failures and
reads back what the bot called.

Run by `SlackProcess.start()`, as `python -m bench.slack_process [--rate-limits]`. The
process prints one JSON line with its URLs, and exits when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import REPO_ROOT, BenchmarkError, child_environment
from handlers.slack.localslack import LocalSlack

BOT_TOKEN = "xoxb-bench"
TEAM_ID = "T0BENCH"
SIGNING_SECRET = "bench-signing-secret"
START_TIMEOUT_SECONDS = 20.0


# The process --------------------------------------------------------------------------


def build_control_app(local: LocalSlack) -> web.Application:
    async def add_users(request: web.Request) -> web.Response:
        body = await request.json()
        for user_id, name, email in body["users"]:
            local.add_user(user_id, name, email)
        return web.json_response({"ok": True, "count": len(body["users"])})

    async def add_channels(request: web.Request) -> web.Response:
        body = await request.json()
        for channel_id, name in body["channels"]:
            local.add_channel(channel_id, name)
        return web.json_response({"ok": True})

    async def interactions(request: web.Request) -> web.Response:
        body = await request.json()
        user_id = body["user"]
        items = [
            {
                "trigger_id": local.new_trigger_id(user_id),
                "response_url": local.new_response_url(
                    user_id, body.get("channel"), body.get("ts")
                ),
            }
            for _ in range(int(body.get("count", 1)))
        ]
        return web.json_response({"items": items})

    async def fail_next(request: web.Request) -> web.Response:
        body = await request.json()
        local.fail_next(
            body["method"],
            status=int(body.get("status", 429)),
            count=int(body.get("count", 1)),
            retry_after=body.get("retry_after"),
        )
        return web.json_response({"ok": True})

    async def calls(request: web.Request) -> web.Response:
        method = request.query.get("method") or None
        summaries = [
            {
                "method": call.method,
                "status": call.status,
                "ok": call.ok,
                "error": call.error,
                "channel": call.params.get("channel"),
                "ts": call.params.get("ts") or call.response.get("ts"),
                "at": call.at,
            }
            for call in local.calls(method)
        ]
        return web.json_response({"calls": summaries})

    async def messages(request: web.Request) -> web.Response:
        found = [
            {
                "channel": message.channel,
                "ts": message.ts,
                "text": message.text,
                "update_count": message.update_count,
            }
            for message in local.messages()
        ]
        return web.json_response({"messages": found})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/users", add_users)
    app.router.add_post("/channels", add_channels)
    app.router.add_post("/interactions", interactions)
    app.router.add_post("/fail_next", fail_next)
    app.router.add_get("/calls", calls)
    app.router.add_get("/messages", messages)
    return app


async def serve(rate_limits: bool) -> None:
    local = LocalSlack(bot_token=BOT_TOKEN, team_id=TEAM_ID, enforce_rate_limits=rate_limits)
    api_url = await local.start()
    runner = web.AppRunner(build_control_app(local), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"api_url": api_url, "control_url": f"http://127.0.0.1:{port}"}), flush=True)

    # Run until the parent closes stdin, which it also does by exiting.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    await local.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a local Slack with a control API.")
    parser.add_argument(
        "--rate-limits", action="store_true", help="enforce Slack's per-channel and tier limits"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.rate_limits))


# The client ---------------------------------------------------------------------------


class SlackProcess:
    """Start and drive a local Slack process from the benchmark."""

    def __init__(self, *, rate_limits: bool = False) -> None:
        self.rate_limits = rate_limits
        self.process: subprocess.Popen[str] | None = None
        self.api_url = ""
        self.control_url = ""
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> SlackProcess:
        args = [sys.executable, "-m", "bench.slack_process"]
        if self.rate_limits:
            args.append("--rate-limits")
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=child_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(
            asyncio.to_thread(self.process.stdout.readline), START_TIMEOUT_SECONDS
        )
        if not line:
            raise BenchmarkError(f"the local Slack process exited with {self.process.wait()}")
        urls = json.loads(line)
        self.api_url = urls["api_url"]
        self.control_url = urls["control_url"]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.process is None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    async def __aenter__(self) -> SlackProcess:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None, "SlackProcess is not started"
        async with self._session.post(f"{self.control_url}{path}", json=body) as response:
            response.raise_for_status()
            return dict(await response.json())

    async def _get(self, path: str, **query: str) -> dict[str, Any]:
        assert self._session is not None, "SlackProcess is not started"
        async with self._session.get(f"{self.control_url}{path}", params=query) as response:
            response.raise_for_status()
            return dict(await response.json())

    async def add_users(self, users: list[tuple[str, str, str]]) -> None:
        """Add users given as (user id, name, email)."""
        await self._post("/users", {"users": [list(user) for user in users]})

    async def add_channel(self, channel_id: str, name: str) -> None:
        await self._post("/channels", {"channels": [[channel_id, name]]})

    async def interaction(
        self, user_id: str, channel: str | None = None, ts: str | None = None
    ) -> tuple[str, str]:
        """Return a fresh trigger id (valid for 3 s) and a response URL for one interaction."""
        body = await self._post("/interactions", {"user": user_id, "channel": channel, "ts": ts})
        item = body["items"][0]
        return str(item["trigger_id"]), str(item["response_url"])

    async def fail_next(
        self, method: str, *, status: int = 429, count: int = 1, retry_after: int | None = None
    ) -> None:
        body = {"method": method, "status": status, "count": count, "retry_after": retry_after}
        await self._post("/fail_next", body)

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        query = {"method": method} if method else {}
        return list((await self._get("/calls", **query))["calls"])

    async def messages(self) -> list[dict[str, Any]]:
        return list((await self._get("/messages"))["messages"])

    async def post_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        """Post as the bot through the Web API and return Slack's response."""
        assert self._session is not None, "SlackProcess is not started"
        headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
        async with self._session.post(
            f"{self.api_url}chat.postMessage", json={"channel": channel, **message}, headers=headers
        ) as response:
            body = dict(await response.json())
        if not body.get("ok"):
            raise BenchmarkError(f"chat.postMessage to {channel} failed: {body.get('error')}")
        return body


def monotonic() -> float:
    """Return time.monotonic(), the clock that the local Slack stamps each call with.

    On Linux it is CLOCK_MONOTONIC, shared by every process of the machine, so the
    benchmark compares it with the call times that the local Slack process reports.
    """
    return time.monotonic()


if __name__ == "__main__":
    main()
