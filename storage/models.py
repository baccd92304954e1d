"""ORM tables of Cosigner.

Every timestamp is stored timezone-aware in UTC. SQLite keeps no offset, so
`UTCDateTime` puts the UTC zone back on every value it reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored in UTC on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    tin: Mapped[str] = mapped_column(String(9))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # Per-organization overrides of the reminder timing; NULL means the default.
    first_reminder_business_days: Mapped[int | None] = mapped_column(Integer)
    escalation_business_days: Mapped[int | None] = mapped_column(Integer)
    expiry_days: Mapped[int | None] = mapped_column(Integer)
    invitation_expiry_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    npis: Mapped[list[OrganizationNpi]] = relationship(
        back_populates="organization", order_by="OrganizationNpi.npi"
    )


class OrganizationNpi(Base):
    """A Type 2 NPI of an organization. An NPI belongs to one organization only."""

    __tablename__ = "organization_npis"

    npi: Mapped[str] = mapped_column(String(10), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )

    organization: Mapped[Organization] = relationship(back_populates="npis")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-cased. NULL for a chat user whose profile shows no email.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    accounts: Mapped[list[ChatAccount]] = relationship(back_populates="person")


class ChatAccount(Base):
    """A person's account on one chat platform ('slack' or 'teams')."""

    __tablename__ = "chat_accounts"
    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_chat_accounts_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    # Slack team id or Teams tenant id.
    workspace_id: Mapped[str | None] = mapped_column(String(255))
    deactivated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Teams conversation reference for proactive messages, stored at first contact.
    conversation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(back_populates="accounts")


class Grant(Base):
    """A role that a person holds in an organization. Revoked grants are kept."""

    __tablename__ = "grants"
    __table_args__ = (
        Index(
            "uq_grants_active",
            "organization_id",
            "person_id",
            "role",
            "surrogate_org",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # One of bot.domain.Role.
    role: Mapped[str] = mapped_column(String(32))
    # For a surrogacy connection: the firm's name (empty for other roles) and products.
    surrogate_org: Mapped[str] = mapped_column(String(200), default="", server_default="")
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    organization: Mapped[Organization] = relationship()


class AccessRequest(Base):
    __tablename__ = "requests"
    __table_args__ = (
        # At most one pending request per requester, organization and kind.
        Index(
            "uq_requests_open",
            "requester_id",
            "organization_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_requests_status_created", "status", "created_at"),
        # The digest counts yesterday's decisions and the median time to decision.
        Index("ix_requests_decided_at", "decided_at"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    justification: Mapped[str] = mapped_column(Text)
    surrogate_org: Mapped[str] = mapped_column(String(200), default="", server_default="")
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    end_date: Mapped[dt.date | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Which platform the decision came from ('slack', 'teams', 'cli', 'scheduler').
    decided_via: Mapped[str | None] = mapped_column(String(16))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    organization: Mapped[Organization] = relationship()
    requester: Mapped[Person] = relationship(foreign_keys=[requester_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
    revoked_by: Mapped[Person | None] = relationship(foreign_keys=[revoked_by_id])


class Card(Base):
    """One posted message about one request (or invitation), to one person or channel."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("platform", "channel", "message_id", name="uq_cards_message"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), index=True)
    invitation_id: Mapped[str | None] = mapped_column(ForeignKey("invitations.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Slack channel id and message ts; Teams conversation id and activity id.
    channel: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    # The status the card last showed, so a redundant update can be skipped.
    shown_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Who acted, as text that survives the person's removal: an email, "cli" or "scheduler".
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    organization_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row that serializes audit appends: the last sequence number and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message waiting to be delivered to a chat platform.

    The row names what to send (kind, request, recipient); the platform adapter renders
    it at delivery time from the current state, so a late card update shows the final state.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    invitation_id: Mapped[str | None] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    # A channel id for channel posts (admin channel); otherwise NULL.
    channel: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Optional key that makes an enqueue idempotent (a reminder of one day, say).
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SentMark(Base):
    """A key recording that a scheduled action happened, so it happens once.

    Keys look like `reminder:U12:2026-12-04`, `escalation:REQ-7K3QX`, `digest:2026-12-04`.
    """

    __tablename__ = "sent_marks"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        Index(
            "uq_invitations_open",
            "invitee_id",
            "organization_id",
            "role",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))

    organization: Mapped[Organization] = relationship()
    inviter: Mapped[Person] = relationship(foreign_keys=[inviter_id])
    invitee: Mapped[Person] = relationship(foreign_keys=[invitee_id])


class ProcessedEvent(Base):
    """An inbound platform event id already handled, so a redelivery has no second effect."""

    __tablename__ = "processed_events"

    event_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
