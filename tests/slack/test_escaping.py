"""User text in cards and replies: mentions and links shown as text, long text cut visibly."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bot.localstack import ADMIN_CHANNEL, LocalStack
from handlers.slack.localslack import count_block_text, validate_message_blocks
from handlers.slack.localslack.blockkit import MAX_MESSAGE_BLOCKS_TEXT
from storage.models import AccessRequest, Organization
from tests.slack.conftest import (
    DANA,
    MARCUS,
    NINA,
    blocks_text,
    card_for,
    organization_id,
    reply_text,
    request_access,
    submit_directly,
    wait_for_card_text,
    wait_for_dm,
)

HOSTILE = "Ping <!channel> and <@U123>, then <https://evil.example|click> & see"
ESCAPED = (
    "Ping &lt;!channel&gt; and &lt;@U123&gt;, then &lt;https://evil.example|click&gt; &amp; see"
)
RAW_MARKUP = ("<!channel>", "<@U123>", "<https://evil")


def long_request(stack: LocalStack, justification: str) -> str:
    """Submit a request whose justification is longer than any front end accepts.

    The core accepts 3,000 characters, so the text is written to the database before
    the delivery loop renders the cards, which happens only once this test awaits.
    """
    request_id = submit_directly(stack, NINA, justification="placeholder")
    with stack.services.db.transaction() as session:
        session.execute(
            update(AccessRequest)
            .where(AccessRequest.id == request_id)
            .values(justification=justification)
        )
    return request_id


async def show_messages(stack: LocalStack, request_id: str) -> list[list[dict[str, Any]]]:
    """Run `/access show` and return the blocks of each private message it sends.

    The first message is the command's HTTP response. The server posts any further ones
    to the response_url before it responds, so they are there when the response is.
    """
    response = await stack.sender.slash_command(NINA, f"show {request_id}")
    messages = [response.json()["blocks"]]
    messages += [post.blocks for post in stack.slack.ephemerals(NINA)]
    return messages


def justification_pieces(messages: list[list[dict[str, Any]]]) -> list[str]:
    return [
        block["text"]["text"].split("\n", 1)[1]
        for blocks in messages
        for block in blocks
        if "text" in block and block["text"]["text"].startswith("*Justification")
    ]


def failed_calls(stack: LocalStack) -> list[str]:
    return [f"{call.method}: {call.error}" for call in stack.slack.calls() if call.error]


async def test_card_escapes_markup(stack: LocalStack) -> None:
    request_id = await request_access(stack, NINA, justification=HOSTILE)
    card = await card_for(stack, DANA, request_id)
    assert ESCAPED in blocks_text(card)
    for markup in RAW_MARKUP:
        assert markup not in blocks_text(card), markup


async def test_surrogate_name_escaped(stack: LocalStack) -> None:
    request_id = await request_access(
        stack, NINA, kind="surrogacy", surrogate_org="<!here> Billing", products=["PECOS"]
    )
    card = await card_for(stack, DANA, request_id)
    assert "&lt;!here&gt; Billing" in blocks_text(card)
    assert "<!here>" not in blocks_text(card)


async def test_reject_reason_escaped(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    await stack.sender.click(DANA, card, "request_reject")
    await stack.slack.wait_for(lambda: stack.slack.open_views(DANA))
    await stack.sender.submit_last_view(DANA, {"reason": {"reason_input": HOSTILE}})
    updated = await wait_for_card_text(stack, card, "Rejected")
    notice = await wait_for_dm(stack, NINA, request_id)
    for message in (updated, notice):
        assert ESCAPED in blocks_text(message)
        for markup in RAW_MARKUP:
            assert markup not in blocks_text(message), markup


async def test_show_escapes_markup(stack: LocalStack) -> None:
    request_id = submit_directly(stack, NINA, justification=HOSTILE)
    text = reply_text(await stack.sender.slash_command(NINA, f"show {request_id}"))
    assert ESCAPED in text
    for markup in RAW_MARKUP:
        assert markup not in text, markup


async def test_pending_escapes_markup(stack: LocalStack) -> None:
    submit_directly(stack, NINA, justification=HOSTILE)
    text = reply_text(await stack.sender.slash_command(DANA, "pending"))
    assert ESCAPED in text
    assert "<!channel>" not in text


async def test_home_escapes_markup(stack: LocalStack) -> None:
    submit_directly(stack, NINA, justification=HOSTILE)
    await stack.sender.app_home_opened(DANA)
    home = await stack.slack.wait_for(lambda: stack.slack.home_view(DANA))
    assert ESCAPED in blocks_text(home)
    assert "<!channel>" not in blocks_text(home)


async def test_long_justification_cut_on_card(stack: LocalStack) -> None:
    request_id = long_request(stack, "x" * 10_000)
    card = await card_for(stack, DANA, request_id)
    assert f"… (cut: run `/access show {request_id}` for the full text)" in blocks_text(card)
    assert "x" * 1_000 in blocks_text(card)
    assert "x" * 3_000 not in blocks_text(card)


async def test_long_justification_card_accepted(stack: LocalStack) -> None:
    request_id = long_request(stack, "x" * 10_000)
    await card_for(stack, DANA, request_id)
    await card_for(stack, MARCUS, request_id)
    assert failed_calls(stack) == []


async def test_long_justification_shown_whole(stack: LocalStack) -> None:
    words = " ".join(f"word{number}" for number in range(1_500))[:10_000]
    request_id = long_request(stack, words)
    messages = await show_messages(stack, request_id)
    assert len(messages) == 1
    pieces = justification_pieces(messages)
    assert len(pieces) == 4
    assert "".join(pieces) == words


async def test_long_justification_show_fits_slack(stack: LocalStack) -> None:
    request_id = long_request(stack, "x" * 10_000)
    for blocks in await show_messages(stack, request_id):
        assert validate_message_blocks(blocks) == []
        assert count_block_text(blocks) <= MAX_MESSAGE_BLOCKS_TEXT


async def test_escaped_justification_split_whole(stack: LocalStack) -> None:
    # Escaping makes each "&" five characters long, and no piece may end inside "&amp;".
    text = ("a&b " * 2_500)[:10_000]
    request_id = long_request(stack, text)
    pieces = justification_pieces(await show_messages(stack, request_id))
    assert "".join(pieces) == text.replace("&", "&amp;")
    for piece in pieces:
        assert not piece.endswith(("&", "&a", "&am", "&amp")), piece[-10:]


async def test_escaped_justification_continues(stack: LocalStack) -> None:
    # 3,000 characters, the most the form takes, grow to 15,000 once escaped.
    text = "&" * 3_000
    request_id = submit_directly(stack, NINA, justification=text)
    messages = await show_messages(stack, request_id)
    assert len(messages) == 2
    assert "".join(justification_pieces(messages)) == "&amp;" * 3_000
    for blocks in messages:
        assert validate_message_blocks(blocks) == []
        assert count_block_text(blocks) <= MAX_MESSAGE_BLOCKS_TEXT


def long_organization_name(stack: LocalStack) -> str:
    """Rename Riverbend to a long name with markup, as long as the database column holds.

    The roster accepts 200 characters. SQLite stores 300, but PostgreSQL's VARCHAR(200)
    column rejects more than 200.
    """
    length = 300 if stack.services.db.is_sqlite else 200
    name = ("Riverbend & <!here> Family Clinic " * 10)[:length]
    with stack.services.db.transaction() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == organization_id(stack))
            .values(legal_name=name)
        )
    return name


async def test_long_organization_name_renders(stack: LocalStack) -> None:
    long_organization_name(stack)
    request_id = await request_access(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    assert "Riverbend &amp; &lt;!here&gt; Family Clinic" in blocks_text(card)
    assert "<!here>" not in blocks_text(card)
    assert failed_calls(stack) == []


async def test_long_organization_name_in_replies(stack: LocalStack) -> None:
    long_organization_name(stack)
    request_id = submit_directly(stack, NINA)
    card = await card_for(stack, DANA, request_id)
    for command in ("status", f"show {request_id}"):
        response = await stack.sender.slash_command(NINA, command)
        assert validate_message_blocks(response.json()["blocks"]) == [], command
    await stack.sender.click(DANA, card, "request_approve")
    await wait_for_dm(stack, NINA, request_id)
    await stack.sender.app_home_opened(NINA)
    await stack.slack.wait_for(lambda: stack.slack.home_view(NINA))
    assert failed_calls(stack) == []


async def test_long_organization_name_admin_alert(stack: LocalStack) -> None:
    long_organization_name(stack)
    submit_directly(stack, DANA, kind="delegated_official")
    await stack.slack.wait_for(lambda: stack.slack.messages(ADMIN_CHANNEL))
    assert failed_calls(stack) == []
