"""A local Slack for tests and the demo: a Web API server on loopback and a signed sender.

LocalSlack serves the Web API methods that the bot calls and records what it sent.
SlackEventSender sends the bot slash commands, button clicks, view submissions and
events, signed as Slack signs them.
"""

from handlers.slack.localslack.blockkit import (
    BlockKitError,
    count_block_text,
    validate_message_blocks,
    validate_view,
)
from handlers.slack.localslack.clock import ManualClock
from handlers.slack.localslack.records import (
    BOT_ID,
    BOT_USER_ID,
    ApiCall,
    Ephemeral,
    OpenedView,
    PostedMessage,
    ResponsePost,
)
from handlers.slack.localslack.server import LocalSlack
from handlers.slack.localslack.signer import (
    BotResponse,
    SenderOptions,
    SlackEventSender,
    compute_signature,
)
from handlers.slack.localslack.thread import LocalSlackThread

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "ApiCall",
    "BlockKitError",
    "BotResponse",
    "Ephemeral",
    "LocalSlack",
    "LocalSlackThread",
    "ManualClock",
    "OpenedView",
    "PostedMessage",
    "ResponsePost",
    "SenderOptions",
    "SlackEventSender",
    "compute_signature",
    "count_block_text",
    "validate_message_blocks",
    "validate_view",
]
