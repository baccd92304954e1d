"""People and their chat accounts; Cosigner admins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.clock import Clock
from bot.domain import ValidationError, validate_email, validate_name
from bot.records import PersonInfo
from storage import repo
from storage.db import Database
from storage.models import ChatAccount, Person

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatProfile:
    """What a chat platform tells about a user."""

    platform: str
    user_id: str
    workspace_id: str | None
    name: str
    email: str | None
    deactivated: bool = False


class People:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def by_account(self, platform: str, user_id: str) -> PersonInfo | None:
        with self.db.read() as session:
            account = repo.account(session, platform, user_id)
            return PersonInfo.of(account.person) if account else None

    def by_email(self, email: str) -> PersonInfo | None:
        with self.db.read() as session:
            person = repo.person_by_email(session, email)
            return PersonInfo.of(person) if person else None

    def get(self, person_id: int) -> PersonInfo | None:
        with self.db.read() as session:
            person = session.get(Person, person_id)
            return PersonInfo.of(person) if person else None

    def is_admin(self, person_id: int) -> bool:
        with self.db.read() as session:
            person = session.get(Person, person_id)
            return bool(person and person.is_admin)

    def link(self, profile: ChatProfile, conversation: dict[str, Any] | None = None) -> PersonInfo:
        """Return the person behind a chat account, linking or creating them as needed.

        A known account is returned as it is. Otherwise the account is linked to the
        person with the same email (an official from the roster, say), or a new person
        is made from the chat profile.
        """
        for attempt in range(2):
            try:
                with self.db.transaction() as session:
                    return self._link(session, profile, conversation)
            except IntegrityError:
                # Another process linked the same account or email at the same moment.
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def _link(
        self, session: Any, profile: ChatProfile, conversation: dict[str, Any] | None
    ) -> PersonInfo:
        now = self.clock.now()
        account = repo.account(session, profile.platform, profile.user_id)
        if account is not None:
            account.deactivated = profile.deactivated
            account.updated_at = now
            if conversation is not None:
                account.conversation = conversation
            session.flush()
            return PersonInfo.of(account.person)
        email = None
        if profile.email:
            try:
                email = validate_email(profile.email)
            except ValidationError:
                log.warning("chat profile has an invalid email user=%s", profile.user_id)
        person = repo.person_by_email(session, email) if email else None
        if person is None:
            try:
                name = validate_name(profile.name or profile.user_id)
            except ValidationError:
                name = profile.user_id
            person = Person(name=name, email=email, is_admin=False, created_at=now)
            session.add(person)
            session.flush()
        session.add(
            ChatAccount(
                person_id=person.id,
                platform=profile.platform,
                user_id=profile.user_id,
                workspace_id=profile.workspace_id,
                deactivated=profile.deactivated,
                conversation=conversation,
                updated_at=now,
            )
        )
        session.flush()
        session.refresh(person)
        log.info(
            "chat account linked platform=%s user=%s person=%s",
            profile.platform,
            profile.user_id,
            person.id,
        )
        return PersonInfo.of(person)

    def mark_deactivated(self, platform: str, user_id: str, deactivated: bool = True) -> None:
        with self.db.transaction() as session:
            account = repo.account(session, platform, user_id)
            if account is not None:
                account.deactivated = deactivated
                account.updated_at = self.clock.now()

    def add_admin(self, email: str, name: str | None = None) -> tuple[PersonInfo, bool]:
        """Make the person with this email an admin, creating them if needed.

        Returns the person and whether anything changed.
        """
        email = validate_email(email)
        with self.db.transaction() as session:
            now = self.clock.now()
            person = repo.person_by_email(session, email)
            if person is None:
                person = Person(
                    name=validate_name(name or email.split("@")[0]),
                    email=email,
                    is_admin=True,
                    created_at=now,
                )
                session.add(person)
                session.flush()
            elif person.is_admin:
                return PersonInfo.of(person), False
            person.is_admin = True
            audit.append(
                session,
                at=now,
                actor="cli",
                action="admin.added",
                details={"email": email},
            )
            session.flush()
            return PersonInfo.of(person), True

    def remove_admin(self, email: str) -> bool:
        email = validate_email(email)
        with self.db.transaction() as session:
            person = repo.person_by_email(session, email)
            if person is None or not person.is_admin:
                return False
            person.is_admin = False
            audit.append(
                session,
                at=self.clock.now(),
                actor="cli",
                action="admin.removed",
                details={"email": email},
            )
            return True

    def admins(self) -> list[PersonInfo]:
        with self.db.read() as session:
            return [PersonInfo.of(p) for p in repo.admins(session)]
