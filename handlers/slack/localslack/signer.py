"""SlackEventSender: act as Slack toward the bot, with signed requests.

Payloads follow Slack's shapes for slash commands, block_actions, view_submission and the
Events API. Each request carries X-Slack-Request-Timestamp and
X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}")),
which Bolt checks. Trigger ids and response URLs come from the LocalSlack, so the bot's
views.open and response_url posts land there.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from handlers.slack.localslack.clock import SlackTimestamps
from handlers.slack.localslack.interactions import build_state_values, find_action_element
from handlers.slack.localslack.records import (
    APP_ID,
    BOT_USER_ID,
    JsonObject,
    OpenedView,
    PostedMessage,
)
from handlers.slack.localslack.server import LocalSlack, require_loopback

# Bolt rejects requests whose timestamp is more than 5 minutes old.
STALE_TIMESTAMP_AGE_SECONDS = 6 * 60
DEFAULT_VERIFICATION_TOKEN = "local-verification-token"


def compute_signature(signing_secret: str, timestamp: str, body: str) -> str:
    """Return the X-Slack-Signature value for a request body, as Slack computes it."""
    base_string = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), base_string, hashlib.sha256).hexdigest()
    return f"v0={digest}"


@dataclass(frozen=True)
class BotResponse:
    """The bot's HTTP response to one request, and the trigger and response URL it carried."""

    status: int
    body: str
    headers: Mapping[str, str]
    trigger_id: str | None = None
    response_url: str | None = None

    def json(self) -> Any:
        """Return the body parsed as JSON, or None for an empty body."""
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class SenderOptions:
    """Deviations from a correct Slack request, for negative tests."""

    bad_signature: bool = False
    stale_timestamp: bool = False


class SlackEventSender:
    """Send Slack-shaped, signed requests to the bot at `target_url` on loopback."""

    def __init__(
        self,
        target_url: str,
        signing_secret: str,
        local_slack: LocalSlack,
        team_id: str = "T0LOCAL",
        *,
        api_app_id: str = APP_ID,
        team_domain: str = "local",
        verification_token: str = DEFAULT_VERIFICATION_TOKEN,
        options: SenderOptions | None = None,
        timeout: float = 10.0,
    ) -> None:
        host = urlsplit(target_url).hostname or ""
        require_loopback(host)
        self.target_url = target_url
        self.signing_secret = signing_secret
        self.local = local_slack
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.team_domain = team_domain
        self.verification_token = verification_token
        self.options = options or SenderOptions()
        self.timeout = timeout
        self._timestamps = SlackTimestamps()

    def with_options(
        self,
        *,
        bad_signature: bool | None = None,
        stale_timestamp: bool | None = None,
        team_id: str | None = None,
    ) -> SlackEventSender:
        """Return a copy that sends a bad signature, a 6-minute-old timestamp or another team."""
        changes: dict[str, bool] = {}
        if bad_signature is not None:
            changes["bad_signature"] = bad_signature
        if stale_timestamp is not None:
            changes["stale_timestamp"] = stale_timestamp
        sender = copy.copy(self)
        sender.options = dataclasses.replace(self.options, **changes)
        if team_id is not None:
            sender.team_id = team_id
        return sender

    # Slash commands

    async def slash_command(
        self,
        user_id: str,
        text: str,
        command: str = "/access",
        channel_id: str | None = None,
    ) -> BotResponse:
        """Send a slash command, from the user's DM with the bot unless `channel_id` is given."""
        channel = channel_id or self.local.dm_channel_id(user_id)
        trigger_id = self.local.new_trigger_id(user_id)
        response_url = self.local.new_response_url(user_id=user_id, channel_id=channel)
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self.local.channel_name(channel),
            "user_id": user_id,
            "user_name": self.local.user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        response = await self._post(urlencode(fields), "application/x-www-form-urlencoded")
        return dataclasses.replace(response, trigger_id=trigger_id, response_url=response_url)

    # Interactivity

    async def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None,
        *,
        block_id: str | None = None,
        message: PostedMessage | JsonObject | None = None,
        channel_id: str | None = None,
        view: OpenedView | JsonObject | None = None,
        container: JsonObject | None = None,
        action_type: str = "button",
        text: str | None = None,
        selected_option: JsonObject | None = None,
    ) -> BotResponse:
        """Send a block_actions payload for one action on a message or in a view.

        For a message, the payload carries its channel, ts and blocks, and a response_url
        tied to it. For a view, it carries the view and no response_url, as in Slack.
        """
        trigger_id = self.local.new_trigger_id(user_id)
        action: JsonObject = {
            "type": action_type,
            "action_id": action_id,
            "block_id": block_id or _generated_block_id(),
            "action_ts": self._timestamps.next(),
        }
        if action_type in ("button", "workflow_button"):
            action["text"] = {"type": "plain_text", "text": text or action_id, "emoji": True}
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = selected_option

        payload = self._interaction_base("block_actions", user_id, trigger_id)
        payload["actions"] = [action]
        response_url = None
        if message is not None:
            message_json = message.to_api() if isinstance(message, PostedMessage) else message
            channel = channel_id or _message_channel(message)
            ts = str(message_json["ts"])
            response_url = self.local.new_response_url(user_id, channel, ts)
            payload["container"] = container or {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": channel, "name": self.local.channel_name(channel)}
            payload["message"] = message_json
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url
        elif view is not None:
            view_json = view.view if isinstance(view, OpenedView) else view
            payload["container"] = container or {"type": "view", "view_id": view_json["id"]}
            payload["view"] = view_json
        elif container is not None:
            payload["container"] = container
        else:
            raise ValueError("block_action needs a message, a view or a container")

        body = urlencode({"payload": json.dumps(payload)})
        response = await self._post(body, "application/x-www-form-urlencoded")
        return dataclasses.replace(response, trigger_id=trigger_id, response_url=response_url)

    async def click(
        self, user_id: str, target: PostedMessage | OpenedView, action_id: str
    ) -> BotResponse:
        """Click the button (or other element) with `action_id` in a message or a view.

        Raises LookupError that lists the action_ids that the target contains.
        """
        if isinstance(target, PostedMessage):
            block_id, element = find_action_element(target.blocks, action_id)
            return await self.block_action(
                user_id,
                action_id,
                element.get("value"),
                block_id=block_id,
                message=target,
                action_type=str(element.get("type", "button")),
                text=_element_text(element),
            )
        block_id, element = find_action_element(target.view.get("blocks", []), action_id)
        return await self.block_action(
            user_id,
            action_id,
            element.get("value"),
            block_id=block_id,
            view=target,
            action_type=str(element.get("type", "button")),
            text=_element_text(element),
        )

    async def view_submission(
        self,
        user_id: str,
        view: OpenedView | JsonObject,
        values: JsonObject,
    ) -> BotResponse:
        """Submit a modal with the state map `values` ({block_id: {action_id: {...}}}).

        When the view is one that the LocalSlack opened, the bot's response then updates the
        user's modal stack there (closed, updated, pushed or showing errors).
        """
        view_json = copy.deepcopy(view.view if isinstance(view, OpenedView) else view)
        view_json["state"] = {"values": values}
        trigger_id = self.local.new_trigger_id(user_id)
        payload = self._interaction_base("view_submission", user_id, trigger_id)
        payload["view"] = view_json
        payload["response_urls"] = []

        body = urlencode({"payload": json.dumps(payload)})
        response = await self._post(body, "application/x-www-form-urlencoded")
        view_id = view_json.get("id")
        if isinstance(view_id, str) and self._is_local_view(view_id):
            self.local.apply_view_submission_response(view_id, response.status, response.body)
        return dataclasses.replace(response, trigger_id=trigger_id)

    async def submit_last_view(
        self, user_id: str, inputs: Mapping[str, Mapping[str, Any]] | None = None
    ) -> BotResponse:
        """Submit the user's top open modal, with plain values by block_id and action_id.

        A value is a string for text inputs, an option value for selects and radio buttons,
        a list for multi-selects and checkboxes, and an id for user or channel pickers.
        Input elements without a value are sent empty, as Slack does.
        """
        stack = self.local.open_views(user_id)
        if not stack:
            raise LookupError(f"user {user_id} has no open modal to submit")
        view = stack[-1]
        values = build_state_values(view.view, inputs or {})
        return await self.view_submission(user_id, view, values)

    # Events API

    async def event(
        self,
        event: JsonObject,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        event_id: str | None = None,
    ) -> BotResponse:
        """Send an event_callback envelope around `event`, with retry headers if asked."""
        inner = dict(event)
        inner.setdefault("event_ts", self._timestamps.next())
        envelope: JsonObject = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        return await self._post(json.dumps(envelope), "application/json", headers)

    async def app_home_opened(self, user_id: str, tab: str = "home") -> BotResponse:
        """Send app_home_opened, with the user's published Home view if there is one."""
        event: JsonObject = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.local.dm_channel_id(user_id),
            "tab": tab,
        }
        home_view = self.local.home_view(user_id)
        if home_view is not None:
            event["view"] = home_view
        return await self.event(event)

    async def url_verification(self, challenge: str) -> BotResponse:
        body = {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }
        return await self._post(json.dumps(body), "application/json")

    # Helpers

    def _interaction_base(self, payload_type: str, user_id: str, trigger_id: str) -> JsonObject:
        user_name = self.local.user_name(user_id)
        return {
            "type": payload_type,
            "user": {
                "id": user_id,
                "username": user_name,
                "name": user_name,
                "team_id": self.team_id,
            },
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _is_local_view(self, view_id: str) -> bool:
        try:
            self.local.view(view_id)
        except KeyError:
            return False
        return True

    async def _post(
        self, body: str, content_type: str, extra_headers: Mapping[str, str] | None = None
    ) -> BotResponse:
        timestamp = int(time.time())
        if self.options.stale_timestamp:
            timestamp -= STALE_TIMESTAMP_AGE_SECONDS
        signature = compute_signature(self.signing_secret, str(timestamp), body)
        if self.options.bad_signature:
            signature = compute_signature(f"not-{self.signing_secret}", str(timestamp), body)

        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": signature,
            **(extra_headers or {}),
        }
        client_timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.post(self.target_url, data=body.encode(), headers=headers) as response,
        ):
            text = await response.text()
            return BotResponse(response.status, text, dict(response.headers))


def _message_channel(message: PostedMessage | JsonObject) -> str:
    if isinstance(message, PostedMessage):
        return message.channel
    channel = message.get("channel")
    if not isinstance(channel, str):
        raise ValueError("a message given as a dict needs channel_id, or a 'channel' key")
    return channel


def _element_text(element: JsonObject) -> str | None:
    text = element.get("text")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        return str(text["text"])
    return None


def _generated_block_id() -> str:
    return secrets.token_urlsafe(4)
