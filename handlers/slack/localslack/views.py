"""views.* methods of the local Slack, and the modal stack that view submissions change.

Error codes follow Slack's reference pages for views.open, views.push, views.update and
views.publish. A view that breaks Block Kit rules gets invalid_arguments with the rule
in response_metadata.messages, which is what Slack sends for views.
"""

from __future__ import annotations

import json
import secrets
import time

from handlers.slack.localslack.blockkit import MAX_VIEW_BYTES, validate_view
from handlers.slack.localslack.records import APP_ID, BOT_ID, JsonObject, OpenedView
from handlers.slack.localslack.state import (
    ApiError,
    Workspace,
    parse_json_param,
    with_block_ids,
)

# Slack allows at most 3 views in one modal stack.
MAX_VIEW_STACK = 3


def parse_view(params: JsonObject, allowed_type: str | None) -> JsonObject:
    """Return the `view` argument after Slack's checks.

    `allowed_type` is "modal" or "home", or None to accept either.
    """
    view = parse_json_param(params, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise _invalid_arguments("must provide an object [json-pointer:/view]")
    if allowed_type is not None and view.get("type") != allowed_type:
        raise _invalid_arguments(f"must be one of [{allowed_type}] [json-pointer:/view/type]")

    errors = validate_view(view)
    if errors:
        raise _invalid_arguments(*(str(error) for error in errors))
    if len(json.dumps(view).encode()) > MAX_VIEW_BYTES:
        raise ApiError("view_too_large")
    return view


def _invalid_arguments(*messages: str) -> ApiError:
    return ApiError(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] {message}" for message in messages]},
    )


def build_stored_view(
    workspace: Workspace,
    view: JsonObject,
    view_id: str,
    root_view_id: str,
    previous_view_id: str | None,
) -> JsonObject:
    """Return the view as Slack stores and sends it back, with ids, hash and empty state."""
    stored: JsonObject = {
        "id": view_id,
        "team_id": workspace.team_id,
        "type": view["type"],
        "blocks": with_block_ids(view.get("blocks", [])),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": new_view_hash(),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "root_view_id": root_view_id,
        "previous_view_id": previous_view_id,
        "app_id": APP_ID,
        "app_installed_team_id": workspace.team_id,
        "bot_id": BOT_ID,
    }
    for name in ("title", "submit", "close"):
        if name in view:
            stored[name] = view[name]
    return stored


def new_view_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _claim_external_id(workspace: Workspace, view: JsonObject, view_id: str) -> None:
    external_id = view.get("external_id")
    if not external_id:
        return
    owner = workspace.view_external_ids.get(external_id)
    if owner is not None and owner != view_id:
        raise ApiError("duplicate_external_id")
    workspace.view_external_ids[external_id] = view_id


def _add_view(
    workspace: Workspace,
    view: JsonObject,
    user_id: str | None,
    method: str,
    root_view_id: str | None,
    previous_view_id: str | None,
) -> OpenedView:
    view_id = workspace.view_ids.next()
    _claim_external_id(workspace, view, view_id)
    root = root_view_id or view_id
    stored = build_stored_view(workspace, view, view_id, root, previous_view_id)
    opened = OpenedView(view_id, user_id, stored, method, root, previous_view_id)
    workspace.views[view_id] = opened
    return opened


def views_open(workspace: Workspace, params: JsonObject) -> JsonObject:
    view = parse_view(params, "modal")
    with workspace.lock:
        trigger = workspace.exchange_trigger(params.get("trigger_id"))
        opened = _add_view(workspace, view, trigger.user_id, "views.open", None, None)
        stack_key = trigger.user_id or ""
        for old_view_id in workspace.view_stacks.get(stack_key, []):
            workspace.views[old_view_id].is_open = False
        workspace.view_stacks[stack_key] = [opened.id]
        return {"ok": True, "view": opened.view}


def views_push(workspace: Workspace, params: JsonObject) -> JsonObject:
    view = parse_view(params, "modal")
    with workspace.lock:
        trigger = workspace.exchange_trigger(params.get("trigger_id"))
        stack = workspace.view_stacks.get(trigger.user_id or "", [])
        if not stack:
            # NOTE: Slack's error for a push with no open modal was not verified.
            raise ApiError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise ApiError("push_limit_reached")
        opened = _add_view(workspace, view, trigger.user_id, "views.push", stack[0], stack[-1])
        stack.append(opened.id)
        return {"ok": True, "view": opened.view}


def views_update(workspace: Workspace, params: JsonObject) -> JsonObject:
    view = parse_view(params, None)
    with workspace.lock:
        opened = _find_view(workspace, params)
        if view["type"] != opened.view["type"]:
            raise _invalid_arguments(
                f"must be one of [{opened.view['type']}] [json-pointer:/view/type]"
            )
        _check_hash(opened, params.get("hash"))
        _replace_view_content(workspace, opened, view)
        return {"ok": True, "view": opened.view}


def views_publish(workspace: Workspace, params: JsonObject) -> JsonObject:
    view = parse_view(params, "home")
    user_id = str(params.get("user_id") or "")
    with workspace.lock:
        if user_id not in workspace.users:
            # NOTE: Slack's error code for an unknown user_id was not verified.
            raise ApiError("user_not_found")
        home_view_id = workspace.home_views.get(user_id)
        if home_view_id is None:
            opened = _add_view(workspace, view, user_id, "views.publish", None, None)
            workspace.home_views[user_id] = opened.id
        else:
            opened = workspace.views[home_view_id]
            _check_hash(opened, params.get("hash"))
            _replace_view_content(workspace, opened, view)
        return {"ok": True, "view": opened.view}


def _find_view(workspace: Workspace, params: JsonObject) -> OpenedView:
    view_id = params.get("view_id")
    external_id = params.get("external_id")
    if not view_id and not external_id:
        raise _invalid_arguments("either view_id or external_id is required")
    if not view_id:
        view_id = workspace.view_external_ids.get(str(external_id))
    opened = workspace.views.get(str(view_id or ""))
    if opened is None:
        raise ApiError("not_found")
    return opened


def _check_hash(opened: OpenedView, view_hash: object) -> None:
    if view_hash and view_hash != opened.view["hash"]:
        raise ApiError("hash_conflict")


def _replace_view_content(workspace: Workspace, opened: OpenedView, view: JsonObject) -> None:
    _claim_external_id(workspace, view, opened.id)
    opened.view = build_stored_view(
        workspace, view, opened.id, opened.root_view_id, opened.previous_view_id
    )
    opened.update_count += 1
    opened.errors = {}


def apply_view_submission_response(
    workspace: Workspace, view_id: str, status: int, body: str
) -> None:
    """Change the modal stack the way Slack does after the bot responds to a view_submission.

    An empty 200 response closes the submitted view. response_action "errors" keeps it open
    with the errors, "update" replaces it, "push" adds a view, and "clear" closes the stack.
    A non-200 response leaves the stack as it is, because Slack then shows an error instead.
    Raises ValueError when the response's view breaks Block Kit rules, so the test fails.
    """
    if status != 200:
        return
    try:
        response = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"the bot's view_submission response is not JSON: {body[:200]!r}") from exc
    action = response.get("response_action") if isinstance(response, dict) else None

    with workspace.lock:
        opened = workspace.views[view_id]
        stack = workspace.view_stacks.setdefault(opened.user_id or "", [])
        if action is None:
            _close_views(workspace, stack, [view_id])
        elif action == "errors":
            opened.errors = dict(response.get("errors") or {})
        elif action == "clear":
            _close_views(workspace, stack, list(stack))
        elif action in ("update", "push"):
            new_view = _validated_response_view(response)
            if action == "update":
                _replace_view_content(workspace, opened, new_view)
            elif len(stack) >= MAX_VIEW_STACK:
                raise ValueError("response_action push would exceed Slack's 3-view stack")
            else:
                root = stack[0] if stack else opened.id
                pushed = _add_view(
                    workspace, new_view, opened.user_id, "response_action", root, opened.id
                )
                stack.append(pushed.id)
        else:
            raise ValueError(f"unknown response_action in the bot's response: {action!r}")


def _validated_response_view(response: JsonObject) -> JsonObject:
    view = response.get("view")
    errors = validate_view(view)
    if errors:
        problems = "; ".join(str(error) for error in errors)
        raise ValueError(f"the bot's response_action view is invalid: {problems}")
    assert isinstance(view, dict)
    return view


def _close_views(workspace: Workspace, stack: list[str], view_ids: list[str]) -> None:
    for view_id in view_ids:
        workspace.views[view_id].is_open = False
        if view_id in stack:
            stack.remove(view_id)
