"""response_url posts: check them as Slack does and show their result in the workspace.

A post with replace_original or delete_original changes the message that the
interaction came from. Otherwise response_type "in_channel" posts a new message in the
channel, and the default "ephemeral" shows the text to the user who interacted.
Successful posts get HTTP 200 with the body "ok", like Slack's incoming webhooks.
"""

from __future__ import annotations

import json

from handlers.slack.localslack.blockkit import (
    MAX_MESSAGE_BLOCKS_TEXT,
    count_block_text,
    validate_message_blocks,
)
from handlers.slack.localslack.records import JsonObject, ResponsePost, ResponseUrl
from handlers.slack.localslack.state import (
    RESPONSE_URL_LIFETIME_SECONDS,
    RESPONSE_URL_MAX_USES,
    Workspace,
)


def handle_response_post(
    workspace: Workspace, token: str, url: str, raw_body: str
) -> tuple[int, str]:
    """Apply one POST to a response_url, record it, and return the HTTP status and body."""
    try:
        body = json.loads(raw_body)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        _record(workspace, url, {"raw": raw_body}, 400, None)
        return 400, "invalid_payload"

    with workspace.lock:
        response_url = workspace.response_urls.get(token)
        status, text = _apply(workspace, response_url, body)
        if status == 200 and response_url is not None:
            response_url.uses += 1
        _record(workspace, url, body, status, response_url)
    return status, text


def _apply(
    workspace: Workspace, response_url: ResponseUrl | None, body: JsonObject
) -> tuple[int, str]:
    # NOTE: the statuses and bodies for unknown, used-up and message-less URLs are guesses.
    # Slack documents the 5-use and 30-minute limits but not its response past them.
    if response_url is None:
        return 404, "no_such_url"
    age = workspace.clock() - response_url.issued_at
    if response_url.uses >= RESPONSE_URL_MAX_USES or age > RESPONSE_URL_LIFETIME_SECONDS:
        return 404, "expired_url"

    message = None
    if response_url.channel_id is not None and response_url.message_ts is not None:
        message = workspace.messages.get((response_url.channel_id, response_url.message_ts))

    if _is_true(body.get("delete_original")):
        if message is None or message.deleted:
            return 404, "message_not_found"
        message.deleted = True
        return 200, "ok"

    text = body.get("text") if isinstance(body.get("text"), str) else None
    blocks = body.get("blocks")
    if not text and not blocks:
        return 400, "no_text"
    if blocks is not None:
        if not isinstance(blocks, list) or validate_message_blocks(blocks):
            return 400, "invalid_blocks"
        if count_block_text(blocks) > MAX_MESSAGE_BLOCKS_TEXT:
            return 400, "msg_blocks_too_long"

    if _is_true(body.get("replace_original")) and message is not None and not message.deleted:
        workspace.update_message(message, text or "", blocks or [])
    elif body.get("response_type") == "in_channel" and response_url.channel_id is not None:
        channel = workspace.channels.get(response_url.channel_id)
        if channel is None:
            return 404, "channel_not_found"
        workspace.post_message(channel, text or "", blocks or [])
    else:
        workspace.add_ephemeral(
            response_url.channel_id or "",
            response_url.user_id or "",
            text or "",
            blocks or [],
            source="response_url",
        )
    return 200, "ok"


def _record(
    workspace: Workspace,
    url: str,
    body: JsonObject,
    status: int,
    response_url: ResponseUrl | None,
) -> None:
    record = ResponsePost(
        url=url,
        body=body,
        status=status,
        user_id=response_url.user_id if response_url else None,
        channel_id=response_url.channel_id if response_url else None,
        message_ts=response_url.message_ts if response_url else None,
    )
    with workspace.lock:
        workspace.responses.append(record)


def _is_true(value: object) -> bool:
    return value is True or value == "true"
