"""Block Kit validation with the limits that Slack's Web API enforces.

The limits come from these Slack reference pages (docs.slack.dev, checked in 2025):

- reference/block-kit/blocks: at most 50 blocks in a message, 100 in a modal or Home tab.
- reference/block-kit/blocks/section-block: text 3,000 characters, at most 10 fields of
  2,000 characters each.
- reference/block-kit/blocks/header-block: plain_text only, 150 characters.
- reference/block-kit/blocks/context-block: at most 10 elements.
- reference/block-kit/blocks/actions-block: at most 25 elements.
- reference/block-kit/blocks/input-block: label and hint plain_text, 2,000 characters.
- reference/block-kit/block-elements/button-element: text plain_text 75, value 2,000,
  url 3,000, accessibility_label 75.
- reference/block-kit/block-elements/select-menu-element: placeholder 150, at most 100
  options or 100 option groups.
- reference/block-kit/composition-objects/option-object: text 75, value 150,
  description 75. Option groups: label 75, at most 100 options.
- reference/views/modal-views: title, submit and close plain_text of 24 characters,
  private_metadata 3,000, callback_id 255; submit is required with an input block.
- block_id and action_id: 255 characters, and block_ids are unique within one surface.

Slack does not document a limit on the total text of one message's blocks. Users of
slackapi/bolt-js reported in 2025 that Slack rejects more than about 13,200 characters
with `msg_blocks_too_long`, so this module treats more than 13,000 characters as too long.
That threshold is an estimate.

Error messages copy the form of Slack's own, for example
"must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
Do not replace this module with slack_sdk.models: its checks differ from the API's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_BLOCKS: dict[Surface, int] = {"message": 50, "modal": 100, "home": 100}
MAX_MESSAGE_BLOCKS_TEXT = 13_000
MAX_MESSAGE_TEXT = 40_000
MAX_ID_LENGTH = 255
MAX_PRIVATE_METADATA = 3_000
MAX_VIEW_BYTES = 250_000
MAX_MODAL_BUTTON_TEXT = 24

# NOTE: block types that Slack added in 2025 and later (alert, card, carousel, container,
# data table) are missing here, so this module rejects them as unsupported.
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
MESSAGE_ONLY_BLOCK_TYPES = frozenset({"file", "markdown", "table"})

SELECT_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
STATIC_SELECT_TYPES = frozenset({"static_select", "multi_static_select"})
PICKER_TYPES = frozenset({"datepicker", "timepicker", "datetimepicker"})
TEXT_INPUT_TYPES = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
)
CHOICE_TYPES = frozenset({"checkboxes", "radio_buttons"})

ACTIONS_ELEMENT_TYPES = (
    SELECT_TYPES
    | PICKER_TYPES
    | CHOICE_TYPES
    | {"button", "overflow", "workflow_button", "rich_text_input"}
)
ACCESSORY_TYPES = (
    SELECT_TYPES | PICKER_TYPES | CHOICE_TYPES | {"button", "overflow", "image", "workflow_button"}
)
INPUT_ELEMENT_TYPES = (
    SELECT_TYPES
    | PICKER_TYPES
    | CHOICE_TYPES
    | TEXT_INPUT_TYPES
    | {"file_input", "rich_text_input"}
)
CONTEXT_ACTIONS_ELEMENT_TYPES = frozenset({"feedback_buttons", "icon_button"})


@dataclass(frozen=True)
class TextField:
    """A text object field of a block or element, with its Slack limits."""

    name: str
    max_length: int
    plain_text_only: bool = True
    required: bool = False


@dataclass(frozen=True)
class ListField:
    """A list field of a block or element, with its item count limits."""

    name: str
    max_items: int
    min_items: int = 0


BLOCK_TEXT_FIELDS: dict[str, tuple[TextField, ...]] = {
    "section": (TextField("text", 3_000, plain_text_only=False),),
    "header": (TextField("text", 150, required=True),),
    "input": (TextField("label", 2_000, required=True), TextField("hint", 2_000)),
    "image": (TextField("title", 2_000),),
}
BLOCK_STRING_FIELDS: dict[str, dict[str, int]] = {
    "image": {"image_url": 3_000, "alt_text": 2_000},
    "markdown": {"text": 12_000},
}
BLOCK_LIST_FIELDS: dict[str, ListField] = {
    "section": ListField("fields", 10),
    "context": ListField("elements", 10, min_items=1),
    "actions": ListField("elements", 25, min_items=1),
    "context_actions": ListField("elements", 5, min_items=1),
}
SECTION_FIELD_MAX_LENGTH = 2_000

_SELECT_TEXT = (TextField("placeholder", 150),)
ELEMENT_TEXT_FIELDS: dict[str, tuple[TextField, ...]] = {
    "button": (TextField("text", 75, required=True),),
    "workflow_button": (TextField("text", 75, required=True),),
    **{select_type: _SELECT_TEXT for select_type in SELECT_TYPES},
    **{picker_type: _SELECT_TEXT for picker_type in PICKER_TYPES},
    **{input_type: _SELECT_TEXT for input_type in TEXT_INPUT_TYPES},
    "rich_text_input": _SELECT_TEXT,
}
ELEMENT_STRING_FIELDS: dict[str, dict[str, int]] = {
    "button": {"value": 2_000, "url": 3_000, "accessibility_label": 75},
    "image": {"image_url": 3_000, "alt_text": 2_000},
    "plain_text_input": {"initial_value": 3_000},
}
ELEMENT_OPTION_LISTS: dict[str, ListField] = {
    **{select_type: ListField("options", 100) for select_type in STATIC_SELECT_TYPES},
    "overflow": ListField("options", 5, min_items=1),
    "checkboxes": ListField("options", 10, min_items=1),
    "radio_buttons": ListField("options", 10, min_items=1),
}
OPTION_GROUPS = ListField("option_groups", 100)
OPTION_GROUP_OPTIONS = ListField("options", 100, min_items=1)
OPTION_GROUP_LABEL = TextField("label", 75, required=True)

OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTION_URL_MAX = 3_000

CONFIRM_TEXT_FIELDS = (
    TextField("title", 100, required=True),
    TextField("text", 300, plain_text_only=False, required=True),
    TextField("confirm", 30, required=True),
    TextField("deny", 30, required=True),
)
BUTTON_STYLES = frozenset({"primary", "danger"})

MODAL_TEXT_FIELDS = (
    TextField("title", MAX_MODAL_BUTTON_TEXT, required=True),
    TextField("submit", MAX_MODAL_BUTTON_TEXT),
    TextField("close", MAX_MODAL_BUTTON_TEXT),
)


@dataclass(frozen=True)
class BlockKitError:
    """One rule that a payload breaks, at a JSON pointer into the request."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


def validate_message_blocks(blocks: object) -> list[BlockKitError]:
    """Return the Block Kit errors in the `blocks` argument of a chat.* call.

    The cumulative text limit is checked separately by `count_block_text`, because Slack
    reports it with its own error code.
    """
    validator = _Validator("message")
    validator.check_blocks(blocks, "/blocks")
    return validator.errors


def validate_view(view: object) -> list[BlockKitError]:
    """Return the errors in a modal or home view, with pointers under /view."""
    validator = _Validator("modal")
    validator.check_view(view, "/view")
    return validator.errors


def count_block_text(blocks: object) -> int:
    """Count the characters of every `text` string anywhere inside `blocks`."""
    return sum(len(text) for text in _iter_text_strings(blocks))


def _iter_text_strings(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _iter_text_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _iter_text_strings(item)


class _Validator:
    """Collect errors for one surface. block_ids must be unique across the whole surface."""

    def __init__(self, surface: Surface) -> None:
        self.surface: Surface = surface
        self.errors: list[BlockKitError] = []
        self.block_ids: set[str] = set()

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(BlockKitError(pointer, message))

    # Views

    def check_view(self, view: object, pointer: str) -> None:
        if not isinstance(view, dict):
            self.fail(pointer, "must provide an object")
            return
        view_type = view.get("type")
        if view_type == "modal":
            self.surface = "modal"
            for field in MODAL_TEXT_FIELDS:
                self.check_text_field(view, field, pointer)
        elif view_type == "home":
            self.surface = "home"
        else:
            self.fail(f"{pointer}/type", "must be one of [modal, home]")
            return

        self.check_string(view, "private_metadata", MAX_PRIVATE_METADATA, pointer)
        self.check_string(view, "callback_id", MAX_ID_LENGTH, pointer)
        self.check_string(view, "external_id", MAX_ID_LENGTH, pointer)
        if "blocks" not in view:
            self.fail(f"{pointer}/blocks", "missing required field: blocks")
            return
        self.check_blocks(view["blocks"], f"{pointer}/blocks")

        blocks = view["blocks"] if isinstance(view["blocks"], list) else []
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if view_type == "modal" and has_input and "submit" not in view:
            self.fail(f"{pointer}/submit", "submit is required when blocks contain an input block")

    # Blocks

    def check_blocks(self, blocks: object, pointer: str) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must provide an array")
            return
        max_blocks = MAX_BLOCKS[self.surface]
        if len(blocks) > max_blocks:
            self.fail(pointer, f"no more than {max_blocks} items allowed")
        for index, block in enumerate(blocks):
            self.check_block(block, f"{pointer}/{index}")

    def check_block(self, block: object, pointer: str) -> None:
        if not isinstance(block, dict):
            self.fail(pointer, "must provide an object")
            return
        block_type = block.get("type")
        if block_type not in BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported block type: {block_type}")
            return
        if block_type in MESSAGE_ONLY_BLOCK_TYPES and self.surface != "message":
            self.fail(f"{pointer}/type", f"{block_type} blocks are only allowed in messages")

        self.check_block_id(block, pointer)
        for field in BLOCK_TEXT_FIELDS.get(block_type, ()):
            self.check_text_field(block, field, pointer)
        for name, max_length in BLOCK_STRING_FIELDS.get(block_type, {}).items():
            self.check_string(block, name, max_length, pointer)

        check_contents = getattr(self, f"check_{block_type}_block", None)
        if check_contents is not None:
            check_contents(block, pointer)

    def check_block_id(self, block: dict[str, Any], pointer: str) -> None:
        block_id = block.get("block_id")
        if block_id is None:
            return
        if not isinstance(block_id, str) or not block_id:
            self.fail(f"{pointer}/block_id", "must be a non-empty string")
            return
        self.check_string(block, "block_id", MAX_ID_LENGTH, pointer)
        if block_id in self.block_ids:
            self.fail(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
        self.block_ids.add(block_id)

    def check_section_block(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail(pointer, "must provide either text or fields")
        fields = self.check_list(block, BLOCK_LIST_FIELDS["section"], pointer)
        for index, field in enumerate(fields):
            self.check_text_object(
                field,
                f"{pointer}/fields/{index}",
                SECTION_FIELD_MAX_LENGTH,
                plain_text_only=False,
            )
        if "accessory" in block:
            self.check_element(block["accessory"], f"{pointer}/accessory", ACCESSORY_TYPES)

    def check_context_block(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.check_list(block, BLOCK_LIST_FIELDS["context"], pointer, required=True)
        for index, element in enumerate(elements):
            element_pointer = f"{pointer}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                self.check_element(element, element_pointer, frozenset({"image"}))
            else:
                self.check_text_object(element, element_pointer, 3_000, plain_text_only=False)

    def check_actions_block(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.check_list(block, BLOCK_LIST_FIELDS["actions"], pointer, required=True)
        for index, element in enumerate(elements):
            self.check_element(element, f"{pointer}/elements/{index}", ACTIONS_ELEMENT_TYPES)

    def check_context_actions_block(self, block: dict[str, Any], pointer: str) -> None:
        list_field = BLOCK_LIST_FIELDS["context_actions"]
        elements = self.check_list(block, list_field, pointer, required=True)
        for index, element in enumerate(elements):
            element_pointer = f"{pointer}/elements/{index}"
            self.check_element(element, element_pointer, CONTEXT_ACTIONS_ELEMENT_TYPES)

    def check_input_block(self, block: dict[str, Any], pointer: str) -> None:
        if "element" not in block:
            self.fail(f"{pointer}/element", "missing required field: element")
            return
        self.check_element(block["element"], f"{pointer}/element", INPUT_ELEMENT_TYPES)

    def check_image_block(self, block: dict[str, Any], pointer: str) -> None:
        if "image_url" not in block and "slack_file" not in block:
            self.fail(pointer, "must provide either image_url or slack_file")
        if "alt_text" not in block:
            self.fail(f"{pointer}/alt_text", "missing required field: alt_text")

    # Elements

    def check_element(self, element: object, pointer: str, allowed: frozenset[str]) -> None:
        if not isinstance(element, dict):
            self.fail(pointer, "must provide an object")
            return
        element_type = element.get("type")
        if element_type not in allowed:
            self.fail(f"{pointer}/type", f"unsupported element type here: {element_type}")
            return

        self.check_string(element, "action_id", MAX_ID_LENGTH, pointer)
        for field in ELEMENT_TEXT_FIELDS.get(element_type, ()):
            self.check_text_field(element, field, pointer)
        for name, max_length in ELEMENT_STRING_FIELDS.get(element_type, {}).items():
            self.check_string(element, name, max_length, pointer)
        if "confirm" in element:
            self.check_confirm(element["confirm"], f"{pointer}/confirm")

        if element_type == "button" and element.get("style", "primary") not in BUTTON_STYLES:
            self.fail(f"{pointer}/style", "must be one of [primary, danger]")
        if element_type == "image" and "alt_text" not in element:
            self.fail(f"{pointer}/alt_text", "missing required field: alt_text")
        if element_type in ELEMENT_OPTION_LISTS:
            self.check_element_options(element, element_type, pointer)

    def check_element_options(
        self, element: dict[str, Any], element_type: str, pointer: str
    ) -> None:
        # Menus show options as plain_text only, and only overflow options may carry a url.
        plain_text_only = element_type not in CHOICE_TYPES
        url_allowed = element_type == "overflow"
        list_field = ELEMENT_OPTION_LISTS[element_type]

        if element_type in STATIC_SELECT_TYPES:
            has_options = "options" in element
            has_groups = "option_groups" in element
            if has_options == has_groups:
                self.fail(pointer, "must provide exactly one of options or option_groups")
            groups = self.check_list(element, OPTION_GROUPS, pointer)
            for index, group in enumerate(groups):
                self.check_option_group(group, f"{pointer}/option_groups/{index}")
            options = self.check_list(element, list_field, pointer)
        else:
            options = self.check_list(element, list_field, pointer, required=True)

        for index, option in enumerate(options):
            option_pointer = f"{pointer}/options/{index}"
            self.check_option(option, option_pointer, plain_text_only, url_allowed)

    def check_option_group(self, group: object, pointer: str) -> None:
        if not isinstance(group, dict):
            self.fail(pointer, "must provide an object")
            return
        self.check_text_field(group, OPTION_GROUP_LABEL, pointer)
        options = self.check_list(group, OPTION_GROUP_OPTIONS, pointer, required=True)
        for index, option in enumerate(options):
            self.check_option(option, f"{pointer}/options/{index}", True, False)

    def check_option(
        self, option: object, pointer: str, plain_text_only: bool, url_allowed: bool
    ) -> None:
        if not isinstance(option, dict):
            self.fail(pointer, "must provide an object")
            return
        text_field = TextField("text", OPTION_TEXT_MAX, plain_text_only, required=True)
        self.check_text_field(option, text_field, pointer)
        self.check_text_field(option, TextField("description", OPTION_TEXT_MAX), pointer)
        if "value" not in option:
            self.fail(f"{pointer}/value", "missing required field: value")
        self.check_string(option, "value", OPTION_VALUE_MAX, pointer)
        if "url" in option and not url_allowed:
            self.fail(f"{pointer}/url", "url is only allowed in overflow menu options")
        self.check_string(option, "url", OPTION_URL_MAX, pointer)

    def check_confirm(self, confirm: object, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.fail(pointer, "must provide an object")
            return
        for field in CONFIRM_TEXT_FIELDS:
            self.check_text_field(confirm, field, pointer)

    # Fields

    def check_text_field(self, parent: dict[str, Any], field: TextField, pointer: str) -> None:
        if field.name not in parent:
            if field.required:
                self.fail(f"{pointer}/{field.name}", f"missing required field: {field.name}")
            return
        self.check_text_object(
            parent[field.name],
            f"{pointer}/{field.name}",
            field.max_length,
            field.plain_text_only,
        )

    def check_text_object(
        self, text_object: object, pointer: str, max_length: int, plain_text_only: bool
    ) -> None:
        if not isinstance(text_object, dict):
            self.fail(pointer, "must provide an object")
            return
        allowed_types = ("plain_text",) if plain_text_only else ("plain_text", "mrkdwn")
        if text_object.get("type") not in allowed_types:
            self.fail(f"{pointer}/type", f"must be one of [{', '.join(allowed_types)}]")
        text = text_object.get("text")
        if not isinstance(text, str):
            self.fail(f"{pointer}/text", "must provide a string")
        elif not text:
            self.fail(f"{pointer}/text", "must be more than 0 characters")
        elif len(text) > max_length:
            self.fail(f"{pointer}/text", f"must be less than {max_length + 1} characters")

    def check_string(
        self, parent: dict[str, Any], name: str, max_length: int, pointer: str
    ) -> None:
        if name not in parent:
            return
        value = parent[name]
        if not isinstance(value, str):
            self.fail(f"{pointer}/{name}", "must provide a string")
        elif len(value) > max_length:
            self.fail(f"{pointer}/{name}", f"must be less than {max_length + 1} characters")

    def check_list(
        self,
        parent: dict[str, Any],
        field: ListField,
        pointer: str,
        required: bool = False,
    ) -> list[Any]:
        if field.name not in parent:
            if required:
                self.fail(f"{pointer}/{field.name}", f"missing required field: {field.name}")
            return []
        items = parent[field.name]
        list_pointer = f"{pointer}/{field.name}"
        if not isinstance(items, list):
            self.fail(list_pointer, "must provide an array")
            return []
        if len(items) > field.max_items:
            self.fail(list_pointer, f"no more than {field.max_items} items allowed")
        if len(items) < field.min_items:
            self.fail(list_pointer, f"at least {field.min_items} items required")
        return items
