"""`/access` and `/access help`: the commands, who approves what and who signs what in PECOS."""

from __future__ import annotations

from bot.localstack import LocalStack
from tests.slack.conftest import NINA, reply_text

SUBCOMMANDS = ("request", "status", "pending", "show", "withdraw", "digest", "help")


async def help_text(stack: LocalStack, text: str = "help") -> str:
    return reply_text(await stack.sender.slash_command(NINA, text))


async def test_help_lists_every_subcommand(stack: LocalStack) -> None:
    text = await help_text(stack)
    for subcommand in SUBCOMMANDS:
        assert f"/access {subcommand}" in text, subcommand


async def test_help_names_initial_enrollment_signer(stack: LocalStack) -> None:
    text = await help_text(stack)
    assert "Initial enrollment*: Authorized Official only" in text


async def test_help_names_change_signers(stack: LocalStack) -> None:
    text = await help_text(stack)
    assert "Changes, updates and revalidations*: Authorized Official or Delegated Official" in text


async def test_help_mentions_access_manager(stack: LocalStack) -> None:
    assert "Access Manager" in await help_text(stack)


async def test_bare_command_shows_help(stack: LocalStack) -> None:
    text = await help_text(stack, "")
    assert "/access request" in text
    assert "Access Manager" in text


async def test_help_is_private(stack: LocalStack) -> None:
    response = await stack.sender.slash_command(NINA, "help")
    assert response.json().get("response_type", "ephemeral") == "ephemeral"
    assert not stack.slack.calls("chat.postMessage")


async def test_unknown_subcommand_points_to_help(stack: LocalStack) -> None:
    text = reply_text(await stack.sender.slash_command(NINA, "frobnicate now"))
    assert "`frobnicate` is not a Cosigner command" in text
    assert "/access help" in text


async def test_unknown_subcommand_is_escaped(stack: LocalStack) -> None:
    text = reply_text(await stack.sender.slash_command(NINA, "<!channel>"))
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
