"""Enqueue messages for delivery, in the caller's transaction.

Rows name what to send; the platform adapter renders them when it delivers, from the
state at that moment. Delivery itself lives in bot.delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.domain import RequestKind, Role
from bot.policy import check_authority
from storage import repo
from storage.models import Card, OutboxMessage, Person


class Kind(StrEnum):
    POST_CARD = "post_card"
    UPDATE_CARD = "update_card"
    NOTIFY = "notify"
    ADMIN_ALERT = "admin_alert"
    REMINDER = "reminder"
    DIGEST = "digest"
    POST_INVITATION = "post_invitation"
    # An invitation's outcome for the inviter, or its expiry for the invitee.
    INVITATION_NOTICE = "invitation_notice"
    # A person's removal from a role; the payload names the role, organization and reason.
    REMOVAL_NOTICE = "removal_notice"


# Invitations are accepted or declined in Slack only, because the Teams front end has
# no Accept and Decline for them, and removal notices go there too. Slack finds a
# person by email when no account is linked.
SLACK_ONLY_KINDS = frozenset({Kind.POST_INVITATION, Kind.INVITATION_NOTICE, Kind.REMOVAL_NOTICE})


class OutboxWriter:
    """Adds outbox rows for the enabled platforms."""

    def __init__(
        self,
        session: Session,
        now: dt.datetime,
        platforms: Sequence[str],
        admin_channels: dict[str, str],
    ) -> None:
        self.session = session
        self.now = now
        self.platforms = tuple(platforms)
        self.admin_channels = admin_channels

    def platforms_for(self, person: Person) -> list[str]:
        """Return the platforms on which to reach a person.

        A person with a linked account is reached there. A person with none (an
        official imported by email, say) is looked up by email on Slack, the one
        platform that can find a user by email without a conversation.
        """
        linked = [
            a.platform
            for a in repo.accounts_of(self.session, person.id)
            if a.platform in self.platforms
        ]
        if linked:
            return sorted(set(linked))
        if "slack" in self.platforms and person.email:
            return ["slack"]
        return []

    def add(
        self,
        platform: str,
        kind: Kind,
        *,
        request_id: str | None = None,
        invitation_id: str | None = None,
        person_id: int | None = None,
        card_id: int | None = None,
        channel: str | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> None:
        values = {
            "platform": platform,
            "kind": str(kind),
            "request_id": request_id,
            "invitation_id": invitation_id,
            "person_id": person_id,
            "card_id": card_id,
            "channel": channel,
            "payload": payload or {},
            "dedupe_key": dedupe_key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": self.now,
            "created_at": self.now,
        }
        if dedupe_key is None:
            self.session.add(OutboxMessage(**values))
            return
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(
            insert(OutboxMessage)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )

    def to_person(
        self, person: Person, kind: Kind, *, dedupe_key: str | None = None, **fields: Any
    ) -> list[str]:
        """Add one row per platform the person is reached on; return those platforms."""
        platforms = self.platforms_for(person)
        if kind in SLACK_ONLY_KINDS:
            reachable = "slack" in platforms or ("slack" in self.platforms and person.email)
            platforms = ["slack"] if reachable else []
        for platform in platforms:
            self.add(
                platform,
                kind,
                person_id=person.id,
                dedupe_key=f"{dedupe_key}:{platform}" if dedupe_key else None,
                **fields,
            )
        return platforms

    def to_admins(self, kind: Kind, *, dedupe_key: str | None = None, **fields: Any) -> list[str]:
        """Add one row per platform with an admin channel configured; return those platforms."""
        platforms = [p for p in self.platforms if self.admin_channels.get(p)]
        for platform in platforms:
            self.add(
                platform,
                kind,
                channel=self.admin_channels[platform],
                dedupe_key=f"{dedupe_key}:{platform}" if dedupe_key else None,
                **fields,
            )
        return platforms

    def update_cards(self, cards: Sequence[Card]) -> None:
        for card in cards:
            self.add(
                card.platform,
                Kind.UPDATE_CARD,
                card_id=card.id,
                request_id=card.request_id,
                invitation_id=card.invitation_id,
            )

    def update_cards_of_lost_authority(
        self, person: Person, organization_id: int, roles_before: frozenset[Role]
    ) -> None:
        """Queue updates of a person's cards for pending requests they may no longer decide.

        The card renderer then shows that this approver no longer holds the role.
        """
        roles_after = frozenset(
            Role(r) for r in repo.active_roles(self.session, person.id, organization_id)
        )
        if not roles_before & {Role.AO, Role.DO} or roles_after == roles_before:
            return
        for request in repo.pending_requests(self.session, [organization_id]):
            kind = RequestKind(request.kind)
            is_requester = request.requester_id == person.id
            could = check_authority(
                kind, roles_before, is_admin=person.is_admin, is_requester=is_requester
            )
            can = check_authority(
                kind, roles_after, is_admin=person.is_admin, is_requester=is_requester
            )
            if could.allowed and not can.allowed:
                cards = repo.cards_of(self.session, request.id)
                self.update_cards([card for card in cards if card.person_id == person.id])
