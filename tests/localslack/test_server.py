"""Tests for the local Slack: the Web API server, its records and faults, and the sender.

The server is driven through slack_sdk's own clients, and the sender through a real Bolt
app, so these tests check the local Slack against the code that talks to real Slack.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handlers.slack.localslack import (
    LocalSlack,
    LocalSlackThread,
    ManualClock,
    SlackEventSender,
    compute_signature,
)

SIGNING_SECRET = "local-signing-secret"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")


def section(text: str, **fields: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **fields}


def button(text: str, action_id: str, value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }


def modal(title: str = "Request access", blocks: list[dict[str, Any]] | None = None) -> dict:
    return {
        "type": "modal",
        "callback_id": "access_request",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": blocks if blocks is not None else [section("Why do you need access?")],
    }


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def seconds_ago(timestamp: int) -> float:
    return time.time() - timestamp


class FixedSlackClock(Clock):
    """A slack_sdk signature clock stopped at one Unix time."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def local(clock: ManualClock) -> AsyncIterator[LocalSlack]:
    local = LocalSlack(clock=clock)
    local.add_user("U1", "alice", "alice@example.org", real_name="Alice Adams")
    local.add_user("U2", "bob", "bob@example.org")
    local.add_channel("C1", "access-requests")
    async with local:
        yield local


@pytest.fixture
def client(local: LocalSlack) -> AsyncWebClient:
    return AsyncWebClient(token=local.bot_token, base_url=local.api_url)


async def slack_error(call: Any) -> SlackApiError:
    """Await a Web API call that must fail, and return its SlackApiError."""
    with pytest.raises(SlackApiError) as raised:
        await call
    return raised.value


# Auth and routing


async def test_auth_test_returns_bot_identity(client: AsyncWebClient) -> None:
    response = await client.auth_test()

    assert response["team_id"] == "T0LOCAL"
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "BBOT"


async def test_auth_wrong_token_invalid_auth(local: LocalSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=local.api_url)

    error = await slack_error(wrong.auth_test())

    assert error.response.status_code == 200
    assert error.response["error"] == "invalid_auth"


async def test_auth_missing_token_not_authed(local: LocalSlack) -> None:
    anonymous = AsyncWebClient(base_url=local.api_url)

    error = await slack_error(anonymous.auth_test())

    assert error.response["error"] == "not_authed"


async def test_api_unknown_method(client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("files.fly"))

    assert error.response["error"] == "unknown_method"


# chat.postMessage and chat.update


async def test_post_message_user_id_goes_to_dm(local: LocalSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel="U1", text="hello")
    opened = await client.conversations_open(users="U1")

    assert response["channel"].startswith("D")
    assert opened["channel"]["id"] == response["channel"]
    assert opened["already_open"] is True
    assert [m.text for m in local.dm_messages("U1")] == ["hello"]


async def test_post_message_dm_channel_id(local: LocalSlack, client: AsyncWebClient) -> None:
    dm = (await client.conversations_open(users="U2"))["channel"]["id"]

    response = await client.chat_postMessage(channel=dm, text="to bob")

    assert response["message"]["text"] == "to bob"
    assert local.dm_messages("U2")[0].channel == dm


async def test_post_message_ts_unique_and_increasing(client: AsyncWebClient) -> None:
    responses = [await client.chat_postMessage(channel="C1", text=str(i)) for i in range(5)]
    timestamps = [response["ts"] for response in responses]

    assert all(TS_PATTERN.match(ts) for ts in timestamps)
    assert timestamps == sorted(timestamps, key=float)
    assert len(set(timestamps)) == 5


async def test_post_message_unknown_channel(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel="C404", text="x"))

    assert error.response["error"] == "channel_not_found"


async def test_post_message_archived_channel(local: LocalSlack, client: AsyncWebClient) -> None:
    local.archive_channel("C1")

    error = await slack_error(client.chat_postMessage(channel="C1", text="x"))

    assert error.response["error"] == "is_archived"


async def test_post_message_bot_not_in_channel(local: LocalSlack, client: AsyncWebClient) -> None:
    local.add_channel("C2", "private-ish", bot_is_member=False)

    error = await slack_error(client.chat_postMessage(channel="C2", text="x"))

    assert error.response["error"] == "not_in_channel"


async def test_post_message_deactivated_user_accepted(
    local: LocalSlack, client: AsyncWebClient
) -> None:
    local.deactivate_user("U2")

    response = await client.chat_postMessage(channel="U2", text="still delivered")

    assert response["ok"] is True
    assert local.dm_messages("U2")[0].text == "still delivered"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_message_no_text(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel="C1"))

    assert error.response["error"] == "no_text"


async def test_post_message_text_over_40000(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel="C1", text="x" * 40_001))

    assert error.response["error"] == "msg_too_long"


async def test_post_message_form_body_blocks_string(
    local: LocalSlack, client: AsyncWebClient
) -> None:
    blocks = [section("from a form body", block_id="b1")]
    form = {"channel": "C1", "text": "fallback", "blocks": json.dumps(blocks)}

    await client.api_call("chat.postMessage", data=form)

    stored = local.messages("C1")[0]
    assert stored.blocks == blocks
    assert stored.text == "fallback"


async def test_post_message_assigns_missing_block_ids(
    local: LocalSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C1", text="t", blocks=[section("a"), section("b")])

    block_ids = [block["block_id"] for block in local.messages("C1")[0].blocks]
    assert all(block_ids)
    assert len(set(block_ids)) == 2


async def test_update_message_replaces_content(local: LocalSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="pending", blocks=[section("p")])

    await client.chat_update(channel="C1", ts=posted["ts"], text="approved")

    message = local.message("C1", posted["ts"])
    assert message.text == "approved"
    assert message.blocks[0]["text"]["text"] == "p"
    assert message.update_count == 1
    assert message.history[0]["text"] == "pending"


async def test_update_unknown_ts_message_not_found(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_update(channel="C1", ts="1.000001", text="x"))

    assert error.response["error"] == "message_not_found"


async def test_delete_message_hides_it(local: LocalSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="gone soon")

    await client.chat_delete(channel="C1", ts=posted["ts"])

    assert local.messages("C1") == []
    assert local.messages("C1", include_deleted=True)[0].deleted is True


# chat.postEphemeral, conversations.open and users.*


async def test_post_ephemeral_records_for_user(local: LocalSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")

    ephemeral = local.ephemerals("U1")[0]
    assert ephemeral.text == "only you"
    assert ephemeral.message_ts == response["message_ts"]
    assert local.ephemerals("U2") == []


async def test_post_ephemeral_user_not_in_channel(
    local: LocalSlack, client: AsyncWebClient
) -> None:
    local.add_channel("C3", "approvers", members=["U2"])

    error = await slack_error(client.chat_postEphemeral(channel="C3", user="U1", text="x"))

    assert error.response["error"] == "user_not_in_channel"


async def test_conversations_open_deactivated_user(
    local: LocalSlack, client: AsyncWebClient
) -> None:
    local.deactivate_user("U2")

    error = await slack_error(client.conversations_open(users="U2"))

    assert error.response["error"] == "user_disabled"


async def test_conversations_open_unknown_user(client: AsyncWebClient) -> None:
    error = await slack_error(client.conversations_open(users="U404"))

    assert error.response["error"] == "user_not_found"


async def test_users_info_returns_profile(local: LocalSlack, client: AsyncWebClient) -> None:
    local.deactivate_user("U1")

    user = (await client.users_info(user="U1"))["user"]

    assert user["deleted"] is True
    assert user["real_name"] == "Alice Adams"
    assert user["team_id"] == "T0LOCAL"
    assert user["profile"]["email"] == "alice@example.org"


async def test_users_info_unknown_user(client: AsyncWebClient) -> None:
    error = await slack_error(client.users_info(user="U404"))

    assert error.response["error"] == "user_not_found"


async def test_users_lookup_by_email(client: AsyncWebClient) -> None:
    found = await client.users_lookupByEmail(email="Bob@Example.org")
    error = await slack_error(client.users_lookupByEmail(email="nobody@example.org"))

    assert found["user"]["id"] == "U2"
    assert error.response["error"] == "users_not_found"


# Block Kit limits in messages


async def post_blocks(client: AsyncWebClient, blocks: list[dict[str, Any]]) -> SlackApiError:
    return await slack_error(client.chat_postMessage(channel="C1", text="t", blocks=blocks))


async def test_blocks_51_blocks_invalid(client: AsyncWebClient) -> None:
    error = await post_blocks(client, [{"type": "divider"}] * 51)

    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]


async def test_blocks_50_blocks_accepted(client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(
        channel="C1", text="t", blocks=[{"type": "divider"}] * 50
    )

    assert response["ok"] is True


async def test_blocks_section_text_3001_invalid(client: AsyncWebClient) -> None:
    error = await post_blocks(client, [section("x" * 3_001)])

    assert error.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


async def test_blocks_section_text_3000_accepted(client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3_000)])

    assert response["ok"] is True


async def test_blocks_section_11_fields_invalid(client: AsyncWebClient) -> None:
    fields = [{"type": "mrkdwn", "text": "f"}] * 11

    error = await post_blocks(client, [{"type": "section", "fields": fields}])

    assert (
        "no more than 10 items allowed [json-pointer:/blocks/0/fields]" in error.response["errors"]
    )


async def test_blocks_button_text_76_invalid(client: AsyncWebClient) -> None:
    actions = {"type": "actions", "elements": [button("x" * 76, "approve")]}

    error = await post_blocks(client, [actions])

    assert error.response["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]


async def test_blocks_button_mrkdwn_text_invalid(client: AsyncWebClient) -> None:
    bold = {**button("x", "approve"), "text": {"type": "mrkdwn", "text": "*x*"}}

    error = await post_blocks(client, [{"type": "actions", "elements": [bold]}])

    assert error.response["errors"] == [
        "must be one of [plain_text] [json-pointer:/blocks/0/elements/0/text/type]"
    ]


async def test_blocks_26_actions_elements_invalid(client: AsyncWebClient) -> None:
    elements = [button("b", f"a{i}") for i in range(26)]

    error = await post_blocks(client, [{"type": "actions", "elements": elements}])

    assert error.response["errors"] == [
        "no more than 25 items allowed [json-pointer:/blocks/0/elements]"
    ]


async def test_blocks_101_options_invalid(client: AsyncWebClient) -> None:
    options = [
        {"text": {"type": "plain_text", "text": f"o{i}"}, "value": str(i)} for i in range(101)
    ]
    select = {"type": "static_select", "action_id": "pick", "options": options}

    error = await post_blocks(client, [{"type": "actions", "elements": [select]}])

    assert error.response["errors"] == [
        "no more than 100 items allowed [json-pointer:/blocks/0/elements/0/options]"
    ]


async def test_blocks_option_value_151_invalid(client: AsyncWebClient) -> None:
    option = {"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}
    select = {"type": "static_select", "action_id": "pick", "options": [option]}

    error = await post_blocks(client, [{"type": "actions", "elements": [select]}])

    assert error.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/elements/0/options/0/value]"
    ]


async def test_blocks_duplicate_block_id_invalid(client: AsyncWebClient) -> None:
    error = await post_blocks(client, [section("a", block_id="b"), section("b", block_id="b")])

    assert error.response["errors"] == ["duplicate block_id: b [json-pointer:/blocks/1/block_id]"]


async def test_blocks_header_151_invalid(client: AsyncWebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}

    error = await post_blocks(client, [header])

    assert error.response["errors"] == [
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    ]


async def test_blocks_header_mrkdwn_invalid(client: AsyncWebClient) -> None:
    header = {"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}

    error = await post_blocks(client, [header])

    assert error.response["errors"] == [
        "must be one of [plain_text] [json-pointer:/blocks/0/text/type]"
    ]


async def test_blocks_context_11_elements_invalid(client: AsyncWebClient) -> None:
    elements = [{"type": "mrkdwn", "text": "c"}] * 11

    error = await post_blocks(client, [{"type": "context", "elements": elements}])

    assert error.response["errors"] == [
        "no more than 10 items allowed [json-pointer:/blocks/0/elements]"
    ]


async def test_blocks_empty_text_invalid(client: AsyncWebClient) -> None:
    error = await post_blocks(client, [section("")])

    assert error.response["errors"] == [
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]"
    ]


async def test_blocks_unknown_type_invalid(client: AsyncWebClient) -> None:
    error = await post_blocks(client, [{"type": "sparkle"}])

    assert error.response["errors"] == [
        "unsupported block type: sparkle [json-pointer:/blocks/0/type]"
    ]


async def test_blocks_total_text_over_13000(client: AsyncWebClient) -> None:
    blocks = [section("x" * 3_000) for _ in range(4)] + [section("y" * 1_001)]

    error = await post_blocks(client, blocks)

    assert error.response["error"] == "msg_blocks_too_long"


async def test_blocks_not_json_invalid_format(client: AsyncWebClient) -> None:
    form = {"channel": "C1", "text": "t", "blocks": "[{not json"}

    error = await slack_error(client.api_call("chat.postMessage", data=form))

    assert error.response["error"] == "invalid_blocks_format"


# Views and triggers


async def test_views_open_records_modal(local: LocalSlack, client: AsyncWebClient) -> None:
    trigger_id = local.new_trigger_id("U1")

    response = await client.views_open(trigger_id=trigger_id, view=modal())

    opened = local.views_opened("U1")
    assert [view.id for view in opened] == [response["view"]["id"]]
    assert opened[0].view["callback_id"] == "access_request"
    assert local.open_views("U1")[0].id == response["view"]["id"]


async def test_views_open_title_25_invalid(local: LocalSlack, client: AsyncWebClient) -> None:
    trigger_id = local.new_trigger_id("U1")

    error = await slack_error(client.views_open(trigger_id=trigger_id, view=modal("t" * 25)))

    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


async def test_views_open_101_blocks_invalid(local: LocalSlack, client: AsyncWebClient) -> None:
    view = modal(blocks=[{"type": "divider"}] * 101)

    error = await slack_error(client.views_open(trigger_id=local.new_trigger_id(), view=view))

    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ]


async def test_views_open_input_needs_submit(local: LocalSlack, client: AsyncWebClient) -> None:
    text_input = {"type": "plain_text_input", "action_id": "text"}
    label = {"type": "plain_text", "text": "Reason"}
    view = modal(blocks=[{"type": "input", "label": label, "element": text_input}])
    del view["submit"]

    error = await slack_error(client.views_open(trigger_id=local.new_trigger_id(), view=view))

    assert error.response["error"] == "invalid_arguments"


async def test_views_open_expired_trigger(
    local: LocalSlack, client: AsyncWebClient, clock: ManualClock
) -> None:
    trigger_id = local.new_trigger_id("U1")
    clock.advance(3.0)

    error = await slack_error(client.views_open(trigger_id=trigger_id, view=modal()))

    assert error.response["error"] == "expired_trigger_id"


async def test_views_open_fresh_trigger_accepted(
    local: LocalSlack, client: AsyncWebClient, clock: ManualClock
) -> None:
    trigger_id = local.new_trigger_id("U1")
    clock.advance(2.9)

    response = await client.views_open(trigger_id=trigger_id, view=modal())

    assert response["ok"] is True


async def test_views_open_unknown_trigger(client: AsyncWebClient) -> None:
    error = await slack_error(client.views_open(trigger_id="1.2.abc", view=modal()))

    assert error.response["error"] == "invalid_trigger_id"


async def test_views_open_trigger_used_twice(local: LocalSlack, client: AsyncWebClient) -> None:
    trigger_id = local.new_trigger_id("U1")
    await client.views_open(trigger_id=trigger_id, view=modal())

    error = await slack_error(client.views_open(trigger_id=trigger_id, view=modal()))

    assert error.response["error"] == "exchanged_trigger_id"


async def test_views_update_by_external_id(local: LocalSlack, client: AsyncWebClient) -> None:
    view = {**modal(), "external_id": "request-42"}
    opened = await client.views_open(trigger_id=local.new_trigger_id("U1"), view=view)

    await client.views_update(external_id="request-42", view={**view, "title": plain("Done")})

    updated = local.view(opened["view"]["id"])
    assert updated.view["title"]["text"] == "Done"
    assert updated.update_count == 1


async def test_views_update_stale_hash(local: LocalSlack, client: AsyncWebClient) -> None:
    opened = await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal())
    view_id = opened["view"]["id"]
    await client.views_update(view_id=view_id, view=modal("Second"))

    stale = client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal())
    error = await slack_error(stale)

    assert error.response["error"] == "hash_conflict"


async def test_views_update_unknown_view(client: AsyncWebClient) -> None:
    error = await slack_error(client.views_update(view_id="V404", view=modal()))

    assert error.response["error"] == "not_found"


async def test_views_push_limit_reached(local: LocalSlack, client: AsyncWebClient) -> None:
    await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal())
    for _ in range(2):
        await client.views_push(trigger_id=local.new_trigger_id("U1"), view=modal())

    error = await slack_error(
        client.views_push(trigger_id=local.new_trigger_id("U1"), view=modal())
    )

    assert error.response["error"] == "push_limit_reached"
    assert len(local.open_views("U1")) == 3


async def test_views_publish_home(local: LocalSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [section("Your requests")]}

    await client.views_publish(user_id="U1", view=home)
    await client.views_publish(user_id="U1", view={**home, "blocks": [section("Updated")]})

    published = local.home_view("U1")
    assert published is not None
    assert published["blocks"][0]["text"]["text"] == "Updated"
    assert local.home_view("U2") is None


async def test_views_publish_modal_type_invalid(client: AsyncWebClient) -> None:
    error = await slack_error(client.views_publish(user_id="U1", view=modal()))

    assert error.response["error"] == "invalid_arguments"


# Faults and rate limits


async def test_fail_next_429_with_retry_after(local: LocalSlack, client: AsyncWebClient) -> None:
    local.fail_next("chat.postMessage", status=429, retry_after=7)

    error = await slack_error(client.chat_postMessage(channel="C1", text="x"))
    retried = await client.chat_postMessage(channel="C1", text="x")

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert retried["ok"] is True


async def test_fail_next_500_status(local: LocalSlack, client: AsyncWebClient) -> None:
    local.fail_next("users.info", status=500, count=2)

    first = await slack_error(client.users_info(user="U1"))
    second = await slack_error(client.users_info(user="U1"))
    third = await client.users_info(user="U1")

    assert first.response.status_code == 500
    assert second.response.status_code == 500
    assert third["ok"] is True


async def test_fail_next_slack_error_code(local: LocalSlack, client: AsyncWebClient) -> None:
    local.fail_next("conversations.open", status=200, error="user_not_found")

    error = await slack_error(client.conversations_open(users="U1"))

    assert error.response.status_code == 200
    assert error.response["error"] == "user_not_found"


async def test_fail_for_ends_by_clock(
    local: LocalSlack, client: AsyncWebClient, clock: ManualClock
) -> None:
    local.fail_for("chat.postMessage", 10, status=503)

    during = await slack_error(client.chat_postMessage(channel="C1", text="x"))
    clock.advance(10)
    after = await client.chat_postMessage(channel="C1", text="x")

    assert during.response.status_code == 503
    assert during.response["error"] == "service_unavailable"
    assert after["ok"] is True


async def test_fail_next_retry_handler_recovers(local: LocalSlack) -> None:
    retrying = AsyncWebClient(
        token=local.bot_token,
        base_url=local.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    local.fail_next("chat.postMessage", status=429, retry_after=0)

    response = await retrying.chat_postMessage(channel="C1", text="after retry")

    assert response["ok"] is True
    assert [call.status for call in local.calls("chat.postMessage")] == [429, 200]


async def test_rate_limits_off_by_default(local: LocalSlack, client: AsyncWebClient) -> None:
    for i in range(10):
        await client.chat_postMessage(channel="C1", text=str(i))

    assert [call.status for call in local.calls("chat.postMessage")] == [200] * 10


async def test_rate_limit_post_message_per_channel(clock: ManualClock) -> None:
    local = LocalSlack(clock=clock, enforce_rate_limits=True, post_message_burst=3)
    local.add_channel("C1", "one")
    local.add_channel("C2", "two")
    async with local:
        client = AsyncWebClient(token=local.bot_token, base_url=local.api_url)
        for i in range(3):
            await client.chat_postMessage(channel="C1", text=str(i))

        limited = await slack_error(client.chat_postMessage(channel="C1", text="4th"))
        other_channel = await client.chat_postMessage(channel="C2", text="fine")
        clock.advance(1.0)
        after_wait = await client.chat_postMessage(channel="C1", text="later")

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"
    assert other_channel["ok"] is True
    assert after_wait["ok"] is True


async def test_rate_limit_tier3_per_minute(clock: ManualClock) -> None:
    local = LocalSlack(clock=clock, enforce_rate_limits=True)
    local.add_user("U1", "alice", "alice@example.org")
    async with local:
        client = AsyncWebClient(token=local.bot_token, base_url=local.api_url)
        for _ in range(50):
            await client.users_lookupByEmail(email="alice@example.org")

        limited = await slack_error(client.users_lookupByEmail(email="alice@example.org"))
        clock.advance(1.2)
        after_wait = await client.users_lookupByEmail(email="alice@example.org")

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "2"
    assert after_wait["ok"] is True


# response_url


async def test_response_url_records_ephemeral(local: LocalSlack) -> None:
    url = local.new_response_url(user_id="U1", channel_id="C1")

    response = await AsyncWebhookClient(url).send(text="Working on it")

    assert response.status_code == 200
    assert response.body == "ok"
    assert local.responses(url)[0].text == "Working on it"
    assert local.responses(url)[0].response_type == "ephemeral"
    assert local.ephemerals("U1")[0].source == "response_url"


async def test_response_url_replace_original(local: LocalSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="Pending")
    url = local.new_response_url("U1", "C1", posted["ts"])

    await AsyncWebhookClient(url).send(text="Approved", replace_original=True)

    message = local.message("C1", posted["ts"])
    assert message.text == "Approved"
    assert message.update_count == 1
    assert local.responses(url)[0].replace_original is True


async def test_response_url_delete_original(local: LocalSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="Pending")
    url = local.new_response_url("U1", "C1", posted["ts"])

    await AsyncWebhookClient(url).send_dict({"delete_original": True})

    assert local.messages("C1") == []


async def test_response_url_in_channel_posts(local: LocalSlack) -> None:
    url = local.new_response_url(user_id="U1", channel_id="C1")

    await AsyncWebhookClient(url).send(text="Everyone sees this", response_type="in_channel")

    assert [message.text for message in local.messages("C1")] == ["Everyone sees this"]


async def test_response_url_sixth_post_rejected(local: LocalSlack) -> None:
    url = local.new_response_url(user_id="U1", channel_id="C1")
    webhook = AsyncWebhookClient(url)
    for i in range(5):
        await webhook.send(text=str(i))

    sixth = await webhook.send(text="too many")

    assert sixth.status_code == 404
    assert [r.status for r in local.responses(url)] == [200] * 5 + [404]


async def test_response_url_invalid_blocks(local: LocalSlack) -> None:
    url = local.new_response_url(user_id="U1", channel_id="C1")

    response = await AsyncWebhookClient(url).send(text="t", blocks=[section("x" * 3_001)])

    assert response.status_code == 400
    assert response.body == "invalid_blocks"
    assert local.ephemerals("U1") == []


# Call log, wait_for and the thread runner


async def test_calls_log_params_without_token(local: LocalSlack, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C1", text="logged")
    await slack_error(client.chat_postMessage(channel="C404", text="x"))

    calls = local.calls("chat.postMessage")
    assert [call.params["channel"] for call in calls] == ["C1", "C404"]
    assert [call.error for call in calls] == [None, "channel_not_found"]
    assert all("token" not in call.params for call in calls)


async def test_wait_for_returns_value(local: LocalSlack, client: AsyncWebClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="U1", text="late")

    task = asyncio.create_task(post_later())
    messages = await local.wait_for(lambda: local.dm_messages("U1"), timeout=2)
    await task

    assert messages[0].text == "late"


async def test_wait_for_timeout_lists_calls(local: LocalSlack, client: AsyncWebClient) -> None:
    await slack_error(client.chat_postMessage(channel="C404", text="x"))

    with pytest.raises(TimeoutError, match=r"chat\.postMessage -> channel_not_found"):
        await local.wait_for(lambda: local.dm_messages("U1"), timeout=0.05)


def test_thread_runner_serves_sync_client() -> None:
    local = LocalSlack()
    local.add_user("U1", "alice", "alice@example.org")

    with LocalSlackThread(local) as runner:
        client = WebClient(token=local.bot_token, base_url=runner.api_url)
        client.chat_postMessage(channel="U1", text="from sync code")
        messages = runner.wait_for(lambda: local.dm_messages("U1"), timeout=2)

    assert messages[0].text == "from sync code"


def test_start_in_thread_returns_runner() -> None:
    local = LocalSlack()

    runner = local.start_in_thread()
    try:
        response = WebClient(token=local.bot_token, base_url=runner.api_url).auth_test()
    finally:
        runner.stop()

    assert response["user_id"] == "UBOT"


async def test_local_slack_rejects_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await LocalSlack().start(host="0.0.0.0")


# The sender, against a bot endpoint that records requests


@dataclass
class RecordingBot:
    """A bot endpoint on loopback that checks signatures like Bolt and records requests."""

    url: str = ""
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    reply: Callable[[str], web.Response] = lambda body: web.Response(status=200)

    def form_payload(self, index: int = -1) -> dict[str, Any]:
        body = self.requests[index][1]
        return json.loads(parse_qs(body)["payload"][0])


async def serve_on_loopback(app: web.Application) -> tuple[str, web.AppRunner]:
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events", runner


@pytest.fixture
async def bot() -> AsyncIterator[RecordingBot]:
    recording = RecordingBot()
    verifier = SignatureVerifier(SIGNING_SECRET)

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        recording.requests.append((dict(request.headers), body))
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401, text="invalid signature")
        return recording.reply(body)

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    recording.url, runner = await serve_on_loopback(app)
    yield recording
    await runner.cleanup()


@pytest.fixture
def sender(bot: RecordingBot, local: LocalSlack) -> SlackEventSender:
    return SlackEventSender(bot.url, SIGNING_SECRET, local)


def test_signer_signature_verified_by_slack_sdk() -> None:
    body = "token=x&text=hello"

    signature = compute_signature(SIGNING_SECRET, "1733350000", body)

    verifier = SignatureVerifier(SIGNING_SECRET, clock=FixedSlackClock(1733350000))
    assert verifier.is_valid(body=body, timestamp="1733350000", signature=signature)


async def test_signer_slash_command_shape(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    response = await sender.slash_command("U1", "request prod-db")

    fields = {name: values[0] for name, values in parse_qs(bot.requests[0][1]).items()}
    assert response.status == 200
    assert fields["command"] == "/access"
    assert fields["text"] == "request prod-db"
    assert fields["user_name"] == "alice"
    assert fields["channel_id"] == local.dm_channel_id("U1")
    assert fields["response_url"].startswith(local.base_url)
    opened = await client.views_open(trigger_id=fields["trigger_id"], view=modal())
    assert opened["view"]["id"] == local.views_opened("U1")[0].id


async def test_signer_bad_signature_rejected(bot: RecordingBot, sender: SlackEventSender) -> None:
    response = await sender.with_options(bad_signature=True).slash_command("U1", "x")

    assert response.status == 401


async def test_signer_stale_timestamp_rejected(bot: RecordingBot, sender: SlackEventSender) -> None:
    response = await sender.with_options(stale_timestamp=True).slash_command("U1", "x")

    timestamp = int(bot.requests[0][0]["X-Slack-Request-Timestamp"])
    assert response.status == 401
    assert seconds_ago(timestamp) >= 6 * 60


async def test_signer_other_team_id(bot: RecordingBot, sender: SlackEventSender) -> None:
    await sender.with_options(team_id="T0OTHER").event({"type": "app_mention", "user": "U1"})

    envelope = json.loads(bot.requests[0][1])
    assert envelope["team_id"] == "T0OTHER"
    assert envelope["authorizations"][0]["team_id"] == "T0OTHER"


async def test_signer_event_retry_headers(bot: RecordingBot, sender: SlackEventSender) -> None:
    await sender.event({"type": "app_mention", "user": "U1"}, retry_num=2, event_id="Ev1")

    headers, body = bot.requests[0]
    envelope = json.loads(body)
    assert headers["X-Slack-Retry-Num"] == "2"
    assert headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert envelope["type"] == "event_callback"
    assert envelope["event_id"] == "Ev1"


async def test_signer_app_home_opened(
    bot: RecordingBot, sender: SlackEventSender, client: AsyncWebClient
) -> None:
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("Hi")]})

    await sender.app_home_opened("U1")

    event = json.loads(bot.requests[0][1])["event"]
    assert event["type"] == "app_home_opened"
    assert event["tab"] == "home"
    assert event["view"]["type"] == "home"


async def test_signer_url_verification(bot: RecordingBot, sender: SlackEventSender) -> None:
    bot.reply = lambda body: web.json_response({"challenge": json.loads(body)["challenge"]})

    response = await sender.url_verification("abc123")

    assert response.json() == {"challenge": "abc123"}


async def test_signer_click_sends_message_context(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    actions = {"type": "actions", "block_id": "decide", "elements": [button("OK", "ok", "req-7")]}
    posted = await client.chat_postMessage(channel="C1", text="Approve?", blocks=[actions])

    response = await sender.click("U2", local.message("C1", posted["ts"]), "ok")

    payload = bot.form_payload()
    assert payload["type"] == "block_actions"
    assert payload["container"]["message_ts"] == posted["ts"]
    assert payload["container"]["channel_id"] == "C1"
    assert payload["actions"][0]["value"] == "req-7"
    assert payload["actions"][0]["block_id"] == "decide"
    assert payload["response_url"] == response.response_url


async def test_signer_click_unknown_action(sender: SlackEventSender, local: LocalSlack) -> None:
    await AsyncWebClient(token=local.bot_token, base_url=local.api_url).chat_postMessage(
        channel="C1", text="t", blocks=[{"type": "actions", "elements": [button("A", "a")]}]
    )

    with pytest.raises(LookupError, match="found \\['a'\\]"):
        await sender.click("U1", local.messages("C1")[0], "b")


async def test_signer_submit_last_view_state(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    options = [{"text": plain("Read"), "value": "read"}, {"text": plain("Write"), "value": "rw"}]
    blocks = [
        {
            "type": "input",
            "block_id": "reason",
            "label": plain("Reason"),
            "element": {"type": "plain_text_input", "action_id": "text"},
        },
        {
            "type": "input",
            "block_id": "level",
            "label": plain("Level"),
            "element": {"type": "static_select", "action_id": "pick", "options": options},
        },
    ]
    await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal(blocks=blocks))

    await sender.submit_last_view("U1", {"reason": {"text": "on call"}, "level": {"pick": "rw"}})

    values = bot.form_payload()["view"]["state"]["values"]
    assert values["reason"]["text"] == {"type": "plain_text_input", "value": "on call"}
    assert values["level"]["pick"]["selected_option"]["value"] == "rw"
    assert local.open_views("U1") == []


async def test_signer_submission_errors_keep_view_open(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    bot.reply = lambda body: web.json_response(
        {"response_action": "errors", "errors": {"reason": "Too short"}}
    )
    await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal())

    await sender.submit_last_view("U1")

    still_open = local.open_views("U1")
    assert len(still_open) == 1
    assert still_open[0].errors == {"reason": "Too short"}


async def test_signer_submission_update_replaces_view(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    bot.reply = lambda body: web.json_response(
        {"response_action": "update", "view": modal("Request sent")}
    )
    opened = await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal())

    await sender.submit_last_view("U1")

    still_open = local.open_views("U1")
    assert [view.id for view in still_open] == [opened["view"]["id"]]
    assert still_open[0].view["title"]["text"] == "Request sent"


async def test_signer_submission_invalid_update_raises(
    bot: RecordingBot, sender: SlackEventSender, local: LocalSlack, client: AsyncWebClient
) -> None:
    bot.reply = lambda body: web.json_response(
        {"response_action": "update", "view": modal("t" * 25)}
    )
    await client.views_open(trigger_id=local.new_trigger_id("U1"), view=modal())

    with pytest.raises(ValueError, match="must be less than 25 characters"):
        await sender.submit_last_view("U1")


def test_signer_rejects_non_loopback_target(local: LocalSlack) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SlackEventSender("http://192.0.2.10/slack/events", SIGNING_SECRET, local)


# The sender and the local Slack against a real Bolt app


@pytest.fixture
async def bolt_url(local: LocalSlack) -> AsyncIterator[str]:
    client = AsyncWebClient(token=local.bot_token, base_url=local.api_url)
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET)
    register_access_flow(app)

    async def dispatch(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application()
    web_app.router.add_post("/slack/events", dispatch)
    url, runner = await serve_on_loopback(web_app)
    yield url
    await runner.cleanup()


def register_access_flow(app: AsyncApp) -> None:
    """A small /access flow: command opens a modal, submit posts a card, approve replaces it."""

    @app.command("/access")
    async def open_request(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        reason = {
            "type": "input",
            "block_id": "reason",
            "label": plain("Reason"),
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
        await client.views_open(trigger_id=body["trigger_id"], view=modal(blocks=[reason]))

    @app.view("access_request")
    async def submit_request(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        reason = view["state"]["values"]["reason"]["text"]["value"]
        card = [
            section(f"Request: {reason}"),
            {"type": "actions", "elements": [button("Approve", "approve")]},
        ]
        await client.chat_postMessage(channel=body["user"]["id"], text=reason, blocks=card)

    @app.action("approve")
    async def approve(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(replace_original=True, text="Approved")


async def test_bolt_access_flow_end_to_end(local: LocalSlack, bolt_url: str) -> None:
    sender = SlackEventSender(bolt_url, SIGNING_SECRET, local)

    command = await sender.slash_command("U1", "prod-db")
    await local.wait_for(lambda: local.open_views("U1"))
    submitted = await sender.submit_last_view("U1", {"reason": {"text": "on call"}})
    cards = await local.wait_for(lambda: local.dm_messages("U1"))
    clicked = await sender.click("U1", cards[0], "approve")
    await local.wait_for(lambda: local.dm_messages("U1")[0].text == "Approved")

    assert command.status == 200
    assert submitted.status == 200
    assert clicked.status == 200
    assert local.open_views("U1") == []
    assert cards[0].blocks[0]["text"]["text"] == "Request: on call"
    assert local.dm_messages("U1")[0].update_count == 1


async def test_bolt_rejects_bad_signature(local: LocalSlack, bolt_url: str) -> None:
    sender = SlackEventSender(bolt_url, SIGNING_SECRET, local)

    response = await sender.with_options(bad_signature=True).slash_command("U1", "prod-db")

    assert response.status == 401
    assert local.views_opened() == []
