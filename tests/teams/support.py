"""Helpers of the Teams tests: reading cards, and the steps most tests start with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from storage.models import Card, OutboxMessage
from tests.teams.client import InvokeResult, TeamsUser, iter_actions
from tests.teams.conftest import TeamsWorld
from tests.teams.connector import Message

JsonObject = dict[str, Any]


def iter_elements(card: JsonObject) -> Iterator[JsonObject]:
    """Yield every element of a card body, nested containers included."""

    def walk(elements: list[JsonObject]) -> Iterator[JsonObject]:
        for element in elements:
            yield element
            for key in ("items", "columns"):
                yield from walk(element.get(key) or [])

    yield from walk(card.get("body") or [])


def markdown_texts(card: JsonObject) -> list[str]:
    """Return the texts that Teams renders as Markdown: TextBlock texts."""
    return [str(e.get("text", "")) for e in iter_elements(card) if e.get("type") == "TextBlock"]


def plain_texts(card: JsonObject) -> list[str]:
    """Return the texts that Teams shows as they are: TextRun texts."""
    texts: list[str] = []
    for element in iter_elements(card):
        if element.get("type") == "RichTextBlock":
            texts.extend(str(run.get("text", "")) for run in element.get("inlines") or [])
    return texts


def card_text(card: JsonObject) -> str:
    """Return every text of a card, one line per element, for assertions."""
    lines = []
    for element in iter_elements(card):
        if element.get("type") == "TextBlock":
            lines.append(str(element.get("text", "")))
        elif element.get("type") == "RichTextBlock":
            lines.append("".join(str(r.get("text", "")) for r in element.get("inlines") or []))
    return "\n".join(lines)


def field_value(card: JsonObject, label: str) -> str:
    """Return the value of a "Label: value" line of a card."""
    for element in iter_elements(card):
        runs = element.get("inlines") or []
        if element.get("type") == "RichTextBlock" and runs and runs[0].get("text") == f"{label}: ":
            return "".join(str(r.get("text", "")) for r in runs[1:])
    raise LookupError(f"the card has no {label!r} line:\n{card_text(card)}")


def verbs(card: JsonObject) -> list[str]:
    return [str(action.get("verb")) for action in iter_actions(card)]


def inputs(card: JsonObject) -> dict[str, JsonObject]:
    return {
        str(e["id"]): e for e in iter_elements(card) if str(e.get("type", "")).startswith("Input.")
    }


def error_under(card: JsonObject, input_id: str) -> str | None:
    """Return the error shown right after an input, or None when there is none."""
    body = card.get("body") or []
    for index, element in enumerate(body):
        if element.get("id") == input_id:
            following = body[index + 1] if index + 1 < len(body) else {}
            if following.get("id") == f"{input_id}_error":
                return "".join(r["text"] for r in following.get("inlines") or [])
            return None
    raise LookupError(f"the card has no input {input_id!r}")


async def link(world: TeamsWorld, *users: TeamsUser) -> None:
    """Have each user write to the bot once, which links them and stores their chat."""
    for user in users:
        await world.teams.say(user, "hi")


async def request_form(world: TeamsWorld, user: TeamsUser) -> Message:
    replies = await world.teams.say(user, "request")
    assert len(replies) == 1, replies
    return replies[0]


async def submit_request(
    world: TeamsWorld, user: TeamsUser, **values: str
) -> tuple[Message, InvokeResult]:
    """Open the request form and submit it with `values` by input id."""
    form = await request_form(world, user)
    result = await world.teams.click(user, form, "submit_request", inputs=values)
    assert result.status == 200, result
    return form, result


async def submit_staff_request(
    world: TeamsWorld, user: TeamsUser, justification: str = "Front desk eligibility checks"
) -> str:
    """Submit a Staff End User request for Riverbend through the form; return its id."""
    _, result = await submit_request(
        world,
        user,
        organization=str(world.riverbend),
        kind="staff",
        justification=justification,
    )
    return field_value(result.card, "Request id")


def request_cards(world: TeamsWorld, user: TeamsUser, request_id: str) -> list[Message]:
    """Return the request cards about `request_id` in the user's chat, oldest first."""
    return [
        message
        for message in world.connector.card_messages(user.conversation_id)
        if f"Access request {request_id}:" in card_text(message.card)
    ]


def request_card(world: TeamsWorld, user: TeamsUser, request_id: str) -> Message:
    found = request_cards(world, user, request_id)
    assert len(found) == 1, f"{user.key} has {len(found)} cards about {request_id}"
    return found[0]


def cards_of(world: TeamsWorld, request_id: str) -> list[Card]:
    with world.services.db.transaction() as session:
        rows = session.scalars(select(Card).where(Card.request_id == request_id).order_by(Card.id))
        return list(rows)


def outbox(world: TeamsWorld, request_id: str | None = None) -> list[OutboxMessage]:
    with world.services.db.transaction() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if request_id is not None:
            query = query.where(OutboxMessage.request_id == request_id)
        return list(session.scalars(query))
