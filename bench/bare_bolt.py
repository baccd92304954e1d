"""The baseline server: a Bolt async app whose listeners only ack, served like Cosigner.

It handles the same three requests as the ack benchmark (the /access command, the
Approve button and the reject modal's submission) and does nothing else. Requests reach
Bolt through the same aiohttp adapter calls as bot/server.py. Bolt checks the signature
and, at its first request, calls auth.test on the local Slack, as Cosigner's app does.

Run as `python -m bench.bare_bolt --port PORT --api-url URL [--process-before-response]`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.slack_process import BOT_TOKEN, SIGNING_SECRET

BOLT_KEY: web.AppKey[AsyncApp] = web.AppKey("bolt")


def build_bolt(api_url: str, process_before_response: bool) -> AsyncApp:
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=process_before_response,
        raise_error_for_unhandled_request=False,
    )

    @app.command("/access")
    async def command(ack: AsyncAck) -> None:
        await ack()

    @app.action("request_approve")
    async def approve(ack: AsyncAck) -> None:
        await ack()

    @app.view("access_reject")
    async def reject(ack: AsyncAck) -> None:
        await ack()

    return app


async def slack_events(request: web.Request) -> web.Response:
    bolt_request = await to_bolt_request(request)
    bolt_response = await request.app[BOLT_KEY].async_dispatch(bolt_request)
    return await to_aiohttp_response(bolt_response)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(port: int, api_url: str, process_before_response: bool) -> None:
    app = web.Application(client_max_size=1024 * 1024)
    app[BOLT_KEY] = build_bolt(api_url, process_before_response)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a Bolt app whose listeners only ack.")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--api-url", required=True, help="Slack Web API base URL (local Slack)")
    parser.add_argument(
        "--process-before-response",
        action="store_true",
        help="respond when the listener returns, as Cosigner does (Bolt's default is off)",
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.api_url, args.process_before_response))


if __name__ == "__main__":
    main()
