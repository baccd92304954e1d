"""Web API methods of the local Slack: auth, chat, conversations and users.

Each method takes the workspace and the merged request parameters and returns the
response body, or raises ApiError. Error codes were checked against Slack's method
reference pages (docs.slack.dev/reference/methods/...).
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.slack.localslack import views
from handlers.slack.localslack.blockkit import (
    MAX_MESSAGE_BLOCKS_TEXT,
    MAX_MESSAGE_TEXT,
    count_block_text,
    validate_message_blocks,
)
from handlers.slack.localslack.records import BOT_ID, BOT_USER_ID, Channel, JsonObject
from handlers.slack.localslack.state import ApiError, Workspace, parse_json_param

Method = Callable[[Workspace, JsonObject], JsonObject]


def parse_message_content(
    params: JsonObject,
) -> tuple[str | None, list[JsonObject] | None, list[JsonObject] | None]:
    """Return a message's text, blocks and attachments after Slack's checks.

    Raises ApiError with no_text, msg_too_long, invalid_blocks_format, invalid_blocks or
    msg_blocks_too_long, as chat.postMessage does.
    """
    text = params.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)

    blocks = parse_json_param(params, "blocks", "invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    attachments = parse_json_param(params, "attachments", "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")

    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")

    if blocks is not None:
        errors = validate_message_blocks(blocks)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=[str(error) for error in errors],
                response_metadata={"messages": [f"[ERROR] {error}" for error in errors]},
            )
        if count_block_text(blocks) > MAX_MESSAGE_BLOCKS_TEXT:
            raise ApiError("msg_blocks_too_long")
    return text, blocks, attachments


def check_can_post(channel: Channel) -> None:
    # Slack accepts posts to a deactivated user's DM, as Slack staff confirmed on the
    # python-slack-sdk issue tracker in 2022, so the local Slack accepts them too.
    if channel.is_archived:
        raise ApiError("is_archived")
    if not channel.is_im and not channel.bot_is_member:
        raise ApiError("not_in_channel")


def auth_test(workspace: Workspace, params: JsonObject) -> JsonObject:
    return {
        "ok": True,
        "url": workspace.base_url,
        "team": "Local Slack",
        "user": "cosigner",
        "team_id": workspace.team_id,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def chat_post_message(workspace: Workspace, params: JsonObject) -> JsonObject:
    channel = workspace.resolve_channel(params.get("channel"), allow_user_id=True)
    check_can_post(channel)
    text, blocks, attachments = parse_message_content(params)

    thread_ts = params.get("thread_ts")
    metadata = parse_json_param(params, "metadata", "invalid_metadata_format")
    message = workspace.post_message(
        channel,
        text or "",
        blocks or [],
        thread_ts=str(thread_ts) if thread_ts else None,
        attachments=attachments,
        metadata=metadata,
    )
    return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_api()}


def chat_update(workspace: Workspace, params: JsonObject) -> JsonObject:
    channel = workspace.resolve_channel(params.get("channel"), allow_user_id=False)
    message = workspace.find_message(channel.id, params.get("ts"))
    check_can_post(channel)
    text, blocks, _attachments = parse_message_content(params)

    workspace.update_message(message, text, blocks)
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_api(),
    }


def chat_delete(workspace: Workspace, params: JsonObject) -> JsonObject:
    channel = workspace.resolve_channel(params.get("channel"), allow_user_id=False)
    message = workspace.find_message(channel.id, params.get("ts"))
    with workspace.lock:
        message.deleted = True
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def chat_post_ephemeral(workspace: Workspace, params: JsonObject) -> JsonObject:
    channel = workspace.resolve_channel(params.get("channel"), allow_user_id=True)
    user_id = str(params.get("user") or "")
    with workspace.lock:
        if user_id not in workspace.users:
            raise ApiError("user_not_found")
    if channel.is_archived:
        raise ApiError("is_archived")
    if not channel.has_member(user_id):
        raise ApiError("user_not_in_channel")
    text, blocks, _attachments = parse_message_content(params)

    ephemeral = workspace.add_ephemeral(
        channel.id, user_id, text or "", blocks or [], source="chat.postEphemeral"
    )
    return {"ok": True, "message_ts": ephemeral.message_ts}


def conversations_open(workspace: Workspace, params: JsonObject) -> JsonObject:
    channel_id = params.get("channel")
    if channel_id:
        channel = workspace.resolve_channel(channel_id, allow_user_id=False)
        return {"ok": True, "channel": {"id": channel.id}}

    users = params.get("users")
    user_ids = users if isinstance(users, list) else str(users or "").split(",")
    user_ids = [str(user_id).strip() for user_id in user_ids if str(user_id).strip()]
    if not user_ids:
        raise ApiError("users_list_not_supplied")
    if len(user_ids) > 1:
        # NOTE: group DMs are not modeled. Slack would open one for 2 to 8 users.
        raise ApiError("not_supported_by_local_slack")

    with workspace.lock:
        user = workspace.users.get(user_ids[0])
    if user is None:
        raise ApiError("user_not_found")
    if user.deleted:
        raise ApiError("user_disabled")
    channel, already_open = workspace.open_dm(user.id)

    response: JsonObject = {"ok": True, "channel": {"id": channel.id}}
    if already_open:
        response.update(no_op=True, already_open=True)
    return response


def users_info(workspace: Workspace, params: JsonObject) -> JsonObject:
    with workspace.lock:
        user = workspace.users.get(str(params.get("user") or ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user.to_api()}


def users_lookup_by_email(workspace: Workspace, params: JsonObject) -> JsonObject:
    # NOTE: deactivated users are returned with deleted=true. Whether Slack returns them
    # or responds with users_not_found was not verified.
    email = str(params.get("email") or "").casefold()
    with workspace.lock:
        for user in workspace.users.values():
            if email and user.email.casefold() == email:
                return {"ok": True, "user": user.to_api()}
    raise ApiError("users_not_found")


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "conversations.open": conversations_open,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "views.open": views.views_open,
    "views.push": views.views_push,
    "views.update": views.views_update,
    "views.publish": views.views_publish,
}
