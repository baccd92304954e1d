"""LocalSlack: a Slack Web API server on loopback for tests and the demo.

Point slack_sdk at it with `AsyncWebClient(token=..., base_url=local.api_url)`. The server
responds like Slack: HTTP 200 with {"ok": false, "error": ...} for API errors, HTTP 429
with Retry-After when rate limited, and Block Kit errors in the same form as Slack's.
Tests set up users and channels, then read back what the bot posted, opened and sent to
response URLs.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from handlers.slack.localslack import responses, views
from handlers.slack.localslack.clock import Clock
from handlers.slack.localslack.faults import ALL_METHODS, FaultInjector, FaultResponse, RateLimiter
from handlers.slack.localslack.records import (
    ApiCall,
    Ephemeral,
    JsonObject,
    OpenedView,
    PostedMessage,
    ResponsePost,
)
from handlers.slack.localslack.state import ApiError, Workspace
from handlers.slack.localslack.webapi import METHODS

if TYPE_CHECKING:
    from handlers.slack.localslack.thread import LocalSlackThread

logger = logging.getLogger(__name__)

T = TypeVar("T")

MODAL_METHODS = frozenset({"views.open", "views.push", "response_action"})


def require_loopback(host: str) -> None:
    """Raise ValueError unless `host` is a loopback address or "localhost"."""
    if host == "localhost":
        return
    try:
        is_loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise ValueError(f"host must be a loopback address such as 127.0.0.1, got {host!r}")


class LocalSlack:
    """A fake Slack workspace with a Web API server on loopback.

    `clock` returns seconds as a float and times trigger expiry, fault windows and rate
    limits. Rate limits are off unless `enforce_rate_limits` is set. Then chat.postMessage
    allows `post_message_per_channel_per_second` per channel after a burst of
    `post_message_burst`, and other methods allow their Slack tier's calls per minute.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-local",
        team_id: str = "T0LOCAL",
        clock: Clock = time.monotonic,
        *,
        enforce_rate_limits: bool = False,
        post_message_per_channel_per_second: float = 1.0,
        post_message_burst: int = 3,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.clock = clock
        self._workspace = Workspace(team_id, clock)
        self._faults = FaultInjector(clock)
        self._rate_limiter: RateLimiter | None = None
        if enforce_rate_limits:
            self._rate_limiter = RateLimiter(
                clock,
                post_message_per_channel_per_second=post_message_per_channel_per_second,
                post_message_burst=post_message_burst,
            )
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._delays: dict[str, float] = {}

    # Server lifecycle

    @property
    def base_url(self) -> str:
        """The server's root URL, such as "http://127.0.0.1:54321/"."""
        if self._base_url is None:
            raise RuntimeError("LocalSlack is not running; call start() first")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The Web API base URL for slack_sdk, with its trailing slash."""
        return f"{self.base_url}api/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start listening on `host`:`port` (0 picks a free port) and return `api_url`."""
        require_loopback(host)
        if self._runner is not None:
            raise RuntimeError("LocalSlack is already running")

        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{token}", self._handle_response_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(runner, sock).start()

        bound_port = sock.getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        self._runner = runner
        self._base_url = f"http://{url_host}:{bound_port}/"
        self._workspace.base_url = self._base_url
        logger.info("Local Slack started on %s", self._base_url)
        return self.api_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self._runner.cleanup()
        self._runner = None
        logger.info("Local Slack on %s stopped", self._base_url)

    async def __aenter__(self) -> LocalSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> LocalSlackThread:
        """Run the server on its own event loop in a background thread, for sync code.

        Returns the started runner. Its `api_url` is the Web API URL, and `stop()` ends it.
        """
        from handlers.slack.localslack.thread import LocalSlackThread

        runner = LocalSlackThread(self, host=host, port=port)
        runner.start()
        return runner

    # Workspace setup

    def add_user(
        self,
        user_id: str,
        name: str,
        email: str,
        *,
        deleted: bool = False,
        is_bot: bool = False,
        real_name: str = "",
    ) -> None:
        self._workspace.add_user(
            user_id, name, email, deleted=deleted, is_bot=is_bot, real_name=real_name
        )

    def deactivate_user(self, user_id: str) -> None:
        """Mark the user deactivated: users.info then returns deleted=true."""
        self._workspace.set_user_deleted(user_id, True)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_archived: bool = False,
        bot_is_member: bool = True,
        members: Iterable[str] | None = None,
    ) -> None:
        """Add a channel. `members=None` makes every user a member, for chat.postEphemeral."""
        self._workspace.add_channel(
            channel_id,
            name,
            is_archived=is_archived,
            bot_is_member=bot_is_member,
            members=members,
        )

    def archive_channel(self, channel_id: str) -> None:
        self._workspace.set_channel_archived(channel_id, True)

    def dm_channel_id(self, user_id: str) -> str:
        """Return the id of the bot's DM with the user, opening it if needed."""
        self._workspace.require_user(user_id)
        return self._workspace.open_dm(user_id)[0].id

    def user_name(self, user_id: str) -> str:
        """Return the user's name, or the id itself for a user that was never added."""
        with self._workspace.lock:
            user = self._workspace.users.get(user_id)
            return user.name if user is not None else user_id

    def channel_name(self, channel_id: str) -> str:
        """Return the channel's name, "directmessage" for a DM, or the id if unknown."""
        with self._workspace.lock:
            channel = self._workspace.channels.get(channel_id)
        if channel is None:
            return channel_id
        return "directmessage" if channel.is_im else channel.name

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """Issue a trigger id that views.open accepts once, for 3 seconds by `clock`."""
        return self._workspace.issue_trigger(user_id)

    def new_response_url(
        self,
        user_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """Issue a response_url on this server.

        With `channel_id` and `message_ts`, replace_original and delete_original act on
        that message, as they do for a response_url from a message's button.
        """
        token = self._workspace.issue_response_url(user_id, channel_id, message_ts)
        return f"{self.base_url}response/{token}"

    # Records

    def messages(
        self, channel: str | None = None, *, include_deleted: bool = False
    ) -> list[PostedMessage]:
        """Return the bot's messages in posting order, with content after updates."""
        with self._workspace.lock:
            found = [
                message
                for message in self._workspace.messages.values()
                if (channel is None or message.channel == channel)
                and (include_deleted or not message.deleted)
            ]
            return copy.deepcopy(found)

    def message(self, channel: str, ts: str) -> PostedMessage:
        """Return one message by channel and ts. Raises KeyError if it was never posted."""
        with self._workspace.lock:
            found = self._workspace.messages.get((channel, ts))
            if found is None:
                raise KeyError(f"no message with ts {ts} in channel {channel}")
            return copy.deepcopy(found)

    def dm_messages(self, user_id: str) -> list[PostedMessage]:
        with self._workspace.lock:
            channel_id = self._workspace.dm_by_user.get(user_id)
        if channel_id is None:
            return []
        return self.messages(channel_id)

    def ephemerals(self, user_id: str | None = None) -> list[Ephemeral]:
        with self._workspace.lock:
            found = [e for e in self._workspace.ephemerals if user_id in (None, e.user)]
            return copy.deepcopy(found)

    def views_opened(self, user_id: str | None = None) -> list[OpenedView]:
        """Return every modal opened or pushed, in order, including closed ones."""
        with self._workspace.lock:
            found = [
                view
                for view in self._workspace.views.values()
                if view.method in MODAL_METHODS and user_id in (None, view.user_id)
            ]
            return copy.deepcopy(found)

    def open_views(self, user_id: str) -> list[OpenedView]:
        """Return the user's modal stack, root first. It is empty when no modal is open."""
        with self._workspace.lock:
            stack = self._workspace.view_stacks.get(user_id, [])
            return copy.deepcopy([self._workspace.views[view_id] for view_id in stack])

    def view(self, view_id: str) -> OpenedView:
        with self._workspace.lock:
            return copy.deepcopy(self._workspace.views[view_id])

    def home_view(self, user_id: str) -> JsonObject | None:
        """Return the user's App Home view as last published, or None."""
        with self._workspace.lock:
            view_id = self._workspace.home_views.get(user_id)
            if view_id is None:
                return None
            return copy.deepcopy(self._workspace.views[view_id].view)

    def responses(self, url: str | None = None) -> list[ResponsePost]:
        """Return the posts to response URLs, for one URL or all of them."""
        with self._workspace.lock:
            found = [r for r in self._workspace.responses if url in (None, r.url)]
            return copy.deepcopy(found)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Return the Web API calls in order, with their parameters and responses."""
        with self._workspace.lock:
            found = [c for c in self._workspace.calls if method in (None, c.method)]
            return copy.deepcopy(found)

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01
    ) -> T:
        """Poll `predicate` until it returns a truthy value, and return that value.

        The timeout runs on real time, not on `clock`, so it works with a ManualClock.
        Raises TimeoutError that lists the latest Web API calls.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"condition not met within {timeout} s; {self.describe_recent_calls()}"
                )
            await asyncio.sleep(interval)

    def describe_recent_calls(self, count: int = 5) -> str:
        recent = self.calls()[-count:]
        if not recent:
            return "no Web API calls yet"
        described = ", ".join(f"{c.method} -> {c.error or 'ok'}" for c in recent)
        return f"latest Web API calls: {described}"

    # Faults

    def fail_next(
        self,
        method: str,
        status: int = 429,
        count: int = 1,
        retry_after: int | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """Fail the next `count` calls of `method` ("*" for any).

        429 responses carry Retry-After (1 second by default) and error "ratelimited".
        5xx responses get that HTTP status. Status 200 with `error` sends that Slack error.
        """
        self._faults.fail_next(
            method, status=status, count=count, retry_after=retry_after, error=error
        )

    def fail_for(
        self,
        method: str,
        seconds: float,
        status: int = 503,
        *,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """Fail every call of `method` for `seconds` by `clock`."""
        self._faults.fail_for(method, seconds, status=status, retry_after=retry_after, error=error)

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_delay(self, method: str, seconds: float) -> None:
        """Hold every call of `method` ("*" for any) for `seconds` before answering it.

        A caller that disconnects during the hold, such as a killed process, has its call
        dropped unprocessed, as if it never reached Slack.
        """
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        self._delays[method] = seconds

    def clear_delays(self) -> None:
        self._delays.clear()

    # Interaction results

    def apply_view_submission_response(self, view_id: str, status: int, body: str) -> None:
        """Update the modal stack from the bot's response to a view_submission.

        SlackEventSender calls this after each submission. See
        views.apply_view_submission_response for the rules.
        """
        views.apply_view_submission_response(self._workspace, view_id, status, body)

    # HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except ApiError as exc:
            return self._respond(method, {}, 200, exc.to_body(), {})

        token_param = params.pop("token", None)
        token = _bearer_token(request) or str(token_param or "")

        if method not in METHODS:
            return self._respond(method, params, 200, ApiError("unknown_method").to_body(), {})
        if not token:
            return self._respond(method, params, 200, ApiError("not_authed").to_body(), {})
        if token != self.bot_token:
            return self._respond(method, params, 200, ApiError("invalid_auth").to_body(), {})

        delay = self._delays.get(method, self._delays.get(ALL_METHODS, 0.0))
        if delay:
            await asyncio.sleep(delay)
            transport = request.transport
            if transport is None or transport.is_closing():
                logger.info("Dropped %s: the caller disconnected during the delay", method)
                return web.Response(status=499)

        fault = self._faults.take(method)
        if fault is not None:
            logger.info("Sent injected HTTP %s response for %s", fault.status, method)
            return self._respond_with_fault(method, params, fault)
        if self._rate_limiter is not None:
            retry_after = self._rate_limiter.check(method, params)
            if retry_after is not None:
                logger.info("Rate limited %s; Retry-After %s s", method, retry_after)
                body = ApiError("ratelimited").to_body()
                return self._respond(method, params, 429, body, {"Retry-After": str(retry_after)})

        try:
            # One lock for the whole call keeps each method atomic against test threads.
            with self._workspace.lock:
                body = METHODS[method](self._workspace, params)
        except ApiError as exc:
            body = exc.to_body()
        return self._respond(method, params, 200, body, {})

    def _respond_with_fault(
        self, method: str, params: JsonObject, fault: FaultResponse
    ) -> web.Response:
        return self._respond(method, params, fault.status, dict(fault.body), dict(fault.headers))

    def _respond(
        self,
        method: str,
        params: JsonObject,
        status: int,
        body: JsonObject,
        headers: dict[str, str],
    ) -> web.Response:
        call = ApiCall(
            method=method,
            params=copy.deepcopy(params),
            status=status,
            response=copy.deepcopy(body),
            headers=headers,
            at=self.clock(),
        )
        with self._workspace.lock:
            self._workspace.calls.append(call)
        return web.json_response(body, status=status, headers=headers)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        url = f"{self.base_url}response/{token}"
        raw_body = await request.text()
        status, text = responses.handle_response_post(self._workspace, token, url, raw_body)
        return web.Response(status=status, text=text, content_type="text/plain")


async def _read_params(request: web.Request) -> JsonObject:
    """Merge query string and body arguments, as Slack accepts both.

    Raises ApiError with invalid_json for a body that is not JSON, or json_not_object for
    JSON that is not an object.
    """
    params: JsonObject = dict(request.query)
    if not request.can_read_body:
        return params

    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            raise ApiError("invalid_json") from exc
        if not isinstance(body, dict):
            raise ApiError("json_not_object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            params[name] = value if isinstance(value, str) else getattr(value, "filename", "")
    return params


def _bearer_token(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return None
