"""Find interactive elements in blocks and build view state the way Slack sends it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from handlers.slack.localslack.records import JsonObject

# The key under which view state carries each element's value, by element type.
STATE_VALUE_KEYS = {
    "plain_text_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "number_input": "value",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "checkboxes": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
OPTION_KEYS = frozenset({"selected_option", "selected_options"})
LIST_KEYS = frozenset(
    {"selected_options", "selected_users", "selected_conversations", "selected_channels"}
)


def iter_action_elements(blocks: list[JsonObject]) -> Iterator[tuple[str | None, JsonObject]]:
    """Yield (block_id, element) for each element that has an action_id."""
    for block in blocks:
        block_id = block.get("block_id")
        candidates: list[Any] = []
        if block.get("type") in ("actions", "context_actions"):
            candidates = list(block.get("elements", []))
        elif block.get("type") == "section" and "accessory" in block:
            candidates = [block["accessory"]]
        elif block.get("type") == "input" and "element" in block:
            candidates = [block["element"]]
        for element in candidates:
            if isinstance(element, dict) and "action_id" in element:
                yield block_id, element


def find_action_element(blocks: list[JsonObject], action_id: str) -> tuple[str, JsonObject]:
    """Return the block_id and element with `action_id`, or raise LookupError."""
    found_ids = []
    for block_id, element in iter_action_elements(blocks):
        if element["action_id"] == action_id:
            if block_id is None:
                raise LookupError(f"the block that contains {action_id!r} has no block_id")
            return block_id, element
        found_ids.append(element["action_id"])
    raise LookupError(f"no element with action_id {action_id!r}; found {found_ids}")


def build_state_values(
    view: JsonObject, inputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, JsonObject]]:
    """Build view.state.values for every input block, from plain values in `inputs`.

    `inputs` maps block_id to {action_id: value}. Elements without a value get an empty
    state entry, as Slack sends for inputs the user left empty. Raises KeyError for a
    block_id or action_id that the view has no input for, to catch typos in tests.
    """
    elements: dict[str, dict[str, JsonObject]] = {}
    for block in view.get("blocks", []):
        element = block.get("element")
        if block.get("type") == "input" and isinstance(element, dict):
            action_id = str(element.get("action_id", ""))
            elements.setdefault(str(block.get("block_id")), {})[action_id] = element

    for block_id, actions in inputs.items():
        for action_id in actions:
            if action_id not in elements.get(block_id, {}):
                known = {b: sorted(a) for b, a in elements.items()}
                raise KeyError(f"view has no input {block_id}/{action_id}; inputs are {known}")

    values: dict[str, dict[str, JsonObject]] = {}
    for block_id, actions in elements.items():
        for action_id, element in actions.items():
            value = inputs.get(block_id, {}).get(action_id)
            values.setdefault(block_id, {})[action_id] = _state_entry(element, value)
    return values


def _state_entry(element: JsonObject, value: Any) -> JsonObject:
    element_type = str(element.get("type"))
    key = STATE_VALUE_KEYS.get(element_type, "value")
    entry: JsonObject = {"type": element_type}

    if key in OPTION_KEYS:
        if key == "selected_options":
            chosen = list(value or [])
            entry[key] = [_find_option(element, str(item)) for item in chosen]
        else:
            entry[key] = None if value is None else _find_option(element, str(value))
    elif key in LIST_KEYS:
        entry[key] = list(value or [])
    else:
        entry[key] = value
    return entry


def _find_option(element: JsonObject, value: str) -> JsonObject:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if option.get("value") == value:
            return dict(option)
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": value}, "value": value}
    known = [option.get("value") for option in options]
    raise KeyError(f"no option with value {value!r} in {element.get('action_id')}; {known}")
