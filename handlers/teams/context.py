"""Shared state of the Teams handlers: the core services and a few helpers around them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from microsoft_agents.hosting.core import TurnContext
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.delivery import DeliveryStore
from bot.metrics import Metrics
from bot.records import PersonInfo
from bot.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fixed sentences shown to people when something outside their control failed.
DATABASE_UNAVAILABLE = (
    "Cosigner could not reach its database, so nothing was changed. Please try again in a minute."
)
TEAMS_PROFILE_UNAVAILABLE = (
    "Cosigner could not read your Teams profile, so nothing was changed. Please try again."
)
UNEXPECTED_ERROR = (
    "Something went wrong in Cosigner while handling this. Please try again; if it keeps "
    "failing, tell your Cosigner admin."
)

# The turn_state key under which the before-turn hook leaves the sender's PersonInfo.
PERSON_KEY = "cosigner.person"


class UserFacingError(Exception):
    """A failure with a fixed sentence to show the person who acted."""


@dataclass
class TeamsContext:
    services: Services
    store: DeliveryStore
    metrics: Metrics
    # Called after a change queues outbox rows, so delivery starts at once.
    wake_delivery: Callable[[], None] = field(default=lambda: None)
    # Service URL of the latest incoming activity, for messages to the admin conversation.
    service_url: str | None = None

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking core call in a worker thread, turning database failures into a message."""
        try:
            return await asyncio.to_thread(func, *args, **kwargs)
        except OperationalError as error:
            log.error("database unavailable during %s: %s", getattr(func, "__name__", func), error)
            self.metrics.inc("cosigner_database_errors_total")
            raise UserFacingError(DATABASE_UNAVAILABLE) from error
        except SQLAlchemyError as error:
            log.exception("database error during %s", getattr(func, "__name__", func))
            self.metrics.inc("cosigner_database_errors_total")
            raise UserFacingError(DATABASE_UNAVAILABLE) from error


def sender(context: TurnContext) -> PersonInfo:
    """Return the person the before-turn hook found for this activity's sender."""
    person = context.turn_state.get(PERSON_KEY)
    if not isinstance(person, PersonInfo):
        raise UserFacingError(TEAMS_PROFILE_UNAVAILABLE)
    return person
